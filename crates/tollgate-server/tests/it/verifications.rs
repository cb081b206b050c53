//! Verification steps through the real adapters, against fake SMS and bureau servers started
//! here: passing SMS and the bureau check raises the customer's trust tier.

use std::sync::{Arc, Mutex};

use axum::{Form, Json, Router, extract::State, routing::post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_connectors::{
    Retrier, RetryPolicy, Secret,
    bureau::{HttpBureau, HttpBureauConfig},
    sms::{TwilioAuth, TwilioConfig, TwilioSender, TwilioSms},
};
use tollgate_core::tenancy::Role;
use tollgate_server::Connectors;

use crate::{
    decisions::honest_signup,
    harness::{Engine, TestApp},
};

#[derive(Clone, Default)]
struct Fakes {
    texts: Arc<Mutex<Vec<(String, String)>>>,
}

async fn twilio(
    State(fakes): State<Fakes>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    fakes
        .texts
        .lock()
        .unwrap()
        .push((form["To"].clone(), form["Body"].clone()));
    (
        StatusCode::CREATED,
        Json(
            json!({ "sid": "SM0123456789abcdef0123456789abcdef", "status": "queued", "error_code": null, "error_message": null }),
        ),
    )
}

async fn bureau() -> Json<Value> {
    Json(json!({
        "check_id": "chk_42", "score_band": "A", "registered_name": "Muster 7 GmbH",
        "name_match": "exact", "years_in_business": 12, "status": "active"
    }))
}

async fn start(engine: Engine) -> Option<(TestApp, Fakes)> {
    let fakes = Fakes::default();
    let router = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio))
        .route("/v1/business-checks", post(bureau))
        .with_state(fakes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let retrier = || Retrier::new(RetryPolicy::default());
    let mut sms = TwilioConfig::new(
        "AC00000000000000000000000000000000",
        TwilioAuth::AuthToken(Secret::new("token")),
        TwilioSender::From("+15005550006".into()),
    );
    sms.base_url = base.clone();
    let connectors = Connectors {
        sms: Some(Arc::new(TwilioSms::new(sms, retrier()).unwrap())),
        bureau: Some(Arc::new(
            HttpBureau::new(
                HttpBureauConfig::new(base, Secret::new("bureau-token")),
                retrier(),
            )
            .unwrap(),
        )),
        ..Connectors::default()
    };
    Some((TestApp::start_with(engine, connectors).await?, fakes))
}

async fn passing_sms_and_bureau_raises_the_trust_tier(app: &TestApp, fakes: &Fakes) {
    let ingest = app.a.key(Role::Ingest);
    let (_, decision) = app.post("/v1/signups", ingest, honest_signup(app, 7)).await;
    let customer = decision["customer_id"].as_str().unwrap().to_owned();
    assert_eq!(decision["terms"]["trust_tier"], "new");

    let (status, sms) = app
        .post(
            &format!("/v1/customers/{customer}/verifications"),
            ingest,
            json!({"kind": "sms"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sms}");
    assert_eq!(sms["status"], "pending");
    let (to, body) = fakes.texts.lock().unwrap().last().cloned().unwrap();
    assert_eq!(to, "+493012340007");
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    let confirm = format!("/v1/verifications/{}/confirm", sms["id"].as_str().unwrap());

    let (status, wrong) = app.post(&confirm, ingest, json!({"code": "000000"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
    let (_, stored) = app
        .get(
            &format!("/v1/verifications/{}", sms["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(stored["attempts"], 1, "a wrong code counts: {stored}");

    let (status, passed) = app.post(&confirm, ingest, json!({"code": code})).await;
    assert_eq!(status, StatusCode::OK, "{passed}");
    assert_eq!(passed["status"], "passed");
    assert_eq!(
        passed["decision"]["terms"]["trust_tier"], "new",
        "one step is not enough: {passed}"
    );

    let (status, check) = app
        .post(
            &format!("/v1/customers/{customer}/verifications"),
            ingest,
            json!({"kind": "bureau"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{check}");
    assert_eq!(check["status"], "passed");
    assert_eq!(check["result"]["score_band"], "A");
    assert_eq!(
        check["decision"]["terms"]["trust_tier"], "verified",
        "{check}"
    );
    assert_eq!(check["decision"]["terms"]["admin_access_allowed"], true);
    let (_, customer) = app
        .get(
            &format!("/v1/customers/{customer}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(customer["trust_tier"], "verified");
    assert_eq!(customer["terms"]["prepayment_required"], false);
    // A code cannot be used twice.
    let (status, _) = app.post(&confirm, ingest, json!({"code": code})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn phone_calls_are_tasks_an_analyst_completes(app: &TestApp, _fakes: &Fakes) {
    let (_, decision) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 8),
        )
        .await;
    let customer = decision["customer_id"].as_str().unwrap();
    let (_, task) = app
        .post(
            &format!("/v1/customers/{customer}/verifications"),
            app.a.key(Role::Ingest),
            json!({"kind": "phone_call"}),
        )
        .await;
    assert_eq!(task["status"], "pending");
    let complete = format!(
        "/v1/verifications/{}/complete",
        task["id"].as_str().unwrap()
    );
    assert_eq!(
        app.post(
            &complete,
            app.a.key(Role::Ingest),
            json!({"outcome": "passed"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, done) = app
        .post(
            &complete,
            app.a.key(Role::Analyst),
            json!({"outcome": "passed", "note": "spoke to the CFO"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "passed");
    assert!(done["decision"]["id"].as_str().unwrap().starts_with("dec_"));
    // Another tenant cannot see or complete it.
    assert_eq!(
        app.post(
            &complete,
            app.b.key(Role::Analyst),
            json!({"outcome": "failed"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

macro_rules! with_fakes {
    ($($case:ident),+) => {$(
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                let (app, fakes) = super::start(super::Engine::Sqlite).await.unwrap();
                super::$case(&app, &fakes).await;
            }

            #[tokio::test]
            async fn postgres() {
                match super::start(super::Engine::Postgres).await {
                    Some((app, fakes)) => super::$case(&app, &fakes).await,
                    None => eprintln!("skipped: TOLLGATE_TEST_DATABASE_URL is not set"),
                }
            }
        }
    )+};
}

with_fakes!(
    passing_sms_and_bureau_raises_the_trust_tier,
    phone_calls_are_tasks_an_analyst_completes
);
