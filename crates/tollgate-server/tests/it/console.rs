//! The console over plain HTTP: the session cookie's flags, CSRF refusals, a viewer's refusals,
//! another tenant's customer as 404, and a suspension that lands on the audit trail.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tollgate_core::tenancy::Role;

use crate::{
    harness::{TenantKeys, TestApp},
    on_both_engines,
};

/// A browser without JavaScript: keeps the cookies it is given and never follows redirects.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    pub(crate) html: String,
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie.is_empty() {
            request
        } else {
            request.header(header::COOKIE, cookie)
        };
        let response = request.send().await.unwrap();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for set in &set_cookies {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        Page {
            status: response.status(),
            location: response
                .headers()
                .get(header::LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            html: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.app.base));
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .http
            .post(format!("{}{path}", self.app.base))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(request).await
    }

    /// Signs in with a key that may, and answers the redirect to the console.
    pub(crate) async fn signed_in(&mut self, key: &str) -> Page {
        let page = self.sign_in(key).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        page
    }

    async fn sign_in(&mut self, key: &str) -> Page {
        let form = self.get("/console/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = csrf(&form.html);
        self.post("/console/sign-in", &[("api_key", key), ("csrf", &csrf)])
            .await
    }
}

/// The CSRF token of the first form on the page.
pub(crate) fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn customer_with_subscription(
    app: &TestApp,
    tenant: &TenantKeys,
    name: &str,
) -> (String, String) {
    let customer = app.customer(tenant, name).await;
    let subscription = app
        .subscription(tenant, &customer, &format!("vendor-{name}"))
        .await;
    (customer, subscription)
}

async fn the_session_cookie_is_http_only_strict_and_needs_its_form_token(app: &TestApp) {
    let mut browser = Browser::new(app);
    let page = browser.get("/console").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/console/sign-in"));

    // The sign-in form's double-submit token: without the cookie it came with, refused.
    let mut stranger = Browser::new(app);
    let forged = stranger
        .post(
            "/console/sign-in",
            &[
                ("api_key", app.a.key(Role::Analyst)),
                ("csrf", "0123456789abcdef0123456789abcdef"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(stranger.cookies.iter().all(|(n, _)| n != "tg_session"));

    let wrong = browser.sign_in("not-a-key").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.html.contains("unknown, revoked or expired"),
        "{}",
        wrong.html
    );
    let ingest = browser.sign_in(app.a.key(Role::Ingest)).await;
    assert_eq!(ingest.status, StatusCode::UNAUTHORIZED);

    let signed_in = browser.signed_in(app.a.key(Role::Analyst)).await;
    assert_eq!(signed_in.location.as_deref(), Some("/console"));
    let session = signed_in
        .set_cookies
        .iter()
        .find(|c| c.starts_with("tg_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(
        !session.contains(app.a.key(Role::Analyst)),
        "the key never goes into the cookie"
    );
    let overview = browser.get("/console").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.html.contains("<h1>Overview</h1>"));

    // A tampered session is no session.
    let mut tampered = Browser::new(app);
    let (_, value) = browser
        .cookies
        .iter()
        .find(|(n, _)| n == "tg_session")
        .unwrap();
    tampered
        .cookies
        .push(("tg_session".into(), value.replacen("key_", "key_0", 1)));
    assert_eq!(tampered.get("/console").await.status, StatusCode::SEE_OTHER);

    let token = csrf(&overview.html);
    let refused = browser
        .post("/console/sign-out", &[("csrf", "wrong")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = browser.post("/console/sign-out", &[("csrf", &token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/console").await.status, StatusCode::SEE_OTHER);
}

/// Another server over the same store: a restart, or a second instance behind a load balancer.
async fn another_server(app: &TestApp) -> String {
    let state = tollgate_server::AppState::new(
        app.store.clone(),
        std::sync::Arc::new(app.clock.clone()),
        tollgate_server::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..tollgate_server::ServerConfig::default()
        },
    );
    let server = tollgate_server::Application::bind(state).await.unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    tokio::spawn(server.run_until(std::future::pending()));
    base
}

/// The key that signs sessions is the store's, not the process's: a sign-in holds on every
/// server of the store, and rotating the stored key ends it there.
async fn a_session_holds_on_another_server_of_the_same_store(app: &TestApp) {
    let mut browser = Browser::new(app);
    browser.signed_in(app.a.key(Role::Analyst)).await;

    let base = another_server(app).await;
    let request = browser.http.get(format!("{base}/console"));
    let overview = browser.send(request).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.html);
    assert!(overview.html.contains("<h1>Overview</h1>"));

    app.store
        .execute_raw(&format!(
            "UPDATE server_secrets SET value = '{}' \
             WHERE name = 'console_session_signing_key'",
            "ab".repeat(32)
        ))
        .await
        .unwrap();
    let rotated = another_server(app).await;
    let request = browser.http.get(format!("{rotated}/console"));
    assert_eq!(browser.send(request).await.status, StatusCode::SEE_OTHER);
}

async fn an_analyst_suspends_a_subscription_on_the_audit_trail(app: &TestApp) {
    let (customer, subscription) = customer_with_subscription(app, &app.a, "suspend-me").await;
    let mut browser = Browser::new(app);
    browser.sign_in(app.a.key(Role::Analyst)).await;
    let page = browser.get(&format!("/console/customers/{customer}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Contoso Analytics GmbH"));
    let action = format!("/console/subscriptions/{subscription}/suspend");
    assert!(page.html.contains(&action), "an analyst sees the button");
    let token = csrf(&page.html);

    let forged = browser
        .post(&action, &[("csrf", "forged"), ("reason", "abuse")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let (_, still) = app
        .get(
            &format!("/v1/subscriptions/{subscription}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(still["status"], "active");

    let done = browser
        .post(
            &action,
            &[("csrf", &token), ("reason", "crypto mining on GPUs")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let (_, suspended) = app
        .get(
            &format!("/v1/subscriptions/{subscription}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["status_reason"], "crypto mining on GPUs");
    let (_, audit) = app
        .get(
            &format!("/v1/audit?object_id={subscription}&action=subscription.suspended"),
            app.a.key(Role::Viewer),
        )
        .await;
    let events = audit["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["data"]["reason"], "crypto mining on GPUs");
    let page = browser.get(&format!("/console/customers/{customer}")).await;
    assert!(page.html.contains("subscription.suspended"));
    assert!(
        page.html
            .contains(&format!("/console/subscriptions/{subscription}/reactivate"))
    );

    // The same transition twice is the API's conflict, shown as a page.
    let again = browser
        .post(&action, &[("csrf", &token), ("reason", "again")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);
}

async fn an_analyst_requests_a_verification_step(app: &TestApp) {
    let (customer, _) = customer_with_subscription(app, &app.a, "call-me").await;
    let mut browser = Browser::new(app);
    browser.sign_in(app.a.key(Role::Analyst)).await;
    let page = browser.get(&format!("/console/customers/{customer}")).await;
    let token = csrf(&page.html);
    let action = format!("/console/customers/{customer}/verifications");

    let unknown = browser
        .post(&action, &[("csrf", &token), ("kind", "fax")])
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("kind"), "{}", unknown.html);

    let done = browser
        .post(&action, &[("csrf", &token), ("kind", "phone_call")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let (_, audit) = app
        .get(
            "/v1/audit?action=verification.started",
            app.a.key(Role::Viewer),
        )
        .await;
    let events = audit["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert!(
        events[0]["object_id"].as_str().unwrap().starts_with("ver_"),
        "{audit}"
    );
}

async fn a_viewer_sees_no_buttons_and_is_refused(app: &TestApp) {
    let (customer, subscription) = customer_with_subscription(app, &app.a, "viewer").await;
    let mut browser = Browser::new(app);
    browser.sign_in(app.a.key(Role::Viewer)).await;
    let page = browser.get(&format!("/console/customers/{customer}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.html.contains("/console/subscriptions/"),
        "no buttons for a viewer"
    );
    assert!(!page.html.contains("<button type=\"submit\">Change status"));
    assert!(page.html.contains("(read only)"));
    let token = csrf(&page.html);
    let refused = browser
        .post(
            &format!("/console/subscriptions/{subscription}/suspend"),
            &[("csrf", &token), ("reason", "not mine to do")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = browser
        .post(
            &format!("/console/customers/{customer}/status"),
            &[("csrf", &token), ("to", "decline")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let (_, still) = app
        .get(
            &format!("/v1/subscriptions/{subscription}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(still["status"], "active");
}

async fn another_tenants_customer_is_not_found(app: &TestApp) {
    let (theirs, their_subscription) = customer_with_subscription(app, &app.b, "theirs").await;
    let mut browser = Browser::new(app);
    browser.sign_in(app.a.key(Role::Analyst)).await;
    let page = browser.get(&format!("/console/customers/{theirs}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.html.contains("Contoso"));
    assert_eq!(
        browser.get("/console/customers/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
    let overview = browser.get("/console").await;
    let token = csrf(&overview.html);
    let refused = browser
        .post(
            &format!("/console/subscriptions/{their_subscription}/suspend"),
            &[("csrf", &token), ("reason", "not ours")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let (_, still) = app
        .get(
            &format!("/v1/subscriptions/{their_subscription}"),
            app.b.key(Role::Viewer),
        )
        .await;
    assert_eq!(still["status"], "active");
}

async fn every_page_renders_for_reading(app: &TestApp) {
    let (customer, _) = customer_with_subscription(app, &app.a, "pages").await;
    let (status, _) = app
        .post(
            "/v1/invoices",
            app.a.key(Role::Ingest),
            json!({
                "number": "INV-C1", "customer_id": customer,
                "issued_at": "2026-09-01T09:00:00Z", "due_at": "2026-09-15T09:00:00Z",
                "currency": "EUR", "lines": [{"description": "Microsoft 365", "amount": "120.00"}],
                "total": "120.00"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut browser = Browser::new(app);
    browser.sign_in(app.a.key(Role::Analyst)).await;
    for (path, heading) in [
        ("/console", "<h1>Overview</h1>"),
        ("/console/queues", "<h1>Queues</h1>"),
        (
            "/console/queues?verdict=review&alert_status=resolved",
            "<h1>Queues</h1>",
        ),
        ("/console/rules", "<h1>Rules</h1>"),
        ("/console/lists", "<h1>Lists</h1>"),
        ("/console/collections", "<h1>Collections</h1>"),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
        assert!(page.html.contains(heading), "{path}");
        assert!(page.html.contains("<html lang=\"en\">"));
    }
    let aging = browser.get("/console/collections").await;
    assert!(
        aging.html.contains(&customer) && aging.html.contains("120.00"),
        "{}",
        aging.html
    );
    let bad = browser.get("/console/queues?verdict=maybe").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("verdict"));
}

/// The lists page shows the tenant's items in force; an analyst takes one off its list, on the
/// audit trail; a viewer sees no buttons.
async fn an_analyst_takes_an_item_off_its_list(app: &TestApp) {
    let analyst = app.a.key(Role::Analyst);
    let mut added = Vec::new();
    for value in ["ring@example.com", "mule@example.com"] {
        let (status, item) = app
            .post(
                "/v1/lists/items",
                analyst,
                json!({"kind": "email", "action": "block", "value": value, "note": "<b>ring</b>"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{item}");
        added.push(item["id"].as_str().unwrap().to_owned());
    }
    app.post(
        "/v1/lists/items",
        app.b.key(Role::Analyst),
        json!({"kind": "email", "action": "block", "value": "theirs@example.com"}),
    )
    .await;

    let mut viewer = Browser::new(app);
    viewer.sign_in(app.a.key(Role::Viewer)).await;
    let page = viewer.get("/console/lists").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("ring@example.com") && page.html.contains("mule@example.com"));
    assert!(
        !page.html.contains("theirs@example.com"),
        "another tenant's item"
    );
    assert!(
        page.html.contains("&lt;b&gt;ring") && !page.html.contains("<b>ring"),
        "notes are escaped"
    );
    assert!(!page.html.contains("/remove"), "no buttons for a viewer");

    let mut browser = Browser::new(app);
    browser.sign_in(analyst).await;
    let page = browser.get("/console/lists").await;
    let action = format!("/console/lists/{}/remove", added[0]);
    assert!(page.html.contains(&action), "{}", page.html);
    let token = csrf(&page.html);
    let forged = browser.post(&action, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let done = browser.post(&action, &[("csrf", &token)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);

    let (_, items) = app.get("/v1/lists/items", analyst).await;
    let left: Vec<_> = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["mule@example.com"]);
    let (_, audit) = app
        .get(
            &format!("/v1/audit?object_id={}&action=list_item.removed", added[0]),
            analyst,
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");
    let page = browser.get("/console/lists").await;
    assert!(!page.html.contains("ring@example.com"));
    let again = browser.post(&action, &[("csrf", &token)]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn an_analyst_pastes_a_block_list(app: &TestApp) {
    let mut viewer = Browser::new(app);
    viewer.sign_in(app.a.key(Role::Viewer)).await;
    let page = viewer.get("/console/lists").await;
    assert!(
        !page.html.contains("/console/lists/import"),
        "no form for a viewer"
    );

    let mut browser = Browser::new(app);
    browser.sign_in(app.a.key(Role::Analyst)).await;
    let page = browser.get("/console/lists").await;
    assert!(page.html.contains("/console/lists/import"), "{}", page.html);
    let token = csrf(&page.html);
    let import = "/console/lists/import";

    // A bad line refuses all of them and names the line as pasted, blank and comment lines
    // counted.
    let bad = "# from the abuse desk\nblock,email,ring@example.com\n\nblock,bin,41\n";
    let refused = browser
        .post(import, &[("csrf", &token), ("items", bad)])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(refused.html.contains("line 4, value"), "{}", refused.html);
    let unknown = browser
        .post(import, &[("csrf", &token), ("items", "block,shoe-size,44")])
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("line 1, kind"), "{}", unknown.html);
    let (_, items) = app.get("/v1/lists/items", app.a.key(Role::Viewer)).await;
    assert_eq!(items["data"], json!([]), "nothing half-written");

    let forged = browser
        .post(
            import,
            &[("csrf", "forged"), ("items", "block,email,x@example.com")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let good =
        "block,email,ring@example.com,ticket 4411, from the desk\nallow,ip,198.51.100.0/24\n";
    let done = browser
        .post(import, &[("csrf", &token), ("items", good)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let (_, items) = app.get("/v1/lists/items", app.a.key(Role::Viewer)).await;
    let added: Vec<_> = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["action"].as_str().unwrap(),
                i["value"].as_str().unwrap(),
                &i["note"],
            )
        })
        .collect();
    assert_eq!(
        added,
        [
            (
                "block",
                "ring@example.com",
                &json!("ticket 4411, from the desk")
            ),
            ("allow", "198.51.100.0/24", &Value::Null),
        ]
    );
    let page = browser.get("/console/lists").await;
    assert!(page.html.contains("198.51.100.0"));
    let (_, theirs) = app.get("/v1/lists/items", app.b.key(Role::Viewer)).await;
    assert_eq!(theirs["data"], json!([]));
}

/// A decision's page explains it: verdict, reasons, policy version, the features the rules
/// saw and the facts; the customer's page links to it; another tenant gets a 404.
async fn a_decision_explains_itself(app: &TestApp) {
    let mut signup = crate::decisions::honest_signup(app, 7);
    signup["contact"]["email"] = json!("buyer@mailinator.com");
    let (status, decision) = app
        .post("/v1/signups", app.a.key(Role::Ingest), signup)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{decision}");
    let id = decision["id"].as_str().unwrap();
    let path = format!("/console/decisions/{id}");

    let mut viewer = Browser::new(app);
    viewer.sign_in(app.a.key(Role::Viewer)).await;
    let customer = viewer
        .get(&format!(
            "/console/customers/{}",
            decision["customer_id"].as_str().unwrap()
        ))
        .await;
    assert!(customer.html.contains(&path), "{}", customer.html);
    let page = viewer.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let reasons = decision["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty(), "{decision}");
    for reason in reasons {
        assert!(page.html.contains(reason["code"].as_str().unwrap()));
    }
    for shown in [
        decision["verdict"].as_str().unwrap(),
        decision["policy_version"].as_str().unwrap(),
        "email.disposable",
        "links.card_customers",
        "mailinator.com",
    ] {
        assert!(page.html.contains(shown), "{shown}: {}", page.html);
    }

    let mut theirs = Browser::new(app);
    theirs.sign_in(app.b.key(Role::Admin)).await;
    assert_eq!(theirs.get(&path).await.status, StatusCode::NOT_FOUND);
}

async fn an_analyst_reviews_what_screening_held(app: &TestApp) {
    let customer = app.customer(&app.a, "held-things").await;
    let mut card = crate::decisions::card("fp_console_held", "411111");
    card["cvc_check"] = json!("fail");
    let pm = crate::decisions::attach(app, &customer, card).await;
    assert_eq!(pm["status"], "held", "{pm}");
    let id = pm["id"].as_str().unwrap();

    let mut browser = Browser::new(app);
    browser.sign_in(app.a.key(Role::Analyst)).await;
    let queues = browser.get("/console/queues").await;
    assert_eq!(queues.status, StatusCode::OK);
    let action = format!("/console/payment_methods/{id}/review");
    assert!(queues.html.contains(&action), "{}", queues.html);
    assert!(queues.html.contains("security code"), "the reason is shown");
    let token = csrf(&queues.html);

    let bad = browser
        .post(&action, &[("csrf", &token), ("outcome", "maybe")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("outcome"), "{}", bad.html);
    let done = browser
        .post(
            &action,
            &[
                ("csrf", &token),
                ("outcome", "decline"),
                ("note", "stolen card, called the bank"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let (_, after) = app
        .get(
            &format!("/v1/payment_methods/{id}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(after["status"], "declined");
    assert_eq!(after["review"]["note"], "stolen card, called the bank");
    let queues = browser.get("/console/queues").await;
    assert!(!queues.html.contains(&action), "no longer waiting");
    let page = browser.get(&format!("/console/customers/{customer}")).await;
    assert!(
        page.html.contains("card 411111 •••• 4242")
            && page.html.contains("stolen card, called the bank"),
        "the customer page shows the card and its review: {}",
        page.html
    );
}

on_both_engines!(
    a_decision_explains_itself,
    an_analyst_pastes_a_block_list,
    an_analyst_reviews_what_screening_held,
    an_analyst_takes_an_item_off_its_list,
    the_session_cookie_is_http_only_strict_and_needs_its_form_token,
    a_session_holds_on_another_server_of_the_same_store,
    an_analyst_suspends_a_subscription_on_the_audit_trail,
    an_analyst_requests_a_verification_step,
    a_viewer_sees_no_buttons_and_is_refused,
    another_tenants_customer_is_not_found,
    every_page_renders_for_reading,
);
