//! Point configuration: the gateway's TOML `[[point]]` tables.
//!
//! ```toml
//! [[point]]
//! meter = "91430100MA4L0001XA-E01"
//! driver = "modbus"
//! address = "192.168.1.20:502"
//! unit_id = 1
//! table = "holding"
//! register = 100
//! data_type = "u32"
//! word_order = "big"
//! unit = "kWh"
//! scale = "0.01"
//! poll_interval_s = 900
//! min = "0"
//! max = "99999999"
//! ```

use crate::decimal::{Scale, format_quantity, opt_quantity_text, quantity_text};
use crate::dlt645::{Dlt645Address, Dlt645Register};
use crate::error::{ConfigError, DriverError};
use crate::limits::{MAX_POLL_INTERVAL_S, MAX_TIMEOUT_MS, MIN_POLL_INTERVAL_S};
use crate::modbus::{DataType, RegisterTable, WordOrder};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use trustmeter_types::{DeviceId, Quantity, RegisterKind, Unit};

/// One configured point (测点): one register or topic field of one meter, from the gateway's TOML
/// `[[point]]` tables.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct PointConfig {
    /// The registered meter (计量器具) id this point reads.
    pub meter: DeviceId,
    /// `driver = "modbus" | "dlt645" | "mqtt" | "simulator"` plus that driver's fields.
    #[serde(flatten)]
    pub source: SourceConfig,
    /// Unit of the scaled value, by its symbol (`"kWh"`, `"m3"`, `"Nm3"`, `"t"`, …; the older
    /// names such as `"kilowatt_hour"` are still read).
    pub unit: Unit,
    /// Cumulative (the default: a totalising register) or instantaneous (power, flow).
    #[serde(default = "default_kind")]
    pub kind: RegisterKind,
    /// `value = raw × scale`, as decimal text (`"0.01"`); default 1. Ignored by the simulator,
    /// whose values are already in `unit`.
    #[serde(default)]
    pub scale: Scale,
    /// Seconds between polls (default 60); polls land on multiples of it since the Unix epoch on
    /// the gateway clock. Ignored for MQTT, which is pushed.
    #[serde(default = "default_poll_interval_s")]
    pub poll_interval_s: u64,
    /// Lowest plausible value (edge alarm "value out of range"), decimal text.
    #[serde(default, with = "opt_quantity_text", skip_serializing_if = "Option::is_none")]
    pub min: Option<Quantity>,
    /// Highest plausible value (edge alarm "value out of range"), decimal text.
    #[serde(default, with = "opt_quantity_text", skip_serializing_if = "Option::is_none")]
    pub max: Option<Quantity>,
}

fn default_kind() -> RegisterKind {
    RegisterKind::Cumulative
}
fn default_poll_interval_s() -> u64 {
    60
}
fn default_unit_id() -> u8 {
    1
}
fn default_timeout_ms() -> u64 {
    2000
}
fn default_noise() -> f64 {
    0.08
}

/// Where a point's value comes from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum SourceConfig {
    /// A Modbus TCP device (or a Modbus RTU device behind a Modbus TCP gateway).
    Modbus(ModbusSource),
    /// A DL/T 645-2007 electricity meter on an RS-485 bus behind a serial-to-TCP converter.
    Dlt645(Dlt645Source),
    /// A field of JSON messages on an MQTT topic.
    Mqtt(MqttSource),
    /// A simulated meter following the simulated plant's production shifts.
    Simulator(SimulatorSource),
}

/// A Modbus TCP register.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ModbusSource {
    /// `host:port` of the device or Modbus TCP gateway (port 502 is the standard).
    pub address: String,
    /// Unit (slave) id, default 1.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// `"holding"` (default) or `"input"`.
    #[serde(default)]
    pub table: RegisterTable,
    /// First register, 0-based PDU address.
    pub register: u16,
    /// `"u16" | "i16" | "u32" | "i32" | "u64" | "f32" | "f64"`.
    pub data_type: DataType,
    /// `"big"` (default: high word first) or `"little"` (low word first, word-swapped).
    #[serde(default)]
    pub word_order: WordOrder,
    /// Request timeout in milliseconds, default 2000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// A DL/T 645-2007 energy register.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Dlt645Source {
    /// `host:port` of the serial-to-TCP converter (transparent mode).
    pub address: String,
    /// The meter's communication address (通信地址): 12 decimal digits as printed on the nameplate.
    pub meter_address: Dlt645Address,
    /// `"total" | "sharp" | "peak" | "flat" | "valley"`: forward active energy, total or
    /// 尖/峰/平/谷 tariff 1–4 (default total).
    #[serde(default)]
    pub register: Dlt645Register,
    /// Reply timeout in milliseconds, default 2000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// A field of JSON messages on an MQTT topic.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct MqttSource {
    /// `host:port` of the broker (1883 is the standard). No TLS in this version.
    pub broker: String,
    /// Topic or topic filter (`+` and `#` wildcards allowed).
    pub topic: String,
    /// The value: a JSON pointer (`"/energy/total"`) or a plain top-level key (`"total"`). A JSON
    /// number or a string of decimal text.
    pub field: String,
    /// Where the message's own timestamp is (JSON pointer or top-level key): Unix milliseconds
    /// or RFC 3339 text. Absent: the gateway clock stamps the value on arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_field: Option<String>,
    /// MQTT client id for this broker connection; default `trustmeter-<hash of the broker and the
    /// topics>`, the same across restarts (the broker keeps the session under it). Points sharing a
    /// broker share one connection and so one client id (the first one given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// A simulated meter: `rated_per_hour × production factor × (1 ± noise)` per minute, following the
/// simulated plant's shifts, lunch break and weekends in Asia/Shanghai time.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SimulatorSource {
    /// Seed of the noise; the same seed gives the same values.
    pub seed: u64,
    /// Consumption at full production, in the point's unit per hour (for an instantaneous point:
    /// the value at full production).
    pub rated_per_hour: f64,
    /// Register value at the clock's start, decimal text.
    #[serde(with = "quantity_text")]
    pub start: Quantity,
    /// The register rolls over to 0 when it reaches this value (decimal text).
    #[serde(default, with = "opt_quantity_text", skip_serializing_if = "Option::is_none")]
    pub register_max: Option<Quantity>,
    /// Relative amplitude of the per-minute uniform noise, default 0.08 (±8 %), at most 0.9.
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// For a master meter (总表): the meters, other simulator points of the same gateway, whose
    /// consumption it records, plus [`SimulatorSource::loss`]; `rated_per_hour` and `noise` are
    /// then unused. Empty (the default): an ordinary meter. One level: a listed meter's own
    /// `sub_meters` are not followed. At most [`MAX_SIMULATED_SUB_METERS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_meters: Vec<DeviceId>,
    /// A master meter's base loss rate, a fraction of its sub-meters' sum (0.02 = 2 %; line,
    /// transformer or pipe losses), 0–0.5; each minute's loss is this × (1 ± 0.25).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub loss: f64,
}

/// Most sub-meters one simulated master meter sums.
pub const MAX_SIMULATED_SUB_METERS: usize = 4_096;

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl SourceConfig {
    /// The driver's name as written in TOML.
    pub fn driver_name(&self) -> &'static str {
        match self {
            SourceConfig::Modbus(_) => "modbus",
            SourceConfig::Dlt645(_) => "dlt645",
            SourceConfig::Mqtt(_) => "mqtt",
            SourceConfig::Simulator(_) => "simulator",
        }
    }
}

/// Splits `host:port` (IPv6 in brackets: `[::1]:502`).
pub(crate) fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let hint = "write host:port, e.g. \"192.168.1.20:502\"";
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("{s:?} has no port; {hint}"))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(format!("{s:?} has no host; {hint}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host.to_owned(), p)),
        _ => Err(format!("{s:?} has no valid port (1-65535); {hint}")),
    }
}

/// Resolves `host:port` to the first socket address.
pub(crate) async fn resolve(peer: &str) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host(peer)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("{peer} resolves to no address")))
}

/// Whether an MQTT topic filter is well formed: `#` only as the whole last level, `+` only as a
/// whole level, no NUL.
pub(crate) fn check_topic_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("is empty".into());
    }
    if filter.len() > 65_535 || filter.contains('\0') {
        return Err("is not a valid MQTT topic (too long or contains NUL)".into());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!("{filter:?}: '#' must be a whole level and the last one (e.g. \"plant/#\")"));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!("{filter:?}: '+' must be a whole level (e.g. \"plant/+/energy\")"));
        }
    }
    Ok(())
}

fn check_field_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("is empty; write a JSON pointer such as \"/energy/total\" or a top-level key".into());
    }
    if !path.starts_with('/') && path.contains('/') {
        return Err(format!("{path:?} looks like a path but is not a JSON pointer; write \"/{path}\""));
    }
    Ok(())
}

impl PointConfig {
    /// Checks what serde cannot: ranges, addresses, topics. `index` is the point's position, used
    /// in the message.
    pub fn validate(&self, index: usize) -> Result<(), ConfigError> {
        let err = |field: &'static str, reason: String| ConfigError {
            point: index,
            meter: self.meter.to_string(),
            field,
            reason,
        };
        let polled = !matches!(self.source, SourceConfig::Mqtt(_));
        if polled && !(MIN_POLL_INTERVAL_S..=MAX_POLL_INTERVAL_S).contains(&self.poll_interval_s) {
            return Err(err(
                "poll_interval_s",
                format!(
                    "is {}; it must be between {MIN_POLL_INTERVAL_S} and {MAX_POLL_INTERVAL_S} seconds (900 = every quarter hour)",
                    self.poll_interval_s
                ),
            ));
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            return Err(err("min", format!("{} is above max {}", format_quantity(min), format_quantity(max))));
        }
        let check_timeout = |t: u64| {
            if (1..=MAX_TIMEOUT_MS).contains(&t) {
                Ok(())
            } else {
                Err(err("timeout_ms", format!("is {t}; it must be between 1 and {MAX_TIMEOUT_MS} ms")))
            }
        };
        match &self.source {
            SourceConfig::Modbus(m) => {
                split_host_port(&m.address).map_err(|r| err("address", r))?;
                check_timeout(m.timeout_ms)?;
                let last = u32::from(m.register) + m.data_type.register_count() as u32 - 1;
                if last > u32::from(u16::MAX) {
                    return Err(err(
                        "register",
                        format!("{} with {} runs past register 65535", m.register, m.data_type),
                    ));
                }
            }
            SourceConfig::Dlt645(d) => {
                split_host_port(&d.address).map_err(|r| err("address", r))?;
                check_timeout(d.timeout_ms)?;
            }
            SourceConfig::Mqtt(q) => {
                split_host_port(&q.broker).map_err(|r| err("broker", r))?;
                check_topic_filter(&q.topic).map_err(|r| err("topic", r))?;
                check_field_path(&q.field).map_err(|r| err("field", r))?;
                if let Some(ts) = &q.timestamp_field {
                    check_field_path(ts).map_err(|r| err("timestamp_field", r))?;
                }
                if let Some(id) = &q.client_id
                    && (id.is_empty() || id.len() > 128)
                {
                    return Err(err("client_id", "must be 1 to 128 characters".into()));
                }
            }
            SourceConfig::Simulator(s) => {
                if !s.rated_per_hour.is_finite() || s.rated_per_hour < 0.0 {
                    return Err(err(
                        "rated_per_hour",
                        format!("is {}; it must be a finite number ≥ 0", s.rated_per_hour),
                    ));
                }
                if !s.noise.is_finite() || !(0.0..=0.9).contains(&s.noise) {
                    return Err(err("noise", format!("is {}; it must be between 0 and 0.9", s.noise)));
                }
                if !s.loss.is_finite() || !(0.0..=0.5).contains(&s.loss) {
                    return Err(err("loss", format!("is {}; it must be between 0 and 0.5", s.loss)));
                }
                if s.sub_meters.len() > MAX_SIMULATED_SUB_METERS {
                    return Err(err(
                        "sub_meters",
                        format!("lists {} meters; at most {MAX_SIMULATED_SUB_METERS}", s.sub_meters.len()),
                    ));
                }
                if s.sub_meters.contains(&self.meter) {
                    return Err(err("sub_meters", "lists the point's own meter".into()));
                }
                if let Some(max) = s.register_max {
                    if max.micros() <= 0 {
                        return Err(err("register_max", "must be greater than 0".into()));
                    }
                    if s.start.micros() < 0 || s.start >= max {
                        return Err(err(
                            "start",
                            format!(
                                "{} must be at least 0 and below register_max {}",
                                format_quantity(s.start),
                                format_quantity(max)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a value lies in the point's plausible range `[min, max]` (either bound optional).
    /// The drivers do not apply it: they deliver every value, and the gateway records the value
    /// and raises the "value out of range" alarm with this error.
    pub fn check_range(&self, value: Quantity) -> Result<(), DriverError> {
        let below = self.min.is_some_and(|m| value < m);
        let above = self.max.is_some_and(|m| value > m);
        if below || above {
            return Err(DriverError::OutOfRange {
                value: format_quantity(value),
                min: self.min.map_or("-∞".into(), format_quantity),
                max: self.max.map_or("+∞".into(), format_quantity),
            });
        }
        Ok(())
    }
}

/// Validates every point; all problems at once.
pub fn validate_points(points: &[PointConfig]) -> Result<(), Vec<ConfigError>> {
    let errors: Vec<ConfigError> = points.iter().enumerate().filter_map(|(i, p)| p.validate(i).err()).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_and_topics() {
        assert_eq!(split_host_port("10.0.0.1:502").unwrap(), ("10.0.0.1".into(), 502));
        assert_eq!(split_host_port("[::1]:1883").unwrap(), ("::1".into(), 1883));
        assert!(split_host_port("meter.local").is_err());
        assert!(split_host_port(":502").is_err());
        assert!(split_host_port("h:0").is_err());
        assert!(check_topic_filter("plant/+/energy").is_ok());
        assert!(check_topic_filter("plant/#").is_ok());
        assert!(check_topic_filter("plant/#/x").is_err());
        assert!(check_topic_filter("plant/a+").is_err());
        assert!(check_field_path("energy/total").is_err());
        assert!(check_field_path("/energy/total").is_ok());
    }
}
