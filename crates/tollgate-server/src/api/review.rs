//! What screening held, an analyst releases or declines: `POST /v1/payment_methods/{id}/review`
//! and `POST /v1/orders/{id}/review`. The review names who, when and why, is on the audit chain
//! and is announced to webhooks, so the storefront provisions a released order at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_core::{CustomerId, decisions::Verdict, validate};
use tollgate_store::{
    Review, Screened, ScreenedFilter, ScreenedRow, Settlement, Tx, page::PageRequest,
};
use utoipa::ToSchema;

use super::Paging;
use crate::{
    ctx::{Ctx, Operate},
    error::{ApiError, ApiResult},
};

tollgate_core::str_enum!(
    /// Where screening (or a review) left a payment method or order.
    ScreenedStatus {
        /// Allowed: charge it, provision it.
        Active = "active",
        /// Waiting for an analyst, or for the customer's first payment.
        Held = "held",
        Declined = "declined",
    }
);

tollgate_core::str_enum!(
    /// An analyst's verdict on something screening held.
    ReviewOutcome {
        /// Let it through: the payment method may be charged, the order provisioned.
        Release = "release",
        Decline = "decline",
    }
);

impl ScreenedStatus {
    /// Where a decision's verdict leaves what it screened.
    pub fn of(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Decline => Self::Declined,
            Verdict::Hold | Verdict::Review | Verdict::Challenge => Self::Held,
            Verdict::Allow | Verdict::Approve => Self::Active,
        }
    }
}

/// The filters of `GET /v1/payment_methods` and `GET /v1/orders`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScreenedQuery {
    pub customer_id: Option<CustomerId>,
    /// `active`, `held` (the review queue) or `declined`.
    pub status: Option<ScreenedStatus>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

impl ScreenedQuery {
    pub fn into_parts(self) -> ApiResult<(ScreenedFilter, PageRequest)> {
        let page = Paging {
            cursor: self.cursor,
            limit: self.limit,
        }
        .request()?;
        let filter = ScreenedFilter {
            customer_id: self.customer_id,
            status: self.status.map(|s| s.as_str().to_owned()),
        };
        Ok((filter, page))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewIn {
    pub outcome: ReviewOutcome,
    /// Why, for the audit trail and the next analyst.
    pub note: Option<String>,
}

/// Who settled a held payment method or order, when and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewOut {
    /// The actor: an API key id (`key_…`) or `cli`.
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

impl From<Review> for ReviewOut {
    fn from(review: Review) -> Self {
        Self {
            by: review.by,
            at: review.at,
            note: review.note,
        }
    }
}

fn noun(what: Screened) -> &'static str {
    match what {
        Screened::PaymentMethod => "payment_method",
        Screened::Order => "order",
    }
}

/// Settles `row`, which must still be held, as the caller's review says, and audits it as
/// `payment_method.reviewed` / `order.reviewed`. The deciding decision stays the one that held
/// it: the review is the person's answer to it.
pub async fn settle(
    ctx: &Ctx<Operate>,
    tx: &mut Tx,
    what: Screened,
    row: &ScreenedRow,
    input: ReviewIn,
) -> ApiResult<()> {
    let note = input
        .note
        .as_deref()
        .map(|note| validate::text("note", note, 500))
        .transpose()
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    let conflict = |status: &str| ApiError::Conflict {
        detail: format!(
            "the {} is {status}; only a held one can be reviewed",
            noun(what).replace('_', " ")
        ),
        field: None,
    };
    if row.status != ScreenedStatus::Held.as_str() {
        return Err(conflict(&row.status));
    }
    let status = match input.outcome {
        ReviewOutcome::Release => ScreenedStatus::Active,
        ReviewOutcome::Decline => ScreenedStatus::Declined,
    };
    let review = Review {
        by: ctx.actor().label(),
        at: ctx.now(),
        note,
    };
    let settled = tx
        .settle_screened(
            what,
            ctx.tenant(),
            &row.id,
            &Settlement {
                from: ScreenedStatus::Held.as_str(),
                status: status.as_str(),
                decision_id: row.decision_id,
                review: Some(&review),
            },
        )
        .await?;
    if !settled {
        return Err(conflict("no longer held"));
    }
    ctx.audit(
        tx,
        &format!("{}.reviewed", noun(what)),
        &row.id,
        serde_json::json!({
            "customer_id": row.customer_id,
            "outcome": input.outcome,
            "status": status,
            "note": review.note,
            "decision_id": row.decision_id,
        }),
    )
    .await
}
