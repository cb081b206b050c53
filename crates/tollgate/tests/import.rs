//! `tollgate import`: good files, re-imports that add nothing, a bad row that names its line and
//! leaves the store untouched, both vendor usage formats, and vendor days across a month end.

mod support;

use std::{path::PathBuf, process::Output};

use serde_json::Value;
use support::{Engine, Place};
use tollgate_core::{
    CustomerId, SubscriptionId, TenantId,
    customers::{CustomerStatus, ProductKind, Terms, TrustTier},
};
use tollgate_store::{NewCustomer, NewSubscription, Store};

/// The ids the invoice and payment fixtures name.
const CUSTOMER: &str = "cus_019abcdef0127abc8def0123456789ab";
const SUBSCRIPTION: &str = "sub_019abcdef0127abc8def0123456789ac";
/// The Azure subscription of the cost export and the Partner Center entitlement.
const AZURE_SUBSCRIPTION: &str = "4f0c2a8e-1111-2222-3333-444455556666";
const ENTITLEMENT: &str = "7d9e8f10-aaaa-4bbb-8ccc-1234567890ab";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

struct Setup {
    place: Place,
    store: Store,
    tenant: TenantId,
    slug: &'static str,
    /// The Tollgate subscriptions of the Azure export and of the Partner Center file.
    azure: SubscriptionId,
    partner_center: SubscriptionId,
}

/// A tenant in `time_zone` with the fixtures' customer and its three subscriptions.
async fn setup(engine: Engine, time_zone: &str) -> Option<Setup> {
    let Some(place) = Place::new(engine).await else {
        eprintln!(
            "skipped: {} is not set",
            tollgate_store::testing::DATABASE_URL_VAR
        );
        return None;
    };
    let mut tenant = place.init()["tenant"].clone();
    let mut slug = "default";
    if time_zone != "UTC" {
        slug = "zoned";
        let created = place.run(&["tenant", "create", slug, "--time-zone", time_zone, "--json"]);
        assert!(created.status.success(), "{created:?}");
        tenant = serde_json::from_slice(&created.stdout).unwrap();
    }
    let tenant: TenantId = tenant["id"].as_str().unwrap().parse().unwrap();
    let store = match &place.postgres {
        Some(db) => db.store.clone(),
        None => Store::connect(&format!(
            "sqlite://{}/tollgate.db",
            place.data_dir().display()
        ))
        .await
        .unwrap(),
    };
    let now = chrono::Utc::now();
    let mut tx = store.begin().await.unwrap();
    let customer: CustomerId = CUSTOMER.parse().unwrap();
    tx.insert_customer(
        tenant,
        NewCustomer {
            id: customer,
            external_id: "contoso".into(),
            legal_name: "Contoso GmbH".into(),
            company_domain: Some("contoso.example".into()),
            country: "DE".parse().unwrap(),
            email: None,
            phone: None,
            billing_address: None,
            status: CustomerStatus::Active,
            trust_tier: TrustTier::Established,
            terms: Terms::default(),
        },
        now,
    )
    .await
    .unwrap();
    let subscription = |id: SubscriptionId, vendor: &str| NewSubscription {
        id,
        customer_id: customer,
        vendor_subscription_id: vendor.into(),
        offer_id: None,
        product_kind: ProductKind::AzurePlan,
        quantity: 1,
    };
    let azure = SubscriptionId::generate();
    let partner_center = SubscriptionId::generate();
    for new in [
        subscription(SUBSCRIPTION.parse().unwrap(), "m365-contoso"),
        subscription(azure, AZURE_SUBSCRIPTION),
        subscription(partner_center, ENTITLEMENT),
    ] {
        tx.insert_subscription(tenant, new, "test", now)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    Some(Setup {
        place,
        store,
        tenant,
        slug,
        azure,
        partner_center,
    })
}

impl Setup {
    fn import(&self, what: &str, file: &std::path::Path) -> Output {
        self.place.run(&[
            "import",
            what,
            file.to_str().unwrap(),
            "--tenant",
            self.slug,
            "--json",
        ])
    }

    /// Imports a file that must be accepted, and returns the summary.
    fn accepted(&self, what: &str, file: &std::path::Path) -> Value {
        let output = self.import(what, file);
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// A copy of a fixture with one line replaced (1-based, the header is line 1).
    fn altered(&self, name: &str, line: usize, edit: impl Fn(&str) -> String) -> PathBuf {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let changed: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| if i + 1 == line { edit(l) } else { l.to_owned() })
            .collect();
        let path = self.place.dir.path().join(name);
        std::fs::write(&path, changed.join("\n") + "\n").unwrap();
        path
    }

    /// Minor units per local day of a subscription's usage in `currency`.
    async fn daily(&self, subscription: SubscriptionId, currency: &str) -> Vec<(String, i64)> {
        self.store
            .read()
            .await
            .unwrap()
            .daily_spend(
                self.tenant,
                &subscription.to_string(),
                currency,
                "2026-01-01",
                "2026-03-31",
            )
            .await
            .unwrap()
    }

    async fn open_of(&self, number: &str) -> Option<String> {
        let row = self
            .store
            .read()
            .await
            .unwrap()
            .invoice_by_number(self.tenant, number)
            .await
            .unwrap()?;
        Some(row.open.amount.normalize().to_string())
    }

    fn audit_ok(&self) {
        let verify = self.place.run(&["audit", "verify"]);
        assert_eq!(verify.status.code(), Some(0), "{verify:?}");
    }
}

fn day(d: &str, minor: i64) -> (String, i64) {
    (d.to_owned(), minor)
}

async fn invoices_and_payments(engine: Engine) {
    let Some(s) = setup(engine, "UTC").await else {
        return;
    };
    let first = s.accepted("invoices", &fixture("invoices.csv"));
    assert_eq!(first["format"], "invoices-csv");
    assert_eq!(
        (first["written"].as_u64(), first["already_present"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(s.open_of("INV-1001").await.as_deref(), Some("120"));
    let again = s.accepted("invoices", &fixture("invoices.csv"));
    assert_eq!(
        (again["written"].as_u64(), again["already_present"].as_u64()),
        (Some(0), Some(2))
    );
    let ndjson = s.accepted("invoices", &fixture("invoices.ndjson"));
    assert_eq!(
        (ndjson["format"].as_str(), ndjson["written"].as_u64()),
        (Some("invoices-ndjson"), Some(2))
    );

    let paid = s.accepted("payments", &fixture("payments.csv"));
    assert_eq!(
        (paid["written"].as_u64(), paid["already_present"].as_u64()),
        (Some(3), Some(0))
    );
    // 50 allocated by number, then 70 to the oldest due; the failed attempt moves nothing.
    assert_eq!(s.open_of("INV-1001").await.as_deref(), Some("0"));
    assert_eq!(s.open_of("INV-1002").await.as_deref(), Some("80"));
    let again = s.accepted("payments", &fixture("payments.csv"));
    assert_eq!(
        (again["written"].as_u64(), again["already_present"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(s.open_of("INV-1002").await.as_deref(), Some("80"));

    // The same reference with another amount is refused, not silently skipped.
    let changed = s.altered("payments.csv", 2, |l| {
        l.replace(",50.00,", ",55.00,").replace("=50.00", "=55.00")
    });
    let output = s.import("payments", &changed);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("line 2: reference: was imported before"),
        "{}",
        stderr(&output)
    );

    // A payment the processor already reported under its id is not counted a second time,
    // even when nothing else about the row matches the ledger.
    let twin = s.altered("payments.csv", 4, |l| {
        l.replace("2026-01-25T09:00:00Z", "2026-01-26T09:00:00Z")
    });
    let output = s.import("payments", &twin);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr(&output).contains("line 4: external_ref:"),
        "{}",
        stderr(&output)
    );
    assert_eq!(s.open_of("INV-1002").await.as_deref(), Some("80"));
    s.audit_ok();
}

async fn a_bad_row_names_its_line_and_nothing_is_written(engine: Engine) {
    let Some(s) = setup(engine, "UTC").await else {
        return;
    };
    // Line 3 is the second row of INV-1001: its amount no longer adds up, and line 4's
    // invoice names a customer the tenant does not have.
    let bad = s.altered("invoices.csv", 3, |l| l.replace(",20.00", ",-20.00"));
    let output = s.import("invoices", &bad);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert!(err.contains("line 3: amount:"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(s.open_of("INV-1001").await, None);
    assert_eq!(s.open_of("INV-1002").await, None);

    let stranger = s.altered("invoices.csv", 4, |l| {
        l.replace(CUSTOMER, "cus_019abcdef0127abc8def0123456789ff")
            .replace(SUBSCRIPTION, "")
    });
    let output = s.import("invoices", &stranger);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.contains("line 4: customer_id: no such customer"),
        "{err}"
    );
    assert_eq!(
        s.open_of("INV-1001").await,
        None,
        "the good invoice is rolled back too"
    );

    // Usage: a negative cost on the export's fourth row, an unknown subscription on the
    // Partner Center file's third.
    let bad = s.altered("azure_mca_actual_cost.csv", 4, |l| {
        l.replace(",0.635807,", ",-0.635807,")
    });
    let output = s.import("usage", &bad);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.contains("line 4: costInBillingCurrency: must not be negative"),
        "{err}"
    );
    let unknown = s.altered("partner_center_daily_rated_usage.csv", 3, |l| {
        l.replace(ENTITLEMENT, "00000000-0000-4000-8000-000000000000")
    });
    let output = s.import("usage", &unknown);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.contains("line 3: EntitlementId: no such subscription"),
        "{err}"
    );
    assert!(s.daily(s.azure, "EUR").await.is_empty());
    assert!(s.daily(s.partner_center, "USD").await.is_empty());
}

async fn vendor_usage(engine: Engine) {
    let Some(s) = setup(engine, "UTC").await else {
        return;
    };
    let azure = s.accepted("usage", &fixture("azure_mca_actual_cost.csv"));
    assert_eq!(azure["format"], "azure-cost-export");
    // Five usage rows; the reservation purchase is not consumption.
    assert_eq!(
        (azure["written"].as_u64(), azure["skipped"].as_u64()),
        (Some(5), Some(1))
    );
    // Costs rounded half-even to cents: 2.30, 2.30 + 0.64 + 0.00, 2.30.
    assert_eq!(
        s.daily(s.azure, "EUR").await,
        vec![
            day("2026-01-30", 230),
            day("2026-01-31", 294),
            day("2026-02-01", 230)
        ]
    );
    let again = s.accepted("usage", &fixture("azure_mca_actual_cost.csv"));
    assert_eq!(
        (again["written"].as_u64(), again["already_present"].as_u64()),
        (Some(0), Some(5))
    );
    assert_eq!(s.daily(s.azure, "EUR").await.len(), 3);

    let pc = s.accepted("usage", &fixture("partner_center_daily_rated_usage.csv"));
    assert_eq!(pc["format"], "partner-center-daily-rated-usage");
    assert_eq!(pc["written"].as_u64(), Some(3));
    assert_eq!(
        s.daily(s.partner_center, "USD").await,
        vec![day("2026-01-30", 605), day("2026-01-31", 605 + 2204)]
    );
    // The billed file repeats the unbilled rows with an invoice number: still the same rows.
    let billed = s.altered("partner_center_daily_rated_usage.csv", 2, |l| {
        l.replace(",12345,,,", ",12345,,G002297372,")
    });
    let billed = s.accepted("usage", &billed);
    assert_eq!(
        (
            billed["written"].as_u64(),
            billed["already_present"].as_u64()
        ),
        (Some(0), Some(3))
    );

    let ndjson = s.accepted("usage", &fixture("usage.ndjson"));
    assert_eq!(
        (ndjson["format"].as_str(), ndjson["written"].as_u64()),
        (Some("usage-ndjson"), Some(2))
    );
    assert_eq!(
        s.daily(s.azure, "EUR").await[0],
        day("2026-01-30", 230 + 20)
    );
    s.audit_ok();
}

/// A vendor's day keeps its date in the tenant's zone: the 1st of February is February's spend
/// west of Greenwich as well as east of it.
async fn month_end_in_the_tenants_zone(engine: Engine, time_zone: &str) {
    let Some(s) = setup(engine, time_zone).await else {
        return;
    };
    s.accepted("usage", &fixture("azure_mca_actual_cost.csv"));
    let days: Vec<String> = s
        .daily(s.azure, "EUR")
        .await
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(
        days,
        ["2026-01-30", "2026-01-31", "2026-02-01"],
        "{time_zone}"
    );
}

#[tokio::test]
async fn invoices_and_payments_on_sqlite() {
    invoices_and_payments(Engine::Sqlite).await;
}

#[tokio::test]
async fn invoices_and_payments_on_postgres() {
    invoices_and_payments(Engine::Postgres).await;
}

#[tokio::test]
async fn a_bad_row_writes_nothing_on_sqlite() {
    a_bad_row_names_its_line_and_nothing_is_written(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_bad_row_writes_nothing_on_postgres() {
    a_bad_row_names_its_line_and_nothing_is_written(Engine::Postgres).await;
}

#[tokio::test]
async fn vendor_usage_on_sqlite() {
    vendor_usage(Engine::Sqlite).await;
}

#[tokio::test]
async fn vendor_usage_on_postgres() {
    vendor_usage(Engine::Postgres).await;
}

#[tokio::test]
async fn month_end_west_and_east_of_greenwich() {
    month_end_in_the_tenants_zone(Engine::Sqlite, "America/New_York").await;
    month_end_in_the_tenants_zone(Engine::Sqlite, "Asia/Tokyo").await;
}
