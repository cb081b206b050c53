//! Sigma evaluation per activity record: the shipped Azure rule set (all loaded rules) over the
//! recorded-shape fixtures in `tests/fixtures/activity/` (REST and export shapes, matches and
//! near misses), split into parsing, matching, and both.
//!
//! `cargo bench -p tollgate-core --bench activity` prints a Markdown table of the median time per
//! record over several timed repetitions, each sized from the warm-up's rate.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use tollgate_core::activity::{ActivityRecord, sigma::RuleSet};

const WARM_UP: Duration = Duration::from_millis(500);
const REPETITION: Duration = Duration::from_millis(300);
const REPETITIONS: u32 = 9;

/// Median nanoseconds per call of `f`.
fn median_ns(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0_u32;
    while start.elapsed() < WARM_UP {
        f();
        calls += 1;
    }
    let per_repetition =
        (f64::from(calls) * REPETITION.as_secs_f64() / WARM_UP.as_secs_f64()).max(1.0);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a few million calls at most"
    )]
    let calls = per_repetition as u32;
    let mut samples: Vec<f64> = (0..REPETITIONS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                f();
            }
            started.elapsed().as_secs_f64() * 1e9 / f64::from(calls)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn fixtures() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/activity");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("fixture"))
        .collect()
}

fn row(case: &str, records: usize, ns_per_batch: f64) {
    #[expect(clippy::cast_precision_loss, reason = "a dozen records")]
    let ns = ns_per_batch / records as f64;
    println!("| {case} | {ns:.0} | {:.0} |", 1e9 / ns);
}

fn main() {
    let (set, refused) = RuleSet::shipped();
    let texts = fixtures();
    let records: Vec<ActivityRecord> = texts
        .iter()
        .map(|text| ActivityRecord::from_json(text).expect("fixture parses"))
        .collect();
    let matches: usize = records.iter().map(|r| set.matches(r).len()).sum();
    assert!(matches > 0, "the fixtures match some shipped rules");
    println!(
        "{} rules loaded, {} refused; {} fixture records, {matches} matches per pass\n",
        set.len(),
        refused.len(),
        records.len()
    );
    println!("| case | median ns per record | records/s (one core) |");
    println!("|---|---:|---:|");
    let parse = median_ns(|| {
        for text in &texts {
            black_box(ActivityRecord::from_json(black_box(text)).ok());
        }
    });
    row("parse (JSON text → indexed record)", texts.len(), parse);
    let matching = median_ns(|| {
        for record in &records {
            black_box(set.matches(black_box(record)));
        }
    });
    row(
        &format!("match all {} rules", set.len()),
        records.len(),
        matching,
    );
    let both = median_ns(|| {
        for text in &texts {
            if let Ok(record) = ActivityRecord::from_json(black_box(text)) {
                black_box(set.matches(&record).len());
            }
        }
    });
    row("parse + match", texts.len(), both);
}
