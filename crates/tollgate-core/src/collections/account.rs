//! A customer's receivables in one currency, computed by folding facts in the order they were
//! recorded. The store keeps the facts; replaying them through [`Account::rebuild`] gives the
//! same account every time.
//!
//! Rules the fold follows:
//!
//! - **Allocation**: a succeeded payment is split by [`allocate`]: explicit allocations first,
//!   then oldest due first; anything left is credit.
//! - **Credit is never idle while something is open**: after every fact, credit (from
//!   over-payments, voided invoices or credit notes larger than what was open) pays open
//!   invoices oldest due first, oldest credit first. So credit and open invoices never coexist.
//! - **Taking money back** (a refund, or a chargeback that is opened or lost): the amount comes
//!   first out of that payment's unused credit, then out of the invoices that payment paid,
//!   *most recent allocation first*, which re-opens them. Taking the newest allocation back first
//!   keeps the oldest debt settled when money comes back in a dispute, so the customer's
//!   past-due age does not jump. A chargeback that is later won gives the money back to the
//!   payment, and the credit rule applies it again.
//! - **Voids** cancel what the invoice asks for: payments it had received become credit again;
//!   credit notes on it lapse with it.
//! - **Order**: what is open after a set of invoices, payments and credit notes does not depend
//!   on the order the payments and credit notes arrived in. Credit that exists when an invoice
//!   arrives pays that invoice at once, so the order of invoices relative to payments can matter.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{
    allocation::{AllocationError, OpenInvoice, allocate},
    amounts,
    invoice::{CreditNote, Invoice, InvoiceVoid},
    payment::{Chargeback, ChargebackStatus, Payment, PaymentStatus, Refund},
};
use crate::{
    CreditNoteId, Currency, CustomerId, DisputeId, InvoiceId, Money, PaymentId, SubscriptionId,
    validate::FieldError,
};

/// A fact that changes what a customer owes.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountFact {
    InvoiceIssued(Invoice),
    InvoiceVoided(InvoiceVoid),
    CreditNoteIssued(CreditNote),
    /// A payment of any status: failed attempts are counted, refunded ones change nothing.
    PaymentReceived(Payment),
    PaymentRefunded(Refund),
    /// A chargeback's current status; the same id again means a status change.
    Chargeback(Chargeback),
}

/// Where money applied to an invoice or held as credit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum FundsSource {
    Payment(PaymentId),
    CreditNote(CreditNoteId),
}

/// One change a fact made: money from `source` applied to an invoice (`invoice_id` set) or held
/// as credit (`invoice_id` empty); negative amounts take money back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Movement {
    pub source: FundsSource,
    pub invoice_id: Option<InvoiceId>,
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// Why a fact does not fit the account; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("belongs to customer {found}, not {expected}")]
    WrongCustomer {
        expected: CustomerId,
        found: CustomerId,
    },
    #[error("is in {found}, but this account is kept in {expected}")]
    CurrencyMismatch { expected: Currency, found: Currency },
    #[error("invoice {0} was already recorded")]
    DuplicateInvoice(InvoiceId),
    #[error("payment {0} was already recorded")]
    DuplicatePayment(PaymentId),
    #[error("credit note {0} was already recorded")]
    DuplicateCreditNote(CreditNoteId),
    #[error("no invoice {0} for this customer")]
    UnknownInvoice(InvoiceId),
    #[error("invoice {0} is void")]
    InvoiceVoid(InvoiceId),
    #[error("only {creditable} of the invoice is left to credit")]
    CreditExceedsInvoice { creditable: String },
    #[error("no succeeded payment {0} for this customer")]
    UnknownPayment(PaymentId),
    #[error("only {available} of the payment is left to take back")]
    ExceedsPayment { available: String },
    #[error("chargeback {0} was first reported against another payment or amount")]
    ChargebackChanged(DisputeId),
    #[error(transparent)]
    Allocation(#[from] AllocationError),
}

impl AccountError {
    /// The input field at fault, in the form the API reports.
    pub fn field(&self) -> String {
        use AccountError::*;
        match self {
            WrongCustomer { .. } => "customer_id".to_owned(),
            CurrencyMismatch { .. } => "currency".to_owned(),
            DuplicateInvoice(_) | DuplicatePayment(_) | DuplicateCreditNote(_) => "id".to_owned(),
            UnknownInvoice(_) | InvoiceVoid(_) => "invoice_id".to_owned(),
            UnknownPayment(_) | ChargebackChanged(_) => "payment_id".to_owned(),
            CreditExceedsInvoice { .. } | ExceedsPayment { .. } => "amount".to_owned(),
            Allocation(inner) => inner.field(),
        }
    }
}

impl From<AccountError> for FieldError {
    fn from(error: AccountError) -> Self {
        FieldError::new(error.field(), &error)
    }
}

#[derive(Debug, Clone)]
struct InvoiceState {
    number: String,
    issued_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    total: Decimal,
    /// Applied from payments and credit notes.
    applied: Decimal,
    /// Credit notes issued against it, whether applied or turned into credit.
    credited: Decimal,
    voided: bool,
    subscription_ids: Vec<SubscriptionId>,
}

#[derive(Debug, Clone)]
struct Application {
    invoice_id: InvoiceId,
    source: FundsSource,
    amount: Decimal,
}

#[derive(Debug, Clone)]
struct PaymentState {
    amount: Decimal,
    /// Refunded or held back by chargebacks.
    taken_back: Decimal,
}

#[derive(Debug, Clone)]
struct ChargebackState {
    payment_id: PaymentId,
    amount: Decimal,
    reversed: bool,
}

/// One customer's receivables in one currency.
#[derive(Debug, Clone)]
pub struct Account {
    customer_id: CustomerId,
    currency: Currency,
    invoices: BTreeMap<InvoiceId, InvoiceState>,
    /// In the order made, so "most recent allocation first" is a reverse walk.
    applications: Vec<Application>,
    /// Credit lots, oldest first.
    credit: Vec<(FundsSource, Decimal)>,
    payments: HashMap<PaymentId, PaymentState>,
    seen_payments: HashSet<PaymentId>,
    credit_notes: HashSet<CreditNoteId>,
    chargebacks: HashMap<DisputeId, ChargebackState>,
    failed_attempts: u32,
}

impl Account {
    pub fn new(customer_id: CustomerId, currency: Currency) -> Self {
        Self {
            customer_id,
            currency,
            invoices: BTreeMap::new(),
            applications: Vec::new(),
            credit: Vec::new(),
            payments: HashMap::new(),
            seen_payments: HashSet::new(),
            credit_notes: HashSet::new(),
            chargebacks: HashMap::new(),
            failed_attempts: 0,
        }
    }

    /// Folds `facts` in order; on a fact that does not fit, returns its position and why.
    pub fn rebuild<'a>(
        customer_id: CustomerId,
        currency: Currency,
        facts: impl IntoIterator<Item = &'a AccountFact>,
    ) -> Result<Self, (usize, AccountError)> {
        let mut account = Self::new(customer_id, currency);
        for (index, fact) in facts.into_iter().enumerate() {
            account.apply(fact).map_err(|e| (index, e))?;
        }
        Ok(account)
    }

    pub fn customer_id(&self) -> CustomerId {
        self.customer_id
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Failed payment attempts since the last succeeded payment.
    pub fn failed_attempts(&self) -> u32 {
        self.failed_attempts
    }

    /// Money the customer has paid beyond what is open.
    pub fn credit(&self) -> Money {
        self.money(self.credit.iter().map(|(_, amount)| *amount).sum())
    }

    /// What is open in total.
    pub fn open_total(&self) -> Money {
        self.money(self.open_amounts().map(|(_, _, open)| open).sum())
    }

    /// Invoices with something left to pay, oldest due first.
    pub fn open_invoices(&self) -> Vec<OpenInvoice> {
        let mut open: Vec<OpenInvoice> = self
            .open_amounts()
            .map(|(invoice_id, state, open)| OpenInvoice {
                invoice_id,
                number: state.number.clone(),
                customer_id: self.customer_id,
                issued_at: state.issued_at,
                due_at: state.due_at,
                open: self.money(open),
                subscription_ids: state.subscription_ids.clone(),
            })
            .collect();
        open.sort_by_key(|i| (i.due_at, i.issued_at, i.invoice_id));
        open
    }

    /// Applies one fact and returns the money it moved. On error the account is unchanged.
    pub fn apply(&mut self, fact: &AccountFact) -> Result<Vec<Movement>, AccountError> {
        let mut moved = match fact {
            AccountFact::InvoiceIssued(invoice) => self.issue(invoice)?,
            AccountFact::InvoiceVoided(void) => self.void(void)?,
            AccountFact::CreditNoteIssued(note) => self.credit_note(note)?,
            AccountFact::PaymentReceived(payment) => self.payment(payment)?,
            AccountFact::PaymentRefunded(refund) => {
                self.check_currency(refund.amount)?;
                self.check_available(refund.payment_id, refund.amount.amount)?;
                self.take_back(refund.payment_id, refund.amount.amount)
            }
            AccountFact::Chargeback(chargeback) => self.chargeback(chargeback)?,
        };
        moved.extend(self.settle());
        Ok(moved)
    }

    fn issue(&mut self, invoice: &Invoice) -> Result<Vec<Movement>, AccountError> {
        self.check_customer(invoice.customer_id)?;
        self.check_currency(invoice.total)?;
        if self.invoices.contains_key(&invoice.id) {
            return Err(AccountError::DuplicateInvoice(invoice.id));
        }
        self.invoices.insert(
            invoice.id,
            InvoiceState {
                number: invoice.number.clone(),
                issued_at: invoice.issued_at,
                due_at: invoice.due_at,
                total: invoice.total.amount,
                applied: Decimal::ZERO,
                credited: Decimal::ZERO,
                voided: false,
                subscription_ids: invoice.subscription_ids(),
            },
        );
        Ok(Vec::new())
    }

    fn void(&mut self, void: &InvoiceVoid) -> Result<Vec<Movement>, AccountError> {
        let state = self.live_invoice(void.invoice_id)?;
        state.voided = true;
        state.applied = Decimal::ZERO;
        let (undone, kept) = std::mem::take(&mut self.applications)
            .into_iter()
            .partition(|a| a.invoice_id == void.invoice_id);
        self.applications = kept;
        let mut moved = Vec::new();
        for application in undone {
            moved.push(application.movement(-application.amount));
            if let FundsSource::Payment(_) = application.source {
                moved.push(self.add_credit(application.source, application.amount));
            }
        }
        Ok(moved)
    }

    fn credit_note(&mut self, note: &CreditNote) -> Result<Vec<Movement>, AccountError> {
        self.check_currency(note.amount)?;
        if self.credit_notes.contains(&note.id) {
            return Err(AccountError::DuplicateCreditNote(note.id));
        }
        let currency = self.currency;
        let state = self.live_invoice(note.invoice_id)?;
        let creditable = state.total - state.credited;
        if note.amount.amount > creditable {
            return Err(AccountError::CreditExceedsInvoice {
                creditable: amounts::display(creditable, currency),
            });
        }
        state.credited += note.amount.amount;
        let to_invoice = note.amount.amount.min(state.total - state.applied);
        self.credit_notes.insert(note.id);
        let source = FundsSource::CreditNote(note.id);
        let mut moved = Vec::new();
        if to_invoice > Decimal::ZERO {
            moved.push(self.apply_to(note.invoice_id, source, to_invoice));
        }
        let excess = note.amount.amount - to_invoice;
        if excess > Decimal::ZERO {
            moved.push(self.add_credit(source, excess));
        }
        Ok(moved)
    }

    fn payment(&mut self, payment: &Payment) -> Result<Vec<Movement>, AccountError> {
        self.check_customer(payment.customer_id)?;
        self.check_currency(payment.amount)?;
        if self.seen_payments.contains(&payment.id) {
            return Err(AccountError::DuplicatePayment(payment.id));
        }
        let mut moved = Vec::new();
        match payment.status {
            PaymentStatus::Succeeded => {
                let plan = allocate(&self.open_invoices(), payment.amount, &payment.allocations)?;
                let source = FundsSource::Payment(payment.id);
                for allocation in plan.allocations {
                    moved.push(self.apply_to(allocation.invoice_id, source, allocation.amount));
                }
                if plan.unapplied > Decimal::ZERO {
                    moved.push(self.add_credit(source, plan.unapplied));
                }
                self.payments.insert(
                    payment.id,
                    PaymentState {
                        amount: payment.amount.amount,
                        taken_back: Decimal::ZERO,
                    },
                );
                self.failed_attempts = 0;
            }
            PaymentStatus::Failed => self.failed_attempts = self.failed_attempts.saturating_add(1),
            PaymentStatus::Refunded => {}
        }
        self.seen_payments.insert(payment.id);
        Ok(moved)
    }

    fn chargeback(&mut self, chargeback: &Chargeback) -> Result<Vec<Movement>, AccountError> {
        self.check_currency(chargeback.amount)?;
        let amount = chargeback.amount.amount;
        let reversed = match self.chargebacks.get(&chargeback.id) {
            Some(known) if known.payment_id != chargeback.payment_id || known.amount != amount => {
                return Err(AccountError::ChargebackChanged(chargeback.id));
            }
            Some(known) => known.reversed,
            None => false,
        };
        let reverse = chargeback.status != ChargebackStatus::Won;
        let moved = match (reversed, reverse) {
            (false, true) => {
                self.check_available(chargeback.payment_id, amount)?;
                self.take_back(chargeback.payment_id, amount)
            }
            (true, false) => {
                self.check_available(chargeback.payment_id, Decimal::ZERO)?;
                if let Some(payment) = self.payments.get_mut(&chargeback.payment_id) {
                    payment.taken_back -= amount;
                }
                vec![self.add_credit(FundsSource::Payment(chargeback.payment_id), amount)]
            }
            _ => {
                self.check_available(chargeback.payment_id, Decimal::ZERO)?;
                Vec::new()
            }
        };
        self.chargebacks.insert(
            chargeback.id,
            ChargebackState {
                payment_id: chargeback.payment_id,
                amount,
                reversed: reverse,
            },
        );
        Ok(moved)
    }

    /// Takes `amount` of a payment back: its unused credit first, then its allocations, most
    /// recent first. The caller has checked the payment holds that much.
    fn take_back(&mut self, payment_id: PaymentId, amount: Decimal) -> Vec<Movement> {
        let source = FundsSource::Payment(payment_id);
        let mut left = amount;
        let mut moved = Vec::new();
        if let Some((_, lot)) = self.credit.iter_mut().find(|(s, _)| *s == source) {
            let take = left.min(*lot);
            *lot -= take;
            left -= take;
            moved.push(Movement {
                source,
                invoice_id: None,
                amount: -take,
            });
        }
        for application in self.applications.iter_mut().rev() {
            if left.is_zero() {
                break;
            }
            if application.source != source {
                continue;
            }
            let take = left.min(application.amount);
            application.amount -= take;
            left -= take;
            if let Some(state) = self.invoices.get_mut(&application.invoice_id) {
                state.applied -= take;
            }
            moved.push(application.movement(-take));
        }
        self.applications.retain(|a| !a.amount.is_zero());
        self.credit.retain(|(_, lot)| !lot.is_zero());
        if let Some(payment) = self.payments.get_mut(&payment_id) {
            payment.taken_back += amount;
        }
        moved.retain(|m| !m.amount.is_zero());
        moved
    }

    /// Applies credit lots, oldest first, to open invoices, oldest due first.
    fn settle(&mut self) -> Vec<Movement> {
        let mut moved = Vec::new();
        while let Some(&(source, lot)) = self.credit.first() {
            let open = self.open_invoices();
            if open.is_empty() {
                break;
            }
            // Same currency by construction, no explicit requests: allocation cannot fail.
            let Ok(plan) = allocate(&open, self.money(lot), &[]) else {
                break;
            };
            for allocation in plan.allocations {
                moved.push(Movement {
                    source,
                    invoice_id: None,
                    amount: -allocation.amount,
                });
                moved.push(self.apply_to(allocation.invoice_id, source, allocation.amount));
            }
            if plan.unapplied.is_zero() {
                self.credit.remove(0);
            } else {
                self.credit[0].1 = plan.unapplied;
                break;
            }
        }
        moved
    }

    fn apply_to(
        &mut self,
        invoice_id: InvoiceId,
        source: FundsSource,
        amount: Decimal,
    ) -> Movement {
        if let Some(state) = self.invoices.get_mut(&invoice_id) {
            state.applied += amount;
        }
        let application = Application {
            invoice_id,
            source,
            amount,
        };
        let movement = application.movement(amount);
        self.applications.push(application);
        movement
    }

    fn add_credit(&mut self, source: FundsSource, amount: Decimal) -> Movement {
        match self.credit.iter_mut().find(|(s, _)| *s == source) {
            Some((_, lot)) => *lot += amount,
            None => self.credit.push((source, amount)),
        }
        Movement {
            source,
            invoice_id: None,
            amount,
        }
    }

    fn open_amounts(&self) -> impl Iterator<Item = (InvoiceId, &InvoiceState, Decimal)> {
        self.invoices
            .iter()
            .filter(|(_, s)| !s.voided)
            .map(|(id, s)| (*id, s, s.total - s.applied))
            .filter(|(_, _, open)| *open > Decimal::ZERO)
    }

    fn live_invoice(&mut self, invoice_id: InvoiceId) -> Result<&mut InvoiceState, AccountError> {
        match self.invoices.get_mut(&invoice_id) {
            None => Err(AccountError::UnknownInvoice(invoice_id)),
            Some(state) if state.voided => Err(AccountError::InvoiceVoid(invoice_id)),
            Some(state) => Ok(state),
        }
    }

    fn check_available(&self, payment_id: PaymentId, amount: Decimal) -> Result<(), AccountError> {
        let payment = self
            .payments
            .get(&payment_id)
            .ok_or(AccountError::UnknownPayment(payment_id))?;
        let available = payment.amount - payment.taken_back;
        if amount > available {
            return Err(AccountError::ExceedsPayment {
                available: amounts::display(available, self.currency),
            });
        }
        Ok(())
    }

    fn check_customer(&self, found: CustomerId) -> Result<(), AccountError> {
        if found == self.customer_id {
            Ok(())
        } else {
            Err(AccountError::WrongCustomer {
                expected: self.customer_id,
                found,
            })
        }
    }

    fn check_currency(&self, money: Money) -> Result<(), AccountError> {
        if money.currency == self.currency {
            Ok(())
        } else {
            Err(AccountError::CurrencyMismatch {
                expected: self.currency,
                found: money.currency,
            })
        }
    }

    fn money(&self, amount: Decimal) -> Money {
        Money {
            amount,
            currency: self.currency,
        }
    }
}

impl Application {
    fn movement(&self, amount: Decimal) -> Movement {
        Movement {
            source: self.source,
            invoice_id: Some(self.invoice_id),
            amount,
        }
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
