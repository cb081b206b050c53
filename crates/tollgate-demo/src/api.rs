//! The generator's client: requests go through the service's whole router (authentication,
//! idempotency, validation, handlers) in process, without a socket, so the data is exactly what
//! a reseller's systems calling the API would have produced.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, header},
};
use serde_json::Value;
use tower::ServiceExt;

use crate::Error;

pub struct Api {
    router: Router,
    seed: u64,
    requests: AtomicU64,
}

impl Api {
    pub fn new(router: Router, seed: u64) -> Self {
        Self {
            router,
            seed,
            requests: AtomicU64::new(0),
        }
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub async fn get(&self, key: &str, path: &str) -> Result<Value, Error> {
        self.call(Method::GET, key, path, None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: Value) -> Result<Value, Error> {
        self.call(Method::POST, key, path, Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        key: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        let body = match body {
            Some(body) => {
                // A storefront retrying after a timeout would send the same key again.
                request = request
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("idempotency-key", format!("demo-{:x}-{n}", self.seed));
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let request = request
            .body(body)
            .map_err(|e| Error::Client(e.to_string()))?;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| Error::Client(e.to_string()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| Error::Client(e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if !status.is_success() {
            return Err(Error::Refused {
                request: format!("{method} {path}"),
                status: status.as_u16(),
                body: value.to_string(),
            });
        }
        Ok(value)
    }
}
