//! Notices, cases and playbooks: what the vendor (or an abuse desk) tells the partner about a
//! customer, the case that gathers it, and the data that says what happens automatically.
//!
//! Everything here is pure: the server reads the stored facts, asks [`Playbook::plan`] what to
//! do, and writes the notice, the case and the outbox actions in one transaction.

mod playbook;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AlertId, CaseId, CustomerId, NoticeId, SubscriptionId};

pub use playbook::{Plan, PlanInput, Playbook, PlaybookAction, PlaybookError, PlaybookRule};

str_enum!(
    /// What a notice reports.
    NoticeKind {
        /// Virtual machines talk to known crypto-mining pools.
        CryptoMining = "crypto_mining",
        /// Consumption far above the subscription's usual pattern.
        UsageAnomaly = "usage_anomaly",
        /// An unusual burst of virtual machine deployments (regions, sizes, count).
        VmDeploymentAnomaly = "vm_deployment_anomaly",
        /// Outbound attacks, spam, phishing reported by an abuse desk.
        Abuse = "abuse",
        /// Anything the vendor reports that Tollgate has no name for yet.
        Other = "other",
    }
);

impl NoticeKind {
    /// The kind of a Partner Center fraud event type (`NetworkConnectionsToCryptoMiningPools`,
    /// `UsageAnomalyDetection`, `VmDeploymentAnomaly`, …). Partner Center adds types without
    /// notice, so the match is on the words that matter and an unknown type is `other`.
    pub fn from_vendor_event_type(event_type: &str) -> Self {
        let lowered = event_type.to_ascii_lowercase();
        if lowered.contains("crypto") || lowered.contains("mining") {
            Self::CryptoMining
        } else if lowered.contains("deployment") {
            Self::VmDeploymentAnomaly
        } else if lowered.contains("usage") || lowered.contains("anomal") {
            Self::UsageAnomaly
        } else if lowered.contains("abuse") || lowered.contains("spam") || lowered.contains("ddos")
        {
            Self::Abuse
        } else {
            Self::Other
        }
    }
}

str_enum!(
    /// How bad a notice is; ordered from least to most.
    Severity {
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
);

impl Severity {
    /// Reads the vendor's spelling (`High`, `sev2`, …) leniently; an unreadable value is
    /// `medium`, so a malformed severity neither escalates nor buries a notice.
    pub fn from_vendor(text: Option<&str>) -> Self {
        match text.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
            Some("low" | "informational" | "sev4") => Self::Low,
            Some("high" | "sev2") => Self::High,
            Some("critical" | "sev1") => Self::Critical,
            _ => Self::Medium,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::Low => 0,
            Self::Medium => 1,
            Self::High => 2,
            Self::Critical => 3,
        }
    }

    pub fn at_least(self, floor: Severity) -> bool {
        self.rank() >= floor.rank()
    }
}

str_enum!(
    /// How sure the reporter is; ordered from least to most.
    Confidence {
        Low = "low",
        Medium = "medium",
        High = "high",
    }
);

impl Confidence {
    /// The vendor's `confidenceLevel`; `None` when absent or unreadable.
    pub fn from_vendor(text: Option<&str>) -> Option<Self> {
        text.and_then(|t| t.trim().to_ascii_lowercase().parse().ok())
    }

    fn rank(self) -> u8 {
        match self {
            Self::Low => 0,
            Self::Medium => 1,
            Self::High => 2,
        }
    }

    pub fn at_least(self, floor: Confidence) -> bool {
        self.rank() >= floor.rank()
    }
}

str_enum!(
    /// Where a case stands.
    CaseState {
        /// Nobody has looked yet.
        Open = "open",
        /// An analyst is on it.
        Investigating = "investigating",
        /// Something was done to the customer's service (by a playbook or an analyst).
        Actioned = "actioned",
        /// Closed with an outcome.
        Resolved = "resolved",
    }
);

impl CaseState {
    /// Whether a case may move from `self` to `next`. A resolved case is final: a new problem
    /// opens a new case, so an outcome once reported to the vendor is never silently undone.
    pub fn can_become(self, next: CaseState) -> bool {
        use CaseState::*;
        matches!(
            (self, next),
            (Open, Investigating | Actioned | Resolved)
                | (Investigating, Actioned | Resolved)
                | (Actioned, Investigating | Resolved)
        )
    }

    /// Whether the case still needs someone (its deadline can be breached).
    pub fn is_live(self) -> bool {
        self != CaseState::Resolved
    }
}

str_enum!(
    /// How a case ended.
    CaseOutcome {
        /// The customer committed fraud (stolen identity or card, crypto-mining on credit).
        Fraud = "fraud",
        /// The customer's service was abused (compromised, or breaking the terms).
        Abuse = "abuse",
        /// Nothing was wrong.
        FalsePositive = "false_positive",
        /// The customer paid what it owed.
        Paid = "paid",
    }
);

/// How the vendor is told a fraud event ended, by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorResolution {
    /// Resolved, reason `Fraud`.
    Fraud,
    /// Resolved, reason `Ignore`.
    Ignore,
}

impl CaseOutcome {
    /// What a case that came from a vendor fraud event tells the vendor; `None` for `paid`,
    /// which is not an answer to a fraud event.
    pub fn vendor_resolution(self) -> Option<VendorResolution> {
        match self {
            CaseOutcome::Fraud | CaseOutcome::Abuse => Some(VendorResolution::Fraud),
            CaseOutcome::FalsePositive => Some(VendorResolution::Ignore),
            CaseOutcome::Paid => None,
        }
    }
}

/// A notice as stored: what the vendor or an abuse desk reported.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Notice {
    /// `ntc_…`
    pub id: NoticeId,
    /// `vendor` (Partner Center webhook or poll) or `api` (`POST /v1/notices`).
    pub source: String,
    pub kind: NoticeKind,
    pub severity: Severity,
    pub confidence: Option<Confidence>,
    /// The vendor's event id; one notice per event, however often it arrives.
    pub vendor_event_id: Option<String>,
    /// The vendor's own name for the event type, as sent.
    pub vendor_event_type: Option<String>,
    pub vendor_subscription_id: Option<String>,
    /// The customer's id at the vendor (Partner Center: the customer's tenant id).
    pub vendor_customer_id: Option<String>,
    /// Absent when the vendor named a subscription Tollgate does not know.
    pub customer_id: Option<CustomerId>,
    pub subscription_id: Option<SubscriptionId>,
    pub summary: String,
    /// The affected resources, as reported.
    #[schema(value_type = Object)]
    pub resources: Value,
    /// Everything else the reporter sent.
    #[schema(value_type = Object)]
    pub details: Value,
    pub first_seen_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When the partner must have responded, under the tenant's response policy.
    pub respond_by: DateTime<Utc>,
    pub case_id: Option<CaseId>,
    pub created_at: DateTime<Utc>,
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Case {
    /// `case_…`
    pub id: CaseId,
    /// Absent for an `unmatched` case.
    pub customer_id: Option<CustomerId>,
    pub state: CaseState,
    pub outcome: Option<CaseOutcome>,
    pub assignee: Option<String>,
    pub title: String,
    /// The earliest response deadline of its notices; breaching it raises a `case_deadline`
    /// alert.
    pub deadline_at: Option<DateTime<Utc>>,
    /// The case came from a notice about a subscription Tollgate does not know.
    pub unmatched: bool,
    /// The vendor fraud events the case answers for; resolving it reports to the vendor.
    pub vendor_event_ids: Vec<String>,
    pub vendor_subscription_id: Option<String>,
    /// The alert raised when the deadline passed.
    pub breach_alert_id: Option<AlertId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Case {
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.state.is_live() && self.deadline_at.is_some_and(|deadline| deadline < now)
    }
}

/// Something a case gathers.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseLink {
    /// `notice`, `alert`, `decision` or `episode`.
    pub kind: String,
    pub object_id: String,
    pub added_at: DateTime<Utc>,
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseEvent {
    pub at: DateTime<Utc>,
    /// Who: `key:…`, `job:…`, `playbook:…`.
    pub actor: String,
    /// `opened`, `linked`, `assigned`, `comment`, `state`, `action`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The response deadline of a notice seen at `at` with `severity`, under the playbook's
/// response policy.
pub fn respond_by(playbook: &Playbook, severity: Severity, at: DateTime<Utc>) -> DateTime<Utc> {
    at + chrono::Duration::hours(i64::from(playbook.response_hours.for_severity(severity)))
}

/// Hours to respond, per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseHours {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
}

impl ResponseHours {
    pub fn for_severity(&self, severity: Severity) -> u32 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_event_types_map_to_kinds() {
        for (text, kind) in [
            (
                "NetworkConnectionsToCryptoMiningPools",
                NoticeKind::CryptoMining,
            ),
            ("UsageAnomalyDetection", NoticeKind::UsageAnomaly),
            ("VmDeploymentAnomaly", NoticeKind::VmDeploymentAnomaly),
            ("OutboundSpam", NoticeKind::Abuse),
            ("SomethingNew", NoticeKind::Other),
        ] {
            assert_eq!(NoticeKind::from_vendor_event_type(text), kind, "{text}");
        }
    }

    #[test]
    fn vendor_severities_and_confidences_read_leniently() {
        assert_eq!(Severity::from_vendor(Some(" High ")), Severity::High);
        assert_eq!(Severity::from_vendor(Some("sev1")), Severity::Critical);
        assert_eq!(Severity::from_vendor(Some("???")), Severity::Medium);
        assert_eq!(Severity::from_vendor(None), Severity::Medium);
        assert_eq!(
            Confidence::from_vendor(Some("HIGH")),
            Some(Confidence::High)
        );
        assert_eq!(Confidence::from_vendor(Some("sure")), None);
        assert!(Severity::Critical.at_least(Severity::High));
        assert!(!Severity::Medium.at_least(Severity::High));
        assert!(Confidence::High.at_least(Confidence::Medium));
        assert!(!Confidence::Low.at_least(Confidence::Medium));
    }

    #[test]
    fn the_case_state_machine_allows_only_forward_moves_and_no_reopening() {
        use CaseState::*;
        let allowed = [
            (Open, Investigating),
            (Open, Actioned),
            (Open, Resolved),
            (Investigating, Actioned),
            (Investigating, Resolved),
            (Actioned, Investigating),
            (Actioned, Resolved),
        ];
        for from in CaseState::ALL {
            for to in CaseState::ALL {
                assert_eq!(
                    from.can_become(*to),
                    allowed.contains(&(*from, *to)),
                    "{from} -> {to}"
                );
            }
        }
        assert!(!Resolved.is_live());
        assert!(Actioned.is_live());
    }

    #[test]
    fn outcomes_map_to_the_vendors_resolved_reasons() {
        assert_eq!(
            CaseOutcome::Fraud.vendor_resolution(),
            Some(VendorResolution::Fraud)
        );
        assert_eq!(
            CaseOutcome::Abuse.vendor_resolution(),
            Some(VendorResolution::Fraud)
        );
        assert_eq!(
            CaseOutcome::FalsePositive.vendor_resolution(),
            Some(VendorResolution::Ignore)
        );
        assert_eq!(CaseOutcome::Paid.vendor_resolution(), None);
    }

    #[test]
    fn deadlines_follow_the_response_policy() {
        let playbook = Playbook::shipped();
        let at = DateTime::parse_from_rfc3339("2026-11-02T09:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            respond_by(&playbook, Severity::High, at),
            at + chrono::Duration::hours(24)
        );
        assert!(
            respond_by(&playbook, Severity::Critical, at)
                < respond_by(&playbook, Severity::Low, at)
        );
    }
}
