//! Many writers at once: each transaction stands or falls on its own even when SQLite's group
//! commit puts several in one physical transaction, and an idle store holds no write lock.

use chrono::{DateTime, Utc};
use tollgate_core::{CustomerId, DecisionId, TenantId, tenancy::Tenant};
use tollgate_store::{DecisionRow, Store, conformance, testing};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn tenant(n: usize) -> Tenant {
    Tenant {
        id: TenantId::generate(),
        slug: format!("t{n}"),
        name: format!("T{n}"),
        time_zone: "UTC".into(),
        created_at: t0(),
    }
}

async fn concurrent_writers_keep_exactly_what_they_committed(store: &Store) {
    let tasks = (0..60).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.insert_tenant(&tenant(n)).await.unwrap();
            tokio::task::yield_now().await;
            match n % 3 {
                // Dropped: rolls back, whatever else is in its group.
                0 => drop(tx),
                // A failing statement after a good one; the caller gives up.
                1 => {
                    assert!(tx.insert_tenant(&tenant(n)).await.is_err());
                    drop(tx);
                }
                _ => tx.commit().await.unwrap(),
            }
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.unwrap();
    }
    let mut tx = store.read().await.unwrap();
    let mut kept: Vec<usize> = tx
        .all_tenants()
        .await
        .unwrap()
        .iter()
        .map(|t| t.slug[1..].parse().unwrap())
        .collect();
    kept.sort_unstable();
    let expected: Vec<usize> = (0..60).filter(|n| n % 3 == 2).collect();
    assert_eq!(kept, expected);
}

conformance!(concurrent_writers_keep_exactly_what_they_committed);

fn decision(id: DecisionId) -> DecisionRow {
    DecisionRow {
        id,
        customer_id: CustomerId::generate(),
        kind: "signup".into(),
        subject_id: "cus_x".into(),
        verdict: "approve".into(),
        score: 0,
        policy_version: "v1".into(),
        decision: "{}".into(),
        facts: "{}".into(),
        features: "{}".into(),
        shadows: "[]".into(),
        created_at: t0(),
    }
}

/// Inserts nobody reads back are kept on SQLite and sent with the transaction's next statement
/// or its end. The transaction's own reads still see them, and one that fails when sent takes
/// down its own transaction only, not the others committed in the same group.
async fn kept_writes_are_read_back_and_fail_alone(store: &Store) {
    let t = tenant(0);
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&t).await.unwrap();
    let taken = DecisionId::generate();
    tx.insert_decision(t.id, &decision(taken)).await.unwrap();
    tx.record_velocity(t.id, &[("signup_ip", "192.0.2.1", 0)], t0())
        .await
        .unwrap();
    let seen = tx
        .velocity(t.id, &[("signup_ip", "192.0.2.1")], t0())
        .await
        .unwrap();
    assert_eq!(
        seen[0].last_1h, 1,
        "the transaction sees its own kept write"
    );
    tx.commit().await.unwrap();

    let tasks = (0..30).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let key = format!("k{n}");
            let mut tx = store.begin().await.unwrap();
            tx.record_velocity(t.id, &[("test", &key, 0)], t0())
                .await
                .unwrap();
            tokio::task::yield_now().await;
            if n % 3 == 1 {
                // The same decision id again: refused when sent, at once or at the end.
                let sent = tx.insert_decision(t.id, &decision(taken)).await;
                assert!(sent.is_err() || tx.commit().await.is_err());
            } else {
                tx.insert_decision(t.id, &decision(DecisionId::generate()))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.unwrap();
    }
    let mut tx = store.read().await.unwrap();
    for n in 0..30 {
        let key = format!("k{n}");
        let counts = tx.velocity(t.id, &[("test", &key)], t0()).await.unwrap();
        assert_eq!(counts[0].last_1h, u32::from(n % 3 != 1), "{key}");
    }
}

conformance!(kept_writes_are_read_back_and_fail_alone);

/// After a transaction is dropped, another process can write at once: the dropped savepoint
/// did not leave the physical transaction (and SQLite's write lock) open.
#[tokio::test]
async fn a_dropped_transaction_leaves_the_database_writable_for_other_processes() {
    let db = testing::sqlite().await;
    let mut tx = db.store.begin().await.unwrap();
    tx.insert_tenant(&tenant(1)).await.unwrap();
    drop(tx);
    // The drop rolled the savepoint back, and with nobody else in the group, ended the
    // physical transaction.
    db.store.begin().await.unwrap().commit().await.unwrap();

    // Were the lock still held, this would fail with "database is locked" after the busy
    // timeout.
    let other = Store::connect(&db.url).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    tx.insert_tenant(&tenant(2)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.store.read().await.unwrap();
    let slugs: Vec<String> = tx
        .all_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.slug)
        .collect();
    assert_eq!(slugs, ["t2"]);
}

/// Committed pages reach the database file without waiting for the writer's own checkpoint
/// (at 16,000 pages): the background checkpointer copies them within a moment. A connection
/// that opens the file as immutable reads the database file alone, never the write-ahead log.
#[tokio::test]
async fn the_background_checkpointer_copies_committed_pages_into_the_database_file() {
    use sqlx::{Connection, Row};

    let db = testing::sqlite().await;
    let mut tx = db.store.begin().await.unwrap();
    tx.insert_tenant(&tenant(1)).await.unwrap();
    tx.commit().await.unwrap();

    let file_only = format!("{}&immutable=true", db.url.replace("mode=rwc", "mode=ro"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Until the migrations' pages are copied too, the file alone may not even be a
        // consistent database: that counts as "not yet".
        let mut conn = sqlx::AnyConnection::connect(&file_only).await.unwrap();
        let tenants = sqlx::query("SELECT COUNT(*) AS n FROM tenants")
            .fetch_one(&mut conn)
            .await
            .map(|row| row.get::<i64, _>("n"));
        conn.close().await.unwrap();
        if matches!(tenants, Ok(1)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the tenant is still only in the write-ahead log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The build settings the store's SQLite performance depends on (`.cargo/config.toml`): a
/// build without them would pass every other test and quietly queue every allocation on one
/// process-wide lock (BENCHMARKS.md, session 9).
#[tokio::test]
async fn the_bundled_sqlite_keeps_no_allocation_statistics() {
    use sqlx::{Connection, Row};

    let db = testing::sqlite().await;
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let used = sqlx::query("SELECT sqlite_compileoption_used('DEFAULT_MEMSTATUS=0') AS used")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get::<i64, _>("used");
    conn.close().await.unwrap();
    assert_eq!(
        used, 1,
        "SQLite was built without SQLITE_DEFAULT_MEMSTATUS=0"
    );
}

/// SQLite readers are lent as query-only connections: a write through a read transaction fails
/// at once instead of queueing for the write lock on the runtime's thread, and leaves the
/// writer free.
#[tokio::test]
async fn a_read_transaction_never_writes() {
    let db = testing::sqlite().await;
    let mut read = db.store.read().await.unwrap();
    let refused = read.insert_tenant(&tenant(1)).await.unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");
    drop(read);
    let mut tx = db.store.begin().await.unwrap();
    tx.insert_tenant(&tenant(2)).await.unwrap();
    tx.commit().await.unwrap();
}

/// At most 16 SQLite readers are on loan: the next lease waits for one to come back rather
/// than opening connections without bound.
#[tokio::test]
async fn a_reader_lease_beyond_the_bound_waits_for_one_to_come_back() {
    let db = testing::sqlite().await;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(db.store.read_latest().await.unwrap());
    }
    let waiting = tokio::spawn({
        let store = db.store.clone();
        async move { store.read().await.map(drop) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "a 17th reader was lent");
    held.pop();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the returned reader is lent again")
        .unwrap()
        .unwrap();
}

/// A request cancelled while its group's `BEGIN` waits on the blocking pool (here for another
/// process's write lock) leaves the writer usable: the transaction the `BEGIN` opens once the
/// lock is free is known to be open, and the next writer joins it.
#[tokio::test]
async fn a_write_cancelled_while_its_group_begins_leaves_the_writer_usable() {
    let db = testing::sqlite().await;
    let other = Store::connect(&db.url).await.unwrap();
    let holding = other.begin().await.unwrap();
    let cancelled =
        tokio::time::timeout(std::time::Duration::from_millis(50), db.store.begin()).await;
    assert!(cancelled.is_err(), "the lock was free");
    drop(cancelled);
    drop(holding);
    let mut tx = db.store.begin().await.unwrap();
    tx.insert_tenant(&tenant(1)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.store.read().await.unwrap();
    assert_eq!(tx.all_tenants().await.unwrap().len(), 1);
}

/// A writer of another process holding SQLite's write lock makes this one wait for it, not
/// fail: the quick attempt finds the lock taken, and the wait goes to the blocking pool.
#[tokio::test]
async fn a_write_waits_for_another_process_holding_the_lock() {
    let db = testing::sqlite().await;
    let other = Store::connect(&db.url).await.unwrap();
    let mut holding = other.begin().await.unwrap();
    holding.insert_tenant(&tenant(1)).await.unwrap();

    let waiting = tokio::spawn({
        let store = db.store.clone();
        async move {
            let mut tx = store.begin().await?;
            tx.insert_tenant(&tenant(2)).await?;
            tx.commit().await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "a second writer ran beside the first"
    );
    holding.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the waiting writer runs once the lock is free")
        .unwrap()
        .unwrap();
    assert_eq!(
        db.store
            .read()
            .await
            .unwrap()
            .all_tenants()
            .await
            .unwrap()
            .len(),
        2
    );
}
