//! What an operator relies on: health and readiness, Prometheus metrics per route template,
//! a request id on every answer, and problem+json for unknown routes and methods.

use reqwest::{Method, StatusCode, header::CONTENT_TYPE};
use serde_json::json;
use tollgate_core::tenancy::Role;

use crate::{
    harness::{TestApp, send},
    on_both_engines,
};

async fn health_and_readiness_answer(app: &TestApp) {
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let (code, body) = send(app.request(Method::GET, path, None)).await;
        assert_eq!(code, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["status"], status, "{path}");
    }
}

async fn metrics_count_requests_per_route_template(app: &TestApp) {
    let customer = app.customer(&app.a, "metered").await;
    let (status, _) = app
        .get(
            &format!("/v1/customers/{customer}"),
            app.a.key(Role::Viewer),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let route = r#"route="/v1/customers/{id}""#;
    let has = |metric: &str| {
        text.lines()
            .any(|line| line.starts_with(metric) && line.contains(route))
    };
    assert!(has("http_requests_total{"), "{text}");
    assert!(has("http_request_duration_seconds_bucket{"), "{text}");
    assert!(has("http_request_duration_seconds_count{"), "{text}");
    assert!(
        !text.contains(&customer),
        "raw paths never become labels: {text}"
    );
}

async fn every_answer_carries_a_request_id(app: &TestApp) {
    let viewer = app.a.key(Role::Viewer);
    let requests = [
        app.request(Method::GET, "/healthz", None),
        app.request(Method::GET, "/metrics", None),
        app.request(Method::GET, "/v1/customers", Some(viewer)),
        app.request(Method::GET, "/v1/customers", None),
        app.request(Method::GET, "/v1/keys", Some(viewer)),
        app.request(Method::POST, "/v1/customers", Some(app.a.key(Role::Admin)))
            .json(&json!({"nickname": "x"})),
        app.request(Method::GET, "/no/such/route", None),
        app.request(Method::DELETE, "/healthz", None),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let id = response.headers().get("x-request-id");
        assert!(
            id.is_some_and(|id| !id.is_empty()),
            "{} answered {} without x-request-id",
            response.url(),
            response.status()
        );
    }
    // A caller's own id is kept, so logs on both sides line up.
    let response = app
        .request(Method::GET, "/healthz", None)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

async fn unknown_routes_and_methods_are_problems(app: &TestApp) {
    let viewer = app.a.key(Role::Viewer);
    let cases = [
        (
            app.request(Method::GET, "/no/such/route", None),
            StatusCode::NOT_FOUND,
        ),
        (
            app.request(Method::GET, "/v1/nothing-here", Some(viewer)),
            StatusCode::NOT_FOUND,
        ),
        (
            app.request(Method::DELETE, "/healthz", None),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            app.request(Method::DELETE, "/v1/customers", Some(viewer)),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            app.request(Method::PUT, "/v1/tenant", Some(viewer)),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (request, expected) in cases {
        let response = request.send().await.unwrap();
        let what = format!("{}", response.url());
        assert_eq!(response.status(), expected, "{what}");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{what}"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["status"], expected.as_u16(), "{what}");
        assert!(problem["type"].is_string() && problem["title"].is_string());
    }
}

on_both_engines!(
    health_and_readiness_answer,
    metrics_count_requests_per_route_template,
    every_answer_carries_a_request_id,
    unknown_routes_and_methods_are_problems,
);
