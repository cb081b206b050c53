//! `tollgate import`: invoices, payments and usage from files, through the same validation and
//! store code as the API handlers. A file is read and checked whole first; a bad row is reported
//! with its line and field and nothing from the file is written. What a file adds is written in
//! one transaction, and importing the same file again writes nothing new.

mod collections;
mod usage;

use std::{
    fmt,
    io::{IsTerminal, Read},
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tollgate_core::{TenantId, audit::Actor, tenancy::Tenant, validate::FieldError};
use tollgate_server::{ctx::Acting, error::ApiError};
use tollgate_store::Store;

use crate::cli::{ImportArgs, ImportCommand};

/// Faults listed in full before the rest are only counted.
const SHOWN_FAULTS: usize = 100;

pub async fn run(
    store: &Store,
    tenant: Tenant,
    command: ImportCommand,
) -> anyhow::Result<ExitCode> {
    let importer = Importer {
        tenant: tenant.id,
        now: Utc::now(),
    };
    let (args, outcome) = match command {
        ImportCommand::Invoices(args) => {
            let outcome = collections::invoices(store, &importer, &args.file).await?;
            (args, outcome)
        }
        ImportCommand::Payments(args) => {
            let outcome = collections::payments(store, &importer, &args.file).await?;
            (args, outcome)
        }
        ImportCommand::Usage(args) => {
            let outcome = usage::import(store, &importer, &tenant, &args.file).await?;
            (args, outcome)
        }
    };
    Ok(report(&args, outcome))
}

/// The operator at the command line, acting for one tenant at the instant the import started.
pub struct Importer {
    pub tenant: TenantId,
    pub now: DateTime<Utc>,
}

impl Acting for Importer {
    fn tenant(&self) -> TenantId {
        self.tenant
    }
    fn actor(&self) -> Actor {
        Actor::Cli
    }
    fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

/// One bad row: where it is in the file and which field (as the file names it) is at fault.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

impl Fault {
    pub fn new(line: u64, field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            line,
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// What one import did, or why it wrote nothing.
pub enum Outcome {
    Written(Summary),
    Rejected(Vec<Fault>),
}

#[derive(Debug, Serialize)]
pub struct Summary {
    /// `invoices-csv`, `azure-cost-export`…
    pub format: &'static str,
    /// Rows (or, for invoices, whole invoices) the file holds.
    pub read: u64,
    pub written: u64,
    /// Already stored by an earlier import: left as they are.
    pub already_present: u64,
    /// Rows that are not ours to import, such as purchases in a cost export.
    pub skipped: u64,
    /// Budget and anomaly alerts the usage raised.
    pub alerts: u64,
}

fn report(args: &ImportArgs, outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Written(summary) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("summary serializes")
                );
            } else {
                println!(
                    "{} ({}): {} read, {} written, {} already present, {} skipped, {} alerts",
                    args.file.display(),
                    summary.format,
                    summary.read,
                    summary.written,
                    summary.already_present,
                    summary.skipped,
                    summary.alerts
                );
            }
            ExitCode::SUCCESS
        }
        Outcome::Rejected(mut faults) => {
            faults.sort_by_key(|f| f.line);
            let total = faults.len();
            faults.truncate(SHOWN_FAULTS);
            if args.json {
                let body =
                    serde_json::json!({ "written": 0, "faults": faults, "fault_count": total });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&body).expect("faults serialize")
                );
            }
            for fault in &faults {
                eprintln!("{fault}");
            }
            if total > faults.len() {
                eprintln!("… and {} more", total - faults.len());
            }
            eprintln!(
                "error: {} has {total} bad row(s); nothing was written",
                args.file.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// How a file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Csv,
    Ndjson,
}

/// By extension, or else by the first character: a JSON object starts with `{`.
pub fn layout(path: &Path, head: &[u8]) -> Layout {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => Layout::Csv,
        Some("ndjson" | "jsonl" | "json") => Layout::Ndjson,
        _ => {
            let first = strip_bom(head).iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'{') {
                Layout::Ndjson
            } else {
                Layout::Csv
            }
        }
    }
}

/// Spreadsheet tools and Azure's exports start UTF-8 files with a byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The whole file; imports check every row before writing any, so they hold the rows anyway.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

/// A CSV file's header and rows, each row with the line it starts on.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    /// The first of `names` the header has, compared without case: Azure's schemas spell the
    /// same column `SubscriptionId` and `subscriptionId`.
    pub fn column(&self, names: &[&str]) -> Option<Column> {
        names.iter().find_map(|name| {
            self.header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
                .map(|index| Column {
                    index,
                    name: self.header[index].clone(),
                })
        })
    }
}

/// A column of a [`Table`], named as the file names it.
#[derive(Debug, Clone)]
pub struct Column {
    pub index: usize,
    pub name: String,
}

impl Column {
    pub fn get<'r>(&self, row: &'r csv::StringRecord) -> &'r str {
        row.get(self.index).unwrap_or_default()
    }
}

pub fn read_csv(bytes: &[u8]) -> Result<Table, Fault> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(strip_bom(bytes));
    let fault = |e: csv::Error| {
        let line = e.position().map_or(1, csv::Position::line);
        Fault::new(line, "(line)", format_args!("not valid CSV: {e}"))
    };
    let header = reader
        .headers()
        .map_err(fault)?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(fault)?;
        let line = record.position().map_or(0, csv::Position::line);
        rows.push((line, record));
    }
    Ok(Table { header, rows })
}

/// The lines of an NDJSON file that hold something, with their 1-based numbers.
pub fn ndjson_lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    strip_bom(bytes)
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i as u64 + 1, line.trim_ascii()))
        .filter(|(_, line)| !line.is_empty())
}

/// One NDJSON line as `T`, with faults named by JSON path as the API names them.
pub fn from_json_line<T: serde::de::DeserializeOwned>(
    line: u64,
    text: &[u8],
) -> Result<T, Vec<Fault>> {
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
        vec![Fault::new(
            line,
            "(line)",
            format_args!("not valid JSON: {e}"),
        )]
    })?;
    tollgate_server::json::from_value(value).map_err(|e| faults_of(line, e, |f| f.to_owned()))
}

/// Turns an API error about one row into faults on `line`; `column` renames a field as the file
/// names it. Anything but invalid fields is not the row's fault and is passed on.
pub fn faults_of(line: u64, error: ApiError, column: impl Fn(&str) -> String) -> Vec<Fault> {
    match error {
        ApiError::Invalid(errors) => errors
            .into_iter()
            .map(|e| Fault::new(line, column(&e.field), e.message))
            .collect(),
        ApiError::MalformedJson(message) => vec![Fault::new(line, "(line)", message)],
        // A value the store already holds (an invoice number, a processor id) is its column's.
        ApiError::Conflict {
            detail,
            field: Some(field),
        } => vec![Fault::new(line, column(field), detail)],
        other => vec![Fault::new(line, "(row)", other)],
    }
}

pub fn field_fault(line: u64, error: FieldError, column: impl Fn(&str) -> String) -> Fault {
    Fault::new(line, column(&error.field), error.message)
}

/// An error from a shared write path: the row's faults, or a failure that ends the import.
pub fn split_error(
    error: ApiError,
    line: u64,
    column: impl Fn(&str) -> String,
) -> anyhow::Result<Vec<Fault>> {
    match error {
        ApiError::Invalid(_) | ApiError::Conflict { .. } => Ok(faults_of(line, error, column)),
        ApiError::Internal(message) => Err(anyhow::anyhow!(message)),
        other => Err(other.into()),
    }
}

/// A progress bar on a terminal; otherwise a structured log line every few seconds, so a job
/// runner's log shows the import moving.
pub struct Progress {
    bar: Option<ProgressBar>,
    file: String,
    phase: &'static str,
    last_log: Instant,
}

const LOG_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn new(path: &Path) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            file: path.display().to_string(),
            phase: "",
            last_log: Instant::now(),
        }
    }

    /// Starts a phase over `total` rows.
    pub fn phase(&mut self, phase: &'static str, total: u64) {
        self.phase = phase;
        match &self.bar {
            Some(bar) => {
                bar.set_message(phase);
                bar.set_length(total);
                bar.set_position(0);
            }
            None => {
                tracing::info!(file = %self.file, phase, rows = total, "import phase started");
                self.last_log = Instant::now();
            }
        }
    }

    pub fn set(&mut self, done: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None if self.last_log.elapsed() >= LOG_EVERY => {
                tracing::info!(file = %self.file, phase = self.phase, done, "import progress");
                self.last_log = Instant::now();
            }
            None => {}
        }
    }

    pub fn finish(self, summary: Option<&Summary>) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        } else if let Some(s) = summary {
            tracing::info!(
                file = %self.file,
                format = s.format,
                read = s.read,
                written = s.written,
                already_present = s.already_present,
                skipped = s.skipped,
                alerts = s.alerts,
                "import done"
            );
        } else {
            tracing::info!(file = %self.file, "import rejected; nothing written");
        }
    }
}

/// JSON log lines on standard error when it is not a terminal (a job runner's log).
pub fn init_logs() {
    if std::io::stderr().is_terminal() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .json()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_comes_from_the_extension_then_the_content() {
        assert_eq!(layout(Path::new("a.CSV"), b"{"), Layout::Csv);
        assert_eq!(layout(Path::new("a.jsonl"), b"x,y"), Layout::Ndjson);
        assert_eq!(
            layout(Path::new("export"), b"\xEF\xBB\xBF  {\"a\":1}"),
            Layout::Ndjson
        );
        assert_eq!(layout(Path::new("export"), b"Date,Cost"), Layout::Csv);
    }

    #[test]
    fn ndjson_lines_keep_their_numbers_and_skip_blanks() {
        let lines: Vec<(u64, &[u8])> = ndjson_lines(b"{}\n\n  {\"a\":1}\r\n").collect();
        assert_eq!(lines, vec![(1, &b"{}"[..]), (3, &b"{\"a\":1}"[..])]);
    }
}
