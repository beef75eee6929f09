//! Identifiers.

use crate::limits::{MAX_CHAIN_ID_LEN, MAX_DEVICE_ID_LEN};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Empty, too long, or with characters outside the allowed set.
    #[error("{what} {value:?} is not valid: {reason}")]
    Invalid {
        /// Which kind of identifier.
        what: &'static str,
        /// The offending text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn check_token(what: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    let bad = |reason: String| IdError::Invalid { what, value: s.chars().take(80).collect(), reason };
    if s.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if s.len() > max {
        return Err(bad(format!("it is {} bytes long, the limit is {max}", s.len())));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(bad(format!("character {c:?} is not allowed (use A-Z a-z 0-9 - _ .)")));
    }
    Ok(())
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and checks an identifier.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_token($what, &s, $max)?;
                Ok(Self(s))
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Checks the limits again (after decoding).
            pub fn check(&self) -> Result<(), String> {
                check_token($what, &self.0, $max).map_err(|e| e.to_string())
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

token_id!(
    /// Names one chain (e.g. `hunan-1`, `national-1`). Every transaction signature covers it, so a
    /// transaction signed for one chain is rejected by every other.
    ChainId,
    "chain id",
    MAX_CHAIN_ID_LEN
);
token_id!(
    /// Identifies a device: a gateway (端设备) or a meter (计量器具). Unique per chain. A device
    /// registered on chain is named `<owner's unified social credit code>-<local id>` (the state
    /// machine refuses any other name, see [`DeviceId::owner_code`]), so an id alone tells whose
    /// device it is and one enterprise cannot take names under another's code.
    DeviceId,
    "device id",
    MAX_DEVICE_ID_LEN
);

impl DeviceId {
    /// The owner's credit code this id is named under: the 18 characters before the first `-`,
    /// when they are a valid unified social credit code (check character included) and a
    /// non-empty local id follows. `None` for any other shape.
    pub fn owner_code(&self) -> Option<UnifiedSocialCreditCode> {
        let (code, local) = self.0.split_once('-')?;
        if local.is_empty() {
            return None;
        }
        UnifiedSocialCreditCode::new(code).ok()
    }

    /// Whether this id is named under `owner`'s credit code (see [`DeviceId::owner_code`]).
    pub fn is_named_under(&self, owner: &UnifiedSocialCreditCode) -> bool {
        self.owner_code().is_some_and(|c| &c == owner)
    }
}

/// A 32-byte hash (SHA-256, or SM3 on a chain configured for 国密). Shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// The all-zero hash, used as the parent of the genesis block.
    pub const ZERO: Hash32 = Hash32([0u8; 32]);
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        let bad = |reason: &str| IdError::Invalid {
            what: "hash",
            value: s.chars().take(80).collect(),
            reason: reason.into(),
        };
        let v = hex::decode(s).map_err(|_| bad("not hex"))?;
        let arr: [u8; 32] = v.try_into().map_err(|_| bad("not 32 bytes"))?;
        Ok(Hash32(arr))
    }
}
impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", &self.to_hex()[..16])
    }
}
impl Serialize for Hash32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}
impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        Hash32::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters identifying every
/// legal entity in China, enterprises and government bodies alike. The 18th character is a check
/// character over the first 17 (weights 3^i mod 31, alphabet without I, O, S, V, Z).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnifiedSocialCreditCode(String);

/// The 31 characters a credit code may use, in value order.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1..=17 (3^(i-1) mod 31).
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

impl UnifiedSocialCreditCode {
    /// Parses a code and checks its length, alphabet and check character.
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        Self::check_str(&s)?;
        Ok(Self(s))
    }

    /// Computes the check character for the first 17 characters.
    pub fn check_char(first17: &str) -> Option<char> {
        if first17.len() != 17 {
            return None;
        }
        let mut sum = 0u32;
        for (i, b) in first17.bytes().enumerate() {
            let v = USCC_ALPHABET.iter().position(|&a| a == b)? as u32;
            sum += v * USCC_WEIGHTS[i];
        }
        let c = (31 - sum % 31) % 31;
        Some(USCC_ALPHABET[c as usize] as char)
    }

    fn check_str(s: &str) -> Result<(), IdError> {
        let bad = |reason: String| IdError::Invalid {
            what: "unified social credit code",
            value: s.chars().take(40).collect(),
            reason,
        };
        if s.len() != 18 || !s.is_ascii() {
            return Err(bad(format!("it must be 18 characters, found {}", s.chars().count())));
        }
        if let Some(c) = s.bytes().find(|b| !USCC_ALPHABET.contains(b)) {
            return Err(bad(format!("character {:?} is not allowed (0-9 and A-Y without I, O, S, V, Z)", c as char)));
        }
        let expected = Self::check_char(&s[..17]).expect("alphabet checked");
        let found = s.as_bytes()[17] as char;
        if expected != found {
            return Err(bad(format!("check character is {found:?} but the first 17 characters give {expected:?}")));
        }
        Ok(())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks the code again (after decoding).
    pub fn check(&self) -> Result<(), String> {
        Self::check_str(&self.0).map_err(|e| e.to_string())
    }
}
impl TryFrom<String> for UnifiedSocialCreditCode {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(s)
    }
}
impl From<UnifiedSocialCreditCode> for String {
    fn from(v: UnifiedSocialCreditCode) -> String {
        v.0
    }
}
impl fmt::Display for UnifiedSocialCreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for UnifiedSocialCreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "USCC({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_id_names_its_owner_only_with_a_valid_code_and_a_local_part() {
        let code = "91430100700001000N";
        let owner = UnifiedSocialCreditCode::new(code).unwrap();
        let id = |s: &str| DeviceId::new(s).unwrap();
        assert_eq!(id(&format!("{code}-GW01")).owner_code(), Some(owner.clone()));
        assert!(id(&format!("{code}-EM-0001")).is_named_under(&owner), "later dashes belong to the local id");
        let regulator = UnifiedSocialCreditCode::new("11430000MB12345670").unwrap();
        assert!(!id("11430000MB12345670-GW01").is_named_under(&owner));
        assert!(id("11430000MB12345670-GW01").is_named_under(&regulator));
        // Wrong check character, no local part, no code, lower case, a code with a suffix.
        for bad in [
            "91430100700001000A-GW01".to_string(),
            format!("{code}-"),
            code.to_string(),
            "GW01".into(),
            "ACME-GW01".into(),
            "91430100700001000n-GW01".into(),
            format!("{code}X-GW01"),
        ] {
            assert_eq!(id(&bad).owner_code(), None, "{bad}");
            assert!(!id(&bad).is_named_under(&owner), "{bad}");
        }
    }

    /// Independent computation of the check character straight from GB 32100's definition:
    /// C18 = 31 - (Σ Ci·Wi mod 31), with Wi = 3^(i-1) mod 31.
    fn reference_check(first17: &str) -> char {
        let alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
        let mut sum = 0u64;
        let mut w = 1u64;
        for ch in first17.chars() {
            sum += alphabet.find(ch).unwrap() as u64 * w;
            w = (w * 3) % 31;
        }
        alphabet.chars().nth(((31 - sum % 31) % 31) as usize).unwrap()
    }

    #[test]
    fn published_examples_validate() {
        // Example codes printed in GB 32100-2015 commentary and on public business licences.
        for code in ["91350100M000100Y43", "91110000802100433B"] {
            assert!(UnifiedSocialCreditCode::new(code).is_ok(), "{code}");
            assert_eq!(reference_check(&code[..17]), code.chars().last().unwrap());
        }
    }

    #[test]
    fn wrong_check_character_is_refused_with_reason() {
        let err = UnifiedSocialCreditCode::new("91350100M000100Y44").unwrap_err().to_string();
        assert!(err.contains("check character"), "{err}");
        assert!(UnifiedSocialCreditCode::new("91350100M000100Y4").is_err());
        assert!(UnifiedSocialCreditCode::new("91350100M000I00Y43").unwrap_err().to_string().contains("'I'"));
    }

    #[test]
    fn weights_are_powers_of_three() {
        let mut w = 1u32;
        for x in USCC_WEIGHTS {
            assert_eq!(x, w);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn device_ids_are_checked() {
        assert!(DeviceId::new("ACME-EM-001").is_ok());
        assert!(DeviceId::new("").is_err());
        assert!(DeviceId::new("a b").is_err());
        assert!(DeviceId::new("x".repeat(65)).is_err());
        assert!(ChainId::new("hunan-1").is_ok());
    }
}
