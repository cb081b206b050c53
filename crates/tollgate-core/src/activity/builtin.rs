//! Built-in activity detectors for resold subscriptions, beyond what a single-record Sigma rule
//! can say. Each is a pure function over records the caller provides (a window of one
//! customer's recent activity, plus what the caller knows: principals seen before, the caller
//! IP's country), so the same code runs on ingest and in backtests.

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{ActivityRecord, ActivityStatus, sigma::RuleLevel};
use crate::validate::CountryCode;

const VM_WRITE: &str = "Microsoft.Compute/virtualMachines/write";
const ROLE_ASSIGNMENT_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
/// Also the tail of nested forms such as `…/NETWORKSECURITYGROUPS/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE`.
const DIAGNOSTIC_SETTINGS_DELETE: &str = "microsoft.insights/diagnosticsettings/delete";

crate::str_enum! {
    /// Which built-in detector fired.
    DetectionCode {
        /// Many VMs created across many regions in a short time (crypto-mining pattern).
        VmCreationBurst = "vm_creation_burst",
        /// A role assigned to a principal the customer has not used before.
        RoleAssignmentNewPrincipal = "role_assignment_new_principal",
        /// Diagnostic settings deleted: audit logging switched off.
        DiagnosticSettingsDeleted = "diagnostic_settings_deleted",
        /// The customer's first API activity from a high-risk country.
        FirstActivityHighRiskCountry = "first_activity_high_risk_country",
    }
}

/// One built-in finding, ready to become an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    pub code: DetectionCode,
    pub level: RuleLevel,
    /// One sentence an analyst can read without opening the records.
    pub message: String,
    /// Positions, in the window the caller passed, of the records that support the finding
    /// (`[0]` from single-record detectors).
    pub records: Vec<usize>,
}

/// Thresholds for [`vm_creation_burst`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmBurstConfig {
    /// Distinct virtual machines written successfully…
    pub min_vms: usize,
    /// …in at least this many distinct regions…
    pub min_regions: usize,
    /// …within this span.
    pub within: Duration,
}

impl Default for VmBurstConfig {
    fn default() -> Self {
        Self {
            min_vms: 10,
            min_regions: 3,
            within: Duration::minutes(60),
        }
    }
}

/// The earliest span of `config.within` holding at least `min_vms` distinct VMs written
/// successfully in at least `min_regions` regions. VMs count once each (Azure logs a write per
/// update too) and only with a known region.
pub fn vm_creation_burst(window: &[ActivityRecord], config: &VmBurstConfig) -> Option<Detection> {
    let mut writes: Vec<(usize, String, String)> = window
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_operation(VM_WRITE) && r.status() == ActivityStatus::Succeeded)
        .filter_map(|(at, r)| Some((at, r.resource_id()?.to_lowercase(), r.region()?)))
        .collect();
    writes.sort_by_key(|(at, _, _)| window[*at].event_timestamp());
    let mut vms: HashMap<&str, usize> = HashMap::new();
    let mut regions: HashMap<&str, usize> = HashMap::new();
    let mut start = 0;
    for end in 0..writes.len() {
        let (_, vm, region) = &writes[end];
        *vms.entry(vm).or_default() += 1;
        *regions.entry(region).or_default() += 1;
        let end_time = window[writes[end].0].event_timestamp();
        while end_time - window[writes[start].0].event_timestamp() > config.within {
            let (_, vm, region) = &writes[start];
            decrement(&mut vms, vm);
            decrement(&mut regions, region);
            start += 1;
        }
        if vms.len() >= config.min_vms && regions.len() >= config.min_regions {
            let mut names: Vec<&str> = regions.keys().copied().collect();
            names.sort_unstable();
            return Some(Detection {
                code: DetectionCode::VmCreationBurst,
                level: RuleLevel::High,
                message: format!(
                    "{} virtual machines were created in {} regions ({}) within {} minutes.",
                    vms.len(),
                    names.len(),
                    names.join(", "),
                    config.within.num_minutes()
                ),
                records: writes[start..=end].iter().map(|(at, _, _)| *at).collect(),
            });
        }
    }
    None
}

fn decrement(counts: &mut HashMap<&str, usize>, key: &str) {
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// Principal object ids the customer has assigned roles to before; ids compare
/// case-insensitively (Azure spells GUIDs in either case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownPrincipals(HashSet<String>);

impl KnownPrincipals {
    pub fn contains(&self, principal_id: &str) -> bool {
        self.0.contains(&principal_id.to_lowercase())
    }
}

impl<S: AsRef<str>> FromIterator<S> for KnownPrincipals {
    fn from_iter<I: IntoIterator<Item = S>>(ids: I) -> Self {
        Self(
            ids.into_iter()
                .map(|id| id.as_ref().to_lowercase())
                .collect(),
        )
    }
}

/// One detection per principal not in `known` that received a role in the window. The
/// principal is read from the request (or response) body; an assignment whose principal cannot
/// be read is reported too, since an unreadable grant is no safer than a new one.
pub fn role_assignments_to_new_principals(
    window: &[ActivityRecord],
    known: &KnownPrincipals,
) -> Vec<Detection> {
    let mut reported: HashMap<Option<String>, usize> = HashMap::new();
    let mut detections: Vec<Detection> = Vec::new();
    for (at, record) in window.iter().enumerate() {
        if !record.is_operation(ROLE_ASSIGNMENT_WRITE)
            || record.status() != ActivityStatus::Succeeded
        {
            continue;
        }
        let principal = ["properties.requestbody", "properties.responsebody"]
            .iter()
            .find_map(|body| record.field(&format!("{body}.properties.principalid")))
            .map(str::to_lowercase);
        if principal.as_deref().is_some_and(|id| known.contains(id)) {
            continue;
        }
        if let Some(&index) = reported.get(&principal) {
            detections[index].records.push(at);
            continue;
        }
        let by = record.caller().unwrap_or("an unknown caller");
        let message = match &principal {
            Some(id) => format!("{by} assigned a role to principal {id}, not seen before."),
            None => format!("{by} assigned a role to a principal the record does not name."),
        };
        reported.insert(principal, detections.len());
        detections.push(Detection {
            code: DetectionCode::RoleAssignmentNewPrincipal,
            level: RuleLevel::Medium,
            message,
            records: vec![at],
        });
    }
    detections
}

/// One detection per successful deletion of diagnostic settings (which stops log export).
pub fn diagnostic_settings_deleted(window: &[ActivityRecord]) -> Vec<Detection> {
    window
        .iter()
        .enumerate()
        .filter(|(_, record)| {
            record.status() == ActivityStatus::Succeeded
                && record
                    .operation_name()
                    .to_ascii_lowercase()
                    .ends_with(DIAGNOSTIC_SETTINGS_DELETE)
        })
        .map(|(at, record)| Detection {
            code: DetectionCode::DiagnosticSettingsDeleted,
            level: RuleLevel::High,
            message: format!(
                "{} deleted the diagnostic settings of {}.",
                record.caller().unwrap_or("an unknown caller"),
                record.resource_id().unwrap_or("an unnamed resource")
            ),
            records: vec![at],
        })
        .collect()
}

/// What the caller knows about where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerOrigin {
    /// The country of the caller IP address, if geolocation found one.
    pub ip_country: Option<CountryCode>,
    /// Whether this customer has had API activity from that country before.
    pub country_seen_before: bool,
}

/// Fires when `record` is the customer's first activity from a country in `high_risk`.
pub fn first_activity_from_high_risk_country(
    record: &ActivityRecord,
    origin: CallerOrigin,
    high_risk: &HashSet<CountryCode>,
) -> Option<Detection> {
    let country = origin.ip_country.filter(|c| high_risk.contains(c))?;
    if origin.country_seen_before {
        return None;
    }
    Some(Detection {
        code: DetectionCode::FirstActivityHighRiskCountry,
        level: RuleLevel::High,
        message: format!(
            "First API activity from high-risk country {country}: {} by {} from {}.",
            record.operation_name(),
            record.caller().unwrap_or("an unknown caller"),
            record.caller_ip_address().unwrap_or("an unknown address")
        ),
        records: vec![0],
    })
}

#[cfg(test)]
#[path = "builtin_tests.rs"]
mod tests;
