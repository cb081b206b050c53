//! Business checks: the [`BusinessBureau`] trait and [`HttpBureau`], which speaks Tollgate's
//! generic bureau contract (`docs/connectors/bureau.md`): a provider, or a thin proxy in front
//! of one, answers `POST {base_url}/v1/business-checks`.

use std::fmt;

use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use tollgate_core::validate::CountryCode;

use crate::{
    BoxFuture, ConfigError, HttpTimeouts, Secret,
    http::{self, HttpFailure, Refusal},
    retry::{Attempt, AttemptError, AttemptOutcome, ConnectorError, Retrier},
};

/// Looks a business up in a credit bureau or business register.
pub trait BusinessBureau: Send + Sync {
    fn check(&self, request: BureauRequest) -> BoxFuture<'_, Result<BureauReport, BureauError>>;
}

/// The business to look up; serialized as the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BureauRequest {
    /// The caller's id for this check (e.g. the verification's id), sent as `Idempotency-Key`
    /// so a retried request is answered by the same check, not billed twice.
    #[serde(skip)]
    pub reference: String,
    pub legal_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_number: Option<String>,
    /// The country of registration.
    pub country: CountryCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<BureauAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BureauAddress {
    pub line1: String,
    pub city: String,
    pub postal_code: String,
    pub country: CountryCode,
}

/// The bureau's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BureauReport {
    /// The bureau's id for the check, to quote in a dispute.
    pub check_id: String,
    pub score_band: ScoreBand,
    /// The name in the register; `None` when no entry was found.
    pub registered_name: Option<String>,
    pub name_match: NameMatch,
    /// `None` when the bureau does not know.
    pub years_in_business: Option<u32>,
    pub status: BusinessStatus,
    pub attempts: Vec<Attempt>,
}

/// The bureau's risk grade: `A` is the lowest risk, `E` the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScoreBand {
    A,
    B,
    C,
    D,
    E,
}

/// How the registered name compares with the `legal_name` asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    Exact,
    Partial,
    None,
}

/// The business's standing in the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessStatus {
    Active,
    Dissolved,
    Unknown,
}

pub type BureauError = ConnectorError<BureauErrorKind>;

/// Why no report came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BureauErrorKind {
    #[error("the bureau refused the credentials: {0}")]
    Unauthorized(BureauApiError),
    /// A 4xx other than 401/403/429: the request is wrong, so it is not retried.
    #[error("the bureau rejected the request: {0}")]
    BadRequest(BureauApiError),
    #[error("the bureau is rate limiting: {0}")]
    RateLimited(BureauApiError),
    #[error("the bureau failed: {0}")]
    ServerError(BureauApiError),
    #[error("no answer from the bureau within the timeout")]
    Timeout,
    #[error("the bureau is unreachable: {0}")]
    Unreachable(String),
    #[error("the bureau's answer does not follow the contract: {0}")]
    Malformed(String),
}

impl AttemptError for BureauErrorKind {
    fn outcome(&self) -> AttemptOutcome {
        match self {
            Self::Unauthorized(_) => AttemptOutcome::Unauthorized,
            Self::BadRequest(_) => AttemptOutcome::Rejected,
            Self::RateLimited(_) => AttemptOutcome::RateLimited,
            Self::ServerError(_) => AttemptOutcome::ServerError,
            Self::Timeout => AttemptOutcome::Timeout,
            Self::Unreachable(_) => AttemptOutcome::Unreachable,
            Self::Malformed(_) => AttemptOutcome::Malformed,
        }
    }
}

impl HttpFailure for BureauErrorKind {
    fn timeout() -> Self {
        Self::Timeout
    }

    fn unreachable(why: String) -> Self {
        Self::Unreachable(why)
    }

    fn refused(refusal: Refusal, status: StatusCode, body: &[u8]) -> Self {
        let error = BureauApiError::from_answer(status, body);
        match refusal {
            Refusal::Unauthorized => Self::Unauthorized(error),
            Refusal::RateLimited => Self::RateLimited(error),
            Refusal::ServerError => Self::ServerError(error),
            Refusal::Rejected => Self::BadRequest(error),
        }
    }
}

/// The contract's error body, `{"error": {"code": …, "message": …}}`; an answer without one
/// keeps the HTTP status and the start of the body as the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BureauApiError {
    /// The HTTP status.
    pub status: u16,
    /// The bureau's machine-readable code, e.g. `invalid_registration_number`.
    pub code: Option<String>,
    pub message: String,
}

impl BureauApiError {
    fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Envelope {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            code: Option<String>,
            message: String,
        }
        let (code, message) = match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => (error.code, error.message),
            Err(_) => (None, http::snippet(body)),
        };
        Self {
            status: status.as_u16(),
            code,
            message,
        }
    }
}

impl fmt::Display for BureauApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, ", {code}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How [`HttpBureau`] reaches the bureau.
#[derive(Debug, Clone)]
pub struct HttpBureauConfig {
    /// The provider's (or proxy's) base URL; `/v1/business-checks` is appended.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`.
    pub token: Secret,
    pub timeouts: HttpTimeouts,
}

impl HttpBureauConfig {
    /// Default timeouts.
    pub fn new(base_url: impl Into<String>, token: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            timeouts: HttpTimeouts::default(),
        }
    }
}

/// [`BusinessBureau`] over the HTTP JSON contract in `docs/connectors/bureau.md`.
#[derive(Debug)]
pub struct HttpBureau {
    client: reqwest::Client,
    url: Url,
    token: Secret,
    retrier: Retrier,
}

impl HttpBureau {
    pub fn new(config: HttpBureauConfig, retrier: Retrier) -> Result<Self, ConfigError> {
        Ok(Self {
            client: http::client(config.timeouts)?,
            url: http::endpoint(&config.base_url, &["v1", "business-checks"])?,
            token: config.token,
            retrier,
        })
    }

    async fn look_up(&self, request: BureauRequest) -> Result<BureauReport, BureauError> {
        let build = || {
            self.client
                .post(self.url.clone())
                .bearer_auth(self.token.expose())
                .header("Idempotency-Key", &request.reference)
                .json(&request)
        };
        let (body, attempts) = http::call(&self.retrier, build, decode_report).await?;
        Ok(BureauReport {
            check_id: body.check_id,
            score_band: body.score_band,
            registered_name: body.registered_name,
            name_match: body.name_match,
            years_in_business: body.years_in_business,
            status: body.status,
            attempts,
        })
    }
}

impl BusinessBureau for HttpBureau {
    fn check(&self, request: BureauRequest) -> BoxFuture<'_, Result<BureauReport, BureauError>> {
        Box::pin(self.look_up(request))
    }
}

/// The response body; unknown fields are ignored so the bureau can add some.
#[derive(Debug, Deserialize)]
struct ReportBody {
    check_id: String,
    score_band: ScoreBand,
    registered_name: Option<String>,
    name_match: NameMatch,
    years_in_business: Option<u32>,
    status: BusinessStatus,
}

fn decode_report(body: &[u8]) -> Result<ReportBody, BureauErrorKind> {
    serde_json::from_slice(body).map_err(|e| BureauErrorKind::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_decode_strictly_but_ignore_unknown_fields() {
        let body = br#"{"check_id": "bc_1", "score_band": "C", "registered_name": null,
            "name_match": "none", "years_in_business": null, "status": "unknown", "extra": 1}"#;
        let report = decode_report(body).unwrap();
        assert_eq!(report.score_band, ScoreBand::C);
        assert_eq!(report.name_match, NameMatch::None);

        let bad_band = br#"{"check_id": "bc_1", "score_band": "F", "registered_name": null,
            "name_match": "none", "years_in_business": null, "status": "unknown"}"#;
        assert!(matches!(
            decode_report(bad_band),
            Err(BureauErrorKind::Malformed(_))
        ));
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        let body = br#"{"error": {"code": "invalid_country", "message": "country is not served"}}"#;
        let error = BureauApiError::from_answer(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(
            error.to_string(),
            "HTTP 422, invalid_country: country is not served"
        );
        let bare = BureauApiError::from_answer(StatusCode::BAD_GATEWAY, b"upstream down");
        assert_eq!(bare.to_string(), "HTTP 502: upstream down");
    }
}
