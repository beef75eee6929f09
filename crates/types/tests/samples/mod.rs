//! Valid values of every kind, built with the crate's constructors: what the fuzz tests edit and
//! the OpenAPI test checks against the document's schemas.

#![allow(dead_code)]

use trustmeter_crypto::{SigningKey, sign_reading, sign_tx};
use trustmeter_types::compliance::{
    AllocationKind, Finding, FindingSeverity, Opinion, QuotaOp, ReportPeriod, VerificationStatement, VerificationStep,
};
use trustmeter_types::economy::{Equivocation, SignedVote, StakingOp, VoteKind};
use trustmeter_types::membership::{Disclosure, GrantScope, MembershipAction, NewAccount};
use trustmeter_types::tx::{MeasuredHeatingValue, MeterSpec, ProductOutput, ReportedConsumption};
use trustmeter_types::{
    AccuracyClass, Block, BlockHeader, Calibration, ChainId, ChainParams, DeviceId, EnergyKind, Genesis,
    GenesisAccount, GenesisValidator, Hash32, KeyScheme, LocationPath, OrgKind, Organisation, Quantity, Reading,
    ReadingOrigin, ReadingSigner, RegisterKind, TariffRegister, Transaction, TxBody, TxPayload,
    UnifiedSocialCreditCode, Unit,
};
use trustmeter_types::{CarbonEntry, CarbonEntryData, Evidence, EvidenceKind, GasFilling};
use trustmeter_types::{ShiftCalendar, ShiftDef, ShiftOutput, ShiftRotation};

// ---------------------------------------------------------------------------------------------
// Valid values, built once with the crate's constructors
// ---------------------------------------------------------------------------------------------

pub fn key(scheme: KeyScheme, seed: u8) -> SigningKey {
    SigningKey::from_seed(scheme, [seed; 32])
}

pub fn device(s: &str) -> DeviceId {
    DeviceId::new(s).expect("a valid device id")
}

pub fn uscc(n: u32) -> UnifiedSocialCreditCode {
    let first17 = format!("91430100MA4L{n:05}");
    let check = UnifiedSocialCreditCode::check_char(&first17).expect("17 characters of the alphabet");
    UnifiedSocialCreditCode::new(format!("{first17}{check}")).expect("a valid credit code")
}

pub fn chain_id() -> ChainId {
    ChainId::new("hunan-1").expect("a valid chain id")
}

pub fn reading(meter: &str, seq: u64) -> Reading {
    Reading {
        meter: device(meter),
        seq,
        timestamp_ms: 1_767_225_600_000 + seq as i64 * 900_000,
        value: Quantity::from_micros(123_456_789 + seq as i64),
        unit: Unit::KilowattHour,
        origin: if seq.is_multiple_of(2) { ReadingOrigin::Online } else { ReadingOrigin::Manual },
        clock_suspect: seq.is_multiple_of(3),
    }
}

pub fn meter_spec(scheme: KeyScheme) -> MeterSpec {
    MeterSpec {
        id: device("91430100MA4L00001X-EM1"),
        gateway: device("91430100MA4L00001X-GW1"),
        name: "主变压器 1#".into(),
        energy: EnergyKind::Electricity,
        unit: Unit::KilowattHour,
        register: RegisterKind::Cumulative,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["厂区".into(), "车间-2".into()]),
        register_max: Quantity::from_micros(1_000_000 * Quantity::SCALE),
        rated_per_hour: Quantity::from_micros(2_000 * Quantity::SCALE),
        tariff: Some(TariffRegister { total: device("91430100MA4L00001X-EM0"), tariff: 2 }),
        master: None,
        public_key: Some(key(scheme, 21).public_key()),
    }
}

/// One payload of every kind, with keys of `scheme`.
pub fn payloads(scheme: KeyScheme) -> Vec<TxPayload> {
    let new_key = key(scheme, 30);
    let calibration = Calibration {
        certificate_no: "JD-2026-0001".into(),
        issuer: uscc(2),
        valid_from_ms: 1_700_000_000_000,
        valid_until_ms: 1_800_000_000_000,
    };
    let gateway_key = key(scheme, 11);
    let readings = (1..=3)
        .map(|seq| sign_reading(&gateway_key, reading("91430100MA4L00001X-EM1", seq), ReadingSigner::Gateway))
        .collect();
    vec![
        TxPayload::RegisterAccount { public_key: new_key.public_key(), proof: new_key.sign(b"proof") },
        TxPayload::RevokeAccount { public_key: new_key.public_key(), reason: "key lost".into() },
        TxPayload::Propose {
            action: MembershipAction::Admit {
                organisation: Organisation {
                    id: uscc(7),
                    name: "湘能示范企业".into(),
                    kind: OrgKind::Enterprise,
                    region: 430_100,
                },
                accounts: vec![NewAccount { public_key: new_key.public_key(), proof: new_key.sign(b"proof") }],
            },
        },
        TxPayload::Propose { action: MembershipAction::Suspend { org: uscc(7), reason: "audit".into() } },
        TxPayload::Approve { proposal: Hash32([0xAB; 32]) },
        TxPayload::Grant { grantee: uscc(8), scope: GrantScope::Figures, expires_at_ms: 1_800_000_000_000 },
        TxPayload::RevokeGrant { grantee: uscc(8), scope: GrantScope::Readings },
        TxPayload::SetDisclosure {
            region: 430_000,
            disclosure: Disclosure { regional_figures: true, rankings: false },
        },
        TxPayload::PublishFigures { until_ms: 1_800_000_000_000 },
        TxPayload::RegisterGateway { id: device("91430100MA4L00001X-GW1"), public_key: gateway_key.public_key() },
        TxPayload::RegisterMeter { meter: meter_spec(scheme) },
        TxPayload::RecordCalibration { meter: device("91430100MA4L00001X-EM1"), calibration },
        TxPayload::ActivateDevice { device: device("91430100MA4L00001X-EM1") },
        TxPayload::RevokeDevice {
            device: device("91430100MA4L00001X-EM1"), reason: "铅封损坏 (seal broken)".into()
        },
        TxPayload::SubmitReadings { gateway: device("91430100MA4L00001X-GW1"), readings },
        TxPayload::RotateKey {
            device: device("91430100MA4L00001X-GW1"),
            new_public_key: new_key.public_key(),
            proof: new_key.sign(b"rotation"),
        },
        TxPayload::DeployPolicy { text: "name = \"p\"\nversion = 2\n".into(), effective_height: 100 },
        TxPayload::DeployMethodology { text: "id = \"GB/T 32150-2015\"\nversion = 2\n".into() },
        TxPayload::SetCarbonPlan { methodology: "GB/T 32151.29-2024".into(), from_month: 202_604 },
        TxPayload::SubmitCarbonReport { period: ReportPeriod::Year(2025), hash: Hash32([9; 32]) },
        TxPayload::SubmitCarbonReport { period: ReportPeriod::Month(202_603), hash: Hash32([8; 32]) },
        TxPayload::Verification {
            org: uscc(2),
            year: 2025,
            step: VerificationStep::Statement {
                statement: VerificationStatement {
                    report: Hash32([9; 32]),
                    opinion: Opinion::Qualified,
                    findings: vec![Finding {
                        number: 1,
                        severity: FindingSeverity::Misstatement,
                        subject: "fuel_combustion/diesel".into(),
                        text: "invoice 4711 missing from the ledger".into(),
                        adjustment: Quantity::from_micros(1_572_561),
                    }],
                    verified: Quantity::from_micros(11_007_928),
                    document: None,
                },
            },
        },
        TxPayload::Verification { org: uscc(2), year: 2025, step: VerificationStep::Assign { verifier: uscc(5) } },
        TxPayload::Verification {
            org: uscc(2),
            year: 2025,
            step: VerificationStep::Decide { verified: Quantity::from_micros(9_435_367), reason: "dated 2026".into() },
        },
        TxPayload::Quota {
            org: uscc(2),
            year: 2026,
            op: QuotaOp::Allocate {
                kind: AllocationKind::Adjustment,
                amount: Quantity::from_micros(-500_000),
                basis: "closure of line 2".into(),
            },
        },
        TxPayload::Quota {
            org: uscc(2),
            year: 2025,
            op: QuotaOp::Surrender {
                allowances: Quantity::from_micros(8_500_000),
                offsets: Quantity::from_micros(471_768),
            },
        },
        TxPayload::Transfer { to: uscc(2), amount: 12_500_000, memo: "数据共享 2026-Q1".into() },
        TxPayload::Staking {
            op: StakingOp::RegisterValidator {
                consensus_key: key(KeyScheme::Ed25519, 40).public_key(),
                name: "metrology-1".into(),
                p2p_address: "10.0.0.7:3001".into(),
                commission_percent: 10,
                proof: key(KeyScheme::Ed25519, 40).sign(b"proof"),
            },
        },
        TxPayload::Staking {
            op: StakingOp::EditValidator {
                consensus_key: key(KeyScheme::Ed25519, 40).public_key(),
                p2p_address: None,
                commission_percent: Some(5),
            },
        },
        TxPayload::Staking {
            op: StakingOp::Delegate { validator: key(KeyScheme::Ed25519, 40).public_key(), amount: 1 },
        },
        TxPayload::Staking {
            op: StakingOp::Undelegate { validator: key(KeyScheme::Ed25519, 40).public_key(), amount: 7_000_000 },
        },
        TxPayload::Staking { op: StakingOp::Claim },
        TxPayload::DeployRewardSchedule { text: "[schedule]\nname = \"x\"\nversion = 2\n".into(), effective_epoch: 9 },
        TxPayload::Staking { op: StakingOp::Unjail { validator: key(KeyScheme::Ed25519, 40).public_key() } },
        TxPayload::Staking {
            op: StakingOp::ReportEquivocation {
                evidence: Equivocation {
                    validator: key(KeyScheme::Ed25519, 40).public_key(),
                    epoch: 3,
                    view: 17,
                    first: SignedVote {
                        kind: VoteKind::Finalize,
                        parent_view: 16,
                        payload: Hash32([1; 32]),
                        signature: key(KeyScheme::Ed25519, 40).sign(b"a"),
                    },
                    second: SignedVote {
                        kind: VoteKind::Nullify,
                        parent_view: 0,
                        payload: Hash32::ZERO,
                        signature: key(KeyScheme::Ed25519, 40).sign(b"b"),
                    },
                },
            },
        },
        TxPayload::VoidCarbonEntry {
            org: uscc(2),
            month: 202_603,
            number: 2,
            reason: "serials belong to another buyer (transfer record GEC-T-88)".into(),
        },
        TxPayload::RecordCarbonEntry {
            entry: CarbonEntry {
                month: 202_603,
                number: 1,
                data: Some(CarbonEntryData::Fgas {
                    gas: "SF6".into(),
                    opening_t: Quantity::from_micros(1_200_000),
                    closing_t: Quantity::from_micros(800_000),
                    purchased_t: Quantity::from_micros(500_000),
                    sold_t: Quantity::from_micros(0),
                    fills: 12,
                    filling: GasFilling::Containers {
                        before_t: Quantity::from_micros(3_000_000),
                        after_t: Quantity::from_micros(2_100_000),
                    },
                }),
                evidence: vec![Evidence {
                    hash: Hash32([7; 32]),
                    bytes: 52_113,
                    kind: EvidenceKind::InventoryLedger,
                    name: "2026-03-sf6-ledger.pdf".into(),
                }],
                note: "SF6 filled into 12 switchgear units".into(),
            },
        },
        TxPayload::RecordCarbonEntry {
            entry: CarbonEntry {
                month: 202_603,
                number: 2,
                data: Some(CarbonEntryData::GreenCertificates {
                    batch: "GEC-2026-HN-0042".into(),
                    first: 1_000_001,
                    count: 500,
                    vintage: 202_602,
                }),
                evidence: vec![Evidence {
                    hash: Hash32([8; 32]),
                    bytes: 9_001,
                    kind: EvidenceKind::Certificate,
                    name: "gec-transfer.pdf".into(),
                }],
                note: String::new(),
            },
        },
        TxPayload::ReplaceMeter {
            meter: device("91430100MA4L00001X-EM1"),
            at_ms: 1_767_225_600_000,
            old_final: Quantity::from_micros(99 * Quantity::SCALE),
            new_initial: Quantity::from_micros(0),
        },
        TxPayload::MonthlyReport {
            month: 202_603,
            consumption: vec![ReportedConsumption {
                energy: EnergyKind::NaturalGas,
                unit: Unit::NormalCubicMetre,
                quantity: Quantity::from_micros(5 * Quantity::SCALE),
            }],
            production: vec![ProductOutput {
                product: "cement clinker".into(),
                unit: "t".into(),
                quantity: Quantity::from_micros(12 * Quantity::SCALE),
            }],
            heating_values: vec![MeasuredHeatingValue {
                energy: EnergyKind::RawCoal,
                unit: Unit::Kilogram,
                kj_per_unit: Quantity::from_micros(20_908 * Quantity::SCALE),
            }],
        },
        TxPayload::SetShiftCalendar { calendar: shift_calendar() },
        TxPayload::RecordShiftOutput {
            output: ShiftOutput {
                day: 20_261_121,
                shift: "夜班".into(),
                team: Some("丙".into()),
                products: vec![
                    ProductOutput {
                        product: "整车".into(),
                        unit: "辆".into(),
                        quantity: Quantity::from_micros(50_000_000),
                    },
                    ProductOutput {
                        product: "cement clinker".into(),
                        unit: "t".into(),
                        quantity: Quantity::from_micros(12_500_000),
                    },
                ],
                note: "recounted after QA".into(),
            },
        },
        TxPayload::RecordShiftOutput {
            output: ShiftOutput {
                day: 20_261_121,
                shift: "早班".into(),
                team: None,
                products: vec![ProductOutput { product: "整车".into(), unit: "辆".into(), quantity: Quantity(0) }],
                note: String::new(),
            },
        },
    ]
}

/// A three-shift calendar (早班 06:00–14:00, 中班 14:00–22:00, 夜班 22:00–06:00) with four teams
/// on an eight-day rotation (四班三运转).
pub fn shift_calendar() -> ShiftCalendar {
    let s = |name: &str, start: u16, end: u16| ShiftDef { name: name.into(), start_minute: start, end_minute: end };
    ShiftCalendar {
        effective_from: 20_261_101,
        shifts: vec![s("早班", 360, 840), s("中班", 840, 1_320), s("夜班", 1_320, 360)],
        teams: vec!["甲".into(), "乙".into(), "丙".into(), "丁".into()],
        rotation: Some(ShiftRotation {
            start: 20_261_101,
            days: vec![
                vec![Some(0), Some(1), Some(2)],
                vec![Some(0), Some(1), Some(2)],
                vec![Some(3), Some(0), Some(1)],
                vec![Some(3), Some(0), Some(1)],
                vec![Some(2), Some(3), Some(0)],
                vec![Some(2), Some(3), Some(0)],
                vec![Some(1), Some(2), Some(3)],
                vec![Some(1), None, Some(3)],
            ],
        }),
    }
}

pub fn transaction(sender: &SigningKey, nonce: u64, payload: TxPayload) -> Transaction {
    sign_tx(sender, TxBody { chain_id: chain_id(), sender: sender.public_key(), nonce, payload })
}

pub fn block(txs: Vec<Transaction>) -> Block {
    let header = BlockHeader {
        chain_id: chain_id(),
        parent: Hash32([1; 32]),
        height: 7,
        epoch: 1,
        view: 9,
        timestamp_ms: 1_767_225_607_000,
        tx_root: Hash32([2; 32]),
        readings_root: Hash32([3; 32]),
        state_root: Hash32([4; 32]),
        receipts_root: Hash32([5; 32]),
        tx_count: txs.len() as u32,
        reading_count: txs.iter().map(|t| t.body.payload.reading_count() as u32).sum(),
        readings_accepted: 2,
    };
    Block { header, txs }
}

pub fn genesis() -> Genesis {
    Genesis {
        chain_id: chain_id(),
        genesis_time_ms: 1_767_225_600_000,
        params: ChainParams::default(),
        organisations: vec![
            Organisation { id: uscc(1), name: "Regulator".into(), kind: OrgKind::Regulator, region: 430_000 },
            Organisation { id: uscc(2), name: "计量院".into(), kind: OrgKind::MetrologyAuthority, region: 430_100 },
        ],
        accounts: vec![
            GenesisAccount { org: uscc(1), public_key: key(KeyScheme::Ed25519, 1).public_key() },
            GenesisAccount { org: uscc(2), public_key: key(KeyScheme::Sm2, 2).public_key() },
        ],
        validators: vec![
            GenesisValidator {
                name: "v1".into(),
                org: uscc(1),
                consensus_key: "ab".repeat(32),
                p2p_address: "127.0.0.1:3001".into(),
                self_stake: 10_000_000_000,
            },
            GenesisValidator {
                name: "v2".into(),
                org: uscc(2),
                consensus_key: "cd".repeat(32),
                p2p_address: "[::1]:3002".into(),
                self_stake: 10_000_000_000,
            },
        ],
        allocations: vec![trustmeter_types::economy::GenesisAllocation { org: uscc(2), amount: 7_500_000 }],
        devnet_seed: Some(2026),
    }
}
