//! The events a partner can subscribe a webhook endpoint to. The list is closed: an endpoint
//! asking for a name that is not here is refused at the edge rather than silently never called.

use serde::{Deserialize, Serialize};

str_enum!(
    /// An event type, as it appears in a delivery's `type` and in an endpoint's subscription.
    EventType {
        /// A sign-up, payment method or order was decided; `data` is the decision.
        #[serde(rename = "decision.created")]
        DecisionCreated = "decision.created",
        /// A held payment method was released or declined by review; `data` is the payment
        /// method.
        #[serde(rename = "payment_method.updated")]
        PaymentMethodUpdated = "payment_method.updated",
        /// A held order was released or declined, by review or because the customer's first
        /// payment cleared; `data` is the order. Provision on `active`.
        #[serde(rename = "order.updated")]
        OrderUpdated = "order.updated",
        /// A spend-watch, activity or operations alert was raised; `data` is the alert.
        #[serde(rename = "alert.created")]
        AlertCreated = "alert.created",
        /// A vendor case changed (opened, reviewed, acted on, answered, closed).
        #[serde(rename = "case.updated")]
        CaseUpdated = "case.updated",
        /// A dunning episode took a step of its ladder (reminder, final notice, suspension…).
        #[serde(rename = "dunning.step")]
        DunningStep = "dunning.step",
        /// A subscription was suspended; `data` is the subscription and the reason.
        #[serde(rename = "subscription.suspended")]
        SubscriptionSuspended = "subscription.suspended",
        /// A suspended subscription was reactivated.
        #[serde(rename = "subscription.reactivated")]
        SubscriptionReactivated = "subscription.reactivated",
        /// A subscription was terminated for good.
        #[serde(rename = "subscription.terminated")]
        SubscriptionTerminated = "subscription.terminated",
        /// Sent only by `POST /v1/webhooks/{id}/test`, to the one endpoint asked for.
        #[serde(rename = "webhook.test")]
        WebhookTest = "webhook.test",
    }
);

str_enum!(
    /// Whether an endpoint receives deliveries.
    EndpointStatus {
        Enabled = "enabled",
        /// By a person, or by Tollgate after a day of failed deliveries or a `410 Gone`; the
        /// endpoint's `disabled_reason` says which.
        Disabled = "disabled",
    }
);

/// What an endpoint listens to: the listed event types, or every type with `*`.
pub const ALL_EVENTS: &str = "*";

/// Whether an endpoint subscribed to `subscribed` (event type names or `*`) wants `event`.
pub fn wants(subscribed: &[String], event: EventType) -> bool {
    subscribed
        .iter()
        .any(|s| s == ALL_EVENTS || s == event.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dotted_in_text_and_json() {
        for event in EventType::ALL {
            let json = serde_json::to_value(event).unwrap();
            assert_eq!(json, event.as_str());
            assert_eq!(event.as_str().parse::<EventType>().unwrap(), *event);
            assert!(event.as_str().contains('.'), "{event}");
        }
    }

    #[test]
    fn a_star_wants_everything_and_a_list_only_its_own() {
        let star = vec!["*".to_owned()];
        let some = vec!["decision.created".to_owned()];
        assert!(wants(&star, EventType::DunningStep));
        assert!(wants(&some, EventType::DecisionCreated));
        assert!(!wants(&some, EventType::AlertCreated));
    }
}
