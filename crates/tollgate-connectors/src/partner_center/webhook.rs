//! Partner Center webhooks coming in: checking the RSA-SHA256 signature against the signing
//! certificate (fetched only from allow-listed hosts, and cached), and reading the event.
//! Fetching the resource an event points to is
//! [`PartnerCenter::fetch_resource`](super::PartnerCenter::fetch_resource).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use reqwest::{Url, header::HeaderMap};
use serde_json::Value;
use tollgate_core::Clock;
use x509_cert::{
    Certificate,
    der::{Decode, DecodePem, asn1::ObjectIdentifier},
};

use super::fields;
use crate::{ConfigError, HttpTimeouts};

/// Carries the certificate's URL.
pub const CERTIFICATE_URL_HEADER: &str = "x-ms-certificate-url";
/// Names the algorithm; only `rsa-sha256` is accepted.
pub const SIGNATURE_ALGORITHM_HEADER: &str = "x-ms-signature-algorithm";
/// Carries the signature instead of `Authorization` when the registration asked for it
/// (`SignatureTokenToMsSignatureHeader`).
pub const SIGNATURE_HEADER: &str = "x-ms-signature";
/// Where Partner Center's signing certificate is published.
pub const PARTNER_CENTER_CERTIFICATE_HOST: &str = "3psostorageacct.blob.core.windows.net";

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("header `{0}` is missing")]
    MissingHeader(&'static str),
    #[error("header `{0}` is malformed")]
    MalformedHeader(&'static str),
    #[error("signature algorithm `{0}` is not rsa-sha256")]
    UnsupportedAlgorithm(String),
    #[error("certificate URL `{0}` is not on an allowed host")]
    UntrustedCertificateUrl(String),
    #[error("could not fetch the signing certificate: {0}")]
    CertificateUnavailable(String),
    #[error("the signing certificate is unusable: {0}")]
    BadCertificate(String),
    #[error("the signature does not match the body")]
    BadSignature,
    #[error("the event body is malformed: {0}")]
    MalformedEvent(String),
}

/// Which certificates are trusted and for how long one is reused.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Hosts (`host`, or `host:port` for a non-default port) the certificate may come from;
    /// [`PARTNER_CENTER_CERTIFICATE_HOST`] in production.
    pub allowed_certificate_hosts: Vec<String>,
    /// Certificate URLs must be `https` unless this is set, for a local fake.
    pub allow_http: bool,
    /// The certificate subject's organization (`O=`) must be this, when set.
    pub expected_organization: Option<String>,
    /// How long a fetched certificate is reused (never past its own expiry).
    pub cache_ttl: Duration,
    /// A signature that fails against a cached certificate fetches it again (it may have
    /// been rotated), but no more often than this per URL, so forged requests cannot make
    /// Tollgate hammer the certificate host.
    pub min_refetch_interval: Duration,
    pub timeouts: HttpTimeouts,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allowed_certificate_hosts: vec![PARTNER_CENTER_CERTIFICATE_HOST.to_owned()],
            allow_http: false,
            expected_organization: None,
            cache_ttl: Duration::from_secs(3600),
            min_refetch_interval: Duration::from_secs(60),
            timeouts: HttpTimeouts::default(),
        }
    }
}

/// What the signature headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub certificate_url: Url,
    pub signature: Vec<u8>,
}

/// Reads the signature headers and checks the certificate URL against the allow-list.
pub fn signed_request(
    headers: &HeaderMap,
    config: &WebhookConfig,
) -> Result<SignedRequest, WebhookError> {
    let header = |name: &'static str| -> Result<Option<&str>, WebhookError> {
        headers
            .get(name)
            .map(|v| v.to_str().map_err(|_| WebhookError::MalformedHeader(name)))
            .transpose()
    };
    let algorithm = header(SIGNATURE_ALGORITHM_HEADER)?
        .ok_or(WebhookError::MissingHeader(SIGNATURE_ALGORITHM_HEADER))?;
    if !algorithm.trim().eq_ignore_ascii_case("rsa-sha256") {
        return Err(WebhookError::UnsupportedAlgorithm(algorithm.to_owned()));
    }
    let (name, token) = match header(SIGNATURE_HEADER)? {
        Some(token) => (SIGNATURE_HEADER, token.trim()),
        None => {
            let value =
                header("authorization")?.ok_or(WebhookError::MissingHeader("authorization"))?;
            let (scheme, token) = value
                .trim()
                .split_once(' ')
                .ok_or(WebhookError::MalformedHeader("authorization"))?;
            if !scheme.eq_ignore_ascii_case("Signature") {
                return Err(WebhookError::MalformedHeader("authorization"));
            }
            ("authorization", token.trim())
        }
    };
    let signature = STANDARD
        .decode(token)
        .map_err(|_| WebhookError::MalformedHeader(name))?;
    let url = header(CERTIFICATE_URL_HEADER)?
        .ok_or(WebhookError::MissingHeader(CERTIFICATE_URL_HEADER))?;
    Ok(SignedRequest {
        certificate_url: allowed_certificate_url(url, config)?,
        signature,
    })
}

/// `url` if it names an allow-listed host over `https` (or `http` when allowed), with no user
/// info: anything else could point the fetch at an internal service or a forger's key.
pub fn allowed_certificate_url(url: &str, config: &WebhookConfig) -> Result<Url, WebhookError> {
    let untrusted = || WebhookError::UntrustedCertificateUrl(url.to_owned());
    let parsed = Url::parse(url).map_err(|_| untrusted())?;
    let scheme_ok = parsed.scheme() == "https" || (config.allow_http && parsed.scheme() == "http");
    if !scheme_ok || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(untrusted());
    }
    let host = parsed.host_str().ok_or_else(untrusted)?;
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let listed = config
        .allowed_certificate_hosts
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(&authority));
    if !listed {
        return Err(untrusted());
    }
    Ok(parsed)
}

/// A parsed signing certificate: its RSA key (PKCS#1) and validity.
#[derive(Debug, Clone)]
pub struct SigningCertificate {
    public_key: Vec<u8>,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    organization: Option<String>,
}

impl SigningCertificate {
    /// From DER or PEM, as the certificate URL serves it.
    pub fn parse(bytes: &[u8]) -> Result<Self, WebhookError> {
        let bad = |e: x509_cert::der::Error| WebhookError::BadCertificate(e.to_string());
        let cert = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            Certificate::from_pem(bytes).map_err(bad)?
        } else {
            Certificate::from_der(bytes).map_err(bad)?
        };
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(WebhookError::BadCertificate("the key is not RSA".into()));
        }
        let public_key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| WebhookError::BadCertificate("the key is not whole bytes".into()))?
            .to_vec();
        let time = |t: x509_cert::time::Time| {
            DateTime::from_timestamp(
                i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
                0,
            )
            .ok_or_else(|| WebhookError::BadCertificate("validity out of range".into()))
        };
        let organization = tbs
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == ORGANIZATION)
            .and_then(|atv| directory_string(&atv.value));
        Ok(Self {
            public_key,
            not_before: time(tbs.validity.not_before)?,
            not_after: time(tbs.validity.not_after)?,
            organization,
        })
    }

    /// Checks `signature` over `body` (RSASSA-PKCS1-v1_5 with SHA-256) and that the
    /// certificate is valid at `now` and from the expected organization.
    pub fn verify(
        &self,
        body: &[u8],
        signature: &[u8],
        now: DateTime<Utc>,
        expected_organization: Option<&str>,
    ) -> Result<(), WebhookError> {
        if now < self.not_before || now > self.not_after {
            return Err(WebhookError::BadCertificate(format!(
                "valid from {} to {}, not at {now}",
                self.not_before, self.not_after
            )));
        }
        if let Some(expected) = expected_organization
            && self.organization.as_deref() != Some(expected)
        {
            return Err(WebhookError::BadCertificate(format!(
                "organization is {:?}, not `{expected}`",
                self.organization
            )));
        }
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(body, signature)
            .map_err(|_| WebhookError::BadSignature)
    }
}

fn directory_string(value: &x509_cert::der::Any) -> Option<String> {
    use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};
    value
        .decode_as::<Utf8StringRef<'_>>()
        .map(|s| s.as_str().to_owned())
        .or_else(|_| {
            value
                .decode_as::<PrintableStringRef<'_>>()
                .map(|s| s.as_str().to_owned())
        })
        .ok()
}

struct CacheEntry {
    certificate: SigningCertificate,
    fetched_at: DateTime<Utc>,
}

/// Verifies incoming webhooks; holds the certificate cache, so the server keeps one.
pub struct WebhookVerifier {
    config: WebhookConfig,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<Url, CacheEntry>>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    pub fn new(config: WebhookConfig, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        // No redirects: a redirect would lead the fetch off the allow-listed host.
        let client = reqwest::Client::builder()
            .timeout(config.timeouts.request)
            .connect_timeout(config.timeouts.connect)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::Client)?;
        Ok(Self {
            config,
            client,
            clock,
            cache: Mutex::default(),
        })
    }

    /// Verifies the webhook's signature and reads its event. `body` must be the raw bytes
    /// received: the signature covers them exactly.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookEvent, WebhookError> {
        let signed = signed_request(headers, &self.config)?;
        let now = self.clock.now();
        let expected = self.config.expected_organization.as_deref();
        let cached = self.cached(&signed.certificate_url, now);
        let outcome = match &cached {
            Some((certificate, _)) => certificate.verify(body, &signed.signature, now, expected),
            None => Err(WebhookError::BadSignature),
        };
        let refetch = match (&cached, &outcome) {
            (_, Ok(())) => false,
            (None, _) => true,
            (Some((_, fetched_at)), Err(_)) => {
                now - *fetched_at
                    >= chrono::Duration::from_std(self.config.min_refetch_interval)
                        .unwrap_or(chrono::Duration::MAX)
            }
        };
        if refetch {
            let certificate = self.fetch(&signed.certificate_url, now).await?;
            certificate.verify(body, &signed.signature, now, expected)?;
        } else {
            outcome?;
        }
        parse_event(body)
    }

    fn cached(&self, url: &Url, now: DateTime<Utc>) -> Option<(SigningCertificate, DateTime<Utc>)> {
        let ttl =
            chrono::Duration::from_std(self.config.cache_ttl).unwrap_or(chrono::Duration::MAX);
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.get(url)?;
        let usable = now - entry.fetched_at < ttl && now <= entry.certificate.not_after;
        usable.then(|| (entry.certificate.clone(), entry.fetched_at))
    }

    async fn fetch(
        &self,
        url: &Url,
        now: DateTime<Utc>,
    ) -> Result<SigningCertificate, WebhookError> {
        let unavailable = |e: reqwest::Error| WebhookError::CertificateUnavailable(e.to_string());
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(unavailable)?;
        if !response.status().is_success() {
            return Err(WebhookError::CertificateUnavailable(format!(
                "HTTP {}",
                response.status()
            )));
        }
        let bytes = response.bytes().await.map_err(unavailable)?;
        let certificate = SigningCertificate::parse(&bytes)?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                url.clone(),
                CacheEntry {
                    certificate: certificate.clone(),
                    fetched_at: now,
                },
            );
        Ok(certificate)
    }
}

/// The kinds of event Tollgate acts on; the others keep their name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WebhookEventKind {
    /// `azure-fraud-event-detected`.
    AzureFraudEventDetected,
    /// `usagerecords-thresholdExceeded`.
    UsageThresholdExceeded,
    /// `subscription-updated`.
    SubscriptionUpdated,
    /// `invoice-ready`.
    InvoiceReady,
    /// `test-created`, sent when a registration is tested.
    TestCreated,
    Other(String),
}

impl WebhookEventKind {
    fn parse(name: &str) -> Self {
        let known = [
            ("azure-fraud-event-detected", Self::AzureFraudEventDetected),
            (
                "usagerecords-thresholdExceeded",
                Self::UsageThresholdExceeded,
            ),
            ("subscription-updated", Self::SubscriptionUpdated),
            ("invoice-ready", Self::InvoiceReady),
            ("test-created", Self::TestCreated),
        ];
        known
            .into_iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name.trim()))
            .map_or_else(|| Self::Other(name.to_owned()), |(_, kind)| kind)
    }
}

/// A Partner Center webhook event.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// As sent, e.g. `subscription-updated`.
    pub event_name: String,
    pub kind: WebhookEventKind,
    /// The resource that changed; fetch it with `PartnerCenter::fetch_resource`.
    pub resource_uri: Option<String>,
    pub resource_name: Option<String>,
    pub audit_uri: Option<String>,
    pub resource_change_utc_date: Option<DateTime<Utc>>,
    pub raw: Value,
}

/// Reads the event body (keys in any case, unknown fields kept in `raw`).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let malformed = WebhookError::MalformedEvent;
    let raw: Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let object = raw
        .as_object()
        .ok_or_else(|| malformed(format!("expected an object, found {}", fields::kind(&raw))))?;
    let event_name = fields::opt_text(object, "EventName")
        .map_err(malformed)?
        .ok_or_else(|| malformed("EventName is missing".into()))?;
    let resource_change_utc_date = fields::get(object, "ResourceChangeUtcDate")
        .map(fields::time)
        .transpose()
        .map_err(|e| malformed(format!("ResourceChangeUtcDate: {e}")))?
        .flatten();
    Ok(WebhookEvent {
        kind: WebhookEventKind::parse(&event_name),
        event_name,
        resource_uri: fields::opt_text(object, "ResourceUri").map_err(malformed)?,
        resource_name: fields::opt_text(object, "ResourceName").map_err(malformed)?,
        audit_uri: fields::opt_text(object, "AuditUri").map_err(malformed)?,
        resource_change_utc_date,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn config() -> WebhookConfig {
        WebhookConfig {
            allowed_certificate_hosts: vec!["certs.example".into(), "127.0.0.1:8443".into()],
            ..WebhookConfig::default()
        }
    }

    #[test]
    fn certificate_urls_must_be_https_on_an_allowed_host() {
        let config = config();
        assert!(allowed_certificate_url("https://certs.example/cert/pc.cer", &config).is_ok());
        assert!(allowed_certificate_url("https://CERTS.example/cert/pc.cer", &config).is_ok());
        assert!(allowed_certificate_url("https://127.0.0.1:8443/c.cer", &config).is_ok());
        for refused in [
            "http://certs.example/cert/pc.cer",
            "https://certs.example.evil.test/pc.cer",
            "https://evil.test/certs.example",
            "https://user@certs.example/pc.cer",
            "https://certs.example:444/pc.cer",
            "https://127.0.0.1/c.cer",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert_eq!(
                allowed_certificate_url(refused, &config),
                Err(WebhookError::UntrustedCertificateUrl(refused.into())),
                "{refused}"
            );
        }
    }

    #[test]
    fn signature_headers_are_read_from_authorization_or_x_ms_signature() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "X-MS-Certificate-Url",
            HeaderValue::from_static("https://certs.example/pc.cer"),
        );
        headers.insert(
            "X-MS-Signature-Algorithm",
            HeaderValue::from_static("rsa-sha256"),
        );
        assert_eq!(
            signed_request(&headers, &config()),
            Err(WebhookError::MissingHeader("authorization"))
        );
        headers.insert("Authorization", HeaderValue::from_static("Signature AQID"));
        assert_eq!(
            signed_request(&headers, &config()).unwrap().signature,
            [1, 2, 3]
        );
        headers.insert("x-ms-signature", HeaderValue::from_static("BAU="));
        assert_eq!(
            signed_request(&headers, &config()).unwrap().signature,
            [4, 5]
        );
        headers.insert("x-ms-signature", HeaderValue::from_static("not base64!"));
        assert_eq!(
            signed_request(&headers, &config()),
            Err(WebhookError::MalformedHeader("x-ms-signature"))
        );
        headers.remove("x-ms-signature");
        headers.insert(
            "X-MS-Signature-Algorithm",
            HeaderValue::from_static("hmac-sha1"),
        );
        assert_eq!(
            signed_request(&headers, &config()),
            Err(WebhookError::UnsupportedAlgorithm("hmac-sha1".into()))
        );
    }

    #[test]
    fn events_read_leniently() {
        let body = br#"{"eventName": "usagerecords-thresholdexceeded", "ResourceUri": "https://api.partnercenter.microsoft.com/v1/customers/c/usagesummary",
            "ResourceName": "c", "AuditUri": null, "ResourceChangeUtcDate": "2017-11-16T16:19:06.3520276+00:00", "New": 1}"#;
        let event = parse_event(body).unwrap();
        assert_eq!(event.kind, WebhookEventKind::UsageThresholdExceeded);
        assert_eq!(event.audit_uri, None);
        assert!(event.resource_change_utc_date.is_some());
        assert_eq!(
            parse_event(br#"{"EventName": "dap-admin-relationship-approved"}"#)
                .unwrap()
                .kind,
            WebhookEventKind::Other("dap-admin-relationship-approved".into())
        );
        for (name, kind) in [
            (
                "azure-fraud-event-detected",
                WebhookEventKind::AzureFraudEventDetected,
            ),
            (
                "subscription-updated",
                WebhookEventKind::SubscriptionUpdated,
            ),
            ("invoice-ready", WebhookEventKind::InvoiceReady),
            ("test-created", WebhookEventKind::TestCreated),
        ] {
            let body = format!(r#"{{"EventName": "{name}"}}"#);
            assert_eq!(parse_event(body.as_bytes()).unwrap().kind, kind);
        }
        assert!(matches!(
            parse_event(b"{}"),
            Err(WebhookError::MalformedEvent(_))
        ));
        assert!(matches!(
            parse_event(b"[]"),
            Err(WebhookError::MalformedEvent(_))
        ));
    }
}
