//! Usage from the vendor's own exports — an Azure cost-management export (the Microsoft Customer
//! Agreement "actual cost" schema, and the Enterprise Agreement and older spellings of its
//! columns) or a Partner Center daily rated usage reconciliation file — or NDJSON shaped like
//! `POST /v1/usage`. The format is told by the header. Every record then goes through the
//! endpoint's own code (`ingest_records`): the same subscription lookup, aggregates, detector,
//! budgets and audit entry, in one transaction for the whole file.
//!
//! One transaction rather than chunks: a file is all-or-nothing like a batch, and the detector
//! scores an hour once, when it is first touched, so chunks splitting an hour would leave later
//! records of that hour unscored. The cost is that on SQLite other writers wait while a large
//! file is written.

use std::{collections::HashMap, path::Path, str::FromStr};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tollgate_core::{
    tenancy::Tenant,
    usage::{UsageRecord, UsageRecordInput},
};
use tollgate_server::{
    api::usage::{Resolved, ingest_records},
    ctx::Acting,
    error::ApiError,
};
use tollgate_store::Store;

use super::{
    Column, Fault, Importer, Layout, Outcome, Progress, Summary, Table, from_json_line, layout,
    ndjson_lines, read_csv, read_file, split_error,
};

/// Vendor exports name no row: a record id is a hash of the columns that tell rows apart, never
/// of amounts, so a restated or re-exported row is still the row imported before.
const AZURE_IDENTITY: &[&[&str]] = &[
    &["SubscriptionId", "SubscriptionGuid"],
    &["Date", "UsageDateTime"],
    &["ResourceId", "InstanceId"],
    &["MeterId"],
    &["MeterCategory"],
    &["MeterSubCategory"],
    &["MeterName"],
    &["ResourceLocation", "Location"],
    &["UnitOfMeasure"],
    &["ChargeType"],
    &["PricingModel"],
    &["ReservationId"],
    &["BenefitId"],
    &["ProductOrderId"],
    &["AdditionalInfo"],
];

/// `InvoiceNumber` is left out on purpose: a day's usage is unbilled first and billed later, and
/// importing the billed file after the unbilled one must not count it twice.
const PARTNER_CENTER_IDENTITY: &[&[&str]] = &[
    &["CustomerTenantId", "CustomerId"],
    &["EntitlementId"],
    &["SubscriptionId"],
    &["UsageDate"],
    &["ProductId"],
    &["SkuId"],
    &["MeterId"],
    &["MeterCategory"],
    &["MeterSubCategory"],
    &["MeterName"],
    &["ResourceUri"],
    &["ResourceLocation"],
    &["UnitOfMeasure", "Unit"],
    &["ChargeType"],
    &["AdditionalInfo"],
];

/// Where a vendor's columns are, as this file spells them.
struct Mapping {
    format: &'static str,
    record_prefix: &'static str,
    subscription: Column,
    /// Partner Center's `SubscriptionId` is its commerce subscription; the Azure subscription a
    /// Tollgate subscription names is the `EntitlementId`, used first when the file has it.
    subscription_fallback: Option<Column>,
    date: Column,
    category: Column,
    name: Column,
    resource: Option<Column>,
    region: Option<Column>,
    meter_region: Option<Column>,
    quantity: Column,
    unit: Column,
    cost: Column,
    currency: Column,
    /// Azure exports also carry purchases, refunds and reservation leftovers: not consumption.
    charge_type: Option<Column>,
    identity: Vec<Column>,
}

impl Mapping {
    fn detect(table: &Table) -> Result<Self, Fault> {
        let required = |names: &[&str]| {
            table
                .column(names)
                .ok_or_else(|| Fault::new(1, names[0], "missing column for this export format"))
        };
        let identity = |columns: &[&[&str]]| -> Vec<Column> {
            columns
                .iter()
                .filter_map(|names| table.column(names))
                .collect()
        };
        if table.column(&["BillingPreTaxTotal"]).is_some() {
            let entitlement = table.column(&["EntitlementId"]);
            let commerce = required(&["SubscriptionId"])?;
            let (subscription, subscription_fallback) = match entitlement {
                Some(entitlement) => (entitlement, Some(commerce)),
                None => (commerce, None),
            };
            return Ok(Self {
                format: "partner-center-daily-rated-usage",
                record_prefix: "pc",
                subscription,
                subscription_fallback,
                date: required(&["UsageDate"])?,
                category: required(&["MeterCategory"])?,
                name: required(&["MeterName"])?,
                resource: table.column(&["ResourceUri"]),
                region: table.column(&["ResourceLocation"]),
                meter_region: table.column(&["MeterRegion"]),
                quantity: required(&["Quantity"])?,
                unit: required(&["UnitOfMeasure", "Unit"])?,
                cost: required(&["BillingPreTaxTotal"])?,
                currency: required(&["BillingCurrency", "Currency"])?,
                charge_type: None,
                identity: identity(PARTNER_CENTER_IDENTITY),
            });
        }
        if table.column(&["MeterCategory"]).is_some() {
            return Ok(Self {
                format: "azure-cost-export",
                record_prefix: "azure",
                subscription: required(&["SubscriptionId", "SubscriptionGuid"])?,
                subscription_fallback: None,
                date: required(&["Date", "UsageDateTime"])?,
                category: required(&["MeterCategory"])?,
                name: required(&["MeterName"])?,
                resource: table.column(&["ResourceId", "InstanceId"]),
                region: table.column(&["ResourceLocation", "Location"]),
                meter_region: table.column(&["MeterRegion"]),
                quantity: required(&["Quantity", "ConsumedQuantity", "UsageQuantity"])?,
                unit: required(&["UnitOfMeasure"])?,
                cost: required(&["CostInBillingCurrency", "Cost", "PreTaxCost"])?,
                currency: required(&["BillingCurrency", "BillingCurrencyCode", "Currency"])?,
                charge_type: table.column(&["ChargeType"]),
                identity: identity(AZURE_IDENTITY),
            });
        }
        Err(Fault::new(
            1,
            "(header)",
            "not a known usage format: expected an Azure cost export (Date, SubscriptionId, \
             MeterCategory, MeterName, Quantity, CostInBillingCurrency, BillingCurrency…) or a \
             Partner Center daily rated usage file (UsageDate, EntitlementId, MeterCategory, \
             BillingPreTaxTotal, BillingCurrency…)",
        ))
    }

    /// The file's column for a field of [`UsageRecordInput`].
    fn column(&self, field: &str) -> String {
        match field {
            "subscription" => self.subscription.name.clone(),
            "meter" => format!("{}/{}", self.category.name, self.name.name),
            "resource_id" => self
                .resource
                .as_ref()
                .map_or_else(|| self.subscription.name.clone(), |c| c.name.clone()),
            "region" => self
                .region
                .as_ref()
                .or(self.meter_region.as_ref())
                .map_or_else(|| "ResourceLocation".to_owned(), |c| c.name.clone()),
            "quantity" => self.quantity.name.clone(),
            "unit" => self.unit.name.clone(),
            "cost" => self.cost.name.clone(),
            "currency" => self.currency.name.clone(),
            "usage_start" | "usage_end" => self.date.name.clone(),
            other => other.to_owned(),
        }
    }

    /// The row as a record, or the faults of its own columns.
    fn input(
        &self,
        line: u64,
        row: &csv::StringRecord,
        tz: Tz,
        record_id: String,
    ) -> Result<UsageRecordInput, Vec<Fault>> {
        let mut faults = Vec::new();
        let number = |column: &Column, faults: &mut Vec<Fault>| {
            decimal(column.get(row))
                .ok_or_else(|| faults.push(Fault::new(line, &column.name, "must be a number")))
                .ok()
        };
        let quantity = number(&self.quantity, &mut faults);
        let cost = number(&self.cost, &mut faults);
        let day = day(self.date.get(row))
            .ok_or_else(|| {
                faults.push(Fault::new(
                    line,
                    &self.date.name,
                    "must be a date such as 2026-01-31 or 01/31/2026",
                ));
            })
            .ok();
        let (Some(quantity), Some(cost), Some(day)) = (quantity, cost, day) else {
            return Err(faults);
        };
        let subscription = Some(self.subscription.get(row))
            .filter(|s| !s.is_empty())
            .or_else(|| self.subscription_fallback.as_ref().map(|c| c.get(row)))
            .unwrap_or_default();
        // Charges with no resource (marketplace, support) belong to the subscription itself;
        // global services have no location, only a meter region, or neither.
        let resource_id = self
            .resource
            .as_ref()
            .map(|c| c.get(row))
            .filter(|r| !r.is_empty())
            .map_or_else(|| format!("/subscriptions/{subscription}"), str::to_owned);
        let region = [&self.region, &self.meter_region]
            .into_iter()
            .flatten()
            .map(|c| c.get(row))
            .find(|r| !r.is_empty() && !r.eq_ignore_ascii_case("unassigned"))
            .unwrap_or("global");
        let (usage_start, usage_end) = vendor_day(tz, day);
        Ok(UsageRecordInput {
            subscription: subscription.to_owned(),
            record_id,
            meter: format!("{}/{}", self.category.get(row), self.name.get(row)),
            resource_id,
            region: region.to_owned(),
            quantity,
            unit: self.unit.get(row).to_owned(),
            cost,
            currency: self.currency.get(row).to_owned(),
            usage_start,
            usage_end,
        })
    }

    fn is_usage(&self, row: &csv::StringRecord) -> bool {
        self.charge_type.as_ref().is_none_or(|c| {
            let kind = c.get(row);
            kind.is_empty() || kind.eq_ignore_ascii_case("usage")
        })
    }
}

/// Vendors print small quantities in scientific notation (`3.6E-05`).
fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// `2026-01-31`, `01/31/2026` (US order, as both vendors print it) or either with a time of
/// day, which daily files always give as midnight.
fn day(text: &str) -> Option<NaiveDate> {
    let date = text.split(['T', ' ']).next()?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(date, "%m/%d/%Y"))
        .ok()
}

/// A vendor's day, as the tenant's local day of that date. Both vendors rate usage per UTC day
/// and bill it in the month the date names; taking the day from 00:00 UTC instead would put
/// the 1st of a month into the previous month for every tenant west of Greenwich, and its
/// budgets would disagree with the vendor's invoice.
fn vendor_day(tz: Tz, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = local_midnight(tz, day);
    let end = day
        .checked_add_days(Days::new(1))
        .map_or(start + chrono::Duration::days(1), |next| {
            local_midnight(tz, next)
        });
    (start, end)
}

/// Midnight, or the first hour after it where a time-zone change skips midnight.
fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    (0..3)
        .find_map(|h| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// Stable per file: the n-th row with the same identifying columns gets `-n`, so a vendor's
/// legitimately repeated line is kept and a second import of the file still matches.
fn record_id(
    prefix: &str,
    identity: &[Column],
    row: &csv::StringRecord,
    seen: &mut HashMap<String, u32>,
) -> String {
    let mut hash = Sha256::new();
    for column in identity {
        hash.update(column.name.to_ascii_lowercase().as_bytes());
        hash.update([0x1f]);
        hash.update(column.get(row).as_bytes());
        hash.update([0x1e]);
    }
    let digest = hex::encode(&hash.finalize()[..16]);
    let base = format!("{prefix}:{digest}");
    let count = seen.entry(base.clone()).or_insert(0);
    *count += 1;
    if *count == 1 {
        base
    } else {
        format!("{base}-{count}")
    }
}

pub async fn import(
    store: &Store,
    importer: &Importer,
    tenant: &Tenant,
    path: &Path,
) -> anyhow::Result<Outcome> {
    let bytes = read_file(path)?;
    let tz: Tz = tenant
        .time_zone
        .parse()
        .map_err(|_| anyhow::anyhow!("tenant time zone `{}` is not valid", tenant.time_zone))?;
    let mut progress = Progress::new(path);
    let mut faults = Vec::new();
    let mut skipped = 0;
    // Each record with its line, and how to name its fields.
    let mut inputs: Vec<(u64, UsageRecordInput)> = Vec::new();
    let mapping = if layout(path, &bytes) == Layout::Ndjson {
        for (line, text) in ndjson_lines(&bytes) {
            match from_json_line::<UsageRecordInput>(line, text) {
                Ok(input) => inputs.push((line, input)),
                Err(f) => faults.extend(f),
            }
        }
        None
    } else {
        let table = match read_csv(&bytes) {
            Ok(table) => table,
            Err(fault) => return Ok(Outcome::Rejected(vec![fault])),
        };
        let mapping = match Mapping::detect(&table) {
            Ok(mapping) => mapping,
            Err(fault) => return Ok(Outcome::Rejected(vec![fault])),
        };
        let mut seen = HashMap::new();
        for (line, row) in &table.rows {
            if !mapping.is_usage(row) {
                skipped += 1;
                continue;
            }
            let id = record_id(mapping.record_prefix, &mapping.identity, row, &mut seen);
            match mapping.input(*line, row, tz, id) {
                Ok(input) => inputs.push((*line, input)),
                Err(f) => faults.extend(f),
            }
        }
        Some(mapping)
    };
    let column = |field: &str| match &mapping {
        Some(mapping) => mapping.column(field),
        None => field.to_owned(),
    };

    progress.phase("checking", inputs.len() as u64);
    let mut records: Vec<UsageRecord> = Vec::with_capacity(inputs.len());
    let mut lines = Vec::with_capacity(inputs.len());
    let mut ids: HashMap<String, u64> = HashMap::new();
    for (done, (line, input)) in inputs.into_iter().enumerate() {
        progress.set(done as u64);
        if let Some(first) = ids.insert(input.record_id.trim().to_owned(), line) {
            faults.push(Fault::new(
                line,
                column("record_id"),
                format_args!("repeats the record_id of line {first}"),
            ));
        }
        match input.parse() {
            Ok(record) => {
                records.push(record);
                lines.push(line);
            }
            Err(errors) => faults.extend(
                errors
                    .into_iter()
                    .map(|e| Fault::new(line, column(&e.field), e.message)),
            ),
        }
    }
    if !faults.is_empty() {
        progress.finish(None);
        return Ok(Outcome::Rejected(faults));
    }

    let format = mapping.as_ref().map_or("usage-ndjson", |m| m.format);
    let mut summary = Summary {
        format,
        read: records.len() as u64 + skipped,
        written: 0,
        already_present: 0,
        skipped,
        alerts: 0,
    };
    if records.is_empty() {
        progress.finish(Some(&summary));
        return Ok(Outcome::Written(summary));
    }
    progress.phase("writing", 1);
    let written = async {
        let resolved =
            Resolved::read(&mut store.read().await?, importer.tenant(), &records).await?;
        let mut tx = store.begin().await?;
        let out = ingest_records(importer, &mut tx, &resolved).await?;
        Ok::<_, ApiError>((tx, out))
    };
    match written.await {
        Ok((tx, out)) => {
            tx.commit().await?;
            summary.written = out.accepted.into();
            summary.already_present = out.duplicates.into();
            summary.alerts = out.alerts.len() as u64;
            progress.finish(Some(&summary));
            Ok(Outcome::Written(summary))
        }
        Err(error) => {
            // `[12].subscription`: the 13th record's line, the file's column.
            let faults = split_error(error, 0, str::to_owned)?
                .into_iter()
                .map(|mut fault| {
                    if let Some((index, field)) = fault
                        .field
                        .strip_prefix('[')
                        .and_then(|rest| rest.split_once("]."))
                        && let Some(line) = index.parse::<usize>().ok().and_then(|i| lines.get(i))
                    {
                        fault.line = *line;
                        fault.field = column(field);
                    }
                    fault
                })
                .collect();
            progress.finish(None);
            Ok(Outcome::Rejected(faults))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_dates_in_either_order_with_or_without_a_time() {
        let want = NaiveDate::from_ymd_opt(2026, 1, 31);
        for text in [
            "2026-01-31",
            "01/31/2026",
            "1/31/2026",
            "2026-01-31T00:00:00Z",
            "1/31/2026 0:00",
        ] {
            assert_eq!(day(text), want, "{text}");
        }
        assert_eq!(day("31/01/2026"), None);
        assert_eq!(day("yesterday"), None);
    }

    #[test]
    fn a_vendor_day_stays_on_its_date_in_the_tenants_zone() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        for tz in [
            chrono_tz::America::New_York,
            chrono_tz::Asia::Tokyo,
            chrono_tz::UTC,
        ] {
            let (start, end) = vendor_day(tz, day);
            assert_eq!(start.with_timezone(&tz).date_naive(), day, "{tz}");
            assert_eq!((end - start).num_hours(), 24, "{tz}");
        }
        // A 23-hour local day where the clocks spring forward.
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let (start, end) = vendor_day(chrono_tz::Europe::Berlin, spring);
        assert_eq!((end - start).num_hours(), 23);
    }

    #[test]
    fn scientific_notation_is_a_number() {
        assert_eq!(decimal("3.6E-05"), Decimal::from_str("0.000036").ok());
        assert_eq!(decimal("12.5"), Decimal::from_str("12.5").ok());
        assert_eq!(decimal("twelve"), None);
    }
}
