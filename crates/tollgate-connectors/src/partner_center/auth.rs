//! Access tokens from Microsoft Entra ID (the identity platform in front of Partner Center):
//! app-only by client credentials, app+user by a delegated refresh token. Each is cached until
//! shortly before it expires, by the retrier's clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{PcAttempt, PcErrorKind, fields};
use crate::{ConfigError, Retrier, Secret, http};

/// The audience of the v2.0 endpoint: Partner Center's API with its configured permissions.
pub const PARTNER_CENTER_SCOPE: &str = "https://api.partnercenter.microsoft.com/.default";
/// The audience of the v1 endpoint.
pub const PARTNER_CENTER_RESOURCE: &str = "https://api.partnercenter.microsoft.com";

/// What the token is asked for: the v2.0 endpoint names a `scope`, the v1 endpoint a
/// `resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAudience {
    Scope(String),
    Resource(String),
}

/// The Entra ID application Tollgate acts as, and the partner user it may act for.
#[derive(Debug, Clone)]
pub struct PartnerCenterAuth {
    /// `https://login.microsoftonline.com/{partner-tenant}/oauth2/v2.0/token` (with a
    /// [`TokenAudience::Scope`]) or `…/oauth2/token` (with a [`TokenAudience::Resource`]).
    pub token_url: String,
    pub audience: TokenAudience,
    pub client_id: String,
    pub client_secret: Secret,
    /// A partner user's refresh token (from a consent flow done once, outside Tollgate), for
    /// the operations Partner Center only allows with app+user credentials (fraud events).
    pub user_refresh_token: Option<Secret>,
    /// A cached token is replaced this long before it expires, so no call carries a token
    /// that lapses in flight.
    pub refresh_margin: Duration,
}

impl PartnerCenterAuth {
    /// The v2.0 endpoint of `tenant` (the partner's tenant id or domain), app-only.
    pub fn v2(tenant: &str, client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            token_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            audience: TokenAudience::Scope(PARTNER_CENTER_SCOPE.to_owned()),
            client_id: client_id.into(),
            client_secret,
            user_refresh_token: None,
            refresh_margin: Duration::from_secs(300),
        }
    }

    pub fn with_user_refresh_token(mut self, refresh_token: Secret) -> Self {
        self.user_refresh_token = Some(refresh_token);
        self
    }
}

/// Whose token a call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    App,
    User,
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    expires_at: DateTime<Utc>,
}

#[derive(Debug)]
struct UserSlot {
    /// Entra ID may hand out a new refresh token with each access token; the newest is kept.
    refresh_token: Option<Secret>,
    cached: Option<Cached>,
}

/// A token for one call; `cached` says whether it came from the cache, so a 401 with a cached
/// token is worth one retry with a new one.
pub(crate) struct Token {
    pub secret: Secret,
    pub cached: bool,
}

#[derive(Debug)]
pub(crate) struct Tokens {
    url: Url,
    auth: PartnerCenterAuth,
    app: Mutex<Option<Cached>>,
    user: Mutex<UserSlot>,
}

impl Tokens {
    pub fn new(auth: PartnerCenterAuth) -> Result<Self, ConfigError> {
        let url = http::endpoint(&auth.token_url, &[])?;
        let user = UserSlot {
            refresh_token: auth.user_refresh_token.clone(),
            cached: None,
        };
        Ok(Self {
            url,
            auth,
            app: Mutex::new(None),
            user: Mutex::new(user),
        })
    }

    /// A valid token, fetched only when the cache has none. The lock is held while fetching
    /// so that concurrent calls wait for one request instead of each sending their own.
    pub async fn get(
        &self,
        grant: Grant,
        client: &reqwest::Client,
        retrier: &Retrier,
        log: &mut Vec<PcAttempt>,
    ) -> Result<Token, PcErrorKind> {
        match grant {
            Grant::App => {
                let mut slot = self.app.lock().await;
                if let Some(token) = fresh(slot.as_ref(), retrier.now()) {
                    return Ok(token);
                }
                let (cached, _) = self.fetch(None, client, retrier, log).await?;
                let token = cached.token.clone();
                *slot = Some(cached);
                Ok(Token {
                    secret: token,
                    cached: false,
                })
            }
            Grant::User => {
                let mut slot = self.user.lock().await;
                if let Some(token) = fresh(slot.cached.as_ref(), retrier.now()) {
                    return Ok(token);
                }
                let refresh = slot
                    .refresh_token
                    .clone()
                    .ok_or(PcErrorKind::UserCredentialsMissing)?;
                let (cached, rotated) = self.fetch(Some(&refresh), client, retrier, log).await?;
                let token = cached.token.clone();
                slot.cached = Some(cached);
                if let Some(rotated) = rotated {
                    slot.refresh_token = Some(rotated);
                }
                Ok(Token {
                    secret: token,
                    cached: false,
                })
            }
        }
    }

    /// Drops a token Partner Center refused, so the next call asks for a new one.
    pub async fn forget(&self, grant: Grant) {
        match grant {
            Grant::App => *self.app.lock().await = None,
            Grant::User => self.user.lock().await.cached = None,
        }
    }

    async fn fetch(
        &self,
        refresh_token: Option<&Secret>,
        client: &reqwest::Client,
        retrier: &Retrier,
        log: &mut Vec<PcAttempt>,
    ) -> Result<(Cached, Option<Secret>), PcErrorKind> {
        let auth = &self.auth;
        let audience = match &auth.audience {
            TokenAudience::Scope(scope) => ("scope", scope.as_str()),
            TokenAudience::Resource(resource) => ("resource", resource.as_str()),
        };
        let mut form = vec![
            ("client_id", auth.client_id.as_str()),
            ("client_secret", auth.client_secret.expose()),
            audience,
        ];
        match refresh_token {
            Some(refresh) => form.extend([
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
            ]),
            None => form.push(("grant_type", "client_credentials")),
        }
        let build = || client.post(self.url.clone()).form(&form);
        let request = format!("POST {}", self.url.path());
        let result = http::call(retrier, build, decode_token).await;
        let body = super::settle(log, &request, None, result).map_err(|kind| match kind {
            PcErrorKind::Unauthorized(error)
            | PcErrorKind::Rejected(error)
            | PcErrorKind::NotFound(error)
            | PcErrorKind::PreconditionFailed(error) => PcErrorKind::TokenRejected(error),
            other => other,
        })?;
        // Clamped so that no answer, however odd, can overflow the time arithmetic.
        let lifetime = chrono::Duration::seconds(body.expires_in.clamp(0, MAX_LIFETIME_SECS))
            - margin(auth.refresh_margin);
        let now = retrier.now();
        Ok((
            Cached {
                token: body.access_token,
                expires_at: now.checked_add_signed(lifetime).unwrap_or(now),
            },
            body.refresh_token,
        ))
    }
}

/// Entra ID access tokens live about an hour; a day is far beyond any real answer.
const MAX_LIFETIME_SECS: i64 = 86_400;

fn margin(margin: Duration) -> chrono::Duration {
    chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::seconds(MAX_LIFETIME_SECS))
}

fn fresh(cached: Option<&Cached>, now: DateTime<Utc>) -> Option<Token> {
    cached
        .filter(|cached| now < cached.expires_at)
        .map(|cached| Token {
            secret: cached.token.clone(),
            cached: true,
        })
}

struct TokenBody {
    access_token: Secret,
    expires_in: i64,
    refresh_token: Option<Secret>,
}

/// The v1 endpoint sends `expires_in` as a string, the v2.0 endpoint as a number.
fn decode_token(body: &[u8]) -> Result<TokenBody, PcErrorKind> {
    #[derive(Deserialize)]
    struct Raw {
        access_token: String,
        expires_in: serde_json::Value,
        refresh_token: Option<String>,
    }
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| PcErrorKind::Malformed(format!("token response: {e}")))?;
    let expires_in = fields::integer(&raw.expires_in)
        .map_err(|e| PcErrorKind::Malformed(format!("token response: expires_in: {e}")))?;
    Ok(TokenBody {
        access_token: Secret::new(raw.access_token),
        expires_in,
        refresh_token: raw.refresh_token.map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bodies_of_both_endpoint_versions_decode() {
        let v1 =
            br#"{"token_type":"Bearer","expires_in":"3600","access_token":"a1","resource":"x"}"#;
        let v2 = br#"{"token_type":"Bearer","expires_in":3599,"access_token":"a2","refresh_token":"r2"}"#;
        let v1 = decode_token(v1).unwrap();
        assert_eq!((v1.access_token.expose(), v1.expires_in), ("a1", 3600));
        let v2 = decode_token(v2).unwrap();
        assert_eq!(v2.refresh_token.unwrap().expose(), "r2");
        assert!(matches!(
            decode_token(br#"{"access_token":"a","expires_in":"soon"}"#),
            Err(PcErrorKind::Malformed(_))
        ));
    }
}
