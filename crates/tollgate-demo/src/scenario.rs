//! The story, day by day: each morning the dunning run and the outbox worker run, yesterday's
//! usage arrives, payments come in; during the day customers sign up and buy, and on fixed days
//! the bad actors try their luck.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tollgate_core::{clock::ManualClock, tenancy::Tenant};
use tollgate_server::{AppState, jobs::dunning, outbox::Worker};

use crate::{
    Cast, Error, Keys, Options, Progress,
    api::Api,
    people::{self, amount},
};

const SEAT_CENTS: i64 = 1250;
const NET_DAYS: i64 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paying {
    /// Pays every invoice a few days after it is issued.
    OnTime,
    /// Pays the first invoice, then every payment fails.
    Stops,
    /// Like `Stops` until suspended; then pays everything owed.
    AfterSuspension,
}

struct Account {
    customer: String,
    subscription: String,
    /// Seats of Microsoft 365; zero for an Azure plan billed on usage.
    seats: u32,
    /// Usual Azure spend per hour, in cents.
    hourly_cents: i64,
    signup_day: u32,
    paying: Paying,
    /// Usage not invoiced yet, in cents.
    unbilled_cents: i64,
    /// Invoiced and not paid, in cents.
    owed_cents: i64,
    suspended: bool,
    mining_since: Option<u32>,
}

/// Payments waiting for their day.
struct Due {
    account: usize,
    cents: i64,
}

struct World<'a> {
    state: &'a AppState,
    clock: &'a ManualClock,
    api: &'a Api,
    keys: &'a Keys,
    rng: ChaCha8Rng,
    start: DateTime<Utc>,
    accounts: Vec<Account>,
    payments: BTreeMap<u32, Vec<Due>>,
    invoices: u32,
    cast: Cast,
}

pub async fn play(
    state: &AppState,
    clock: &ManualClock,
    api: &Api,
    tenant: &Tenant,
    keys: &Keys,
    options: &Options,
    mut progress: impl FnMut(Progress),
) -> Result<Cast, Error> {
    let mut world = World {
        state,
        clock,
        api,
        keys,
        rng: ChaCha8Rng::seed_from_u64(options.seed),
        start: options.start,
        accounts: Vec::new(),
        payments: BTreeMap::new(),
        invoices: 0,
        cast: Cast::default(),
    };
    let days = options.days.max(8);
    let signup_days = (days * 2 / 3).max(1);
    // Who stops paying is decided up front, among customers early enough to reach suspension
    // within the period: their first monthly invoice comes at 30 days, falls due 14 days
    // later, and the ladder suspends 21 days after that.
    let early = (options.honest * days.saturating_sub(68) / signup_days).max(3);
    let stopping = 6.min(early - 2);
    let stops: Vec<u32> = (0..stopping)
        .map(|k| 1 + k * (early - 2) / stopping)
        .collect();
    let late_payer = early - 1;
    let scene = |fraction: u32| days * fraction / 100;
    for day in 0..days {
        if day == days - 4 {
            world.start_mining(day).await?;
        }
        world.at(day, Duration::hours(6));
        world.morning(day, tenant).await?;
        world.at(day, Duration::hours(8));
        let today: Vec<u32> = (0..options.honest)
            .filter(|n| n * signup_days / options.honest.max(1) == day)
            .collect();
        for n in today {
            let paying = if stops.contains(&n) {
                Paying::Stops
            } else if n == late_payer {
                Paying::AfterSuspension
            } else {
                Paying::OnTime
            };
            // Customer 0 has used its Azure plan quietly from the first day: the account
            // that is later taken over.
            world.honest_customer(day, n, paying, n == 0).await?;
            let minutes = world.rng.random_range(3..25);
            world.clock.advance(Duration::minutes(minutes));
        }
        if day == scene(20) {
            world.card_tester(day).await?;
        }
        if day == scene(35) {
            world.ring().await?;
        }
        if day == scene(50) {
            world.bots().await?;
        }
        if day == scene(60) {
            world.vendor_notice().await?;
        }
        if [scene(15), scene(45), scene(70)].contains(&day) {
            world.prepaid_card(day).await?;
        }
        progress(Progress {
            day: day + 1,
            days,
            requests: api.requests(),
        });
    }
    Ok(world.cast)
}

impl World<'_> {
    fn at(&self, day: u32, time: Duration) {
        self.clock.set(self.day_start(day) + time);
    }

    fn day_start(&self, day: u32) -> DateTime<Utc> {
        self.start + Duration::days(i64::from(day))
    }

    fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    /// Before business hours: the jobs, yesterday's usage, today's payments and invoices.
    async fn morning(&mut self, day: u32, tenant: &Tenant) -> Result<(), Error> {
        dunning::run(self.state, dunning::Scope::Tenant(tenant.id), None)
            .await
            .map_err(|e| Error::Job(format!("dunning: {e:?}")))?;
        Worker::new(self.state.clone()).drain().await?;
        self.notice_suspensions().await?;
        if day > 0 {
            self.yesterdays_usage(day - 1).await?;
        }
        for due in self.payments.remove(&day).unwrap_or_default() {
            self.pay(due.account, due.cents).await?;
        }
        for i in 0..self.accounts.len() {
            let age = day - self.accounts[i].signup_day;
            if age > 0 && age.is_multiple_of(30) {
                self.invoice(day, i).await?;
            }
        }
        Ok(())
    }

    /// Reads back what dunning did; the customer who pays after suspension pays now.
    async fn notice_suspensions(&mut self) -> Result<(), Error> {
        for i in 0..self.accounts.len() {
            if self.accounts[i].paying == Paying::OnTime {
                continue;
            }
            let path = format!("/v1/subscriptions/{}", self.accounts[i].subscription);
            let subscription = self.api.get(&self.keys.viewer, &path).await?;
            let suspended = subscription["status"] != "active";
            if suspended && !self.accounts[i].suspended {
                self.accounts[i].suspended = true;
                if self.accounts[i].paying == Paying::AfterSuspension {
                    // Paying everything owed settles the account, which reactivates it.
                    self.accounts[i].paying = Paying::OnTime;
                    self.accounts[i].suspended = false;
                    let owed = self.accounts[i].owed_cents;
                    self.pay(i, owed).await?;
                }
            }
        }
        Ok(())
    }

    async fn yesterdays_usage(&mut self, day: u32) -> Result<(), Error> {
        let start = self.day_start(day);
        let mut records = Vec::new();
        for i in 0..self.accounts.len() {
            let account = &self.accounts[i];
            if account.seats > 0 || account.suspended || account.signup_day > day {
                continue;
            }
            let mut cents = 0;
            for hour in 0..24 {
                let noise = self.rng.random_range(96..=104);
                let cost = account.hourly_cents * noise / 100;
                cents += cost;
                records.push(usage(
                    &account.subscription,
                    &format!("{}-{day}-{hour}", account.subscription),
                    "Virtual Machines/D2s v5",
                    "West Europe",
                    cost,
                    start + Duration::hours(hour),
                ));
                if account
                    .mining_since
                    .is_some_and(|since| day > since || (day == since && hour >= 2))
                {
                    for vm in 0..10 {
                        cents += 367;
                        records.push(mining(&account.subscription, day, hour, vm, start));
                    }
                }
            }
            self.accounts[i].unbilled_cents += cents;
        }
        for chunk in records.chunks(tollgate_core::validate::MAX_BATCH) {
            self.api
                .post(&self.keys.ingest, "/v1/usage", Value::from(chunk.to_vec()))
                .await?;
        }
        Ok(())
    }

    async fn honest_customer(
        &mut self,
        day: u32,
        n: u32,
        paying: Paying,
        azure: bool,
    ) -> Result<(), Error> {
        let now = self.now();
        let body = people::honest_signup(&mut self.rng, n, now);
        let decision = self
            .api
            .post(&self.keys.ingest, "/v1/signups", body.clone())
            .await?;
        let customer = text(&decision["customer_id"]);
        if decision["verdict"] != "approve" {
            return Ok(());
        }
        // One in five pays by SEPA direct debit from the company's own account.
        let method = if n % 5 == 2 {
            people::sepa_account(
                &format!("ba_shop_{n}"),
                &text(&body["company"]["name"]),
                now,
            )
        } else {
            people::good_card(&format!("fp_shop_{n}"))
        };
        let pm = self.attach(&customer, method).await?;
        // A quarter use Azure plans billed on hourly usage; the rest buy Microsoft 365 seats.
        let azure = azure || self.rng.random_bool(0.25);
        let seats = if azure {
            0
        } else {
            self.rng.random_range(3..40)
        };
        let (kind, sku, price) = if azure {
            ("azure_plan", "AZURE-PLAN", "0.00".to_owned())
        } else {
            ("m365", "M365-BUSINESS-PREMIUM", amount(SEAT_CENTS))
        };
        self.api
            .post(
                &self.keys.ingest,
                "/v1/orders",
                json!({
                    "customer_id": customer, "payment_method_id": pm["id"],
                    "items": [{ "sku": sku, "product_kind": kind, "quantity": seats.max(1),
                                "unit_price": { "amount": price, "currency": "EUR" } }]
                }),
            )
            .await?;
        let subscription = self
            .api
            .post(
                &self.keys.ingest,
                "/v1/subscriptions",
                json!({
                    "customer_id": customer, "vendor_subscription_id": format!("vendor-{n}"),
                    "product_kind": kind, "quantity": seats.max(1)
                }),
            )
            .await?;
        let hourly_cents = if azure {
            self.rng.random_range(20..300)
        } else {
            0
        };
        if azure {
            // Budgets at 150 % of the usual month, alerting at 80 % and 100 %.
            let budget = hourly_cents * 24 * 30 * 3 / 2;
            self.api
                .post(
                    &self.keys.analyst,
                    "/v1/budgets",
                    json!({"scope": {"kind": "customer", "customer_id": customer},
                    "amount": {"amount": amount(budget), "currency": "EUR"},
                    "period": {"kind": "monthly"},
                    "thresholds": [
                        {"percent": 80, "basis": "actual", "action": "notify"},
                        {"percent": 100, "basis": "actual", "action": "notify_and_review"}
                    ]}),
                )
                .await?;
        }
        self.accounts.push(Account {
            customer: customer.clone(),
            subscription: text(&subscription["id"]),
            seats,
            hourly_cents,
            signup_day: day,
            paying,
            unbilled_cents: 0,
            owed_cents: 0,
            suspended: false,
            mining_since: None,
        });
        match paying {
            Paying::OnTime => {}
            Paying::Stops => self.cast.non_payers.push(customer.clone()),
            Paying::AfterSuspension => self.cast.late_payer = Some(customer.clone()),
        }
        self.cast.honest.push(customer);
        // New customers prepay their first month; the order is provisioned once it clears.
        let first = self.accounts.len() - 1;
        if seats > 0 {
            self.invoice(day, first).await?;
            let owed = self.accounts[first].owed_cents;
            self.pay(first, owed).await?;
        }
        Ok(())
    }

    async fn attach(&self, customer: &str, card: Value) -> Result<Value, Error> {
        self.api
            .post(
                &self.keys.ingest,
                &format!("/v1/customers/{customer}/payment_methods"),
                card,
            )
            .await
    }

    async fn invoice(&mut self, day: u32, i: usize) -> Result<(), Error> {
        let account = &self.accounts[i];
        let (description, cents) = if account.seats > 0 {
            (
                format!("Microsoft 365 Business Premium × {}", account.seats),
                i64::from(account.seats) * SEAT_CENTS,
            )
        } else {
            ("Azure plan consumption".to_owned(), account.unbilled_cents)
        };
        if cents == 0 {
            return Ok(());
        }
        let first_invoice = account.signup_day == day;
        let (customer, subscription) = (account.customer.clone(), account.subscription.clone());
        self.invoices += 1;
        let now = self.now();
        self.api
            .post(
                &self.keys.ingest,
                "/v1/invoices",
                json!({
                    "number": format!("INV-{:06}", self.invoices),
                    "customer_id": customer,
                    "issued_at": now,
                    "due_at": now + Duration::days(NET_DAYS),
                    "currency": "EUR",
                    "lines": [{"description": description, "subscription_id": subscription,
                               "amount": amount(cents)}],
                    "total": amount(cents)
                }),
            )
            .await?;
        self.accounts[i].unbilled_cents = 0;
        self.accounts[i].owed_cents += cents;
        let delay = match self.accounts[i].paying {
            // The first invoice is prepaid at once by the caller.
            _ if first_invoice => return Ok(()),
            Paying::OnTime => self.rng.random_range(1..12),
            // The failing attempt comes on the due date.
            Paying::Stops | Paying::AfterSuspension => NET_DAYS as u32,
        };
        self.payments
            .entry(day + delay)
            .or_default()
            .push(Due { account: i, cents });
        Ok(())
    }

    async fn pay(&mut self, i: usize, cents: i64) -> Result<(), Error> {
        let account = &self.accounts[i];
        let failing = matches!(account.paying, Paying::Stops | Paying::AfterSuspension)
            && !self.first_month_of(i);
        // Whoever already paid everything owed (after a suspension) pays nothing more.
        let cents = if failing {
            cents
        } else {
            cents.min(account.owed_cents)
        };
        if cents <= 0 {
            return Ok(());
        }
        let mut body = json!({
            "customer_id": account.customer, "amount": amount(cents), "currency": "EUR",
            "method": "card", "status": "succeeded", "received_at": self.now()
        });
        if failing {
            body["status"] = json!("failed");
            body["failure_code"] = json!("insufficient_funds");
        }
        self.api
            .post(&self.keys.ingest, "/v1/payments", body)
            .await?;
        if !failing {
            self.accounts[i].owed_cents -= cents;
        }
        Ok(())
    }

    /// The prepaid first invoice is paid by everybody, whatever they do later.
    fn first_month_of(&self, i: usize) -> bool {
        let day = (self.now() - self.start).num_days();
        day == i64::from(self.accounts[i].signup_day)
    }

    /// Signs up cleanly, then tries card after card within minutes; most fail their CVC check.
    async fn card_tester(&mut self, day: u32) -> Result<(), Error> {
        let now = self.now();
        let body = people::honest_signup(&mut self.rng, 9_000 + day, now);
        let decision = self
            .api
            .post(&self.keys.ingest, "/v1/signups", body)
            .await?;
        let customer = text(&decision["customer_id"]);
        for k in 0..8 {
            let check = if k % 4 == 3 { "pass" } else { "fail" };
            let card = people::card(&format!("fp_tested_{k}"), "411111", check);
            self.attach(&customer, card).await?;
            self.clock.advance(Duration::seconds(50));
        }
        self.cast.card_tester = Some(customer);
        Ok(())
    }

    /// Five companies on one device, then one card for all of them.
    async fn ring(&mut self) -> Result<(), Error> {
        for k in 0..5 {
            let now = self.now();
            let mut body = people::honest_signup(&mut self.rng, 9_100 + k, now);
            body["device_id"] = json!("ring-device-1");
            let decision = self
                .api
                .post(&self.keys.ingest, "/v1/signups", body)
                .await?;
            let customer = text(&decision["customer_id"]);
            self.attach(&customer, people::good_card("fp_ring_card"))
                .await?;
            self.cast.ring.push(customer);
            self.clock.advance(Duration::minutes(40));
        }
        Ok(())
    }

    /// Twelve scripted sign-ups in two minutes.
    async fn bots(&mut self) -> Result<(), Error> {
        for k in 0..12 {
            let body = people::bot_signup(k, self.now());
            let decision = self
                .api
                .post(&self.keys.ingest, "/v1/signups", body)
                .await?;
            self.cast.bots.push(text(&decision["customer_id"]));
            self.clock.advance(Duration::seconds(10));
        }
        Ok(())
    }

    /// The vendor's abuse desk reports outbound spam from a paying Microsoft 365 customer.
    async fn vendor_notice(&mut self) -> Result<(), Error> {
        let Some(account) = self
            .accounts
            .iter()
            .find(|a| a.seats > 0 && a.paying == Paying::OnTime)
        else {
            return Ok(());
        };
        let (customer, subscription) = (account.customer.clone(), account.subscription.clone());
        let now = self.now();
        self.api
            .post(
                &self.keys.analyst,
                "/v1/notices",
                json!({
                    "kind": "abuse", "severity": "high", "subscription_id": subscription,
                    "summary": "Outbound spam: 40,000 messages in an hour from this tenant's mailboxes",
                    "resources": [{"ip": "20.31.4.17"}],
                    "details": {"reporter": "vendor abuse desk"},
                    "first_seen_at": now - Duration::hours(3), "last_seen_at": now
                }),
            )
            .await?;
        self.cast.vendor_flagged = Some(customer);
        Ok(())
    }

    /// A clean sign-up paying with a prepaid card.
    async fn prepaid_card(&mut self, day: u32) -> Result<(), Error> {
        let now = self.now();
        let body = people::honest_signup(&mut self.rng, 9_200 + day, now);
        let decision = self
            .api
            .post(&self.keys.ingest, "/v1/signups", body)
            .await?;
        let customer = text(&decision["customer_id"]);
        self.attach(
            &customer,
            people::card(&format!("fp_prepaid_{day}"), "424200", "pass"),
        )
        .await?;
        self.cast.prepaid.push(customer);
        Ok(())
    }

    /// At 02:00 ten A100 VMs start in South East Asia on the first Azure customer's plan; the
    /// first hour is reported at once, the rest with each day's usage.
    async fn start_mining(&mut self, day: u32) -> Result<(), Error> {
        let Some(i) = self.accounts.iter().position(|a| a.seats == 0) else {
            return Ok(());
        };
        self.cast.hijacked = Some(self.accounts[i].customer.clone());
        // Its hours are reported again with the day's usage; the record ids make that a no-op.
        self.accounts[i].mining_since = Some(day);
        let start = self.day_start(day);
        self.at(day, Duration::minutes(3 * 60 + 5));
        let subscription = self.accounts[i].subscription.clone();
        let records: Vec<Value> = (0..10)
            .map(|vm| mining(&subscription, day, 2, vm, start))
            .collect();
        self.api
            .post(&self.keys.ingest, "/v1/usage", Value::from(records))
            .await?;
        Ok(())
    }
}

fn mining(subscription: &str, day: u32, hour: i64, vm: u32, start: DateTime<Utc>) -> Value {
    usage(
        subscription,
        &format!("{subscription}-gpu-{day}-{hour}-{vm}"),
        "Virtual Machines/NC24ads A100 v4",
        "South East Asia",
        367,
        start + Duration::hours(hour),
    )
}

fn usage(
    subscription: &str,
    record_id: &str,
    meter: &str,
    region: &str,
    cents: i64,
    start: DateTime<Utc>,
) -> Value {
    json!({
        "subscription": subscription, "record_id": record_id, "meter": meter,
        "resource_id": format!("/subscriptions/{subscription}/vm/{record_id}"), "region": region,
        "quantity": "1", "unit": "1 Hour", "cost": amount(cents), "currency": "EUR",
        "usage_start": start, "usage_end": start + Duration::hours(1)
    })
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
