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
