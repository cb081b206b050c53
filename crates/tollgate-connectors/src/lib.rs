//! Tollgate's outbound adapters. Each provider sits behind a trait the server holds as
//! `Arc<dyn …>`, so tests and other providers slot in; the HTTP implementations share one
//! client set-up, one retry loop and one attempt record.
//!
//! - [`sms`]: [`SmsSender`](sms::SmsSender), spoken to Twilio's Messages API by
//!   [`TwilioSms`](sms::TwilioSms) (`docs/connectors/sms.md`).
//! - [`email`]: [`Mailer`](email::Mailer), spoken to an SMTP relay by
//!   [`SmtpMailer`](email::SmtpMailer); the message id is the outbox action's id
//!   (`docs/connectors/email.md`).
//! - [`bureau`]: [`BusinessBureau`](bureau::BusinessBureau), spoken to a generic HTTP JSON
//!   contract by [`HttpBureau`](bureau::HttpBureau) (`docs/connectors/bureau.md`).
//! - [`partner_center`]: [`PartnerCenter`](partner_center::PartnerCenter), spoken to
//!   Microsoft Partner Center's REST API by [`HttpPartnerCenter`](partner_center::HttpPartnerCenter),
//!   and the verification of its webhooks (`docs/connectors/partner-center.md`).
//! - [`retry`]: backoff with jitter that honours `Retry-After`, and the
//!   [`Attempt`](retry::Attempt) record returned with every result and error.

use std::pin::Pin;

pub mod bureau;
pub mod email;
mod http;
pub mod partner_center;
pub mod retry;
pub mod secret;
pub mod sms;
#[cfg(feature = "testing")]
pub mod testing;

pub use http::{ConfigError, HttpTimeouts};
pub use retry::{Attempt, AttemptOutcome, ConnectorError, Retrier, RetryPolicy};
pub use secret::Secret;

/// A boxed `Send` future: the connector traits return it so that they stay usable as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
