//! Starts the real service on port 0 over a fresh store, with a steerable clock and a key of
//! every role in two tenants.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tollgate_core::{
    TenantId,
    audit::Actor,
    clock::ManualClock,
    tenancy::{Role, Tenant},
};
use tollgate_server::{AppState, Application, ServerConfig, issue_key};
use tollgate_store::{Store, testing};

pub const BODY_LIMIT: usize = 64 * 1024;
/// The batch routes' limit (`POST /v1/usage`); a body this large is too large everywhere. Room
/// for a batch one item over `MAX_BATCH`, so the item cap, not the byte cap, is what refuses it.
pub const BATCH_BODY_LIMIT: usize = 16 * BODY_LIMIT;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
        .unwrap()
        .to_utc()
}

pub struct TenantKeys {
    pub id: TenantId,
    pub keys: HashMap<Role, String>,
}

impl TenantKeys {
    pub fn key(&self, role: Role) -> &str {
        &self.keys[&role]
    }
}

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub clock: ManualClock,
    /// The server's state, for running its jobs and outbox worker from the test.
    pub state: AppState,
    pub a: TenantKeys,
    pub b: TenantKeys,
    http: reqwest::Client,
    _db: testing::TestStore,
}

pub enum Engine {
    Sqlite,
    Postgres,
}

impl TestApp {
    /// `None` when the engine is PostgreSQL and no test database is configured.
    pub async fn start(engine: Engine) -> Option<TestApp> {
        Self::start_with(engine, tollgate_server::Connectors::default()).await
    }

    /// Like `start`, with outbound providers (pointed at local fakes by the test).
    pub async fn start_with(
        engine: Engine,
        connectors: tollgate_server::Connectors,
    ) -> Option<TestApp> {
        Self::start_configured(engine, connectors, |_| {}).await
    }

    /// Like `start_with`, with the server's configuration adjusted by `configure`.
    pub async fn start_configured(
        engine: Engine,
        connectors: tollgate_server::Connectors,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> Option<TestApp> {
        let db = match engine {
            Engine::Sqlite => testing::sqlite().await,
            Engine::Postgres => testing::postgres().await?,
        };
        let store = db.store.clone();
        let clock = ManualClock::new(t0());
        let a = tenant(&store, "alpha").await;
        let b = tenant(&store, "bravo").await;
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            body_limit: BODY_LIMIT,
            batch_body_limit: BATCH_BODY_LIMIT,
            // The tests' receivers listen on loopback.
            webhooks_to_private_networks: true,
            ..ServerConfig::default()
        };
        configure(&mut config);
        let state =
            AppState::with_connectors(store.clone(), Arc::new(clock.clone()), config, connectors);
        let app = Application::bind(state.clone()).await.unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        tokio::spawn(app.run_until(std::future::pending()));
        Some(TestApp {
            base,
            store,
            clock,
            state,
            a,
            b,
            http: reqwest::Client::new(),
            _db: db,
        })
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path, Some(key));
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, key, Some(body)).await
    }

    /// Creates a customer in tenant A (or B) and returns its id.
    pub async fn customer(&self, tenant: &TenantKeys, external_id: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/customers",
                tenant.key(Role::Admin),
                customer_body(external_id),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn subscription(
        &self,
        tenant: &TenantKeys,
        customer: &str,
        vendor_id: &str,
    ) -> String {
        let (status, body) = self
            .post(
                "/v1/subscriptions",
                tenant.key(Role::Admin),
                serde_json::json!({
                    "customer_id": customer,
                    "vendor_subscription_id": vendor_id,
                    "product_kind": "azure_plan",
                    "quantity": 1
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }
}

pub fn customer_body(external_id: &str) -> Value {
    serde_json::json!({
        "external_id": external_id,
        "legal_name": "Contoso Analytics GmbH",
        "company_domain": "contoso.example",
        "country": "DE",
        "email": "billing@contoso.example",
        "phone": "+4930123456",
        "billing_address": {
            "line1": "Unter den Linden 1",
            "city": "Berlin",
            "postal_code": "10117",
            "country": "DE"
        }
    })
}

pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

async fn tenant(store: &Store, slug: &str) -> TenantKeys {
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: slug.into(),
        name: slug.into(),
        time_zone: "Europe/Berlin".into(),
        created_at: t0(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_tenant(&tenant).await.unwrap();
    let mut keys = HashMap::new();
    for role in Role::ALL {
        let created = issue_key(&mut tx, tenant.id, role, None, None, Actor::Cli, t0())
            .await
            .unwrap();
        keys.insert(role, created.secret);
    }
    tx.commit().await.unwrap();
    TenantKeys {
        id: tenant.id,
        keys,
    }
}

/// Runs an async test body once per engine: `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_engines {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let app = $crate::harness::TestApp::start($crate::harness::Engine::Sqlite).await.unwrap();
                super::$case(&app).await;
            }

            #[tokio::test]
            async fn postgres() {
                match $crate::harness::TestApp::start($crate::harness::Engine::Postgres).await {
                    Some(app) => super::$case(&app).await,
                    None => eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set"),
                }
            }
        }
    )+};
}

/// The shipped policy under another label: a document every policy route accepts.
pub fn policy(label: &str) -> Value {
    let mut policy: Value =
        serde_json::from_str(include_str!("../../../tollgate-core/policies/default.json")).unwrap();
    policy["version"] = Value::String(label.to_owned());
    policy
}

/// The shipped playbook under another label: a document every playbook route accepts.
pub fn playbook(label: &str) -> Value {
    let mut playbook: Value = serde_json::from_str(include_str!(
        "../../../tollgate-core/policies/playbook-default.json"
    ))
    .unwrap();
    playbook["version"] = Value::String(label.to_owned());
    playbook
}

/// Every operation `/openapi.json` documents, as `METHOD /path`.
pub async fn documented_routes(app: &TestApp) -> std::collections::BTreeSet<String> {
    let (status, doc) = send(app.request(Method::GET, "/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let methods = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .filter(|method| methods.contains(&method.as_str()))
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect()
}
