//! A real consortium's life through the binary: four founding organisations generate their keys
//! separately (`org init`, one with encrypted keys), the genesis is assembled and checked
//! (`genesis assemble / check`), the four validators run as `node run` processes from keystore
//! key files; then, on the running chain, an enterprise and a second regulator are admitted, a
//! verifier takes 2 of 2 regulators, the first regulator's key is rotated with the other's
//! approval, an enterprise is suspended (refused with the reason) and device ids under another
//! organisation's code are refused. Also: a devnet genesis stripped of its devnet marker is
//! refused by `node run`.

use crate::support;

use crate::support::{Processes, free_port_block, ok, tail, text, trustmeter};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CHAIN: &str = "hunan-ceremony-1";
const PASS_VAR: &str = "REGULATOR_KEY_PASSPHRASE";
const PASS: &str = "a long regulator passphrase";

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `org init` for one party in its own directory; returns the directory. The regulator's keys
/// are encrypted.
fn org_init(root: &Path, name: &str, id: &str, kind: &str, region: &str, validator: Option<String>) -> PathBuf {
    let dir = root.join(name);
    let mut args: Vec<String> = ["org", "init", "--dir", &s(&dir), "--chain-id", CHAIN, "--id", id, "--name", name]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend(["--kind".into(), kind.into(), "--region".into(), region.into()]);
    if let Some(spec) = validator {
        args.extend(["--validator".into(), spec]);
    }
    if name == "regulator" {
        args.extend(["--passphrase-env".into(), PASS_VAR.into()]);
    }
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[(PASS_VAR, PASS)]);
    dir
}

/// A `tx` command; returns (success, stdout, stderr).
fn tx(urls: &[String], cmd: &str, key: &Path, rest: &[&str]) -> (bool, String, String) {
    let key = s(key);
    let mut args = vec!["tx", cmd, "--node", urls[0].as_str(), "--node", urls[1].as_str(), "--key", key.as_str()];
    // The regulator's founding key file is encrypted; for the others the passphrase is unused.
    args.extend(["--passphrase-env", PASS_VAR]);
    args.extend_from_slice(rest);
    let out = trustmeter(&args, &[(PASS_VAR, PASS)]);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn tx_ok(urls: &[String], cmd: &str, key: &Path, rest: &[&str]) -> String {
    let (ok, out, err) = tx(urls, cmd, key, rest);
    assert!(ok, "tx {cmd} {rest:?} failed:\nstdout: {out}\nstderr: {err}");
    err
}

/// The proposal id a `tx propose` printed.
fn proposal_id(stderr: &str) -> String {
    let at = stderr.find("proposal ").expect("propose prints the proposal id");
    stderr[at + 9..at + 9 + 64].to_string()
}

/// `GET url` once `ready` holds of the answer, or the last answer after 10 s: the CLI waited for
/// one node's proof that its transaction was final, and the node asked here may be a block behind.
fn get_when(url: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = try_get(url).unwrap_or(Value::Null);
        if ready(&v) || std::time::Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A proposal as `url`'s node sees it, once it has `status` there.
fn proposal_at(url: &str, id: &str, status: &str) -> Value {
    get_when(&format!("{url}/v1/proposals/{id}"), |p| p["status"]["status"] == status)
}

fn try_get(url: &str) -> Option<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok()?;
        client.get(url).send().await.ok()?.json::<Value>().await.ok()
    })
}

#[test]
fn a_four_party_ceremony_then_admissions_rotation_and_suspension_on_the_running_chain() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = free_port_block(8);
    let p2p = |i: u16| format!("127.0.0.1:{}", base + i);
    let api = |i: u16| format!("127.0.0.1:{}", base + 4 + i);

    // 1. Each party on "its own machine" (directory): keys and a public organisation file.
    let parties = [
        ("regulator", "11430000MB1234567", "regulator", "430000"),
        ("metrology", "12430000MB7654321", "metrology_authority", "430000"),
        ("statistics", "11430000MB0000001", "statistics_bureau", "430000"),
        ("works", "91430100700001000", "enterprise", "430100"),
    ];
    let mut dirs = vec![];
    for (i, (name, body, kind, region)) in parties.iter().enumerate() {
        let check = trustmeter_types::UnifiedSocialCreditCode::check_char(body).unwrap();
        let id = format!("{body}{check}");
        dirs.push((org_init(d, name, &id, kind, region, Some(format!("v-{name}={}", p2p(i as u16)))), id));
    }
    let reg_file: Value = serde_json::from_str(&std::fs::read_to_string(dirs[0].0.join("org.json")).unwrap()).unwrap();
    assert_eq!(reg_file["format"], "trustmeter-org/v1");
    assert!(!std::fs::read_to_string(dirs[0].0.join("org.json")).unwrap().contains("secret"));
    let key_doc = std::fs::read_to_string(dirs[0].0.join("validator-v-regulator.key")).unwrap();
    assert!(key_doc.contains("\"encrypted\""), "the regulator's validator key is encrypted: {key_doc}");

    // 2. One party assembles; every party checks what it received against the agreed hash.
    let genesis = d.join("genesis.json");
    let mut args = vec!["genesis".to_string(), "assemble".into(), "--chain-id".into(), CHAIN.into()];
    for (dir, _) in &dirs {
        args.extend(["--org".into(), s(&dir.join("org.json"))]);
    }
    args.extend(["--out".into(), s(&genesis)]);
    let out = ok(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    let hash = out.trim().strip_prefix("genesis hash ").expect("assemble prints the hash").to_string();
    for (dir, _) in &dirs {
        let org = s(&dir.join("org.json"));
        ok(&["genesis", "check", &s(&genesis), "--org", &org, "--expect-hash", &hash], &[]);
    }
    let wrong = trustmeter(&["genesis", "check", &s(&genesis), "--expect-hash", &"0".repeat(64)], &[]);
    assert!(!wrong.status.success() && text(&wrong.stderr).contains("not the agreed"), "{}", text(&wrong.stderr));
    // A genesis whose assembler dropped a party's account is caught by that party.
    let mut g: Value = serde_json::from_str(&std::fs::read_to_string(&genesis).unwrap()).unwrap();
    g["accounts"].as_array_mut().unwrap().remove(3);
    let tampered = d.join("tampered.json");
    std::fs::write(&tampered, g.to_string()).unwrap();
    let out = trustmeter(&["genesis", "check", &s(&tampered), "--org", &s(&dirs[3].0.join("org.json"))], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("is not in the genesis"), "{}", text(&out.stderr));
    // Three organisations are not a fault-tolerant validator set.
    let out = trustmeter(
        &[
            "genesis",
            "assemble",
            "--chain-id",
            CHAIN,
            "--org",
            &s(&dirs[0].0.join("org.json")),
            "--out",
            &s(&d.join("g3.json")),
        ],
        &[],
    );
    assert!(!out.status.success() && text(&out.stderr).contains("at least 4"), "{}", text(&out.stderr));

    // 3. Each party runs its validator from its own key file.
    let mut procs = Processes::default();
    let urls: Vec<String> = (0..4).map(|i| format!("http://{}", api(i))).collect();
    for (i, (name, ..)) in parties.iter().enumerate() {
        let node_dir = &dirs[i].0;
        let pass_line =
            if *name == "regulator" { format!("key_passphrase_env = \"{PASS_VAR}\"\n") } else { String::new() };
        let config = format!(
            "name = \"v-{name}\"\ndata_dir = \"data\"\ngenesis = \"{}\"\nkey_file = \"validator-v-{name}.key\"\n{pass_line}p2p_listen = \"{}\"\napi_listen = \"{}\"\nleader_timeout_ms = 1000\n",
            s(&genesis),
            p2p(i as u16),
            api(i as u16)
        );
        std::fs::write(node_dir.join("node.toml"), config).unwrap();
        let args = vec!["node".to_string(), "run".into(), "--config".into(), s(&node_dir.join("node.toml"))];
        procs.spawn(&format!("v-{name}"), &args, &node_dir.join("node.log"), &[(PASS_VAR, PASS)]);
    }
    let deadline = Instant::now() + support::PATIENCE;
    for (i, (name, ..)) in parties.iter().enumerate() {
        loop {
            procs.assert_running(&format!("v-{name}"));
            let up = try_get(&format!("{}/v1/status", urls[i]));
            if up.is_some_and(|v| v["finalized_height"].as_u64().is_some_and(|h| h > 1)) {
                break;
            }
            assert!(Instant::now() < deadline, "v-{name} did not finalize:\n{}", tail(&dirs[i].0.join("node.log"), 30));
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!("ceremony chain finalizing after {:.1} s", started.elapsed().as_secs_f64());
    let regulator = dirs[0].0.join("account-0.json");
    let works = dirs[3].0.join("account-0.json");

    // 4. Admissions after genesis. An enterprise: its provincial regulator alone (1 of 1).
    let newco_id = {
        let body = "91430100700009000";
        format!("{body}{}", trustmeter_types::UnifiedSocialCreditCode::check_char(body).unwrap())
    };
    let newco = org_init(d, "newco", &newco_id, "enterprise", "430121", None);
    let err = tx_ok(&urls, "propose", &regulator, &["--action", "admit", "--org-file", &s(&newco.join("org.json"))]);
    let id = proposal_id(&err);
    let p = proposal_at(&urls[1], &id, "executed");
    assert_eq!(p["status"]["status"], "executed", "{p}");
    let newco_key = newco.join("account-0.json");
    tx_ok(&urls, "register-gateway", &newco_key, &["--id", &format!("{newco_id}-GW01"), "--public-key", &pk(d, "gw1")]);
    // Device ids under another organisation's code are refused by the chain.
    let (ok_, _, err) = tx(
        &urls,
        "register-gateway",
        &newco_key,
        &["--id", &format!("{}-GW02", dirs[3].1), "--public-key", &pk(d, "gw2")],
    );
    assert!(!ok_ && err.contains("device_id_not_owned"), "{err}");

    // A second regulator (1 of 1), then a verifier needs both regulators (more than half of 2).
    let reg2_id = {
        let body = "11100000MB0000002";
        format!("{body}{}", trustmeter_types::UnifiedSocialCreditCode::check_char(body).unwrap())
    };
    let reg2 = org_init(d, "national", &reg2_id, "regulator", "100000", None);
    tx_ok(&urls, "propose", &regulator, &["--action", "admit", "--org-file", &s(&reg2.join("org.json"))]);
    let verifier_id = {
        let body = "91430100700009100";
        format!("{body}{}", trustmeter_types::UnifiedSocialCreditCode::check_char(body).unwrap())
    };
    let verifier = org_init(d, "verifier", &verifier_id, "verifier", "430000", None);
    let err = tx_ok(&urls, "propose", &regulator, &["--action", "admit", "--org-file", &s(&verifier.join("org.json"))]);
    let id = proposal_id(&err);
    let p = proposal_at(&urls[2], &id, "pending");
    assert_eq!((p["status"]["status"].as_str(), p["required"].as_u64()), (Some("pending"), Some(2)), "{p}");
    let reg2_key = reg2.join("account-0.json");
    tx_ok(&urls, "approve", &reg2_key, &["--proposal", &id]);
    let p = proposal_at(&urls[2], &id, "executed");
    assert_eq!(p["status"]["status"], "executed", "{p}");

    // 5. The first regulator's key is rotated: the national regulator proposes the new key and
    // the old one's revocation (the regulator concerned does not count; 1 of the 1 other).
    let new_key = d.join("regulator-new.json");
    ok(&["keys", "generate", "--out", &s(&new_key), "--label", "regulator account 2"], &[]);
    let (self_ok, _, err) = tx(&urls, "register-account", &regulator, &["--account-key-file", &s(&new_key)]);
    assert!(!self_ok && err.contains("by proposal"), "a regulator does not add its own keys: {err}");
    tx_ok(
        &urls,
        "propose",
        &reg2_key,
        &["--action", "add-account", "--org", &dirs[0].1, "--account-key-file", &s(&new_key)],
    );
    let old_pk = reg_file["accounts"][0]["public_key"].as_str().unwrap().to_string();
    tx_ok(
        &urls,
        "propose",
        &reg2_key,
        &["--action", "revoke-account", "--org", &dirs[0].1, "--public-key", &old_pk, "--reason", "key rotation"],
    );
    let a = get_when(&format!("{}/v1/accounts/{old_pk}", urls[0]), |a| !a["revoked"].is_null());
    assert_eq!(a["revoked"]["organisation"], dirs[0].1.as_str(), "{a}");

    // 6. The new regulator key suspends the founding enterprise; its transactions are refused
    // with the reason; reinstated, it acts again.
    tx_ok(&urls, "propose", &new_key, &["--action", "suspend", "--org", &dirs[3].1, "--reason", "audit fraud inquiry"]);
    let (works_gw, works_pk) = (format!("{}-GW01", dirs[3].1), pk(d, "gw3"));
    let (ok_, _, err) = tx(&urls, "register-gateway", &works, &["--id", &works_gw, "--public-key", &works_pk]);
    assert!(!ok_ && err.contains("organisation_not_active") && err.contains("audit fraud inquiry"), "{err}");
    let o =
        get_when(&format!("{}/v1/organisations/{}", urls[3], dirs[3].1), |o| o["membership"]["status"] == "suspended");
    assert_eq!(o["membership"]["status"], "suspended", "{o}");
    tx_ok(&urls, "propose", &new_key, &["--action", "reinstate", "--org", &dirs[3].1]);
    tx_ok(&urls, "register-gateway", &works, &["--id", &works_gw, "--public-key", &works_pk]);
    // 7. A real chain enforces its access rules: the enterprise's figures are its own (signed
    // with its key), refused unsigned and to another enterprise.
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d").to_string();
    let query = |key: Option<&Path>| {
        let mut args = vec!["query".to_string(), "daily".into(), "--node".into(), urls[0].clone()];
        args.extend(["--org".into(), dirs[3].1.clone(), "--from".into(), today.clone(), "--json".into()]);
        if let Some(k) = key {
            args.extend(["--key".into(), s(k)]);
        }
        trustmeter(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };
    let own = query(Some(&works));
    assert!(own.status.success(), "the owner reads its figures: {}", text(&own.stderr));
    let unsigned = query(None);
    assert!(
        !unsigned.status.success() && text(&unsigned.stderr).contains("unauthenticated"),
        "{}",
        text(&unsigned.stderr)
    );
    let other = query(Some(&newco_key));
    assert!(!other.status.success() && text(&other.stderr).contains("forbidden"), "{}", text(&other.stderr));
    let by_regulator = query(Some(&new_key));
    assert!(by_regulator.status.success(), "its regulator reads them: {}", text(&by_regulator.stderr));
    for (name, ..) in &parties {
        procs.assert_running(&format!("v-{name}"));
    }
    eprintln!("ceremony test: {:.1} s", started.elapsed().as_secs_f64());
}

/// A fresh gateway public key (a key file under `d/keys`).
fn pk(d: &Path, name: &str) -> String {
    let path = d.join(format!("keys/{name}.json"));
    ok(&["keys", "generate", "--out", &s(&path), "--label", name], &[]).trim().to_string()
}

#[test]
fn a_node_refuses_devnet_keys_on_a_genesis_not_marked_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let base = free_port_block(2);
    ok(
        &[
            "node",
            "init",
            "--dir",
            &s(&net),
            "--validators",
            "1",
            "--p2p-port",
            &base.to_string(),
            "--api-port",
            &(base + 1).to_string(),
        ],
        &[],
    );
    let path = net.join("genesis.json");
    let mut g: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(g["devnet_seed"], 1, "node init marks its genesis");
    g["devnet_seed"] = Value::Null;
    std::fs::write(&path, g.to_string()).unwrap();
    let out = trustmeter(&["node", "run", "--config", &s(&net.join("validator-0/node.toml"))], &[]);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("public devnet derivation") && err.contains("validator validator-0 (devnet seed 1)"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // `genesis check` says the same.
    let out = trustmeter(&["genesis", "check", &s(&path), "--allow-no-fault-tolerance"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("devnet derivation"), "{}", text(&out.stderr));
}
