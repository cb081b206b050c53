//! A 2xx means committed: the real binary is killed with SIGKILL right after an answer
//! arrives, restarted on the same store, and must still hold every acknowledged customer.

#[path = "support/server.rs"]
mod server;
mod support;

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use server::Server;
use support::{Engine, Place};

/// A small deterministic generator, so a failing kill point can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn customer_is_there(http: &Client, server: &Server, key: &str, external_id: &str) {
    let response = http
        .get(format!(
            "{}/v1/customers?external_id={external_id}",
            server.base
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    let found = page["data"].as_array().unwrap();
    assert_eq!(found.len(), 1, "acknowledged {external_id} is lost: {page}");
    assert_eq!(found[0]["legal_name"], format!("Durable {external_id}"));
}

async fn acknowledged_writes_survive_sigkill(engine: Engine) {
    let Some(place) = Place::new(engine).await else {
        eprintln!(
            "skipped: {} is not set",
            tollgate_store::testing::DATABASE_URL_VAR
        );
        return;
    };
    let key = place.init()["key"]["secret"].as_str().unwrap().to_owned();
    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut random = XorShift(0x5eed_2026_1102);
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..4 {
        let mut server = place.serve(&http, &[]).await;
        for external_id in &acknowledged {
            customer_is_there(&http, &server, &key, external_id).await;
        }
        let kill_after = 1 + random.below(8);
        for n in 1..=kill_after {
            let external_id = format!("durable-{round}-{n}");
            let response = http
                .post(format!("{}/v1/customers", server.base))
                .bearer_auth(&key)
                .json(&json!({
                    "external_id": external_id,
                    "legal_name": format!("Durable {external_id}"),
                    "country": "DE"
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            acknowledged.push(external_id);
            if n == kill_after {
                // The answer's headers are in: kill before even reading its body.
                server.child.kill().unwrap();
                server.child.wait().unwrap();
            }
        }
    }
    let server = place.serve(&http, &[]).await;
    for external_id in &acknowledged {
        customer_is_there(&http, &server, &key, external_id).await;
    }
    assert!(acknowledged.len() >= 4);
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    acknowledged_writes_survive_sigkill(Engine::Sqlite).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    acknowledged_writes_survive_sigkill(Engine::Postgres).await;
}
