//! The adapters against local fakes that follow each provider's documented shapes.

mod bureau;
mod fake;
mod sms;
