//! Tollgate's HTTP service: the `/v1` JSON API with its OpenAPI document, health and metrics
//! endpoints, authentication, idempotency and problem+json errors.

pub mod api;

pub use api::keys::{CreatedKey, issue as issue_key};
pub mod auth;
pub mod console;
pub mod ctx;
pub mod decide;
pub mod egress;
pub mod email;
pub mod error;
pub mod idempotency;
pub mod jobs;
pub mod json;
pub mod metrics;
pub mod outbox;
pub mod vendor;
pub mod webhooks;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, http::HeaderName, middleware};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tollgate_core::Clock;
use tollgate_store::Store;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

/// Settings of the HTTP service.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Largest body of a batch route such as `POST /v1/usage` (10,000 records).
    pub batch_body_limit: usize,
    pub request_timeout: Duration,
    /// Lookup tables for the signals; `None` uses the shipped ones.
    pub reference_data: Option<&'static tollgate_core::refdata::ReferenceData>,
    /// Whether webhook endpoints may be on private or reserved networks (and plain-HTTP
    /// loopback receivers); see [`egress`].
    pub webhooks_to_private_networks: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: 1024 * 1024,
            batch_body_limit: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            reference_data: None,
            webhooks_to_private_networks: false,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// Outbound providers; `None` where the deployment has not configured one.
#[derive(Clone, Default)]
pub struct Connectors {
    pub sms: Option<Arc<dyn tollgate_connectors::sms::SmsSender>>,
    pub bureau: Option<Arc<dyn tollgate_connectors::bureau::BusinessBureau>>,
    pub mailer: Option<Arc<dyn tollgate_connectors::email::Mailer>>,
    /// Microsoft Partner Center: suspensions, entitlements, fraud event status, budgets, and
    /// reading fraud events. Configure it without retries; the outbox retries.
    pub partner_center: Option<Arc<dyn tollgate_connectors::partner_center::PartnerCenter>>,
    /// Checks Partner Center's webhook signatures; with `partner_center`, enables
    /// `POST /v1/connectors/partner-center/events/{tenant}`.
    pub partner_center_webhooks:
        Option<Arc<tollgate_connectors::partner_center::webhook::WebhookVerifier>>,
}

struct Inner {
    connectors: Connectors,
    store: Store,
    policies: decide::PolicyCache,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    outbox: outbox::OutboxConfig,
    outbox_wakeup: Arc<outbox::Wakeup>,
    /// Signs console sessions; read from the store on first use (see `console::session`).
    console_key: tokio::sync::OnceCell<aws_lc_rs::hmac::Key>,
}

impl AppState {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: ServerConfig) -> Self {
        Self::with_connectors(store, clock, config, Connectors::default())
    }

    pub fn with_connectors(
        store: Store,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
        connectors: Connectors,
    ) -> Self {
        Self(Arc::new(Inner {
            connectors,
            store,
            policies: decide::PolicyCache::default(),
            clock,
            config,
            outbox: outbox::OutboxConfig::default(),
            outbox_wakeup: Arc::default(),
            console_key: tokio::sync::OnceCell::new(),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub(crate) fn console_key(&self) -> &tokio::sync::OnceCell<aws_lc_rs::hmac::Key> {
        &self.0.console_key
    }

    /// The clock's time at the stores' precision (microseconds), so an object reads back
    /// exactly as it was answered.
    pub fn now(&self) -> DateTime<Utc> {
        let now = self.0.clock.now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    /// The configured lookup tables, else the shipped ones (parsed once per process).
    pub fn reference_data(
        &self,
    ) -> Result<&'static tollgate_core::refdata::ReferenceData, error::ApiError> {
        match self.0.config.reference_data {
            Some(data) => Ok(data),
            None => tollgate_core::refdata::ReferenceData::embedded()
                .map_err(|e| error::ApiError::Internal(format!("reference data: {e}"))),
        }
    }

    pub fn connectors(&self) -> &Connectors {
        &self.0.connectors
    }

    pub fn policies(&self) -> &decide::PolicyCache {
        &self.0.policies
    }

    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    pub fn outbox_config(&self) -> &outbox::OutboxConfig {
        &self.0.outbox
    }

    pub fn outbox_wakeup(&self) -> &Arc<outbox::Wakeup> {
        &self.0.outbox_wakeup
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole service as a router, ready to serve.
pub fn router(state: AppState) -> Router {
    let metrics = metrics::handle();
    let timeout = state.config().request_timeout;
    api::routes(state.clone(), metrics)
        .merge(console::routes(state))
        .layer(middleware::from_fn(metrics::record))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(error::ApiError::Internal(
                "handler panicked".into(),
            ))
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// A bound, not yet serving, instance: tests learn the port before it runs.
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn bind(state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(state.config().listen).await?;
        Ok(Self {
            listener,
            router: router(state),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
