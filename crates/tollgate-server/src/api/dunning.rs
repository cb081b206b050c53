//! Dunning through the API: the tenant's policy versions (`/v1/dunning/policy`), who is at which
//! step (`/v1/dunning/episodes`), one customer's episodes, and pausing for a promise to pay or a
//! dispute. The steps themselves are taken by the run (`crate::jobs::dunning`).

use axum::{Json, http::StatusCode, response::Response};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tollgate_core::{
    Currency, CustomerId, EpisodeId, SubscriptionId,
    collections::{DunningPolicy, Pause, PauseReason, ReasonCode, TransitionKind},
    customers::TrustTier,
    validate,
};
use tollgate_store::{
    DunningPolicyRow, EpisodeFilter, EpisodeRow, EpisodeStatus, PauseRow, StepRow, Tx,
};
use utoipa::ToSchema;

use super::{Id, ListOf, Paging, Q};
use crate::{
    ctx::{Acting, Ctx, Operate, Read},
    error::{ApiError, ApiResult},
    jobs::dunning::store_shipped_default,
    json::from_value,
};

/// The furthest a pause may reach.
const PAUSE_MAX_DAYS: u64 = 366;
const NOTE_MAX: usize = 500;

/// A dunning policy version.
#[derive(Debug, Serialize, ToSchema)]
pub struct DunningPolicyOut {
    pub version: i64,
    /// `active` or `inactive`.
    pub status: String,
    /// Who published it (`tollgate` for the shipped default before it is stored).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub policy: DunningPolicy,
}

fn policy_out(row: DunningPolicyRow) -> ApiResult<DunningPolicyOut> {
    let policy = DunningPolicy::from_json(&row.document)
        .map_err(|e| ApiError::Internal(format!("stored dunning policy v{}: {e}", row.version)))?;
    Ok(DunningPolicyOut {
        version: row.version,
        status: row.status,
        created_by: row.created_by,
        created_at: row.created_at,
        policy,
    })
}

/// What a tenant that never published a policy runs under: the shipped default as version 1.
fn shipped_default() -> DunningPolicyOut {
    let policy = DunningPolicy::default_policy();
    DunningPolicyOut {
        version: 1,
        status: "active".into(),
        created_by: "tollgate".into(),
        created_at: policy.created_at,
        policy,
    }
}

/// Publish a new version of the dunning policy; it becomes the active one. `version` and
/// `created_at` are assigned by the server. Episodes already open stay on their version.
#[utoipa::path(put, path = "/v1/dunning/policy", tag = "dunning",
    request_body(content = Object, description = "A dunning policy document without `version` and `created_at` (see docs/collections-policy.md)"),
    responses((status = 200, body = DunningPolicyOut), (status = 422, body = crate::error::Problem)))]
pub async fn publish_policy(
    ctx: Ctx<Operate>,
    crate::json::JsonBody(input): crate::json::JsonBody<Value>,
) -> ApiResult<Response> {
    let Value::Object(mut document) = input else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    for assigned in ["version", "created_at"] {
        if document.contains_key(assigned) {
            return Err(ApiError::field(assigned, "is assigned by the server"));
        }
    }
    let mut tx = ctx.begin().await?;
    let mut version = tx.next_dunning_policy_version(ctx.tenant()).await?;
    if version == 1 {
        // The shipped default was in force until now: keep it in the history as version 1.
        store_shipped_default(&ctx, &mut tx).await?;
        version = 2;
    }
    document.insert("version".into(), json!(version));
    document.insert("created_at".into(), json!(ctx.now()));
    let policy: DunningPolicy = from_value(Value::Object(document))?;
    policy.validate().map_err(|e| ApiError::Invalid(vec![e]))?;
    let text = serde_json::to_string(&policy).map_err(|e| ApiError::Internal(e.to_string()))?;
    let row = tx
        .insert_dunning_policy(
            ctx.tenant(),
            version,
            &text,
            &ctx.actor().label(),
            ctx.now(),
        )
        .await?;
    ctx.audit(
        &mut tx,
        "dunning_policy.published",
        version,
        json!({ "version": version, "policy": policy }),
    )
    .await?;
    ctx.commit(tx, StatusCode::OK, &policy_out(row)?).await
}

/// The active dunning policy (the shipped default, version 1, until one is published).
#[utoipa::path(get, path = "/v1/dunning/policy", tag = "dunning",
    responses((status = 200, body = DunningPolicyOut)))]
pub async fn active_policy(ctx: Ctx<Read>) -> ApiResult<Json<DunningPolicyOut>> {
    match ctx
        .read()
        .await?
        .active_dunning_policy(ctx.tenant())
        .await?
    {
        Some(row) => Ok(Json(policy_out(row)?)),
        None => Ok(Json(shipped_default())),
    }
}

/// Every dunning policy version, newest first.
#[utoipa::path(get, path = "/v1/dunning/policy/versions", tag = "dunning",
    responses((status = 200, body = Vec<DunningPolicyOut>)))]
pub async fn policy_versions(ctx: Ctx<Read>) -> ApiResult<Json<Vec<DunningPolicyOut>>> {
    let rows = ctx.read().await?.dunning_policies(ctx.tenant()).await?;
    if rows.is_empty() {
        return Ok(Json(vec![shipped_default()]));
    }
    Ok(Json(
        rows.into_iter().map(policy_out).collect::<ApiResult<_>>()?,
    ))
}

/// One dunning episode: a stretch of dunning for one customer in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpisodeOut {
    /// `dun_…`
    pub id: EpisodeId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    /// `open` or `closed`.
    pub status: &'static str,
    /// The policy version the episode runs under.
    pub policy_version: i64,
    /// The trust tier whose ladder it follows.
    pub tier: TrustTier,
    /// The furthest ladder step executed, counted from 1.
    pub step: Option<i64>,
    /// What that step did (`remind`, `final_notice`, `suspend`…).
    pub step_action: Option<String>,
    pub opened_on: NaiveDate,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The pause in force, if any: no step runs before `until`.
    pub pause: Option<Pause>,
}

impl EpisodeOut {
    fn new(row: &EpisodeRow, today: NaiveDate) -> Self {
        Self {
            id: row.id,
            customer_id: row.customer_id,
            currency: row.currency,
            status: row.status.as_str(),
            policy_version: row.policy_version,
            tier: row.tier,
            step: (row.step >= 0).then_some(row.step + 1),
            step_action: row.step_action.clone(),
            opened_on: row.opened_on,
            opened_at: row.opened_at,
            updated_at: row.updated_at,
            closed_at: row.closed_at,
            pause: row
                .state
                .pause
                .filter(|p| row.status == EpisodeStatus::Open && p.until > today),
        }
    }
}

/// A transition the episode recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepOut {
    /// The ladder step, counted from 1; none for reactivate and close.
    pub step: Option<i64>,
    pub kind: TransitionKind,
    /// `executed`, `superseded` (a later notice went out instead) or `done`.
    pub outcome: String,
    pub on: NaiveDate,
    pub reasons: Vec<ReasonCode>,
    /// The reasons as a sentence.
    pub message: String,
    /// Subscriptions this step suspended, terminated or reactivated.
    pub subscription_ids: Vec<SubscriptionId>,
    /// Why the customer was not written to, if it was not.
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<StepRow> for StepOut {
    fn from(row: StepRow) -> Self {
        Self {
            step: row.step.map(|s| s + 1),
            kind: row.kind,
            outcome: row.outcome,
            on: row.on,
            reasons: row.reasons,
            message: row.message,
            subscription_ids: row.subscription_ids,
            note: row.note,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PauseOut {
    pub reason: PauseReason,
    /// The first day dunning resumes.
    pub until: NaiveDate,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Set once resumed, replaced or closed with the episode.
    pub ended_by: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<PauseRow> for PauseOut {
    fn from(row: PauseRow) -> Self {
        Self {
            reason: row.reason,
            until: row.until,
            note: row.note,
            created_by: row.created_by,
            created_at: row.created_at,
            ended_by: row.ended_by,
            ended_at: row.ended_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EpisodeDetail {
    #[serde(flatten)]
    pub episode: EpisodeOut,
    /// In the order they happened.
    pub steps: Vec<StepOut>,
    pub pauses: Vec<PauseOut>,
    /// What dunning holds suspended now.
    pub suspended_subscriptions: Vec<SubscriptionId>,
}

/// A customer's dunning: its open episode in each currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDunningOut {
    pub customer_id: CustomerId,
    pub episodes: Vec<EpisodeDetail>,
}

async fn today(tx: &mut Tx, who: &impl Acting) -> ApiResult<NaiveDate> {
    let tenant = tx.tenant(who.tenant()).await?;
    let tz: chrono_tz::Tz = tenant.time_zone.parse().map_err(|_| {
        ApiError::Internal(format!(
            "tenant {} has an unknown time zone `{}`",
            tenant.id, tenant.time_zone
        ))
    })?;
    Ok(who.now().with_timezone(&tz).date_naive())
}

async fn customer_dunning(
    tx: &mut Tx,
    who: &impl Acting,
    customer: CustomerId,
) -> ApiResult<CustomerDunningOut> {
    let tenant = who.tenant();
    let today = today(tx, who).await?;
    let mut episodes = Vec::new();
    for row in tx.open_episodes(tenant, customer).await? {
        episodes.push(EpisodeDetail {
            episode: EpisodeOut::new(&row, today),
            steps: tx
                .dunning_steps(tenant, row.id)
                .await?
                .into_iter()
                .map(StepOut::from)
                .collect(),
            pauses: tx
                .pauses(tenant, row.id)
                .await?
                .into_iter()
                .map(PauseOut::from)
                .collect(),
            suspended_subscriptions: tx.held_suspensions(tenant, row.id).await?,
        });
    }
    Ok(CustomerDunningOut {
        customer_id: customer,
        episodes,
    })
}

/// A customer's open dunning episodes: the step each is at, the steps taken with their
/// outcomes, pauses, and the subscriptions dunning holds suspended.
#[utoipa::path(get, path = "/v1/customers/{id}/dunning", tag = "dunning",
    params(("id" = CustomerId, Path)),
    responses((status = 200, body = CustomerDunningOut), (status = 404, body = crate::error::Problem)))]
pub async fn customer(
    ctx: Ctx<Read>,
    Id(id): Id<CustomerId>,
) -> ApiResult<Json<CustomerDunningOut>> {
    let mut tx = ctx.read().await?;
    tx.customer(ctx.tenant(), id).await?;
    Ok(Json(customer_dunning(&mut tx, &ctx, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EpisodeQuery {
    /// `open` or `closed`.
    pub status: Option<String>,
    /// The furthest step executed, counted from 1.
    pub step: Option<i64>,
    pub customer_id: Option<CustomerId>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Dunning episodes, oldest first: who is at which step.
#[utoipa::path(get, path = "/v1/dunning/episodes", tag = "dunning", params(EpisodeQuery),
    responses((status = 200, body = ListOf<EpisodeOut>)))]
pub async fn episodes(
    ctx: Ctx<Read>,
    Q(query): Q<EpisodeQuery>,
) -> ApiResult<Json<ListOf<EpisodeOut>>> {
    let page = Paging {
        cursor: query.cursor,
        limit: query.limit,
    }
    .request()?;
    let status = match query.status.as_deref() {
        None => None,
        Some("open") => Some(EpisodeStatus::Open),
        Some("closed") => Some(EpisodeStatus::Closed),
        Some(_) => return Err(ApiError::field("status", "must be open or closed")),
    };
    let step = match query.step {
        None => None,
        Some(step) if (1..=1000).contains(&step) => Some(step - 1),
        Some(_) => return Err(ApiError::field("step", "must be between 1 and 1000")),
    };
    let filter = EpisodeFilter {
        status,
        step,
        customer_id: query.customer_id,
    };
    let mut tx = ctx.read().await?;
    let today = today(&mut tx, &ctx).await?;
    let found = tx.list_episodes(ctx.tenant(), &filter, &page).await?;
    Ok(Json(ListOf {
        data: found
            .data
            .iter()
            .map(|row| EpisodeOut::new(row, today))
            .collect(),
        next_cursor: found.next_cursor,
    }))
}

/// Pause dunning for a promise to pay or a dispute.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseIn {
    pub reason: PauseReason,
    /// The first day dunning resumes (`YYYY-MM-DD`, the tenant's calendar), after today and
    /// within a year.
    #[schema(value_type = String, example = "2026-12-15")]
    pub until: NaiveDate,
    pub note: Option<String>,
    /// Only the episode in this currency; by default every open episode of the customer.
    pub currency: Option<Currency>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeIn {
    pub note: Option<String>,
    /// Only the episode in this currency; by default every paused episode of the customer.
    pub currency: Option<Currency>,
}

/// The customer's open episodes in `currency` (or all), locked; none is a conflict.
async fn open_for_change(
    tx: &mut Tx,
    who: &impl Acting,
    customer: CustomerId,
    currency: Option<Currency>,
) -> ApiResult<Vec<EpisodeRow>> {
    tx.customer_for_update(who.tenant(), customer).await?;
    let mut episodes = Vec::new();
    for row in tx.open_episodes(who.tenant(), customer).await? {
        if currency.is_none_or(|c| c == row.currency)
            && let Some(locked) = tx
                .open_episode_for_update(who.tenant(), customer, row.currency)
                .await?
        {
            episodes.push(locked);
        }
    }
    if episodes.is_empty() {
        return Err(ApiError::Conflict {
            detail: match currency {
                Some(c) => format!("no dunning episode is open for this customer in {c}"),
                None => "no dunning episode is open for this customer".into(),
            },
            field: None,
        });
    }
    Ok(episodes)
}

fn note(note: Option<&str>) -> ApiResult<Option<String>> {
    note.map(|n| validate::text("note", n, NOTE_MAX))
        .transpose()
        .map_err(|e| ApiError::Invalid(vec![e]))
}

/// Pause dunning until a date: nothing happens before it, then the ladder resumes where it
/// stood. A new pause replaces one in force. Paying down to the grace amount still reactivates
/// and closes at once.
#[utoipa::path(post, path = "/v1/customers/{id}/dunning/pause", tag = "dunning", request_body = PauseIn,
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = CustomerDunningOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn pause(
    ctx: Ctx<Operate>,
    Id(id): Id<CustomerId>,
    crate::json::JsonBody(input): crate::json::JsonBody<PauseIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let mut tx = ctx.begin().await?;
    let today = today(&mut tx, &ctx).await?;
    let latest = today.checked_add_days(Days::new(PAUSE_MAX_DAYS));
    if input.until <= today || latest.is_some_and(|latest| input.until > latest) {
        return Err(ApiError::field(
            "until",
            format_args!("must be after today ({today}) and at most {PAUSE_MAX_DAYS} days ahead"),
        ));
    }
    let note = note(input.note.as_deref())?;
    let episodes = open_for_change(&mut tx, &ctx, id, input.currency).await?;
    let by = ctx.actor().label();
    for mut row in episodes {
        tx.end_pauses(tenant, row.id, &by, ctx.now()).await?;
        tx.insert_pause(
            tenant,
            &PauseRow {
                id: uuid_like(),
                episode_id: row.id,
                reason: input.reason,
                until: input.until,
                note: note.clone(),
                created_by: by.clone(),
                created_at: ctx.now(),
                ended_by: None,
                ended_at: None,
            },
        )
        .await?;
        row.state.pause = Some(Pause {
            until: input.until,
            reason: input.reason,
        });
        row.updated_at = ctx.now();
        tx.update_episode(tenant, &row).await?;
        ctx.audit(
            &mut tx,
            "dunning.paused",
            row.id,
            json!({ "customer_id": id, "currency": row.currency, "reason": input.reason,
                    "until": input.until, "note": note }),
        )
        .await?;
    }
    let out = customer_dunning(&mut tx, &ctx, id).await?;
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// End a pause early: the next run continues the ladder where it stood.
#[utoipa::path(post, path = "/v1/customers/{id}/dunning/resume", tag = "dunning", request_body = ResumeIn,
    params(("id" = CustomerId, Path), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer to a retried request")),
    responses((status = 200, body = CustomerDunningOut), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn resume(
    ctx: Ctx<Operate>,
    Id(id): Id<CustomerId>,
    crate::json::JsonBody(input): crate::json::JsonBody<ResumeIn>,
) -> ApiResult<Response> {
    let tenant = ctx.tenant();
    let note = note(input.note.as_deref())?;
    let mut tx = ctx.begin().await?;
    let today = today(&mut tx, &ctx).await?;
    let episodes = open_for_change(&mut tx, &ctx, id, input.currency).await?;
    let by = ctx.actor().label();
    let mut resumed = 0;
    for mut row in episodes {
        if row.state.pause.is_none_or(|p| p.until <= today) {
            continue;
        }
        row.state.pause = None;
        row.updated_at = ctx.now();
        tx.end_pauses(tenant, row.id, &by, ctx.now()).await?;
        tx.update_episode(tenant, &row).await?;
        ctx.audit(
            &mut tx,
            "dunning.resumed",
            row.id,
            json!({ "customer_id": id, "currency": row.currency, "note": note }),
        )
        .await?;
        resumed += 1;
    }
    if resumed == 0 {
        return Err(ApiError::Conflict {
            detail: "dunning is not paused for this customer".into(),
            field: None,
        });
    }
    let out = customer_dunning(&mut tx, &ctx, id).await?;
    ctx.commit(tx, StatusCode::OK, &out).await
}

/// Pause rows are keyed by a fresh random id; nothing refers to them from outside.
fn uuid_like() -> String {
    use rand::Rng;
    format!("pause_{:032x}", rand::rng().random::<u128>())
}
