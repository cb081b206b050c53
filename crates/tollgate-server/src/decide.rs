//! The glue between facts and the pure engine: gathers what a decision needs from the store
//! (links, velocity, lists, the customer's standing), runs the tenant's live policies, and
//! records the decision with everything it saw so it can be explained and replayed.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tollgate_core::{
    CustomerId, DecisionId, TenantId,
    audit::{Actor, AuditEntry},
    customers::Customer,
    decisions::{Decision, DecisionKind, DecisionTerms},
    refdata::ReferenceData,
    rules::{CompiledPolicy, Evaluation, Policy},
    signals::{
        CustomerState, ListMatches, SignupFacts, email, geo,
        links::{LinkCounts, LinkKeys},
    },
    webhooks::EventType,
};
use tollgate_store::{DecisionRow, History, Linked, ListHit, Lookup, Tx, WindowCounts};

use crate::error::{ApiError, ApiResult};

/// How long a tenant's list of live policy versions is trusted without asking the store again.
/// Publishing or changing a policy through this process takes effect at once
/// ([`PolicyCache::changed`]); through another instance, within this long.
pub const LIVE_POLICIES_TTL: Duration = Duration::from_secs(5);

/// Compiled policies by (tenant, version), and each tenant's live versions. Versions are
/// immutable, so compiled entries never go stale; which versions are live can change, so that
/// list expires (see [`LIVE_POLICIES_TTL`]).
#[derive(Default)]
pub struct PolicyCache {
    compiled: RwLock<HashMap<(TenantId, i64), Arc<CompiledPolicy>>>,
    live: RwLock<HashMap<TenantId, LiveVersions>>,
    /// Bumped by every change through this process: a list read before the change is not
    /// stored after it.
    changes: AtomicU64,
}

/// A tenant's `(version, status)` of its active and shadow policies, as last read.
struct LiveVersions {
    versions: Vec<(i64, String)>,
    read_at: Instant,
    changes: u64,
}

/// The policies a decision runs: the one that decides and those that only watch.
pub struct LivePolicies {
    pub active: Arc<CompiledPolicy>,
    pub shadows: Vec<Arc<CompiledPolicy>>,
}

/// The shipped default, for a tenant that has not published a policy of its own.
fn shipped_default() -> ApiResult<Arc<CompiledPolicy>> {
    static DEFAULT: OnceLock<Result<Arc<CompiledPolicy>, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            CompiledPolicy::compile(Policy::shipped_default())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ApiError::Internal)
}

impl PolicyCache {
    pub async fn live(&self, tx: &mut Tx, tenant: TenantId) -> ApiResult<LivePolicies> {
        let mut active = None;
        let mut shadows = Vec::new();
        for (version, status) in self.live_versions(tx, tenant).await? {
            let compiled = self.compiled(tx, tenant, version).await?;
            if status == "active" {
                active = Some(compiled);
            } else {
                shadows.push(compiled);
            }
        }
        Ok(LivePolicies {
            active: match active {
                Some(active) => active,
                None => shipped_default()?,
            },
            shadows,
        })
    }

    /// A policy of `tenant` was published or changed status: read its live versions afresh.
    /// Call it after the change committed.
    pub fn changed(&self, tenant: TenantId) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.live
            .write()
            .expect("policy cache lock")
            .remove(&tenant);
    }

    async fn live_versions(&self, tx: &mut Tx, tenant: TenantId) -> ApiResult<Vec<(i64, String)>> {
        let changes = self.changes.load(Ordering::SeqCst);
        if let Some(hit) = self
            .live
            .read()
            .expect("policy cache lock")
            .get(&tenant)
            .filter(|c| c.changes == changes && c.read_at.elapsed() < LIVE_POLICIES_TTL)
        {
            return Ok(hit.versions.clone());
        }
        let versions = tx.live_policy_versions(tenant).await?;
        let mut live = self.live.write().expect("policy cache lock");
        live.retain(|_, c| c.read_at.elapsed() < LIVE_POLICIES_TTL);
        if self.changes.load(Ordering::SeqCst) == changes {
            live.insert(
                tenant,
                LiveVersions {
                    versions: versions.clone(),
                    read_at: Instant::now(),
                    changes,
                },
            );
        }
        Ok(versions)
    }

    pub async fn compiled(
        &self,
        tx: &mut Tx,
        tenant: TenantId,
        version: i64,
    ) -> ApiResult<Arc<CompiledPolicy>> {
        if let Some(hit) = self
            .compiled
            .read()
            .expect("policy cache lock")
            .get(&(tenant, version))
        {
            return Ok(hit.clone());
        }
        let row = tx.policy(tenant, version).await?;
        let policy = Policy::from_json(&row.document)
            .map_err(|e| ApiError::Internal(format!("stored policy v{version}: {e}")))?;
        let compiled = Arc::new(
            CompiledPolicy::compile(policy)
                .map_err(|e| ApiError::Internal(format!("stored policy v{version}: {e}")))?,
        );
        self.compiled
            .write()
            .expect("policy cache lock")
            .insert((tenant, version), compiled.clone());
        Ok(compiled)
    }
}

impl LivePolicies {
    /// Evaluates the active policy, and every shadow beside it for the record.
    pub fn evaluate(
        &self,
        kind: DecisionKind,
        features: &serde_json::Value,
    ) -> (Evaluation, Vec<ShadowResult>) {
        let active = self.active.evaluate(kind, features);
        let shadows = self
            .shadows
            .iter()
            .map(|policy| ShadowResult::from(policy.evaluate(kind, features)))
            .collect();
        (active, shadows)
    }
}

/// What a shadow policy would have decided; recorded, never acted on.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ShadowResult {
    pub policy_version: String,
    pub verdict: tollgate_core::decisions::Verdict,
    pub score: u8,
    pub reasons: Vec<tollgate_core::decisions::Reason>,
}

impl From<Evaluation> for ShadowResult {
    fn from(e: Evaluation) -> Self {
        Self {
            policy_version: e.policy_version,
            verdict: e.verdict,
            score: e.score,
            reasons: e.reasons,
        }
    }
}

/// What a decision asks the store about its surroundings.
#[derive(Default)]
pub struct Ask<'a> {
    /// Link keys `(kind, value)` of the subject.
    pub link_keys: &'a [(&'a str, String)],
    /// Velocity keys `(kind, key)`.
    pub velocity: &'a [(&'a str, &'a str)],
    /// List candidates `(kind, value)`; an IP also matches every CIDR range that holds it.
    pub list_candidates: &'a [(&'a str, String)],
    /// An existing customer: its own keys are not links, and its history counts.
    pub customer: Option<&'a Customer>,
}

/// The answers, ready for [`Context`](tollgate_core::signals::Context).
pub struct Surroundings {
    pub links: LinkCounts,
    /// Per velocity key asked, in order.
    pub velocity: Vec<WindowCounts>,
    pub lists: ListMatches,
    /// Present when a customer was asked about.
    pub customer: Option<CustomerState>,
}

/// Reads everything `ask` wants in one round trip (see [`Tx::look_up`]).
pub async fn surroundings(
    tx: &mut Tx,
    tenant: TenantId,
    ask: Ask<'_>,
    now: DateTime<Utc>,
) -> ApiResult<Surroundings> {
    let mut candidates = ask.list_candidates.to_vec();
    for (kind, value) in ask.list_candidates {
        if *kind == "ip"
            && let Ok(ip) = value.parse::<IpAddr>()
        {
            candidates.extend(enclosing_ranges(ip).map(|range| ("ip", range)));
        }
    }
    let lookup = Lookup {
        link_keys: ask.link_keys,
        except: ask.customer.map(|c| c.id),
        velocity: ask.velocity,
        list_candidates: &candidates,
        history_of: ask.customer.map(|c| c.id),
    };
    let found = tx.look_up(tenant, &lookup, now).await?;
    let customer = match (ask.customer, found.history) {
        (Some(customer), Some(history)) => Some(customer_state(customer, history)?),
        _ => None,
    };
    Ok(Surroundings {
        links: link_counts(ask.link_keys, found.linked),
        velocity: found.velocity,
        lists: list_matches(&found.list_hits),
        customer,
    })
}

/// Other customers sharing each key, counted per kind.
fn link_counts(keys: &[(&str, String)], linked: Vec<Linked>) -> LinkCounts {
    // The ids are sorted and de-duplicated once, where the features are made
    // (`LinkFeatures::compute`).
    let mut counts = LinkCounts::default();
    for ((kind, _), linked) in keys.iter().zip(linked) {
        let n = linked.count;
        match *kind {
            "card" => counts.card_customers = n,
            "bank_account" => counts.bank_account_customers = n,
            "device" => counts.device_customers = n,
            "ip" => counts.ip_customers = n,
            "ip24" => counts.ip24_customers = n,
            "phone" => counts.phone_customers = n,
            "email" => counts.email_customers = n,
            _ => {}
        }
        counts.linked_customer_ids.extend(linked.oldest);
    }
    counts
}

fn list_matches(hits: &[ListHit]) -> ListMatches {
    let mut matches = ListMatches::default();
    for hit in hits {
        match hit.action.as_str() {
            "block" => matches.blocked = true,
            _ => matches.allowed = true,
        }
        matches
            .matches
            .push(format!("{}:{}:{}", hit.action, hit.kind, hit.value));
    }
    matches
}

/// What the store knows about an existing customer, for the decisions after its sign-up.
fn customer_state(customer: &Customer, history: History) -> ApiResult<CustomerState> {
    let signup = match history.signup_facts {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| ApiError::Internal(format!("stored sign-up: {e}")))?,
        ),
        None => None,
    };
    Ok(CustomerState {
        trust_tier: customer.trust_tier,
        created_at: customer.created_at,
        terms: customer.terms.clone(),
        has_cleared_payment: history.has_cleared_payment,
        outstanding_balance: None,
        completed_steps: history.completed_steps,
        signup,
    })
}

/// The link keys a sign-up leaves behind.
pub fn signup_link_keys(signup: &SignupFacts) -> Vec<(&'static str, String)> {
    let keys = LinkKeys::for_signup(signup);
    let mut out = vec![
        ("email", keys.email),
        ("phone", keys.phone),
        ("ip", keys.ip.to_string()),
        ("ip24", keys.network),
    ];
    if let Some(device) = keys.device {
        out.push(("device", device));
    }
    out
}

/// Every CIDR range that holds `ip`, from `/0` to a single address, written the way the lists
/// store ranges (network address, prefix length), so a range is found by an exact lookup.
fn enclosing_ranges(ip: IpAddr) -> impl Iterator<Item = String> {
    let longest = match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    (0..=longest).filter_map(move |prefix| {
        ipnet::IpNet::new(ip, prefix)
            .ok()
            .map(|net| net.trunc().to_string())
    })
}

/// List candidates of a sign-up: who is applying, from where.
pub fn signup_candidates(
    signup: &SignupFacts,
    data: &ReferenceData,
) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("email", signup.contact.email.trim().to_ascii_lowercase()),
        ("domain", email::domain_of(&signup.contact.email)),
        ("domain", email::company_domain(&signup.company.domain)),
        ("phone", signup.contact.phone.clone()),
        ("ip", signup.ip.to_string()),
        ("country", signup.billing_address.country.to_string()),
        ("country", signup.company.country.to_string()),
    ];
    if let Some(country) = geo::ip_country(signup.ip, &data.ip_countries) {
        out.push(("country", country.to_string()));
    }
    if let Some(device) = &signup.device_id {
        out.push(("device", device.clone()));
    }
    out
}

/// A decision ready to be recorded.
pub struct Recorded {
    pub decision: Decision,
    pub facts: serde_json::Value,
    pub features: serde_json::Value,
    pub shadows: Vec<ShadowResult>,
}

impl Recorded {
    pub fn new(
        evaluation: Evaluation,
        shadows: Vec<ShadowResult>,
        customer: CustomerId,
        current: DecisionTerms,
        facts: serde_json::Value,
        features: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            decision: evaluation.into_decision(DecisionId::generate(), customer, current, at),
            facts,
            features,
            shadows,
        }
    }

    /// Stores the decision, puts it on the audit chain under the deciding policy (appended
    /// when `tx` commits, as its last statements: see [`Tx::defer_audit`]) and publishes
    /// `decision.created` to the tenant's webhook endpoints, all in `tx`.
    pub async fn save(&self, tx: &mut Tx, tenant: TenantId, subject_id: &str) -> ApiResult<()> {
        let d = &self.decision;
        tx.insert_decision(
            tenant,
            &DecisionRow {
                id: d.id,
                customer_id: d.customer_id,
                kind: d.kind.as_str().to_owned(),
                subject_id: subject_id.to_owned(),
                verdict: d.verdict.as_str().to_owned(),
                score: i64::from(d.score),
                policy_version: d.policy_version.clone(),
                decision: to_json(d),
                facts: self.facts.to_string(),
                features: self.features.to_string(),
                shadows: to_json(&self.shadows),
                created_at: d.decided_at,
            },
        )
        .await?;
        let mut data = serde_json::to_value(d).map_err(|e| ApiError::Internal(e.to_string()))?;
        data["subject_id"] = subject_id.into();
        crate::webhooks::publish(tx, tenant, EventType::DecisionCreated, data, d.decided_at)
            .await?;
        let entry = AuditEntry {
            actor: Actor::Rule {
                policy: d.policy_version.clone(),
            },
            action: "decision.created".into(),
            object_id: d.id.to_string(),
            data: serde_json::json!({
                "kind": d.kind,
                "subject_id": subject_id,
                "customer_id": d.customer_id,
                "verdict": d.verdict,
                "score": d.score,
                "reasons": d.reasons.iter().map(|r| &r.code).collect::<Vec<_>>(),
            }),
        };
        tx.defer_audit(tenant, d.decided_at, entry);
        Ok(())
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("decisions serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_lies_in_every_range_from_the_whole_space_to_itself() {
        let v4: Vec<String> = enclosing_ranges("2.160.0.7".parse().unwrap()).collect();
        assert_eq!(v4.len(), 33);
        for range in ["0.0.0.0/0", "2.160.0.0/24", "2.160.0.6/31", "2.160.0.7/32"] {
            assert!(v4.iter().any(|r| r == range), "{range} in {v4:?}");
        }
        assert!(!v4.iter().any(|r| r == "2.160.1.0/24"));
        let v6: Vec<String> = enclosing_ranges("2001:db8::1".parse().unwrap()).collect();
        assert_eq!(v6.len(), 129);
        assert!(v6.iter().any(|r| r == "2001:db8::/32"));
        assert!(v6.iter().any(|r| r == "2001:db8::1/128"));
    }
}
