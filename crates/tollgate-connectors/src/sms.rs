//! Sending SMS: the [`SmsSender`] trait and [`TwilioSms`], which speaks Twilio's Messages API
//! (contract summary with links in `docs/connectors/sms.md`).

use std::fmt;

use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::{
    BoxFuture, ConfigError, HttpTimeouts, Secret,
    http::{self, HttpFailure, Refusal},
    retry::{Attempt, AttemptError, AttemptOutcome, ConnectorError, Retrier},
};

/// Sends one text message.
pub trait SmsSender: Send + Sync {
    /// Sends `body` to `to_e164`, a number in canonical E.164 (`+4915112345678`).
    fn send<'a>(
        &'a self,
        to_e164: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<SmsReceipt, SmsError>>;
}

/// The provider took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The provider's id for the message (`SM…` at Twilio).
    pub message_id: String,
    /// The provider's status when it took the message (`queued`, `accepted`, `scheduled`…).
    pub status: String,
    pub attempts: Vec<Attempt>,
}

pub type SmsError = ConnectorError<SmsErrorKind>;

/// Why no message was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsErrorKind {
    #[error("the SMS provider refused the credentials: {0}")]
    Unauthorized(TwilioApiError),
    /// The request was wrong (an invalid `To`, a sender not on the account…): not retried.
    #[error("the SMS provider rejected the message: {0}")]
    Rejected(TwilioApiError),
    #[error("the SMS provider is rate limiting: {0}")]
    RateLimited(TwilioApiError),
    #[error("the SMS provider failed: {0}")]
    ServerError(TwilioApiError),
    /// A 2xx answer whose message is already `failed`, `undelivered` or `canceled`.
    #[error("the SMS provider reports the message as `{status}`: {reason}")]
    NotSent {
        status: String,
        error_code: Option<i64>,
        reason: String,
    },
    #[error("no answer from the SMS provider within the timeout")]
    Timeout,
    #[error("the SMS provider is unreachable: {0}")]
    Unreachable(String),
    #[error("the SMS provider's answer does not follow its contract: {0}")]
    Malformed(String),
}

impl AttemptError for SmsErrorKind {
    fn outcome(&self) -> AttemptOutcome {
        match self {
            Self::Unauthorized(_) => AttemptOutcome::Unauthorized,
            Self::Rejected(_) | Self::NotSent { .. } => AttemptOutcome::Rejected,
            Self::RateLimited(_) => AttemptOutcome::RateLimited,
            Self::ServerError(_) => AttemptOutcome::ServerError,
            Self::Timeout => AttemptOutcome::Timeout,
            Self::Unreachable(_) => AttemptOutcome::Unreachable,
            Self::Malformed(_) => AttemptOutcome::Malformed,
        }
    }
}

impl HttpFailure for SmsErrorKind {
    fn timeout() -> Self {
        Self::Timeout
    }

    fn unreachable(why: String) -> Self {
        Self::Unreachable(why)
    }

    fn refused(refusal: Refusal, status: StatusCode, body: &[u8]) -> Self {
        let error = TwilioApiError::from_answer(status, body);
        match refusal {
            Refusal::Unauthorized => Self::Unauthorized(error),
            Refusal::RateLimited => Self::RateLimited(error),
            Refusal::ServerError => Self::ServerError(error),
            Refusal::Rejected => Self::Rejected(error),
        }
    }
}

/// Twilio's error body (`code`, `message`, `more_info`, `status`). An answer without one (a
/// proxy's HTML page, say) keeps the HTTP status and the start of the body as the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioApiError {
    /// The HTTP status.
    pub status: u16,
    /// Twilio's error code, e.g. 20003 (authentication) or 21211 (invalid `To`).
    pub code: Option<i64>,
    pub message: String,
    /// Twilio's page on the error code.
    pub more_info: Option<String>,
}

impl TwilioApiError {
    fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            code: Option<i64>,
            message: Option<String>,
            more_info: Option<String>,
        }
        let parsed = serde_json::from_slice::<Body>(body).ok();
        let (code, message, more_info) = match parsed {
            Some(Body {
                code,
                message: Some(message),
                more_info,
            }) => (code, message, more_info),
            _ => (None, http::snippet(body), None),
        };
        Self {
            status: status.as_u16(),
            code,
            message,
            more_info,
        }
    }
}

impl fmt::Display for TwilioApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, ", error {code}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Production base URL of Twilio's REST API.
pub const TWILIO_API_BASE: &str = "https://api.twilio.com";

/// How [`TwilioSms`] reaches Twilio.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// [`TWILIO_API_BASE`] in production; tests point it at a local fake.
    pub base_url: String,
    /// The account (`AC…`) the messages are sent from; it names the endpoint.
    pub account_sid: String,
    pub auth: TwilioAuth,
    pub sender: TwilioSender,
    pub timeouts: HttpTimeouts,
}

impl TwilioConfig {
    /// Production URL and default timeouts.
    pub fn new(account_sid: impl Into<String>, auth: TwilioAuth, sender: TwilioSender) -> Self {
        Self {
            base_url: TWILIO_API_BASE.to_owned(),
            account_sid: account_sid.into(),
            auth,
            sender,
            timeouts: HttpTimeouts::default(),
        }
    }
}

/// The HTTP Basic credentials.
#[derive(Debug, Clone)]
pub enum TwilioAuth {
    /// The account SID as user name and the account's auth token.
    AuthToken(Secret),
    /// A revocable API key (`SK…`) and its secret: Twilio's recommendation for production.
    ApiKey { sid: String, secret: Secret },
}

/// Who the message comes from.
#[derive(Debug, Clone)]
pub enum TwilioSender {
    /// A Twilio number in E.164 or an alphanumeric sender id (`From`).
    From(String),
    /// A Messaging Service that picks the number (`MessagingServiceSid`, `MG…`).
    MessagingService(String),
}

/// [`SmsSender`] over Twilio's Messages API:
/// `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
#[derive(Debug)]
pub struct TwilioSms {
    client: reqwest::Client,
    url: Url,
    config: TwilioConfig,
    retrier: Retrier,
}

impl TwilioSms {
    pub fn new(config: TwilioConfig, retrier: Retrier) -> Result<Self, ConfigError> {
        let url = http::endpoint(
            &config.base_url,
            &[
                "2010-04-01",
                "Accounts",
                &config.account_sid,
                "Messages.json",
            ],
        )?;
        Ok(Self {
            client: http::client(config.timeouts)?,
            url,
            config,
            retrier,
        })
    }

    async fn deliver(&self, to_e164: &str, body: &str) -> Result<SmsReceipt, SmsError> {
        let sender = match &self.config.sender {
            TwilioSender::From(number) => ("From", number.as_str()),
            TwilioSender::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        let form = [("To", to_e164), sender, ("Body", body)];
        let (user, password) = match &self.config.auth {
            TwilioAuth::AuthToken(token) => (self.config.account_sid.as_str(), token),
            TwilioAuth::ApiKey { sid, secret } => (sid.as_str(), secret),
        };
        let build = || {
            self.client
                .post(self.url.clone())
                .basic_auth(user, Some(password.expose()))
                .form(&form[..])
        };
        let (message, attempts) = http::call(&self.retrier, build, decode_message).await?;
        Ok(SmsReceipt {
            message_id: message.sid,
            status: message.status,
            attempts,
        })
    }
}

impl SmsSender for TwilioSms {
    fn send<'a>(
        &'a self,
        to_e164: &'a str,
        body: &'a str,
    ) -> BoxFuture<'a, Result<SmsReceipt, SmsError>> {
        Box::pin(self.deliver(to_e164, body))
    }
}

/// The fields of Twilio's Message resource that Tollgate reads; the others are ignored.
#[derive(Debug, Deserialize)]
struct MessageResource {
    sid: String,
    status: String,
    error_code: Option<i64>,
    error_message: Option<String>,
}

fn decode_message(body: &[u8]) -> Result<MessageResource, SmsErrorKind> {
    let message: MessageResource =
        serde_json::from_slice(body).map_err(|e| SmsErrorKind::Malformed(e.to_string()))?;
    if matches!(
        message.status.as_str(),
        "failed" | "undelivered" | "canceled"
    ) {
        return Err(SmsErrorKind::NotSent {
            reason: message
                .error_message
                .unwrap_or_else(|| "no reason given".to_owned()),
            status: message.status,
            error_code: message.error_code,
        });
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_leniently() {
        let twilio = br#"{"code": 21211, "message": "Invalid 'To' Phone Number", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
        let error = TwilioApiError::from_answer(StatusCode::BAD_REQUEST, twilio);
        assert_eq!(error.code, Some(21211));
        assert_eq!(
            error.to_string(),
            "HTTP 400, error 21211: Invalid 'To' Phone Number"
        );

        let proxy =
            TwilioApiError::from_answer(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(proxy.to_string(), "HTTP 502: <html>bad gateway</html>");
    }

    #[test]
    fn a_message_that_already_failed_is_not_a_receipt() {
        let body = br#"{"sid": "SM1", "status": "failed", "error_code": 30007, "error_message": "Carrier violation"}"#;
        let error = decode_message(body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the SMS provider reports the message as `failed`: Carrier violation"
        );
        assert!(matches!(
            decode_message(b"{}"),
            Err(SmsErrorKind::Malformed(_))
        ));
    }

    #[test]
    fn credentials_do_not_show_in_debug_output() {
        let config = TwilioConfig::new(
            "AC123",
            TwilioAuth::ApiKey {
                sid: "SK123".into(),
                secret: Secret::new("api-secret"),
            },
            TwilioSender::From("+15005550006".into()),
        );
        let sms = TwilioSms::new(config, Retrier::new(Default::default())).unwrap();
        let printed = format!("{sms:?}");
        assert!(printed.contains("SK123") && printed.contains("***"));
        assert!(!printed.contains("api-secret"));
    }
}
