//! Transactions.
//!
//! A transaction is signed by its sender for exactly one chain (the chain id is inside the signed
//! body) and carries a nonce that must be strictly greater than the sender's last accepted nonce,
//! so replays on the same chain and on another chain are both rejected.

use crate::codec::{Validate, check_len, encode};
use crate::energy::{EnergyKind, Quantity, RegisterKind, Unit};
use crate::ids::{ChainId, DeviceId, UnifiedSocialCreditCode};
use crate::keys::{PublicKey, Signature};
use crate::limits::*;
use crate::reading::SignedReading;
use crate::registry::{AccuracyClass, Calibration, DeviceStatus, LocationPath, Meter};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Domain tag prefixed to a transaction body before it is signed.
pub const TX_SIGNING_DOMAIN: &[u8] = b"trustmeter/tx/v1";

/// What a new meter is, as its enterprise registers it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MeterSpec {
    /// Device id.
    pub id: DeviceId,
    /// The gateway (already registered to the same enterprise) that reads it.
    pub gateway: DeviceId,
    /// Human-readable name.
    pub name: String,
    /// What it measures.
    pub energy: EnergyKind,
    /// Unit of its register.
    pub unit: Unit,
    /// Cumulative or instantaneous.
    pub register: RegisterKind,
    /// Accuracy class in hundredths of a percent (50 = class 0.5).
    pub accuracy: AccuracyClass,
    /// Location in the plant.
    pub location: LocationPath,
    /// Register maximum (rollover point).
    pub register_max: Quantity,
    /// The meter's own key, if it signs its readings itself.
    pub public_key: Option<PublicKey>,
}

impl MeterSpec {
    /// The meter record this spec creates for `owner`: registered, not yet calibrated.
    pub fn into_meter(self, owner: UnifiedSocialCreditCode) -> Meter {
        Meter {
            id: self.id,
            owner,
            gateway: self.gateway,
            name: self.name,
            energy: self.energy,
            unit: self.unit,
            register: self.register,
            accuracy: self.accuracy,
            location: self.location,
            register_max: self.register_max,
            public_key: self.public_key,
            retired_keys: vec![],
            calibration: None,
            status: DeviceStatus::Registered,
        }
    }
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TxPayload {
    /// Adds a key to the sender's own organisation.
    RegisterAccount {
        /// The new account's key.
        public_key: PublicKey,
    },
    /// Registers a gateway to the sender's enterprise.
    RegisterGateway {
        /// Device id.
        id: DeviceId,
        /// The gateway's signing key (generated on the device).
        public_key: PublicKey,
    },
    /// Registers a meter to the sender's enterprise.
    RegisterMeter {
        /// The meter.
        meter: MeterSpec,
    },
    /// Records a calibration certificate for a meter. Only a metrology authority may send it, and
    /// only for certificates it issued.
    RecordCalibration {
        /// The meter.
        meter: DeviceId,
        /// The certificate.
        calibration: Calibration,
    },
    /// Activates a registered device. Only a regulator may send it.
    ActivateDevice {
        /// Gateway or meter id.
        device: DeviceId,
    },
    /// Revokes a device for good. A regulator, or the device's own enterprise, may send it.
    RevokeDevice {
        /// Gateway or meter id.
        device: DeviceId,
        /// Why (kept in the receipt).
        reason: String,
    },
    /// A batch of signed readings, sent by the gateway itself (the sender key is the gateway's).
    SubmitReadings {
        /// The gateway.
        gateway: DeviceId,
        /// The readings, each signed by its meter or by the gateway on its behalf.
        readings: Vec<SignedReading>,
    },
    /// Replaces a device's signing key (密钥轮换). The new key is generated on the device; `proof`
    /// is its signature over [`rotation_proof_payload`], so nobody can rotate a device to a key
    /// they do not hold. The device's own enterprise, or a gateway itself (signing with its
    /// current key), may send it. Readings stamped before the rotation still verify with the
    /// retired key, so a gateway's backlog survives a rotation.
    RotateKey {
        /// Gateway or meter id (a meter must already have its own key).
        device: DeviceId,
        /// The new key.
        new_public_key: PublicKey,
        /// The new key's signature over [`rotation_proof_payload`].
        proof: Signature,
    },
}

/// Domain tag of a key-rotation proof of possession.
pub const ROTATION_PROOF_DOMAIN: &[u8] = b"trustmeter/rotate/v1";

/// The bytes the new key signs to prove possession: the domain tag, the chain, the device and the
/// new key. Naming the chain keeps a proof for one chain from being replayed on another.
pub fn rotation_proof_payload(chain: &ChainId, device: &DeviceId, new_public_key: &PublicKey) -> Vec<u8> {
    let mut out = ROTATION_PROOF_DOMAIN.to_vec();
    out.extend_from_slice(&encode(&(chain, device, new_public_key)));
    out
}

impl TxPayload {
    /// Short machine name of the payload kind.
    pub fn kind(&self) -> &'static str {
        match self {
            TxPayload::RegisterAccount { .. } => "register_account",
            TxPayload::RegisterGateway { .. } => "register_gateway",
            TxPayload::RegisterMeter { .. } => "register_meter",
            TxPayload::RecordCalibration { .. } => "record_calibration",
            TxPayload::ActivateDevice { .. } => "activate_device",
            TxPayload::RevokeDevice { .. } => "revoke_device",
            TxPayload::SubmitReadings { .. } => "submit_readings",
            TxPayload::RotateKey { .. } => "rotate_key",
        }
    }

    /// Number of readings carried.
    pub fn reading_count(&self) -> usize {
        match self {
            TxPayload::SubmitReadings { readings, .. } => readings.len(),
            _ => 0,
        }
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxBody {
    /// The chain this transaction is for.
    pub chain_id: ChainId,
    /// The sender's key: an account of a member organisation, or a gateway for `SubmitReadings`.
    pub sender: PublicKey,
    /// Strictly greater than the sender's last accepted nonce.
    pub nonce: u64,
    /// What it does.
    pub payload: TxPayload,
}

impl TxBody {
    /// The exact bytes that are signed: domain tag, then the canonical encoding of the body.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = TX_SIGNING_DOMAIN.to_vec();
        out.extend_from_slice(&encode(self));
        out
    }
}

/// A signed transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    /// The signed body.
    pub body: TxBody,
    /// The sender's signature over [`TxBody::signing_payload`].
    pub signature: Signature,
}

impl Validate for Transaction {
    fn validate(&self) -> Result<(), String> {
        self.body.chain_id.check()?;
        self.body.sender.check()?;
        self.signature.check()?;
        if self.signature.scheme != self.body.sender.scheme {
            return Err("signature scheme differs from the sender key's scheme".into());
        }
        match &self.body.payload {
            TxPayload::RegisterAccount { public_key } => public_key.check(),
            TxPayload::RegisterGateway { id, public_key } => {
                id.check()?;
                public_key.check()
            }
            TxPayload::RegisterMeter { meter } => meter.clone().into_meter(placeholder_owner()).check(),
            TxPayload::RecordCalibration { meter, calibration } => {
                meter.check()?;
                calibration.check()
            }
            TxPayload::ActivateDevice { device } => device.check(),
            TxPayload::RevokeDevice { device, reason } => {
                device.check()?;
                check_len("revocation reason", reason.len(), MAX_MESSAGE_LEN)
            }
            TxPayload::SubmitReadings { gateway, readings } => {
                gateway.check()?;
                if readings.is_empty() {
                    return Err("a reading batch must carry at least one reading".into());
                }
                check_len("reading batch", readings.len(), MAX_READINGS_PER_TX)?;
                for (i, r) in readings.iter().enumerate() {
                    r.check().map_err(|e| format!("reading {i}: {e}"))?;
                }
                Ok(())
            }
            TxPayload::RotateKey { device, new_public_key, proof } => {
                device.check()?;
                new_public_key.check()?;
                proof.check()
            }
        }
    }
}

fn placeholder_owner() -> UnifiedSocialCreditCode {
    UnifiedSocialCreditCode::new("91350100M000100Y43").expect("valid constant")
}
