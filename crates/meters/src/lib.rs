//! # trustmeter-meters
//!
//! The meter drivers of the enterprise gateway (端设备, the trusted terminal): they read
//! configured points (测点) from meters and hand [`Sample`]s to the gateway, which signs, stores
//! and uploads them. This crate does not sign, store or upload anything.
//!
//! Drivers ([`SourceConfig`]):
//! - **Modbus TCP** ([`modbus`]): holding or input registers, seven data types, both word orders;
//!   one TCP connection per device address, reconnected with backoff.
//! - **DL/T 645-2007** ([`dlt645`]) over a serial-to-TCP converter: total and 尖/峰/平/谷 forward
//!   active energy; one TCP connection per converter, shared by the meters on its RS-485 bus.
//! - **MQTT** ([`mqtt`]): JSON messages pushed by data collectors; one connection per broker.
//! - **Simulator** ([`simulator`]): a seeded meter following the simulated plant's shifts.
//!
//! Everything runs under [`run_points`], which polls on the clock's grid (multiples of
//! `poll_interval_s` since the Unix epoch, so 900 s polls land on the quarter hours) and stops when
//! the shutdown signal fires. [`import`] parses historical data files and manual entries (手工填报).
//! The `emulators` feature adds [`emulator`]: a Modbus TCP server, DL/T 645 meters behind a TCP
//! socket and an embedded MQTT broker, all on loopback, for tests and the demo.
//!
//! Values are fixed-point [`Quantity`] (micro-units) from end to end: integer registers are scaled
//! exactly ([`Scale::apply`]), floats are taken at their shortest decimal form and rounded once.
//!
//! [`Quantity`]: trustmeter_types::Quantity

#![warn(missing_docs)]

mod backoff;
pub mod clock;
pub mod config;
pub mod decimal;
pub mod dlt645;
#[cfg(feature = "emulators")]
pub mod emulator;
pub mod error;
pub mod import;
pub mod limits;
pub mod modbus;
pub mod mqtt;
mod runner;
pub mod simulator;

pub use clock::{Clock, ScaledClock, SystemClock};
pub use config::{Dlt645Source, ModbusSource, MqttSource, PointConfig, SimulatorSource, SourceConfig, validate_points};
pub use decimal::{DecimalError, Scale, parse_quantity};
pub use dlt645::{Dlt645Address, Dlt645Error, Dlt645Register};
pub use error::{ConfigError, DriverError};
pub use import::{ImportError, ImportRow, parse_csv, parse_json, parse_manual_value};
pub use modbus::{DataType, RawValue, RegisterTable, WordOrder, decode_registers, encode_registers};
pub use runner::{Ack, DriverEvent, Sample, run_points};
pub use simulator::SimulatedMeter;
