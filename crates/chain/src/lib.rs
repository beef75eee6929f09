//! # trustmeter-chain
//!
//! Commonware wiring for a Trustmeter chain:
//!
//! - [`block`]: the block type consensus carries, with the codec marshal and p2p need.
//! - [`mempool`]: admission and waiting transactions, with explicit limits.
//! - [`app`]: propose / verify / apply-finalized, speculative states, restart replay.
//! - [`metrics`]: Prometheus metrics of admission, execution and finalization.
//! - [`faults`]: equivocation the consensus engine sees, reported to the chain as evidence.
//! - [`votes`]: finalize votes collected and recorded on chain by proposers (rewards, downtime).
//! - [`engine`]: one validator = Simplex + marshal + broadcast + resolver + app, generic over the
//!   runtime and the network so tests run it in the deterministic simulator.

pub mod app;
pub mod block;
pub mod ceremony;
pub mod devnet;
pub mod engine;
pub mod epochs;
pub mod faults;
pub mod gossip;
pub mod mempool;
pub mod metrics;
pub mod rejoin;
pub mod statesync;
pub mod votes;

pub use app::{App, Behaviour, BlockFinalization, Finalized, FinalizedSink, Scheme};
pub use block::ChainBlock;
pub use engine::{Channels, Timeouts, Validator, ValidatorConfig, start_validator};
pub use mempool::{Mempool, MempoolLimits};
pub use metrics::ChainMetrics;
