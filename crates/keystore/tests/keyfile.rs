//! Key files on a real file system: round trips, refusals and tampering.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use trustmeter_crypto::{SigningKey, verify};
use trustmeter_keystore::{
    FORMAT, KdfParams, KeyFile, KeyInfo, KeyMeta, KeystoreError, MIN_KDF_MEMORY_KIB, Protection, passphrase_from_env,
};
use trustmeter_types::{DeviceId, KeyScheme, UnifiedSocialCreditCode};

/// Flip to `true` when `trustmeter-crypto` supports SM2 keys: the SM2 test then expects a working
/// round trip instead of a clear refusal.
const SM2_SUPPORTED: bool = true;

/// The lightest KDF parameters the limits allow, for tests that tamper with files.
const LIGHT: KdfParams = KdfParams { m_kib: MIN_KDF_MEMORY_KIB, t: 1, p: 1 };
const PASS: &str = "correct horse battery staple";

fn meta() -> KeyMeta {
    KeyMeta {
        organisation: Some(UnifiedSocialCreditCode::new("91430100710001000Q").expect("valid code")),
        device: Some(DeviceId::new("91430100710001000Q-GW01").expect("valid id")),
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("JSON")
}

fn write_json(p: &Path, v: &serde_json::Value) {
    std::fs::write(p, serde_json::to_string_pretty(v).expect("JSON")).expect("write");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Writes an encrypted file with light parameters and returns its path and key.
fn encrypted(dir: &Path, name: &str) -> (PathBuf, SigningKey) {
    let path = dir.join(name);
    let key = SigningKey::ed25519_from_seed([42; 32]);
    KeyFile::write_with_kdf(&path, &key, "tamper target", &meta(), Some(PASS), LIGHT, false).expect("write");
    (path, key)
}

#[test]
fn plain_round_trip_keeps_key_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.json");
    let key = KeyFile::generate(&path, KeyScheme::Ed25519, "gateway 1", &meta(), None).expect("generate");
    assert_eq!(mode(&path), 0o600);
    let doc = json(&path);
    assert_eq!(doc["format"], FORMAT);
    assert_eq!(doc["scheme"], "ed25519");
    assert_eq!(doc["public_key"], key.public_key().to_text());
    assert_eq!(doc["organisation"], "91430100710001000Q");
    assert_eq!(doc["device"], "91430100710001000Q-GW01");
    assert_eq!(doc["secret"]["plain"], hex::encode(key.secret_bytes()));
    chrono::DateTime::parse_from_rfc3339(doc["created_at"].as_str().unwrap()).expect("RFC 3339 created_at");

    let (loaded, info) = KeyFile::load(&path, None).expect("load");
    assert_eq!(loaded.secret_bytes(), key.secret_bytes());
    let sig = loaded.sign(b"reading");
    verify(&key.public_key(), b"reading", &sig).expect("the loaded key signs for the generated public key");
    assert_eq!(info.public_key, key.public_key());
    assert_eq!(info.label, "gateway 1");
    assert_eq!(info.meta, meta());
    assert_eq!(info.protection, Protection::Plain);
    assert_eq!(KeyFile::info(&path).expect("info"), info);
    // Two generated keys differ (randomness is drawn).
    let other = KeyFile::generate(&dir.path().join("b.json"), KeyScheme::Ed25519, "b", &KeyMeta::default(), None)
        .expect("generate");
    assert_ne!(other.public_key(), key.public_key());
}

#[test]
fn encrypted_round_trip_and_the_secret_never_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acct.json");
    let key = KeyFile::generate(&path, KeyScheme::Ed25519, "regulator account", &KeyMeta::default(), Some(PASS))
        .expect("generate");
    let text = std::fs::read_to_string(&path).unwrap();
    let secret_hex = hex::encode(key.secret_bytes());
    assert!(!text.contains(&secret_hex), "the secret hex is in the encrypted file");
    assert!(!text.contains(&secret_hex.to_uppercase()));
    assert!(!text.contains("plain"));
    let doc = json(&path);
    let e = &doc["secret"]["encrypted"];
    assert_eq!(e["kdf"], "argon2id");
    assert_eq!(e["cipher"], "xchacha20-poly1305");
    assert_eq!(e["m_kib"], KdfParams::DEFAULT.m_kib);
    assert_eq!(e["t"], KdfParams::DEFAULT.t);
    assert_eq!(e["p"], KdfParams::DEFAULT.p);
    assert_eq!(hex::decode(e["nonce"].as_str().unwrap()).unwrap().len(), 24);
    assert_eq!(hex::decode(e["salt"].as_str().unwrap()).unwrap().len(), 16);
    assert!(doc.get("organisation").is_none() && doc.get("device").is_none());

    let (loaded, info) = KeyFile::load(&path, Some(PASS)).expect("load with the passphrase");
    assert_eq!(loaded.secret_bytes(), key.secret_bytes());
    assert!(info.is_encrypted());
    assert_eq!(info.public_key, key.public_key());
    // The public part needs no passphrase.
    assert_eq!(KeyFile::info(&path).expect("info").public_key, key.public_key());
    // Without the passphrase: a typed refusal that says what to do.
    let e = KeyFile::load(&path, None).unwrap_err();
    assert!(matches!(e, KeystoreError::PassphraseRequired { .. }), "{e}");
    assert!(e.to_string().contains("--passphrase-env"), "{e}");
    // The wrong passphrase: typed error.
    let e = KeyFile::load(&path, Some("correct horse battery stable")).unwrap_err();
    assert!(matches!(e, KeystoreError::WrongPassphrase { .. }), "{e}");
}

#[test]
fn tampered_ciphertext_public_key_salt_nonce_or_kdf_do_not_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let flip_hex = |s: &str| {
        let mut b = hex::decode(s).unwrap();
        b[0] ^= 0x01;
        hex::encode(b)
    };
    let other_pk = SigningKey::ed25519_from_seed([7; 32]).public_key().to_text();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "ciphertext",
            Box::new(move |v| {
                let e = &mut v["secret"]["encrypted"]["ciphertext"];
                *e = flip_hex(e.as_str().unwrap()).into();
            }),
        ),
        (
            "salt",
            Box::new(move |v| {
                let e = &mut v["secret"]["encrypted"]["salt"];
                *e = flip_hex(e.as_str().unwrap()).into();
            }),
        ),
        (
            "nonce",
            Box::new(move |v| {
                let e = &mut v["secret"]["encrypted"]["nonce"];
                *e = flip_hex(e.as_str().unwrap()).into();
            }),
        ),
        ("kdf passes", Box::new(|v| v["secret"]["encrypted"]["t"] = 2.into())),
        ("public key", Box::new(move |v| v["public_key"] = other_pk.clone().into())),
    ];
    for (what, edit) in edits {
        let (path, _) = encrypted(dir.path(), &format!("{}.json", what.replace(' ', "-")));
        assert!(KeyFile::load(&path, Some(PASS)).is_ok(), "{what}: untouched file should load");
        let mut v = json(&path);
        edit(&mut v);
        write_json(&path, &v);
        let e = KeyFile::load(&path, Some(PASS)).unwrap_err();
        assert!(matches!(e, KeystoreError::WrongPassphrase { .. }), "{what}: {e}");
    }
    // A plain file whose public key was swapped: the secret does not match it.
    let path = dir.path().join("plain.json");
    let key = SigningKey::ed25519_from_seed([1; 32]);
    KeyFile::write(&path, &key, "plain", &KeyMeta::default(), None, false).unwrap();
    let mut v = json(&path);
    v["public_key"] = SigningKey::ed25519_from_seed([2; 32]).public_key().to_text().into();
    write_json(&path, &v);
    let e = KeyFile::load(&path, None).unwrap_err();
    assert!(matches!(e, KeystoreError::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains("does not belong to its public key"), "{e}");
}

#[test]
fn files_others_can_read_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    KeyFile::generate(&path, KeyScheme::Ed25519, "k", &KeyMeta::default(), None).unwrap();
    for bad in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
        let e = KeyFile::load(&path, None).unwrap_err();
        assert!(matches!(e, KeystoreError::Permissions { mode, .. } if mode == bad), "{bad:o}: {e}");
        assert!(e.to_string().contains(&format!("chmod 600 {}", path.display())), "{e}");
        // The public part is still readable.
        assert!(KeyFile::info(&path).is_ok());
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert!(KeyFile::load(&path, None).is_ok(), "owner read-only is fine");
}

#[test]
fn existing_files_are_kept_unless_overwrite_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    let first = KeyFile::generate(&path, KeyScheme::Ed25519, "first", &KeyMeta::default(), None).unwrap();
    let before = std::fs::read(&path).unwrap();
    let e = KeyFile::generate(&path, KeyScheme::Ed25519, "second", &KeyMeta::default(), None).unwrap_err();
    assert!(matches!(e, KeystoreError::Exists { .. }), "{e}");
    let other = SigningKey::ed25519_from_seed([9; 32]);
    let e = KeyFile::write(&path, &other, "second", &KeyMeta::default(), None, false).unwrap_err();
    assert!(matches!(e, KeystoreError::Exists { .. }), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "a refused write changed the file");
    assert_eq!(KeyFile::load(&path, None).unwrap().0.public_key(), first.public_key());
    // Overwriting replaces it atomically, with mode 0600 even if the old file was looser.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let written = KeyFile::write(&path, &other, "second", &KeyMeta::default(), None, true).unwrap();
    assert_eq!(written, KeyFile::info(&path).unwrap(), "write reports what info reads back");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(KeyFile::load(&path, None).unwrap().0.public_key(), other.public_key());
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("k.json")]);
}

#[test]
fn malformed_and_foreign_files_are_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    KeyFile::write(&path, &SigningKey::ed25519_from_seed([3; 32]), "k", &KeyMeta::default(), None, false).unwrap();
    let good = json(&path);

    let mut v = good.clone();
    v["format"] = "trustmeter-keystore/v9".into();
    write_json(&path, &v);
    let e = KeyFile::load(&path, None).unwrap_err();
    assert!(matches!(e, KeystoreError::UnsupportedFormat { .. }), "{e}");

    let mut v = good.clone();
    v["scheme"] = "sm2".into();
    write_json(&path, &v);
    assert!(KeyFile::load(&path, None).unwrap_err().to_string().contains("differs from the public key's scheme"));

    let mut v = good.clone();
    v["secret"] = serde_json::json!({"plain": "zz"});
    write_json(&path, &v);
    assert!(matches!(KeyFile::load(&path, None).unwrap_err(), KeystoreError::Malformed { .. }));

    let mut v = good.clone();
    v["secrets"] = v["secret"].clone();
    write_json(&path, &v);
    assert!(KeyFile::load(&path, None).unwrap_err().to_string().contains("unknown field"));

    let mut v = good.clone();
    v["secret"] = serde_json::json!({"encrypted": {"kdf": "argon2id", "m_kib": 4_000_000_000u32, "t": 1, "p": 1,
        "salt": "00", "cipher": "xchacha20-poly1305", "nonce": "00", "ciphertext": "00"}});
    write_json(&path, &v);
    let e = KeyFile::info(&path).unwrap_err();
    assert!(e.to_string().contains("Argon2id memory"), "a file cannot ask for 4 TB of KDF memory: {e}");

    std::fs::write(&path, vec![b' '; 70_000]).unwrap();
    assert!(matches!(KeyFile::info(&path).unwrap_err(), KeystoreError::NotAKeyFile { .. }));
    assert!(matches!(KeyFile::info(dir.path()).unwrap_err(), KeystoreError::NotAKeyFile { .. }));
    let e = KeyFile::info(&dir.path().join("missing.json")).unwrap_err();
    assert!(matches!(&e, KeystoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound));
}

#[test]
fn weak_passphrases_and_bad_labels_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    let e = KeyFile::generate(&path, KeyScheme::Ed25519, "k", &KeyMeta::default(), Some("short")).unwrap_err();
    assert!(e.to_string().contains("at least 8 characters"), "{e}");
    let e = KeyFile::generate(&path, KeyScheme::Ed25519, " ", &KeyMeta::default(), None).unwrap_err();
    assert!(e.to_string().contains("label is empty"), "{e}");
    assert!(!path.exists());
    let e = passphrase_from_env("TRUSTMETER_KEYSTORE_TEST_UNSET_VARIABLE").unwrap_err();
    assert!(e.to_string().contains("is not set"), "{e}");
}

#[test]
fn sm2_keys_follow_crypto_support() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sm2.json");
    let result = KeyFile::generate(&path, KeyScheme::Sm2, "sm2 meter", &meta(), None);
    if SM2_SUPPORTED {
        let key = result.expect("SM2 generation");
        assert_eq!(key.scheme(), KeyScheme::Sm2);
        let (loaded, info) = KeyFile::load(&path, None).expect("SM2 load");
        assert_eq!(loaded.public_key(), key.public_key());
        assert_eq!(info.scheme, KeyScheme::Sm2);
    } else {
        let e = result.unwrap_err();
        assert!(matches!(e, KeystoreError::Generate { scheme: "sm2", .. }), "{e}");
        assert!(e.to_string().contains("not supported by this build"), "{e}");
        assert!(!path.exists(), "nothing is written for a refused scheme");
    }
}

#[test]
fn an_operator_token_is_created_once_private_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("operator.token");
    let t1 = trustmeter_keystore::load_or_create_token(&path).unwrap();
    assert_eq!(t1.len(), trustmeter_keystore::TOKEN_HEX_LEN);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    // Loaded again, the same token; another file, another token.
    assert_eq!(*trustmeter_keystore::load_or_create_token(&path).unwrap(), *t1);
    let t2 = trustmeter_keystore::load_or_create_token(&dir.path().join("other.token")).unwrap();
    assert_ne!(*t1, *t2);
    assert!(trustmeter_keystore::token_matches(&t1, &t1));
    assert!(!trustmeter_keystore::token_matches(&t1, &t2));
    assert!(!trustmeter_keystore::token_matches(&t1, &t1[..63]));
    // Readable by others: refused. Not a token: refused.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(trustmeter_keystore::load_or_create_token(&path), Err(KeystoreError::Permissions { .. })));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&path, "not a token\n").unwrap();
    assert!(matches!(trustmeter_keystore::load_or_create_token(&path), Err(KeystoreError::Malformed { .. })));
}

/// A key file's text (what a web page reads from a file input) loads like the file itself: same
/// key and public part, the same refusals for a wrong or missing passphrase and for tampering,
/// and a size limit; the permissions are the caller's platform's to keep.
#[test]
fn key_file_text_loads_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, key) = encrypted(dir.path(), "enc.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let origin = Path::new("uploaded key file");
    let info = KeyFile::info_str(&text, origin).expect("info");
    assert_eq!(info.public_key, key.public_key());
    assert_eq!(info.path, origin);
    assert!(matches!(info.protection, Protection::Encrypted { kdf, .. } if kdf == LIGHT));
    let (loaded, info) = KeyFile::load_str(&text, origin, Some(PASS)).expect("load");
    assert_eq!(loaded.secret_bytes(), key.secret_bytes());
    let from_file = KeyFile::load(&path, Some(PASS)).unwrap().1;
    assert_eq!(info, KeyInfo { path: origin.to_path_buf(), ..from_file });
    let e = KeyFile::load_str(&text, origin, Some("not the passphrase")).unwrap_err();
    assert!(matches!(e, KeystoreError::WrongPassphrase { .. }), "{e}");
    assert!(e.to_string().contains("uploaded key file"), "{e}");
    let e = KeyFile::load_str(&text, origin, None).unwrap_err();
    assert!(matches!(e, KeystoreError::PassphraseRequired { .. }), "{e}");
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["public_key"] = serde_json::json!(SigningKey::ed25519_from_seed([43; 32]).public_key().to_text());
    let e = KeyFile::load_str(&doc.to_string(), origin, Some(PASS)).unwrap_err();
    assert!(matches!(e, KeystoreError::WrongPassphrase { .. }), "{e}");
    let e = KeyFile::load_str(&" ".repeat(64 * 1024 + 1), origin, None).unwrap_err();
    assert!(matches!(e, KeystoreError::NotAKeyFile { .. }), "{e}");
    let e = KeyFile::load_str("{", origin, None).unwrap_err();
    assert!(matches!(e, KeystoreError::Malformed { .. }), "{e}");

    // A plain file loads without a passphrase, whatever its mode on disk.
    let plain = dir.path().join("plain.json");
    let key = KeyFile::generate(&plain, KeyScheme::Ed25519, "account", &KeyMeta::default(), None).unwrap();
    let (loaded, _) = KeyFile::load_str(&std::fs::read_to_string(&plain).unwrap(), origin, None).unwrap();
    assert_eq!(loaded.public_key(), key.public_key());
}
