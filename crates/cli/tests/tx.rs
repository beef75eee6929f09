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
    // A sub-meter of it (分表, `--master`); a master that is not registered is refused with its
    // reason.
    let sub_id = format!("{ent_org}-EM0002");
    let sub = |id: &str, master: &str| {
        [
            "--id".to_string(),
            id.to_string(),
            "--gateway".into(),
            gw_id.clone(),
            "--name".into(),
            "press 1".into(),
            "--energy".into(),
            "electricity".into(),
            "--unit".into(),
            "kWh".into(),
            "--accuracy".into(),
            "1".into(),
            "--location".into(),
            "plant/workshop-1/line-2/press-1".into(),
            "--register-max".into(),
            "99999999.99".into(),
            "--master".into(),
            master.to_string(),
        ]
    };
    let args = sub(&sub_id, &meter_id);
    tx_ok(&c, "register-meter", &enterprise, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let args = sub(&format!("{ent_org}-EM0003"), &format!("{ent_org}-EM0099"));
    let out = tx(&c, "register-meter", &enterprise, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("invalid_master") && err.contains("not registered"), "{err}");
    // The balance names the master and its sub-meter (no readings yet: nothing to balance).
    let today_label = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d").to_string();
    let key_arg = s(&enterprise);
    let q = [
        "query",
        "balance",
        "--node",
        c.urls[0].as_str(),
        "--key",
        key_arg.as_str(),
        "--org",
        ent_org.as_str(),
        "--from",
        today_label.as_str(),
    ];
    let table = ok(&q, &[]);
    assert!(table.contains(&meter_id) && table.contains("1 sub-meters") && table.contains("main feeder"), "{table}");
    let json = ok(&[&q[..], &["--json"]].concat(), &[]);
    let v: Value = serde_json::from_str(&json).expect("query balance --json");
    assert_eq!(v["masters"][0]["subs"][0]["meter"]["id"], sub_id.as_str(), "{v}");
    assert_eq!(v["masters"][0]["total"]["complete"], false, "no readings: not a clean balance");

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
        assert_eq!(m.master, None);
        let sub = client.meter(&DeviceId::new(sub_id.clone()).unwrap()).await.unwrap().expect("sub-meter registered");
        assert_eq!(sub.master.as_ref().map(|m| m.as_str()), Some(meter_id.as_str()));
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

    // Tokens and staking (issue 13). The devnet's genesis gives each authority 1 000 000 TMC
    // and each enterprise 10 000. The metrology authority registers a validator whose key it
    // generated here, bonds 20 000 of its own, the enterprise delegates 2 500 and undelegates 500
    // (unbonding for 7 epochs), and pays 12.5 to the regulator.
    let mv_key = d.join("metrology-validator.json");
    ok(&["keys", "generate", "--out", &s(&mv_key), "--label", "metrology validator"], &[]);
    let mv = hex::encode(&trustmeter_keystore::KeyFile::info(&mv_key).unwrap().public_key.bytes);
    tx_ok(
        &c,
        "staking",
        &metrology,
        &[
            "--op",
            "register-validator",
            "--validator-key",
            &s(&mv_key),
            "--name",
            "metrology-1",
            "--address",
            "127.0.0.1:39999",
            "--commission",
            "10",
        ],
    );
    tx_ok(&c, "staking", &metrology, &["--op", "delegate", "--validator", &mv, "--amount", "20000"]);
    tx_ok(&c, "staking", &enterprise, &["--op", "delegate", "--validator", &mv, "--amount", "2500"]);
    tx_ok(&c, "staking", &enterprise, &["--op", "undelegate", "--validator", &mv, "--amount", "500"]);
    let reg_org = trustmeter_keystore::KeyFile::info(&regulator).unwrap().meta.organisation.unwrap().to_string();
    tx_ok(&c, "transfer", &enterprise, &["--to", &reg_org, "--amount", "12.5", "--memo", "data licence 2026-Q4"]);
    // Refusals: a commission above the chain's 20 %, more than the balance, nothing to claim yet.
    let out = tx(&c, "staking", &metrology, &["--op", "edit-validator", "--validator", &mv, "--commission", "21"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("staking_refused"), "{}", text(&out.stderr));
    let out = tx(&c, "transfer", &enterprise, &["--to", &reg_org, "--amount", "1000000"]);
    assert!(text(&out.stderr).contains("insufficient_funds"), "{}", text(&out.stderr));
    let out = tx(&c, "staking", &enterprise, &["--op", "claim"]);
    assert!(text(&out.stderr).contains("released in epoch 7"), "{}", text(&out.stderr));

    let query = |args: &[&str]| -> Value {
        let mut all = vec!["query", args[0], "--node", c.urls[0].as_str(), "--json"];
        all.extend_from_slice(&args[1..]);
        serde_json::from_str(&ok(&all, &[])).expect("query --json")
    };
    let v = query(&["validators"]);
    let row = v.as_array().unwrap().iter().find(|r| r["consensus_key"] == mv.as_str()).expect("registered").clone();
    assert_eq!((row["bonded"].as_str(), row["self_stake"].as_str()), (Some("22000"), Some("20000")), "{row}");
    assert_eq!((row["in_current_set"].as_bool(), row["commission_percent"].as_u64()), (Some(false), Some(10)));
    let genesis_rows = v.as_array().unwrap().iter().filter(|r| r["in_current_set"] == true).count();
    assert_eq!(genesis_rows, 4, "the four genesis validators keep epoch 0");
    let e = query(&["epoch"]);
    assert_eq!(e["epoch"], 0);
    assert_eq!(e["current"]["members"].as_array().map(Vec::len), Some(4));
    assert_eq!(e["totals"]["conserved"], true);
    // Supply: 3 authorities × 1 000 000 + one enterprise's 10 000 + 4 × 100 000 of self-stake.
    assert_eq!(e["totals"]["supply"], "3410000");
    assert_eq!(e["totals"]["bonded"], "422000");
    assert_eq!(e["totals"]["unbonding"], "500");
    // The enterprise reads its own account (signed with its key).
    let t: Value = serde_json::from_str(&ok(
        &["query", "token", "--node", c.urls[0].as_str(), "--json", "--key", &s(&enterprise), "--org", &ent_org],
        &[],
    ))
    .expect("query token --json");
    // 10 000 − 2 500 − 12.5 = 7 487.5.
    assert_eq!(t["balance"], "7487.5", "{t}");
    assert_eq!(t["stakes"][0]["bonded"], "2000", "{t}");
    assert_eq!(
        (t["unbonding"][0]["amount"].as_str(), t["unbonding"][0]["release_epoch"].as_u64()),
        (Some("500"), Some(7))
    );

    for i in 0..4 {
        procs.assert_running(&Consortium::name(i));
    }
    eprintln!("keys and tx commands: {:.1} s", started.elapsed().as_secs_f64());
}
