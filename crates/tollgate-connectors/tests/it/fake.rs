//! A scripted provider: an axum server on port 0 that records every request and answers
//! with the next scripted reply, after checking the `Authorization` header as the real
//! provider would.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use tollgate_connectors::retry::RecordingSleeper;
use tollgate_connectors::{Retrier, RetryPolicy};
use tollgate_core::clock::ManualClock;

#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    body: String,
    retry_after: Option<&'static str>,
    delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self::text(status, &body.to_string())
    }

    /// A body sent as JSON whatever it holds, for malformed answers.
    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.to_owned(),
            retry_after: None,
            delay: Duration::ZERO,
        }
    }

    pub fn retry_after(mut self, value: &'static str) -> Self {
        self.retry_after = Some(value);
        self
    }

    /// Answers only after `delay`, to outlast the client's timeout.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }

    /// The `application/x-www-form-urlencoded` body as sorted pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        let body = std::str::from_utf8(&self.body).unwrap();
        let url = reqwest::Url::parse(&format!("http://form.invalid/?{body}")).unwrap();
        let mut pairs: Vec<_> = url.query_pairs().into_owned().collect();
        pairs.sort();
        pairs
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct Script {
    authorization: String,
    unauthorized: Reply,
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

pub struct FakeServer {
    pub base_url: String,
    script: Arc<Script>,
}

impl FakeServer {
    /// Answers requests carrying `authorization` with `replies` in order, others with
    /// `unauthorized`.
    pub async fn start(authorization: &str, unauthorized: Reply, replies: Vec<Reply>) -> Self {
        let script = Arc::new(Script {
            authorization: authorization.to_owned(),
            unauthorized,
            replies: Mutex::new(replies.into()),
            received: Mutex::default(),
        });
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base_url, script }
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value == script.authorization.as_str());
    script.received.lock().unwrap().push(Received {
        method,
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
    });
    let reply = if authorized {
        let next = script.replies.lock().unwrap().pop_front();
        next.unwrap_or_else(|| Reply::text(599, "the fake's script ran out"))
    } else {
        script.unauthorized.clone()
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = (reply.status, reply.body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = reply.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(value));
    }
    response
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T09:00:00Z")
        .unwrap()
        .to_utc()
}

/// A retrier that never really waits, on a fixed clock, with seeded jitter.
pub fn retrier(max_attempts: u32) -> (Retrier, RecordingSleeper) {
    let sleeper = RecordingSleeper::default();
    let retrier = Retrier::new(RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    })
    .with_sleeper(Arc::new(sleeper.clone()))
    .with_clock(Arc::new(ManualClock::new(t0())))
    .with_jitter_seed(42);
    (retrier, sleeper)
}

/// A base URL where nothing listens.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}
