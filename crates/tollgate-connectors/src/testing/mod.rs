//! Local stand-ins for the outside world that tests in this and other crates start (cargo
//! feature `testing`).

pub mod smtp;

pub use smtp::SmtpSink;
