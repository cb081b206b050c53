use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_connectors::{
    AttemptOutcome, HttpTimeouts, Secret,
    sms::{SmsErrorKind, SmsSender, TwilioAuth, TwilioConfig, TwilioSender, TwilioSms},
};

use crate::fake::{self, FakeServer, Reply};

const ACCOUNT: &str = "ACtest0001";
const PATH: &str = "/2010-04-01/Accounts/ACtest0001/Messages.json";
/// `ACtest0001:test-auth-token`, base64-encoded independently of the client.
const TOKEN_AUTH: &str = "Basic QUN0ZXN0MDAwMTp0ZXN0LWF1dGgtdG9rZW4=";
/// `SKkey0001:key-secret`.
const API_KEY_AUTH: &str = "Basic U0trZXkwMDAxOmtleS1zZWNyZXQ=";
const TO: &str = "+4915112345678";
const BODY: &str = "Your Tollgate code is 482913";

fn message(status: &str) -> serde_json::Value {
    json!({
        "sid": "SM0123456789abcdef0123456789abcdef",
        "account_sid": ACCOUNT,
        "to": TO,
        "from": "+15005550006",
        "body": BODY,
        "status": status,
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "error_code": null,
        "error_message": null,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Messages/SM0123456789abcdef0123456789abcdef.json")
    })
}

fn twilio_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status
        }),
    )
}

async fn start_fake(replies: Vec<Reply>) -> FakeServer {
    let unauthorized = twilio_error(401, 20003, "Authenticate");
    FakeServer::start(TOKEN_AUTH, unauthorized, replies).await
}

fn config(fake: &FakeServer, token: &str) -> TwilioConfig {
    let mut config = TwilioConfig::new(
        ACCOUNT,
        TwilioAuth::AuthToken(Secret::new(token)),
        TwilioSender::From("+15005550006".into()),
    );
    config.base_url = fake.base_url.clone();
    config
}

fn sender(
    config: TwilioConfig,
    max_attempts: u32,
) -> (TwilioSms, tollgate_connectors::retry::RecordingSleeper) {
    let (retrier, sleeper) = fake::retrier(max_attempts);
    (TwilioSms::new(config, retrier).unwrap(), sleeper)
}

fn expected_form(sender: (&str, &str)) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = [("Body", BODY), sender, ("To", TO)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test]
async fn sends_the_documented_form_with_basic_auth() {
    let fake = start_fake(vec![Reply::json(201, message("queued"))]).await;
    let (sms, sleeper) = sender(config(&fake, "test-auth-token"), 3);

    let receipt = sms.send(TO, BODY).await.unwrap();

    assert_eq!(receipt.message_id, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(receipt.status, "queued");
    let [attempt] = receipt.attempts.as_slice() else {
        panic!("one attempt expected: {:?}", receipt.attempts)
    };
    assert_eq!(
        (
            attempt.number,
            attempt.status,
            attempt.outcome,
            attempt.started_at
        ),
        (1, Some(201), AttemptOutcome::Succeeded, fake::t0())
    );
    assert!(sleeper.waits().is_empty());

    let [request] = fake.received().try_into().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, PATH);
    assert_eq!(request.header("authorization"), TOKEN_AUTH);
    assert_eq!(
        request.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(request.form(), expected_form(("From", "+15005550006")));
}

#[tokio::test]
async fn an_api_key_and_a_messaging_service_go_where_twilio_expects_them() {
    let fake = FakeServer::start(
        API_KEY_AUTH,
        twilio_error(401, 20003, "Authenticate"),
        vec![Reply::json(201, message("accepted"))],
    )
    .await;
    let mut config = config(&fake, "unused");
    config.auth = TwilioAuth::ApiKey {
        sid: "SKkey0001".into(),
        secret: Secret::new("key-secret"),
    };
    config.sender = TwilioSender::MessagingService("MGservice0001".into());
    let (sms, _) = sender(config, 3);

    assert_eq!(sms.send(TO, BODY).await.unwrap().status, "accepted");

    let [request] = fake.received().try_into().unwrap();
    assert_eq!(
        request.path, PATH,
        "the account SID still names the endpoint"
    );
    assert_eq!(request.header("authorization"), API_KEY_AUTH);
    assert_eq!(
        request.form(),
        expected_form(("MessagingServiceSid", "MGservice0001"))
    );
}

#[tokio::test]
async fn refused_credentials_are_a_typed_error_and_not_retried() {
    let fake = start_fake(vec![]).await;
    let (sms, sleeper) = sender(config(&fake, "wrong-token"), 3);

    let error = sms.send(TO, BODY).await.unwrap_err();

    let SmsErrorKind::Unauthorized(twilio) = &error.kind else {
        panic!("{error:?}")
    };
    assert_eq!((twilio.status, twilio.code), (401, Some(20003)));
    assert_eq!(
        twilio.more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/20003")
    );
    assert_eq!(error.attempts.len(), 1);
    assert_eq!(error.attempts[0].outcome, AttemptOutcome::Unauthorized);
    assert_eq!(fake.received().len(), 1);
    assert!(sleeper.waits().is_empty());
    assert!(!format!("{error:?} {error}").contains("wrong-token"));
}

#[tokio::test]
async fn an_invalid_number_is_rejected_without_retry() {
    let fake = start_fake(vec![twilio_error(400, 21211, "Invalid 'To' Phone Number")]).await;
    let (sms, _) = sender(config(&fake, "test-auth-token"), 3);

    let error = sms.send("+1555", BODY).await.unwrap_err();

    assert!(
        matches!(&error.kind, SmsErrorKind::Rejected(t) if t.code == Some(21211)),
        "{error:?}"
    );
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn waits_as_long_as_retry_after_says_then_succeeds() {
    let fake = start_fake(vec![
        twilio_error(429, 20429, "Too Many Requests").retry_after("2"),
        Reply::json(201, message("queued")),
    ])
    .await;
    let (sms, sleeper) = sender(config(&fake, "test-auth-token"), 3);

    let receipt = sms.send(TO, BODY).await.unwrap();

    assert_eq!(sleeper.waits(), [Duration::from_secs(2)]);
    let outcomes: Vec<_> = receipt
        .attempts
        .iter()
        .map(|a| (a.status, a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some(429), AttemptOutcome::RateLimited),
            (Some(201), AttemptOutcome::Succeeded)
        ]
    );
    assert!(
        receipt.attempts[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("20429")
    );
    let received = fake.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].body, received[1].body,
        "a retry resends the same message"
    );
}

#[tokio::test]
async fn a_server_error_is_retried_after_a_backoff() {
    let fake = start_fake(vec![
        twilio_error(500, 20500, "Internal Server Error"),
        Reply::json(201, message("queued")),
    ])
    .await;
    let (sms, sleeper) = sender(config(&fake, "test-auth-token"), 3);

    let receipt = sms.send(TO, BODY).await.unwrap();

    assert_eq!(receipt.attempts.len(), 2);
    assert_eq!(receipt.attempts[0].outcome, AttemptOutcome::ServerError);
    let [wait] = sleeper.waits().try_into().unwrap();
    assert!(wait >= Duration::from_millis(100) && wait <= Duration::from_millis(200));
}

#[tokio::test]
async fn a_malformed_answer_is_a_typed_error() {
    let fake = start_fake(vec![Reply::text(201, "{\"sid\": \"SM1\", \"status\":")]).await;
    let (sms, _) = sender(config(&fake, "test-auth-token"), 3);

    let error = sms.send(TO, BODY).await.unwrap_err();

    assert!(
        matches!(error.kind, SmsErrorKind::Malformed(_)),
        "{error:?}"
    );
    assert_eq!(error.attempts[0].outcome, AttemptOutcome::Malformed);
    assert_eq!(
        fake.received().len(),
        1,
        "the message may be out: not resent"
    );
}

#[tokio::test]
async fn a_slow_provider_times_out_on_every_attempt() {
    let slow = Reply::json(201, message("queued")).after(Duration::from_secs(5));
    let fake = start_fake(vec![slow.clone(), slow]).await;
    let mut config = config(&fake, "test-auth-token");
    config.timeouts = HttpTimeouts {
        request: Duration::from_millis(150),
        connect: Duration::from_millis(150),
    };
    let (sms, sleeper) = sender(config, 2);

    let started = Instant::now();
    let error = sms.send(TO, BODY).await.unwrap_err();

    assert_eq!(error.kind, SmsErrorKind::Timeout);
    let outcomes: Vec<_> = error
        .attempts
        .iter()
        .map(|a| (a.status, a.outcome))
        .collect();
    assert_eq!(outcomes, [(None, AttemptOutcome::Timeout); 2]);
    assert_eq!(sleeper.waits().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}
