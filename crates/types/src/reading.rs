//! Meter readings and their signatures.

use crate::codec::encode;
use crate::energy::{Quantity, Unit};
use crate::ids::DeviceId;
use crate::keys::Signature;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Domain tag prefixed to a reading's encoding before it is signed. A reading's signature does not
/// name a chain, so the same signed reading is valid on the provincial and the national chain
/// (一端双发).
pub const READING_SIGNING_DOMAIN: &[u8] = b"trustmeter/reading/v1";

/// One value read from one meter.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// The meter.
    pub meter: DeviceId,
    /// Per-meter sequence number, strictly increasing; the replay guard.
    pub seq: u64,
    /// Collection time, Unix milliseconds (UTC).
    pub timestamp_ms: i64,
    /// The register value, fixed-point.
    pub value: Quantity,
    /// Unit of `value`; must match the meter's registered unit.
    pub unit: Unit,
    /// How the value reached the gateway: collected online, entered by hand (手工填报) or imported
    /// from a file of historical data.
    pub origin: ReadingOrigin,
    /// The gateway's clock had jumped or drifted beyond its bound when the reading was collected,
    /// so `timestamp_ms` is not trustworthy. Such readings are recorded, never silently re-stamped.
    pub clock_suspect: bool,
}

/// How a reading's value reached the gateway.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ReadingOrigin {
    /// Collected online from the meter by a driver (Modbus, DL/T 645, MQTT, simulator).
    #[default]
    Online = 0,
    /// Entered by hand for data that cannot be collected online (手工填报).
    Manual = 1,
    /// Imported from a CSV or JSON file of historical data.
    Imported = 2,
}

impl ReadingOrigin {
    /// Stable snake_case name, as used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadingOrigin::Online => "online",
            ReadingOrigin::Manual => "manual",
            ReadingOrigin::Imported => "imported",
        }
    }
}

impl Reading {
    /// The exact bytes that are signed: domain tag, then the canonical encoding.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = READING_SIGNING_DOMAIN.to_vec();
        out.extend_from_slice(&encode(self));
        out
    }
}

/// Who signed a reading. The record says which, so a verifier knows how close to the meter the
/// signature was made.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ReadingSigner {
    /// The meter's own registered key.
    Meter = 0,
    /// The gateway's key, on behalf of a meter that has no key.
    Gateway = 1,
}

/// A reading with its signature.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReading {
    /// The reading.
    pub reading: Reading,
    /// Which key signed it.
    pub signer: ReadingSigner,
    /// Signature over [`Reading::signing_payload`].
    pub signature: Signature,
}

impl SignedReading {
    /// Checks limits.
    pub fn check(&self) -> Result<(), String> {
        self.reading.meter.check()?;
        self.signature.check()
    }
}
