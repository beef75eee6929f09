//! The canonical encoding at the trust boundary: `encode(decode(b)) == b` for everything that
//! decodes, and `decode` refuses oversize input, trailing bytes, bad tags and every broken limit
//! with the right `DecodeError` variant.

use trustmeter_crypto::{SigningKey, sign_reading, sign_tx};
use trustmeter_types::limits::{
    MAX_BLOCK_BYTES, MAX_DEVICE_ID_LEN, MAX_MESSAGE_LEN, MAX_READINGS_PER_BLOCK, MAX_READINGS_PER_TX, MAX_TX_BYTES,
    MAX_TXS_PER_BLOCK,
};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, Block, BlockHeader, Calibration, ChainId, ChainParams, DecodeError, DeviceId, EnergyKind, Genesis,
    GenesisAccount, GenesisValidator, Hash32, KeyScheme, LocationPath, OrgKind, Organisation, PublicKey, Quantity,
    Reading, ReadingOrigin, ReadingSigner, RegisterKind, Signature, SignedReading, Transaction, TxBody, TxPayload,
    UnifiedSocialCreditCode, Unit, decode, encode,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::ed25519_from_seed([seed; 32])
}

fn chain() -> ChainId {
    ChainId::new("hunan-1").unwrap()
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn uscc(n: u32) -> UnifiedSocialCreditCode {
    let first17 = format!("91430100MA4L{n:05}");
    let c = UnifiedSocialCreditCode::check_char(&first17).unwrap();
    UnifiedSocialCreditCode::new(format!("{first17}{c}")).unwrap()
}

/// A device id that skips the constructor's checks (as a decoder would see it).
fn raw_device_id(s: &str) -> DeviceId {
    borsh::from_slice(&borsh::to_vec(&s.to_string()).unwrap()).unwrap()
}

fn reading(meter: &str, seq: u64) -> Reading {
    Reading {
        meter: dev(meter),
        seq,
        timestamp_ms: 1_767_225_600_000 + seq as i64,
        value: Quantity::from_micros(123_456_789),
        unit: Unit::KilowattHour,
        origin: ReadingOrigin::Online,
        clock_suspect: false,
    }
}

fn signed_reading(seq: u64) -> SignedReading {
    sign_reading(&key(11), reading("A-EM1", seq), ReadingSigner::Gateway)
}

/// A reading with a placeholder signature (decoding never verifies signatures).
fn unsigned_reading(seq: u64) -> SignedReading {
    SignedReading {
        reading: reading("A-EM1", seq),
        signer: ReadingSigner::Gateway,
        signature: Signature { scheme: KeyScheme::Ed25519, bytes: vec![7; 64] },
    }
}

fn meter_spec() -> MeterSpec {
    MeterSpec {
        id: dev("A-EM1"),
        gateway: dev("A-GW1"),
        name: "主变压器 1#".into(),
        energy: EnergyKind::Electricity,
        unit: Unit::KilowattHour,
        register: RegisterKind::Cumulative,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["厂区".into(), "车间-2".into()]),
        register_max: Quantity::from_micros(1_000_000 * Quantity::SCALE),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: Some(key(21).public_key()),
    }
}

fn calibration() -> Calibration {
    Calibration {
        certificate_no: "JD-2026-0001".into(),
        issuer: uscc(2),
        valid_from_ms: 1_700_000_000_000,
        valid_until_ms: 1_800_000_000_000,
    }
}

/// One payload of every kind.
fn payloads() -> Vec<TxPayload> {
    vec![
        TxPayload::RegisterAccount { public_key: key(30).public_key(), proof: key(30).sign(b"proof") },
        TxPayload::RegisterGateway { id: dev("A-GW1"), public_key: key(11).public_key() },
        TxPayload::RegisterMeter { meter: meter_spec() },
        TxPayload::RecordCalibration { meter: dev("A-EM1"), calibration: calibration() },
        TxPayload::ActivateDevice { device: dev("A-EM1") },
        TxPayload::RevokeDevice { device: dev("A-EM1"), reason: "铅封损坏 (seal broken)".into() },
        TxPayload::SubmitReadings { gateway: dev("A-GW1"), readings: (1..=3).map(signed_reading).collect() },
    ]
}

fn tx(payload: TxPayload) -> Transaction {
    let k = key(3);
    sign_tx(&k, TxBody { chain_id: chain(), sender: k.public_key(), nonce: 42, payload })
}

/// A transaction whose body is taken as given, with a placeholder signature of the right shape.
fn unsigned_tx(payload: TxPayload) -> Transaction {
    let k = key(3);
    Transaction {
        body: TxBody { chain_id: chain(), sender: k.public_key(), nonce: 1, payload },
        signature: Signature { scheme: KeyScheme::Ed25519, bytes: vec![9; 64] },
    }
}

fn batch(n: usize) -> TxPayload {
    TxPayload::SubmitReadings { gateway: dev("A-GW1"), readings: (1..=n as u64).map(unsigned_reading).collect() }
}

fn decode_tx(bytes: &[u8]) -> Result<Transaction, DecodeError> {
    decode::<Transaction>(bytes, MAX_TX_BYTES)
}

fn expect_invalid(t: &Transaction, needle: &str) {
    match decode_tx(&encode(t)) {
        Err(DecodeError::Invalid(msg)) => {
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}")
        }
        other => panic!("expected Invalid({needle}), got {other:?}"),
    }
}

fn expect_malformed(bytes: &[u8]) {
    match decode_tx(bytes) {
        Err(DecodeError::Malformed(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn header(txs: &[Transaction]) -> BlockHeader {
    BlockHeader {
        chain_id: chain(),
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
    }
}

fn block(txs: Vec<Transaction>) -> Block {
    Block { header: header(&txs), txs }
}

/// Position of the single byte where two encodings of equal length differ.
fn differing_byte(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(diffs.len(), 1, "the encodings should differ in exactly one byte");
    diffs[0]
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn transactions_of_every_kind_round_trip() {
    for p in payloads() {
        let kind = p.kind();
        let t = tx(p);
        let bytes = encode(&t);
        let back = decode_tx(&bytes).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(back, t, "{kind}");
        assert_eq!(encode(&back), bytes, "{kind}: encode(decode(b)) == b");
        // And the signature still verifies over the decoded body.
        trustmeter_crypto::verify(&back.body.sender, &back.body.signing_payload(), &back.signature).unwrap();
    }
}

#[test]
fn blocks_round_trip() {
    for txs in [vec![], payloads().into_iter().map(tx).collect::<Vec<_>>()] {
        let b = block(txs);
        let bytes = encode(&b);
        let back = decode::<Block>(&bytes, MAX_BLOCK_BYTES).unwrap();
        assert_eq!(back, b);
        assert_eq!(encode(&back), bytes);
    }
}

#[test]
fn genesis_round_trips_and_is_checked() {
    let g = Genesis {
        chain_id: chain(),
        genesis_time_ms: 1_767_225_600_000,
        params: ChainParams::default(),
        organisations: vec![Organisation {
            id: uscc(1),
            name: "Regulator".into(),
            kind: OrgKind::Regulator,
            region: 430_000,
        }],
        accounts: vec![GenesisAccount { org: uscc(1), public_key: key(1).public_key() }],
        validators: vec![GenesisValidator {
            name: "v1".into(),
            org: uscc(1),
            consensus_key: "ab".repeat(32),
            p2p_address: "127.0.0.1:1".into(),
            self_stake: 10_000_000_000,
        }],
        allocations: vec![trustmeter_types::economy::GenesisAllocation { org: uscc(1), amount: 5_000_000 }],
        devnet_seed: None,
    };
    let bytes = encode(&g);
    let back = decode::<Genesis>(&bytes, 1 << 20).unwrap();
    assert_eq!(back, g);
    assert_eq!(encode(&back), bytes);
    let mut no_validators = g.clone();
    no_validators.validators.clear();
    assert!(matches!(decode::<Genesis>(&encode(&no_validators), 1 << 20), Err(DecodeError::Invalid(_))));
    let mut unknown_org = g;
    unknown_org.accounts[0].org = uscc(9);
    assert!(matches!(decode::<Genesis>(&encode(&unknown_org), 1 << 20), Err(DecodeError::Invalid(_))));
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

#[test]
fn trailing_bytes_are_refused() {
    let t = tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    for extra in [&[0u8][..], &[1u8, 2, 3][..], &encode(&t)[..]] {
        let mut bytes = encode(&t);
        bytes.extend_from_slice(extra);
        expect_malformed(&bytes);
    }
    let mut bytes = encode(&block(vec![t]));
    bytes.push(0);
    assert!(matches!(decode::<Block>(&bytes, MAX_BLOCK_BYTES), Err(DecodeError::Malformed(_))));
}

#[test]
fn truncated_input_is_refused() {
    let bytes = encode(&tx(TxPayload::RecordCalibration { meter: dev("A-EM1"), calibration: calibration() }));
    for n in 0..bytes.len() {
        expect_malformed(&bytes[..n]);
    }
}

#[test]
fn oversize_input_is_refused_before_decoding() {
    // Garbage that would not even decode: the length check comes first.
    let big = vec![0xFFu8; MAX_TX_BYTES + 1];
    assert_eq!(decode_tx(&big), Err(DecodeError::TooLong { len: MAX_TX_BYTES + 1, max: MAX_TX_BYTES }));
    // A valid transaction against a bound one byte too small, and exactly at its size.
    let bytes = encode(&tx(TxPayload::ActivateDevice { device: dev("A-EM1") }));
    assert_eq!(
        decode::<Transaction>(&bytes, bytes.len() - 1),
        Err(DecodeError::TooLong { len: bytes.len(), max: bytes.len() - 1 })
    );
    assert!(decode::<Transaction>(&bytes, bytes.len()).is_ok());
    let b = encode(&block(vec![]));
    assert!(matches!(decode::<Block>(&b, b.len() - 1), Err(DecodeError::TooLong { .. })));
}

#[test]
fn absurd_length_prefixes_are_malformed_not_fatal() {
    // The chain id's u32 length prefix is the first four bytes.
    let mut bytes = encode(&tx(TxPayload::ActivateDevice { device: dev("A-EM1") }));
    bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_malformed(&bytes);
    // The reading vector's length prefix.
    let t = unsigned_tx(batch(1));
    let mut bytes = encode(&t);
    let two = encode(&unsigned_tx(batch(2)));
    // Both encodings share everything up to the vector length; find it.
    let pos = (0..bytes.len()).find(|&i| bytes[i] != two[i]).unwrap();
    assert_eq!(bytes[pos], 1);
    bytes[pos..pos + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_malformed(&bytes);
}

// ---------------------------------------------------------------------------------------------
// Limits (DecodeError::Invalid)
// ---------------------------------------------------------------------------------------------

#[test]
fn reading_batch_over_the_limit_is_invalid() {
    let at_limit = unsigned_tx(batch(MAX_READINGS_PER_TX));
    assert!(encode(&at_limit).len() < MAX_TX_BYTES, "the limit test must not trip the size bound");
    assert!(decode_tx(&encode(&at_limit)).is_ok());
    let over = unsigned_tx(batch(MAX_READINGS_PER_TX + 1));
    assert!(encode(&over).len() < MAX_TX_BYTES);
    expect_invalid(&over, "reading batch");
}

#[test]
fn empty_reading_batch_is_invalid() {
    expect_invalid(&unsigned_tx(batch(0)), "at least one reading");
}

#[test]
fn device_id_longer_than_64_is_invalid() {
    let ok = "D".repeat(MAX_DEVICE_ID_LEN);
    let long = "D".repeat(MAX_DEVICE_ID_LEN + 1);
    assert!(decode_tx(&encode(&unsigned_tx(TxPayload::ActivateDevice { device: raw_device_id(&ok) }))).is_ok());
    expect_invalid(&unsigned_tx(TxPayload::ActivateDevice { device: raw_device_id(&long) }), "device id");
    expect_invalid(
        &unsigned_tx(TxPayload::RegisterGateway { id: raw_device_id(&long), public_key: key(5).public_key() }),
        "device id",
    );
    expect_invalid(
        &unsigned_tx(TxPayload::SubmitReadings { gateway: raw_device_id(&long), readings: vec![unsigned_reading(1)] }),
        "device id",
    );
    let mut r = unsigned_reading(1);
    r.reading.meter = raw_device_id(&long);
    expect_invalid(&unsigned_tx(TxPayload::SubmitReadings { gateway: dev("A-GW1"), readings: vec![r] }), "reading 0");
    let mut spec = meter_spec();
    spec.gateway = raw_device_id(&long);
    expect_invalid(&unsigned_tx(TxPayload::RegisterMeter { meter: spec }), "device id");
    // Characters outside the allowed set and the empty id are refused the same way.
    expect_invalid(&unsigned_tx(TxPayload::ActivateDevice { device: raw_device_id("a b") }), "device id");
    expect_invalid(&unsigned_tx(TxPayload::ActivateDevice { device: raw_device_id("") }), "device id");
}

#[test]
fn public_keys_and_signatures_of_wrong_length_are_invalid() {
    let short = PublicKey { scheme: KeyScheme::Ed25519, bytes: vec![1; 31] };
    let long = PublicKey { scheme: KeyScheme::Ed25519, bytes: vec![1; 33] };
    expect_invalid(
        &unsigned_tx(TxPayload::RegisterAccount { public_key: short.clone(), proof: key(1).sign(b"proof") }),
        "public key",
    );
    expect_invalid(&unsigned_tx(TxPayload::RegisterGateway { id: dev("A-GW1"), public_key: long }), "public key");
    let mut spec = meter_spec();
    spec.public_key = Some(short.clone());
    expect_invalid(&unsigned_tx(TxPayload::RegisterMeter { meter: spec }), "public key");
    let mut t = unsigned_tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    t.body.sender = short;
    expect_invalid(&t, "public key");
    // An SM2 key has 33 bytes; 32 is wrong for it.
    let mut t = unsigned_tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    t.body.sender = PublicKey { scheme: KeyScheme::Sm2, bytes: vec![2; 32] };
    expect_invalid(&t, "public key");
    // Signatures.
    let mut t = unsigned_tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    t.signature.bytes.pop();
    expect_invalid(&t, "signature");
    let mut r = unsigned_reading(1);
    r.signature.bytes.push(0);
    expect_invalid(&unsigned_tx(TxPayload::SubmitReadings { gateway: dev("A-GW1"), readings: vec![r] }), "signature");
    // A signature whose scheme differs from the sender's.
    let mut t = unsigned_tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    t.signature.scheme = KeyScheme::Sm2;
    expect_invalid(&t, "scheme");
}

#[test]
fn other_field_limits_are_invalid() {
    let mut t = unsigned_tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    t.body.chain_id = borsh::from_slice(&borsh::to_vec(&"c".repeat(33)).unwrap()).unwrap();
    expect_invalid(&t, "chain id");
    expect_invalid(
        &unsigned_tx(TxPayload::RevokeDevice { device: dev("A-EM1"), reason: "x".repeat(MAX_MESSAGE_LEN + 1) }),
        "revocation reason",
    );
    assert!(
        decode_tx(&encode(&unsigned_tx(TxPayload::RevokeDevice {
            device: dev("A-EM1"),
            reason: "x".repeat(MAX_MESSAGE_LEN)
        })))
        .is_ok()
    );
    // Calibration: bad issuer check character, interval ending before it starts, empty number.
    let mut c = calibration();
    let s = c.issuer.as_str().to_string();
    let wrong = if s.ends_with('0') { "1" } else { "0" };
    c.issuer = borsh::from_slice(&borsh::to_vec(&format!("{}{wrong}", &s[..17])).unwrap()).unwrap();
    expect_invalid(
        &unsigned_tx(TxPayload::RecordCalibration { meter: dev("A-EM1"), calibration: c }),
        "check character",
    );
    let mut c = calibration();
    c.valid_until_ms = c.valid_from_ms;
    expect_invalid(
        &unsigned_tx(TxPayload::RecordCalibration { meter: dev("A-EM1"), calibration: c }),
        "ends before it starts",
    );
    let mut c = calibration();
    c.certificate_no.clear();
    expect_invalid(
        &unsigned_tx(TxPayload::RecordCalibration { meter: dev("A-EM1"), calibration: c }),
        "certificate number",
    );
    // Meter specs: unit not of the energy kind, rate unit on a cumulative register, empty
    // location, non-positive register maximum.
    type Edit = fn(&mut MeterSpec);
    let cases: Vec<(Edit, &str)> = vec![
        (|m| m.unit = Unit::CubicMetre, "not a unit for"),
        (|m| m.unit = Unit::Kilowatt, "rate units"),
        (|m| m.location = LocationPath(vec![]), "location path is empty"),
        (|m| m.location = LocationPath(vec!["a/b".into()]), "location segment"),
        (|m| m.register_max = Quantity::from_micros(0), "register maximum"),
    ];
    for (f, needle) in cases {
        let mut spec = meter_spec();
        f(&mut spec);
        expect_invalid(&unsigned_tx(TxPayload::RegisterMeter { meter: spec }), needle);
    }
}

// ---------------------------------------------------------------------------------------------
// Tags (DecodeError::Malformed)
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_enum_tags_are_malformed() {
    // The payload tag follows the chain id, the sender key and the nonce.
    let t = tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    let bytes = encode(&t);
    let payload_at = encode(&t.body.chain_id).len() + encode(&t.body.sender).len() + 8;
    assert_eq!(bytes[payload_at], 4, "ActivateDevice is the fifth payload kind");
    for tag in [7u8, 8, 0xFF] {
        let mut b = bytes.clone();
        b[payload_at] = tag;
        expect_malformed(&b);
    }
    // The sender key's scheme tag comes right after the chain id.
    let scheme_at = encode(&t.body.chain_id).len();
    assert_eq!(bytes[scheme_at], KeyScheme::Ed25519 as u8);
    let mut b = bytes.clone();
    b[scheme_at] = 2;
    expect_malformed(&b);

    // Tags inside a reading: unit, signer, origin, the `clock_suspect` bool.
    let with = |f: &dyn Fn(&mut SignedReading)| {
        let mut r = unsigned_reading(1);
        f(&mut r);
        encode(&unsigned_tx(TxPayload::SubmitReadings { gateway: dev("A-GW1"), readings: vec![r] }))
    };
    let base = with(&|_| {});
    let cases: [(Vec<u8>, &[u8]); 4] = [
        (with(&|r| r.reading.unit = Unit::MegawattHour), &[11, 0xFF]),
        (with(&|r| r.signer = ReadingSigner::Meter), &[2, 0xFF]),
        (with(&|r| r.reading.origin = ReadingOrigin::Imported), &[3, 0xFF]),
        (with(&|r| r.reading.clock_suspect = true), &[2, 0xFF]),
    ];
    for (changed, bad_values) in cases {
        let at = differing_byte(&base, &changed);
        assert!(decode_tx(&changed).is_ok());
        for v in bad_values {
            let mut b = base.clone();
            b[at] = *v;
            expect_malformed(&b);
        }
    }

    // Tags inside a meter spec: energy kind, register kind, the Option of its key.
    let with = |f: &dyn Fn(&mut MeterSpec)| {
        let mut m = meter_spec();
        f(&mut m);
        encode(&unsigned_tx(TxPayload::RegisterMeter { meter: m }))
    };
    let base = with(&|_| {});
    let at = differing_byte(&base, &with(&|m| m.energy = EnergyKind::Water));
    let mut b = base.clone();
    b[at] = EnergyKind::ALL.len() as u8;
    expect_malformed(&b);
    let at = differing_byte(&base, &with(&|m| m.register = RegisterKind::Instantaneous));
    let mut b = base.clone();
    b[at] = 3; // 0, 1 and 2 (cumulative_export) are kinds
    expect_malformed(&b);
    // `Some(key)` is tag 1 then 1 + 4 + 32 bytes, the last field of the spec.
    let key_len = encode(&meter_spec().public_key.unwrap()).len();
    let option_at = base.len() - 64 - 1 - 4 - key_len - 1;
    assert_eq!(base[option_at], 1);
    let mut b = base.clone();
    b[option_at] = 2;
    expect_malformed(&b);
}

// ---------------------------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------------------------

#[test]
fn block_counts_and_limits_are_checked() {
    let txs: Vec<Transaction> = payloads().into_iter().map(tx).collect();
    let decode_block = |b: &Block| decode::<Block>(&encode(b), MAX_BLOCK_BYTES);

    let mut b = block(txs.clone());
    b.header.tx_count += 1;
    assert!(matches!(decode_block(&b), Err(DecodeError::Invalid(m)) if m.contains("transaction count")));
    let mut b = block(txs.clone());
    b.header.reading_count -= 1;
    assert!(matches!(decode_block(&b), Err(DecodeError::Invalid(m)) if m.contains("reading count")));

    // An invalid transaction inside a block names its position.
    let mut inner = txs.clone();
    inner.push(unsigned_tx(batch(0)));
    assert!(
        matches!(decode_block(&block(inner)), Err(DecodeError::Invalid(m)) if m.contains(&format!("transaction {}", txs.len())))
    );

    // Too many transactions.
    let small = unsigned_tx(TxPayload::ActivateDevice { device: dev("A-EM1") });
    let at_limit = block(vec![small.clone(); MAX_TXS_PER_BLOCK]);
    assert!(decode_block(&at_limit).is_ok());
    let over = block(vec![small; MAX_TXS_PER_BLOCK + 1]);
    assert!(matches!(decode_block(&over), Err(DecodeError::Invalid(m)) if m.contains("block transactions")));

    // Too many readings across transactions, each batch within its own limit.
    let full = unsigned_tx(batch(MAX_READINGS_PER_TX));
    let n = MAX_READINGS_PER_BLOCK / MAX_READINGS_PER_TX;
    let at_limit = block(vec![full.clone(); n]);
    assert!(encode(&at_limit).len() <= MAX_BLOCK_BYTES);
    assert!(decode_block(&at_limit).is_ok());
    let mut over = vec![full; n];
    over.push(unsigned_tx(batch(1)));
    let over = block(over);
    assert!(encode(&over).len() <= MAX_BLOCK_BYTES);
    assert!(matches!(decode_block(&over), Err(DecodeError::Invalid(m)) if m.contains("block readings")));
}

// ---------------------------------------------------------------------------------------------
// Shift calendars and outputs (appended payload kinds: earlier encodings keep their tags)
// ---------------------------------------------------------------------------------------------

fn shift_calendar(night_end: u16) -> trustmeter_types::ShiftCalendar {
    use trustmeter_types::ShiftDef;
    let s = |name: &str, start: u16, end: u16| ShiftDef { name: name.into(), start_minute: start, end_minute: end };
    trustmeter_types::ShiftCalendar {
        effective_from: 20_261_101,
        shifts: vec![s("早班", 360, 840), s("中班", 840, 1_320), s("夜班", 1_320, night_end)],
        teams: vec!["甲".into()],
        rotation: None,
    }
}

#[test]
fn shift_payloads_take_the_next_tags_and_overlapping_shifts_do_not_decode() {
    let calendar = TxPayload::SetShiftCalendar { calendar: shift_calendar(360) };
    let output = TxPayload::RecordShiftOutput {
        output: trustmeter_types::ShiftOutput {
            day: 20_261_121,
            shift: "夜班".into(),
            team: None,
            products: vec![trustmeter_types::tx::ProductOutput {
                product: "整车".into(),
                unit: "辆".into(),
                quantity: Quantity::from_micros(50_000_000),
            }],
            note: String::new(),
        },
    };
    // After DeployRewardSchedule (27): every earlier payload encodes as before.
    assert_eq!(encode(&calendar)[0], 28);
    assert_eq!(encode(&output)[0], 29);
    for p in [calendar, output] {
        let t = tx(p);
        assert_eq!(decode_tx(&encode(&t)).unwrap(), t);
    }
    // 夜班 22:00–06:30 overlaps 早班 06:00–14:00 on the next morning.
    expect_invalid(&unsigned_tx(TxPayload::SetShiftCalendar { calendar: shift_calendar(390) }), "overlap");
}
