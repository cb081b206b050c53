//! Isolated stores for tests: a SQLite file in its own temporary directory, and — when
//! `TOLLGATE_TEST_DATABASE_URL` is set — a PostgreSQL schema of its own, so tests run in
//! parallel without seeing each other's rows.

use std::path::PathBuf;

use crate::{Dialect, Store};

/// Names the PostgreSQL server tests use; unset means the PostgreSQL half is skipped.
pub const DATABASE_URL_VAR: &str = "TOLLGATE_TEST_DATABASE_URL";

/// A store plus what keeps it alive (the temporary directory).
pub struct TestStore {
    pub store: Store,
    /// How the store was reached, for a test to start another process on the same data.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub fn data_dir(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|d| d.path().to_owned())
    }
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("tollgate.db").display()
    );
    let store = Store::open_data_dir(dir.path())
        .await
        .expect("open SQLite store");
    TestStore {
        store,
        url,
        _dir: Some(dir),
    }
}

/// A fresh schema on the test server, or `None` when the variable is unset. A set but
/// unreachable server panics: CI must never skip the PostgreSQL half silently.
pub async fn postgres() -> Option<TestStore> {
    let base = std::env::var(DATABASE_URL_VAR).ok()?;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let admin = Store::connect_unmigrated(&base)
        .await
        .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR} is set but PostgreSQL is unreachable: {e}"));
    STALE_SWEPT.get_or_init(|| drop_stale_schemas(&admin)).await;
    admin
        .execute_raw(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create test schema");
    admin.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&url).await.expect("open PostgreSQL store");
    assert_eq!(store.dialect(), Dialect::Postgres);
    Some(TestStore {
        store,
        url,
        _dir: None,
    })
}

/// A test cannot drop its schema when it ends (no async `Drop`), so schemas pile up on a
/// long-lived test server. Each test process drops, once, a batch of the schemas a UUIDv7 name
/// dates to over two hours ago (no test run lasts that long); a batch, one transaction each, so
/// that a large backlog neither exhausts the server's lock table nor delays the first test.
static STALE_SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
const STALE_AFTER_MS: i64 = 2 * 60 * 60 * 1000;
const STALE_PER_PROCESS: i64 = 40;

async fn drop_stale_schemas(admin: &Store) {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace \
         WHERE nspname ~ '^t_[0-9a-f]{32}$' \
           AND ('x' || substr(nspname, 3, 12))::bit(48)::bigint \
               < (extract(epoch FROM now()) * 1000)::bigint - $1 \
         ORDER BY nspname LIMIT $2",
    )
    .bind(STALE_AFTER_MS)
    .bind(STALE_PER_PROCESS)
    .fetch_all(admin.pool())
    .await
    .unwrap_or_default();
    for schema in stale {
        // Another process may be dropping the same schema; either way it goes.
        let _ = admin
            .execute_raw(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
    }
}

/// Generates one test per engine for each listed case: `case_sqlite` always runs;
/// `case_postgres` runs when the test database variable is set and says so when it is not.
#[macro_export]
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        $(
            mod $case {
                #[tokio::test]
                async fn sqlite() {
                    let db = $crate::testing::sqlite().await;
                    super::$case(&db.store).await;
                }

                #[tokio::test]
                async fn postgres() {
                    match $crate::testing::postgres().await {
                        Some(db) => super::$case(&db.store).await,
                        None => eprintln!(
                            "skipped: {} is not set",
                            $crate::testing::DATABASE_URL_VAR
                        ),
                    }
                }
            }
        )+
    };
}

/// For benches: CPU seconds (user + system) process `pid` has used so far, from
/// `/proc/<pid>/stat`, in the kernel's USER_HZ ticks of 1/100 s.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces; utime and
    // stime are the 14th and 15th fields of the line, so the 12th and 13th after it.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
