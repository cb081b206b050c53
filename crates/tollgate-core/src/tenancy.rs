//! Tenants (resellers), their API keys and the roles that gate what a key may do.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{KeyId, TenantId};

/// What a key is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including keys and tenant settings.
    Admin,
    /// Read, work cases and alerts, change rules and lists.
    Analyst,
    /// Read only.
    Viewer,
    /// Write facts (sign-ups, usage, invoices…) and nothing else.
    Ingest,
}

/// The kinds of thing a request does; each route declares the one it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    /// Submit facts: customers, sign-ups, usage, payments.
    WriteFacts,
    /// Analyst work: cases, alerts, manual actions on customers, rules and lists.
    Operate,
    /// Keys and tenant settings.
    Administer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Analyst, Role::Viewer, Role::Ingest];

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Analyst => matches!(permission, Read | Operate | WriteFacts),
            Role::Viewer => matches!(permission, Read),
            Role::Ingest => matches!(permission, WriteFacts),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
            Role::Ingest => "ingest",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; expected admin, analyst, viewer or ingest")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A reseller using Tollgate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    /// Short unique name used by the CLI.
    pub slug: String,
    pub name: String,
    /// IANA time zone for calendar logic (billing months, days past due).
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

/// An API key as stored: the secret itself is never kept, only its hash and a prefix that
/// lets a person recognise it in a list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: KeyId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub role: Role,
    /// The first characters of the secret, enough to tell keys apart.
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// Secrets look like `tg_live_<43 url-safe characters>`; the visible prefix is the first 12.
pub const SECRET_PREFIX: &str = "tg_live_";
pub const VISIBLE_PREFIX_LEN: usize = 12;

/// Builds a secret from 32 random bytes the caller supplies (core draws no randomness itself).
pub fn secret_from_bytes(bytes: &[u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// The stored form of a secret. Keys carry 256 bits of entropy, so a fast hash is as strong as a
/// slow one here and keeps authentication off the hot path's critical section.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn visible_prefix(secret: &str) -> String {
    secret.chars().take(VISIBLE_PREFIX_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_issue_says() {
        use Permission::*;
        assert!(Role::Admin.allows(Administer));
        assert!(Role::Analyst.allows(Operate) && !Role::Analyst.allows(Administer));
        assert!(Role::Viewer.allows(Read) && !Role::Viewer.allows(WriteFacts));
        assert!(Role::Ingest.allows(WriteFacts) && !Role::Ingest.allows(Read));
    }

    #[test]
    fn roles_parse_from_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn secret_hash_is_stable_and_hides_the_secret() {
        let secret = secret_from_bytes(&[7; 32]);
        assert!(secret.starts_with(SECRET_PREFIX));
        let hash = hash_secret(&secret);
        assert_eq!(hash, hash_secret(&secret));
        assert!(!hash.contains(&secret[SECRET_PREFIX.len()..]));
        assert_eq!(visible_prefix(&secret).len(), VISIBLE_PREFIX_LEN);
    }
}
