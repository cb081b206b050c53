//! How long each console page takes to render over the full demo (300 honest customers,
//! 90 days) on SQLite in a data directory, through HTTP like a browser.
//!
//! `cargo bench -p tollgate-demo --bench console` (see BENCHMARKS.md for results).

use std::{sync::Arc, time::Instant};

use reqwest::{header, redirect::Policy};
use tollgate_core::clock::ManualClock;
use tollgate_demo::{Options, generate};
use tollgate_server::{AppState, Application, ServerConfig};
use tollgate_store::Store;

const ROUNDS: usize = 30;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let options = Options::ending("2026-11-02T00:00:00Z".parse().unwrap(), 90, 300);
    let started = Instant::now();
    let demo = generate(store.clone(), &options, |_| {}).await.unwrap();
    println!(
        "demo: {} days, {} honest, {} requests in {:.1} s",
        options.days,
        options.honest,
        demo.requests,
        started.elapsed().as_secs_f64()
    );
    let state = AppState::new(
        store,
        Arc::new(ManualClock::new(demo.ended_at)),
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        },
    );
    let app = Application::bind(state).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));

    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let cookie = sign_in(&http, &base, &demo.keys.analyst).await;
    let cast = &demo.cast;
    let mut pages = vec![
        ("overview", "/console".to_owned()),
        ("queues", "/console/queues".to_owned()),
        ("rules", "/console/rules".to_owned()),
        ("collections", "/console/collections".to_owned()),
    ];
    for (name, customer) in [
        ("customer: honest", cast.honest.get(5)),
        ("customer: hijacked", cast.hijacked.as_ref()),
        ("customer: ring member", cast.ring.last()),
        ("customer: non-payer", cast.non_payers.first()),
    ] {
        if let Some(id) = customer {
            pages.push((name, format!("/console/customers/{id}")));
        }
    }
    println!();
    println!("| page | median ms | p95 ms | max ms |");
    println!("|---|---:|---:|---:|");
    for (name, path) in pages {
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let response = http
                .get(format!("{base}{path}"))
                .header(header::COOKIE, &cookie)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.bytes().await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            times[ROUNDS / 2],
            times[ROUNDS * 95 / 100],
            times[ROUNDS - 1]
        );
    }
}

/// Signs in like the form does and returns the session cookie.
async fn sign_in(http: &reqwest::Client, base: &str, key: &str) -> String {
    let form = http
        .get(format!("{base}/console/sign-in"))
        .send()
        .await
        .unwrap();
    let sign_in_cookie = form
        .headers()
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = sign_in_cookie.split_once('=').unwrap().1.to_owned();
    let response = http
        .post(format!("{base}/console/sign-in"))
        .header(header::COOKIE, &sign_in_cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("api_key={key}&csrf={token}"))
        .send()
        .await
        .unwrap();
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("tg_session="))
        .expect("signed in")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}
