//! The transactional outbox's vocabulary: what kinds of action leave Tollgate, the states an
//! action passes through, and when a failed one is tried again.
//!
//! An action is written in the same transaction as the state change that calls for it, then
//! executed at least once by a worker. Receivers see the action's id as an idempotency key on
//! every attempt, so "at least once" never means "twice" at the other end.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

str_enum!(
    /// Where an action goes.
    ActionKind {
        /// An e-mail to the customer (dunning notices, verification results).
        Email = "email",
        /// A signed Standard Webhooks delivery to one of the partner's endpoints.
        Webhook = "webhook",
        /// Suspend or reactivate a subscription at the vendor.
        SubscriptionStatus = "subscription_status",
        /// Cancel or reactivate one Azure subscription of an Azure plan at the vendor.
        AzureEntitlement = "azure_entitlement",
        /// Tell the vendor what became of a fraud event it raised.
        FraudEventStatus = "fraud_event_status",
        /// Sync the customer's monthly spending budget to the vendor.
        SpendingBudget = "spending_budget",
    }
);

str_enum!(
    /// Where an action stands.
    ActionStatus {
        /// Waiting for its first or next attempt.
        Pending = "pending",
        /// The receiver took it.
        Delivered = "delivered",
        /// Nothing to deliver to: the deployment has no connector for this kind. The state
        /// change inside Tollgate stands; the action is kept so an operator sees it.
        Skipped = "skipped",
        /// Retried until its deadline or refused for good; needs a person.
        Dead = "dead",
    }
);

/// How one attempt ended, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptResult {
    Delivered {
        detail: String,
    },
    Skipped {
        detail: String,
    },
    /// Worth another try (timeouts, 429, 5xx); `retry_after` is the receiver's wish, if any.
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help (4xx other than 408/409/429, a malformed payload).
    Permanent {
        detail: String,
    },
}

impl AttemptResult {
    pub fn detail(&self) -> &str {
        match self {
            Self::Delivered { detail }
            | Self::Skipped { detail }
            | Self::Transient { detail, .. }
            | Self::Permanent { detail } => detail,
        }
    }

    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::Skipped { .. } => "skipped",
            Self::Transient { .. } => "transient_failure",
            Self::Permanent { .. } => "permanent_failure",
        }
    }
}

/// Capped exponential backoff with jitter and a deadline measured from the action's creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure; it doubles per attempt.
    pub base: Duration,
    /// No wait is longer than this, whatever the receiver asks.
    pub cap: Duration,
    /// After this long since the action was written, a failure is final.
    pub give_up_after: Duration,
}

impl Default for Backoff {
    /// 30 s doubling up to an hour, for 24 hours: the Standard Webhooks recommendation's shape,
    /// and long enough to ride out a vendor's bad afternoon.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(30),
            cap: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Done(ActionStatus),
    RetryAt(DateTime<Utc>),
}

impl Backoff {
    /// The step after attempt number `attempts` (1 for the first) ended with `result`.
    /// `jitter` in `[0, 1)` spreads retries of many actions that failed together; the wait is
    /// between half and all of the computed delay ("equal jitter").
    pub fn after(
        &self,
        result: &AttemptResult,
        attempts: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> NextStep {
        let retry_after = match result {
            AttemptResult::Delivered { .. } => return NextStep::Done(ActionStatus::Delivered),
            AttemptResult::Skipped { .. } => return NextStep::Done(ActionStatus::Skipped),
            AttemptResult::Permanent { .. } => return NextStep::Done(ActionStatus::Dead),
            AttemptResult::Transient { retry_after, .. } => *retry_after,
        };
        let exponent = attempts.saturating_sub(1).min(20);
        let computed = self.base.saturating_mul(1 << exponent).min(self.cap);
        let jittered = computed.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        let wait = retry_after.map_or(jittered, |asked| asked.max(jittered).min(self.cap));
        let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        let deadline = created_at
            + chrono::Duration::from_std(self.give_up_after).unwrap_or(chrono::Duration::MAX);
        if at > deadline {
            NextStep::Done(ActionStatus::Dead)
        } else {
            NextStep::RetryAt(at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn transient(retry_after: Option<u64>) -> AttemptResult {
        AttemptResult::Transient {
            detail: "503".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn terminal_results_end_the_action() {
        let b = Backoff::default();
        let ok = AttemptResult::Delivered {
            detail: "250".into(),
        };
        assert_eq!(
            b.after(&ok, 1, t(0), t(0), 0.5),
            NextStep::Done(ActionStatus::Delivered)
        );
        let skip = AttemptResult::Skipped {
            detail: "no connector".into(),
        };
        assert_eq!(
            b.after(&skip, 1, t(0), t(0), 0.5),
            NextStep::Done(ActionStatus::Skipped)
        );
        let refused = AttemptResult::Permanent {
            detail: "400".into(),
        };
        assert_eq!(
            b.after(&refused, 1, t(0), t(0), 0.5),
            NextStep::Done(ActionStatus::Dead)
        );
    }

    #[test]
    fn waits_double_within_the_jitter_band_and_stop_at_the_cap() {
        let b = Backoff::default();
        for (attempt, full) in [(1, 30), (2, 60), (3, 120), (8, 3600), (30, 3600)] {
            let low = b.after(&transient(None), attempt, t(0), t(0), 0.0);
            let high = b.after(&transient(None), attempt, t(0), t(0), 1.0);
            assert_eq!(low, NextStep::RetryAt(t(full / 2)), "attempt {attempt}");
            assert_eq!(high, NextStep::RetryAt(t(full)), "attempt {attempt}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let b = Backoff::default();
        assert_eq!(
            b.after(&transient(Some(600)), 1, t(0), t(0), 0.0),
            NextStep::RetryAt(t(600))
        );
        assert_eq!(
            b.after(&transient(Some(1)), 1, t(0), t(0), 0.0),
            NextStep::RetryAt(t(15)),
            "a shorter Retry-After than our own backoff does not hurry us"
        );
        assert_eq!(
            b.after(&transient(Some(86_400)), 1, t(0), t(0), 0.0),
            NextStep::RetryAt(t(3600))
        );
    }

    #[test]
    fn gives_up_once_the_next_try_would_pass_the_deadline() {
        let b = Backoff::default();
        let late = t(24 * 3600 - 100);
        assert_eq!(
            b.after(&transient(None), 5, t(0), late, 0.0),
            NextStep::Done(ActionStatus::Dead)
        );
        assert_eq!(
            b.after(&transient(None), 1, t(0), late, 0.0),
            NextStep::RetryAt(late + chrono::Duration::seconds(15))
        );
    }
}
