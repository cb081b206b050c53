//! API tests against the real router on a real port, on SQLite and (when
//! `TOLLGATE_TEST_DATABASE_URL` is set) PostgreSQL.

mod harness;

mod activity;
mod bad_input;
mod bank_accounts;
mod cases;
mod collections;
mod console;
mod decisions;
mod dunning;
mod foundation;
mod isolation;
mod operations;
mod outbox;
mod prepaid;
mod reviews;
mod rules;
mod usage;
mod verifications;
mod webhooks;
