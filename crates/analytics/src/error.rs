//! What a query can fail with, said so that the caller knows what to change. The HTTP layer maps
//! each kind to a status code (`bad_request` and `limit_exceeded` to 400, `not_found` to 404,
//! `unavailable` to 503, `internal` to 500); other callers (benchmarks, the CLI) print the message.

/// A query's error: its kind and a sentence that says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A parameter is missing or malformed (an unknown energy kind, a date that is not a date).
    #[error("{0}")]
    Invalid(String),
    /// A request asks for more than a bound allows (a range of too many days, too many points).
    #[error("{0}")]
    Limit(String),
    /// What the request names does not exist (an organisation that is not a member, a figure the
    /// chain does not hold).
    #[error("{0}")]
    NotFound(String),
    /// The data is not there yet (the index is behind the state); retrying shortly helps.
    #[error("{0}")]
    Unavailable(String),
    /// A store failed or holds something it should not; not the caller's fault.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The stable code of the kind (`bad_request`, `limit_exceeded`, `not_found`, `unavailable`,
    /// `internal`): the `code` of the API's error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "bad_request",
            Error::Limit(_) => "limit_exceeded",
            Error::NotFound(_) => "not_found",
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The sentence.
    pub fn message(&self) -> &str {
        match self {
            Error::Invalid(m) | Error::Limit(m) | Error::NotFound(m) | Error::Unavailable(m) | Error::Internal(m) => m,
        }
    }
}

/// A malformed or missing parameter.
pub(crate) fn bad(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

/// A request beyond a bound.
pub(crate) fn limit(message: impl Into<String>) -> Error {
    Error::Limit(message.into())
}

/// Something named that does not exist.
pub(crate) fn not_found(message: impl Into<String>) -> Error {
    Error::NotFound(message.into())
}

/// Data not there yet.
pub(crate) fn unavailable(message: impl Into<String>) -> Error {
    Error::Unavailable(message.into())
}

/// A store's failure.
pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}
