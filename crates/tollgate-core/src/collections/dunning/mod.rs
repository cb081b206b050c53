//! The dunning state machine: given where a customer's dunning episode stands, what the customer
//! owes and the policy, what happens today.
//!
//! An *episode* is one stretch of dunning for one customer in one currency: it opens with the
//! first step taken and closes when the overdue amount is paid down to the grace amount. The
//! rules, in the order they are checked:
//!
//! 1. **Paid down**: when what is past due is at or below the policy's grace amount, nothing
//!    starts; an open episode reactivates what it suspended (unless terminated) and closes. This
//!    holds during a pause too.
//! 2. **Paused** (promise to pay, dispute): nothing happens before `pause.until`; the ladder
//!    resumes on that date where it stood (a pause does not restart it).
//! 3. **Strict order**: steps run in ladder order, each at most once. A step whose trigger is not
//!    met is passed over and may run later; an enforcement step (suspend, terminate, hand off)
//!    that is due blocks every step after it until it has run.
//! 4. **Catching up collapses notices**: when several notices before the next enforcement step
//!    are due at once (the customer jumped straight to day 30), only the last is sent; the
//!    earlier ones are recorded as superseded and never sent later.
//! 5. **A notice always comes first**: an enforcement step runs only when a customer-facing
//!    notice of this episode was sent at least `notice_lead_days` earlier and the previous
//!    enforcement step (if any) at least that long ago. If no notice was sent yet, the nearest
//!    notice before the step in the ladder is sent now, whatever its own trigger, and the
//!    enforcement waits.
//!
//! The function is pure and returns every transition due today; recording them with
//! [`EpisodeState::record`] and asking again the same day returns nothing.

mod walk;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use self::walk::Run;
use super::{
    account::Account,
    allocation::OpenInvoice,
    policy::{DunningPolicy, SuspendScope},
};
use crate::{Currency, CustomerId, SubscriptionId, customers::TrustTier};

str_enum!(
    /// How a ladder step ended.
    StepOutcome {
        Executed = "executed",
        /// Skipped because a later notice was sent in its place.
        Superseded = "superseded",
    }
);

str_enum!(
    /// Why dunning is paused.
    PauseReason {
        PromiseToPay = "promise_to_pay",
        Dispute = "dispute",
    }
);

str_enum!(
    /// What a transition does.
    TransitionKind {
        Remind = "remind",
        FinalNotice = "final_notice",
        Suspend = "suspend",
        Terminate = "terminate",
        HandOff = "hand_off",
        /// A notice step recorded as done without being sent.
        Superseded = "superseded",
        /// Undoes the suspensions this episode made.
        Reactivate = "reactivate",
        /// Ends the episode.
        Close = "close",
    }
);

str_enum!(
    /// Machine-readable reasons attached to transitions.
    ReasonCode {
        /// The oldest past-due invoice reached the step's days past due.
        DaysPastDue = "days_past_due",
        /// Failed payment attempts reached the step's count.
        FailedAttempts = "failed_attempts",
        /// The customer's tier has its own ladder or shifted days.
        TierOverride = "tier_override",
        /// Sent ahead of its trigger because an enforcement step is due and no notice went out.
        NoticeBeforeEnforcement = "notice_before_enforcement",
        /// A later notice was due the same day and went out instead.
        SupersededByLaterNotice = "superseded_by_later_notice",
        /// Nothing is past due any more.
        PaidInFull = "paid_in_full",
        /// What is past due is at or below the grace amount.
        WithinGrace = "within_grace",
        /// Terminated subscriptions are not brought back by payment.
        TerminatedNotReactivated = "terminated_not_reactivated",
        /// The debt was with an external collector, who must be told it is settled.
        RecallFromCollector = "recall_from_collector",
    }
);

/// A ladder step taken (or superseded) in this episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub on: NaiveDate,
    pub outcome: StepOutcome,
}

/// What an episode suspended. An empty list with scope `all` means every subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suspension {
    pub scope: SuspendScope,
    pub subscription_ids: Vec<SubscriptionId>,
}

/// A pause: no step runs before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Pause {
    /// The first day dunning resumes.
    pub until: NaiveDate,
    pub reason: PauseReason,
}

/// Where a customer's dunning episode stands; the default is "no episode open". The store
/// keeps one per customer and currency and updates it only through [`EpisodeState::record`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpisodeState {
    pub opened_on: Option<NaiveDate>,
    /// The policy version the episode runs under, pinned when it opens.
    pub policy_version: Option<u32>,
    /// The tier whose ladder the episode follows, pinned when it opens.
    pub tier: Option<TrustTier>,
    /// By ladder index.
    pub steps: BTreeMap<usize, StepRecord>,
    pub last_notice_on: Option<NaiveDate>,
    pub last_enforcement_on: Option<NaiveDate>,
    pub suspension: Option<Suspension>,
    pub terminated: bool,
    pub handed_off: bool,
    /// Set by a promise to pay or a dispute.
    pub pause: Option<Pause>,
}

/// One thing dunning does, with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Transition {
    pub kind: TransitionKind,
    pub on: NaiveDate,
    pub policy_version: u32,
    pub tier: TrustTier,
    /// The ladder index (from 0) for step and superseded transitions.
    pub step: Option<usize>,
    /// For suspend and reactivate.
    pub scope: Option<SuspendScope>,
    /// For suspend and reactivate: the subscriptions concerned; empty with scope `all` means all.
    pub subscription_ids: Vec<SubscriptionId>,
    /// The e-mail template of the step, if the customer is to be written to.
    pub template: Option<String>,
    pub reasons: Vec<ReasonCode>,
    /// The same reasons as a sentence for people.
    pub message: String,
}

/// What dunning needs to know about an account. Built with [`Account::snapshot`] or directly by
/// the store.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSnapshot {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub open_invoices: Vec<OpenInvoice>,
    /// Failed payment attempts since the last successful payment.
    pub failed_attempts: u32,
}

impl Account {
    pub fn snapshot(&self) -> AccountSnapshot {
        AccountSnapshot {
            customer_id: self.customer_id(),
            currency: self.currency(),
            open_invoices: self.open_invoices(),
            failed_attempts: self.failed_attempts(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DunningError {
    #[error("the episode runs under policy version {pinned}, but version {given} was given")]
    PolicyVersionMismatch { pinned: u32, given: u32 },
}

/// Every transition due `today` (a date in the tenant's time zone `tz`) for one episode.
pub fn next_transitions(
    state: &EpisodeState,
    account: &AccountSnapshot,
    policy: &DunningPolicy,
    tier: TrustTier,
    today: NaiveDate,
    tz: Tz,
) -> Result<Vec<Transition>, DunningError> {
    if let Some(pinned) = state.policy_version.filter(|&v| v != policy.version) {
        return Err(DunningError::PolicyVersionMismatch {
            pinned,
            given: policy.version,
        });
    }
    let run = Run::new(account, policy, state.tier.unwrap_or(tier), today, tz);
    let mut scratch = state.clone();
    let mut transitions = Vec::new();
    for _ in 0..run.max_rounds() {
        let round = run.round(&scratch);
        if round.is_empty() {
            break;
        }
        for transition in &round {
            scratch.record(transition);
        }
        transitions.extend(round);
    }
    Ok(transitions)
}

impl EpisodeState {
    /// The state after `transition`. A close resets the state: the next overdue starts afresh.
    pub fn record(&mut self, transition: &Transition) {
        match transition.kind {
            TransitionKind::Close => {
                *self = EpisodeState::default();
                return;
            }
            TransitionKind::Reactivate => {
                self.suspension = None;
                return;
            }
            _ => {}
        }
        if self.opened_on.is_none() {
            self.opened_on = Some(transition.on);
            self.policy_version = Some(transition.policy_version);
            self.tier = Some(transition.tier);
        }
        if let Some(index) = transition.step {
            let outcome = match transition.kind {
                TransitionKind::Superseded => StepOutcome::Superseded,
                _ => StepOutcome::Executed,
            };
            self.steps.insert(
                index,
                StepRecord {
                    on: transition.on,
                    outcome,
                },
            );
        }
        match transition.kind {
            TransitionKind::Remind | TransitionKind::FinalNotice => {
                self.last_notice_on = Some(transition.on)
            }
            TransitionKind::Suspend => {
                self.last_enforcement_on = Some(transition.on);
                let scope = transition.scope.unwrap_or(SuspendScope::All);
                self.suspension = Some(match (self.suspension.take(), scope) {
                    (Some(mut held), SuspendScope::OverdueOnly)
                        if held.scope == SuspendScope::OverdueOnly =>
                    {
                        for id in &transition.subscription_ids {
                            if !held.subscription_ids.contains(id) {
                                held.subscription_ids.push(*id);
                            }
                        }
                        held
                    }
                    (None, _) => Suspension {
                        scope,
                        subscription_ids: transition.subscription_ids.clone(),
                    },
                    // Anything involving `all` suspends everything.
                    _ => Suspension {
                        scope: SuspendScope::All,
                        subscription_ids: Vec::new(),
                    },
                });
            }
            TransitionKind::Terminate => {
                self.last_enforcement_on = Some(transition.on);
                self.terminated = true;
            }
            TransitionKind::HandOff => {
                self.last_enforcement_on = Some(transition.on);
                self.handed_off = true;
            }
            TransitionKind::Superseded | TransitionKind::Reactivate | TransitionKind::Close => {}
        }
    }

    fn is_open(&self) -> bool {
        self.opened_on.is_some()
    }
}

#[cfg(test)]
mod tests;
