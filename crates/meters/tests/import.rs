//! Import of historical data (CSV, JSON) and manual entry: good files and every kind of bad row.

use std::io::Write;
use trustmeter_meters::import::RowPlace;
use trustmeter_meters::limits::{MAX_IMPORT_BYTES, MAX_IMPORT_ROWS};
use trustmeter_meters::{DecimalError, ImportError, parse_csv, parse_json, parse_manual_value};
use trustmeter_types::{Quantity, Unit};

/// 2026-03-02 08:15 Asia/Shanghai = 00:15 UTC.
const T0: i64 = 1_772_410_500_000;

fn csv(text: &str) -> Result<Vec<trustmeter_meters::ImportRow>, ImportError> {
    parse_csv(text.as_bytes())
}

#[test]
fn good_csv_from_a_real_file() {
    let dir = std::env::temp_dir().join(format!("trustmeter-meters-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    write!(
        f,
        "\u{feff}meter,timestamp,value,unit\n\
         # exported from the old EMS\n\
         E-01,2026-03-02 08:15,123456.78,kWh\n\
         E-01, 2026-03-02 08:30:00 ,123460.1,kilowatt_hour\n\
         \n\
         G-01,2026-03-02T00:15:00Z,0.000001,Nm³\n\
         W-01,2026-03-02T08:15:00+08:00,-5,\n"
    )
    .unwrap();
    drop(f);
    let rows = parse_csv(std::fs::File::open(&path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].meter.as_str(), "E-01");
    assert_eq!(rows[0].timestamp_ms, T0);
    assert_eq!(rows[0].value, Quantity::from_micros(123_456_780_000));
    assert_eq!(rows[0].unit, Some(Unit::KilowattHour));
    assert_eq!(rows[1].timestamp_ms, T0 + 900_000);
    assert_eq!(rows[1].value, Quantity::from_micros(123_460_100_000));
    assert_eq!((rows[2].timestamp_ms, rows[2].value.micros(), rows[2].unit), (T0, 1, Some(Unit::NormalCubicMetre)));
    assert_eq!((rows[3].timestamp_ms, rows[3].value.micros(), rows[3].unit), (T0, -5_000_000, None));
    // Columns in another order, no unit column.
    let rows = csv("value,meter,timestamp\n1.5,E-01,2026-03-02 08:15\n").unwrap();
    assert_eq!((rows[0].value.micros(), rows[0].unit), (1_500_000, None));
    assert!(csv("meter,timestamp,value\n").unwrap().is_empty());
}

fn field_error(r: Result<Vec<trustmeter_meters::ImportRow>, ImportError>) -> (RowPlace, &'static str, String, String) {
    match r {
        Err(ImportError::Field { at, column, value, reason }) => (at, column, value, reason),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn each_kind_of_bad_csv_row_names_line_and_column() {
    let head = "meter,timestamp,value,unit\nE-01,2026-03-02 08:00,1,kWh\n";
    let cases: [(&str, &str, &str); 9] = [
        ("E 01,2026-03-02 08:15,1,kWh", "meter", "not allowed"),
        (",2026-03-02 08:15,1,kWh", "meter", "empty"),
        ("E-01,2026-02-30 08:15,1,kWh", "timestamp", "not a time"),
        ("E-01,02/03/2026 08:15,1,kWh", "timestamp", "YYYY-MM-DD"),
        ("E-01,1990-03-02 08:15,1,kWh", "timestamp", "2000"),
        ("E-01,2026-03-02 08:15,1.0000001,kWh", "value", "more than 6 decimal places"),
        ("E-01,2026-03-02 08:15,1e3,kWh", "value", "no exponent"),
        ("E-01,2026-03-02 08:15,12 kWh,kWh", "value", "not allowed"),
        ("E-01,2026-03-02 08:15,1,BTU", "unit", "kWh"),
    ];
    for (row, column, hint) in cases {
        let (at, col, _value, reason) = field_error(csv(&format!("{head}{row}\n")));
        assert_eq!(at, RowPlace::CsvLine(3), "{row}");
        assert_eq!(col, column, "{row}");
        assert!(reason.contains(hint), "{row}: {reason}");
    }
    let e = csv(&format!("{head}E-01,2026-03-02 08:15,1.0000001,kWh\n")).unwrap_err();
    assert!(e.to_string().starts_with("line 3, column `value`: \"1.0000001\""), "{e}");

    assert_eq!(
        csv(&format!("{head}E-01,2026-03-02 08:15,1\n")).unwrap_err(),
        ImportError::Row { at: RowPlace::CsvLine(3), reason: "has 3 fields, the header has 4".into() }
    );
    for (header, hint) in [
        ("meter,time,value", "unknown column \"time\""),
        ("meter,timestamp", "\"value\" is missing"),
        ("meter,timestamp,value,value", "appears twice"),
        ("", "empty"),
    ] {
        match csv(&format!("{header}\n")) {
            Err(ImportError::Header(m)) => assert!(m.contains(hint), "{header}: {m}"),
            other => panic!("{header}: {other:?}"),
        }
    }
    let bad_utf8: &[u8] = b"meter,timestamp,value\nE-01,2026-03-02 08:15,\xFF\n";
    assert!(matches!(parse_csv(bad_utf8), Err(ImportError::Row { at: RowPlace::CsvLine(2), .. })));
}

#[test]
fn limits_on_rows_and_bytes() {
    let mut ok = String::from("meter,timestamp,value\n");
    for i in 0..=MAX_IMPORT_ROWS {
        ok.push_str(&format!("E-01,2026-03-02 08:15,{i}\n"));
    }
    assert_eq!(csv(&ok), Err(ImportError::TooManyRows { max: MAX_IMPORT_ROWS }));
    let mut json = String::from("[");
    for i in 0..=MAX_IMPORT_ROWS {
        json.push_str(&format!(
            "{}{{\"meter\":\"E-01\",\"timestamp\":\"2026-03-02 08:15\",\"value\":{i}}}",
            if i > 0 { "," } else { "" }
        ));
    }
    json.push(']');
    assert_eq!(parse_json(json.as_bytes()), Err(ImportError::TooManyRows { max: MAX_IMPORT_ROWS }));

    let mut huge = String::from("meter,timestamp,value\n#");
    huge.push_str(&" ".repeat(MAX_IMPORT_BYTES as usize));
    assert_eq!(csv(&huge), Err(ImportError::TooLarge { max: MAX_IMPORT_BYTES }));
    let mut huge_json = String::from("[");
    huge_json.push_str(&" ".repeat(MAX_IMPORT_BYTES as usize));
    assert_eq!(parse_json(huge_json.as_bytes()), Err(ImportError::TooLarge { max: MAX_IMPORT_BYTES }));
}

#[test]
fn good_json_is_exact() {
    let text = r#"[
        {"meter": "E-01", "timestamp": "2026-03-02 08:15", "value": 123456789.123456, "unit": "kWh"},
        {"meter": "E-01", "timestamp": 1772411400000, "value": "123456789.2"},
        {"meter": "S-01", "timestamp": "2026-03-02T08:15:00+08:00", "value": 12, "unit": "t"}
    ]"#;
    let rows = parse_json(text.as_bytes()).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].value, Quantity::from_micros(123_456_789_123_456));
    assert_eq!((rows[0].timestamp_ms, rows[0].unit), (T0, Some(Unit::KilowattHour)));
    assert_eq!((rows[1].timestamp_ms, rows[1].value.micros(), rows[1].unit), (T0 + 900_000, 123_456_789_200_000, None));
    assert_eq!(rows[2].unit, Some(Unit::Tonne));
    // 19 significant digits: exact only because the number's text is read, not an f64.
    let rows =
        parse_json(r#"[{"meter":"E-01","timestamp":"2026-03-02 08:15","value":9223372036854.775807}]"#.as_bytes())
            .unwrap();
    assert_eq!(rows[0].value.micros(), i64::MAX);
    assert!(parse_json("[]".as_bytes()).unwrap().is_empty());
}

#[test]
fn each_kind_of_bad_json() {
    let json = |s: &str| parse_json(s.as_bytes());
    let row = |fields: &str| format!(r#"[{{"meter":"E-01","timestamp":"2026-03-02 08:00","value":1}},{{{fields}}}]"#);
    let (at, col, _, reason) = field_error(json(&row(r#""meter":"E-01","timestamp":"2026-03-02 08:15","value":1e3"#)));
    assert_eq!((at, col), (RowPlace::JsonElement(2), "value"));
    assert!(reason.contains("exponent"), "{reason}");
    let (_, col, _, _) = field_error(json(&row(r#""meter":"E-01","timestamp":"2026-03-02 08:15","value":{"x":1}"#)));
    assert_eq!(col, "value");
    let (_, col, _, reason) = field_error(json(&row(r#""meter":"E-01","timestamp":1772410500,"value":1"#)));
    assert_eq!(col, "timestamp");
    assert!(reason.contains("2000"), "{reason}");
    let (_, col, _, _) = field_error(json(&row(r#""meter":"E-01","timestamp":true,"value":1"#)));
    assert_eq!(col, "timestamp");
    let (_, col, _, _) = field_error(json(&row(r#""meter":"bad id!","timestamp":"2026-03-02 08:15","value":1"#)));
    assert_eq!(col, "meter");
    let (_, col, _, _) =
        field_error(json(&row(r#""meter":"E-01","timestamp":"2026-03-02 08:15","value":1,"unit":"BTU""#)));
    assert_eq!(col, "unit");
    let e = json(&row(r#""meter":"E-01","timestamp":"2026-03-02 08:15","value":1,"extra":2"#)).unwrap_err();
    assert!(
        matches!(&e, ImportError::Json { line: 1, message, .. } if message.contains("unknown field `extra`")),
        "{e:?}"
    );
    let e = json(&row(r#""meter":"E-01","value":1"#)).unwrap_err();
    assert!(matches!(&e, ImportError::Json { message, .. } if message.contains("missing field `timestamp`")), "{e:?}");
    let e = json("[\n  {\"meter\": \"E-01\",\n   \"timestamp\": \"2026-03-02 08:15\" \"value\": 1}\n]").unwrap_err();
    assert!(matches!(e, ImportError::Json { line: 3, .. }), "{e:?}");
    assert!(e.to_string().starts_with("JSON line 3, column "), "{e}");
    assert!(matches!(json(r#"{"meter":"E-01"}"#), Err(ImportError::Json { .. })));
    assert!(matches!(json("[] trailing"), Err(ImportError::Json { .. })));
}

#[test]
fn manual_values() {
    assert_eq!(parse_manual_value(" 1234.5 ").unwrap(), Quantity::from_micros(1_234_500_000));
    assert!(matches!(parse_manual_value("1,234.5"), Err(DecimalError::Invalid { .. })));
    assert!(matches!(parse_manual_value("0.1234567"), Err(DecimalError::TooPrecise { .. })));
    assert!(matches!(parse_manual_value("99999999999999"), Err(DecimalError::OutOfRange { .. })));
}
