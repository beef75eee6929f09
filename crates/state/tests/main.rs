//! Every integration test of this crate, in one test binary (`cargo test -p <crate> --test integration`).
//!
//! One binary per crate instead of one per file: each links the whole dependency graph, so
//! sixty of them took most of CI's disk and link time. A file's tests are still its own
//! module: `cargo test -p <crate> --test integration <file>::` runs one file.

mod accounting;
mod blocks;
mod carbon;
mod common;
mod compliance;
mod economy;
mod gm;
mod masters;
mod membership;
mod proofs;
mod rotation;
mod rules;
mod shifts;
