//! Typed errors of the drivers. Every message names the device or topic and says what to check.

use crate::dlt645::Dlt645Error;
use crate::modbus::{DataType, RegisterTable};

/// A `[[point]]` table that cannot run as written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("point {point} (meter {meter}): `{field}` {reason}")]
pub struct ConfigError {
    /// Index of the point in the configured list.
    pub point: usize,
    /// The point's meter id.
    pub meter: String,
    /// The offending field.
    pub field: &'static str,
    /// What is wrong and what to write instead.
    pub reason: String,
}

/// Why a point could not be read. Sent as [`DriverEvent::Error`](crate::DriverEvent::Error); the
/// driver keeps running and tries again at the next poll (or message).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DriverError {
    /// The point's configuration is unusable; the point is not run.
    #[error("invalid configuration: {0}; fix the [[point]] table")]
    Config(#[from] ConfigError),
    /// A connection attempt failed.
    #[error(
        "{protocol} {peer}: cannot connect: {message}; check the address and that the device or converter is powered and reachable"
    )]
    Connect {
        /// `Modbus TCP`, `DL/T 645` or `MQTT`.
        protocol: &'static str,
        /// The configured address.
        peer: String,
        /// The operating system's or library's reason.
        message: String,
    },
    /// The connection is down and the next attempt waits for its backoff.
    #[error("{protocol} {peer}: not connected (last error: {last_error}); next attempt in {retry_in_ms} ms")]
    Disconnected {
        /// `Modbus TCP` or `DL/T 645`.
        protocol: &'static str,
        /// The configured address.
        peer: String,
        /// Why the last attempt failed.
        last_error: String,
        /// Milliseconds until the next attempt.
        retry_in_ms: u64,
    },
    /// No answer in time.
    #[error(
        "{protocol} {peer}: no answer within {timeout_ms} ms to {request}; check the unit id or meter address, the wiring and timeout_ms"
    )]
    Timeout {
        /// `Modbus TCP` or `DL/T 645`.
        protocol: &'static str,
        /// The configured address.
        peer: String,
        /// What was asked.
        request: String,
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// The connection failed during a request; it is re-opened on the next poll.
    #[error("{protocol} {peer}: connection lost during {request}: {message}; it is re-opened on the next poll")]
    Io {
        /// `Modbus TCP` or `DL/T 645`.
        protocol: &'static str,
        /// The configured address.
        peer: String,
        /// What was asked.
        request: String,
        /// The operating system's reason.
        message: String,
    },
    /// The Modbus device answered with an exception response.
    #[error(
        "Modbus TCP {peer} unit {unit_id}: exception 0x{code:02X} ({name}) reading {count} {table} register(s) at {register}; check `register`, `table` and `unit_id` against the device's register map"
    )]
    ModbusException {
        /// The configured address.
        peer: String,
        /// The unit (slave) id asked.
        unit_id: u8,
        /// Holding or input registers.
        table: RegisterTable,
        /// First register (0-based PDU address).
        register: u16,
        /// Number of registers.
        count: u16,
        /// The exception code.
        code: u8,
        /// Its name in the Modbus specification.
        name: String,
    },
    /// The Modbus device answered something that does not match the request.
    #[error("Modbus TCP {peer}: protocol error: {message}")]
    ModbusProtocol {
        /// The configured address.
        peer: String,
        /// The library's description.
        message: String,
    },
    /// The wrong number of registers for a data type.
    #[error("{data_type} needs {expected} register(s), got {got}")]
    RegisterCount {
        /// The configured data type.
        data_type: DataType,
        /// Registers it needs.
        expected: usize,
        /// Registers given.
        got: usize,
    },
    /// A value does not fit the data type it is to be written as (emulators, tests).
    #[error("{value} does not fit {data_type}")]
    DoesNotFit {
        /// The value.
        value: String,
        /// The data type.
        data_type: DataType,
    },
    /// A bad DL/T 645 frame or an abnormal reply.
    #[error("DL/T 645 frame from {peer}: {error}")]
    Dlt645 {
        /// The converter's address.
        peer: String,
        /// What is wrong with the frame.
        error: Dlt645Error,
    },
    /// The MQTT connection failed; it is re-opened with backoff.
    #[error("MQTT broker {broker}: {message}; reconnecting")]
    Mqtt {
        /// The configured broker address.
        broker: String,
        /// The library's reason.
        message: String,
    },
    /// An MQTT message did not yield a value for the point.
    #[error("MQTT message on topic {topic:?}, field {field:?}: {reason}")]
    Payload {
        /// The topic the message came on.
        topic: String,
        /// The configured field (or timestamp field).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An MQTT payload above [`MAX_MQTT_PAYLOAD_BYTES`](crate::limits::MAX_MQTT_PAYLOAD_BYTES).
    #[error("MQTT message on topic {topic:?}: payload is {size} bytes, the limit is {max}; publish smaller messages")]
    PayloadTooLarge {
        /// The topic.
        topic: String,
        /// Payload size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Scaling overflowed the `i64` range of micro-units.
    #[error(
        "raw value {raw} × scale {scale} does not fit a quantity (at most ±9223372036854.775807); check data_type, word_order and scale"
    )]
    Overflow {
        /// The raw value.
        raw: String,
        /// The scale.
        scale: String,
    },
    /// The device delivered NaN or an infinity.
    #[error("the device reported {raw}, which is not a finite number; the register holds no valid reading")]
    NotFinite {
        /// The raw value.
        raw: String,
    },
    /// A value outside the point's plausible range (see [`PointConfig::check_range`](crate::PointConfig::check_range)).
    #[error("value {value} is outside the plausible range [{min}, {max}] of the point (value out of range)")]
    OutOfRange {
        /// The value.
        value: String,
        /// The lower bound, or `-∞`.
        min: String,
        /// The upper bound, or `+∞`.
        max: String,
    },
    /// The simulator could not produce a value.
    #[error("simulator: {0}")]
    Simulator(String),
}
