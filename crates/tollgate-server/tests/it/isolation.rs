//! Tenant isolation: tenant B's keys try every `/v1` route on tenant A's objects. Each answer
//! must be what B would get for an object that does not exist (404, or an empty page), never a
//! 403 that would confirm the object is there, and A's objects must be untouched afterwards.
//!
//! [`ROUTES`] is the list of every `/v1` route; a test compares it with `/openapi.json`, so a new
//! route cannot be added without saying here how another tenant probes it.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_core::{
    ActionId, AlertId, BudgetId, CaseId, CustomerId, DecisionId, InvoiceId, KeyId, ListItemId,
    NoticeId, OrderId, PaymentId, PaymentMethodId, SubscriptionId, VerificationId, WebhookId,
    tenancy::{Permission, Role},
};

use crate::{
    harness::{TestApp, playbook, policy, send},
    on_both_engines,
};

/// How tenant B probes one route with tenant A's objects.
enum Probe {
    /// `{id}` is A's object of this kind; the body (if any) is otherwise valid.
    Object(Kind, Option<&'static str>),
    /// Every query names only A's objects: B sees an empty page.
    Filters(&'static [&'static str]),
    /// The body refers to A's object in a field: refused as unknown (404, or 422 naming it).
    Reference(&'static str, &'static str),
    /// The route works on the caller's own tenant; B's answer must not mention A.
    Own(Option<&'static str>),
}

#[derive(Clone, Copy)]
enum Kind {
    Customer,
    Subscription,
    Key,
    Decision,
    ListItem,
    /// A policy version: a number per tenant, so B's own version 1 is not A's.
    Policy,
    Verification,
    Budget,
    Alert,
    Invoice,
    Payment,
    /// An outbox action (an e-mail about A's customer).
    Action,
    /// A webhook endpoint.
    Webhook,
    Notice,
    Case,
    /// A playbook version: a number per tenant, like a policy version.
    Playbook,
    PaymentMethod,
    Order,
}

struct Route {
    method: Method,
    /// The path as the OpenAPI document writes it.
    template: &'static str,
    /// What the handler requires; a role without it gets 403 whatever the object.
    permission: Permission,
    probe: Probe,
}

const STATUS_CHANGE: Option<&str> = Some(r#"{"reason": "probe"}"#);

const REVIEW: Option<&str> = Some(r#"{"outcome": "decline", "note": "probe"}"#);

const PREPAID: Option<&str> = Some(r#"{"amount": "1.00", "currency": "EUR"}"#);

const CARD: Option<&str> = Some(
    r#"{"bin": "411111", "last4": "4242", "fingerprint": "b-card-{n}", "exp_month": 12,
        "exp_year": 2029, "country": "DE", "cvc_check": "pass", "avs_check": "pass",
        "three_ds": "authenticated"}"#,
);

/// Every `/v1` route. Placeholders in paths, queries and bodies: `{customer}`, `{customer_ext}`,
/// `{subscription}`, `{vendor_sub}`, `{key}`, `{tenant}`, `{payment_method}`, `{list_value}`,
/// `{invoice}`, `{payment}` are A's; `{policy}` is a valid policy document labelled `b-{n}`; `{n}` is unique per request.
const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        template: "/v1/customers",
        permission: Permission::Read,
        probe: Probe::Filters(&["external_id={customer_ext}"]),
    },
    Route {
        method: Method::POST,
        template: "/v1/customers",
        permission: Permission::WriteFacts,
        probe: Probe::Own(Some(
            r#"{"external_id": "b-{n}", "legal_name": "Fabrikam", "country": "FR"}"#,
        )),
    },
    Route {
        method: Method::GET,
        template: "/v1/customers/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Customer, None),
    },
    Route {
        method: Method::PATCH,
        template: "/v1/customers/{id}",
        permission: Permission::Operate,
        probe: Probe::Object(
            Kind::Customer,
            Some(r#"{"legal_name": "Taken Over", "status": "closed"}"#),
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/subscriptions",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "customer_id={customer}",
            "vendor_subscription_id={vendor_sub}",
            "customer_id={customer}&status=active",
        ]),
    },
    Route {
        method: Method::POST,
        template: "/v1/subscriptions",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"{"customer_id": "{customer}", "vendor_subscription_id": "b-{n}",
                "product_kind": "gpu_capacity", "quantity": 8}"#,
            "customer_id",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/subscriptions/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Subscription, None),
    },
    Route {
        method: Method::PATCH,
        template: "/v1/subscriptions/{id}",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::Subscription, Some(r#"{"quantity": 500}"#)),
    },
    Route {
        method: Method::POST,
        template: "/v1/subscriptions/{id}/suspend",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Subscription, STATUS_CHANGE),
    },
    Route {
        method: Method::POST,
        template: "/v1/subscriptions/{id}/reactivate",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Subscription, STATUS_CHANGE),
    },
    Route {
        method: Method::POST,
        template: "/v1/subscriptions/{id}/terminate",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Subscription, STATUS_CHANGE),
    },
    Route {
        method: Method::GET,
        template: "/v1/keys",
        permission: Permission::Administer,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::POST,
        template: "/v1/keys",
        permission: Permission::Administer,
        probe: Probe::Own(Some(r#"{"role": "viewer", "label": "b-{n}"}"#)),
    },
    Route {
        method: Method::POST,
        template: "/v1/keys/{id}/revoke",
        permission: Permission::Administer,
        probe: Probe::Object(Kind::Key, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/signups",
        permission: Permission::WriteFacts,
        probe: Probe::Own(Some(
            r#"{"external_id": "b-signup-{n}",
                "company": {"name": "Fabrikam {n} SARL", "domain": "fabrikam{n}.fr", "country": "FR"},
                "contact": {"name": "Jeanne Martin", "email": "jeanne@fabrikam{n}.fr", "phone": "+33142{n}1234"},
                "billing_address": {"line1": "1 rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"},
                "ip": "2001:db8::{n}", "device_id": "b-device-{n}",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0",
                "session": {"form_started_at": "2026-11-02T08:58:00Z", "submitted_at": "2026-11-02T09:00:00Z",
                            "key_events": 240, "pointer_events": 60}}"#,
        )),
    },
    Route {
        method: Method::POST,
        template: "/v1/customers/{id}/payment_methods",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::Customer, CARD),
    },
    Route {
        method: Method::POST,
        template: "/v1/orders",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"{"customer_id": "{customer}", "payment_method_id": "{payment_method}",
                "items": [{"sku": "M365-BP", "product_kind": "m365", "quantity": 1,
                           "unit_price": {"amount": "12.50", "currency": "EUR"}}]}"#,
            "customer_id",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/payment_methods",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "customer_id={customer}",
            "customer_id={customer}&status=active",
        ]),
    },
    Route {
        method: Method::GET,
        template: "/v1/payment_methods/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::PaymentMethod, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/payment_methods/{id}/review",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::PaymentMethod, REVIEW),
    },
    Route {
        method: Method::POST,
        template: "/v1/payment_methods/{id}/verification",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::PaymentMethod, Some(r#"{"verification": "failed"}"#)),
    },
    Route {
        method: Method::GET,
        template: "/v1/orders",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "customer_id={customer}",
            "customer_id={customer}&status=held",
        ]),
    },
    Route {
        method: Method::GET,
        template: "/v1/orders/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Order, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/orders/{id}/review",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Order, REVIEW),
    },
    Route {
        method: Method::GET,
        template: "/v1/decisions",
        permission: Permission::Read,
        probe: Probe::Filters(&["customer_id={customer}"]),
    },
    Route {
        method: Method::GET,
        template: "/v1/decisions/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Decision, None),
    },
    Route {
        method: Method::GET,
        template: "/v1/rules",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::POST,
        template: "/v1/rules",
        permission: Permission::Operate,
        probe: Probe::Own(Some(r#"{"policy": {policy}}"#)),
    },
    Route {
        method: Method::GET,
        template: "/v1/rules/{version}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Policy, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/rules/{version}/status",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Policy, Some(r#"{"status": "active"}"#)),
    },
    Route {
        method: Method::POST,
        template: "/v1/rules/backtest",
        permission: Permission::Operate,
        probe: Probe::Own(Some(
            r#"{"policy": {policy}, "from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}"#,
        )),
    },
    Route {
        method: Method::GET,
        template: "/v1/lists/items",
        permission: Permission::Read,
        probe: Probe::Filters(&["value={list_value}", "kind=email&value={list_value}"]),
    },
    Route {
        method: Method::POST,
        template: "/v1/lists/items",
        permission: Permission::Operate,
        probe: Probe::Own(Some(
            r#"{"kind": "email", "action": "block", "value": "b-{n}@fabrikam.example"}"#,
        )),
    },
    Route {
        method: Method::POST,
        template: "/v1/lists/items/batch",
        permission: Permission::Operate,
        probe: Probe::Own(Some(
            r#"[{"kind": "email", "action": "block", "value": "b-{n}@fabrikam.example"}]"#,
        )),
    },
    Route {
        method: Method::POST,
        template: "/v1/lists/items/{id}/remove",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::ListItem, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/customers/{id}/verifications",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::Customer, Some(r#"{"kind": "phone_call"}"#)),
    },
    Route {
        method: Method::GET,
        template: "/v1/verifications/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Verification, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/verifications/{id}/confirm",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::Verification, Some(r#"{"code": "123456"}"#)),
    },
    Route {
        method: Method::POST,
        template: "/v1/verifications/{id}/complete",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Verification, Some(r#"{"outcome": "passed"}"#)),
    },
    Route {
        method: Method::GET,
        template: "/v1/audit",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "object_id={customer}",
            "object_id={subscription}",
            "object_id={key}",
            "object_id={tenant}",
            "object_id={customer}&action=customer.created",
        ]),
    },
    Route {
        method: Method::GET,
        template: "/v1/tenant",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::POST,
        template: "/v1/usage",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"[{"subscription": "{subscription}", "record_id": "b-{n}",
                 "meter": "Virtual Machines/D2s v5", "resource_id": "vm", "region": "westeurope",
                 "quantity": "1", "unit": "1 Hour", "cost": "1.00", "currency": "EUR",
                 "usage_start": "2026-11-02T07:00:00Z", "usage_end": "2026-11-02T08:00:00Z"}]"#,
            "[0].subscription",
        ),
    },
    Route {
        method: Method::POST,
        template: "/v1/activity",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"[{"operationName": {"value": "Microsoft.Network/azureFirewalls/delete"},
                 "status": {"value": "Succeeded"}, "eventTimestamp": "2026-11-02T07:00:00Z",
                 "eventDataId": "b-{n}", "subscriptionId": "{vendor_sub}"}]"#,
            "[0].subscriptionId",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/activity/rules",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::POST,
        template: "/v1/budgets",
        permission: Permission::Operate,
        probe: Probe::Reference(
            r#"{"scope": {"kind": "customer", "customer_id": "{customer}"},
                "amount": {"amount": "10.00", "currency": "EUR"}, "period": {"kind": "monthly"},
                "thresholds": [{"percent": 50, "basis": "actual", "action": "suspend"}]}"#,
            "scope.customer_id",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/budgets",
        permission: Permission::Read,
        probe: Probe::Filters(&["customer_id={customer}"]),
    },
    Route {
        method: Method::GET,
        template: "/v1/budgets/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Budget, None),
    },
    Route {
        method: Method::GET,
        template: "/v1/alerts",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "customer_id={customer}",
            "customer_id={customer}&status=open",
        ]),
    },
    Route {
        method: Method::GET,
        template: "/v1/alerts/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Alert, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/alerts/{id}/acknowledge",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Alert, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/alerts/{id}/resolve",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Alert, None),
    },
    Route {
        method: Method::GET,
        template: "/v1/invoices",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "customer_id={customer}",
            "customer_id={customer}&status=open",
        ]),
    },
    Route {
        method: Method::POST,
        template: "/v1/invoices",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"{"number": "b-{n}", "customer_id": "{customer}", "issued_at": "2026-10-01T00:00:00Z",
                "due_at": "2026-10-15T00:00:00Z", "currency": "EUR",
                "lines": [{"description": "probe", "amount": "1.00"}], "total": "1.00"}"#,
            "customer_id",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/invoices/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Invoice, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/invoices/{id}/void",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::Invoice, STATUS_CHANGE),
    },
    Route {
        method: Method::POST,
        template: "/v1/credit_notes",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"{"invoice_id": "{invoice}", "amount": "1.00", "currency": "EUR",
                "issued_at": "2026-10-20T00:00:00Z", "reason": "probe"}"#,
            "invoice_id",
        ),
    },
    Route {
        method: Method::POST,
        template: "/v1/payments",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"{"customer_id": "{customer}", "amount": "1.00", "currency": "EUR",
                "method": "card", "status": "succeeded", "received_at": "2026-10-20T00:00:00Z"}"#,
            "customer_id",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/payments/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Payment, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/chargebacks",
        permission: Permission::WriteFacts,
        probe: Probe::Reference(
            r#"{"payment_id": "{payment}", "amount": "1.00", "currency": "EUR",
                "reason": "probe", "status": "opened", "updated_at": "2026-10-21T00:00:00Z"}"#,
            "payment_id",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/customers/{id}/account",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Customer, None),
    },
    Route {
        method: Method::GET,
        template: "/v1/receivables/aging",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::GET,
        template: "/v1/customers/{id}/prepaid",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Customer, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/customers/{id}/prepaid/top_ups",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::Customer, PREPAID),
    },
    Route {
        method: Method::POST,
        template: "/v1/customers/{id}/prepaid/draws",
        permission: Permission::WriteFacts,
        probe: Probe::Object(Kind::Customer, PREPAID),
    },
    Route {
        method: Method::POST,
        template: "/v1/payments/{id}/refunds",
        permission: Permission::WriteFacts,
        probe: Probe::Object(
            Kind::Payment,
            Some(r#"{"amount": "1.00", "currency": "EUR"}"#),
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/actions",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "object_id={customer}",
            "kind=email&object_id={customer}",
            "status=pending&object_id={customer}",
        ]),
    },
    Route {
        method: Method::GET,
        template: "/v1/actions/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Action, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/actions/{id}/retry",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Action, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/webhooks",
        permission: Permission::Administer,
        probe: Probe::Own(Some(
            r#"{"url": "https://hooks.b.example/{n}", "event_types": ["*"]}"#,
        )),
    },
    Route {
        method: Method::GET,
        template: "/v1/webhooks",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::GET,
        template: "/v1/webhooks/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Webhook, None),
    },
    Route {
        method: Method::PATCH,
        template: "/v1/webhooks/{id}",
        permission: Permission::Administer,
        probe: Probe::Object(
            Kind::Webhook,
            Some(r#"{"url": "https://hooks.b.example/{n}", "status": "disabled"}"#),
        ),
    },
    Route {
        method: Method::POST,
        template: "/v1/webhooks/{id}/remove",
        permission: Permission::Administer,
        probe: Probe::Object(Kind::Webhook, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/webhooks/{id}/rotate_secret",
        permission: Permission::Administer,
        probe: Probe::Object(Kind::Webhook, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/webhooks/{id}/test",
        permission: Permission::Administer,
        probe: Probe::Object(Kind::Webhook, None),
    },
    Route {
        method: Method::GET,
        template: "/v1/webhooks/{id}/deliveries",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Webhook, None),
    },
    Route {
        method: Method::PUT,
        template: "/v1/dunning/policy",
        permission: Permission::Operate,
        probe: Probe::Own(Some(
            r#"{"notice_lead_days": 2, "steps": [{"after": {"days_past_due": 3}, "action": "remind"}]}"#,
        )),
    },
    Route {
        method: Method::GET,
        template: "/v1/dunning/policy",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::GET,
        template: "/v1/dunning/policy/versions",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::GET,
        template: "/v1/dunning/episodes",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "customer_id={customer}",
            "customer_id={customer}&status=open",
        ]),
    },
    Route {
        method: Method::GET,
        template: "/v1/customers/{id}/dunning",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Customer, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/customers/{id}/dunning/pause",
        permission: Permission::Operate,
        probe: Probe::Object(
            Kind::Customer,
            Some(r#"{"reason": "dispute", "until": "2026-12-01"}"#),
        ),
    },
    Route {
        method: Method::POST,
        template: "/v1/customers/{id}/dunning/resume",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Customer, Some("{}")),
    },
    Route {
        method: Method::POST,
        template: "/v1/notices",
        permission: Permission::Operate,
        probe: Probe::Reference(
            r#"{"kind": "abuse", "severity": "low", "customer_id": "{customer}", "summary": "probe"}"#,
            "customer_id",
        ),
    },
    Route {
        method: Method::GET,
        template: "/v1/notices",
        permission: Permission::Read,
        probe: Probe::Filters(&["customer_id={customer}", "case_id={case}"]),
    },
    Route {
        method: Method::GET,
        template: "/v1/notices/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Notice, None),
    },
    Route {
        method: Method::GET,
        template: "/v1/cases",
        permission: Permission::Read,
        probe: Probe::Filters(&[
            "customer_id={customer}",
            "state=open&customer_id={customer}",
        ]),
    },
    Route {
        method: Method::GET,
        template: "/v1/cases/{id}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Case, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/cases/{id}/assign",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Case, Some(r#"{"assignee": "probe"}"#)),
    },
    Route {
        method: Method::POST,
        template: "/v1/cases/{id}/comment",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Case, Some(r#"{"body": "probe"}"#)),
    },
    Route {
        method: Method::POST,
        template: "/v1/cases/{id}/act",
        permission: Permission::Operate,
        probe: Probe::Object(
            Kind::Case,
            Some(r#"{"action": "suspend_subscription", "subscription_id": "{subscription}"}"#),
        ),
    },
    Route {
        method: Method::POST,
        template: "/v1/cases/{id}/resolve",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Case, Some(r#"{"outcome": "false_positive"}"#)),
    },
    Route {
        method: Method::GET,
        template: "/v1/playbooks",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::POST,
        template: "/v1/playbooks",
        permission: Permission::Operate,
        probe: Probe::Own(Some(r#"{"playbook": {playbook}}"#)),
    },
    Route {
        method: Method::GET,
        template: "/v1/playbooks/active",
        permission: Permission::Read,
        probe: Probe::Own(None),
    },
    Route {
        method: Method::GET,
        template: "/v1/playbooks/{version}",
        permission: Permission::Read,
        probe: Probe::Object(Kind::Playbook, None),
    },
    Route {
        method: Method::POST,
        template: "/v1/playbooks/{version}/status",
        permission: Permission::Operate,
        probe: Probe::Object(Kind::Playbook, Some(r#"{"status": "active"}"#)),
    },
];

/// Routes outside `/v1`, open to anyone.
const PUBLIC: &[&str] = &[
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /openapi.json",
    // Partner Center's webhook: authenticated by its signature, not a key (tests/it/cases.rs).
    "POST /v1/connectors/partner-center/events/{tenant}",
];

/// Tenant A's objects, and what A sees of them.
struct Victim {
    customer: String,
    customer_ext: String,
    subscription: String,
    vendor_sub: String,
    key: String,
    tenant: String,
    payment_method: String,
    order: String,
    decision: String,
    list_item: String,
    list_value: String,
    policy: String,
    policy_label: String,
    verification: String,
    budget: String,
    alert: String,
    invoice: String,
    payment: String,
    action: String,
    webhook: String,
    notice: String,
    case: String,
    playbook: String,
    playbook_label: String,
}

impl Victim {
    async fn create(app: &TestApp) -> Victim {
        let admin = app.a.key(Role::Admin);
        let created = |path: &'static str, body: Value| async move {
            let (status, body) = app.post(path, admin, body).await;
            assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
            body
        };
        let customer = app.customer(&app.a, "a-secret-customer").await;
        let subscription = app
            .subscription(&app.a, &customer, "a-secret-vendor-sub")
            .await;
        let key = created(
            "/v1/keys",
            json!({"role": "viewer", "label": "a-dashboards"}),
        )
        .await;
        let (status, card) = app
            .post(
                &format!("/v1/customers/{customer}/payment_methods"),
                admin,
                json!({"bin": "411111", "last4": "4242", "fingerprint": "a-secret-card",
                       "exp_month": 12, "exp_year": 2029, "country": "DE",
                   "cvc_check": "pass", "avs_check": "pass", "three_ds": "authenticated"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{card}");
        let (status, order) = app
            .post(
                "/v1/orders",
                admin,
                json!({"customer_id": customer, "payment_method_id": card["id"],
                       "items": [{"sku": "a-secret-sku", "product_kind": "m365", "quantity": 1,
                                  "unit_price": {"amount": "12.50", "currency": "EUR"}}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let list_value = "fraud@a-secret.example";
        let item = created(
            "/v1/lists/items",
            json!({"kind": "email", "action": "block", "value": list_value}),
        )
        .await;
        let published = created("/v1/rules", json!({"policy": policy("a-secret-policy")})).await;
        let (status, verification) = app
            .post(
                &format!("/v1/customers/{customer}/verifications"),
                admin,
                json!({"kind": "phone_call"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{verification}");
        let budget = created(
            "/v1/budgets",
            json!({"scope": {"kind": "customer", "customer_id": customer},
                   "amount": {"amount": "10.00", "currency": "EUR"}, "period": {"kind": "monthly"},
                   "thresholds": [{"percent": 50, "basis": "actual", "action": "notify"}]}),
        )
        .await;
        let (status, ingested) = app
            .post(
                "/v1/usage",
                admin,
                json!([{"subscription": subscription, "record_id": "a-secret-record",
                        "meter": "Virtual Machines/D2s v5", "resource_id": "vm",
                        "region": "westeurope", "quantity": "1", "unit": "1 Hour",
                        "cost": "20.00", "currency": "EUR",
                        "usage_start": "2026-11-02T07:00:00Z",
                        "usage_end": "2026-11-02T08:00:00Z"}]),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ingested}");
        let invoice = created(
            "/v1/invoices",
            json!({"number": "A-SECRET-1", "customer_id": customer,
                   "issued_at": "2026-10-01T00:00:00Z", "due_at": "2026-10-15T00:00:00Z",
                   "currency": "EUR", "lines": [{"description": "Azure plan", "amount": "30.00"}],
                   "total": "30.00"}),
        )
        .await;
        let payment = created(
            "/v1/payments",
            json!({"customer_id": customer, "amount": "10.00", "currency": "EUR",
                   "method": "card", "status": "succeeded",
                   "received_at": "2026-10-20T00:00:00Z"}),
        )
        .await;
        let (status, deposit) = app
            .post(
                &format!("/v1/customers/{customer}/prepaid/top_ups"),
                admin,
                json!({"amount": "20.00", "currency": "EUR", "reference": "a-deposit"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{deposit}");
        let action = crate::outbox::enqueue_email(app, app.a.id, &customer).await;
        let webhook = created(
            "/v1/webhooks",
            json!({"url": "https://hooks.a-secret.example/in", "event_types": ["*"]}),
        )
        .await;
        let (status, taken) = app
            .post(
                "/v1/notices",
                admin,
                json!({"kind": "abuse", "severity": "high", "customer_id": customer,
                       "summary": "a-secret-abuse-report"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{taken}");
        let published_playbook = created(
            "/v1/playbooks",
            json!({"playbook": playbook("a-secret-playbook")}),
        )
        .await;
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        Victim {
            notice: text(&taken["notice"]["id"]),
            case: text(&taken["case"]["id"]),
            playbook: published_playbook["version"].to_string(),
            playbook_label: text(&published_playbook["label"]),
            webhook: text(&webhook["id"]),
            action: action.to_string(),
            invoice: text(&invoice["id"]),
            payment: text(&payment["id"]),
            budget: text(&budget["id"]),
            alert: text(&ingested["alerts"][0]["id"]),
            verification: text(&verification["id"]),
            customer,
            customer_ext: "a-secret-customer".into(),
            subscription,
            vendor_sub: "a-secret-vendor-sub".into(),
            key: text(&key["id"]),
            tenant: app.a.id.to_string(),
            payment_method: text(&card["id"]),
            order: text(&order["id"]),
            decision: text(&card["decision"]["id"]),
            list_item: text(&item["id"]),
            list_value: list_value.into(),
            policy: published["version"].to_string(),
            policy_label: text(&published["label"]),
        }
    }

    fn fill(&self, text: &str, n: usize) -> String {
        text.replace("{policy}", &policy("b-{n}").to_string())
            .replace("{playbook}", &playbook("b-{n}").to_string())
            .replace("{case}", &self.case)
            .replace("{customer_ext}", &self.customer_ext)
            .replace("{customer}", &self.customer)
            .replace("{subscription}", &self.subscription)
            .replace("{vendor_sub}", &self.vendor_sub)
            .replace("{key}", &self.key)
            .replace("{tenant}", &self.tenant)
            .replace("{payment_method}", &self.payment_method)
            .replace("{list_value}", &self.list_value)
            .replace("{invoice}", &self.invoice)
            .replace("{payment}", &self.payment)
            .replace("{n}", &n.to_string())
    }

    /// `template` naming A's object of this kind.
    fn path(&self, template: &str, kind: Kind) -> String {
        let id = match kind {
            Kind::Customer => &self.customer,
            Kind::Subscription => &self.subscription,
            Kind::Key => &self.key,
            Kind::Decision => &self.decision,
            Kind::ListItem => &self.list_item,
            Kind::Policy => &self.policy,
            Kind::Verification => &self.verification,
            Kind::Budget => &self.budget,
            Kind::Alert => &self.alert,
            Kind::Invoice => &self.invoice,
            Kind::Payment => &self.payment,
            Kind::Action => &self.action,
            Kind::Webhook => &self.webhook,
            Kind::Notice => &self.notice,
            Kind::Case => &self.case,
            Kind::Playbook => &self.playbook,
            Kind::PaymentMethod => &self.payment_method,
            Kind::Order => &self.order,
        };
        at(template, id)
    }

    /// Everything A can see of its objects, to compare before and after B's attempts.
    async fn snapshot(&self, app: &TestApp) -> Value {
        let admin = app.a.key(Role::Admin);
        let mut seen = Vec::new();
        for path in [
            format!("/v1/customers/{}", self.customer),
            format!("/v1/subscriptions/{}", self.subscription),
            format!("/v1/decisions/{}", self.decision),
            format!("/v1/payment_methods/{}", self.payment_method),
            format!("/v1/orders/{}", self.order),
            format!("/v1/rules/{}", self.policy),
            format!("/v1/verifications/{}", self.verification),
            format!("/v1/budgets/{}", self.budget),
            format!("/v1/alerts/{}", self.alert),
            format!("/v1/invoices/{}", self.invoice),
            format!("/v1/payments/{}", self.payment),
            format!("/v1/customers/{}/account", self.customer),
            format!("/v1/actions/{}", self.action),
            format!("/v1/webhooks/{}", self.webhook),
            format!("/v1/webhooks/{}/deliveries", self.webhook),
            format!("/v1/customers/{}/prepaid", self.customer),
            format!("/v1/notices/{}", self.notice),
            format!("/v1/cases/{}", self.case),
            format!("/v1/playbooks/{}", self.playbook),
            "/v1/rules".to_owned(),
            "/v1/lists/items".to_owned(),
            "/v1/keys?limit=500".to_owned(),
            "/v1/audit?limit=1000".to_owned(),
        ] {
            let (status, body) = app.get(&path, admin).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            seen.push(body);
        }
        Value::Array(seen)
    }

    /// A's identifiers that must never appear in an answer to B.
    fn secrets(&self) -> [&str; 22] {
        [
            &self.customer,
            &self.customer_ext,
            &self.subscription,
            &self.vendor_sub,
            &self.key,
            &self.tenant,
            &self.payment_method,
            &self.order,
            &self.decision,
            &self.list_item,
            &self.list_value,
            &self.policy_label,
            &self.verification,
            &self.budget,
            &self.alert,
            &self.invoice,
            &self.payment,
            &self.action,
            &self.webhook,
            &self.notice,
            &self.case,
            &self.playbook_label,
        ]
    }
}

/// The path with its one parameter filled in.
fn at(template: &str, id: &str) -> String {
    template.replace("{id}", id).replace("{version}", id)
}

/// An id of the same kind that names nothing.
fn missing(kind: Kind) -> String {
    match kind {
        Kind::Customer => CustomerId::generate().to_string(),
        Kind::Subscription => SubscriptionId::generate().to_string(),
        Kind::Key => KeyId::generate().to_string(),
        Kind::Decision => DecisionId::generate().to_string(),
        Kind::ListItem => ListItemId::generate().to_string(),
        Kind::Policy => "999999".to_owned(),
        Kind::Verification => VerificationId::generate().to_string(),
        Kind::Budget => BudgetId::generate().to_string(),
        Kind::Alert => AlertId::generate().to_string(),
        Kind::Invoice => InvoiceId::generate().to_string(),
        Kind::Payment => PaymentId::generate().to_string(),
        Kind::Action => ActionId::generate().to_string(),
        Kind::Webhook => WebhookId::generate().to_string(),
        Kind::Notice => NoticeId::generate().to_string(),
        Kind::Case => CaseId::generate().to_string(),
        Kind::Playbook => "999999".to_owned(),
        Kind::PaymentMethod => PaymentMethodId::generate().to_string(),
        Kind::Order => OrderId::generate().to_string(),
    }
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    key: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut request = app.request(method.clone(), path, Some(key));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    send(request).await
}

async fn other_tenants_objects_are_not_found_on_every_route(app: &TestApp) {
    let a = Victim::create(app).await;
    // B has objects of its own, so an empty answer is not merely an empty tenant.
    let own = app.customer(&app.b, "b-own").await;
    app.subscription(&app.b, &own, "b-own-sub").await;
    let before = a.snapshot(app).await;
    let mut n = 0;
    // B's own writes come last, so that none of B's objects (its policy version 1, say)
    // answers for A's.
    let (own, others): (Vec<&Route>, Vec<&Route>) = ROUTES
        .iter()
        .partition(|route| matches!(route.probe, Probe::Own(_)));
    for route in others.into_iter().chain(own) {
        for role in Role::ALL {
            let key = app.b.key(role);
            let may = role.allows(route.permission);
            let what = format!("{} {} as B's {role}", route.method, route.template);
            n += 1;
            match &route.probe {
                Probe::Object(kind, body) => {
                    let body = body.map(|b| a.fill(b, n));
                    let theirs = a.path(route.template, *kind);
                    let nothing = at(route.template, &missing(*kind));
                    let (status, problem) =
                        call(app, &route.method, &theirs, key, body.clone()).await;
                    let (status_missing, problem_missing) =
                        call(app, &route.method, &nothing, key, body).await;
                    let expected = if may {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    assert_eq!(status, expected, "{what}: {problem}");
                    assert_eq!(
                        (status, &problem),
                        (status_missing, &problem_missing),
                        "{what}: A's object answers like a missing one"
                    );
                }
                Probe::Filters(queries) => {
                    for query in *queries {
                        let path = format!("{}?{}", route.template, a.fill(query, n));
                        let (status, page) = call(app, &route.method, &path, key, None).await;
                        if may {
                            assert_eq!(status, StatusCode::OK, "{what} ?{query}: {page}");
                            // Some lists are pages (`data`), some bare arrays.
                            let items = page.get("data").unwrap_or(&page);
                            assert_eq!(items, &json!([]), "{what} ?{query}");
                        } else {
                            assert_eq!(status, StatusCode::FORBIDDEN, "{what} ?{query}");
                        }
                    }
                }
                Probe::Reference(body, field) => {
                    let (status, problem) = call(
                        app,
                        &route.method,
                        route.template,
                        key,
                        Some(a.fill(body, n)),
                    )
                    .await;
                    if may {
                        let names_field = problem["errors"]
                            .as_array()
                            .is_some_and(|e| e.iter().any(|e| e["field"] == *field));
                        assert!(
                            status == StatusCode::NOT_FOUND
                                || (status == StatusCode::UNPROCESSABLE_ENTITY && names_field),
                            "{what}: {status} {problem}"
                        );
                    } else {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    }
                }
                Probe::Own(body) => {
                    let body = body.map(|b| a.fill(b, n));
                    let (status, answer) =
                        call(app, &route.method, route.template, key, body).await;
                    if may {
                        assert!(status.is_success(), "{what}: {status} {answer}");
                        let text = answer.to_string();
                        for secret in a.secrets() {
                            assert!(!text.contains(secret), "{what} shows A's {secret}: {text}");
                        }
                    } else {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                    }
                }
            }
        }
    }
    assert_eq!(a.snapshot(app).await, before, "A's objects are unchanged");
    assert_eq!(
        app.get("/v1/tenant", app.a.key(Role::Admin)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.store.verify_audit(app.a.id).await.unwrap().map(|_| ()),
        Ok(())
    );
}

/// Uniqueness of the partner's own ids is per tenant: a 409 would tell B that A has the id.
async fn another_tenant_may_reuse_external_ids(app: &TestApp) {
    let a = Victim::create(app).await;
    let theirs = app.customer(&app.b, &a.customer_ext).await;
    assert_ne!(theirs, a.customer);
    let sub = app.subscription(&app.b, &theirs, &a.vendor_sub).await;
    assert_ne!(sub, a.subscription);
    let (_, page) = app
        .get(
            &format!("/v1/customers?external_id={}", a.customer_ext),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "A still has one");
    assert_eq!(page["data"][0]["id"], a.customer.as_str());
}

/// `ROUTES` and `PUBLIC` together are exactly the routes `/openapi.json` documents, so a route
/// added to the API without an isolation probe fails here.
async fn the_table_covers_every_documented_route(app: &TestApp) {
    let documented = crate::harness::documented_routes(app).await;
    let covered: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| format!("{} {}", r.method, r.template))
        .chain(PUBLIC.iter().map(|r| (*r).to_owned()))
        .collect();
    assert_eq!(
        documented, covered,
        "every documented route needs a tenant-isolation probe in ROUTES (or is PUBLIC)"
    );
}

on_both_engines!(
    other_tenants_objects_are_not_found_on_every_route,
    another_tenant_may_reuse_external_ids,
    the_table_covers_every_documented_route,
);
