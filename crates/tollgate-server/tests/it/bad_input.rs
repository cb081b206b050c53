//! Bad input on every POST and PATCH route: each flawed request gets a 4xx problem+json naming
//! the field at fault — never a 5xx, never a panic, never a write.

use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tollgate_core::{CustomerId, SubscriptionId, tenancy::Role};

use crate::{
    harness::{BODY_LIMIT, TestApp, customer_body},
    on_both_engines,
};

/// Tenant A's objects the routes act on.
struct Fixture {
    customer: String,
    subscription: String,
    key: String,
}

#[derive(Clone, Copy)]
enum Target {
    Customer,
    Subscription,
    Key,
}

impl Fixture {
    fn id(&self, target: Target) -> &str {
        match target {
            Target::Customer => &self.customer,
            Target::Subscription => &self.subscription,
            Target::Key => &self.key,
        }
    }
}

struct Route {
    method: Method,
    path: &'static str,
    /// What `{id}` in the path names.
    target: Option<Target>,
    /// A body the route accepts; `None` when the route takes no body.
    valid: Option<fn(&Fixture) -> Value>,
    /// This route's own flaws, each a change to the valid body.
    flaws: fn(&Value) -> Vec<Flaw>,
}

struct Flaw {
    what: &'static str,
    body: Body,
    status: StatusCode,
    /// The field `errors[]` must name (itself or something inside it).
    field: Option<&'static str>,
}

enum Body {
    Json(Value),
    /// Bytes sent as they are, with this content type (or none).
    Raw(Option<&'static str>, Vec<u8>),
}

fn invalid(what: &'static str, body: Value, field: &'static str) -> Flaw {
    Flaw {
        what,
        body: Body::Json(body),
        status: StatusCode::UNPROCESSABLE_ENTITY,
        field: Some(field),
    }
}

fn with(valid: &Value, field: &str, value: Value) -> Value {
    let mut body = valid.clone();
    body[field] = value;
    body
}

fn without(valid: &Value, field: &str) -> Value {
    let mut body = valid.clone();
    body.as_object_mut().unwrap().remove(field);
    body
}

fn terms(credit_limit: Value) -> Value {
    json!({"prepayment_required": false, "credit_limit": credit_limit, "admin_access_allowed": false})
}

fn status_change(_: &Fixture) -> Value {
    json!({"reason": "card reported stolen"})
}

fn status_change_flaws(valid: &Value) -> Vec<Flaw> {
    vec![
        invalid("missing reason", without(valid, "reason"), "reason"),
        invalid(
            "reason of the wrong type",
            with(valid, "reason", json!(5)),
            "reason",
        ),
        invalid("empty reason", with(valid, "reason", json!("")), "reason"),
    ]
}

fn no_flaws(_: &Value) -> Vec<Flaw> {
    Vec::new()
}

/// Every POST and PATCH route, in an order where each one's valid request succeeds (suspend
/// before reactivate before terminate).
const ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/v1/customers",
        target: None,
        valid: Some(|_| customer_body("bad-input-valid")),
        flaws: |valid| {
            let mut flaws = vec![
                invalid(
                    "name of the wrong type",
                    with(valid, "legal_name", json!(42)),
                    "legal_name",
                ),
                invalid(
                    "country not ISO 3166",
                    with(valid, "country", json!("Germany")),
                    "country",
                ),
                invalid(
                    "address as a string",
                    with(valid, "billing_address", json!("Berlin")),
                    "billing_address",
                ),
                invalid(
                    "empty external id",
                    with(valid, "external_id", json!("")),
                    "external_id",
                ),
                invalid(
                    "bad e-mail",
                    with(valid, "email", json!("not-an-address")),
                    "email",
                ),
                invalid("bad phone", with(valid, "phone", json!("call me")), "phone"),
                invalid(
                    "unknown status",
                    with(valid, "status", json!("vip")),
                    "status",
                ),
                invalid(
                    "terms flag of the wrong type",
                    with(
                        valid,
                        "terms",
                        json!({"prepayment_required": "yes", "admin_access_allowed": false}),
                    ),
                    "terms.prepayment_required",
                ),
                invalid(
                    "currency EURO",
                    with(
                        valid,
                        "terms",
                        terms(json!({"amount": "100", "currency": "EURO"})),
                    ),
                    "terms.credit_limit",
                ),
                invalid(
                    "currency eur",
                    with(
                        valid,
                        "terms",
                        terms(json!({"amount": "100", "currency": "eur"})),
                    ),
                    "terms.credit_limit",
                ),
                invalid(
                    "negative credit limit",
                    with(
                        valid,
                        "terms",
                        terms(json!({"amount": "-100", "currency": "EUR"})),
                    ),
                    "terms.credit_limit",
                ),
                invalid(
                    "more decimals than the currency has",
                    with(
                        valid,
                        "terms",
                        terms(json!({"amount": "1.001", "currency": "EUR"})),
                    ),
                    "terms.credit_limit",
                ),
                invalid(
                    "amount that is not a number",
                    with(
                        valid,
                        "terms",
                        terms(json!({"amount": "lots", "currency": "EUR"})),
                    ),
                    "terms.credit_limit",
                ),
            ];
            for field in ["external_id", "legal_name", "country"] {
                flaws.push(invalid(
                    "a required field missing",
                    without(valid, field),
                    field,
                ));
            }
            flaws
        },
    },
    Route {
        method: Method::PATCH,
        path: "/v1/customers/{id}",
        target: Some(Target::Customer),
        valid: Some(|_| json!({"legal_name": "Contoso Holding GmbH", "trust_tier": "established"})),
        flaws: |valid| {
            vec![
                invalid(
                    "status of the wrong type",
                    with(valid, "status", json!(3)),
                    "status",
                ),
                invalid(
                    "name as a list",
                    with(valid, "legal_name", json!([])),
                    "legal_name",
                ),
                invalid("bad e-mail", with(valid, "email", json!("nope")), "email"),
                invalid(
                    "address without its first line",
                    with(
                        valid,
                        "billing_address",
                        json!({"city": "Berlin", "postal_code": "10117", "country": "DE"}),
                    ),
                    "billing_address.line1",
                ),
                invalid(
                    "currency EURO",
                    with(
                        valid,
                        "terms",
                        terms(json!({"amount": "5", "currency": "EURO"})),
                    ),
                    "terms.credit_limit",
                ),
                invalid(
                    "negative spend limit",
                    with(
                        valid,
                        "terms",
                        json!({
                            "prepayment_required": true, "admin_access_allowed": false,
                            "monthly_spend_limit": {"amount": "-1", "currency": "USD"}
                        }),
                    ),
                    "terms.monthly_spend_limit",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/subscriptions",
        target: None,
        valid: Some(|f| {
            json!({"customer_id": f.customer, "vendor_subscription_id": "bad-input-valid",
                   "product_kind": "m365", "quantity": 25})
        }),
        flaws: |valid| {
            let mut flaws = vec![
                invalid(
                    "customer id that is no id",
                    with(valid, "customer_id", json!("nope")),
                    "customer_id",
                ),
                invalid(
                    "customer id with the wrong prefix",
                    with(
                        valid,
                        "customer_id",
                        json!(SubscriptionId::generate().to_string()),
                    ),
                    "customer_id",
                ),
                invalid(
                    "customer that does not exist",
                    with(
                        valid,
                        "customer_id",
                        json!(CustomerId::generate().to_string()),
                    ),
                    "customer_id",
                ),
                invalid(
                    "negative quantity",
                    with(valid, "quantity", json!(-1)),
                    "quantity",
                ),
                invalid(
                    "zero quantity",
                    with(valid, "quantity", json!(0)),
                    "quantity",
                ),
                invalid(
                    "fractional quantity",
                    with(valid, "quantity", json!(1.5)),
                    "quantity",
                ),
                invalid(
                    "quantity as text",
                    with(valid, "quantity", json!("ten")),
                    "quantity",
                ),
                invalid(
                    "quantity beyond u32",
                    with(valid, "quantity", json!(1u64 << 40)),
                    "quantity",
                ),
                invalid(
                    "unknown product",
                    with(valid, "product_kind", json!("mainframe")),
                    "product_kind",
                ),
                invalid(
                    "empty vendor id",
                    with(valid, "vendor_subscription_id", json!("")),
                    "vendor_subscription_id",
                ),
            ];
            for field in [
                "customer_id",
                "vendor_subscription_id",
                "product_kind",
                "quantity",
            ] {
                flaws.push(invalid(
                    "a required field missing",
                    without(valid, field),
                    field,
                ));
            }
            flaws
        },
    },
    Route {
        method: Method::PATCH,
        path: "/v1/subscriptions/{id}",
        target: Some(Target::Subscription),
        valid: Some(|_| json!({"quantity": 30})),
        flaws: |valid| {
            vec![
                invalid(
                    "negative quantity",
                    with(valid, "quantity", json!(-5)),
                    "quantity",
                ),
                invalid(
                    "zero quantity",
                    with(valid, "quantity", json!(0)),
                    "quantity",
                ),
                invalid(
                    "quantity as text",
                    with(valid, "quantity", json!("x")),
                    "quantity",
                ),
                invalid(
                    "offer of the wrong type",
                    with(valid, "offer_id", json!(5)),
                    "offer_id",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/subscriptions/{id}/suspend",
        target: Some(Target::Subscription),
        valid: Some(status_change),
        flaws: status_change_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/subscriptions/{id}/reactivate",
        target: Some(Target::Subscription),
        valid: Some(status_change),
        flaws: status_change_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/subscriptions/{id}/terminate",
        target: Some(Target::Subscription),
        valid: Some(status_change),
        flaws: status_change_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/keys",
        target: None,
        valid: Some(|_| json!({"role": "analyst", "label": "bad-input"})),
        flaws: |valid| {
            vec![
                invalid("unknown role", with(valid, "role", json!("root")), "role"),
                invalid("role missing", without(valid, "role"), "role"),
                invalid(
                    "label of the wrong type",
                    with(valid, "label", json!(5)),
                    "label",
                ),
                invalid(
                    "expiry that is no instant",
                    with(valid, "expires_at", json!("tomorrow")),
                    "expires_at",
                ),
                invalid(
                    "expiry in the past",
                    with(valid, "expires_at", json!("2001-01-01T00:00:00Z")),
                    "expires_at",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/keys/{id}/revoke",
        target: Some(Target::Key),
        valid: None,
        flaws: no_flaws,
    },
];

/// Flaws every route with a body shares.
fn common_flaws(valid: &Value) -> Vec<Flaw> {
    let json = Some("application/json");
    let valid_text = valid.to_string();
    let mut padded = valid.clone();
    padded["padding"] = json!("x".repeat(BODY_LIMIT));
    let raw = |what, content_type, bytes: &[u8], status| Flaw {
        what,
        body: Body::Raw(content_type, bytes.to_vec()),
        status,
        field: None,
    };
    vec![
        raw(
            "malformed JSON",
            json,
            br#"{"legal_name": "#,
            StatusCode::BAD_REQUEST,
        ),
        raw(
            "JSON with trailing garbage",
            json,
            format!("{valid_text} }}").as_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        raw(
            "not UTF-8",
            json,
            b"{\"\xff\xfe\": 1}",
            StatusCode::BAD_REQUEST,
        ),
        raw("empty body", json, b"", StatusCode::BAD_REQUEST),
        raw(
            "wrong content type",
            Some("text/plain"),
            valid_text.as_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        raw(
            "form content type",
            Some("application/x-www-form-urlencoded"),
            b"a=b",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        raw(
            "no content type",
            None,
            valid_text.as_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        raw(
            "body over the limit",
            json,
            padded.to_string().as_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        invalid("a list instead of an object", json!([]), "body"),
        invalid("null instead of an object", Value::Null, "body"),
        invalid(
            "unknown field",
            with(valid, "nickname", json!("x")),
            "nickname",
        ),
    ]
}

/// Ids in the path that name nothing: all answered as not found.
fn bad_ids(target: Target) -> Vec<String> {
    let wrong_kind = match target {
        Target::Customer => SubscriptionId::generate().to_string(),
        Target::Subscription | Target::Key => CustomerId::generate().to_string(),
    };
    let missing = match target {
        Target::Customer => CustomerId::generate().to_string(),
        Target::Subscription => SubscriptionId::generate().to_string(),
        Target::Key => tollgate_core::KeyId::generate().to_string(),
    };
    vec![
        "nope".into(),
        wrong_kind,
        missing,
        "cus_".into(),
        "%00".into(),
    ]
}

async fn fixture(app: &TestApp) -> Fixture {
    let customer = app.customer(&app.a, "bad-input").await;
    let subscription = app.subscription(&app.a, &customer, "bad-input").await;
    let (_, key) = app
        .post(
            "/v1/keys",
            app.a.key(Role::Admin),
            json!({"role": "viewer"}),
        )
        .await;
    Fixture {
        customer,
        subscription,
        key: key["id"].as_str().unwrap().to_owned(),
    }
}

async fn expect_problem(
    request: reqwest::RequestBuilder,
    status: StatusCode,
    field: Option<&str>,
    what: &str,
) {
    let response = request.send().await.unwrap();
    let got = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    assert!(got.is_client_error(), "{what}: {got}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{what}"
    );
    let problem: Value = serde_json::from_str(&text).unwrap();
    for member in ["type", "title", "detail"] {
        assert!(problem[member].is_string(), "{what}: no {member} in {text}");
    }
    assert_eq!(problem["status"], got.as_u16(), "{what}");
    if let Some(field) = field {
        let names = problem["errors"].as_array().is_some_and(|errors| {
            errors.iter().filter_map(|e| e["field"].as_str()).any(|f| {
                f == field
                    || f.strip_prefix(field)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        });
        assert!(names, "{what}: {field} is not named in {text}");
    }
}

async fn every_write_route_refuses_bad_input_with_a_problem(app: &TestApp) {
    let fixture = fixture(app).await;
    let key = app.a.key(Role::Admin);
    let (_, before) = app.get("/v1/audit?limit=1000", key).await;
    let mut valid_requests = Vec::new();
    for route in ROUTES {
        let path = match route.target {
            Some(target) => route.path.replace("{id}", fixture.id(target)),
            None => route.path.to_owned(),
        };
        let valid = route.valid.map(|v| v(&fixture));
        let request = |path: &str| {
            let request = app.request(route.method.clone(), path, Some(key));
            match &valid {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let name = |what: &str| format!("{} {}: {what}", route.method, route.path);

        if let Some(valid) = &valid {
            for flaw in common_flaws(valid).into_iter().chain((route.flaws)(valid)) {
                let request = app.request(route.method.clone(), &path, Some(key));
                let request = match flaw.body {
                    Body::Json(body) => request.json(&body),
                    Body::Raw(content_type, bytes) => match content_type {
                        Some(content_type) => request.header(CONTENT_TYPE, content_type),
                        None => request,
                    }
                    .body(bytes),
                };
                expect_problem(request, flaw.status, flaw.field, &name(flaw.what)).await;
            }
        }
        if let Some(target) = route.target {
            for id in bad_ids(target) {
                let bad = route.path.replace("{id}", &id);
                expect_problem(
                    request(&bad),
                    StatusCode::NOT_FOUND,
                    None,
                    &name(&format!("id {id}")),
                )
                .await;
            }
        }
        if route.method == Method::POST {
            for idem in ["k".repeat(256), String::new()] {
                expect_problem(
                    request(&path).header("Idempotency-Key", &idem),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("Idempotency-Key"),
                    &name(&format!("Idempotency-Key of {} characters", idem.len())),
                )
                .await;
            }
            let not_visible = reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
            expect_problem(
                request(&path).header("Idempotency-Key", not_visible),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("Idempotency-Key"),
                &name("Idempotency-Key that is not ASCII"),
            )
            .await;
        }
        valid_requests.push((name("the valid request"), request(&path)));
    }

    let (_, after) = app.get("/v1/audit?limit=1000", key).await;
    assert_eq!(before, after, "no flawed request changed anything");
    // The same requests without their flaw succeed, so each refusal was about the flaw.
    for (what, request) in valid_requests {
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{what}: {}",
            response.status()
        );
    }
}

on_both_engines!(every_write_route_refuses_bad_input_with_a_problem);
