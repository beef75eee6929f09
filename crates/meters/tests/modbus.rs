//! Modbus TCP driver against a real tokio-modbus server on loopback.

use crate::common::*;
use std::net::SocketAddr;
use std::time::Duration;
use trustmeter_meters::{
    DataType, DriverError, ModbusSource, RawValue, RegisterTable, Scale, SourceConfig, WordOrder, decode_registers,
    emulator::ModbusServer,
};
use trustmeter_types::Quantity;

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn source(addr: &str, table: RegisterTable, register: u16, data_type: DataType, word_order: WordOrder) -> SourceConfig {
    SourceConfig::Modbus(ModbusSource {
        address: addr.into(),
        unit_id: 1,
        table,
        register,
        data_type,
        word_order,
        timeout_ms: 1000,
    })
}

/// One case: the value's registers written by hand (high word first), the scale, the expected
/// quantity in micro-units.
struct Case {
    data_type: DataType,
    words_big: &'static [u16],
    scale: &'static str,
    expected_micros: i64,
}

/// The bit patterns are worked out by hand (and checked with Python's `struct`):
/// 54321 = 0xD431; -1234 = 0x10000 - 1234 = 0xFB2E; 3 000 000 000 = 0xB2D0_5E00;
/// -2 000 000 000 = 0x1_0000_0000 - 0x7735_9400 = 0x88CA_6C00; 9 000 000 000 000 = 0x0000_082F_79CD_9000;
/// 12.5 = 1.5625 × 2³ → sign 0, exponent 127+3 = 0x82, mantissa 0x48_0000 → 0x4148_0000;
/// -1234.5678 as f64 = 0xC093_4A45_6D5C_FAAD.
const CASES: [Case; 7] = [
    Case { data_type: DataType::U16, words_big: &[0xD431], scale: "1", expected_micros: 54_321_000_000 },
    Case { data_type: DataType::I16, words_big: &[0xFB2E], scale: "0.1", expected_micros: -123_400_000 },
    Case { data_type: DataType::U32, words_big: &[0xB2D0, 0x5E00], scale: "0.01", expected_micros: 30_000_000_000_000 },
    Case {
        data_type: DataType::I32,
        words_big: &[0x88CA, 0x6C00],
        scale: "1",
        expected_micros: -2_000_000_000_000_000,
    },
    Case {
        data_type: DataType::U64,
        words_big: &[0x0000, 0x082F, 0x79CD, 0x9000],
        scale: "0.001",
        expected_micros: 9_000_000_000_000_000,
    },
    Case { data_type: DataType::F32, words_big: &[0x4148, 0x0000], scale: "1", expected_micros: 12_500_000 },
    Case {
        data_type: DataType::F64,
        words_big: &[0xC093, 0x4A45, 0x6D5C, 0xFAAD],
        scale: "1",
        expected_micros: -1_234_567_800,
    },
];

#[test]
fn decode_every_type_in_both_word_orders() {
    for c in &CASES {
        let mut little = c.words_big.to_vec();
        little.reverse();
        let big = decode_registers(c.words_big, c.data_type, WordOrder::BigEndian).unwrap();
        let swapped = decode_registers(&little, c.data_type, WordOrder::LittleEndian).unwrap();
        assert_eq!(big, swapped, "{}", c.data_type);
        let q = Scale::parse(c.scale).unwrap().apply(big).unwrap();
        assert_eq!(q.micros(), c.expected_micros, "{}", c.data_type);
        // The wrong word order reads something else (every case has distinct words).
        if c.words_big.len() > 1 {
            assert_ne!(decode_registers(c.words_big, c.data_type, WordOrder::LittleEndian).unwrap(), big);
        }
    }
    assert_eq!(decode_registers(&[0x4148, 0x0000], DataType::F32, WordOrder::BigEndian).unwrap(), RawValue::F32(12.5));
    // Wrong register counts are errors, never panics.
    for t in DataType::ALL {
        for n in 0..6 {
            let words = vec![0u16; n];
            assert_eq!(decode_registers(&words, t, WordOrder::BigEndian).is_ok(), n == t.register_count());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_word_order_and_table_through_a_real_server() {
    let server = ModbusServer::start(any_port()).await.unwrap();
    let addr = server.address();
    let mut points = Vec::new();
    let mut expected = Vec::new();
    let mut register = 0u16;
    for c in &CASES {
        for order in [WordOrder::BigEndian, WordOrder::LittleEndian] {
            for table in [RegisterTable::Holding, RegisterTable::Input] {
                let mut words = c.words_big.to_vec();
                if order == WordOrder::LittleEndian {
                    words.reverse();
                }
                match table {
                    RegisterTable::Holding => server.set_holding(register, &words),
                    RegisterTable::Input => server.set_input(register, &words),
                }
                let mut p = point(&format!("M-{}", points.len()), source(&addr, table, register, c.data_type, order));
                p.scale = Scale::parse(c.scale).unwrap();
                points.push(p);
                expected.push(c.expected_micros);
                register += 4;
            }
        }
    }
    assert_eq!(points.len(), 28);
    let mut run = run(points, fast_clock());
    for (i, want) in expected.iter().enumerate() {
        let s = run.sample_of(i, 10).await;
        assert_eq!(s.value.micros(), *want, "point {i}");
        assert!(!s.source_timestamp);
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_setter_and_values_that_change() {
    let server = ModbusServer::start(any_port()).await.unwrap();
    server.set_value(RegisterTable::Input, 10, RawValue::F32(100.25), DataType::F32, WordOrder::LittleEndian).unwrap();
    let mut run = run(
        vec![point("M-1", source(&server.address(), RegisterTable::Input, 10, DataType::F32, WordOrder::LittleEndian))],
        fast_clock(),
    );
    assert_eq!(run.sample_of(0, 5).await.value, Quantity::from_micros(100_250_000));
    server.set_value(RegisterTable::Input, 10, RawValue::F32(101.5), DataType::F32, WordOrder::LittleEndian).unwrap();
    let mut v = run.sample_of(0, 5).await.value;
    if v.micros() == 100_250_000 {
        v = run.sample_of(0, 5).await.value;
    }
    assert_eq!(v, Quantity::from_micros(101_500_000));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_is_an_error_event_and_polling_goes_on() {
    let server = ModbusServer::start(any_port()).await.unwrap();
    let mut run = run(
        vec![point("M-1", source(&server.address(), RegisterTable::Holding, 500, DataType::U32, WordOrder::BigEndian))],
        fast_clock(),
    );
    match run.next_of(0, 5).await {
        trustmeter_meters::DriverEvent::Error { error, meter, point } => {
            assert_eq!((point, meter.as_str()), (0, "M-1"));
            match &error {
                DriverError::ModbusException { code, unit_id, register, count, .. } => {
                    assert_eq!((*code, *unit_id, *register, *count), (0x02, 1, 500, 2));
                }
                other => panic!("expected an exception, got {other:?}"),
            }
            let text = error.to_string();
            assert!(text.contains("illegal data address") && text.contains("500"), "{text}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    server.set_holding(500, &[0x0001, 0x0000]);
    assert_eq!(run.sample_of(0, 5).await.value, Quantity::from_micros(65_536_000_000));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_then_up_reconnects() {
    let mut server = ModbusServer::start(any_port()).await.unwrap();
    server.set_holding(0, &[42]);
    let mut run = run(
        vec![point("M-1", source(&server.address(), RegisterTable::Holding, 0, DataType::U16, WordOrder::BigEndian))],
        fast_clock(),
    );
    assert_eq!(run.sample_of(0, 5).await.value, Quantity::from_micros(42_000_000));
    server.stop().await;
    // The open connection breaks, then connection attempts are refused (and backed off).
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let e = run.error_of(0, 5).await;
        assert!(
            matches!(e, DriverError::Io { .. } | DriverError::Connect { .. } | DriverError::Disconnected { .. }),
            "{e:?}"
        );
        kinds.push(e);
    }
    assert!(kinds.iter().any(|e| matches!(e, DriverError::Connect { .. })), "{kinds:?}");
    server.set_holding(0, &[43]);
    server.restart().await.unwrap();
    assert_eq!(run.sample_of(0, 10).await.value, Quantity::from_micros(43_000_000));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_device_times_out_then_recovers() {
    let server = ModbusServer::start(any_port()).await.unwrap();
    server.set_holding(0, &[7]);
    server.set_response_delay(Duration::from_millis(400));
    let mut src = source(&server.address(), RegisterTable::Holding, 0, DataType::U16, WordOrder::BigEndian);
    if let SourceConfig::Modbus(m) = &mut src {
        m.timeout_ms = 100;
    }
    let mut run = run(vec![point("M-1", src)], fast_clock());
    let e = run.error_of(0, 5).await;
    assert!(matches!(e, DriverError::Timeout { timeout_ms: 100, .. }), "{e:?}");
    assert!(e.to_string().contains("no answer within 100 ms"), "{e}");
    server.set_response_delay(Duration::ZERO);
    assert_eq!(run.sample_of(0, 5).await.value, Quantity::from_micros(7_000_000));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_and_nan_are_errors_not_panics() {
    let server = ModbusServer::start(any_port()).await.unwrap();
    server.set_holding(0, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]); // u64::MAX
    server.set_holding(10, &[0x7FC0, 0x0000]); // f32 NaN
    let mut run = run(
        vec![
            point("M-1", source(&server.address(), RegisterTable::Holding, 0, DataType::U64, WordOrder::BigEndian)),
            point("M-2", source(&server.address(), RegisterTable::Holding, 10, DataType::F32, WordOrder::BigEndian)),
        ],
        fast_clock(),
    );
    assert!(matches!(run.error_of(0, 5).await, DriverError::Overflow { .. }));
    assert!(matches!(run.error_of(1, 5).await, DriverError::NotFinite { .. }));
    run.stop().await;
}
