//! API tests against the real router on a real port, on SQLite and (when
//! `TOLLGATE_TEST_DATABASE_URL` is set) PostgreSQL.

mod harness;

mod bad_input;
mod collections;
mod decisions;
mod foundation;
mod isolation;
mod operations;
mod rules;
mod usage;
mod verifications;
