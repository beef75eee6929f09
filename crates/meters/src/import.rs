//! Historical data files and manual entry (手工填报).
//!
//! **CSV**: a header row naming the columns `meter,timestamp,value` and optionally `unit`, in any
//! order; then one reading per row. Fields are trimmed; empty lines and lines starting with `#`
//! are skipped; a UTF-8 byte-order mark is allowed.
//!
//! ```text
//! meter,timestamp,value,unit
//! 91430100MA4L0001XA-E01,2026-03-02 08:15,123456.78,kWh
//! 91430100MA4L0001XA-E01,2026-03-02T08:30:00+08:00,123460.1,kWh
//! ```
//!
//! **JSON**: an array of objects with the same fields; `value` a number or decimal string,
//! `timestamp` a string as below or an integer of Unix milliseconds, `unit` optional.
//!
//! - `timestamp`: RFC 3339 with an offset (`2026-03-02T08:15:00+08:00`, `…Z`), or
//!   `YYYY-MM-DD HH:MM[:SS]` (a `T` instead of the space also works) in **Asia/Shanghai** local
//!   time. Years 2000 to 2099.
//! - `value`: exact decimal text, at most six decimals, no exponent or separators. JSON numbers
//!   are read from their text, so they are exact too.
//! - `unit`: the unit's symbol (`kWh`, `m3`, `Nm3`, `t`, `GJ`, …; case-insensitive, `³` allowed;
//!   the older names such as `kilowatt_hour` are read too); empty means "the meter's registered
//!   unit".
//!
//! Limits: [`MAX_IMPORT_ROWS`] rows, [`MAX_IMPORT_BYTES`] bytes. Every error names the line (CSV),
//! the element (JSON) or the line and column (JSON syntax), the column and what is wrong. The whole
//! file is refused at the first error: fix it and import again.

use crate::decimal::{DecimalError, parse_quantity};
use crate::limits::{MAX_IMPORT_BYTES, MAX_IMPORT_ROWS};
use chrono::{DateTime, NaiveDateTime, TimeZone};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;
use std::io::Read;
use trustmeter_types::{DeviceId, Quantity, Unit};

/// Earliest timestamp accepted: 2000-01-01T00:00:00Z.
const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;
/// Latest timestamp accepted (exclusive): 2100-01-01T00:00:00Z.
const MAX_TIMESTAMP_MS: i64 = 4_102_444_800_000;

/// One imported reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// The meter.
    pub meter: DeviceId,
    /// Collection time, Unix milliseconds (UTC).
    pub timestamp_ms: i64,
    /// The register value.
    pub value: Quantity,
    /// The unit, if the file gives one (the gateway checks it against the meter's).
    pub unit: Option<Unit>,
}

/// Where in a file a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowPlace {
    /// A CSV line, 1-based (the header is line 1).
    CsvLine(u64),
    /// A JSON array element, 1-based.
    JsonElement(usize),
}

impl fmt::Display for RowPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowPlace::CsvLine(l) => write!(f, "line {l}"),
            RowPlace::JsonElement(i) => write!(f, "element {i} of the JSON array"),
        }
    }
}

/// Why an import file (or a manual entry) was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A field that does not parse.
    #[error("{at}, column `{column}`: {value:?} {reason}")]
    Field {
        /// The row.
        at: RowPlace,
        /// The column.
        column: &'static str,
        /// The text found (cut to 80 characters).
        value: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A row that is not shaped like the header says.
    #[error("{at}: {reason}")]
    Row {
        /// The row.
        at: RowPlace,
        /// What is wrong.
        reason: String,
    },
    /// The CSV header is missing a column, repeats one or names an unknown one.
    #[error("CSV header (line 1): {0}; the header must be meter,timestamp,value[,unit]")]
    Header(String),
    /// JSON that does not parse or has the wrong shape.
    #[error("JSON line {line}, column {column}: {message}")]
    Json {
        /// Line, 1-based.
        line: usize,
        /// Column, 1-based.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// More rows than [`MAX_IMPORT_ROWS`].
    #[error("the file has more than {max} rows; split it into smaller files")]
    TooManyRows {
        /// The limit.
        max: usize,
    },
    /// More bytes than [`MAX_IMPORT_BYTES`].
    #[error("the file is larger than {max} bytes; split it into smaller files")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
}

fn cut(s: &str) -> String {
    s.chars().take(80).collect()
}

fn check_range(ms: i64, text: &str) -> Result<i64, String> {
    if (MIN_TIMESTAMP_MS..MAX_TIMESTAMP_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("timestamp {text:?} is outside the years 2000 to 2099"))
    }
}

/// Parses RFC 3339 text (with an offset) into Unix milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let dt = DateTime::parse_from_rfc3339(t)
        .map_err(|e| format!("timestamp {:?} is not RFC 3339 text such as 2026-03-02T08:15:00+08:00 ({e})", cut(t)))?;
    check_range(dt.timestamp_millis(), t)
}

/// Parses an RFC 3339 timestamp, or `YYYY-MM-DD HH:MM[:SS]` in Asia/Shanghai local time, into Unix
/// milliseconds.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return check_range(dt.timestamp_millis(), t);
    }
    const LOCAL_FORMATS: [&str; 6] = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ];
    for f in LOCAL_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, f) {
            return match Shanghai.from_local_datetime(&naive).single() {
                Some(dt) => check_range(dt.timestamp_millis(), t),
                None => Err(format!(
                    "{:?} is ambiguous or does not exist in Asia/Shanghai local time; give an offset",
                    cut(t)
                )),
            };
        }
    }
    Err("is not a time: use RFC 3339 (2026-03-02T08:15:00+08:00) or YYYY-MM-DD HH:MM[:SS] in Asia/Shanghai local time"
        .into())
}

/// Parses a unit ([`Unit::parse`]): its symbol (`kWh`; case-insensitive, `³`
/// accepted for `3`).
pub fn parse_unit(text: &str) -> Result<Unit, String> {
    Unit::parse(text).ok_or_else(|| {
        let known: Vec<&str> = Unit::ALL.iter().map(|u| u.symbol()).collect();
        format!("is not a unit; use one of {}", known.join(", "))
    })
}

/// Parses a value entered by hand (手工填报): exact decimal text, at most six decimals.
pub fn parse_manual_value(text: &str) -> Result<Quantity, DecimalError> {
    parse_quantity(text)
}

/// Checks the text fields of one row.
fn build_row(
    at: RowPlace,
    meter: &str,
    timestamp: Result<i64, (String, String)>,
    value: &str,
    unit: Option<&str>,
) -> Result<ImportRow, ImportError> {
    let field =
        |column: &'static str, v: &str, reason: String| ImportError::Field { at, column, value: cut(v), reason };
    let meter_id =
        DeviceId::new(meter.trim()).map_err(|e| field("meter", meter, format!("is not a device id: {e}")))?;
    let timestamp_ms = timestamp.map_err(|(text, reason)| field("timestamp", &text, reason))?;
    let value_q = parse_quantity(value).map_err(|e| field("value", value, e.reason()))?;
    let unit = match unit.map(str::trim) {
        None | Some("") => None,
        Some(u) => Some(parse_unit(u).map_err(|r| field("unit", u, r))?),
    };
    Ok(ImportRow { meter: meter_id, timestamp_ms, value: value_q, unit })
}

/// A reader that fails once more than [`MAX_IMPORT_BYTES`] have been read.
struct Limited<R> {
    inner: R,
    read: u64,
}

const TOO_LARGE: &str = "import file over the size limit";

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > MAX_IMPORT_BYTES {
            return Err(std::io::Error::other(TOO_LARGE));
        }
        Ok(n)
    }
}

fn io_error(e: std::io::Error) -> ImportError {
    if e.to_string() == TOO_LARGE {
        ImportError::TooLarge { max: MAX_IMPORT_BYTES }
    } else {
        ImportError::Io(e.to_string())
    }
}

/// Parses a CSV file of historical readings (see the module documentation for the format).
pub fn parse_csv<R: Read>(reader: R) -> Result<Vec<ImportRow>, ImportError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .flexible(false)
        .from_reader(Limited { inner: reader, read: 0 });
    let csv_err = |e: csv::Error| -> ImportError {
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => io_error(io),
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => ImportError::Row {
                at: RowPlace::CsvLine(line),
                reason: format!("has {len} fields, the header has {expected_len}"),
            },
            csv::ErrorKind::Utf8 { .. } => ImportError::Row {
                at: RowPlace::CsvLine(line),
                reason: "is not valid UTF-8; save the file as UTF-8".into(),
            },
            other => ImportError::Row { at: RowPlace::CsvLine(line), reason: format!("{other:?}") },
        }
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(ImportError::Header("the file is empty or has no header".into()));
    }
    let (mut meter, mut ts, mut value, mut unit) = (None, None, None, None);
    for (i, h) in headers.iter().enumerate() {
        let name = h.trim_start_matches('\u{feff}').trim().to_lowercase();
        let slot = match name.as_str() {
            "meter" => &mut meter,
            "timestamp" => &mut ts,
            "value" => &mut value,
            "unit" => &mut unit,
            other => return Err(ImportError::Header(format!("unknown column {other:?}"))),
        };
        if slot.replace(i).is_some() {
            return Err(ImportError::Header(format!("column {name:?} appears twice")));
        }
    }
    let need =
        |c: Option<usize>, name: &str| c.ok_or_else(|| ImportError::Header(format!("column {name:?} is missing")));
    let (meter, ts, value) = (need(meter, "meter")?, need(ts, "timestamp")?, need(value, "value")?);

    let mut rows = Vec::new();
    for record in rdr.records() {
        let record = record.map_err(csv_err)?;
        if rows.len() == MAX_IMPORT_ROWS {
            return Err(ImportError::TooManyRows { max: MAX_IMPORT_ROWS });
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let get = |i: usize| record.get(i).unwrap_or("");
        let t = get(ts);
        let row = build_row(
            RowPlace::CsvLine(line),
            get(meter),
            parse_timestamp(t).map_err(|r| (t.to_owned(), r)),
            get(value),
            unit.map(get),
        )?;
        rows.push(row);
    }
    Ok(rows)
}

/// One element of a JSON import file, with `value` and `timestamp` kept as their JSON text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRowText {
    meter: String,
    timestamp: Box<serde_json::value::RawValue>,
    value: Box<serde_json::value::RawValue>,
    #[serde(default)]
    unit: Option<String>,
}

/// Collects array elements, stopping past the row limit.
struct RowsSeed<'a> {
    too_many: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<JsonRowText>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<JsonRowText>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects with meter, timestamp, value and optionally unit")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(row) = seq.next_element::<JsonRowText>()? {
            if out.len() == MAX_IMPORT_ROWS {
                self.too_many.set(true);
                return Err(serde::de::Error::custom("too many rows"));
            }
            out.push(row);
        }
        Ok(out)
    }
}

/// Parses a JSON file of historical readings: an array of objects with the CSV's fields.
pub fn parse_json<R: Read>(reader: R) -> Result<Vec<ImportRow>, ImportError> {
    let mut bytes = Vec::new();
    Limited { inner: reader, read: 0 }.read_to_end(&mut bytes).map_err(io_error)?;
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let parsed = RowsSeed { too_many: &too_many }.deserialize(&mut de).and_then(|rows| de.end().map(|()| rows));
    let texts = match parsed {
        Ok(t) => t,
        Err(_) if too_many.get() => return Err(ImportError::TooManyRows { max: MAX_IMPORT_ROWS }),
        Err(e) => {
            let message = e.to_string();
            // serde_json appends " at line L column C"; keep the reason only.
            let reason = message.split(" at line ").next().unwrap_or(&message).to_owned();
            return Err(ImportError::Json { line: e.line(), column: e.column(), message: reason });
        }
    };
    texts
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let at = RowPlace::JsonElement(i + 1);
            let ts_text = r.timestamp.get();
            let timestamp = match serde_json::from_str::<serde_json::Value>(ts_text) {
                Ok(serde_json::Value::String(s)) => parse_timestamp(&s).map_err(|e| (s, e)),
                Ok(serde_json::Value::Number(n)) => match n.as_i64() {
                    Some(ms) => check_range(ms, ts_text).map_err(|e| (ts_text.to_owned(), e)),
                    None => Err((ts_text.to_owned(), "is not an integer of Unix milliseconds".into())),
                },
                _ => Err((ts_text.to_owned(), "must be a string or an integer of Unix milliseconds".into())),
            };
            let v_text = r.value.get();
            let value = match serde_json::from_str::<serde_json::Value>(v_text) {
                Ok(serde_json::Value::String(s)) => s,
                Ok(serde_json::Value::Number(_)) => v_text.to_owned(),
                _ => {
                    return Err(ImportError::Field {
                        at,
                        column: "value",
                        value: cut(v_text),
                        reason: "must be a number or a string of decimal text".into(),
                    });
                }
            };
            build_row(at, &r.meter, timestamp, &value, r.unit.as_deref())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        // 2026-03-02 08:15 in Shanghai is 00:15 UTC.
        let expected = 1_772_410_500_000;
        assert_eq!(parse_timestamp("2026-03-02 08:15").unwrap(), expected);
        assert_eq!(parse_timestamp("2026-03-02T08:15:00").unwrap(), expected);
        assert_eq!(parse_timestamp("2026-03-02T00:15:00Z").unwrap(), expected);
        assert_eq!(parse_timestamp("2026-03-02T08:15:00+08:00").unwrap(), expected);
        assert_eq!(parse_timestamp("2026-03-02 08:15:00.500").unwrap(), expected + 500);
        assert!(parse_timestamp("2026-13-02 08:15").is_err());
        assert!(parse_timestamp("1999-12-31 23:00").is_err());
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn units() {
        assert_eq!(parse_unit("kWh").unwrap(), Unit::KilowattHour);
        assert_eq!(parse_unit("kwh").unwrap(), Unit::KilowattHour);
        assert_eq!(parse_unit("Nm³").unwrap(), Unit::NormalCubicMetre);
        assert_eq!(parse_unit("kilowatt_hour").unwrap(), Unit::KilowattHour);
        assert!(parse_unit("BTU").unwrap_err().contains("kWh"));
    }
}
