//! Every limit of the drivers and importers, named in one place.

use std::time::Duration;

/// Most data bytes in one DL/T 645-2007 frame (the standard allows at most 200 for a read).
pub const MAX_DLT645_DATA_LEN: usize = 200;
/// Most 0xFE wake-up bytes (前导字节) tolerated before a DL/T 645 frame.
pub const MAX_DLT645_WAKE_UP: usize = 4;
/// Longest DL/T 645 frame accepted, wake-up bytes included: 4 + `68 A0..A5 68 C L` (10) + data +
/// `CS 16` (2).
pub const MAX_DLT645_FRAME_LEN: usize = MAX_DLT645_WAKE_UP + 12 + MAX_DLT645_DATA_LEN;

/// Largest MQTT payload a point will parse. A larger message is refused with an error event.
pub const MAX_MQTT_PAYLOAD_BYTES: usize = 64 * 1024;
/// Largest MQTT packet the client reads from the broker (payload, topic and headers): one such
/// buffer at a time per broker. A payload between [`MAX_MQTT_PAYLOAD_BYTES`] and this is read,
/// refused with an error event naming its topic and acknowledged, and the session goes on; only a
/// packet beyond this breaks the connection (the next one then starts a clean session, dropping
/// it, and says so).
pub const MAX_MQTT_PACKET_BYTES: usize = 16 * 1024 * 1024;
/// Most MQTT acknowledgements waiting to be sent on one broker connection. A broker can hold at
/// most 65 535 messages unacknowledged (packet ids are 16 bits); an acknowledgement that does not
/// fit leaves its message with the broker, which delivers it again.
pub const MAX_MQTT_PENDING_ACKS: usize = 65_535;
/// How long an MQTT connection, at shutdown, waits for its consumer to release the acknowledgements
/// of what it stored and for them and the DISCONNECT to go out. What is not acknowledged by then
/// is delivered again on the next connection.
pub const MQTT_CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Most distinct MQTT topic filters one broker connection subscribes to.
pub const MAX_MQTT_TOPICS_PER_BROKER: usize = 1024;

/// Most data rows in one import file (CSV or JSON).
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// Largest import file, in bytes.
pub const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024;

/// Longest decimal text accepted in configuration, import files and manual entries.
pub const MAX_DECIMAL_TEXT_LEN: usize = 40;
/// Most decimal places in a [`Scale`](crate::Scale) (e.g. `0.000001` has 6).
pub const MAX_SCALE_DECIMALS: u32 = 18;

/// Shortest poll interval, in seconds.
pub const MIN_POLL_INTERVAL_S: u64 = 1;
/// Longest poll interval, in seconds (one day).
pub const MAX_POLL_INTERVAL_S: u64 = 86_400;
/// Longest request timeout a point may configure, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// First wait before reconnecting after a failed connection attempt; doubles per failure.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest wait between reconnection attempts.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Width of the simulator's integration slots (one noise draw and one production factor each).
pub const SIMULATOR_SLOT_MS: i64 = 60_000;
