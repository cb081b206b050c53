use chrono::{Days, NaiveTime, TimeZone};
use serde_json::json;

use super::*;
use crate::{InvoiceId, Money};

fn berlin() -> Tz {
    "Europe/Berlin".parse().unwrap()
}

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(n)
}

/// An invoice due at noon Berlin time on `due_day`.
fn invoice(number: &str, due_day: u64, cents: i64) -> OpenInvoice {
    let due_at = berlin()
        .from_local_datetime(&day(due_day).and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap()))
        .unwrap()
        .to_utc();
    OpenInvoice {
        invoice_id: InvoiceId::generate(),
        number: number.to_owned(),
        customer_id: CustomerId::from_uuid(uuid::Uuid::from_u128(7)),
        issued_at: due_at,
        due_at,
        open: Money::from_minor(cents, "EUR".parse().unwrap()),
        subscription_ids: vec![SubscriptionId::from_uuid(uuid::Uuid::from_u128(70))],
    }
}

fn snapshot(invoices: Vec<OpenInvoice>, failed_attempts: u32) -> AccountSnapshot {
    AccountSnapshot {
        customer_id: CustomerId::from_uuid(uuid::Uuid::from_u128(7)),
        currency: "EUR".parse().unwrap(),
        open_invoices: invoices,
        failed_attempts,
    }
}

/// One customer's episode, run day by day.
struct Episode {
    state: EpisodeState,
    policy: DunningPolicy,
    tier: TrustTier,
}

impl Episode {
    fn new(policy: DunningPolicy, tier: TrustTier) -> Self {
        Self {
            state: EpisodeState::default(),
            policy,
            tier,
        }
    }

    /// Runs dunning for `today`, records what it did, and checks a second run does nothing.
    fn run(&mut self, account: &AccountSnapshot, today: u64) -> Vec<Transition> {
        let transitions = next_transitions(
            &self.state,
            account,
            &self.policy,
            self.tier,
            day(today),
            berlin(),
        )
        .unwrap();
        for t in &transitions {
            self.state.record(t);
        }
        let again = next_transitions(
            &self.state,
            account,
            &self.policy,
            self.tier,
            day(today),
            berlin(),
        )
        .unwrap();
        assert!(again.is_empty(), "day {today} ran twice: {again:?}");
        transitions
    }

    /// Runs every day in `days` and lists what happened as `day kind#step`.
    fn log(
        &mut self,
        account: &AccountSnapshot,
        days: std::ops::RangeInclusive<u64>,
    ) -> Vec<String> {
        days.flat_map(|d| {
            self.run(account, d)
                .iter()
                .map(|t| label(d, t))
                .collect::<Vec<_>>()
        })
        .collect()
    }
}

fn label(d: u64, t: &Transition) -> String {
    match t.step {
        Some(step) => format!("{d} {}#{step}", t.kind),
        None => format!("{d} {}", t.kind),
    }
}

fn policy(value: serde_json::Value) -> DunningPolicy {
    DunningPolicy::from_json(&value.to_string()).unwrap()
}

#[test]
fn walks_the_default_ladder_one_step_at_a_time() {
    let account = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    assert_eq!(
        episode.log(&account, 0..=90),
        [
            "1 remind#0",
            "7 remind#1",
            "14 final_notice#2",
            "21 suspend#3",
            "45 suspend#4",
            "60 terminate#5",
            "75 hand_off#6"
        ]
    );
    let suspension = Suspension {
        scope: SuspendScope::All,
        subscription_ids: Vec::new(),
    };
    assert_eq!(episode.state.suspension, Some(suspension));
    assert!(episode.state.terminated && episode.state.handed_off);
    assert_eq!(episode.state.steps.len(), 7);
}

#[test]
fn catching_up_sends_the_latest_notice_then_waits_before_suspending() {
    let account = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    let first = episode.run(&account, 30);
    let labels: Vec<_> = first.iter().map(|t| label(30, t)).collect();
    assert_eq!(
        labels,
        ["30 superseded#0", "30 superseded#1", "30 final_notice#2"]
    );
    assert_eq!(first[0].reasons, [ReasonCode::SupersededByLaterNotice]);
    assert_eq!(
        first[0].message,
        "policy v1 step 1 (remind) is skipped: step 3 sends a final notice today instead"
    );
    assert_eq!(first[2].template.as_deref(), Some("final-notice"));
    assert_eq!(episode.log(&account, 31..=33), ["33 suspend#3"]);
    assert_eq!(episode.state.steps[&0].outcome, StepOutcome::Superseded);
}

#[test]
fn message_names_the_invoice_days_amount_policy_and_step() {
    let mut v3 = DunningPolicy::default_policy();
    v3.version = 3;
    let account = snapshot(vec![invoice("INV-1001", 0, 12000)], 0);
    let mut episode = Episode::new(v3, TrustTier::New);
    for d in [1, 7, 14] {
        episode.run(&account, d);
    }
    let suspend = episode.run(&account, 22);
    assert_eq!(suspend.len(), 1);
    assert_eq!(
        suspend[0].message,
        "Invoice INV-1001 is 22 days past due (EUR 120.00 open); policy v3 step 4 suspends overdue subscriptions"
    );
    assert_eq!(suspend[0].reasons, [ReasonCode::DaysPastDue]);
    assert_eq!(suspend[0].scope, Some(SuspendScope::OverdueOnly));
    assert_eq!(
        suspend[0].subscription_ids,
        account.open_invoices[0].subscription_ids
    );

    let two = snapshot(
        vec![invoice("INV-1", 0, 12000), invoice("INV-2", 20, 3000)],
        0,
    );
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    let remind = episode.run(&two, 1);
    assert_eq!(
        remind[0].message,
        "Invoice INV-1 is 1 day past due (EUR 120.00 open); policy v1 step 1 sends a payment reminder"
    );
    episode.run(&two, 7);
    let final_notice = episode.run(&two, 21);
    assert!(
        final_notice[0]
            .message
            .contains("(EUR 120.00 open, EUR 150.00 past due in total)")
    );
}

#[test]
fn nothing_happens_at_or_below_the_grace_amount() {
    let at_grace = snapshot(vec![invoice("INV-1", 0, 300), invoice("INV-2", 5, 200)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    assert!(episode.log(&at_grace, 0..=120).is_empty());
    let above = snapshot(vec![invoice("INV-1", 0, 501)], 0);
    assert_eq!(episode.log(&above, 0..=1), ["1 remind#0"]);
}

#[test]
fn paying_down_to_grace_reactivates_what_dunning_suspended_and_closes() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    episode.log(&unpaid, 0..=21);
    let suspended = episode.state.suspension.clone().unwrap();
    assert_eq!(suspended.scope, SuspendScope::OverdueOnly);

    let mostly_paid = snapshot(vec![invoice("INV-1", 0, 450)], 0);
    let settled = episode.run(&mostly_paid, 22);
    assert_eq!(
        settled.iter().map(|t| t.kind).collect::<Vec<_>>(),
        [TransitionKind::Reactivate, TransitionKind::Close]
    );
    assert_eq!(settled[0].subscription_ids, suspended.subscription_ids);
    assert_eq!(settled[0].scope, Some(SuspendScope::OverdueOnly));
    assert_eq!(settled[0].reasons, [ReasonCode::WithinGrace]);
    assert_eq!(
        settled[0].message,
        "EUR 4.50 past due is within the EUR 5.00 grace amount; reactivating the subscriptions dunning suspended"
    );
    assert_eq!(episode.state, EpisodeState::default());

    // A later overdue starts a new episode from the first step.
    let again = snapshot(vec![invoice("INV-2", 30, 12000)], 0);
    assert_eq!(episode.log(&again, 23..=31), ["31 remind#0"]);
}

#[test]
fn an_episode_without_suspension_just_closes_when_paid() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    episode.log(&unpaid, 0..=8);
    let paid = snapshot(Vec::new(), 0);
    let closed = episode.run(&paid, 9);
    assert_eq!(closed.len(), 1);
    assert_eq!(
        (closed[0].kind, closed[0].reasons.as_slice()),
        (TransitionKind::Close, [ReasonCode::PaidInFull].as_slice())
    );
    assert_eq!(
        closed[0].message,
        "Nothing is past due any more; the dunning episode closes"
    );
    assert!(episode.log(&paid, 10..=40).is_empty());
}

#[test]
fn termination_is_not_undone_by_payment() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    episode.log(&unpaid, 0..=80);
    let closed = episode.run(&snapshot(Vec::new(), 0), 81);
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(
        closed[0].reasons,
        [
            ReasonCode::PaidInFull,
            ReasonCode::TerminatedNotReactivated,
            ReasonCode::RecallFromCollector
        ]
    );
}

#[test]
fn a_pause_holds_the_ladder_until_its_date_but_not_reactivation() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    episode.state.pause = Some(Pause {
        until: day(20),
        reason: PauseReason::Dispute,
    });
    assert!(episode.log(&unpaid, 0..=19).is_empty());
    assert_eq!(
        episode.log(&unpaid, 20..=20),
        ["20 superseded#0", "20 superseded#1", "20 final_notice#2"]
    );
    assert_eq!(episode.log(&unpaid, 21..=23), ["23 suspend#3"]);

    episode.state.pause = Some(Pause {
        until: day(60),
        reason: PauseReason::PromiseToPay,
    });
    assert!(episode.log(&unpaid, 24..=50).is_empty());
    let settled = episode.run(&snapshot(Vec::new(), 0), 51);
    assert_eq!(
        settled.iter().map(|t| t.kind).collect::<Vec<_>>(),
        [TransitionKind::Reactivate, TransitionKind::Close]
    );
}

#[test]
fn established_customers_follow_the_shifted_ladder_pinned_at_opening() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::Established);
    assert_eq!(episode.log(&unpaid, 0..=15), ["15 remind#0"]);
    let reminder = &episode.run(&unpaid, 21)[0];
    assert_eq!(
        reminder.reasons,
        [ReasonCode::DaysPastDue, ReasonCode::TierOverride]
    );
    assert!(
        reminder
            .message
            .contains("policy v1 (established tier) step 2"),
        "{}",
        reminder.message
    );
    // Demoted mid-episode: the episode keeps the ladder it opened with.
    episode.tier = TrustTier::New;
    assert!(episode.log(&unpaid, 22..=27).is_empty());
    assert_eq!(episode.log(&unpaid, 28..=28), ["28 final_notice#2"]);
}

#[test]
fn a_tier_can_have_a_ladder_of_its_own() {
    let mut value = serde_json::to_value(DunningPolicy::default_policy()).unwrap();
    value["tier_overrides"] = json!([{"tier": "restricted", "steps": [
        {"after": {"days_past_due": 1}, "action": "final_notice"},
        {"after": {"days_past_due": 5}, "action": "suspend", "scope": "all"}
    ]}]);
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(policy(value), TrustTier::Restricted);
    assert_eq!(
        episode.log(&unpaid, 0..=30),
        ["1 final_notice#0", "5 suspend#1"]
    );
}

fn failed_attempts_policy() -> DunningPolicy {
    policy(json!({
        "version": 2,
        "created_at": "2026-01-01T00:00:00Z",
        "notice_lead_days": 3,
        "steps": [
            {"after": {"failed_attempts": 3}, "action": "final_notice", "template": "card-failed"},
            {"after": {"days_past_due": 5}, "action": "suspend", "scope": "all"},
            {"after": {"days_past_due": 10}, "action": "remind"}
        ]
    }))
}

#[test]
fn failed_attempts_trigger_their_step() {
    let failing = snapshot(vec![invoice("INV-1", 0, 12000)], 3);
    let mut episode = Episode::new(failed_attempts_policy(), TrustTier::New);
    let notice = episode.run(&failing, 2);
    assert_eq!(notice[0].reasons, [ReasonCode::FailedAttempts]);
    assert_eq!(
        notice[0].message,
        "3 payment attempts failed since the last successful payment (EUR 120.00 past due); policy v2 step 1 sends a final notice"
    );
    assert_eq!(
        episode.log(&failing, 3..=12),
        ["5 suspend#1", "10 remind#2"]
    );
}

#[test]
fn a_due_suspension_pulls_its_notice_forward_and_waits() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(failed_attempts_policy(), TrustTier::New);
    let pulled = episode.run(&unpaid, 5);
    assert_eq!(pulled.len(), 1);
    assert_eq!(label(5, &pulled[0]), "5 final_notice#0");
    assert_eq!(
        pulled[0].reasons,
        [ReasonCode::NoticeBeforeEnforcement, ReasonCode::DaysPastDue]
    );
    assert_eq!(
        pulled[0].message,
        "Invoice INV-1 is 5 days past due (EUR 120.00 open); policy v2 step 2 suspends all subscriptions, so step 1 sends a final notice first: no notice has been sent yet"
    );
    assert_eq!(episode.log(&unpaid, 6..=10), ["8 suspend#1", "10 remind#2"]);
}

#[test]
fn an_episode_refuses_a_different_policy_version() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    episode.run(&unpaid, 1);
    let mut v2 = DunningPolicy::default_policy();
    v2.version = 2;
    let refused = next_transitions(
        &episode.state,
        &unpaid,
        &v2,
        TrustTier::New,
        day(2),
        berlin(),
    );
    assert_eq!(
        refused,
        Err(DunningError::PolicyVersionMismatch {
            pinned: 1,
            given: 2
        })
    );
}

#[test]
fn episode_state_round_trips_through_json() {
    let unpaid = snapshot(vec![invoice("INV-1", 0, 12000)], 0);
    let mut episode = Episode::new(DunningPolicy::default_policy(), TrustTier::New);
    episode.log(&unpaid, 0..=30);
    let text = serde_json::to_string(&episode.state).unwrap();
    assert_eq!(
        serde_json::from_str::<EpisodeState>(&text).unwrap(),
        episode.state
    );
}
