//! Bad input on every POST and PATCH route: each flawed request gets a 4xx problem+json naming
//! the field at fault — never a 5xx, never a panic, never a write.

use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tollgate_core::{CustomerId, SubscriptionId, tenancy::Role};

use crate::{
    harness::{BATCH_BODY_LIMIT, TestApp, customer_body, documented_routes, playbook, policy},
    on_both_engines,
};

/// Tenant A's objects the routes act on.
struct Fixture {
    customer: String,
    subscription: String,
    key: String,
    payment_method: String,
    /// An order on `payment_method`, held until the first payment.
    order: String,
    /// A SEPA account, pending verification.
    bank_account: String,
    list_item: String,
    /// A policy version number.
    policy: String,
    /// A pending phone-call step.
    verification: String,
    /// An open budget alert.
    alert: String,
    /// An invoice of 30.00 EUR numbered `BAD-FIXTURE-1`.
    invoice: String,
    /// A succeeded payment of 10.00 EUR.
    payment: String,
    /// A pending e-mail action about the customer.
    action: String,
    /// A webhook endpoint.
    webhook: String,
    /// An open case about the customer (from an abuse notice).
    case: String,
    /// A playbook version number.
    playbook: String,
}

#[derive(Clone, Copy)]
enum Target {
    Customer,
    Subscription,
    Key,
    ListItem,
    Policy,
    Verification,
    Alert,
    Invoice,
    Action,
    Payment,
    Webhook,
    Case,
    Playbook,
    PaymentMethod,
    /// A payment method that is a bank account.
    BankAccount,
    Order,
}

impl Fixture {
    fn id(&self, target: Target) -> &str {
        match target {
            Target::Customer => &self.customer,
            Target::Subscription => &self.subscription,
            Target::Key => &self.key,
            Target::ListItem => &self.list_item,
            Target::Policy => &self.policy,
            Target::Verification => &self.verification,
            Target::Alert => &self.alert,
            Target::Invoice => &self.invoice,
            Target::Action => &self.action,
            Target::Webhook => &self.webhook,
            Target::Payment => &self.payment,
            Target::Case => &self.case,
            Target::Playbook => &self.playbook,
            Target::PaymentMethod => &self.payment_method,
            Target::BankAccount => &self.bank_account,
            Target::Order => &self.order,
        }
    }
}

/// The path with its one parameter filled in.
fn at(template: &str, id: &str) -> String {
    template.replace("{id}", id).replace("{version}", id)
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

fn review_flaws(valid: &Value) -> Vec<Flaw> {
    vec![
        invalid(
            "unknown outcome",
            with(valid, "outcome", json!("approve")),
            "outcome",
        ),
        invalid("outcome missing", without(valid, "outcome"), "outcome"),
        invalid(
            "note of 501 characters",
            with(valid, "note", json!("n".repeat(501))),
            "note",
        ),
        invalid(
            "note that is no string",
            with(valid, "note", json!(5)),
            "note",
        ),
    ]
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

/// `valid` with one field of its bank-account `mandate` replaced.
fn with_mandate(valid: &Value, field: &str, value: Value) -> Value {
    let mut mandate = valid["mandate"].clone();
    mandate[field] = value;
    with(valid, "mandate", mandate)
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

fn usage_body(subscription: &str, record_id: &str, cost: &str) -> Value {
    json!([{"subscription": subscription, "record_id": record_id,
            "meter": "Virtual Machines/D2s v5", "resource_id": "vm-1", "region": "westeurope",
            "quantity": "1", "unit": "1 Hour", "cost": cost, "currency": "EUR",
            "usage_start": "2026-11-02T07:00:00Z", "usage_end": "2026-11-02T08:00:00Z"}])
}

fn budget_body(customer: &str) -> Value {
    json!({"scope": {"kind": "customer", "customer_id": customer},
           "amount": {"amount": "500.00", "currency": "EUR"}, "period": {"kind": "monthly"},
           "thresholds": [{"percent": 80, "basis": "forecast", "action": "notify"}]})
}

fn no_flaws(_: &Value) -> Vec<Flaw> {
    Vec::new()
}

fn prepaid_flaws(valid: &Value) -> Vec<Flaw> {
    vec![
        invalid(
            "negative amount",
            with(valid, "amount", json!("-50.00")),
            "amount",
        ),
        invalid("zero amount", with(valid, "amount", json!("0")), "amount"),
        invalid(
            "finer than the currency's minor unit",
            with(valid, "amount", json!("1.001")),
            "amount",
        ),
        invalid(
            "amount of the wrong type",
            with(valid, "amount", json!(["50"])),
            "amount",
        ),
        invalid(
            "currency not ISO 4217",
            with(valid, "currency", json!("EURO")),
            "currency",
        ),
        invalid("missing currency", without(valid, "currency"), "currency"),
        invalid(
            "empty reference",
            with(valid, "reference", json!("")),
            "reference",
        ),
    ]
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
    Route {
        method: Method::POST,
        path: "/v1/signups",
        target: None,
        valid: Some(|_| {
            json!({
                "external_id": "bad-input-signup",
                "company": {"name": "Muster GmbH", "domain": "muster.de", "country": "DE"},
                "contact": {"name": "Erika Mustermann", "email": "erika@muster.de", "phone": "+4930123456"},
                "billing_address": {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
                "ip": "2.160.0.10",
                "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0",
                "session": {"form_started_at": "2026-11-02T08:58:00Z", "submitted_at": "2026-11-02T09:00:00Z",
                            "key_events": 240, "pointer_events": 60}
            })
        }),
        flaws: |valid| {
            let mut company = valid["company"].clone();
            company["country"] = json!("Germany");
            let mut contact = valid["contact"].clone();
            contact["email"] = json!(7);
            let mut session = valid["session"].clone();
            session["submitted_at"] = json!("2026-11-02T08:00:00Z");
            vec![
                invalid(
                    "a required field missing",
                    without(valid, "external_id"),
                    "external_id",
                ),
                invalid(
                    "country not ISO 3166",
                    with(valid, "company", company),
                    "company.country",
                ),
                invalid(
                    "e-mail of the wrong type",
                    with(valid, "contact", contact),
                    "contact.email",
                ),
                invalid(
                    "sent before it was started",
                    with(valid, "session", session),
                    "session.submitted_at",
                ),
                invalid(
                    "ip that is no address",
                    with(valid, "ip", json!("300.1.1.1")),
                    "ip",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/customers/{id}/payment_methods",
        target: Some(Target::Customer),
        valid: Some(|_| {
            json!({"bin": "411111", "last4": "4242", "fingerprint": "fp-bad-input",
                   "exp_month": 12, "exp_year": 2029, "country": "DE",
                   "cvc_check": "pass", "avs_check": "pass", "three_ds": "authenticated"})
        }),
        flaws: |valid| {
            vec![
                invalid(
                    "last4 of two digits",
                    with(valid, "last4", json!("42")),
                    "last4",
                ),
                invalid("month 13", with(valid, "exp_month", json!(13)), "exp_month"),
                invalid(
                    "negative month",
                    with(valid, "exp_month", json!(-1)),
                    "exp_month",
                ),
                invalid(
                    "bin that is no number",
                    with(valid, "bin", json!("abc")),
                    "bin",
                ),
                invalid(
                    "a full card number",
                    with(valid, "fingerprint", json!("4111111111111111")),
                    "fingerprint",
                ),
                invalid(
                    "fingerprint missing",
                    without(valid, "fingerprint"),
                    "fingerprint",
                ),
            ]
        },
    },
    // The same route with a bank account: its own fields, and the account-number guard.
    Route {
        method: Method::POST,
        path: "/v1/customers/{id}/payment_methods",
        target: Some(Target::Customer),
        valid: Some(|_| {
            json!({"type": "bank_account", "scheme": "sepa_core", "country": "DE",
                   "bank_code": "COBADEFFXXX", "last4": "3000", "fingerprint": "ba-bad-input",
                   "holder_name": "Bad Input GmbH", "holder_type": "company",
                   "verification": "verified",
                   "mandate": {"reference": "MNDT-1", "accepted_at": "2026-10-01T00:00:00Z"}})
        }),
        flaws: |valid| {
            vec![
                invalid("unknown type", with(valid, "type", json!("wallet")), "type"),
                invalid(
                    "type that is no string",
                    with(valid, "type", json!(1)),
                    "type",
                ),
                invalid(
                    "unknown scheme",
                    with(valid, "scheme", json!("swift")),
                    "scheme",
                ),
                invalid(
                    "Bacs debit on a German account",
                    with(valid, "scheme", json!("bacs")),
                    "country",
                ),
                invalid(
                    "country that is none",
                    with(valid, "country", json!("XX")),
                    "country",
                ),
                invalid(
                    "last4 of three",
                    with(valid, "last4", json!("300")),
                    "last4",
                ),
                invalid(
                    "bank code with a slash",
                    with(valid, "bank_code", json!("12/34")),
                    "bank_code",
                ),
                invalid(
                    "verification missing",
                    without(valid, "verification"),
                    "verification",
                ),
                invalid(
                    "mandate signed tomorrow",
                    with_mandate(valid, "accepted_at", json!("2099-01-01T00:00:00Z")),
                    "mandate.accepted_at",
                ),
                invalid(
                    "mandate without reference",
                    with_mandate(valid, "reference", json!("")),
                    "mandate.reference",
                ),
                invalid(
                    "an IBAN in the holder's name",
                    with(
                        valid,
                        "holder_name",
                        json!("Bad Input GmbH DE89 3704 0044 0532 0130 00"),
                    ),
                    "holder_name",
                ),
                invalid(
                    "an iban field",
                    with(valid, "iban", json!("****3000")),
                    "iban",
                ),
                invalid(
                    "an account number",
                    with(valid, "account_number", json!("0532013000")),
                    "account_number",
                ),
                invalid("a card field", with(valid, "bin", json!("411111")), "bin"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/payment_methods/{id}/review",
        target: Some(Target::PaymentMethod),
        valid: Some(|_| json!({"outcome": "release", "note": "checked"})),
        flaws: review_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/payment_methods/{id}/verification",
        target: Some(Target::BankAccount),
        valid: Some(|_| {
            json!({"verification": "verified",
                   "mandate": {"reference": "MNDT-9", "accepted_at": "2026-10-01T00:00:00Z"}})
        }),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown state",
                    with(valid, "verification", json!("maybe")),
                    "verification",
                ),
                invalid(
                    "state missing",
                    without(valid, "verification"),
                    "verification",
                ),
                invalid(
                    "mandate signed in the future",
                    with_mandate(valid, "accepted_at", json!("2099-01-01T00:00:00Z")),
                    "mandate.accepted_at",
                ),
                invalid(
                    "mandate without reference",
                    with_mandate(valid, "reference", json!("")),
                    "mandate.reference",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/orders/{id}/review",
        target: Some(Target::Order),
        valid: Some(|_| json!({"outcome": "release", "note": "checked"})),
        flaws: review_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/orders",
        target: None,
        valid: Some(|f| {
            json!({"customer_id": f.customer, "payment_method_id": f.payment_method,
                   "items": [{"sku": "M365-BP", "product_kind": "m365", "quantity": 2,
                              "unit_price": {"amount": "12.50", "currency": "EUR"}}]})
        }),
        flaws: |valid| {
            let item = |field: &str, value: Value| {
                let mut item = valid["items"][0].clone();
                item[field] = value;
                with(valid, "items", json!([item]))
            };
            vec![
                invalid(
                    "customer id that is no id",
                    with(valid, "customer_id", json!("nope")),
                    "customer_id",
                ),
                invalid(
                    "payment method missing",
                    without(valid, "payment_method_id"),
                    "payment_method_id",
                ),
                invalid(
                    "negative quantity",
                    item("quantity", json!(-3)),
                    "items[0].quantity",
                ),
                invalid(
                    "currency eur",
                    item("unit_price", json!({"amount": "1", "currency": "eur"})),
                    "items",
                ),
                invalid(
                    "currency EURO",
                    item("unit_price", json!({"amount": "1", "currency": "EURO"})),
                    "items",
                ),
                invalid(
                    "negative price",
                    item("unit_price", json!({"amount": "-1", "currency": "EUR"})),
                    "items",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/rules",
        target: None,
        valid: Some(|_| json!({"policy": policy("bad-input-valid")})),
        flaws: |valid| {
            let mut relabelled = valid["policy"].clone();
            relabelled["version"] = json!(5);
            vec![
                invalid("policy missing", json!({}), "policy"),
                invalid(
                    "unknown status",
                    with(valid, "status", json!("live")),
                    "status",
                ),
                invalid(
                    "label of the wrong type",
                    with(valid, "policy", relabelled),
                    "policy.version",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/rules/{version}/status",
        target: Some(Target::Policy),
        valid: Some(|_| json!({"status": "shadow"})),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown status",
                    with(valid, "status", json!("on")),
                    "status",
                ),
                invalid("status missing", json!({}), "status"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/rules/backtest",
        target: None,
        valid: Some(|_| {
            json!({"policy": policy("bad-input-backtest"),
                   "from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"})
        }),
        flaws: |valid| {
            vec![
                invalid(
                    "a range that ends before it starts",
                    with(valid, "to", json!("2026-09-01T00:00:00Z")),
                    "to",
                ),
                invalid(
                    "instant that is no instant",
                    with(valid, "from", json!("yesterday")),
                    "from",
                ),
                invalid(
                    "too many examples",
                    with(valid, "max_examples", json!(100_000)),
                    "max_examples",
                ),
                invalid(
                    "negative examples",
                    with(valid, "max_examples", json!(-1)),
                    "max_examples",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/lists/items",
        target: None,
        valid: Some(
            |_| json!({"kind": "email", "action": "block", "value": "x@bad-input.example"}),
        ),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown kind",
                    with(valid, "kind", json!("shoe-size")),
                    "kind",
                ),
                invalid(
                    "e-mail that is no e-mail",
                    with(valid, "value", json!("not an address")),
                    "value",
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
        path: "/v1/lists/items/batch",
        target: None,
        valid: Some(|_| {
            json!([{"kind": "email", "action": "block", "value": "x@bad-input.example"},
                   {"kind": "ip", "action": "block", "value": "198.51.100.0/24"}])
        }),
        flaws: |valid| {
            let first = &valid[0];
            vec![
                invalid("not an array", first.clone(), "body"),
                invalid("empty batch", json!([]), "items"),
                invalid(
                    "unknown kind",
                    json!([first, with(first, "kind", json!("shoe-size"))]),
                    "[1].kind",
                ),
                invalid(
                    "range that is no range",
                    json!([first, {"kind": "ip", "action": "block", "value": "10.0.0.0/33"}]),
                    "[1].value",
                ),
                invalid(
                    "expiry in the past",
                    json!([with(first, "expires_at", json!("2001-01-01T00:00:00Z"))]),
                    "[0].expires_at",
                ),
                invalid(
                    "the same item twice, in other spellings",
                    json!([first, with(first, "value", json!(" X@Bad-Input.example"))]),
                    "[1].value",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/lists/items/{id}/remove",
        target: Some(Target::ListItem),
        valid: None,
        flaws: no_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/customers/{id}/verifications",
        target: Some(Target::Customer),
        valid: Some(|_| json!({"kind": "phone_call"})),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown kind",
                    with(valid, "kind", json!("carrier_pigeon")),
                    "kind",
                ),
                invalid("kind missing", json!({}), "kind"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/verifications/{id}/confirm",
        target: Some(Target::Verification),
        valid: Some(|_| json!({"code": "123456"})),
        flaws: |valid| {
            vec![
                invalid(
                    "code as a number",
                    with(valid, "code", json!(123456)),
                    "code",
                ),
                invalid("code missing", json!({}), "code"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/budgets",
        target: None,
        valid: Some(|f| budget_body(&f.customer)),
        flaws: |valid| {
            let mut threshold = valid.clone();
            threshold["thresholds"][0]["percent"] = json!(0);
            let mut repeated = valid.clone();
            repeated["thresholds"] = json!([valid["thresholds"][0], valid["thresholds"][0]]);
            vec![
                invalid(
                    "zero amount",
                    with(valid, "amount", json!({"amount": "0", "currency": "EUR"})),
                    "amount",
                ),
                invalid(
                    "unknown scope kind",
                    with(valid, "scope", json!({"kind": "tenant"})),
                    "scope",
                ),
                invalid(
                    "unknown customer",
                    with(
                        valid,
                        "scope",
                        json!({"kind": "customer", "customer_id": CustomerId::generate()}),
                    ),
                    "scope.customer_id",
                ),
                invalid(
                    "unknown subscription",
                    with(
                        valid,
                        "scope",
                        json!({"kind": "subscription", "subscription_id": SubscriptionId::generate()}),
                    ),
                    "scope.subscription_id",
                ),
                invalid("percent 0", threshold, "thresholds[0].percent"),
                invalid("repeated threshold", repeated, "thresholds[1]"),
                invalid(
                    "no thresholds",
                    with(valid, "thresholds", json!([])),
                    "thresholds",
                ),
                invalid(
                    "custom period backwards",
                    with(
                        valid,
                        "period",
                        json!({"kind": "custom", "start": "2026-12-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
                    ),
                    "period.end",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/activity",
        target: None,
        valid: Some(|_| {
            json!([{"operationName": {"value": "Microsoft.Storage/storageAccounts/read"},
                    "status": {"value": "Succeeded"}, "eventTimestamp": "2026-11-02T07:00:00Z",
                    "eventDataId": "valid", "subscriptionId": "bad-input",
                    "caller": "alice@contoso.example"}])
        }),
        flaws: |valid| {
            let record = &valid[0];
            let mut unknown = record.clone();
            unknown["subscriptionId"] = json!("no-such-vendor-subscription");
            let mut bad_time = record.clone();
            bad_time["eventTimestamp"] = json!("yesterday");
            vec![
                invalid("not an array", record.clone(), "body"),
                invalid("empty batch", json!([]), "records"),
                invalid("record not an object", json!([record, "x"]), "[1]"),
                invalid(
                    "no operation",
                    json!([without(record, "operationName")]),
                    "[0].operationName",
                ),
                invalid(
                    "no time",
                    json!([without(record, "eventTimestamp")]),
                    "[0].eventTimestamp",
                ),
                invalid("bad time", json!([bad_time]), "[0].eventTimestamp"),
                invalid(
                    "no subscription",
                    json!([without(record, "subscriptionId")]),
                    "[0].subscriptionId",
                ),
                invalid(
                    "unknown subscription",
                    json!([record, unknown]),
                    "[1].subscriptionId",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/usage",
        target: None,
        valid: Some(|f| usage_body(&f.subscription, "valid", "1.00")),
        flaws: |valid| {
            let record = &valid[0];
            let mut unknown = record.clone();
            unknown["subscription"] = json!("no-such-vendor-subscription");
            unknown["record_id"] = json!("unknown-subscription");
            let mut negative = record.clone();
            negative["cost"] = json!("-1");
            let mut backwards = record.clone();
            backwards["usage_end"] = record["usage_start"].clone();
            let mut meter = record.clone();
            meter["meter"] = json!("no category");
            let mut extra = record.clone();
            extra["colour"] = json!("blue");
            vec![
                invalid("not an array", record.clone(), "body"),
                invalid("empty batch", json!([]), "records"),
                invalid(
                    "unknown subscription",
                    json!([record, unknown]),
                    "[1].subscription",
                ),
                invalid("negative cost", json!([negative]), "[0].cost"),
                invalid("end before start", json!([backwards]), "[0].usage_end"),
                invalid("meter without category", json!([meter]), "[0].meter"),
                invalid("unknown field", json!([extra]), "[0].colour"),
                invalid(
                    "record id repeated",
                    json!([record, record]),
                    "[1].record_id",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/invoices",
        target: None,
        valid: Some(|f| invoice_body(&f.customer, "BAD-VALID-1")),
        flaws: |valid| {
            vec![
                Flaw {
                    what: "number already used",
                    body: Body::Json(with(valid, "number", json!("BAD-FIXTURE-1"))),
                    status: StatusCode::CONFLICT,
                    field: Some("number"),
                },
                invalid(
                    "negative line",
                    with(
                        valid,
                        "lines",
                        json!([{"description": "x", "amount": "-30.00"}]),
                    ),
                    "lines[0].amount",
                ),
                invalid(
                    "total that is not the sum",
                    with(valid, "total", json!("31.00")),
                    "total",
                ),
                invalid(
                    "currency eur",
                    with(valid, "currency", json!("eur")),
                    "currency",
                ),
                invalid(
                    "unknown customer",
                    with(valid, "customer_id", json!(CustomerId::generate())),
                    "customer_id",
                ),
                invalid(
                    "due before issued",
                    with(valid, "due_at", json!("2026-09-01T00:00:00Z")),
                    "due_at",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/credit_notes",
        target: None,
        valid: Some(|f| {
            json!({"invoice_id": f.invoice, "amount": "5.00", "currency": "EUR",
                   "issued_at": "2026-10-20T00:00:00Z", "reason": "goodwill"})
        }),
        flaws: |valid| {
            vec![
                invalid("zero amount", with(valid, "amount", json!("0")), "amount"),
                invalid(
                    "more than the invoice",
                    with(valid, "amount", json!("31.00")),
                    "amount",
                ),
                invalid(
                    "another currency",
                    with(valid, "currency", json!("USD")),
                    "currency",
                ),
                invalid(
                    "unknown invoice",
                    with(
                        valid,
                        "invoice_id",
                        json!(tollgate_core::InvoiceId::generate()),
                    ),
                    "invoice_id",
                ),
                invalid("empty reason", with(valid, "reason", json!(" ")), "reason"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/invoices/{id}/void",
        target: Some(Target::Invoice),
        valid: Some(status_change),
        flaws: status_change_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/payments",
        target: None,
        valid: Some(|f| {
            json!({"customer_id": f.customer, "amount": "5.00", "currency": "EUR",
                   "method": "bank_transfer", "status": "succeeded",
                   "received_at": "2026-10-21T00:00:00Z"})
        }),
        flaws: |valid| {
            vec![
                invalid(
                    "negative amount",
                    with(valid, "amount", json!("-5.00")),
                    "amount",
                ),
                invalid(
                    "unknown customer",
                    with(valid, "customer_id", json!(CustomerId::generate())),
                    "customer_id",
                ),
                invalid(
                    "unknown method",
                    with(valid, "method", json!("cash")),
                    "method",
                ),
                invalid(
                    "failure code on a success",
                    with(valid, "failure_code", json!("do_not_honor")),
                    "failure_code",
                ),
                invalid(
                    "blank processor id",
                    with(valid, "external_ref", json!("  ")),
                    "external_ref",
                ),
                invalid(
                    "processor id longer than 200 characters",
                    with(valid, "external_ref", json!("x".repeat(201))),
                    "external_ref",
                ),
                invalid(
                    "allocation to an unknown invoice",
                    with(
                        valid,
                        "allocations",
                        json!([{"invoice_id": tollgate_core::InvoiceId::generate(), "amount": "5.00"}]),
                    ),
                    "allocations[0].invoice_id",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/chargebacks",
        target: None,
        valid: Some(|f| {
            json!({"payment_id": f.payment, "amount": "1.00", "currency": "EUR",
                   "reason": "fraudulent", "status": "opened",
                   "updated_at": "2026-10-22T00:00:00Z"})
        }),
        flaws: |valid| {
            vec![
                invalid(
                    "more than the payment",
                    with(valid, "amount", json!("11.00")),
                    "amount",
                ),
                invalid(
                    "negative amount",
                    with(valid, "amount", json!("-1.00")),
                    "amount",
                ),
                invalid(
                    "another currency",
                    with(valid, "currency", json!("USD")),
                    "currency",
                ),
                invalid(
                    "unknown status",
                    with(valid, "status", json!("maybe")),
                    "status",
                ),
                invalid(
                    "unknown payment",
                    with(
                        valid,
                        "payment_id",
                        json!(tollgate_core::PaymentId::generate()),
                    ),
                    "payment_id",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/alerts/{id}/acknowledge",
        target: Some(Target::Alert),
        valid: None,
        flaws: no_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/alerts/{id}/resolve",
        target: Some(Target::Alert),
        valid: None,
        flaws: no_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/verifications/{id}/complete",
        target: Some(Target::Verification),
        valid: Some(|_| json!({"outcome": "passed", "note": "called the listed number"})),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown outcome",
                    with(valid, "outcome", json!("maybe")),
                    "outcome",
                ),
                invalid("outcome missing", without(valid, "outcome"), "outcome"),
                invalid(
                    "note of the wrong type",
                    with(valid, "note", json!(["x"])),
                    "note",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/customers/{id}/prepaid/top_ups",
        target: Some(Target::Customer),
        valid: Some(|_| json!({"amount": "50.00", "currency": "EUR", "reference": "deposit"})),
        flaws: prepaid_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/customers/{id}/prepaid/draws",
        target: Some(Target::Customer),
        valid: Some(|_| json!({"amount": "10.00", "currency": "EUR", "reference": "INV-9"})),
        flaws: |valid| {
            let mut flaws = prepaid_flaws(valid);
            flaws.push(invalid(
                "more than the balance of a customer who prepays",
                with(valid, "amount", json!("5000.00")),
                "amount",
            ));
            flaws.push(invalid(
                "a currency the customer holds no balance in",
                with(valid, "currency", json!("USD")),
                "amount",
            ));
            flaws
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/payments/{id}/refunds",
        target: Some(Target::Payment),
        valid: Some(|_| json!({"amount": "2.00", "currency": "EUR", "reason": "goodwill"})),
        flaws: |valid| {
            vec![
                invalid(
                    "negative amount",
                    with(valid, "amount", json!("-2.00")),
                    "amount",
                ),
                invalid("zero amount", with(valid, "amount", json!("0")), "amount"),
                invalid(
                    "more than the payment",
                    with(valid, "amount", json!("10.01")),
                    "amount",
                ),
                invalid(
                    "another currency than the payment's",
                    with(valid, "currency", json!("USD")),
                    "currency",
                ),
                invalid(
                    "currency not ISO 4217",
                    with(valid, "currency", json!("EURO")),
                    "currency",
                ),
                invalid("empty reason", with(valid, "reason", json!(" ")), "reason"),
                invalid("missing amount", without(valid, "amount"), "amount"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/customers/{id}/dunning/pause",
        target: Some(Target::Customer),
        valid: Some(
            |_| json!({"reason": "promise_to_pay", "until": "2026-12-01", "note": "pays on the 1st"}),
        ),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown reason",
                    with(valid, "reason", json!("holiday")),
                    "reason",
                ),
                invalid(
                    "until in the past",
                    with(valid, "until", json!("2026-10-01")),
                    "until",
                ),
                invalid(
                    "until today",
                    with(valid, "until", json!("2026-11-02")),
                    "until",
                ),
                invalid(
                    "until more than a year ahead",
                    with(valid, "until", json!("2028-01-01")),
                    "until",
                ),
                invalid(
                    "until not a date",
                    with(valid, "until", json!("next week")),
                    "until",
                ),
                invalid("missing until", without(valid, "until"), "until"),
                invalid("empty note", with(valid, "note", json!(" ")), "note"),
                invalid(
                    "currency not ISO 4217",
                    with(valid, "currency", json!("EURO")),
                    "currency",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/customers/{id}/dunning/resume",
        target: Some(Target::Customer),
        valid: Some(|_| json!({"note": "promise withdrawn"})),
        flaws: |valid| {
            vec![
                invalid("empty note", with(valid, "note", json!("")), "note"),
                invalid(
                    "currency not ISO 4217",
                    with(valid, "currency", json!("eur1")),
                    "currency",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/actions/{id}/retry",
        target: Some(Target::Action),
        valid: None,
        flaws: no_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/webhooks",
        target: None,
        valid: Some(|_| {
            json!({"url": "https://hooks.example.com/tollgate",
                   "event_types": ["decision.created", "dunning.step"]})
        }),
        flaws: webhook_flaws,
    },
    // The endpoint's own routes in this order: removal comes last among the valid requests.
    Route {
        method: Method::PATCH,
        path: "/v1/webhooks/{id}",
        target: Some(Target::Webhook),
        valid: Some(|_| json!({"event_types": ["*"], "status": "disabled"})),
        flaws: |valid| {
            let mut flaws = webhook_flaws(valid);
            flaws.push(invalid(
                "unknown status",
                with(valid, "status", json!("paused")),
                "status",
            ));
            flaws
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/webhooks/{id}/rotate_secret",
        target: Some(Target::Webhook),
        valid: None,
        flaws: no_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/webhooks/{id}/test",
        target: Some(Target::Webhook),
        valid: None,
        flaws: no_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/webhooks/{id}/remove",
        target: Some(Target::Webhook),
        valid: None,
        flaws: no_flaws,
    },
    Route {
        method: Method::POST,
        path: "/v1/notices",
        target: None,
        valid: Some(|f| {
            json!({"kind": "abuse", "severity": "low", "customer_id": f.customer,
                   "subscription_id": f.subscription, "summary": "spam from 20.1.2.3",
                   "resources": [{"ip": "20.1.2.3"}], "details": {"reporter": "abuse desk"}})
        }),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown kind",
                    with(valid, "kind", json!("bitcoin")),
                    "kind",
                ),
                invalid(
                    "unknown severity",
                    with(valid, "severity", json!("dire")),
                    "severity",
                ),
                invalid(
                    "unknown confidence",
                    with(valid, "confidence", json!("certain")),
                    "confidence",
                ),
                invalid(
                    "customer that does not exist",
                    without(
                        &with(
                            valid,
                            "customer_id",
                            json!(CustomerId::generate().to_string()),
                        ),
                        "subscription_id",
                    ),
                    "customer_id",
                ),
                invalid(
                    "subscription that does not exist",
                    with(
                        valid,
                        "subscription_id",
                        json!(SubscriptionId::generate().to_string()),
                    ),
                    "subscription_id",
                ),
                invalid(
                    "neither customer nor subscription",
                    without(&without(valid, "customer_id"), "subscription_id"),
                    "customer_id",
                ),
                invalid(
                    "empty summary",
                    with(valid, "summary", json!(" ")),
                    "summary",
                ),
                invalid(
                    "resources not a list",
                    with(valid, "resources", json!({})),
                    "resources",
                ),
                invalid(
                    "details not an object",
                    with(valid, "details", json!([])),
                    "details",
                ),
                invalid(
                    "last seen before first seen",
                    with(
                        &with(valid, "first_seen_at", json!("2026-11-02T08:00:00Z")),
                        "last_seen_at",
                        json!("2026-11-01T08:00:00Z"),
                    ),
                    "last_seen_at",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/cases/{id}/assign",
        target: Some(Target::Case),
        valid: Some(|_| json!({"assignee": "jane@reseller.example"})),
        flaws: |valid| {
            vec![
                invalid(
                    "empty assignee",
                    with(valid, "assignee", json!("")),
                    "assignee",
                ),
                invalid(
                    "assignee as a number",
                    with(valid, "assignee", json!(7)),
                    "assignee",
                ),
                invalid("missing assignee", without(valid, "assignee"), "assignee"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/cases/{id}/comment",
        target: Some(Target::Case),
        valid: Some(|_| json!({"body": "called the customer"})),
        flaws: |valid| {
            vec![
                invalid("empty comment", with(valid, "body", json!(" ")), "body"),
                invalid(
                    "comment too long",
                    with(valid, "body", json!("x".repeat(10_001))),
                    "body",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/cases/{id}/act",
        target: Some(Target::Case),
        valid: Some(|f| {
            json!({"action": "cancel_azure_entitlement", "subscription_id": f.subscription,
                   "entitlement_id": "azure-sub-under-plan", "reason": "abuse confirmed"})
        }),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown action",
                    with(valid, "action", json!("delete")),
                    "action",
                ),
                invalid(
                    "subscription id that is no id",
                    with(valid, "subscription_id", json!("nope")),
                    "subscription_id",
                ),
                invalid(
                    "subscription that does not exist",
                    with(
                        valid,
                        "subscription_id",
                        json!(SubscriptionId::generate().to_string()),
                    ),
                    "subscription_id",
                ),
                invalid(
                    "entitlement action without entitlement",
                    without(valid, "entitlement_id"),
                    "entitlement_id",
                ),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/cases/{id}/resolve",
        target: Some(Target::Case),
        valid: Some(|_| json!({"outcome": "false_positive", "note": "a test by the customer"})),
        flaws: |valid| {
            vec![
                invalid(
                    "unknown outcome",
                    with(valid, "outcome", json!("won")),
                    "outcome",
                ),
                invalid("missing outcome", without(valid, "outcome"), "outcome"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/playbooks",
        target: None,
        valid: Some(|_| json!({"playbook": playbook("bad-input-valid")})),
        flaws: |valid| {
            let changed = |change: fn(&mut Value)| {
                let mut body = valid.clone();
                change(&mut body["playbook"]);
                body
            };
            vec![
                invalid(
                    "unknown kind in a rule",
                    changed(|p| p["rules"][0]["kinds"][0] = json!("bitcoin")),
                    "playbook.rules[0].kinds[0]",
                ),
                invalid(
                    "suspension without a case",
                    changed(|p| p["rules"][0]["actions"] = json!(["suspend_subscription"])),
                    "playbook.rules[0].actions",
                ),
                invalid(
                    "unknown action",
                    changed(|p| p["rules"][0]["actions"] = json!(["delete_customer"])),
                    "playbook",
                ),
                invalid(
                    "zero response hours",
                    changed(|p| p["response_hours"]["high"] = json!(0)),
                    "playbook.response_hours.high",
                ),
                invalid(
                    "empty label",
                    changed(|p| p["version"] = json!(" ")),
                    "playbook.version",
                ),
                invalid(
                    "unknown status",
                    with(valid, "status", json!("shadow")),
                    "status",
                ),
                invalid("missing playbook", without(valid, "playbook"), "playbook"),
            ]
        },
    },
    Route {
        method: Method::POST,
        path: "/v1/playbooks/{version}/status",
        target: Some(Target::Playbook),
        valid: Some(|_| json!({"status": "active"})),
        flaws: |valid| {
            vec![invalid(
                "unknown status",
                with(valid, "status", json!("shadow")),
                "status",
            )]
        },
    },
];

fn webhook_flaws(valid: &Value) -> Vec<Flaw> {
    vec![
        invalid(
            "plain http to another host",
            with(valid, "url", json!("http://hooks.example.com/")),
            "url",
        ),
        invalid(
            "credentials in the URL",
            with(valid, "url", json!("https://user:pw@hooks.example.com/")),
            "url",
        ),
        invalid("not a URL", with(valid, "url", json!("hooks")), "url"),
        invalid("URL of the wrong type", with(valid, "url", json!(5)), "url"),
        invalid(
            "unknown event type",
            with(
                valid,
                "event_types",
                json!(["decision.created", "invoice.paid"]),
            ),
            "event_types",
        ),
        invalid(
            "no event types",
            with(valid, "event_types", json!([])),
            "event_types",
        ),
        invalid(
            "event types as a string",
            with(valid, "event_types", json!("*")),
            "event_types",
        ),
        invalid(
            "description too long",
            with(valid, "description", json!("x".repeat(501))),
            "description",
        ),
    ]
}

/// Flaws every route with a body shares.
fn invoice_body(customer: &str, number: &str) -> Value {
    json!({"number": number, "customer_id": customer, "issued_at": "2026-10-01T00:00:00Z",
           "due_at": "2026-10-15T00:00:00Z", "currency": "EUR",
           "lines": [{"description": "Azure plan", "amount": "30.00"}], "total": "30.00"})
}

fn common_flaws(valid: &Value) -> Vec<Flaw> {
    let json = Some("application/json");
    let valid_text = valid.to_string();
    let padding = json!("x".repeat(BATCH_BODY_LIMIT));
    let padded = match valid {
        Value::Array(items) => Value::Array(items.iter().cloned().chain([padding]).collect()),
        _ => {
            let mut padded = valid.clone();
            padded["padding"] = padding;
            padded
        }
    };
    let raw = |what, content_type, bytes: &[u8], status| Flaw {
        what,
        body: Body::Raw(content_type, bytes.to_vec()),
        status,
        field: None,
    };
    let mut flaws = vec![
        raw("malformed JSON", json, b"{]", StatusCode::BAD_REQUEST),
        raw("truncated JSON", json, b"{", StatusCode::BAD_REQUEST),
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
    ];
    // A batch route takes an array; its own flaws cover the shape of its elements.
    if valid.is_object() {
        flaws.extend([
            invalid("a list instead of an object", json!([]), "body"),
            invalid("null instead of an object", Value::Null, "body"),
            invalid(
                "unknown field",
                with(valid, "nickname", json!("x")),
                "nickname",
            ),
        ]);
    }
    flaws
}

/// Ids in the path that name nothing: all answered as not found.
fn bad_ids(target: Target) -> Vec<String> {
    let wrong_kind = match target {
        Target::Customer => SubscriptionId::generate().to_string(),
        _ => CustomerId::generate().to_string(),
    };
    let missing = match target {
        Target::Customer => CustomerId::generate().to_string(),
        Target::Subscription => SubscriptionId::generate().to_string(),
        Target::Key => tollgate_core::KeyId::generate().to_string(),
        Target::ListItem => tollgate_core::ListItemId::generate().to_string(),
        Target::Policy => "999999".to_owned(),
        Target::Verification => tollgate_core::VerificationId::generate().to_string(),
        Target::Alert => tollgate_core::AlertId::generate().to_string(),
        Target::Invoice => tollgate_core::InvoiceId::generate().to_string(),
        Target::Action => tollgate_core::ActionId::generate().to_string(),
        Target::Webhook => tollgate_core::WebhookId::generate().to_string(),
        Target::Payment => tollgate_core::PaymentId::generate().to_string(),
        Target::Case => tollgate_core::CaseId::generate().to_string(),
        Target::Playbook => "999999".to_owned(),
        Target::PaymentMethod | Target::BankAccount => {
            tollgate_core::PaymentMethodId::generate().to_string()
        }
        Target::Order => tollgate_core::OrderId::generate().to_string(),
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
    let admin = app.a.key(Role::Admin);
    let created = |path: String, body: Value| async move {
        let (status, body) = app.post(&path, admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
        body
    };
    let customer = app.customer(&app.a, "bad-input").await;
    let subscription = app.subscription(&app.a, &customer, "bad-input").await;
    let key = created("/v1/keys".into(), json!({"role": "viewer"})).await;
    let card = created(
        format!("/v1/customers/{customer}/payment_methods"),
        json!({"bin": "411111", "last4": "4242", "fingerprint": "fp-fixture",
               "exp_month": 12, "exp_year": 2029, "country": "DE",
                   "cvc_check": "pass", "avs_check": "pass", "three_ds": "authenticated"}),
    )
    .await;
    let bank_account = created(
        format!("/v1/customers/{customer}/payment_methods"),
        json!({"type": "bank_account", "scheme": "sepa_core", "country": "DE", "last4": "3000",
               "fingerprint": "ba-fixture", "verification": "pending"}),
    )
    .await;
    let order = created(
        "/v1/orders".into(),
        json!({"customer_id": customer, "payment_method_id": card["id"],
               "items": [{"sku": "M365-BP", "product_kind": "m365", "quantity": 1,
                          "unit_price": {"amount": "12.50", "currency": "EUR"}}]}),
    )
    .await;
    let item = created(
        "/v1/lists/items".into(),
        json!({"kind": "domain", "action": "block", "value": "bad-input.example"}),
    )
    .await;
    let published = created(
        "/v1/rules".into(),
        json!({"policy": policy("bad-input-fixture")}),
    )
    .await;
    let verification = created(
        format!("/v1/customers/{customer}/verifications"),
        json!({"kind": "phone_call"}),
    )
    .await;
    created(
        "/v1/budgets".into(),
        json!({"scope": {"kind": "customer", "customer_id": customer},
               "amount": {"amount": "10.00", "currency": "EUR"}, "period": {"kind": "monthly"},
               "thresholds": [{"percent": 100, "basis": "actual", "action": "notify"}]}),
    )
    .await;
    let (status, ingested) = app
        .post(
            "/v1/usage",
            admin,
            usage_body(&subscription, "fixture", "20.00"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ingested}");
    let invoice = created(
        "/v1/invoices".into(),
        invoice_body(&customer, "BAD-FIXTURE-1"),
    )
    .await;
    let payment = created(
        "/v1/payments".into(),
        json!({"customer_id": customer, "amount": "10.00", "currency": "EUR",
               "method": "card", "status": "succeeded", "received_at": "2026-10-20T00:00:00Z"}),
    )
    .await;
    let action = crate::outbox::enqueue_email(app, app.a.id, &customer).await;
    let webhook = created(
        "/v1/webhooks".into(),
        json!({"url": "https://hooks.example.com/bad-input", "event_types": ["*"]}),
    )
    .await;
    let notice = created(
        "/v1/notices".into(),
        json!({"kind": "abuse", "severity": "low", "customer_id": customer,
               "summary": "bad-input fixture"}),
    )
    .await;
    let published_playbook = created(
        "/v1/playbooks".into(),
        json!({"playbook": playbook("bad-input-fixture")}),
    )
    .await;
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    Fixture {
        case: text(&notice["case"]["id"]),
        playbook: published_playbook["version"].to_string(),
        webhook: text(&webhook["id"]),
        action: action.to_string(),
        invoice: text(&invoice["id"]),
        payment: text(&payment["id"]),
        alert: text(&ingested["alerts"][0]["id"]),
        verification: text(&verification["id"]),
        customer,
        subscription,
        key: text(&key["id"]),
        order: text(&order["id"]),
        bank_account: text(&bank_account["id"]),
        payment_method: text(&card["id"]),
        list_item: text(&item["id"]),
        policy: published["version"].to_string(),
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
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
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
            Some(target) => at(route.path, fixture.id(target)),
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
                let bad = at(route.path, &id);
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
    // The same requests without their flaw are accepted, so each refusal was about the flaw.
    // A 409 is about the object's state (a code for a phone-call step), not the input.
    for (what, request) in valid_requests {
        let response = request.send().await.unwrap();
        let status = response.status();
        assert!(
            status.is_success() || status == StatusCode::CONFLICT,
            "{what}: {status}"
        );
    }
}

/// `ROUTES` holds every POST and PATCH route `/openapi.json` documents.
async fn the_table_covers_every_write_route(app: &TestApp) {
    let writes: std::collections::BTreeSet<String> = documented_routes(app)
        .await
        .into_iter()
        .filter(|route| route.starts_with("POST ") || route.starts_with("PATCH "))
        // Partner Center's webhook takes the vendor's signed body, not a key's JSON: its
        // refusals (forged, malformed) are in tests/it/cases.rs.
        .filter(|route| !route.contains("/connectors/"))
        .collect();
    let covered = ROUTES
        .iter()
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    assert_eq!(
        writes, covered,
        "every write route needs its bad-input cases in ROUTES"
    );
}

on_both_engines!(
    every_write_route_refuses_bad_input_with_a_problem,
    the_table_covers_every_write_route,
);
