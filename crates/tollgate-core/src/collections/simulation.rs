//! End-to-end core test: 30 customers over 120 days, every fact going through the account fold
//! and dunning run daily, with each customer's transitions asserted day by day. The server's
//! end-to-end test repeats this script through the real API.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::*;
use crate::{
    Currency, CustomerId, DisputeId, InvoiceId, Money, PaymentId, SubscriptionId,
    customers::TrustTier,
};

const DAYS: u64 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Pays every invoice on its due date; some leave 2.00 open on the first (within grace).
    OnTime,
    /// Pays every invoice 10 days late.
    Late,
    Never,
    /// Pays everything on day 52, then on time.
    AfterSuspension,
    /// Disputes on day 20 (paused until day 50), pays everything on day 57, then on time.
    Dispute,
    /// Pays on time; the first payment is charged back on day 20 (re-opening the first invoice,
    /// then 6 days past due) and the chargeback won on day 30.
    Chargeback,
}

fn tz() -> Tz {
    "Europe/Berlin".parse().unwrap()
}

fn date(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Days::new(n)
}

fn noon(n: u64) -> DateTime<Utc> {
    tz().from_local_datetime(&date(n).and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap()))
        .unwrap()
        .to_utc()
}

/// Invoice k is issued on day 30k and due 14 days later.
fn due_day(k: u64) -> u64 {
    30 * k + 14
}

struct Customer {
    behaviour: Behaviour,
    tier: TrustTier,
    short_pays_first: bool,
    subscription: SubscriptionId,
    amount: Money,
    account: Account,
    episode: EpisodeState,
    first_payment: Option<PaymentId>,
    log: Vec<String>,
    transitions: Vec<Transition>,
}

impl Customer {
    fn new(index: usize, behaviour: Behaviour) -> Self {
        let currency: Currency = ["EUR", "USD", "GBP"][index % 3].parse().unwrap();
        let id = CustomerId::from_uuid(uuid::Uuid::from_u128(index as u128 + 1));
        let slot = index % 5;
        Self {
            behaviour,
            tier: if slot < 3 {
                TrustTier::New
            } else {
                TrustTier::Established
            },
            short_pays_first: behaviour == Behaviour::OnTime && slot >= 3,
            subscription: SubscriptionId::from_uuid(uuid::Uuid::from_u128(1000 + index as u128)),
            amount: Money::from_minor(10_000 + 1_000 * index as i64, currency),
            account: Account::new(id, currency),
            episode: EpisodeState::default(),
            first_payment: None,
            log: Vec::new(),
            transitions: Vec::new(),
        }
    }

    fn invoice(&self, k: u64) -> Invoice {
        Invoice {
            id: InvoiceId::from_uuid(uuid::Uuid::now_v7()),
            number: format!("INV-{}-{k}", self.subscription),
            customer_id: self.account.customer_id(),
            issued_at: noon(30 * k),
            due_at: noon(due_day(k)),
            currency: self.amount.currency,
            lines: vec![InvoiceLine {
                description: "Microsoft 365 Business Premium".into(),
                subscription_id: Some(self.subscription),
                quantity: Decimal::from(10),
                amount: self.amount,
            }],
            total: self.amount,
        }
    }

    fn payment(&mut self, day: u64, amount: Money) -> AccountFact {
        let id = PaymentId::from_uuid(uuid::Uuid::now_v7());
        self.first_payment.get_or_insert(id);
        AccountFact::PaymentReceived(Payment {
            id,
            customer_id: self.account.customer_id(),
            amount,
            method: PaymentMethod::BankTransfer,
            status: PaymentStatus::Succeeded,
            failure_code: None,
            external_ref: None,
            received_at: noon(day),
            allocations: Vec::new(),
        })
    }

    fn chargeback(&self, day: u64, status: ChargebackStatus) -> AccountFact {
        AccountFact::Chargeback(Chargeback {
            id: DisputeId::from_uuid(uuid::Uuid::from_u128(5000)),
            payment_id: self
                .first_payment
                .expect("the first invoice was paid on time"),
            amount: self.amount,
            reason: "fraudulent".into(),
            status,
            updated_at: noon(day),
        })
    }

    /// The facts the script produces for this customer on `day`.
    fn facts(&mut self, day: u64) -> Vec<AccountFact> {
        let mut facts = Vec::new();
        if day.is_multiple_of(30) && day / 30 < 4 {
            facts.push(AccountFact::InvoiceIssued(self.invoice(day / 30)));
        }
        let due_today = (0..4).find(|&k| due_day(k) == day);
        let shortfall = Money::from_minor(200, self.amount.currency);
        let on_time = |after: u64| due_today.filter(|&k| due_day(k) > after);
        let payment = match self.behaviour {
            Behaviour::OnTime if self.short_pays_first && due_today == Some(0) => {
                Some(self.amount.checked_sub(shortfall).unwrap())
            }
            Behaviour::OnTime | Behaviour::Chargeback => due_today.map(|_| self.amount),
            Behaviour::Late => (0..4)
                .find(|&k| due_day(k) + 10 == day)
                .map(|_| self.amount),
            Behaviour::Never => None,
            Behaviour::AfterSuspension if day == 52 => Some(self.account.open_total()),
            Behaviour::Dispute if day == 57 => Some(self.account.open_total()),
            Behaviour::AfterSuspension => on_time(52).map(|_| self.amount),
            Behaviour::Dispute => on_time(57).map(|_| self.amount),
        };
        if let Some(amount) = payment {
            facts.push(self.payment(day, amount));
        }
        if self.behaviour == Behaviour::Chargeback {
            match day {
                20 => facts.push(self.chargeback(day, ChargebackStatus::Opened)),
                30 => facts.push(self.chargeback(day, ChargebackStatus::Won)),
                _ => {}
            }
        }
        if self.behaviour == Behaviour::Dispute && day == 20 {
            self.episode.pause = Some(Pause {
                until: date(50),
                reason: PauseReason::Dispute,
            });
        }
        facts
    }

    fn run_day(&mut self, day: u64, policy: &DunningPolicy) {
        for fact in self.facts(day) {
            self.account.apply(&fact).unwrap();
        }
        let snapshot = self.account.snapshot();
        let transitions =
            next_transitions(&self.episode, &snapshot, policy, self.tier, date(day), tz()).unwrap();
        for t in &transitions {
            self.episode.record(t);
            self.log.push(match t.step {
                Some(step) => format!("{day} {}#{step}", t.kind),
                None => format!("{day} {}", t.kind),
            });
        }
        // A second run the same day (another process, a retry) does nothing.
        let again =
            next_transitions(&self.episode, &snapshot, policy, self.tier, date(day), tz()).unwrap();
        assert!(again.is_empty(), "day {day}: ran twice: {again:?}");
        self.transitions.extend(transitions);
    }
}

fn expected(behaviour: Behaviour, tier: TrustTier) -> &'static [&'static str] {
    use Behaviour::*;
    let established = tier == TrustTier::Established;
    match (behaviour, established) {
        (OnTime, _) | (Late, true) => &[],
        (Late, false) => &[
            "15 remind#0",
            "21 remind#1",
            "24 close",
            "45 remind#0",
            "51 remind#1",
            "54 close",
            "75 remind#0",
            "81 remind#1",
            "84 close",
            "105 remind#0",
            "111 remind#1",
            "114 close",
        ],
        (Never, false) => &[
            "15 remind#0",
            "21 remind#1",
            "28 final_notice#2",
            "35 suspend#3",
            "59 suspend#4",
            "74 terminate#5",
            "89 hand_off#6",
        ],
        (Never, true) => &[
            "29 remind#0",
            "35 remind#1",
            "42 final_notice#2",
            "49 suspend#3",
            "73 suspend#4",
            "88 terminate#5",
            "103 hand_off#6",
        ],
        (AfterSuspension, false) => &[
            "15 remind#0",
            "21 remind#1",
            "28 final_notice#2",
            "35 suspend#3",
            "52 reactivate",
            "52 close",
        ],
        (AfterSuspension, true) => &[
            "29 remind#0",
            "35 remind#1",
            "42 final_notice#2",
            "49 suspend#3",
            "52 reactivate",
            "52 close",
        ],
        (Dispute, false) => &[
            "15 remind#0",
            "50 superseded#1",
            "50 final_notice#2",
            "53 suspend#3",
            "57 reactivate",
            "57 close",
        ],
        (Dispute, true) => &[
            "50 superseded#0",
            "50 superseded#1",
            "50 final_notice#2",
            "53 suspend#3",
            "57 reactivate",
            "57 close",
        ],
        (Chargeback, false) => &[
            "20 remind#0",
            "21 remind#1",
            "28 final_notice#2",
            "30 close",
        ],
        (Chargeback, true) => &["29 remind#0", "30 close"],
    }
}

#[test]
fn thirty_customers_over_120_days() {
    use Behaviour::*;
    let policy = DunningPolicy::default_policy();
    let behaviours = [OnTime, Late, Never, AfterSuspension, Dispute, Chargeback];
    let mut customers: Vec<Customer> = (0..30)
        .map(|i| Customer::new(i, behaviours[i / 5]))
        .collect();
    for day in 0..=DAYS {
        for customer in &mut customers {
            customer.run_day(day, &policy);
        }
    }
    for (i, c) in customers.iter().enumerate() {
        assert_eq!(
            c.log,
            expected(c.behaviour, c.tier),
            "customer {i} ({:?}, {})",
            c.behaviour,
            c.tier
        );
    }

    // Suspensions name the overdue subscription, reactivations undo exactly that.
    for c in customers
        .iter()
        .filter(|c| matches!(c.behaviour, AfterSuspension | Dispute))
    {
        let suspend = c
            .transitions
            .iter()
            .find(|t| t.kind == TransitionKind::Suspend)
            .unwrap();
        let reactivate = c
            .transitions
            .iter()
            .find(|t| t.kind == TransitionKind::Reactivate)
            .unwrap();
        assert_eq!(suspend.subscription_ids, [c.subscription]);
        assert_eq!(
            (reactivate.scope, &reactivate.subscription_ids),
            (suspend.scope, &suspend.subscription_ids)
        );
        assert!(c.account.open_total().amount.is_zero() && c.episode == EpisodeState::default());
    }
    // Never-payers end terminated and handed off, owing all four invoices.
    for c in customers.iter().filter(|c| c.behaviour == Never) {
        assert!(c.episode.terminated && c.episode.handed_off);
        assert_eq!(
            c.account.open_total().amount,
            c.amount.amount * Decimal::from(4)
        );
    }
    // The short payers carry 2.00 open the whole time and are never dunned.
    for c in customers.iter().filter(|c| c.short_pays_first) {
        assert_eq!(c.account.open_total().to_minor().unwrap(), 200);
    }
    // Every sentence names the policy version.
    assert!(
        customers
            .iter()
            .flat_map(|c| &c.transitions)
            .all(|t| t.message.contains("policy v1")
                || matches!(t.kind, TransitionKind::Reactivate | TransitionKind::Close))
    );
}
