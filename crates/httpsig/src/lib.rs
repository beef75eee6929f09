//! # trustmeter-httpsig
//!
//! RFC 9421 HTTP Message Signatures in Trustmeter's profile (see the crate README): a member
//! signs each API request with its account key, and the node learns from the signature which
//! key asks. No HTTP framework: callers pass the method, path, query and the two header values.
//!
//! ```
//! use trustmeter_crypto::SigningKey;
//! let key = SigningKey::ed25519_from_seed([7; 32]);
//! let signed = trustmeter_httpsig::sign(&key, "GET", "/v1/meters/X/readings", Some("from=0"), 1_764_979_200);
//! let who = trustmeter_httpsig::verify(
//!     "GET", "/v1/meters/X/readings", Some("from=0"),
//!     &signed.signature_input, &signed.signature, 1_764_979_230,
//! ).unwrap();
//! assert_eq!(who.key, key.public_key());
//! ```

#![deny(missing_docs)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use trustmeter_crypto::{SigningKey, verify as verify_signature};
use trustmeter_types::{KeyScheme, PublicKey, Signature};

/// The signature label this profile uses.
pub const LABEL: &str = "tm";
/// The application tag every signature carries (RFC 9421 §2.3 `tag`).
pub const TAG: &str = "trustmeter/v1";
/// Largest accepted age or future offset of `created`, seconds.
pub const MAX_SKEW_S: i64 = 300;
/// Longest accepted `Signature-Input` or `Signature` header value, bytes.
pub const MAX_HEADER_LEN: usize = 1_024;
/// The covered components, in order.
pub const COVERED: [&str; 3] = ["@method", "@path", "@query"];
/// The component a request with a body covers too, after [`COVERED`]: its `Content-Digest`
/// header (RFC 9530), so the signature covers the body.
pub const CONTENT_DIGEST: &str = "content-digest";
/// Name of the `Signature-Input` header.
pub const SIGNATURE_INPUT: &str = "signature-input";
/// Name of the `Signature` header.
pub const SIGNATURE: &str = "signature";

/// Why a request's signature was not accepted. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// One of the two headers is present without the other.
    #[error("a signed request carries both Signature-Input and Signature headers")]
    HalfSigned,
    /// A header is longer than [`MAX_HEADER_LEN`].
    #[error("the {0} header is longer than {MAX_HEADER_LEN} bytes")]
    TooLong(&'static str),
    /// The headers do not follow this profile.
    #[error("the signature headers do not follow Trustmeter's RFC 9421 profile: {0}")]
    Profile(String),
    /// `created` is too old or in the future.
    #[error(
        "the signature was created at {created} (Unix s), more than {MAX_SKEW_S} s from the node's clock ({now}); sign each request afresh and check the clock"
    )]
    Stale {
        /// Its `created`.
        created: i64,
        /// The node's time.
        now: i64,
    },
    /// The signature does not verify with the key it names.
    #[error("the signature does not verify with key {0} over this method, path and query")]
    BadSignature(String),
    /// The signature covers a `Content-Digest` the request does not carry, or the body does not
    /// match it.
    #[error("{0}")]
    Digest(String),
}

/// The two header values of a signed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// `Signature-Input` value.
    pub signature_input: String,
    /// `Signature` value.
    pub signature: String,
}

/// Who signed a verified request, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The key that signed.
    pub key: PublicKey,
    /// Its `created`, Unix seconds.
    pub created: i64,
    /// The `Content-Digest` the signature covers, if it covers one: the body must match it
    /// ([`check_digest`]).
    pub content_digest: Option<String>,
}

/// The `Content-Digest` value of a body (RFC 9530): `sha-256=:<base64 of its SHA-256>:` (SHA-256
/// whatever the chain's hash: RFC 9530 registers no SM3).
pub fn content_digest(body: &[u8]) -> String {
    let h = trustmeter_crypto::hash(trustmeter_crypto::HashAlg::Sha256, body);
    format!("sha-256=:{}:", STANDARD.encode(h.0))
}

/// Checks a body against the `Content-Digest` its signature covers.
pub fn check_digest(header: &str, body: &[u8]) -> Result<(), AuthError> {
    if header.trim() != content_digest(body) {
        return Err(AuthError::Digest(
            "the body does not match the signed Content-Digest (sha-256=:<base64>:); it was changed on the way, or the digest is of other bytes".into(),
        ));
    }
    Ok(())
}

/// The `alg` name of a scheme.
pub fn alg_name(scheme: KeyScheme) -> &'static str {
    match scheme {
        KeyScheme::Ed25519 => "ed25519",
        KeyScheme::Sm2 => "sm2-sm3",
    }
}

/// The signature base (RFC 9421 §2.5) of `components` (name, value), in order, and the
/// serialized signature parameters `params` (the inner list with its parameters).
pub fn signature_base(components: &[(&str, &str)], params: &str) -> String {
    let mut s = String::with_capacity(128 + params.len());
    for (name, value) in components {
        s.push('"');
        s.push_str(name);
        s.push_str("\": ");
        s.push_str(value);
        s.push('\n');
    }
    s.push_str("\"@signature-params\": ");
    s.push_str(params);
    s
}

/// The `@query` value of a request (RFC 9421 §2.2.7): `?` and the query, `?` alone without one.
fn query_value(query: Option<&str>) -> String {
    format!("?{}", query.unwrap_or(""))
}

/// The `@path` value: the path, `/` when empty.
fn path_value(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn base_for(method: &str, path: &str, query: Option<&str>, digest: Option<&str>, params: &str) -> String {
    let method = method.to_ascii_uppercase();
    let query = query_value(query);
    let mut components = vec![("@method", method.as_str()), ("@path", path_value(path)), ("@query", query.as_str())];
    if let Some(d) = digest {
        components.push((CONTENT_DIGEST, d));
    }
    signature_base(&components, params)
}

/// Signs a request (`query` without its `?`) at `created` (Unix seconds).
pub fn sign(key: &SigningKey, method: &str, path: &str, query: Option<&str>, created: i64) -> Signed {
    sign_inner(key, method, path, query, None, created)
}

/// Signs a request with a body: the signature covers its `Content-Digest` too, which the request
/// must carry (the value of [`content_digest`] of the body, returned with the headers).
pub fn sign_body(
    key: &SigningKey,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    created: i64,
) -> (Signed, String) {
    let digest = content_digest(body);
    (sign_inner(key, method, path, query, Some(&digest), created), digest)
}

fn sign_inner(
    key: &SigningKey,
    method: &str,
    path: &str,
    query: Option<&str>,
    digest: Option<&str>,
    created: i64,
) -> Signed {
    let public = key.public_key();
    let covered = match digest {
        Some(_) => format!("\"@method\" \"@path\" \"@query\" \"{CONTENT_DIGEST}\""),
        None => "\"@method\" \"@path\" \"@query\"".to_string(),
    };
    let params = format!(
        "({covered});created={created};keyid=\"{}\";alg=\"{}\";tag=\"{TAG}\"",
        public.to_text(),
        alg_name(public.scheme)
    );
    let base = base_for(method, path, query, digest, &params);
    let signature = key.sign(base.as_bytes());
    Signed {
        signature_input: format!("{LABEL}={params}"),
        signature: format!("{LABEL}=:{}:", STANDARD.encode(&signature.bytes)),
    }
}

fn profile(msg: impl Into<String>) -> AuthError {
    AuthError::Profile(msg.into())
}

/// The parameters of a `Signature-Input` in this profile.
struct Params<'a> {
    /// The serialized inner list with its parameters, as received (the base uses it verbatim).
    raw: &'a str,
    /// Whether `content-digest` is covered.
    digest: bool,
    created: i64,
    keyid: &'a str,
    alg: &'a str,
}

fn parse_input(input: &str) -> Result<Params<'_>, AuthError> {
    let raw = input
        .trim()
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix('='))
        .ok_or_else(|| profile(format!("Signature-Input must be one signature labelled {LABEL:?}")))?;
    let covered = format!("({})", COVERED.map(|c| format!("\"{c}\"")).join(" "));
    let with_digest = format!("{} \"{CONTENT_DIGEST}\")", &covered[..covered.len() - 1]);
    let (rest, digest) = match raw.strip_prefix(with_digest.as_str()) {
        Some(rest) => (rest, true),
        None => (
            raw.strip_prefix(covered.as_str())
                .ok_or_else(|| profile(format!("the covered components must be exactly {covered} or {with_digest}")))?,
            false,
        ),
    };
    let (mut created, mut keyid, mut alg, mut tag) = (None, None, None, None);
    for p in rest.split(';').skip(1) {
        let (k, v) = p.split_once('=').ok_or_else(|| profile(format!("parameter {p:?} has no value")))?;
        let quoted = || {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.contains(['"', '\\']))
                .ok_or_else(|| profile(format!("parameter {k} must be a quoted string")))
        };
        let slot = match k {
            "created" => {
                let n = v.parse::<i64>().map_err(|_| profile("created must be an integer (Unix seconds)"))?;
                created.replace(n).is_some()
            }
            "keyid" => keyid.replace(quoted()?).is_some(),
            "alg" => alg.replace(quoted()?).is_some(),
            "tag" => tag.replace(quoted()?).is_some(),
            other => return Err(profile(format!("unexpected parameter {other:?}"))),
        };
        if slot {
            return Err(profile(format!("parameter {k} appears twice")));
        }
    }
    if !rest.is_empty() && !rest.starts_with(';') {
        return Err(profile("parameters follow the covered components, each after ';'"));
    }
    if tag != Some(TAG) {
        return Err(profile(format!("tag must be {TAG:?}")));
    }
    Ok(Params {
        raw,
        digest,
        created: created.ok_or_else(|| profile("created is missing"))?,
        keyid: keyid.ok_or_else(|| profile("keyid is missing"))?,
        alg: alg.ok_or_else(|| profile("alg is missing"))?,
    })
}

fn parse_signature(value: &str) -> Result<Vec<u8>, AuthError> {
    let b64 = value
        .trim()
        .strip_prefix(LABEL)
        .and_then(|r| r.strip_prefix("=:"))
        .and_then(|r| r.strip_suffix(':'))
        .ok_or_else(|| profile(format!("Signature must be {LABEL}=:<base64>:")))?;
    STANDARD.decode(b64).map_err(|_| profile("the signature is not base64"))
}

/// Verifies a request's signature headers at `now` (Unix seconds): the profile, the freshness of
/// `created`, and the signature with the key `keyid` names. Says who signed; whether that key
/// may read anything is the caller's decision. A signature covering a `Content-Digest` is refused
/// here (use [`verify_with_digest`]).
pub fn verify(
    method: &str,
    path: &str,
    query: Option<&str>,
    signature_input: &str,
    signature: &str,
    now: i64,
) -> Result<Verified, AuthError> {
    verify_with_digest(method, path, query, None, signature_input, signature, now)
}

/// [`verify`] of a request that may carry a `Content-Digest` header (`content_digest`): a
/// signature covering it needs it, and [`Verified::content_digest`] then says the body must match
/// it. A request whose signature does not cover the header gets `None` there: its body is not
/// covered.
pub fn verify_with_digest(
    method: &str,
    path: &str,
    query: Option<&str>,
    content_digest: Option<&str>,
    signature_input: &str,
    signature: &str,
    now: i64,
) -> Result<Verified, AuthError> {
    if signature_input.len() > MAX_HEADER_LEN {
        return Err(AuthError::TooLong("Signature-Input"));
    }
    if signature.len() > MAX_HEADER_LEN {
        return Err(AuthError::TooLong("Signature"));
    }
    let params = parse_input(signature_input)?;
    let key = PublicKey::from_text(params.keyid).map_err(|e| profile(format!("keyid: {e}")))?;
    if params.alg != alg_name(key.scheme) {
        return Err(profile(format!(
            "alg {:?} does not match the key's scheme ({})",
            params.alg,
            alg_name(key.scheme)
        )));
    }
    // `abs_diff`: `created` is the caller's, any i64 (a subtraction could overflow).
    if params.created.abs_diff(now) > MAX_SKEW_S.unsigned_abs() {
        return Err(AuthError::Stale { created: params.created, now });
    }
    let bytes = parse_signature(signature)?;
    let sig = Signature { scheme: key.scheme, bytes };
    let digest = match (params.digest, content_digest) {
        (true, Some(d)) if d.len() <= MAX_HEADER_LEN => Some(d.trim()),
        (true, _) => {
            return Err(AuthError::Digest(
                "the signature covers content-digest but the request carries no Content-Digest header".into(),
            ));
        }
        (false, _) => None,
    };
    let base = base_for(method, path, query, digest, params.raw);
    verify_signature(&key, base.as_bytes(), &sig).map_err(|_| AuthError::BadSignature(key.to_text()))?;
    Ok(Verified { key, created: params.created, content_digest: digest.map(str::to_string) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9421 Appendix B.2.6: signing a request with Ed25519 (key `test-key-ed25519`, whose
    /// private key is B.1.4's), reproduced byte for byte by this crate's signature base.
    #[test]
    fn the_rfcs_ed25519_example_signs_byte_for_byte() {
        let d = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU")
            .unwrap();
        let key = SigningKey::ed25519_from_seed(d.try_into().unwrap());
        let params = "(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
        let base = signature_base(
            &[
                ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
                ("@method", "POST"),
                ("@path", "/foo"),
                ("@authority", "example.com"),
                ("content-type", "application/json"),
                ("content-length", "18"),
            ],
            params,
        );
        assert!(base.ends_with(&format!("\"@signature-params\": {params}")));
        let sig = key.sign(base.as_bytes());
        assert_eq!(
            STANDARD.encode(&sig.bytes),
            "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
        );
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_is_refused() {
        for key in [SigningKey::ed25519_from_seed([3; 32]), SigningKey::from_seed(KeyScheme::Sm2, [4; 32])] {
            let s = sign(&key, "get", "/v1/meters/M1/readings", Some("from=1&to=2"), 1_000_000);
            assert!(s.signature_input.contains(&format!("alg=\"{}\"", alg_name(key.public_key().scheme))));
            let ok = verify(
                "GET",
                "/v1/meters/M1/readings",
                Some("from=1&to=2"),
                &s.signature_input,
                &s.signature,
                1_000_100,
            );
            assert_eq!(ok.unwrap().key, key.public_key());
            let bad = |m: &str, p: &str, q: Option<&str>, now| verify(m, p, q, &s.signature_input, &s.signature, now);
            assert!(matches!(
                bad("POST", "/v1/meters/M1/readings", Some("from=1&to=2"), 1_000_000),
                Err(AuthError::BadSignature(_))
            ));
            assert!(matches!(
                bad("GET", "/v1/meters/M2/readings", Some("from=1&to=2"), 1_000_000),
                Err(AuthError::BadSignature(_))
            ));
            assert!(matches!(
                bad("GET", "/v1/meters/M1/readings", Some("from=0&to=2"), 1_000_000),
                Err(AuthError::BadSignature(_))
            ));
            assert!(matches!(bad("GET", "/v1/meters/M1/readings", None, 1_000_000), Err(AuthError::BadSignature(_))));
            assert!(matches!(
                bad("GET", "/v1/meters/M1/readings", Some("from=1&to=2"), 1_000_301),
                Err(AuthError::Stale { .. })
            ));
            assert!(matches!(
                bad("GET", "/v1/meters/M1/readings", Some("from=1&to=2"), 999_699),
                Err(AuthError::Stale { .. })
            ));
        }
    }

    #[test]
    fn a_body_is_covered_through_its_content_digest() {
        let key = SigningKey::ed25519_from_seed([7; 32]);
        let body = b"SF6 inventory ledger, March";
        let (s, digest) = sign_body(&key, "PUT", "/v1/enterprises/X/evidence", None, body, 50);
        // RFC 9530 §2: sha-256 of the bytes, base64 between colons.
        assert!(digest.starts_with("sha-256=:") && digest.ends_with(':') && digest.len() == 9 + 44 + 1, "{digest}");
        assert!(s.signature_input.contains("\"@query\" \"content-digest\");created=50"));
        let v = verify_with_digest(
            "PUT",
            "/v1/enterprises/X/evidence",
            None,
            Some(&digest),
            &s.signature_input,
            &s.signature,
            50,
        )
        .unwrap();
        assert_eq!((v.key, v.content_digest.as_deref()), (key.public_key(), Some(digest.as_str())));
        assert!(check_digest(&digest, body).is_ok());
        assert!(matches!(check_digest(&digest, b"SF6 inventory ledger, April"), Err(AuthError::Digest(_))));
        // Another digest in the header breaks the signature; none at all is refused; the plain
        // verifier refuses a body signature rather than ignoring what it covers.
        let other = content_digest(b"other bytes");
        let put = |d: Option<&str>| {
            verify_with_digest("PUT", "/v1/enterprises/X/evidence", None, d, &s.signature_input, &s.signature, 50)
        };
        assert!(matches!(put(Some(&other)), Err(AuthError::BadSignature(_))));
        assert!(matches!(put(None), Err(AuthError::Digest(_))));
        assert!(matches!(
            verify("PUT", "/v1/enterprises/X/evidence", None, &s.signature_input, &s.signature, 50),
            Err(AuthError::Digest(_))
        ));
        // A signature without the digest leaves the body uncovered, and says so.
        let plain = sign(&key, "PUT", "/v1/enterprises/X/evidence", None, 50);
        let v = verify_with_digest(
            "PUT",
            "/v1/enterprises/X/evidence",
            None,
            Some(&digest),
            &plain.signature_input,
            &plain.signature,
            50,
        )
        .unwrap();
        assert_eq!(v.content_digest, None);
    }

    #[test]
    fn headers_outside_the_profile_are_refused_with_a_reason() {
        let key = SigningKey::ed25519_from_seed([5; 32]);
        let s = sign(&key, "GET", "/v1/status", None, 10);
        let check = |input: &str, sig: &str| verify("GET", "/v1/status", None, input, sig, 10);
        assert!(check(&s.signature_input, &s.signature).is_ok());
        let cases = [
            s.signature_input.replace("tm=", "sig1="),
            s.signature_input.replace("\"@query\"", "\"@authority\""),
            s.signature_input.replace(";tag=\"trustmeter/v1\"", ""),
            s.signature_input.replace("trustmeter/v1", "other-app"),
            s.signature_input.replace("alg=\"ed25519\"", "alg=\"sm2-sm3\""),
            s.signature_input.clone() + ";nonce=\"x\"",
            s.signature_input.clone() + ";created=11",
            s.signature_input.replace("created=10", "created=ten"),
            "x".repeat(MAX_HEADER_LEN + 1),
        ];
        for input in cases {
            let e = check(&input, &s.signature).unwrap_err();
            assert!(matches!(e, AuthError::Profile(_) | AuthError::TooLong(_)), "{input}: {e}");
        }
        assert!(matches!(check(&s.signature_input, "tm=:!!:"), Err(AuthError::Profile(_))));
        let other = sign(&SigningKey::ed25519_from_seed([6; 32]), "GET", "/v1/status", None, 10);
        assert!(matches!(check(&s.signature_input, &other.signature), Err(AuthError::BadSignature(_))));
    }
}
