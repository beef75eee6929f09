//! `trustmeter keys` and `trustmeter tx` end to end: a 4-validator consortium from
//! `trustmeter node init` runs as `trustmeter node run` processes on loopback, and every
//! registry step is driven through the binary with key files (the member keys `node init` wrote,
//! device keys made by `keys generate`): register a gateway and a meter, calibrate, activate,
//! a forbidden activation, key rotation, a new account and a revocation.

use crate::support::{Consortium, Processes, ok, text, trustmeter};
use chrono::{Datelike, TimeZone};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use trustmeter_api_client::NodeClient;
use trustmeter_types::{DeviceId, DeviceStatus};

/// A `tx` command against the consortium: the node URLs and the sender key first.
fn tx(c: &Consortium, cmd: &str, key: &Path, rest: &[&str]) -> Output {
    let key = key.display().to_string();
    let mut args = vec!["tx", cmd, "--node", c.urls[0].as_str(), "--node", c.urls[1].as_str(), "--key", key.as_str()];
    args.extend_from_slice(rest);
    trustmeter(&args, &[])
}

/// A `tx` command that must be finalized and accepted; returns the height it printed.
fn tx_ok(c: &Consortium, cmd: &str, key: &Path, rest: &[&str]) -> u64 {
    let out = tx(c, cmd, key, rest);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "tx {cmd} {rest:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    let height = stdout.trim().strip_prefix("finalized at height ").and_then(|h| h.parse().ok());
    height.unwrap_or_else(|| panic!("tx {cmd}: unexpected output {stdout:?}"))
}

#[test]
fn keys_and_registry_transactions_through_the_binary() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();
    let mut procs = Processes::default();
    let mut c = Consortium::init(&d.join("net"), "hunan-tx-1", 4);
    for i in 0..4 {
        c.start(&mut procs, i);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(c.wait_finalizing(&mut procs, 0));
    eprintln!("consortium finalizing after {:.1} s", started.elapsed().as_secs_f64());
    let client = NodeClient::new(c.urls.clone(), Duration::from_secs(10)).expect("client");

    // `node init` wrote member keys as keystore files (mode 0600) naming their organisations.
    let member = |label: &str| c.dir.join(format!("members/{label}.json"));
    let (enterprise, metrology, regulator) = (member("enterprise-0"), member("metrology"), member("regulator"));
    let show: Value = serde_json::from_str(&ok(&["keys", "show", "--json", &enterprise.display().to_string()], &[]))
        .expect("keys show --json");
    let ent_org = show["organisation"].as_str().expect("enterprise organisation").to_string();
    assert_eq!(show["scheme"], "ed25519");
    assert_eq!(show["encrypted"], false);
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(&enterprise).unwrap()).unwrap();
    assert_eq!(raw["format"], "trustmeter-keystore/v1");
    assert!(raw.get("secret_hex").is_none(), "old member file format");
    assert_eq!(std::fs::metadata(&enterprise).unwrap().permissions().mode() & 0o777, 0o600);

    // Device keys are generated here; the meter's is encrypted.
    let gw_id = format!("{ent_org}-GW01");
    let meter_id = format!("{ent_org}-EM0001");
    let (gw_key, gw_new, meter_key, acct_key) =
        (d.join("keys/gw.json"), d.join("keys/gw-2.json"), d.join("keys/meter.json"), d.join("keys/acct.json"));
    let s = |p: &Path| p.display().to_string();
    let gw_pk = ok(&["keys", "generate", "--out", &s(&gw_key), "--label", "gateway 1", "--device", &gw_id], &[]);
    let gw_pk = gw_pk.trim().to_string();
    assert!(gw_pk.starts_with("ed25519:") && gw_pk.len() == 8 + 64, "{gw_pk}");
    let pass = [("METER_KEY_PASSPHRASE", "meter passphrase 1")];
    let meter_pk = ok(
        &[
            "keys",
            "generate",
            "--out",
            &s(&meter_key),
            "--label",
            "main feeder",
            "--device",
            &meter_id,
            "--organisation",
            &ent_org,
            "--passphrase-env",
            "METER_KEY_PASSPHRASE",
        ],
        &pass,
    );
    let show = ok(&["keys", "show", &s(&meter_key)], &[]);
    assert!(show.contains("encrypted (xchacha20-poly1305") && show.contains(meter_pk.trim()), "{show}");
    ok(&["keys", "generate", "--out", &s(&gw_new), "--label", "gateway 1 (rotated)", "--device", &gw_id], &[]);
    ok(&["keys", "generate", "--out", &s(&acct_key), "--label", "second enterprise account"], &[]);
    // Refusals: an existing file. An SM2 key (国密) is made like an Ed25519 one.
    let out = trustmeter(&["keys", "generate", "--out", &s(&gw_key), "--label", "again"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
    let out = trustmeter(
        &["keys", "generate", "--out", &s(&d.join("keys/sm2.json")), "--label", "x", "--scheme", "sm2"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).trim().starts_with("sm2:"), "{}", text(&out.stdout));

    // The enterprise registers its gateway and meter.
    tx_ok(&c, "register-gateway", &enterprise, &["--id", &gw_id, "--public-key", &gw_pk]);
    let out = tx(
        &c,
        "register-meter",
        &enterprise,
        &[
            "--id",
            &meter_id,
            "--gateway",
            &gw_id,
            "--name",
            "main feeder",
            "--energy",
            "electricity",
            "--unit",
            "kWh",
            "--accuracy",
            "0.5S",
            "--location",
            "plant/workshop-1/line-2",
            "--register-max",
            "99999999.99",
            "--meter-key-file",
            &s(&meter_key),
            "--json",
        ],
    );
    assert!(out.status.success(), "register-meter: {}", text(&out.stderr));
    let receipt: Value = serde_json::from_slice(&out.stdout).expect("--json prints the receipt");
    assert_eq!(receipt["status"], "finalized");
    assert_eq!(receipt["receipt"]["outcome"]["status"], "accepted");
    assert!(receipt["height"].as_u64().is_some_and(|h| h > 0), "{receipt}");

    // The metrology authority calibrates (issuer defaults to its own organisation).
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let until = today + chrono::Days::new(400);
    let until_arg = until.format("%Y-%m-%d").to_string();
    tx_ok(
        &c,
        "calibrate",
        &metrology,
        &[
            "--meter",
            &meter_id,
            "--certificate",
            "JD-2026-0001",
            "--valid-from",
            "2025-01-01",
            "--valid-until",
            &until_arg,
        ],
    );

    // An enterprise may not activate devices: not_authorised, exit code 1, the reason printed.
    let out = tx(&c, "activate", &enterprise, &["--device", &gw_id]);
    assert_eq!(out.status.code(), Some(1), "stdout {} stderr {}", text(&out.stdout), text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("not_authorised") && err.contains("only a regulator activates devices"), "{err}");

    // The regulator activates both devices.
    tx_ok(&c, "activate", &regulator, &["--device", &gw_id]);
    tx_ok(&c, "activate", &regulator, &["--device", &meter_id]);

    // The gateway rotates its own key (signing with its current key, proving the new one).
    tx_ok(&c, "rotate-key", &gw_key, &["--device", &gw_id, "--new-key-file", &s(&gw_new)]);
    // A second account for the enterprise, then the enterprise revokes its meter.
    tx_ok(&c, "register-account", &enterprise, &["--account-key-file", &s(&acct_key)]);
    tx_ok(&c, "revoke", &enterprise, &["--device", &meter_id, "--reason", "replaced by EM0002"]);

    // The chain has what the commands said.
    rt.block_on(async {
        let gw = client.gateway(&DeviceId::new(gw_id.clone()).unwrap()).await.unwrap().expect("gateway registered");
        assert_eq!(gw.status, DeviceStatus::Active);
        let new_pk = trustmeter_keystore::KeyFile::info(&gw_new).unwrap().public_key;
        assert_eq!(gw.public_key, new_pk, "rotation recorded");
        assert_eq!(gw.retired_keys.len(), 1);
        assert_eq!(gw.retired_keys[0].public_key.to_text(), gw_pk);
        let m = client.meter(&DeviceId::new(meter_id.clone()).unwrap()).await.unwrap().expect("meter registered");
        assert_eq!(m.status, DeviceStatus::Revoked);
        assert_eq!(m.public_key.as_ref().map(|k| k.to_text()), Some(meter_pk.trim().to_string()));
        assert_eq!(m.accuracy.0, 50);
        assert_eq!(m.register_max.micros(), 99_999_999_990_000);
        assert_eq!(m.location.display(), "plant/workshop-1/line-2");
        let cal = m.calibration.expect("calibration recorded");
        assert_eq!(cal.certificate_no, "JD-2026-0001");
        assert_eq!(
            cal.issuer.as_str(),
            trustmeter_keystore::KeyFile::info(&metrology).unwrap().meta.organisation.unwrap().as_str()
        );
        // 2025-01-01 00:00 and the day after `until`, 00:00, in Asia/Shanghai.
        assert_eq!(cal.valid_from_ms, 1_735_660_800_000);
        let next = until + chrono::Days::new(1);
        let end = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(next.year(), next.month(), next.day(), 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(cal.valid_until_ms, end);
        let acct = trustmeter_keystore::KeyFile::info(&acct_key).unwrap().public_key;
        let a = client.account(&acct).await.unwrap();
        assert_eq!(a.organisation.as_deref(), Some(ent_org.as_str()));
    });
    for i in 0..4 {
        procs.assert_running(&Consortium::name(i));
    }
    eprintln!("keys and tx commands: {:.1} s", started.elapsed().as_secs_f64());
}
