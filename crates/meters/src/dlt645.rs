//! DL/T 645-2007 (多功能电能表通信协议): frames, energy registers and a client over TCP.
//!
//! A frame on the wire:
//!
//! ```text
//! [FE FE FE FE]  68  A0 A1 A2 A3 A4 A5  68  C  L  DATA(L bytes)  CS  16
//! wake-up bytes      address, low byte first   control, length     checksum, end
//! ```
//!
//! - The address is the meter's 12-digit communication address in BCD, the two lowest digits in
//!   `A0` (nameplate `123456789012` → `12 90 78 56 34 12`).
//! - Every data byte is sent plus 0x33 (and received minus 0x33).
//! - `CS` is the sum, modulo 256, of every byte from the first `68` through the last data byte.
//! - Up to [`MAX_DLT645_WAKE_UP`] leading `FE` bytes are tolerated on input and four are sent.
//! - Read data (control `11`): `DATA` is the data identifier `DI0 DI1 DI2 DI3` (low byte first).
//!   The normal reply (control `91`) carries the identifier and the value; an abnormal reply
//!   (control `D1`) carries one error byte.
//! - Energy is 4 bytes of BCD, low byte first, `XXXXXX.XX` kWh.
//!
//! Forward active energy identifiers (正向有功电能): total `00 01 00 00`, tariff 1–4 (尖/峰/平/谷)
//! `00 01 01 00` … `00 01 04 00`.

use crate::backoff::Backoff;
use crate::config::Dlt645Source;
use crate::decimal::{RawValue, Scale, format_quantity};
use crate::error::DriverError;
use crate::limits::{MAX_DLT645_DATA_LEN, MAX_DLT645_FRAME_LEN, MAX_DLT645_WAKE_UP};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trustmeter_types::Quantity;

/// Frame delimiter (帧起始符), twice per frame.
pub const START: u8 = 0x68;
/// End of frame (结束符).
pub const END: u8 = 0x16;
/// Wake-up byte (前导字节).
pub const WAKE_UP: u8 = 0xFE;
/// Added to every data byte on the wire.
pub const DATA_OFFSET: u8 = 0x33;
/// Control code of a read-data request (读数据).
pub const CONTROL_READ: u8 = 0x11;
/// Control code of a normal reply to a read.
pub const CONTROL_READ_REPLY: u8 = 0x91;
/// Control code of an abnormal reply to a read (异常应答).
pub const CONTROL_READ_ABNORMAL: u8 = 0xD1;
const PROTOCOL: &str = "DL/T 645";

/// What is wrong with a DL/T 645 frame or reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Dlt645Error {
    /// Fewer bytes than the frame needs.
    #[error("frame is cut short: {len} bytes, at least {needed} needed")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// More wake-up bytes than tolerated.
    #[error("{count} wake-up bytes 0xFE before the frame, at most {MAX_DLT645_WAKE_UP} are tolerated")]
    TooManyWakeUp {
        /// How many were seen (at least).
        count: usize,
    },
    /// A delimiter that is not 0x68.
    #[error("byte 0x{got:02X} at offset {offset}, expected the start byte 0x68")]
    BadStart {
        /// Offset in the received bytes.
        offset: usize,
        /// The byte found.
        got: u8,
    },
    /// The last byte is not 0x16.
    #[error("end byte 0x{got:02X}, expected 0x16")]
    BadEnd {
        /// The byte found.
        got: u8,
    },
    /// The checksum does not match.
    #[error("checksum 0x{got:02X}, expected 0x{expected:02X}")]
    Checksum {
        /// The checksum in the frame.
        got: u8,
        /// The sum of the frame's bytes.
        expected: u8,
    },
    /// The length byte disagrees with the bytes received.
    #[error(
        "length byte says {declared} data bytes, so the frame is {expected_len} bytes, but {actual_len} were given"
    )]
    LengthMismatch {
        /// The length byte.
        declared: usize,
        /// Frame length it implies (wake-up bytes included).
        expected_len: usize,
        /// Bytes given.
        actual_len: usize,
    },
    /// A length byte beyond the standard's limit.
    #[error("length byte says {declared} data bytes, the standard's limit is {max}")]
    TooLong {
        /// The length byte.
        declared: usize,
        /// The limit.
        max: usize,
    },
    /// A byte that should be BCD is not.
    #[error("byte 0x{byte:02X} of the {what} is not BCD (each half must be 0-9)")]
    NotBcd {
        /// What the byte belongs to.
        what: &'static str,
        /// The byte (after removing the 0x33 offset).
        byte: u8,
    },
    /// The reply came from another meter.
    #[error("reply from meter {got}, expected meter {expected}")]
    AddressMismatch {
        /// The meter asked.
        expected: Dlt645Address,
        /// The meter that answered.
        got: Dlt645Address,
    },
    /// A control code other than the one expected.
    #[error("control code 0x{got:02X}, expected 0x{expected:02X}")]
    UnexpectedControl {
        /// Expected control code.
        expected: u8,
        /// Received control code.
        got: u8,
    },
    /// The reply is for another data identifier.
    #[error("reply is for data identifier {}, expected {}", di_text(*.got), di_text(*.expected))]
    DataIdMismatch {
        /// Identifier asked.
        expected: u32,
        /// Identifier answered.
        got: u32,
    },
    /// The reply's data has the wrong length.
    #[error("reply data is {got} bytes, expected {expected}")]
    DataLength {
        /// Expected data bytes.
        expected: usize,
        /// Received data bytes.
        got: usize,
    },
    /// The meter answered with an abnormal reply (异常应答).
    #[error("meter {address} answered abnormally (control 0xD1), error byte 0x{code:02X}: {meaning}")]
    Abnormal {
        /// The meter.
        address: Dlt645Address,
        /// The error byte.
        code: u8,
        /// The meaning of its bits.
        meaning: String,
    },
    /// A meter address that is not 12 decimal digits.
    #[error("meter address {text:?} is not valid: {reason}")]
    BadAddress {
        /// The text given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A value that cannot be sent as `XXXXXX.XX` kWh (emulators).
    #[error("{value} kWh cannot be sent as XXXXXX.XX (0 to 999999.99, two decimals)")]
    NotRepresentable {
        /// The value.
        value: String,
    },
}

/// `00 01 00 00` for 0x0001_0000 (DI3 DI2 DI1 DI0, as the standard's tables write them).
pub fn di_text(di: u32) -> String {
    let b = di.to_be_bytes();
    format!("{:02X} {:02X} {:02X} {:02X}", b[0], b[1], b[2], b[3])
}

/// Meaning of the error byte of an abnormal reply (bit 0 = 其他错误 …).
pub fn abnormal_meaning(code: u8) -> String {
    const BITS: [&str; 8] = [
        "other error (其他错误)",
        "no requested data: the meter does not support this data identifier (无请求数据)",
        "password wrong or not authorised (密码错/未授权)",
        "baud rate cannot be changed (通信速率不能更改)",
        "too many annual time zones (年时区数超)",
        "too many daily periods (日时段数超)",
        "too many tariffs (费率数超)",
        "reserved bit 7",
    ];
    let parts: Vec<&str> = (0..8).filter(|b| code & (1 << b) != 0).map(|b| BITS[b]).collect();
    if parts.is_empty() { "no error bit set".into() } else { parts.join("; ") }
}

/// A meter's communication address (通信地址), kept in wire order (`A0` first).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dlt645Address(pub [u8; 6]);

impl Dlt645Address {
    /// The broadcast address `AAAAAAAAAAAA` (only for reading the address of a single meter).
    pub const BROADCAST: Dlt645Address = Dlt645Address([0xAA; 6]);

    /// Parses the 12 decimal digits printed on the nameplate (most significant first).
    pub fn parse(text: &str) -> Result<Self, Dlt645Error> {
        let bad =
            |reason: &str| Dlt645Error::BadAddress { text: text.chars().take(40).collect(), reason: reason.into() };
        let t = text.trim();
        if t.len() != 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(
                "it must be exactly 12 decimal digits, as printed on the nameplate (pad with leading zeros)",
            ));
        }
        let digits = t.as_bytes();
        let mut a = [0u8; 6];
        for (i, byte) in a.iter_mut().enumerate() {
            // A0 holds the last two digits.
            let hi = digits[10 - 2 * i] - b'0';
            let lo = digits[11 - 2 * i] - b'0';
            *byte = (hi << 4) | lo;
        }
        Ok(Dlt645Address(a))
    }
}

impl fmt::Display for Dlt645Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter().rev() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}
impl fmt::Debug for Dlt645Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dlt645Address({self})")
    }
}
impl std::str::FromStr for Dlt645Address {
    type Err = Dlt645Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dlt645Address::parse(s)
    }
}
impl Serialize for Dlt645Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
impl<'de> Deserialize<'de> for Dlt645Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dlt645Address::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A forward active energy register (正向有功电能).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dlt645Register {
    /// Total (总), `00 01 00 00`; the default.
    #[default]
    Total,
    /// Tariff 1, critical peak (尖), `00 01 01 00`.
    Sharp,
    /// Tariff 2, peak (峰), `00 01 02 00`.
    Peak,
    /// Tariff 3, flat (平), `00 01 03 00`.
    Flat,
    /// Tariff 4, valley (谷), `00 01 04 00`.
    Valley,
}

impl Dlt645Register {
    /// Every register, total first.
    pub const ALL: [Dlt645Register; 5] = [
        Dlt645Register::Total,
        Dlt645Register::Sharp,
        Dlt645Register::Peak,
        Dlt645Register::Flat,
        Dlt645Register::Valley,
    ];

    /// The data identifier `DI3 DI2 DI1 DI0` as a number (0x0001_0000 for the total).
    pub fn data_identifier(self) -> u32 {
        match self {
            Dlt645Register::Total => 0x0001_0000,
            Dlt645Register::Sharp => 0x0001_0100,
            Dlt645Register::Peak => 0x0001_0200,
            Dlt645Register::Flat => 0x0001_0300,
            Dlt645Register::Valley => 0x0001_0400,
        }
    }
    /// The register with this identifier.
    pub fn from_data_identifier(di: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.data_identifier() == di)
    }
}

impl fmt::Display for Dlt645Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dlt645Register::Total => "total (总)",
            Dlt645Register::Sharp => "sharp (尖)",
            Dlt645Register::Peak => "peak (峰)",
            Dlt645Register::Flat => "flat (平)",
            Dlt645Register::Valley => "valley (谷)",
        })
    }
}

/// A decoded frame; `data` is without the 0x33 offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The meter's address.
    pub address: Dlt645Address,
    /// Control code.
    pub control: u8,
    /// Data, offset removed.
    pub data: Vec<u8>,
}

impl Frame {
    /// A read-data request for one identifier.
    pub fn read_request(address: Dlt645Address, data_identifier: u32) -> Frame {
        Frame { address, control: CONTROL_READ, data: data_identifier.to_le_bytes().to_vec() }
    }

    /// Wire bytes, optionally preceded by four wake-up bytes.
    ///
    /// # Panics
    /// If `data` is longer than [`MAX_DLT645_DATA_LEN`] (a programming error).
    pub fn encode(&self, wake_up: bool) -> Vec<u8> {
        assert!(self.data.len() <= MAX_DLT645_DATA_LEN, "DL/T 645 data too long");
        let mut out = Vec::with_capacity(16 + self.data.len());
        if wake_up {
            out.extend_from_slice(&[WAKE_UP; 4]);
        }
        let start = out.len();
        out.push(START);
        out.extend_from_slice(&self.address.0);
        out.push(START);
        out.push(self.control);
        out.push(self.data.len() as u8);
        out.extend(self.data.iter().map(|b| b.wrapping_add(DATA_OFFSET)));
        let cs = checksum(&out[start..]);
        out.push(cs);
        out.push(END);
        out
    }
}

/// Sum modulo 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// Given the bytes received so far, the length of the first complete frame (wake-up bytes
/// included), `None` if more bytes are needed, or an error as soon as the bytes cannot be a frame.
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, Dlt645Error> {
    let wake = buf.iter().take_while(|b| **b == WAKE_UP).count();
    if wake > MAX_DLT645_WAKE_UP {
        return Err(Dlt645Error::TooManyWakeUp { count: wake });
    }
    let Some(&first) = buf.get(wake) else { return Ok(None) };
    if first != START {
        return Err(Dlt645Error::BadStart { offset: wake, got: first });
    }
    if let Some(&second) = buf.get(wake + 7)
        && second != START
    {
        return Err(Dlt645Error::BadStart { offset: wake + 7, got: second });
    }
    let Some(&len) = buf.get(wake + 9) else { return Ok(None) };
    let len = usize::from(len);
    if len > MAX_DLT645_DATA_LEN {
        return Err(Dlt645Error::TooLong { declared: len, max: MAX_DLT645_DATA_LEN });
    }
    let total = wake + 12 + len;
    debug_assert!(total <= MAX_DLT645_FRAME_LEN);
    Ok(if buf.len() >= total { Some(total) } else { None })
}

/// Decodes exactly one frame (with up to four wake-up bytes in front).
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, Dlt645Error> {
    let wake = bytes.iter().take_while(|b| **b == WAKE_UP).count();
    if wake > MAX_DLT645_WAKE_UP {
        return Err(Dlt645Error::TooManyWakeUp { count: wake });
    }
    let f = &bytes[wake..];
    if f.len() < 12 {
        if let Some(&b) = f.first()
            && b != START
        {
            return Err(Dlt645Error::BadStart { offset: wake, got: b });
        }
        return Err(Dlt645Error::Truncated { len: bytes.len(), needed: wake + 12 });
    }
    if f[0] != START {
        return Err(Dlt645Error::BadStart { offset: wake, got: f[0] });
    }
    if f[7] != START {
        return Err(Dlt645Error::BadStart { offset: wake + 7, got: f[7] });
    }
    let len = usize::from(f[9]);
    if len > MAX_DLT645_DATA_LEN {
        return Err(Dlt645Error::TooLong { declared: len, max: MAX_DLT645_DATA_LEN });
    }
    if f.len() != 12 + len {
        return Err(Dlt645Error::LengthMismatch {
            declared: len,
            expected_len: wake + 12 + len,
            actual_len: bytes.len(),
        });
    }
    let expected = checksum(&f[..10 + len]);
    let got = f[10 + len];
    if got != expected {
        return Err(Dlt645Error::Checksum { got, expected });
    }
    if f[11 + len] != END {
        return Err(Dlt645Error::BadEnd { got: f[11 + len] });
    }
    let mut address = [0u8; 6];
    address.copy_from_slice(&f[1..7]);
    Ok(Frame {
        address: Dlt645Address(address),
        control: f[8],
        data: f[10..10 + len].iter().map(|b| b.wrapping_sub(DATA_OFFSET)).collect(),
    })
}

/// Checks a reply to a read of `data_identifier` from `expected` and returns the value bytes.
pub fn parse_read_reply(frame: &Frame, expected: Dlt645Address, data_identifier: u32) -> Result<Vec<u8>, Dlt645Error> {
    if frame.address != expected {
        return Err(Dlt645Error::AddressMismatch { expected, got: frame.address });
    }
    match frame.control {
        CONTROL_READ_REPLY => {}
        CONTROL_READ_ABNORMAL => {
            let code = *frame.data.first().ok_or(Dlt645Error::DataLength { expected: 1, got: 0 })?;
            return Err(Dlt645Error::Abnormal { address: frame.address, code, meaning: abnormal_meaning(code) });
        }
        got => return Err(Dlt645Error::UnexpectedControl { expected: CONTROL_READ_REPLY, got }),
    }
    if frame.data.len() < 4 {
        return Err(Dlt645Error::DataLength { expected: 4, got: frame.data.len() });
    }
    let got = u32::from_le_bytes([frame.data[0], frame.data[1], frame.data[2], frame.data[3]]);
    if got != data_identifier {
        return Err(Dlt645Error::DataIdMismatch { expected: data_identifier, got });
    }
    Ok(frame.data[4..].to_vec())
}

fn bcd(byte: u8, what: &'static str) -> Result<u64, Dlt645Error> {
    let (hi, lo) = (byte >> 4, byte & 0x0F);
    if hi > 9 || lo > 9 {
        return Err(Dlt645Error::NotBcd { what, byte });
    }
    Ok(u64::from(hi * 10 + lo))
}

/// Decodes an energy value: 4 bytes of BCD, low byte first, `XXXXXX.XX` kWh.
pub fn decode_energy(bytes: &[u8]) -> Result<Quantity, Dlt645Error> {
    if bytes.len() != 4 {
        return Err(Dlt645Error::DataLength { expected: 8, got: 4 + bytes.len() });
    }
    let mut hundredths = 0u64;
    for b in bytes.iter().rev() {
        hundredths = hundredths * 100 + bcd(*b, "energy value")?;
    }
    Ok(Quantity::from_micros(hundredths as i64 * 10_000))
}

/// Encodes an energy value as 4 bytes of BCD (the inverse of [`decode_energy`]).
pub fn encode_energy(kwh: Quantity) -> Result<[u8; 4], Dlt645Error> {
    let m = kwh.micros();
    if !(0..100_000_000 * 10_000).contains(&m) || m % 10_000 != 0 {
        return Err(Dlt645Error::NotRepresentable { value: format_quantity(kwh) });
    }
    let mut h = m / 10_000;
    let mut out = [0u8; 4];
    for b in out.iter_mut() {
        let two = (h % 100) as u8;
        *b = ((two / 10) << 4) | (two % 10);
        h /= 100;
    }
    Ok(out)
}

/// A connection to one serial-to-TCP converter; requests are sent one at a time.
#[derive(Debug)]
pub struct Dlt645Client {
    peer: String,
    stream: TcpStream,
}

impl Dlt645Client {
    /// Connects to `host:port` within `timeout`.
    pub async fn connect(peer: &str, timeout: Duration) -> Result<Self, DriverError> {
        let failed = |message: String| DriverError::Connect { protocol: PROTOCOL, peer: peer.to_owned(), message };
        let attempt = async {
            let addr = crate::config::resolve(peer).await?;
            TcpStream::connect(addr).await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(stream)) => {
                // Requests are small and latency-bound.
                let _ = stream.set_nodelay(true);
                Ok(Dlt645Client { peer: peer.to_owned(), stream })
            }
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed(format!("no connection within {} ms", timeout.as_millis()))),
        }
    }

    /// The converter's address.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Discards bytes left over from an earlier exchange (a late or garbled reply).
    fn drain(&mut self) -> Result<(), std::io::Error> {
        let mut scratch = [0u8; 256];
        loop {
            match self.stream.try_read(&mut scratch) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "converter closed the connection",
                    ));
                }
                Ok(n) => tracing::debug!(peer = %self.peer, bytes = n, "DL/T 645: discarded stale bytes"),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends a request and waits up to `timeout` for one reply frame.
    pub async fn exchange(&mut self, request: &Frame, timeout: Duration, what: &str) -> Result<Frame, DriverError> {
        let io = |e: std::io::Error, peer: &str| DriverError::Io {
            protocol: PROTOCOL,
            peer: peer.to_owned(),
            request: what.to_owned(),
            message: e.to_string(),
        };
        self.drain().map_err(|e| io(e, &self.peer))?;
        let bytes = request.encode(true);
        let peer = self.peer.clone();
        let stream = &mut self.stream;
        let work = async move {
            stream.write_all(&bytes).await?;
            let mut buf: Vec<u8> = Vec::with_capacity(64);
            let mut chunk = [0u8; 256];
            loop {
                match frame_length(&buf) {
                    Ok(Some(n)) => return Ok(Ok(buf[..n].to_vec())),
                    Ok(None) => {}
                    Err(e) => return Ok(Err(e)),
                }
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "converter closed the connection",
                    ));
                }
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_DLT645_FRAME_LEN {
                    // frame_length would have failed first; kept as a hard stop.
                    return Ok(Err(Dlt645Error::TooLong { declared: buf.len(), max: MAX_DLT645_FRAME_LEN }));
                }
            }
        };
        let frame_bytes = match tokio::time::timeout(timeout, work).await {
            Err(_) => {
                return Err(DriverError::Timeout {
                    protocol: PROTOCOL,
                    peer,
                    request: what.to_owned(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            Ok(Err(e)) => return Err(io(e, &peer)),
            Ok(Ok(Err(e))) => return Err(DriverError::Dlt645 { peer, error: e }),
            Ok(Ok(Ok(b))) => b,
        };
        decode_frame(&frame_bytes).map_err(|error| DriverError::Dlt645 { peer, error })
    }

    /// Reads one forward active energy register of one meter, in kWh.
    pub async fn read_energy(
        &mut self,
        meter: Dlt645Address,
        register: Dlt645Register,
        timeout: Duration,
    ) -> Result<Quantity, DriverError> {
        let di = register.data_identifier();
        let what = format!("read {} {register} from meter {meter}", di_text(di));
        let reply = self.exchange(&Frame::read_request(meter, di), timeout, &what).await?;
        let peer = self.peer.clone();
        let value =
            parse_read_reply(&reply, meter, di).map_err(|error| DriverError::Dlt645 { peer: peer.clone(), error })?;
        decode_energy(&value).map_err(|error| DriverError::Dlt645 { peer, error })
    }
}

/// One converter connection shared by every point with the same address, with reconnection.
pub(crate) struct Dlt645Link {
    peer: String,
    client: Option<Dlt645Client>,
    backoff: Backoff,
}

impl Dlt645Link {
    pub(crate) fn new(peer: String) -> Self {
        Dlt645Link { peer, client: None, backoff: Backoff::default() }
    }

    pub(crate) async fn read(&mut self, src: &Dlt645Source, scale: &Scale) -> Result<Quantity, DriverError> {
        let timeout = Duration::from_millis(src.timeout_ms);
        if self.client.is_none() {
            if let Err(retry_in) = self.backoff.ready() {
                return Err(DriverError::Disconnected {
                    protocol: PROTOCOL,
                    peer: self.peer.clone(),
                    last_error: self.backoff.last_error().to_owned(),
                    retry_in_ms: retry_in.as_millis() as u64,
                });
            }
            match Dlt645Client::connect(&self.peer, timeout).await {
                Ok(c) => {
                    tracing::info!(peer = %self.peer, "DL/T 645 converter connected");
                    self.backoff.succeeded();
                    self.client = Some(c);
                }
                Err(e) => {
                    tracing::warn!(peer = %self.peer, error = %e, "DL/T 645 connection failed");
                    self.backoff.failed(e.to_string());
                    return Err(e);
                }
            }
        }
        let Some(client) = self.client.as_mut() else {
            return Err(DriverError::Connect {
                protocol: PROTOCOL,
                peer: self.peer.clone(),
                message: "not connected".into(),
            });
        };
        match client.read_energy(src.meter_address, src.register, timeout).await {
            Ok(kwh) => scale.apply(RawValue::Decimal { mantissa: i128::from(kwh.micros()), decimals: 6 }),
            Err(e) => {
                // A broken connection is re-opened; a silent meter or a bad frame is not the
                // converter's fault, and stale bytes are drained before the next request.
                if matches!(e, DriverError::Io { .. }) {
                    self.client = None;
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_digits_map_to_little_endian_bcd() {
        let a = Dlt645Address::parse("123456789012").unwrap();
        assert_eq!(a.0, [0x12, 0x90, 0x78, 0x56, 0x34, 0x12]);
        assert_eq!(a.to_string(), "123456789012");
        assert!(Dlt645Address::parse("12345678901").is_err());
        assert!(Dlt645Address::parse("12345678901A").is_err());
        assert_eq!(Dlt645Address::BROADCAST.to_string(), "AAAAAAAAAAAA");
    }

    #[test]
    fn energy_bcd_round_trip() {
        let q = Quantity::from_micros(123_456_780_000); // 123456.78 kWh
        let b = encode_energy(q).unwrap();
        assert_eq!(b, [0x78, 0x56, 0x34, 0x12]);
        assert_eq!(decode_energy(&b).unwrap(), q);
        assert!(encode_energy(Quantity::from_micros(1)).is_err());
        assert!(matches!(decode_energy(&[0x7A, 0, 0, 0]), Err(Dlt645Error::NotBcd { byte: 0x7A, .. })));
        assert!(abnormal_meaning(0x02).contains("无请求数据"));
    }
}
