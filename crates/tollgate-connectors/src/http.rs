//! What the HTTP adapters share: the client with its timeouts, one request/response exchange
//! with transport failures told apart, and reading `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{
    RequestBuilder, StatusCode, Url,
    header::{HeaderMap, RETRY_AFTER},
};

use crate::retry::{Attempt, AttemptError, ConnectorError, Retrier, Step, Tried};

/// Why an adapter could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("`{0}` is not a valid http(s) base URL")]
    BaseUrl(String),
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Time limits for each request an adapter sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// For the whole exchange: connecting, sending and reading the full answer.
    pub request: Duration,
    /// For establishing the connection alone.
    pub connect: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(10),
            connect: Duration::from_secs(3),
        }
    }
}

pub(crate) fn client(timeouts: HttpTimeouts) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeouts.request)
        .connect_timeout(timeouts.connect)
        .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(ConfigError::Client)
}

/// `base` (possibly with a path prefix, with or without a trailing slash) followed by
/// `segments`, each percent-encoded as one path segment.
pub(crate) fn endpoint(base: &str, segments: &[&str]) -> Result<Url, ConfigError> {
    let invalid = || ConfigError::BaseUrl(base.to_owned());
    let mut url = Url::parse(base).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid());
    }
    url.path_segments_mut()
        .map_err(|()| invalid())?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// A complete answer, whatever its status.
struct Exchange {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// No complete answer.
enum Transport {
    Timeout,
    Unreachable(String),
}

async fn exchange(request: RequestBuilder, now: DateTime<Utc>) -> Result<Exchange, Transport> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let retry_after = retry_after(response.headers(), now);
    let body = response.bytes().await.map_err(transport)?.to_vec();
    Ok(Exchange {
        status,
        retry_after,
        body,
    })
}

/// How a non-2xx answer failed, as both adapters tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401 or 403.
    Unauthorized,
    /// 429: retried.
    RateLimited,
    /// 5xx: retried.
    ServerError,
    /// Any other status: the request itself is wrong, so it is not retried.
    Rejected,
}

impl Refusal {
    fn of(status: StatusCode) -> Self {
        match status.as_u16() {
            401 | 403 => Self::Unauthorized,
            429 => Self::RateLimited,
            500..=599 => Self::ServerError,
            _ => Self::Rejected,
        }
    }
}

/// An adapter's error kind, built from what went wrong on the wire.
pub(crate) trait HttpFailure: AttemptError + Sized {
    fn timeout() -> Self;
    fn unreachable(why: String) -> Self;
    fn refused(refusal: Refusal, status: StatusCode, body: &[u8]) -> Self;
}

/// Sends the request `build` makes, under `retrier`, until `decode` accepts a 2xx body or the
/// retries end. Timeouts, broken connections, 429 and 5xx are retried; `decode` errors are not.
pub(crate) async fn call<T, K, B, D>(
    retrier: &Retrier,
    build: B,
    decode: D,
) -> Result<(T, Vec<Attempt>), ConnectorError<K>>
where
    K: HttpFailure,
    B: Fn() -> RequestBuilder,
    D: Fn(&[u8]) -> Result<T, K>,
{
    let (build, decode) = (&build, &decode);
    retrier
        .run(move || async move { interpret(exchange(build(), retrier.now()).await, decode) })
        .await
}

fn interpret<T, K: HttpFailure>(
    outcome: Result<Exchange, Transport>,
    decode: impl Fn(&[u8]) -> Result<T, K>,
) -> Tried<T, K> {
    let exchange = match outcome {
        Ok(exchange) => exchange,
        Err(failure) => {
            let error = match failure {
                Transport::Timeout => K::timeout(),
                Transport::Unreachable(why) => K::unreachable(why),
            };
            return Tried {
                status: None,
                step: Step::Retry {
                    error,
                    retry_after: None,
                },
            };
        }
    };
    let step = if exchange.status.is_success() {
        match decode(&exchange.body) {
            Ok(value) => Step::Done(value),
            Err(error) => Step::Fail(error),
        }
    } else {
        let refusal = Refusal::of(exchange.status);
        let error = K::refused(refusal, exchange.status, &exchange.body);
        match refusal {
            Refusal::RateLimited | Refusal::ServerError => Step::Retry {
                error,
                retry_after: exchange.retry_after,
            },
            Refusal::Unauthorized | Refusal::Rejected => Step::Fail(error),
        }
    };
    Tried {
        status: Some(exchange.status.as_u16()),
        step,
    }
}

fn transport(error: reqwest::Error) -> Transport {
    if error.is_timeout() {
        Transport::Timeout
    } else {
        Transport::Unreachable(error.to_string())
    }
}

/// `Retry-After` as delay-seconds or as an HTTP date; a date in the past means "now".
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The start of a body for an error message: enough to recognise it, never a whole page.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:30 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn endpoint_joins_base_and_path_and_refuses_non_http_urls() {
        let url = endpoint("http://127.0.0.1:9/prefix/", &["v1", "business-checks"]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/prefix/v1/business-checks");
        let url = endpoint("https://api.example", &["Accounts", "AC/../x"]).unwrap();
        assert_eq!(url.as_str(), "https://api.example/Accounts/AC%2F..%2Fx");
        assert!(matches!(
            endpoint("ftp://x", &["a"]),
            Err(ConfigError::BaseUrl(_))
        ));
        assert!(matches!(
            endpoint("not a url", &["a"]),
            Err(ConfigError::BaseUrl(_))
        ));
    }

    #[test]
    fn snippet_cuts_long_bodies() {
        assert_eq!(snippet(b"short"), "short");
        let long = "x".repeat(500);
        assert_eq!(snippet(long.as_bytes()).chars().count(), 201);
    }
}
