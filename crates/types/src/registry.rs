//! Who and what is registered on a chain: organisations, gateways, meters and calibrations.

use crate::codec::check_len;
use crate::energy::{EnergyKind, Quantity, RegisterKind, Unit};
use crate::ids::{DeviceId, UnifiedSocialCreditCode};
use crate::keys::PublicKey;
use crate::limits::*;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// The role an organisation plays in the consortium. Roles decide which transactions its
/// accounts may send.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum OrgKind {
    /// Energy-saving authority (节能主管部门), national or provincial: activates and revokes devices.
    Regulator = 0,
    /// Statistics bureau (统计局).
    StatisticsBureau = 1,
    /// Metrology authority (质监 / 计量): records calibration certificates.
    MetrologyAuthority = 2,
    /// Key energy-consuming enterprise (重点用能单位): registers its gateways and meters.
    Enterprise = 3,
    /// Industry association (行业协会).
    IndustryAssociation = 4,
    /// Third-party verifier (第三方核查机构).
    Verifier = 5,
    /// Data consumer: bank, supply-chain partner, researcher.
    DataConsumer = 6,
}

/// A member organisation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Unified social credit code (统一社会信用代码).
    pub id: UnifiedSocialCreditCode,
    /// Registered name.
    pub name: String,
    /// Role in the consortium.
    pub kind: OrgKind,
    /// Administrative region code (GB/T 2260, six digits, e.g. 430000 for Hunan).
    pub region: u32,
}

impl Organisation {
    /// Checks limits and field formats.
    pub fn check(&self) -> Result<(), String> {
        self.id.check()?;
        check_len("organisation name", self.name.len(), MAX_NAME_LEN)?;
        if self.name.trim().is_empty() {
            return Err("organisation name is empty".into());
        }
        if !(100_000..=999_999).contains(&self.region) {
            return Err(format!("region code {} is not a six-digit GB/T 2260 code", self.region));
        }
        Ok(())
    }
}

/// Lifecycle of a device (gateway or meter).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum DeviceStatus {
    /// Registered by its enterprise, awaiting activation by a regulator.
    Registered = 0,
    /// Active: its readings are admitted.
    Active = 1,
    /// Revoked: its readings are rejected from the revocation on. Final.
    Revoked = 2,
}

/// A key a device signed with before a rotation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredKey {
    /// The retired key.
    pub public_key: PublicKey,
    /// Block time of the rotation (Unix ms): readings stamped before it verify with this key.
    pub retired_at_ms: i64,
}

/// The keys that may have signed a reading stamped at `t_ms`: the retired key that was current
/// then (the first one retired after `t_ms`), if any, and the current key. The current key may
/// sign readings stamped before its rotation: a gateway that sends to two chains switches to its
/// new key before both chains have recorded the rotation, at different block times. A retired key
/// never signs readings stamped after its retirement.
fn keys_at<'a>(current: &'a PublicKey, retired: &'a [RetiredKey], t_ms: i64) -> SigningKeys<'a> {
    SigningKeys { retired: retired.iter().find(|k| t_ms < k.retired_at_ms).map(|k| &k.public_key), current }
}

/// The keys that may have signed a reading (see [`Gateway::keys_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigningKeys<'a> {
    /// The key that was current at the reading's time, if it has been retired since.
    pub retired: Option<&'a PublicKey>,
    /// The current key.
    pub current: &'a PublicKey,
}

impl<'a> SigningKeys<'a> {
    /// The candidates, the retired key (the usual signer of such a reading) first.
    pub fn iter(&self) -> impl Iterator<Item = &'a PublicKey> + use<'a> {
        self.retired.into_iter().chain(std::iter::once(self.current))
    }
    /// The key a reading stamped at that time was most likely signed with.
    pub fn likely(&self) -> &'a PublicKey {
        self.retired.unwrap_or(self.current)
    }
}

fn check_retired(retired: &[RetiredKey]) -> Result<(), String> {
    check_len("retired keys", retired.len(), MAX_RETIRED_KEYS)?;
    for k in retired {
        k.public_key.check()?;
    }
    if retired.windows(2).any(|w| w[0].retired_at_ms > w[1].retired_at_ms) {
        return Err("retired keys are not in rotation order".into());
    }
    Ok(())
}

/// Appends a retired key, forgetting the oldest past [`MAX_RETIRED_KEYS`].
pub(crate) fn retire(retired: &mut Vec<RetiredKey>, key: PublicKey, at_ms: i64) {
    retired.push(RetiredKey { public_key: key, retired_at_ms: at_ms });
    if retired.len() > MAX_RETIRED_KEYS {
        retired.remove(0);
    }
}

/// A trusted terminal (端设备 / 可信边缘网关) at an enterprise.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Device id.
    pub id: DeviceId,
    /// Owning enterprise.
    pub owner: UnifiedSocialCreditCode,
    /// The key the gateway signs transactions (and readings on a meter's behalf) with.
    pub public_key: PublicKey,
    /// Keys used before rotations, oldest first.
    pub retired_keys: Vec<RetiredKey>,
    /// Lifecycle state.
    pub status: DeviceStatus,
}

impl Gateway {
    /// The keys that may have signed a reading stamped at `t_ms` (see [`SigningKeys`]).
    pub fn keys_at(&self, t_ms: i64) -> SigningKeys<'_> {
        keys_at(&self.public_key, &self.retired_keys, t_ms)
    }
    /// Makes `new` the current key, retiring the old one at `at_ms`.
    pub fn rotate(&mut self, new: PublicKey, at_ms: i64) {
        let old = std::mem::replace(&mut self.public_key, new);
        retire(&mut self.retired_keys, old, at_ms);
    }
    /// Whether `key` is the current or a retired key of this gateway.
    pub fn uses_key(&self, key: &PublicKey) -> bool {
        &self.public_key == key || self.retired_keys.iter().any(|k| &k.public_key == key)
    }
    /// Checks limits.
    pub fn check(&self) -> Result<(), String> {
        self.id.check()?;
        self.owner.check()?;
        self.public_key.check()?;
        check_retired(&self.retired_keys)
    }
}

/// Accuracy class of a meter (准确度等级), e.g. 0.5S for a revenue electricity meter.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct AccuracyClass(pub u16);

impl AccuracyClass {
    /// Class from hundredths of a percent (e.g. 50 for class 0.5).
    pub fn percent(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

/// Where a meter sits: site / workshop / line / equipment (厂区 / 车间 / 产线 / 设备), at least the site.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LocationPath(pub Vec<String>);

impl LocationPath {
    /// Checks depth and segment lengths.
    pub fn check(&self) -> Result<(), String> {
        if self.0.is_empty() {
            return Err("location path is empty; give at least the site".into());
        }
        check_len("location path depth", self.0.len(), MAX_LOCATION_DEPTH)?;
        for s in &self.0 {
            check_len("location segment", s.len(), MAX_LOCATION_SEGMENT_LEN)?;
            if s.is_empty() || s.contains('/') {
                return Err(format!("location segment {s:?} must be non-empty and contain no '/'"));
            }
        }
        Ok(())
    }
    /// Joined with '/'.
    pub fn display(&self) -> String {
        self.0.join("/")
    }
}

/// A calibration (检定/校准) certificate issued by a metrology authority.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Certificate number.
    pub certificate_no: String,
    /// The metrology authority that issued it.
    pub issuer: UnifiedSocialCreditCode,
    /// Valid from (Unix milliseconds, inclusive).
    pub valid_from_ms: i64,
    /// Valid until (Unix milliseconds, exclusive).
    pub valid_until_ms: i64,
}

impl Calibration {
    /// Checks limits and the validity interval.
    pub fn check(&self) -> Result<(), String> {
        check_len("certificate number", self.certificate_no.len(), MAX_CERTIFICATE_NO_LEN)?;
        if self.certificate_no.is_empty() {
            return Err("certificate number is empty".into());
        }
        self.issuer.check()?;
        if self.valid_until_ms <= self.valid_from_ms {
            return Err("calibration ends before it starts".into());
        }
        Ok(())
    }
    /// Whether the certificate covers the instant `t_ms`.
    pub fn covers(&self, t_ms: i64) -> bool {
        self.valid_from_ms <= t_ms && t_ms < self.valid_until_ms
    }
}

/// How many meters' progress records share one state entry (see [`Meter::slot`]): a gateway's
/// batch of readings then changes a few entries of the activity tree instead of one per meter.
pub const METERS_PER_PROGRESS_CHUNK: u32 = 256;

/// A meter (计量器具) registered to an enterprise and read through one of its gateways.
///
/// In JSON every field is required (`Option` fields as `null` or a value) and no other is accepted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meter {
    /// Device id.
    pub id: DeviceId,
    /// Owning enterprise.
    pub owner: UnifiedSocialCreditCode,
    /// The gateway that reads it and submits its readings.
    pub gateway: DeviceId,
    /// The meter's place among its gateway's meters, in registration order from 0, assigned by
    /// the chain when the meter is registered. The chain keeps a gateway's meters' progress
    /// records together, [`METERS_PER_PROGRESS_CHUNK`] to a state entry: this meter's is in chunk
    /// `slot / METERS_PER_PROGRESS_CHUNK` of its gateway.
    pub slot: u32,
    /// Human-readable name.
    pub name: String,
    /// What it measures.
    pub energy: EnergyKind,
    /// Unit of its register.
    pub unit: Unit,
    /// Cumulative or instantaneous register.
    pub register: RegisterKind,
    /// Accuracy class.
    pub accuracy: AccuracyClass,
    /// Location in the plant.
    pub location: LocationPath,
    /// Register maximum: a cumulative register rolls over to zero past it. Also the upper bound of
    /// admissible values.
    pub register_max: Quantity,
    /// Rated capacity (额定容量) per hour in the meter's unit; 0 = unknown.
    pub rated_per_hour: Quantity,
    /// For a tariff register (费率寄存器): the total register it belongs to and its tariff.
    #[serde(deserialize_with = "crate::codec::required_option")]
    pub tariff: Option<TariffRegister>,
    /// Its master meter (上级表 / 总表): the meter upstream of this one, of the same enterprise,
    /// energy kind and unit, whose consumption includes this meter's (a workshop's incoming meter
    /// for the meters of its lines). Set at registration, never changed; the chain admits only a
    /// registered, not revoked, cumulative, non-tariff meter that exists before this one, so the
    /// links form a forest (no cycles). While the master is active, this meter's consumption is
    /// counted in the enterprise's totals through the master's, not again on its own; the
    /// master/sub-meter balance (总分表平衡) compares the two.
    #[serde(deserialize_with = "crate::codec::required_option")]
    pub master: Option<DeviceId>,
    /// The meter's own signing key, if it has one; otherwise its gateway signs on its behalf.
    #[serde(deserialize_with = "crate::codec::required_option")]
    pub public_key: Option<PublicKey>,
    /// The meter's own keys used before rotations, oldest first.
    pub retired_keys: Vec<RetiredKey>,
    /// The current calibration certificate, if one has been recorded.
    #[serde(deserialize_with = "crate::codec::required_option")]
    pub calibration: Option<Calibration>,
    /// Lifecycle state.
    pub status: DeviceStatus,
}

/// A tariff register of a multi-rate electricity meter: DL/T 645 tariffs 1–4 are 尖/峰/平/谷.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TariffRegister {
    /// The meter id of the total register (正向有功总) it is part of.
    pub total: DeviceId,
    /// Tariff number 1–4 (1 尖 critical peak, 2 峰 peak, 3 平 flat, 4 谷 valley).
    pub tariff: u8,
}

impl Meter {
    /// Checks limits and consistency of a meter record.
    pub fn check(&self) -> Result<(), String> {
        self.id.check()?;
        self.owner.check()?;
        self.gateway.check()?;
        check_len("meter name", self.name.len(), MAX_NAME_LEN)?;
        self.location.check()?;
        if !self.energy.allowed_units().contains(&self.unit) {
            return Err(format!("unit {} is not a unit for {:?}", self.unit.symbol(), self.energy));
        }
        if self.unit.is_rate() != (self.register == RegisterKind::Instantaneous) {
            return Err("rate units go with instantaneous registers, amount units with cumulative ones".into());
        }
        if let Some(t) = &self.tariff {
            t.total.check()?;
            if !(1..=4).contains(&t.tariff) {
                return Err(format!("tariff {} is not 1–4 (尖/峰/平/谷)", t.tariff));
            }
            if t.total == self.id {
                return Err("a tariff register cannot belong to itself".into());
            }
        }
        if let Some(m) = &self.master {
            m.check()?;
            if m == &self.id {
                return Err("a meter cannot be its own master meter".into());
            }
            if self.tariff.is_some() {
                return Err("a tariff register has no master meter: its total register has one".into());
            }
        }
        if self.rated_per_hour.micros() < 0 {
            return Err("rated capacity must not be negative".into());
        }
        if self.register_max.micros() <= 0 {
            return Err("register maximum must be positive".into());
        }
        if let Some(k) = &self.public_key {
            k.check()?;
        }
        if let Some(c) = &self.calibration {
            c.check()?;
        }
        if self.public_key.is_none() && !self.retired_keys.is_empty() {
            return Err("a meter without its own key has no retired keys".into());
        }
        check_retired(&self.retired_keys)
    }

    /// The meter's own keys that may have signed a reading stamped at `t_ms`, if the meter has a
    /// key (see [`SigningKeys`]).
    pub fn keys_at(&self, t_ms: i64) -> Option<SigningKeys<'_>> {
        self.public_key.as_ref().map(|k| keys_at(k, &self.retired_keys, t_ms))
    }

    /// Makes `new` the meter's key, retiring the old one (if any) at `at_ms`.
    pub fn rotate(&mut self, new: PublicKey, at_ms: i64) {
        if let Some(old) = self.public_key.replace(new) {
            retire(&mut self.retired_keys, old, at_ms);
        }
    }

    /// Whether `key` is the current or a retired key of this meter.
    pub fn uses_key(&self, key: &PublicKey) -> bool {
        self.public_key.as_ref() == Some(key) || self.retired_keys.iter().any(|k| &k.public_key == key)
    }
}
