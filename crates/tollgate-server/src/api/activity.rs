//! `POST /v1/activity`: a batch of Azure Activity Log records. The batch is validated whole
//! (every record parsed, every subscription resolved) before anything is written; new records
//! are matched against the shipped Sigma rules and the built-in detectors, whose state
//! (VM writes, principals and countries seen) is updated in the same transaction. Repeated
//! matches of one detector on one subscription (or customer) fold into the alert of their
//! episode instead of raising another.
//!
//! `GET /v1/activity/rules`: the rules loaded and the ones refused, with the reasons.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::IpAddr,
    sync::LazyLock,
};

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tollgate_core::{
    AlertId, CustomerId, TenantId,
    activity::{
        ActivityRecord, ActivityStatus, RecordError,
        builtin::{self, CallerOrigin, Detection, DetectionCode, KnownPrincipals, VmBurstConfig},
        sigma::{Match, Refused, RuleSet},
    },
    customers::Subscription,
    signals::{SignalConfig, geo},
    validate::{self, CountryCode, FieldError},
};
use tollgate_store::{ActivityRow, SubscriptionFilter, Tx, VmWrite, page::PageRequest};
use utoipa::ToSchema;

use super::alerts::{self, AlertOut, NewAlert};
use crate::{
    ctx::{Ctx, Read, WriteFacts},
    error::{ApiError, ApiResult},
    json::BatchBody,
};

const VM_WRITE: &str = "Microsoft.Compute/virtualMachines/write";
const ROLE_ASSIGNMENT_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
/// A match more than this long after (or before) an episode's matches starts a new episode.
const EPISODE_QUIET_HOURS: i64 = 24;
const PRINCIPAL: &str = "principal";
const COUNTRY: &str = "country";

/// The shipped Sigma rules, compiled once per process; refusals are kept for the rules route.
static SHIPPED: LazyLock<(RuleSet, Vec<Refused>)> = LazyLock::new(RuleSet::shipped);

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestOut {
    /// Records written by this batch.
    pub accepted: u32,
    /// Records whose id (`eventDataId`, else a hash of the record) was already stored: ignored.
    pub duplicates: u32,
    /// Alerts the batch raised (kind `activity`).
    pub alerts: Vec<AlertOut>,
    /// Matches folded into an alert already open for the same rule on the same subscription
    /// (or customer), rather than raising another.
    pub deduplicated: u32,
}

/// One record of the batch, validated and resolved to its subscription.
struct Incoming {
    record: ActivityRecord,
    record_id: String,
    subscription: Subscription,
}

/// A finding about to become an alert, or to fold into the alert of its episode.
struct Finding {
    /// The subscription, or the customer for detectors over a customer's whole activity.
    scope_id: String,
    /// `sigma:<rule id>` or `builtin:<code>[:<subject>]`.
    detector: String,
    at: DateTime<Utc>,
    customer_id: CustomerId,
    subscription: Option<tollgate_core::SubscriptionId>,
    sentence: String,
    details: Value,
}

#[derive(Default)]
struct Outcome {
    alerts: Vec<AlertOut>,
    deduplicated: u32,
}

/// Ingest Azure Activity Log records.
#[utoipa::path(post, path = "/v1/activity", tag = "activity",
    request_body(description = "Azure Activity Log records as Azure sends them: the REST \
        `EventData` shape (`operationName: {value}`, `status: {value}`, `eventTimestamp`, \
        `eventDataId`, `subscriptionId`…) or the diagnostic-settings export shape \
        (`operationName` text, `resultType`, `time`, `callerIpAddress`…).",
        content(
            (Vec<serde_json::Value> = "application/json"),
            (serde_json::Value = "application/x-ndjson"),
        )),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = IngestOut), (status = 422, body = crate::error::Problem)))]
pub async fn ingest(ctx: Ctx<WriteFacts>, BatchBody(body): BatchBody) -> ApiResult<Response> {
    let parsed = parse(body)?;
    let tenant = ctx.tenant();
    let now = ctx.now();
    let data = ctx.state.reference_data()?;
    let config = SignalConfig::default();
    let high_risk = config
        .high_risk_countries
        .as_ref()
        .unwrap_or(&data.high_risk_countries);
    let (rules, _) = &*SHIPPED;
    let mut tx = ctx.begin().await?;
    let batch = resolve(&mut tx, tenant, parsed).await?;

    let mut findings: Vec<Finding> = Vec::new();
    let (mut accepted, mut duplicates) = (0u32, 0u32);
    let mut countries_seen: HashSet<(CustomerId, CountryCode)> = HashSet::new();
    // What this batch shows for the first time, recorded after the loop (see below):
    // (customer, dimension, value) → (record id, event time).
    let mut new_seen: BTreeMap<(CustomerId, &str, String), (String, DateTime<Utc>)> =
        BTreeMap::new();
    // Per customer: the span of event times of its new VM writes.
    let mut vm_spans: BTreeMap<CustomerId, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    let mut raw_of: HashMap<&str, &ActivityRecord> = HashMap::new();
    for incoming in &batch {
        let Incoming {
            record,
            record_id,
            subscription,
        } = incoming;
        if !tx
            .insert_activity_record(tenant, &row(incoming)?, now)
            .await?
        {
            duplicates += 1;
            continue;
        }
        accepted += 1;
        raw_of.insert(record_id, record);
        let at = record.event_timestamp();
        let on_subscription = |detector: String, sentence: String, details: Value| Finding {
            scope_id: subscription.id.to_string(),
            detector,
            at,
            customer_id: subscription.customer_id,
            subscription: Some(subscription.id),
            sentence,
            details,
        };

        for hit in rules.matches(record) {
            let finding = on_subscription(
                format!("sigma:{}", hit.rule_id),
                sigma_sentence(&hit, record, subscription),
                sigma_details(&hit, record_id, record, subscription),
            );
            findings.push(finding);
        }

        for detection in builtin::diagnostic_settings_deleted(std::slice::from_ref(record)) {
            let finding = on_subscription(
                format!("builtin:{}", detection.code),
                detection.message.clone(),
                builtin_details(&detection, &[record_id], Some(record), subscription),
            );
            findings.push(finding);
        }

        if record.is_operation(ROLE_ASSIGNMENT_WRITE)
            && record.status() == ActivityStatus::Succeeded
        {
            let principal = assigned_principal(record);
            let mut known = KnownPrincipals::default();
            if let Some(id) = &principal
                && (new_seen.contains_key(&(subscription.customer_id, PRINCIPAL, id.clone()))
                    || tx
                        .activity_seen(tenant, subscription.customer_id, PRINCIPAL, id)
                        .await?)
            {
                known = KnownPrincipals::from_iter([id]);
            }
            for detection in
                builtin::role_assignments_to_new_principals(std::slice::from_ref(record), &known)
            {
                let subject = principal.as_deref().unwrap_or("unnamed");
                let finding = on_subscription(
                    format!("builtin:{}:{subject}", detection.code),
                    detection.message.clone(),
                    builtin_details(&detection, &[record_id], Some(record), subscription),
                );
                findings.push(finding);
            }
            if let Some(id) = principal {
                new_seen
                    .entry((subscription.customer_id, PRINCIPAL, id))
                    .or_insert_with(|| (record_id.clone(), at));
            }
        }

        if let Some(country) = record
            .caller_ip_address()
            .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
            .and_then(|ip| geo::ip_country(ip, &data.ip_countries))
        {
            let key = (subscription.customer_id, country);
            if !countries_seen.contains(&key) {
                let seen_before = tx
                    .activity_seen(tenant, subscription.customer_id, COUNTRY, country.as_str())
                    .await?;
                if !seen_before {
                    new_seen.insert(
                        (
                            subscription.customer_id,
                            COUNTRY,
                            country.as_str().to_owned(),
                        ),
                        (record_id.clone(), at),
                    );
                }
                let listed: HashSet<CountryCode> = Some(country)
                    .filter(|c| high_risk.contains(c))
                    .into_iter()
                    .collect();
                let origin = CallerOrigin {
                    ip_country: Some(country),
                    country_seen_before: seen_before,
                };
                if let Some(detection) =
                    builtin::first_activity_from_high_risk_country(record, origin, &listed)
                {
                    let finding = Finding {
                        scope_id: subscription.customer_id.to_string(),
                        detector: format!("builtin:{}:{country}", detection.code),
                        at,
                        customer_id: subscription.customer_id,
                        subscription: Some(subscription.id),
                        sentence: detection.message.clone(),
                        details: builtin_details(
                            &detection,
                            &[record_id],
                            Some(record),
                            subscription,
                        ),
                    };
                    findings.push(finding);
                }
                countries_seen.insert(key);
            }
        }

        if record.is_operation(VM_WRITE)
            && record.status() == ActivityStatus::Succeeded
            && let (Some(resource_id), Some(region)) = (record.resource_id(), record.region())
        {
            tx.add_vm_write(
                tenant,
                &VmWrite {
                    record_id: record_id.clone(),
                    customer_id: subscription.customer_id,
                    subscription_id: subscription.id,
                    resource_id: resource_id.to_lowercase(),
                    region,
                    event_at: at,
                },
            )
            .await?;
            let span = vm_spans.entry(subscription.customer_id).or_insert((at, at));
            span.0 = span.0.min(at);
            span.1 = span.1.max(at);
        }
    }

    let subscriptions: HashMap<tollgate_core::SubscriptionId, &Subscription> = batch
        .iter()
        .map(|incoming| (incoming.subscription.id, &incoming.subscription))
        .collect();
    let burst = VmBurstConfig::default();
    for (customer, (first, last)) in vm_spans {
        let writes = tx
            .vm_writes(tenant, customer, first - burst.within, last + burst.within)
            .await?;
        let window = writes
            .iter()
            .map(vm_record)
            .collect::<ApiResult<Vec<ActivityRecord>>>()?;
        let Some(detection) = builtin::vm_creation_burst(&window, &burst) else {
            continue;
        };
        let supporting: Vec<&VmWrite> = detection.records.iter().map(|&i| &writes[i]).collect();
        let Some(latest) = supporting.iter().max_by_key(|w| w.event_at) else {
            continue;
        };
        // A late record can complete a burst whose latest write came in an earlier batch.
        let subscription = match subscriptions.get(&latest.subscription_id) {
            Some(subscription) => (*subscription).clone(),
            None => tx.subscription(tenant, latest.subscription_id).await?,
        };
        let ids: Vec<&str> = supporting.iter().map(|w| w.record_id.as_str()).collect();
        let finding = Finding {
            scope_id: customer.to_string(),
            detector: format!("builtin:{}", detection.code),
            at: latest.event_at,
            customer_id: customer,
            subscription: Some(latest.subscription_id),
            sentence: detection.message.clone(),
            details: builtin_details(
                &detection,
                &ids,
                raw_of.get(latest.record_id.as_str()).copied(),
                &subscription,
            ),
        };
        findings.push(finding);
    }

    // Everything another batch may also be writing (what was seen, episodes, alerts) is written
    // after the audit append, which locks the tenant's chain head until commit on PostgreSQL:
    // concurrent batches queue there instead of deadlocking on each other's rows.
    ctx.audit(
        &mut tx,
        "activity.ingested",
        "activity",
        json!({
            "accepted": accepted,
            "duplicates": duplicates,
            "findings": findings.len(),
        }),
    )
    .await?;
    for ((customer, dimension, value), (record_id, at)) in &new_seen {
        tx.mark_activity_seen(tenant, *customer, dimension, value, record_id, *at)
            .await?;
    }
    findings
        .sort_by(|a, b| (&a.scope_id, &a.detector, a.at).cmp(&(&b.scope_id, &b.detector, b.at)));
    let mut out = Outcome::default();
    for finding in findings {
        fold_or_raise(&ctx, &mut tx, finding, &mut out).await?;
    }
    let answer = IngestOut {
        accepted,
        duplicates,
        alerts: out.alerts,
        deduplicated: out.deduplicated,
    };
    ctx.commit(tx, StatusCode::OK, &answer).await
}

/// Parses every record of the batch; any that fails is reported by position and field.
fn parse(body: Value) -> ApiResult<Vec<ActivityRecord>> {
    let Value::Array(values) = body else {
        return Err(ApiError::field(
            "body",
            "must be a JSON array of activity records (or NDJSON, one per line)",
        ));
    };
    validate::batch_size(values.len(), validate::MAX_BATCH, "records", "records")
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    let mut errors = Vec::new();
    let mut records = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        match ActivityRecord::from_value(value) {
            Ok(record) => {
                if record.subscription_id().is_none_or(|s| s.trim().is_empty()) {
                    errors.push(FieldError::new(
                        format!("[{i}].subscriptionId"),
                        "is required (or a `resourceId` under `/subscriptions/{id}`)",
                    ));
                }
                records.push(record);
            }
            Err(err) => {
                let field = match &err {
                    RecordError::Missing(field) | RecordError::Timestamp { field, .. } => {
                        format!("[{i}].{field}")
                    }
                    RecordError::Json(_) | RecordError::NotAnObject => format!("[{i}]"),
                };
                errors.push(FieldError::new(field, err));
            }
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// Finds each record's subscription by the vendor's subscription id; records naming one the
/// tenant does not have are reported by position and nothing is written.
async fn resolve(
    tx: &mut Tx,
    tenant: TenantId,
    records: Vec<ActivityRecord>,
) -> ApiResult<Vec<Incoming>> {
    let mut known: HashMap<String, Option<Subscription>> = HashMap::new();
    let mut errors = Vec::new();
    let mut batch = Vec::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        let vendor = record
            .subscription_id()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !known.contains_key(&vendor) {
            let found = find_subscription(tx, tenant, &vendor).await?;
            known.insert(vendor.clone(), found);
        }
        match known.get(&vendor).cloned().flatten() {
            Some(subscription) => batch.push(Incoming {
                record_id: record_id(&record),
                record,
                subscription,
            }),
            None => errors.push(FieldError::new(
                format!("[{i}].subscriptionId"),
                format_args!("no such subscription: `{vendor}`"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(batch)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// Azure writes subscription GUIDs in either case; the id as sent is tried first.
async fn find_subscription(
    tx: &mut Tx,
    tenant: TenantId,
    vendor: &str,
) -> ApiResult<Option<Subscription>> {
    let lower = vendor.to_ascii_lowercase();
    let candidates = if lower == vendor {
        vec![vendor]
    } else {
        vec![vendor, lower.as_str()]
    };
    for candidate in candidates {
        let filter = SubscriptionFilter {
            vendor_subscription_id: Some(candidate.to_owned()),
            ..SubscriptionFilter::default()
        };
        let page = PageRequest {
            after: None,
            limit: 1,
        };
        let page = tx.list_subscriptions(tenant, &filter, &page).await?;
        if let Some(found) = page.data.into_iter().next() {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// `eventDataId` when Azure gave one, else a hash of the record's canonical JSON, so a re-sent
/// record has the same id whatever order its keys arrive in.
fn record_id(record: &ActivityRecord) -> String {
    match record.event_data_id().map(str::trim) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => {
            let mut hasher = Sha256::new();
            canonical(&Value::Object(record.raw().clone()), &mut hasher);
            format!("sha256:{}", hex::encode(hasher.finalize()))
        }
    }
}

fn canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            hasher.update(b"{");
            for key in keys {
                hasher.update(Value::String(key.clone()).to_string().as_bytes());
                hasher.update(b":");
                canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

fn row(incoming: &Incoming) -> ApiResult<ActivityRow> {
    let record = &incoming.record;
    let to_text =
        |value: &Value| serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()));
    Ok(ActivityRow {
        record_id: incoming.record_id.clone(),
        subscription_id: incoming.subscription.id,
        customer_id: incoming.subscription.customer_id,
        operation_name: record.operation_name().to_owned(),
        caller: record.caller().map(str::to_owned),
        caller_ip: record.caller_ip_address().map(str::to_owned),
        status: record.status().as_str().to_owned(),
        resource_id: record.resource_id().map(str::to_owned),
        event_at: record.event_timestamp(),
        properties: record
            .raw()
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("properties"))
            .map(|(_, value)| to_text(value))
            .transpose()?,
        raw: to_text(&Value::Object(record.raw().clone()))?,
    })
}

/// The principal a role assignment grants to, as the built-in detector reads it.
fn assigned_principal(record: &ActivityRecord) -> Option<String> {
    ["properties.requestbody", "properties.responsebody"]
        .iter()
        .find_map(|body| record.field(&format!("{body}.properties.principalid")))
        .map(str::to_lowercase)
}

/// A stored VM write as the record the burst detector reads.
fn vm_record(write: &VmWrite) -> ApiResult<ActivityRecord> {
    ActivityRecord::from_value(json!({
        "operationName": VM_WRITE,
        "status": "Succeeded",
        "resourceId": write.resource_id,
        "location": write.region,
        "eventTimestamp": write.event_at.to_rfc3339(),
    }))
    .map_err(|e| ApiError::Internal(format!("stored VM write: {e}")))
}

fn sigma_sentence(hit: &Match<'_>, record: &ActivityRecord, subscription: &Subscription) -> String {
    let level = hit.level.map_or("unrated", |level| level.as_str());
    let author = hit.author.unwrap_or("an unnamed author");
    format!(
        "Sigma rule \u{201c}{}\u{201d} ({level}, by {author}) matched {} by {} on {}.",
        hit.title,
        record.operation_name(),
        record.caller().unwrap_or("an unknown caller"),
        record
            .resource_id()
            .unwrap_or(&subscription.vendor_subscription_id),
    )
}

fn sigma_details(
    hit: &Match<'_>,
    record_id: &str,
    record: &ActivityRecord,
    subscription: &Subscription,
) -> Value {
    json!({
        "source": "sigma",
        "rule": {
            "id": hit.rule_id,
            "title": hit.title,
            "level": hit.level,
            // The Detection Rule License requires every alert from the rule to carry it.
            "author": hit.author,
            "references": hit.references,
            "tags": hit.tags,
        },
        "vendor_subscription_id": subscription.vendor_subscription_id,
        "record_ids": [record_id],
        "record": record.raw(),
    })
}

fn builtin_title(code: DetectionCode) -> &'static str {
    match code {
        DetectionCode::VmCreationBurst => "Burst of VM creation across regions",
        DetectionCode::RoleAssignmentNewPrincipal => "Role assigned to a new principal",
        DetectionCode::DiagnosticSettingsDeleted => "Diagnostic settings deleted",
        DetectionCode::FirstActivityHighRiskCountry => {
            "First API activity from a high-risk country"
        }
    }
}

fn builtin_details(
    detection: &Detection,
    record_ids: &[&str],
    record: Option<&ActivityRecord>,
    subscription: &Subscription,
) -> Value {
    json!({
        "source": "builtin",
        "rule": {
            "id": detection.code,
            "title": builtin_title(detection.code),
            "level": detection.level,
            "author": "Tollgate",
            "references": ["docs/activity-detections.md#built-in-detectors"],
            "tags": [],
        },
        "vendor_subscription_id": subscription.vendor_subscription_id,
        "record_ids": record_ids,
        "record": record.map(ActivityRecord::raw),
    })
}

/// Raises the finding's alert, unless its episode is still open: the detector matched on the
/// same scope within [`EPISODE_QUIET_HOURS`] and the alert is not resolved. Then the match
/// only counts on that episode.
async fn fold_or_raise(
    ctx: &Ctx<WriteFacts>,
    tx: &mut Tx,
    finding: Finding,
    out: &mut Outcome,
) -> ApiResult<()> {
    let tenant = ctx.tenant();
    let quiet = Duration::hours(EPISODE_QUIET_HOURS);
    let (scope, detector) = (&finding.scope_id, &finding.detector);
    let replacing = match tx.activity_episode(tenant, scope, detector).await? {
        Some(episode)
            if episode.alert_status != alerts::RESOLVED
                && finding.at >= episode.opened_at - quiet
                && finding.at <= episode.last_match_at + quiet =>
        {
            tx.extend_activity_episode(tenant, scope, detector, episode.alert_id, finding.at)
                .await?;
            out.deduplicated += 1;
            return Ok(());
        }
        Some(episode) => Some(episode.alert_id),
        None => None,
    };
    let id = AlertId::generate();
    if !tx
        .open_activity_episode(tenant, scope, detector, id, replacing, finding.at)
        .await?
    {
        out.deduplicated += 1;
        return Ok(());
    }
    let alert = alerts::raise(
        ctx,
        tx,
        id,
        NewAlert {
            kind: alerts::ACTIVITY,
            customer_id: finding.customer_id,
            subscription_id: finding.subscription,
            sentence: finding.sentence,
            details: finding.details,
        },
    )
    .await?;
    out.alerts.push(alert);
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleCounts {
    pub loaded: usize,
    pub refused: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleOut {
    /// The rule's `id`: `details.rule.id` of its alerts.
    pub id: String,
    pub title: String,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    pub level: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedOut {
    /// The rule's file name.
    pub name: String,
    /// A stable code for the reason (`aggregation`, `unsupported_modifier`…).
    pub kind: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RulesOut {
    pub counts: RuleCounts,
    pub loaded: Vec<RuleOut>,
    pub refused: Vec<RefusedOut>,
}

/// The Sigma rules activity is matched against, and the shipped rules refused at load.
#[utoipa::path(get, path = "/v1/activity/rules", tag = "activity",
    responses((status = 200, body = RulesOut)))]
pub async fn rules(_ctx: Ctx<Read>) -> ApiResult<Json<RulesOut>> {
    let (set, refused) = &*SHIPPED;
    Ok(Json(RulesOut {
        counts: RuleCounts {
            loaded: set.len(),
            refused: refused.len(),
        },
        loaded: set
            .rules()
            .iter()
            .map(|rule| RuleOut {
                id: rule.id.clone(),
                title: rule.title.clone(),
                level: rule.level.map(|level| level.as_str().to_owned()),
                status: rule.status.clone(),
                description: rule.description.clone(),
                author: rule.author.clone(),
                references: rule.references.clone(),
                tags: rule.tags.clone(),
            })
            .collect(),
        refused: refused
            .iter()
            .map(|r| RefusedOut {
                name: r.name.clone(),
                kind: r.reason.kind().to_owned(),
                reason: r.reason.to_string(),
            })
            .collect(),
    }))
}
