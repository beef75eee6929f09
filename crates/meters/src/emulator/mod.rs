//! Emulated devices on loopback for tests, the gateway's end-to-end tests and the demo (feature
//! `emulators`). They speak the real protocols over real sockets; nothing is mocked.
//!
//! - [`ModbusServer`]: a Modbus TCP server (tokio-modbus) with settable holding and input
//!   registers; reading a register that was never set answers exception 0x02 (illegal data
//!   address). It can be stopped and restarted on the same port.
//! - [`Dlt645Server`]: DL/T 645-2007 meters behind a serial-to-TCP converter, with settable
//!   total and 尖/峰/平/谷 energy, and injectable faults (a corrupt checksum or an abnormal reply on
//!   the next answer, wake-up bytes in front of replies). Unknown meter addresses stay silent,
//!   as on a real bus.
//! - [`MqttBroker`]: an embedded rumqttd broker (MQTT 3.1.1).

mod dlt645;
mod modbus;
mod mqtt;

pub use dlt645::Dlt645Server;
pub use modbus::ModbusServer;
pub use mqtt::MqttBroker;
