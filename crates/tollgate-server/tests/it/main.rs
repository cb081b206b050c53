//! API tests against the real router on a real port, on SQLite and (when
//! `TOLLGATE_TEST_DATABASE_URL` is set) PostgreSQL.

mod harness;

mod foundation;
