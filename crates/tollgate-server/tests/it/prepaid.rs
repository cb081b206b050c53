//! Prepaid balances and refunds through the API: top-ups and draws per currency, never below
//! what the terms allow; refunds re-open what the refunded payment paid.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::tenancy::Role;

use crate::{harness::TestApp, on_both_engines};

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.post(path, app.a.key(Role::Admin), body).await
}

fn field(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or_default()
}

async fn top_ups_and_draws_keep_a_balance_per_currency(app: &TestApp) {
    let customer = app.customer(&app.a, "prepaid").await;
    let prepaid = format!("/v1/customers/{customer}/prepaid");
    let (status, top_up) = post(
        app,
        &format!("{prepaid}/top_ups"),
        json!({"amount": "100", "currency": "EUR", "reference": "wire 2026-11-01"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{top_up}");
    assert!(top_up["id"].as_str().unwrap().starts_with("ppe_"));
    assert_eq!(top_up["kind"], "top_up");
    assert_eq!(top_up["amount"]["amount"], "100.00");
    assert_eq!(top_up["balance"]["amount"], "100.00");
    let (status, drawn) = post(
        app,
        &format!("{prepaid}/draws"),
        json!({"amount": "60.50", "currency": "EUR", "reference": "ORD-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{drawn}");
    assert_eq!(drawn["balance"]["amount"], "39.50");
    let (status, usd) = post(
        app,
        &format!("{prepaid}/top_ups"),
        json!({"amount": "5.00", "currency": "USD"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{usd}");

    let (_, audit_before) = app
        .get("/v1/audit?limit=1000", app.a.key(Role::Admin))
        .await;
    // The customer must prepay: a draw past zero is refused and changes nothing.
    let (status, refused) = post(
        app,
        &format!("{prepaid}/draws"),
        json!({"amount": "39.51", "currency": "EUR"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(field(&refused), "amount", "{refused}");
    for (body, at) in [
        (json!({"amount": "-1.00", "currency": "EUR"}), "amount"),
        (json!({"amount": "1.00", "currency": "EURO"}), "currency"),
        (json!({"amount": "1.001", "currency": "EUR"}), "amount"),
    ] {
        let (status, problem) = post(app, &format!("{prepaid}/top_ups"), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(field(&problem), at, "{problem}");
    }
    let (_, audit_after) = app
        .get("/v1/audit?limit=1000", app.a.key(Role::Admin))
        .await;
    assert_eq!(audit_before, audit_after, "refusals wrote nothing");

    let (status, seen) = app.get(&prepaid, app.a.key(Role::Viewer)).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(
        seen["balances"],
        json!([
            {"currency": "EUR", "balance": {"amount": "39.50", "currency": "EUR"},
             "overdraft_allowed": {"amount": "0.00", "currency": "EUR"}},
            {"currency": "USD", "balance": {"amount": "5.00", "currency": "USD"},
             "overdraft_allowed": {"amount": "0.00", "currency": "USD"}},
        ])
    );
    let kinds: Vec<&str> = seen["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["top_up", "draw", "top_up"]);
    assert_eq!(seen["entries"][1], drawn);

    let (status, page) = app
        .get(&format!("{prepaid}?limit=2"), app.a.key(Role::Viewer))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("{prepaid}?limit=2&cursor={cursor}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(rest["entries"][0], usd);
    assert!(rest["next_cursor"].is_null());
}

async fn credit_terms_allow_an_overdraft_up_to_the_limit(app: &TestApp) {
    let customer = app.customer(&app.a, "prepaid-credit").await;
    let (status, patched) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/customers/{customer}"),
            app.a.key(Role::Admin),
            Some(json!({"terms": {"prepayment_required": false,
                                  "credit_limit": {"amount": "50.00", "currency": "EUR"},
                                  "admin_access_allowed": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let draws = format!("/v1/customers/{customer}/prepaid/draws");
    let (status, drawn) = post(app, &draws, json!({"amount": "50.00", "currency": "EUR"})).await;
    assert_eq!(status, StatusCode::CREATED, "{drawn}");
    assert_eq!(drawn["balance"]["amount"], "-50.00");
    let (status, refused) = post(app, &draws, json!({"amount": "0.01", "currency": "EUR"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(field(&refused), "amount");
    // The credit limit is in euros: it grants nothing in another currency.
    let (status, refused) = post(app, &draws, json!({"amount": "1.00", "currency": "USD"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (_, seen) = app
        .get(
            &format!("/v1/customers/{customer}/prepaid"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(
        seen["balances"][0]["overdraft_allowed"],
        json!({"amount": "50.00", "currency": "EUR"})
    );
}

async fn a_refund_reopens_what_the_payment_paid(app: &TestApp) {
    let customer = app.customer(&app.a, "refunded").await;
    let invoice = |number: &str, issued: &str, due: &str| {
        json!({"number": number, "customer_id": customer, "issued_at": issued, "due_at": due,
               "currency": "EUR", "lines": [{"description": "Azure plan", "amount": "30.00"}],
               "total": "30.00"})
    };
    let (status, older) = post(
        app,
        "/v1/invoices",
        invoice("R-1", "2026-09-01T00:00:00Z", "2026-09-15T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{older}");
    let (status, newer) = post(
        app,
        "/v1/invoices",
        invoice("R-2", "2026-10-01T00:00:00Z", "2026-10-15T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{newer}");
    let (status, payment) = post(
        app,
        "/v1/payments",
        json!({"customer_id": customer, "amount": "70.00", "currency": "EUR",
               "method": "bank_transfer", "status": "succeeded",
               "received_at": "2026-10-20T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["credit"]["amount"], "10.00");
    let refunds = format!("/v1/payments/{}/refunds", payment["id"].as_str().unwrap());

    // 25.00 back: the 10.00 credit first, then 15.00 of the most recently paid invoice.
    let (status, refund) = post(
        app,
        &refunds,
        json!({"amount": "25.00", "currency": "EUR", "reason": "duplicate transfer"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    assert!(refund["id"].as_str().unwrap().starts_with("rfd_"));
    assert_eq!(refund["amount"]["amount"], "25.00");
    assert_eq!(refund["payment"]["credit"]["amount"], "0.00");
    let (_, account) = app
        .get(
            &format!("/v1/customers/{customer}/account"),
            app.a.key(Role::Viewer),
        )
        .await;
    let open = &account["currencies"][0]["open_invoices"];
    assert_eq!(open.as_array().unwrap().len(), 1, "{account}");
    assert_eq!(open[0]["invoice_id"], newer["id"]);
    assert_eq!(open[0]["open"]["amount"], "15.00");
    let (_, newer_now) = app
        .get(
            &format!("/v1/invoices/{}", newer["id"].as_str().unwrap()),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(newer_now["status"], "open");

    let (_, audit_before) = app
        .get("/v1/audit?limit=1000", app.a.key(Role::Admin))
        .await;
    for (body, at) in [
        (json!({"amount": "45.01", "currency": "EUR"}), "amount"),
        (json!({"amount": "1.00", "currency": "USD"}), "currency"),
        (json!({"amount": "-1.00", "currency": "EUR"}), "amount"),
    ] {
        let (status, problem) = post(app, &refunds, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(field(&problem), at, "{problem}");
    }
    let (_, audit_after) = app
        .get("/v1/audit?limit=1000", app.a.key(Role::Admin))
        .await;
    assert_eq!(audit_before, audit_after, "refusals wrote nothing");

    let (status, rest) = post(app, &refunds, json!({"amount": "45.00", "currency": "EUR"})).await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["payment"]["applied"], json!([]));
    let (_, account) = app
        .get(
            &format!("/v1/customers/{customer}/account"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(account["currencies"][0]["open_total"]["amount"], "60.00");

    let (status, failed) = post(
        app,
        "/v1/payments",
        json!({"customer_id": customer, "amount": "5.00", "currency": "EUR",
               "method": "card", "status": "failed", "failure_code": "do_not_honor",
               "received_at": "2026-10-21T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{failed}");
    let (status, _) = post(
        app,
        &format!("/v1/payments/{}/refunds", failed["id"].as_str().unwrap()),
        json!({"amount": "5.00", "currency": "EUR"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a failed attempt moved no money"
    );
}

on_both_engines!(
    top_ups_and_draws_keep_a_balance_per_currency,
    credit_terms_allow_an_overdraft_up_to_the_limit,
    a_refund_reopens_what_the_payment_paid,
);
