//! Azure fraud events: the typed event, the status update, and the lenient page reader that
//! turns one bad event into a [`FraudEventEntry::Quarantined`] instead of failing the page.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::fields;

/// An event's status in Partner Center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FraudEventStatus {
    Active,
    Investigating,
    Resolved,
}

impl FraudEventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Investigating => "Investigating",
            Self::Resolved => "Resolved",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Active, Self::Investigating, Self::Resolved]
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for FraudEventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolvedReason {
    /// The activity was fraud.
    Fraud,
    /// The activity was legitimate.
    Ignore,
}

impl ResolvedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fraud => "Fraud",
            Self::Ignore => "Ignore",
        }
    }
}

/// The status to set; only a resolution carries a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FraudEventTarget {
    Active,
    Investigating,
    Resolved(ResolvedReason),
}

/// `POST /v1/fraudEvents/subscription/{subscription-id}/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudEventUpdate {
    pub subscription_id: String,
    /// The events to update; empty updates every event of the subscription.
    pub event_ids: Vec<String>,
    pub target: FraudEventTarget,
}

impl FraudEventUpdate {
    pub(crate) fn body(&self) -> Value {
        let (status, reason) = match self.target {
            FraudEventTarget::Active => (FraudEventStatus::Active, None),
            FraudEventTarget::Investigating => (FraudEventStatus::Investigating, None),
            FraudEventTarget::Resolved(reason) => (FraudEventStatus::Resolved, Some(reason)),
        };
        let mut body = json!({"EventIds": self.event_ids, "EventStatus": status.as_str()});
        if let Some(reason) = reason {
            body["ResolvedReason"] = json!(reason.as_str());
        }
        body
    }
}

/// The filters of `GET /v1/fraudEvents`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FraudEventQuery {
    pub status: Option<FraudEventStatus>,
    pub subscription_id: Option<String>,
    /// E.g. `NetworkConnectionsToCryptoMiningPools` (new events model only).
    pub event_type: Option<String>,
    /// Asks for pages of this many events (new events model only); without it Partner Center
    /// decides, and pages on with continuation links when it has more.
    pub page_size: Option<u32>,
}

impl FraudEventQuery {
    pub(crate) fn pairs(&self, page_number: Option<u32>) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("EventStatus", status.as_str().to_owned()));
        }
        if let Some(id) = &self.subscription_id {
            pairs.push(("SubscriptionId", id.clone()));
        }
        if let Some(kind) = &self.event_type {
            pairs.push(("EventType", kind.clone()));
        }
        if let (Some(size), Some(number)) = (self.page_size, page_number) {
            pairs.push(("PageSize", size.to_string()));
            pairs.push(("PageNumber", number.to_string()));
        }
        pairs
    }
}

/// One event of a page: typed, or kept as it came with the reason it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum FraudEventEntry {
    Event(Box<FraudEvent>),
    Quarantined { raw: String, reason: String },
}

/// An Azure fraud event (`fraudEvent` resource). Fields Tollgate does not type stay in `raw`.
#[derive(Debug, Clone, PartialEq)]
pub struct FraudEvent {
    pub event_id: String,
    pub subscription_id: String,
    pub customer_tenant_id: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub status: FraudEventStatus,
    /// E.g. `NetworkConnectionsToCryptoMiningPools`, `UsageAnomalyDetection`.
    pub event_type: Option<String>,
    pub severity: Option<String>,
    pub confidence_level: Option<String>,
    pub display_name: Option<String>,
    pub hit_count: Option<i64>,
    pub is_test: bool,
    pub resolved_reason: Option<String>,
    pub first_observed: Option<DateTime<Utc>>,
    pub last_observed: Option<DateTime<Utc>>,
    pub affected_resources: Vec<Value>,
    /// With JSON held in strings (`"vM_IP": "[…]"`) decoded.
    pub additional_details: Map<String, Value>,
    /// The status history, decoded from the string Partner Center sends it in.
    pub activity_logs: Vec<Value>,
    /// The event as received.
    pub raw: Value,
}

/// A page's events and, when Partner Center has more, how to ask for them.
#[derive(Debug)]
pub(crate) struct Page {
    pub entries: Vec<FraudEventEntry>,
    pub next: Option<NextLink>,
}

/// A collection's `links.next`: a URI (absolute or relative to the API base) and headers such
/// as `MS-ContinuationToken` to send with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NextLink {
    pub uri: String,
    pub headers: Vec<(String, String)>,
}

/// A bare array of events, or a collection `{"items": […], "links": {"next": …}}`. Only a
/// body that is neither fails; a bad event is quarantined.
pub(crate) fn parse_page(body: &[u8]) -> Result<Page, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("fraud events page: {e}"))?;
    let (items, next) = match value {
        Value::Array(items) => (items, None),
        Value::Object(object) => {
            let items = match fields::get(&object, "items").cloned().map(fields::unnest) {
                Some(Value::Array(items)) => items,
                None => Vec::new(),
                Some(other) => {
                    return Err(format!(
                        "fraud events page: items is {}",
                        fields::kind(&other)
                    ));
                }
            };
            (items, next_link(&object))
        }
        other => {
            return Err(format!(
                "fraud events page: expected an array or a collection, found {}",
                fields::kind(&other)
            ));
        }
    };
    let entries = items.into_iter().map(entry).collect();
    Ok(Page { entries, next })
}

fn next_link(collection: &Map<String, Value>) -> Option<NextLink> {
    let next = fields::get(collection, "links")?.as_object()?;
    let next = fields::get(next, "next")?.as_object()?;
    let uri = fields::get(next, "uri").and_then(Value::as_str)?.to_owned();
    let headers = fields::get(next, "headers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|header| {
            let header = header.as_object()?;
            let key = fields::get(header, "key")?.as_str()?;
            let value = fields::text(fields::get(header, "value")?).ok()?;
            Some((key.to_owned(), value))
        })
        .collect();
    Some(NextLink { uri, headers })
}

pub(crate) fn entry(raw: Value) -> FraudEventEntry {
    match event(&raw) {
        Ok(event) => FraudEventEntry::Event(Box::new(event)),
        Err(reason) => FraudEventEntry::Quarantined {
            raw: raw.to_string(),
            reason,
        },
    }
}

fn event(raw: &Value) -> Result<FraudEvent, String> {
    let unnested = fields::unnest(raw.clone());
    let Value::Object(object) = &unnested else {
        return Err(format!("expected an object, found {}", fields::kind(raw)));
    };
    let required =
        |name: &str| fields::opt_text(object, name)?.ok_or_else(|| format!("{name} is missing"));
    let time = |name: &str| {
        fields::get(object, name)
            .map(fields::time)
            .transpose()
            .map(Option::flatten)
            .map_err(|e| format!("{name}: {e}"))
    };
    let status_text = required("eventStatus")?;
    let status = FraudEventStatus::parse(&status_text)
        .ok_or_else(|| format!("eventStatus: unknown status `{status_text}`"))?;
    let list = |name: &str| match fields::get(object, name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.clone()),
        Some(other) => Err(format!(
            "{name}: expected a list, found {}",
            fields::kind(other)
        )),
    };
    let additional_details = match fields::get(object, "additionalDetails") {
        None => Map::new(),
        Some(Value::Object(details)) => details.clone(),
        Some(other) => {
            return Err(format!(
                "additionalDetails: expected an object, found {}",
                fields::kind(other)
            ));
        }
    };
    Ok(FraudEvent {
        event_id: required("eventId")?,
        subscription_id: required("subscriptionId")?,
        customer_tenant_id: fields::opt_text(object, "customerTenantId")?,
        event_time: time("eventTime")?,
        status,
        event_type: fields::opt_text(object, "eventType")?,
        severity: fields::opt_text(object, "severity")?,
        confidence_level: fields::opt_text(object, "confidenceLevel")?,
        display_name: fields::opt_text(object, "displayName")?,
        hit_count: fields::get(object, "hitCount")
            .map(fields::integer)
            .transpose()
            .map_err(|e| format!("hitCount: {e}"))?,
        is_test: fields::get(object, "isTest")
            .map(fields::flag)
            .transpose()
            .map_err(|e| format!("isTest: {e}"))?
            .unwrap_or(false),
        resolved_reason: fields::opt_text(object, "resolvedReason")?
            .filter(|reason| !reason.eq_ignore_ascii_case("none")),
        first_observed: time("firstObserved")?,
        last_observed: time("lastObserved")?,
        affected_resources: list("affectedResources")?,
        additional_details,
        activity_logs: list("activityLogs")?,
        raw: raw.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_new_model_event_reads_fully() {
        let raw = json!({
            "eventTime": "2021-12-08T00:25:45.69",
            "eventId": "2a70_2ede",
            "customerTenantId": "a248da34",
            "subscriptionId": "2a7064fb",
            "hitCount": "10",
            "eventStatus": "Active",
            "resolvedReason": "None",
            "resolvedOn": "9999-12-31T23:59:59.9970000",
            "lastObserved": "9999-12-31T23:59:59.9970000",
            "eventType": "NetworkConnectionsToCryptoMiningPools",
            "additionalDetails": {"vM_IP": "[\r\n \"13.89.185.189\"\r\n]", "connectionCount": "31"},
            "IsTest": "false",
            "activityLogs": "[{\"statusFrom\": \"Active\", \"statusTo\": \"Investigating\"}]",
            "somethingNew": {"x": 1}
        });
        let FraudEventEntry::Event(event) = entry(raw.clone()) else {
            panic!("quarantined")
        };
        assert_eq!(event.event_id, "2a70_2ede");
        assert_eq!(event.hit_count, Some(10));
        assert!(!event.is_test);
        assert_eq!(event.resolved_reason, None);
        assert_eq!(event.last_observed, None);
        assert_eq!(event.additional_details["vM_IP"], json!(["13.89.185.189"]));
        assert_eq!(event.activity_logs[0]["statusTo"], "Investigating");
        assert_eq!(event.raw, raw);
    }

    #[test]
    fn bad_events_are_quarantined_with_a_reason() {
        for (raw, reason) in [
            (json!("just a string"), "expected an object, found a string"),
            (
                json!({"eventStatus": "Active", "subscriptionId": "s"}),
                "eventId is missing",
            ),
            (
                json!({"eventId": "e", "subscriptionId": "s", "eventStatus": "Paused"}),
                "eventStatus: unknown status `Paused`",
            ),
            (
                json!({"eventId": "e", "subscriptionId": "s", "eventStatus": "Active", "hitCount": "many"}),
                "hitCount: `many` is not a whole number",
            ),
            (
                json!({"eventId": "e", "subscriptionId": "s", "eventStatus": "Active", "eventTime": "soon"}),
                "eventTime: `soon` is not a date-time",
            ),
        ] {
            let FraudEventEntry::Quarantined {
                raw: kept,
                reason: why,
            } = entry(raw.clone())
            else {
                panic!("{raw} was accepted")
            };
            assert_eq!((kept, why.as_str()), (raw.to_string(), reason));
        }
    }

    #[test]
    fn pages_are_arrays_or_collections_with_next_links() {
        let page = parse_page(br#"[{"eventId": "e"}]"#).unwrap();
        assert_eq!(page.entries.len(), 1);
        assert!(page.next.is_none());

        let body =
            br#"{"totalCount": 3, "items": [], "links": {"next": {"uri": "/v1/fraudEvents?seek=2",
            "method": "GET", "headers": [{"key": "MS-ContinuationToken", "value": "abc"}]}}}"#;
        let next = parse_page(body).unwrap().next.unwrap();
        assert_eq!(next.uri, "/v1/fraudEvents?seek=2");
        assert_eq!(
            next.headers,
            [("MS-ContinuationToken".into(), "abc".into())]
        );

        assert!(parse_page(b"<html>").is_err());
        assert!(parse_page(b"42").is_err());
    }

    #[test]
    fn updates_carry_a_reason_only_when_resolving() {
        let mut update = FraudEventUpdate {
            subscription_id: "s".into(),
            event_ids: vec!["e1".into()],
            target: FraudEventTarget::Resolved(ResolvedReason::Fraud),
        };
        assert_eq!(
            update.body(),
            json!({"EventIds": ["e1"], "EventStatus": "Resolved", "ResolvedReason": "Fraud"})
        );
        update.target = FraudEventTarget::Investigating;
        assert_eq!(
            update.body(),
            json!({"EventIds": ["e1"], "EventStatus": "Investigating"})
        );
    }
}
