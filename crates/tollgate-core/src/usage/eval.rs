//! A labelled synthetic usage set and the evaluation of the detector on it: precision, recall
//! and mean detection delay per anomaly kind. Deterministic for a seed, so the numbers in
//! `docs/spend-watch.md` can be reproduced (`cargo run -p tollgate-core --release --features
//! eval --example anomaly_eval`).

use std::{fmt, ops::Range};

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::anomaly::{ColdStartPrior, Detector, DetectorConfig, EpisodeEvent};
use crate::customers::TrustTier;

/// Six weeks of hours: three to learn, three in which anomalies are injected.
const HOURS: usize = 24 * 7 * 6;
const INJECT_FROM: usize = 24 * 7 * 3 + 12;
const INJECT_TO: usize = 24 * 7 * 5;

/// What was injected into a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnomalyKind {
    /// Nothing: any alert is a false alarm.
    Clean,
    /// One to three hours at 5–15× the usual value.
    Spike,
    /// From some hour on, 2.5–5× the usual value for good; to be alerted within four days.
    LevelShift,
    /// Over 5–10 days rising to 3–5× the usual value, then staying there.
    Ramp,
    /// A new GPU series that starts at 8–30× the meter's population median, around the clock
    /// (the crypto-mining shape), judged by the cold-start prior alone.
    GpuBurst,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 5] = [
        AnomalyKind::Clean,
        AnomalyKind::Spike,
        AnomalyKind::LevelShift,
        AnomalyKind::Ramp,
        AnomalyKind::GpuBurst,
    ];
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnomalyKind::Clean => "clean",
            AnomalyKind::Spike => "spike",
            AnomalyKind::LevelShift => "level_shift",
            AnomalyKind::Ramp => "ramp",
            AnomalyKind::GpuBurst => "gpu_burst",
        })
    }
}

/// One hourly series with its label.
#[derive(Debug, Clone)]
pub struct LabelledSeries {
    pub kind: AnomalyKind,
    pub prior: ColdStartPrior,
    /// In time order; about 2 % of hours are missing.
    pub points: Vec<(DateTime<Utc>, f64)>,
    /// Indices into `points` where an alert counts as detecting the anomaly.
    pub window: Option<Range<usize>>,
}

/// Generates `per_kind` series of every kind from `seed`.
pub fn generate(seed: u64, per_kind: usize) -> Vec<LabelledSeries> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    AnomalyKind::ALL
        .iter()
        .flat_map(|kind| std::iter::repeat_n(*kind, per_kind))
        .map(|kind| series(&mut rng, kind))
        .collect()
}

/// The daily rhythm of a workload.
#[derive(Clone, Copy)]
enum Shape {
    /// A VM or service up around the clock.
    Flat,
    /// Busy 08–18 on weekdays at `peak` times the quiet level; `weekend` times it all weekend.
    Office { peak: f64, weekend: f64 },
    /// A nightly batch job between 01 and 05.
    NightlyBatch { peak: f64 },
}

impl Shape {
    fn factor(self, hour_index: usize) -> f64 {
        let hour = hour_index % 24;
        let weekend = hour_index % (24 * 7) >= 24 * 5;
        match self {
            Shape::Flat => 1.0,
            Shape::Office { peak, weekend: w } => {
                if weekend {
                    w
                } else if (8..18).contains(&hour) {
                    peak
                } else {
                    1.0
                }
            }
            Shape::NightlyBatch { peak } => {
                if (1..5).contains(&hour) {
                    peak
                } else {
                    1.0
                }
            }
        }
    }
}

/// An injected anomaly; hours count from the series' start.
#[derive(Clone, Copy)]
enum Injection {
    None,
    Spike {
        at: usize,
        hours: usize,
        factor: f64,
    },
    Shift {
        at: usize,
        factor: f64,
    },
    Ramp {
        at: usize,
        hours: usize,
        factor: f64,
    },
    /// A series that only begins at `at`.
    Burst {
        at: usize,
        factor: f64,
    },
}

impl Injection {
    fn factor(self, h: usize) -> f64 {
        match self {
            Injection::Spike { at, hours, factor } if (at..at + hours).contains(&h) => factor,
            Injection::Shift { at, factor } if h >= at => factor,
            Injection::Ramp { at, hours, factor } if h >= at => {
                1.0 + (factor - 1.0) * ((h - at) as f64 / hours as f64).min(1.0)
            }
            Injection::Burst { factor, .. } => factor,
            _ => 1.0,
        }
    }

    fn first_hour(self) -> usize {
        match self {
            Injection::Burst { at, .. } => at,
            _ => 0,
        }
    }

    /// Hours in which an alert counts as detecting the anomaly.
    fn window(self) -> Option<Range<usize>> {
        match self {
            Injection::None => None,
            Injection::Spike { at, hours, .. } => Some(at..at + hours + 6),
            Injection::Shift { at, .. } => Some(at..at + 96),
            Injection::Ramp { at, hours, .. } => Some(at..at + hours + 24 * 7),
            Injection::Burst { at, .. } => Some(at..at + 24),
        }
    }
}

fn series(rng: &mut ChaCha8Rng, kind: AnomalyKind) -> LabelledSeries {
    // Monday 5 January 2026, 00:00 UTC.
    let start = DateTime::from_timestamp(1_767_571_200, 0).unwrap_or(DateTime::UNIX_EPOCH);
    // Log-uniform: series from cents to hundreds an hour are all common.
    let level = rng.random_range(0.5f64.ln()..200f64.ln()).exp();
    let shape = match rng.random_range(0..3) {
        0 => Shape::Flat,
        1 => Shape::Office {
            peak: rng.random_range(2.0..10.0),
            weekend: rng.random_range(0.2..1.0),
        },
        _ => Shape::NightlyBatch {
            peak: rng.random_range(2.0..6.0),
        },
    };
    let noise = rng.random_range(0.03..0.15);
    let tier = TrustTier::ALL[rng.random_range(0..TrustTier::ALL.len())];
    let t0 = rng.random_range(INJECT_FROM..INJECT_TO);

    let injection = match kind {
        AnomalyKind::Clean => Injection::None,
        AnomalyKind::Spike => Injection::Spike {
            at: t0,
            hours: rng.random_range(1..=3),
            factor: rng.random_range(5.0..15.0),
        },
        AnomalyKind::LevelShift => Injection::Shift {
            at: t0,
            factor: rng.random_range(2.5..5.0),
        },
        AnomalyKind::Ramp => Injection::Ramp {
            at: t0,
            hours: 24 * rng.random_range(5..=10),
            factor: rng.random_range(3.0..5.0),
        },
        AnomalyKind::GpuBurst => Injection::Burst {
            at: t0,
            factor: rng.random_range(8.0..30.0),
        },
    };
    let window = injection.window();
    let shape = if kind == AnomalyKind::GpuBurst {
        Shape::Flat
    } else {
        shape
    };
    let mean = level * (0..24 * 7).map(|h| shape.factor(h)).sum::<f64>() / (24.0 * 7.0);
    let population_median = match kind {
        // A burst is judged against what GPU series usually spend, which is the base level.
        AnomalyKind::GpuBurst => mean,
        // The meter's population is only a rough hint of a given series' level.
        _ => mean * rng.random_range(0.5..2.0),
    };

    let mut points = Vec::with_capacity(HOURS);
    let mut window_points: Option<Range<usize>> = None;
    for h in injection.first_hour()..HOURS {
        let wobble: f64 = rng.sample(StandardNormal);
        if rng.random_bool(0.02) {
            continue;
        }
        let value = level * shape.factor(h) * injection.factor(h) * (noise * wobble).exp();
        if window.as_ref().is_some_and(|w| w.contains(&h)) {
            let i = points.len();
            window_points = Some(window_points.map_or(i..i + 1, |r| r.start..i + 1));
        }
        points.push((start + Duration::hours(h as i64), value));
    }
    LabelledSeries {
        kind,
        prior: ColdStartPrior {
            population_median: Some(population_median),
            tier,
        },
        points,
        window: window_points,
    }
}

/// Results for one kind of series.
#[derive(Debug, Clone, PartialEq)]
pub struct KindReport {
    pub kind: AnomalyKind,
    pub series: usize,
    /// Alerts (episode openings) raised on these series.
    pub alerts: usize,
    /// First alerts inside an anomaly's window. A second alert for the same anomaly is a
    /// failed dedupe and counts against precision like a false alarm.
    pub true_alerts: usize,
    /// Series whose anomaly drew an alert in its window.
    pub detected: usize,
    /// Mean hours from the anomaly's first point to its first alert, over detected series.
    pub mean_delay_hours: Option<f64>,
}

impl KindReport {
    /// Share of alerts that were true; 1 when there were none.
    pub fn precision(&self) -> f64 {
        if self.alerts == 0 {
            1.0
        } else {
            self.true_alerts as f64 / self.alerts as f64
        }
    }

    /// Share of anomalies detected; `None` for clean series.
    pub fn recall(&self) -> Option<f64> {
        (self.kind != AnomalyKind::Clean && self.series > 0)
            .then(|| self.detected as f64 / self.series as f64)
    }
}

/// Runs the hourly detector over every series in streaming order and tallies the results.
pub fn evaluate(config: DetectorConfig, set: &[LabelledSeries]) -> Vec<KindReport> {
    let detector = Detector::new(config);
    AnomalyKind::ALL
        .iter()
        .map(|&kind| {
            let mut report = KindReport {
                kind,
                series: 0,
                alerts: 0,
                true_alerts: 0,
                detected: 0,
                mean_delay_hours: None,
            };
            let mut delays = Vec::new();
            for s in set.iter().filter(|s| s.kind == kind) {
                report.series += 1;
                let mut state = detector.start(s.prior);
                let mut first_true: Option<usize> = None;
                for (i, (at, value)) in s.points.iter().enumerate() {
                    let Ok(point) = detector.observe(&mut state, *at, *value) else {
                        continue;
                    };
                    if point.episode != EpisodeEvent::Opened {
                        continue;
                    }
                    report.alerts += 1;
                    if first_true.is_none() && s.window.as_ref().is_some_and(|w| w.contains(&i)) {
                        report.true_alerts += 1;
                        first_true = Some(i);
                    }
                }
                if let (Some(i), Some(w)) = (first_true, &s.window) {
                    report.detected += 1;
                    delays.push((s.points[i].0 - s.points[w.start].0).num_minutes() as f64 / 60.0);
                }
            }
            if !delays.is_empty() {
                report.mean_delay_hours = Some(delays.iter().sum::<f64>() / delays.len() as f64);
            }
            report
        })
        .collect()
}

/// A Markdown table of the reports, as recorded in `docs/spend-watch.md`.
pub fn table(reports: &[KindReport]) -> String {
    let mut out = String::from(
        "| kind | series | alerts | precision | recall | mean delay (h) |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {} | {:.3} | {} | {} |\n",
            r.kind,
            r.series,
            r.alerts,
            r.precision(),
            r.recall().map_or("–".into(), |v| format!("{v:.3}")),
            r.mean_delay_hours.map_or("–".into(), |v| format!("{v:.1}")),
        ));
    }
    let alerts: usize = reports.iter().map(|r| r.alerts).sum();
    let true_alerts: usize = reports.iter().map(|r| r.true_alerts).sum();
    let anomalous: Vec<_> = reports
        .iter()
        .filter(|r| r.kind != AnomalyKind::Clean)
        .collect();
    let detected: usize = anomalous.iter().map(|r| r.detected).sum();
    let series: usize = anomalous.iter().map(|r| r.series).sum();
    out.push_str(&format!(
        "| **all** | {} | {alerts} | {:.3} | {:.3} | |\n",
        reports.iter().map(|r| r.series).sum::<usize>(),
        if alerts == 0 {
            1.0
        } else {
            true_alerts as f64 / alerts as f64
        },
        if series == 0 {
            0.0
        } else {
            detected as f64 / series as f64
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_labelled() {
        let a = generate(7, 3);
        let b = generate(7, 3);
        assert_eq!(a.len(), 15);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.points, y.points);
            assert_eq!(x.window, y.window);
            assert_eq!(x.window.is_some(), x.kind != AnomalyKind::Clean);
        }
        assert_ne!(generate(8, 3)[0].points, a[0].points);
    }

    #[test]
    fn clean_seasonal_series_raise_no_alert() {
        let set: Vec<_> = generate(11, 40)
            .into_iter()
            .filter(|s| s.kind == AnomalyKind::Clean)
            .collect();
        let reports = evaluate(DetectorConfig::hourly(), &set);
        let clean = &reports[0];
        assert_eq!(clean.series, 40);
        assert_eq!(clean.alerts, 0, "{}", table(&reports));
    }

    /// The floors sit below the measured values (see `docs/spend-watch.md`) with some room for
    /// a different seed; a change that lowers them should be a deliberate one.
    #[test]
    fn precision_and_recall_stay_above_measured_floors() {
        let set = generate(2026, 60);
        let reports = evaluate(DetectorConfig::hourly(), &set);
        let text = table(&reports);
        println!("{text}");
        for r in &reports {
            assert!(r.precision() >= 0.9, "{} precision\n{text}", r.kind);
            if let Some(recall) = r.recall() {
                assert!(recall >= 0.9, "{} recall\n{text}", r.kind);
            }
        }
    }
}
