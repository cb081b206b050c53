use super::*;
use crate::{
    SubscriptionId,
    collections::{
        invoice::InvoiceLine,
        payment::{AllocationRequest, PaymentMethod},
    },
};

fn eur() -> Currency {
    "EUR".parse().unwrap()
}

fn customer() -> CustomerId {
    CustomerId::from_uuid(uuid::Uuid::from_u128(1))
}

fn money(cents: i64) -> Money {
    Money::from_minor(cents, eur())
}

fn invoice(number: &str, due: &str, cents: i64) -> Invoice {
    Invoice {
        id: InvoiceId::generate(),
        number: number.to_owned(),
        customer_id: customer(),
        issued_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        due_at: format!("{due}T12:00:00Z").parse().unwrap(),
        currency: eur(),
        lines: vec![InvoiceLine {
            description: "Azure plan".into(),
            subscription_id: Some(SubscriptionId::generate()),
            quantity: Decimal::ONE,
            amount: money(cents),
        }],
        total: money(cents),
    }
}

fn payment(cents: i64, status: PaymentStatus, allocations: Vec<AllocationRequest>) -> Payment {
    Payment {
        id: PaymentId::generate(),
        customer_id: customer(),
        amount: money(cents),
        method: PaymentMethod::Card,
        status,
        failure_code: (status == PaymentStatus::Failed).then(|| "do_not_honor".to_owned()),
        external_ref: None,
        received_at: "2026-02-01T00:00:00Z".parse().unwrap(),
        allocations,
    }
}

fn paid(cents: i64) -> Payment {
    payment(cents, PaymentStatus::Succeeded, Vec::new())
}

fn chargeback(id: DisputeId, of: &Payment, cents: i64, status: ChargebackStatus) -> AccountFact {
    AccountFact::Chargeback(Chargeback {
        id,
        payment_id: of.id,
        amount: money(cents),
        reason: "fraudulent".into(),
        status,
        updated_at: "2026-03-01T00:00:00Z".parse().unwrap(),
    })
}

fn cents(money: Money) -> i64 {
    money.to_minor().unwrap()
}

/// (number, open cents) of every open invoice, oldest due first.
fn opens(account: &Account) -> Vec<(String, i64)> {
    account
        .open_invoices()
        .into_iter()
        .map(|i| (i.number, cents(i.open)))
        .collect()
}

fn account(facts: &[AccountFact]) -> Account {
    Account::rebuild(customer(), eur(), facts).unwrap()
}

fn open(number: &str, cents: i64) -> (String, i64) {
    (number.to_owned(), cents)
}

#[test]
fn partial_payment_leaves_the_rest_open_oldest_first() {
    let a = invoice("A", "2026-01-15", 10000);
    let b = invoice("B", "2026-02-15", 5000);
    let acct = account(&[
        AccountFact::InvoiceIssued(b),
        AccountFact::InvoiceIssued(a),
        AccountFact::PaymentReceived(paid(12000)),
    ]);
    assert_eq!(opens(&acct), [open("B", 3000)]);
    assert_eq!(cents(acct.open_total()), 3000);
    assert!(acct.credit().amount.is_zero());
}

#[test]
fn over_payment_becomes_credit_that_pays_the_next_invoice() {
    let mut acct = account(&[
        AccountFact::InvoiceIssued(invoice("A", "2026-01-15", 10000)),
        AccountFact::PaymentReceived(paid(15000)),
    ]);
    assert!(opens(&acct).is_empty());
    assert_eq!(cents(acct.credit()), 5000);
    acct.apply(&AccountFact::InvoiceIssued(invoice(
        "B",
        "2026-02-15",
        8000,
    )))
    .unwrap();
    assert_eq!(opens(&acct), [open("B", 3000)]);
    assert!(acct.credit().amount.is_zero());
}

#[test]
fn explicit_allocations_are_honoured() {
    let a = invoice("A", "2026-01-15", 10000);
    let b = invoice("B", "2026-02-15", 5000);
    let request = AllocationRequest {
        invoice_id: b.id,
        amount: "50".parse().unwrap(),
    };
    let acct = account(&[
        AccountFact::InvoiceIssued(a),
        AccountFact::InvoiceIssued(b),
        AccountFact::PaymentReceived(payment(5000, PaymentStatus::Succeeded, vec![request])),
    ]);
    assert_eq!(opens(&acct), [open("A", 10000)]);
}

#[test]
fn refuses_facts_that_do_not_fit_and_changes_nothing() {
    let a = invoice("A", "2026-01-15", 10000);
    let mut acct = account(&[AccountFact::InvoiceIssued(a.clone())]);
    let mut usd = paid(100);
    usd.amount = Money::from_minor(100, "USD".parse().unwrap());
    let error = acct.apply(&AccountFact::PaymentReceived(usd)).unwrap_err();
    assert_eq!(FieldError::from(error).field, "currency");

    let mut stranger = paid(100);
    stranger.customer_id = CustomerId::generate();
    let error = acct
        .apply(&AccountFact::PaymentReceived(stranger))
        .unwrap_err();
    assert_eq!(error.field(), "customer_id");

    let unknown = AllocationRequest {
        invoice_id: InvoiceId::generate(),
        amount: Decimal::ONE,
    };
    let error = acct
        .apply(&AccountFact::PaymentReceived(payment(
            100,
            PaymentStatus::Succeeded,
            vec![unknown],
        )))
        .unwrap_err();
    assert_eq!(error.field(), "allocations[0].invoice_id");

    let error = acct.apply(&AccountFact::InvoiceIssued(a)).unwrap_err();
    assert_eq!(error.field(), "id");

    let p = paid(2000);
    acct.apply(&AccountFact::PaymentReceived(p.clone()))
        .unwrap();
    let too_big = chargeback(DisputeId::generate(), &p, 2001, ChargebackStatus::Opened);
    assert_eq!(acct.apply(&too_big).unwrap_err().field(), "amount");
    assert_eq!(
        acct.apply(&AccountFact::PaymentReceived(p))
            .unwrap_err()
            .field(),
        "id"
    );
    assert_eq!(opens(&acct), [open("A", 8000)]);
}

#[test]
fn rebuild_reports_the_position_of_the_bad_fact() {
    let facts = [
        AccountFact::InvoiceIssued(invoice("A", "2026-01-15", 10000)),
        AccountFact::PaymentRefunded(Refund {
            payment_id: PaymentId::generate(),
            amount: money(100),
            refunded_at: "2026-03-01T00:00:00Z".parse().unwrap(),
        }),
    ];
    let (index, error) = Account::rebuild(customer(), eur(), &facts).unwrap_err();
    assert_eq!(index, 1);
    assert_eq!(error.field(), "payment_id");
}

#[test]
fn chargeback_reopens_the_most_recent_allocation_first_and_a_win_restores_it() {
    let a = invoice("A", "2026-01-15", 10000);
    let b = invoice("B", "2026-02-15", 5000);
    let p = paid(15000);
    let dispute = DisputeId::generate();
    let mut acct = account(&[
        AccountFact::InvoiceIssued(a),
        AccountFact::InvoiceIssued(b),
        AccountFact::PaymentReceived(p.clone()),
    ]);
    assert!(opens(&acct).is_empty());

    acct.apply(&chargeback(dispute, &p, 7000, ChargebackStatus::Opened))
        .unwrap();
    // B was paid last, so it re-opens in full before A is touched.
    assert_eq!(opens(&acct), [open("A", 2000), open("B", 5000)]);

    // A repeat of the same status changes nothing; losing keeps the money held back.
    acct.apply(&chargeback(dispute, &p, 7000, ChargebackStatus::Opened))
        .unwrap();
    acct.apply(&chargeback(dispute, &p, 7000, ChargebackStatus::Lost))
        .unwrap();
    assert_eq!(cents(acct.open_total()), 7000);

    let changed = chargeback(dispute, &p, 6000, ChargebackStatus::Won);
    assert_eq!(acct.apply(&changed).unwrap_err().field(), "payment_id");
    acct.apply(&chargeback(dispute, &p, 7000, ChargebackStatus::Won))
        .unwrap();
    assert!(opens(&acct).is_empty());
}

#[test]
fn chargeback_takes_unused_credit_before_reopening_invoices() {
    let p = paid(15000);
    let mut acct = account(&[
        AccountFact::InvoiceIssued(invoice("A", "2026-01-15", 10000)),
        AccountFact::PaymentReceived(p.clone()),
    ]);
    acct.apply(&chargeback(
        DisputeId::generate(),
        &p,
        8000,
        ChargebackStatus::Opened,
    ))
    .unwrap();
    assert!(acct.credit().amount.is_zero());
    assert_eq!(opens(&acct), [open("A", 3000)]);
}

#[test]
fn refunding_over_payment_removes_credit_without_reopening() {
    let p = paid(15000);
    let mut acct = account(&[
        AccountFact::InvoiceIssued(invoice("A", "2026-01-15", 10000)),
        AccountFact::PaymentReceived(p.clone()),
    ]);
    let refund = |cents| {
        AccountFact::PaymentRefunded(Refund {
            payment_id: p.id,
            amount: money(cents),
            refunded_at: "2026-03-01T00:00:00Z".parse().unwrap(),
        })
    };
    acct.apply(&refund(5000)).unwrap();
    assert!(opens(&acct).is_empty() && acct.credit().amount.is_zero());
    acct.apply(&refund(1000)).unwrap();
    assert_eq!(opens(&acct), [open("A", 1000)]);
    assert_eq!(acct.apply(&refund(9001)).unwrap_err().field(), "amount");
}

#[test]
fn voiding_returns_payments_to_credit_which_pays_other_invoices() {
    let a = invoice("A", "2026-01-15", 10000);
    let b = invoice("B", "2026-02-15", 5000);
    let mut acct = account(&[
        AccountFact::InvoiceIssued(a.clone()),
        AccountFact::InvoiceIssued(b),
        AccountFact::PaymentReceived(paid(10000)),
    ]);
    assert_eq!(opens(&acct), [open("B", 5000)]);
    let void = AccountFact::InvoiceVoided(InvoiceVoid {
        invoice_id: a.id,
        voided_at: "2026-03-01T00:00:00Z".parse().unwrap(),
        reason: "issued twice".into(),
    });
    acct.apply(&void).unwrap();
    assert!(opens(&acct).is_empty());
    assert_eq!(cents(acct.credit()), 5000);
    assert_eq!(acct.apply(&void).unwrap_err().field(), "invoice_id");
}

#[test]
fn credit_notes_reduce_the_invoice_and_any_excess_is_credit() {
    let a = invoice("A", "2026-01-15", 10000);
    let note = |cents| {
        AccountFact::CreditNoteIssued(CreditNote {
            id: CreditNoteId::generate(),
            invoice_id: a.id,
            amount: money(cents),
            issued_at: "2026-03-01T00:00:00Z".parse().unwrap(),
            reason: "outage".into(),
        })
    };
    let mut acct = account(&[
        AccountFact::InvoiceIssued(a.clone()),
        AccountFact::PaymentReceived(paid(8000)),
    ]);
    acct.apply(&note(3000)).unwrap();
    assert!(opens(&acct).is_empty());
    assert_eq!(cents(acct.credit()), 1000);
    assert_eq!(acct.apply(&note(7001)).unwrap_err().field(), "amount");
}

#[test]
fn failed_attempts_count_until_a_payment_succeeds() {
    let mut acct = account(&[AccountFact::InvoiceIssued(invoice(
        "A",
        "2026-01-15",
        10000,
    ))]);
    for _ in 0..3 {
        acct.apply(&AccountFact::PaymentReceived(payment(
            10000,
            PaymentStatus::Failed,
            Vec::new(),
        )))
        .unwrap();
    }
    assert_eq!(acct.failed_attempts(), 3);
    assert_eq!(cents(acct.open_total()), 10000);
    acct.apply(&AccountFact::PaymentReceived(payment(
        100,
        PaymentStatus::Refunded,
        Vec::new(),
    )))
    .unwrap();
    assert_eq!(acct.failed_attempts(), 3);
    acct.apply(&AccountFact::PaymentReceived(paid(100)))
        .unwrap();
    assert_eq!(acct.failed_attempts(), 0);
}

/// Every ordering of `items`, by Heap's algorithm.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn heap<T: Clone>(k: usize, items: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(items.clone());
            return;
        }
        for i in 0..k {
            heap(k - 1, items, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            items.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    heap(items.len(), &mut items.to_vec(), &mut out);
    out
}

#[test]
fn payments_and_credit_notes_fold_to_the_same_account_in_any_order() {
    let a = invoice("A", "2026-01-15", 10000);
    let b = invoice("B", "2026-02-15", 6000);
    let c = invoice("C", "2026-03-15", 4000);
    let note = AccountFact::CreditNoteIssued(CreditNote {
        id: CreditNoteId::generate(),
        invoice_id: b.id,
        amount: money(2500),
        issued_at: "2026-03-01T00:00:00Z".parse().unwrap(),
        reason: "outage".into(),
    });
    let later = [
        AccountFact::PaymentReceived(paid(7000)),
        AccountFact::PaymentReceived(paid(4000)),
        AccountFact::PaymentReceived(payment(9000, PaymentStatus::Failed, Vec::new())),
        note,
    ];
    let invoices = [a, b, c].map(AccountFact::InvoiceIssued);
    let mut outcomes = HashSet::new();
    for first in permutations(&invoices) {
        for then in permutations(&later) {
            let acct = account(&[first.clone(), then].concat());
            outcomes.insert((opens(&acct), cents(acct.credit())));
        }
    }
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let expected = (vec![open("B", 2500), open("C", 4000)], 0);
    assert!(outcomes.contains(&expected), "{outcomes:?}");
}
