//! `trustmeter tx monthly-report`, `tx deploy-policy` and `trustmeter query` end to end: a
//! 4-validator consortium from `trustmeter node init` runs as `trustmeter node run` processes on
//! loopback; an enterprise files a monthly report, the regulator deploys a policy version, and the
//! query commands print what the figures API serves (tables and `--json`), with API errors as exit
//! code 1.

use crate::support;

use crate::support::{Consortium, Processes, text};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

fn trustmeter(args: &[&str]) -> Output {
    support::trustmeter(args, &[])
}

fn ok(args: &[&str]) -> String {
    support::ok(args, &[])
}

fn tx_ok(c: &Consortium, cmd: &str, key: &Path, rest: &[&str]) -> u64 {
    let key = key.display().to_string();
    let mut args = vec!["tx", cmd, "--node", c.urls[0].as_str(), "--key", key.as_str()];
    args.extend_from_slice(rest);
    let stdout = ok(&args);
    stdout
        .trim()
        .strip_prefix("finalized at height ")
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("tx {cmd}: unexpected output {stdout:?}"))
}

#[test]
fn monthly_report_policy_and_queries_through_the_binary() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut procs = Processes::default();
    let mut c = Consortium::init(&dir.path().join("net"), "hunan-query-1", 4);
    for i in 0..4 {
        c.start(&mut procs, i);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(c.wait_finalizing(&mut procs, 0));
    let member = |label: &str| c.dir.join(format!("members/{label}.json"));
    let (enterprise, regulator) = (member("enterprise-0"), member("regulator"));
    let show: Value =
        serde_json::from_str(&ok(&["keys", "show", "--json", &enterprise.display().to_string()])).expect("keys show");
    let org = show["organisation"].as_str().expect("enterprise organisation").to_string();
    let node = c.urls[0].clone();

    // A monthly report with two consumption lines and a product (amounts exact, zero allowed).
    tx_ok(
        &c,
        "monthly-report",
        &enterprise,
        &[
            "--month",
            "202610",
            "--consumption",
            "electricity:kWh:12345.5",
            "--consumption",
            "natural_gas:Nm3:0",
            "--production",
            "steel: rebar:t:56",
        ],
    );
    let v: Value = serde_json::from_str(&ok(&[
        "query",
        "enterprise",
        "--node",
        &node,
        "--org",
        &org,
        "--month",
        "202610",
        "--json",
    ]))
    .expect("--json prints the node's JSON");
    assert_eq!(v["report_filed"], true, "{v}");
    assert_eq!(v["unit_product"][0]["product"], "steel: rebar", "{v}");
    assert_eq!(v["unit_product"][0]["output"], "56.000000", "{v}");
    let elec = v["kinds"].as_array().unwrap().iter().find(|k| k["energy"] == "electricity").cloned().unwrap();
    assert_eq!(elec["reported"], "12345.500000", "{v}");
    assert_eq!(elec["deviation_ok"], false, "no daily figures against a filed report: {v}");
    let table = ok(&["query", "enterprise", "--node", &node, "--org", &org, "--month", "202610"]);
    assert!(table.contains("comprehensive energy consumption") && table.contains("steel: rebar"), "{table}");

    // A policy version 2, effective a few blocks ahead; GET /v1/policy lists it as pending or in force.
    let text_v1 =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/policies/default-audit.toml"))
            .expect("the default policy document");
    let v2 = dir.path().join("policy-v2.toml");
    std::fs::write(&v2, text_v1.replacen("version = 1", "version = 2", 1)).unwrap();
    let status: Value = serde_json::from_str(&ok(&[
        "query",
        "ranking",
        "--node",
        &node,
        "--region",
        "430000",
        "--from",
        "2026-10-01",
        "--json",
    ]))
    .unwrap();
    let height = status["height"].as_u64().unwrap();
    tx_ok(
        &c,
        "deploy-policy",
        &regulator,
        &["--file", &v2.display().to_string(), "--effective-height", &(height + 1_000).to_string()],
    );
    let out = trustmeter(&[
        "tx",
        "deploy-policy",
        "--node",
        &node,
        "--key",
        &regulator.display().to_string(),
        "--file",
        &v2.display().to_string(),
        "--effective-height",
        "1",
    ]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("must be above the chain's current height"),
        "{}",
        text(&out.stderr)
    );

    // Queries: tables, an empty day, and an API error as exit code 1 with its message.
    let daily = ok(&["query", "daily", "--node", &node, "--org", &org, "--from", "2026-10-01", "--to", "2026-10-31"]);
    assert!(daily.contains("consumption") && daily.contains(&org), "{daily}");
    let quality =
        ok(&["query", "quality", "--node", &node, "--org", &org, "--from", "2026-10-01", "--to", "2026-10-31"]);
    assert!(quality.contains("completeness"), "{quality}");
    let ranking =
        ok(&["query", "ranking", "--node", &node, "--region", "430000", "--from", "2026-10-01", "--to", "2026-10-31"]);
    assert!(ranking.contains(&org), "the enterprise is in Hunan: {ranking}");
    let csv = ok(&["query", "daily", "--node", &node, "--org", &org, "--from", "2026-10-01", "--csv"]);
    assert!(csv.starts_with("org,day,energy,unit,consumption"), "{csv}");
    let out = trustmeter(&[
        "query",
        "series",
        "--node",
        &node,
        "--scope",
        "org",
        "--id",
        &org,
        "--energy",
        "electricity",
        "--period",
        "15m",
        "--from",
        "2026-10-01",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("finest period is day"), "{}", text(&out.stderr));
    eprintln!("monthly report, policy and queries: {:.1} s", started.elapsed().as_secs_f64());
}
