//! A simulated reseller for demonstrations, console tests and benchmarks.
//!
//! [`generate`] creates a fresh tenant and plays a few months of a reseller's life through the
//! real API and jobs, day by day on a [`ManualClock`]: honest small businesses sign up, buy,
//! use and pay; card testers, a ring sharing cards and devices, sign-up bots, prepaid cards, a
//! hijacked account mining crypto on GPUs, and customers who stop paying (one of whom pays
//! after being suspended) meet the same decisions, budgets, anomaly detector and dunning run a
//! production deployment would apply. The same seed always plays the same story.

mod api;
mod people;
mod scenario;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tollgate_core::{
    TenantId,
    audit::Actor,
    clock::ManualClock,
    tenancy::{Role, Tenant},
};
use tollgate_server::{AppState, ServerConfig, issue_key};
use tollgate_store::Store;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The same seed plays the same story.
    pub seed: u64,
    /// Simulated days; bad actors appear at fixed fractions of the period.
    pub days: u32,
    /// Honest small businesses signing up over the first two thirds of the period.
    pub honest: u32,
    /// Midnight (UTC) of the first simulated day.
    pub start: DateTime<Utc>,
    /// The tenant's slug; must not exist yet.
    pub slug: String,
}

impl Options {
    /// `days` ending at `end` with `honest` honest customers, seed 7, tenant `demo`. The full
    /// demonstration is 90 days and 300 customers.
    pub fn ending(end: DateTime<Utc>, days: u32, honest: u32) -> Self {
        Self {
            seed: 7,
            days,
            honest,
            start: midnight(end) - chrono::Duration::days(i64::from(days)),
            slug: "demo".into(),
        }
    }
}

fn midnight(at: DateTime<Utc>) -> DateTime<Utc> {
    at.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
}

/// How far the simulation is, reported once per simulated day.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub day: u32,
    pub days: u32,
    /// API requests made so far.
    pub requests: u64,
}

/// Keys of every role in the demo tenant (secrets, shown to the person running the demo).
#[derive(Debug, Clone)]
pub struct Keys {
    pub admin: String,
    pub analyst: String,
    pub viewer: String,
    pub ingest: String,
}

/// Which customers play which part, so tests and guided tours can find them.
#[derive(Debug, Clone, Default)]
pub struct Cast {
    /// Approved honest customers.
    pub honest: Vec<String>,
    /// Attaches card after card, most failing their CVC check.
    pub card_tester: Option<String>,
    /// Accounts sharing one device and one card.
    pub ring: Vec<String>,
    /// Scripted sign-ups from one network in a burst.
    pub bots: Vec<String>,
    /// Customers who tried to pay with prepaid cards.
    pub prepaid: Vec<String>,
    /// A long-standing customer whose subscription starts mining crypto on GPUs.
    pub hijacked: Option<String>,
    /// Reported by the vendor's abuse desk for sending spam (`POST /v1/notices`).
    pub vendor_flagged: Option<String>,
    /// Customers who stop paying and are dunned.
    pub non_payers: Vec<String>,
    /// Stops paying, is suspended, then pays and is reactivated.
    pub late_payer: Option<String>,
}

/// The generated tenant.
#[derive(Debug, Clone)]
pub struct Demo {
    pub tenant: Tenant,
    pub keys: Keys,
    pub cast: Cast,
    /// API requests the simulation made.
    pub requests: u64,
    /// The simulated clock's time when the simulation ended.
    pub ended_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] tollgate_store::StoreError),
    #[error("{request} was refused with {status}: {body}")]
    Refused {
        request: String,
        status: u16,
        body: String,
    },
    #[error("job: {0}")]
    Job(String),
    #[error("in-process client: {0}")]
    Client(String),
}

/// Creates the tenant `options.slug` with a key of every role in `store`, then plays the
/// simulation through the API. `progress` is called after every simulated day.
pub async fn generate(
    store: Store,
    options: &Options,
    progress: impl FnMut(Progress),
) -> Result<Demo, Error> {
    let clock = ManualClock::new(options.start);
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: options.slug.clone(),
        name: format!("Demo reseller ({})", options.slug),
        time_zone: "Europe/Berlin".into(),
        created_at: options.start,
    };
    let keys = setup_tenant(&store, &tenant).await?;
    let config = ServerConfig {
        // The demo's daily usage batches are larger than a regular body.
        batch_body_limit: 64 * 1024 * 1024,
        ..ServerConfig::default()
    };
    let state = AppState::new(store, Arc::new(clock.clone()), config);
    let api = api::Api::new(tollgate_server::router(state.clone()), options.seed);
    let cast = scenario::play(&state, &clock, &api, &tenant, &keys, options, progress).await?;
    Ok(Demo {
        tenant,
        keys,
        cast,
        requests: api.requests(),
        ended_at: state.now(),
    })
}

async fn setup_tenant(store: &Store, tenant: &Tenant) -> Result<Keys, Error> {
    let mut tx = store.begin().await?;
    tx.insert_tenant(tenant).await?;
    let mut issue = async |role: Role| -> Result<String, Error> {
        let label = Some(format!("demo {}", role.as_str()));
        Ok(issue_key(
            &mut tx,
            tenant.id,
            role,
            label,
            None,
            Actor::Cli,
            tenant.created_at,
        )
        .await?
        .secret)
    };
    let keys = Keys {
        admin: issue(Role::Admin).await?,
        analyst: issue(Role::Analyst).await?,
        viewer: issue(Role::Viewer).await?,
        ingest: issue(Role::Ingest).await?,
    };
    tx.commit().await?;
    Ok(keys)
}
