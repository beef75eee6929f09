//! DL/T 645-2007 meters behind an emulated serial-to-TCP converter.

use crate::dlt645::{
    CONTROL_READ, CONTROL_READ_ABNORMAL, CONTROL_READ_REPLY, Dlt645Address, Dlt645Error, Dlt645Register, Frame,
    decode_frame, encode_energy, frame_length,
};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use trustmeter_types::Quantity;

#[derive(Default)]
struct State {
    /// Energy per meter, indexed like [`Dlt645Register::ALL`].
    meters: BTreeMap<Dlt645Address, [Quantity; 5]>,
    corrupt_next: bool,
    abnormal_next: Option<u8>,
    wake_up: bool,
    requests: u64,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn register_index(r: Dlt645Register) -> usize {
    Dlt645Register::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

/// The reply bytes to one request frame, or `None` for silence.
fn respond(state: &Mutex<State>, bytes: &[u8]) -> Option<Vec<u8>> {
    let request = decode_frame(bytes).ok()?; // a real meter ignores a garbled frame
    let mut s = lock(state);
    s.requests += 1;
    if request.control != CONTROL_READ {
        return None;
    }
    let energy = *s.meters.get(&request.address)?; // not on this bus: silence
    let abnormal = |code: u8| Frame { address: request.address, control: CONTROL_READ_ABNORMAL, data: vec![code] };
    let reply = if let Some(code) = s.abnormal_next.take() {
        abnormal(code)
    } else if request.data.len() != 4 {
        abnormal(0x01)
    } else {
        let di = u32::from_le_bytes([request.data[0], request.data[1], request.data[2], request.data[3]]);
        match Dlt645Register::from_data_identifier(di).and_then(|r| encode_energy(energy[register_index(r)]).ok()) {
            Some(value) => {
                let mut data = di.to_le_bytes().to_vec();
                data.extend_from_slice(&value);
                Frame { address: request.address, control: CONTROL_READ_REPLY, data }
            }
            None => abnormal(0x02), // no requested data (无请求数据)
        }
    };
    let mut out = reply.encode(s.wake_up);
    if std::mem::take(&mut s.corrupt_next) {
        let cs = out.len() - 2;
        out[cs] = out[cs].wrapping_add(1);
    }
    Some(out)
}

async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    loop {
        loop {
            match frame_length(&buf) {
                Ok(Some(n)) => {
                    let frame: Vec<u8> = buf.drain(..n).collect();
                    if let Some(reply) = respond(&state, &frame) {
                        stream.write_all(&reply).await?;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    buf.clear(); // resynchronise on the next frame
                    break;
                }
            }
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// DL/T 645 meters on one emulated converter. Dropping it stops it.
pub struct Dlt645Server {
    local_addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Dlt645Server {
    /// Starts listening on `bind` (port 0 for any free port), with no meters yet.
    pub async fn start(bind: SocketAddr) -> io::Result<Dlt645Server> {
        let listener = TcpListener::bind(bind).await?;
        let local_addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let st = st.clone();
                        connections.spawn(async move {
                            if let Err(e) = serve_connection(stream, st).await {
                                tracing::debug!(error = %e, "DL/T 645 emulator: connection ended");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "DL/T 645 emulator: accept failed"),
                }
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Dlt645Server { local_addr, state, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port` text for a point's `address`.
    pub fn address(&self) -> String {
        self.local_addr.to_string()
    }

    /// Puts a meter on the bus with every register at zero (no change if present).
    pub fn add_meter(&self, meter: Dlt645Address) {
        lock(&self.state).meters.entry(meter).or_insert([Quantity::from_micros(0); 5]);
    }

    /// Sets one register of a meter (adding the meter if needed), in kWh with at most two
    /// decimals and below 1 000 000 kWh (the XXXXXX.XX format).
    pub fn set_energy(&self, meter: Dlt645Address, register: Dlt645Register, kwh: Quantity) -> Result<(), Dlt645Error> {
        encode_energy(kwh)?;
        let mut s = lock(&self.state);
        s.meters.entry(meter).or_insert([Quantity::from_micros(0); 5])[register_index(register)] = kwh;
        Ok(())
    }

    /// Sends the next reply with a wrong checksum (the one after it is correct again).
    pub fn corrupt_next_checksum(&self) {
        lock(&self.state).corrupt_next = true;
    }

    /// Answers the next request abnormally (control 0xD1) with this error byte.
    pub fn abnormal_next(&self, error_byte: u8) {
        lock(&self.state).abnormal_next = Some(error_byte);
    }

    /// Puts four 0xFE wake-up bytes in front of every reply.
    pub fn set_wake_up(&self, on: bool) {
        lock(&self.state).wake_up = on;
    }

    /// Well-formed frames received so far.
    pub fn requests(&self) -> u64 {
        lock(&self.state).requests
    }
}

impl Drop for Dlt645Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
