//! The shipped SigmaHQ Azure Activity Log rules against recorded-shape activity records (REST
//! `EventData` shape and diagnostic-settings export shape) in `tests/fixtures/activity/`.

use std::collections::BTreeSet;

use tollgate_core::activity::{
    ActivityRecord, SHIPPED_RULES,
    sigma::{RuleLevel, RuleSet},
};

fn fixture(name: &str) -> ActivityRecord {
    let path = format!(
        "{}/tests/fixtures/activity/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    ActivityRecord::from_json(&text).unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[test]
fn every_shipped_rule_loads_or_is_refused_with_a_reason() {
    let (set, refused) = RuleSet::shipped();
    println!(
        "shipped Sigma rules: {} loaded, {} refused",
        set.len(),
        refused.len()
    );
    for refusal in &refused {
        println!("  {refusal}");
    }
    assert_eq!(set.len() + refused.len(), SHIPPED_RULES.len());
    assert_eq!(SHIPPED_RULES.len(), 35);
    // Every shipped rule is within the supported subset; a refusal here would be a regression
    // (or a new rule needing a new construct), so the expected kinds are none.
    let kinds: BTreeSet<&str> = refused.iter().map(|r| r.reason.kind()).collect();
    assert_eq!(kinds, BTreeSet::new(), "{refused:#?}");
    assert_eq!(set.len(), 35);
    // The Detection Rule License requires alerts to carry the author: every shipped rule has one.
    assert!(set.rules().iter().all(|rule| rule.author.is_some()));
}

fn matched_ids(set: &RuleSet, fixture_name: &str) -> BTreeSet<String> {
    set.matches(&fixture(fixture_name))
        .iter()
        .map(|hit| hit.rule_id.to_owned())
        .collect()
}

#[test]
fn shipped_rules_match_recorded_shape_records() {
    let (set, _) = RuleSet::shipped();
    let cases: &[(&str, &[&str])] = &[
        // Azure Firewall Modified or Deleted (export shape, upper-case operation).
        (
            "firewall_delete_export.json",
            &["512cf937-ea9b-4332-939c-4c2c94baadcd"],
        ),
        // Granting Of Permissions To An Account (keyword rule, REST shape).
        (
            "role_assignment_write_rest.json",
            &["a622fcd2-4b5a-436a-b8a2-a4171161833c"],
        ),
        // Azure Subscription Permission Elevation Via ActivityLogs.
        (
            "elevate_access_rest.json",
            &["09438caa-07b1-4870-8405-1dbafe3dad95"],
        ),
        // AD FS new server: Log Analytics column names mapped onto the REST shape.
        (
            "adfs_new_server_rest.json",
            &["288a39fc-4914-4831-9ada-270e9dc12cb4"],
        ),
        // Device modified: `properties.message`.
        (
            "device_update_export.json",
            &["46530378-f9db-4af9-a9e5-889c177d3881"],
        ),
        // DNS zone: `startswith` and `endswith` on one field.
        (
            "dns_zone_record_write_export.json",
            &["af6925b0-8826-47f1-9324-337507a0babd"],
        ),
        // NSG write: a field rule and a keyword rule both fire.
        (
            "nsg_write_export.json",
            &[
                "c1182e02-49a3-481c-b3de-0fadc4091488",
                "d22b4df4-5a67-4859-a578-8c9a0b5af9df",
            ],
        ),
        // Number Of Resource Creation Or Deployment Activities (keywords).
        (
            "vm_write_rest.json",
            &["d2d901db-7a75-45a1-bc39-0cbf00812192"],
        ),
        // Negative cases: near misses of the rules above.
        ("firewall_read_export.json", &[]),
        ("dns_zone_read_export.json", &[]),
        ("storage_read_rest.json", &[]),
        ("diagnostic_settings_delete_export.json", &[]),
    ];
    for (name, expected) in cases {
        let expected: BTreeSet<String> = expected.iter().map(|id| (*id).to_owned()).collect();
        assert_eq!(matched_ids(&set, name), expected, "{name}");
    }
}

#[test]
fn matches_carry_title_level_author_references_and_tags() {
    let (set, _) = RuleSet::shipped();
    let record = fixture("elevate_access_rest.json");
    let hits = set.matches(&record);
    let [hit] = hits.as_slice() else {
        panic!("expected one match, got {hits:?}");
    };
    assert_eq!(
        hit.title,
        "Azure Subscription Permission Elevation Via ActivityLogs"
    );
    assert_eq!(hit.level, Some(RuleLevel::High));
    assert_eq!(hit.author, Some("Austin Songer @austinsonger"));
    assert_eq!(hit.references.len(), 1);
    assert!(hit.tags.iter().any(|tag| tag == "attack.t1078.004"));
}
