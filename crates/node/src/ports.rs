//! Loopback ports for local clusters (tests, benchmarks, the demo).
//!
//! Binding port 0 and releasing it hands back a port from the kernel's *ephemeral* range
//! (32768–60999 on Linux), the same range the kernel draws from for every outgoing connection. A
//! port noted that way can be taken by an HTTP client or a p2p dialer before the validator binds
//! it, and the validator then fails with "address in use". Ports below the ephemeral range are
//! never handed to outgoing connections, so [`loopback_addrs`] picks from there.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// First port [`loopback_addrs`] considers.
pub const FIRST_PORT: u16 = 15_000;
/// One past the last port [`loopback_addrs`] considers (the bottom of Linux's default
/// ephemeral range).
pub const END_PORT: u16 = 32_768;

/// How many ports [`loopback_addrs`] tries before giving up.
const MAX_TRIES: u32 = 4 * (END_PORT - FIRST_PORT) as u32;

/// The next candidate, as an offset into the range; starts at a point derived from the process
/// id so that concurrent test processes mostly walk different stretches.
static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

/// `n` distinct loopback addresses whose ports were free a moment ago and lie below the
/// ephemeral range. Within a process no port is handed out twice until the range wraps around.
///
/// # Panics
/// When not enough ports in the range can be bound (the machine's loopback is exhausted).
pub fn loopback_addrs(n: usize) -> Vec<SocketAddr> {
    let span = u32::from(END_PORT - FIRST_PORT);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(7_919)) % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let mut held = Vec::with_capacity(n);
    let mut tries = 0;
    while held.len() < n {
        assert!(tries < MAX_TRIES, "no {n} free loopback ports in {FIRST_PORT}..{END_PORT}");
        tries += 1;
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = FIRST_PORT + offset as u16;
        if let Ok(l) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            held.push(l);
        }
    }
    held.iter().map(|l| l.local_addr().expect("a bound listener has an address")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_below_the_ephemeral_range_and_bindable() {
        let a = loopback_addrs(16);
        let b = loopback_addrs(16);
        let all: std::collections::BTreeSet<_> = a.iter().chain(&b).collect();
        assert_eq!(all.len(), 32, "{a:?} {b:?}");
        for addr in &all {
            assert!((FIRST_PORT..END_PORT).contains(&addr.port()), "{addr}");
            assert!(addr.ip().is_loopback());
        }
        // Released: each can be bound again.
        let _held: Vec<_> = a.iter().map(|x| TcpListener::bind(x).expect("rebind")).collect();
    }
}
