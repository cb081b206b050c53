//! One dunning evaluation: what is past due, which ladder step comes next, and the sentences
//! that explain it.

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::{AccountSnapshot, EpisodeState, ReasonCode, Transition, TransitionKind};
use crate::{
    SubscriptionId,
    collections::{
        aging::days_past_due,
        allocation::OpenInvoice,
        amounts,
        policy::{DunningAction, DunningPolicy, Ladder, Step, SuspendScope, Trigger},
    },
    customers::TrustTier,
};

/// What is past due today.
struct Overdue<'a> {
    total: Decimal,
    /// The oldest past-due invoice and its days past due.
    oldest: Option<(&'a OpenInvoice, i64)>,
    count: usize,
    subscription_ids: Vec<SubscriptionId>,
}

impl<'a> Overdue<'a> {
    fn of(account: &'a AccountSnapshot, today: NaiveDate, tz: Tz) -> Self {
        let mut overdue = Overdue {
            total: Decimal::ZERO,
            oldest: None,
            count: 0,
            subscription_ids: Vec::new(),
        };
        for invoice in &account.open_invoices {
            let days = days_past_due(invoice.due_at, today, tz);
            if days < 1 || invoice.open.amount <= Decimal::ZERO {
                continue;
            }
            overdue.total += invoice.open.amount;
            overdue.count += 1;
            if overdue.oldest.is_none_or(|(_, oldest)| days > oldest) {
                overdue.oldest = Some((invoice, days));
            }
            for id in &invoice.subscription_ids {
                if !overdue.subscription_ids.contains(id) {
                    overdue.subscription_ids.push(*id);
                }
            }
        }
        overdue
    }
}

/// One dunning evaluation: the inputs that do not change between rounds.
pub(super) struct Run<'a> {
    account: &'a AccountSnapshot,
    policy: &'a DunningPolicy,
    tier: TrustTier,
    ladder: Ladder<'a>,
    today: NaiveDate,
    overdue: Overdue<'a>,
    grace: Decimal,
}

impl<'a> Run<'a> {
    pub(super) fn new(
        account: &'a AccountSnapshot,
        policy: &'a DunningPolicy,
        tier: TrustTier,
        today: NaiveDate,
        tz: Tz,
    ) -> Self {
        Run {
            account,
            policy,
            tier,
            ladder: policy.ladder(tier),
            today,
            overdue: Overdue::of(account, today, tz),
            grace: policy.grace_for(account.currency),
        }
    }

    /// Each round takes at least one step or closes the episode, so a valid ladder never needs
    /// more rounds than this; the bound only guards against looping on a malformed one.
    pub(super) fn max_rounds(&self) -> usize {
        self.ladder.steps.len() + 2
    }

    /// The transitions due next from `state`; empty when nothing more is due today.
    pub(super) fn round(&self, state: &EpisodeState) -> Vec<Transition> {
        if self.overdue.total <= self.grace {
            return if state.is_open() {
                self.settle(state)
            } else {
                Vec::new()
            };
        }
        if state.pause.is_some_and(|p| self.today < p.until) {
            return Vec::new();
        }
        let Some((_, days)) = self.overdue.oldest else {
            return Vec::new();
        };
        let failed = self.account.failed_attempts;
        let mut due_notices = Vec::new();
        let mut enforcement = None;
        for (index, step) in self.ladder.steps.iter().enumerate() {
            if state.steps.contains_key(&index) || !self.ladder.is_due(step, days, failed) {
                continue;
            }
            if step.action.is_notice() {
                due_notices.push(index);
            } else {
                enforcement = Some(index);
                break;
            }
        }
        if let Some((&sent, earlier)) = due_notices.split_last() {
            let mut out: Vec<Transition> =
                earlier.iter().map(|&i| self.superseded(i, sent)).collect();
            out.push(self.step(sent, vec![self.trigger_reason(sent)], self.situation(sent)));
            return out;
        }
        let Some(index) = enforcement else {
            return Vec::new();
        };
        let Some(notice_on) = state.last_notice_on else {
            return self.notice_first(state, index).into_iter().collect();
        };
        let lead = Days::new(u64::from(self.policy.notice_lead_days));
        let waited = |since: NaiveDate| {
            since
                .checked_add_days(lead)
                .is_some_and(|ready| ready <= self.today)
        };
        if !waited(notice_on) || !state.last_enforcement_on.is_none_or(waited) {
            return Vec::new();
        }
        vec![self.step(
            index,
            vec![self.trigger_reason(index)],
            self.situation(index),
        )]
    }

    /// Sends the nearest notice before enforcement step `index` ahead of its own trigger.
    fn notice_first(&self, state: &EpisodeState, index: usize) -> Option<Transition> {
        let notice = (0..index)
            .rev()
            .find(|&i| !state.steps.contains_key(&i) && self.ladder.steps[i].action.is_notice())?;
        let message = format!(
            "{}, so step {} {} first: no notice has been sent yet",
            self.situation(index),
            notice + 1,
            verb(&self.ladder.steps[notice])
        );
        Some(self.step(
            notice,
            vec![
                ReasonCode::NoticeBeforeEnforcement,
                self.trigger_reason(index),
            ],
            message,
        ))
    }

    fn settle(&self, state: &EpisodeState) -> Vec<Transition> {
        let currency = self.account.currency;
        let (reason, situation) = if self.overdue.total.is_zero() {
            (
                ReasonCode::PaidInFull,
                "Nothing is past due any more".to_owned(),
            )
        } else {
            (
                ReasonCode::WithinGrace,
                format!(
                    "{} past due is within the {} grace amount",
                    amounts::display(self.overdue.total, currency),
                    amounts::display(self.grace, currency)
                ),
            )
        };
        let mut out = Vec::new();
        let mut close_reasons = vec![reason];
        let mut close_message = format!("{situation}; the dunning episode closes");
        match (&state.suspension, state.terminated) {
            (Some(suspension), false) => {
                let mut reactivate = self.transition(
                    TransitionKind::Reactivate,
                    vec![reason],
                    format!("{situation}; reactivating the subscriptions dunning suspended"),
                );
                reactivate.scope = Some(suspension.scope);
                reactivate.subscription_ids = suspension.subscription_ids.clone();
                out.push(reactivate);
            }
            (_, true) => {
                close_reasons.push(ReasonCode::TerminatedNotReactivated);
                close_message.push_str("; terminated subscriptions stay terminated");
            }
            (None, false) => {}
        }
        if state.handed_off {
            close_reasons.push(ReasonCode::RecallFromCollector);
            close_message.push_str("; tell the collector the debt is settled");
        }
        out.push(self.transition(TransitionKind::Close, close_reasons, close_message));
        out
    }

    fn superseded(&self, index: usize, by: usize) -> Transition {
        let step = &self.ladder.steps[index];
        let message = format!(
            "{} step {} ({}) is skipped: step {} {} today instead",
            self.policy_label(),
            index + 1,
            step.action,
            by + 1,
            verb(&self.ladder.steps[by])
        );
        let mut t = self.transition(
            TransitionKind::Superseded,
            vec![ReasonCode::SupersededByLaterNotice],
            message,
        );
        t.step = Some(index);
        t
    }

    fn step(&self, index: usize, mut reasons: Vec<ReasonCode>, message: String) -> Transition {
        let step = &self.ladder.steps[index];
        let kind = match step.action {
            DunningAction::Remind => TransitionKind::Remind,
            DunningAction::FinalNotice => TransitionKind::FinalNotice,
            DunningAction::Suspend => TransitionKind::Suspend,
            DunningAction::Terminate => TransitionKind::Terminate,
            DunningAction::HandOff => TransitionKind::HandOff,
        };
        if self.ladder.overridden {
            reasons.push(ReasonCode::TierOverride);
        }
        let mut t = self.transition(kind, reasons, message);
        t.step = Some(index);
        t.template = step.template.clone();
        if let Some(scope) = step.scope {
            t.scope = Some(scope);
            if scope == SuspendScope::OverdueOnly {
                t.subscription_ids = self.overdue.subscription_ids.clone();
            }
        }
        t
    }

    fn transition(
        &self,
        kind: TransitionKind,
        reasons: Vec<ReasonCode>,
        message: String,
    ) -> Transition {
        Transition {
            kind,
            on: self.today,
            policy_version: self.policy.version,
            tier: self.tier,
            step: None,
            scope: None,
            subscription_ids: Vec::new(),
            template: None,
            reasons,
            message,
        }
    }

    fn trigger_reason(&self, index: usize) -> ReasonCode {
        match self.ladder.steps[index].after {
            Trigger::DaysPastDue(_) => ReasonCode::DaysPastDue,
            Trigger::FailedAttempts(_) => ReasonCode::FailedAttempts,
        }
    }

    /// "Invoice INV-1001 is 22 days past due (EUR 120.00 open); policy v3 step 4 suspends
    /// overdue subscriptions".
    fn situation(&self, index: usize) -> String {
        let step = &self.ladder.steps[index];
        let currency = self.account.currency;
        let facts = match (step.after, self.overdue.oldest) {
            (Trigger::DaysPastDue(_), Some((invoice, days))) => {
                let mut text = format!(
                    "Invoice {} is {} past due ({} open",
                    invoice.number,
                    plural(days, "day"),
                    amounts::display(invoice.open.amount, currency)
                );
                if self.overdue.count > 1 {
                    text.push_str(&format!(
                        ", {} past due in total",
                        amounts::display(self.overdue.total, currency)
                    ));
                }
                text.push(')');
                text
            }
            _ => format!(
                "{} failed since the last successful payment ({} past due)",
                plural(i64::from(self.account.failed_attempts), "payment attempt"),
                amounts::display(self.overdue.total, currency)
            ),
        };
        format!(
            "{facts}; {} step {} {}",
            self.policy_label(),
            index + 1,
            verb(step)
        )
    }

    fn policy_label(&self) -> String {
        if self.ladder.overridden {
            format!("policy v{} ({} tier)", self.policy.version, self.tier)
        } else {
            format!("policy v{}", self.policy.version)
        }
    }
}

fn verb(step: &Step) -> &'static str {
    match (step.action, step.scope) {
        (DunningAction::Remind, _) => "sends a payment reminder",
        (DunningAction::FinalNotice, _) => "sends a final notice",
        (DunningAction::Suspend, Some(SuspendScope::OverdueOnly)) => {
            "suspends overdue subscriptions"
        }
        (DunningAction::Suspend, _) => "suspends all subscriptions",
        (DunningAction::Terminate, _) => "terminates all subscriptions",
        (DunningAction::HandOff, _) => "hands the debt to the external collector",
    }
}

fn plural(count: i64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
