//! Case deadlines: a live case whose response deadline passed raises one `case_deadline` alert
//! (and a timeline entry), however often and from however many processes the job runs.

use serde_json::json;
use tollgate_core::AlertId;

use crate::{
    AppState,
    api::{
        alerts::{self, NewAlert},
        cases::CASE_DEADLINE,
    },
    ctx::{Acting, Job},
    error::ApiResult,
};

const JOB: &str = "case_deadlines";

/// Raises the alerts for every case breached by now; returns how many were raised.
pub async fn breaches(state: &AppState) -> ApiResult<usize> {
    let now = state.now();
    let mut raised = 0;
    loop {
        let due = state.store().read().await?.breached_cases(now, 100).await?;
        if due.is_empty() {
            return Ok(raised);
        }
        let before = raised;
        for (tenant, listed) in due {
            let job = Job {
                tenant,
                name: JOB,
                now,
            };
            let mut tx = state.store().begin().await?;
            let case = tx.case_for_update(tenant, listed.id).await?;
            if case.breach_alert_id.is_some() || !case.is_overdue(now) {
                continue;
            }
            let sentence = format!(
                "Case {} passed its response deadline ({}) while {}",
                case.id,
                case.deadline_at.map(|d| d.to_rfc3339()).unwrap_or_default(),
                case.state
            );
            let details =
                json!({ "case_id": case.id, "deadline_at": case.deadline_at, "state": case.state });
            let alert = match case.customer_id {
                Some(customer_id) => {
                    let new = NewAlert {
                        kind: CASE_DEADLINE,
                        customer_id,
                        subscription_id: None,
                        sentence,
                        details,
                    };
                    alerts::raise(&job, &mut tx, AlertId::generate(), new).await?
                }
                None => {
                    alerts::raise_for_tenant(&job, &mut tx, CASE_DEADLINE, sentence, details)
                        .await?
                }
            }
            .id;
            // A racing run that recorded its alert first wins; this one rolls back.
            if !tx.mark_case_breached(tenant, case.id, alert).await? {
                continue;
            }
            tx.add_case_event(
                tenant,
                case.id,
                now,
                &job.actor().label(),
                "deadline_breached",
                &json!({ "alert_id": alert }),
            )
            .await?;
            tx.commit().await?;
            raised += 1;
        }
        // Cases a racing run took are listed again until it commits; wait for the next run.
        if raised == before {
            return Ok(raised);
        }
    }
}
