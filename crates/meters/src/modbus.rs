//! Modbus TCP: register decoding and the polling client.
//!
//! Registers are 16-bit words sent big-endian (high byte first) as the Modbus specification
//! requires. Values wider than one register span consecutive registers; devices disagree on
//! which register holds the high word, hence [`WordOrder`]. Addresses are 0-based PDU addresses
//! (holding register "40001" in a vendor's 1-based notation is `register = 0`).

use crate::backoff::Backoff;
use crate::config::ModbusSource;
pub use crate::decimal::RawValue;
use crate::decimal::Scale;
use crate::error::DriverError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use tokio_modbus::Slave;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use trustmeter_types::Quantity;

const PROTOCOL: &str = "Modbus TCP";

/// Which register table a point reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterTable {
    /// Holding registers (function code 0x03), read/write; the default.
    #[default]
    Holding,
    /// Input registers (function code 0x04), read-only.
    Input,
}

impl fmt::Display for RegisterTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterTable::Holding => "holding",
            RegisterTable::Input => "input",
        })
    }
}

/// How the register(s) of a point are to be read as a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// Unsigned 16-bit, one register.
    U16,
    /// Signed 16-bit (two's complement), one register.
    I16,
    /// Unsigned 32-bit, two registers.
    U32,
    /// Signed 32-bit, two registers.
    I32,
    /// Unsigned 64-bit, four registers.
    U64,
    /// IEEE 754 single precision, two registers.
    F32,
    /// IEEE 754 double precision, four registers.
    F64,
}

impl DataType {
    /// Every data type.
    pub const ALL: [DataType; 7] =
        [DataType::U16, DataType::I16, DataType::U32, DataType::I32, DataType::U64, DataType::F32, DataType::F64];

    /// Number of 16-bit registers the type occupies.
    pub fn register_count(self) -> usize {
        match self {
            DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::F64 => 4,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
        })
    }
}

/// Order of the 16-bit words of a multi-register value. Bytes inside a word are always big-endian.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WordOrder {
    /// High word first (the Modbus convention, "ABCD"); the default. TOML: `"big"`.
    #[default]
    #[serde(rename = "big", alias = "big_endian")]
    BigEndian,
    /// Low word first, a.k.a. word-swapped ("CDAB"). TOML: `"little"`.
    #[serde(rename = "little", alias = "little_endian")]
    LittleEndian,
}

/// Decodes the registers of one value. `words` are in the order read from the device (register
/// `n`, `n+1`, …). The word count must match the data type exactly.
pub fn decode_registers(words: &[u16], data_type: DataType, word_order: WordOrder) -> Result<RawValue, DriverError> {
    let n = data_type.register_count();
    if words.len() != n {
        return Err(DriverError::RegisterCount { data_type, expected: n, got: words.len() });
    }
    let fold = |acc: u64, w: &u16| (acc << 16) | u64::from(*w);
    let bits = match word_order {
        WordOrder::BigEndian => words.iter().fold(0, fold),
        WordOrder::LittleEndian => words.iter().rev().fold(0, fold),
    };
    Ok(match data_type {
        DataType::U16 | DataType::U32 | DataType::U64 => RawValue::Unsigned(bits),
        DataType::I16 => RawValue::Signed(i64::from(bits as u16 as i16)),
        DataType::I32 => RawValue::Signed(i64::from(bits as u32 as i32)),
        DataType::F32 => RawValue::F32(f32::from_bits(bits as u32)),
        DataType::F64 => RawValue::F64(f64::from_bits(bits)),
    })
}

/// Encodes a value into registers, the inverse of [`decode_registers`] (emulators and tests).
/// Integers must fit the type; `F32` takes an `F32`, `F64` an `F64` or `F32`.
pub fn encode_registers(value: RawValue, data_type: DataType, word_order: WordOrder) -> Result<Vec<u16>, DriverError> {
    let no_fit = || DriverError::DoesNotFit { value: value.to_string(), data_type };
    let int = |lo: i128, hi: i128| -> Result<u64, DriverError> {
        let v = match value {
            RawValue::Unsigned(v) => i128::from(v),
            RawValue::Signed(v) => i128::from(v),
            _ => return Err(no_fit()),
        };
        if v < lo || v > hi {
            return Err(no_fit());
        }
        Ok(v as u64)
    };
    let bits: u64 = match data_type {
        DataType::U16 => int(0, i128::from(u16::MAX))?,
        DataType::I16 => int(i128::from(i16::MIN), i128::from(i16::MAX))? & 0xFFFF,
        DataType::U32 => int(0, i128::from(u32::MAX))?,
        DataType::I32 => int(i128::from(i32::MIN), i128::from(i32::MAX))? & 0xFFFF_FFFF,
        DataType::U64 => int(0, i128::from(u64::MAX))?,
        DataType::F32 => match value {
            RawValue::F32(v) => u64::from(v.to_bits()),
            _ => return Err(no_fit()),
        },
        DataType::F64 => match value {
            RawValue::F64(v) => v.to_bits(),
            RawValue::F32(v) => f64::from(v).to_bits(),
            _ => return Err(no_fit()),
        },
    };
    let n = data_type.register_count();
    let mut words: Vec<u16> = (0..n).rev().map(|i| (bits >> (16 * i)) as u16).collect();
    if word_order == WordOrder::LittleEndian {
        words.reverse();
    }
    Ok(words)
}

/// Name of a Modbus exception code in the specification.
pub fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}

/// One Modbus TCP connection shared by every point configured with the same address.
pub(crate) struct ModbusLink {
    peer: String,
    ctx: Option<Context>,
    backoff: Backoff,
}

impl ModbusLink {
    pub(crate) fn new(peer: String) -> Self {
        ModbusLink { peer, ctx: None, backoff: Backoff::default() }
    }

    async fn connect(&mut self, src: &ModbusSource) -> Result<(), DriverError> {
        if let Err(retry_in) = self.backoff.ready() {
            return Err(DriverError::Disconnected {
                protocol: PROTOCOL,
                peer: self.peer.clone(),
                last_error: self.backoff.last_error().to_owned(),
                retry_in_ms: retry_in.as_millis() as u64,
            });
        }
        let timeout = Duration::from_millis(src.timeout_ms);
        let attempt = async {
            let addr = crate::config::resolve(&self.peer).await?;
            tokio_modbus::client::tcp::connect_slave(addr, Slave(src.unit_id)).await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(ctx)) => {
                tracing::info!(peer = %self.peer, "Modbus TCP connected");
                self.ctx = Some(ctx);
                self.backoff.succeeded();
                Ok(())
            }
            Ok(Err(e)) => Err(self.connect_failed(e.to_string())),
            Err(_) => Err(self.connect_failed(format!("no connection within {} ms", src.timeout_ms))),
        }
    }

    fn connect_failed(&mut self, message: String) -> DriverError {
        self.backoff.failed(message.clone());
        tracing::warn!(peer = %self.peer, %message, "Modbus TCP connection failed");
        DriverError::Connect { protocol: PROTOCOL, peer: self.peer.clone(), message }
    }

    /// Reads one point's registers and scales them.
    pub(crate) async fn read(&mut self, src: &ModbusSource, scale: &Scale) -> Result<Quantity, DriverError> {
        if self.ctx.is_none() {
            self.connect(src).await?;
        }
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(DriverError::Connect {
                protocol: PROTOCOL,
                peer: self.peer.clone(),
                message: "not connected".into(),
            });
        };
        let count = src.data_type.register_count() as u16;
        let request = format!("read of {count} {} register(s) at {} (unit {})", src.table, src.register, src.unit_id);
        ctx.set_slave(Slave(src.unit_id));
        let call = async {
            match src.table {
                RegisterTable::Holding => ctx.read_holding_registers(src.register, count).await,
                RegisterTable::Input => ctx.read_input_registers(src.register, count).await,
            }
        };
        let words = match tokio::time::timeout(Duration::from_millis(src.timeout_ms), call).await {
            Err(_) => {
                // A late answer would be taken for the next request's: start afresh.
                self.ctx = None;
                return Err(DriverError::Timeout {
                    protocol: PROTOCOL,
                    peer: self.peer.clone(),
                    request,
                    timeout_ms: src.timeout_ms,
                });
            }
            Ok(Err(tokio_modbus::Error::Transport(e))) => {
                self.ctx = None;
                return Err(DriverError::Io {
                    protocol: PROTOCOL,
                    peer: self.peer.clone(),
                    request,
                    message: e.to_string(),
                });
            }
            Ok(Err(tokio_modbus::Error::Protocol(e))) => {
                self.ctx = None;
                return Err(DriverError::ModbusProtocol { peer: self.peer.clone(), message: e.to_string() });
            }
            Ok(Ok(Err(exception))) => {
                let code = u8::from(exception);
                return Err(DriverError::ModbusException {
                    peer: self.peer.clone(),
                    unit_id: src.unit_id,
                    table: src.table,
                    register: src.register,
                    count,
                    code,
                    name: exception_name(code).into(),
                });
            }
            Ok(Ok(Ok(words))) => words,
        };
        let raw = decode_registers(&words, src.data_type, src.word_order)?;
        scale.apply(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_patterns() {
        let d = |w: &[u16], t, o| decode_registers(w, t, o).unwrap();
        use DataType::*;
        use WordOrder::*;
        assert_eq!(d(&[0x4148, 0x0000], F32, BigEndian), RawValue::F32(12.5));
        assert_eq!(d(&[0x0000, 0x4148], F32, LittleEndian), RawValue::F32(12.5));
        assert_eq!(d(&[0xFFFF], I16, BigEndian), RawValue::Signed(-1));
        assert_eq!(d(&[0x0001, 0x0002], U32, BigEndian), RawValue::Unsigned(0x0001_0002));
        assert_eq!(d(&[0x0001, 0x0002], U32, LittleEndian), RawValue::Unsigned(0x0002_0001));
        assert_eq!(d(&[1, 2, 3, 4], U64, LittleEndian), RawValue::Unsigned(0x0004_0003_0002_0001));
        assert!(matches!(
            decode_registers(&[1], U32, BigEndian),
            Err(DriverError::RegisterCount { expected: 2, got: 1, .. })
        ));
        assert!(encode_registers(RawValue::Signed(-1), U16, BigEndian).is_err());
        assert!(encode_registers(RawValue::Unsigned(1 << 31), I32, BigEndian).is_err());
    }
}
