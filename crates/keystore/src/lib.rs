//! # trustmeter-keystore
//!
//! Key files for device and account keys. A key is generated on the machine that uses it and
//! never leaves it; only its public key is registered on chain. A key file is JSON (format
//! `trustmeter-keystore/v1`, see the crate README) holding the public part in the clear and the
//! secret either in the clear (local devnets) or encrypted under a passphrase (Argon2id,
//! then XChaCha20-Poly1305 with the public key as associated data, so a swapped public key does
//! not decrypt).
//!
//! Files are written atomically (temporary file, then rename or link) with mode 0600, never over
//! an existing file unless asked. Loading refuses files that other users can read and files whose
//! secret does not produce their public key.
//!
//! ```no_run
//! use trustmeter_keystore::{KeyFile, KeyMeta, passphrase_from_env};
//! use trustmeter_types::KeyScheme;
//! # fn main() -> Result<(), trustmeter_keystore::KeystoreError> {
//! let pass = passphrase_from_env("GATEWAY_KEY_PASSPHRASE")?;
//! let path = std::path::Path::new("gateway.key");
//! let key = KeyFile::generate(path, KeyScheme::Ed25519, "gateway 1", &KeyMeta::default(), Some(&pass))?;
//! let (same, info) = KeyFile::load(path, Some(&pass))?;
//! assert_eq!(key.public_key(), same.public_key());
//! assert_eq!(info.public_key, key.public_key());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod error;
mod seal;

pub use error::{KeystoreError, Result};
pub use seal::{
    Cipher, KdfParams, MAX_KDF_ITERATIONS, MAX_KDF_LANES, MAX_KDF_MEMORY_KIB, MAX_SALT_LEN, MIN_KDF_MEMORY_KIB,
    MIN_SALT_LEN, SALT_LEN,
};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use rand::TryRng;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use trustmeter_crypto::SigningKey;
use trustmeter_types::{DeviceId, KeyScheme, PublicKey, UnifiedSocialCreditCode};
use zeroize::{Zeroize, Zeroizing};

/// The `format` field of every file this crate writes and reads.
pub const FORMAT: &str = "trustmeter-keystore/v1";
/// Largest key file read (bytes); anything larger is not a key file.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
/// Longest label (bytes).
pub const MAX_LABEL_LEN: usize = 128;
/// Shortest passphrase accepted when writing an encrypted file (characters).
pub const MIN_PASSPHRASE_LEN: usize = 8;
/// Longest passphrase accepted (bytes).
pub const MAX_PASSPHRASE_LEN: usize = 1024;
/// Longest secret a file may carry (bytes).
pub const MAX_SECRET_LEN: usize = 256;
/// Random secret bytes drawn for a new key of any scheme (Ed25519 seed, SM2 scalar).
pub const NEW_SECRET_LEN: usize = 32;
/// How often generation draws new bytes when the scheme refuses a candidate secret (an SM2
/// scalar out of range happens with probability ~2⁻³²).
pub const MAX_GENERATE_ATTEMPTS: usize = 8;
/// Prefix of the AEAD associated data; the public key's text form follows.
const AAD_PREFIX: &[u8] = b"trustmeter-keystore/v1/public-key:";

/// Who or what a key belongs to, stored in the clear next to the public key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// The organisation (unified social credit code) whose account or device this is.
    pub organisation: Option<UnifiedSocialCreditCode>,
    /// The device id, for a gateway or meter key.
    pub device: Option<DeviceId>,
}

/// How the secret is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// In the clear (local devnets, or machines whose disk is protected otherwise).
    Plain,
    /// Encrypted under a passphrase.
    Encrypted {
        /// Argon2id parameters.
        kdf: KdfParams,
        /// The AEAD.
        cipher: Cipher,
    },
}

/// The public part of a key file: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// Where the file is.
    pub path: PathBuf,
    /// What the key is for, for people.
    pub label: String,
    /// Organisation and device.
    pub meta: KeyMeta,
    /// The signature scheme.
    pub scheme: KeyScheme,
    /// The public key.
    pub public_key: PublicKey,
    /// When the key was made.
    pub created_at: DateTime<FixedOffset>,
    /// How the secret is stored.
    pub protection: Protection,
}

impl KeyInfo {
    /// Whether the secret is encrypted.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.protection, Protection::Encrypted { .. })
    }
}

/// The JSON document.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: String,
    label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organisation: Option<UnifiedSocialCreditCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<DeviceId>,
    scheme: KeyScheme,
    public_key: PublicKey,
    created_at: String,
    secret: SecretDoc,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum SecretDoc {
    /// Hex of the secret bytes.
    Plain(String),
    Encrypted(EncryptedDoc),
}

impl Drop for SecretDoc {
    fn drop(&mut self) {
        if let SecretDoc::Plain(hex) = self {
            hex.zeroize();
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedDoc {
    kdf: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
    cipher: Cipher,
    nonce: String,
    ciphertext: String,
}

/// The only KDF name files use.
const KDF_ARGON2ID: &str = "argon2id";

/// Key files: generate, write, load, inspect. Every operation is an associated function taking
/// the file's path.
pub struct KeyFile;

impl KeyFile {
    /// Generates a key of `scheme` from the operating system's randomness and writes it to `path`
    /// (encrypted when `passphrase` is given). Never overwrites an existing file.
    pub fn generate(
        path: &Path,
        scheme: KeyScheme,
        label: &str,
        meta: &KeyMeta,
        passphrase: Option<&str>,
    ) -> Result<SigningKey> {
        check_label(label)?;
        if let Some(p) = passphrase {
            check_new_passphrase(p)?;
        }
        refuse_existing(path)?;
        let key = generate_key(scheme)?;
        Self::write(path, &key, label, meta, passphrase, false)?;
        Ok(key)
    }

    /// Writes `key` to `path` with the default KDF parameters (see [`KeyFile::write_with_kdf`]).
    pub fn write(
        path: &Path,
        key: &SigningKey,
        label: &str,
        meta: &KeyMeta,
        passphrase: Option<&str>,
        overwrite: bool,
    ) -> Result<KeyInfo> {
        Self::write_with_kdf(path, key, label, meta, passphrase, KdfParams::DEFAULT, overwrite)
    }

    /// Writes `key` to `path`: in the clear without a passphrase, otherwise encrypted with
    /// XChaCha20-Poly1305 under an Argon2id key (`kdf`) from the passphrase and a fresh salt.
    /// The file appears atomically with mode 0600; an existing file is replaced only when
    /// `overwrite` is set.
    pub fn write_with_kdf(
        path: &Path,
        key: &SigningKey,
        label: &str,
        meta: &KeyMeta,
        passphrase: Option<&str>,
        kdf: KdfParams,
        overwrite: bool,
    ) -> Result<KeyInfo> {
        check_label(label)?;
        if !overwrite {
            refuse_existing(path)?;
        }
        let public_key = key.public_key();
        let scheme = key.scheme();
        let secret = Zeroizing::new(key.secret_bytes());
        let (secret_doc, protection) = match passphrase {
            None => (SecretDoc::Plain(hex::encode(secret.as_slice())), Protection::Plain),
            Some(pass) => {
                check_new_passphrase(pass)?;
                kdf.check()?;
                let cipher = Cipher::XChaCha20Poly1305;
                let mut salt = [0u8; SALT_LEN];
                os_random(&mut salt)?;
                let mut nonce = vec![0u8; cipher.nonce_len()];
                os_random(&mut nonce)?;
                let ciphertext = seal::seal(pass, &salt, kdf, cipher, &nonce, &aad(&public_key), &secret)?;
                let doc = EncryptedDoc {
                    kdf: KDF_ARGON2ID.into(),
                    m_kib: kdf.m_kib,
                    t: kdf.t,
                    p: kdf.p,
                    salt: hex::encode(salt),
                    cipher,
                    nonce: hex::encode(&nonce),
                    ciphertext: hex::encode(ciphertext),
                };
                (SecretDoc::Encrypted(doc), Protection::Encrypted { kdf, cipher })
            }
        };
        let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let doc = Document {
            format: FORMAT.into(),
            label: label.into(),
            organisation: meta.organisation.clone(),
            device: meta.device.clone(),
            scheme,
            public_key: public_key.clone(),
            created_at: created_at.clone(),
            secret: secret_doc,
        };
        let mut text = Zeroizing::new(serde_json::to_string_pretty(&doc).expect("a key document serializes"));
        text.push('\n');
        write_atomic(path, text.as_bytes(), overwrite)?;
        tracing::debug!(path = %path.display(), %public_key, encrypted = passphrase.is_some(), "wrote key file");
        Ok(KeyInfo {
            path: path.to_path_buf(),
            label: label.into(),
            meta: meta.clone(),
            scheme,
            public_key,
            created_at: DateTime::parse_from_rfc3339(&created_at).expect("RFC 3339 written just now"),
            protection,
        })
    }

    /// Loads the key in `path`, decrypting it with `passphrase` if it is encrypted. Refuses a
    /// file readable by other users, and a file whose secret does not produce its public key.
    pub fn load(path: &Path, passphrase: Option<&str>) -> Result<(SigningKey, KeyInfo)> {
        let (doc, info) = read_document(path, true)?;
        open_document(&doc, info, passphrase)
    }

    /// Loads a key from the text of a key file that is not on this machine's file system (a web
    /// page's file input, a browser's WebAssembly verifier): the same checks as [`KeyFile::load`]
    /// but the permissions, which the caller's platform keeps. `origin` names the file in errors
    /// and becomes [`KeyInfo::path`]. Text longer than [`MAX_KEY_FILE_BYTES`] is refused.
    pub fn load_str(text: &str, origin: &Path, passphrase: Option<&str>) -> Result<(SigningKey, KeyInfo)> {
        let (doc, info) = parse_document(text, origin)?;
        open_document(&doc, info, passphrase)
    }

    /// The public part of a key file's text (see [`KeyFile::load_str`]); no passphrase needed.
    /// A caller can read the Argon2id cost a file asks for here before decrypting it.
    pub fn info_str(text: &str, origin: &Path) -> Result<KeyInfo> {
        parse_document(text, origin).map(|(_, info)| info)
    }

    /// The public part of the key file at `path` (no passphrase needed, any permissions).
    pub fn info(path: &Path) -> Result<KeyInfo> {
        read_document(path, false).map(|(_, info)| info)
    }
}

/// Generates a key of `scheme` from the operating system's randomness without writing it.
pub fn generate_key(scheme: KeyScheme) -> Result<SigningKey> {
    let mut last = None;
    for _ in 0..MAX_GENERATE_ATTEMPTS {
        let mut secret = Zeroizing::new([0u8; NEW_SECRET_LEN]);
        os_random(secret.as_mut())?;
        match SigningKey::from_secret(scheme, secret.as_ref()) {
            Ok(k) => return Ok(k),
            Err(trustmeter_crypto::CryptoError::BadSecretKey(reason)) => last = Some(reason),
            Err(e) => return Err(KeystoreError::Generate { scheme: scheme.name(), reason: e.to_string() }),
        }
    }
    Err(KeystoreError::Generate {
        scheme: scheme.name(),
        reason: format!("{MAX_GENERATE_ATTEMPTS} random secrets in a row were refused ({})", last.unwrap_or_default()),
    })
}

/// Reads a passphrase from the environment variable `var`; refuses an unset or empty one.
pub fn passphrase_from_env(var: &str) -> Result<Zeroizing<String>> {
    match std::env::var(var) {
        Ok(v) if v.is_empty() => Err(KeystoreError::PassphraseEnv { var: var.into(), reason: "is empty" }),
        Ok(v) => Ok(Zeroizing::new(v)),
        Err(std::env::VarError::NotPresent) => {
            Err(KeystoreError::PassphraseEnv { var: var.into(), reason: "is not set" })
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(KeystoreError::PassphraseEnv { var: var.into(), reason: "is not valid UTF-8" })
        }
    }
}

/// The key of a parsed document: its secret, decrypted with `passphrase` if it is encrypted, must
/// produce the document's public key.
fn open_document(doc: &Document, info: KeyInfo, passphrase: Option<&str>) -> Result<(SigningKey, KeyInfo)> {
    let path = info.path.as_path();
    let secret: Zeroizing<Vec<u8>> = match &doc.secret {
        SecretDoc::Plain(h) => {
            if passphrase.is_some() {
                tracing::warn!(path = %path.display(), "key file is not encrypted; the passphrase is not used");
            }
            Zeroizing::new(hex::decode(h).map_err(|_| malformed(path, "the plain secret is not hex"))?)
        }
        SecretDoc::Encrypted(e) => {
            let pass = passphrase.ok_or_else(|| KeystoreError::PassphraseRequired { path: path.into() })?;
            let Protection::Encrypted { kdf, cipher } = info.protection else {
                unreachable!("an encrypted document has encrypted protection")
            };
            let salt = hex::decode(&e.salt).map_err(|_| malformed(path, "salt is not hex"))?;
            let nonce = hex::decode(&e.nonce).map_err(|_| malformed(path, "nonce is not hex"))?;
            let ct = hex::decode(&e.ciphertext).map_err(|_| malformed(path, "ciphertext is not hex"))?;
            if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
                return Err(malformed(path, &format!("salt must be {MIN_SALT_LEN}..={MAX_SALT_LEN} bytes")));
            }
            if nonce.len() != cipher.nonce_len() {
                return Err(malformed(path, &format!("{} nonce must be {} bytes", cipher.name(), cipher.nonce_len())));
            }
            seal::open(pass, &salt, kdf, cipher, &nonce, &aad(&info.public_key), &ct)?
                .ok_or_else(|| KeystoreError::WrongPassphrase { path: path.into() })?
        }
    };
    if secret.len() > MAX_SECRET_LEN {
        return Err(malformed(path, &format!("the secret is longer than {MAX_SECRET_LEN} bytes")));
    }
    let key = SigningKey::from_secret(info.scheme, &secret)
        .map_err(|source| KeystoreError::Crypto { path: path.into(), source })?;
    if key.public_key() != info.public_key {
        return Err(KeystoreError::KeyMismatch { path: path.into(), public_key: info.public_key.to_text() });
    }
    Ok((key, info))
}

fn aad(public_key: &PublicKey) -> Vec<u8> {
    let mut out = AAD_PREFIX.to_vec();
    out.extend_from_slice(public_key.to_text().as_bytes());
    out
}

fn os_random(buf: &mut [u8]) -> Result<()> {
    rand::rngs::SysRng.try_fill_bytes(buf).map_err(|e| KeystoreError::Randomness(e.to_string()))
}

fn malformed(path: &Path, reason: &str) -> KeystoreError {
    KeystoreError::Malformed { path: path.into(), reason: reason.into() }
}

fn check_label(label: &str) -> Result<()> {
    if label.trim().is_empty() {
        return Err(KeystoreError::Invalid("the key label is empty; say what the key is for".into()));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(KeystoreError::Invalid(format!(
            "the key label is {} bytes long; the limit is {MAX_LABEL_LEN}",
            label.len()
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(KeystoreError::Invalid("the key label contains control characters".into()));
    }
    Ok(())
}

fn check_new_passphrase(p: &str) -> Result<()> {
    if p.chars().count() < MIN_PASSPHRASE_LEN {
        return Err(KeystoreError::Invalid(format!(
            "the passphrase is too short; use at least {MIN_PASSPHRASE_LEN} characters"
        )));
    }
    if p.len() > MAX_PASSPHRASE_LEN {
        return Err(KeystoreError::Invalid(format!("the passphrase is longer than {MAX_PASSPHRASE_LEN} bytes")));
    }
    Ok(())
}

fn refuse_existing(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(KeystoreError::Exists { path: path.into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(KeystoreError::Io { action: "inspect", path: path.into(), source }),
    }
}

/// Reads and checks the document; `private` also checks the permissions (for loading secrets).
fn read_document(path: &Path, private: bool) -> Result<(Document, KeyInfo)> {
    let io = |action| move |source| KeystoreError::Io { action, path: path.into(), source };
    let file = std::fs::File::open(path).map_err(io("open key file"))?;
    let meta = file.metadata().map_err(io("inspect key file"))?;
    if !meta.is_file() {
        return Err(KeystoreError::NotAKeyFile { path: path.into(), reason: "it is not a regular file".into() });
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeystoreError::NotAKeyFile {
            path: path.into(),
            reason: format!("it is {} bytes long; key files are at most {MAX_KEY_FILE_BYTES}", meta.len()),
        });
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeystoreError::Permissions { path: path.into(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE_BYTES + 1).read_to_string(&mut text).map_err(io("read key file"))?;
    parse_document(&text, path)
}

/// Parses and checks a key file's text (`path` names it in errors).
fn parse_document(text: &str, path: &Path) -> Result<(Document, KeyInfo)> {
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeystoreError::NotAKeyFile {
            path: path.into(),
            reason: format!("it is {} bytes long; key files are at most {MAX_KEY_FILE_BYTES}", text.len()),
        });
    }
    let doc: Document = serde_json::from_str(text).map_err(|e| {
        // Serde's messages name fields and positions, never the secret's value.
        malformed(path, &e.to_string())
    })?;
    if doc.format != FORMAT {
        return Err(KeystoreError::UnsupportedFormat {
            path: path.into(),
            found: doc.format.clone(),
            expected: FORMAT,
        });
    }
    check_label(&doc.label).map_err(|e| malformed(path, &e.to_string()))?;
    if doc.scheme != doc.public_key.scheme {
        return Err(malformed(
            path,
            &format!(
                "scheme {} differs from the public key's scheme {}",
                doc.scheme.name(),
                doc.public_key.scheme.name()
            ),
        ));
    }
    let created_at = DateTime::parse_from_rfc3339(&doc.created_at)
        .map_err(|e| malformed(path, &format!("created_at {:?} is not RFC 3339: {e}", doc.created_at)))?;
    let protection = match &doc.secret {
        SecretDoc::Plain(_) => Protection::Plain,
        SecretDoc::Encrypted(e) => {
            if e.kdf != KDF_ARGON2ID {
                return Err(malformed(path, &format!("kdf {:?} is not supported (only {KDF_ARGON2ID})", e.kdf)));
            }
            let kdf = KdfParams { m_kib: e.m_kib, t: e.t, p: e.p };
            kdf.check().map_err(|err| malformed(path, &err.to_string()))?;
            Protection::Encrypted { kdf, cipher: e.cipher }
        }
    };
    let info = KeyInfo {
        path: path.to_path_buf(),
        label: doc.label.clone(),
        meta: KeyMeta { organisation: doc.organisation.clone(), device: doc.device.clone() },
        scheme: doc.scheme,
        public_key: doc.public_key.clone(),
        created_at,
        protection,
    };
    Ok((doc, info))
}

/// Writes `contents` to a temporary file with mode 0600 next to `path`, syncs it, then moves it
/// into place: with a rename when overwriting, otherwise with a hard link that fails if `path`
/// exists (no check-then-write race).
fn write_atomic(path: &Path, contents: &[u8], overwrite: bool) -> Result<()> {
    let io = |action, p: &Path| {
        let p = p.to_path_buf();
        move |source| KeystoreError::Io { action, path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name =
        path.file_name().ok_or_else(|| KeystoreError::Invalid(format!("{} does not name a file", path.display())))?;
    let mut tag = [0u8; 8];
    os_random(&mut tag)?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), hex::encode(tag)));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io("create a temporary file in", dir))?;
        f.write_all(contents).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        drop(f);
        if overwrite {
            std::fs::rename(&tmp, path).map_err(io("move the new key file to", path))?;
        } else {
            match std::fs::hard_link(&tmp, path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(KeystoreError::Exists { path: path.into() });
                }
                Err(e) => {
                    // A file system without hard links: check, then rename (a race with another
                    // writer of the same path is possible only there).
                    tracing::debug!(error = %e, "hard link failed; falling back to check and rename");
                    refuse_existing(path)?;
                    std::fs::rename(&tmp, path).map_err(io("move the new key file to", path))?;
                }
            }
        }
        Ok(())
    })();
    // After a rename the temporary name is gone; after a link (or a failure) remove it.
    let _ = std::fs::remove_file(&tmp);
    result?;
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => {}
        Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "could not sync the key file's directory"),
    }
    Ok(())
}

/// Length of an operator token: 32 random bytes, as 64 hex characters.
pub const TOKEN_HEX_LEN: usize = 64;

/// The operator token in `path` (e.g. a gateway's `operator.token`), created when the file does
/// not exist: 32 bytes from the OS's randomness as 64 hex characters, written atomically with
/// mode 0600. A local API that changes data asks for it (`Authorization: Bearer <token>`), so a
/// web page open on the same machine cannot, and whoever may read the file — the operator's
/// account — can. An existing file readable by other users, or not holding a token, is refused.
pub fn load_or_create_token(path: &Path) -> Result<Zeroizing<String>> {
    if !path.exists() {
        let mut raw = Zeroizing::new([0u8; TOKEN_HEX_LEN / 2]);
        os_random(raw.as_mut_slice())?;
        let mut text = Zeroizing::new(hex::encode(raw.as_slice()));
        text.push('\n');
        match write_atomic(path, text.as_bytes(), false) {
            Ok(()) => tracing::info!(path = %path.display(), "created the operator token"),
            // Another process created it first: use theirs.
            Err(KeystoreError::Exists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let io = |action| {
        let p = path.to_path_buf();
        move |source| KeystoreError::Io { action, path: p, source }
    };
    let file = std::fs::File::open(path).map_err(io("open the operator token"))?;
    let meta = file.metadata().map_err(io("inspect the operator token"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeystoreError::Permissions { path: path.into(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let mut text = Zeroizing::new(String::new());
    file.take(TOKEN_HEX_LEN as u64 + 2).read_to_string(&mut text).map_err(io("read the operator token"))?;
    let token = Zeroizing::new(text.trim().to_string());
    if token.len() != TOKEN_HEX_LEN || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed(path, &format!("an operator token is {TOKEN_HEX_LEN} hex characters on one line")));
    }
    Ok(token)
}

/// Whether `given` equals `token`, in time independent of where they differ.
pub fn token_matches(token: &str, given: &str) -> bool {
    let (a, b) = (token.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
