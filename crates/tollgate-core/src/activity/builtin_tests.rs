use serde_json::json;

use super::*;

fn at(minute: i64) -> String {
    (chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").expect("valid")
        + Duration::minutes(minute))
    .to_rfc3339()
}

fn vm_write(minute: i64, vm: &str, region: &str, status: &str) -> ActivityRecord {
    ActivityRecord::from_value(json!({
        "operationName": {"value": "Microsoft.Compute/virtualMachines/write"},
        "status": {"value": status},
        "eventTimestamp": at(minute),
        "resourceId": format!("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{vm}"),
        "location": region,
    }))
    .expect("valid record")
}

fn burst_config() -> VmBurstConfig {
    VmBurstConfig {
        min_vms: 4,
        min_regions: 3,
        within: Duration::minutes(30),
    }
}

#[test]
fn vm_burst_fires_on_many_vms_in_many_regions_within_the_span() {
    let window = vec![
        vm_write(0, "a", "eastus", "Succeeded"),
        vm_write(5, "b", "West Europe", "Succeeded"),
        vm_write(9, "c", "westeurope", "Succeeded"),
        vm_write(12, "d", "japaneast", "Succeeded"),
    ];
    let detection = vm_creation_burst(&window, &burst_config()).expect("burst detected");
    assert_eq!(detection.code, DetectionCode::VmCreationBurst);
    assert_eq!(detection.records, vec![0, 1, 2, 3]);
    assert_eq!(
        detection.message,
        "4 virtual machines were created in 3 regions (eastus, japaneast, westeurope) within 30 minutes."
    );
}

#[test]
fn vm_burst_ignores_spread_out_repeated_failed_or_single_region_writes() {
    let spread = [
        vm_write(0, "a", "eastus", "Succeeded"),
        vm_write(20, "b", "westeurope", "Succeeded"),
        vm_write(40, "c", "japaneast", "Succeeded"),
        vm_write(60, "d", "brazilsouth", "Succeeded"),
    ];
    assert_eq!(vm_creation_burst(&spread, &burst_config()), None);
    let repeated = [
        vm_write(0, "a", "eastus", "Succeeded"),
        vm_write(1, "a", "eastus", "Succeeded"),
        vm_write(2, "b", "westeurope", "Succeeded"),
        vm_write(3, "c", "japaneast", "Succeeded"),
    ];
    assert_eq!(vm_creation_burst(&repeated, &burst_config()), None);
    let failed = [
        vm_write(0, "a", "eastus", "Failed"),
        vm_write(1, "b", "eastus2", "Succeeded"),
        vm_write(2, "c", "westeurope", "Succeeded"),
        vm_write(3, "d", "japaneast", "Succeeded"),
    ];
    assert_eq!(vm_creation_burst(&failed, &burst_config()), None);
    let one_region: Vec<_> = (0..6)
        .map(|i| vm_write(i, &format!("vm{i}"), "eastus", "Succeeded"))
        .collect();
    assert_eq!(vm_creation_burst(&one_region, &burst_config()), None);
}

#[test]
fn vm_burst_sorts_the_window_by_time() {
    let window = [
        vm_write(12, "d", "japaneast", "Succeeded"),
        vm_write(0, "a", "eastus", "Succeeded"),
        vm_write(90, "z", "uksouth", "Succeeded"),
        vm_write(9, "c", "westeurope", "Succeeded"),
        vm_write(5, "b", "westeurope", "Succeeded"),
    ];
    let detection = vm_creation_burst(&window, &burst_config()).expect("burst detected");
    assert_eq!(detection.records, vec![1, 4, 3, 0]);
}

fn role_assignment(principal: Option<&str>, status: &str) -> ActivityRecord {
    let body = principal.map(|id| json!({"Properties": {"PrincipalId": id}}).to_string());
    ActivityRecord::from_value(json!({
        "operationName": "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
        "resultType": status,
        "time": at(0),
        "caller": "mallory@fabrikam.example",
        "properties": {"requestbody": body},
    }))
    .expect("valid record")
}

#[test]
fn role_assignments_to_new_principals_once_per_principal() {
    let known: KnownPrincipals = ["AAAA-1"].into_iter().collect();
    let window = [
        role_assignment(Some("aaaa-1"), "Success"),
        role_assignment(Some("BBBB-2"), "Success"),
        role_assignment(Some("bbbb-2"), "Success"),
        role_assignment(Some("cccc-3"), "Start"),
        role_assignment(None, "Success"),
    ];
    let detections = role_assignments_to_new_principals(&window, &known);
    assert_eq!(detections.len(), 2);
    assert_eq!(
        detections[0].code,
        DetectionCode::RoleAssignmentNewPrincipal
    );
    assert_eq!(detections[0].records, vec![1, 2]);
    assert_eq!(
        detections[0].message,
        "mallory@fabrikam.example assigned a role to principal bbbb-2, not seen before."
    );
    assert_eq!(detections[1].records, vec![4]);
    assert!(detections[1].message.contains("does not name"));
}

#[test]
fn diagnostic_settings_deletions_including_nested_forms() {
    let record = |op: &str, status: &str| {
        ActivityRecord::from_value(json!({
            "operationName": op, "resultType": status, "time": at(0),
            "caller": "mallory@fabrikam.example", "resourceId": "/subscriptions/s1/x",
        }))
        .expect("valid record")
    };
    let window = [
        record("microsoft.insights/diagnosticSettings/delete", "Success"),
        record(
            "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE",
            "Success",
        ),
        record("microsoft.insights/diagnosticSettings/write", "Success"),
        record("microsoft.insights/diagnosticSettings/delete", "Failure"),
    ];
    let detections = diagnostic_settings_deleted(&window);
    let records: Vec<Vec<usize>> = detections.iter().map(|d| d.records.clone()).collect();
    assert_eq!(records, vec![vec![0], vec![1]]);
    assert_eq!(
        detections[0].message,
        "mallory@fabrikam.example deleted the diagnostic settings of /subscriptions/s1/x."
    );
}

#[test]
fn first_activity_from_a_high_risk_country_only_the_first_time() {
    let record = ActivityRecord::from_value(json!({
        "operationName": "Microsoft.Resources/deployments/write", "time": at(0),
        "caller": "mallory@fabrikam.example", "callerIpAddress": "203.0.113.45",
    }))
    .expect("valid record");
    let country = |code: &str| code.parse::<CountryCode>().expect("valid country");
    let high_risk: HashSet<CountryCode> = [country("KP")].into_iter().collect();
    let first = CallerOrigin {
        ip_country: Some(country("KP")),
        country_seen_before: false,
    };
    let detection =
        first_activity_from_high_risk_country(&record, first, &high_risk).expect("detected");
    assert_eq!(detection.code, DetectionCode::FirstActivityHighRiskCountry);
    assert_eq!(
        detection.message,
        "First API activity from high-risk country KP: Microsoft.Resources/deployments/write by mallory@fabrikam.example from 203.0.113.45."
    );
    let again = CallerOrigin {
        country_seen_before: true,
        ..first
    };
    assert_eq!(
        first_activity_from_high_risk_country(&record, again, &high_risk),
        None
    );
    let elsewhere = CallerOrigin {
        ip_country: Some(country("DE")),
        ..first
    };
    assert_eq!(
        first_activity_from_high_risk_country(&record, elsewhere, &high_risk),
        None
    );
    let unknown = CallerOrigin {
        ip_country: None,
        ..first
    };
    assert_eq!(
        first_activity_from_high_risk_country(&record, unknown, &high_risk),
        None
    );
}
