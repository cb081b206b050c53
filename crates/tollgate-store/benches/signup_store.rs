//! A sign-up's store work alone, without HTTP, JSON parsing or rules: the floor under
//! `POST /v1/signups` (`crates/tollgate/benches/api.rs`) on this machine.
//!
//! `cargo bench -p tollgate-store --bench signup_store -- --help` lists the options. Each case
//! runs N tasks in a closed loop for a fixed time after a warm-up, in this one process, and
//! reports operations per second, the process's CPU per operation and latency percentiles:
//!
//! - *one-row write*: a write transaction that inserts one small row and commits: what a
//!   durable, group-committed write costs at the least (the baseline);
//! - *sign-up read*: the one lookup a sign-up decision makes (links, velocity, list hits);
//! - *sign-up writes*: the rows a sign-up leaves, as `POST /v1/signups` writes them (customer,
//!   facts, link keys, velocity events, decision, idempotent answer, two audit events);
//! - *sign-up store work*: the read, then the writes.
//!
//! SQLite always; PostgreSQL too when `TOLLGATE_TEST_DATABASE_URL` is set (a fresh schema).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use chrono::Utc;
use clap::Parser;
use tollgate_core::{
    CustomerId, DecisionId, TenantId,
    audit::{Actor, AuditEntry},
    customers::{CustomerStatus, Terms, TrustTier},
    tenancy::Tenant,
};
use tollgate_store::{DecisionRow, Lookup, NewCustomer, Store, StoredResponse, testing};

#[derive(Debug, Parser)]
#[command(about = "A sign-up's store work alone, next to a one-row write")]
struct Options {
    /// Seconds of warm-up before each case (not recorded).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Seconds each case is measured.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Concurrent tasks (repeatable: one table row per value).
    #[arg(long, default_values_t = [4])]
    concurrency: Vec<usize>,
    /// Skip PostgreSQL even when a database URL is set.
    #[arg(long)]
    sqlite_only: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Numbers every operation of the run, so keys and external ids never repeat.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Sizes of the JSON a sign-up stores, as measured on the demo's sign-up decisions
/// (`SELECT avg(length(facts)), avg(length(features)), avg(length(decision)) FROM decisions
/// WHERE kind = 'signup'`) and idempotent answers (`avg(length(body))`).
const FACTS_BYTES: usize = 590;
const FEATURES_BYTES: usize = 1_870;
const DECISION_BYTES: usize = 580;
const ANSWER_BYTES: usize = 620;

#[derive(Clone, Copy, Debug)]
enum Case {
    OneRow,
    Read,
    Writes,
    Both,
}

impl Case {
    const ALL: [Case; 4] = [Case::OneRow, Case::Read, Case::Writes, Case::Both];

    fn name(self) -> &'static str {
        match self {
            Case::OneRow => "one-row write (baseline)",
            Case::Read => "sign-up read",
            Case::Writes => "sign-up writes",
            Case::Both => "sign-up store work (read, then writes)",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    println!(
        "| store | tasks | case | ops/s | vs one-row write | CPU µs/op | p50 ms | p99 ms |\n\
         |---|---:|---|---:|---:|---:|---:|---:|"
    );
    let sqlite = testing::sqlite().await;
    run_engine("SQLite", &sqlite.store, &options).await?;
    if !options.sqlite_only
        && let Some(postgres) = testing::postgres().await
    {
        run_engine("PostgreSQL", &postgres.store, &options).await?;
    }
    Ok(())
}

async fn run_engine(engine: &str, store: &Store, options: &Options) -> anyhow::Result<()> {
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: "bench".into(),
        name: "Bench".into(),
        time_zone: "UTC".into(),
        created_at: Utc::now(),
    };
    let mut tx = store.begin().await?;
    tx.insert_tenant(&tenant).await?;
    tx.commit().await?;
    for &tasks in &options.concurrency {
        let mut baseline = None;
        for case in Case::ALL {
            let m = measure(store, tenant.id, case, tasks, options).await?;
            let base = *baseline.get_or_insert(m.ops_per_s);
            println!(
                "| {engine} | {tasks} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} |",
                case.name(),
                m.ops_per_s,
                m.ops_per_s / base,
                m.cpu_us_per_op,
                m.p50_ms,
                m.p99_ms,
            );
        }
    }
    Ok(())
}

struct Measurement {
    ops_per_s: f64,
    cpu_us_per_op: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn measure(
    store: &Store,
    tenant: TenantId,
    case: Case,
    tasks: usize,
    options: &Options,
) -> anyhow::Result<Measurement> {
    let warm_until = Instant::now() + Duration::from_secs(options.warmup);
    let until = warm_until + Duration::from_secs(options.duration);
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    operation(&store, tenant, case).await?;
                    if started >= warm_until && Instant::now() < until {
                        latencies.push(started.elapsed());
                    }
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    tokio::time::sleep_until(warm_until.into()).await;
    let cpu_before = testing::cpu_seconds(std::process::id()).unwrap_or(0.0);
    tokio::time::sleep_until(until.into()).await;
    let cpu_after = testing::cpu_seconds(std::process::id()).unwrap_or(0.0);
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    latencies.sort_unstable();
    let ops = latencies.len().max(1) as f64;
    let at = |q: f64| {
        // Truncation picks the sample at or below the quantile, as a nearest-rank percentile.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Ok(Measurement {
        ops_per_s: ops / options.duration as f64,
        cpu_us_per_op: (cpu_after - cpu_before) * 1e6 / ops,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

async fn operation(store: &Store, tenant: TenantId, case: Case) -> anyhow::Result<()> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let signup = Signup::new(n);
    match case {
        Case::OneRow => {
            let mut tx = store.begin().await?;
            tx.record_velocity(tenant, &[("bench_one_row", &signup.ip, 0)], Utc::now())
                .await?;
            tx.commit().await?;
        }
        Case::Read => signup.read(store, tenant).await?,
        Case::Writes => signup.write(store, tenant).await?,
        Case::Both => {
            signup.read(store, tenant).await?;
            signup.write(store, tenant).await?;
        }
    }
    Ok(())
}

/// The keys and texts of the `n`th sign-up: its own e-mail, phone, device and address, in a
/// network of 256 sign-ups, as the API bench sends them.
struct Signup {
    n: u64,
    ip: String,
    link_keys: Vec<(&'static str, String)>,
    list_candidates: Vec<(&'static str, String)>,
}

impl Signup {
    fn new(n: u64) -> Self {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "the low 24 bits, on purpose"
        )]
        let address = std::net::Ipv4Addr::from(0x0a00_0000 | (n as u32 & 0x00ff_ffff));
        let ip = address.to_string();
        let network = tollgate_core::signals::geo::network_key(address.into());
        let link_keys = vec![
            ("email", format!("buyer{n}@example.com")),
            ("phone", format!("+4915{n:09}")),
            ("ip", ip.clone()),
            ("ip24", network),
            ("device", format!("dev_{n}")),
        ];
        // The decision asks for every CIDR range holding the address, /0 to /32, besides the
        // e-mail, its domain, phone, device and country.
        let mut list_candidates: Vec<_> = (0..=32_u32)
            .map(|prefix| {
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                let net = std::net::Ipv4Addr::from(address.to_bits() & mask);
                ("ip", format!("{net}/{prefix}"))
            })
            .collect();
        list_candidates.extend([
            ("email", format!("buyer{n}@example.com")),
            ("domain", "example.com".to_owned()),
            ("phone", format!("+4915{n:09}")),
            ("device", format!("dev_{n}")),
            ("country", "DE".to_owned()),
        ]);
        Self {
            n,
            ip,
            link_keys,
            list_candidates,
        }
    }

    fn velocity(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("signup_ip", self.ip.as_str()),
            ("signup_email_domain", "example.com"),
            ("signup_network", self.link_keys[3].1.as_str()),
            ("signup_device", self.link_keys[4].1.as_str()),
        ]
    }

    async fn read(&self, store: &Store, tenant: TenantId) -> anyhow::Result<()> {
        let velocity = self.velocity();
        let lookup = Lookup {
            link_keys: &self.link_keys,
            except: None,
            velocity: &velocity,
            list_candidates: &self.list_candidates,
            history_of: None,
        };
        let mut tx = store.read_latest().await?;
        std::hint::black_box(tx.look_up(tenant, &lookup, Utc::now()).await?);
        Ok(())
    }

    async fn write(&self, store: &Store, tenant: TenantId) -> anyhow::Result<()> {
        let now = Utc::now();
        let customer = CustomerId::generate();
        let mut tx = store.begin().await?;
        let created = tx
            .insert_customer(
                tenant,
                NewCustomer {
                    id: customer,
                    external_id: format!("ext-{}", self.n),
                    legal_name: format!("Buyer {} GmbH", self.n),
                    company_domain: Some("example.com".into()),
                    country: "DE".parse()?,
                    email: Some(self.link_keys[0].1.clone()),
                    phone: Some(self.link_keys[1].1.clone()),
                    billing_address: None,
                    status: CustomerStatus::Active,
                    trust_tier: TrustTier::New,
                    terms: Terms::default(),
                },
                now,
            )
            .await?;
        tx.insert_signup(tenant, customer, &filler(FACTS_BYTES), now)
            .await?;
        tx.add_link_keys(tenant, customer, &self.link_keys, now)
            .await?;
        let velocity: Vec<_> = self
            .velocity()
            .into_iter()
            .map(|(kind, key)| (kind, key, 0))
            .collect();
        tx.record_velocity(tenant, &velocity, now).await?;
        tx.defer_audit(
            tenant,
            now,
            AuditEntry {
                actor: Actor::Key {
                    id: "key_bench".into(),
                },
                action: "customer.created".into(),
                object_id: customer.to_string(),
                data: serde_json::to_value(&created)?,
            },
        );
        let decision = DecisionId::generate();
        tx.insert_decision(
            tenant,
            &DecisionRow {
                id: decision,
                customer_id: customer,
                kind: "signup".into(),
                subject_id: customer.to_string(),
                verdict: "approve".into(),
                score: 12,
                policy_version: "v1".into(),
                decision: filler(DECISION_BYTES),
                facts: filler(FACTS_BYTES),
                features: filler(FEATURES_BYTES),
                shadows: "[]".into(),
                created_at: now,
            },
        )
        .await?;
        // `POST /v1/signups` asks for the tenant's webhook endpoints to publish the decision.
        std::hint::black_box(tx.enabled_webhooks(tenant).await?);
        tx.defer_audit(
            tenant,
            now,
            AuditEntry {
                actor: Actor::Rule {
                    policy: "v1".into(),
                },
                action: "decision.created".into(),
                object_id: decision.to_string(),
                data: serde_json::json!({"verdict": "approve", "score": 12, "reasons": []}),
            },
        );
        tx.save_idempotent_response(
            tenant,
            &format!("key-{}", self.n),
            &StoredResponse {
                request_hash: format!("{:064x}", self.n),
                status: 201,
                body: filler(ANSWER_BYTES),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A JSON string of `bytes` bytes, standing in for a document of that size.
fn filler(bytes: usize) -> String {
    format!("\"{}\"", "x".repeat(bytes.saturating_sub(2)))
}
