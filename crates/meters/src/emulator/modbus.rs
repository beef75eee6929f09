//! A Modbus TCP server with settable registers.

use crate::decimal::RawValue;
use crate::error::DriverError;
use crate::modbus::{DataType, RegisterTable, WordOrder, encode_registers};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_modbus::{ExceptionCode, Request, Response};

#[derive(Default)]
struct State {
    holding: HashMap<u16, u16>,
    input: HashMap<u16, u16>,
    delay: Duration,
    requests: u64,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone)]
struct Service {
    state: Arc<Mutex<State>>,
}

fn read(map: &HashMap<u16, u16>, addr: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
    (0..count)
        .map(|i| addr.checked_add(i).and_then(|a| map.get(&a).copied()).ok_or(ExceptionCode::IllegalDataAddress))
        .collect()
}

impl tokio_modbus::server::Service for Service {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, req: Request<'static>) -> Self::Future {
        let (result, delay) = {
            let mut s = lock(&self.state);
            s.requests += 1;
            let result = match req {
                Request::ReadHoldingRegisters(a, n) => read(&s.holding, a, n).map(Response::ReadHoldingRegisters),
                Request::ReadInputRegisters(a, n) => read(&s.input, a, n).map(Response::ReadInputRegisters),
                Request::WriteSingleRegister(a, v) => {
                    s.holding.insert(a, v);
                    Ok(Response::WriteSingleRegister(a, v))
                }
                Request::WriteMultipleRegisters(a, words) => {
                    for (i, w) in words.iter().enumerate() {
                        s.holding.insert(a.wrapping_add(i as u16), *w);
                    }
                    Ok(Response::WriteMultipleRegisters(a, words.len() as u16))
                }
                _ => Err(ExceptionCode::IllegalFunction),
            };
            (result, s.delay)
        };
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            result
        })
    }
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

fn spawn_server(listener: TcpListener, state: Arc<Mutex<State>>) -> JoinHandle<()> {
    let server = tokio_modbus::server::tcp::Server::new(listener);
    tokio::spawn(async move {
        let on_connected = move |stream: TcpStream, _peer: SocketAddr| {
            let service = Service { state: state.clone() };
            async move { io::Result::Ok(Some((service, stream))) }
        };
        let on_error = |e: io::Error| tracing::debug!(error = %e, "Modbus emulator: connection ended");
        if let Err(e) = server.serve(&on_connected, on_error).await {
            tracing::warn!(error = %e, "Modbus emulator stopped");
        }
    })
}

/// A Modbus TCP server on loopback. Dropping it stops it.
pub struct ModbusServer {
    local_addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl ModbusServer {
    /// Starts serving on `bind` (use port 0 for any free port). Answers every unit id.
    pub async fn start(bind_addr: SocketAddr) -> io::Result<ModbusServer> {
        let listener = bind(bind_addr)?;
        let local_addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let task = Some(spawn_server(listener, state.clone()));
        Ok(ModbusServer { local_addr, state, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port` text for a point's `address`.
    pub fn address(&self) -> String {
        self.local_addr.to_string()
    }

    /// Stops listening and closes every connection (registers are kept).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address after [`stop`](Self::stop), with the same registers.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await;
        let mut last = None;
        for _ in 0..50 {
            match bind(self.local_addr) {
                Ok(listener) => {
                    self.task = Some(spawn_server(listener, self.state.clone()));
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(last.unwrap_or_else(|| io::Error::other("could not bind")))
    }

    /// Sets holding registers from `addr` on.
    pub fn set_holding(&self, addr: u16, words: &[u16]) {
        let mut s = lock(&self.state);
        for (i, w) in words.iter().enumerate() {
            s.holding.insert(addr.wrapping_add(i as u16), *w);
        }
    }

    /// Sets input registers from `addr` on.
    pub fn set_input(&self, addr: u16, words: &[u16]) {
        let mut s = lock(&self.state);
        for (i, w) in words.iter().enumerate() {
            s.input.insert(addr.wrapping_add(i as u16), *w);
        }
    }

    /// Writes a typed value at `addr` of `table`, encoded with [`encode_registers`].
    pub fn set_value(
        &self,
        table: RegisterTable,
        addr: u16,
        value: RawValue,
        data_type: DataType,
        word_order: WordOrder,
    ) -> Result<(), DriverError> {
        let words = encode_registers(value, data_type, word_order)?;
        match table {
            RegisterTable::Holding => self.set_holding(addr, &words),
            RegisterTable::Input => self.set_input(addr, &words),
        }
        Ok(())
    }

    /// Removes registers, so that reading them answers "illegal data address".
    pub fn clear(&self, table: RegisterTable, addr: u16, count: u16) {
        let mut s = lock(&self.state);
        let map = match table {
            RegisterTable::Holding => &mut s.holding,
            RegisterTable::Input => &mut s.input,
        };
        for i in 0..count {
            map.remove(&addr.wrapping_add(i));
        }
    }

    /// Delays every answer (to provoke client timeouts).
    pub fn set_response_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Requests served so far.
    pub fn requests(&self) -> u64 {
        lock(&self.state).requests
    }
}

impl Drop for ModbusServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
