//! What the gateway knows about itself right now: points, destinations, alarms, clock. Shared
//! (behind a mutex) between the collector, the senders and the local API, and serialized as the
//! answer of `GET /status` and `trustmeter gateway status`.

use crate::alarms::{Alarm, AlarmBoard};
use crate::time::{ClockGuard, ClockState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Live state shared by the gateway's tasks.
#[derive(Debug)]
pub struct Shared {
    /// Active alarms.
    pub alarms: AlarmBoard,
    /// One entry per configured point, in config order.
    pub points: Vec<PointStatus>,
    /// One entry per destination.
    pub destinations: BTreeMap<String, DestinationStatus>,
    /// Clock checks.
    pub clock: ClockGuard,
}

/// A point's live state.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PointStatus {
    /// Meter id.
    pub meter: String,
    /// Driver name.
    pub driver: String,
    /// Unit symbol.
    pub unit: String,
    /// Poll interval (s); 0 for pushed points.
    pub poll_interval_s: u64,
    /// Last value (decimal text).
    pub last_value: Option<String>,
    /// When it was collected (Unix ms).
    pub last_collected_ms: Option<i64>,
    /// Values received.
    pub samples: u64,
    /// Failed reads.
    pub errors: u64,
    /// The last read error, if the last read failed.
    pub last_error: Option<String>,
}

/// A destination's live state.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DestinationStatus {
    /// Name.
    pub name: String,
    /// The chain id the nodes report (once reached).
    pub chain_id: Option<String>,
    /// Node URLs.
    pub nodes: Vec<String>,
    /// Readings not yet settled (finalized or rejected) on this chain.
    pub backlog: u64,
    /// Timestamp of the oldest unsettled reading (Unix ms).
    pub oldest_unsettled_ms: Option<i64>,
    /// Readings recorded or acknowledged by this chain.
    pub acknowledged: u64,
    /// Readings this chain rejected (kept with reasons).
    pub rejected: u64,
    /// Height of the last finalized block that settled a batch.
    pub last_height: u64,
    /// Readings in the transaction in flight.
    pub in_flight: u64,
    /// The last error talking to the chain, if the last attempt failed.
    pub last_error: Option<String>,
    /// Gateway time of the last settled batch.
    pub last_settled_ms: Option<i64>,
    /// The chain's audit policy the gateway checks readings against before sending
    /// (`name vN`); none while it is unknown (then readings are sent unchecked).
    #[serde(default)]
    pub audit_policy: Option<String>,
    /// Readings this chain's policy rejected at the gateway (never sent; part of `rejected`).
    #[serde(default)]
    pub rejected_before_sending: u64,
}

/// The answer of `GET /status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReport {
    /// Gateway device id.
    pub gateway: String,
    /// Its current public key.
    pub public_key: String,
    /// Gateway clock (Unix ms).
    pub now_ms: i64,
    /// The same, in Asia/Shanghai local time.
    pub now_local: String,
    /// `good`, or what is wrong with the clock.
    pub clock: String,
    /// Readings in the local store.
    pub stored_readings: u64,
    /// Timestamp of the oldest stored reading.
    pub oldest_stored_ms: Option<i64>,
    /// Next reading id.
    pub next_id: u64,
    /// Points.
    pub points: Vec<PointStatus>,
    /// Destinations.
    pub destinations: Vec<DestinationStatus>,
    /// Active alarms, critical first.
    pub alarms: Vec<AlarmView>,
}

/// An alarm as reported.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlarmView {
    /// Kind (snake_case).
    pub kind: String,
    /// `warning` or `critical`.
    pub severity: String,
    /// Subject.
    pub subject: String,
    /// Message.
    pub message: String,
    /// Since (Unix ms).
    pub since_ms: i64,
}

impl From<Alarm> for AlarmView {
    fn from(a: Alarm) -> Self {
        let text = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
        AlarmView {
            kind: text(serde_json::to_value(a.kind).unwrap_or_default()),
            severity: text(serde_json::to_value(a.severity).unwrap_or_default()),
            subject: a.subject,
            message: a.message,
            since_ms: a.since_ms,
        }
    }
}

/// Describes a clock state for people.
pub fn clock_text(s: ClockState) -> String {
    match s {
        ClockState::Good => "good".into(),
        ClockState::Jumped(ms) => {
            format!("jumped by {ms} ms; readings are flagged clock_suspect until a chain confirms the time")
        }
        ClockState::Drifted(ms) => format!("{ms} ms off the chains' time; readings are flagged clock_suspect; fix NTP"),
    }
}
