//! The verifier stays light (issue 11): gateways, clients and the browser embed it, so it must
//! not pull in p2p, consensus, storage, the state machine, CEL or an HTTP stack. This reads the
//! crate's real dependency graph (`cargo tree`, normal dependencies, default features) and fails
//! when any of those appear, or when a workspace crate other than the allowed ones does.

use std::collections::BTreeSet;
use std::process::Command;

/// Crates of this workspace the verifier may depend on: data types, hashing and signatures, the
/// canonical schema, energy units and dates, the carbon report's format.
const ALLOWED_OURS: &[&str] = &[
    "trustmeter-client",
    "trustmeter-types",
    "trustmeter-crypto",
    "trustmeter-schema",
    "trustmeter-energy",
    "trustmeter-carbon",
];

/// Crates that must never be in the verifier's graph.
const FORBIDDEN: &[&str] = &[
    "commonware-p2p",
    "commonware-consensus",
    "commonware-storage",
    "commonware-runtime",
    "commonware-resolver",
    "commonware-broadcast",
    "cel",
    "redb",
    "jmt",
    "axum",
    "hyper",
    "reqwest",
    "utoipa",
    "rumqttc",
    "tokio-modbus",
];

#[test]
fn the_verifier_depends_on_no_network_consensus_storage_or_state_machine() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", "trustmeter-client", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let names: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(names.contains("trustmeter-client") && names.contains("commonware-cryptography"), "{names:?}");
    let ours: Vec<&String> =
        names.iter().filter(|n| n.starts_with("trustmeter-") && !ALLOWED_OURS.contains(&n.as_str())).collect();
    assert!(ours.is_empty(), "the verifier now depends on {ours:?}: keep it light (ARCHITECTURE.md, crate `client`)");
    let forbidden: Vec<&&str> = FORBIDDEN.iter().filter(|f| names.contains(**f)).collect();
    assert!(forbidden.is_empty(), "the verifier now depends on {forbidden:?}: keep it light");
}
