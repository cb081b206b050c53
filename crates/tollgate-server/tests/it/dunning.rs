//! Issue 4's dunning through the API and the run: every rung of the default ladder on the
//! ManualClock, the grace amount, a tier override, pauses, reactivation on payment, the notice
//! that always comes first, idempotent and concurrent runs, the outbox actions and the audit
//! entries; and 30 customers over 120 simulated days with e-mails delivered to an SMTP sink.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_connectors::{
    email::{SmtpConfig, SmtpMailer},
    testing::SmtpSink,
};
use tollgate_core::tenancy::Role;
use tollgate_server::{
    Connectors,
    jobs::dunning::{self, RunReport, Scope},
    outbox::Worker,
};

use crate::{
    harness::{Engine, TestApp, t0},
    on_both_engines,
};

/// Noon UTC `day` days after the harness's start: a due date on that calendar day in Berlin.
fn due(day: i64) -> String {
    format!("{}T12:00:00Z", date(day))
}

/// The calendar date `day` days after the start.
fn date(day: i64) -> chrono::NaiveDate {
    t0().date_naive() + chrono::Duration::days(day)
}

/// Moves the clock to `day` days after the start (same time of day).
fn set_day(app: &TestApp, day: i64) {
    app.clock.set(t0() + chrono::Duration::days(day));
}

fn day_of(at: &Value) -> i64 {
    let at: DateTime<Utc> = at.as_str().unwrap().parse().unwrap();
    (at - t0()).num_days()
}

async fn run(app: &TestApp) -> RunReport {
    let report = dunning::run(&app.state, Scope::Tenant(app.a.id), None)
        .await
        .unwrap();
    assert!(report.ran && report.failed == 0, "{report:?}");
    report
}

async fn invoice(app: &TestApp, customer: &str, number: &str, due_day: i64, lines: Value) {
    let total = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["amount"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum::<rust_decimal::Decimal>();
    let (status, body) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            json!({"number": number, "customer_id": customer,
                   "issued_at": "2026-10-01T00:00:00Z", "due_at": due(due_day),
                   "currency": "EUR", "lines": lines, "total": total.to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn pay(app: &TestApp, customer: &str, amount: &str) {
    let (status, body) = app
        .post(
            "/v1/payments",
            app.a.key(Role::Ingest),
            json!({"customer_id": customer, "amount": amount, "currency": "EUR",
                   "method": "bank_transfer", "status": "succeeded",
                   "received_at": app.state.now()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A customer with one subscription billed on a 120.00 EUR invoice due on `due_day`, and one
/// subscription billed elsewhere. Returns (customer, billed subscription, other subscription).
async fn debtor(app: &TestApp, name: &str, due_day: i64) -> (String, String, String) {
    let customer = app.customer(&app.a, name).await;
    let billed = app
        .subscription(&app.a, &customer, &format!("{name}-billed"))
        .await;
    let other = app
        .subscription(&app.a, &customer, &format!("{name}-other"))
        .await;
    invoice(
        app,
        &customer,
        &format!("{name}-1"),
        due_day,
        json!([{"description": "Azure plan", "amount": "120.00", "subscription_id": billed}]),
    )
    .await;
    (customer, billed, other)
}

async fn view(app: &TestApp, customer: &str) -> Value {
    let (status, body) = app
        .get(
            &format!("/v1/customers/{customer}/dunning"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn actions(app: &TestApp, object: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            &format!("/v1/actions?object_id={object}&limit=500"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// The e-mail templates sent to `customer`, oldest first.
async fn emails(app: &TestApp, customer: &str) -> Vec<String> {
    actions(app, customer)
        .await
        .iter()
        .filter(|a| a["kind"] == "email")
        .map(|a| a["payload"]["template"].as_str().unwrap().to_owned())
        .collect()
}

async fn status_of(app: &TestApp, subscription: &str) -> String {
    let (status, body) = app
        .get(
            &format!("/v1/subscriptions/{subscription}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["status"].as_str().unwrap().to_owned()
}

/// `(step, kind, outcome)` of the customer's open episode.
fn steps(view: &Value) -> Vec<(Value, String, String)> {
    view["episodes"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].clone(),
                s["kind"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn audit_actions(app: &TestApp, object: &str) -> Vec<String> {
    let (status, page) = app
        .get(
            &format!("/v1/audit?object_id={object}&limit=1000"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_rung_of_the_default_ladder_in_order(app: &TestApp) {
    let (customer, billed, other) = debtor(app, "ladder", -1).await;
    // Day 0 is 1 day past due.
    let report = run(app).await;
    assert_eq!((report.screened, report.acted), (1, 1), "{report:?}");
    let first = view(app, &customer).await;
    let episode = first["episodes"][0]["id"].as_str().unwrap().to_owned();
    assert!(episode.starts_with("dun_"), "{first}");
    assert_eq!(first["episodes"][0]["step"], 1);
    assert_eq!(first["episodes"][0]["policy_version"], 1);
    assert_eq!(
        steps(&first),
        [(json!(1), "remind".into(), "executed".into())]
    );

    let mail = actions(app, &customer).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["kind"], "email");
    assert_eq!(mail[0]["source"], "dunning");
    let payload = mail[0]["payload"].as_object().unwrap();
    let mut keys: Vec<&str> = payload.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["customer_id", "subject", "template", "text", "to"]);
    assert_eq!(payload["to"], "billing@contoso.example");
    assert_eq!(payload["customer_id"], customer.as_str());
    assert_eq!(payload["template"], "dunning.remind");
    assert!(
        payload["text"].as_str().unwrap().contains("ladder-1"),
        "{payload:?}"
    );
    assert!(payload["subject"].as_str().unwrap().contains("EUR 120.00"));

    // The same day again: nothing.
    let again = run(app).await;
    assert_eq!(again.acted, 0, "{again:?}");
    assert_eq!(emails(app, &customer).await.len(), 1);

    let ladder = [
        (6, "dunning.remind", "remind"),
        (13, "dunning.final_notice", "final_notice"),
        (20, "dunning.suspend", "suspend"),
        (44, "dunning.suspend", "suspend"),
        (59, "dunning.terminate", "terminate"),
        (74, "dunning.hand_off", "hand_off"),
    ];
    let mut sent = vec!["dunning.remind".to_owned()];
    for (day, template, kind) in ladder {
        // The day before, nothing new.
        set_day(app, day - 1);
        assert_eq!(run(app).await.acted, 0, "day {}", day - 1);
        set_day(app, day);
        let report = run(app).await;
        assert_eq!(report.acted, 1, "day {day}: {report:?}");
        assert_eq!(report.tally.transitions.get(kind), Some(&1), "{report:?}");
        sent.push(template.to_owned());
        assert_eq!(emails(app, &customer).await, sent, "day {day}");
        match day {
            20 => {
                assert_eq!(status_of(app, &billed).await, "suspended");
                assert_eq!(status_of(app, &other).await, "active", "overdue only");
                let vendor = actions(app, &billed).await;
                assert_eq!(vendor.len(), 1);
                assert_eq!(vendor[0]["kind"], "subscription_status");
                assert_eq!(
                    vendor[0]["payload"],
                    json!({"subscription_id": billed, "vendor_subscription_id": "ladder-billed",
                           "customer_id": customer, "status": "suspended",
                           "reason": vendor[0]["payload"]["reason"]})
                );
                let held = view(app, &customer).await;
                assert_eq!(
                    held["episodes"][0]["suspended_subscriptions"],
                    json!([billed])
                );
            }
            44 => {
                assert_eq!(status_of(app, &other).await, "suspended");
                let held = view(app, &customer).await;
                let mut both = vec![billed.clone(), other.clone()];
                both.sort();
                assert_eq!(held["episodes"][0]["suspended_subscriptions"], json!(both));
            }
            59 => {
                assert_eq!(status_of(app, &billed).await, "terminated");
                assert_eq!(status_of(app, &other).await, "terminated");
            }
            _ => {}
        }
    }
    let last = view(app, &customer).await;
    assert_eq!(last["episodes"][0]["step"], 7);
    assert_eq!(last["episodes"][0]["step_action"], "hand_off");
    assert_eq!(steps(&last).len(), 7);
    let (status, at_seven) = app
        .get(
            "/v1/dunning/episodes?status=open&step=7",
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{at_seven}");
    assert_eq!(at_seven["data"][0]["id"], episode.as_str());
    let (_, at_two) = app
        .get("/v1/dunning/episodes?step=2", app.a.key(Role::Viewer))
        .await;
    assert_eq!(at_two["data"], json!([]));

    let trail = audit_actions(app, &episode).await;
    for action in [
        "dunning.remind",
        "dunning.final_notice",
        "dunning.suspend",
        "dunning.terminate",
        "dunning.hand_off",
    ] {
        assert!(trail.iter().any(|a| a == action), "{action} in {trail:?}");
    }
    let (_, entries) = app
        .get(
            &format!("/v1/audit?object_id={episode}&limit=1"),
            app.a.key(Role::Viewer),
        )
        .await;
    let entry = &entries["data"][0];
    assert_eq!(
        entry["actor"],
        json!({"kind": "job", "name": "dunning"}),
        "{entry}"
    );
    assert!(
        entry["data"]["message"]
            .as_str()
            .unwrap()
            .contains("policy v1")
    );
    assert!(!entry["data"]["reasons"].as_array().unwrap().is_empty());
    assert_eq!(
        audit_actions(app, &billed).await.last().map(String::as_str),
        Some("subscription.terminated")
    );
    assert_eq!(
        app.store.verify_audit(app.a.id).await.unwrap().map(|_| ()),
        Ok(())
    );
}

async fn amounts_within_grace_are_left_alone(app: &TestApp) {
    let customer = app.customer(&app.a, "grace").await;
    invoice(
        app,
        &customer,
        "GRACE-1",
        -30,
        json!([{"description": "Support", "amount": "20.00"}]),
    )
    .await;
    pay(app, &customer, "15.00").await;
    // 5.00 past due is the default grace amount: nothing starts, however late.
    assert_eq!(run(app).await.acted, 0);
    assert_eq!(view(app, &customer).await["episodes"], json!([]));
    assert!(emails(app, &customer).await.is_empty());

    invoice(
        app,
        &customer,
        "GRACE-2",
        -1,
        json!([{"description": "Support", "amount": "0.02"}]),
    )
    .await;
    // 5.02 is over it; the oldest invoice, 30 days past due, sets the pace.
    assert_eq!(run(app).await.acted, 1);
    assert_eq!(emails(app, &customer).await, ["dunning.final_notice"]);
    // Paying 0.02 brings it back to the grace amount: the episode closes at once.
    pay(app, &customer, "0.02").await;
    assert_eq!(view(app, &customer).await["episodes"], json!([]));
    let (_, closed) = app
        .get(
            &format!("/v1/dunning/episodes?customer_id={customer}&status=closed"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(closed["data"].as_array().unwrap().len(), 1, "{closed}");
}

async fn a_published_tier_override_shifts_the_ladder(app: &TestApp) {
    let admin = app.a.key(Role::Admin);
    let (status, before) = app.get("/v1/dunning/policy", admin).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["version"], 1);
    assert_eq!(before["created_by"], "tollgate");

    let mut policy = before["policy"].clone();
    let policy = policy.as_object_mut().unwrap();
    policy.remove("version");
    policy.remove("created_at");
    policy.insert(
        "tier_overrides".into(),
        json!([{"tier": "new", "shift_days": 5}]),
    );
    let mut bad = policy.clone();
    bad.insert(
        "steps".into(),
        json!([{"after": {"days_past_due": 3}, "action": "suspend", "scope": "all"}]),
    );
    let (status, problem) = app
        .call(
            Method::PUT,
            "/v1/dunning/policy",
            admin,
            Some(Value::Object(bad)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "steps[0].action");
    let (status, published) = app
        .call(
            Method::PUT,
            "/v1/dunning/policy",
            admin,
            Some(Value::Object(policy.clone())),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["version"], 2);
    let (_, versions) = app.get("/v1/dunning/policy/versions", admin).await;
    let numbers: Vec<&Value> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(numbers, [&json!(2), &json!(1)]);
    assert_eq!(versions[1]["status"], "inactive");

    let (customer, _, _) = debtor(app, "shifted", -1).await;
    // 1 day past due: a new customer's first reminder now waits until day 6.
    for day in 0..5 {
        set_day(app, day);
        assert_eq!(run(app).await.acted, 0, "day {day}");
    }
    set_day(app, 5);
    assert_eq!(run(app).await.acted, 1);
    let episode = view(app, &customer).await;
    assert_eq!(episode["episodes"][0]["policy_version"], 2);
    let reasons = &episode["episodes"][0]["steps"][0]["reasons"];
    assert!(
        reasons
            .as_array()
            .unwrap()
            .contains(&json!("tier_override")),
        "{reasons}"
    );
}

async fn a_pause_holds_the_ladder_and_it_resumes_where_it_stood(app: &TestApp) {
    let operator = app.a.key(Role::Analyst);
    let (customer, _, _) = debtor(app, "promise", -1).await;
    let (status, problem) = app
        .post(
            &format!("/v1/customers/{customer}/dunning/pause"),
            operator,
            json!({"reason": "promise_to_pay", "until": date(20)}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no episode yet: {problem}");

    run(app).await;
    set_day(app, 6);
    run(app).await;
    assert_eq!(emails(app, &customer).await.len(), 2);
    let until = date(20);
    let (status, paused) = app
        .post(
            &format!("/v1/customers/{customer}/dunning/pause"),
            operator,
            json!({"reason": "promise_to_pay", "until": until, "note": "pays on the 22nd"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(
        paused["episodes"][0]["pause"],
        json!({"until": until, "reason": "promise_to_pay"})
    );
    assert_eq!(
        paused["episodes"][0]["pauses"][0]["note"],
        "pays on the 22nd"
    );
    // Final notice (day 13) and suspension (day 20) would be due; the promise holds them.
    for day in [13, 16, 19] {
        set_day(app, day);
        assert_eq!(run(app).await.acted, 0, "day {day}");
    }
    set_day(app, 20);
    run(app).await;
    // Where it stood: the final notice next, not a first reminder again; the suspension waits
    // the notice lead.
    assert_eq!(
        emails(app, &customer).await,
        ["dunning.remind", "dunning.remind", "dunning.final_notice"]
    );
    set_day(app, 23);
    run(app).await;
    assert_eq!(
        emails(app, &customer).await.last().unwrap(),
        "dunning.suspend"
    );

    // A dispute, resumed early: the ladder goes on at the next run.
    let (status, _) = app
        .post(
            &format!("/v1/customers/{customer}/dunning/pause"),
            operator,
            json!({"reason": "dispute", "until": date(90)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    set_day(app, 44);
    assert_eq!(run(app).await.acted, 0);
    let (status, resumed) = app
        .post(
            &format!("/v1/customers/{customer}/dunning/resume"),
            operator,
            json!({"note": "invoice confirmed correct"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["episodes"][0]["pause"], Value::Null);
    let (status, _) = app
        .post(
            &format!("/v1/customers/{customer}/dunning/resume"),
            operator,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "not paused any more");
    assert_eq!(run(app).await.acted, 1);
    assert_eq!(
        emails(app, &customer).await.len(),
        5,
        "suspension of everything"
    );
    let episode = view(app, &customer).await["episodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let trail = audit_actions(app, &episode).await;
    assert!(trail.contains(&"dunning.paused".to_owned()), "{trail:?}");
    assert!(trail.contains(&"dunning.resumed".to_owned()), "{trail:?}");
}

async fn paying_reactivates_at_once_and_closes_the_episode(app: &TestApp) {
    let (customer, billed, other) = debtor(app, "payer", -21).await;
    // 21 days past due on first sight: a notice first, the suspension 3 days later.
    run(app).await;
    assert_eq!(emails(app, &customer).await, ["dunning.final_notice"]);
    assert_eq!(
        status_of(app, &billed).await,
        "active",
        "never before a notice"
    );
    let catching_up = view(app, &customer).await;
    assert_eq!(
        steps(&catching_up),
        [
            (json!(1), "superseded".into(), "superseded".into()),
            (json!(2), "superseded".into(), "superseded".into()),
            (json!(3), "final_notice".into(), "executed".into()),
        ]
    );
    for day in [1, 2] {
        set_day(app, day);
        assert_eq!(run(app).await.acted, 0, "day {day}");
        assert_eq!(status_of(app, &billed).await, "active");
    }
    set_day(app, 3);
    run(app).await;
    assert_eq!(status_of(app, &billed).await, "suspended");
    assert_eq!(status_of(app, &other).await, "active");

    // A partial payment above the grace amount changes nothing.
    pay(app, &customer, "100.00").await;
    assert_eq!(status_of(app, &billed).await, "suspended");
    // The rest: reactivated within the payment's own transaction, no run needed.
    pay(app, &customer, "20.00").await;
    assert_eq!(status_of(app, &billed).await, "active");
    assert_eq!(view(app, &customer).await["episodes"], json!([]));
    assert_eq!(
        emails(app, &customer).await,
        [
            "dunning.final_notice",
            "dunning.suspend",
            "dunning.reactivate"
        ]
    );
    let vendor: Vec<Value> = actions(app, &billed)
        .await
        .iter()
        .map(|a| a["payload"]["status"].clone())
        .collect();
    assert_eq!(vendor, [json!("suspended"), json!("active")]);
    assert_eq!(
        audit_actions(app, &billed).await.last().map(String::as_str),
        Some("subscription.reactivated")
    );
    // A new late payment later starts again from the first reminder.
    invoice(
        app,
        &customer,
        "payer-2",
        3,
        json!([{"description": "Azure plan", "amount": "50.00"}]),
    )
    .await;
    set_day(app, 4);
    run(app).await;
    assert_eq!(
        emails(app, &customer).await.last().unwrap(),
        "dunning.remind"
    );
    let (_, all) = app
        .get(
            &format!("/v1/dunning/episodes?customer_id={customer}"),
            app.a.key(Role::Viewer),
        )
        .await;
    let statuses: Vec<&Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["status"])
        .collect();
    assert_eq!(statuses, [&json!("closed"), &json!("open")]);
}

async fn two_runs_at_once_take_each_step_once(app: &TestApp) {
    let mut customers = Vec::new();
    for n in 0..6 {
        customers.push(debtor(app, &format!("race-{n}"), -21).await.0);
    }
    // Under the lease: one of the two runs does the work, the other stands aside.
    let (a, b) = tokio::join!(
        dunning::run(&app.state, Scope::Tenant(app.a.id), None),
        dunning::run(&app.state, Scope::Tenant(app.a.id), None),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.acted + b.acted, 6, "{a:?} {b:?}");
    // Without the lease, the row locks and the unique steps alone keep each step single.
    set_day(app, 3);
    let (a, b) = tokio::join!(
        dunning::sweep(&app.state, Scope::Tenant(app.a.id), None, None, |_| {}),
        dunning::sweep(&app.state, Scope::Tenant(app.a.id), None, None, |_| {}),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.acted + b.acted, 6, "{a:?} {b:?}");
    assert_eq!(a.failed + b.failed, 0, "{a:?} {b:?}");
    for customer in &customers {
        assert_eq!(
            emails(app, customer).await,
            ["dunning.final_notice", "dunning.suspend"],
            "{customer}"
        );
        let kinds: Vec<String> = steps(&view(app, customer).await)
            .into_iter()
            .map(|(_, kind, _)| kind)
            .collect();
        assert_eq!(
            kinds,
            ["superseded", "superseded", "final_notice", "suspend"]
        );
    }
}

on_both_engines!(
    every_rung_of_the_default_ladder_in_order,
    amounts_within_grace_are_left_alone,
    a_published_tier_override_shifts_the_ladder,
    a_pause_holds_the_ladder_and_it_resumes_where_it_stood,
    paying_reactivates_at_once_and_closes_the_episode,
    two_runs_at_once_take_each_step_once,
);

/// How one simulated customer behaves.
#[derive(Debug, Clone, Copy)]
enum Habit {
    /// Pays the day before the due date.
    OnTime,
    /// Pays 10 days late.
    Late,
    Never,
    /// Pays 30 days late, after the suspension.
    AfterSuspension,
    /// Disputes the invoice 10 days late, until 40 days late; never pays.
    Dispute,
}

/// What the customer should see, as `(day, event)` relative to the due day.
fn expected(habit: Habit) -> Vec<(i64, &'static str)> {
    let ladder_to_suspension = vec![
        (1, "dunning.remind"),
        (7, "dunning.remind"),
        (14, "dunning.final_notice"),
        (21, "dunning.suspend"),
        (21, "billed:suspended"),
    ];
    let tail = |from_all: i64| {
        vec![
            (from_all, "dunning.suspend"),
            (from_all, "other:suspended"),
            (60, "dunning.terminate"),
            (60, "billed:terminated"),
            (60, "other:terminated"),
            (75, "dunning.hand_off"),
        ]
    };
    match habit {
        Habit::OnTime => Vec::new(),
        Habit::Late => vec![(1, "dunning.remind"), (7, "dunning.remind")],
        Habit::Never => [ladder_to_suspension, tail(45)].concat(),
        Habit::AfterSuspension => [
            ladder_to_suspension,
            vec![(30, "dunning.reactivate"), (30, "billed:active")],
        ]
        .concat(),
        // Resumes on day 40 with the final notice; the suspension waits the 3-day lead, the
        // suspension of everything 3 days after that.
        Habit::Dispute => [
            vec![
                (1, "dunning.remind"),
                (7, "dunning.remind"),
                (40, "dunning.final_notice"),
                (43, "dunning.suspend"),
                (43, "billed:suspended"),
            ],
            tail(46),
        ]
        .concat(),
    }
}

struct Simulated {
    habit: Habit,
    due_day: i64,
    customer: String,
    billed: String,
    other: String,
}

async fn start_with_sink(engine: Engine) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start().await;
    let mut config = SmtpConfig::from_url(&sink.url(), "Billing <billing@reseller.example>")
        .expect("the sink's URL");
    config.timeout = Duration::from_secs(5);
    let connectors = Connectors {
        mailer: Some(Arc::new(SmtpMailer::new(config).unwrap())),
        ..Connectors::default()
    };
    Some((TestApp::start_with(engine, connectors).await?, sink))
}

/// 30 customers, six of each habit with due days staggered, over 120 days: every day the
/// scheduled payments and disputes happen, the run runs and the outbox drains to the SMTP sink.
async fn thirty_customers_over_120_days(app: &TestApp, sink: &SmtpSink) {
    let habits = [
        Habit::OnTime,
        Habit::Late,
        Habit::Never,
        Habit::AfterSuspension,
        Habit::Dispute,
    ];
    let mut people = Vec::new();
    for (h, habit) in habits.iter().enumerate() {
        for k in 0..6 {
            let due_day = 5 + k;
            let (customer, billed, other) = debtor(app, &format!("sim-{h}-{k}"), due_day).await;
            people.push(Simulated {
                habit: *habit,
                due_day,
                customer,
                billed,
                other,
            });
        }
    }
    let operator = app.a.key(Role::Analyst);
    for day in 0..=120 {
        set_day(app, day);
        for p in &people {
            let late = day - p.due_day;
            match (p.habit, late) {
                (Habit::OnTime, -1) | (Habit::Late, 10) | (Habit::AfterSuspension, 30) => {
                    pay(app, &p.customer, "120.00").await;
                }
                (Habit::Dispute, 10) => {
                    let until = date(day + 30);
                    let (status, body) = app
                        .post(
                            &format!("/v1/customers/{}/dunning/pause", p.customer),
                            operator,
                            json!({"reason": "dispute", "until": until}),
                        )
                        .await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                }
                _ => {}
            }
        }
        run(app).await;
        Worker::new(app.state.clone()).drain().await.unwrap();
    }

    let mut delivered = 0;
    for p in &people {
        let mut seen: Vec<(i64, String)> = Vec::new();
        for action in actions(app, &p.customer).await {
            assert_eq!(action["status"], "delivered", "{action}");
            let id = action["id"].as_str().unwrap();
            let mails = sink.messages_for(id);
            assert_eq!(mails.len(), 1, "exactly one message for {id}");
            assert_eq!(
                mails[0].subject(),
                action["payload"]["subject"].as_str(),
                "{id}"
            );
            delivered += 1;
            seen.push((
                day_of(&action["created_at"]) - p.due_day,
                action["payload"]["template"].as_str().unwrap().to_owned(),
            ));
        }
        for (label, subscription) in [("billed", &p.billed), ("other", &p.other)] {
            for action in actions(app, subscription).await {
                seen.push((
                    day_of(&action["created_at"]) - p.due_day,
                    format!("{label}:{}", action["payload"]["status"].as_str().unwrap()),
                ));
            }
        }
        seen.sort();
        let mut want: Vec<(i64, String)> = expected(p.habit)
            .into_iter()
            .map(|(d, e)| (d, e.to_owned()))
            .collect();
        want.sort();
        assert_eq!(seen, want, "{:?} due on day {}", p.habit, p.due_day);
        let open = view(app, &p.customer).await["episodes"]
            .as_array()
            .unwrap()
            .len();
        let still_owing = matches!(p.habit, Habit::Never | Habit::Dispute);
        assert_eq!(open, usize::from(still_owing), "{:?}", p.habit);
    }
    let by_habit: BTreeMap<String, usize> = people.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(format!("{:?}", p.habit)).or_default() += expected(p.habit)
            .iter()
            .filter(|(_, e)| e.starts_with("dunning."))
            .count();
        m
    });
    assert_eq!(delivered, by_habit.values().sum::<usize>(), "{by_habit:?}");
    assert_eq!(sink.messages().len(), delivered);
}

mod thirty_customers_over_120_days {
    #[tokio::test]
    async fn sqlite() {
        let (app, sink) = super::start_with_sink(super::Engine::Sqlite).await.unwrap();
        super::thirty_customers_over_120_days(&app, &sink).await;
    }

    #[tokio::test]
    async fn postgres() {
        match super::start_with_sink(super::Engine::Postgres).await {
            Some((app, sink)) => super::thirty_customers_over_120_days(&app, &sink).await,
            None => eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set"),
        }
    }
}
