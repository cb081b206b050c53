//! A fake Partner Center for tests (cargo feature `testing`): an axum server on a local port
//! that follows the documented shapes — token endpoint, subscriptions with etags, Azure
//! entitlements, fraud events with both kinds of paging, usage budgets, a signing certificate
//! for webhooks — records every request, and answers scripted failures first.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{RSA_PKCS1_SHA256, RsaKeyPair},
};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use super::{
    PartnerCenterAuth, PartnerCenterConfig, TokenAudience, fields,
    webhook::{CERTIFICATE_URL_HEADER, SIGNATURE_ALGORITHM_HEADER, WebhookConfig},
};
use crate::Secret;

pub const FAKE_CLIENT_ID: &str = "tollgate-test-app";
pub const FAKE_CLIENT_SECRET: &str = "tollgate-test-secret";
/// The refresh token the fake accepts first; each use rotates it, as Entra ID may.
pub const FAKE_REFRESH_TOKEN: &str = "user-refresh-0";
/// The organization in the fake signing certificate's subject.
pub const FAKE_CERTIFICATE_ORGANIZATION: &str = "Microsoft Corporation";

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct FakeReply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<String>,
}

impl FakeReply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            body: String::new(),
            retry_after: None,
        }
    }

    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            retry_after: None,
        }
    }

    /// Partner Center's error body.
    pub fn error(status: u16, code: i64, description: &str) -> Self {
        Self::json(
            status,
            json!({"code": code, "description": description, "source": "PartnerFD"}),
        )
    }

    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `application/x-www-form-urlencoded` body as pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        form_pairs(&self.body)
    }
}

/// Signs webhook bodies as Partner Center does, with its own RSA key and self-signed
/// certificate.
pub struct WebhookSigner {
    key: RsaKeyPair,
    certificate_der: Vec<u8>,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSigner").finish_non_exhaustive()
    }
}

impl WebhookSigner {
    /// A new 2048-bit key and a certificate for it with `organization` in the subject.
    pub fn generate(organization: &str) -> Self {
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
            .expect("RSA key generation works with aws-lc-rs");
        let mut params = rcgen::CertificateParams::new(vec![
            "pcnotifications-dispatch.microsoft.com".to_owned(),
        ])
        .expect("a valid DNS name");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, organization);
        let certificate = params.self_signed(&key_pair).expect("self-signing works");
        let key = RsaKeyPair::from_pkcs8(&key_pair.serialize_der()).expect("rcgen's PKCS#8 reads");
        Self {
            key,
            certificate_der: certificate.der().to_vec(),
        }
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `body`.
    pub fn sign(&self, body: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                body,
                &mut signature,
            )
            .expect("signing works");
        signature
    }

    /// The headers Partner Center sends with a webhook.
    pub fn headers(&self, body: &[u8], certificate_url: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let signature = format!("Signature {}", STANDARD.encode(self.sign(body)));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&signature).expect("base64"),
        );
        headers.insert(
            CERTIFICATE_URL_HEADER,
            HeaderValue::from_str(certificate_url).expect("a URL"),
        );
        headers.insert(
            SIGNATURE_ALGORITHM_HEADER,
            HeaderValue::from_static("rsa-sha256"),
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }
}

#[derive(Default)]
struct Data {
    refresh_token: String,
    token_lifetime: Value,
    app_tokens: Vec<String>,
    user_tokens: Vec<String>,
    injected: VecDeque<(Method, String, FakeReply)>,
    received: Vec<Recorded>,
    subscriptions: HashMap<(String, String), Value>,
    etag_counter: u64,
    fraud_events: Vec<Value>,
    continuation_page_size: Option<usize>,
    budgets: HashMap<String, Value>,
    resources: HashMap<String, Value>,
}

struct Shared {
    data: Mutex<Data>,
    signer: WebhookSigner,
}

impl Shared {
    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The fake. Dropping it does not stop the server; it lives as long as the test runtime.
pub struct FakePartnerCenter {
    base_url: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakePartnerCenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePartnerCenter")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

const CERTIFICATE_PATH: &str = "/cert/pcnotifications-dispatch.microsoft.com.cer";

impl FakePartnerCenter {
    /// Starts on a free local port.
    pub async fn start() -> Self {
        let data = Data {
            refresh_token: FAKE_REFRESH_TOKEN.to_owned(),
            token_lifetime: json!("3600"),
            ..Data::default()
        };
        let shared = Arc::new(Shared {
            data: Mutex::new(data),
            signer: WebhookSigner::generate(FAKE_CERTIFICATE_ORGANIZATION),
        });
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free local port");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, shared }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The fake's v1-style token endpoint (`…/oauth2/token`).
    pub fn token_url(&self) -> String {
        format!("{}/tenant/oauth2/token", self.base_url)
    }

    pub fn certificate_url(&self) -> String {
        format!("{}{CERTIFICATE_PATH}", self.base_url)
    }

    /// App credentials and the refresh token the fake accepts.
    pub fn auth(&self) -> PartnerCenterAuth {
        PartnerCenterAuth {
            token_url: self.token_url(),
            audience: TokenAudience::Resource(super::PARTNER_CENTER_RESOURCE.to_owned()),
            client_id: FAKE_CLIENT_ID.to_owned(),
            client_secret: Secret::new(FAKE_CLIENT_SECRET),
            user_refresh_token: Some(Secret::new(FAKE_REFRESH_TOKEN)),
            refresh_margin: std::time::Duration::from_secs(300),
        }
    }

    /// A client configuration pointing at the fake.
    pub fn config(&self) -> PartnerCenterConfig {
        let mut config = PartnerCenterConfig::new(self.auth());
        config.api_base = self.base_url.clone();
        config
    }

    /// A webhook configuration that trusts the fake's certificate URL (over plain HTTP).
    pub fn webhook_config(&self) -> WebhookConfig {
        WebhookConfig {
            allowed_certificate_hosts: vec![self.base_url.trim_start_matches("http://").to_owned()],
            allow_http: true,
            expected_organization: Some(FAKE_CERTIFICATE_ORGANIZATION.to_owned()),
            ..WebhookConfig::default()
        }
    }

    pub fn signer(&self) -> &WebhookSigner {
        &self.shared.signer
    }

    /// The headers of a webhook delivery of `body`, signed by the fake.
    pub fn sign_webhook(&self, body: &[u8]) -> HeaderMap {
        self.shared.signer.headers(body, &self.certificate_url())
    }

    /// Answers the next `method` request to `path` with `reply`, before any normal handling
    /// (after the bearer token check). Replies for one path are used in order.
    pub fn inject(&self, method: Method, path: &str, reply: FakeReply) {
        self.shared
            .data()
            .injected
            .push_back((method, path.to_owned(), reply));
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.shared.data().received.clone()
    }

    /// The requests with `method` whose path is `path`.
    pub fn received_at(&self, method: Method, path: &str) -> Vec<Recorded> {
        self.received()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Token requests so far.
    pub fn token_requests(&self) -> Vec<Recorded> {
        self.received()
            .into_iter()
            .filter(|r| r.path.ends_with("/oauth2/token"))
            .collect()
    }

    /// `expires_in` as the token endpoint sends it (a string by default, as v1 does).
    pub fn set_token_lifetime(&self, expires_in: Value) {
        self.shared.data().token_lifetime = expires_in;
    }

    pub fn put_subscription(&self, customer_id: &str, subscription_id: &str, status: &str) {
        let mut data = self.shared.data();
        data.etag_counter += 1;
        let resource = json!({
            "id": subscription_id,
            "offerId": "CFQ7TTC0LH18:0001",
            "offerName": "Microsoft 365 Business Basic",
            "quantity": 10,
            "unitType": "Licenses",
            "status": status,
            "autoRenewEnabled": true,
            "billingCycle": "monthly",
            "attributes": {"etag": format!("etag-{}", data.etag_counter), "objectType": "Subscription"}
        });
        data.subscriptions.insert(
            (customer_id.to_owned(), subscription_id.to_owned()),
            resource,
        );
    }

    pub fn subscription(&self, customer_id: &str, subscription_id: &str) -> Option<Value> {
        self.shared
            .data()
            .subscriptions
            .get(&(customer_id.to_owned(), subscription_id.to_owned()))
            .cloned()
    }

    /// The fraud events served, as raw JSON (malformed ones included).
    pub fn set_fraud_events(&self, events: Vec<Value>) {
        self.shared.data().fraud_events = events;
    }

    pub fn fraud_events(&self) -> Vec<Value> {
        self.shared.data().fraud_events.clone()
    }

    /// Serves fraud events without `PageSize` as collections of `size` items with
    /// continuation links; without this, all in one array.
    pub fn page_fraud_events_by_continuation(&self, size: usize) {
        self.shared.data().continuation_page_size = Some(size);
    }

    pub fn put_budget(&self, customer_id: &str, amount: Value) {
        self.shared.data().budgets.insert(
            customer_id.to_owned(),
            json!({"amount": amount, "attributes": {"objectType": "SpendingBudget"}}),
        );
    }

    pub fn budget(&self, customer_id: &str) -> Option<Value> {
        self.shared.data().budgets.get(customer_id).cloned()
    }

    /// A resource served at `path` (for webhooks' resource URIs).
    pub fn put_resource(&self, path: &str, resource: Value) {
        self.shared
            .data()
            .resources
            .insert(path.to_owned(), resource);
    }
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(body);
    reqwest::Url::parse(&format!("http://form.invalid/?{body}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn reply(reply: FakeReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = reply
        .retry_after
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::RETRY_AFTER, value);
    }
    response
}

fn ok(body: Value) -> Response {
    reply(FakeReply::json(200, body))
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let recorded = Recorded {
        method: method.clone(),
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        headers: headers.clone(),
        body: body.to_vec(),
    };
    let mut data = shared.data();
    data.received.push(recorded.clone());
    if path == CERTIFICATE_PATH {
        return (StatusCode::OK, shared.signer.certificate_der.clone()).into_response();
    }
    if path.ends_with("/oauth2/token") && method == Method::POST {
        return token(&mut data, &recorded);
    }
    let bearer = recorded
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let user = data.user_tokens.contains(&bearer);
    if !user && !data.app_tokens.contains(&bearer) {
        return reply(FakeReply::error(401, 900_401, "Unauthorized"));
    }
    let position = data
        .injected
        .iter()
        .position(|(m, p, _)| *m == method && *p == path);
    if let Some(position) = position
        && let Some((_, _, injected)) = data.injected.remove(position)
    {
        return reply(injected);
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["v1", "customers", customer, "subscriptions", id]) => data
            .subscriptions
            .get(&(customer.to_string(), id.to_string()))
            .cloned()
            .map_or_else(
                || reply(FakeReply::error(404, 800_002, "Subscription not found")),
                ok,
            ),
        (&Method::PATCH, ["v1", "customers", customer, "subscriptions", id]) => {
            patch_subscription(&mut data, customer, id, &recorded)
        }
        (
            &Method::POST,
            [
                "v1",
                "customers",
                _,
                "subscriptions",
                _,
                "azureEntitlements",
                _,
                "cancel" | "reactivate",
            ],
        ) => reply(FakeReply::status(202)),
        (&Method::GET, ["v1", "fraudEvents"]) if user => list_fraud_events(&data, &recorded),
        (&Method::POST, ["v1", "fraudEvents", "subscription", id, "status"]) if user => {
            update_fraud_events(&mut data, id, &recorded)
        }
        (_, ["v1", "fraudEvents", ..]) => reply(FakeReply::error(
            403,
            900_403,
            "This API needs App+User credentials",
        )),
        (&Method::GET, ["v1", "customers", customer, "usagebudget"]) => {
            ok(data.budgets.get(*customer).cloned().unwrap_or_else(
                || json!({"amount": null, "attributes": {"objectType": "SpendingBudget"}}),
            ))
        }
        (&Method::PATCH, ["v1", "customers", customer, "usagebudget"]) => {
            let body = recorded.json();
            let amount = body
                .as_object()
                .and_then(|body| fields::get(body, "amount"))
                .cloned()
                .unwrap_or(Value::Null);
            let budget = json!({"amount": amount, "attributes": {"objectType": "SpendingBudget"}});
            data.budgets.insert(customer.to_string(), budget.clone());
            ok(budget)
        }
        (&Method::GET, _) => data
            .resources
            .get(&path)
            .cloned()
            .map_or_else(|| reply(FakeReply::error(404, 404, "Not found")), ok),
        _ => reply(FakeReply::error(404, 404, "No such route")),
    }
}

fn token(data: &mut Data, request: &Recorded) -> Response {
    let form: HashMap<String, String> = request.form().into_iter().collect();
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("client_id") != Some(FAKE_CLIENT_ID)
        || field("client_secret") != Some(FAKE_CLIENT_SECRET)
    {
        return reply(FakeReply::json(
            401,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
        ));
    }
    let lifetime = data.token_lifetime.clone();
    match field("grant_type") {
        Some("client_credentials") => {
            let token = format!("app-token-{}", data.app_tokens.len() + 1);
            data.app_tokens.push(token.clone());
            ok(json!({"token_type": "Bearer", "expires_in": lifetime, "access_token": token}))
        }
        Some("refresh_token") if field("refresh_token") == Some(data.refresh_token.as_str()) => {
            let token = format!("user-token-{}", data.user_tokens.len() + 1);
            data.user_tokens.push(token.clone());
            data.refresh_token = format!("user-refresh-{}", data.user_tokens.len());
            ok(json!({
                "token_type": "Bearer", "expires_in": lifetime, "access_token": token,
                "refresh_token": data.refresh_token
            }))
        }
        _ => reply(FakeReply::json(
            400,
            json!({"error": "invalid_grant", "error_description": "AADSTS70000: The provided grant is invalid."}),
        )),
    }
}

fn patch_subscription(data: &mut Data, customer: &str, id: &str, request: &Recorded) -> Response {
    let key = (customer.to_owned(), id.to_owned());
    let Some(current) = data.subscriptions.get(&key).cloned() else {
        return reply(FakeReply::error(404, 800_002, "Subscription not found"));
    };
    if request.header("if-match") != current["attributes"]["etag"].as_str() {
        return reply(FakeReply::error(412, 800_412, "The etag does not match"));
    }
    let Some(status) = request
        .json()
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return reply(FakeReply::error(400, 800_400, "status is required"));
    };
    data.etag_counter += 1;
    let mut updated = current;
    updated["status"] = json!(status);
    updated["attributes"]["etag"] = json!(format!("etag-{}", data.etag_counter));
    data.subscriptions.insert(key, updated.clone());
    ok(updated)
}

fn query_pairs(request: &Recorded) -> HashMap<String, String> {
    form_pairs(request.query.as_deref().unwrap_or_default().as_bytes())
        .into_iter()
        .collect()
}

fn event_text(event: &Value, name: &str) -> Option<String> {
    event
        .as_object()
        .and_then(|object| fields::get(object, name))
        .and_then(|value| fields::text(value).ok())
}

fn list_fraud_events(data: &Data, request: &Recorded) -> Response {
    let query = query_pairs(request);
    let matches = |event: &Value, name: &str, filter: Option<&String>| {
        filter.is_none_or(|wanted| {
            event_text(event, name).is_some_and(|value| value.eq_ignore_ascii_case(wanted))
        })
    };
    let events: Vec<Value> = data
        .fraud_events
        .iter()
        .filter(|event| matches(event, "eventStatus", query.get("EventStatus")))
        .filter(|event| matches(event, "subscriptionId", query.get("SubscriptionId")))
        .cloned()
        .collect();
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<usize>().ok());
    if let (Some(size), Some(page)) = (number("PageSize"), number("PageNumber")) {
        let start = size.saturating_mul(page.saturating_sub(1));
        return ok(Value::Array(
            events.into_iter().skip(start).take(size).collect(),
        ));
    }
    let Some(size) = data.continuation_page_size else {
        return ok(Value::Array(events));
    };
    let offset = request
        .header("ms-continuationtoken")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let total = events.len();
    let items: Vec<Value> = events.into_iter().skip(offset).take(size).collect();
    let mut body =
        json!({"totalCount": total, "items": items, "attributes": {"objectType": "Collection"}});
    if offset + size < total {
        let query = request
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        body["links"] = json!({"next": {
            "uri": format!("/v1/fraudEvents{query}"),
            "method": "GET",
            "headers": [{"key": "MS-ContinuationToken", "value": (offset + size).to_string()}]
        }});
    }
    ok(body)
}

fn update_fraud_events(data: &mut Data, subscription_id: &str, request: &Recorded) -> Response {
    let body = request.json();
    let Some(status) = body.get("EventStatus").and_then(Value::as_str) else {
        return reply(FakeReply::error(400, 400, "EventStatus is required"));
    };
    let ids: Vec<String> = body
        .get("EventIds")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let reason = body.get("ResolvedReason").cloned().unwrap_or(json!("None"));
    let mut updated = Vec::new();
    for event in &mut data.fraud_events {
        let of_subscription =
            event_text(event, "subscriptionId").as_deref() == Some(subscription_id);
        let chosen =
            ids.is_empty() || event_text(event, "eventId").is_some_and(|id| ids.contains(&id));
        if of_subscription && chosen && event.is_object() {
            event["eventStatus"] = json!(status);
            event["resolvedReason"] = reason.clone();
            updated.push(event.clone());
        }
    }
    ok(Value::Array(updated))
}
