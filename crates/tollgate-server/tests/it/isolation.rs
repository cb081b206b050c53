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
    CustomerId, KeyId, SubscriptionId,
    tenancy::{Permission, Role},
};

use crate::{
    harness::{TestApp, send},
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

/// Every `/v1` route. Placeholders in paths, queries and bodies: `{customer}`, `{customer_ext}`,
/// `{subscription}`, `{vendor_sub}`, `{key}`, `{tenant}` are A's; `{n}` is unique per request.
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
];

/// Routes outside `/v1`, open to anyone.
const PUBLIC: &[&str] = &[
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /openapi.json",
];

/// Tenant A's objects, and what A sees of them.
struct Victim {
    customer: String,
    customer_ext: String,
    subscription: String,
    vendor_sub: String,
    key: String,
    tenant: String,
}

impl Victim {
    async fn create(app: &TestApp) -> Victim {
        let customer = app.customer(&app.a, "a-secret-customer").await;
        let subscription = app
            .subscription(&app.a, &customer, "a-secret-vendor-sub")
            .await;
        let (status, key) = app
            .post(
                "/v1/keys",
                app.a.key(Role::Admin),
                json!({"role": "viewer", "label": "a-dashboards"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        Victim {
            customer,
            customer_ext: "a-secret-customer".into(),
            subscription,
            vendor_sub: "a-secret-vendor-sub".into(),
            key: key["id"].as_str().unwrap().to_owned(),
            tenant: app.a.id.to_string(),
        }
    }

    fn fill(&self, text: &str, n: usize) -> String {
        text.replace("{customer_ext}", &self.customer_ext)
            .replace("{customer}", &self.customer)
            .replace("{subscription}", &self.subscription)
            .replace("{vendor_sub}", &self.vendor_sub)
            .replace("{key}", &self.key)
            .replace("{tenant}", &self.tenant)
            .replace("{n}", &n.to_string())
    }

    fn id(&self, kind: Kind) -> &str {
        match kind {
            Kind::Customer => &self.customer,
            Kind::Subscription => &self.subscription,
            Kind::Key => &self.key,
        }
    }

    /// Everything A can see of its objects, to compare before and after B's attempts.
    async fn snapshot(&self, app: &TestApp) -> Value {
        let admin = app.a.key(Role::Admin);
        let mut seen = Vec::new();
        for path in [
            format!("/v1/customers/{}", self.customer),
            format!("/v1/subscriptions/{}", self.subscription),
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
    fn secrets(&self) -> [&str; 6] {
        [
            &self.customer,
            &self.customer_ext,
            &self.subscription,
            &self.vendor_sub,
            &self.key,
            &self.tenant,
        ]
    }
}

/// An id of the same kind that names nothing.
fn missing(kind: Kind) -> String {
    match kind {
        Kind::Customer => CustomerId::generate().to_string(),
        Kind::Subscription => SubscriptionId::generate().to_string(),
        Kind::Key => KeyId::generate().to_string(),
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
    for route in ROUTES {
        for role in Role::ALL {
            let key = app.b.key(role);
            let may = role.allows(route.permission);
            let what = format!("{} {} as B's {role}", route.method, route.template);
            n += 1;
            match &route.probe {
                Probe::Object(kind, body) => {
                    let body = body.map(|b| a.fill(b, n));
                    let theirs = route.template.replace("{id}", a.id(*kind));
                    let nothing = route.template.replace("{id}", &missing(*kind));
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
                            assert_eq!(page["data"], json!([]), "{what} ?{query}");
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
    let (status, doc) = send(app.request(Method::GET, "/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .filter(|verb| {
                    [
                        "get", "put", "post", "delete", "patch", "head", "options", "trace",
                    ]
                    .contains(&verb.as_str())
                })
                .map(move |verb| format!("{} {path}", verb.to_uppercase()))
        })
        .collect();
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
