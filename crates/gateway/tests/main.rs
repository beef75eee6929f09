//! Every integration test of this crate, in one test binary (`cargo test -p <crate> --test integration`).
//!
//! One binary per crate instead of one per file: each links the whole dependency graph, so
//! sixty of them took most of CI's disk and link time. A file's tests are still its own
//! module: `cargo test -p <crate> --test integration <file>::` runs one file.

mod common;
mod e2e;
mod lying_node;
mod mqtt_refused;
mod pre_audit;
