//! # trustmeter-node
//!
//! A validator on the tokio runtime: [`config`] (TOML config, genesis and key files),
//! [`run`] (authenticated p2p among the genesis validators, Commonware storage in the data
//! directory, the index, the alarm engine's passes, the API), [`follow`] (a non-voting follower),
//! [`api`] (the HTTP layer: routes, signed requests and the access rule of every route
//! ([`api::access`]), bounds on expensive requests ([`api::limits`]), cursor pagination
//! ([`api::paging`]), errors and the OpenAPI document; the figures and alarms it serves are
//! computed by `trustmeter-analytics`), [`ports`] (loopback ports for local clusters that outgoing
//! connections cannot steal) and [`metrics`] (`GET /metrics`: Commonware's registry and ours).

pub mod api;
pub mod config;
pub mod evidence_sync;
pub mod follow;
pub mod metrics;
pub mod ports;
pub mod run;

pub use run::{NodeSpec, RunningNode, start_node};

/// File descriptors a node keeps for everything but its API: consensus journals and archives,
/// p2p connections, the state store, the index, the access log. A node process checks at start
/// that its limit of open files covers this plus `[api] max_connections`
/// ([`trustmeter_httpserve::fd_budget`]), so that no number of API clients can leave a journal
/// unable to open a file.
pub const FD_RESERVE: u64 = 2_048;
