//! Collections: invoices, payments, chargebacks and prepaid balances as facts; the receivables
//! they add up to; the aging report; and the dunning ladder that reminds, suspends and
//! reactivates on a published policy. Everything here is pure: the store and the server feed
//! facts in and persist what comes out.

mod account;
mod aging;
mod allocation;
pub mod amounts;
mod dunning;
mod invoice;
mod payment;
mod policy;
mod prepaid;
#[cfg(test)]
mod simulation;

pub use account::{Account, AccountError, AccountFact, FundsSource, Movement};
pub use aging::{
    AgingBucket, AgingReport, Buckets, CurrencyAging, CustomerAging, aging, bucket_edges,
    days_past_due, start_of_day,
};
pub use allocation::{Allocation, AllocationError, AllocationPlan, OpenInvoice, allocate};
pub use dunning::{
    AccountSnapshot, DunningError, EpisodeState, Pause, PauseReason, ReasonCode, StepOutcome,
    StepRecord, Suspension, Transition, TransitionKind, next_transitions,
};
pub use invoice::{
    CreditNote, CreditNoteIn, Invoice, InvoiceIn, InvoiceLine, InvoiceLineIn, InvoiceVoid,
};
pub use payment::{
    AllocationRequest, Chargeback, ChargebackIn, ChargebackStatus, Payment, PaymentIn,
    PaymentMethod, PaymentStatus, Refund, RefundIn,
};
pub use policy::{
    DunningAction, DunningPolicy, Grace, Ladder, PolicyError, Step, SuspendScope, TierOverride,
    Trigger,
};
pub use prepaid::{PrepaidBalance, PrepaidEntry, PrepaidEntryIn, PrepaidEntryKind, PrepaidError};
