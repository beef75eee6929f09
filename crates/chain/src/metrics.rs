//! Prometheus metrics of the application: admission, block execution, signature verification
//! and finalization. [`App`](crate::App) owns one [`ChainMetrics`]; the node's `GET /metrics`
//! renders it after Commonware's own registry (see the node crate's `metrics` module).
//!
//! The metrics live in a registry of their own rather than in the runtime's (`Metrics::register`):
//! the runtime prefixes every name with the registering context's label (`node_validator_…` when
//! several nodes share a process, as in the demo and the tests), and these names must be exactly
//! the ones below wherever the node runs, so that dashboards and the cluster benchmark can read
//! them. One registry per [`App`] also keeps two nodes of one process apart.
//!
//! | name | type | what |
//! |---|---|---|
//! | `trustmeter_admission_seconds_total` | counter | wall seconds spent in `App::admit` (signature checks, dry run) |
//! | `trustmeter_admission_transactions_total` | counter | transactions through `App::admit` (admitted or rejected) |
//! | `trustmeter_admission_readings_total` | counter | readings in those transactions |
//! | `trustmeter_admission_rejected_total{code}` | counter | transactions refused at admission, by rejection code |
//! | `trustmeter_execution_seconds_total{phase}` | counter | wall seconds executing blocks: `propose` (building), `verify` (re-executing a proposal or an unknown ancestor), `finalize` (a finalized block not executed before, e.g. on replay), `commit` (writing a finalized state to the store), `hooks` (the index, written before the commit) |
//! | `trustmeter_signature_verify_seconds_total` | counter | wall seconds of batch signature verification outside execution (verify, ancestors, finalize) |
//! | `trustmeter_blocks_finalized_total` | counter | finalized blocks applied by this process (replayed ones included) |
//! | `trustmeter_readings_finalized_total` | counter | readings recorded by those blocks |
//! | `trustmeter_finalized_height` | gauge | height of the latest applied finalized block |
//! | `trustmeter_block_certificates_total{how}` | counter | finalized blocks applied, by how their finalization certificate was had: `local` (marshal held it), `fetched` (asked of the other validators first: a block that arrived through parent links), `missing` (none: final only through a descendant) |
//! | `trustmeter_gossip_held_total{outcome}` | counter | gossiped transactions admitted by their origin at a height this node had not finalized yet, held until it had: `held`, then `released` (checked) or `dropped` (hold full, or too far ahead) |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use trustmeter_types::{BlockHeader, Rejection};

/// A counter of seconds (fractional).
pub type SecondsCounter = Counter<f64, AtomicU64>;

/// Where a block was executed.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Phase {
    /// Building a proposal.
    Propose,
    /// Re-executing another validator's proposal (or an ancestor this node had not executed).
    Verify,
    /// Executing a finalized block this node had not executed before (replay, catch-up).
    Finalize,
    /// Writing a finalized block's state to the store (tree nodes, values, head; one fsync).
    Commit,
    /// Durable consumers of a finalized block (the node's index), before the state commits.
    Hooks,
}

impl Phase {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Propose => "propose",
            Phase::Verify => "verify",
            Phase::Finalize => "finalize",
            Phase::Commit => "commit",
            Phase::Hooks => "hooks",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// What became of a gossiped transaction held for this node's finalized state to catch up.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum HeldOutcome {
    /// Put on hold.
    Held,
    /// Checked after this node finalized the height its origin had admitted it at.
    Released,
    /// Not held: the hold was full, or the origin claimed a height too far ahead.
    Dropped,
}

impl HeldOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            HeldOutcome::Held => "held",
            HeldOutcome::Released => "released",
            HeldOutcome::Dropped => "dropped",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HowLabel {
    how: &'static str,
}

/// How the finalizer had a finalized block's certificate.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum CertificateSource {
    /// Marshal held it.
    Local,
    /// Asked of the other validators before the block was applied.
    Fetched,
    /// None to be had: the block is final only through a descendant.
    Missing,
}

impl CertificateSource {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateSource::Local => "local",
            CertificateSource::Fetched => "fetched",
            CertificateSource::Missing => "missing",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

/// The application's metrics. Cheap to clone; clones share the counters.
#[derive(Clone)]
pub struct ChainMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    admission_seconds: SecondsCounter,
    admission_transactions: Counter,
    admission_readings: Counter,
    admission_rejected: Family<CodeLabel, Counter>,
    execution_seconds: Family<PhaseLabel, SecondsCounter>,
    signature_verify_seconds: SecondsCounter,
    blocks_finalized: Counter,
    readings_finalized: Counter,
    finalized_height: Gauge,
    gossip_held: Family<OutcomeLabel, Counter>,
    block_certificates: Family<HowLabel, Counter>,
}

impl Default for ChainMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ChainMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainMetrics").finish_non_exhaustive()
    }
}

impl ChainMetrics {
    /// A fresh set of metrics in its own registry.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let admission_seconds = SecondsCounter::default();
        let admission_transactions = Counter::default();
        let admission_readings = Counter::default();
        let admission_rejected = Family::<CodeLabel, Counter>::default();
        let execution_seconds = Family::<PhaseLabel, SecondsCounter>::default();
        let signature_verify_seconds = SecondsCounter::default();
        let blocks_finalized = Counter::default();
        let readings_finalized = Counter::default();
        let finalized_height = Gauge::default();
        let gossip_held = Family::<OutcomeLabel, Counter>::default();
        let block_certificates = Family::<HowLabel, Counter>::default();
        // Counter names get `_total` appended when encoded.
        registry.register(
            "trustmeter_admission_seconds",
            "Wall seconds spent in App::admit (signature checks and dry run of submitted and gossiped transactions)",
            admission_seconds.clone(),
        );
        registry.register(
            "trustmeter_admission_transactions",
            "Transactions through App::admit, admitted or rejected",
            admission_transactions.clone(),
        );
        registry.register(
            "trustmeter_admission_readings",
            "Readings in the transactions through App::admit",
            admission_readings.clone(),
        );
        registry.register(
            "trustmeter_admission_rejected",
            "Transactions refused at admission, by rejection code",
            admission_rejected.clone(),
        );
        registry.register(
            "trustmeter_execution_seconds",
            "Wall seconds executing blocks, by phase (propose, verify, finalize, commit, hooks)",
            execution_seconds.clone(),
        );
        registry.register(
            "trustmeter_signature_verify_seconds",
            "Wall seconds of batch signature verification outside block execution",
            signature_verify_seconds.clone(),
        );
        registry.register(
            "trustmeter_blocks_finalized",
            "Finalized blocks applied by this process (replayed ones included)",
            blocks_finalized.clone(),
        );
        registry.register(
            "trustmeter_readings_finalized",
            "Readings recorded by the finalized blocks applied by this process",
            readings_finalized.clone(),
        );
        registry.register(
            "trustmeter_finalized_height",
            "Height of the latest finalized block applied to the state",
            finalized_height.clone(),
        );
        registry.register(
            "trustmeter_gossip_held",
            "Gossiped transactions held until this node finalized the height their origin admitted them at, by outcome (held, released, dropped)",
            gossip_held.clone(),
        );
        registry.register(
            "trustmeter_block_certificates",
            "Finalized blocks applied, by how their finalization certificate was had (local, fetched from the other validators, missing: final only through a descendant)",
            block_certificates.clone(),
        );
        for how in [CertificateSource::Local, CertificateSource::Fetched, CertificateSource::Missing] {
            let _ = block_certificates.get_or_create(&HowLabel { how: how.as_str() });
        }
        for outcome in [HeldOutcome::Held, HeldOutcome::Released, HeldOutcome::Dropped] {
            let _ = gossip_held.get_or_create(&OutcomeLabel { outcome: outcome.as_str() });
        }
        for phase in [Phase::Propose, Phase::Verify, Phase::Finalize, Phase::Commit, Phase::Hooks] {
            // Present from the start (at 0), so a scraper sees every phase.
            let _ = execution_seconds.get_or_create(&PhaseLabel { phase: phase.as_str() });
        }
        Self {
            inner: Arc::new(Inner {
                registry,
                admission_seconds,
                admission_transactions,
                admission_readings,
                admission_rejected,
                execution_seconds,
                signature_verify_seconds,
                blocks_finalized,
                readings_finalized,
                finalized_height,
                gossip_held,
                block_certificates,
            }),
        }
    }

    /// Records one call of `App::admit`: its duration, its readings and its rejection, if any.
    pub fn admitted(&self, elapsed: Duration, readings: usize, rejection: Option<&Rejection>) {
        let m = &self.inner;
        m.admission_seconds.inc_by(elapsed.as_secs_f64());
        m.admission_transactions.inc();
        m.admission_readings.inc_by(readings as u64);
        if let Some(r) = rejection {
            m.admission_rejected.get_or_create(&CodeLabel { code: r.code.as_str() }).inc();
        }
    }

    /// Runs `f` (a block execution), adding its wall time to `phase`.
    pub fn execution<T>(&self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.inner
            .execution_seconds
            .get_or_create(&PhaseLabel { phase: phase.as_str() })
            .inc_by(started.elapsed().as_secs_f64());
        out
    }

    /// Runs `f` (a batch signature verification), adding its wall time.
    pub fn signature_verify<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.inner.signature_verify_seconds.inc_by(started.elapsed().as_secs_f64());
        out
    }

    /// Counts `n` gossiped transactions with `outcome` (see [`HeldOutcome`]).
    pub fn gossip_held(&self, outcome: HeldOutcome, n: usize) {
        self.inner.gossip_held.get_or_create(&OutcomeLabel { outcome: outcome.as_str() }).inc_by(n as u64);
    }

    /// How many gossiped transactions had `outcome` so far.
    pub fn gossip_held_total(&self, outcome: HeldOutcome) -> u64 {
        self.inner.gossip_held.get_or_create(&OutcomeLabel { outcome: outcome.as_str() }).get()
    }

    /// Counts a finalized block whose certificate came from `how`.
    pub fn block_certificate(&self, how: CertificateSource) {
        self.inner.block_certificates.get_or_create(&HowLabel { how: how.as_str() }).inc();
    }

    /// How many finalized blocks had their certificate from `how` so far.
    pub fn block_certificates_total(&self, how: CertificateSource) -> u64 {
        self.inner.block_certificates.get_or_create(&HowLabel { how: how.as_str() }).get()
    }

    /// Records an applied finalized block (its header).
    pub fn finalized(&self, header: &BlockHeader) {
        self.finalized_block(header.height, header.readings_accepted);
    }

    /// Records an applied finalized block at `height` that recorded `readings`.
    pub fn finalized_block(&self, height: u64, readings: u32) {
        let m = &self.inner;
        m.blocks_finalized.inc();
        m.readings_finalized.inc_by(u64::from(readings));
        m.finalized_height.set(i64::try_from(height).unwrap_or(i64::MAX));
    }

    /// The height of the latest applied finalized block (0 before the first).
    pub fn finalized_height(&self) -> u64 {
        u64::try_from(self.inner.finalized_height.get()).unwrap_or(0)
    }

    /// The metrics in the Prometheus text format, without the closing `# EOF` line (so that
    /// several registries can be concatenated; see [`exposition`]).
    pub fn encode(&self) -> String {
        encode_without_eof(&self.inner.registry)
    }
}

/// `registry` in the Prometheus text format without the closing `# EOF` line.
pub fn encode_without_eof(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode_registry(&mut out, registry);
    out
}

/// One exposition from several encoded registries: each part's own `# EOF` line (if any) is
/// dropped and a single one closes the whole.
pub fn exposition<S: AsRef<str>>(parts: &[S]) -> String {
    let mut out = String::new();
    for part in parts {
        let text = part.as_ref();
        let text = text.strip_suffix("# EOF\n").unwrap_or(text);
        out.push_str(text);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustmeter_types::RejectCode;

    /// The value of the sample named exactly `name` (with its labels) in `text`.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
    }

    #[test]
    fn names_and_values_are_exact() {
        let m = ChainMetrics::new();
        m.admitted(Duration::from_millis(1_500), 7, None);
        m.admitted(Duration::from_millis(500), 3, Some(&Rejection::new(RejectCode::StaleNonce, "x")));
        m.execution(Phase::Verify, || std::thread::sleep(Duration::from_millis(2)));
        m.finalized_block(42, 1_000);
        m.finalized_block(43, 24);
        m.block_certificate(CertificateSource::Local);
        m.block_certificate(CertificateSource::Fetched);
        m.block_certificate(CertificateSource::Fetched);
        let text = m.encode();
        assert!(!text.contains("# EOF"), "{text}");
        assert_eq!(sample(&text, "trustmeter_admission_seconds_total"), Some(2.0), "{text}");
        assert_eq!(sample(&text, "trustmeter_admission_transactions_total"), Some(2.0));
        assert_eq!(sample(&text, "trustmeter_admission_readings_total"), Some(10.0));
        assert_eq!(sample(&text, "trustmeter_admission_rejected_total{code=\"stale_nonce\"}"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "trustmeter_blocks_finalized_total"), Some(2.0));
        assert_eq!(sample(&text, "trustmeter_readings_finalized_total"), Some(1_024.0));
        assert_eq!(sample(&text, "trustmeter_finalized_height"), Some(43.0));
        assert!(sample(&text, "trustmeter_execution_seconds_total{phase=\"verify\"}").is_some_and(|s| s >= 0.002));
        assert_eq!(sample(&text, "trustmeter_execution_seconds_total{phase=\"propose\"}"), Some(0.0), "{text}");
        assert_eq!(sample(&text, "trustmeter_signature_verify_seconds_total"), Some(0.0));
        assert!(text.contains("# TYPE trustmeter_finalized_height gauge"), "{text}");
        let certificates = |how: &str| sample(&text, &format!("trustmeter_block_certificates_total{{how=\"{how}\"}}"));
        assert_eq!(
            (certificates("local"), certificates("fetched"), certificates("missing")),
            (Some(1.0), Some(2.0), Some(0.0))
        );
    }

    #[test]
    fn expositions_concatenate_with_one_eof() {
        let joined = exposition(&["a 1\n# EOF\n", "b 2\n", ""]);
        assert_eq!(joined, "a 1\nb 2\n# EOF\n");
        assert_eq!(exposition::<&str>(&[]), "# EOF\n");
    }
}
