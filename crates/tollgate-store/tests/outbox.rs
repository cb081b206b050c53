//! The outbox contract on both engines: an action exists exactly when its transaction commits,
//! one worker at a time holds it, a dead worker's lease runs out, and a job lease has one owner.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tollgate_core::{
    ActionId, TenantId,
    outbox::{ActionKind, ActionStatus},
    tenancy::Tenant,
};
use tollgate_store::{
    ActionFilter, FinishedAttempt, NewAction, Store, conformance, page::PageRequest,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .unwrap()
        .to_utc()
}

async fn tenant(store: &Store, slug: &str) -> TenantId {
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: slug.into(),
        name: slug.to_uppercase(),
        time_zone: "Europe/Berlin".into(),
        created_at: t0(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    tx.commit().await.unwrap();
    tenant.id
}

fn email(n: usize) -> NewAction {
    NewAction {
        id: ActionId::generate(),
        kind: ActionKind::Email,
        source: "test".into(),
        object_id: format!("obj-{n}"),
        payload: json!({ "n": n }),
        not_before: t0(),
    }
}

fn finished(
    worker: &str,
    status: ActionStatus,
    retry_at: Option<DateTime<Utc>>,
) -> FinishedAttempt {
    FinishedAttempt {
        worker: worker.into(),
        started_at: t0(),
        finished_at: t0(),
        outcome: "x".into(),
        detail: format!("{status}"),
        status,
        next_attempt_at: retry_at,
    }
}

async fn an_action_exists_only_if_its_transaction_commits(store: &Store) {
    let a = tenant(store, "alpha").await;
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_action(a, &email(1), t0()).await.unwrap();
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let kept = email(2);
    tx.enqueue_action(a, &kept, t0()).await.unwrap();
    tx.commit().await.unwrap();

    let leased = store
        .lease_due_actions("w1", t0(), t0() + Duration::minutes(2), 10)
        .await
        .unwrap();
    assert_eq!(leased.iter().map(|a| a.id).collect::<Vec<_>>(), [kept.id]);
    assert_eq!(leased[0].payload, json!({ "n": 2 }));
}

async fn a_leased_action_is_held_until_its_lease_runs_out(store: &Store) {
    let a = tenant(store, "alpha").await;
    let mut tx = store.begin().await.unwrap();
    for n in 0..5 {
        tx.enqueue_action(a, &email(n), t0()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let lease = t0() + Duration::minutes(2);
    let first = store.lease_due_actions("w1", t0(), lease, 3).await.unwrap();
    let second = store
        .lease_due_actions("w2", t0(), lease, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(second.len(), 2, "the other worker gets only what is left");
    let ids: HashSet<_> = first.iter().chain(&second).map(|a| a.id).collect();
    assert_eq!(ids.len(), 5);

    // w1 dies holding three actions; when its lease runs out, w3 takes them over.
    assert!(
        store
            .lease_due_actions("w3", t0(), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = lease + Duration::seconds(1);
    let taken = store
        .lease_due_actions("w3", later, later + Duration::minutes(2), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 5, "w2 never finished either");

    // The late w1 may record its attempt, but no longer decides the action's status.
    let stale = first[0].id;
    assert!(
        !store
            .finish_attempt(stale, &finished("w1", ActionStatus::Delivered, None))
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_attempt(stale, &finished("w3", ActionStatus::Delivered, None))
            .await
            .unwrap()
    );
    let mut tx = store.read().await.unwrap();
    let action = tx.action(a, stale).await.unwrap();
    assert_eq!(action.status, ActionStatus::Delivered);
    assert_eq!(action.attempts, 1);
    let log = tx.action_attempts(stale).await.unwrap();
    assert_eq!(
        log.iter().map(|l| l.worker.as_str()).collect::<Vec<_>>(),
        ["w1", "w3"]
    );
}

async fn a_retried_action_waits_for_its_time_and_can_be_requeued(store: &Store) {
    let a = tenant(store, "alpha").await;
    let b = tenant(store, "bravo").await;
    let action = email(1);
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_action(a, &action, t0()).await.unwrap();
    tx.commit().await.unwrap();
    let lease = t0() + Duration::minutes(2);
    store.lease_due_actions("w", t0(), lease, 1).await.unwrap();
    let retry_at = t0() + Duration::minutes(10);
    store
        .finish_attempt(
            action.id,
            &finished("w", ActionStatus::Pending, Some(retry_at)),
        )
        .await
        .unwrap();
    let before = retry_at - Duration::seconds(1);
    assert!(
        store
            .lease_due_actions("w", before, lease, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .lease_due_actions("w", retry_at, retry_at + Duration::minutes(2), 1)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].last_error.as_deref(), Some("pending"));
    store
        .finish_attempt(action.id, &finished("w", ActionStatus::Dead, None))
        .await
        .unwrap();

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.action(b, action.id).await.is_err(),
        "another tenant's action is not found"
    );
    let dead = ActionFilter {
        status: Some(ActionStatus::Dead),
        ..ActionFilter::default()
    };
    let page = PageRequest {
        after: None,
        limit: 10,
    };
    assert_eq!(
        tx.list_actions(a, &dead, &page).await.unwrap().data.len(),
        1
    );
    assert!(
        tx.list_actions(b, &dead, &page)
            .await
            .unwrap()
            .data
            .is_empty()
    );
    tx.requeue_action(a, action.id, retry_at).await.unwrap();
    tx.commit().await.unwrap();
    let again = store
        .lease_due_actions("w", retry_at, retry_at + Duration::minutes(2), 1)
        .await
        .unwrap();
    assert_eq!(again[0].id, action.id);
}

async fn a_job_lease_has_one_owner_at_a_time(store: &Store) {
    let until = t0() + Duration::minutes(5);
    let (one, two) = tokio::join!(
        store.try_lease_job("dunning", "p1", t0(), until),
        store.try_lease_job("dunning", "p2", t0(), until),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert!(one ^ two, "exactly one process gets the lease: {one} {two}");
    let (owner, other) = if one { ("p1", "p2") } else { ("p2", "p1") };
    assert!(
        store
            .try_lease_job("dunning", owner, t0(), until)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lease_job("dunning", other, t0(), until)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease_job("dunning", other, until, until + Duration::minutes(5))
            .await
            .unwrap(),
        "an expired lease is free"
    );
    store.release_job("dunning", owner).await.unwrap();
    assert!(
        !store
            .try_lease_job("dunning", owner, until, until)
            .await
            .unwrap(),
        "releasing someone else's lease does nothing"
    );
    store.release_job("dunning", other).await.unwrap();
    assert!(
        store
            .try_lease_job("dunning", owner, until, until)
            .await
            .unwrap()
    );
}

conformance!(
    an_action_exists_only_if_its_transaction_commits,
    a_leased_action_is_held_until_its_lease_runs_out,
    a_retried_action_waits_for_its_time_and_can_be_requeued,
    a_job_lease_has_one_owner_at_a_time,
);
