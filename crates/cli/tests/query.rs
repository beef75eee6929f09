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

/// A 4-validator consortium from `node init`, running, with its first enterprise's and the
/// regulator's key files, the enterprise's credit code and the first node's URL.
struct Running {
    c: Consortium,
    _procs: Processes,
    enterprise: std::path::PathBuf,
    regulator: std::path::PathBuf,
    org: String,
    node: String,
}

fn running(dir: &Path, chain: &str) -> Running {
    let mut procs = Processes::default();
    let mut c = Consortium::init(&dir.join("net"), chain, 4);
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
    Running { c, _procs: procs, enterprise, regulator, org, node }
}

#[test]
fn monthly_report_policy_and_queries_through_the_binary() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let Running { c, _procs, enterprise, regulator, org, node } = running(dir.path(), "hunan-query-1");

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

    // A shift calendar from a file, a shift's output, and the shift query (table, JSON, CSV).
    let yesterday = (chrono::Utc::now() + chrono::Duration::hours(8) - chrono::Duration::days(1)).date_naive();
    let day = yesterday.format("%Y-%m-%d").to_string();
    let calendar = dir.path().join("calendar.toml");
    std::fs::write(
        &calendar,
        format!(
            r#"effective_from = "{day}"
teams = ["甲", "乙", "丙", "丁"]
[[shift]]
name = "早班"
start = "06:00"
end = "14:00"
[[shift]]
name = "中班"
start = "14:00"
end = "22:00"
[[shift]]
name = "夜班"
start = "22:00"
end = "06:00"
[rotation]
start = "{day}"
days = [["甲", "乙", "丙"], ["丁", "甲", "乙"]]
"#
        ),
    )
    .expect("calendar file");
    tx_ok(&c, "shift-calendar", &enterprise, &["--file", &calendar.display().to_string()]);
    let output = ["--day", &day, "--shift", "早班", "--product", "整车", "--quantity", "50", "--unit", "辆"];
    tx_ok(&c, "shift-output", &enterprise, &output);
    let correction = ["--day", &day, "--shift", "早班", "--product", "整车", "--quantity", "48", "--unit", "辆"];
    tx_ok(&c, "shift-output", &enterprise, &correction);
    let key = enterprise.display().to_string();
    let shifts = |extra: &[&str]| {
        let mut args = vec!["query", "shifts", "--node", &node, "--key", &key, "--org", &org, "--from", &day];
        args.extend_from_slice(extra);
        ok(&args)
    };
    let table = shifts(&[]);
    assert!(table.contains("早班") && table.contains("48.000000 辆") && table.contains("by shift"), "{table}");
    let v: Value = serde_json::from_str(&shifts(&["--json"])).expect("query shifts --json");
    let morning = &v["instances"][0];
    assert_eq!((morning["shift"].as_str(), morning["team"].as_str()), (Some("早班"), Some("甲")), "{v}");
    assert_eq!(
        (morning["products"][0]["quantity"].as_str(), morning["products"][0]["revision"].as_u64()),
        (Some("48.000000"), Some(2))
    );
    let csv = shifts(&["--csv"]);
    assert!(csv.starts_with("day,shift,team,start,end,complete") && csv.contains(",整车,辆,48.000000,"), "{csv}");
    // Another day's shift is refused with its reason (no calendar before its first day).
    let before = (yesterday - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let key = enterprise.display().to_string();
    let out = trustmeter(&[
        "tx",
        "shift-output",
        "--node",
        &node,
        "--key",
        &key,
        "--day",
        &before,
        "--shift",
        "早班",
        "--product",
        "整车",
        "--quantity",
        "1",
        "--unit",
        "辆",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("invalid_shift_data"), "{}", text(&out.stderr));
    eprintln!("monthly report, policy, shifts and queries: {:.1} s", started.elapsed().as_secs_f64());
}

/// The compliance commands through the binary: documented entries of December 2025 with their
/// evidence files, the 2025 annual report filed (`tx carbon-report`: fetched, hashed, kept on
/// every node, signed, regenerated by every validator), read back as filed in HTML and CSV,
/// `query compliance`, a reference quota and a final allocation from an intensity benchmark ×
/// the year's output, and a what-if scenario from a TOML file.
#[test]
fn carbon_report_quota_and_what_if_through_the_binary() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Running { c, _procs, enterprise, regulator, org, node } = running(dir.path(), "hunan-compliance-1");
    let all_nodes: Vec<String> = c.urls.iter().flat_map(|u| ["--node".to_string(), u.clone()]).collect();

    // December 2025: 3 t of diesel by invoice and 100 gearboxes of output.
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let diesel = file("diesel.json", r#"{"kind": "fuel", "fuel": "diesel", "amount": "3"}"#);
    let output = file("output.json", r#"{"kind": "output", "product": "gearbox", "unit": "unit", "amount": "100"}"#);
    let invoice = file("invoice-4711.txt", "Invoice 4711: 3.000 t diesel");
    let ledger = file("output-ledger.txt", "December 2025: 100 gearboxes");
    let key = enterprise.display().to_string();
    for (n, data, evidence) in [("1", &diesel, format!("invoice:{invoice}")), ("2", &output, format!("other:{ledger}"))]
    {
        let mut args = vec!["tx", "carbon-entry", "--key", key.as_str(), "--month", "202512", "--number", n];
        args.extend(["--data", data.as_str(), "--evidence", evidence.as_str()]);
        args.extend(all_nodes.iter().map(String::as_str));
        assert!(ok(&args).starts_with("finalized at height"));
    }

    // The annual report, filed; then read back as filed.
    let compliance = || -> Value {
        let args = ["query", "compliance", "--node", &node, "--org", &org, "--year", "2025", "--json", "--key", &key];
        serde_json::from_str(&ok(&args)).expect("compliance JSON")
    };
    let mut args = vec!["tx", "carbon-report", "--key", key.as_str(), "--period", "2025"];
    args.extend(all_nodes.iter().map(String::as_str));
    assert!(ok(&args).starts_with("finalized at height"));
    let v = compliance();
    let filed = &v["reports"][0];
    // 3 t × 43.33 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 = 9.435367 t (GB/T 32150-2015 defaults).
    assert_eq!(
        (filed["kind"].as_str(), filed["standard_t"].as_str()),
        (Some("annual_report"), Some("9.435367")),
        "{v}"
    );
    assert_eq!((filed["revision"].as_u64(), filed["stale"].as_bool()), (Some(1), Some(false)), "{v}");
    let html = dir.path().join("report.html");
    ok(&[
        "query",
        "carbon-report",
        "--node",
        &node,
        "--org",
        &org,
        "--period",
        "2025",
        "--filed",
        "--format",
        "html",
        "--out",
        &html.display().to_string(),
        "--key",
        &key,
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Annual emission report") && page.contains("9.435367") && page.contains("invoice-4711.txt"),
        "{page}"
    );
    assert!(
        page.contains(filed["hash"].as_str().unwrap()) && page.contains("Filed: revision 1"),
        "the hash a reader checks"
    );
    let csv = ok(&[
        "query",
        "carbon-report",
        "--node",
        &node,
        "--org",
        &org,
        "--period",
        "2025",
        "--format",
        "csv",
        "--key",
        &key,
    ]);
    assert!(csv.contains("# Emissions by source and gas") && csv.contains("fuel diesel"), "{csv}");

    // Quotas: the enterprise's reference, then a final allocation of 0.09 t/unit × 100 units.
    let quota = |k: &Path, rest: &[&str]| {
        let mut args = vec!["--org", org.as_str(), "--year", "2025"];
        args.extend_from_slice(rest);
        tx_ok(&c, "quota", k, &args)
    };
    quota(&enterprise, &["--op", "reference", "--amount", "12", "--basis", "budget"]);
    quota(&regulator, &["--op", "allocate", "--kind", "final", "--benchmark", "0.09"]);
    let v = compliance();
    let q = &v["quota"];
    assert_eq!((q["quota_t"].as_str(), q["reference"].as_bool()), (Some("9.000000"), Some(false)), "{v}");
    // The year is over: the forecast is its total, 0.435367 t over the 9 t allocated.
    assert_eq!((q["forecast_t"].as_str(), q["alarm"].as_bool()), (Some("9.435367"), Some(true)), "{v}");
    assert_eq!(q["forecast_surplus_t"].as_str(), Some("-0.435367"), "{v}");

    // What-if: all the diesel switched to natural gas, energy for energy at the defaults:
    // 3 t × 43.33 GJ/t = 129.99 GJ ÷ 389.31 GJ/10⁴Nm³ = 0.333898 × 10⁴ Nm³ (6 places, half even);
    // × 389.31 × 0.01530 tC/GJ × 0.99 × 44/12 = 7.2195051… → 7.219505 t.
    let scenario = file("plan.toml", "[[fuel_switch]]\nfrom = \"diesel\"\nto = \"natural_gas\"\nshare = \"1\"\n");
    let w: Value = serde_json::from_str(&ok(&[
        "query",
        "what-if",
        "--node",
        &node,
        "--org",
        &org,
        "--year",
        "2025",
        "--scenario",
        &scenario,
        "--json",
        "--key",
        &key,
    ]))
    .unwrap();
    assert_eq!(w["baseline"]["standard_t"].as_str(), Some("9.435367"), "{w}");
    assert_eq!(w["scenario"]["standard_t"].as_str(), Some("7.219505"), "{w}");
    assert_eq!(w["change_t"].as_str(), Some("-2.215862"), "{w}");
    // 9 t allocated − 7.219505 t: within quota under the scenario.
    assert_eq!(w["scenario_surplus_t"].as_str(), Some("1.780495"), "{w}");
}
