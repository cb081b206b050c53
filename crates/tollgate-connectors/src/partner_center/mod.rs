//! Microsoft Partner Center, the CSP vendor API: the [`PartnerCenter`] trait and
//! [`HttpPartnerCenter`], which speaks its REST API (contract summary with links in
//! `docs/connectors/partner-center.md`). Webhook verification is in [`webhook`]; a fake
//! Partner Center for tests is in `testing` (cargo feature `testing`).
//!
//! Every call sends `MS-RequestId` (Partner Center's idempotency key; the same for every retry
//! of one logical request) and `MS-CorrelationId`, is retried on 429/5xx under the
//! [`Retrier`], passes a [`CircuitBreaker`], and reports each attempt back as a [`PcAttempt`].

mod auth;
pub mod breaker;
mod fields;
pub mod fraud;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

use std::{fmt, str::FromStr};

use reqwest::{Method, StatusCode, Url, header::ACCEPT};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tollgate_core::{Currency, Money};
use uuid::Uuid;

pub use auth::{PARTNER_CENTER_RESOURCE, PARTNER_CENTER_SCOPE, PartnerCenterAuth, TokenAudience};
pub use breaker::{BreakerPolicy, BreakerState, CircuitBreaker};
pub use fraud::{
    FraudEvent, FraudEventEntry, FraudEventQuery, FraudEventStatus, FraudEventTarget,
    FraudEventUpdate, ResolvedReason,
};

use self::{auth::Grant, breaker::CallResult};
use crate::{
    BoxFuture, ConfigError, HttpTimeouts,
    http::{self, HttpFailure, Refusal},
    retry::{Attempt, AttemptError, AttemptOutcome, ConnectorError, Retrier},
};

/// Production base URL of the Partner Center REST API.
pub const PARTNER_CENTER_API_BASE: &str = "https://api.partnercenter.microsoft.com";
/// Asks `GET /v1/fraudEvents` for the new events model (event types, paging).
pub const NEW_EVENTS_MODEL_HEADER: &str = "X-NewEventsModel";

/// The ids one logical operation is sent under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallIds {
    /// Sent as `MS-RequestId` on the operation's first write (or its first read, for reads)
    /// and on every retry of it; Partner Center treats it as the idempotency key, so pass an
    /// id that survives a restart (an outbox action's id).
    pub request_id: Uuid,
    /// Sent as `MS-CorrelationId` on every request of the operation.
    pub correlation_id: Uuid,
}

impl CallIds {
    pub fn new(request_id: Uuid, correlation_id: Uuid) -> Self {
        Self {
            request_id,
            correlation_id,
        }
    }

    /// The `MS-RequestId` of the operation's other requests (reads before a write, further
    /// pages, a write after an etag conflict): derived from `request_id` rather than random,
    /// so replaying the operation replays the same ids.
    pub fn derived(&self, step: &str) -> Uuid {
        let digest = Sha256::new()
            .chain_update(self.request_id.as_bytes())
            .chain_update(step.as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::new_v8(bytes)
    }
}

/// One try at one request of an operation, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcAttempt {
    /// Method and path, e.g. `PATCH /v1/customers/…/subscriptions/…`.
    pub request: String,
    /// The `MS-RequestId` sent; `None` for the identity platform's token endpoint.
    pub request_id: Option<Uuid>,
    pub attempt: Attempt,
}

/// A result and every attempt it took.
#[derive(Debug, Clone, PartialEq)]
pub struct PcOutcome<T> {
    pub value: T,
    pub attempts: Vec<PcAttempt>,
}

/// A failure and every attempt made before it.
#[derive(Debug)]
pub struct PartnerCenterError {
    pub kind: PcErrorKind,
    pub attempts: Vec<PcAttempt>,
}

impl fmt::Display for PartnerCenterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (attempts: {})", self.kind, self.attempts.len())
    }
}

impl std::error::Error for PartnerCenterError {}

pub type PcResult<T> = Result<PcOutcome<T>, PartnerCenterError>;

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcErrorKind {
    #[error("Partner Center refused the credentials: {0}")]
    Unauthorized(PcApiError),
    #[error("the identity platform refused to issue a token: {0}")]
    TokenRejected(PcApiError),
    #[error("this operation needs app+user credentials and no refresh token is configured")]
    UserCredentialsMissing,
    #[error("Partner Center does not know the resource: {0}")]
    NotFound(PcApiError),
    /// 412: the `If-Match` etag is stale.
    #[error("the resource changed since it was read: {0}")]
    PreconditionFailed(PcApiError),
    /// The resource kept changing between read and write.
    #[error("the resource kept changing under the update ({rounds} tries): {error}")]
    EtagConflict { rounds: u32, error: PcApiError },
    /// Any other 4xx: the request is wrong, so it is not retried.
    #[error("Partner Center rejected the request: {0}")]
    Rejected(PcApiError),
    #[error("Partner Center is rate limiting: {0}")]
    RateLimited(PcApiError),
    #[error("Partner Center failed: {0}")]
    ServerError(PcApiError),
    #[error("no answer from Partner Center within the timeout")]
    Timeout,
    #[error("Partner Center is unreachable: {0}")]
    Unreachable(String),
    #[error("Partner Center's answer does not follow its contract: {0}")]
    Malformed(String),
    /// Refused without sending: too many calls failed in a row.
    #[error("the Partner Center circuit breaker is open")]
    CircuitOpen {
        /// When the breaker lets a probe through; `None` while a probe is under way.
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// A resource URI (from a webhook or a next link) outside the configured API base.
    #[error("`{0}` is not on the configured Partner Center API")]
    ForeignResource(String),
}

impl AttemptError for PcErrorKind {
    fn outcome(&self) -> AttemptOutcome {
        match self {
            Self::Unauthorized(_) | Self::TokenRejected(_) | Self::UserCredentialsMissing => {
                AttemptOutcome::Unauthorized
            }
            Self::RateLimited(_) => AttemptOutcome::RateLimited,
            Self::ServerError(_) => AttemptOutcome::ServerError,
            Self::Timeout => AttemptOutcome::Timeout,
            Self::Unreachable(_) => AttemptOutcome::Unreachable,
            Self::Malformed(_) => AttemptOutcome::Malformed,
            Self::NotFound(_)
            | Self::PreconditionFailed(_)
            | Self::EtagConflict { .. }
            | Self::Rejected(_)
            | Self::CircuitOpen { .. }
            | Self::ForeignResource(_) => AttemptOutcome::Rejected,
        }
    }
}

impl HttpFailure for PcErrorKind {
    fn timeout() -> Self {
        Self::Timeout
    }

    fn unreachable(why: String) -> Self {
        Self::Unreachable(why)
    }

    fn refused(refusal: Refusal, status: StatusCode, body: &[u8]) -> Self {
        let error = PcApiError::from_answer(status, body);
        match (refusal, status) {
            (_, StatusCode::NOT_FOUND) => Self::NotFound(error),
            (_, StatusCode::PRECONDITION_FAILED) => Self::PreconditionFailed(error),
            (Refusal::Unauthorized, _) => Self::Unauthorized(error),
            (Refusal::RateLimited, _) => Self::RateLimited(error),
            (Refusal::ServerError, _) => Self::ServerError(error),
            (Refusal::Rejected, _) => Self::Rejected(error),
        }
    }
}

/// Partner Center's error body (`{"code": 600, "description": "…", "errorName": …}`) or the
/// identity platform's (`{"error": "invalid_client", "error_description": "…"}`); any other
/// body keeps the HTTP status and its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcApiError {
    pub status: u16,
    pub code: Option<String>,
    pub message: String,
}

impl PcApiError {
    fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        let object = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let read = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| fields::get(&object, name).and_then(|v| fields::text(v).ok()))
        };
        let code = read(&["code", "errorName", "error"]);
        let message = read(&["description", "message", "error_description"])
            .unwrap_or_else(|| http::snippet(body));
        Self {
            status: status.as_u16(),
            code,
            message,
        }
    }
}

impl fmt::Display for PcApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, ", {code}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The status to put a subscription in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionTarget {
    Suspended,
    Active,
    /// Cancelled. Partner Center accepts it only inside the offer's cancellation window (new
    /// commerce: days after purchase or renewal) and answers an error after it.
    Deleted,
}

impl SubscriptionTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspended => "suspended",
            Self::Active => "active",
            Self::Deleted => "deleted",
        }
    }
}

/// Suspend, reactivate or cancel one subscription of one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    /// The customer's tenant id.
    pub customer_id: String,
    pub subscription_id: String,
    pub target: SubscriptionTarget,
}

/// A subscription as Partner Center returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    /// As sent (`active`, `suspended`, `deleted`, …).
    pub status: String,
    pub etag: Option<String>,
    pub raw: Value,
}

impl Subscription {
    fn from_resource(raw: Value) -> Result<Self, PcErrorKind> {
        let malformed = |e: String| PcErrorKind::Malformed(format!("subscription: {e}"));
        let object = raw.as_object().ok_or_else(|| {
            malformed(format!("expected an object, found {}", fields::kind(&raw)))
        })?;
        let required = |name: &str| {
            fields::opt_text(object, name)
                .map_err(malformed)?
                .ok_or_else(|| malformed(format!("{name} is missing")))
        };
        Ok(Self {
            id: required("id")?,
            status: required("status")?,
            etag: etag(object),
            raw: raw.clone(),
        })
    }
}

/// Partner Center resources carry their etag in `attributes.etag`.
fn etag(object: &Map<String, Value>) -> Option<String> {
    fields::get(object, "attributes")
        .and_then(Value::as_object)
        .and_then(|attributes| fields::get(attributes, "etag"))
        .or_else(|| fields::get(object, "etag"))
        .and_then(|v| fields::text(v).ok())
}

/// An Azure plan entitlement (an Azure subscription under an Azure plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureEntitlementRef {
    pub customer_id: String,
    /// The Azure plan subscription.
    pub subscription_id: String,
    /// The Azure subscription's id.
    pub entitlement_id: String,
}

/// All pages of fraud events that were read.
#[derive(Debug, Clone, PartialEq)]
pub struct FraudEvents {
    pub entries: Vec<FraudEventEntry>,
    /// `false` when the page limit stopped the reading before Partner Center ran out.
    pub complete: bool,
}

/// A customer's usage spending budget (`spendingBudget`); `amount` is `None` when none is set.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageBudget {
    pub amount: Option<Money>,
    pub raw: Value,
}

/// The operations Tollgate performs at Partner Center.
pub trait PartnerCenter: Send + Sync {
    /// Reads the subscription and, unless it already has the target status, writes it back
    /// with the new status under `If-Match`, re-reading after an etag conflict.
    fn change_subscription(
        &self,
        ids: CallIds,
        change: SubscriptionChange,
    ) -> BoxFuture<'_, PcResult<Subscription>>;

    /// `POST …/azureEntitlements/{id}/cancel`, with `cancellationReason` when given.
    fn cancel_azure_entitlement(
        &self,
        ids: CallIds,
        entitlement: AzureEntitlementRef,
        reason: Option<String>,
    ) -> BoxFuture<'_, PcResult<()>>;

    /// `POST …/azureEntitlements/{id}/reactivate`.
    fn reactivate_azure_entitlement(
        &self,
        ids: CallIds,
        entitlement: AzureEntitlementRef,
    ) -> BoxFuture<'_, PcResult<()>>;

    /// `GET /v1/fraudEvents`, every page up to the configured limit (app+user credentials).
    fn fraud_events(
        &self,
        ids: CallIds,
        query: FraudEventQuery,
    ) -> BoxFuture<'_, PcResult<FraudEvents>>;

    /// `POST /v1/fraudEvents/subscription/{id}/status` (app+user credentials); returns the
    /// events Partner Center sends back.
    fn update_fraud_events(
        &self,
        ids: CallIds,
        update: FraudEventUpdate,
    ) -> BoxFuture<'_, PcResult<Vec<FraudEventEntry>>>;

    /// `GET /v1/customers/{id}/usagebudget`; the amount is read in `currency`, the
    /// customer's billing currency (the resource does not name it).
    fn usage_budget(
        &self,
        ids: CallIds,
        customer_id: String,
        currency: Currency,
    ) -> BoxFuture<'_, PcResult<UsageBudget>>;

    /// `PATCH /v1/customers/{id}/usagebudget`.
    fn set_usage_budget(
        &self,
        ids: CallIds,
        customer_id: String,
        amount: Money,
    ) -> BoxFuture<'_, PcResult<UsageBudget>>;

    /// `GET` on a resource a webhook pointed to; refused without a request unless it is on
    /// the configured API base.
    fn fetch_resource(&self, ids: CallIds, resource_uri: String) -> BoxFuture<'_, PcResult<Value>>;
}

/// How [`HttpPartnerCenter`] reaches Partner Center.
#[derive(Debug, Clone)]
pub struct PartnerCenterConfig {
    /// [`PARTNER_CENTER_API_BASE`] in production; tests point it at a fake.
    pub api_base: String,
    pub auth: PartnerCenterAuth,
    pub timeouts: HttpTimeouts,
    pub breaker: BreakerPolicy,
    /// Sends [`NEW_EVENTS_MODEL_HEADER`] with the fraud event calls.
    pub new_events_model: bool,
    /// Re-reads after an etag conflict before giving up.
    pub etag_retries: u32,
    /// Pages of fraud events read at most per call.
    pub max_fraud_event_pages: u32,
}

impl PartnerCenterConfig {
    /// Production URL, default timeouts and breaker.
    pub fn new(auth: PartnerCenterAuth) -> Self {
        Self {
            api_base: PARTNER_CENTER_API_BASE.to_owned(),
            auth,
            timeouts: HttpTimeouts::default(),
            breaker: BreakerPolicy::default(),
            new_events_model: true,
            etag_retries: 2,
            max_fraud_event_pages: 50,
        }
    }
}

/// One request of an operation.
struct Req<'a> {
    method: Method,
    url: Url,
    grant: Grant,
    request_id: Uuid,
    headers: Vec<(String, String)>,
    body: Option<&'a Value>,
}

impl Req<'_> {
    fn new(method: Method, url: Url, grant: Grant, request_id: Uuid) -> Self {
        Self {
            method,
            url,
            grant,
            request_id,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// [`PartnerCenter`] over the Partner Center REST API.
#[derive(Debug)]
pub struct HttpPartnerCenter {
    client: reqwest::Client,
    api: Url,
    config: PartnerCenterConfig,
    retrier: Retrier,
    breaker: CircuitBreaker,
    tokens: auth::Tokens,
}

impl HttpPartnerCenter {
    pub fn new(config: PartnerCenterConfig, retrier: Retrier) -> Result<Self, ConfigError> {
        Ok(Self {
            client: http::client(config.timeouts)?,
            api: http::endpoint(&config.api_base, &[])?,
            breaker: CircuitBreaker::new(config.breaker),
            tokens: auth::Tokens::new(config.auth.clone())?,
            config,
            retrier,
        })
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state(self.retrier.now())
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `uri` (absolute, or a path) as a URL on the API base. An absolute URI must name the
    /// API's host and port and lie under its path; it is then sent with the base's scheme,
    /// so a webhook cannot steer the call (and the bearer token) anywhere else.
    fn on_api(&self, uri: &str) -> Result<Url, PcErrorKind> {
        let foreign = || PcErrorKind::ForeignResource(uri.to_owned());
        let prefix = self.api.path().trim_end_matches('/');
        let parsed = if uri.starts_with('/') && !uri.starts_with("//") {
            let mut base = self.api.clone();
            base.set_path("");
            Url::parse(&format!(
                "{}{prefix}{uri}",
                base.as_str().trim_end_matches('/')
            ))
        } else {
            Url::parse(uri)
        }
        .map_err(|_| foreign())?;
        let same_host = parsed.host_str().is_some_and(|host| {
            self.api
                .host_str()
                .is_some_and(|api| api.eq_ignore_ascii_case(host))
        });
        let same_port = parsed.port_or_known_default() == self.api.port_or_known_default()
            || (parsed.port().is_none() && self.api.port().is_none());
        let under = parsed.path() == prefix || parsed.path().starts_with(&format!("{prefix}/"));
        if !matches!(parsed.scheme(), "http" | "https")
            || !same_host
            || !same_port
            || !under
            || !parsed.username().is_empty()
        {
            return Err(foreign());
        }
        let mut url = self.api.clone();
        url.set_path(parsed.path());
        url.set_query(parsed.query());
        Ok(url)
    }

    /// Sends one request under the breaker and the retrier, with a token, and appends its
    /// attempts to `log`. A 401 with a cached token is retried once with a new token.
    async fn exchange<T>(
        &self,
        log: &mut Vec<PcAttempt>,
        ids: CallIds,
        req: &Req<'_>,
        decode: impl Fn(&[u8]) -> Result<T, PcErrorKind>,
    ) -> Result<T, PcErrorKind> {
        self.breaker
            .admit(self.retrier.now())
            .map_err(|until| PcErrorKind::CircuitOpen { until })?;
        let label = format!("{} {}", req.method, req.url.path());
        let mut renewed = false;
        loop {
            let token = match self
                .tokens
                .get(req.grant, &self.client, &self.retrier, log)
                .await
            {
                Ok(token) => token,
                Err(error) => {
                    self.breaker.record(CallResult::NotSent, self.retrier.now());
                    return Err(error);
                }
            };
            let build = || {
                let mut builder = self
                    .client
                    .request(req.method.clone(), req.url.clone())
                    .bearer_auth(token.secret.expose())
                    .header(ACCEPT, "application/json")
                    .header("MS-RequestId", req.request_id.to_string())
                    .header("MS-CorrelationId", ids.correlation_id.to_string());
                for (name, value) in &req.headers {
                    builder = builder.header(name.as_str(), value.as_str());
                }
                match req.body {
                    Some(body) => builder.json(body),
                    None => builder,
                }
            };
            let result = http::call(&self.retrier, build, &decode).await;
            let health = match &result {
                Err(error) if is_outage(&error.kind) => CallResult::Failed,
                _ => CallResult::Healthy,
            };
            match settle(log, &label, Some(req.request_id), result) {
                Err(PcErrorKind::Unauthorized(_)) if token.cached && !renewed => {
                    self.tokens.forget(req.grant).await;
                    renewed = true;
                }
                other => {
                    self.breaker.record(health, self.retrier.now());
                    return other;
                }
            }
        }
    }

    async fn change(
        &self,
        log: &mut Vec<PcAttempt>,
        ids: CallIds,
        change: &SubscriptionChange,
    ) -> Result<Subscription, PcErrorKind> {
        let url = self.url(&[
            "v1",
            "customers",
            &change.customer_id,
            "subscriptions",
            &change.subscription_id,
        ]);
        let rounds = self.config.etag_retries + 1;
        let mut round = 0;
        loop {
            let read = Req::new(
                Method::GET,
                url.clone(),
                Grant::App,
                ids.derived(&format!("read-{round}")),
            );
            let current = self.exchange(log, ids, &read, decode_json).await?;
            let subscription = Subscription::from_resource(current)?;
            if subscription
                .status
                .eq_ignore_ascii_case(change.target.as_str())
            {
                return Ok(subscription);
            }
            let etag = subscription
                .etag
                .clone()
                .ok_or_else(|| PcErrorKind::Malformed("subscription: no etag".into()))?;
            let mut resource = subscription.raw;
            set_status(&mut resource, change.target);
            let request_id = match round {
                0 => ids.request_id,
                _ => ids.derived(&format!("write-{round}")),
            };
            let mut write = Req::new(Method::PATCH, url.clone(), Grant::App, request_id);
            write.headers.push(("If-Match".into(), etag));
            write.body = Some(&resource);
            round += 1;
            match self.exchange(log, ids, &write, decode_json).await {
                Ok(updated) => return Subscription::from_resource(updated),
                Err(PcErrorKind::PreconditionFailed(_)) if round < rounds => {}
                Err(PcErrorKind::PreconditionFailed(error)) => {
                    return Err(PcErrorKind::EtagConflict { rounds, error });
                }
                Err(other) => return Err(other),
            }
        }
    }

    async fn entitlement(
        &self,
        log: &mut Vec<PcAttempt>,
        ids: CallIds,
        entitlement: &AzureEntitlementRef,
        action: &str,
        body: Option<Value>,
    ) -> Result<(), PcErrorKind> {
        let url = self.url(&[
            "v1",
            "customers",
            &entitlement.customer_id,
            "subscriptions",
            &entitlement.subscription_id,
            "azureEntitlements",
            &entitlement.entitlement_id,
            action,
        ]);
        let mut req = Req::new(Method::POST, url, Grant::App, ids.request_id);
        req.body = body.as_ref();
        self.exchange(log, ids, &req, |_| Ok(())).await
    }

    fn fraud_headers(&self) -> Vec<(String, String)> {
        match self.config.new_events_model {
            true => vec![(NEW_EVENTS_MODEL_HEADER.into(), "true".into())],
            false => Vec::new(),
        }
    }

    async fn read_fraud_events(
        &self,
        log: &mut Vec<PcAttempt>,
        ids: CallIds,
        query: &FraudEventQuery,
    ) -> Result<FraudEvents, PcErrorKind> {
        let first = |page_number: Option<u32>| {
            let mut url = self.url(&["v1", "fraudEvents"]);
            let pairs = query.pairs(page_number);
            if !pairs.is_empty() {
                url.query_pairs_mut().extend_pairs(pairs);
            }
            url
        };
        let mut page_number = query.page_size.map(|_| 1);
        let mut url = first(page_number);
        let mut headers = Vec::new();
        let mut entries = Vec::new();
        for page in 0..self.config.max_fraud_event_pages.max(1) {
            let request_id = match page {
                0 => ids.request_id,
                _ => ids.derived(&format!("page-{page}")),
            };
            let mut req = Req::new(Method::GET, url.clone(), Grant::User, request_id);
            req.headers = self.fraud_headers();
            req.headers.append(&mut headers);
            let parsed = self
                .exchange(log, ids, &req, |body| {
                    fraud::parse_page(body).map_err(PcErrorKind::Malformed)
                })
                .await?;
            let count = parsed.entries.len();
            entries.extend(parsed.entries);
            if let Some(next) = parsed.next {
                url = self.on_api(&next.uri)?;
                headers = next.headers;
            } else if let (Some(size), Some(number)) = (query.page_size, page_number)
                && count > 0
                && count >= usize::try_from(size).unwrap_or(usize::MAX)
            {
                page_number = Some(number + 1);
                url = first(page_number);
            } else {
                return Ok(FraudEvents {
                    entries,
                    complete: true,
                });
            }
        }
        Ok(FraudEvents {
            entries,
            complete: false,
        })
    }

    async fn write_fraud_events(
        &self,
        log: &mut Vec<PcAttempt>,
        ids: CallIds,
        update: &FraudEventUpdate,
    ) -> Result<Vec<FraudEventEntry>, PcErrorKind> {
        let url = self.url(&[
            "v1",
            "fraudEvents",
            "subscription",
            &update.subscription_id,
            "status",
        ]);
        let body = update.body();
        let mut req = Req::new(Method::POST, url, Grant::User, ids.request_id);
        req.headers = self.fraud_headers();
        req.body = Some(&body);
        self.exchange(log, ids, &req, |body| {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Vec::new());
            }
            fraud::parse_page(body)
                .map(|page| page.entries)
                .map_err(PcErrorKind::Malformed)
        })
        .await
    }

    async fn budget(
        &self,
        log: &mut Vec<PcAttempt>,
        ids: CallIds,
        customer_id: &str,
        write: Option<Money>,
        currency: Currency,
    ) -> Result<UsageBudget, PcErrorKind> {
        let url = self.url(&["v1", "customers", customer_id, "usagebudget"]);
        let body = match write {
            Some(money) => Some(json!({
                "amount": Value::Number(
                    serde_json::Number::from_str(&money.amount.normalize().to_string())
                        .map_err(|e| PcErrorKind::Malformed(format!("amount: {e}")))?
                ),
                "attributes": {"objectType": "SpendingBudget"}
            })),
            None => None,
        };
        let method = match body {
            Some(_) => Method::PATCH,
            None => Method::GET,
        };
        let mut req = Req::new(method, url, Grant::App, ids.request_id);
        req.body = body.as_ref();
        let raw = self.exchange(log, ids, &req, decode_json).await?;
        let malformed = |e: String| PcErrorKind::Malformed(format!("usage budget: {e}"));
        let object = raw
            .as_object()
            .ok_or_else(|| malformed("not an object".into()))?;
        let amount = fields::get(object, "amount")
            .map(|value| {
                let text = fields::text(value).map_err(malformed)?;
                let amount = Decimal::from_str(text.trim())
                    .or_else(|_| Decimal::from_scientific(text.trim()))
                    .map_err(|_| malformed(format!("amount `{text}` is not a number")))?;
                Money::new(amount, currency).map_err(|e| malformed(e.to_string()))
            })
            .transpose()?;
        Ok(UsageBudget { amount, raw })
    }
}

fn is_outage(kind: &PcErrorKind) -> bool {
    matches!(
        kind,
        PcErrorKind::ServerError(_)
            | PcErrorKind::RateLimited(_)
            | PcErrorKind::Timeout
            | PcErrorKind::Unreachable(_)
    )
}

/// Appends a call's attempts to `log` and keeps its value or error kind.
fn settle<T>(
    log: &mut Vec<PcAttempt>,
    request: &str,
    request_id: Option<Uuid>,
    result: Result<(T, Vec<Attempt>), ConnectorError<PcErrorKind>>,
) -> Result<T, PcErrorKind> {
    let (result, attempts) = match result {
        Ok((value, attempts)) => (Ok(value), attempts),
        Err(error) => (Err(error.kind), error.attempts),
    };
    log.extend(attempts.into_iter().map(|attempt| PcAttempt {
        request: request.to_owned(),
        request_id,
        attempt,
    }));
    result
}

fn decode_json(body: &[u8]) -> Result<Value, PcErrorKind> {
    serde_json::from_slice(body).map_err(|e| PcErrorKind::Malformed(e.to_string()))
}

/// Sets the status under the key the resource already uses (`status` or `Status`).
fn set_status(resource: &mut Value, target: SubscriptionTarget) {
    if let Some(object) = resource.as_object_mut() {
        let key = object
            .keys()
            .find(|key| key.eq_ignore_ascii_case("status"))
            .cloned()
            .unwrap_or_else(|| "status".to_owned());
        object.insert(key, json!(target.as_str()));
    }
}

/// Runs one operation with a fresh attempt log and packs the result.
async fn run<T, F>(operation: F) -> PcResult<T>
where
    F: AsyncFnOnce(&mut Vec<PcAttempt>) -> Result<T, PcErrorKind>,
{
    let mut attempts = Vec::new();
    match operation(&mut attempts).await {
        Ok(value) => Ok(PcOutcome { value, attempts }),
        Err(kind) => Err(PartnerCenterError { kind, attempts }),
    }
}

impl PartnerCenter for HttpPartnerCenter {
    fn change_subscription(
        &self,
        ids: CallIds,
        change: SubscriptionChange,
    ) -> BoxFuture<'_, PcResult<Subscription>> {
        Box::pin(async move { run(async |log| self.change(log, ids, &change).await).await })
    }

    fn cancel_azure_entitlement(
        &self,
        ids: CallIds,
        entitlement: AzureEntitlementRef,
        reason: Option<String>,
    ) -> BoxFuture<'_, PcResult<()>> {
        let body = reason.map(|reason| json!({"cancellationReason": reason}));
        Box::pin(async move {
            run(async |log| {
                self.entitlement(log, ids, &entitlement, "cancel", body)
                    .await
            })
            .await
        })
    }

    fn reactivate_azure_entitlement(
        &self,
        ids: CallIds,
        entitlement: AzureEntitlementRef,
    ) -> BoxFuture<'_, PcResult<()>> {
        Box::pin(async move {
            run(async |log| {
                self.entitlement(log, ids, &entitlement, "reactivate", None)
                    .await
            })
            .await
        })
    }

    fn fraud_events(
        &self,
        ids: CallIds,
        query: FraudEventQuery,
    ) -> BoxFuture<'_, PcResult<FraudEvents>> {
        Box::pin(
            async move { run(async |log| self.read_fraud_events(log, ids, &query).await).await },
        )
    }

    fn update_fraud_events(
        &self,
        ids: CallIds,
        update: FraudEventUpdate,
    ) -> BoxFuture<'_, PcResult<Vec<FraudEventEntry>>> {
        Box::pin(
            async move { run(async |log| self.write_fraud_events(log, ids, &update).await).await },
        )
    }

    fn usage_budget(
        &self,
        ids: CallIds,
        customer_id: String,
        currency: Currency,
    ) -> BoxFuture<'_, PcResult<UsageBudget>> {
        Box::pin(async move {
            run(async |log| self.budget(log, ids, &customer_id, None, currency).await).await
        })
    }

    fn set_usage_budget(
        &self,
        ids: CallIds,
        customer_id: String,
        amount: Money,
    ) -> BoxFuture<'_, PcResult<UsageBudget>> {
        Box::pin(async move {
            run(async |log| {
                self.budget(log, ids, &customer_id, Some(amount), amount.currency)
                    .await
            })
            .await
        })
    }

    fn fetch_resource(&self, ids: CallIds, resource_uri: String) -> BoxFuture<'_, PcResult<Value>> {
        Box::pin(async move {
            run(async |log| {
                let url = self.on_api(&resource_uri)?;
                let req = Req::new(Method::GET, url, Grant::App, ids.request_id);
                self.exchange(log, ids, &req, decode_json).await
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RetryPolicy, Secret};

    fn client(base: &str) -> HttpPartnerCenter {
        let mut config = PartnerCenterConfig::new(PartnerCenterAuth::v2(
            "partner.onmicrosoft.com",
            "app",
            Secret::new("s"),
        ));
        config.api_base = base.to_owned();
        HttpPartnerCenter::new(config, Retrier::new(RetryPolicy::default())).unwrap()
    }

    #[test]
    fn resource_uris_must_stay_on_the_api() {
        let pc = client("https://api.partnercenter.microsoft.com");
        for (uri, sent) in [
            (
                "https://api.partnercenter.microsoft.com/v1/customers/c/subscriptions/s",
                "https://api.partnercenter.microsoft.com/v1/customers/c/subscriptions/s",
            ),
            (
                "http://api.partnercenter.microsoft.com/webhooks/v1/registration/validationEvents/x",
                "https://api.partnercenter.microsoft.com/webhooks/v1/registration/validationEvents/x",
            ),
            (
                "/v1/fraudEvents?seek=2",
                "https://api.partnercenter.microsoft.com/v1/fraudEvents?seek=2",
            ),
        ] {
            assert_eq!(pc.on_api(uri).unwrap().as_str(), sent, "{uri}");
        }
        for foreign in [
            "https://evil.test/v1/customers",
            "https://api.partnercenter.microsoft.com.evil.test/v1",
            "https://api.partnercenter.microsoft.com:8443/v1",
            "https://user@api.partnercenter.microsoft.com/v1",
            "//evil.test/v1",
            "ftp://api.partnercenter.microsoft.com/v1",
        ] {
            assert_eq!(
                pc.on_api(foreign),
                Err(PcErrorKind::ForeignResource(foreign.into())),
                "{foreign}"
            );
        }
        let prefixed = client("http://127.0.0.1:9/pc/");
        assert!(prefixed.on_api("http://127.0.0.1:9/pc/v1/x").is_ok());
        assert!(prefixed.on_api("http://127.0.0.1:9/other/v1/x").is_err());
    }

    #[test]
    fn credentials_do_not_show_in_debug_output() {
        let mut config = PartnerCenterConfig::new(
            PartnerCenterAuth::v2("t", "app", Secret::new("app-secret"))
                .with_user_refresh_token(Secret::new("refresh-secret")),
        );
        config.api_base = "http://127.0.0.1:9".into();
        let pc = HttpPartnerCenter::new(config, Retrier::new(RetryPolicy::default())).unwrap();
        let printed = format!("{pc:?}");
        assert!(printed.contains("***"));
        assert!(!printed.contains("app-secret") && !printed.contains("refresh-secret"));
    }

    #[test]
    fn derived_request_ids_are_stable_and_distinct() {
        let ids = CallIds::new(Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(ids.derived("read-0"), ids.derived("read-0"));
        assert_ne!(ids.derived("read-0"), ids.derived("read-1"));
        assert_ne!(ids.derived("read-0"), ids.request_id);
        let other = CallIds::new(Uuid::from_u128(3), Uuid::from_u128(2));
        assert_ne!(ids.derived("read-0"), other.derived("read-0"));
    }

    #[test]
    fn error_bodies_of_partner_center_and_the_identity_platform_are_read() {
        let pc = br#"{"code": 800002, "description": "Subscription not found", "errorName": "x"}"#;
        assert_eq!(
            PcApiError::from_answer(StatusCode::NOT_FOUND, pc).to_string(),
            "HTTP 404, 800002: Subscription not found"
        );
        let aad = br#"{"error": "invalid_client", "error_description": "AADSTS7000215"}"#;
        assert_eq!(
            PcApiError::from_answer(StatusCode::UNAUTHORIZED, aad).to_string(),
            "HTTP 401, invalid_client: AADSTS7000215"
        );
        assert_eq!(
            PcApiError::from_answer(StatusCode::BAD_GATEWAY, b"<html>").to_string(),
            "HTTP 502: <html>"
        );
    }

    #[test]
    fn the_status_is_set_under_the_key_the_resource_uses() {
        let mut resource = json!({"id": "s", "Status": "active"});
        set_status(&mut resource, SubscriptionTarget::Suspended);
        assert_eq!(resource, json!({"id": "s", "Status": "suspended"}));
    }
}
