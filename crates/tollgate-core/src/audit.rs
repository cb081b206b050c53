//! The audit trail: an append-only, per-tenant hash chain. Each event commits to the previous
//! event's hash, so changing, removing or reordering any stored event breaks every later link and
//! `verify` names the first one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AuditId, TenantId};

/// The hash the first event of every tenant's chain points back to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who caused a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A request made with an API key.
    Key { id: String },
    /// A background job such as `dunning`.
    Job { name: String },
    /// The engine, under a named policy version.
    Rule { policy: String },
    /// An operator at the command line.
    Cli,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::Key { id } => id.clone(),
            Actor::Job { name } => format!("job:{name}"),
            Actor::Rule { policy } => format!("rule:{policy}"),
            Actor::Cli => "cli".to_owned(),
        }
    }
}

/// What is being appended, before the chain assigns its place and hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub actor: Actor,
    /// Dotted verb: `customer.created`, `subscription.suspended`, `key.revoked`.
    pub action: String,
    /// The id of the object acted on.
    pub object_id: String,
    /// What changed, as the API would show it.
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: AuditId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub object_id: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// Places an entry after `prev_hash` and seals it.
    pub fn seal(
        tenant_id: TenantId,
        seq: i64,
        prev_hash: String,
        at: DateTime<Utc>,
        entry: AuditEntry,
    ) -> Self {
        let mut event = Self {
            id: AuditId::generate(),
            tenant_id,
            seq,
            at,
            actor: entry.actor,
            action: entry.action,
            object_id: entry.object_id,
            data: entry.data,
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }

    /// SHA-256 over a canonical JSON rendering of every field but the hash itself.
    /// serde_json sorts object keys (no `preserve_order`), so the rendering is stable.
    pub fn compute_hash(&self) -> String {
        let canonical = serde_json::json!({
            "id": self.id.to_string(),
            "tenant_id": self.tenant_id.to_string(),
            "seq": self.seq,
            "at": self.at.timestamp_micros(),
            "actor": self.actor.label(),
            "action": self.action,
            "object_id": self.object_id,
            "data": self.data,
            "prev_hash": self.prev_hash,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The first place a chain does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("event {id} (seq {seq}) does not match its own hash: it was altered")]
    Altered { id: String, seq: i64 },
    #[error("event {id} (seq {seq}) does not point at the previous event's hash")]
    Unlinked { id: String, seq: i64 },
    #[error("event {id} has seq {seq} where {expected} was expected: an event is missing")]
    Gap { id: String, seq: i64, expected: i64 },
}

/// Checks a tenant's events one at a time, in `seq` order, so a long chain can be streamed
/// from the store page by page.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev_hash: String,
    verified: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            prev_hash: GENESIS.to_owned(),
            verified: 0,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let expected = self.verified as i64 + 1;
        if event.seq != expected {
            return Err(ChainBreak::Gap {
                id: event.id.to_string(),
                seq: event.seq,
                expected,
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(ChainBreak::Unlinked {
                id: event.id.to_string(),
                seq: event.seq,
            });
        }
        if event.compute_hash() != event.hash {
            return Err(ChainBreak::Altered {
                id: event.id.to_string(),
                seq: event.seq,
            });
        }
        self.prev_hash.clone_from(&event.hash);
        self.verified += 1;
        Ok(())
    }

    /// How many events held together so far.
    pub fn verified(&self) -> u64 {
        self.verified
    }
}

/// Verifies a whole chain held in memory; returns how many events verified.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<u64, ChainBreak> {
    let mut verifier = ChainVerifier::default();
    for event in events {
        verifier.push(event)?;
    }
    Ok(verifier.verified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let tenant = TenantId::generate();
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let event = AuditEvent::seal(
                    tenant,
                    seq,
                    prev.clone(),
                    Utc::now(),
                    AuditEntry {
                        actor: Actor::Cli,
                        action: "customer.created".into(),
                        object_id: format!("obj{seq}"),
                        data: serde_json::json!({"n": seq}),
                    },
                );
                prev = event.hash.clone();
                event
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
    }

    #[test]
    fn altering_data_is_found_at_that_event() {
        let mut events = chain(5);
        events[2].data = serde_json::json!({"n": 999});
        assert!(matches!(
            verify_chain(&events),
            Err(ChainBreak::Altered { seq: 3, .. })
        ));
    }

    #[test]
    fn rehashing_an_altered_event_breaks_the_next_link() {
        let mut events = chain(5);
        events[2].action = "customer.deleted".into();
        events[2].hash = events[2].compute_hash();
        assert!(matches!(
            verify_chain(&events),
            Err(ChainBreak::Unlinked { seq: 4, .. })
        ));
    }

    #[test]
    fn a_removed_event_is_a_gap() {
        let mut events = chain(5);
        events.remove(1);
        assert!(matches!(
            verify_chain(&events),
            Err(ChainBreak::Gap {
                seq: 3,
                expected: 2,
                ..
            })
        ));
    }
}
