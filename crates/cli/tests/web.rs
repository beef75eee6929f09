//! The web dashboards end to end in a real browser: the real `trustmeter demo` (one chain, a small
//! plant, access control on) serves them, and `web/e2e/dashboards.mjs` drives Debian's Chromium
//! through Playwright (playwright-core, no browser download) against it — pages, numbers against
//! the API, drill-down to a meter, roles, in-browser verification of genuine and tampered proofs,
//! the big screen following new blocks, the enterprise entering its shift output and calendar
//! (signed in the browser, finalized, refused by the chain when it should be). Screenshots go to
//! `target/web-e2e/`.
//!
//! Needs Node.js and Chromium (`bash .ci/run` installs Debian's `chromium`; elsewhere set
//! `CHROMIUM=/path/to/chromium`); installs `web/node_modules` with `npm ci` when missing.

use crate::support::{BIN, free_port, free_port_block};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest the demo may take to catch up with its history.
const CATCH_UP: Duration = Duration::from_secs(240);

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web").canonicalize().expect("web/ beside crates/")
}

/// `web/node_modules` with playwright-core, installed from the lock file when missing.
fn ensure_node_modules(web: &Path) {
    if web.join("node_modules/playwright-core/package.json").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(web)
        .output()
        .expect("npm (Node.js) is needed for the browser tests: apt-get install nodejs npm");
    assert!(out.status.success(), "npm ci in web/ failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dashboards_in_chromium() {
    let web = web_dir();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: the browser tests need Debian's chromium (bash .ci/run installs it) or CHROMIUM=<path>"
    );
    ensure_node_modules(&web);

    let scratch = tempfile::tempdir().expect("scratch dir");
    let data = scratch.path().join("data");
    let (api, p2p, gw) = (free_port_block(4), free_port_block(4), free_port());
    let mut demo = Command::new(BIN)
        .args(["demo", "--chains", "1", "--meters", "24", "--history-days", "1", "--speed", "32"])
        .args(["--api-port", &api.to_string(), "--p2p-port", &p2p.to_string(), "--gateway-port", &gw.to_string()])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start trustmeter demo");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let out = demo.stdout.take().expect("piped stdout");
    let _demo = Kill(demo);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Caught up: the plant's history is on chain and readings now come in real time (none in a
    // 2-second status line).
    let start = Instant::now();
    let mut seen = vec![];
    let mut idle_lines = 0;
    loop {
        let left = CATCH_UP
            .checked_sub(start.elapsed())
            .unwrap_or_else(|| panic!("the demo did not catch up in {CATCH_UP:?}:\n{}", seen.join("\n")));
        let line =
            lines.recv_timeout(left).unwrap_or_else(|_| panic!("the demo stopped or stalled:\n{}", seen.join("\n")));
        if line.contains("plant time") {
            idle_lines = if idle(&line) { idle_lines + 1 } else { 0 };
        }
        seen.push(line);
        if idle_lines >= 2 {
            break;
        }
    }
    std::thread::spawn(move || while lines.recv().is_ok() {});

    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-e2e");
    let run = Command::new("node")
        .arg(web.join("e2e/dashboards.mjs"))
        .env("BASE_URL", format!("http://127.0.0.1:{api}"))
        .env("KEYS_DIR", data.join("hunan-1-members"))
        .env("OUT_DIR", &out_dir)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node web/e2e/dashboards.mjs");
    let report = format!("{}\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    println!("{report}");
    assert!(run.status.success(), "the dashboards' browser tests failed:\n{report}");
}

/// Whether a demo status line says the provincial chain has recorded readings but none in the
/// line's two seconds (`hunan-1 h   76   13927 rec (    0/s) …`).
fn idle(line: &str) -> bool {
    let Some((before, after)) = line.split_once(" rec (") else { return false };
    let recorded = before.split_whitespace().last().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    recorded > 0 && after.trim_start().starts_with("0/s)")
}
