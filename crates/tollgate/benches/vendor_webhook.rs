//! Time from a Partner Center fraud webhook arriving to the suspension call leaving for the
//! vendor, against the fake Partner Center, in one process over SQLite: the webhook is verified
//! (certificate cached after the first), the fraud events are read back from the fake, the
//! notice, case and outbox action are committed, and the outbox worker — woken by the commit —
//! starts the suspension. The clock stops when `change_subscription` is called (see
//! BENCHMARKS.md for the command and the numbers).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tollgate_connectors::{
    BoxFuture, Retrier, RetryPolicy,
    partner_center::{
        AzureEntitlementRef, CallIds, FraudEventEntry, FraudEventQuery, FraudEventUpdate,
        FraudEvents, HttpPartnerCenter, PartnerCenter, PcResult, Subscription, SubscriptionChange,
        UsageBudget, testing::FakePartnerCenter, webhook::WebhookVerifier,
    },
};
use tollgate_core::{
    Money, TenantId,
    audit::Actor,
    clock::SystemClock,
    tenancy::{Role, Tenant},
};
use tollgate_server::{AppState, Application, Connectors, ServerConfig, issue_key};
use tollgate_store::testing;

#[derive(Parser)]
struct Args {
    /// Webhooks to time (each a new customer, subscription and fraud event).
    #[arg(long, default_value_t = 300)]
    events: usize,
    /// Untimed webhooks first (connections, certificate cache, tokens).
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Cargo passes `--bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Delegates to the real client and reports the instant each suspension call starts.
struct Timed {
    inner: HttpPartnerCenter,
    calls: mpsc::UnboundedSender<(String, Instant)>,
}

impl PartnerCenter for Timed {
    fn change_subscription(
        &self,
        ids: CallIds,
        change: SubscriptionChange,
    ) -> BoxFuture<'_, PcResult<Subscription>> {
        let _ = self
            .calls
            .send((change.subscription_id.clone(), Instant::now()));
        self.inner.change_subscription(ids, change)
    }
    fn cancel_azure_entitlement(
        &self,
        ids: CallIds,
        entitlement: AzureEntitlementRef,
        reason: Option<String>,
    ) -> BoxFuture<'_, PcResult<()>> {
        self.inner
            .cancel_azure_entitlement(ids, entitlement, reason)
    }
    fn reactivate_azure_entitlement(
        &self,
        ids: CallIds,
        entitlement: AzureEntitlementRef,
    ) -> BoxFuture<'_, PcResult<()>> {
        self.inner.reactivate_azure_entitlement(ids, entitlement)
    }
    fn fraud_events(
        &self,
        ids: CallIds,
        query: FraudEventQuery,
    ) -> BoxFuture<'_, PcResult<FraudEvents>> {
        self.inner.fraud_events(ids, query)
    }
    fn update_fraud_events(
        &self,
        ids: CallIds,
        update: FraudEventUpdate,
    ) -> BoxFuture<'_, PcResult<Vec<FraudEventEntry>>> {
        self.inner.update_fraud_events(ids, update)
    }
    fn usage_budget(
        &self,
        ids: CallIds,
        customer_id: String,
        currency: tollgate_core::Currency,
    ) -> BoxFuture<'_, PcResult<UsageBudget>> {
        self.inner.usage_budget(ids, customer_id, currency)
    }
    fn set_usage_budget(
        &self,
        ids: CallIds,
        customer_id: String,
        amount: Money,
    ) -> BoxFuture<'_, PcResult<UsageBudget>> {
        self.inner.set_usage_budget(ids, customer_id, amount)
    }
    fn fetch_resource(&self, ids: CallIds, resource_uri: String) -> BoxFuture<'_, PcResult<Value>> {
        self.inner.fetch_resource(ids, resource_uri)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let fake = FakePartnerCenter::start().await;
    let (calls, mut called) = mpsc::unbounded_channel();
    let retrier = Retrier::new(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    });
    let connectors = Connectors {
        partner_center: Some(Arc::new(Timed {
            inner: HttpPartnerCenter::new(fake.config(), retrier)?,
            calls,
        })),
        partner_center_webhooks: Some(Arc::new(WebhookVerifier::new(
            fake.webhook_config(),
            Arc::new(SystemClock),
        )?)),
        ..Connectors::default()
    };
    let db = testing::sqlite().await;
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: "bench".into(),
        name: "bench".into(),
        time_zone: "UTC".into(),
        created_at: chrono::Utc::now(),
    };
    let mut tx = db.store.begin().await?;
    tx.insert_tenant(&tenant).await?;
    let key = issue_key(
        &mut tx,
        tenant.id,
        Role::Admin,
        None,
        None,
        Actor::Cli,
        chrono::Utc::now(),
    )
    .await?
    .secret;
    tx.commit().await?;
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        ..ServerConfig::default()
    };
    let state =
        AppState::with_connectors(db.store.clone(), Arc::new(SystemClock), config, connectors);
    let app = Application::bind(state.clone()).await?;
    let base = format!("http://{}", app.local_addr()?);
    tokio::spawn(app.run_until(std::future::pending()));
    tokio::spawn(tollgate_server::outbox::Worker::new(state.clone()).run(std::future::pending()));
    let http = reqwest::Client::new();

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for n in 0..args.warmup + args.events {
        let vendor_sub = format!("azure-sub-{n}");
        let customer: Value = http
            .post(format!("{base}/v1/customers"))
            .bearer_auth(&key)
            .json(
                &json!({"external_id": format!("bench-{n}"), "legal_name": "Contoso GmbH",
                          "country": "DE", "email": "ap@contoso.example"}),
            )
            .send()
            .await?
            .json()
            .await?;
        let created = http
            .post(format!("{base}/v1/subscriptions"))
            .bearer_auth(&key)
            .json(
                &json!({"customer_id": customer["id"], "vendor_subscription_id": vendor_sub,
                          "product_kind": "azure_plan", "quantity": 1}),
            )
            .send()
            .await?;
        anyhow::ensure!(created.status().is_success(), "{}", created.text().await?);
        fake.put_subscription("ms-customer", &vendor_sub, "active");
        fake.set_fraud_events(vec![json!({
            "eventId": format!("evt-{n}"), "subscriptionId": vendor_sub,
            "customerTenantId": "ms-customer", "eventStatus": "Active",
            "eventType": "NetworkConnectionsToCryptoMiningPools",
            "severity": "High", "confidenceLevel": "High",
            "eventTime": "2026-11-02T08:30:00Z"
        })]);
        let body = json!({
            "EventName": "azure-fraud-event-detected",
            "ResourceUri": format!("{}/v1/fraudEvents?subscriptionId={vendor_sub}", fake.base_url()),
            "ResourceName": vendor_sub,
            "ResourceChangeUtcDate": "2026-11-02T08:59:00Z"
        })
        .to_string();
        let headers = fake.sign_webhook(body.as_bytes());
        let sent = Instant::now();
        let answer = http
            .post(format!(
                "{base}/v1/connectors/partner-center/events/{}",
                tenant.id
            ))
            .headers(headers)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(answer.status().as_u16() == 202, "{}", answer.text().await?);
        let (suspended, at) = tokio::time::timeout(Duration::from_secs(30), called.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the worker stopped"))?;
        anyhow::ensure!(
            suspended == vendor_sub,
            "suspended {suspended}, not {vendor_sub}"
        );
        if n >= args.warmup {
            let micros = u64::try_from(at.duration_since(sent).as_micros()).unwrap_or(u64::MAX);
            histogram.record(micros.max(1))?;
        }
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "webhook → suspension call, {} events (SQLite, fake Partner Center): \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        histogram.len(),
        ms(0.50),
        ms(0.90),
        ms(0.99),
        histogram.max() as f64 / 1000.0
    );
    Ok(())
}
