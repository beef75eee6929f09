//! The canonical binary encoding.
//!
//! Borsh gives a fixed field order, fixed-width little-endian integers, `u32` length prefixes,
//! strict `bool`/`Option`/enum tags and UTF-8 checks. On top of it, [`decode`] refuses input
//! longer than the caller's bound before reading it, refuses trailing bytes, and runs
//! [`Validate`] so every length limit in [`crate::limits`] is enforced at the boundary.

use borsh::{BorshDeserialize, BorshSerialize};

/// Why bytes did not decode to a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is longer than the bound for this kind of value.
    #[error("input is {len} bytes, more than the limit of {max}")]
    TooLong {
        /// Length of the input.
        len: usize,
        /// The bound that was exceeded.
        max: usize,
    },
    /// The bytes are not a canonical encoding of the value (bad tag, short input, trailing bytes).
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// The value decoded but breaks a limit or an invariant.
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// Checks limits and invariants that the encoding alone cannot express.
pub trait Validate {
    /// Returns a sentence saying what is wrong, or `Ok(())`.
    fn validate(&self) -> Result<(), String>;
}

/// Encodes a value canonically.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("encoding into a Vec cannot fail")
}

/// Decodes a value from exactly `bytes`, refusing more than `max_len` bytes, then validates it.
pub fn decode<T: BorshDeserialize + Validate>(bytes: &[u8], max_len: usize) -> Result<T, DecodeError> {
    if bytes.len() > max_len {
        return Err(DecodeError::TooLong { len: bytes.len(), max: max_len });
    }
    let value: T = borsh::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    value.validate().map_err(DecodeError::Invalid)?;
    Ok(value)
}

/// Returns an error sentence when `len > max`.
/// Deserializes an `Option<T>` field that must be present in JSON, as `null` or a value.
///
/// Use as `#[serde(deserialize_with = "trustmeter_types::codec::required_option")]`. Without it,
/// serde's derive reads a *missing* `Option` field as `None`, so a document could leave out a
/// field the canonical form always has; the proof formats (`docs/proof-format.md`) have no
/// optional fields.
pub fn required_option<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d)
}

pub(crate) fn check_len(what: &str, len: usize, max: usize) -> Result<(), String> {
    if len > max { Err(format!("{what} has length {len}, more than the limit of {max}")) } else { Ok(()) }
}
