//! # trustmeter-policy
//!
//! Audit policies as CEL policy documents (审核规则): a regulator deploys a versioned TOML
//! document — parameters as data, logic as CEL expressions — and validators (at admission and at
//! block execution) and gateways (before sending) evaluate it identically on every reading.
//!
//! - [`Policy::parse`] refuses, at deployment, every document that could fail later: it checks
//!   sizes and counts, compiles every expression, checks identifiers, fields, functions and types
//!   statically, bounds every expression's node count and the whole policy's static cost, then
//!   runs every rule on a fixed set of synthetic inputs (the dry run, see [`dryrun`]).
//! - [`Policy::evaluate`] gives a [`Verdict`] for one [`AuditInput`]: accepted, flagged (with
//!   reasons) or rejected (with a reason). It is deterministic and never panics; a rule that still
//!   fails at run time becomes a [`POLICY_ERROR_CODE`] flag, never a rejection. Each expression
//!   runs on a specialised evaluator compiled once per policy where its shape allows, and on the CEL
//!   interpreter otherwise or whenever that evaluator would not give exactly the interpreter's
//!   result; [`Policy::evaluate_reference`] runs the interpreter alone and gives the same verdicts.
//!
//! The document format, the identifiers and fields an expression sees, the limits and the default
//! rules are described in the crate's README.
//!
//! This crate is pure: no I/O, no clock, no randomness, no hash-map iteration in any output.
#![deny(missing_docs)]

mod check;
mod document;
pub mod dryrun;
mod error;
mod eval;
mod fast;
#[cfg(test)]
mod fast_tests;
pub mod input;
mod policy;
pub mod reward;
mod rewrite;
mod template;

pub use document::Action;
pub use error::PolicyError;
pub use input::{AuditInput, BlockFacts, MeterFacts, PreviousFacts, ReadingFacts};
pub use policy::{DEFAULT_AUDIT_TOML, Finding, Policy, RuleInfo, Verdict};

/// Largest policy document, in bytes. The same as the limit on a `DeployPolicy` transaction
/// ([`trustmeter_types::limits::MAX_POLICY_BYTES`]): a document that fits in the transaction fits here.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;

/// Most rules in one policy. Findings are listed per reading, so more rules also means longer
/// receipts; 64 is several times what an audit policy needs.
pub const MAX_RULES: usize = 64;

/// Longest single expression (`when`, `check`), in bytes. Long enough for any rule a reviewer can
/// still read in one go; split anything longer into rules.
pub const MAX_EXPRESSION_BYTES: usize = 2_048;

/// Most syntax-tree nodes in one expression, counted after macro expansion (`exists` adds about
/// eight nodes). Bounds the interpreter's recursion depth and per-expression time.
pub const MAX_EXPRESSION_NODES: usize = 256;

/// Largest static cost of a whole policy: the sum over all rules of the cost of their `when`,
/// `check` and reason placeholders. A node costs 1, a function call (`double`, `size`,
/// `startsWith`, `math.abs`, …) 3, `x in list` the list's length, and a comprehension
/// (`all`/`exists`/`exists_one`, only over a params list) its body plus 2 for every element.
///
/// It bounds the work per reading. Measured in a release build on the (loaded) 2-core build
/// machine (`examples/policy_throughput.rs`), policies at the limit made of arithmetic, of string
/// functions or of an `exists()` over a long list take 30–65 ns per unit on the CEL interpreter:
/// 25–65 µs per reading, 15 000–40 000 readings per second per core. That is the bound to plan for,
/// since any expression may run on the interpreter (shapes the compiled evaluator does not cover,
/// inputs on which it defers); compiled, the same arithmetic and string policies take 2–3 µs. The
/// default policy costs 290, about a third of the limit, and takes 0.6 µs compiled (5–6 µs on the
/// interpreter alone).
pub const MAX_TOTAL_COST: u64 = 1_000;

/// Longest reason in a [`Finding`], in bytes, after the placeholders are filled in (longer ones are
/// cut, ending with `…`). The same as a receipt message ([`trustmeter_types::limits::MAX_MESSAGE_LEN`]).
pub const MAX_REASON_BYTES: usize = 256;

/// Longest reason template as written, in bytes.
pub const MAX_REASON_TEMPLATE_BYTES: usize = 512;

/// Most `{placeholders}` in one reason template.
pub const MAX_PLACEHOLDERS: usize = 8;

/// Longest policy name, rule id or code, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// Longest description (of the policy or of a rule), in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 2_048;

/// Deepest nesting of tables and lists in `[params]`.
pub const MAX_PARAMS_DEPTH: usize = 4;

/// The code of the finding raised when a rule cannot be evaluated at run time. Reserved: no rule
/// may use it.
pub const POLICY_ERROR_CODE: &str = "policy_error";

const _: () = assert!(MAX_POLICY_BYTES == trustmeter_types::limits::MAX_POLICY_BYTES);
const _: () = assert!(MAX_REASON_BYTES == trustmeter_types::limits::MAX_MESSAGE_LEN);
const _: () = assert!(MAX_EXPRESSION_BYTES < MAX_POLICY_BYTES && MAX_REASON_TEMPLATE_BYTES < MAX_POLICY_BYTES);
const _: () = assert!(MAX_TOTAL_COST >= MAX_EXPRESSION_NODES as u64);
