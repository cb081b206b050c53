//! Issue 4's facts and receivables through the API: invoices, payments allocated oldest first,
//! over- and partial payment, chargebacks re-opening invoices, the aging report (JSON and CSV)
//! in the tenant's time zone, and the first cleared payment releasing held orders.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tollgate_core::tenancy::Role;

use crate::{
    decisions::{card, honest_signup},
    harness::{TestApp, send},
    on_both_engines,
};

fn invoice_body(customer: &str, number: &str, due: &str, amount: &str, currency: &str) -> Value {
    json!({
        "number": number,
        "customer_id": customer,
        "issued_at": "2025-09-01T09:00:00Z",
        "due_at": due,
        "currency": currency,
        "lines": [{"description": "Microsoft 365 E3", "amount": amount}],
        "total": amount
    })
}

async fn invoice(app: &TestApp, customer: &str, number: &str, due: &str, amount: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            invoice_body(customer, number, due, amount, "EUR"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "open");
    body["id"].as_str().unwrap().to_owned()
}

fn payment_body(customer: &str, amount: &str) -> Value {
    json!({
        "customer_id": customer, "amount": amount, "currency": "EUR",
        "method": "bank_transfer", "status": "succeeded",
        "received_at": "2026-02-01T10:00:00Z"
    })
}

async fn pay(app: &TestApp, body: Value) -> Value {
    let (status, payment) = app
        .post("/v1/payments", app.a.key(Role::Ingest), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    payment
}

async fn open_of(app: &TestApp, invoice: &str) -> Value {
    let (status, body) = app
        .get(&format!("/v1/invoices/{invoice}"), app.a.key(Role::Viewer))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["open"]["amount"].clone()
}

/// Tenant A's receivables account of `customer`.
async fn account_of(app: &TestApp, customer: &str) -> Value {
    let (status, account) = app
        .get(
            &format!("/v1/customers/{customer}/account"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    account
}

/// Tenant A's aging report (JSON) for `query`.
async fn aging(app: &TestApp, query: &str) -> Value {
    let (status, report) = app
        .get(
            &format!("/v1/receivables/aging?{query}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

fn field(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or_default()
}

async fn payments_go_to_the_oldest_invoice_first(app: &TestApp) {
    let customer = app.customer(&app.a, "alloc").await;
    let newer = invoice(app, &customer, "INV-2", "2026-02-15T00:00:00Z", "50.00").await;
    let older = invoice(app, &customer, "INV-1", "2026-01-15T00:00:00Z", "100.00").await;

    let partial = pay(app, payment_body(&customer, "120.00")).await;
    assert_eq!(
        partial["applied"],
        json!([
            {"invoice_id": older, "amount": {"amount": "100.00", "currency": "EUR"}},
            {"invoice_id": newer, "amount": {"amount": "20.00", "currency": "EUR"}}
        ]),
        "{partial}"
    );
    assert_eq!(open_of(app, &older).await, "0.00");
    assert_eq!(open_of(app, &newer).await, "30.00");

    let over = pay(app, payment_body(&customer, "45.00")).await;
    assert_eq!(over["credit"]["amount"], "15.00", "{over}");
    assert_eq!(open_of(app, &newer).await, "0.00");

    let account = account_of(app, &customer).await;
    assert_eq!(account["currencies"][0]["credit"]["amount"], "15.00");
    assert_eq!(account["currencies"][0]["open_total"]["amount"], "0.00");

    // Credit pays the next invoice as soon as it arrives.
    let (_, next) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            invoice_body(&customer, "INV-3", "2026-03-15T00:00:00Z", "40.00", "EUR"),
        )
        .await;
    assert_eq!(next["open"]["amount"], "25.00", "{next}");

    let (_, paid) = app
        .get(
            &format!("/v1/invoices?customer_id={customer}&status=paid"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(paid["data"].as_array().unwrap().len(), 2, "{paid}");
    let (_, open) = app
        .get(
            &format!("/v1/invoices?customer_id={customer}&status=open"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(open["data"][0]["number"], "INV-3", "{open}");

    let payment_id = partial["id"].as_str().unwrap();
    let (status, again) = app
        .get(
            &format!("/v1/payments/{payment_id}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["applied"], partial["applied"]);
}

async fn a_chargeback_reopens_the_most_recently_paid_invoice(app: &TestApp) {
    let customer = app.customer(&app.a, "chargeback").await;
    let first = invoice(app, &customer, "CB-1", "2026-01-15T00:00:00Z", "60.00").await;
    let second = invoice(app, &customer, "CB-2", "2026-02-15T00:00:00Z", "40.00").await;
    let payment = pay(app, payment_body(&customer, "100.00")).await;
    assert_eq!(open_of(app, &second).await, "0.00");

    let (status, chargeback) = app
        .post(
            "/v1/chargebacks",
            app.a.key(Role::Ingest),
            json!({
                "payment_id": payment["id"], "amount": "50.00", "currency": "EUR",
                "reason": "fraudulent", "status": "opened",
                "updated_at": "2026-02-20T00:00:00Z"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{chargeback}");
    assert_eq!(open_of(app, &second).await, "40.00");
    assert_eq!(open_of(app, &first).await, "10.00");

    let (status, problem) = app
        .post(
            "/v1/chargebacks",
            app.a.key(Role::Ingest),
            json!({
                "payment_id": payment["id"], "amount": "60.00", "currency": "EUR",
                "reason": "fraudulent", "status": "opened",
                "updated_at": "2026-02-21T00:00:00Z"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "amount", "{problem}");
}

async fn bad_facts_name_their_field_and_write_nothing(app: &TestApp) {
    let customer = app.customer(&app.a, "bad").await;
    let eur = invoice(app, &customer, "DUP-1", "2026-01-15T00:00:00Z", "10.00").await;

    let (status, problem) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            invoice_body(&customer, "DUP-1", "2026-01-15T00:00:00Z", "10.00", "EUR"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(field(&problem), "number");

    let (status, problem) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            invoice_body(&customer, "NEG-1", "2026-01-15T00:00:00Z", "-10.00", "EUR"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "lines[0].amount", "{problem}");

    let (status, problem) = app
        .post(
            "/v1/payments",
            app.a.key(Role::Ingest),
            payment_body(&customer, "-5.00"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "amount");

    let mut usd = payment_body(&customer, "10.00");
    usd["currency"] = json!("USD");
    usd["allocations"] = json!([{"invoice_id": eur, "amount": "10.00"}]);
    let (status, problem) = app.post("/v1/payments", app.a.key(Role::Ingest), usd).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "currency", "{problem}");

    let unknown = tollgate_core::CustomerId::generate().to_string();
    let (status, problem) = app
        .post(
            "/v1/payments",
            app.a.key(Role::Ingest),
            payment_body(&unknown, "5.00"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "customer_id", "{problem}");

    let (status, problem) = app
        .post(
            "/v1/credit_notes",
            app.a.key(Role::Ingest),
            json!({"invoice_id": eur, "amount": "4.00", "currency": "USD",
                   "issued_at": "2026-01-20T00:00:00Z", "reason": "goodwill"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "currency", "{problem}");

    assert_eq!(open_of(app, &eur).await, "10.00", "nothing was written");
    let (_, listed) = app
        .get(
            &format!("/v1/invoices?customer_id={customer}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

async fn credit_notes_and_voids_change_what_is_open(app: &TestApp) {
    let customer = app.customer(&app.a, "credit").await;
    let id = invoice(app, &customer, "CN-1", "2026-01-15T00:00:00Z", "80.00").await;
    let (status, note) = app
        .post(
            "/v1/credit_notes",
            app.a.key(Role::Ingest),
            json!({"invoice_id": id, "amount": "30.00", "currency": "EUR",
                   "issued_at": "2026-01-20T00:00:00Z", "reason": "goodwill"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["invoice"]["open"]["amount"], "50.00");
    pay(app, payment_body(&customer, "20.00")).await;
    let (status, voided) = app
        .post(
            &format!("/v1/invoices/{id}/void"),
            app.a.key(Role::Ingest),
            json!({"reason": "issued in error"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{voided}");
    assert_eq!(voided["status"], "void");
    assert_eq!(voided["open"]["amount"], "0.00");
    let account = account_of(app, &customer).await;
    assert_eq!(
        account["currencies"][0]["credit"]["amount"], "20.00",
        "{account}"
    );
    let (status, _) = app
        .post(
            &format!("/v1/invoices/{id}/void"),
            app.a.key(Role::Ingest),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn aging_counts_days_in_the_tenant_time_zone(app: &TestApp) {
    let customer = app.customer(&app.a, "aging").await;
    // 23:30 UTC on 31 January is 1 February in Berlin: not past due on 1 February there.
    invoice(app, &customer, "AG-1", "2026-01-31T23:30:00Z", "100.00").await;
    invoice(app, &customer, "AG-2", "2025-12-31T12:00:00Z", "30.00").await;
    invoice(app, &customer, "AG-3", "2025-10-01T12:00:00Z", "7.50").await;

    let report = aging(app, "as_of=2026-02-01").await;
    let total = &report["totals"][0];
    assert_eq!(total["currency"], "EUR");
    assert_eq!(total["buckets"]["current"], "100.00", "{report}");
    assert_eq!(total["buckets"]["days_31_60"], "30.00", "{report}");
    assert_eq!(total["buckets"]["days_over_90"], "7.50", "{report}");
    assert_eq!(report["customers"][0]["customer_id"], customer.as_str());

    let next_day = aging(app, "as_of=2026-02-02").await;
    assert_eq!(next_day["totals"][0]["buckets"]["days_1_30"], "100.00");

    let (status, csv) = send(
        app.request(
            Method::GET,
            "/v1/receivables/aging?as_of=2026-02-01",
            Some(app.a.key(Role::Viewer)),
        )
        .header(header::ACCEPT, "text/csv"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let csv = csv.as_str().unwrap().to_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "scope,customer_id,currency,current,days_1_30,days_31_60,days_61_90,days_over_90,total",
            &format!("customer,{customer},EUR,100.00,0.00,30.00,0.00,7.50,137.50"),
            "total,,EUR,100.00,0.00,30.00,0.00,7.50,137.50",
        ]
    );
    let (_, same) = app
        .get(
            "/v1/receivables/aging?as_of=2026-02-01&format=csv",
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(same.as_str().unwrap(), csv);

    // A second customer: what a part payment leaves open ages, and dollars are never added
    // to euros. Counted by hand as of 2 February in Berlin.
    let other = app.customer(&app.a, "aging-2").await;
    invoice(app, &other, "AG-4", "2026-01-01T12:00:00Z", "80.00").await; // 32 days
    pay(app, payment_body(&other, "30.00")).await;
    let (status, usd) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            invoice_body(&other, "AG-5", "2025-11-04T22:59:00Z", "12.00", "USD"), // 90 days
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{usd}");
    let report = aging(app, "as_of=2026-02-02").await;
    let totals = report["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 2, "{report}");
    assert_eq!(totals[0]["currency"], "EUR");
    assert_eq!(totals[0]["buckets"]["days_1_30"], "100.00", "{report}");
    assert_eq!(totals[0]["buckets"]["days_31_60"], "80.00", "{report}");
    assert_eq!(totals[0]["buckets"]["days_over_90"], "7.50", "{report}");
    assert_eq!(totals[0]["buckets"]["total"], "187.50", "{report}");
    assert_eq!(totals[1]["currency"], "USD");
    assert_eq!(totals[1]["buckets"]["days_61_90"], "12.00", "{report}");
    assert_eq!(totals[1]["buckets"]["total"], "12.00", "{report}");
    let rows = report["customers"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "one row per customer and currency: {report}");
}

async fn another_tenant_sees_nothing(app: &TestApp) {
    let customer = app.customer(&app.a, "private").await;
    let id = invoice(app, &customer, "PRIV-1", "2026-01-15T00:00:00Z", "10.00").await;
    let payment = pay(app, payment_body(&customer, "4.00")).await;
    for path in [
        format!("/v1/invoices/{id}"),
        format!("/v1/payments/{}", payment["id"].as_str().unwrap()),
        format!("/v1/customers/{customer}/account"),
    ] {
        let (status, _) = app.get(&path, app.b.key(Role::Viewer)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = app
        .post(
            &format!("/v1/invoices/{id}/void"),
            app.b.key(Role::Ingest),
            json!({"reason": "probe"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, report) = app
        .get(
            "/v1/receivables/aging?as_of=2026-02-01",
            app.b.key(Role::Viewer),
        )
        .await;
    assert_eq!(report["customers"], json!([]));
    assert_eq!(open_of(app, &id).await, "6.00");
}

/// A signed-up customer with a card attached, as (customer id, payment method id).
async fn customer_with_card(app: &TestApp) -> (String, String) {
    let (status, decision) = app
        .post(
            "/v1/signups",
            app.a.key(Role::Ingest),
            honest_signup(app, 700),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{decision}");
    let customer = decision["customer_id"].as_str().unwrap().to_owned();
    let (status, pm) = app
        .post(
            &format!("/v1/customers/{customer}/payment_methods"),
            app.a.key(Role::Ingest),
            card("fp_prepay_700", "411111"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{pm}");
    (customer, pm["id"].as_str().unwrap().to_owned())
}

async fn a_cleared_payment_releases_orders_held_for_it(app: &TestApp) {
    let (customer, pm) = customer_with_card(app).await;
    let order = json!({
        "customer_id": customer, "payment_method_id": pm,
        "items": [{ "sku": "M365-BP", "product_kind": "m365", "quantity": 3,
                    "unit_price": { "amount": "12.50", "currency": "EUR" } }]
    });
    let awaiting = |order: &Value| {
        order["decision"]["hold_codes"]
            .as_array()
            .is_some_and(|codes| codes.contains(&json!("awaiting_first_payment")))
    };
    let (_, before) = app
        .post("/v1/orders", app.a.key(Role::Ingest), order.clone())
        .await;
    assert_eq!(before["status"], "held", "{before}");
    assert!(awaiting(&before), "{before}");

    pay(app, payment_body(&customer, "37.50")).await;
    let (_, after) = app.post("/v1/orders", app.a.key(Role::Ingest), order).await;
    assert!(!awaiting(&after), "{after}");
    assert_eq!(after["status"], "active", "{after}");
}

/// An invoice line names a subscription of the invoice's customer, or the invoice is refused.
async fn invoice_lines_name_the_customers_own_subscriptions(app: &TestApp) {
    let ours = app.customer(&app.a, "lines-ours").await;
    let theirs = app.customer(&app.a, "lines-theirs").await;
    let subscription = app.subscription(&app.a, &ours, "lines-ours-sub").await;
    let others = app.subscription(&app.a, &theirs, "lines-theirs-sub").await;
    let with_line = |number: &str, subscription: &str| {
        let mut body = invoice_body(&ours, number, "2025-10-01T00:00:00Z", "10.00", "EUR");
        body["lines"][0]["subscription_id"] = json!(subscription);
        body
    };
    for (number, line, message) in [
        (
            "LINES-1",
            tollgate_core::SubscriptionId::generate().to_string(),
            "no such subscription",
        ),
        ("LINES-2", others.clone(), "belongs to another customer"),
    ] {
        let (status, problem) = app
            .post(
                "/v1/invoices",
                app.a.key(Role::Ingest),
                with_line(number, &line),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(
            problem["errors"][0]["field"], "lines[0].subscription_id",
            "{problem}"
        );
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{problem}"
        );
    }
    let (status, created) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            with_line("LINES-3", &subscription),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

/// One customer's rows: the customer page's question, without the whole book.
async fn aging_for_one_customer(app: &TestApp) {
    let busy = app.customer(&app.a, "aging-busy").await;
    invoice(app, &busy, "AG-BUSY-1", "2025-12-31T12:00:00Z", "10.00").await;
    let other = app.customer(&app.a, "aging-other").await;
    invoice(app, &other, "AG-OTHER-1", "2025-12-31T12:00:00Z", "55.00").await;
    let one = aging(app, &format!("as_of=2026-02-01&customer_id={other}")).await;
    assert_eq!(one["customers"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["customers"][0]["customer_id"], other.as_str());
    assert_eq!(one["totals"][0]["buckets"]["days_31_60"], "55.00", "{one}");
    let (_, theirs) = app
        .get(
            &format!("/v1/receivables/aging?as_of=2026-02-01&customer_id={other}"),
            app.b.key(Role::Viewer),
        )
        .await;
    assert_eq!(
        (&theirs["customers"], &theirs["totals"]),
        (&json!([]), &json!([])),
        "another tenant's customer is no one here"
    );
}

/// A dashboard asks for the book's totals; they are the full report's, without its rows.
async fn aging_totals_only(app: &TestApp) {
    let customer = app.customer(&app.a, "aging-totals").await;
    invoice(app, &customer, "AG-TOT-1", "2025-12-31T12:00:00Z", "12.00").await;
    invoice(app, &customer, "AG-TOT-2", "2026-01-31T12:00:00Z", "8.00").await;
    let other = app.customer(&app.a, "aging-totals-other").await;
    invoice(app, &other, "AG-TOT-3", "2026-03-01T12:00:00Z", "30.00").await;
    let full = aging(app, "as_of=2026-02-01").await;
    let totals = aging(app, "as_of=2026-02-01&totals_only=true").await;
    assert_eq!(totals["customers"], json!([]), "{totals}");
    assert_eq!(totals["totals"], full["totals"], "{totals}");
    assert_eq!(totals["totals"][0]["buckets"]["total"], "50.00", "{totals}");

    let (status, problem) = app
        .get(
            &format!("/v1/receivables/aging?totals_only=true&customer_id={customer}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(field(&problem), "totals_only", "{problem}");

    // The collections desk's first rows: the most past due, with the whole book's totals.
    let worst = aging(app, "as_of=2026-02-01&most_past_due=1").await;
    assert_eq!(worst["totals"], full["totals"], "{worst}");
    assert_eq!(
        worst["customers"].as_array().map(Vec::len),
        Some(1),
        "{worst}"
    );
    assert_eq!(
        worst["customers"][0]["customer_id"],
        customer.as_str(),
        "{worst}"
    );
    let both = aging(app, "as_of=2026-02-01&most_past_due=5").await;
    assert_eq!(
        both["customers"][1]["customer_id"],
        other.as_str(),
        "nothing past due comes last: {both}"
    );
    for bad in [
        "most_past_due=0",
        "most_past_due=1001",
        "most_past_due=5&totals_only=true",
    ] {
        let (status, problem) = app
            .get(
                &format!("/v1/receivables/aging?{bad}"),
                app.a.key(Role::Viewer),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert_eq!(field(&problem), "most_past_due", "{bad}: {problem}");
    }
}

/// The processor's id keeps one payment reported twice (webhook and import, two idempotency
/// keys) from being counted twice; it is the tenant's own namespace.
async fn a_processor_id_is_counted_once_per_tenant(app: &TestApp) {
    let customer = app.customer(&app.a, "psp").await;
    let invoice = invoice(app, &customer, "INV-PSP", "2026-01-15T00:00:00Z", "80.00").await;
    let mut body = payment_body(&customer, "80.00");
    body["external_ref"] = json!("  ch_3PqR8sLkdIwHu7ix  ");
    let first = pay(app, body.clone()).await;
    assert_eq!(first["external_ref"], "ch_3PqR8sLkdIwHu7ix", "{first}");
    let (_, read) = app
        .get(
            &format!("/v1/payments/{}", first["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(read["external_ref"], "ch_3PqR8sLkdIwHu7ix", "{read}");

    let (status, problem) = app
        .post("/v1/payments", app.a.key(Role::Ingest), body.clone())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(field(&problem), "external_ref", "{problem}");
    assert_eq!(
        open_of(app, &invoice).await,
        "0.00",
        "the refused twin paid nothing"
    );
    let account = account_of(app, &customer).await;
    assert_eq!(
        account["currencies"][0]["credit"]["amount"], "0.00",
        "{account}"
    );

    // Payments without one never collide.
    pay(app, payment_body(&customer, "1.00")).await;
    pay(app, payment_body(&customer, "1.00")).await;

    let theirs = app.customer(&app.b, "psp").await;
    body["customer_id"] = json!(theirs);
    let (status, other) = app
        .post("/v1/payments", app.b.key(Role::Ingest), body)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another tenant's ids are its own: {other}"
    );
}

on_both_engines!(
    a_processor_id_is_counted_once_per_tenant,
    aging_totals_only,
    aging_for_one_customer,
    invoice_lines_name_the_customers_own_subscriptions,
    payments_go_to_the_oldest_invoice_first,
    a_chargeback_reopens_the_most_recently_paid_invoice,
    bad_facts_name_their_field_and_write_nothing,
    credit_notes_and_voids_change_what_is_open,
    aging_counts_days_in_the_tenant_time_zone,
    another_tenant_sees_nothing,
    a_cleared_payment_releases_orders_held_for_it,
);
