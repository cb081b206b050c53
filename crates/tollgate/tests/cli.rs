//! The `tollgate` command line, run as a real process: set-up, keys, help, usage errors, and
//! `audit verify` catching a row tampered with in SQL.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{Engine, Place};
use tollgate_core::TenantId;
use tollgate_store::{AuditFilter, Store};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

async fn place() -> Place {
    Place::new(Engine::Sqlite).await.unwrap()
}

#[tokio::test]
async fn init_shows_the_key_once_and_refuses_to_run_twice() {
    let place = place().await;
    let first = place.run(&["init"]);
    assert!(first.status.success(), "{first:?}");
    let text = stdout(&first);
    let secret = text
        .split_whitespace()
        .find(|word| word.starts_with("tg_live_"))
        .unwrap_or_else(|| panic!("no key in {text}"))
        .to_owned();

    let second = place.run(&["init"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains("already initialised"),
        "{second:?}"
    );
    assert!(!stdout(&second).contains("tg_live_"), "no second key");

    // Only a hash is kept: the secret is in no file of the data directory.
    for entry in std::fs::read_dir(place.data_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is stored in clear"
        );
    }
}

#[tokio::test]
async fn tenants_and_keys_are_created_listed_and_revoked() {
    let place = place().await;
    place.init();
    let created = place.run(&["tenant", "create", "acme", "--name", "Acme Cloud", "--json"]);
    assert!(created.status.success(), "{created:?}");
    let tenant: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(tenant["slug"], "acme");
    assert_eq!(tenant["name"], "Acme Cloud");
    assert!(tenant["id"].as_str().unwrap().starts_with("ten_"));
    let again = place.run(&["tenant", "create", "acme"]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");

    let output = place.run(&[
        "key", "create", "--tenant", "acme", "--role", "viewer", "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let key: Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = key["id"].as_str().unwrap();
    let secret = key["secret"].as_str().unwrap();
    assert!(id.starts_with("key_"));
    assert!(secret.starts_with("tg_live_"));
    assert_eq!(key["role"], "viewer");

    let list = |place: &Place| -> Vec<Value> {
        let output = place.run(&["key", "list", "--tenant", "acme", "--json"]);
        assert!(output.status.success(), "{output:?}");
        assert!(!stdout(&output).contains(secret), "listings hide secrets");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let keys = list(&place);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["revoked_at"], Value::Null);

    let revoked = place.run(&["key", "revoke", id, "--json"]);
    assert!(revoked.status.success(), "{revoked:?}");
    let revoked: Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert_eq!(revoked["id"], id);
    assert!(revoked["revoked_at"].is_string());
    assert!(list(&place)[0]["revoked_at"].is_string());

    let missing = place.run(&["key", "create", "--tenant", "nobody", "--role", "admin"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("nobody"), "{missing:?}");
}

/// The subcommands a help text lists under "Commands:".
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_subcommand_has_help() {
    let place = place().await;
    let mut seen = BTreeSet::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let output = place.run(&args);
        let shown = format!("tollgate {}", args.join(" "));
        assert_eq!(output.status.code(), Some(0), "{shown}: {output:?}");
        let help = stdout(&output);
        assert!(help.contains("Usage:"), "{shown}: {help}");
        for name in subcommands(&help) {
            let mut child = path.clone();
            child.push(name);
            pending.push(child);
        }
        seen.insert(path.join(" "));
    }
    for expected in [
        "serve",
        "init",
        "tenant create",
        "tenant list",
        "key create",
        "key revoke",
        "key list",
        "audit verify",
    ] {
        assert!(seen.contains(expected), "{expected} not found in {seen:?}");
    }
}

#[tokio::test]
async fn bad_arguments_exit_2_with_one_line() {
    let place = place().await;
    let cases: &[(&[&str], &str)] = &[
        (&["frobnicate"], "frobnicate"),
        (&["init", "--colour"], "--colour"),
        (
            &["key", "create", "--tenant", "x", "--role", "root"],
            "root",
        ),
        (&["key", "create", "--role", "admin"], "--tenant"),
        (&["serve", "--listen", "nowhere"], "nowhere"),
        (&["serve", "--body-limit", "lots"], "lots"),
        (
            &["--database-url", "postgres://x", "init"],
            "--database-url",
        ),
    ];
    for (args, named) in cases {
        let output = place.run(args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(named), "{args:?} should name {named}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
}

/// Sets up a tenant with a few events, checks the chain, changes one event's data behind the
/// store's back and expects `audit verify` to fail naming exactly that event.
async fn verify_catches_a_tampered_row(engine: Engine) {
    let Some(place) = Place::new(engine).await else {
        eprintln!(
            "skipped: {} is not set",
            tollgate_store::testing::DATABASE_URL_VAR
        );
        return;
    };
    let init = place.init();
    let tenant: TenantId = init["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let key = place.run(&["key", "create", "--tenant", "default", "--role", "viewer"]);
    assert!(key.status.success(), "{key:?}");

    let fine = place.run(&["audit", "verify"]);
    assert_eq!(fine.status.code(), Some(0), "{fine:?}");
    assert!(stdout(&fine).contains("default: ok, 3 events"), "{fine:?}");

    let store = match &place.postgres {
        Some(db) => db.store.clone(),
        None => Store::connect(&format!(
            "sqlite://{}/tollgate.db",
            place.data_dir().display()
        ))
        .await
        .unwrap(),
    };
    let events = store
        .read()
        .await
        .unwrap()
        .list_audit(
            tenant,
            &AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let victim = &events[1];
    store
        .execute_raw(&format!(
            r#"UPDATE audit_events SET data = '{{"role":"admin"}}' WHERE tenant_id = '{tenant}' AND seq = {}"#,
            victim.seq
        ))
        .await
        .unwrap();

    let broken = place.run(&["audit", "verify"]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let text = stdout(&broken);
    assert!(text.contains("BROKEN"), "{text}");
    assert!(text.contains(&victim.id.to_string()), "{text}");
    let json = place.run(&["audit", "verify", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report[0]["ok"], false);
    assert!(
        report[0]["first_broken"]
            .as_str()
            .unwrap()
            .contains(&victim.id.to_string()),
        "{report}"
    );
}

#[tokio::test]
async fn audit_verify_catches_tampering_on_sqlite() {
    verify_catches_a_tampered_row(Engine::Sqlite).await;
}

#[tokio::test]
async fn audit_verify_catches_tampering_on_postgres() {
    verify_catches_a_tampered_row(Engine::Postgres).await;
}

#[tokio::test]
async fn anomalies_score_flags_the_spike_without_touching_a_store() {
    let place = place().await;
    let mut csv = String::from("timestamp,value\n");
    for hour in 0..24 * 21 {
        let daily = (std::f64::consts::TAU * f64::from(hour % 24) / 24.0).sin();
        let value = if hour == 24 * 20 + 3 {
            400.0
        } else {
            10.0 + 5.0 * daily
        };
        csv.push_str(&format!(
            "2026-10-{:02}T{:02}:00:00Z,{value:.2}\n",
            1 + hour / 24,
            hour % 24
        ));
    }
    let file = place.dir.path().join("series.csv");
    std::fs::write(&file, csv).unwrap();
    let output = place.run(&["anomalies", "score", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert_eq!(out.lines().next(), Some("timestamp,value,score,is_anomaly"));
    assert_eq!(out.lines().count(), 1 + 24 * 21, "one row out per row in");
    let flagged: Vec<_> = out.lines().filter(|l| l.ends_with(",true")).collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(flagged[0].starts_with("2026-10-21T03:00:00Z,400.00,"));
    assert!(
        !place.data_dir().exists(),
        "an offline tool creates no data directory"
    );

    std::fs::write(&file, "timestamp,value\n2026-10-01T00:00:00Z,abc\n").unwrap();
    let output = place.run(&["anomalies", "score", file.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
}
