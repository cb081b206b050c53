//! Prints the usage-anomaly detector's precision, recall and detection delay on the labelled
//! synthetic set, as recorded in `docs/spend-watch.md`:
//!
//! `cargo run -p tollgate-core --release --features eval --example anomaly_eval [SEED] [PER_KIND]`

use tollgate_core::usage::{
    DetectorConfig, SeriesState,
    eval::{evaluate, generate, table},
};

fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(2026);
    let per_kind = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let set = generate(seed, per_kind);
    let points: usize = set.iter().map(|s| s.points.len()).sum();
    let started = std::time::Instant::now();
    let reports = evaluate(DetectorConfig::hourly(), &set);
    let elapsed = started.elapsed();
    println!("seed {seed}, {per_kind} series per kind, {points} hourly points\n");
    print!("{}", table(&reports));
    println!(
        "\nscored {points} points in {:.3} s ({:.0} points/s, generation excluded)",
        elapsed.as_secs_f64(),
        points as f64 / elapsed.as_secs_f64()
    );
    println!(
        "series state: {} bytes in memory (plus the caller's map key and entry overhead)",
        std::mem::size_of::<SeriesState>()
    );
}
