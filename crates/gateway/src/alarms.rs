//! Edge alarms (边缘告警): raised and cleared by the collector and the senders, shown by
//! `trustmeter gateway status` and the local API, and logged when they change.

use serde::Serialize;
use std::collections::BTreeMap;

/// Most alarms kept active at once (one per kind and subject; beyond it the newest are dropped
/// and counted).
pub const MAX_ACTIVE_ALARMS: usize = 10_000;

/// What an alarm is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// A point delivered no value for too long (数据中断).
    NoData,
    /// A point's reads fail.
    DriverError,
    /// An MQTT message was refused (over the payload or packet limit, not JSON, a field missing
    /// or bad): the value it carried is lost. Names the topic and the point; not cleared by the
    /// next good message, but held for `[alarms] refused_message_hold_s` after the last refusal.
    MessageRefused,
    /// A value outside the point's plausible range.
    OutOfRange,
    /// A cumulative register went backwards (not a rollover): meter replaced or reset?
    RegisterDecreased,
    /// A meter's calibration certificate expires soon (检定到期预警).
    CalibrationExpiring,
    /// A meter's calibration certificate has expired or is missing: its readings are rejected.
    CalibrationInvalid,
    /// A device is not active on a chain (registered but not activated, or revoked).
    DeviceNotActive,
    /// A destination's backlog is large or old.
    Backlog,
    /// A destination's nodes cannot be reached.
    DestinationUnreachable,
    /// A destination refuses the gateway's transactions as a whole.
    DestinationRefusing,
    /// A destination rejected readings (kept with the reasons; see `gateway rejected`).
    ReadingsRejected,
    /// A destination's audit policy is unknown (not served, not fetched or not parseable): readings
    /// are sent without the gateway's pre-audit, and the chain audits them.
    PolicyUnavailable,
    /// A destination's node served a receipt, policy or meter record whose proof does not verify
    /// against the chain's genesis (a lying or broken node, or another chain): nothing it said
    /// was acted on; readings are kept until an honest proof settles them.
    ProofInvalid,
    /// The gateway clock jumped.
    ClockJump,
    /// The gateway clock differs from the chains' time.
    ClockDrift,
}

/// How bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Needs attention.
    Warning,
    /// Data is being rejected or not collected.
    Critical,
}

/// An active alarm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alarm {
    /// Kind.
    pub kind: AlarmKind,
    /// Severity.
    pub severity: Severity,
    /// What it is about: a meter id, a destination name, `clock`.
    pub subject: String,
    /// What happened and what to do.
    pub message: String,
    /// When it was first raised (gateway clock, Unix ms).
    pub since_ms: i64,
}

/// The active alarms.
#[derive(Debug, Default)]
pub struct AlarmBoard {
    active: BTreeMap<(AlarmKind, String), Alarm>,
    /// Alarms that clear themselves at a time (gateway clock, Unix ms) rather than on a condition.
    held_until: BTreeMap<(AlarmKind, String), i64>,
    dropped: u64,
}

impl AlarmBoard {
    /// Raises (or updates the message of) an alarm.
    pub fn raise(&mut self, kind: AlarmKind, severity: Severity, subject: &str, message: String, now_ms: i64) {
        let key = (kind, subject.to_string());
        if let Some(a) = self.active.get_mut(&key) {
            a.message = message;
            a.severity = severity;
            return;
        }
        if self.active.len() >= MAX_ACTIVE_ALARMS {
            self.dropped += 1;
            return;
        }
        tracing::warn!(kind = ?kind, subject, %message, "alarm raised");
        self.active.insert(key, Alarm { kind, severity, subject: subject.to_string(), message, since_ms: now_ms });
    }

    /// Raises (or updates) an alarm that stays active until `until_ms` (gateway clock), whatever
    /// happens meanwhile; raising it again moves that time. [`AlarmBoard::expire`] clears it.
    pub fn raise_until(
        &mut self,
        kind: AlarmKind,
        severity: Severity,
        subject: &str,
        message: String,
        now_ms: i64,
        until_ms: i64,
    ) {
        self.raise(kind, severity, subject, message, now_ms);
        let key = (kind, subject.to_string());
        if self.active.contains_key(&key) {
            self.held_until.insert(key, until_ms);
        }
    }

    /// Clears the held alarms whose time has come.
    pub fn expire(&mut self, now_ms: i64) {
        let due: Vec<(AlarmKind, String)> =
            self.held_until.iter().filter(|(_, until)| **until <= now_ms).map(|(k, _)| k.clone()).collect();
        for (kind, subject) in due {
            self.clear(kind, &subject);
        }
    }

    /// Clears an alarm if active.
    pub fn clear(&mut self, kind: AlarmKind, subject: &str) {
        let key = (kind, subject.to_string());
        self.held_until.remove(&key);
        if self.active.remove(&key).is_some() {
            tracing::info!(kind = ?kind, subject, "alarm cleared");
        }
    }

    /// Whether an alarm is active.
    pub fn is_active(&self, kind: AlarmKind, subject: &str) -> bool {
        self.active.contains_key(&(kind, subject.to_string()))
    }

    /// Active alarms, critical first.
    pub fn list(&self) -> Vec<Alarm> {
        let mut v: Vec<Alarm> = self.active.values().cloned().collect();
        v.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.since_ms.cmp(&b.since_ms)));
        v
    }

    /// Alarms not raised because the board was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_alarm_stays_until_its_time_and_moves_when_raised_again() {
        let mut b = AlarmBoard::default();
        b.raise_until(AlarmKind::MessageRefused, Severity::Warning, "M-1", "first".into(), 1_000, 5_000);
        b.raise(AlarmKind::DriverError, Severity::Warning, "M-1", "down".into(), 1_000);
        b.expire(4_999);
        assert!(b.is_active(AlarmKind::MessageRefused, "M-1"));
        b.raise_until(AlarmKind::MessageRefused, Severity::Warning, "M-1", "second".into(), 4_000, 8_000);
        b.expire(6_000);
        assert!(b.is_active(AlarmKind::MessageRefused, "M-1"));
        assert_eq!(b.list().iter().find(|a| a.kind == AlarmKind::MessageRefused).unwrap().message, "second");
        b.expire(8_000);
        assert!(!b.is_active(AlarmKind::MessageRefused, "M-1"));
        // Alarms without a time are not expired.
        assert!(b.is_active(AlarmKind::DriverError, "M-1"));
    }
}
