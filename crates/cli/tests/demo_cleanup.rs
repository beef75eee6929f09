//! `trustmeter demo` removes its temporary data directory however it ends — at `--duration`, on
//! Ctrl-C while it is still starting, on SIGTERM while it runs, on an error — and keeps a directory
//! given with `--data-dir`. Each test runs the real binary with `TMPDIR` pointing into its own
//! scratch directory, reads the data directory the demo prints on its first line, and looks at the
//! file system afterwards.

use crate::support::{BIN, free_port, free_port_block};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest a small demo may take from start to exit.
const PATIENCE: Duration = Duration::from_secs(120);

/// A running demo whose stdout lines arrive on a channel; killed if still running when dropped.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    /// Starts `trustmeter demo` (one chain of 4 validators, 6 meters, free ports) with `extra`
    /// options and `TMPDIR=tmp`.
    fn start(tmp: &Path, extra: &[&str]) -> Self {
        let (api, p2p, gw) = (free_port_block(4), free_port_block(4), free_port());
        let mut args: Vec<String> = [
            "demo",
            "--chains",
            "1",
            "--meters",
            "6",
            "--history-days",
            "0",
            "--api-port",
            &api.to_string(),
            "--p2p-port",
            &p2p.to_string(),
            "--gateway-port",
            &gw.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(BIN)
            .args(&args)
            .env("TMPDIR", tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start trustmeter demo");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo { child, lines, seen: Vec::new() }
    }

    /// Waits for a line containing `needle` and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    panic!("no line with {needle:?} within {PATIENCE:?}; output so far:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// Sends `signal` to the demo.
    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own unreaped child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits for the demo to exit; returns whether it succeeded and all of its output.
    fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for the demo") {
                break s;
            }
            assert!(Instant::now() < deadline, "the demo did not exit within {PATIENCE:?}:\n{}", self.seen.join("\n"));
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader thread ends with the pipe; collect what it still holds.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status.success(), self.seen.join("\n"))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The data directory named on the demo's first line (`… data in <dir> (…)`).
fn data_dir(first_line: &str) -> PathBuf {
    let after = first_line.split("data in ").nth(1).unwrap_or_else(|| panic!("no data directory in {first_line:?}"));
    PathBuf::from(after.rsplit_once(" (").map(|(d, _)| d).unwrap_or(after))
}

/// The temporary data directory the demo announced, checked to lie inside `tmp`.
fn announced(demo: &mut Demo, tmp: &Path) -> PathBuf {
    let dir = data_dir(&demo.wait_for("data in "));
    assert!(dir.starts_with(tmp), "the demo should use TMPDIR ({}), not {}", tmp.display(), dir.display());
    dir
}

#[test]
fn the_temporary_data_directory_is_removed_when_the_duration_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(tmp.path(), &["--duration", "2"]);
    let dir = announced(&mut demo, tmp.path());
    demo.wait_for("gateway running");
    assert!(dir.join("consensus").is_dir(), "the demo keeps its consensus storage in {}", dir.display());
    let (ok, out) = demo.finish();
    assert!(ok, "the demo failed:\n{out}");
    assert!(out.contains("--duration reached"), "{out}");
    assert!(!dir.exists(), "{} is still there after the demo ended:\n{out}", dir.display());
    assert!(out.contains("removed the demo's data directory"), "{out}");
}

#[test]
fn a_data_directory_given_with_data_dir_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let chosen = tmp.path().join("kept");
    let mut demo = Demo::start(tmp.path(), &["--duration", "2", "--data-dir", chosen.to_str().unwrap()]);
    assert_eq!(data_dir(&demo.wait_for("data in ")), chosen);
    let (ok, out) = demo.finish();
    assert!(ok, "the demo failed:\n{out}");
    assert!(chosen.join("hunan-1-genesis.json").is_file(), "the genesis file should be kept:\n{out}");
    assert!(chosen.join("consensus").is_dir(), "the consensus storage should be kept:\n{out}");
    assert!(!out.contains("removed the demo's data directory"), "{out}");
}

#[test]
fn ctrl_c_while_starting_and_sigterm_while_running_remove_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Ctrl-C once the chain runs, while the plant is being onboarded.
    let mut demo = Demo::start(tmp.path(), &[]);
    let dir = announced(&mut demo, tmp.path());
    demo.wait_for("chain hunan-1: 4 validators");
    assert!(dir.is_dir());
    demo.signal(libc::SIGINT);
    let (ok, out) = demo.finish();
    assert!(ok, "Ctrl-C should stop the demo in order:\n{out}");
    assert!(out.contains("Ctrl-C"), "{out}");
    assert!(!dir.exists(), "{} is still there after Ctrl-C:\n{out}", dir.display());

    // SIGTERM while it reports.
    let mut demo = Demo::start(tmp.path(), &[]);
    let dir = announced(&mut demo, tmp.path());
    demo.wait_for("gateway running");
    demo.signal(libc::SIGTERM);
    let (ok, out) = demo.finish();
    assert!(ok, "SIGTERM should stop the demo in order:\n{out}");
    assert!(out.contains("SIGTERM: stopping"), "{out}");
    assert!(!dir.exists(), "{} is still there after SIGTERM:\n{out}", dir.display());
}

/// Runs a short demo whose first validator's API port (`held_port == "api"`) or p2p port
/// (`"p2p"`) another socket holds, and checks that it failed, said why (`reason`), did not panic,
/// and removed its data directory inside `TMPDIR`.
fn demo_with_a_taken_port(held_port: &str, reason: impl Fn(u16) -> String) {
    let tmp = tempfile::tempdir().unwrap();
    let (taken, other, gw) = (free_port_block(4), free_port_block(4), free_port());
    let _held = std::net::TcpListener::bind(("127.0.0.1", taken)).expect("hold the port");
    let (api, p2p) = if held_port == "api" { (taken, other) } else { (other, taken) };
    let out = Command::new(BIN)
        .args(["demo", "--chains", "1", "--meters", "6", "--duration", "2"])
        .args(["--api-port", &api.to_string(), "--p2p-port", &p2p.to_string(), "--gateway-port", &gw.to_string()])
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .output()
        .expect("run trustmeter demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the demo should fail with its {held_port} port taken:\n{stdout}\n{stderr}");
    assert!(stderr.contains(&reason(taken)), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let dir = data_dir(stdout.lines().next().expect("a first line"));
    assert!(dir.starts_with(tmp.path()), "{}", dir.display());
    assert!(!dir.exists(), "{} is still there after the demo failed:\n{stdout}\n{stderr}", dir.display());
}

#[test]
fn the_temporary_data_directory_is_removed_when_the_demo_fails() {
    // Starting the first validator fails after its storage was created.
    demo_with_a_taken_port("api", |_| "binding the API".into());
}

#[test]
fn a_taken_p2p_port_is_a_clear_error_not_a_panic() {
    // Commonware's listener would panic on it; the node checks the port first.
    demo_with_a_taken_port("p2p", |port| format!("binding p2p on 127.0.0.1:{port}"));
}
