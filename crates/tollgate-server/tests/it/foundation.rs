//! Keys, roles, tenancy, idempotency and the audit trail through the API.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tollgate_core::tenancy::Role;

use crate::{harness::TestApp, on_both_engines};

async fn keys_authenticate_by_role(app: &TestApp) {
    let (status, body) = app.get("/v1/customers", "tg_live_nope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "/problems/unauthorized");
    let (status, _) = crate::harness::send(app.request(Method::GET, "/v1/customers", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        app.get("/v1/customers", app.a.key(Role::Viewer)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/customers", app.a.key(Role::Ingest)).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = app
        .post(
            "/v1/customers",
            app.a.key(Role::Viewer),
            crate::harness::customer_body("v"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/v1/customers",
            app.a.key(Role::Ingest),
            crate::harness::customer_body("i"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.get("/v1/keys", app.a.key(Role::Analyst)).await.0,
        StatusCode::FORBIDDEN
    );
}

async fn a_new_key_is_shown_once_and_can_be_revoked(app: &TestApp) {
    let admin = app.a.key(Role::Admin);
    let (status, created) = app
        .post(
            "/v1/keys",
            admin,
            json!({"role": "viewer", "label": "dashboards"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/tenant", &secret).await.0, StatusCode::OK);

    let (_, listed) = app.get("/v1/keys", admin).await;
    let text = listed.to_string();
    assert!(!text.contains(&secret), "a listing never shows a secret");
    assert!(!text.contains("secret_hash"));
    assert!(
        text.contains(&secret[..12]),
        "the prefix identifies the key"
    );

    let (status, _) = app
        .post(&format!("/v1/keys/{id}/revoke"), admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/tenant", &secret).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another tenant's admin cannot even see the key.
    let (status, _) = app
        .post(
            &format!("/v1/keys/{id}/revoke"),
            app.b.key(Role::Admin),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn expired_keys_stop_working(app: &TestApp) {
    let admin = app.a.key(Role::Admin);
    let expires = app.clock_now() + chrono::Duration::hours(1);
    let (_, created) = app
        .post(
            "/v1/keys",
            admin,
            json!({"role": "viewer", "expires_at": expires}),
        )
        .await;
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(app.get("/v1/tenant", secret).await.0, StatusCode::OK);
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        app.get("/v1/tenant", secret).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn idempotent_posts_replay_and_refuse_a_changed_body(app: &TestApp) {
    let key = app.a.key(Role::Admin);
    let send = |body: serde_json::Value, idem: &str| {
        crate::harness::send(
            app.request(Method::POST, "/v1/customers", Some(key))
                .header("Idempotency-Key", idem)
                .json(&body),
        )
    };
    let (first_status, first) = send(crate::harness::customer_body("idem-1"), "k-1").await;
    assert_eq!(first_status, StatusCode::CREATED);
    let (again_status, again) = send(crate::harness::customer_body("idem-1"), "k-1").await;
    assert_eq!(again_status, StatusCode::CREATED);
    assert_eq!(first, again, "the replay is the first answer");
    let (_, list) = app.get("/v1/customers?external_id=idem-1", key).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "replaying created nothing"
    );

    let (status, problem) = send(crate::harness::customer_body("idem-2"), "k-1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");

    // Keys are per tenant: tenant B may use the same key for its own request.
    let (status, _) = crate::harness::send(
        app.request(Method::POST, "/v1/customers", Some(app.b.key(Role::Admin)))
            .header("Idempotency-Key", "k-1")
            .json(&crate::harness::customer_body("idem-1")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn concurrent_twins_create_one_object(app: &TestApp) {
    let key = app.a.key(Role::Admin);
    let twins = (0..6).map(|_| {
        crate::harness::send(
            app.request(Method::POST, "/v1/customers", Some(key))
                .header("Idempotency-Key", "twin")
                .json(&crate::harness::customer_body("twin")),
        )
    });
    let answers = futures_join_all(twins).await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every twin got the same customer");
}

/// Twins sent at the same moment, on a route with no natural key to collide on: one writes,
/// the others replay its answer, even when they meet it in SQLite's writer before it commits.
async fn simultaneous_twins_replay_the_winner(app: &TestApp) {
    let key = app.a.key(Role::Analyst);
    let item = json!({"kind": "email", "action": "block", "value": "twin@example.com"});
    let ids = twins(app, "/v1/lists/items", key, &item, "id").await;
    assert_eq!(ids.len(), 1, "every twin got the same item");
    let (_, items) = app.get("/v1/lists/items", key).await;
    assert_eq!(items["data"].as_array().unwrap().len(), 1, "{items}");

    // A sign-up's twins meet on its external id before they reach the idempotency key.
    let signup = crate::decisions::honest_signup(app, 7);
    let customers = twins(
        app,
        "/v1/signups",
        app.a.key(Role::Ingest),
        &signup,
        "customer_id",
    )
    .await;
    assert_eq!(customers.len(), 1, "every twin got the same customer");
}

/// Sends `body` eight times at once under one `Idempotency-Key`; every answer must be a 201.
/// Returns the distinct values of `id_field` they carried.
async fn twins(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &serde_json::Value,
    id_field: &str,
) -> std::collections::HashSet<String> {
    let sent: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(crate::harness::send(
                app.request(Method::POST, path, Some(key))
                    .header("Idempotency-Key", format!("simultaneous {path}"))
                    .json(body),
            ))
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for twin in sent {
        let (status, answer) = twin.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        ids.insert(answer[id_field].as_str().unwrap().to_owned());
    }
    ids
}

async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await);
    }
    out
}

async fn subscription_changes_are_on_the_audit_trail(app: &TestApp) {
    let cus = app.customer(&app.a, "audited").await;
    let sub = app.subscription(&app.a, &cus, "vendor-sub-1").await;
    let analyst = app.a.key(Role::Analyst);
    let (status, body) = app
        .post(
            &format!("/v1/subscriptions/{sub}/suspend"),
            analyst,
            json!({"reason": "abuse notice"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "suspended");
    assert_eq!(body["history"].as_array().unwrap().len(), 2);
    let (status, _) = app
        .post(
            &format!("/v1/subscriptions/{sub}/suspend"),
            analyst,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(
            &format!("/v1/subscriptions/{sub}/suspend"),
            app.a.key(Role::Viewer),
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, trail) = app
        .get(
            &format!("/v1/audit?object_id={sub}"),
            app.a.key(Role::Viewer),
        )
        .await;
    let actions: Vec<_> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["subscription.created", "subscription.suspended"]);
    assert_eq!(trail["data"][1]["data"]["reason"], "abuse notice");
    assert!(
        trail["data"][1]["actor"]["id"]
            .as_str()
            .unwrap()
            .starts_with("key_")
    );
    assert_eq!(
        app.store.verify_audit(app.a.id).await.unwrap().map(|_| ()),
        Ok(())
    );
    // Tenant B's trail holds none of it.
    let (_, theirs) = app
        .get(
            &format!("/v1/audit?object_id={sub}"),
            app.b.key(Role::Viewer),
        )
        .await;
    assert!(theirs["data"].as_array().unwrap().is_empty());
}

impl TestApp {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use tollgate_core::Clock;
        self.clock.now()
    }
}

on_both_engines!(
    keys_authenticate_by_role,
    a_new_key_is_shown_once_and_can_be_revoked,
    expired_keys_stop_working,
    idempotent_posts_replay_and_refuse_a_changed_body,
    concurrent_twins_create_one_object,
    simultaneous_twins_replay_the_winner,
    subscription_changes_are_on_the_audit_trail,
);
