//! The command line, declared with clap: every command and option has `--help`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use tollgate_core::tenancy::Role;

#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about = "Risk control for cloud resellers")]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives: a SQLite data directory (default) or a PostgreSQL URL.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Directory holding the embedded SQLite database.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_DATA_DIR",
        default_value = "./tollgate-data",
        conflicts_with = "database_url"
    )]
    pub data_dir: PathBuf,
    /// A `postgres://` (or `sqlite://`) URL instead of the data directory.
    #[arg(long, global = true, env = "TOLLGATE_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(Box<ServeArgs>),
    /// Create the database, a first tenant and an admin key (printed once).
    Init(InitArgs),
    /// Manage tenants (resellers).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Check the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Spend anomaly tools for analysts.
    #[command(subcommand)]
    Anomalies(AnomaliesCommand),
    /// Load invoices, payments or usage from a file: every row is checked before any is
    /// written, the file is written in one transaction, and importing it again adds nothing.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Run a background job once, now (`serve` also runs them on a schedule).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Play a simulated reseller (honest customers and bad actors) through the API into a
    /// fresh tenant, then serve the console over it until Ctrl-C.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The same seed plays the same story.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulated days, ending today.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(8..=3650))]
    pub days: u32,
    /// Honest small businesses signing up.
    #[arg(long, default_value_t = 300)]
    pub honest: u32,
    /// Address to serve the console and the API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Take the dunning steps due: reminders, notices, suspensions, reactivations. Safe beside
    /// a running server: one run at a time holds the `dunning` lease, and a step is never taken
    /// twice. Prints a summary.
    Dunning {
        /// The day to act on (`YYYY-MM-DD`, in each tenant's time zone); defaults to today.
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
        /// Only this tenant (slug); defaults to every tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Invoices: CSV with one row per invoice line (`number,customer_id,issued_at,due_at,
    /// currency,total,description,subscription_id,quantity,amount`), or NDJSON with one
    /// `POST /v1/invoices` body per line. An invoice number already stored is skipped.
    Invoices(ImportArgs),
    /// Payments: CSV (`customer_id,amount,currency,method,status,failure_code,received_at,
    /// allocations,reference`, allocations as `INV-1001=50.00;INV-1002=20.00`), or NDJSON with
    /// one `POST /v1/payments` body per line plus an optional `reference`.
    Payments(ImportArgs),
    /// Usage: an Azure cost-management export (actual cost), a Partner Center daily rated usage
    /// file, or NDJSON with one `POST /v1/usage` record per line; told apart by the header.
    Usage(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file (`.csv`, `.ndjson`/`.jsonl`, or told by its first character).
    pub file: PathBuf,
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// Print the summary (or the faults) as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AnomaliesCommand {
    /// Score a `timestamp,value` CSV with the server's detector, in order and without look-ahead;
    /// writes `timestamp,value,score,is_anomaly` to stdout.
    Score {
        /// The CSV file (`-` for standard input).
        file: PathBuf,
        /// Points are hours or days.
        #[arg(long, value_enum, default_value = "hourly")]
        granularity: Granularity,
        /// The customer's trust tier: newer customers are held to a tighter threshold.
        #[arg(long, default_value = "new")]
        tier: tollgate_core::customers::TrustTier,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Granularity {
    Hourly,
    Daily,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "TOLLGATE_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Log as JSON lines (the default when stdout is not a terminal).
    #[arg(long)]
    pub json_logs: bool,
    /// How often the dunning run starts (`30m`, `1h`, `1d`…; `off` to leave it to
    /// `tollgate jobs dunning`).
    #[arg(long, env = "TOLLGATE_DUNNING_EVERY", default_value = "1h", value_parser = parse_interval)]
    pub dunning_every: Every,
    /// Let webhook endpoints be on private or reserved networks (10/8, 192.168/16, loopback
    /// over plain HTTP…), for receivers inside your own network. Off, such URLs are refused.
    #[arg(long, env = "TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS")]
    pub webhooks_allow_private_networks: bool,
    #[command(flatten)]
    pub providers: ProviderArgs,
    #[command(flatten)]
    pub reference: ReferenceArgs,
}

/// Your own lookup tables in place of the shipped ones (formats as in `data/*/SOURCE.md`).
#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// BIN table: CSV `bin,brand,funding,category,country`, optionally gzip-compressed.
    #[arg(long, env = "TOLLGATE_BIN_TABLE")]
    pub bin_table: Option<PathBuf>,
    /// Disposable e-mail domains, one per line.
    #[arg(long, env = "TOLLGATE_DISPOSABLE_DOMAINS")]
    pub disposable_domains: Option<PathBuf>,
    /// Free-mail domains: a JSON array, or one per line.
    #[arg(long, env = "TOLLGATE_FREE_MAIL_DOMAINS")]
    pub free_mail_domains: Option<PathBuf>,
    /// IPv4 ranges: CSV `first,last,country` with addresses as integers.
    #[arg(long, env = "TOLLGATE_IP_COUNTRY")]
    pub ip_country: Option<PathBuf>,
    /// High-risk countries: CSV with an ISO alpha-2 `country` column.
    #[arg(long, env = "TOLLGATE_HIGH_RISK_COUNTRIES")]
    pub high_risk_countries: Option<PathBuf>,
}

/// Outbound providers for verification steps; a step whose provider is absent answers 503.
#[derive(Debug, Args)]
pub struct ProviderArgs {
    /// Twilio account SID (`AC…`) for SMS one-time codes.
    #[arg(long, env = "TOLLGATE_TWILIO_ACCOUNT_SID", requires_all = ["twilio_auth_token", "twilio_from"])]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[arg(long, env = "TOLLGATE_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// Sender number (E.164) or alphanumeric sender id.
    #[arg(long, env = "TOLLGATE_TWILIO_FROM")]
    pub twilio_from: Option<String>,
    /// Override of Twilio's API base URL (for a proxy or a sandbox).
    #[arg(long, env = "TOLLGATE_TWILIO_BASE_URL")]
    pub twilio_base_url: Option<String>,
    /// Base URL of the credit bureau (see docs/connectors/bureau.md).
    #[arg(long, env = "TOLLGATE_BUREAU_URL", requires = "bureau_token")]
    pub bureau_url: Option<String>,
    /// Bearer token for the credit bureau.
    #[arg(long, env = "TOLLGATE_BUREAU_TOKEN", hide_env_values = true)]
    pub bureau_token: Option<String>,
    /// SMTP relay for e-mail actions: `smtp://[user[:password]@]host[:port]?tls=starttls`
    /// (STARTTLS required, port 587 by default), `smtps://…` (TLS from the start, port 465), or
    /// `smtp://host[:port]` (plain text, port 25: only for a relay on a trusted network).
    #[arg(
        long,
        env = "TOLLGATE_SMTP_URL",
        requires = "mail_from",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// The relay's password, in place of one in the URL (which then names only the user).
    #[arg(
        long,
        env = "TOLLGATE_SMTP_PASSWORD",
        requires = "smtp_url",
        hide_env_values = true
    )]
    pub smtp_password: Option<String>,
    /// Sender of e-mail actions (`billing@reseller.example` or `Billing <billing@…>`); its
    /// domain also names the Message-IDs.
    #[arg(long, env = "TOLLGATE_MAIL_FROM", requires = "smtp_url")]
    pub mail_from: Option<String>,
    /// The partner's Entra ID tenant (`contoso.onmicrosoft.com` or its id) for Microsoft
    /// Partner Center; with the client id and secret, vendor actions leave through the outbox
    /// and `POST /v1/connectors/partner-center/events/{tenant}` takes webhooks in.
    #[arg(long, env = "TOLLGATE_PARTNER_CENTER_TENANT",
          requires_all = ["partner_center_client_id", "partner_center_client_secret"])]
    pub partner_center_tenant: Option<String>,
    /// The Entra ID application's client id.
    #[arg(long, env = "TOLLGATE_PARTNER_CENTER_CLIENT_ID")]
    pub partner_center_client_id: Option<String>,
    /// The Entra ID application's client secret.
    #[arg(
        long,
        env = "TOLLGATE_PARTNER_CENTER_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub partner_center_client_secret: Option<String>,
    /// A partner user's refresh token, for fraud events (app+user credentials).
    #[arg(
        long,
        env = "TOLLGATE_PARTNER_CENTER_REFRESH_TOKEN",
        hide_env_values = true
    )]
    pub partner_center_refresh_token: Option<String>,
    /// Override of Partner Center's API base URL (a proxy or a test double).
    #[arg(long, env = "TOLLGATE_PARTNER_CENTER_API_BASE")]
    pub partner_center_api_base: Option<String>,
    /// Override of the token endpoint; a v1 `…/oauth2/token` URL asks for the Partner Center
    /// resource rather than its scope.
    #[arg(long, env = "TOLLGATE_PARTNER_CENTER_TOKEN_URL")]
    pub partner_center_token_url: Option<String>,
    /// Hosts (`host` or `host:port`) the webhook signing certificate may come from;
    /// Partner Center's own by default.
    #[arg(
        long,
        env = "TOLLGATE_PARTNER_CENTER_CERTIFICATE_HOSTS",
        value_delimiter = ','
    )]
    pub partner_center_certificate_hosts: Vec<String>,
    /// Accept signing certificates over plain HTTP (only for a local test double).
    #[arg(long, env = "TOLLGATE_PARTNER_CENTER_ALLOW_HTTP_CERTIFICATES")]
    pub partner_center_allow_http_certificates: bool,
    /// The tenant (slug) whose customers the Partner Center account resells to: its active
    /// fraud events are read every `--partner-center-poll-every`, the safety net for webhooks
    /// that never arrived. Needs the refresh token (fraud events take app+user credentials).
    #[arg(long, env = "TOLLGATE_PARTNER_CENTER_POLL_TENANT",
          requires_all = ["partner_center_tenant", "partner_center_refresh_token"])]
    pub partner_center_poll_tenant: Option<String>,
    /// How often fraud events are read (`15m`, `1h`…; `off`).
    #[arg(long, env = "TOLLGATE_PARTNER_CENTER_POLL_EVERY", default_value = "15m",
          value_parser = parse_interval)]
    pub partner_center_poll_every: Every,
}

#[derive(Debug, Args)]
pub struct TenantArgs {
    /// Display name (defaults to the slug).
    #[arg(long)]
    pub name: Option<String>,
    /// IANA time zone for billing months and days past due.
    #[arg(long, default_value = "UTC")]
    pub time_zone: String,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Slug of the first tenant.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    #[command(flatten)]
    pub details: TenantArgs,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Short unique name: lower-case letters, digits and dashes.
        slug: String,
        #[command(flatten)]
        details: TenantArgs,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key; its secret is printed once and never stored.
    Create {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// admin, analyst, viewer or ingest.
        #[arg(long)]
        role: Role,
        #[arg(long)]
        label: Option<String>,
        /// Days until the key stops working.
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once.
    Revoke {
        /// The key's id (`key_…`).
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's keys (prefixes only).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every tenant's hash chain; exits 1 naming the first broken link.
    Verify {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// How often a scheduled job runs; `None` is `off`.
#[derive(Debug, Clone, Copy)]
pub struct Every(pub Option<std::time::Duration>);

/// `90s`, `30m`, `1h`, `1d`, or `off`.
fn parse_interval(text: &str) -> Result<Every, String> {
    if text == "off" {
        return Ok(Every(None));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an interval such as 30m, 1h or off"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` needs a unit: s, m, h or d")),
    };
    if number == 0 {
        return Err("the interval must be above zero (or `off`)".into());
    }
    Ok(Every(Some(std::time::Duration::from_secs(
        number.saturating_mul(seconds),
    ))))
}

/// Help and version go to stdout with success; anything else is one line on stderr, exit 2.
pub fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let rendered = err.render().to_string();
    // The first paragraph, joined: clap lists missing arguments on the lines after the first.
    let line = rendered
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let line = if line.is_empty() {
        "error: bad arguments"
    } else {
        &line
    };
    eprintln!("{line} (see --help)");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_interval;

    #[test]
    fn intervals_have_a_unit_or_are_off() {
        let every = |text| parse_interval(text).map(|e| e.0);
        assert_eq!(every("90s"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(every("30m"), Ok(Some(Duration::from_secs(1800))));
        assert_eq!(every("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(every("1d"), Ok(Some(Duration::from_secs(86_400))));
        assert_eq!(every("off"), Ok(None));
        for bad in ["", "1", "h", "0h", "1w", "-1h", "1.5h"] {
            assert!(every(bad).is_err(), "{bad}");
        }
    }
}
