//! Every integration test of this crate, in one test binary (`cargo test -p <crate> --test integration`).
//!
//! One binary per crate instead of one per file: each links the whole dependency graph, so
//! sixty of them took most of CI's disk and link time. A file's tests are still its own
//! module: `cargo test -p <crate> --test integration <file>::` runs one file.

mod access;
mod alarms;
mod api;
mod common;
mod compliance;
mod e2e;
mod epochs;
mod figures;
mod flood;
mod fuzz_api;
mod hostile;
mod openapi;
mod tls;
