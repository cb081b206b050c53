//! The dunning run and the aging report over a large book: by default 100,000 customers with
//! 10 open invoices each (1,000,000 open invoices), of which a share of customers is past due.
//!
//! `cargo bench -p tollgate --bench dunning -- --help` lists the options. Runs on SQLite, and on
//! PostgreSQL when `TOLLGATE_TEST_DATABASE_URL` is set (in a fresh schema, dropped afterwards).
//! Rows are seeded straight through the store (`Store::seed_receivables`), many per statement.
//! Measured, on one run day and the next:
//!
//! 1. the first run, where every past-due customer gets its first step (the cold start);
//! 2. the same run again the same day (nothing to do; every past-due customer is screened);
//! 3. the next day's run (the steady state: only customers crossing a ladder threshold act);
//! 4. `GET /v1/receivables/aging` over HTTP on the real router;
//! 5. `tollgate import invoices` of a CSV of new invoices for the seeded customers (the release
//!    binary on the same database), next to parsing the same file with the `csv` crate alone.

use std::{sync::Arc, time::Instant};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use clap::Parser;
use tollgate_core::{
    CustomerId, TenantId,
    audit::Actor,
    clock::ManualClock,
    tenancy::{Role, Tenant},
};
use tollgate_server::{
    AppState, Application, ServerConfig, issue_key,
    jobs::dunning::{self, RunReport, Scope},
};
use tollgate_store::{SeedInvoice, testing};

#[derive(Debug, Parser)]
#[command(about = "Dunning run and aging report over a large receivables book")]
struct Options {
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    #[arg(long, default_value_t = 10)]
    invoices_per_customer: usize,
    /// Share of customers whose oldest invoice is past due (1 to 90 days, spread evenly).
    #[arg(long, default_value_t = 5)]
    past_due_percent: usize,
    /// Invoices in the CSV given to `tollgate import invoices` (0 skips the import).
    #[arg(long, default_value_t = 100_000)]
    import_invoices: usize,
    /// Skip PostgreSQL even when a database URL is set.
    #[arg(long)]
    sqlite_only: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn run_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("a date")
}

fn at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    day.and_hms_opt(hour, 0, 0).expect("a time").and_utc()
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut rows = Vec::new();
        rows.push(bench("SQLite", testing::sqlite().await, &options).await?);
        if !options.sqlite_only
            && let Some(db) = testing::postgres().await
        {
            let schema = db
                .url
                .rsplit("search_path%3D")
                .next()
                .unwrap_or_default()
                .to_owned();
            let store = db.store.clone();
            let row = bench("PostgreSQL", db, &options).await;
            store
                .execute_raw(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await?;
            rows.push(row?);
        }
        println!();
        println!(
            "| store | seed | first run (acted) | same day again | next day (acted) | aging | import |"
        );
        println!("|---|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
        Ok(())
    })
}

async fn bench(name: &str, db: testing::TestStore, options: &Options) -> anyhow::Result<String> {
    let store = db.store.clone();
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: "bench".into(),
        name: "bench".into(),
        time_zone: "UTC".into(),
        created_at: at(run_day() - Duration::days(400), 0),
    };
    let mut tx = store.begin().await?;
    tx.insert_tenant(&tenant).await?;
    let key = issue_key(
        &mut tx,
        tenant.id,
        Role::Admin,
        None,
        None,
        Actor::Cli,
        tenant.created_at,
    )
    .await?;
    tx.commit().await?;

    let percent = options.past_due_percent;
    let per_customer = options.invoices_per_customer;
    let started = Instant::now();
    let customers = store
        .seed_receivables(
            tenant.id,
            options.customers,
            5_000,
            tenant.created_at,
            |i| {
                (0..per_customer)
                    .map(|n| {
                        let due = if n == 0 && i % 100 < percent {
                            run_day() - Duration::days(1 + (i / 100 % 90) as i64)
                        } else {
                            run_day() + Duration::days(3 + 30 * n as i64)
                        };
                        SeedInvoice {
                            due_at: at(due, 12),
                            total_minor: 10_000 + (i % 7) as i64 * 1_000,
                        }
                    })
                    .collect()
            },
        )
        .await?;
    if name == "PostgreSQL" {
        // A production database has statistics (autovacuum analyzes tables as they grow);
        // tables bulk-loaded a moment ago may not yet, and would be planned blind.
        // Only the bench schema's tables: a database-wide ANALYZE also visits every test
        // schema and can run out of lock slots.
        store
            .execute_raw("ANALYZE customers, invoices, account_facts, dunning_episodes")
            .await?;
    }
    let seed = started.elapsed();
    eprintln!(
        "{name}: seeded {} customers, {} invoices in {seed:.1?}",
        options.customers,
        options.customers * per_customer
    );

    let clock = ManualClock::new(at(run_day(), 10));
    let state = AppState::new(
        store.clone(),
        Arc::new(clock.clone()),
        ServerConfig {
            listen: "127.0.0.1:0".parse()?,
            ..ServerConfig::default()
        },
    );
    let scope = Scope::Tenant(tenant.id);
    let timed = |what: &'static str| {
        let state = state.clone();
        async move {
            let started = Instant::now();
            let report = dunning::run(&state, scope, None)
                .await
                .map_err(|e| anyhow::anyhow!("{what}: {e:?}"))?;
            let took = started.elapsed();
            eprintln!("{name}: {what} in {took:.2?}: {}", summary(&report));
            anyhow::Ok((took, report))
        }
    };
    let (first, first_report) = timed("first run").await?;
    let (again, _) = timed("same day again").await?;
    clock.advance(Duration::days(1));
    let (next, next_report) = timed("next day").await?;

    // The aging report without HTTP: the store's summing query and the report it makes.
    let started = Instant::now();
    let report = store
        .read()
        .await?
        .aging(tenant.id, run_day(), chrono_tz::UTC, None)
        .await?;
    eprintln!(
        "{name}: store aging: {} customer rows in {:.2?}",
        report.customers.len(),
        started.elapsed()
    );
    drop(report);

    let app = Application::bind(state.clone()).await?;
    let addr = app.local_addr()?;
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .get(format!(
            "http://{addr}/v1/receivables/aging?as_of={}",
            run_day()
        ))
        .bearer_auth(&key.secret)
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let aging = started.elapsed();
    let body: serde_json::Value = serde_json::from_slice(&bytes)?;
    anyhow::ensure!(status.is_success(), "aging: {status} {body}");
    eprintln!(
        "{name}: aging in {aging:.2?} ({} customer rows, {} bytes)",
        body["customers"].as_array().map_or(0, Vec::len),
        bytes.len()
    );
    let import = if options.import_invoices > 0 {
        import_invoices(name, &db.url, &customers, options.import_invoices)?
    } else {
        "—".to_owned()
    };
    Ok(format!(
        "| {name} | {seed:.1?} | {first:.2?} ({}) | {again:.2?} | {next:.2?} ({}) | {aging:.2?} | {import} |",
        first_report.acted, next_report.acted
    ))
}

/// Writes `count` one-line invoices for `customers` to a CSV, imports it with the release binary
/// into the bench tenant and reports rows/s, beside the time the `csv` crate takes to read it.
fn import_invoices(
    name: &str,
    url: &str,
    customers: &[CustomerId],
    count: usize,
) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("invoices.csv");
    let mut csv = String::from(
        "number,customer_id,issued_at,due_at,currency,total,description,subscription_id,quantity,amount\n",
    );
    for n in 0..count {
        let customer = customers[n % customers.len()];
        let cents = 1_000 + n % 9_000;
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        csv.push_str(&format!(
            "IMP-{n},{customer},2026-06-01T00:00:00Z,2026-07-01T00:00:00Z,EUR,{amount},Azure plan May,,1,{amount}\n"
        ));
    }
    std::fs::write(&path, &csv)?;

    let started = Instant::now();
    let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
    let parsed = reader.records().filter(Result::is_ok).count();
    let parse = started.elapsed();

    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["--database-url", url, "import", "invoices"])
        .arg(&path)
        .args(["--tenant", "bench", "--json"])
        .output()?;
    let took = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "{name}: import failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let rate = count as f64 / took.as_secs_f64();
    eprintln!(
        "{name}: imported {count} invoices in {took:.2?} ({rate:.0} rows/s; the csv crate alone read {parsed} rows in {parse:.2?}): {}",
        String::from_utf8_lossy(&output.stdout).trim()
    );
    Ok(format!("{count} in {took:.1?} = {rate:.0} rows/s"))
}

fn summary(report: &RunReport) -> String {
    format!(
        "screened {}, acted {}, transitions {:?}, e-mails {}, failed {}",
        report.screened, report.acted, report.tally.transitions, report.tally.emails, report.failed
    )
}
