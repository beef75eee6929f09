//! Every integration test of this crate, in one test binary (`cargo test -p <crate> --test integration`).
//!
//! One binary per crate instead of one per file: each links the whole dependency graph, so
//! sixty of them took most of CI's disk and link time. A file's tests are still its own
//! module: `cargo test -p <crate> --test integration <file>::` runs one file.

mod bench_cluster;
mod bench_ingest;
mod ceremony;
mod demo_cleanup;
mod gateway_crash;
mod hostile_process;
mod node_crash;
mod query;
mod support;
mod tx;
mod verify_epochs;
mod web;
