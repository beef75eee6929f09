//! # trustmeter-node
//!
//! A validator on the tokio runtime: [`config`] (TOML config, genesis and key files),
//! [`run`] (authenticated p2p among the genesis validators, Commonware storage in the data
//! directory, the index, the API), [`api`] (HTTP/JSON with an OpenAPI document) and [`alarms`]
//! (the alarm engine: derived from the finalized state, never consensus; served as JSON and SSE),
//! [`ports`] (loopback ports for local clusters that outgoing connections cannot steal),
//! [`metrics`] (`GET /metrics`: Commonware's registry and ours), [`paging`] (cursor pagination of
//! the lists) and [`limits`] (bounds on concurrent expensive requests).

pub mod access;
pub mod alarms;
pub mod api;
pub mod config;
pub mod figures;
pub mod follow;
pub mod limits;
pub mod metrics;
pub mod paging;
pub mod ports;
pub mod run;
#[cfg(test)]
pub(crate) mod testkit;

pub use run::{NodeSpec, RunningNode, start_node};
