//! Pre-audit (发送前审核): before a batch goes to a destination, the gateway evaluates that
//! chain's audit policy on each reading, exactly as the chain will.
//!
//! - **The policy** is the one the chain has in force, proven complete against the chain's genesis
//!   (`GET /v1/policy/proof`, `trustmeter_client::VerifiedState::policies`), fetched when the sender
//!   starts and every [`POLICY_REFRESH`] after, parsed with [`trustmeter_policy::Policy::parse`].
//!   Versions deployed to take effect at a later height are fetched too: while there are any, a
//!   reading is rejected only if every one of them rejects it as well (the gateway does not know
//!   which version the block will apply), and the policy is fetched every [`POLICY_RETRY`]. If it
//!   cannot be fetched or parsed, readings are sent unchecked (the chain audits them anyway) and
//!   `policy_unavailable` is raised; it is retried every [`POLICY_RETRY`].
//! - **The facts**: the meter as that chain registered it, proven (`GET /v1/meters/{id}/proof`, cached for
//!   [`METER_CACHE_TTL`], at most [`MAX_METER_CACHE`] meters), the previous reading of the meter the
//!   gateway sent there and the chain did not reject ([`Store::previous_sent`](crate::store::Store::previous_sent)),
//!   and the block: "now" from the gateway clock, the chain's skew and late window from its
//!   genesis.
//! - **The outcome**: a reading the policy rejects is settled for that destination as rejected
//!   (`policy_rejected`, with the rule, its code and reason; see `gateway rejected`) and never
//!   sent. Flagged and accepted readings are sent. A reading whose meter the chain does not know,
//!   or whose record could not be fetched, is sent unchecked: the chain gives the reason.
//!
//! - **Freshness**: the policy and meter records are proven as of a finalized block no older than
//!   the newest the sender has verified (a height kept in the store across restarts). A reading
//!   is rejected only on proofs at least as new as that height when it is audited: when the
//!   policy or the meter record in hand is older (a receipt settled at a later block since they
//!   were fetched), both are proven again before the reading is rejected; if they cannot be, it
//!   is sent.
//!
//! Readings go out in id order in contiguous batches, so a batch is cut before the first reading
//! the policy rejects; rejected readings at the head of the queue are settled in one durable write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use trustmeter_api_client::{ChainPolicy, PolicyInForce};
use trustmeter_policy::{AuditInput, BlockFacts, MeterFacts, Policy, PreviousFacts, ReadingFacts, Verdict};
use trustmeter_types::{AccountingParams, ChainParams, DeviceId, Meter, Quantity, Reading, RejectCode, Rejection};

/// How often the policy in force is fetched again after a success.
pub const POLICY_REFRESH: Duration = Duration::from_secs(180);
/// How soon a failed policy fetch is retried.
pub const POLICY_RETRY: Duration = Duration::from_secs(30);
/// How long a meter record from a chain is used before it is fetched again.
pub const METER_CACHE_TTL: Duration = Duration::from_secs(300);
/// Most meter records cached per destination (beyond it the cache starts over).
pub const MAX_METER_CACHE: usize = 25_000;

/// A parsed policy with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedPolicy {
    /// The policy.
    pub policy: Policy,
    /// Its version on the chain.
    pub version: u32,
    /// Its name.
    pub name: String,
}

/// A destination's policy in force and its pending versions, parsed.
#[derive(Clone, Debug)]
pub struct Policies {
    /// The version in force.
    pub in_force: LoadedPolicy,
    /// Versions deployed to take effect at a later height.
    pub pending: Vec<LoadedPolicy>,
    /// Height of the finalized block the set was proven at.
    pub height: u64,
}

impl Policies {
    /// `name vN`, with the pending versions if any.
    pub fn label(&self) -> String {
        let mut s = format!("{} v{}", self.in_force.name, self.in_force.version);
        for p in &self.pending {
            s.push_str(&format!(", pending v{}", p.version));
        }
        s
    }
}

fn load(p: &PolicyInForce) -> Result<LoadedPolicy, String> {
    let policy = Policy::parse(&p.text).map_err(|e| {
        format!(
            "its audit policy version {} does not parse here ({e}); readings are sent unchecked and audited by the chain. Upgrade the gateway",
            p.version
        )
    })?;
    let name = p.name.clone().unwrap_or_else(|| policy.name().to_string());
    Ok(LoadedPolicy { policy, version: p.version, name })
}

/// A cached meter record (`None`: not registered), the height it was proven at, when fetched.
type CachedMeter = (Option<Meter>, u64, Instant);

/// What the gateway knows of one destination's policy and registry, for the pre-audit.
#[derive(Debug, Default)]
pub struct PreAudit {
    policy: Mutex<Option<Arc<Policies>>>,
    next_fetch: Mutex<Option<Instant>>,
    meters: Mutex<BTreeMap<DeviceId, CachedMeter>>,
    window: Mutex<(Option<i64>, Option<i64>)>,
}

/// The pre-audit's decision on one reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send it (accepted or flagged by the policy, or not checkable here).
    Send,
    /// The policy rejects it: settle it as rejected, do not send it.
    Reject(Rejection),
}

impl PreAudit {
    /// Whether the policy should be fetched now.
    pub fn fetch_due(&self) -> bool {
        self.next_fetch.lock().expect("pre-audit lock").is_none_or(|t| Instant::now() >= t)
    }

    /// Installs the result of a fetch: `Ok(Some((policy, height)))` the chain's policy proven at
    /// block `height`, `Ok(None)` a node without `GET /v1/policy`, `Err` a failure. Returns
    /// whether the versions changed, or the problem to raise as an alarm.
    pub fn install(&self, fetched: Result<Option<(ChainPolicy, u64)>, String>) -> Result<bool, String> {
        let loaded = match fetched {
            Ok(Some((c, height))) => load(&c.in_force).and_then(|in_force| {
                let pending = c.pending.iter().map(load).collect::<Result<Vec<_>, _>>()?;
                Ok(Policies { in_force, pending, height })
            }),
            Ok(None) => {
                Err("its nodes do not serve GET /v1/policy; readings are sent unchecked and audited by the chain"
                    .into())
            }
            Err(e) => Err(format!(
                "its audit policy could not be fetched ({e}); readings are sent unchecked and audited by the chain"
            )),
        };
        let mut current = self.policy.lock().expect("pre-audit lock");
        let (next, result) = match loaded {
            Ok(p) => {
                let versions = |p: &Policies| {
                    std::iter::once(p.in_force.version).chain(p.pending.iter().map(|v| v.version)).collect::<Vec<_>>()
                };
                let changed = current.as_ref().is_none_or(|old| versions(old) != versions(&p));
                let next = if p.pending.is_empty() { POLICY_REFRESH } else { POLICY_RETRY };
                *current = Some(Arc::new(p));
                (next, Ok(changed))
            }
            Err(e) => {
                // A policy that can no longer be confirmed is not applied: the chain decides.
                *current = None;
                (POLICY_RETRY, Err(e))
            }
        };
        *self.next_fetch.lock().expect("pre-audit lock") = Some(Instant::now() + next);
        result
    }

    /// The policy in force and pending versions, if known.
    pub fn policy(&self) -> Option<Arc<Policies>> {
        self.policy.lock().expect("pre-audit lock").clone()
    }

    /// Takes the chain's skew and late window from its genesis.
    pub fn observe_params(&self, genesis: &trustmeter_types::Genesis) {
        *self.window.lock().expect("pre-audit lock") =
            (Some(genesis.params.max_future_skew_ms), Some(genesis.params.accounting.late_window_ms));
    }

    /// Remembers a meter record fetched from the chain (`None`: not registered), proven at block
    /// `height`.
    pub fn remember_meter(&self, id: &DeviceId, meter: Option<Meter>, height: u64) {
        let mut m = self.meters.lock().expect("pre-audit lock");
        if m.len() >= MAX_METER_CACHE && !m.contains_key(id) {
            m.clear();
        }
        m.insert(id.clone(), (meter, height, Instant::now()));
    }

    /// A cached meter record that is still fresh, with the height it was proven at: `(None, _)`
    /// means "not registered".
    pub fn cached_meter(&self, id: &DeviceId) -> Option<(Option<Meter>, u64)> {
        let m = self.meters.lock().expect("pre-audit lock");
        m.get(id).filter(|(_, _, at)| at.elapsed() < METER_CACHE_TTL).map(|(rec, h, _)| (rec.clone(), *h))
    }

    /// Drops a cached meter record (it is proven again when next needed).
    pub fn forget_meter(&self, id: &DeviceId) {
        self.meters.lock().expect("pre-audit lock").remove(id);
    }

    /// The block facts at gateway time `now_ms`.
    pub fn block(&self, now_ms: i64) -> BlockFacts {
        let (skew, late) = *self.window.lock().expect("pre-audit lock");
        BlockFacts {
            timestamp_ms: now_ms,
            max_future_skew_ms: skew.unwrap_or_else(|| ChainParams::default().max_future_skew_ms),
            late_window_ms: late.unwrap_or_else(|| AccountingParams::default().late_window_ms),
        }
    }
}

/// Evaluates the policies on one reading with the chain's meter record and the previous reading
/// sent: rejected when the version in force rejects it and so does every pending version.
pub fn decide(
    policies: &Policies,
    destination: &str,
    reading: &Reading,
    meter: &Meter,
    previous: Option<(i64, Quantity)>,
    block: BlockFacts,
) -> Decision {
    let input = AuditInput {
        reading: ReadingFacts::from_reading(reading),
        meter: MeterFacts::from_meter(meter),
        previous: previous.map(|(ts, v)| PreviousFacts { timestamp_ms: ts, value: v.as_f64() }),
        block,
    };
    let policy = &policies.in_force;
    match policy.policy.evaluate(&input) {
        Verdict::Accepted | Verdict::Flagged(_) => Decision::Send,
        Verdict::Rejected(_) if policies.pending.iter().any(|p| p.policy.evaluate(&input).is_recorded()) => {
            Decision::Send
        }
        Verdict::Rejected(f) => Decision::Reject(Rejection::new(
            RejectCode::PolicyRejected,
            format!(
                "rule {} ({}): {}; refused by the gateway before sending, under {destination}'s audit policy {} version {} (not sent)",
                f.rule, f.code, f.reason, policy.name, policy.version
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustmeter_types::{
        AccuracyClass, DeviceStatus, EnergyKind, LocationPath, ReadingOrigin, RegisterKind, UnifiedSocialCreditCode,
        Unit,
    };

    const CAP: &str = r#"
name = "tight-cap"
version = 2
description = "Values above a cap are refused."
[params]
cap = 1000.0
[[rules]]
id = "value_cap"
code = "value_above_cap"
action = "reject"
check = "reading.value <= params.cap"
reason = "value {reading.value} is above the cap {params.cap}"
description = "A cap."
[[rules]]
id = "manual"
code = "manual_entry"
action = "flag"
check = "reading.origin != 'manual'"
reason = "entered by hand"
description = "Manual values are flagged."
"#;

    fn meter() -> Meter {
        Meter {
            id: DeviceId::new("M-1").unwrap(),
            owner: UnifiedSocialCreditCode::new("91350100M000100Y43").unwrap(),
            gateway: DeviceId::new("GW-1").unwrap(),
            slot: 0,
            name: "m".into(),
            energy: EnergyKind::Electricity,
            unit: Unit::KilowattHour,
            register: RegisterKind::Cumulative,
            accuracy: AccuracyClass(50),
            location: LocationPath(vec!["site".into()]),
            register_max: Quantity::from_micros(1_000_000 * Quantity::SCALE),
            rated_per_hour: Quantity::default(),
            tariff: None,
            master: None,
            public_key: None,
            retired_keys: vec![],
            calibration: None,
            status: DeviceStatus::Active,
        }
    }

    fn doc(text: &str, version: u32) -> PolicyInForce {
        PolicyInForce { version, text: text.into(), effective_height: 5, name: None, status: None }
    }

    /// `in_force` with pending versions 3, 4, … of the given texts.
    fn chain(in_force: &str, pending: &[&str]) -> ChainPolicy {
        ChainPolicy {
            in_force: doc(in_force, 2),
            pending: pending.iter().enumerate().map(|(i, t)| doc(t, 3 + i as u32)).collect(),
        }
    }

    #[test]
    fn a_reading_is_rejected_only_if_every_pending_version_rejects_it_too() {
        let pre = PreAudit::default();
        let looser = CAP.replace("version = 2", "version = 3").replace("cap = 1000.0", "cap = 5000.0");
        let stricter = CAP.replace("version = 2", "version = 3").replace("cap = 1000.0", "cap = 10.0");
        let block = pre.block(1_795_190_460_000);
        let r = reading(1_001, ReadingOrigin::Online);
        pre.install(Ok(Some((chain(CAP, &[&looser]), 7)))).unwrap();
        assert_eq!(pre.policy().unwrap().label(), "tight-cap v2, pending v3");
        assert_eq!(decide(&pre.policy().unwrap(), "prov", &r, &meter(), None, block), Decision::Send);
        pre.install(Ok(Some((chain(CAP, &[&stricter]), 7)))).unwrap();
        assert!(matches!(decide(&pre.policy().unwrap(), "prov", &r, &meter(), None, block), Decision::Reject(_)));
    }

    fn reading(value: i64, origin: ReadingOrigin) -> Reading {
        Reading {
            meter: DeviceId::new("M-1").unwrap(),
            seq: 1,
            timestamp_ms: 1_795_190_400_000,
            value: Quantity::from_micros(value * Quantity::SCALE),
            unit: Unit::KilowattHour,
            origin,
            clock_suspect: false,
        }
    }

    #[test]
    fn a_fetched_policy_rejects_flags_and_accepts_like_the_chain() {
        let pre = PreAudit::default();
        assert!(pre.fetch_due() && pre.policy().is_none());
        assert_eq!(pre.install(Ok(Some((chain(CAP, &[]), 7)))), Ok(true));
        assert_eq!(pre.install(Ok(Some((chain(CAP, &[]), 7)))), Ok(false));
        assert!(!pre.fetch_due());
        let p = pre.policy().unwrap();
        assert_eq!(p.label(), "tight-cap v2");
        let block = pre.block(1_795_190_460_000);
        assert_eq!(block.max_future_skew_ms, ChainParams::default().max_future_skew_ms);
        let m = meter();
        assert_eq!(decide(&p, "prov", &reading(999, ReadingOrigin::Online), &m, None, block), Decision::Send);
        assert_eq!(decide(&p, "prov", &reading(5, ReadingOrigin::Manual), &m, None, block), Decision::Send);
        match decide(&p, "prov", &reading(1_001, ReadingOrigin::Online), &m, Some((0, Quantity::default())), block) {
            Decision::Reject(r) => {
                assert_eq!(r.code, RejectCode::PolicyRejected);
                assert!(
                    r.message.starts_with("rule value_cap (value_above_cap): value 1001 is above the cap 1000")
                        && r.message.contains("prov's audit policy tight-cap version 2 (not sent)"),
                    "{}",
                    r.message
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unavailable_policy_is_not_applied_and_is_retried() {
        let pre = PreAudit::default();
        pre.install(Ok(Some((chain(CAP, &[]), 7)))).unwrap();
        let e = pre.install(Err("no node of 1 answered".into())).unwrap_err();
        assert!(e.contains("could not be fetched (no node of 1 answered); readings are sent unchecked"), "{e}");
        assert!(pre.policy().is_none());
        assert!(pre.install(Ok(None)).unwrap_err().contains("do not serve GET /v1/policy"));
        let bad = ChainPolicy { in_force: doc("not toml [", 3), pending: vec![] };
        assert!(pre.install(Ok(Some((bad, 7)))).unwrap_err().contains("version 3 does not parse here"));
        assert!(pre.policy().is_none());
        // A pending version that does not parse makes the whole policy unknown too.
        assert!(pre.install(Ok(Some((chain(CAP, &["not toml ["]), 7)))).unwrap_err().contains("does not parse here"));
        assert!(pre.policy().is_none());
    }

    #[test]
    fn meter_records_are_cached_with_a_bound() {
        let pre = PreAudit::default();
        let id = DeviceId::new("M-1").unwrap();
        assert_eq!(pre.cached_meter(&id), None);
        pre.remember_meter(&id, None, 3);
        assert_eq!(pre.cached_meter(&id), Some((None, 3)));
        pre.remember_meter(&id, Some(meter()), 4);
        assert_eq!(pre.cached_meter(&id), Some((Some(meter()), 4)));
        pre.forget_meter(&id);
        assert_eq!(pre.cached_meter(&id), None);
    }
}
