//! Public keys and signatures, each carrying its scheme tag.
//!
//! Only bytes live here; signing and verification are in `trustmeter-crypto`.

use crate::limits::{MAX_PUBLIC_KEY_LEN, MAX_SIGNATURE_LEN};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A signature scheme. The tag is part of every key and signature, so a verifier never guesses.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum KeyScheme {
    /// Ed25519 (RFC 8032) verified under ZIP-215 rules, so batch and single verification agree.
    Ed25519 = 0,
    /// SM2 (GM/T 0003, 国密) with SM3, for deployments that require Chinese national algorithms.
    Sm2 = 1,
}

impl KeyScheme {
    /// Public key length in bytes.
    pub fn public_key_len(self) -> usize {
        match self {
            KeyScheme::Ed25519 => 32,
            KeyScheme::Sm2 => 33,
        }
    }
    /// Signature length in bytes.
    pub fn signature_len(self) -> usize {
        64
    }
    /// Lowercase name, as used in text forms.
    pub fn name(self) -> &'static str {
        match self {
            KeyScheme::Ed25519 => "ed25519",
            KeyScheme::Sm2 => "sm2",
        }
    }
    /// The scheme of a lowercase name (`ed25519`, `sm2`).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "ed25519" => Some(KeyScheme::Ed25519),
            "sm2" => Some(KeyScheme::Sm2),
            _ => None,
        }
    }
}

impl std::str::FromStr for KeyScheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(&s.to_ascii_lowercase()).ok_or_else(|| format!("unknown key scheme {s:?}; use ed25519 or sm2"))
    }
}

macro_rules! tagged_bytes {
    ($(#[$doc:meta])* $name:ident, $len:ident, $max:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
        pub struct $name {
            /// Which scheme the bytes belong to.
            pub scheme: KeyScheme,
            /// The raw bytes (length fixed by the scheme).
            pub bytes: Vec<u8>,
        }

        impl $name {
            /// Builds a value, checking the length against the scheme.
            pub fn new(scheme: KeyScheme, bytes: Vec<u8>) -> Result<Self, String> {
                let v = Self { scheme, bytes };
                v.check()?;
                Ok(v)
            }
            /// Checks that the length matches the scheme.
            pub fn check(&self) -> Result<(), String> {
                if self.bytes.len() > $max || self.bytes.len() != self.scheme.$len() {
                    return Err(format!(
                        "{} {} must be {} bytes, found {}",
                        self.scheme.name(), $what, self.scheme.$len(), self.bytes.len()
                    ));
                }
                Ok(())
            }
            /// Text form `scheme:hex`.
            pub fn to_text(&self) -> String {
                format!("{}:{}", self.scheme.name(), hex::encode(&self.bytes))
            }
            /// Parses the text form `scheme:hex`.
            pub fn from_text(s: &str) -> Result<Self, String> {
                let (scheme, hex_part) = s
                    .split_once(':')
                    .ok_or_else(|| format!("{} {s:?} must look like ed25519:<hex>", $what))?;
                let scheme = KeyScheme::from_name(scheme)
                    .ok_or_else(|| format!("unknown key scheme {scheme:?} (ed25519 or sm2)"))?;
                let bytes = hex::decode(hex_part).map_err(|_| format!("{} is not hex", $what))?;
                Self::new(scheme, bytes)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_text())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let t = self.to_text();
                write!(f, "{}({})", stringify!($name), &t[..t.len().min(24)])
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_text())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as Deserialize>::deserialize(d)?;
                Self::from_text(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

tagged_bytes!(
    /// A public key of a device, an account or a validator.
    PublicKey,
    public_key_len,
    MAX_PUBLIC_KEY_LEN,
    "public key"
);
tagged_bytes!(
    /// A signature, tagged with the scheme that made it.
    Signature,
    signature_len,
    MAX_SIGNATURE_LEN,
    "signature"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_length_checks() {
        let k = PublicKey::new(KeyScheme::Ed25519, vec![7; 32]).unwrap();
        assert_eq!(PublicKey::from_text(&k.to_text()).unwrap(), k);
        assert!(PublicKey::new(KeyScheme::Ed25519, vec![7; 33]).is_err());
        assert!(PublicKey::new(KeyScheme::Sm2, vec![2; 33]).is_ok());
        assert!(PublicKey::from_text("rsa:00").unwrap_err().contains("unknown key scheme"));
        assert!(Signature::new(KeyScheme::Ed25519, vec![0; 63]).is_err());
    }
}
