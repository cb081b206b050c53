//! Signing in and out, the session cookie and the CSRF tokens (see the module above for the
//! design).

use std::sync::LazyLock;

use aws_lc_rs::{constant_time, hmac};
use axum::{
    Form,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_core::{
    KeyId,
    tenancy::{Permission, hash_secret},
};
use tollgate_store::StoreError;

use super::{Fail, render_with};
use crate::{AppState, auth::Caller, error::ApiError};

const COOKIE: &str = "tg_session";
const SIGN_IN_COOKIE: &str = "tg_sign_in";
const LIFETIME: Duration = Duration::hours(8);

static SIGNING_KEY: LazyLock<hmac::Key> =
    LazyLock::new(|| hmac::Key::new(hmac::HMAC_SHA256, &rand::random::<[u8; 32]>()));

/// The signed-in analyst: the API caller their key resolves to, and the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    csrf: String,
}

impl Session {
    pub fn can(&self, permission: Permission) -> bool {
        self.caller.role.allows(permission)
    }

    /// Refuses a form whose token is not this session's.
    pub fn check(&self, token: &str) -> Result<(), Fail> {
        constant_time::verify_slices_are_equal(token.as_bytes(), self.csrf.as_bytes())
            .map_err(|_| Fail::Csrf)
    }

    /// What every page's layout needs.
    pub fn view(&self) -> Value {
        json!({
            "csrf": self.csrf,
            "role": self.caller.role.as_str(),
            "can_operate": self.can(Permission::Operate),
        })
    }
}

fn sign(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac::sign(&SIGNING_KEY, text.as_bytes()).as_ref())
}

fn csrf_for(nonce: &str) -> String {
    sign(&format!("csrf.{nonce}"))
}

/// `key_id.expires_unix.nonce.signature`
fn token(key: KeyId, expires: DateTime<Utc>) -> String {
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let body = format!("{key}.{}.{nonce}", expires.timestamp());
    format!("{body}.{}", sign(&body))
}

/// The key id and nonce of a token that is ours and not expired.
fn verify(token: &str, now: DateTime<Utc>) -> Option<(KeyId, String)> {
    let (body, signature) = token.rsplit_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(signature).ok()?;
    hmac::verify(&SIGNING_KEY, body.as_bytes(), &tag).ok()?;
    let mut parts = body.split('.');
    let key = parts.next()?.parse().ok()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let nonce = parts.next()?.to_owned();
    (now.timestamp() < expires).then_some((key, nonce))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// Behind a TLS-terminating proxy the cookie is also `Secure`.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let text = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Resolves the session cookie to a caller, or sends the browser to the sign-in page.
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match session(&state, request.headers()).await {
        Ok(Some(session)) => {
            request.extensions_mut().insert(session.caller);
            request.extensions_mut().insert(session);
            next.run(request).await
        }
        Ok(None) if request.method() == axum::http::Method::GET => {
            Redirect::to("/console/sign-in").into_response()
        }
        Ok(None) => {
            Fail::Api(ApiError::Forbidden("change anything without signing in")).into_response()
        }
        Err(fail) => fail.into_response(),
    }
}

async fn session(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, Fail> {
    let now = state.now();
    let Some((key_id, nonce)) = cookie(headers, COOKIE).and_then(|t| verify(&t, now)) else {
        return Ok(None);
    };
    let key = match state.store().read().await?.key_any_tenant(key_id).await {
        Ok(key) => key,
        Err(StoreError::NotFound) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    if !key.is_usable_at(now) || !key.role.allows(Permission::Read) {
        return Ok(None);
    }
    Ok(Some(Session {
        caller: Caller {
            tenant: key.tenant_id,
            key: key.id,
            role: key.role,
        },
        csrf: csrf_for(&nonce),
    }))
}

pub async fn sign_in_page(headers: HeaderMap) -> Result<Response, Fail> {
    sign_in_form(&headers, None, axum::http::StatusCode::OK)
}

fn sign_in_form(
    headers: &HeaderMap,
    problem: Option<&str>,
    status: axum::http::StatusCode,
) -> Result<Response, Fail> {
    let token = cookie(headers, SIGN_IN_COOKIE)
        .filter(|t| t.len() == 32)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let page = render_with("sign_in.html", json!({ "csrf": token, "problem": problem }))?;
    let mut response = (status, page).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(headers, SIGN_IN_COOKIE, &token, 3600),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct SignIn {
    api_key: String,
    csrf: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Result<Response, Fail> {
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || constant_time::verify_slices_are_equal(expected.as_bytes(), form.csrf.as_bytes())
            .is_err()
    {
        return Err(Fail::Csrf);
    }
    let refused = |problem| {
        sign_in_form(
            &headers,
            Some(problem),
            axum::http::StatusCode::UNAUTHORIZED,
        )
    };
    let secret = form.api_key.trim();
    if secret.is_empty() {
        return refused("Enter an API key.");
    }
    let now = state.now();
    let key = match state
        .store()
        .read()
        .await?
        .key_by_hash(&hash_secret(secret))
        .await
    {
        Ok(key) if key.is_usable_at(now) => key,
        Ok(_) | Err(StoreError::NotFound) => {
            return refused("This key is unknown, revoked or expired.");
        }
        Err(other) => return Err(other.into()),
    };
    if !key.role.allows(Permission::Read) {
        return refused("This key may only send facts; the console needs a key that may read.");
    }
    let expires = now + LIFETIME;
    let mut response = Redirect::to("/console").into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(
            &headers,
            COOKIE,
            &token(key.id, expires),
            LIFETIME.num_seconds(),
        ),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(&headers, SIGN_IN_COOKIE, "", 0),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn sign_out(
    axum::Extension(session): axum::Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, Fail> {
    session.check(&form.csrf)?;
    let mut response = Redirect::to("/console/sign-in").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(&headers, COOKIE, "", 0));
    Ok(response)
}
