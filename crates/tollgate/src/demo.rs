//! `tollgate demo`: plays a simulated reseller through the API into a fresh tenant, then serves
//! the API and the console over it until Ctrl-C.

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tollgate_core::clock::SystemClock;
use tollgate_server::{AppState, Application, ServerConfig};
use tollgate_store::{Store, StoreError};

use crate::cli::DemoArgs;

pub async fn run(store: Store, args: DemoArgs) -> anyhow::Result<()> {
    let options = tollgate_demo::Options {
        seed: args.seed,
        slug: free_slug(&store).await?,
        ..tollgate_demo::Options::ending(Utc::now(), args.days, args.honest)
    };
    let bar = ProgressBar::new(u64::from(options.days));
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] day {pos}/{len} ({elapsed})")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.set_message("simulating");
    let started = Instant::now();
    let demo = tollgate_demo::generate(store.clone(), &options, |p| {
        bar.set_position(u64::from(p.day));
        bar.set_message(format!("{} requests", p.requests));
    })
    .await
    .context("generating the demo")?;
    bar.finish_and_clear();
    let cast = &demo.cast;
    println!(
        "Tenant `{}`: {} days, {} API requests in {:.1} s.",
        demo.tenant.slug,
        options.days,
        demo.requests,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  {} honest customers; caught: a card tester, a ring of {}, {} sign-up bots, {} prepaid \
         cards, a hijacked account mining crypto, a spammer the vendor reported, {} customers who \
         stopped paying and one who paid after suspension.",
        cast.honest.len(),
        cast.ring.len(),
        cast.bots.len(),
        cast.prepaid.len(),
        cast.non_payers.len()
    );
    // The simulation ran on its own clock up to now; from here on the wall clock serves.
    let state = AppState::new(
        store,
        Arc::new(SystemClock),
        ServerConfig {
            listen: args.listen,
            ..ServerConfig::default()
        },
    );
    let app = Application::bind(state)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = app.local_addr()?;
    println!();
    println!("Console:     http://{addr}/console");
    println!("Analyst key: {}", demo.keys.analyst);
    println!("Viewer key:  {}", demo.keys.viewer);
    println!("API:         http://{addr}/v1 (OpenAPI at http://{addr}/openapi.json)");
    println!("Press Ctrl-C to stop; the data stays in the data directory.");
    app.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// `demo`, or `demo-2`, `demo-3`… when the data directory already holds earlier demos.
async fn free_slug(store: &Store) -> anyhow::Result<String> {
    for n in 1.. {
        let slug = if n == 1 {
            "demo".to_owned()
        } else {
            format!("demo-{n}")
        };
        match store.read().await?.tenant_by_slug(&slug).await {
            Err(StoreError::NotFound) => return Ok(slug),
            Ok(_) => {}
            Err(other) => return Err(other.into()),
        }
    }
    unreachable!("some slug is free")
}
