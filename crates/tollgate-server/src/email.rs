//! E-mail actions: what an `email` action's payload holds, and one attempt at delivering it
//! through the deployment's [`Mailer`](tollgate_connectors::email::Mailer).

use serde::{Deserialize, Serialize};
use tollgate_connectors::email::Email;
use tollgate_core::outbox::AttemptResult;
use tollgate_store::ActionRow;

use crate::AppState;

/// The payload of an `email` action, rendered when the action is enqueued so that every attempt
/// sends the same message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPayload {
    /// The recipient, `name@domain` or `Name <name@domain>`.
    pub to: String,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The customer the message is about.
    pub customer_id: String,
    /// The template it was rendered from (`dunning.reminder`, say), for the reader of the log.
    pub template: String,
}

/// One attempt at the e-mail `action` asks for.
pub async fn deliver(state: &AppState, action: &ActionRow) -> AttemptResult {
    let Some(mailer) = &state.connectors().mailer else {
        return AttemptResult::Skipped {
            detail: "no SMTP relay is configured in this deployment".into(),
        };
    };
    let payload: EmailPayload = match serde_json::from_value(action.payload.clone()) {
        Ok(payload) => payload,
        Err(error) => {
            return AttemptResult::Permanent {
                detail: format!("the e-mail payload is malformed: {error}"),
            };
        }
    };
    let email = Email {
        action_id: action.id,
        to: payload.to,
        subject: payload.subject,
        text: payload.text,
        html: payload.html,
    };
    match mailer.send(&email).await {
        Ok(receipt) => AttemptResult::Delivered {
            detail: format!("{} ({})", receipt.reply, receipt.message_id),
        },
        Err(error) if error.is_transient() => AttemptResult::Transient {
            detail: error.to_string(),
            retry_after: None,
        },
        Err(error) => AttemptResult::Permanent {
            detail: error.to_string(),
        },
    }
}
