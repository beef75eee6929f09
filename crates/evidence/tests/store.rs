//! The evidence store on a real directory: names by hash (checked against published vectors),
//! deduplication, quotas, size limits, corruption found on read, interrupted writes cleaned up.

use trustmeter_crypto::HashAlg;
use trustmeter_evidence::{EvidenceError, EvidenceStore, StoreLimits, Usage};
use trustmeter_types::{Hash32, UnifiedSocialCreditCode};

fn org(i: usize) -> UnifiedSocialCreditCode {
    let codes = ["91430100MA4L16JQ9D", "91350100M000100Y43"];
    UnifiedSocialCreditCode::new(codes[i]).expect("valid code")
}

fn small() -> StoreLimits {
    StoreLimits { max_file_bytes: 1_000, max_owner_bytes: 2_500, max_owner_files: 3 }
}

#[test]
fn files_are_named_by_the_chains_hash_of_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // FIPS 180-2 and GB/T 32905-2016 vectors for "abc".
    for (alg, sub, expected) in [
        (HashAlg::Sha256, "sha", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (HashAlg::Sm3, "sm3", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    ] {
        let store = EvidenceStore::open(&dir.path().join(sub), alg, small()).unwrap();
        let s = store.put(&org(0), b"abc").unwrap();
        assert_eq!(s.hash.to_hex(), expected);
        assert!(s.created);
        assert_eq!(store.get(&org(0), &s.hash).unwrap().as_deref(), Some(&b"abc"[..]));
        assert!(dir.path().join(sub).join(org(0).as_str()).join(expected).is_file());
        // Another enterprise does not see it.
        assert_eq!(store.get(&org(1), &s.hash).unwrap(), None);
    }
}

#[test]
fn the_same_bytes_twice_cost_nothing_and_quotas_hold() {
    let dir = tempfile::tempdir().unwrap();
    let store = EvidenceStore::open(dir.path(), HashAlg::Sha256, small()).unwrap();
    let a = store.put(&org(0), &[1u8; 1_000]).unwrap();
    let again = store.put(&org(0), &[1u8; 1_000]).unwrap();
    assert_eq!((again.hash, again.created), (a.hash, false));
    assert_eq!(store.usage(&org(0)), Usage { bytes: 1_000, files: 1 });
    store.put(&org(0), &[2u8; 1_000]).unwrap();
    // 2 000 + 1 000 > 2 500: refused with the numbers; nothing stored changes.
    match store.put(&org(0), &[3u8; 1_000]) {
        Err(EvidenceError::QuotaExceeded {
            used_bytes: 2_000, used_files: 2, bytes: 1_000, max_bytes: 2_500, ..
        }) => {}
        other => panic!("expected a quota refusal, got {other:?}"),
    }
    store.put(&org(0), &[3u8; 400]).unwrap();
    // Three files is the file quota.
    assert!(matches!(store.put(&org(0), &[4u8; 10]), Err(EvidenceError::QuotaExceeded { used_files: 3, .. })));
    // The other enterprise has its own quota.
    store.put(&org(1), &[4u8; 10]).unwrap();
    assert!(matches!(store.put(&org(1), &[]), Err(EvidenceError::Empty)));
    assert!(matches!(store.put(&org(1), &[0u8; 1_001]), Err(EvidenceError::TooLarge { bytes: 1_001, limit: 1_000 })));
    assert_eq!(store.get(&org(0), &a.hash).unwrap().unwrap(), vec![1u8; 1_000]);
}

#[test]
fn reopening_counts_what_is_kept_and_removes_interrupted_writes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EvidenceStore::open(dir.path(), HashAlg::Sha256, small()).unwrap();
        store.put(&org(0), b"ledger").unwrap();
        store.put(&org(0), b"invoice").unwrap();
    }
    let leftover = dir.path().join(org(0).as_str()).join(".tmp-1-0");
    std::fs::write(&leftover, b"half a fi").unwrap();
    std::fs::write(dir.path().join("README"), b"not a directory of an enterprise").unwrap();
    let store = EvidenceStore::open(dir.path(), HashAlg::Sha256, small()).unwrap();
    assert_eq!(store.usage(&org(0)), Usage { bytes: 13, files: 2 });
    assert!(!leftover.exists());
}

#[test]
fn a_file_changed_on_disk_is_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = EvidenceStore::open(dir.path(), HashAlg::Sha256, small()).unwrap();
    let s = store.put(&org(0), b"lab report: NCV 43.1 GJ/t").unwrap();
    std::fs::write(dir.path().join(org(0).as_str()).join(s.hash.to_hex()), b"lab report: NCV 33.1 GJ/t").unwrap();
    match store.get(&org(0), &s.hash) {
        Err(EvidenceError::Corrupt { hash, actual }) => {
            assert_eq!(hash, s.hash);
            assert_ne!(actual, s.hash);
        }
        other => panic!("expected corruption to be found, got {other:?}"),
    }
    assert_eq!(store.get(&org(0), &Hash32([9; 32])).unwrap(), None);
}
