//! Orders held until the customer's first payment cleared: once it has, each is decided again
//! under the live policy, so a prepaying customer's order is provisioned without an analyst.
//! Runs every minute, and for one customer right after a payment of theirs is recorded through
//! the API; safe to run from several processes at once.

use tollgate_core::{CustomerId, TenantId};

use crate::{AppState, api::orders, ctx::Job, error::ApiResult};

const JOB: &str = "held_orders";
const PAGE: u32 = 100;

/// Decides again the held orders awaiting a first payment that has now cleared, of every tenant
/// or of one customer; returns how many moved.
pub async fn decide_paid(
    state: &AppState,
    only: Option<(TenantId, CustomerId)>,
) -> ApiResult<usize> {
    let mut moved = 0;
    let mut after = String::new();
    loop {
        let (due, last) = state
            .store()
            .read()
            .await?
            .orders_awaiting_cleared_payment(only, &after, PAGE)
            .await?;
        let Some(last) = last else {
            return Ok(moved);
        };
        after = last;
        for (tenant, id) in due {
            let job = Job {
                tenant,
                name: JOB,
                now: state.now(),
            };
            if orders::decide_again(&job, state, &id, "first_payment_cleared").await? {
                moved += 1;
            }
        }
    }
}
