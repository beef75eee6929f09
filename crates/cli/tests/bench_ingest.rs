//! `trustmeter bench ingest`, run small with `--restore`: every reading recorded, the state store's
//! tables listed with the rows the set-up implies, and the state sync restore of the final state
//! checked against its root. No speed is asserted.

use crate::support::BIN;
use std::process::Command;

/// The rows of `table` in the table listing that follows `heading`.
fn rows(out: &str, heading: &str, table: &str) -> u64 {
    let section = out.split(heading).nth(1).unwrap_or_else(|| panic!("no {heading:?} in {out}"));
    let line = section
        .lines()
        .find(|l| l.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no {table} row after {heading:?}"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("rows of {line:?}"))
}

#[test]
fn a_small_ingest_lists_the_store_and_restores_the_final_state() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["bench", "ingest", "--meters", "300", "--intervals", "2", "--batch", "100", "--restore"])
        .env("TMPDIR", tmp.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The gateway's block, then one block onboarding the 300 meters (registration, calibration and
    // activation of each: 900 transactions, within a block's 1 024).
    assert!(stdout.contains("902 registry transactions in 2 blocks"), "{stdout}");
    // One registry version per meter: as many values as the registry has keys (the meters, the
    // gateway, and the genesis organisations, accounts and policy).
    let after_setup = "state store tables after set-up";
    let values = rows(&stdout, after_setup, "registry_values");
    assert!((301..=340).contains(&values), "{values} registry values for 300 meters and a gateway");
    assert_eq!(
        rows(&stdout, "state store tables at the end", "registry_values"),
        values,
        "readings add no registry version"
    );
    let restore = stdout.lines().find(|l| l.starts_with("state sync restore:")).expect("the restore's line");
    assert!(restore.contains("root checked"), "{restore}");
    // The window points (one per reading, 600) and the entries of both trees.
    let entries: u64 = restore.split_whitespace().nth(3).and_then(|n| n.parse().ok()).expect("entries restored");
    assert!(entries > 600 + values, "{restore}");
    // The benchmark's temporary directories are gone.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "left behind in TMPDIR");
}
