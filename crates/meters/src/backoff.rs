//! Reconnection backoff: the wait doubles per failed attempt, from
//! [`RECONNECT_BACKOFF_MIN`] to [`RECONNECT_BACKOFF_MAX`], and resets on success.

use crate::limits::{RECONNECT_BACKOFF_MAX, RECONNECT_BACKOFF_MIN};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

impl Backoff {
    /// `Ok` when an attempt may be made now, else the time left to wait.
    pub(crate) fn ready(&self) -> Result<(), Duration> {
        match self.retry_at {
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Err(left),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// The wait after the current number of failures.
    pub(crate) fn current_delay(&self) -> Duration {
        let exp = self.failures.saturating_sub(1).min(16);
        RECONNECT_BACKOFF_MIN.saturating_mul(1 << exp).min(RECONNECT_BACKOFF_MAX)
    }

    pub(crate) fn failed(&mut self, error: String) {
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(Instant::now() + self.current_delay());
        self.last_error = error;
    }

    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
        self.last_error.clear();
    }

    pub(crate) fn last_error(&self) -> &str {
        &self.last_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let mut b = Backoff::default();
        assert!(b.ready().is_ok());
        b.failed("x".into());
        assert_eq!(b.current_delay(), RECONNECT_BACKOFF_MIN);
        assert!(b.ready().is_err());
        b.failed("y".into());
        assert_eq!(b.current_delay(), RECONNECT_BACKOFF_MIN * 2);
        for _ in 0..40 {
            b.failed("z".into());
        }
        assert_eq!(b.current_delay(), RECONNECT_BACKOFF_MAX);
        assert_eq!(b.last_error(), "z");
        b.succeeded();
        assert!(b.ready().is_ok());
    }
}
