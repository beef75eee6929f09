//! Passphrase encryption of a secret: Argon2id derives a 32-byte key from the passphrase and a
//! random salt; (X)ChaCha20-Poly1305 encrypts the secret under it, authenticating the public key
//! as associated data.

use crate::error::{KeystoreError, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Length of the key Argon2id derives (the AEAD key).
const DERIVED_KEY_LEN: usize = 32;
/// Salt length of newly written files.
pub const SALT_LEN: usize = 16;
/// Shortest salt a file may carry.
pub const MIN_SALT_LEN: usize = 16;
/// Longest salt a file may carry.
pub const MAX_SALT_LEN: usize = 64;
/// Least Argon2id memory a file may ask for, in KiB (8 MiB).
pub const MIN_KDF_MEMORY_KIB: u32 = 8 * 1024;
/// Most Argon2id memory a file may ask for, in KiB (1 GiB): a tampered file cannot make loading
/// exhaust the machine's memory.
pub const MAX_KDF_MEMORY_KIB: u32 = 1024 * 1024;
/// Most Argon2id passes a file may ask for.
pub const MAX_KDF_ITERATIONS: u32 = 64;
/// Most Argon2id lanes a file may ask for.
pub const MAX_KDF_LANES: u32 = 16;

/// Argon2id cost parameters, as stored in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Number of passes.
    pub t: u32,
    /// Lanes (parallelism).
    pub p: u32,
}

impl KdfParams {
    /// What new files use: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option with
    /// one lane, for small gateway machines); ~0.1–0.3 s on a current core.
    pub const DEFAULT: KdfParams = KdfParams { m_kib: 64 * 1024, t: 3, p: 1 };

    /// Checks the parameters against this crate's limits.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(KeystoreError::Invalid(what));
        if !(MIN_KDF_MEMORY_KIB..=MAX_KDF_MEMORY_KIB).contains(&self.m_kib) {
            return bad(format!(
                "Argon2id memory {} KiB is outside {MIN_KDF_MEMORY_KIB}..={MAX_KDF_MEMORY_KIB} KiB",
                self.m_kib
            ));
        }
        if !(1..=MAX_KDF_ITERATIONS).contains(&self.t) {
            return bad(format!("Argon2id passes {} are outside 1..={MAX_KDF_ITERATIONS}", self.t));
        }
        if !(1..=MAX_KDF_LANES).contains(&self.p) {
            return bad(format!("Argon2id lanes {} are outside 1..={MAX_KDF_LANES}", self.p));
        }
        if self.m_kib < 8 * self.p {
            return bad(format!("Argon2id memory must be at least 8 KiB per lane ({} lanes)", self.p));
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The AEAD that encrypts the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cipher {
    /// XChaCha20-Poly1305 (24-byte random nonce): what new files use.
    #[serde(rename = "xchacha20-poly1305")]
    XChaCha20Poly1305,
    /// ChaCha20-Poly1305 (RFC 8439, 12-byte nonce): read for compatibility.
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
}

impl Cipher {
    /// Nonce length in bytes.
    pub fn nonce_len(self) -> usize {
        match self {
            Cipher::XChaCha20Poly1305 => 24,
            Cipher::ChaCha20Poly1305 => 12,
        }
    }
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::XChaCha20Poly1305 => "xchacha20-poly1305",
            Cipher::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }
}

/// Derives the AEAD key from a passphrase.
fn derive(passphrase: &str, salt: &[u8], kdf: KdfParams) -> Result<Zeroizing<[u8; DERIVED_KEY_LEN]>> {
    kdf.check()?;
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(DERIVED_KEY_LEN))
        .map_err(|e| KeystoreError::Invalid(format!("Argon2id parameters {kdf:?}: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; DERIVED_KEY_LEN]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|e| KeystoreError::Invalid(format!("Argon2id failed: {e}")))?;
    Ok(out)
}

/// Encrypts `secret` under a key derived from `passphrase`, binding `aad`.
pub(crate) fn seal(
    passphrase: &str,
    salt: &[u8],
    kdf: KdfParams,
    cipher: Cipher,
    nonce: &[u8],
    aad: &[u8],
    secret: &[u8],
) -> Result<Vec<u8>> {
    let key = derive(passphrase, salt, kdf)?;
    let payload = Payload { msg: secret, aad };
    let out = match cipher {
        Cipher::XChaCha20Poly1305 => {
            let c = XChaCha20Poly1305::new_from_slice(key.as_ref()).expect("32-byte key");
            c.encrypt(nonce.try_into().map_err(|_| bad_nonce(cipher, nonce))?, payload)
        }
        Cipher::ChaCha20Poly1305 => {
            let c = ChaCha20Poly1305::new_from_slice(key.as_ref()).expect("32-byte key");
            c.encrypt(nonce.try_into().map_err(|_| bad_nonce(cipher, nonce))?, payload)
        }
    };
    out.map_err(|_| KeystoreError::Invalid("encryption failed (secret too long)".into()))
}

/// Decrypts; `None` when authentication fails (wrong passphrase or modified inputs).
pub(crate) fn open(
    passphrase: &str,
    salt: &[u8],
    kdf: KdfParams,
    cipher: Cipher,
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let key = derive(passphrase, salt, kdf)?;
    let payload = Payload { msg: ciphertext, aad };
    let out = match cipher {
        Cipher::XChaCha20Poly1305 => {
            let c = XChaCha20Poly1305::new_from_slice(key.as_ref()).expect("32-byte key");
            c.decrypt(nonce.try_into().map_err(|_| bad_nonce(cipher, nonce))?, payload)
        }
        Cipher::ChaCha20Poly1305 => {
            let c = ChaCha20Poly1305::new_from_slice(key.as_ref()).expect("32-byte key");
            c.decrypt(nonce.try_into().map_err(|_| bad_nonce(cipher, nonce))?, payload)
        }
    };
    Ok(out.ok().map(Zeroizing::new))
}

fn bad_nonce(cipher: Cipher, nonce: &[u8]) -> KeystoreError {
    KeystoreError::Invalid(format!(
        "{} nonce must be {} bytes, found {}",
        cipher.name(),
        cipher.nonce_len(),
        nonce.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lightest parameters the limits allow, to keep unit tests fast.
    const LIGHT: KdfParams = KdfParams { m_kib: MIN_KDF_MEMORY_KIB, t: 1, p: 1 };

    #[test]
    fn both_ciphers_round_trip_and_bind_every_input() {
        for cipher in [Cipher::XChaCha20Poly1305, Cipher::ChaCha20Poly1305] {
            let nonce = vec![7u8; cipher.nonce_len()];
            let salt = [9u8; SALT_LEN];
            let ct = seal("correct horse", &salt, LIGHT, cipher, &nonce, b"pk", b"secret").unwrap();
            assert_ne!(&ct[..6], b"secret");
            let ok = open("correct horse", &salt, LIGHT, cipher, &nonce, b"pk", &ct).unwrap().unwrap();
            assert_eq!(ok.as_slice(), b"secret");
            assert!(open("wrong horse", &salt, LIGHT, cipher, &nonce, b"pk", &ct).unwrap().is_none());
            assert!(open("correct horse", &[8u8; SALT_LEN], LIGHT, cipher, &nonce, b"pk", &ct).unwrap().is_none());
            assert!(open("correct horse", &salt, LIGHT, cipher, &nonce, b"pk2", &ct).unwrap().is_none());
            let t2 = KdfParams { t: 2, ..LIGHT };
            assert!(open("correct horse", &salt, t2, cipher, &nonce, b"pk", &ct).unwrap().is_none());
        }
    }

    #[test]
    fn kdf_limits_are_enforced() {
        assert!(KdfParams::DEFAULT.check().is_ok());
        for bad in [
            KdfParams { m_kib: MAX_KDF_MEMORY_KIB + 1, ..LIGHT },
            KdfParams { m_kib: MIN_KDF_MEMORY_KIB - 1, ..LIGHT },
            KdfParams { t: 0, ..LIGHT },
            KdfParams { t: MAX_KDF_ITERATIONS + 1, ..LIGHT },
            KdfParams { p: 0, ..LIGHT },
            KdfParams { p: MAX_KDF_LANES + 1, ..LIGHT },
        ] {
            let e = bad.check().unwrap_err().to_string();
            assert!(e.contains("Argon2id"), "{e}");
        }
        let e = seal("pw", &[0; SALT_LEN], LIGHT, Cipher::XChaCha20Poly1305, &[0; 12], b"", b"s").unwrap_err();
        assert!(e.to_string().contains("nonce must be 24 bytes"), "{e}");
    }
}
