//! Outbound webhooks after the Standard Webhooks specification: events are published inside the
//! transaction that caused them (one outbox action per subscribed endpoint), and the outbox
//! worker delivers each with `webhook-id`, `webhook-timestamp` and an HMAC-SHA256
//! `webhook-signature`. The action id is the `webhook-id`, the same on every attempt, so a
//! receiver that deduplicates on it sees each event once.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{StatusCode, Url, header};
use serde_json::{Value, json};
use tollgate_core::{
    ActionId, TenantId, WebhookId,
    outbox::{ActionKind, ActionStatus, AttemptResult},
    webhooks::{EndpointStatus, EventType, wants},
};
use tollgate_store::{ActionRow, NewAction, StoreError, Tx, WebhookRow};

use crate::{
    AppState,
    api::alerts::{self, WEBHOOK_DISABLED},
    ctx::{Acting, Job},
    egress,
    error::ApiResult,
};

/// The prefix the specification gives secrets, so a receiver's library knows to base64-decode.
const SECRET_PREFIX: &str = "whsec_";
/// A receiver that has not answered by then is treated like one that failed.
const TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Enqueues `event` with `data` for every enabled endpoint of `tenant` subscribed to it, inside
/// the caller's transaction: the deliveries exist exactly when the change they announce commits.
/// Call `state.outbox_wakeup().wake()` after committing to send them at once.
pub async fn publish(
    tx: &mut Tx,
    tenant: TenantId,
    event: EventType,
    data: Value,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let endpoints = tx.enabled_webhooks(tenant).await?;
    let envelope = envelope(event, data, now);
    for endpoint in endpoints.iter().filter(|e| wants(&e.event_types, event)) {
        enqueue(tx, tenant, endpoint.id, event, envelope.clone(), now).await?;
    }
    Ok(())
}

/// Enqueues one delivery of `event` to one endpoint (the test event); returns its action id.
pub async fn enqueue_to(
    tx: &mut Tx,
    tenant: TenantId,
    endpoint: WebhookId,
    event: EventType,
    data: Value,
    now: DateTime<Utc>,
) -> ApiResult<ActionId> {
    enqueue(tx, tenant, endpoint, event, envelope(event, data, now), now).await
}

/// The Standard Webhooks payload shape.
fn envelope(event: EventType, data: Value, now: DateTime<Utc>) -> Value {
    json!({
        "type": event,
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    })
}

async fn enqueue(
    tx: &mut Tx,
    tenant: TenantId,
    endpoint: WebhookId,
    event: EventType,
    payload: Value,
    now: DateTime<Utc>,
) -> ApiResult<ActionId> {
    let id = ActionId::generate();
    tx.enqueue_action(
        tenant,
        &NewAction {
            id,
            kind: ActionKind::Webhook,
            source: event.as_str().to_owned(),
            object_id: endpoint.to_string(),
            payload,
            not_before: now,
        },
        now,
    )
    .await?;
    Ok(id)
}

/// A fresh signing secret: 32 random bytes, `whsec_` + base64 as the specification writes it.
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The `webhook-signature` value for one delivery: `v1,` + base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}`, keyed with the secret's decoded bytes.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = BASE64
        .decode(encoded)
        .map_err(|e| format!("the endpoint secret is not base64: {e}"))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", BASE64.encode(tag.as_ref())))
}

/// Why `url` cannot receive webhooks, if it cannot. HTTPS only, except for the loopback host
/// where private networks are allowed (a receiver on the same machine, and the tests);
/// credentials belong in no URL; private and reserved networks only where allowed.
pub fn check_url(url: &str, private_networks: bool) -> Result<Url, String> {
    if url.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let parsed = Url::parse(url).map_err(|e| format!("is not a URL: {e}"))?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if loopback && private_networks => {}
        _ => return Err("must use https".into()),
    }
    if !private_networks {
        egress::refuse_private_host(&parsed)?;
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not contain credentials; the signature authenticates Tollgate".into());
    }
    Ok(parsed)
}

static PUBLIC_CLIENT: LazyLock<Result<reqwest::Client, String>> =
    LazyLock::new(|| build_client(true));
static ANY_CLIENT: LazyLock<Result<reqwest::Client, String>> =
    LazyLock::new(|| build_client(false));

fn build_client(public_only: bool) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        // A redirect would send the signed event somewhere the partner did not register.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Tollgate-Webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if public_only {
        builder.dns_resolver(Arc::new(egress::PublicResolver))
    } else {
        builder
    };
    builder.build().map_err(|e| e.to_string())
}

/// One delivery attempt of a webhook action (the outbox worker's `Webhook` arm).
pub async fn deliver(state: &AppState, action: &ActionRow) -> AttemptResult {
    let endpoint = match endpoint(state, action).await {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            return AttemptResult::Skipped {
                detail: "the endpoint was removed".into(),
            };
        }
        Err(error) => {
            return AttemptResult::Transient {
                detail: format!("reading the endpoint failed: {error}"),
                retry_after: None,
            };
        }
    };
    if endpoint.status == EndpointStatus::Disabled {
        return AttemptResult::Skipped {
            detail: format!(
                "the endpoint is disabled ({}); re-send after enabling it",
                endpoint
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ),
        };
    }
    let id = action.id.to_string();
    let now = state.now();
    let timestamp = now.timestamp();
    let body = action.payload.to_string();
    let signature = match signature(&endpoint.secret, &id, timestamp, &body) {
        Ok(signature) => signature,
        Err(detail) => return AttemptResult::Permanent { detail },
    };
    let private_networks = state.config().webhooks_to_private_networks;
    // Checked again at every attempt: the endpoint may predate a stricter configuration.
    if let Err(error) = check_url(&endpoint.url, private_networks) {
        return AttemptResult::Permanent {
            detail: format!("the endpoint URL {error}"),
        };
    }
    let client = match if private_networks {
        &*ANY_CLIENT
    } else {
        &*PUBLIC_CLIENT
    } {
        Ok(client) => client,
        Err(error) => {
            return AttemptResult::Transient {
                detail: format!("the HTTP client could not start: {error}"),
                retry_after: None,
            };
        }
    };
    let sent = client
        .post(&endpoint.url)
        .header(header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => {
            let what = if error.is_timeout() {
                "timed out"
            } else if error.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            return AttemptResult::Transient {
                detail: format!("the request {what}: {error}"),
                retry_after: None,
            };
        }
    };
    let status = response.status();
    let detail = format!("HTTP {status}");
    if status.is_success() {
        return AttemptResult::Delivered { detail };
    }
    if status == StatusCode::GONE {
        let reason = "the endpoint answered 410 Gone";
        if let Err(error) = disable(state, action, &endpoint, reason).await {
            tracing::warn!(action = %action.id, %error, "disabling a gone webhook endpoint failed");
        }
        return AttemptResult::Permanent { detail };
    }
    // Every other refusal is retried for the day, as the specification advises: a 401 or 404
    // is usually a receiver mid-deploy, fixed within hours, and a day of them disables it.
    AttemptResult::Transient {
        detail,
        retry_after: retry_after(response.headers(), now),
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
    (at - now).to_std().ok()
}

async fn endpoint(state: &AppState, action: &ActionRow) -> Result<Option<WebhookRow>, String> {
    let id: WebhookId = action
        .object_id
        .parse()
        .map_err(|e| format!("object_id is not an endpoint id: {e}"))?;
    let mut tx = state.store().read().await.map_err(|e| e.to_string())?;
    match tx.webhook(action.tenant_id, id).await {
        Ok(endpoint) => Ok(Some(endpoint)),
        Err(StoreError::NotFound) => Ok(None),
        Err(error) => Err(error.to_string()),
    }
}

/// Called by the outbox worker once a webhook action is finished: a delivery that stayed
/// undeliverable for its whole retry window takes its endpoint out of service, with an alert.
pub async fn settled(state: &AppState, action: &ActionRow, status: ActionStatus) {
    if status != ActionStatus::Dead {
        return;
    }
    let endpoint = match endpoint(state, action).await {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(action = %action.id, %error, "reading a failing webhook endpoint");
            return;
        }
    };
    let reason = "deliveries failed for 24 hours";
    if let Err(error) = disable(state, action, &endpoint, reason).await {
        tracing::warn!(action = %action.id, %error, "disabling a failing webhook endpoint failed");
    }
}

/// Disables the endpoint and raises a `webhook_disabled` alert, once however many of its
/// deliveries give up together.
async fn disable(
    state: &AppState,
    action: &ActionRow,
    endpoint: &WebhookRow,
    reason: &str,
) -> ApiResult<()> {
    let job = Job {
        tenant: action.tenant_id,
        name: "webhooks",
        now: state.now(),
    };
    let mut tx = state.store().begin().await?;
    if !tx
        .disable_webhook(job.tenant, endpoint.id, reason, job.now())
        .await?
    {
        return Ok(());
    }
    let details = json!({
        "webhook_id": endpoint.id,
        "url": endpoint.url,
        "reason": reason,
        "action_id": action.id,
        "last_error": action.last_error,
    });
    job.audit(&mut tx, "webhook.disabled", endpoint.id, &details)
        .await?;
    alerts::raise_for_tenant(
        &job,
        &mut tx,
        WEBHOOK_DISABLED,
        format!("Webhook endpoint {} was disabled: {reason}.", endpoint.url),
        details,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wakeup().wake();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signature = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            signature.unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_decode_to_32_bytes() {
        let secret = new_secret();
        let key = BASE64
            .decode(secret.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        for private_networks in [false, true] {
            let check = |url: &str| check_url(url, private_networks);
            assert!(check("https://hooks.example.com/tollgate").is_ok());
            assert!(check("http://hooks.example.com/").is_err());
            assert!(check("https://user:pw@hooks.example.com/").is_err());
            assert!(check("ftp://hooks.example.com/").is_err());
            assert!(check("not a url").is_err());
            assert_eq!(
                check("http://127.0.0.1:8080/hook").is_ok(),
                private_networks
            );
            assert_eq!(check("http://localhost/hook").is_ok(), private_networks);
            assert_eq!(
                check("https://169.254.169.254/latest").is_ok(),
                private_networks
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
            .unwrap()
            .to_utc();
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        headers.insert(
            header::RETRY_AFTER,
            "Mon, 02 Nov 2026 09:05:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(300)));
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }
}
