//! The routes, one module per resource, assembled into one router and one OpenAPI document.

mod actions;
mod activity;
pub mod alerts;
pub(crate) mod audit;
pub(crate) mod budgets;
pub mod cases;
pub mod collections;
pub(crate) mod customers;
pub mod decisions;
pub(crate) mod dunning;
mod health;
pub mod keys;
pub(crate) mod lists;
mod notices;
pub mod orders;
pub mod payment_methods;
mod playbooks;
mod prepaid;
mod review;
pub(crate) mod rules;
mod signups;
pub(crate) mod subscriptions;
mod tenant;
pub mod usage;
pub(crate) mod verifications;
mod webhooks;

use axum::{
    Router,
    extract::{FromRequestParts, Path, Query},
    http::request::Parts,
    middleware::from_fn_with_state,
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tollgate_store::page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, auth::authenticate, error::ApiError, idempotency::idempotency};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate",
        description = "Risk control for cloud resellers: onboarding decisions, payment and order \
                       screening, spend watch, vendor notices and collections. Authenticate with \
                       `Authorization: Bearer <API key>`. Every POST accepts an `Idempotency-Key` \
                       header. Errors are RFC 9457 problem details."
    ),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme(
                "api_key",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Every route and the OpenAPI document describing exactly those routes.
pub fn routes(state: AppState, metrics: PrometheusHandle) -> Router {
    let (v1, v1_doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(customers::create, customers::list))
        .routes(routes!(customers::get, customers::update))
        .routes(routes!(subscriptions::create, subscriptions::list))
        .routes(routes!(subscriptions::get, subscriptions::update))
        .routes(routes!(subscriptions::suspend))
        .routes(routes!(subscriptions::reactivate))
        .routes(routes!(subscriptions::terminate))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(signups::create))
        .routes(routes!(payment_methods::create))
        .routes(routes!(payment_methods::list))
        .routes(routes!(payment_methods::get))
        .routes(routes!(payment_methods::review))
        .routes(routes!(payment_methods::verification))
        .routes(routes!(orders::create, orders::list))
        .routes(routes!(orders::get))
        .routes(routes!(orders::review))
        .routes(routes!(decisions::list))
        .routes(routes!(decisions::get))
        .routes(routes!(rules::create, rules::list))
        .routes(routes!(rules::get))
        .routes(routes!(rules::set_status))
        .routes(routes!(rules::backtest))
        .routes(routes!(lists::create, lists::list))
        .routes(routes!(lists::create_batch))
        .routes(routes!(lists::remove))
        .routes(routes!(verifications::create))
        .routes(routes!(verifications::confirm))
        .routes(routes!(verifications::complete))
        .routes(routes!(verifications::get))
        .routes(routes!(audit::list))
        .routes(routes!(tenant::get))
        .routes(routes!(usage::ingest))
        .routes(routes!(activity::ingest))
        .routes(routes!(activity::rules))
        .routes(routes!(budgets::create, budgets::list))
        .routes(routes!(budgets::get))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::get))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::resolve))
        .routes(routes!(
            collections::create_invoice,
            collections::list_invoices
        ))
        .routes(routes!(collections::get_invoice))
        .routes(routes!(collections::void_invoice))
        .routes(routes!(collections::create_credit_note))
        .routes(routes!(collections::create_payment))
        .routes(routes!(collections::get_payment))
        .routes(routes!(collections::create_refund))
        .routes(routes!(prepaid::get))
        .routes(routes!(prepaid::top_up))
        .routes(routes!(prepaid::draw))
        .routes(routes!(collections::create_chargeback))
        .routes(routes!(collections::account))
        .routes(routes!(collections::receivables_aging))
        .routes(routes!(dunning::publish_policy, dunning::active_policy))
        .routes(routes!(dunning::policy_versions))
        .routes(routes!(dunning::episodes))
        .routes(routes!(dunning::customer))
        .routes(routes!(dunning::pause))
        .routes(routes!(dunning::resume))
        .routes(routes!(actions::list))
        .routes(routes!(actions::get))
        .routes(routes!(actions::retry))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update))
        .routes(routes!(webhooks::remove))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(notices::create, notices::list))
        .routes(routes!(notices::get))
        .routes(routes!(cases::list))
        .routes(routes!(cases::get))
        .routes(routes!(cases::assign))
        .routes(routes!(cases::comment))
        .routes(routes!(cases::act))
        .routes(routes!(cases::resolve))
        .routes(routes!(playbooks::create, playbooks::list))
        .routes(routes!(playbooks::active))
        .routes(routes!(playbooks::get))
        .routes(routes!(playbooks::set_status))
        .split_for_parts();
    let (public, public_doc) = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi))
        .routes(routes!(notices::partner_center_event))
        .split_for_parts();
    let mut doc = v1_doc;
    doc.merge(public_doc);
    let v1 = v1
        .layer(from_fn_with_state(state.clone(), idempotency))
        .layer(from_fn_with_state(state.clone(), authenticate));
    public
        .merge(v1)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::Extension(health::Published {
            openapi: std::sync::Arc::new(doc),
            metrics,
        }))
        .with_state(state)
}

/// A list page as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListOf<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for ListOf<T> {
    fn from(page: Page<T>) -> Self {
        Self {
            data: page.data,
            next_cursor: page.next_cursor,
        }
    }
}

/// Paging parameters shared by list routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

impl Paging {
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::field(
                "limit",
                format_args!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        Ok(PageRequest {
            after: self.cursor.clone(),
            limit,
        })
    }
}

/// Query strings, with failures as problem details.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Q(t))
            .map_err(|rejection| ApiError::field("query", rejection.body_text()))
    }
}

/// A typed id from the path; an id of the wrong shape names nothing that exists, so it is a 404.
pub struct Id<T>(pub T);

impl<T: std::str::FromStr + Send, S: Send + Sync> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        text.parse().map(Id).map_err(|_| ApiError::NotFound)
    }
}

/// Runs every check, then reports all failures at once.
#[derive(Default)]
pub struct Checks(Vec<tollgate_core::validate::FieldError>);

impl Checks {
    pub fn take<T>(&mut self, result: Result<T, tollgate_core::validate::FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub fn fail(&mut self, field: &str, message: impl std::fmt::Display) {
        self.0
            .push(tollgate_core::validate::FieldError::new(field, message));
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.0))
        }
    }
}
