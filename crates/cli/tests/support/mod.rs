//! Helpers for tests that drive the real `trustmeter` binary: child processes that are killed
//! when the test ends (also on panic), free loopback ports, a local consortium started with
//! `trustmeter node init` / `node run`, onboarding through the nodes' HTTP API, and reading a
//! meter's recorded readings back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use trustmeter_api_client::{NodeClient, Submitted, TxStatus};
use trustmeter_crypto::{SigningKey, sign_tx};
use trustmeter_keystore::KeyFile;
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, ChainId, DeviceId, EnergyKind, LocationPath, Quantity, RegisterKind, Transaction, TxBody, TxOutcome,
    TxPayload, UnifiedSocialCreditCode, Unit,
};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_trustmeter");
/// Longest wait for anything a chain or a gateway should do.
pub const PATIENCE: Duration = Duration::from_secs(90);
/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Runs the binary to completion.
pub fn trustmeter(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap_or_else(|e| panic!("run trustmeter {args:?}: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs the binary and requires success; returns stdout.
pub fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = trustmeter(args, env);
    assert!(
        out.status.success(),
        "trustmeter {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Wall-clock time, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// Logs to the test writer, filtered by `RUST_LOG` (default: `warn`, and `info` for `target`).
pub fn init_logs(target: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,{target}=info")));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// The last `lines` lines of a log file (for failure messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Child processes by name. Every process still running when this is dropped (at the end of
/// the test or while a panic unwinds) is killed with SIGKILL and reaped, so a failed test leaves
/// nothing running.
#[derive(Default)]
pub struct Processes {
    children: BTreeMap<String, (Child, PathBuf)>,
}

impl Processes {
    /// Starts `BIN args…` as `name`, appending its stdout and stderr to `log`, with extra
    /// environment `env`. Panics if a process of that name is still registered.
    pub fn spawn(&mut self, name: &str, args: &[String], log: &Path, env: &[(&str, &str)]) -> u32 {
        assert!(!self.children.contains_key(name), "process {name} is already running");
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open log {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        let mut cmd = Command::new(BIN);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {BIN} {args:?}: {e}"));
        let pid = child.id();
        self.children.insert(name.to_string(), (child, log.to_path_buf()));
        pid
    }

    /// The process id of `name`; panics if it is not registered.
    pub fn pid(&self, name: &str) -> u32 {
        self.children.get(name).unwrap_or_else(|| panic!("process {name} is not running")).0.id()
    }

    /// Whether `name` is registered and still running.
    pub fn running(&mut self, name: &str) -> bool {
        match self.children.get_mut(name) {
            Some((c, _)) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Panics, with the tail of its log, if `name` exited on its own.
    pub fn assert_running(&mut self, name: &str) {
        let Some((c, log)) = self.children.get_mut(name) else { panic!("process {name} was never started") };
        if let Ok(Some(status)) = c.try_wait() {
            panic!("process {name} exited on its own ({status}); its log ends with:\n{}", tail(log, 40));
        }
    }

    /// Kills `name` with SIGKILL (a crash: no cleanup runs) and reaps it.
    pub fn kill(&mut self, name: &str) -> ExitStatus {
        let (mut c, _) = self.children.remove(name).unwrap_or_else(|| panic!("process {name} is not running"));
        // `Child::kill` sends SIGKILL on Unix; it fails only if the child was already reaped.
        let _ = c.kill();
        c.wait().unwrap_or_else(|e| panic!("reap {name}: {e}"))
    }

    /// Asks `name` to stop with SIGTERM and waits up to `patience` for it to exit; panics (after
    /// killing it) if it does not.
    pub fn terminate(&mut self, name: &str, patience: Duration) -> ExitStatus {
        let (mut c, log) = self.children.remove(name).unwrap_or_else(|| panic!("process {name} is not running"));
        let pid = libc::pid_t::try_from(c.id()).expect("pid fits pid_t");
        // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own unreaped child, so
        // the number cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "SIGTERM to {name} failed: {}", std::io::Error::last_os_error());
        let start = Instant::now();
        loop {
            if let Some(status) = c.try_wait().unwrap_or_else(|e| panic!("wait for {name}: {e}")) {
                return status;
            }
            if start.elapsed() > patience {
                let _ = c.kill();
                let _ = c.wait();
                panic!("{name} did not stop within {patience:?} of SIGTERM; its log ends with:\n{}", tail(&log, 40));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (name, (mut c, _)) in std::mem::take(&mut self.children) {
            if std::thread::panicking() && matches!(c.try_wait(), Ok(None)) {
                tracing::warn!(process = %name, "killing a process left running");
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free loopback port below the ephemeral range (see [`trustmeter_node::ports`]).
pub fn free_port() -> u16 {
    trustmeter_node::ports::loopback_addrs(1)[0].port()
}

/// The first of `n` consecutive loopback ports that are all free right now, below the kernel's
/// ephemeral range and never overlapping another port this test process was handed (see
/// [`trustmeter_node::ports::loopback_block`]): tests run in parallel threads.
pub fn free_port_block(n: u16) -> u16 {
    trustmeter_node::ports::loopback_block(n)
}

/// A meter's readings as a chain or the gateway store holds them: (seq, timestamp ms, value
/// micro-units).
pub type Row = (u64, i64, i64);

/// A local consortium run as real `trustmeter node run` processes.
pub struct Consortium {
    /// Where `node init` wrote the files.
    pub dir: PathBuf,
    /// Chain id.
    pub chain_id: ChainId,
    /// Number of validators.
    pub validators: usize,
    /// API URLs, one per validator.
    pub urls: Vec<String>,
    /// How many times a node process was started after a kill.
    pub restarts: usize,
    /// How many node processes were killed.
    pub kills: usize,
    http: reqwest::Client,
}

impl Consortium {
    /// Runs `trustmeter node init` into `dir` with free ports.
    pub fn init(dir: &Path, chain_id: &str, validators: usize) -> Self {
        let n = u16::try_from(validators).expect("few validators");
        let base = free_port_block(2 * n);
        let (p2p, api) = (base, base + n);
        let args: Vec<String> = [
            "node",
            "init",
            "--dir",
            &dir.display().to_string(),
            "--chain-id",
            chain_id,
            "--validators",
            &validators.to_string(),
            "--p2p-port",
            &p2p.to_string(),
            "--api-port",
            &api.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = Command::new(BIN).args(&args).output().expect("run trustmeter node init");
        assert!(
            out.status.success(),
            "trustmeter node init failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let urls = (0..n).map(|i| format!("http://127.0.0.1:{}", api + i)).collect();
        Consortium {
            dir: dir.to_path_buf(),
            chain_id: ChainId::new(chain_id.to_string()).expect("valid chain id"),
            validators,
            urls,
            restarts: 0,
            kills: 0,
            http: reqwest::Client::builder()
                .pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT)
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
        }
    }

    /// The process name of validator `i`.
    pub fn name(i: usize) -> String {
        format!("validator-{i}")
    }

    /// The log file of validator `i` (appended to across restarts).
    pub fn log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("validator-{i}.log"))
    }

    /// Starts validator `i` on its own data (a restart replays it from disk).
    pub fn start(&mut self, procs: &mut Processes, i: usize) {
        let config = self.dir.join(format!("validator-{i}/node.toml"));
        let args = vec!["node".to_string(), "run".into(), "--config".into(), config.display().to_string()];
        procs.spawn(&Self::name(i), &args, &self.log(i), &[]);
    }

    /// Starts validator `i` again after it was killed.
    pub fn restart(&mut self, procs: &mut Processes, i: usize) {
        self.start(procs, i);
        self.restarts += 1;
    }

    /// Kills validator `i` with SIGKILL.
    pub fn kill(&mut self, procs: &mut Processes, i: usize) {
        procs.kill(&Self::name(i));
        self.kills += 1;
    }

    /// Validator `i`'s finalized height, if its API answers (one retry after a failed request: a
    /// test's machine may be loaded enough for one request to fail without the node being down).
    pub async fn height(&self, i: usize) -> Option<u64> {
        for attempt in 0..2 {
            let answer = self.http.get(format!("{}/v1/status", self.urls[i])).send().await;
            match answer {
                Ok(r) => return r.json::<serde_json::Value>().await.ok()?["finalized_height"].as_u64(),
                Err(e) if attempt == 0 => {
                    tracing::debug!(validator = i, error = %e, "status request failed; once more");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Waits until every validator's API answers with a finalized height above `above`.
    pub async fn wait_finalizing(&self, procs: &mut Processes, above: u64) {
        let start = Instant::now();
        for i in 0..self.validators {
            loop {
                procs.assert_running(&Self::name(i));
                if self.height(i).await.is_some_and(|h| h > above) {
                    break;
                }
                assert!(
                    start.elapsed() < PATIENCE,
                    "validator {i} did not finalize past height {above} within {PATIENCE:?}; its log ends with:\n{}",
                    tail(&self.log(i), 40)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// The recorded readings of `meter` on validator `i`, in sequence order.
    pub async fn readings(&self, i: usize, meter: &DeviceId) -> Result<Vec<Row>, String> {
        // The node serves a meter's readings a page at a time: follow the cursors.
        let mut rows = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{}/v1/meters/{meter}/readings?limit=10000", self.urls[i]);
            if let Some(a) = &after {
                url.push_str(&format!("&after={a}"));
            }
            let resp = self.http.get(&url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
            let status = resp.status();
            let v: serde_json::Value = resp.json().await.map_err(|e| format!("GET {url}: {e}"))?;
            if !status.is_success() {
                return Err(format!("GET {url}: {status} {v}"));
            }
            let items = v["items"].as_array().ok_or_else(|| format!("GET {url}: no items: {v}"))?;
            for r in items {
                match (r["seq"].as_u64(), r["timestamp_ms"].as_i64(), r["value_micros"].as_i64()) {
                    (Some(s), Some(t), Some(m)) => rows.push((s, t, m)),
                    _ => return Err(format!("GET {url}: malformed reading {r}")),
                }
            }
            match v["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => return Ok(rows),
            }
        }
    }

    /// A member's key, as `node init` wrote it under `members/`.
    pub fn member_key(&self, label: &str) -> (SigningKey, Option<UnifiedSocialCreditCode>) {
        let path = self.dir.join(format!("members/{label}.json"));
        let (key, info) =
            KeyFile::load(&path, None).unwrap_or_else(|e| panic!("load member key {}: {e}", path.display()));
        (key, info.meta.organisation)
    }

    /// Signs `payloads` from `key` with consecutive nonces, submits them in order through
    /// validator 0 (one node, so they are admitted in nonce order) and waits until every one is
    /// finalized and accepted.
    pub async fn send_all(&self, key: &SigningKey, payloads: Vec<TxPayload>) {
        let client = NodeClient::new(vec![self.urls[0].clone()], Duration::from_secs(10)).expect("node client");
        let last = client.account(&key.public_key()).await.expect("read the sender's nonce").last_nonce;
        let txs: Vec<(String, Transaction)> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| {
                let what = format!("{} #{i}", payload.kind());
                let body = TxBody {
                    chain_id: self.chain_id.clone(),
                    sender: key.public_key(),
                    nonce: last + 1 + i as u64,
                    payload,
                };
                (what, sign_tx(key, body))
            })
            .collect();
        let mut hashes = Vec::new();
        for (what, tx) in &txs {
            match client.submit(tx).await.expect("submit to the chain") {
                Submitted::Pending(h) => hashes.push(h),
                Submitted::Rejected(r) => panic!("{what} refused at admission: {r}"),
            }
        }
        // Follow each by hash: `submit_and_wait` would submit again, and a transaction finalized
        // meanwhile is then refused as a stale nonce.
        let start = Instant::now();
        for ((what, tx), hash) in txs.iter().zip(&hashes) {
            loop {
                match client.status_of(hash).await.expect("reach the chain") {
                    TxStatus::Finalized { receipt, .. } => {
                        assert_eq!(receipt.outcome, TxOutcome::Accepted, "{what} should be accepted");
                        break;
                    }
                    TxStatus::Pending => {}
                    TxStatus::Unknown => {
                        if let Submitted::Rejected(r) = client.submit(tx).await.expect("submit to the chain") {
                            panic!("{what} refused when resubmitted: {r}");
                        }
                    }
                    TxStatus::Rejected(r) => panic!("{what} rejected: {r}"),
                }
                assert!(start.elapsed() < PATIENCE, "{what} not finalized within {PATIENCE:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Every validator re-checks gossiped transactions against its own finalized state: the
        // next batch (which may depend on this one) waits until all of them have applied it.
        let target = self.height(0).await.expect("validator 0 answers");
        for i in 0..self.validators {
            while self.height(i).await.is_none_or(|h| h < target) {
                assert!(start.elapsed() < PATIENCE, "validator {i} did not reach height {target}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Registers gateway `gw` (key `gw_key`) and `meters` (kWh, cumulative, read by `gw`),
    /// records calibrations valid over `calibration` and activates all of them, with the member
    /// keys `node init` wrote.
    pub async fn onboard(
        &self,
        gw: &DeviceId,
        gw_key: &trustmeter_types::PublicKey,
        meters: &[DeviceId],
        calibration: (i64, i64),
    ) {
        let (enterprise, _) = self.member_key("enterprise-0");
        let (regulator, _) = self.member_key("regulator");
        let (metrology, metrology_org) = self.member_key("metrology");
        let metrology_org = metrology_org.expect("the metrology key file names its organisation");
        self.send_all(&enterprise, vec![TxPayload::RegisterGateway { id: gw.clone(), public_key: gw_key.clone() }])
            .await;
        self.send_all(
            &enterprise,
            meters.iter().map(|m| TxPayload::RegisterMeter { meter: meter_spec(m, gw) }).collect(),
        )
        .await;
        let calibrations = meters
            .iter()
            .map(|m| TxPayload::RecordCalibration {
                meter: m.clone(),
                calibration: trustmeter_types::Calibration {
                    certificate_no: format!("JD-{m}"),
                    issuer: metrology_org.clone(),
                    valid_from_ms: calibration.0,
                    valid_until_ms: calibration.1,
                },
            })
            .collect();
        let activations =
            std::iter::once(gw).chain(meters).map(|d| TxPayload::ActivateDevice { device: d.clone() }).collect();
        tokio::join!(self.send_all(&metrology, calibrations), self.send_all(&regulator, activations));
    }
}

/// A cumulative kWh meter read by `gw`, signing through the gateway.
pub fn meter_spec(id: &DeviceId, gw: &DeviceId) -> MeterSpec {
    MeterSpec {
        id: id.clone(),
        gateway: gw.clone(),
        name: format!("meter {id}"),
        energy: EnergyKind::Electricity,
        unit: Unit::KilowattHour,
        register: RegisterKind::Cumulative,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["site".into(), "workshop".into()]),
        register_max: Quantity::from_micros(99_999_999 * Quantity::SCALE),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: None,
    }
}

/// Says how `chain` differs from `stored` (both in sequence order), or `None` if they are equal:
/// missing, extra and repeated sequence numbers, and the first differing row.
pub fn mismatch(stored: &[Row], chain: &[Row]) -> Option<String> {
    if stored == chain {
        return None;
    }
    let seqs = |rows: &[Row]| rows.iter().map(|r| r.0).collect::<std::collections::BTreeSet<u64>>();
    let (s, c) = (seqs(stored), seqs(chain));
    let missing: Vec<u64> = s.difference(&c).copied().take(20).collect();
    let extra: Vec<u64> = c.difference(&s).copied().take(20).collect();
    let mut repeated: Vec<u64> = chain.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| w[0].0).collect();
    repeated.truncate(20);
    let first = stored.iter().zip(chain).position(|(a, b)| a != b);
    Some(format!(
        "store has {} readings, chain {}; missing on chain (first 20): {missing:?}; not in the store: {extra:?}; repeated on chain: {repeated:?}; first differing row: {}",
        stored.len(),
        chain.len(),
        match first {
            Some(i) => format!("#{i}: store {:?} vs chain {:?}", stored[i], chain[i]),
            None => "none (one list is a prefix of the other)".into(),
        }
    ))
}

/// A test's directory: kept (and its path printed) if the test panics or the environment
/// variable named by `keep_var` is set; deleted otherwise.
pub struct Scratch {
    dir: Option<tempfile::TempDir>,
    keep_var: &'static str,
}

impl Scratch {
    /// A fresh temporary directory.
    pub fn new(keep_var: &'static str) -> Self {
        Scratch { dir: Some(tempfile::tempdir().expect("temp dir")), keep_var }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("scratch directory").path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let keep = std::env::var_os(self.keep_var).is_some();
        if (std::thread::panicking() || keep)
            && let Some(dir) = self.dir.take()
        {
            eprintln!("logs and data kept in {}", dir.keep().display());
        }
    }
}

/// The destination's name in the gateway configs the tests write.
pub const DESTINATION: &str = "hunan";

/// What the gateway config is made of.
pub struct GatewaySetup {
    /// The file.
    pub path: PathBuf,
    /// The gateway's device id.
    pub id: DeviceId,
    /// Its data directory (store, key).
    pub data_dir: PathBuf,
    /// Its local API port.
    pub port: u16,
    /// The chain's node URLs.
    pub nodes: Vec<String>,
    /// The meters it reads.
    pub meters: Vec<DeviceId>,
    /// Simulated time runs this many times faster than real time (each meter is read once per
    /// simulated second).
    pub speed: u32,
}

impl GatewaySetup {
    /// The gateway `<org>-GW-01` of the consortium's first enterprise and its meters
    /// `<org>-EM-01..`, configured in `dir` (`gateway.toml`, data in `gateway/`) to send to every
    /// node of `chain`.
    pub fn new(chain: &Consortium, dir: &Path, meters: usize, speed: u32) -> Self {
        let (_, org) = chain.member_key("enterprise-0");
        let org = org.expect("the enterprise key file names its organisation");
        GatewaySetup {
            path: dir.join("gateway.toml"),
            id: DeviceId::new(format!("{org}-GW-01")).expect("gateway id"),
            data_dir: dir.join("gateway"),
            port: free_port(),
            nodes: chain.urls.clone(),
            meters: (1..=meters).map(|i| DeviceId::new(format!("{org}-EM-{i:02}")).expect("meter id")).collect(),
            speed,
        }
    }

    /// Writes the config with simulated time starting at `simulation_start_ms`; without
    /// `points` the gateway reads nothing and only drains its store.
    pub fn write(&self, simulation_start_ms: i64, points: bool) {
        let nodes = self.nodes.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ");
        let mut text = format!(
            r#"[gateway]
id = "{id}"
data_dir = "{dir}"
listen = "127.0.0.1:{port}"
simulation_speed = {speed}.0
simulation_start_ms = {simulation_start_ms}

[[destination]]
name = "{DESTINATION}"
nodes = [{nodes}]
min_backoff_ms = 50
max_backoff_ms = 500
request_timeout_ms = 2000
"#,
            id = self.id,
            dir = self.data_dir.display(),
            port = self.port,
            speed = self.speed,
        );
        if points {
            for (i, m) in self.meters.iter().enumerate() {
                text.push_str(&format!(
                    r#"
[[point]]
meter = "{m}"
driver = "simulator"
seed = {i}
rated_per_hour = {rate}
start = "{start}"
unit = "kWh"
poll_interval_s = 1
"#,
                    rate = 100 + 50 * i,
                    start = 1_000 * (i + 1),
                ));
            }
        }
        std::fs::write(&self.path, text).unwrap_or_else(|e| panic!("write {}: {e}", self.path.display()));
    }

    /// The arguments of `trustmeter gateway <cmd> --config <path>`.
    pub fn args(&self, cmd: &str) -> Vec<String> {
        vec!["gateway".into(), cmd.into(), "--config".into(), self.path.display().to_string()]
    }
}

/// The running gateway's status, if its local API answers.
pub async fn gateway_status(http: &reqwest::Client, port: u16) -> Option<trustmeter_gateway::status::StatusReport> {
    http.get(format!("http://127.0.0.1:{port}/status")).send().await.ok()?.json().await.ok()
}

/// Sleeps until `at` (at once if it has passed).
pub async fn sleep_until(at: Instant) {
    tokio::time::sleep(at.saturating_duration_since(Instant::now())).await;
}
