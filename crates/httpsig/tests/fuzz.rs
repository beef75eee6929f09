//! Bounded fuzzing of the request-signature headers a node reads from anyone (`Signature-Input`,
//! `Signature`, `Content-Digest`; RFC 9421 / RFC 9530 in Trustmeter's profile).
//!
//! Inputs: genuine headers of requests signed with an Ed25519 and an SM2 key (with and without a
//! body), edited byte by byte or at the parameter level (`created` set to edge values, parameters
//! repeated, dropped or reordered, other labels), and arbitrary text; the method, path, query,
//! digest and clock edited too.
//!
//! Properties: verification never panics; it accepts only a request that means what was signed
//! (the same headers up to surrounding whitespace, the same method up to case, path, query and
//! digest), and then names the signing key and its `created`; a body is accepted against a digest
//! only if it is the signed body. Part of `cargo test` (fixed seed); the README's long run
//! multiplies the cases (`FUZZ_SCALE`) and varies the seed (`FUZZ_SEED`).

mod fuzz {
    use proptest::prelude::*;
    use proptest::sample::Index;
    use trustmeter_crypto::SigningKey;
    use trustmeter_fuzzkit::{ByteEdit, apply_byte_edit, byte_edit};
    use trustmeter_httpsig::{
        AuthError, MAX_SKEW_S, Signed, check_digest, content_digest, sign, sign_body, verify, verify_with_digest,
    };
    use trustmeter_types::KeyScheme;

    const SEED: u64 = 0x6874_7470_7369_6731;
    const NOW: i64 = 1_767_225_600;

    /// A signed request: what a client sends.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Request {
        method: String,
        path: String,
        query: Option<String>,
        digest: Option<String>,
        body: Option<Vec<u8>>,
        input: String,
        signature: String,
        now: i64,
    }

    fn keys() -> [SigningKey; 2] {
        [SigningKey::ed25519_from_seed([3; 32]), SigningKey::from_seed(KeyScheme::Sm2, [4; 32])]
    }

    /// Genuine requests: each key, with and without a query and a body.
    fn genuine(key: usize, query: bool, body: bool) -> Request {
        let key = &keys()[key];
        let query = query.then(|| "from=2026-01-01&to=2026-02-01&limit=50".to_string());
        let (method, path) =
            if body { ("PUT", "/v1/enterprises/X/evidence") } else { ("get", "/v1/meters/M1/readings") };
        let (Signed { signature_input, signature }, digest, body) = if body {
            let body = b"SF6 inventory ledger, March".to_vec();
            let (s, d) = sign_body(key, method, path, query.as_deref(), &body, NOW);
            (s, Some(d), Some(body))
        } else {
            (sign(key, method, path, query.as_deref(), NOW), None, None)
        };
        Request {
            method: method.into(),
            path: path.into(),
            query,
            digest,
            body,
            input: signature_input,
            signature,
            now: NOW + 17,
        }
    }

    fn verify_request(r: &Request) -> Result<trustmeter_httpsig::Verified, AuthError> {
        verify_with_digest(&r.method, &r.path, r.query.as_deref(), r.digest.as_deref(), &r.input, &r.signature, r.now)
    }

    /// Whether `edited` means what `original` means (the changes the profile calls meaningless:
    /// whitespace around header values, the method's case, an empty path for `/`, no query for
    /// an empty one, the clock within the skew).
    fn same_meaning(original: &Request, edited: &Request) -> bool {
        let path = |p: &str| if p.is_empty() { "/".to_string() } else { p.to_string() };
        let query = |q: &Option<String>| q.clone().unwrap_or_default();
        let trim = |s: &Option<String>| s.as_deref().map(str::trim).map(str::to_string);
        original.input.trim() == edited.input.trim()
            && original.signature.trim() == edited.signature.trim()
            && original.method.eq_ignore_ascii_case(&edited.method)
            && path(&original.path) == path(&edited.path)
            && query(&original.query) == query(&edited.query)
            // The digest matters only when the signature covers it.
            && (original.digest.is_none() || trim(&original.digest) == trim(&edited.digest))
    }

    /// One change to a request.
    #[derive(Clone, Debug)]
    enum Edit {
        Input(ByteEdit),
        Signature(ByteEdit),
        Method(ByteEdit),
        Path(ByteEdit),
        Query(ByteEdit),
        DropQuery,
        Digest(ByteEdit),
        DropDigest,
        Body(ByteEdit),
        /// Replaces the value of `created` with an edge value.
        Created(i64),
        /// Repeats, drops or moves one `;`-separated parameter of `Signature-Input`.
        Parameter {
            which: Index,
            how: u8,
        },
        /// Replaces one of the header values by a token.
        Token {
            which: u8,
            token: &'static str,
        },
        /// Sets the node's clock.
        Now(i64),
        /// Pads a header value with whitespace.
        Pad {
            which: u8,
            ws: &'static str,
        },
    }

    const CREATED: [i64; 10] = [
        i64::MIN,
        i64::MIN + 1,
        -1,
        0,
        NOW - MAX_SKEW_S - 1,
        NOW - MAX_SKEW_S,
        NOW + MAX_SKEW_S,
        NOW + 1,
        i64::MAX - 1,
        i64::MAX,
    ];
    const TOKENS: [&str; 14] = [
        "",
        "tm=",
        "tm=:",
        "tm=::",
        "tm=:AA==:",
        "tm=()",
        "tm=(\"@method\" \"@path\" \"@query\")",
        "tm=(\"@method\" \"@path\" \"@query\" \"content-digest\")",
        ";created=",
        ";keyid=\"\"",
        "sha-256=::",
        "sha-256=:=:",
        "\u{0}",
        "é",
    ];

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            4 => byte_edit().prop_map(Edit::Input),
            3 => byte_edit().prop_map(Edit::Signature),
            1 => byte_edit().prop_map(Edit::Method),
            1 => byte_edit().prop_map(Edit::Path),
            1 => byte_edit().prop_map(Edit::Query),
            1 => Just(Edit::DropQuery),
            1 => byte_edit().prop_map(Edit::Digest),
            1 => Just(Edit::DropDigest),
            1 => byte_edit().prop_map(Edit::Body),
            2 => prop_oneof![prop::sample::select(&CREATED[..]), any::<i64>()].prop_map(Edit::Created),
            2 => (any::<Index>(), 0u8..3).prop_map(|(which, how)| Edit::Parameter { which, how }),
            1 => (0u8..3, prop::sample::select(&TOKENS[..])).prop_map(|(which, token)| Edit::Token { which, token }),
            1 => prop_oneof![prop::sample::select(&CREATED[..]), any::<i64>()].prop_map(Edit::Now),
            1 => (0u8..3, prop::sample::select(vec![" ", "\t", "  \t"])).prop_map(|(which, ws)| Edit::Pad { which, ws }),
        ]
    }

    fn edit_text(s: &mut String, e: &ByteEdit) {
        let mut bytes = std::mem::take(s).into_bytes();
        apply_byte_edit(&mut bytes, e);
        *s = String::from_utf8_lossy(&bytes).into_owned();
    }

    fn apply(r: &mut Request, e: &Edit) {
        match e {
            Edit::Input(b) => edit_text(&mut r.input, b),
            Edit::Signature(b) => edit_text(&mut r.signature, b),
            Edit::Method(b) => edit_text(&mut r.method, b),
            Edit::Path(b) => edit_text(&mut r.path, b),
            Edit::Query(b) => edit_text(r.query.get_or_insert_with(String::new), b),
            Edit::DropQuery => r.query = None,
            Edit::Digest(b) => edit_text(r.digest.get_or_insert_with(String::new), b),
            Edit::DropDigest => r.digest = None,
            Edit::Body(b) => apply_byte_edit(r.body.get_or_insert_with(Vec::new), b),
            Edit::Created(c) => {
                let parts: Vec<String> = r
                    .input
                    .split(';')
                    .map(|p| if p.starts_with("created=") { format!("created={c}") } else { p.to_string() })
                    .collect();
                r.input = parts.join(";");
            }
            Edit::Parameter { which, how } => {
                let mut parts: Vec<String> = r.input.split(';').map(str::to_string).collect();
                if parts.len() > 1 {
                    let i = 1 + which.index(parts.len() - 1);
                    match how {
                        0 => {
                            let p = parts[i].clone();
                            parts.push(p);
                        }
                        1 => {
                            parts.remove(i);
                        }
                        _ => {
                            let p = parts.remove(i);
                            parts.insert(1, p);
                        }
                    }
                }
                r.input = parts.join(";");
            }
            Edit::Token { which, token } => match which {
                0 => r.input = token.to_string(),
                1 => r.signature = token.to_string(),
                _ => r.digest = Some(token.to_string()),
            },
            Edit::Now(n) => r.now = *n,
            Edit::Pad { which, ws } => match which {
                0 => r.input = format!("{ws}{}{ws}", r.input),
                1 => r.signature = format!("{ws}{}", r.signature),
                _ => r.digest = r.digest.as_ref().map(|d| format!("{d}{ws}")),
            },
        }
    }

    /// Verification of `edited` never panics, and accepts only what `original` means.
    fn is_checked(original: &Request, edited: &Request) -> Result<(), TestCaseError> {
        let key = &keys();
        let result = verify_request(edited);
        // The plain verifier reads the same headers.
        let _ =
            verify(&edited.method, &edited.path, edited.query.as_deref(), &edited.input, &edited.signature, edited.now);
        if let Ok(v) = &result {
            prop_assert!(same_meaning(original, edited), "a changed request verified: {edited:?}");
            prop_assert!(key.iter().any(|k| k.public_key() == v.key));
            prop_assert_eq!(v.created, NOW);
            prop_assert!(edited.now.abs_diff(NOW) <= MAX_SKEW_S as u64);
            if let (Some(d), Some(body)) = (&v.content_digest, &edited.body) {
                // The body is accepted against the signed digest only if it is the signed body.
                let accepted = check_digest(d, body).is_ok();
                prop_assert_eq!(accepted, Some(body) == original.body.as_ref(), "{:?}", edited);
            }
        } else if same_meaning(original, edited) && edited.now.abs_diff(NOW) <= MAX_SKEW_S as u64 {
            prop_assert!(false, "an unchanged request was refused: {result:?} {edited:?}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(trustmeter_fuzzkit::config(3_000, SEED))]

        #[test]
        fn edited_signed_requests_verify_only_if_unchanged(
            key in 0usize..2,
            query in any::<bool>(),
            body in any::<bool>(),
            edits in prop::collection::vec(edit(), 1..4),
        ) {
            let original = genuine(key, query, body);
            let mut edited = original.clone();
            for e in &edits {
                apply(&mut edited, e);
            }
            is_checked(&original, &edited)?;
        }

        #[test]
        fn arbitrary_headers_never_panic(
            input in prop_oneof![".{0,80}", "tm=\\(\"@method\" \"@path\" \"@query\"( \"content-digest\")?\\)(;[a-z]{1,8}=[-0-9a-z\":;=]{0,30}){0,6}"],
            signature in prop_oneof![".{0,40}", "tm=:[A-Za-z0-9+/=]{0,100}:"],
            digest in proptest::option::of(prop_oneof![".{0,40}", "sha-256=:[A-Za-z0-9+/=]{0,50}:"]),
            now in prop_oneof![prop::sample::select(&CREATED[..]), any::<i64>()],
            body in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let _ = verify_with_digest("GET", "/v1/status", None, digest.as_deref(), &input, &signature, now);
            if let Some(d) = &digest {
                prop_assert_eq!(check_digest(d, &body).is_ok(), d.trim() == content_digest(&body));
            }
        }
    }

    #[test]
    fn genuine_requests_verify() {
        for key in 0..2 {
            for query in [false, true] {
                for body in [false, true] {
                    let r = genuine(key, query, body);
                    let v = verify_request(&r).expect("a genuine request verifies");
                    assert_eq!(v.key, keys()[key].public_key());
                    assert_eq!(v.content_digest.is_some(), body);
                }
            }
        }
    }

    /// Found by `edited_signed_requests_verify_only_if_unchanged`: `created=-9223372036854775808`
    /// (or a clock at an extreme) overflowed the skew check (`created - now`), a panic in debug
    /// builds; such a signature is now stale.
    #[test]
    fn a_created_at_the_edge_of_i64_is_stale() {
        let r = genuine(0, false, false);
        for c in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let mut e = r.clone();
            apply(&mut e, &Edit::Created(c));
            assert!(matches!(verify_request(&e), Err(AuthError::Stale { created, .. }) if created == c), "{c}");
        }
        for now in [i64::MIN, i64::MAX] {
            let e = Request { now, ..r.clone() };
            assert!(matches!(verify_request(&e), Err(AuthError::Stale { .. })), "{now}");
        }
    }
}
