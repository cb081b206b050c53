//! One Azure Activity Log record, accepted in the shapes Azure actually sends: the REST
//! `EventData` shape (`operationName: {value, localizedValue}`, `status: {value}`,
//! `eventTimestamp`) and the diagnostic-settings export shape (`operationName` as text,
//! `resultType`, `time`, `location`). Unknown fields are kept, so Sigma rules can match them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::FieldIndex;

/// Why a record could not be accepted; names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record is not valid JSON: {0}")]
    Json(String),
    #[error("record must be a JSON object")]
    NotAnObject,
    #[error("`{0}` is required")]
    Missing(&'static str),
    #[error("`{field}` is not an RFC 3339 timestamp: `{value}`")]
    Timestamp { field: &'static str, value: String },
}

crate::str_enum! {
    /// The outcome an activity event reports. Azure logs one event per phase of an operation
    /// (started, accepted, succeeded…), so detectors that count operations look at `succeeded`.
    ActivityStatus {
        Started = "started",
        Accepted = "accepted",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
        /// A status Tollgate does not interpret (kept in the raw record).
        Other = "other",
    }
}

impl ActivityStatus {
    /// Reads both vocabularies: REST (`Succeeded`) and export `resultType` (`Success`).
    fn parse_lenient(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "started" | "start" => Self::Started,
            "accepted" | "accept" => Self::Accepted,
            "succeeded" | "success" => Self::Succeeded,
            "failed" | "failure" => Self::Failed,
            "canceled" | "cancelled" => Self::Canceled,
            _ => Self::Other,
        }
    }
}

/// An activity-log record: the JSON as received plus a lowercased index for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    raw: serde_json::Map<String, Value>,
    fields: FieldIndex,
    event_timestamp: DateTime<Utc>,
    status: ActivityStatus,
}

impl ActivityRecord {
    /// Parses one record from JSON text.
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        let value: Value =
            serde_json::from_str(text).map_err(|err| RecordError::Json(err.to_string()))?;
        Self::from_value(value)
    }

    /// Accepts one record already parsed as JSON. Requires an operation name and a timestamp
    /// (`eventTimestamp`, else the export's `time`); everything else is optional.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        let Value::Object(raw) = value else {
            return Err(RecordError::NotAnObject);
        };
        let mut fields = FieldIndex::build(&raw);
        let operation = fields
            .first("operationname")
            .filter(|op| !op.trim().is_empty())
            .ok_or(RecordError::Missing("operationName"))?;
        // The export shape has no provider field; Log Analytics derives it from the operation.
        if let Some((provider, _)) = operation.split_once('/') {
            let provider = provider.to_owned();
            fields.insert_derived("resourceprovidername", &provider);
        }
        let event_timestamp = timestamp(&fields)?;
        let status = ["status", "resulttype"]
            .iter()
            .find_map(|path| fields.first(path))
            .map_or(ActivityStatus::Other, ActivityStatus::parse_lenient);
        Ok(Self {
            raw,
            fields,
            event_timestamp,
            status,
        })
    }

    /// The JSON object exactly as received, unknown fields included.
    pub fn raw(&self) -> &serde_json::Map<String, Value> {
        &self.raw
    }

    pub(crate) fn fields(&self) -> &FieldIndex {
        &self.fields
    }

    /// The value at a dotted path, case-insensitively (`properties.message`), in the record's
    /// own spelling; localizable strings (`{value, localizedValue}`) give their `value`.
    pub fn field(&self, path: &str) -> Option<&str> {
        self.fields.first(&path.to_lowercase())
    }

    /// `operationName`, e.g. `Microsoft.Compute/virtualMachines/write`.
    pub fn operation_name(&self) -> &str {
        // `from_value` refuses records without one.
        self.fields.first("operationname").unwrap_or_default()
    }

    /// Whether the operation is `operation` (Azure spells operations in any case).
    pub fn is_operation(&self, operation: &str) -> bool {
        self.operation_name().eq_ignore_ascii_case(operation)
    }

    pub fn status(&self) -> ActivityStatus {
        self.status
    }

    pub fn event_timestamp(&self) -> DateTime<Utc> {
        self.event_timestamp
    }

    /// Who acted: a user principal name, or an object id for service principals.
    pub fn caller(&self) -> Option<&str> {
        self.fields.first("caller")
    }

    /// `callerIpAddress`, else the REST shape's `httpRequest.clientIpAddress`.
    pub fn caller_ip_address(&self) -> Option<&str> {
        self.fields
            .first("calleripaddress")
            .or_else(|| self.fields.first("httprequest.clientipaddress"))
    }

    pub fn resource_id(&self) -> Option<&str> {
        self.fields.first("resourceid")
    }

    pub fn correlation_id(&self) -> Option<&str> {
        self.fields.first("correlationid")
    }

    /// `eventDataId` (REST shape): Azure's own id of this event, the natural idempotency key.
    pub fn event_data_id(&self) -> Option<&str> {
        self.fields.first("eventdataid")
    }

    pub fn category(&self) -> Option<&str> {
        self.fields.first("category")
    }

    pub fn level(&self) -> Option<&str> {
        self.fields.first("level")
    }

    /// `subscriptionId`, else the id inside `resourceId` (`/subscriptions/{id}/…`).
    pub fn subscription_id(&self) -> Option<&str> {
        self.fields.first("subscriptionid").or_else(|| {
            let resource = self.resource_id()?;
            let mut segments = resource.split('/').filter(|s| !s.is_empty());
            segments
                .next()?
                .eq_ignore_ascii_case("subscriptions")
                .then_some(())?;
            segments.next()
        })
    }

    /// The Azure region the operation targets, normalized (`West Europe` → `westeurope`):
    /// the record's `location`, else the `location` in the request body. `global` is no region.
    pub fn region(&self) -> Option<String> {
        ["location", "properties.requestbody.location"]
            .iter()
            .filter_map(|path| self.fields.first(path))
            .map(|text| {
                text.chars()
                    .filter(|c| !c.is_whitespace())
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .find(|region| !region.is_empty() && region != "global")
    }
}

fn timestamp(fields: &FieldIndex) -> Result<DateTime<Utc>, RecordError> {
    let (field, text) = [("eventTimestamp", "eventtimestamp"), ("time", "time")]
        .iter()
        .find_map(|(name, path)| fields.first(path).map(|text| (*name, text)))
        .ok_or(RecordError::Missing("eventTimestamp"))?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| RecordError::Timestamp {
            field,
            value: text.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_rest_shape() {
        let record = ActivityRecord::from_value(json!({
            "operationName": {"value": "Microsoft.Compute/virtualMachines/write",
                "localizedValue": "Create or Update Virtual Machine"},
            "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
            "eventTimestamp": "2026-11-20T10:11:12.1234567Z",
            "caller": "mallory@contoso.example",
            "httpRequest": {"clientIpAddress": "203.0.113.9", "method": "PUT"},
            "resourceId": "/subscriptions/0b1c/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
            "eventDataId": "e-1",
            "x-unknown": {"kept": true}
        }))
        .expect("valid record");
        assert_eq!(
            record.operation_name(),
            "Microsoft.Compute/virtualMachines/write"
        );
        assert_eq!(record.status(), ActivityStatus::Succeeded);
        assert_eq!(record.caller_ip_address(), Some("203.0.113.9"));
        assert_eq!(record.subscription_id(), Some("0b1c"));
        assert_eq!(record.event_data_id(), Some("e-1"));
        assert_eq!(record.field("X-Unknown.Kept"), Some("true"));
        assert_eq!(
            record.field("resourceProviderName"),
            Some("Microsoft.Compute")
        );
        assert_eq!(
            record.event_timestamp().to_rfc3339(),
            "2026-11-20T10:11:12.123456700+00:00"
        );
    }

    #[test]
    fn reads_the_export_shape() {
        let record = ActivityRecord::from_json(
            r#"{"time": "2026-11-20T10:11:12Z", "operationName": "MICROSOFT.NETWORK/AZUREFIREWALLS/DELETE",
                "resultType": "Success", "callerIpAddress": "198.51.100.7", "location": "West Europe",
                "category": "Administrative", "subscriptionId": "sub-9"}"#,
        )
        .expect("valid record");
        assert_eq!(record.status(), ActivityStatus::Succeeded);
        assert_eq!(record.caller_ip_address(), Some("198.51.100.7"));
        assert_eq!(record.region().as_deref(), Some("westeurope"));
        assert_eq!(record.subscription_id(), Some("sub-9"));
        assert!(record.is_operation("microsoft.network/azurefirewalls/delete"));
    }

    #[test]
    fn region_falls_back_to_the_request_body_and_ignores_global() {
        let record = ActivityRecord::from_value(json!({
            "operationName": "Microsoft.Compute/virtualMachines/write", "time": "2026-11-20T10:00:00Z",
            "location": "global",
            "properties": {"requestbody": "{\"location\":\"eastus\",\"properties\":{}}"}
        }))
        .expect("valid record");
        assert_eq!(record.region().as_deref(), Some("eastus"));
    }

    #[test]
    fn refuses_records_without_what_detection_needs() {
        assert_eq!(
            ActivityRecord::from_value(json!({"time": "2026-11-20T10:00:00Z"})),
            Err(RecordError::Missing("operationName"))
        );
        assert_eq!(
            ActivityRecord::from_value(json!({"operationName": "a/b"})),
            Err(RecordError::Missing("eventTimestamp"))
        );
        assert!(matches!(
            ActivityRecord::from_value(json!({"operationName": "a/b", "time": "yesterday"})),
            Err(RecordError::Timestamp { field: "time", .. })
        ));
        assert_eq!(
            ActivityRecord::from_value(json!([1])),
            Err(RecordError::NotAnObject)
        );
        assert!(matches!(
            ActivityRecord::from_json("{"),
            Err(RecordError::Json(_))
        ));
    }

    #[test]
    fn status_reads_both_vocabularies() {
        for (text, status) in [
            ("Started", ActivityStatus::Started),
            ("Accept", ActivityStatus::Accepted),
            ("Failure", ActivityStatus::Failed),
            ("Cancelled", ActivityStatus::Canceled),
            ("Weird", ActivityStatus::Other),
        ] {
            assert_eq!(ActivityStatus::parse_lenient(text), status);
        }
    }
}
