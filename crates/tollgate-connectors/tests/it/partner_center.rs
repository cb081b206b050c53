use std::{sync::Arc, time::Duration};

use axum::http::Method;
use serde_json::{Value, json};
use tollgate_connectors::{
    AttemptOutcome, Retrier, RetryPolicy,
    partner_center::{
        AzureEntitlementRef, BreakerPolicy, BreakerState, CallIds, FraudEventEntry,
        FraudEventQuery, FraudEventStatus, FraudEventTarget, FraudEventUpdate, HttpPartnerCenter,
        PartnerCenter, PartnerCenterConfig, PcErrorKind, ResolvedReason, SubscriptionChange,
        SubscriptionTarget,
        testing::{FAKE_REFRESH_TOKEN, FakePartnerCenter, FakeReply, WebhookSigner},
        webhook::{WebhookError, WebhookEventKind, WebhookVerifier},
    },
    retry::RecordingSleeper,
};
use tollgate_core::{Currency, Money, clock::ManualClock};
use uuid::Uuid;

use crate::fake::t0;

const CUSTOMER: &str = "0c39d6d5-c70d-4c55-bc02-f620844f3fd1";
const SUBSCRIPTION: &str = "a4c1340d-6911-4758-bba3-0c4c6007d161";
const SUBSCRIPTION_PATH: &str = "/v1/customers/0c39d6d5-c70d-4c55-bc02-f620844f3fd1/subscriptions/a4c1340d-6911-4758-bba3-0c4c6007d161";

struct Setup {
    fake: FakePartnerCenter,
    pc: HttpPartnerCenter,
    clock: ManualClock,
    sleeper: RecordingSleeper,
}

async fn setup(max_attempts: u32, tweak: impl FnOnce(&mut PartnerCenterConfig)) -> Setup {
    let fake = FakePartnerCenter::start().await;
    let clock = ManualClock::new(t0());
    let sleeper = RecordingSleeper::default();
    let retrier = Retrier::new(RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    })
    .with_sleeper(Arc::new(sleeper.clone()))
    .with_clock(Arc::new(clock.clone()))
    .with_jitter_seed(42);
    let mut config = fake.config();
    tweak(&mut config);
    let pc = HttpPartnerCenter::new(config, retrier).unwrap();
    Setup {
        fake,
        pc,
        clock,
        sleeper,
    }
}

fn ids(n: u128) -> CallIds {
    CallIds::new(Uuid::from_u128(n), Uuid::from_u128(1000 + n))
}

fn suspend() -> SubscriptionChange {
    SubscriptionChange {
        customer_id: CUSTOMER.into(),
        subscription_id: SUBSCRIPTION.into(),
        target: SubscriptionTarget::Suspended,
    }
}

fn fraud_event(id: &str, subscription: &str, status: &str) -> Value {
    json!({
        "eventTime": "2021-12-08T00:25:45.69",
        "eventId": id,
        "partnerTenantId": "348e932d-ef58-4347-8351-be51e4ec148c",
        "customerTenantId": CUSTOMER,
        "subscriptionId": subscription,
        "subscriptionType": "modern",
        "hitCount": "10",
        "eventStatus": status,
        "resolvedReason": "None",
        "resolvedOn": "9999-12-31T23:59:59.9970000",
        "eventType": "NetworkConnectionsToCryptoMiningPools",
        "severity": "Medium",
        "additionalDetails": {"vM_IP": "[\r\n \"13.89.185.189\"\r\n]", "connectionCount": "31"},
        "IsTest": "false",
        "activityLogs": "[]"
    })
}

#[tokio::test]
async fn suspending_reads_then_patches_once_through_429_and_500_under_one_request_id() {
    let s = setup(4, |_| {}).await;
    s.fake.put_subscription(CUSTOMER, SUBSCRIPTION, "active");
    s.fake.inject(
        Method::PATCH,
        SUBSCRIPTION_PATH,
        FakeReply::error(429, 429, "Too many requests").retry_after("1"),
    );
    s.fake.inject(
        Method::PATCH,
        SUBSCRIPTION_PATH,
        FakeReply::error(500, 500, "Internal error"),
    );

    let done = s.pc.change_subscription(ids(1), suspend()).await.unwrap();
    assert_eq!(done.value.status, "suspended");

    let stored = s.fake.subscription(CUSTOMER, SUBSCRIPTION).unwrap();
    assert_eq!(stored["status"], "suspended");
    assert_eq!(
        stored["attributes"]["etag"], "etag-2",
        "exactly one PATCH took effect"
    );

    let patches = s.fake.received_at(Method::PATCH, SUBSCRIPTION_PATH);
    assert_eq!(patches.len(), 3);
    for patch in &patches {
        assert_eq!(
            patch.header("ms-requestid"),
            Some(ids(1).request_id.to_string().as_str())
        );
        assert_eq!(
            patch.header("ms-correlationid"),
            Some(ids(1).correlation_id.to_string().as_str())
        );
        assert_eq!(patch.header("if-match"), Some("etag-1"));
        assert_eq!(patch.header("authorization"), Some("Bearer app-token-1"));
        assert_eq!(patch.json()["status"], "suspended");
        assert_eq!(
            patch.json()["offerId"],
            "CFQ7TTC0LH18:0001",
            "the whole resource"
        );
    }
    let gets = s.fake.received_at(Method::GET, SUBSCRIPTION_PATH);
    assert_eq!(gets.len(), 1);
    assert_eq!(
        gets[0].header("ms-requestid"),
        Some(ids(1).derived("read-0").to_string().as_str())
    );
    assert_eq!(
        gets[0].header("ms-correlationid"),
        Some(ids(1).correlation_id.to_string().as_str())
    );

    let log: Vec<_> = done
        .attempts
        .iter()
        .map(|a| (a.request.as_str(), a.attempt.status, a.attempt.outcome))
        .collect();
    let patch = format!("PATCH {SUBSCRIPTION_PATH}");
    let get = format!("GET {SUBSCRIPTION_PATH}");
    assert_eq!(
        log,
        [
            (
                "POST /tenant/oauth2/token",
                Some(200),
                AttemptOutcome::Succeeded
            ),
            (get.as_str(), Some(200), AttemptOutcome::Succeeded),
            (patch.as_str(), Some(429), AttemptOutcome::RateLimited),
            (patch.as_str(), Some(500), AttemptOutcome::ServerError),
            (patch.as_str(), Some(200), AttemptOutcome::Succeeded),
        ]
    );
    assert_eq!(
        s.sleeper.waits()[0],
        Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn an_etag_conflict_is_read_again_and_retried_then_given_up() {
    let s = setup(1, |_| {}).await;
    s.fake.put_subscription(CUSTOMER, SUBSCRIPTION, "active");
    s.fake.inject(
        Method::PATCH,
        SUBSCRIPTION_PATH,
        FakeReply::error(412, 412, "etag mismatch"),
    );
    let done = s.pc.change_subscription(ids(2), suspend()).await.unwrap();
    assert_eq!(done.value.status, "suspended");
    let patches = s.fake.received_at(Method::PATCH, SUBSCRIPTION_PATH);
    let request_ids: Vec<_> = patches
        .iter()
        .map(|p| p.header("ms-requestid").unwrap())
        .collect();
    assert_eq!(
        request_ids,
        [
            ids(2).request_id.to_string(),
            ids(2).derived("write-1").to_string()
        ]
    );
    assert_eq!(s.fake.received_at(Method::GET, SUBSCRIPTION_PATH).len(), 2);

    s.fake.put_subscription(CUSTOMER, SUBSCRIPTION, "active");
    for _ in 0..3 {
        s.fake.inject(
            Method::PATCH,
            SUBSCRIPTION_PATH,
            FakeReply::error(412, 412, "etag mismatch"),
        );
    }
    let error =
        s.pc.change_subscription(ids(3), suspend())
            .await
            .unwrap_err();
    assert!(
        matches!(error.kind, PcErrorKind::EtagConflict { rounds: 3, .. }),
        "{error}"
    );
    assert_eq!(
        s.fake.subscription(CUSTOMER, SUBSCRIPTION).unwrap()["status"],
        "active"
    );
}

#[tokio::test]
async fn a_subscription_already_in_the_target_status_is_not_written() {
    let s = setup(1, |_| {}).await;
    s.fake.put_subscription(CUSTOMER, SUBSCRIPTION, "Suspended");
    let done = s.pc.change_subscription(ids(4), suspend()).await.unwrap();
    assert_eq!(done.value.status, "Suspended");
    assert!(
        s.fake
            .received_at(Method::PATCH, SUBSCRIPTION_PATH)
            .is_empty()
    );

    let mut reactivate = suspend();
    reactivate.target = SubscriptionTarget::Active;
    let done = s.pc.change_subscription(ids(5), reactivate).await.unwrap();
    assert_eq!(done.value.status, "active");
    assert_eq!(
        s.fake.received_at(Method::PATCH, SUBSCRIPTION_PATH)[0].json()["status"],
        "active"
    );
}

#[tokio::test]
async fn app_tokens_are_cached_until_shortly_before_they_expire() {
    let s = setup(1, |_| {}).await;
    s.fake.put_subscription(CUSTOMER, SUBSCRIPTION, "suspended");
    s.pc.change_subscription(ids(6), suspend()).await.unwrap();
    s.clock.advance(chrono::Duration::seconds(3299));
    s.pc.change_subscription(ids(7), suspend()).await.unwrap();
    assert_eq!(s.fake.token_requests().len(), 1);

    s.clock.advance(chrono::Duration::seconds(1));
    s.pc.change_subscription(ids(8), suspend()).await.unwrap();
    let tokens = s.fake.token_requests();
    assert_eq!(tokens.len(), 2, "renewed 5 minutes before expiry");
    let mut form = tokens[0].form();
    form.sort();
    let expected: Vec<(String, String)> = [
        ("client_id", "tollgate-test-app"),
        ("client_secret", "tollgate-test-secret"),
        ("grant_type", "client_credentials"),
        ("resource", "https://api.partnercenter.microsoft.com"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    assert_eq!(form, expected);
    let last = s
        .fake
        .received_at(Method::GET, SUBSCRIPTION_PATH)
        .pop()
        .unwrap();
    assert_eq!(last.header("authorization"), Some("Bearer app-token-2"));
}

#[tokio::test]
async fn a_refused_cached_token_is_replaced_once_and_refused_credentials_are_reported() {
    let s = setup(1, |_| {}).await;
    s.fake.put_subscription(CUSTOMER, SUBSCRIPTION, "suspended");
    s.pc.change_subscription(ids(9), suspend()).await.unwrap();
    s.fake.inject(
        Method::GET,
        SUBSCRIPTION_PATH,
        FakeReply::error(401, 401, "Token revoked"),
    );
    let done = s.pc.change_subscription(ids(10), suspend()).await.unwrap();
    assert_eq!(s.fake.token_requests().len(), 2);
    let outcomes: Vec<_> = done.attempts.iter().map(|a| a.attempt.outcome).collect();
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::Unauthorized,
            AttemptOutcome::Succeeded,
            AttemptOutcome::Succeeded
        ]
    );

    let s = setup(3, |c| {
        c.auth.client_secret = tollgate_connectors::Secret::new("wrong")
    })
    .await;
    let error =
        s.pc.change_subscription(ids(11), suspend())
            .await
            .unwrap_err();
    let PcErrorKind::TokenRejected(api) = &error.kind else {
        panic!("{error}")
    };
    assert_eq!(api.code.as_deref(), Some("invalid_client"));
    assert_eq!(error.attempts.len(), 1, "a refused secret is not retried");
    assert!(
        s.fake
            .received_at(Method::GET, SUBSCRIPTION_PATH)
            .is_empty()
    );
    assert!(
        !format!("{error:?}").contains("wrong"),
        "no secret in the error"
    );
}

#[tokio::test]
async fn fraud_events_follow_continuation_links_with_the_user_token_and_quarantine_bad_events() {
    let s = setup(1, |_| {}).await;
    s.fake.set_fraud_events(vec![
        fraud_event("e1", SUBSCRIPTION, "Active"),
        json!({"eventId": "e2", "subscriptionId": SUBSCRIPTION, "eventStatus": "Active", "hitCount": "lots"}),
        fraud_event("e3", SUBSCRIPTION, "investigating"),
        json!(["not", "an", "event"]),
        fraud_event("e5", "other-subscription", "Resolved"),
    ]);
    s.fake.page_fraud_events_by_continuation(2);

    let done =
        s.pc.fraud_events(ids(12), FraudEventQuery::default())
            .await
            .unwrap();
    assert!(done.value.complete);
    let summary: Vec<String> = done
        .value
        .entries
        .iter()
        .map(|entry| match entry {
            FraudEventEntry::Event(event) => format!("{}:{}", event.event_id, event.status),
            FraudEventEntry::Quarantined { reason, .. } => format!("quarantined: {reason}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "e1:Active",
            "quarantined: hitCount: `lots` is not a whole number",
            "e3:Investigating",
            "quarantined: expected an object, found an array",
            "e5:Resolved",
        ]
    );
    let FraudEventEntry::Event(first) = &done.value.entries[0] else {
        unreachable!()
    };
    assert_eq!(first.hit_count, Some(10));
    assert_eq!(first.additional_details["vM_IP"], json!(["13.89.185.189"]));

    let pages = s.fake.received_at(Method::GET, "/v1/fraudEvents");
    assert_eq!(pages.len(), 3);
    let continuation: Vec<_> = pages
        .iter()
        .map(|p| p.header("ms-continuationtoken"))
        .collect();
    assert_eq!(continuation, [None, Some("2"), Some("4")]);
    for page in &pages {
        assert_eq!(page.header("x-neweventsmodel"), Some("true"));
        assert_eq!(page.header("authorization"), Some("Bearer user-token-1"));
    }
    assert_eq!(
        pages[0].header("ms-requestid"),
        Some(ids(12).request_id.to_string().as_str())
    );
    assert_eq!(
        pages[2].header("ms-requestid"),
        Some(ids(12).derived("page-2").to_string().as_str())
    );
    let token = &s.fake.token_requests()[0];
    assert!(
        token
            .form()
            .contains(&("grant_type".into(), "refresh_token".into()))
    );
    assert!(
        token
            .form()
            .contains(&("refresh_token".into(), FAKE_REFRESH_TOKEN.into()))
    );
}

#[tokio::test]
async fn fraud_events_page_by_number_with_filters_and_the_refresh_token_rotates() {
    let s = setup(1, |_| {}).await;
    let events = (1..=5)
        .map(|n| fraud_event(&format!("e{n}"), SUBSCRIPTION, "Active"))
        .chain([
            fraud_event("x", SUBSCRIPTION, "Resolved"),
            fraud_event("y", "other", "Active"),
        ])
        .collect();
    s.fake.set_fraud_events(events);
    let query = FraudEventQuery {
        status: Some(FraudEventStatus::Active),
        subscription_id: Some(SUBSCRIPTION.into()),
        event_type: None,
        page_size: Some(2),
    };
    let done = s.pc.fraud_events(ids(13), query.clone()).await.unwrap();
    assert_eq!(done.value.entries.len(), 5);
    let queries: Vec<_> = s
        .fake
        .received_at(Method::GET, "/v1/fraudEvents")
        .into_iter()
        .map(|r| r.query.unwrap())
        .collect();
    let expected: Vec<String> = (1..=3)
        .map(|n| {
            format!("EventStatus=Active&SubscriptionId={SUBSCRIPTION}&PageSize=2&PageNumber={n}")
        })
        .collect();
    assert_eq!(queries, expected);

    s.clock.advance(chrono::Duration::hours(2));
    s.pc.fraud_events(ids(14), query).await.unwrap();
    let tokens = s.fake.token_requests();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens[1]
            .form()
            .contains(&("refresh_token".into(), "user-refresh-1".into()))
    );
}

#[tokio::test]
async fn fraud_event_operations_need_a_refresh_token_and_updates_send_the_documented_body() {
    let s = setup(1, |c| c.auth.user_refresh_token = None).await;
    let error =
        s.pc.fraud_events(ids(15), FraudEventQuery::default())
            .await
            .unwrap_err();
    assert_eq!(error.kind, PcErrorKind::UserCredentialsMissing);
    assert!(s.fake.received().is_empty());

    let s = setup(1, |_| {}).await;
    s.fake.set_fraud_events(vec![
        fraud_event("e1", SUBSCRIPTION, "Active"),
        fraud_event("e2", SUBSCRIPTION, "Active"),
    ]);
    let update = FraudEventUpdate {
        subscription_id: SUBSCRIPTION.into(),
        event_ids: vec!["e1".into()],
        target: FraudEventTarget::Resolved(ResolvedReason::Fraud),
    };
    let done = s.pc.update_fraud_events(ids(16), update).await.unwrap();
    assert_eq!(done.value.len(), 1);
    let path = format!("/v1/fraudEvents/subscription/{SUBSCRIPTION}/status");
    let post = &s.fake.received_at(Method::POST, &path)[0];
    assert_eq!(
        post.json(),
        json!({"EventIds": ["e1"], "EventStatus": "Resolved", "ResolvedReason": "Fraud"})
    );
    assert_eq!(
        post.header("ms-requestid"),
        Some(ids(16).request_id.to_string().as_str())
    );
    assert_eq!(s.fake.fraud_events()[0]["eventStatus"], "Resolved");
    assert_eq!(s.fake.fraud_events()[1]["eventStatus"], "Active");
}

#[tokio::test]
async fn azure_entitlements_are_cancelled_and_reactivated_at_the_documented_paths() {
    let s = setup(1, |_| {}).await;
    let entitlement = AzureEntitlementRef {
        customer_id: CUSTOMER.into(),
        subscription_id: SUBSCRIPTION.into(),
        entitlement_id: "e0c1-azure".into(),
    };
    let base = format!("{SUBSCRIPTION_PATH}/azureEntitlements/e0c1-azure");
    s.pc.cancel_azure_entitlement(ids(17), entitlement.clone(), Some("fraud".into()))
        .await
        .unwrap();
    s.pc.reactivate_azure_entitlement(ids(18), entitlement)
        .await
        .unwrap();
    let cancel = &s.fake.received_at(Method::POST, &format!("{base}/cancel"))[0];
    assert_eq!(cancel.json(), json!({"cancellationReason": "fraud"}));
    assert_eq!(
        cancel.header("ms-requestid"),
        Some(ids(17).request_id.to_string().as_str())
    );
    let reactivate = &s
        .fake
        .received_at(Method::POST, &format!("{base}/reactivate"))[0];
    assert!(reactivate.body.is_empty());
}

#[tokio::test]
async fn usage_budgets_are_read_and_written_as_money() {
    let s = setup(1, |_| {}).await;
    let eur: Currency = "EUR".parse().unwrap();
    let none =
        s.pc.usage_budget(ids(19), CUSTOMER.into(), eur)
            .await
            .unwrap();
    assert_eq!(none.value.amount, None);

    s.fake.put_budget(CUSTOMER, json!("100"));
    let read =
        s.pc.usage_budget(ids(20), CUSTOMER.into(), eur)
            .await
            .unwrap();
    assert_eq!(read.value.amount, Some(Money::from_minor(10_000, eur)));

    let written =
        s.pc.set_usage_budget(ids(21), CUSTOMER.into(), Money::from_minor(25_050, eur))
            .await
            .unwrap();
    assert_eq!(written.value.amount, Some(Money::from_minor(25_050, eur)));
    let path = format!("/v1/customers/{CUSTOMER}/usagebudget");
    let patch = &s.fake.received_at(Method::PATCH, &path)[0];
    assert_eq!(patch.json()["amount"], json!(250.5));
    assert_eq!(s.fake.budget(CUSTOMER).unwrap()["amount"], json!(250.5));

    s.fake.put_budget(CUSTOMER, json!("a lot"));
    let error =
        s.pc.usage_budget(ids(22), CUSTOMER.into(), eur)
            .await
            .unwrap_err();
    assert!(matches!(error.kind, PcErrorKind::Malformed(_)), "{error}");
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_lets_a_probe_through_after_cool_down() {
    let s = setup(2, |c| {
        c.breaker = BreakerPolicy {
            failure_threshold: 2,
            cool_down: Duration::from_secs(30),
        }
    })
    .await;
    s.fake.put_subscription(CUSTOMER, SUBSCRIPTION, "suspended");
    for _ in 0..4 {
        s.fake.inject(
            Method::GET,
            SUBSCRIPTION_PATH,
            FakeReply::error(503, 503, "down"),
        );
    }
    for n in 0..2 {
        let error =
            s.pc.change_subscription(ids(30 + n), suspend())
                .await
                .unwrap_err();
        assert!(matches!(error.kind, PcErrorKind::ServerError(_)), "{error}");
    }
    assert!(matches!(s.pc.breaker_state(), BreakerState::Open { .. }));
    let refused =
        s.pc.change_subscription(ids(32), suspend())
            .await
            .unwrap_err();
    assert!(
        matches!(refused.kind, PcErrorKind::CircuitOpen { until: Some(_) }),
        "{refused}"
    );
    assert!(refused.attempts.is_empty());
    assert_eq!(s.fake.received_at(Method::GET, SUBSCRIPTION_PATH).len(), 4);

    s.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(s.pc.breaker_state(), BreakerState::HalfOpen);
    s.pc.change_subscription(ids(33), suspend()).await.unwrap();
    assert_eq!(s.pc.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn webhooks_are_verified_against_the_allow_listed_cached_certificate() {
    let s = setup(1, |_| {}).await;
    let verifier =
        WebhookVerifier::new(s.fake.webhook_config(), Arc::new(s.clock.clone())).unwrap();
    let body = json!({
        "EventName": "azure-fraud-event-detected",
        "ResourceUri": format!("{}/v1/fraudEvents?subscriptionId={SUBSCRIPTION}", s.fake.base_url()),
        "ResourceName": SUBSCRIPTION,
        "AuditUri": null,
        "ResourceChangeUtcDate": "2026-03-02T08:59:00.1234567+00:00"
    })
    .to_string();
    let headers = s.fake.sign_webhook(body.as_bytes());
    let event = verifier.verify(&headers, body.as_bytes()).await.unwrap();
    assert_eq!(event.kind, WebhookEventKind::AzureFraudEventDetected);
    verifier.verify(&headers, body.as_bytes()).await.unwrap();
    let cert_path = s.fake.certificate_url().replace(s.fake.base_url(), "");
    assert_eq!(
        s.fake.received_at(Method::GET, &cert_path).len(),
        1,
        "cached"
    );

    let tampered = body.replace("fraud", "frauds");
    assert_eq!(
        verifier.verify(&headers, tampered.as_bytes()).await,
        Err(WebhookError::BadSignature)
    );
    let forger = WebhookSigner::generate("Microsoft Corporation");
    let forged = forger.headers(body.as_bytes(), &s.fake.certificate_url());
    assert_eq!(
        verifier.verify(&forged, body.as_bytes()).await,
        Err(WebhookError::BadSignature)
    );

    s.clock.advance(chrono::Duration::seconds(61));
    for _ in 0..2 {
        assert_eq!(
            verifier.verify(&forged, body.as_bytes()).await,
            Err(WebhookError::BadSignature)
        );
    }
    assert_eq!(
        s.fake.received_at(Method::GET, &cert_path).len(),
        2,
        "a failure against an old cached certificate fetches it again, once a minute at most"
    );

    let elsewhere = s.fake.certificate_url().replace("127.0.0.1", "localhost");
    let redirected = s.fake.signer().headers(body.as_bytes(), &elsewhere);
    assert_eq!(
        verifier.verify(&redirected, body.as_bytes()).await,
        Err(WebhookError::UntrustedCertificateUrl(elsewhere))
    );
    assert_eq!(
        s.fake.received_at(Method::GET, &cert_path).len(),
        2,
        "nothing fetched"
    );

    let mut strict = s.fake.webhook_config();
    strict.expected_organization = Some("Contoso".into());
    let strict = WebhookVerifier::new(strict, Arc::new(s.clock.clone())).unwrap();
    assert!(matches!(
        strict.verify(&headers, body.as_bytes()).await,
        Err(WebhookError::BadCertificate(_))
    ));

    s.fake
        .put_resource("/v1/customers/c1/usagesummary", json!({"totalCost": 12.5}));
    let resource =
        s.pc.fetch_resource(
            ids(41),
            format!("{}/v1/customers/c1/usagesummary", s.fake.base_url()),
        )
        .await
        .unwrap();
    assert_eq!(resource.value["totalCost"], 12.5);
    let foreign =
        s.pc.fetch_resource(ids(42), "https://evil.test/v1/customers/c1".into())
            .await
            .unwrap_err();
    assert!(matches!(foreign.kind, PcErrorKind::ForeignResource(_)));
    assert!(foreign.attempts.is_empty());
}
