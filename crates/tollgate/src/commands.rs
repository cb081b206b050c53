//! What each command does. Operator commands act as `Actor::Cli` on the audit chain.

use std::{io::IsTerminal, process::ExitCode, sync::Arc};

use anyhow::{Context, bail};
use chrono::Utc;
use serde_json::json;
use tollgate_core::{
    KeyId, TenantId,
    audit::{Actor, AuditEntry},
    clock::SystemClock,
    refdata::ReferenceData,
    tenancy::{Role, Tenant},
};
use tollgate_server::{AppState, Application, Connectors, ServerConfig, issue_key};
use tollgate_store::{Store, StoreError, page::PageRequest};

use crate::cli::{
    AnomaliesCommand, AuditCommand, Cli, Command, Granularity, ImportCommand, InitArgs,
    JobsCommand, KeyCommand, ServeArgs, StoreArgs, TenantArgs, TenantCommand,
};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Offline tools need no store: they must not create a data directory as a side effect.
    if let Command::Anomalies(AnomaliesCommand::Score {
        file,
        granularity,
        tier,
    }) = &cli.command
    {
        return score_anomalies(file, *granularity, *tier);
    }
    let store = open(&cli.store).await?;
    match cli.command {
        Command::Serve(args) => serve(store, *args).await?,
        Command::Init(args) => init(&store, args).await?,
        Command::Tenant(TenantCommand::Create {
            slug,
            details,
            json,
        }) => {
            let tenant = create_tenant(&store, &slug, details).await?;
            print(json, &tenant, || {
                format!("created tenant {} ({})", tenant.slug, tenant.id)
            });
        }
        Command::Tenant(TenantCommand::List { json }) => {
            let tenants = store.read().await?.all_tenants().await?;
            print(json, &tenants, || {
                tenants
                    .iter()
                    .map(|t| format!("{}\t{}\t{}", t.id, t.slug, t.time_zone))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Key(KeyCommand::Create {
            tenant,
            role,
            label,
            expires_in_days,
            json,
        }) => {
            let tenant = tenant_by_slug(&store, &tenant).await?;
            let expires_at = expires_in_days.map(|d| Utc::now() + chrono::Duration::days(d.into()));
            let mut tx = store.begin().await?;
            let created = issue_key(
                &mut tx,
                tenant.id,
                role,
                label,
                expires_at,
                Actor::Cli,
                Utc::now(),
            )
            .await?;
            tx.commit().await?;
            print(json, &created, || {
                format!(
                    "created {} key {}\nsecret (shown once): {}",
                    created.key.role, created.key.id, created.secret
                )
            });
        }
        Command::Key(KeyCommand::Revoke { id, json }) => {
            let id: KeyId = id.parse().context("key id")?;
            let now = Utc::now();
            let mut tx = store.begin().await?;
            let key = tx
                .key_any_tenant(id)
                .await
                .map_err(|e| not_found(e, "key"))?;
            let key = tx.revoke_key(key.tenant_id, id, now).await?;
            tx.append_audit(
                key.tenant_id,
                now,
                entry("key.revoked", id.to_string(), json!(key)),
            )
            .await?;
            tx.commit().await?;
            print(json, &key, || format!("revoked key {}", key.id));
        }
        Command::Key(KeyCommand::List { tenant, json }) => {
            let tenant = tenant_by_slug(&store, &tenant).await?;
            let mut page = PageRequest {
                after: None,
                limit: 500,
            };
            let mut keys = Vec::new();
            let mut tx = store.read().await?;
            loop {
                let got = tx.list_keys(tenant.id, &page).await?;
                keys.extend(got.data);
                match got.next_cursor {
                    Some(cursor) => page.after = Some(cursor),
                    None => break,
                }
            }
            print(json, &keys, || {
                keys.iter()
                    .map(|k| {
                        let state = if k.is_usable_at(Utc::now()) {
                            "active"
                        } else {
                            "inactive"
                        };
                        format!("{}\t{}\t{}…\t{state}", k.id, k.role, k.prefix)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Audit(AuditCommand::Verify { tenant, json }) => {
            return verify(&store, tenant, json).await;
        }
        Command::Import(command) => {
            crate::import::init_logs();
            let slug = match &command {
                ImportCommand::Invoices(args)
                | ImportCommand::Payments(args)
                | ImportCommand::Usage(args) => args.tenant.clone(),
            };
            let tenant = tenant_by_slug(&store, &slug).await?;
            return crate::import::run(&store, tenant, command).await;
        }
        Command::Jobs(JobsCommand::Dunning {
            as_of,
            tenant,
            json,
        }) => dunning(store, as_of, tenant, json).await?,
        Command::Demo(args) => crate::demo::run(store, args).await?,
        Command::Anomalies(_) => unreachable!("offline commands return before the store is opened"),
    }
    Ok(ExitCode::SUCCESS)
}

fn score_anomalies(
    file: &std::path::Path,
    granularity: Granularity,
    tier: tollgate_core::customers::TrustTier,
) -> anyhow::Result<ExitCode> {
    use tollgate_core::usage::{ColdStartPrior, Detector, DetectorConfig, score_csv};
    let detector = Detector::new(match granularity {
        Granularity::Hourly => DetectorConfig::hourly(),
        Granularity::Daily => DetectorConfig::daily(),
    });
    let prior = ColdStartPrior {
        population_median: None,
        tier,
    };
    let stdout = std::io::stdout().lock();
    let summary = if file.as_os_str() == "-" {
        score_csv(std::io::stdin().lock(), stdout, &detector, prior)
    } else {
        let input =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        score_csv(std::io::BufReader::new(input), stdout, &detector, prior)
    }
    .with_context(|| format!("scoring {}", file.display()))?;
    eprintln!("{} points, {} anomalies", summary.points, summary.anomalies);
    Ok(ExitCode::SUCCESS)
}

async fn open(args: &StoreArgs) -> anyhow::Result<Store> {
    Ok(match &args.database_url {
        Some(url) => Store::connect(url).await.context("opening the database")?,
        None => Store::open_data_dir(&args.data_dir)
            .await
            .with_context(|| format!("opening the data directory {}", args.data_dir.display()))?,
    })
}

fn print<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("output serializes")
        );
    } else {
        println!("{}", human());
    }
}

fn entry(action: &str, object_id: String, data: serde_json::Value) -> AuditEntry {
    AuditEntry {
        actor: Actor::Cli,
        action: action.into(),
        object_id,
        data,
    }
}

fn not_found(err: StoreError, what: &str) -> anyhow::Error {
    match err {
        StoreError::NotFound => anyhow::anyhow!("no such {what}"),
        other => other.into(),
    }
}

async fn tenant_by_slug(store: &Store, slug: &str) -> anyhow::Result<Tenant> {
    store
        .read()
        .await?
        .tenant_by_slug(slug)
        .await
        .map_err(|e| not_found(e, &format!("tenant `{slug}`")))
}

async fn create_tenant(store: &Store, slug: &str, details: TenantArgs) -> anyhow::Result<Tenant> {
    let valid_slug = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_slug {
        bail!("slug `{slug}` must be 1 to 63 lower-case letters, digits or dashes");
    }
    if details.time_zone.parse::<chrono_tz::Tz>().is_err() {
        bail!(
            "`{}` is not an IANA time zone such as Europe/Berlin",
            details.time_zone
        );
    }
    let tenant = Tenant {
        id: TenantId::generate(),
        slug: slug.to_owned(),
        name: details.name.unwrap_or_else(|| slug.to_owned()),
        time_zone: details.time_zone,
        created_at: Utc::now(),
    };
    let mut tx = store.begin().await?;
    tx.insert_tenant(&tenant).await.map_err(|e| match e {
        StoreError::Duplicate { .. } => anyhow::anyhow!("a tenant `{slug}` already exists"),
        other => other.into(),
    })?;
    tx.append_audit(
        tenant.id,
        tenant.created_at,
        entry("tenant.created", tenant.id.to_string(), json!(tenant)),
    )
    .await?;
    tx.commit().await?;
    Ok(tenant)
}

async fn init(store: &Store, args: InitArgs) -> anyhow::Result<()> {
    if store.read().await?.tenant_count().await? > 0 {
        bail!(
            "already initialised: this store has tenants (use `tollgate tenant create` and `tollgate key create`)"
        );
    }
    let tenant = create_tenant(store, &args.tenant, args.details).await?;
    let mut tx = store.begin().await?;
    let created = issue_key(
        &mut tx,
        tenant.id,
        Role::Admin,
        Some("init".into()),
        None,
        Actor::Cli,
        Utc::now(),
    )
    .await?;
    tx.commit().await?;
    print(
        args.json,
        &json!({ "tenant": tenant, "key": created }),
        || {
            format!(
                "initialised tenant `{}` ({})\nadmin key {} — secret, shown once:\n{}",
                tenant.slug, tenant.id, created.key.id, created.secret
            )
        },
    );
    Ok(())
}

async fn verify(store: &Store, only: Option<String>, json: bool) -> anyhow::Result<ExitCode> {
    let tenants = match only {
        Some(slug) => vec![tenant_by_slug(store, &slug).await?],
        None => store.read().await?.all_tenants().await?,
    };
    let mut report = Vec::new();
    let mut broken = false;
    for tenant in tenants {
        let result = store.verify_audit(tenant.id).await?;
        broken |= result.is_err();
        report.push(match result {
            Ok(count) => json!({ "tenant": tenant.slug, "ok": true, "events": count }),
            Err(link) => {
                json!({ "tenant": tenant.slug, "ok": false, "first_broken": link.to_string() })
            }
        });
    }
    print(json, &report, || {
        report
            .iter()
            .map(|r| match r["ok"].as_bool() {
                Some(true) => format!(
                    "{}: ok, {} events",
                    r["tenant"].as_str().unwrap_or("?"),
                    r["events"]
                ),
                _ => format!(
                    "{}: BROKEN — {}",
                    r["tenant"].as_str().unwrap_or("?"),
                    r["first_broken"].as_str().unwrap_or("?")
                ),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn serve(store: Store, args: ServeArgs) -> anyhow::Result<()> {
    init_logs(args.json_logs);
    let reference_data = reference_data(&args.reference)?;
    let fraud_poll_tenant = match &args.providers.partner_center_poll_tenant {
        Some(slug) => Some(tenant_by_slug(&store, slug).await?.id),
        None => None,
    };
    let config = ServerConfig {
        listen: args.listen,
        body_limit: args.body_limit,
        reference_data: Some(reference_data),
        webhooks_to_private_networks: args.webhooks_allow_private_networks,
        ..ServerConfig::default()
    };
    let state = AppState::with_connectors(
        store,
        Arc::new(SystemClock),
        config,
        connectors(&args.providers)?,
    );
    let app = Application::bind(state.clone())
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, "tollgate is serving");
    println!("tollgate listening on http://{addr} (OpenAPI at http://{addr}/openapi.json)");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let worker = tokio::spawn(
        tollgate_server::outbox::Worker::new(state.clone()).run(until_stopped(stopped.clone())),
    );
    let mut jobs = vec![tokio::spawn(periodically(
        std::time::Duration::from_secs(60),
        until_stopped(stopped.clone()),
        minute_jobs(state.clone()),
    ))];
    if let Some(period) = args.dunning_every.0 {
        jobs.push(tokio::spawn(periodically(
            period,
            until_stopped(stopped.clone()),
            dunning_run(state.clone()),
        )));
    }
    if let Some(tenant) = fraud_poll_tenant
        && let Some(period) = args.providers.partner_center_poll_every.0
    {
        jobs.push(tokio::spawn(periodically(
            period,
            until_stopped(stopped.clone()),
            fraud_event_poll(state.clone(), tenant),
        )));
    }
    let served = app
        .run_until(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        })
        .await;
    let _ = worker.await;
    for job in jobs {
        let _ = job.await;
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// One run of a periodic job.
type Run = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs `job` every `period` until `shutdown`; a run in progress finishes first.
async fn periodically<F, Fut>(
    period: std::time::Duration,
    shutdown: impl Future<Output = ()>,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        job().await;
    }
}

/// Every minute: raises the `case_deadline` alerts of cases past their response deadline, and
/// decides again the orders held until a first payment that has cleared since.
fn minute_jobs(state: AppState) -> impl FnMut() -> Run {
    move || {
        let state = state.clone();
        Box::pin(async move {
            use tollgate_server::jobs::{cases, held_orders};
            if let Err(error) = cases::breaches(&state).await {
                tracing::warn!(job = "case_deadlines", %error, "case deadline check failed");
            }
            match held_orders::decide_paid(&state, None).await {
                Ok(0) => {}
                Ok(moved) => {
                    tracing::info!(job = "held_orders", moved, "held orders decided again")
                }
                Err(error) => {
                    tracing::warn!(job = "held_orders", %error, "held orders check failed")
                }
            }
        })
    }
}

fn dunning_run(state: AppState) -> impl FnMut() -> Run {
    move || {
        let state = state.clone();
        Box::pin(async move {
            use tollgate_server::jobs::dunning;
            if let Err(error) = dunning::run(&state, dunning::Scope::All, None).await {
                tracing::warn!(job = dunning::JOB, %error, "dunning run failed");
            }
        })
    }
}

/// Reads the partner's active fraud events from Partner Center into `tenant`'s notices.
fn fraud_event_poll(state: AppState, tenant: tollgate_core::TenantId) -> impl FnMut() -> Run {
    move || {
        let state = state.clone();
        Box::pin(async move {
            use tollgate_server::jobs::vendor_events;
            match vendor_events::poll(&state, tenant).await {
                Ok(done) => tracing::info!(
                    job = "partner_center_poll",
                    notices = done.notices,
                    duplicates = done.duplicates,
                    quarantined = done.quarantined,
                    "fraud events read"
                ),
                Err(error) => {
                    tracing::warn!(job = "partner_center_poll", %error, "fraud event poll failed");
                }
            }
        })
    }
}

/// `tollgate jobs dunning`: one run now, a progress bar on a terminal, a summary at the end.
async fn dunning(
    store: Store,
    as_of: Option<chrono::NaiveDate>,
    tenant: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    use tollgate_server::jobs::dunning;
    crate::import::init_logs();
    let scope = match &tenant {
        Some(slug) => dunning::Scope::Tenant(tenant_by_slug(&store, slug).await?.id),
        None => dunning::Scope::All,
    };
    let state = AppState::new(store, Arc::new(SystemClock), ServerConfig::default());
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let report = dunning::run_with_progress(&state, scope, as_of, |so_far| {
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "dunning: {} customers screened, {} acted on",
                so_far.screened, so_far.acted
            ));
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("dunning run: {e:?}"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print(json, &report, || {
        if !report.ran {
            return "another process is running dunning right now; nothing done".to_owned();
        }
        let steps = report
            .tally
            .transitions
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "dunning: {} tenant(s), {} customer(s) screened, {} acted on ({}); {} e-mail(s) \
             queued, {} without an address; {} suspended, {} reactivated, {} terminated; \
             {} lost to a concurrent run, {} failed; {} ms",
            report.tenants,
            report.screened,
            report.acted,
            if steps.is_empty() {
                "nothing due".to_owned()
            } else {
                steps
            },
            report.tally.emails,
            report.tally.emails_without_address,
            report.tally.suspended,
            report.tally.reactivated,
            report.tally.terminated,
            report.lost_races,
            report.failed,
            report.elapsed_ms
        )
    });
    if report.failed > 0 {
        anyhow::bail!("{} customer(s) failed; see the log", report.failed);
    }
    Ok(())
}

/// The shipped tables with any the operator replaced; parsed once, before serving, and kept
/// for the life of the process.
fn reference_data(args: &crate::cli::ReferenceArgs) -> anyhow::Result<&'static ReferenceData> {
    use std::{fs::File, path::Path};

    use tollgate_core::refdata::{BinTable, CountrySet, DomainSet, IpCountryTable};
    fn open(path: &Path) -> anyhow::Result<File> {
        File::open(path).with_context(|| format!("opening {}", path.display()))
    }
    let custom = [
        &args.bin_table,
        &args.disposable_domains,
        &args.free_mail_domains,
        &args.ip_country,
        &args.high_risk_countries,
    ];
    if custom.iter().all(|p| p.is_none()) {
        return ReferenceData::embedded().context("the shipped reference data");
    }
    let mut data = ReferenceData::load_embedded().context("the shipped reference data")?;
    if let Some(path) = &args.bin_table {
        data.bins = BinTable::from_reader(open(path)?)
            .with_context(|| format!("BIN table {}", path.display()))?;
    }
    if let Some(path) = &args.disposable_domains {
        data.disposable_domains = DomainSet::from_lines(open(path)?)
            .with_context(|| format!("disposable domains {}", path.display()))?;
    }
    if let Some(path) = &args.free_mail_domains {
        let is_json = path.extension().is_some_and(|e| e == "json");
        let parsed = if is_json {
            DomainSet::from_json_array(open(path)?)
        } else {
            DomainSet::from_lines(open(path)?)
        };
        data.free_mail_domains =
            parsed.with_context(|| format!("free-mail domains {}", path.display()))?;
    }
    if let Some(path) = &args.ip_country {
        data.ip_countries = IpCountryTable::from_reader(open(path)?)
            .with_context(|| format!("IP country table {}", path.display()))?;
    }
    if let Some(path) = &args.high_risk_countries {
        data.high_risk_countries = CountrySet::from_reader(open(path)?)
            .with_context(|| format!("high-risk countries {}", path.display()))?;
    }
    Ok(Box::leak(Box::new(data)))
}

fn connectors(args: &crate::cli::ProviderArgs) -> anyhow::Result<Connectors> {
    use tollgate_connectors::{
        Retrier, RetryPolicy, Secret,
        bureau::{HttpBureau, HttpBureauConfig},
        email::{SmtpConfig, SmtpMailer},
        sms::{TwilioAuth, TwilioConfig, TwilioSender, TwilioSms},
    };
    let mut connectors = Connectors::default();
    if let (Some(sid), Some(token), Some(from)) = (
        &args.twilio_account_sid,
        &args.twilio_auth_token,
        &args.twilio_from,
    ) {
        let mut config = TwilioConfig::new(
            sid.clone(),
            TwilioAuth::AuthToken(Secret::new(token.clone())),
            TwilioSender::From(from.clone()),
        );
        if let Some(base) = &args.twilio_base_url {
            config.base_url.clone_from(base);
        }
        connectors.sms = Some(Arc::new(
            TwilioSms::new(config, Retrier::new(RetryPolicy::default()))
                .context("Twilio settings")?,
        ));
    }
    if let (Some(url), Some(token)) = (&args.bureau_url, &args.bureau_token) {
        let config = HttpBureauConfig::new(url.clone(), Secret::new(token.clone()));
        connectors.bureau = Some(Arc::new(
            HttpBureau::new(config, Retrier::new(RetryPolicy::default()))
                .context("bureau settings")?,
        ));
    }
    if let (Some(url), Some(from)) = (&args.smtp_url, &args.mail_from) {
        let mut config = SmtpConfig::from_url(url, from.clone()).context("--smtp-url")?;
        if let Some(password) = &args.smtp_password {
            let Some((user, _)) = config.credentials.take() else {
                anyhow::bail!("--smtp-password needs a user name in --smtp-url (smtp://user@host)");
            };
            config.credentials = Some((user, Secret::new(password.clone())));
        }
        connectors.mailer = Some(Arc::new(SmtpMailer::new(config).context("SMTP settings")?));
    }
    if let (Some(tenant), Some(client_id), Some(secret)) = (
        &args.partner_center_tenant,
        &args.partner_center_client_id,
        &args.partner_center_client_secret,
    ) {
        use tollgate_connectors::partner_center::{
            HttpPartnerCenter, PARTNER_CENTER_RESOURCE, PartnerCenterAuth, PartnerCenterConfig,
            TokenAudience,
            webhook::{WebhookConfig, WebhookVerifier},
        };
        let mut auth =
            PartnerCenterAuth::v2(tenant, client_id.clone(), Secret::new(secret.clone()));
        if let Some(url) = &args.partner_center_token_url {
            auth.token_url.clone_from(url);
            if url.trim_end_matches('/').ends_with("/oauth2/token") {
                auth.audience = TokenAudience::Resource(PARTNER_CENTER_RESOURCE.to_owned());
            }
        }
        if let Some(token) = &args.partner_center_refresh_token {
            auth = auth.with_user_refresh_token(Secret::new(token.clone()));
        }
        let mut config = PartnerCenterConfig::new(auth);
        if let Some(base) = &args.partner_center_api_base {
            config.api_base.clone_from(base);
        }
        // One try per call: the outbox retries vendor actions with a backoff that survives
        // restarts, and the vendor retries a webhook Tollgate could not take in.
        let retrier = Retrier::new(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        });
        connectors.partner_center = Some(Arc::new(
            HttpPartnerCenter::new(config, retrier).context("Partner Center settings")?,
        ));
        let mut webhooks = WebhookConfig::default();
        if !args.partner_center_certificate_hosts.is_empty() {
            webhooks
                .allowed_certificate_hosts
                .clone_from(&args.partner_center_certificate_hosts);
        }
        webhooks.allow_http = args.partner_center_allow_http_certificates;
        connectors.partner_center_webhooks = Some(Arc::new(
            WebhookVerifier::new(webhooks, Arc::new(SystemClock))
                .context("Partner Center webhook settings")?,
        ));
    }
    Ok(connectors)
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json || !std::io::stdout().is_terminal() {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::cli::ReferenceArgs;

    #[test]
    fn an_operators_tables_replace_the_shipped_ones() {
        let mut bins = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            bins,
            "bin,brand,funding,category,country\n411111,VISA,debit,PREPAID,DE"
        )
        .unwrap();
        let mut disposable = tempfile::NamedTempFile::new().unwrap();
        writeln!(disposable, "burner.example").unwrap();
        let args = ReferenceArgs {
            bin_table: Some(bins.path().to_owned()),
            disposable_domains: Some(disposable.path().to_owned()),
            free_mail_domains: None,
            ip_country: None,
            high_risk_countries: None,
        };
        let data = reference_data(&args).unwrap();
        assert_eq!(data.bins.len(), 1);
        assert!(
            data.bins
                .lookup(&"411111".parse().unwrap())
                .unwrap()
                .is_prepaid()
        );
        assert!(
            data.disposable_domains
                .contains_domain_or_parent("burner.example")
        );
        assert_eq!(data.disposable_domains.len(), 1);
        assert!(
            data.free_mail_domains.len() > 1000,
            "tables not replaced stay the shipped ones"
        );
    }

    #[test]
    fn a_bad_table_names_its_file_and_line() {
        let mut bins = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            bins,
            "bin,brand,funding,category,country\n41,VISA,debit,,DE"
        )
        .unwrap();
        let args = ReferenceArgs {
            bin_table: Some(bins.path().to_owned()),
            disposable_domains: None,
            free_mail_domains: None,
            ip_country: None,
            high_risk_countries: None,
        };
        let err = format!("{:#}", reference_data(&args).unwrap_err());
        assert!(err.contains("BIN table") && err.contains("line 2"), "{err}");
    }
}
