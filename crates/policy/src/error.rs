//! Why a policy document is refused.

/// Why [`crate::Policy::parse`] refused a document. Every message names what to change (the rule,
/// the field, the limit) so the regulator can fix the document.
///
/// The messages are deterministic — the same document gives the same message on every machine —
/// because a refused deployment's message goes into a transaction receipt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not TOML, or not the policy document's shape (a missing field, an unknown field, a wrong type).
    #[error("the policy document is not valid: {0}")]
    Toml(String),
    /// The document, an expression or a text field exceeds its size limit.
    #[error("{what} is {size} bytes, more than the limit of {max} bytes; shorten it")]
    TooLarge {
        /// What is too large, e.g. "the policy document" or "rule `x`: check".
        what: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// More rules than [`crate::MAX_RULES`].
    #[error("the policy has {count} rules, more than the limit of {max}; merge or remove rules")]
    TooManyRules {
        /// Rules in the document.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An expression does not compile, uses something that is not allowed, or does not type-check.
    #[error("rule `{rule}`: {message}")]
    Expression {
        /// The rule id.
        rule: String,
        /// Which expression (`when`, `check`, a reason placeholder) and what is wrong with it.
        message: String,
    },
    /// An expression names an identifier or a field that does not exist.
    #[error(
        "rule `{rule}`: unknown identifier `{name}`; expressions may use reading, meter, has_previous, previous, \
         block and params, with the fields listed in the policy README, and params keys that the document defines"
    )]
    UnknownIdentifier {
        /// The rule id.
        rule: String,
        /// The identifier or dotted path, e.g. `reading.valeu` or `params.max_rate`.
        name: String,
    },
    /// An expression has more AST nodes (after macro expansion) than [`crate::MAX_EXPRESSION_NODES`].
    #[error(
        "rule `{rule}`: {expression} has {nodes} syntax-tree nodes, more than the limit of {max}; simplify it or \
         split the rule"
    )]
    TooComplex {
        /// The rule id.
        rule: String,
        /// Which expression: `when`, `check` or `reason placeholder {…}`.
        expression: String,
        /// Its node count.
        nodes: usize,
        /// The limit.
        max: usize,
    },
    /// The static cost of all rules together exceeds [`crate::MAX_TOTAL_COST`].
    #[error(
        "the policy's static cost is {cost}, more than the limit of {max} (the costliest rule is `{rule}` at \
         {rule_cost}); remove or simplify rules, or shorten the params lists that all()/exists() range over"
    )]
    CostLimit {
        /// The policy's total cost.
        cost: u64,
        /// The limit.
        max: u64,
        /// The costliest rule.
        rule: String,
        /// Its cost.
        rule_cost: u64,
    },
    /// An expression failed (or did not give a bool) on one of the synthetic inputs of the dry run.
    #[error("rule `{rule}`: {message}")]
    DryRun {
        /// The rule id.
        rule: String,
        /// Which expression, on which synthetic input, and what happened.
        message: String,
    },
    /// A field of the document has an invalid value (a malformed id, a reserved code, a duplicate,
    /// a parameter of an unsupported type).
    #[error("{field}: {message}")]
    InvalidField {
        /// The field, e.g. `version`, `rules[3].code`, `params.max_instant.coke`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}
