//! A circuit breaker, so that a Partner Center outage costs one fast refusal per call instead
//! of a full retry sequence each, and the outage is probed by one call at a time.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};

/// When the breaker opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failed calls (each after all its retries) that open the breaker (0 is read
    /// as 1).
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before it lets one probe through.
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// The breaker's state, as a metric or a health check shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Refusing calls until `until`.
    Open {
        until: DateTime<Utc>,
    },
    /// One probe call is allowed (or under way); its result closes or reopens the breaker.
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: DateTime<Utc> },
    HalfOpen { probing: bool },
}

/// Counts consecutive failed calls; callers ask [`CircuitBreaker::admit`] before a call and
/// report its end with [`CircuitBreaker::record`].
#[derive(Debug)]
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    inner: Mutex<Inner>,
}

/// What a call's end tells the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// The service answered as a working service does (a 2xx, or a 4xx about the request).
    Healthy,
    /// 5xx, 429, timeout or no connection, after all retries.
    Failed,
    /// The call never reached the service (e.g. no token): says nothing about its health.
    NotSent,
}

impl CircuitBreaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    pub fn state(&self, now: DateTime<Utc>) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open { until },
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a call may go out now. `Err` carries the time the breaker stops refusing.
    pub fn admit(&self, now: DateTime<Utc>) -> Result<(), Option<DateTime<Utc>>> {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if now < until => Err(Some(until)),
            Inner::Open { .. } | Inner::HalfOpen { probing: false } => {
                *inner = Inner::HalfOpen { probing: true };
                Ok(())
            }
            Inner::HalfOpen { probing: true } => Err(None),
        }
    }

    pub fn record(&self, result: CallResult, now: DateTime<Utc>) {
        let threshold = self.policy.failure_threshold.max(1);
        let cool_down =
            chrono::Duration::from_std(self.policy.cool_down).unwrap_or(chrono::Duration::MAX);
        let open = Inner::Open {
            until: now
                .checked_add_signed(cool_down)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        };
        let mut inner = self.lock();
        *inner = match (&*inner, result) {
            (_, CallResult::Healthy) => Inner::Closed { failures: 0 },
            (Inner::Closed { failures }, CallResult::Failed) if failures + 1 >= threshold => open,
            (Inner::Closed { failures }, CallResult::Failed) => Inner::Closed {
                failures: failures + 1,
            },
            (Inner::HalfOpen { .. }, CallResult::Failed) => open,
            (Inner::HalfOpen { .. }, CallResult::NotSent) => Inner::HalfOpen { probing: false },
            (Inner::Open { until }, _) => Inner::Open { until: *until },
            (Inner::Closed { failures }, CallResult::NotSent) => Inner::Closed {
                failures: *failures,
            },
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerPolicy {
            failure_threshold: 3,
            cool_down: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker();
        b.record(CallResult::Failed, t(0));
        b.record(CallResult::Failed, t(0));
        b.record(CallResult::Healthy, t(0));
        b.record(CallResult::Failed, t(1));
        b.record(CallResult::NotSent, t(1));
        b.record(CallResult::Failed, t(1));
        assert_eq!(b.state(t(1)), BreakerState::Closed);
        assert_eq!(b.admit(t(1)), Ok(()));
        b.record(CallResult::Failed, t(2));
        assert_eq!(b.state(t(2)), BreakerState::Open { until: t(12) });
        assert_eq!(b.admit(t(11)), Err(Some(t(12))));
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_result_decides() {
        let b = breaker();
        for _ in 0..3 {
            b.record(CallResult::Failed, t(0));
        }
        assert_eq!(b.admit(t(10)), Ok(()), "the probe");
        assert_eq!(b.admit(t(10)), Err(None), "no second call while probing");
        b.record(CallResult::Failed, t(10));
        assert_eq!(b.state(t(15)), BreakerState::Open { until: t(20) });

        assert_eq!(b.admit(t(20)), Ok(()));
        b.record(CallResult::NotSent, t(20));
        assert_eq!(
            b.admit(t(20)),
            Ok(()),
            "a probe that never went out frees the slot"
        );
        b.record(CallResult::Healthy, t(21));
        assert_eq!(b.state(t(21)), BreakerState::Closed);
        assert_eq!(b.admit(t(21)), Ok(()));
    }
}
