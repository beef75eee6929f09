//! Bounded fuzzing of the documents the verifier, the gateway and the API client read from nodes
//! and people they do not trust (one test binary; every test's name starts with `fuzz`, so the
//! README's long run finds them):
//!
//! - `fuzz::` (fuzz/bundles.rs): proof bundles, figure proofs and finalization certificates;
//! - `fuzz_certified::` (fuzz/certified.rs): receipt proofs and state proofs (what a gateway
//!   settles and pre-audits on) and carbon proofs.

#[path = "fuzz/bundles.rs"]
mod fuzz;
#[path = "fuzz/certified.rs"]
mod fuzz_certified;
