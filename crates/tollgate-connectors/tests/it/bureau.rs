use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_connectors::{
    AttemptOutcome, HttpTimeouts, Secret,
    bureau::{
        BureauAddress, BureauErrorKind, BureauRequest, BusinessBureau, BusinessStatus, HttpBureau,
        HttpBureauConfig, NameMatch, ScoreBand,
    },
    retry::RecordingSleeper,
};

use crate::fake::{self, FakeServer, Reply};

const AUTH: &str = "Bearer bureau-test-token";

fn report() -> serde_json::Value {
    json!({
        "check_id": "bc_01J9ZK3",
        "score_band": "B",
        "registered_name": "Contoso GmbH",
        "name_match": "exact",
        "years_in_business": 12,
        "status": "active",
        "provider_note": "ignored by the client"
    })
}

fn bureau_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": message}}))
}

async fn start_fake(replies: Vec<Reply>) -> FakeServer {
    let unauthorized = bureau_error(401, "invalid_token", "the bearer token is not valid");
    FakeServer::start(AUTH, unauthorized, replies).await
}

fn client_at(base_url: &str, token: &str, max_attempts: u32) -> (HttpBureau, RecordingSleeper) {
    let (retrier, sleeper) = fake::retrier(max_attempts);
    let config = HttpBureauConfig::new(base_url, Secret::new(token));
    (HttpBureau::new(config, retrier).unwrap(), sleeper)
}

fn client(fake: &FakeServer, max_attempts: u32) -> (HttpBureau, RecordingSleeper) {
    client_at(&fake.base_url, "bureau-test-token", max_attempts)
}

fn request() -> BureauRequest {
    BureauRequest {
        reference: "ver_0001".into(),
        legal_name: "Contoso GmbH".into(),
        registration_number: Some("HRB 123456".into()),
        country: "DE".parse().unwrap(),
        domain: Some("contoso.example".into()),
        address: Some(BureauAddress {
            line1: "Hauptstraße 1".into(),
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".parse().unwrap(),
        }),
    }
}

fn minimal_request() -> BureauRequest {
    BureauRequest {
        registration_number: None,
        domain: None,
        address: None,
        ..request()
    }
}

#[tokio::test]
async fn posts_the_documented_json_and_reads_the_report() {
    let fake = start_fake(vec![Reply::json(200, report())]).await;
    let (bureau, _) = client(&fake, 3);

    let report = bureau.check(request()).await.unwrap();

    assert_eq!(report.check_id, "bc_01J9ZK3");
    assert_eq!(report.score_band, ScoreBand::B);
    assert_eq!(report.registered_name.as_deref(), Some("Contoso GmbH"));
    assert_eq!(report.name_match, NameMatch::Exact);
    assert_eq!(report.years_in_business, Some(12));
    assert_eq!(report.status, BusinessStatus::Active);
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(report.attempts[0].status, Some(200));
    assert_eq!(report.attempts[0].started_at, fake::t0());

    let [sent] = fake.received().try_into().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/business-checks");
    assert_eq!(sent.header("authorization"), AUTH);
    assert_eq!(sent.header("idempotency-key"), "ver_0001");
    assert_eq!(sent.header("content-type"), "application/json");
    assert_eq!(
        sent.json(),
        json!({
            "legal_name": "Contoso GmbH",
            "registration_number": "HRB 123456",
            "country": "DE",
            "domain": "contoso.example",
            "address": {
                "line1": "Hauptstraße 1",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE"
            }
        })
    );
}

#[tokio::test]
async fn unknown_optional_fields_are_left_out_and_null_answers_read_as_none() {
    let unknown_business = json!({
        "check_id": "bc_2", "score_band": "E", "registered_name": null,
        "name_match": "none", "years_in_business": null, "status": "unknown"
    });
    let fake = start_fake(vec![Reply::json(200, unknown_business)]).await;
    let (bureau, _) = client(&fake, 3);

    let report = bureau.check(minimal_request()).await.unwrap();

    assert_eq!(
        (
            report.score_band,
            report.registered_name,
            report.years_in_business
        ),
        (ScoreBand::E, None, None)
    );
    let [sent] = fake.received().try_into().unwrap();
    assert_eq!(
        sent.json(),
        json!({"legal_name": "Contoso GmbH", "country": "DE"})
    );
}

#[tokio::test]
async fn a_refused_token_is_a_typed_error_and_not_retried() {
    let fake = start_fake(vec![]).await;
    let (bureau, sleeper) = client_at(&fake.base_url, "stale-token", 3);

    let error = bureau.check(request()).await.unwrap_err();

    let BureauErrorKind::Unauthorized(api) = &error.kind else {
        panic!("{error:?}")
    };
    assert_eq!(
        (api.status, api.code.as_deref()),
        (401, Some("invalid_token"))
    );
    assert_eq!(fake.received().len(), 1);
    assert!(sleeper.waits().is_empty());
    assert!(!format!("{error:?} {bureau:?}").contains("stale-token"));
}

#[tokio::test]
async fn a_bad_request_is_not_retried() {
    let fake = start_fake(vec![bureau_error(
        422,
        "invalid_registration_number",
        "HRB 123456 is not a registration number in DE",
    )])
    .await;
    let (bureau, _) = client(&fake, 3);

    let error = bureau.check(request()).await.unwrap_err();

    assert!(
        matches!(&error.kind, BureauErrorKind::BadRequest(api) if api.status == 422),
        "{error:?}"
    );
    assert_eq!(error.attempts[0].outcome, AttemptOutcome::Rejected);
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn waits_as_long_as_retry_after_says_then_succeeds() {
    let fake = start_fake(vec![
        bureau_error(429, "rate_limited", "slow down").retry_after("3"),
        Reply::json(200, report()),
    ])
    .await;
    let (bureau, sleeper) = client(&fake, 3);

    let report = bureau.check(request()).await.unwrap();

    assert_eq!(sleeper.waits(), [Duration::from_secs(3)]);
    let outcomes: Vec<_> = report.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [AttemptOutcome::RateLimited, AttemptOutcome::Succeeded]
    );
    let received = fake.received();
    assert_eq!(received[1].header("idempotency-key"), "ver_0001");
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let fake = start_fake(vec![
        Reply::text(500, "oops"),
        bureau_error(503, "maintenance", "back soon").retry_after("Thu, 01 Jan 1970 00:00:00 GMT"),
        Reply::json(200, report()),
    ])
    .await;
    let (bureau, sleeper) = client(&fake, 3);

    let report = bureau.check(request()).await.unwrap();

    let statuses: Vec<_> = report.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
    let waits = sleeper.waits();
    assert!(waits[0] >= Duration::from_millis(100) && waits[0] <= Duration::from_millis(200));
    assert_eq!(waits[1], Duration::ZERO, "a Retry-After date in the past");
}

#[tokio::test]
async fn server_errors_end_after_the_last_attempt() {
    let fake = start_fake(vec![Reply::text(502, "bad gateway"); 3]).await;
    let (bureau, sleeper) = client(&fake, 3);
    let error = bureau.check(request()).await.unwrap_err();
    assert!(
        matches!(&error.kind, BureauErrorKind::ServerError(api) if api.message == "bad gateway"),
        "{error:?}"
    );
    assert_eq!(error.attempts.len(), 3);
    assert_eq!(fake.received().len(), 3);
    let waits = sleeper.waits();
    assert!(waits[1] >= Duration::from_millis(200) && waits[1] <= Duration::from_millis(400));
}

#[tokio::test]
async fn a_malformed_report_is_a_typed_error() {
    let fake = start_fake(vec![Reply::json(
        200,
        json!({"check_id": "bc_3", "score_band": "Z"}),
    )])
    .await;
    let (bureau, _) = client(&fake, 3);

    let error = bureau.check(request()).await.unwrap_err();

    assert!(
        matches!(error.kind, BureauErrorKind::Malformed(_)),
        "{error:?}"
    );
    assert_eq!(error.attempts.len(), 1);
}

#[tokio::test]
async fn a_slow_bureau_times_out() {
    let fake = start_fake(vec![
        Reply::json(200, report()).after(Duration::from_secs(5)),
    ])
    .await;
    let (retrier, _) = fake::retrier(1);
    let mut config = HttpBureauConfig::new(&fake.base_url, Secret::new("bureau-test-token"));
    config.timeouts = HttpTimeouts {
        request: Duration::from_millis(150),
        connect: Duration::from_millis(150),
    };
    let bureau = HttpBureau::new(config, retrier).unwrap();

    let started = Instant::now();
    let error = bureau.check(request()).await.unwrap_err();

    assert_eq!(error.kind, BureauErrorKind::Timeout);
    assert_eq!(error.attempts[0].outcome, AttemptOutcome::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_unreachable_bureau_is_retried_then_reported() {
    let (bureau, sleeper) = client_at(&fake::closed_port_url().await, "bureau-test-token", 2);

    let error = bureau.check(request()).await.unwrap_err();

    assert!(
        matches!(error.kind, BureauErrorKind::Unreachable(_)),
        "{error:?}"
    );
    let outcomes: Vec<_> = error
        .attempts
        .iter()
        .map(|a| (a.status, a.outcome))
        .collect();
    assert_eq!(outcomes, [(None, AttemptOutcome::Unreachable); 2]);
    assert_eq!(sleeper.waits().len(), 1);
}
