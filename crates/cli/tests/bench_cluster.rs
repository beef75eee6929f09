//! The harness of `trustmeter bench cluster`, run small: 4 validators, 40 meters behind 2
//! gateways, two short steps at a low rate. Checks the report's shape (one block per step, the
//! final line parses) and that every reading the load generator had admitted was finalized and
//! recorded — counted by the load generator from its own submissions and, independently, by the
//! validators' process from the headers of validator 0's finalized blocks. No speed is asserted.

use crate::support::BIN;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The number after `key` in `text` (digits, and a decimal point).
fn number_after(text: &str, key: &str) -> f64 {
    let rest = text.split(key).nth(1).unwrap_or_else(|| panic!("no {key:?} in {text:?}"));
    let digits: String = rest.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after {key:?} in {text:?}"))
}

#[test]
fn a_small_cluster_run_reports_every_reading_finalized_and_a_parsable_final_line() {
    let tmp = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(["bench", "cluster", "--validators", "4", "--meters", "40", "--gateways", "2", "--batch", "20"])
        .args([
            "--start-rate",
            "100",
            "--factor",
            "2",
            "--step-seconds",
            "4",
            "--max-steps",
            "2",
            "--max-duration",
            "90",
        ])
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trustmeter bench cluster");
    // Read its output on threads; kill it if it hangs, rather than hanging the test run.
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out_reader = read(Box::new(child.stdout.take().expect("piped stdout")));
    let err_reader = read(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bench cluster") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bench cluster did not finish within 240 s:\n{}", out_reader.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    assert!(status.success(), "bench cluster failed ({status}):\n{stdout}\n{stderr}");
    eprintln!("bench cluster ran for {:.1} s:\n{stdout}", start.elapsed().as_secs_f64());
    let lines: Vec<&str> = stdout.lines().collect();

    // The steps, at the offered rates asked for: a second one only after the first kept up (a
    // loaded machine may not keep up even with this; no speed is asserted).
    let steps: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("step ")).collect();
    assert!(!steps.is_empty(), "{stdout}");
    assert_eq!(number_after(steps[0], "offer"), 100.0);
    let first_kept_up = stdout.split("step 2:").next().unwrap_or_default().contains("| kept up");
    if first_kept_up {
        assert_eq!(steps.len(), 2, "{stdout}");
        assert_eq!(number_after(steps[1], "offer"), 200.0);
    } else {
        assert_eq!(steps.len(), 1, "a step that did not keep up is the last:\n{stdout}");
    }
    let reports = lines.iter().filter(|l| l.contains("| kept up") || l.contains("| did NOT keep up")).count();
    assert_eq!(reports, steps.len(), "one verdict per step:\n{stdout}");
    // The alarm passes' cost, from the nodes' metrics, where a step's window held a pass (whether
    // one did depends on the machine's load, so only its form is checked).
    for l in lines.iter().filter(|l| l.trim_start().starts_with("alarm passes:")) {
        assert!(number_after(l, "alarm passes:") > 0.0 && number_after(l, "per validator,") > 0.0, "{l}");
    }

    // Every admitted reading was finalized and recorded, once.
    let totals = lines.iter().find(|l| l.starts_with("readings: submitted")).expect("a totals line");
    let submitted = number_after(totals, "submitted");
    assert!(submitted > 0.0, "{totals}");
    assert_eq!(number_after(totals, "finalized"), submitted, "{totals}");
    assert_eq!(number_after(totals, "recorded"), submitted, "{totals}");
    assert_eq!(number_after(totals, "duplicate"), 0.0, "{totals}");
    assert_eq!(number_after(totals, "rejected"), 0.0, "{totals}");
    assert_eq!(number_after(totals, "not finalized"), 0.0, "{totals}");
    // The validators' process counted the same readings in validator 0's blocks.
    let chain = lines.iter().find(|l| l.starts_with("chain: ")).expect("a chain line");
    assert_eq!(number_after(chain, "recording"), submitted, "{chain} vs {totals}");
    assert!(chain.contains("all 4 validators hold state root"), "{chain}");

    // The last line: `cluster: <R> readings/s finalized, p99 finality <F> ms, <X> of the verification bound`.
    let last = *lines.last().expect("output");
    let rest = last.strip_prefix("cluster: ").unwrap_or_else(|| panic!("last line {last:?}"));
    let (rate, rest) = rest.split_once(" readings/s finalized, p99 finality ").expect("rate part");
    let (finality, rest) = rest.split_once(" ms, ").expect("finality part");
    let ratio = rest.strip_suffix(" of the verification bound").expect("ratio part");
    let rate: u64 = rate.parse().expect("R is an integer");
    let finality: u64 = finality.parse().expect("F is an integer");
    let ratio: f64 = ratio.parse().expect("X is a number");
    assert!(rate > 0 && finality > 0 && ratio > 0.0, "{last}");

    // The temporary data directory is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
}
