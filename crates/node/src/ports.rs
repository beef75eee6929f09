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

/// The first of `n` consecutive loopback ports that were all free a moment ago, below the
/// ephemeral range, drawn from the same cursor as [`loopback_addrs`]: within a process no block
/// overlaps another block or an address handed out before (until the range wraps around), so
/// tests running in parallel threads never pick the same port.
///
/// # Panics
/// When no such block can be bound (the machine's loopback is exhausted), or `n` is 0 or does not
/// fit the range.
pub fn loopback_block(n: u16) -> u16 {
    let span = u32::from(END_PORT - FIRST_PORT);
    assert!(n > 0 && u32::from(n) < span, "a block of {n} ports does not fit {FIRST_PORT}..{END_PORT}");
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(7_919)) % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..MAX_TRIES / u32::from(n) {
        let start = NEXT.fetch_add(u32::from(n), Ordering::SeqCst) % span;
        if start + u32::from(n) > span {
            continue; // would straddle the end of the range
        }
        let base = FIRST_PORT + start as u16;
        let held: Vec<TcpListener> =
            (base..base + n).filter_map(|p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).ok()).collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free loopback ports in {FIRST_PORT}..{END_PORT}");
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

    #[test]
    fn blocks_never_overlap_each_other_or_single_addresses() {
        let mut seen = std::collections::BTreeSet::new();
        for round in 0..50 {
            let base = loopback_block(4);
            assert!(FIRST_PORT <= base && base + 4 <= END_PORT, "{base}");
            for p in base..base + 4 {
                assert!(seen.insert(p), "port {p} handed out twice (round {round})");
            }
            let single = loopback_addrs(1)[0].port();
            assert!(seen.insert(single), "port {single} handed out twice (round {round})");
        }
    }
}
