//! The risk team's console at `/console`: server-rendered HTML over the same handlers and store
//! queries the API uses, so a page shows what `GET /v1/…` answers and a button does what
//! `POST /v1/…` does, on the same audit chain.
//!
//! Sessions: signing in with an API key sets `tg_session`, a token naming the key, its expiry and
//! a random nonce, signed with HMAC-SHA256 under a key the store keeps (`server_secrets`, made by
//! the first server that needed it), so a sign-in outlives a restart and holds on every instance;
//! no session is stored. Every request re-reads the API key, so revoking it ends its sessions at
//! once, and the role is the key's current role. The cookie is HttpOnly
//! and SameSite=Strict (Secure behind TLS); every form carries a CSRF token derived from the
//! session's nonce, and the sign-in form a double-submit token of its own.
//!
//! Every page reads without JavaScript; charts are inline SVG, each followed by the same
//! numbers as a table.

mod cases;
mod charts;
mod collections;
mod customer;
mod decision;
mod lists;
mod overview;
mod queues;
mod rules;
mod session;

use std::sync::LazyLock;

use axum::{
    Router,
    http::{StatusCode, header},
    middleware::from_fn_with_state,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use minijinja::Environment;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{AppState, error::ApiError};
pub use session::Session;

/// The console's routes, to be merged beside the API.
pub fn routes(state: AppState) -> Router {
    let signed_in = Router::new()
        .route("/console", get(overview::page))
        .route("/console/customers/{id}", get(customer::page))
        .route(
            "/console/subscriptions/{id}/{action}",
            post(customer::change_subscription),
        )
        .route("/console/customers/{id}/lists", post(customer::add_to_list))
        .route(
            "/console/customers/{id}/status",
            post(queues::customer_status),
        )
        .route("/console/queues", get(queues::page))
        .route(
            "/console/customers/{id}/verifications",
            post(queues::request_step),
        )
        .route("/console/alerts/{id}/{action}", post(queues::alert_action))
        .route("/console/cases/{id}", get(cases::page))
        .route("/console/cases/{id}/{action}", post(cases::action))
        .route("/console/{what}/{id}/review", post(queues::review))
        .route("/console/rules", get(rules::page).post(rules::submit))
        .route("/console/decisions/{id}", get(decision::page))
        .route("/console/lists", get(lists::page))
        .route("/console/lists/import", post(lists::import))
        .route("/console/lists/{id}/remove", post(lists::remove))
        .route("/console/collections", get(collections::page))
        .route("/console/sign-out", post(session::sign_out))
        .layer(from_fn_with_state(state.clone(), session::require));
    Router::new()
        .route(
            "/console/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/console.css", get(stylesheet))
        .merge(signed_in)
        .with_state(state)
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // A section whose optional data is absent renders empty rather than failing the page.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for (name, source) in [
        (
            "base.html",
            include_str!("../../templates/console/base.html"),
        ),
        (
            "terms.html",
            include_str!("../../templates/console/terms.html"),
        ),
        (
            "sign_in.html",
            include_str!("../../templates/console/sign_in.html"),
        ),
        (
            "overview.html",
            include_str!("../../templates/console/overview.html"),
        ),
        (
            "customer.html",
            include_str!("../../templates/console/customer.html"),
        ),
        (
            "decision.html",
            include_str!("../../templates/console/decision.html"),
        ),
        (
            "case.html",
            include_str!("../../templates/console/case.html"),
        ),
        (
            "queues.html",
            include_str!("../../templates/console/queues.html"),
        ),
        (
            "rules.html",
            include_str!("../../templates/console/rules.html"),
        ),
        (
            "lists.html",
            include_str!("../../templates/console/lists.html"),
        ),
        (
            "collections.html",
            include_str!("../../templates/console/collections.html"),
        ),
        (
            "error.html",
            include_str!("../../templates/console/error.html"),
        ),
    ] {
        if let Err(error) = env.add_template(name, source) {
            // The templates are compiled in; the tests render every one.
            panic!("console template {name}: {error}");
        }
    }
    env
});

const STYLESHEET: &str = include_str!("../../templates/console/console.css");

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A page of the signed-in console: `page` is the template's own data; the layout gets the
/// session (for the CSRF token, the tenant and whether to show buttons that change things).
pub fn render(session: &Session, template: &str, page: impl Serialize) -> Result<Response, Fail> {
    let nav = template.trim_end_matches(".html");
    render_with(
        template,
        json!({ "session": session.view(), "page": page, "nav": nav }),
    )
}

fn render_with(template: &str, context: Value) -> Result<Response, Fail> {
    let html = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| Fail::Api(ApiError::Internal(format!("template {template}: {e:#}"))))?;
    Ok(Html(html).into_response())
}

/// Why a console request did not get its page, shown as an HTML page with the right status.
#[derive(Debug)]
pub enum Fail {
    Api(ApiError),
    /// The form's CSRF token did not match the session's.
    Csrf,
}

impl From<ApiError> for Fail {
    fn from(error: ApiError) -> Self {
        Fail::Api(error)
    }
}

impl From<tollgate_store::StoreError> for Fail {
    fn from(error: tollgate_store::StoreError) -> Self {
        Fail::Api(error.into())
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let (status, title, detail) = match &self {
            Fail::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "The form's security token did not match your session. Go back, reload the page \
                 and try again."
                    .to_owned(),
            ),
            Fail::Api(ApiError::NotFound) => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address in your tenant.".to_owned(),
            ),
            Fail::Api(ApiError::Forbidden(what)) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!("Your key's role may not {what}."),
            ),
            Fail::Api(ApiError::Unauthorized) => {
                return Redirect::to("/console/sign-in").into_response();
            }
            Fail::Api(ApiError::Invalid(errors)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not accepted",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Fail::Api(ApiError::Conflict { detail, .. }) => {
                (StatusCode::CONFLICT, "Not possible now", detail.clone())
            }
            Fail::Api(ApiError::Internal(detail)) => {
                tracing::error!(%detail, "console request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error was logged.".to_owned(),
                )
            }
            Fail::Api(other) => (StatusCode::BAD_REQUEST, "Not accepted", other.to_string()),
        };
        let context = json!({ "title": title, "detail": detail, "status": status.as_u16() });
        match render_with("error.html", context) {
            Ok(page) => (status, page).into_response(),
            Err(_) => (status, detail).into_response(),
        }
    }
}

/// Reads an API handler's JSON answer as data for a template.
pub fn data<T: Serialize>(value: T) -> Result<Value, Fail> {
    serde_json::to_value(value).map_err(|e| Fail::Api(ApiError::Internal(e.to_string())))
}

/// A query as the API's extractor would have parsed it from the URL.
pub fn query<T: serde::de::DeserializeOwned>(value: Value) -> Result<crate::api::Q<T>, Fail> {
    serde_json::from_value(value)
        .map(crate::api::Q)
        .map_err(|e| Fail::Api(ApiError::Internal(format!("console query: {e}"))))
}

/// An optional text field of a form, trimmed: empty means absent.
pub fn given(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

/// After a change: back to the page it was made from (POST, then redirect, then GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Turns an API handler's answer to a change into a console outcome.
pub fn changed(answer: Result<Response, ApiError>) -> Result<(), Fail> {
    let response = answer?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(Fail::Api(ApiError::Internal(format!(
            "unexpected answer {}",
            response.status()
        ))))
    }
}
