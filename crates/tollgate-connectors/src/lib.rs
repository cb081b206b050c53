//! Tollgate's outbound adapters. Each provider sits behind a trait the server holds as
//! `Arc<dyn …>`, so tests and other providers slot in; the HTTP implementations share one
//! client set-up, one retry loop and one attempt record.
//!
//! - [`sms`]: [`SmsSender`](sms::SmsSender), spoken to Twilio's Messages API by
//!   [`TwilioSms`](sms::TwilioSms) (`docs/connectors/sms.md`).
//! - [`bureau`]: [`BusinessBureau`](bureau::BusinessBureau), spoken to a generic HTTP JSON
//!   contract by [`HttpBureau`](bureau::HttpBureau) (`docs/connectors/bureau.md`).
//! - [`retry`]: backoff with jitter that honours `Retry-After`, and the
//!   [`Attempt`](retry::Attempt) record returned with every result and error.

use std::pin::Pin;

pub mod bureau;
mod http;
pub mod retry;
pub mod secret;
pub mod sms;

pub use http::{ConfigError, HttpTimeouts};
pub use retry::{Attempt, AttemptOutcome, ConnectorError, Retrier, RetryPolicy};
pub use secret::Secret;

/// A boxed `Send` future: the connector traits return it so that they stay usable as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
