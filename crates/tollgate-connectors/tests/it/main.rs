//! The adapters against local fakes that follow each provider's documented shapes.

mod bureau;
mod email;
mod fake;
mod partner_center;
mod sms;
