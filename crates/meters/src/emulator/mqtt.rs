//! An embedded MQTT broker (rumqttd) on loopback.
//!
//! rumqttd 0.20 binds the exact address in its configuration and does not report the port it
//! got, so for port 0 a free port is picked first (bind to port 0, read it, release it). The
//! broker runs on its own threads until the process exits: rumqttd has no shutdown.

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Largest payload the emulated broker accepts (larger than the drivers' limit, so that tests can
/// send oversize messages).
pub const EMULATOR_MAX_PAYLOAD: usize = 1024 * 1024;

/// An embedded broker listening on 127.0.0.1.
#[derive(Debug)]
pub struct MqttBroker {
    local_addr: SocketAddr,
}

impl MqttBroker {
    /// Starts a broker on `127.0.0.1:port` (0: a free port) and waits until it accepts connections.
    pub async fn start(port: u16) -> io::Result<MqttBroker> {
        let port = if port == 0 {
            let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            probe.local_addr()?.port()
        } else {
            port
        };
        let local_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let server = ServerSettings {
            name: format!("trustmeter-emulator-{port}"),
            listen: local_addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 5_000,
                max_payload_size: EMULATOR_MAX_PAYLOAD,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = Config {
            id: 0,
            router: RouterConfig {
                max_connections: 1_000,
                max_outgoing_packet_count: 200,
                max_segment_size: 4 * EMULATOR_MAX_PAYLOAD,
                max_segment_count: 10,
                custom_segment: None,
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v4: Some(HashMap::from([("1".to_owned(), server)])),
            ..Default::default()
        };
        std::thread::Builder::new().name(format!("mqtt-emulator-{port}")).spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "MQTT emulator failed");
            }
        })?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if tokio::net::TcpStream::connect(local_addr).await.is_ok() {
                return Ok(MqttBroker { local_addr });
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the embedded MQTT broker did not listen on {local_addr} within 5 s (port taken?)"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port` text for a point's `broker`.
    pub fn address(&self) -> String {
        self.local_addr.to_string()
    }
}
