//! # trustmeter-analytics
//!
//! What a node computes for people to read, from its **finalized** state and its index, never
//! feeding back into consensus:
//!
//! - [`figures`]: energy figures (能耗数据查询): the chain's consensus daily figures and what is
//!   summed from them (enterprise and region series, breakdowns, rankings by comprehensive
//!   consumption 综合能耗, quality indices), what is derived on request from readings (meter and
//!   location series, time-of-use reconciliation), and the offline-checkable proof of a daily
//!   figure ([`figures::figure_proof`]);
//! - [`alarms`]: the alarm engine (告警): calibration, missing data, over-use, anomaly and audit
//!   findings, evaluated pass by pass with bounded work, kept as an active set and an event feed.
//!
//! Plain functions of a state and an index, and plain types (serde, with OpenAPI schemas): no web
//! framework, no clock but the chain's. The HTTP layer (`trustmeter-node`'s `api`) parses a
//! request, decides whether the caller may ask, calls these, and answers; benchmarks and the CLI
//! call exactly the same functions. Every error is an [`Error`] whose kind the HTTP layer maps to
//! a status and whose message says what to change.

pub mod alarms;
pub mod error;
pub mod figures;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use error::Error;
