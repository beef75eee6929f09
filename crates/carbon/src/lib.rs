//! Carbon accounting for Trustmeter (碳排放核算): methodology documents and their exact evaluation.
//!
//! - [`units`]: units of measure (`tC/GJ`, `t/MWh`), checked in every formula.
//! - [`formula`]: the formula form (arithmetic over named quantities; exact decimals, no floats).
//! - [`document`]: a methodology document (TOML): parameters as sourced data (fuels, gases, GWP
//!   sets, grid factors by scheme, geography and year, constants) and one formula per emission
//!   source; everything checked at parse, with a dry run ([`dryrun`]).
//! - [`activity`]: the activity data of an enterprise and period, checked before evaluation.
//! - [`metered`]: activity data from metered energy (sums of the chain's daily figures).
//! - [`entries`]: documented entries (fuel invoices, gas ledgers, lab analyses, green power and
//!   certificates, output) checked against a methodology and added to activity data.
//! - [`cache`]: parsed documents kept by the process.
//! - [`report`]: the report document (monthly evidence deposit, annual report) and its canonical
//!   bytes.
//! - [`compute`]: emissions per source, item and gas in micro-tonnes CO2e, and the totals of the
//!   Chinese standard's view and the GHG Protocol's dual Scope 2.
//! - [`scenario`]: what-if scenarios for reduction paths (减排路径模拟): efficiency gains, fuel
//!   switches and electrification, green power and certificates applied to activity data, and a
//!   year's totals with and without them.
//! - [`shipped`]: the methodologies that ship with Trustmeter (GB/T 32151.29-2024 machinery
//!   manufacturing, GB/T 32150-2015 general frame).
//!
//! No clock, no randomness, no I/O: validators and gateways compute the same figures.
pub mod activity;
pub mod cache;
pub mod compute;
pub mod document;
pub mod dryrun;
pub mod entries;
pub mod formula;
pub mod metered;
pub mod report;
pub mod scenario;
pub mod shipped;
pub mod units;

pub use activity::Activity;
pub use cache::parsed;
pub use compute::{Results, Totals, compute};
pub use document::{Methodology, View};
pub use rust_decimal::Decimal;
pub use scenario::{Outcome, Scenario, ScenarioError};
