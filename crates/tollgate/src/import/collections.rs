//! Invoices and payments from the reseller's billing system, as CSV or as NDJSON with one API
//! body per line. Each goes through the API's validation and its store code
//! (`record_invoices`, `record_payment`).
//!
//! An invoice is known again by its number (unique per tenant). An imported payment leaves an
//! entry in the idempotency ledger the API's `Idempotency-Key` uses, keyed by the row's
//! `reference` column when it has one and by a hash of the payment otherwise, so importing a
//! file again replays it. The optional `external_ref` (the processor's id, unique per tenant)
//! is the payment's own: a payment already reported under it by another route is a fault.

use std::{collections::HashMap, path::Path};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tollgate_core::{
    InvoiceId, PaymentId,
    collections::{Invoice, InvoiceIn, Payment, PaymentIn},
    validate,
};
use tollgate_server::api::collections::{record_invoices, record_payment};
use tollgate_store::{Store, StoredResponse, Tx};

use super::{
    Fault, Importer, Layout, Outcome, Progress, Summary, Table, field_fault, from_json_line,
    layout, ndjson_lines, read_csv, read_file, split_error,
};

const INVOICE_COLUMNS: &[&str] = &[
    "number",
    "customer_id",
    "issued_at",
    "due_at",
    "currency",
    "total",
];
const LINE_COLUMNS: &[&str] = &["description", "subscription_id", "quantity", "amount"];
const OPTIONAL_COLUMNS: &[&str] = &["subscription_id", "quantity"];
const PAYMENT_COLUMNS: &[&str] = &[
    "customer_id",
    "amount",
    "currency",
    "method",
    "status",
    "failure_code",
    "external_ref",
    "received_at",
    "allocations",
    "reference",
];
const PAYMENT_OPTIONAL: &[&str] = &["failure_code", "external_ref", "allocations", "reference"];
const REFERENCE_MAX: usize = 200;
/// Invoices handed to the store at once.
const WRITE_SLICE: usize = 2_000;

/// Where a parsed item came from, to name the line and column of a fault.
struct Origin {
    /// The item's first line.
    line: u64,
    /// CSV invoices: the line of each invoice line, so `lines[2].amount` names its own row.
    line_rows: Vec<u64>,
    csv: bool,
}

impl Origin {
    fn single(line: u64, csv: bool) -> Self {
        Self {
            line,
            line_rows: Vec::new(),
            csv,
        }
    }

    fn fault(&self, field: &str, message: impl std::fmt::Display) -> Fault {
        let (line, column) = self.locate(field);
        Fault::new(line, column, message)
    }

    /// `lines[2].amount` in a CSV is the `amount` column of the invoice's third row.
    fn locate(&self, field: &str) -> (u64, String) {
        if self.csv
            && let Some(rest) = field.strip_prefix("lines[")
            && let Some((index, column)) = rest.split_once("].")
            && let Some(line) = index
                .parse::<usize>()
                .ok()
                .and_then(|i| self.line_rows.get(i))
        {
            return (*line, column.to_owned());
        }
        (self.line, field.to_owned())
    }

    fn faults(&self, error: tollgate_server::error::ApiError) -> anyhow::Result<Vec<Fault>> {
        let mut faults = split_error(error, self.line, str::to_owned)?;
        for fault in &mut faults {
            (fault.line, fault.field) = self.locate(&fault.field);
        }
        Ok(faults)
    }
}

fn check_header(table: &Table, known: &[&str], optional: &[&str]) -> Vec<Fault> {
    let mut faults: Vec<Fault> = table
        .header
        .iter()
        .filter(|h| !known.iter().any(|k| h.eq_ignore_ascii_case(k)))
        .map(|h| {
            Fault::new(
                1,
                h.as_str(),
                format_args!("unknown column; expected {}", known.join(", ")),
            )
        })
        .collect();
    for name in known.iter().filter(|k| !optional.contains(k)) {
        if table.column(&[name]).is_none() {
            faults.push(Fault::new(1, *name, "missing column"));
        }
    }
    faults
}

/// The CSV row's cell as a JSON string, or nothing when the cell is empty.
fn cell(table: &Table, row: &csv::StringRecord, name: &str) -> Option<Value> {
    let value = table.column(&[name])?.get(row);
    (!value.is_empty()).then(|| Value::String(value.to_owned()))
}

pub async fn invoices(store: &Store, importer: &Importer, path: &Path) -> anyhow::Result<Outcome> {
    let bytes = read_file(path)?;
    let mut progress = Progress::new(path);
    let csv = layout(path, &bytes) == Layout::Csv;
    let (inputs, mut faults) = if csv {
        invoices_from_csv(&bytes)
    } else {
        let mut inputs = Vec::new();
        let mut faults = Vec::new();
        for (line, text) in ndjson_lines(&bytes) {
            match from_json_line::<InvoiceIn>(line, text) {
                Ok(input) => inputs.push((input, Origin::single(line, false))),
                Err(f) => faults.extend(f),
            }
        }
        (inputs, faults)
    };
    progress.phase("checking", inputs.len() as u64);
    let mut invoices = Vec::with_capacity(inputs.len());
    let mut numbers: HashMap<String, u64> = HashMap::new();
    for (done, (input, origin)) in inputs.into_iter().enumerate() {
        progress.set(done as u64);
        match input.validate(InvoiceId::generate()) {
            Ok(invoice) => {
                if let Some(first) = numbers.insert(invoice.number.clone(), origin.line) {
                    faults.push(origin.fault(
                        "number",
                        format_args!("repeats the invoice on line {first}"),
                    ));
                }
                invoices.push((invoice, origin));
            }
            Err(e) => faults.push(origin.fault(&e.field, e.message)),
        }
    }
    if !faults.is_empty() {
        progress.finish(None);
        return Ok(Outcome::Rejected(faults));
    }

    let mut summary = Summary {
        format: if csv {
            "invoices-csv"
        } else {
            "invoices-ndjson"
        },
        read: invoices.len() as u64,
        written: 0,
        already_present: 0,
        skipped: 0,
        alerts: 0,
    };
    progress.phase("writing", invoices.len() as u64);
    let mut tx = store.begin().await?;
    let numbers: Vec<&str> = invoices.iter().map(|(i, _)| i.number.as_str()).collect();
    let stored = tx.invoices_by_number(importer.tenant, &numbers).await?;
    let mut new = Vec::new();
    let mut new_origins = Vec::new();
    for (invoice, origin) in &invoices {
        match stored.get(&invoice.number) {
            Some(stored) if same_invoice(&stored.invoice, invoice) => summary.already_present += 1,
            Some(stored) => faults.push(origin.fault(
                "number",
                format_args!(
                    "is already used by invoice {}, which differs from this one",
                    stored.invoice.id
                ),
            )),
            None => {
                new.push(invoice.clone());
                new_origins.push(origin);
            }
        }
    }
    // In slices, so each customer's account is folded once per slice rather than once per
    // invoice, and the progress bar still moves.
    let present = invoices.len() - new.len();
    for (slice, chunk) in new.chunks(WRITE_SLICE).enumerate() {
        let offset = slice * WRITE_SLICE;
        let refused = record_invoices(importer, &mut tx, chunk).await?;
        summary.written += (chunk.len() - refused.len()) as u64;
        for (index, error) in refused {
            faults.extend(new_origins[offset + index].faults(error)?);
        }
        progress.set((present + offset + chunk.len()) as u64);
    }
    finish(tx, progress, summary, faults).await
}

/// Everything an invoice says except the id this import would have given it.
fn same_invoice(stored: &Invoice, new: &Invoice) -> bool {
    stored.customer_id == new.customer_id
        && stored.currency == new.currency
        && stored.total == new.total
        && stored.issued_at == new.issued_at
        && stored.due_at == new.due_at
        && stored.lines == new.lines
}

/// One row per invoice line; the rows of one invoice are consecutive and repeat its columns.
fn invoices_from_csv(bytes: &[u8]) -> (Vec<(InvoiceIn, Origin)>, Vec<Fault>) {
    let table = match read_csv(bytes) {
        Ok(table) => table,
        Err(fault) => return (Vec::new(), vec![fault]),
    };
    let known: Vec<&str> = INVOICE_COLUMNS
        .iter()
        .chain(LINE_COLUMNS)
        .copied()
        .collect();
    let mut faults = check_header(&table, &known, OPTIONAL_COLUMNS);
    if !faults.is_empty() {
        return (Vec::new(), faults);
    }
    // Each invoice's own columns, its lines, and where its rows are.
    let mut groups: Vec<(Map<String, Value>, Vec<Value>, Origin)> = Vec::new();
    for (line, row) in &table.rows {
        let head: Map<String, Value> = INVOICE_COLUMNS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), cell(&table, row, name)?)))
            .collect();
        let item: Map<String, Value> = LINE_COLUMNS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), cell(&table, row, name)?)))
            .collect();
        match groups.last_mut() {
            Some((first, items, origin)) if first.get("number") == head.get("number") => {
                for name in INVOICE_COLUMNS {
                    if first.get(*name) != head.get(*name) {
                        faults.push(Fault::new(
                            *line,
                            *name,
                            format_args!(
                                "differs from line {}, the invoice's first row",
                                origin.line
                            ),
                        ));
                    }
                }
                items.push(Value::Object(item));
                origin.line_rows.push(*line);
            }
            _ => groups.push((
                head,
                vec![Value::Object(item)],
                Origin {
                    line: *line,
                    line_rows: vec![*line],
                    csv: true,
                },
            )),
        }
    }
    let mut inputs = Vec::with_capacity(groups.len());
    for (mut head, items, origin) in groups {
        head.insert("lines".into(), Value::Array(items));
        match tollgate_server::json::from_value::<InvoiceIn>(Value::Object(head)) {
            Ok(input) => inputs.push((input, origin)),
            Err(e) => match origin.faults(e) {
                Ok(f) => faults.extend(f),
                Err(e) => faults.push(Fault::new(origin.line, "(row)", e)),
            },
        }
    }
    (inputs, faults)
}

/// A payment ready to write, and the ledger entry that makes writing it again a no-op.
struct PaymentRow {
    payment: Payment,
    origin: Origin,
    key: String,
    hash: String,
    /// The column the key came from, to name it when the ledger disagrees.
    key_field: &'static str,
}

pub async fn payments(store: &Store, importer: &Importer, path: &Path) -> anyhow::Result<Outcome> {
    let bytes = read_file(path)?;
    let mut progress = Progress::new(path);
    let csv = layout(path, &bytes) == Layout::Csv;
    let mut faults = Vec::new();
    // (body, reference, where)
    let mut inputs: Vec<(Value, Option<String>, Origin)> = Vec::new();
    if csv {
        let table = match read_csv(&bytes) {
            Ok(table) => table,
            Err(fault) => return Ok(Outcome::Rejected(vec![fault])),
        };
        faults = check_header(&table, PAYMENT_COLUMNS, PAYMENT_OPTIONAL);
        if !faults.is_empty() {
            return Ok(Outcome::Rejected(faults));
        }
        let mut read = store.read().await?;
        for (line, row) in &table.rows {
            let mut body: Map<String, Value> = PAYMENT_COLUMNS
                .iter()
                .filter(|name| !["allocations", "reference"].contains(name))
                .filter_map(|name| Some(((*name).to_owned(), cell(&table, row, name)?)))
                .collect();
            if let Some(Value::String(text)) = cell(&table, row, "allocations") {
                match allocations(&mut read, importer, &text).await? {
                    Ok(list) => {
                        body.insert("allocations".into(), list);
                    }
                    Err(message) => faults.push(Fault::new(*line, "allocations", message)),
                }
            }
            let reference =
                cell(&table, row, "reference").and_then(|v| v.as_str().map(str::to_owned));
            inputs.push((Value::Object(body), reference, Origin::single(*line, true)));
        }
    } else {
        for (line, text) in ndjson_lines(&bytes) {
            let mut value: Value = match serde_json::from_slice(text) {
                Ok(value) => value,
                Err(e) => {
                    faults.push(Fault::new(
                        line,
                        "(line)",
                        format_args!("not valid JSON: {e}"),
                    ));
                    continue;
                }
            };
            let reference = match value.as_object_mut().and_then(|o| o.remove("reference")) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(_) => {
                    faults.push(Fault::new(line, "reference", "must be a string"));
                    continue;
                }
            };
            inputs.push((value, reference, Origin::single(line, false)));
        }
    }

    progress.phase("checking", inputs.len() as u64);
    let mut rows = Vec::with_capacity(inputs.len());
    let mut keys: HashMap<String, u64> = HashMap::new();
    for (done, (body, reference, origin)) in inputs.into_iter().enumerate() {
        progress.set(done as u64);
        let input: PaymentIn = match tollgate_server::json::from_value(body) {
            Ok(input) => input,
            Err(e) => {
                faults.extend(origin.faults(e)?);
                continue;
            }
        };
        let payment = match input.validate(PaymentId::generate()) {
            Ok(payment) => payment,
            Err(e) => {
                faults.push(field_fault(origin.line, e, str::to_owned));
                continue;
            }
        };
        let hash = content_hash(&payment)?;
        let (key, key_field) = match reference {
            Some(text) => match validate::text("reference", &text, REFERENCE_MAX) {
                Ok(reference) => (format!("import:payment:ref:{reference}"), "reference"),
                Err(e) => {
                    faults.push(field_fault(origin.line, e, str::to_owned));
                    continue;
                }
            },
            None => (format!("import:payment:{hash}"), "(row)"),
        };
        if let Some(first) = keys.insert(key.clone(), origin.line) {
            faults.push(Fault::new(
                origin.line,
                key_field,
                format_args!("repeats the payment on line {first}"),
            ));
        }
        rows.push(PaymentRow {
            payment,
            origin,
            key,
            hash,
            key_field,
        });
    }
    if !faults.is_empty() {
        progress.finish(None);
        return Ok(Outcome::Rejected(faults));
    }

    let mut summary = Summary {
        format: if csv {
            "payments-csv"
        } else {
            "payments-ndjson"
        },
        read: rows.len() as u64,
        written: 0,
        already_present: 0,
        skipped: 0,
        alerts: 0,
    };
    progress.phase("writing", rows.len() as u64);
    let mut tx = store.begin().await?;
    for (done, row) in rows.iter().enumerate() {
        progress.set(done as u64);
        match tx.idempotent_response(importer.tenant, &row.key).await? {
            Some(stored) if stored.request_hash == row.hash => summary.already_present += 1,
            Some(_) => faults.push(Fault::new(
                row.origin.line,
                row.key_field,
                "was imported before with different details",
            )),
            None => match record_payment(importer, &mut tx, &row.payment).await {
                Ok(()) => {
                    let stored = StoredResponse {
                        request_hash: row.hash.clone(),
                        status: 201,
                        body: json!({ "id": row.payment.id }).to_string(),
                    };
                    tx.save_idempotent_response(importer.tenant, &row.key, &stored, importer.now)
                        .await?;
                    summary.written += 1;
                }
                Err(e) => faults.extend(row.origin.faults(e)?),
            },
        }
    }
    finish(tx, progress, summary, faults).await
}

/// `INV-1001=50.00;INV-1002=20.00`: invoice numbers (or `inv_…` ids) and amounts, as the
/// API's `allocations`; the error is the message for the `allocations` column.
async fn allocations(
    tx: &mut Tx,
    importer: &Importer,
    text: &str,
) -> anyhow::Result<Result<Value, String>> {
    let mut list = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((invoice, amount)) = part.split_once('=') else {
            return Ok(Err(format!("`{part}` is not `INVOICE=AMOUNT`")));
        };
        let invoice = invoice.trim();
        let id = match invoice.parse::<InvoiceId>() {
            Ok(id) => id,
            Err(_) => match tx.invoice_by_number(importer.tenant, invoice).await? {
                Some(row) => row.invoice.id,
                None => return Ok(Err(format!("no invoice numbered `{invoice}`"))),
            },
        };
        list.push(json!({ "invoice_id": id, "amount": amount.trim() }));
    }
    Ok(Ok(Value::Array(list)))
}

/// What identifies a payment without a reference: everything but the id this import made up.
fn content_hash(payment: &Payment) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(payment)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("id");
    }
    Ok(hex::encode(Sha256::digest(value.to_string().as_bytes())))
}

/// Commits what the file added, or rolls all of it back when any row was refused.
async fn finish(
    tx: Tx,
    progress: Progress,
    summary: Summary,
    faults: Vec<Fault>,
) -> anyhow::Result<Outcome> {
    if faults.is_empty() {
        tx.commit().await?;
        progress.finish(Some(&summary));
        Ok(Outcome::Written(summary))
    } else {
        drop(tx);
        progress.finish(None);
        Ok(Outcome::Rejected(faults))
    }
}
