//! State keys: what they are, which commitment they belong to, and their order-preserving
//! encoding in the store.
//!
//! **Three classes of keys.**
//! - [`KeyClass::Registry`]: organisations, accounts, gateways, meters, policies. Rarely written,
//!   committed in the *registry tree*, whose every version is kept, so a proof of a meter's record
//!   as of any past block stays available for as long as the chain exists.
//! - [`KeyClass::Activity`]: nonces, meters' progress (in chunks of a gateway's meters), daily
//!   figures, monthly reports. Written by almost every reading, committed in the *activity tree*,
//!   whose old versions are pruned.
//! - [`KeyClass::Derived`]: the late-data point window (which also finds duplicates) and the index of device
//!   keys in use. Pure functions of committed data (identical on every validator), kept durably
//!   with the state, but not committed in either tree.
//!
//! **Store order.** [`StateKey::ordered`] encodes a key so that byte order is the key's
//! [`Ord`] order: one tag byte per variant, identifiers as their ASCII bytes closed by `0x00`
//! (identifiers never contain NUL), unsigned integers big-endian, signed integers big-endian with
//! the sign bit flipped. Range reads (an enterprise's days, a meter's window points in an hour,
//! every meter in id order) are prefix ranges of that encoding.
//!
//! **Window points sort by hour first** ([`point_hour`]), then meter, time and arrival: a block's
//! readings, which are mostly of one hour and of a gateway's meters (whose ids share a prefix),
//! land on a few neighbouring store pages instead of one page per meter, and a point pruned a week
//! later leaves the same few pages. A meter's points are therefore found hour by hour
//! ([`KeyRange::points`] spans one hour; `accounting` walks the hours a meter's window can hold).

use crate::model::{StateKey, StateValue};
use trustmeter_crypto::HashAlg;
use trustmeter_types::{DeviceId, Hash32, UnifiedSocialCreditCode, encode};

/// Domain tag of a state key's hash (the position of its leaf in a tree).
pub use trustmeter_crypto::smt::STATE_KEY_DOMAIN;
/// Domain tag of the state root over the two tree roots.
pub use trustmeter_crypto::smt::STATE_ROOT_DOMAIN;

/// Which commitment a key belongs to (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyClass {
    /// In the registry tree; every version kept.
    Registry,
    /// In the activity tree; old versions pruned.
    Activity,
    /// Stored with the state, committed in no tree.
    Derived,
}

/// One of the two authenticated trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    /// Organisations, accounts, gateways, meters, policies.
    Registry,
    /// Nonces, progress, daily figures, monthly reports.
    Activity,
}

impl Tree {
    /// Both trees, registry first.
    pub const ALL: [Tree; 2] = [Tree::Registry, Tree::Activity];

    /// Position in [`Tree::ALL`].
    pub fn index(self) -> usize {
        match self {
            Tree::Registry => 0,
            Tree::Activity => 1,
        }
    }

    /// Lowercase name, as in proofs and logs.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Registry => "registry",
            Tree::Activity => "activity",
        }
    }
}

/// Tag bytes of the ordered encoding, one per [`StateKey`] variant. Listed once so that the order
/// of key runs in the store is explicit (registry first, then activity, then derived data).
mod tag {
    pub const ORGANISATION: u8 = 0x01;
    pub const ACCOUNT: u8 = 0x02;
    pub const GATEWAY: u8 = 0x03;
    pub const METER: u8 = 0x04;
    pub const POLICY: u8 = 0x05;
    pub const MEMBERSHIP: u8 = 0x06;
    pub const PROPOSAL: u8 = 0x07;
    pub const REGULATORS: u8 = 0x08;
    pub const GRANT: u8 = 0x09;
    pub const DISCLOSURE: u8 = 0x0A;
    pub const PUBLISHED: u8 = 0x0B;
    pub const GRANT_RECEIVED: u8 = 0x0C;
    pub const METHODOLOGY: u8 = 0x0D;
    pub const CARBON_PLAN: u8 = 0x0E;
    pub const CARBON_ENTRY: u8 = 0x0F;
    pub const CERTIFICATE_CLAIM: u8 = 0x10;
    pub const CARBON_REPORT: u8 = 0x11;
    pub const VERIFICATION: u8 = 0x12;
    pub const QUOTA: u8 = 0x13;
    pub const VALIDATOR: u8 = 0x14;
    pub const VALIDATOR_SET: u8 = 0x15;
    pub const REWARD_SCHEDULE: u8 = 0x16;
    pub const NONCE: u8 = 0x18;
    pub const PROGRESS: u8 = 0x19;
    pub const DAILY: u8 = 0x1A;
    pub const MONTHLY_REPORT: u8 = 0x1B;
    pub const CARBON_RESULT: u8 = 0x1C;
    pub const VERIFICATION_DUE: u8 = 0x1D;
    pub const CARBON_YEAR: u8 = 0x1E;
    pub const TOKEN: u8 = 0x1F;
    // 0x20 is free (see below); 0x21 and 0x22 are derived keys.
    pub const ECONOMY: u8 = 0x23;
    pub const DELEGATION: u8 = 0x24;
    pub const UNBONDING: u8 = 0x25;
    pub const EPOCH_ACTIVITY: u8 = 0x26;
    pub const POINTS: u8 = 0x27;
    pub const EPOCH_REWARDS: u8 = 0x28;
    pub const SHIFT_CALENDAR: u8 = 0x29;
    pub const SHIFT_OUTPUT: u8 = 0x2A;
    pub const MONTH_TOTALS: u8 = 0x2B;
    pub const TOKEN_POLICY: u8 = 0x2C;
    // 0x20 held the duplicate window until duplicates were found among the window points.
    pub const POINT: u8 = 0x21;
    pub const KEY_USE: u8 = 0x22;
}

/// Builds ordered encodings.
struct Enc(Vec<u8>);

impl Enc {
    fn new(tag: u8) -> Self {
        let mut v = Vec::with_capacity(48);
        v.push(tag);
        Enc(v)
    }
    fn id(mut self, s: &str) -> Self {
        debug_assert!(!s.as_bytes().contains(&0), "identifiers never contain NUL");
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(self, v: i32) -> Self {
        self.u32((v as u32) ^ 0x8000_0000)
    }
    fn i64(self, v: i64) -> Self {
        self.u64((v as u64) ^ 0x8000_0000_0000_0000)
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

impl StateKey {
    /// The commitment this key belongs to.
    pub fn class(&self) -> KeyClass {
        match self {
            StateKey::Organisation(_)
            | StateKey::Account(_)
            | StateKey::Gateway(_)
            | StateKey::Meter(_)
            | StateKey::Policy(_)
            | StateKey::Membership(_)
            | StateKey::Proposal(_)
            | StateKey::Regulators
            | StateKey::Grant(..)
            | StateKey::Disclosure(_)
            | StateKey::Published(_)
            | StateKey::GrantReceived(..)
            | StateKey::Methodology(..)
            | StateKey::CarbonPlan(..)
            | StateKey::CarbonEntry(..)
            | StateKey::CertificateClaim(..)
            | StateKey::CarbonReport(..)
            | StateKey::Verification(..)
            | StateKey::Quota(..)
            | StateKey::Validator(_)
            | StateKey::ValidatorSet(_)
            | StateKey::RewardSchedule(_)
            | StateKey::ShiftCalendar(..)
            | StateKey::TokenPolicy => KeyClass::Registry,
            StateKey::Nonce(_)
            | StateKey::Progress(..)
            | StateKey::Daily(_)
            | StateKey::MonthlyReport(..)
            | StateKey::CarbonResult(..)
            | StateKey::VerificationDue(..)
            | StateKey::CarbonYear(..)
            | StateKey::Token(_)
            | StateKey::Economy
            | StateKey::Delegation(..)
            | StateKey::Unbonding(..)
            | StateKey::EpochActivity(_)
            | StateKey::Points(..)
            | StateKey::EpochRewards(_)
            | StateKey::ShiftOutput(..)
            | StateKey::MonthTotals(..) => KeyClass::Activity,
            StateKey::Point(..) | StateKey::KeyUse(_) => KeyClass::Derived,
        }
    }

    /// The tree this key is committed in, if any.
    pub fn tree(&self) -> Option<Tree> {
        match self.class() {
            KeyClass::Registry => Some(Tree::Registry),
            KeyClass::Activity => Some(Tree::Activity),
            KeyClass::Derived => None,
        }
    }

    /// The order-preserving encoding (see the module documentation).
    pub fn ordered(&self) -> Vec<u8> {
        match self {
            StateKey::Organisation(o) => Enc::new(tag::ORGANISATION).id(o.as_str()),
            // Public keys sort by scheme, then bytes (fixed length per scheme).
            StateKey::Account(k) => Enc::new(tag::ACCOUNT).u8(k.scheme as u8).bytes(&k.bytes),
            StateKey::Gateway(d) => Enc::new(tag::GATEWAY).id(d.as_str()),
            StateKey::Meter(d) => Enc::new(tag::METER).id(d.as_str()),
            StateKey::Policy(v) => Enc::new(tag::POLICY).u32(*v),
            StateKey::Membership(o) => Enc::new(tag::MEMBERSHIP).id(o.as_str()),
            StateKey::Proposal(h) => Enc::new(tag::PROPOSAL).bytes(&h.0),
            StateKey::Regulators => Enc::new(tag::REGULATORS),
            StateKey::Grant(o, g, s) => Enc::new(tag::GRANT).id(o.as_str()).id(g.as_str()).u8(*s as u8),
            StateKey::Disclosure(r) => Enc::new(tag::DISCLOSURE).u32(*r),
            StateKey::Published(o) => Enc::new(tag::PUBLISHED).id(o.as_str()),
            StateKey::GrantReceived(g, o, s) => {
                Enc::new(tag::GRANT_RECEIVED).id(g.as_str()).id(o.as_str()).u8(*s as u8)
            }
            StateKey::Methodology(id, v) => Enc::new(tag::METHODOLOGY).id(id).u32(*v),
            StateKey::CarbonPlan(o, m) => Enc::new(tag::CARBON_PLAN).id(o.as_str()).u32(*m),
            StateKey::CarbonEntry(o, m, n) => Enc::new(tag::CARBON_ENTRY).id(o.as_str()).u32(*m).u32(*n),
            StateKey::CertificateClaim(b, first) => Enc::new(tag::CERTIFICATE_CLAIM).id(b).u64(*first),
            StateKey::CarbonReport(o, p) => Enc::new(tag::CARBON_REPORT).id(o.as_str()).u32(*p),
            StateKey::Verification(o, y) => Enc::new(tag::VERIFICATION).id(o.as_str()).u32(*y),
            StateKey::Quota(o, y) => Enc::new(tag::QUOTA).id(o.as_str()).u32(*y),
            StateKey::Nonce(k) => Enc::new(tag::NONCE).u8(k.scheme as u8).bytes(&k.bytes),
            StateKey::Progress(g, chunk) => Enc::new(tag::PROGRESS).id(g.as_str()).u32(*chunk),
            StateKey::Daily(k) => {
                Enc::new(tag::DAILY).id(k.org.as_str()).i32(k.day).u8(k.energy as u8).u8(k.unit as u8)
            }
            StateKey::MonthlyReport(o, m) => Enc::new(tag::MONTHLY_REPORT).id(o.as_str()).u32(*m),
            StateKey::CarbonResult(o, m) => Enc::new(tag::CARBON_RESULT).id(o.as_str()).u32(*m),
            StateKey::VerificationDue(t, o, y) => Enc::new(tag::VERIFICATION_DUE).i64(*t).id(o.as_str()).u32(*y),
            StateKey::CarbonYear(o, y) => Enc::new(tag::CARBON_YEAR).id(o.as_str()).u32(*y),
            StateKey::Validator(k) => Enc::new(tag::VALIDATOR).u8(k.scheme as u8).bytes(&k.bytes),
            StateKey::ValidatorSet(e) => Enc::new(tag::VALIDATOR_SET).u64(*e),
            StateKey::Token(o) => Enc::new(tag::TOKEN).id(o.as_str()),
            StateKey::Economy => Enc::new(tag::ECONOMY),
            StateKey::TokenPolicy => Enc::new(tag::TOKEN_POLICY),
            StateKey::Delegation(o, k) => Enc::new(tag::DELEGATION).id(o.as_str()).u8(k.scheme as u8).bytes(&k.bytes),
            StateKey::EpochActivity(e) => Enc::new(tag::EPOCH_ACTIVITY).u64(*e),
            StateKey::RewardSchedule(v) => Enc::new(tag::REWARD_SCHEDULE).u32(*v),
            StateKey::Points(o, e) => Enc::new(tag::POINTS).id(o.as_str()).u64(*e),
            StateKey::EpochRewards(e) => Enc::new(tag::EPOCH_REWARDS).u64(*e),
            StateKey::ShiftCalendar(o, d) => Enc::new(tag::SHIFT_CALENDAR).id(o.as_str()).u32(*d),
            StateKey::ShiftOutput(o, d, s) => Enc::new(tag::SHIFT_OUTPUT).id(o.as_str()).u32(*d).id(s),
            StateKey::MonthTotals(o, m) => Enc::new(tag::MONTH_TOTALS).id(o.as_str()).u32(*m),
            StateKey::Unbonding(o, k, e) => {
                Enc::new(tag::UNBONDING).id(o.as_str()).u8(k.scheme as u8).bytes(&k.bytes).u64(*e)
            }
            StateKey::Point(d, ts, ord) => Enc::new(tag::POINT).i64(point_hour(*ts)).id(d.as_str()).i64(*ts).u64(*ord),
            StateKey::KeyUse(k) => Enc::new(tag::KEY_USE).u8(k.scheme as u8).bytes(&k.bytes),
        }
        .0
    }

    /// The key's hash: the position of its leaf in its tree (`H(STATE_KEY_DOMAIN ‖ borsh(key))`).
    pub fn key_hash(&self, alg: HashAlg) -> Hash32 {
        trustmeter_crypto::smt::key_hash(alg, &encode(self))
    }
}

/// A half-open range of ordered keys `[lo, hi)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// First key included.
    pub lo: Vec<u8>,
    /// First key excluded (`None`: to the end of the store).
    pub hi: Option<Vec<u8>>,
}

impl KeyRange {
    /// Keys of one variant whose encoding starts with `prefix`.
    pub fn prefix(prefix: Vec<u8>) -> Self {
        let hi = prefix_end(&prefix);
        KeyRange { lo: prefix, hi }
    }

    /// Whether `k` lies in the range.
    pub fn contains(&self, k: &[u8]) -> bool {
        k >= self.lo.as_slice() && self.hi.as_deref().is_none_or(|h| k < h)
    }

    /// Every organisation, in id order.
    pub fn organisations() -> Self {
        Self::prefix(vec![tag::ORGANISATION])
    }
    /// Every organisation's publication of its figures (expired ones too), by id.
    pub fn published() -> Self {
        Self::prefix(vec![tag::PUBLISHED])
    }
    /// Every grant of an organisation, by grantee then scope.
    pub fn grants_of(owner: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::GRANT).id(owner.as_str()).0)
    }
    /// The grants made to `grantee`, by owner then scope, from just after `after` (an owner and
    /// scope of a previous page's last grant) if given.
    pub fn grants_received(
        grantee: &UnifiedSocialCreditCode,
        after: Option<(&UnifiedSocialCreditCode, trustmeter_types::GrantScope)>,
    ) -> Self {
        let mut range = Self::prefix(Enc::new(tag::GRANT_RECEIVED).id(grantee.as_str()).0);
        if let Some((owner, scope)) = after {
            // The key just after the last one listed: its encoding followed by a zero byte.
            let mut lo = StateKey::GrantReceived(grantee.clone(), owner.clone(), scope).ordered();
            lo.push(0);
            range.lo = lo;
        }
        range
    }
    /// Every gateway, in id order.
    pub fn gateways() -> Self {
        Self::prefix(vec![tag::GATEWAY])
    }
    /// Every meter, in id order.
    pub fn meters() -> Self {
        Self::prefix(vec![tag::METER])
    }
    /// The gateways named under an organisation's credit code (`<code>-…`: every device id is
    /// named under its owner's code), in id order.
    pub fn gateways_of(org: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::GATEWAY).bytes(format!("{org}-").as_bytes()).0)
    }
    /// The meters named under an organisation's credit code, in id order.
    pub fn meters_of(org: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::METER).bytes(format!("{org}-").as_bytes()).0)
    }
    /// Every methodology version, by id then version.
    pub fn methodologies() -> Self {
        Self::prefix(vec![tag::METHODOLOGY])
    }
    /// Every version of one methodology, oldest first.
    pub fn methodology_versions(id: &str) -> Self {
        Self::prefix(Enc::new(tag::METHODOLOGY).id(id).0)
    }
    /// An enterprise's monitoring plans up to and including `month`, by first month.
    pub fn carbon_plans_until(org: &UnifiedSocialCreditCode, month: u32) -> Self {
        let base = Enc::new(tag::CARBON_PLAN).id(org.as_str());
        let hi = match month.checked_add(1) {
            Some(next) => Some(Enc(base.0.clone()).u32(next).0),
            None => prefix_end(&base.0),
        };
        KeyRange { lo: base.0, hi }
    }
    /// An enterprise's documented carbon entries of one month, by number.
    pub fn carbon_entries(org: &UnifiedSocialCreditCode, month: u32) -> Self {
        Self::prefix(Enc::new(tag::CARBON_ENTRY).id(org.as_str()).u32(month).0)
    }
    /// The claims of a certificate batch whose first serial is at most `last`, by first serial
    /// (read backwards, the first one is the only claim that can overlap a range ending at `last`).
    pub fn certificate_claims_until(batch: &str, last: u64) -> Self {
        let base = Enc::new(tag::CERTIFICATE_CLAIM).id(batch);
        let hi = match last.checked_add(1) {
            Some(next) => Some(Enc(base.0.clone()).u64(next).0),
            None => prefix_end(&base.0),
        };
        KeyRange { lo: base.0, hi }
    }
    /// Every registered validator, by consensus key.
    pub fn validators() -> Self {
        Self::prefix(vec![tag::VALIDATOR])
    }
    /// An organisation's stakes, by validator.
    pub fn delegations_of(org: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::DELEGATION).id(org.as_str()).0)
    }
    /// An organisation's unbonding entries, by validator then release epoch.
    pub fn unbondings_of(org: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::UNBONDING).id(org.as_str()).0)
    }
    /// Every reward schedule version, oldest first.
    pub fn reward_schedules() -> Self {
        Self::prefix(vec![tag::REWARD_SCHEDULE])
    }
    /// An organisation's unclaimed points, by epoch.
    pub fn points_of(org: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::POINTS).id(org.as_str()).0)
    }
    /// An enterprise's shift calendar versions taking effect up to and including `day`
    /// (`YYYYMMDD`), by first day (read backwards, the first is the one in force on `day`).
    pub fn shift_calendars_until(org: &UnifiedSocialCreditCode, day: u32) -> Self {
        let base = Enc::new(tag::SHIFT_CALENDAR).id(org.as_str());
        let hi = match day.checked_add(1) {
            Some(next) => Some(Enc(base.0.clone()).u32(next).0),
            None => prefix_end(&base.0),
        };
        KeyRange { lo: base.0, hi }
    }
    /// Every shift calendar version of an enterprise, by first day.
    pub fn shift_calendars(org: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::SHIFT_CALENDAR).id(org.as_str()).0)
    }
    /// An enterprise's shift outputs of days `from..=to` (`YYYYMMDD`), by day then shift name.
    pub fn shift_outputs(org: &UnifiedSocialCreditCode, from: u32, to: u32) -> Self {
        let base = Enc::new(tag::SHIFT_OUTPUT).id(org.as_str());
        let lo = Enc(base.0.clone()).u32(from).0;
        let hi = match to.checked_add(1) {
            Some(next) => Some(Enc(base.0).u32(next).0),
            None => prefix_end(&base.0),
        };
        KeyRange { lo, hi }
    }
    /// Every shift output of an enterprise, by day then shift name.
    pub fn every_shift_output(org: &UnifiedSocialCreditCode) -> Self {
        Self::prefix(Enc::new(tag::SHIFT_OUTPUT).id(org.as_str()).0)
    }
    /// Every epoch's reward pools, by epoch.
    pub fn epoch_rewards() -> Self {
        Self::prefix(vec![tag::EPOCH_REWARDS])
    }
    /// Every token account, by organisation.
    pub fn token_accounts() -> Self {
        Self::prefix(vec![tag::TOKEN])
    }
    /// Every epoch's validator set, by epoch.
    pub fn validator_sets() -> Self {
        Self::prefix(vec![tag::VALIDATOR_SET])
    }
    /// An enterprise's filed reports with period codes in `[from, to]` (monthly deposits and
    /// annual reports share the key space: years sort before months).
    pub fn carbon_reports(org: &UnifiedSocialCreditCode, from: u32, to: u32) -> Self {
        let base = Enc::new(tag::CARBON_REPORT).id(org.as_str());
        let lo = Enc(base.0.clone()).u32(from).0;
        let hi = match to.checked_add(1) {
            Some(next) => Some(Enc(base.0).u32(next).0),
            None => prefix_end(&base.0),
        };
        KeyRange { lo, hi }
    }
    /// Objection windows ending at or before `until_ms`, by deadline.
    pub fn verifications_due(until_ms: i64) -> Self {
        let lo = vec![tag::VERIFICATION_DUE];
        let hi = match until_ms.checked_add(1) {
            Some(next) => Some(Enc::new(tag::VERIFICATION_DUE).i64(next).0),
            None => prefix_end(&lo),
        };
        KeyRange { lo, hi }
    }
    /// Every policy version, oldest first.
    pub fn policies() -> Self {
        Self::prefix(vec![tag::POLICY])
    }
    /// An enterprise's daily figures for days in `[from_day, to_day]`.
    pub fn daily(org: &UnifiedSocialCreditCode, from_day: i32, to_day: i32) -> Self {
        let base = Enc::new(tag::DAILY).id(org.as_str());
        let lo = Enc(base.0.clone()).i32(from_day).0;
        let hi = match to_day.checked_add(1) {
            Some(next) => Some(Enc(base.0).i32(next).0),
            None => prefix_end(&base.0),
        };
        KeyRange { lo, hi }
    }
    /// A gateway's progress chunks, by chunk number.
    pub fn progress_chunks(gateway: &DeviceId) -> Self {
        Self::prefix(Enc::new(tag::PROGRESS).id(gateway.as_str()).0)
    }
    /// A meter's window points of one hour with timestamps in `[from_ms, to_ms)`, by time then
    /// arrival. The range must lie in one hour: `point_hour(from_ms) == point_hour(to_ms - 1)`.
    pub fn points(meter: &DeviceId, from_ms: i64, to_ms: i64) -> Self {
        debug_assert!(from_ms < to_ms && point_hour(from_ms) == point_hour(to_ms - 1), "one hour's points");
        let base = Enc::new(tag::POINT).i64(point_hour(from_ms)).id(meter.as_str());
        KeyRange { lo: Enc(base.0.clone()).i64(from_ms).0, hi: Some(Enc(base.0).i64(to_ms).0) }
    }
    /// Every window point of every meter (hour by hour).
    pub fn every_point() -> Self {
        Self::prefix(vec![tag::POINT])
    }
}

/// Length of the time buckets window points are stored by: one hour.
pub const POINT_HOUR_MS: i64 = 3_600_000;

/// The hour a window point at `ts_ms` is stored under (hours since the Unix epoch, floored).
pub fn point_hour(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(POINT_HOUR_MS)
}

/// The first byte string greater than every string starting with `prefix` (`None`: no such
/// string, the prefix is all `0xff`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The state root of a chain: `H(STATE_ROOT_DOMAIN ‖ registry_root ‖ activity_root)`.
pub use trustmeter_crypto::smt::state_root;

/// Whether a value may be stored under a key (the variants match). Checked when the store's
/// bytes are decoded, so a corrupted store is noticed rather than misread.
pub fn matches(key: &StateKey, value: &StateValue) -> bool {
    matches!(
        (key, value),
        (StateKey::Organisation(_), StateValue::Organisation(_))
            | (StateKey::Account(_), StateValue::Account(_))
            | (StateKey::Nonce(_), StateValue::Nonce(_))
            | (StateKey::Gateway(_), StateValue::Gateway(_))
            | (StateKey::Meter(_), StateValue::Meter(_))
            | (StateKey::Progress(..), StateValue::Progress(_))
            | (StateKey::Policy(_), StateValue::Policy(_))
            | (StateKey::Daily(_), StateValue::Daily(_))
            | (StateKey::MonthlyReport(..), StateValue::MonthlyReport(_))
            | (StateKey::Point(..), StateValue::Point(_))
            | (StateKey::KeyUse(_), StateValue::KeyUse(_))
            | (StateKey::Membership(_), StateValue::Membership(_))
            | (StateKey::Proposal(_), StateValue::Proposal(_))
            | (StateKey::Regulators, StateValue::Regulators(_))
            | (StateKey::Grant(..), StateValue::Grant(_))
            | (StateKey::Disclosure(_), StateValue::Disclosure(_))
            | (StateKey::Published(_), StateValue::Published(_))
            | (StateKey::GrantReceived(..), StateValue::Grant(_))
            | (StateKey::Methodology(..), StateValue::Methodology(_))
            | (StateKey::CarbonPlan(..), StateValue::CarbonPlan(_))
            | (StateKey::CarbonEntry(..), StateValue::CarbonEntry(_))
            | (StateKey::CertificateClaim(..), StateValue::CertificateClaim(_))
            | (StateKey::CarbonResult(..), StateValue::CarbonResult(_))
            | (StateKey::CarbonReport(..), StateValue::CarbonReport(_))
            | (StateKey::Verification(..), StateValue::Verification(_))
            | (StateKey::Quota(..), StateValue::Quota(_))
            | (StateKey::VerificationDue(..), StateValue::VerificationDue)
            | (StateKey::CarbonYear(..), StateValue::CarbonYear(_))
            | (StateKey::Validator(_), StateValue::Validator(_))
            | (StateKey::ValidatorSet(_), StateValue::ValidatorSet(_))
            | (StateKey::Token(_), StateValue::Token(_))
            | (StateKey::Economy, StateValue::Economy(_))
            | (StateKey::Delegation(..), StateValue::Delegation(_))
            | (StateKey::Unbonding(..), StateValue::Unbonding(_))
            | (StateKey::EpochActivity(_), StateValue::EpochActivity(_))
            | (StateKey::RewardSchedule(_), StateValue::RewardSchedule(_))
            | (StateKey::Points(..), StateValue::Points(_))
            | (StateKey::EpochRewards(_), StateValue::EpochRewards(_))
            | (StateKey::ShiftCalendar(..), StateValue::ShiftCalendar(_))
            | (StateKey::ShiftOutput(..), StateValue::ShiftOutput(_))
            | (StateKey::MonthTotals(..), StateValue::MonthTotals(_))
            | (StateKey::TokenPolicy, StateValue::TokenPolicy(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DailyKey;
    use trustmeter_types::{EnergyKind, Unit};

    fn dev(s: &str) -> DeviceId {
        DeviceId::new(s).unwrap()
    }

    #[test]
    fn ordered_encoding_sorts_like_the_keys() {
        let org = UnifiedSocialCreditCode::new("91430100MA4L16JQ9B").ok();
        let mut keys = vec![
            StateKey::Meter(dev("a")),
            StateKey::Meter(dev("a-b")),
            StateKey::Meter(dev("ab")),
            StateKey::Meter(dev("A")),
            StateKey::Gateway(dev("z")),
            StateKey::Policy(1),
            StateKey::Policy(256),
            StateKey::Point(dev("m"), -5, 0),
            StateKey::Point(dev("m"), 3, 9),
            StateKey::Point(dev("m"), 3, 10),
            StateKey::Point(dev("m"), i64::MIN, 0),
            StateKey::Point(dev("m"), i64::MAX, 0),
        ];
        if let Some(org) = org {
            for day in [-3, 0, 20_000, i32::MAX] {
                keys.push(StateKey::Daily(DailyKey {
                    org: org.clone(),
                    day,
                    energy: EnergyKind::Electricity,
                    unit: Unit::KilowattHour,
                }));
            }
        }
        // Within one variant, byte order of the encoding equals key order; window points sort
        // by hour first.
        let order = |k: &StateKey| match k {
            StateKey::Point(m, ts, ord) => (Some((point_hour(*ts), m.clone(), *ts, *ord)), k.clone()),
            _ => (None, k.clone()),
        };
        for a in &keys {
            for b in &keys {
                if std::mem::discriminant(a) == std::mem::discriminant(b) {
                    assert_eq!(order(a).cmp(&order(b)), a.ordered().cmp(&b.ordered()), "{a:?} vs {b:?}");
                }
            }
        }
        // A later hour of one meter sorts after an earlier hour of every meter.
        assert!(StateKey::Point(dev("a"), POINT_HOUR_MS, 0).ordered() > StateKey::Point(dev("z"), 0, 0).ordered());
    }

    #[test]
    fn ranges_hold_exactly_their_keys() {
        let m = dev("m1");
        let r = KeyRange::points(&m, 5, 10);
        assert!(r.contains(&StateKey::Point(m.clone(), 5, 0).ordered()));
        assert!(r.contains(&StateKey::Point(m.clone(), 9, u64::MAX).ordered()));
        assert!(!r.contains(&StateKey::Point(m.clone(), 10, 0).ordered()));
        assert!(!r.contains(&StateKey::Point(m.clone(), 4, u64::MAX).ordered()));
        assert!(!r.contains(&StateKey::Point(dev("m10"), 6, 0).ordered()));
        assert!(!r.contains(&StateKey::Point(dev("m"), 6, 0).ordered()));
        // Negative times and the last millisecond of an hour.
        let r = KeyRange::points(&m, -POINT_HOUR_MS, 0);
        assert!(r.contains(&StateKey::Point(m.clone(), -1, 0).ordered()));
        assert!(r.contains(&StateKey::Point(m.clone(), -POINT_HOUR_MS, 0).ordered()));
        assert!(!r.contains(&StateKey::Point(m.clone(), 0, 0).ordered()));
        assert!(!r.contains(&StateKey::Point(m.clone(), -POINT_HOUR_MS - 1, 0).ordered()));
        let every = KeyRange::every_point();
        assert!(every.contains(&StateKey::Point(m.clone(), i64::MAX, u64::MAX).ordered()));
        assert!(every.contains(&StateKey::Point(m.clone(), i64::MIN, 0).ordered()));
        assert!(KeyRange::meters().contains(&StateKey::Meter(dev("zzz")).ordered()));
        assert!(!KeyRange::meters().contains(&StateKey::Gateway(dev("zzz")).ordered()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
