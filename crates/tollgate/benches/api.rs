//! Load test of the real `tollgate` binary next to a bare axum handler measured in the same run.
//!
//! `cargo bench -p tollgate --bench api -- --help` lists the options. For each scenario the
//! bench measures the maximum throughput with a closed loop (N clients, each sending its next
//! request when the previous one is answered, after a warm-up), then latency in an open loop at
//! a fixed rate of half that maximum. It runs on SQLite always and on PostgreSQL when
//! `TOLLGATE_BENCH_DATABASE_URL` or `TOLLGATE_TEST_DATABASE_URL` is set (in a fresh schema,
//! dropped afterwards), and prints a Markdown table.

use std::{
    future::Future,
    io::{BufRead, BufReader},
    net::SocketAddr,
    pin::Pin,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::Semaphore;

#[derive(Debug, Parser)]
#[command(about = "Load test of the tollgate binary against a bare axum handler")]
struct Options {
    /// Seconds of warm-up before each closed-loop measurement (not recorded).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds of each closed-loop (maximum throughput) measurement.
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// Seconds of each fixed-rate run at half the measured maximum.
    #[arg(long, default_value_t = 5)]
    half_duration: u64,
    /// Concurrent clients of the closed loop.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Only the scenarios whose name contains this text (repeatable).
    #[arg(long)]
    scenario: Vec<String>,
    /// Skip PostgreSQL even when a database URL is set.
    #[arg(long)]
    sqlite_only: bool,
    /// Print every half-load request slower than this many milliseconds, with its second in
    /// the phase, to see whether the tail is spread out or clustered (stalls, periodic work).
    #[arg(long)]
    slow_ms: Option<f64>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Numbers every request of the run, so external ids and idempotency keys never repeat.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// What the setup of a scenario made once per server, handed to every request builder.
type Fixture = Value;
type SetupFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Fixture>> + Send + 'a>>;

/// One kind of request to load the server with. A new scenario is one more entry in
/// [`scenarios`]: its path, the objects it needs first, and the body of its `n`th request.
struct Scenario {
    name: &'static str,
    path: &'static str,
    /// Runs once against each tollgate server (not the bare handler) before the load, e.g. to
    /// create the customer that every order refers to.
    setup: for<'a> fn(&'a Api) -> SetupFuture<'a>,
    /// The JSON body of request number `n` (unique within one server's run).
    body: fn(&Fixture, u64) -> String,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "POST /v1/customers",
            path: "/v1/customers",
            setup: no_setup,
            body: |_, n| {
                json!({
                    "external_id": format!("bench-{n}"),
                    "legal_name": format!("Bench Customer {n} GmbH"),
                    "company_domain": format!("company-{n}.example"),
                    "country": "DE",
                    "email": format!("billing@company-{n}.example"),
                    "phone": "+4930123456",
                    "billing_address": {"line1": "Torstraße 12", "city": "Berlin",
                                        "postal_code": "10119", "country": "DE"}
                })
                .to_string()
            },
        },
        Scenario {
            name: "POST /v1/signups",
            path: "/v1/signups",
            setup: no_setup,
            body: |_, n| signup(n).to_string(),
        },
        Scenario {
            name: "POST /v1/signups, a third on free-mail",
            path: "/v1/signups",
            setup: no_setup,
            body: |_, n| {
                let mut signup = signup(n);
                // As on a real day: many contacts use a free-mail address, so one e-mail domain's
                // velocity key grows with the run instead of staying at one event.
                if n % 3 == 0 {
                    signup["contact"]["email"] = format!("jana.mueller.{n}@gmail.com").into();
                }
                signup.to_string()
            },
        },
        Scenario {
            name: "POST /v1/orders",
            path: "/v1/orders",
            setup: buyers,
            body: |buyers, n| {
                let buyers = buyers.as_array().map_or(&[][..], Vec::as_slice);
                let (customer, card) = buyers
                    .get(usize::try_from(n).unwrap_or(0) % buyers.len().max(1))
                    .and_then(|b| Some((b.get(0)?, b.get(1)?)))
                    .unwrap_or((&Value::Null, &Value::Null));
                json!({
                    "customer_id": customer,
                    "payment_method_id": card,
                    "items": [
                        {"sku": "azure-plan", "product_kind": "azure_plan", "quantity": 1,
                         "unit_price": {"amount": "0.00", "currency": "EUR"}},
                        {"sku": "m365-business-premium", "product_kind": "m365",
                         "quantity": 1 + n % 20, "unit_price": {"amount": "20.60", "currency": "EUR"}}
                    ]
                })
                .to_string()
            },
        },
        Scenario {
            name: "POST /v1/activity (100 records)",
            path: "/v1/activity",
            setup: activity_subscription,
            body: |_, n| activity_batch(n).to_string(),
        },
        Scenario {
            name: "POST /v1/usage (1000 records)",
            path: "/v1/usage",
            setup: usage_subscriptions,
            body: |month, n| usage_batch(month, n, 5),
        },
        Scenario {
            name: "POST /v1/usage (10000 records)",
            path: "/v1/usage",
            setup: usage_subscriptions,
            body: |month, n| usage_batch(month, n, 50),
        },
    ]
}

fn no_setup(_: &Api) -> SetupFuture<'_> {
    Box::pin(async { Ok(Value::Null) })
}

/// An honest sign-up: its own company domain, network, device and phone, so links and
/// velocity stay at the level of a normal day however long the run.
fn signup(n: u64) -> Value {
    let [_, _, _, _, _, a, b, c] = n.to_be_bytes();
    // A network of its own: n picks the /24, so no two sign-ups of a run share one.
    json!({
        "external_id": format!("bench-{n}"),
        "company": {"name": format!("Company {n} GmbH"), "domain": format!("company-{n}.de"),
                    "country": "DE"},
        "contact": {"name": "Jana Müller", "email": format!("jana.mueller@company-{n}.de"),
                    "phone": format!("+4930{:08}", n % 100_000_000)},
        "billing_address": {"line1": "Torstraße 12", "city": "Berlin", "postal_code": "10119",
                            "country": "DE"},
        "ip": format!("81.{b}.{c}.{}", 1 + a % 254),
        "device_id": format!("dev-{n}"),
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "session": {"form_started_at": "2026-11-02T08:58:10Z",
                    "submitted_at": "2026-11-02T09:00:00Z", "key_events": 312, "pointer_events": 41}
    })
}

/// Customers to order: each signed up with a card attached; the fixture is
/// `[[customer_id, payment_method_id], …]`. Orders spread over them, so no one customer's
/// order velocity grows with the length of the run.
fn buyers(api: &Api) -> SetupFuture<'_> {
    const BUYERS: usize = 50;
    Box::pin(async move {
        let mut buyers = Vec::new();
        while buyers.len() < BUYERS {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let decision = api
                .post("/v1/signups", &format!("bench-{n}"), &signup(n))
                .await?;
            let customer = decision["customer_id"]
                .as_str()
                .context("a sign-up decision names its customer")?;
            let card = json!({
                "bin": "45717360", "last4": format!("{:04}", n % 10_000),
                "fingerprint": format!("fp-{n}"), "exp_month": 8, "exp_year": 2031,
                "funding": "credit", "country": "DE", "cvc_check": "pass", "avs_check": "pass",
                "three_ds": "authenticated"
            });
            let path = format!("/v1/customers/{customer}/payment_methods");
            let method = api.post(&path, &format!("bench-card-{n}"), &card).await?;
            buyers.push(json!([customer, method["id"]]));
        }
        Ok(Value::Array(buyers))
    })
}

const ACTIVITY_SUBSCRIPTION: &str = "bench-activity-subscription";
/// Records per `POST /v1/activity` request: events/s is req/s times this.
const ACTIVITY_BATCH: u64 = 100;

/// The customer and subscription every activity record resolves to.
fn activity_subscription(api: &Api) -> SetupFuture<'_> {
    Box::pin(async move {
        let customer = api
            .post(
                "/v1/customers",
                "bench-activity-customer",
                &json!({"external_id": "bench-activity", "legal_name": "Bench Activity GmbH",
                        "country": "DE"}),
            )
            .await?;
        api.post(
            "/v1/subscriptions",
            "bench-activity-subscription",
            &json!({"customer_id": customer["id"], "vendor_subscription_id": ACTIVITY_SUBSCRIPTION,
                    "product_kind": "azure_plan", "quantity": 1}),
        )
        .await?;
        Ok(Value::Null)
    })
}

/// Request `n`: a minute of one subscription's activity in the REST shape. Mostly reads; per
/// batch one VM creation (regions rotating, so the burst detector fires and then folds), one
/// firewall deletion (a Sigma match), four role assignments to a pool of twenty principals,
/// callers from a few German addresses. Every Sigma rule and built-in detector runs on each.
fn activity_batch(n: u64) -> Value {
    const READS: [&str; 4] = [
        "Microsoft.Storage/storageAccounts/read",
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Network/virtualNetworks/read",
        "Microsoft.KeyVault/vaults/read",
    ];
    const REGIONS: [&str; 3] = ["eastus", "westeurope", "southeastasia"];
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default();
    let minute = base + chrono::Duration::minutes(i64::try_from(n).unwrap_or(0));
    let sub = format!("/subscriptions/{ACTIVITY_SUBSCRIPTION}/resourceGroups/rg");
    let records = (0..ACTIVITY_BATCH)
        .map(|i| {
            let at = minute + chrono::Duration::milliseconds(i64::try_from(i).unwrap_or(0) * 100);
            let (operation, resource, extra) = match i {
                0 => (
                    "Microsoft.Compute/virtualMachines/write",
                    format!("{sub}/providers/Microsoft.Compute/virtualMachines/vm-{n}"),
                    json!({"location": REGIONS[usize::try_from(n % 3).unwrap_or(0)]}),
                ),
                50 => (
                    "Microsoft.Network/azureFirewalls/delete",
                    format!("{sub}/providers/Microsoft.Network/azureFirewalls/fw-{n}"),
                    json!({}),
                ),
                i if i % 25 == 1 => (
                    "Microsoft.Authorization/roleAssignments/write",
                    format!("{sub}/providers/Microsoft.Authorization/roleAssignments/ra-{n}-{i}"),
                    json!({"properties": {"requestbody": format!(
                        "{{\"properties\":{{\"principalId\":\"principal-{}\"}}}}",
                        (n + i) % 20
                    )}}),
                ),
                i => (
                    READS[usize::try_from(i % 4).unwrap_or(0)],
                    format!("{sub}/providers/resource-{}", i % 7),
                    json!({}),
                ),
            };
            let mut record = json!({
                "eventDataId": format!("bench-{n}-{i}"),
                "subscriptionId": ACTIVITY_SUBSCRIPTION,
                "operationName": {"value": operation, "localizedValue": operation},
                "status": {"value": "Succeeded", "localizedValue": "Succeeded"},
                "category": {"value": "Administrative", "localizedValue": "Administrative"},
                "level": "Informational",
                "caller": format!("ops-{}@contoso.example", i % 5),
                "httpRequest": {"clientIpAddress": format!("2.56.20.{}", i % 8), "method": "PUT"},
                "resourceId": resource,
                "eventTimestamp": at.to_rfc3339(),
                "correlationId": format!("corr-{n}-{i}"),
            });
            if let (Some(record), Value::Object(extra)) = (record.as_object_mut(), extra) {
                record.extend(extra);
            }
            record
        })
        .collect();
    Value::Array(records)
}

/// Subscriptions and meters of the usage scenarios: every request touches each of the 50 × 4
/// hourly series with the same number of records (resources), so records/s is req/s times
/// 200 × that number.
const USAGE_SUBSCRIPTIONS: u64 = 50;
const USAGE_METERS: [&str; 4] = [
    "Virtual Machines/D2s v5",
    "Storage/P10 LRS Disk",
    "Bandwidth/Standard Data Transfer Out",
    "SQL Database/vCore",
];

/// One customer with a monthly budget (three thresholds) and the scenario's subscriptions; the
/// fixture is the first hour of the current month, where request `n` writes hour `n`, so the
/// detector scores a new hour of every series on each request and the budget sees the spend.
fn usage_subscriptions(api: &Api) -> SetupFuture<'_> {
    Box::pin(async move {
        let customer = api
            .post(
                "/v1/customers",
                "bench-usage-customer",
                &json!({"external_id": "bench-usage", "legal_name": "Bench Usage GmbH",
                        "country": "DE"}),
            )
            .await?;
        api.post(
            "/v1/budgets",
            "bench-usage-budget",
            &json!({"scope": {"kind": "customer", "customer_id": customer["id"]},
                    "amount": {"amount": "1000000.00", "currency": "EUR"},
                    "period": {"kind": "monthly"},
                    "thresholds": [{"percent": 50, "basis": "actual", "action": "notify"},
                                   {"percent": 80, "basis": "forecast", "action": "notify"},
                                   {"percent": 100, "basis": "actual", "action": "notify"}]}),
        )
        .await?;
        for s in 0..USAGE_SUBSCRIPTIONS {
            api.post(
                "/v1/subscriptions",
                &format!("bench-usage-subscription-{s}"),
                &json!({"customer_id": customer["id"],
                        "vendor_subscription_id": format!("bench-usage-{s}"),
                        "product_kind": "azure_plan", "quantity": 1}),
            )
            .await?;
        }
        let now = chrono::Utc::now();
        let month = format!("{}-01T00:00:00Z", now.format("%Y-%m"));
        Ok(json!(month))
    })
}

/// Hour `n` of every series, with `resources` records per series. The text is written
/// directly: building a `serde_json::Value` per record cost the load generator about as much
/// CPU as the server spent ingesting the batch, on the same two cores.
fn usage_batch(month: &Fixture, n: u64, resources: u64) -> String {
    use std::fmt::Write;
    let start = month
        .as_str()
        .and_then(|m| chrono::DateTime::parse_from_rfc3339(m).ok())
        .map(|t| t.to_utc())
        .unwrap_or_default()
        + chrono::Duration::hours(i64::try_from(n).unwrap_or(0));
    let end = (start + chrono::Duration::hours(1)).to_rfc3339();
    let start = start.to_rfc3339();
    let records = USAGE_SUBSCRIPTIONS * USAGE_METERS.len() as u64 * resources;
    let mut body = String::with_capacity(usize::try_from(records).unwrap_or(0) * 400);
    body.push('[');
    for s in 0..USAGE_SUBSCRIPTIONS {
        for (m, meter) in USAGE_METERS.iter().enumerate() {
            for r in 0..resources {
                if body.len() > 1 {
                    body.push(',');
                }
                write!(
                    body,
                    r#"{{"subscription":"bench-usage-{s}","record_id":"bench-{n}-{s}-{m}-{r}","meter":"{meter}","resource_id":"/subscriptions/bench-usage-{s}/resourceGroups/rg/providers/r-{m}-{r}","region":"westeurope","quantity":"1","unit":"1 Hour","cost":"0.{:02}","currency":"EUR","usage_start":"{start}","usage_end":"{end}"}}"#,
                    10 + (n + s + r) % 80
                )
                .expect("writing to a String");
            }
        }
    }
    body.push(']');
    body
}

/// A server under load: its base URL and the key requests carry.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    /// One request; the error names the status and body of a non-2xx answer.
    async fn post(&self, path: &str, idempotency_key: &str, body: &Value) -> anyhow::Result<Value> {
        self.post_text(path, idempotency_key, body.to_string())
            .await
    }

    /// [`Api::post`] with a body that is JSON text already.
    async fn post_text(
        &self,
        path: &str,
        idempotency_key: &str,
        body: String,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("idempotency-key", idempotency_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            bail!("{status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// Latencies (µs) and counts of one measured run.
struct Measurement {
    latency: Histogram<u64>,
    errors: u64,
    seconds: f64,
    /// The server process's CPU seconds (user + system) over the measured window, when it
    /// runs in a process of its own.
    server_cpu: Option<f64>,
}

impl Measurement {
    fn new(seconds: f64) -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            errors: 0,
            seconds,
            server_cpu: None,
        }
    }

    fn record(&mut self, started: Instant, result: &anyhow::Result<Value>, first_error: &Report) {
        match result {
            Ok(_) => self
                .latency
                .saturating_record(started.elapsed().as_micros().try_into().unwrap_or(u64::MAX)),
            Err(error) => {
                self.errors += 1;
                first_error.note(error);
            }
        }
    }

    fn merge(&mut self, other: &Measurement) {
        self.latency.add(&other.latency).expect("same bounds");
        self.errors += other.errors;
    }

    /// Successful requests per second.
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^53")]
    fn rate(&self) -> f64 {
        self.latency.len() as f64 / self.seconds
    }

    /// The server's CPU milliseconds per successful request: unlike requests per second, it
    /// hardly moves with what else the machine is doing.
    #[expect(clippy::cast_precision_loss, reason = "counts far below 2^53")]
    fn cpu_ms_per_request(&self) -> String {
        match self.server_cpu {
            Some(seconds) if !self.latency.is_empty() => {
                format!("{:.2}", seconds * 1000.0 / self.latency.len() as f64)
            }
            _ => "–".to_owned(),
        }
    }

    fn ms(&self, quantile: f64) -> String {
        #[expect(clippy::cast_precision_loss, reason = "latencies far below 2^53 µs")]
        let ms = self.latency.value_at_quantile(quantile) as f64 / 1000.0;
        format!("{ms:.2}")
    }
}

/// Prints the first failure of a run once, so a broken scenario is obvious without flooding.
#[derive(Default)]
struct Report(std::sync::OnceLock<()>);

impl Report {
    fn note(&self, error: &anyhow::Error) {
        if self.0.set(()).is_ok() {
            eprintln!("first failed request: {error:#}");
        }
    }
}

/// Closed loop: `concurrency` clients send back to back; only requests started after the
/// warm-up and before the end are recorded, and the server's CPU (`server_pid`) is read at the
/// same two instants.
async fn max_throughput(
    api: &Api,
    scenario: &Scenario,
    fixture: &Arc<Fixture>,
    options: &Options,
    server_pid: Option<u32>,
) -> Measurement {
    let warm_until = Instant::now() + Duration::from_secs(options.warmup);
    let until = warm_until + Duration::from_secs(options.duration);
    let cpu = server_pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(warm_until.into()).await;
            let start = tollgate_store::testing::cpu_seconds(pid)?;
            tokio::time::sleep_until(until.into()).await;
            Some(tollgate_store::testing::cpu_seconds(pid)? - start)
        })
    });
    let report = Arc::new(Report::default());
    let clients: Vec<_> = (0..options.concurrency)
        .map(|_| {
            let (api, fixture, report) = (api.clone(), Arc::clone(fixture), Arc::clone(&report));
            let (path, body) = (scenario.path, scenario.body);
            tokio::spawn(async move {
                let mut measured = Measurement::new(0.0);
                loop {
                    let n = NEXT.fetch_add(1, Ordering::Relaxed);
                    let text = body(&fixture, n);
                    let started = Instant::now();
                    if started >= until {
                        return measured;
                    }
                    let result = api.post_text(path, &format!("bench-{n}"), text).await;
                    if started >= warm_until {
                        measured.record(started, &result, &report);
                    }
                }
            })
        })
        .collect();
    #[expect(clippy::cast_precision_loss, reason = "seconds are small")]
    let mut total = Measurement::new(options.duration as f64);
    for client in clients {
        total.merge(&client.await.expect("client task"));
    }
    if let Some(cpu) = cpu {
        total.server_cpu = cpu.await.expect("CPU sampling task");
    }
    total
}

/// Open loop: requests start on a fixed schedule whether or not earlier ones were answered.
/// Latency runs from the moment a request is sent; at most `4 × concurrency` are in flight,
/// so a stalled server shows as an achieved rate below the target. The schedule is kept by
/// count (every request due by now is sent, then the loop sleeps a millisecond) rather than by
/// one timer per request: tokio's timers have millisecond resolution, and at the bare
/// handler's rates a timer per request stretched a 3-second phase to tens of seconds.
async fn fixed_rate(
    api: &Api,
    scenario: &Scenario,
    fixture: &Arc<Fixture>,
    rate: f64,
    options: &Options,
) -> Measurement {
    let rate = rate.max(1.0);
    let start = tokio::time::Instant::now();
    let until = start + Duration::from_secs(options.half_duration);
    let in_flight = Arc::new(Semaphore::new(options.concurrency * 4));
    let report = Arc::new(Report::default());
    let mut requests = Vec::new();
    let mut sent = 0u64;
    while tokio::time::Instant::now() < until {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a few seconds at a few thousand requests per second"
        )]
        let due = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        // Behind schedule, the backlog is sent only while the phase lasts: a server (or a
        // client) slower than the target rate must not stretch the phase.
        while sent < due && tokio::time::Instant::now() < until {
            sent += 1;
            let permit = Arc::clone(&in_flight)
                .acquire_owned()
                .await
                .expect("semaphore stays open");
            let (api, fixture, report) = (api.clone(), Arc::clone(fixture), Arc::clone(&report));
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let (path, body, slow_ms) = (scenario.path, scenario.body, options.slow_ms);
            requests.push(tokio::spawn(async move {
                let text = body(&fixture, n);
                let started = Instant::now();
                let result = api.post_text(path, &format!("bench-{n}"), text).await;
                drop(permit);
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if slow_ms.is_some_and(|slow| ms > slow) {
                    let at = started.duration_since(start.into_std()).as_secs_f64();
                    eprintln!("{path}: slow request at {at:.3} s: {ms:.2} ms");
                }
                let mut one = Measurement::new(0.0);
                one.record(started, &result, &report);
                one
            }));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    #[expect(clippy::cast_precision_loss, reason = "seconds are small")]
    let mut total = Measurement::new(options.half_duration as f64);
    for request in requests {
        total.merge(&request.await.expect("request task"));
    }
    total
}

/// The `tollgate` binary serving a fresh store; killed when dropped.
struct Server {
    child: Child,
    api: Api,
    /// Keeps the SQLite data directory alive.
    _data_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// `store_args` selects the store (`--data-dir …` or `--database-url …`).
    fn start(http: &reqwest::Client, store_args: &[String]) -> anyhow::Result<Self> {
        let binary = env!("CARGO_BIN_EXE_tollgate");
        let init = Command::new(binary)
            .args(store_args)
            .args(["init", "--json"])
            .output()
            .context("running tollgate init")?;
        if !init.status.success() {
            bail!("tollgate init: {}", String::from_utf8_lossy(&init.stderr));
        }
        let created: Value = serde_json::from_slice(&init.stdout).context("init --json output")?;
        let key = created["key"]["secret"]
            .as_str()
            .context("init --json prints key.secret")?
            .to_owned();
        let mut child = Command::new(binary)
            .args(store_args)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .context("starting tollgate serve")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let Some(line) = lines.next().transpose()? else {
                bail!("tollgate serve exited before listening");
            };
            if let Some(rest) = line.strip_prefix("tollgate listening on http://") {
                let addr: SocketAddr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .context("listening address")?;
                break addr;
            }
        };
        // The pipe must keep draining, or the server blocks once its log fills it.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            api: Api {
                http: http.clone(),
                base: format!("http://{addr}"),
                key,
            },
            _data_dir: None,
        })
    }

    fn sqlite(http: &reqwest::Client) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let args = ["--data-dir".to_owned(), dir.path().display().to_string()];
        let mut server = Self::start(http, &args)?;
        server._data_dir = Some(dir);
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A schema of its own on the benchmark's PostgreSQL server, as the store tests make them.
struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    fn base_url() -> Option<String> {
        std::env::var("TOLLGATE_BENCH_DATABASE_URL")
            .or_else(|_| std::env::var("TOLLGATE_TEST_DATABASE_URL"))
            .ok()
    }

    async fn create(base: String) -> anyhow::Result<Self> {
        let name = format!(
            "bench_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
        );
        Self::execute(&base, &format!("CREATE SCHEMA {name}")).await?;
        Ok(Self { base, name })
    }

    fn url(&self) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.base, self.name
        )
    }

    async fn drop_schema(self) -> anyhow::Result<()> {
        Self::execute(&self.base, &format!("DROP SCHEMA {} CASCADE", self.name)).await
    }

    async fn execute(base: &str, sql: &str) -> anyhow::Result<()> {
        let mut conn = sqlx::PgConnection::connect(base)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {base}"))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }
}

/// A bare axum handler in its own runtime (as tollgate has its own process): it parses the JSON
/// body and answers 201 with a small JSON object, the least any JSON API does.
fn start_bare() -> anyhow::Result<String> {
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/{*path}",
            axum::routing::post(|axum::Json(body): axum::Json<Value>| async move {
                let answer =
                    json!({"id": "bare_0192", "fields": body.as_object().map_or(0, |o| o.len())});
                (axum::http::StatusCode::CREATED, axum::Json(answer))
            }),
        )
        // Tollgate's own limit for batches, so the bare handler takes the same bodies.
        .layer(axum::extract::DefaultBodyLimit::max(
            tollgate_server::ServerConfig::default().batch_body_limit,
        ));
    std::thread::spawn(move || runtime.block_on(axum::serve(listener, app).into_future()));
    Ok(format!("http://{addr}"))
}

struct Row {
    scenario: &'static str,
    server: &'static str,
    max: Measurement,
    half_target: f64,
    half: Measurement,
}

async fn measure(
    api: &Api,
    server: &'static str,
    server_pid: Option<u32>,
    scenario: &Scenario,
    fixture: &Arc<Fixture>,
    options: &Options,
) -> Row {
    eprintln!("{}: {server}: closed loop…", scenario.name);
    let max = max_throughput(api, scenario, fixture, options, server_pid).await;
    let half_target = max.rate() / 2.0;
    eprintln!(
        "{}: {server}: {:.0} req/s; fixed rate {half_target:.0} req/s…",
        scenario.name,
        max.rate()
    );
    let half = fixed_rate(api, scenario, fixture, half_target, options).await;
    Row {
        scenario: scenario.name,
        server,
        max,
        half_target,
        half,
    }
}

fn print_table(rows: &[Row], options: &Options) {
    println!(
        "\nclosed loop: {} clients, {} s warm-up + {} s measured; half load: fixed rate for {} s\n",
        options.concurrency, options.warmup, options.duration, options.half_duration
    );
    println!(
        "| scenario | server | req/s | p50 ms | p99 ms | p99.9 ms | vs bare | server CPU ms/req | half load req/s (achieved) | p50 ms | p99 ms | errors |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let bare = rows
            .iter()
            .find(|r| r.scenario == row.scenario && r.server == "bare axum")
            .map_or(f64::NAN, |r| r.max.rate());
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {:.1} % | {} | {:.0} ({:.0}) | {} | {} | {} |",
            row.scenario,
            row.server,
            row.max.rate(),
            row.max.ms(0.5),
            row.max.ms(0.99),
            row.max.ms(0.999),
            100.0 * row.max.rate() / bare,
            row.max.cpu_ms_per_request(),
            row.half_target,
            row.half.rate(),
            row.half.ms(0.5),
            row.half.ms(0.99),
            row.max.errors + row.half.errors,
        );
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let scenarios: Vec<_> = scenarios()
        .into_iter()
        .filter(|s| {
            options.scenario.is_empty()
                || options.scenario.iter().any(|f| s.name.contains(f.as_str()))
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new()?;
    let http = reqwest::Client::new();
    let bare = Api {
        http: http.clone(),
        base: start_bare()?,
        key: "bare".into(),
    };
    let postgres = match PgSchema::base_url() {
        Some(base) if !options.sqlite_only => Some(runtime.block_on(PgSchema::create(base))?),
        _ => {
            eprintln!(
                "PostgreSQL skipped: set TOLLGATE_BENCH_DATABASE_URL or TOLLGATE_TEST_DATABASE_URL"
            );
            None
        }
    };

    let mut servers = vec![("tollgate SQLite", Server::sqlite(&http)?)];
    if let Some(schema) = &postgres {
        let args = ["--database-url".to_owned(), schema.url()];
        servers.push(("tollgate PostgreSQL", Server::start(&http, &args)?));
    }
    let mut rows = Vec::new();
    for scenario in &scenarios {
        let mut fixtures = Vec::new();
        for (_, server) in &servers {
            let fixture = runtime
                .block_on((scenario.setup)(&server.api))
                .with_context(|| format!("setting up {}", scenario.name))?;
            fixtures.push(Arc::new(fixture));
        }
        // The bare handler gets the same bodies, built from the first server's fixture.
        rows.push(runtime.block_on(measure(
            &bare,
            "bare axum",
            None,
            scenario,
            &fixtures[0],
            &options,
        )));
        for ((label, server), fixture) in servers.iter().zip(&fixtures) {
            let pid = Some(server.child.id());
            rows.push(runtime.block_on(measure(
                &server.api,
                label,
                pid,
                scenario,
                fixture,
                &options,
            )));
        }
    }
    drop(servers);
    if let Some(schema) = postgres {
        runtime.block_on(schema.drop_schema())?;
    }
    print_table(&rows, &options);
    Ok(())
}
