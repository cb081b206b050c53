//! Retries with capped exponential backoff and jitter that honour `Retry-After`, and the record
//! of every attempt, so the caller can put each one on the record next to the result.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tollgate_core::{Clock, clock::SystemClock};

use crate::BoxFuture;

/// How often and how patiently to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (0 is read as 1).
    pub max_attempts: u32,
    /// The wait after the first failure when the server names none; it doubles per retry.
    pub base_delay: Duration,
    /// No computed wait is longer than this.
    pub max_delay: Duration,
    /// A server asking for a longer `Retry-After` ends the retries instead: the caller is
    /// usually a request waiting on an answer, better told "unavailable" than held for minutes.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Waits between attempts; injectable so tests neither sleep nor guess how long was waited.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// Really waits, on the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// For tests: returns at once and remembers every wait it was asked for.
#[derive(Debug, Default, Clone)]
pub struct RecordingSleeper(Arc<Mutex<Vec<Duration>>>);

impl RecordingSleeper {
    pub fn waits(&self) -> Vec<Duration> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// How one attempt ended, in the words the attempt log uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    Succeeded,
    /// No complete answer within the timeout.
    Timeout,
    /// No connection, or it broke before an answer.
    Unreachable,
    /// HTTP 401/403: the credentials were refused.
    Unauthorized,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// Any other 4xx, or a 2xx whose content says the request failed.
    Rejected,
    /// An answer that does not follow the contract.
    Malformed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Rejected => "rejected",
            Self::Malformed => "malformed",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One try at the provider, as the server records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first try.
    pub number: u32,
    /// When the request was sent, by the retrier's clock.
    pub started_at: DateTime<Utc>,
    /// From sending the request to having the whole answer (or giving up on it).
    pub latency: Duration,
    /// The HTTP status, when an answer arrived.
    pub status: Option<u16>,
    pub outcome: AttemptOutcome,
    /// The error of a failed attempt, as displayed; never holds a credential.
    pub detail: Option<String>,
}

/// An error that can say which [`AttemptOutcome`] it stands for.
pub trait AttemptError: fmt::Display {
    fn outcome(&self) -> AttemptOutcome;
}

/// What one try produced, as the retry loop needs to see it.
#[derive(Debug)]
pub enum Step<T, E> {
    Done(T),
    /// Worth another try, after `retry_after` when the server named a wait.
    Retry {
        error: E,
        retry_after: Option<Duration>,
    },
    /// Trying again would fail the same way.
    Fail(E),
}

/// One try's result and the HTTP status it came with.
#[derive(Debug)]
pub struct Tried<T, E> {
    pub status: Option<u16>,
    pub step: Step<T, E>,
}

/// A failure after every attempt it took, so the caller can record them all.
#[derive(Debug)]
pub struct ConnectorError<K> {
    pub kind: K,
    pub attempts: Vec<Attempt>,
}

impl<K: fmt::Display> fmt::Display for ConnectorError<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (attempts: {})", self.kind, self.attempts.len())
    }
}

impl<K: std::error::Error> std::error::Error for ConnectorError<K> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

/// Runs an operation under a [`RetryPolicy`], waiting through an injectable [`Sleeper`] and
/// timing attempts by an injectable [`Clock`].
pub struct Retrier {
    policy: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    rng: Mutex<StdRng>,
}

impl fmt::Debug for Retrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrier")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Retrier {
    /// Real waits, the system clock and jitter from the OS's entropy.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
            rng: Mutex::new(StdRng::from_os_rng()),
        }
    }

    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Makes the jitter a fixed sequence, for tests.
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.rng = Mutex::new(StdRng::seed_from_u64(seed));
        self
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The wait before retry `retry` (1 after the first failure) when the server named none:
    /// `base · 2^(retry-1)` capped at `max_delay`, then a random point in its upper half, so
    /// that clients which failed together do not all come back together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let doubling = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(doubling)
            .min(self.policy.max_delay);
        let half = ceiling / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = self
            .rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_range(0..=jitter_nanos);
        half + Duration::from_nanos(jitter)
    }

    /// Calls `op` until it is done, fails for good, the attempts run out, or the server asks
    /// for a wait longer than the policy allows. Returns the value or the last error, with
    /// every attempt either way.
    pub async fn run<T, E, F, Fut>(&self, mut op: F) -> Result<(T, Vec<Attempt>), ConnectorError<E>>
    where
        E: AttemptError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Tried<T, E>>,
    {
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempts = Vec::new();
        let mut number = 0;
        loop {
            number += 1;
            let started_at = self.clock.now();
            let start = Instant::now();
            let tried = op().await;
            let mut attempt = Attempt {
                number,
                started_at,
                latency: start.elapsed(),
                status: tried.status,
                outcome: AttemptOutcome::Succeeded,
                detail: None,
            };
            let (error, retry_after, retryable) = match tried.step {
                Step::Done(value) => {
                    attempts.push(attempt);
                    return Ok((value, attempts));
                }
                Step::Retry { error, retry_after } => (error, retry_after, true),
                Step::Fail(error) => (error, None, false),
            };
            attempt.outcome = error.outcome();
            attempt.detail = Some(error.to_string());
            attempts.push(attempt);
            let wait = match retry_after {
                Some(wait) if wait > self.policy.max_retry_after => None,
                Some(wait) => Some(wait),
                None => Some(self.backoff(number)),
            };
            match wait {
                Some(wait) if retryable && number < max_attempts => self.sleeper.sleep(wait).await,
                _ => {
                    return Err(ConnectorError {
                        kind: error,
                        attempts,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Flaky(AttemptOutcome);

    impl fmt::Display for Flaky {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "flaky: {}", self.0)
        }
    }

    impl AttemptError for Flaky {
        fn outcome(&self) -> AttemptOutcome {
            self.0
        }
    }

    fn retrier(sleeper: &RecordingSleeper) -> Retrier {
        Retrier::new(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            max_retry_after: Duration::from_secs(10),
        })
        .with_sleeper(Arc::new(sleeper.clone()))
        .with_jitter_seed(7)
    }

    #[test]
    fn backoff_doubles_is_capped_and_stays_in_the_upper_half() {
        let retrier = retrier(&RecordingSleeper::default());
        for (retry, ceiling) in [(1, 100), (2, 200), (3, 300), (4, 300), (40, 300)] {
            let wait = retrier.backoff(retry);
            let ceiling = Duration::from_millis(ceiling);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "{retry}: {wait:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_waits() {
        let a = retrier(&RecordingSleeper::default());
        let b = retrier(&RecordingSleeper::default());
        let waits = |r: &Retrier| (1..6).map(|n| r.backoff(n)).collect::<Vec<_>>();
        assert_eq!(waits(&a), waits(&b));
    }

    #[tokio::test]
    async fn retries_until_done_and_records_every_attempt() {
        let sleeper = RecordingSleeper::default();
        let retrier = retrier(&sleeper);
        let mut script = vec![
            Step::Retry {
                error: Flaky(AttemptOutcome::RateLimited),
                retry_after: Some(Duration::from_secs(2)),
            },
            Step::Retry {
                error: Flaky(AttemptOutcome::ServerError),
                retry_after: None,
            },
            Step::Done("ok"),
        ]
        .into_iter();
        let (value, attempts) = retrier
            .run(|| {
                let step = script.next().unwrap();
                async move {
                    Tried {
                        status: Some(200),
                        step,
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(value, "ok");
        let outcomes: Vec<_> = attempts.iter().map(|a| (a.number, a.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                (1, AttemptOutcome::RateLimited),
                (2, AttemptOutcome::ServerError),
                (3, AttemptOutcome::Succeeded)
            ]
        );
        let waits = sleeper.waits();
        assert_eq!(waits[0], Duration::from_secs(2));
        assert!(waits[1] >= Duration::from_millis(100) && waits[1] <= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn stops_at_a_fatal_error_the_attempt_limit_or_a_too_long_retry_after() {
        let sleeper = RecordingSleeper::default();
        let retrier = retrier(&sleeper);
        let run = |step: fn() -> Step<(), Flaky>| {
            retrier.run(move || async move {
                Tried {
                    status: None,
                    step: step(),
                }
            })
        };

        let fatal = run(|| Step::Fail(Flaky(AttemptOutcome::Rejected)))
            .await
            .unwrap_err();
        assert_eq!(fatal.attempts.len(), 1);
        assert_eq!(fatal.to_string(), "flaky: rejected (attempts: 1)");

        let exhausted = run(|| Step::Retry {
            error: Flaky(AttemptOutcome::Timeout),
            retry_after: None,
        })
        .await
        .unwrap_err();
        assert_eq!(exhausted.attempts.len(), 4);
        assert_eq!(sleeper.waits().len(), 3);

        let too_long = run(|| Step::Retry {
            error: Flaky(AttemptOutcome::RateLimited),
            retry_after: Some(Duration::from_secs(11)),
        })
        .await
        .unwrap_err();
        assert_eq!(too_long.attempts.len(), 1);
        assert_eq!(sleeper.waits().len(), 3, "no wait before giving up");
    }
}
