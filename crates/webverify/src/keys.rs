//! Account keys in the page: `open_key`, `sign_request`, `close_key`.
//!
//! A key file (`trustmeter-keystore/v1`, as `trustmeter keys generate`, `org init` or `node init`
//! write it; plain or encrypted under a passphrase with Argon2id and XChaCha20-Poly1305) is
//! opened by `trustmeter-keystore`, with every check it makes of a file on disk except the file
//! mode. Its secret then stays in this module's memory behind a handle, in a table of at most
//! [`MAX_KEYS`] keys, and never leaves it: `sign_request` answers the two RFC 9421 headers the
//! node's access check verifies (`trustmeter-httpsig`, the code `trustmeter query --key` signs
//! with), and `close_key` wipes the secret.
//!
//! - `open_key` `{"file": "<key file text>", "passphrase": "…" | null}` →
//!   `{"handle": 1, "public_key": "ed25519:<hex>", "alg": "ed25519", "scheme": "ed25519",
//!   "label": "…", "organisation": "…" | null, "device": "…" | null, "encrypted": true}`.
//!   `public_key` is what the signature's `keyid` names and what the chain registers. An
//!   encrypted file asking for more than [`MAX_KDF_MEMORY_KIB`] of Argon2id memory is refused
//!   (a browser tab's memory); files the CLI writes ask for 64 MiB.
//! - `sign_request` `{"handle": 1, "method": "GET", "path": "/v1/figures/daily",
//!   "query": "org=…&from=…" | null, "created": <Unix seconds>, "body": "…"?, "body_base64": "…"?}`
//!   → `{"headers": {"signature-input": "…", "signature": "…"}}`, plus `"content-digest"` when a
//!   body is given (the signature then covers it; send that header with the body). `path` and
//!   `query` are the request's as sent (percent-encoded; the query without its `?`): the node
//!   verifies over its own view of them. `created` comes from the page's clock; the node accepts
//!   ±300 s.
//! - `close_key` `{"handle": 1}` → `{"closed": true}` (`false`: no such key).
//!
//! Handles are never reused while the module lives. The secret is kept as bytes that are
//! zeroized when the key is closed or replaced; each signature rebuilds the signing key from
//! them and wipes the Ed25519 copy after use (the SM2 library's key type does not wipe itself).

use crate::{ErrorCode, OpError, OpResult};
use serde::Deserialize;
use serde_json::json;
use std::path::Path;
use std::sync::Mutex;
use trustmeter_crypto::SigningKey;
use trustmeter_keystore::{KeyFile, KeyInfo, Protection};
use trustmeter_types::{KeyScheme, PublicKey};
use zeroize::{Zeroize, Zeroizing};

/// Most keys open at once.
pub const MAX_KEYS: usize = 8;
/// Most Argon2id memory an encrypted key file may ask for here, KiB (256 MiB).
pub const MAX_KDF_MEMORY_KIB: u32 = 256 * 1024;
/// Longest method, path, query accepted, bytes.
pub const MAX_METHOD_LEN: usize = 16;
/// Longest path accepted, bytes.
pub const MAX_PATH_LEN: usize = 8 * 1024;
/// Longest query accepted, bytes.
pub const MAX_QUERY_LEN: usize = 8 * 1024;
/// Largest body accepted (the node's evidence upload limit), bytes.
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// How the file is named in the keystore's messages.
const ORIGIN: &str = "(uploaded)";

/// An open key.
struct Slot {
    handle: u32,
    scheme: KeyScheme,
    public_key: PublicKey,
    secret: Zeroizing<Vec<u8>>,
}

struct Table {
    slots: Vec<Slot>,
    next: u32,
}

static TABLE: Mutex<Table> = Mutex::new(Table { slots: Vec::new(), next: 1 });

fn table() -> std::sync::MutexGuard<'static, Table> {
    // A poisoned lock only means an earlier call panicked; the table itself stays consistent.
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Input of `open_key`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenInput {
    /// The key file's text.
    pub file: Secret,
    /// Its passphrase (`null` or absent for a plain file).
    #[serde(default)]
    pub passphrase: Option<Secret>,
}

/// Text wiped from memory when dropped (a key file, a passphrase).
pub struct Secret(pub Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(|s| Secret(Zeroizing::new(s)))
    }
}

/// Input of `sign_request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInput {
    /// A handle from `open_key`.
    pub handle: u32,
    /// The HTTP method (`GET`, `POST`, …).
    pub method: String,
    /// The request's path, as sent.
    pub path: String,
    /// The request's query without its `?`, as sent; `null` or empty for none.
    pub query: Option<String>,
    /// Unix seconds (the page's clock).
    pub created: i64,
    /// A body given as text (its UTF-8 bytes are sent).
    #[serde(default)]
    pub body: Option<String>,
    /// A body given as base64 (standard alphabet, padded).
    #[serde(default)]
    pub body_base64: Option<String>,
}

/// Input of `close_key`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseInput {
    /// The handle to close.
    pub handle: u32,
}

fn key_error(e: impl std::fmt::Display) -> OpError {
    OpError::new(ErrorCode::KeyError, e.to_string())
}

/// The keystore's error, in the words of a page (no command-line hints).
fn keystore_error(e: trustmeter_keystore::KeystoreError) -> OpError {
    use trustmeter_keystore::KeystoreError as K;
    match e {
        K::PassphraseRequired { .. } => key_error("the key file is encrypted: give its passphrase"),
        K::WrongPassphrase { .. } => key_error(
            "cannot decrypt the key file: the passphrase is wrong, or the file was modified (ciphertext, nonce, salt, KDF parameters or public key)",
        ),
        other => key_error(other),
    }
}

/// The `open_key` operation.
pub fn open(input: OpenInput) -> OpResult {
    let origin = Path::new(ORIGIN);
    if input.passphrase.as_ref().is_some_and(|p| p.0.len() > trustmeter_keystore::MAX_PASSPHRASE_LEN) {
        return Err(OpError::new(
            ErrorCode::TooLarge,
            format!("the passphrase is longer than {} bytes", trustmeter_keystore::MAX_PASSPHRASE_LEN),
        ));
    }
    let info = KeyFile::info_str(&input.file.0, origin).map_err(keystore_error)?;
    if let Protection::Encrypted { kdf, .. } = info.protection
        && kdf.m_kib > MAX_KDF_MEMORY_KIB
    {
        return Err(OpError::new(
            ErrorCode::KeyError,
            format!(
                "the key file asks for {} MiB of Argon2id memory; a web page opens files asking for at most {} MiB (files `trustmeter keys generate` writes ask for 64 MiB)",
                kdf.m_kib / 1024,
                MAX_KDF_MEMORY_KIB / 1024
            ),
        ));
    }
    let passphrase = input.passphrase.as_ref().map(|p| p.0.as_str());
    let (mut key, info) = KeyFile::load_str(&input.file.0, origin, passphrase).map_err(keystore_error)?;
    let secret = Zeroizing::new(key.secret_bytes());
    wipe(&mut key);
    let mut t = table();
    if t.slots.len() >= MAX_KEYS {
        return Err(OpError::new(
            ErrorCode::KeyTableFull,
            format!("{MAX_KEYS} keys are open; close one (close_key) before opening another"),
        ));
    }
    let handle = t.next;
    t.next = t.next.checked_add(1).ok_or_else(|| OpError::new(ErrorCode::KeyTableFull, "no handles left"))?;
    t.slots.push(Slot { handle, scheme: info.scheme, public_key: info.public_key.clone(), secret });
    Ok(describe(handle, &info))
}

fn describe(handle: u32, info: &KeyInfo) -> serde_json::Value {
    json!({
        "handle": handle,
        "public_key": info.public_key.to_text(),
        "alg": trustmeter_httpsig::alg_name(info.scheme),
        "scheme": info.scheme.name(),
        "label": info.label,
        "organisation": info.meta.organisation.as_ref().map(|o| o.as_str().to_string()),
        "device": info.meta.device.as_ref().map(|d| d.as_str().to_string()),
        "encrypted": info.is_encrypted(),
    })
}

/// Wipes a signing key's secret where its type allows (Ed25519).
fn wipe(key: &mut SigningKey) {
    if let SigningKey::Ed25519(k) = key {
        k.zeroize();
    }
}

/// Checks that `value` is at most `max` bytes of visible ASCII (no spaces, no controls).
fn visible(what: &str, value: &str, max: usize) -> Result<(), OpError> {
    if value.len() > max {
        return Err(OpError::new(ErrorCode::TooLarge, format!("the {what} is longer than {max} bytes")));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OpError::new(
            ErrorCode::BadInput,
            format!("the {what} must be visible ASCII as sent on the wire (percent-encode the rest)"),
        ));
    }
    Ok(())
}

/// The `sign_request` operation.
pub fn sign(input: SignInput) -> OpResult {
    let bad = |m: String| OpError::new(ErrorCode::BadInput, m);
    if input.method.is_empty() || !input.method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("the method must be an HTTP method in capitals (GET, POST, PUT, …)".into()));
    }
    visible("method", &input.method, MAX_METHOD_LEN)?;
    visible("path", &input.path, MAX_PATH_LEN)?;
    if !input.path.starts_with('/') || input.path.contains(['?', '#']) {
        return Err(bad("the path must start with / and hold no query or fragment".into()));
    }
    let query = input.query.as_deref().filter(|q| !q.is_empty());
    if let Some(q) = query {
        visible("query", q, MAX_QUERY_LEN)?;
        if q.starts_with('?') || q.contains('#') {
            return Err(bad("give the query without its leading ? and without a fragment".into()));
        }
    }
    let body: Option<Vec<u8>> = match (&input.body, &input.body_base64) {
        (Some(_), Some(_)) => return Err(bad("give the body as text or as base64, not both".into())),
        (Some(t), None) => Some(t.as_bytes().to_vec()),
        (None, Some(b)) => {
            if b.len() > MAX_BODY_LEN / 3 * 4 + 4 {
                return Err(OpError::new(ErrorCode::TooLarge, format!("the body is larger than {MAX_BODY_LEN} bytes")));
            }
            Some(base64_decode(b).ok_or_else(|| bad("body_base64 is not base64 (standard alphabet, padded)".into()))?)
        }
        (None, None) => None,
    };
    if body.as_ref().is_some_and(|b| b.len() > MAX_BODY_LEN) {
        return Err(OpError::new(ErrorCode::TooLarge, format!("the body is larger than {MAX_BODY_LEN} bytes")));
    }
    let (method, path) = (input.method.as_str(), input.path.as_str());
    let mut headers = serde_json::Map::new();
    let (signed, public_key) = with_key(input.handle, |key| {
        let signed = match &body {
            Some(b) => {
                let (signed, digest) = trustmeter_httpsig::sign_body(key, method, path, query, b, input.created);
                headers.insert(trustmeter_httpsig::CONTENT_DIGEST.into(), digest.into());
                signed
            }
            None => trustmeter_httpsig::sign(key, method, path, query, input.created),
        };
        (signed, key.public_key())
    })?;
    headers.insert(trustmeter_httpsig::SIGNATURE_INPUT.into(), signed.signature_input.into());
    headers.insert(trustmeter_httpsig::SIGNATURE.into(), signed.signature.into());
    Ok(json!({ "headers": headers, "public_key": public_key.to_text() }))
}

/// Runs `f` with the signing key behind `handle`, rebuilt from the stored secret and wiped after
/// (Ed25519); the key table stays locked meanwhile. [`ErrorCode::NoSuchKey`] if no open key has
/// the handle.
pub(crate) fn with_key<R>(handle: u32, f: impl FnOnce(&SigningKey) -> R) -> Result<R, OpError> {
    let t = table();
    let slot = t.slots.iter().find(|s| s.handle == handle).ok_or_else(|| {
        OpError::new(ErrorCode::NoSuchKey, format!("no open key has handle {handle}; open the key file again"))
    })?;
    let mut key = SigningKey::from_secret(slot.scheme, &slot.secret).map_err(key_error)?;
    if key.public_key() != slot.public_key {
        wipe(&mut key);
        return Err(OpError::new(ErrorCode::Internal, "the stored key does not match its public key"));
    }
    let out = f(&key);
    wipe(&mut key);
    Ok(out)
}

/// The `close_key` operation.
pub fn close(input: CloseInput) -> OpResult {
    let mut t = table();
    let before = t.slots.len();
    // Dropping a slot zeroizes its secret.
    t.slots.retain(|s| s.handle != input.handle);
    Ok(json!({ "closed": t.slots.len() != before }))
}

/// Standard base64 with padding, strictly (no whitespace); `None` if malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let chunks = bytes.len() / 4;
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let group = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Unused bits of a padded group must be zero (canonical encoding).
        if (pad == 1 && group[2] != 0) || (pad == 2 && (group[1] != 0 || group[2] != 0)) {
            return None;
        }
        out.extend_from_slice(&group[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        for bad in ["Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v\n", "Zm$v"] {
            assert!(base64_decode(bad).is_none(), "{bad}");
        }
    }
}
