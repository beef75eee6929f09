//! # trustmeter-node
//!
//! A validator on the tokio runtime: [`config`] (TOML config, genesis and key files),
//! [`run`] (authenticated p2p among the genesis validators, Commonware storage in the data
//! directory, the index, the API) and [`api`] (HTTP/JSON with an OpenAPI document).

pub mod api;
pub mod config;
pub mod run;

pub use run::{NodeSpec, RunningNode, start_node};
