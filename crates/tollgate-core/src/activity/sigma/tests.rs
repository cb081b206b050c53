use serde_json::{Value, json};

use super::*;

fn record(value: Value) -> ActivityRecord {
    let mut value = value;
    if let Value::Object(map) = &mut value {
        map.entry("time").or_insert(json!("2026-11-20T10:00:00Z"));
        map.entry("operationName")
            .or_insert(json!("Microsoft.Resources/subscriptions/read"));
    }
    ActivityRecord::from_value(value).expect("test record is valid")
}

/// A complete rule around `detection` (YAML indented by four spaces under `detection:`).
fn rule_text(detection: &str) -> String {
    format!(
        "title: Test rule\nid: 00000000-0000-0000-0000-000000000001\nauthor: Tester\nlevel: high\n\
         logsource:\n    product: azure\n    service: activitylogs\ndetection:\n{detection}"
    )
}

fn load(detection: &str) -> Result<Rule, RefusalReason> {
    parse::compile(&rule_text(detection))
}

fn matches(detection: &str, value: Value) -> bool {
    load(detection).expect("rule loads").matches(&record(value))
}

#[test]
fn plain_values_match_whole_values_case_insensitively() {
    let det =
        "    sel:\n        operationName: MICROSOFT.PORTAL/CONSOLES/WRITE\n    condition: sel\n";
    assert!(matches(
        det,
        json!({"operationName": "Microsoft.Portal/consoles/write"})
    ));
    assert!(!matches(
        det,
        json!({"operationName": "Microsoft.Portal/consoles/write/x"})
    ));
}

#[test]
fn maps_are_and_and_value_lists_are_or() {
    let det = "    sel:\n        category: Administrative\n        caller:\n            - a@x.example\n            - b@x.example\n    condition: sel\n";
    assert!(matches(
        det,
        json!({"category": "Administrative", "caller": "B@x.example"})
    ));
    assert!(!matches(
        det,
        json!({"category": "Policy", "caller": "b@x.example"})
    ));
    assert!(!matches(
        det,
        json!({"category": "Administrative", "caller": "c@x.example"})
    ));
}

#[test]
fn lists_of_maps_are_or() {
    let det =
        "    sel:\n        - caller: a@x.example\n        - level: Error\n    condition: sel\n";
    assert!(matches(det, json!({"level": "error"})));
    assert!(matches(det, json!({"caller": "a@x.example"})));
    assert!(!matches(
        det,
        json!({"caller": "b@x.example", "level": "Informational"})
    ));
}

#[test]
fn contains_startswith_endswith() {
    let det = "    a:\n        resourceId|contains: AdFederation\n    b:\n        caller|startswith: admin@\n    c:\n        caller|endswith: '@contoso.example'\n    condition: a or b or c\n";
    assert!(matches(
        det,
        json!({"resourceId": "/x/adfederationservice/y"})
    ));
    assert!(matches(det, json!({"caller": "ADMIN@fabrikam.example"})));
    assert!(matches(det, json!({"caller": "eve@Contoso.example"})));
    assert!(!matches(
        det,
        json!({"caller": "eve@contoso.example.evil", "resourceId": "/x"})
    ));
}

#[test]
fn all_requires_every_value() {
    let det = "    sel:\n        properties.message|contains|all:\n            - delete\n            - device\n    condition: sel\n";
    assert!(matches(
        det,
        json!({"properties": {"message": "Delete device configuration"}})
    ));
    assert!(!matches(
        det,
        json!({"properties": {"message": "Delete user"}})
    ));
}

#[test]
fn wildcards_and_escapes() {
    let det = "    sel:\n        caller: 'adm?n*@x.example'\n    lit:\n        caller: 'star\\*'\n    condition: sel or lit\n";
    assert!(matches(det, json!({"caller": "ADMIN-ops@x.example"})));
    assert!(matches(det, json!({"caller": "admon@x.example"})));
    assert!(!matches(det, json!({"caller": "admn@x.example"})));
    assert!(matches(det, json!({"caller": "star*"})));
    assert!(!matches(det, json!({"caller": "starry"})));
}

#[test]
fn cased_compares_exactly() {
    let det = "    sel:\n        caller|cased: Admin\n    condition: sel\n";
    assert!(matches(det, json!({"caller": "Admin"})));
    assert!(!matches(det, json!({"caller": "admin"})));
}

#[test]
fn re_is_unanchored_and_case_sensitive_unless_i() {
    let det = "    sel:\n        caller|re: '^adm[0-9]+@'\n    condition: sel\n";
    assert!(matches(det, json!({"caller": "adm42@x.example"})));
    assert!(!matches(det, json!({"caller": "ADM42@x.example"})));
    let det = "    sel:\n        caller|re|i: 'adm[0-9]+'\n    condition: sel\n";
    assert!(matches(det, json!({"caller": "x-ADM42@x.example"})));
}

#[test]
fn null_matches_absent_or_null_fields_and_exists_checks_presence() {
    let det = "    sel:\n        subStatus: null\n    condition: sel\n";
    assert!(matches(det, json!({"subStatus": null})));
    assert!(matches(det, json!({})));
    assert!(!matches(det, json!({"subStatus": {"value": "Created"}})));
    let det = "    sel:\n        claims|exists: true\n    condition: sel\n";
    assert!(matches(det, json!({"claims": {"name": "x"}})));
    assert!(!matches(det, json!({})));
}

#[test]
fn numbers_and_empty_strings_compare_as_text() {
    let det = "    sel:\n        properties.statusCode: 201\n        description: ''\n    condition: sel\n";
    assert!(matches(
        det,
        json!({"properties": {"statusCode": 201}, "description": ""})
    ));
    assert!(matches(
        det,
        json!({"properties": {"statusCode": "201"}, "description": ""})
    ));
    assert!(!matches(
        det,
        json!({"properties": {"statusCode": 200}, "description": ""})
    ));
}

#[test]
fn keywords_search_every_value() {
    let det = "    keywords:\n        - roleAssignments/write\n    condition: keywords\n";
    assert!(matches(
        det,
        json!({"properties": {"message": "Microsoft.Authorization/roleAssignments/write"}})
    ));
    assert!(!matches(det, json!({"caller": "x"})));
    let det = "    kw:\n        '|all':\n            - listKeys\n            - storageAccounts\n    condition: kw\n";
    assert!(matches(
        det,
        json!({"operationName": "Microsoft.Storage/storageAccounts/listKeys/action"})
    ));
    assert!(!matches(
        det,
        json!({"operationName": "Microsoft.Maps/accounts/listKeys/action"})
    ));
}

#[test]
fn log_analytics_column_names_are_mapped() {
    let det = "    sel:\n        CategoryValue: Administrative\n        ResourceProviderValue: Microsoft.Compute\n        OperationNameValue: Microsoft.Compute/virtualMachines/write\n    condition: sel\n";
    assert!(matches(
        det,
        json!({
            "category": {"value": "Administrative"},
            "operationName": {"value": "Microsoft.Compute/virtualMachines/write"},
        })
    ));
}

#[test]
fn condition_lists_are_or() {
    let det = "    a:\n        caller: a\n    b:\n        caller: b\n    condition:\n        - a\n        - b\n";
    assert!(matches(det, json!({"caller": "b"})));
}

fn refusal(detection: &str) -> &'static str {
    load(detection).expect_err("rule is refused").kind()
}

#[test]
fn refuses_unsupported_and_unknown_modifiers_by_name() {
    assert_eq!(
        load("    sel:\n        caller|base64offset|contains: x\n    condition: sel\n").err(),
        Some(RefusalReason::UnsupportedModifier {
            field: "caller".to_owned(),
            modifier: "base64offset".to_owned()
        })
    );
    assert_eq!(
        refusal("    sel:\n        caller|windash: x\n    condition: sel\n"),
        "unsupported_modifier"
    );
    assert_eq!(
        refusal("    sel:\n        caller|cidr: 10.0.0.0/8\n    condition: sel\n"),
        "unsupported_modifier"
    );
    assert_eq!(
        refusal("    sel:\n        caller|sortof: x\n    condition: sel\n"),
        "unknown_modifier"
    );
}

#[test]
fn refuses_conflicting_or_misused_modifiers() {
    for det in [
        "    sel:\n        caller|contains|endswith: x\n    condition: sel\n",
        "    sel:\n        caller|i: x\n    condition: sel\n",
        "    sel:\n        caller|exists|contains: true\n    condition: sel\n",
    ] {
        assert_eq!(refusal(det), "conflicting_modifiers", "{det}");
    }
    for det in [
        "    sel:\n        caller|all: x\n    condition: sel\n",
        "    sel:\n        caller|exists: maybe\n    condition: sel\n",
        "    sel:\n        caller|contains: null\n    condition: sel\n",
        "    sel:\n        caller:\n            - [a, b]\n    condition: sel\n",
        "    sel:\n        caller: \"a\\0b\"\n    condition: sel\n",
    ] {
        assert_eq!(refusal(det), "value", "{det}");
    }
    assert_eq!(
        refusal("    sel:\n        caller|re: '(?<=a)b'\n    condition: sel\n"),
        "regex"
    );
}

#[test]
fn refuses_aggregation_timeframe_and_correlation() {
    assert_eq!(
        refusal("    sel:\n        caller: x\n    condition: sel | count() by caller > 5\n"),
        "aggregation"
    );
    assert_eq!(
        refusal("    sel:\n        caller: x\n    timeframe: 5m\n    condition: sel\n"),
        "timeframe"
    );
    let correlation = "title: C\nid: c1\nlogsource:\n    product: azure\n    service: activitylogs\ncorrelation:\n    type: event_count\n";
    assert_eq!(
        parse::compile(correlation).err(),
        Some(RefusalReason::Correlation)
    );
}

#[test]
fn refuses_incomplete_or_foreign_rules() {
    assert_eq!(refusal("    sel:\n        caller: x\n"), "missing");
    assert_eq!(refusal("    condition: sel\n"), "unknown_identifier");
    assert_eq!(refusal("    sel: {}\n    condition: sel\n"), "invalid");
    assert_eq!(
        refusal("    sel:\n        - caller: x\n        - y\n    condition: sel\n"),
        "invalid"
    );
    let foreign = rule_text("    sel:\n        caller: x\n    condition: sel\n")
        .replace("service: activitylogs", "service: signinlogs");
    assert_eq!(
        parse::compile(&foreign).map_err(|e| e.kind()).err(),
        Some("logsource")
    );
    let no_id = rule_text("    sel:\n        caller: x\n    condition: sel\n")
        .replace("id: 00000000-0000-0000-0000-000000000001\n", "");
    assert_eq!(
        parse::compile(&no_id).err(),
        Some(RefusalReason::Missing("id"))
    );
    let deprecated = rule_text("    sel:\n        caller: x\n    condition: sel\n")
        .replace("level: high", "level: high\nstatus: deprecated");
    assert_eq!(
        parse::compile(&deprecated).map_err(|e| e.kind()).err(),
        Some("status")
    );
    let bad_level = rule_text("    sel:\n        caller: x\n    condition: sel\n")
        .replace("level: high", "level: severe");
    assert_eq!(
        parse::compile(&bad_level).map_err(|e| e.kind()).err(),
        Some("invalid")
    );
    assert_eq!(
        parse::compile("title: [unclosed")
            .map_err(|e| e.kind())
            .err(),
        Some("yaml")
    );
}

#[test]
fn rule_set_reports_matches_with_attribution_and_refuses_duplicates() {
    let good = rule_text("    sel:\n        caller: mallory\n    condition: sel\n");
    let broken = rule_text("    sel:\n        caller|windash: x\n    condition: sel\n")
        .replace("000000000001", "000000000002");
    let (set, refused) = RuleSet::load([
        ("good.yml", &good),
        ("dup.yml", &good),
        ("broken.yml", &broken),
    ]);
    assert_eq!(set.len(), 1);
    let reasons: Vec<(&str, &str)> = refused
        .iter()
        .map(|r| (r.name.as_str(), r.reason.kind()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("dup.yml", "duplicate_id"),
            ("broken.yml", "unsupported_modifier")
        ]
    );
    let hits = set.matches(&record(json!({"caller": "Mallory"})));
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].rule_id, "00000000-0000-0000-0000-000000000001");
    assert_eq!(hits[0].author, Some("Tester"));
    assert_eq!(hits[0].level, Some(RuleLevel::High));
    assert!(set.matches(&record(json!({"caller": "alice"}))).is_empty());
    assert_eq!(
        refused[1].to_string(),
        "rule `broken.yml` refused: modifier `windash` on `caller` is not supported"
    );
}
