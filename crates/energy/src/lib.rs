//! Energy accounting for Trustmeter: pure, deterministic functions over versioned reference data.
//!
//! - [`calendar`]: Asia/Shanghai calendar periods (15 min, hour, day, month, year).
//! - [`register`]: interval consumption from cumulative registers (rollover, replacement, negative
//!   deltas, gaps, manual entries) and its exact allocation to periods and tariff tiers.
//! - [`quality`]: data-quality indices (completeness, timeliness, accuracy, daily/monthly deviation).
//! - [`reference`]: the embedded, versioned, effective-dated reference data (`data/*.toml`) with sources.
//! - [`coal`]: standard-coal conversion (折标准煤) per GB/T 2589-2020.
//! - [`tou`]: provincial time-of-use schedules (分时电价) and tier reconciliation.
//!
//! Everything here is integer fixed-point at its boundaries: amounts are micro-units (`i64`), as in
//! [`trustmeter_types::Quantity`]. No clock, no randomness, no I/O.
pub mod calendar;
pub mod coal;
pub mod quality;
pub mod reference;
pub mod register;
pub mod tou;
