//! `trustmeter_crypto::smt` against the `jmt` crate (Jellyfish Merkle tree 0.12), for SHA-256 and
//! SM3: random trees of 1 to 2 000 keys, inclusion and exclusion proofs made by `jmt` and converted
//! to sibling hashes must verify, and every kind of tampering must fail. The same trees give the
//! published test vectors `tests/vectors/smt-v2.json` (see [`vectors_file_is_up_to_date`]).

mod common {
    pub mod jmt_store;
}

use common::jmt_store::{PlainProof, Sha256Hasher, Sm3Hasher, Stream, Tree};
use jmt::SimpleHasher;
use trustmeter_crypto::smt::{
    self, PLACEHOLDER, internal_hash, key_hash, leaf_hash, state_root, value_hash, verify_exclusion, verify_inclusion,
};
use trustmeter_crypto::{HashAlg, hash};
use trustmeter_types::Hash32;

fn h(b: [u8; 32]) -> Hash32 {
    Hash32(b)
}

fn sibs(p: &PlainProof) -> Vec<Hash32> {
    p.siblings.iter().copied().map(Hash32).collect()
}

fn flip(mut x: Hash32, bit: usize) -> Hash32 {
    x.0[bit / 8] ^= 0x80 >> (bit % 8);
    x
}

/// Keys `key-<label>-<i>` hashed as state keys, with values drawn from a stream.
fn dataset(alg: HashAlg, label: &str, n: usize) -> Vec<(Hash32, Vec<u8>)> {
    let mut s = Stream::new(label);
    (0..n)
        .map(|i| {
            let len = 1 + s.below(200) as usize;
            let mut v = Vec::with_capacity(len);
            while v.len() < len {
                v.extend_from_slice(&s.next32());
            }
            v.truncate(len);
            (key_hash(alg, format!("key-{label}-{i}").as_bytes()), v)
        })
        .collect()
}

/// Checks every proof of `keys` (present) and `absent` against version `version` of `tree`, and
/// that tampered proofs fail. Returns how many exclusion proofs ended at an empty subtree and how
/// many at another leaf.
fn check_tree<H: SimpleHasher + std::fmt::Debug>(
    alg: HashAlg,
    tree: &Tree<H>,
    version: u64,
    present: &[(Hash32, Vec<u8>)],
    absent: &[Hash32],
    tamper_every: usize,
) -> (usize, usize) {
    let root = h(tree.roots[version as usize]);
    let mut s = Stream::new("tamper");
    let mut sorted: Vec<Hash32> = present.iter().map(|(k, _)| *k).collect();
    sorted.sort();
    for (n, (k, v)) in present.iter().enumerate() {
        let (value, proof) = tree.prove(k.0, version);
        assert_eq!(value.as_deref(), Some(v.as_slice()), "jmt holds the value");
        let vh = value_hash(alg, v);
        assert_eq!(proof.leaf, Some((k.0, vh.0)), "the proof ends at the key's own leaf");
        let siblings = sibs(&proof);
        assert!(verify_inclusion(alg, &root, k, &vh, &siblings), "inclusion proof of key {n} verifies");
        if n % tamper_every != 0 {
            continue;
        }
        // Tampering: any sibling, any bit.
        for i in 0..siblings.len() {
            let mut t = siblings.clone();
            t[i] = flip(t[i], s.below(256) as usize);
            assert!(!verify_inclusion(alg, &root, k, &vh, &t), "flipped bit in sibling {i}");
        }
        assert!(!verify_inclusion(alg, &root, k, &value_hash(alg, &[v.as_slice(), b"x"].concat()), &siblings));
        assert!(!verify_inclusion(alg, &root, &flip(*k, 255), &vh, &siblings), "another key");
        assert!(!verify_inclusion(alg, &root, &flip(*k, s.below(256) as usize), &vh, &siblings));
        let mut extra = siblings.clone();
        extra.push(PLACEHOLDER);
        assert!(!verify_inclusion(alg, &root, k, &vh, &extra), "extra sibling on top");
        let mut extra = siblings.clone();
        extra.insert(0, PLACEHOLDER);
        assert!(!verify_inclusion(alg, &root, k, &vh, &extra), "extra sibling at the bottom");
        if !siblings.is_empty() {
            assert!(!verify_inclusion(alg, &root, k, &vh, &siblings[1..]), "missing bottom sibling");
            assert!(!verify_inclusion(alg, &root, k, &vh, &siblings[..siblings.len() - 1]), "missing top sibling");
            let mut swapped = siblings.clone();
            swapped.reverse();
            if swapped != siblings {
                assert!(!verify_inclusion(alg, &root, k, &vh, &swapped), "top-down order");
            }
        }
        // An exclusion proof for a present key, in either form, fails.
        assert!(!verify_exclusion(alg, &root, k, Some((*k, vh)), &siblings));
        assert!(!verify_exclusion(alg, &root, k, None, &siblings));
        // The other algorithm does not verify it.
        let other = if alg == HashAlg::Sha256 { HashAlg::Sm3 } else { HashAlg::Sha256 };
        assert!(!verify_inclusion(other, &root, k, &vh, &siblings));
    }
    let (mut empty, mut leaf) = (0, 0);
    for (n, k) in absent.iter().enumerate() {
        let (value, proof) = tree.prove(k.0, version);
        assert_eq!(value, None, "the key is absent");
        let leaf_pair = proof.leaf.map(|(a, b)| (h(a), h(b)));
        match leaf_pair {
            None => empty += 1,
            Some(_) => leaf += 1,
        }
        let siblings = sibs(&proof);
        assert!(verify_exclusion(alg, &root, k, leaf_pair, &siblings), "exclusion proof of absent key {n}");
        // jmt's exclusion proof names the absent key's neighbours in key-hash order; they are
        // the adjacent present keys, and their own proofs verify as inclusion proofs.
        let (left, right) = tree.neighbours(k.0, version).expect("absent");
        let below = sorted.iter().rev().find(|x| *x < k).copied();
        let above = sorted.iter().find(|x| *x > k).copied();
        assert_eq!((left.map(h), right.map(h)), (below, above), "neighbours of absent key {n}");
        for nk in [below, above].into_iter().flatten() {
            let (value, p) = tree.prove(nk.0, version);
            assert!(verify_inclusion(alg, &root, &nk, &value_hash(alg, &value.unwrap()), &sibs(&p)));
        }
        if n % tamper_every != 0 {
            continue;
        }
        for i in 0..siblings.len() {
            let mut t = siblings.clone();
            t[i] = flip(t[i], s.below(256) as usize);
            assert!(!verify_exclusion(alg, &root, k, leaf_pair, &t), "flipped bit in sibling {i}");
        }
        match leaf_pair {
            Some((lk, lv)) => {
                assert!(!verify_exclusion(alg, &root, k, Some((lk, flip(lv, 3))), &siblings), "wrong leaf value");
                assert!(!verify_exclusion(alg, &root, k, None, &siblings), "leaf dropped");
                // The leaf's own inclusion proof is the same path.
                assert!(verify_inclusion(alg, &root, &lk, &lv, &siblings));
            }
            None => {
                let fake = (flip(*k, 255), value_hash(alg, b"x"));
                assert!(!verify_exclusion(alg, &root, k, Some(fake), &siblings), "invented leaf");
                assert!(!verify_inclusion(alg, &root, k, &value_hash(alg, b"x"), &siblings), "invented value");
            }
        }
        let mut extra = siblings.clone();
        extra.push(PLACEHOLDER);
        assert!(!verify_exclusion(alg, &root, k, leaf_pair, &extra), "extra sibling");
        if !siblings.is_empty() {
            assert!(!verify_exclusion(alg, &root, k, leaf_pair, &siblings[1..]), "missing sibling");
        }
    }
    (empty, leaf)
}

/// The tree's root by the recursive definition of `docs/proof-format.md` §5.2: empty subtree,
/// lone leaf, or an internal node over the two halves split by the key-hash bit at `depth`.
fn doc_root(alg: HashAlg, pairs: &[(Hash32, Hash32)], depth: usize) -> Hash32 {
    match pairs {
        [] => PLACEHOLDER,
        [(k, v)] => leaf_hash(alg, k, v),
        _ => {
            let (left, right): (Vec<_>, Vec<_>) = pairs.iter().partition(|(k, _)| !smt::bit(k, depth));
            internal_hash(alg, &doc_root(alg, &left, depth + 1), &doc_root(alg, &right, depth + 1))
        }
    }
}

fn cross_check<H: SimpleHasher + std::fmt::Debug>(alg: HashAlg) {
    let mut totals = (0, 0);
    for (size, tamper_every) in [(1, 1), (2, 1), (3, 1), (17, 1), (256, 7), (2_000, 97)] {
        let label = format!("{}-{size}", alg.name());
        let data = dataset(alg, &label, size);
        let mut tree = Tree::<H>::default();
        let root0 = tree.put(data.iter().map(|(k, v)| (k.0, Some(v.clone()))).collect());
        let pairs: Vec<(Hash32, Hash32)> = data.iter().map(|(k, v)| (*k, value_hash(alg, v))).collect();
        assert_eq!(doc_root(alg, &pairs, 0), h(root0), "the documented tree definition gives jmt's root");
        let absent: Vec<Hash32> =
            (0..size.min(300)).map(|i| key_hash(alg, format!("absent-{label}-{i}").as_bytes())).collect();
        let (e, l) = check_tree(alg, &tree, 0, &data, &absent, tamper_every);
        totals = (totals.0 + e, totals.1 + l);

        // Version 1: a third of the keys change, a sixth are deleted, a few are added. Proofs at
        // version 0 still verify against root 0 (historical proofs), and version 1 is consistent.
        let mut next: Vec<(Hash32, Vec<u8>)> = Vec::new();
        let mut deleted = Vec::new();
        let mut changes = Vec::new();
        for (i, (k, v)) in data.iter().enumerate() {
            match i % 6 {
                0 | 1 => {
                    let nv = [v.as_slice(), b"+1"].concat();
                    changes.push((k.0, Some(nv.clone())));
                    next.push((*k, nv));
                }
                2 if size > 1 => {
                    changes.push((k.0, None));
                    deleted.push(*k);
                }
                _ => next.push((*k, v.clone())),
            }
        }
        for i in 0..3 {
            let k = key_hash(alg, format!("added-{label}-{i}").as_bytes());
            changes.push((k.0, Some(vec![i as u8; 3])));
            next.push((k, vec![i as u8; 3]));
        }
        let root1 = tree.put(changes);
        assert_ne!(root0, root1);
        let pairs: Vec<(Hash32, Hash32)> = next.iter().map(|(k, v)| (*k, value_hash(alg, v))).collect();
        assert_eq!(doc_root(alg, &pairs, 0), h(root1), "after updates and deletions too");
        check_tree(alg, &tree, 1, &next, &deleted, tamper_every.max(5));
        check_tree(alg, &tree, 0, &data, &[], tamper_every.max(11));
        // A version-0 proof of a changed key does not verify against the new root.
        let (k, v) = &data[0];
        let (_, p0) = tree.prove(k.0, 0);
        assert!(!verify_inclusion(alg, &h(root1), k, &value_hash(alg, v), &sibs(&p0)));
    }
    assert!(totals.0 > 10 && totals.1 > 10, "both kinds of exclusion proof were exercised: {totals:?}");
}

#[test]
fn sha256_proofs_from_jmt_verify_and_tampered_ones_fail() {
    cross_check::<Sha256Hasher>(HashAlg::Sha256);
}

#[test]
fn sm3_proofs_from_jmt_verify_and_tampered_ones_fail() {
    cross_check::<Sm3Hasher>(HashAlg::Sm3);
}

#[test]
fn empty_and_single_leaf_roots_match_jmt() {
    fn run<H: SimpleHasher>(alg: HashAlg) {
        let mut tree = Tree::<H>::default();
        let k = key_hash(alg, b"only");
        let root = tree.put(vec![(k.0, Some(b"v".to_vec()))]);
        assert_eq!(h(root), leaf_hash(alg, &k, &value_hash(alg, b"v")), "a one-leaf tree is its leaf");
        let root = tree.put(vec![(k.0, None)]);
        assert_eq!(h(root), PLACEHOLDER, "the empty tree is the placeholder");
        assert!(verify_exclusion(alg, &h(root), &k, None, &[]));
    }
    run::<Sha256Hasher>(HashAlg::Sha256);
    run::<Sm3Hasher>(HashAlg::Sm3);
}

#[test]
fn jmt_hashers_are_the_chain_algorithms() {
    assert_eq!(h(Sha256Hasher::hash(b"abc")), hash(HashAlg::Sha256, b"abc"));
    assert_eq!(h(Sm3Hasher::hash(b"abc")), hash(HashAlg::Sm3, b"abc"));
}

// ---------------------------------------------------------------------------------------------
// Published test vectors.

/// A small tree per algorithm with valid and invalid proofs of every kind, as JSON for
/// implementers of `docs/proof-format.md` §5.2 in other languages.
fn vectors() -> String {
    let mut out = String::from("{\n");
    out.push_str(
        "  \"about\": \"Sparse Merkle tree proofs of trustmeter-proof/v2 (docs/proof-format.md, section 5.2), made with the jmt crate 0.12. Each case says whether a correct verifier accepts it. Regenerate: TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-crypto --test smt_jmt vectors\",\n",
    );
    for (n, alg) in [HashAlg::Sha256, HashAlg::Sm3].into_iter().enumerate() {
        let cases = match alg {
            HashAlg::Sha256 => vector_cases::<Sha256Hasher>(alg),
            HashAlg::Sm3 => vector_cases::<Sm3Hasher>(alg),
        };
        out.push_str(&format!("  \"{}\": {cases}{}\n", alg.name(), if n == 0 { "," } else { "" }));
    }
    out.push_str("}\n");
    out
}

fn hx(x: &Hash32) -> String {
    format!("\"{}\"", x.to_hex())
}

fn list(xs: &[Hash32]) -> String {
    format!("[{}]", xs.iter().map(hx).collect::<Vec<_>>().join(", "))
}

fn vector_cases<H: SimpleHasher>(alg: HashAlg) -> String {
    let keys: Vec<(String, String)> =
        (0..12).map(|i| (format!("key-{i}"), format!("value of key-{i}, version 0"))).collect();
    let mut tree = Tree::<H>::default();
    let kh = |k: &str| key_hash(alg, k.as_bytes());
    let root0 = h(tree.put(keys.iter().map(|(k, v)| (kh(k).0, Some(v.as_bytes().to_vec()))).collect()));
    // Version 1 changes key-0 and deletes key-1: the version-0 proofs stay valid against root 0.
    let root1 = h(tree.put(vec![(kh("key-0").0, Some(b"value of key-0, version 1".to_vec())), (kh("key-1").0, None)]));
    let mut cases: Vec<String> = Vec::new();
    let inclusion = |root: &Hash32, key: &str, kh: &Hash32, value: &[u8], siblings: &[Hash32], valid, why: &str| {
        assert_eq!(verify_inclusion(alg, root, kh, &value_hash(alg, value), siblings), valid, "{why}");
        format!(
            "      {{\"kind\": \"inclusion\", \"why\": \"{why}\", \"valid\": {valid}, \"root\": {}, \"encoded_key\": \"{}\", \"key_hash\": {}, \"encoded_value\": \"{}\", \"value_hash\": {}, \"siblings\": {}}}",
            hx(root),
            hex::encode(key),
            hx(kh),
            hex::encode(value),
            hx(&value_hash(alg, value)),
            list(siblings)
        )
    };
    let exclusion = |root: &Hash32,
                     key: &str,
                     leaf: Option<(Hash32, Hash32)>,
                     siblings: &[Hash32],
                     valid,
                     why: &str| {
        let k = kh(key);
        assert_eq!(verify_exclusion(alg, root, &k, leaf, siblings), valid, "{why}");
        let leaf = match leaf {
            None => "null".to_string(),
            Some((a, b)) => format!("{{\"key_hash\": {}, \"value_hash\": {}}}", hx(&a), hx(&b)),
        };
        format!(
            "      {{\"kind\": \"exclusion\", \"why\": \"{why}\", \"valid\": {valid}, \"root\": {}, \"encoded_key\": \"{}\", \"key_hash\": {}, \"leaf\": {leaf}, \"siblings\": {}}}",
            hx(root),
            hex::encode(key),
            hx(&k),
            list(siblings)
        )
    };
    for (i, (k, v)) in keys.iter().enumerate() {
        let (_, p) = tree.prove(kh(k).0, 0);
        cases.push(inclusion(&root0, k, &kh(k), v.as_bytes(), &sibs(&p), true, "present at version 0"));
        if i == 2 {
            let s = sibs(&p);
            let mut t = s.clone();
            t[0] = flip(t[0], 7);
            cases.push(inclusion(&root0, k, &kh(k), v.as_bytes(), &t, false, "one bit of siblings[0] flipped"));
            cases.push(inclusion(&root0, k, &kh(k), b"another value", &s, false, "wrong value"));
            cases.push(inclusion(&root0, "key-3", &kh("key-3"), v.as_bytes(), &s, false, "another key's proof"));
            let mut t = s.clone();
            t.push(PLACEHOLDER);
            cases.push(inclusion(&root0, k, &kh(k), v.as_bytes(), &t, false, "extra sibling"));
            cases.push(inclusion(&root0, k, &kh(k), v.as_bytes(), &s[1..], false, "missing sibling"));
            let mut t = s.clone();
            t.reverse();
            cases.push(inclusion(&root0, k, &kh(k), v.as_bytes(), &t, false, "siblings top-down"));
            cases.push(inclusion(&root1, k, &kh(k), v.as_bytes(), &s, false, "against the version-1 root"));
        }
    }
    let (_, p) = tree.prove(kh("key-0").0, 1);
    cases.push(inclusion(
        &root1,
        "key-0",
        &kh("key-0"),
        b"value of key-0, version 1",
        &sibs(&p),
        true,
        "changed at version 1",
    ));
    let (_, p) = tree.prove(kh("key-1").0, 1);
    cases.push(exclusion(&root1, "key-1", p.leaf.map(|(a, b)| (h(a), h(b))), &sibs(&p), true, "deleted at version 1"));
    let (mut with_leaf, mut empty) = (0, 0);
    for i in 0..40 {
        let key = format!("absent-{i}");
        let (value, p) = tree.prove(kh(&key).0, 0);
        assert!(value.is_none());
        let leaf = p.leaf.map(|(a, b)| (h(a), h(b)));
        let s = sibs(&p);
        match leaf {
            Some((lk, lv)) if with_leaf < 2 => {
                with_leaf += 1;
                cases.push(exclusion(&root0, &key, leaf, &s, true, "absent: the path ends at another leaf"));
                if with_leaf == 1 {
                    cases.push(exclusion(&root0, &key, None, &s, false, "the leaf left out"));
                    cases.push(exclusion(&root0, &key, Some((lk, flip(lv, 0))), &s, false, "wrong leaf value hash"));
                    let (_, own) = tree.prove(lk.0, 0);
                    assert_eq!(sibs(&own), s);
                    let present = keys.iter().find(|(k, _)| kh(k) == lk).map(|(k, _)| k.clone()).unwrap();
                    cases.push(exclusion(&root0, &present, leaf, &s, false, "exclusion of a present key"));
                }
            }
            None if empty < 2 => {
                empty += 1;
                cases.push(exclusion(&root0, &key, None, &s, true, "absent: the path ends at an empty subtree"));
                if empty == 1 && !s.is_empty() {
                    let mut t = s.clone();
                    t[s.len() - 1] = flip(t[s.len() - 1], 100);
                    cases.push(exclusion(&root0, &key, None, &t, false, "one bit of the top sibling flipped"));
                    let fake = Some((flip(kh(&key), 255), value_hash(alg, b"x")));
                    cases.push(exclusion(&root0, &key, fake, &s, false, "an invented leaf"));
                }
            }
            _ => {}
        }
    }
    assert_eq!((with_leaf, empty), (2, 2), "both kinds of absence in the first 40 absent keys");
    let (reg, act) = (root0, root1);
    format!(
        "{{\n    \"state_root\": {{\"registry\": {}, \"activity\": {}, \"state_root\": {}}},\n    \"placeholder\": {},\n    \"internal_of_placeholders\": {},\n    \"cases\": [\n{}\n    ]\n  }}",
        hx(&reg),
        hx(&act),
        hx(&state_root(alg, &reg, &act)),
        hx(&PLACEHOLDER),
        hx(&internal_hash(alg, &PLACEHOLDER, &PLACEHOLDER)),
        cases.join(",\n")
    )
}

#[test]
fn vectors_file_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/smt-v2.json");
    let fresh = vectors();
    if std::env::var_os("TRUSTMETER_REGENERATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == fresh,
        "{} is not what the tests generate; regenerate it with \
         TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-crypto --test smt_jmt vectors",
        path.display()
    );
    // The file is well-formed JSON with as many valid as invalid kinds of case.
    let v: serde_json::Value = serde_json::from_str(&stored).unwrap();
    for alg in ["sha256", "sm3"] {
        let cases = v[alg]["cases"].as_array().unwrap();
        assert!(cases.iter().any(|c| c["valid"] == true) && cases.iter().any(|c| c["valid"] == false));
    }
}
