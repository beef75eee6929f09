//! DL/T 645-2007: frames against bytes worked out by hand from the standard's layout, and the
//! driver against the TCP meter emulator.

use crate::common::*;
use std::time::Duration;
use trustmeter_meters::dlt645::{
    CONTROL_READ_ABNORMAL, Dlt645Client, Frame, decode_energy, decode_frame, frame_length, parse_read_reply,
};
use trustmeter_meters::emulator::Dlt645Server;
use trustmeter_meters::{Dlt645Address, Dlt645Error, Dlt645Register, Dlt645Source, DriverError, Scale, SourceConfig};
use trustmeter_types::Quantity;

const METER: &str = "000000123456";

/// Read request for total forward active energy (DI 00 01 00 00) to meter 000000123456:
/// - `68`, address low byte first: 56 34 12 00 00 00, `68`;
/// - control `11` (read data), length `04`;
/// - data DI0..DI3 = 00 00 01 00, each +0x33: `33 33 34 33`;
/// - checksum: 68+56+34+12+68+11+04+33+33+34+33 = 0x24E → `4E`; end `16`.
const REQUEST_TOTAL: [u8; 16] =
    [0x68, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x68, 0x11, 0x04, 0x33, 0x33, 0x34, 0x33, 0x4E, 0x16];

/// Normal reply with 123456.78 kWh: control `91`, length `08`, DI `33 33 34 33`, value BCD low
/// byte first 78 56 34 12 → +0x33 → `AB 89 67 45`; checksum 0x4B2 → `B2`.
const REPLY_TOTAL: [u8; 20] = [
    0x68, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x68, 0x91, 0x08, 0x33, 0x33, 0x34, 0x33, 0xAB, 0x89, 0x67, 0x45, 0xB2,
    0x16,
];

/// Abnormal reply, error byte 02 (无请求数据): control `D1`, length `01`, data 02+33 = `35`,
/// checksum 0x273 → `73`.
const ABNORMAL: [u8; 13] = [0x68, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x68, 0xD1, 0x01, 0x35, 0x73, 0x16];

fn addr() -> Dlt645Address {
    Dlt645Address::parse(METER).unwrap()
}

#[test]
fn frames_match_hand_computed_bytes() {
    let req = Frame::read_request(addr(), Dlt645Register::Total.data_identifier());
    assert_eq!(req.encode(false), REQUEST_TOTAL);
    let mut woken = vec![0xFE; 4];
    woken.extend_from_slice(&REQUEST_TOTAL);
    assert_eq!(req.encode(true), woken);
    // The broadcast read of the total, as printed in countless meter manuals.
    let broadcast = Frame::read_request(Dlt645Address::BROADCAST, 0x0001_0000).encode(false);
    assert_eq!(
        broadcast,
        [0x68, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0x68, 0x11, 0x04, 0x33, 0x33, 0x34, 0x33, 0xAE, 0x16]
    );
    // Valley (谷, tariff 4): DI 00 01 04 00 → data 33 37 34 33, checksum 0x252 → 52.
    let valley = Frame::read_request(addr(), Dlt645Register::Valley.data_identifier()).encode(false);
    assert_eq!(&valley[10..], &[0x33, 0x37, 0x34, 0x33, 0x52, 0x16]);

    assert_eq!(decode_frame(&REQUEST_TOTAL).unwrap(), req);
    let reply = decode_frame(&REPLY_TOTAL).unwrap();
    assert_eq!(reply.control, 0x91);
    let value = parse_read_reply(&reply, addr(), 0x0001_0000).unwrap();
    assert_eq!(value, [0x78, 0x56, 0x34, 0x12]);
    assert_eq!(decode_energy(&value).unwrap(), Quantity::from_micros(123_456_780_000));
    // Encoding the decoded reply gives the same bytes back.
    assert_eq!(reply.encode(false), REPLY_TOTAL);
}

#[test]
fn wake_up_bytes_are_tolerated_up_to_four() {
    for n in 0..=4 {
        let mut b = vec![0xFE; n];
        b.extend_from_slice(&REPLY_TOTAL);
        assert_eq!(frame_length(&b).unwrap(), Some(b.len()));
        assert!(decode_frame(&b).is_ok(), "{n} wake-up bytes");
    }
    let mut b = vec![0xFE; 5];
    b.extend_from_slice(&REPLY_TOTAL);
    assert_eq!(decode_frame(&b), Err(Dlt645Error::TooManyWakeUp { count: 5 }));
    assert_eq!(frame_length(&b), Err(Dlt645Error::TooManyWakeUp { count: 5 }));
    // Incomplete input asks for more.
    assert_eq!(frame_length(&REPLY_TOTAL[..9]).unwrap(), None);
    assert_eq!(frame_length(&REPLY_TOTAL[..19]).unwrap(), None);
}

#[test]
fn every_bad_frame_has_its_own_error() {
    let with = |i: usize, v: u8| {
        let mut b = REPLY_TOTAL.to_vec();
        b[i] = v;
        b
    };
    assert_eq!(decode_frame(&with(0, 0x69)), Err(Dlt645Error::BadStart { offset: 0, got: 0x69 }));
    assert_eq!(decode_frame(&with(7, 0x00)), Err(Dlt645Error::BadStart { offset: 7, got: 0x00 }));
    assert_eq!(decode_frame(&with(19, 0x17)), Err(Dlt645Error::BadEnd { got: 0x17 }));
    let bad_cs = decode_frame(&with(18, 0xB3)).unwrap_err();
    assert_eq!(bad_cs, Dlt645Error::Checksum { got: 0xB3, expected: 0xB2 });
    assert_eq!(bad_cs.to_string(), "checksum 0xB3, expected 0xB2");
    // A changed data byte breaks the checksum too.
    assert!(matches!(decode_frame(&with(15, 0x00)), Err(Dlt645Error::Checksum { .. })));
    // Length byte says 9 but 8 data bytes follow.
    assert!(matches!(decode_frame(&with(9, 0x09)), Err(Dlt645Error::LengthMismatch { declared: 9, .. })));
    let mut long = REPLY_TOTAL.to_vec();
    long.push(0x00);
    assert!(matches!(decode_frame(&long), Err(Dlt645Error::LengthMismatch { actual_len: 21, .. })));
    assert!(matches!(decode_frame(&REPLY_TOTAL[..5]), Err(Dlt645Error::Truncated { .. })));
    assert!(matches!(decode_frame(&with(9, 0xFF)), Err(Dlt645Error::TooLong { declared: 255, .. })));

    // Non-BCD value digit: 7A - 33 ... build a valid frame with value byte 0x7A.
    let f = Frame { address: addr(), control: 0x91, data: vec![0x00, 0x00, 0x01, 0x00, 0x7A, 0x00, 0x00, 0x00] };
    let decoded = decode_frame(&f.encode(false)).unwrap();
    let value = parse_read_reply(&decoded, addr(), 0x0001_0000).unwrap();
    assert_eq!(decode_energy(&value), Err(Dlt645Error::NotBcd { what: "energy value", byte: 0x7A }));

    let reply = decode_frame(&REPLY_TOTAL).unwrap();
    let other = Dlt645Address::parse("000000654321").unwrap();
    assert!(matches!(parse_read_reply(&reply, other, 0x0001_0000), Err(Dlt645Error::AddressMismatch { .. })));
    assert!(matches!(
        parse_read_reply(&reply, addr(), 0x0001_0100),
        Err(Dlt645Error::DataIdMismatch { expected: 0x0001_0100, got: 0x0001_0000 })
    ));
    let wrong_control = Frame { control: 0x93, ..reply.clone() };
    assert_eq!(
        parse_read_reply(&wrong_control, addr(), 0x0001_0000),
        Err(Dlt645Error::UnexpectedControl { expected: 0x91, got: 0x93 })
    );
    let abnormal = decode_frame(&ABNORMAL).unwrap();
    assert_eq!(abnormal.control, CONTROL_READ_ABNORMAL);
    let e = parse_read_reply(&abnormal, addr(), 0x0001_0000).unwrap_err();
    assert!(matches!(e, Dlt645Error::Abnormal { code: 0x02, .. }));
    assert!(e.to_string().contains("无请求数据"), "{e}");
}

fn dlt_source(server: &Dlt645Server, meter: &str, register: Dlt645Register, timeout_ms: u64) -> SourceConfig {
    SourceConfig::Dlt645(Dlt645Source {
        address: server.address(),
        meter_address: Dlt645Address::parse(meter).unwrap(),
        register,
        timeout_ms,
    })
}

fn kwh(hundredths: i64) -> Quantity {
    Quantity::from_micros(hundredths * 10_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_and_four_tariffs_through_the_tcp_emulator() {
    let server = Dlt645Server::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    // 尖 + 峰 + 平 + 谷 = 总.
    let values = [12_345_678, 1_000_000, 4_000_012, 5_345_600, 2_000_066];
    for (r, v) in Dlt645Register::ALL.iter().zip(values) {
        server.set_energy(addr(), *r, kwh(v)).unwrap();
    }
    assert_eq!(values[1..].iter().sum::<i64>(), values[0]);
    let mut points: Vec<_> =
        Dlt645Register::ALL.iter().map(|r| point("E-1", dlt_source(&server, METER, *r, 1000))).collect();
    // A CT ratio of 200 on the total.
    let mut ct = point("E-1", dlt_source(&server, METER, Dlt645Register::Total, 1000));
    ct.scale = Scale::parse("200").unwrap();
    points.push(ct);
    let mut run = run(points, fast_clock());
    for (i, v) in values.iter().enumerate() {
        assert_eq!(run.sample_of(i, 5).await.value, kwh(*v), "{}", Dlt645Register::ALL[i]);
    }
    assert_eq!(run.sample_of(5, 5).await.value, kwh(values[0] * 200));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_checksum_is_a_typed_error_and_the_next_poll_succeeds() {
    let server = Dlt645Server::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    server.set_energy(addr(), Dlt645Register::Total, kwh(100)).unwrap();
    let mut run = run(vec![point("E-1", dlt_source(&server, METER, Dlt645Register::Total, 1000))], fast_clock());
    assert_eq!(run.sample_of(0, 5).await.value, kwh(100));
    // The corrupted reply and the ones after it carry the new value.
    server.set_energy(addr(), Dlt645Register::Total, kwh(101)).unwrap();
    server.corrupt_next_checksum();
    let e = loop {
        match run.next_of(0, 5).await {
            trustmeter_meters::DriverEvent::Sample(s) => assert!(s.value == kwh(100) || s.value == kwh(101)),
            trustmeter_meters::DriverEvent::Error { error, .. } => break error,
            other => panic!("{other:?}"),
        }
    };
    match &e {
        DriverError::Dlt645 { peer, error: Dlt645Error::Checksum { got, expected } } => {
            assert_eq!(peer, &server.address());
            assert_eq!(*got, expected.wrapping_add(1));
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let text = e.to_string();
    assert!(text.starts_with(&format!("DL/T 645 frame from {}: checksum 0x", server.address())), "{text}");
    match run.next_of(0, 5).await {
        trustmeter_meters::DriverEvent::Sample(s) => assert_eq!(s.value, kwh(101)),
        other => panic!("the poll after a bad frame should succeed, got {other:?}"),
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_up_bytes_abnormal_replies_and_silent_meters() {
    let server = Dlt645Server::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    server.set_wake_up(true);
    server.set_energy(addr(), Dlt645Register::Peak, kwh(5_55)).unwrap();
    let mut run = run(
        vec![
            point("E-1", dlt_source(&server, METER, Dlt645Register::Peak, 1000)),
            // Not on the bus: silence, then a timeout, on the same connection.
            point("E-2", dlt_source(&server, "000000999999", Dlt645Register::Total, 100)),
        ],
        fast_clock(),
    );
    assert_eq!(run.sample_of(0, 5).await.value, kwh(5_55));
    let e = run.error_of(1, 5).await;
    assert!(matches!(e, DriverError::Timeout { protocol: "DL/T 645", timeout_ms: 100, .. }), "{e:?}");
    assert!(e.to_string().contains("000000999999"), "{e}");
    server.abnormal_next(0x04);
    let e = run.error_of(0, 5).await;
    assert!(matches!(&e, DriverError::Dlt645 { error: Dlt645Error::Abnormal { code: 0x04, .. }, .. }), "{e:?}");
    assert!(e.to_string().contains("密码错"), "{e}");
    assert_eq!(run.sample_of(0, 5).await.value, kwh(5_55));
    run.stop().await;
}

#[tokio::test]
async fn one_shot_client() {
    let server = Dlt645Server::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    server.set_energy(addr(), Dlt645Register::Flat, kwh(99_999_999)).unwrap();
    assert!(server.set_energy(addr(), Dlt645Register::Flat, kwh(100_000_000)).is_err());
    assert!(server.set_energy(addr(), Dlt645Register::Flat, Quantity::from_micros(1)).is_err());
    let mut c = Dlt645Client::connect(&server.address(), Duration::from_secs(1)).await.unwrap();
    let q = c.read_energy(addr(), Dlt645Register::Flat, Duration::from_secs(1)).await.unwrap();
    assert_eq!(q, kwh(99_999_999));
    assert_eq!(server.requests(), 1);
}
