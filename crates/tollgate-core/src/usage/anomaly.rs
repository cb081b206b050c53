//! The streaming usage-anomaly detector for one subscription × meter series, hourly or daily.
//!
//! Each series keeps a robust online seasonal baseline (a multiplicative level × hour-of-day ×
//! weekday model, learned with Huber-clipped exponential smoothing) and a trailing two-week
//! ring of day totals. A point is scored against the baseline *before* it is learned from, so
//! scoring never looks ahead. `docs/spend-watch.md` explains the choice and the numbers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::signals::DayTotals;
use crate::customers::TrustTier;

str_enum!(
    /// The bucket width of a series.
    Granularity {
        Hourly = "hourly",
        Daily = "daily",
    }
);

impl Granularity {
    fn seconds(self) -> i64 {
        match self {
            Granularity::Hourly => 3_600,
            Granularity::Daily => 86_400,
        }
    }

    pub(crate) fn points_per_day(self) -> u32 {
        match self {
            Granularity::Hourly => 24,
            Granularity::Daily => 1,
        }
    }
}

/// Tuning shared by every series of one granularity. The defaults were chosen on the labelled
/// synthetic set (`usage::eval`); see `docs/spend-watch.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    pub granularity: Granularity,
    /// Smoothing of the deseasonalised level, per point.
    pub level_alpha: f32,
    /// Smoothing of each hour-of-day factor (each is updated once a day).
    pub hour_gamma: f32,
    /// Smoothing of each weekday factor.
    pub weekday_gamma: f32,
    /// Smoothing of the relative spread (mean absolute deviation / expected value).
    pub spread_beta: f32,
    /// Residuals beyond this many spreads are clipped before learning (Huber), so one spike
    /// cannot drag the baseline with it.
    pub huber_k: f32,
    /// Deviation in spreads at which a point is anomalous, for a `verified` customer.
    pub threshold: f32,
    /// Points over which the learned spread takes over from the cold-start prior.
    pub warmup_points: u32,
    /// Trailing-week spend over the week before that counts as anomalous growth.
    pub growth_threshold: f32,
    /// Values below this (in currency units per point) are noise, not spend.
    pub min_value: f32,
    /// Consecutive normal points that close an episode.
    pub close_after: u16,
}

impl DetectorConfig {
    pub fn hourly() -> Self {
        Self {
            granularity: Granularity::Hourly,
            level_alpha: 0.03,
            hour_gamma: 0.15,
            weekday_gamma: 0.04,
            spread_beta: 0.02,
            huber_k: 2.0,
            threshold: 8.5,
            warmup_points: 336,
            growth_threshold: 1.5,
            min_value: 0.01,
            // A full daily cycle: a shift first seen in the afternoon must face the next
            // morning's busy hours before it counts as over.
            close_after: 24,
        }
    }

    pub fn daily() -> Self {
        Self {
            granularity: Granularity::Daily,
            level_alpha: 0.15,
            hour_gamma: 0.0,
            weekday_gamma: 0.15,
            spread_beta: 0.1,
            huber_k: 2.0,
            threshold: 8.5,
            warmup_points: 28,
            growth_threshold: 1.5,
            min_value: 0.1,
            close_after: 3,
        }
    }

    pub fn for_granularity(granularity: Granularity) -> Self {
        match granularity {
            Granularity::Hourly => Self::hourly(),
            Granularity::Daily => Self::daily(),
        }
    }
}

/// What is known about a series before it has history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ColdStartPrior {
    /// The meter's median spend per point across the tenant's series; `None` to learn the
    /// level from the series' first point (offline scoring).
    pub population_median: Option<f64>,
    /// The customer's trust tier: newer customers are held to a tighter threshold.
    pub tier: TrustTier,
}

impl ColdStartPrior {
    /// No population knowledge: the first point sets the level.
    pub fn uninformed() -> Self {
        Self {
            population_median: None,
            tier: TrustTier::Verified,
        }
    }
}

/// A brand-new series may be this far (relative to its expected value) from the population
/// median before a point counts as one spread off.
const INFORMED_SPREAD: f32 = 1.0;
/// Without a population median the first point is the only evidence: a quiet first hour must
/// not make the first busy one an anomaly.
const UNINFORMED_SPREAD: f32 = 3.0;
/// No series is steadier than this: keeps a flat VM meter from alerting on a 10 % change.
const MIN_SPREAD: f32 = 0.05;
/// Expected values near zero (night hours of an office workload) are judged against this
/// share of the level, so a stray cent at 3 am is not a thousand spreads off.
const BASIS_FLOOR: f32 = 0.25;
const MAX_FACTOR: f32 = 24.0;
const MIN_FACTOR: f32 = 0.02;

fn prior_spread(prior_median: Option<f32>) -> f32 {
    if prior_median.is_some() {
        INFORMED_SPREAD
    } else {
        UNINFORMED_SPREAD
    }
}

fn tier_factor(tier: TrustTier) -> f32 {
    match tier {
        TrustTier::New | TrustTier::Restricted => 0.85,
        TrustTier::Verified => 1.0,
        TrustTier::Established => 1.15,
    }
}

/// What happened to the series' alert episode at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeEvent {
    /// No episode, normal point.
    None,
    /// The first anomalous point since the series was last normal: raise one alert.
    Opened,
    /// Inside an open episode (anomalous, or normal but not yet long enough to close).
    Continuing,
    /// `close_after` normal points in a row: the alert may be resolved.
    Closed,
}

/// The detector's verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PointScore {
    pub at: DateTime<Utc>,
    pub observed: f64,
    /// What the series' own history expected at this point.
    pub baseline: f64,
    /// In [0, 1]; 0.5 is the anomaly threshold.
    pub score: f64,
    pub is_anomaly: bool,
    /// Deviation in spreads (negative below the baseline).
    pub deviation: f64,
    /// Trailing-week spend over the week before that, once two weeks are known; withheld for
    /// a week after an episode closes, when it would only echo that episode.
    pub growth: Option<f64>,
    pub episode: EpisodeEvent,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectorError {
    #[error("point at {at} is not after the series' last point (streaming order is required)")]
    OutOfOrder { at: DateTime<Utc> },
    #[error("value {value} is not a finite, non-negative amount")]
    InvalidValue { value: f64 },
}

/// One series' learned state: about 250 bytes, so 100 k active series take ~25 MB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    level: f32,
    spread: f32,
    hour: [f32; 24],
    weekday: [f32; 7],
    days: DayTotals,
    last_slot: Option<i64>,
    seen: u32,
    prior_median: Option<f32>,
    tier_factor: f32,
    episode: Episode,
}

/// The series' current alert episode, if any.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
struct Episode {
    open: bool,
    /// Consecutive normal points so far.
    normal_run: u16,
    /// The level when the episode opened: "normal" again means back near it.
    level_at_open: f32,
    /// Points since the last episode opened (saturating; `u16::MAX` if none ever did).
    since_open: u16,
}

impl Episode {
    fn none() -> Self {
        Self {
            since_open: u16::MAX,
            ..Self::default()
        }
    }
}

impl SeriesState {
    /// The median of the last seven complete days' spend, per point of this series'
    /// granularity: the reference alert sentences compare with.
    pub fn seven_day_median(&self, granularity: Granularity) -> Option<f64> {
        self.days
            .median_of_last_week()
            .map(|day| f64::from(day) / f64::from(granularity.points_per_day()))
    }
}

/// Scores points of series with one configuration; holds no per-series state itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detector {
    config: DetectorConfig,
}

impl Detector {
    pub fn new(config: DetectorConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// State for a series not seen before.
    pub fn start(&self, prior: ColdStartPrior) -> SeriesState {
        // Narrowing to f32 is fine: the state only needs relative precision.
        let prior_median = prior
            .population_median
            .filter(|m| m.is_finite() && *m >= 0.0)
            .map(|m| m as f32);
        SeriesState {
            level: prior_median.unwrap_or(0.0),
            spread: prior_spread(prior_median),
            hour: [1.0; 24],
            weekday: [1.0; 7],
            days: DayTotals::default(),
            last_slot: None,
            seen: 0,
            prior_median,
            tier_factor: tier_factor(prior.tier),
            episode: Episode::none(),
        }
    }

    /// Scores `value` at `at` against what the series has learned so far, then learns from it.
    /// Points must come in time order; missing buckets are simply absent (not zeros).
    pub fn observe(
        &self,
        state: &mut SeriesState,
        at: DateTime<Utc>,
        value: f64,
    ) -> Result<PointScore, DetectorError> {
        if !value.is_finite() || value < 0.0 {
            return Err(DetectorError::InvalidValue { value });
        }
        let cfg = &self.config;
        let slot = at.timestamp().div_euclid(cfg.granularity.seconds());
        if state.last_slot.is_some_and(|last| slot <= last) {
            return Err(DetectorError::OutOfOrder { at });
        }
        let day = at.timestamp().div_euclid(86_400);
        // 1970-01-01 was a Thursday; index 0 is Monday.
        let weekday = (day + 3).rem_euclid(7) as usize;
        let hour = match cfg.granularity {
            Granularity::Hourly => Some(slot.rem_euclid(24) as usize),
            Granularity::Daily => None,
        };
        let y = value as f32;
        if state.seen == 0 && state.prior_median.is_none() {
            state.level = y;
        }

        let season = hour.map_or(1.0, |h| state.hour[h]) * state.weekday[weekday];
        let expected = state.level * season;
        let basis = expected.max(BASIS_FLOOR * state.level).max(cfg.min_value);
        let warm = (state.seen as f32 / cfg.warmup_points.max(1) as f32).min(1.0);
        let spread =
            ((1.0 - warm) * prior_spread(state.prior_median) + warm * state.spread).max(MIN_SPREAD);
        let sigma = spread * basis;
        let deviation = (y - expected) / sigma;

        let growth = state.days.add(day, y);
        let min_growth_delta = cfg.min_value * 7.0 * cfg.granularity.points_per_day() as f32;
        let growth = growth.and_then(|(current, previous)| {
            (previous > 0.0 && current - previous >= min_growth_delta).then(|| current / previous)
        });

        // Growth compares the last two weeks: within two weeks of an episode's start it is
        // that episode's echo (a level shift alerted on day one shows as growth on day two),
        // not news.
        let echo = !state.episode.open
            && u32::from(state.episode.since_open) < 14 * cfg.granularity.points_per_day();
        let growth = growth.filter(|_| !echo);
        let threshold = cfg.threshold * state.tier_factor;
        let deviation_score = ratio_score(deviation.max(0.0), threshold);
        let growth_score = growth.map_or(0.0, |g| ratio_score(g - 1.0, cfg.growth_threshold - 1.0));
        // Only spend above the baseline is a risk; a drop is not an alert.
        let is_anomaly =
            deviation >= threshold || growth.is_some_and(|g| g >= cfg.growth_threshold);

        let episode = self.advance_episode(state, is_anomaly);
        self.learn(state, y, expected, sigma, basis, hour, weekday);
        state.last_slot = Some(slot);
        state.seen = state.seen.saturating_add(1);

        Ok(PointScore {
            at,
            observed: value,
            baseline: f64::from(expected),
            score: f64::from(deviation_score.max(growth_score)),
            is_anomaly,
            deviation: f64::from(deviation),
            growth: growth.map(f64::from),
            episode,
        })
    }

    /// One alert per episode. An episode closes after `close_after` normal points in a row
    /// with the level back within `growth_threshold` of where it was when the episode opened —
    /// or, for a level that stays up, once two weeks have passed and the week-over-week growth
    /// has settled (by then the new level is the series' normal).
    fn advance_episode(&self, state: &mut SeriesState, is_anomaly: bool) -> EpisodeEvent {
        let cfg = &self.config;
        let episode = &mut state.episode;
        if !episode.open {
            if !is_anomaly {
                episode.since_open = episode.since_open.saturating_add(1);
                return EpisodeEvent::None;
            }
            *episode = Episode {
                open: true,
                level_at_open: state.level,
                ..Episode::default()
            };
            return EpisodeEvent::Opened;
        }
        episode.since_open = episode.since_open.saturating_add(1);
        let settled = state.level
            <= cfg.growth_threshold * episode.level_at_open.max(cfg.min_value)
            || u32::from(episode.since_open) >= 14 * cfg.granularity.points_per_day();
        episode.normal_run = if is_anomaly || !settled {
            0
        } else {
            episode.normal_run.saturating_add(1)
        };
        if episode.normal_run >= cfg.close_after {
            *episode = Episode {
                since_open: episode.since_open,
                ..Episode::default()
            };
            EpisodeEvent::Closed
        } else {
            EpisodeEvent::Continuing
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn learn(
        &self,
        state: &mut SeriesState,
        y: f32,
        expected: f32,
        sigma: f32,
        basis: f32,
        hour: Option<usize>,
        weekday: usize,
    ) {
        let cfg = &self.config;
        let limit = cfg.huber_k * sigma;
        let residual = (y - expected).clamp(-limit, limit);
        let clipped = expected + residual;
        // Early points weigh more (a running mean), later ones at the configured rate. A
        // population median counts as a day of evidence, so the first quiet night does not
        // make the first busy morning look like an anomaly.
        let prior_points = match state.prior_median {
            Some(_) => cfg.warmup_points as f32 / 14.0,
            None => 1.0,
        };
        let early = 1.0 / (state.seen as f32 + 1.0 + prior_points);

        let hour_factor = hour.map_or(1.0, |h| state.hour[h]);
        let season = (hour_factor * state.weekday[weekday]).max(MIN_FACTOR);
        state.level += cfg.level_alpha.max(early) * (clipped / season - state.level);
        state.level = state.level.max(0.0);
        // The spread is learned from normal points only: inside an episode it would widen the
        // band until the anomaly looked normal and the episode closed and reopened. Level and
        // shape keep learning from clipped values, which is how a lasting change (or a first
        // weekend batch job wrongly flagged) becomes the norm step by bounded step.
        if !state.episode.open {
            state.spread += cfg.spread_beta.max(early) * (residual.abs() / basis - state.spread);
        }
        if state.level <= cfg.min_value {
            return;
        }
        if let Some(h) = hour {
            let target = clipped / (state.level * state.weekday[weekday]).max(f32::EPSILON);
            state.hour[h] += cfg.hour_gamma * (target - state.hour[h]);
            normalise(&mut state.hour);
        }
        let target = clipped / (state.level * hour_factor).max(f32::EPSILON);
        state.weekday[weekday] += cfg.weekday_gamma * (target - state.weekday[weekday]);
        normalise(&mut state.weekday);
    }
}

/// Maps `x ≥ 0` into [0, 1) with `threshold` at 0.5: monotone, and no cap to tune.
fn ratio_score(x: f32, threshold: f32) -> f32 {
    if x <= 0.0 || threshold <= 0.0 {
        0.0
    } else {
        x / (x + threshold)
    }
}

/// Keeps seasonal factors averaging 1, so the level stays the mean and the factors the shape.
fn normalise(factors: &mut [f32]) {
    for f in factors.iter_mut() {
        *f = f.clamp(MIN_FACTOR, MAX_FACTOR);
    }
    let mean = factors.iter().sum::<f32>() / factors.len() as f32;
    if mean > 0.0 {
        for f in factors.iter_mut() {
            *f /= mean;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(i: i64) -> DateTime<Utc> {
        // Monday 2 March 2026, 00:00 UTC.
        DateTime::from_timestamp(1_772_409_600 + i * 3_600, 0).unwrap()
    }

    /// An office workload: busy 08–18 on weekdays, a tenth of that otherwise, ±5 % wobble.
    fn office(i: i64) -> f64 {
        let h = i.rem_euclid(24);
        let weekend = i.rem_euclid(168) >= 120;
        let base = if (8..18).contains(&h) && !weekend {
            10.0
        } else {
            1.0
        };
        base * (1.0 + 0.05 * ((i * 7919) % 13 - 6) as f64 / 6.0)
    }

    fn run(
        det: &Detector,
        state: &mut SeriesState,
        range: std::ops::Range<i64>,
    ) -> Vec<PointScore> {
        range
            .map(|i| det.observe(state, hour(i), office(i)).unwrap())
            .collect()
    }

    #[test]
    fn state_is_small() {
        assert!(
            std::mem::size_of::<SeriesState>() <= 256,
            "{}",
            std::mem::size_of::<SeriesState>()
        );
    }

    #[test]
    fn learns_the_weekly_shape_and_stays_quiet() {
        let det = Detector::new(DetectorConfig::hourly());
        let mut state = det.start(ColdStartPrior::uninformed());
        let points = run(&det, &mut state, 0..24 * 7 * 6);
        assert!(
            points.iter().all(|p| !p.is_anomaly),
            "{:?}",
            points.iter().find(|p| p.is_anomaly)
        );
        assert!(points.iter().all(|p| (0.0..1.0).contains(&p.score)));
        // By week six the baseline has learned office hours: Monday noon is expected well
        // above Monday 3 am. (Weekends share the daily shape scaled by a weekday factor, a
        // compromise the docs describe; the spread absorbs the rest.)
        let monday = &points[24 * 7 * 5..24 * 7 * 5 + 24];
        let shape = monday[12].baseline / monday[3].baseline;
        assert!(shape > 3.0, "noon/3 am baseline ratio {shape}");
    }

    #[test]
    fn a_night_spike_opens_one_episode_that_closes() {
        let det = Detector::new(DetectorConfig::hourly());
        let mut state = det.start(ColdStartPrior::uninformed());
        run(&det, &mut state, 0..24 * 7 * 4);
        let start = 24 * 7 * 4 + 2; // Monday, 02:00
        run(&det, &mut state, 24 * 7 * 4..start);
        let events: Vec<_> = (start..start + 3)
            .map(|i| det.observe(&mut state, hour(i), 30.0).unwrap())
            .collect();
        assert_eq!(events[0].episode, EpisodeEvent::Opened);
        assert!(events[0].score > 0.5 && events[0].is_anomaly);
        assert!(events[0].observed / events[0].baseline > 10.0);
        assert_eq!(events[1].episode, EpisodeEvent::Continuing);
        let after = run(&det, &mut state, start + 3..start + 30);
        let closed = after.iter().position(|p| p.episode == EpisodeEvent::Closed);
        assert_eq!(closed, Some(usize::from(det.config().close_after) - 1));
        assert!(after.iter().all(|p| p.episode != EpisodeEvent::Opened));
    }

    #[test]
    fn missing_hours_do_not_misalign_the_season() {
        let det = Detector::new(DetectorConfig::hourly());
        let mut state = det.start(ColdStartPrior::uninformed());
        // Every fifth hour is missing, and a whole day goes dark in week three.
        for i in (0..24 * 7 * 5).filter(|i| i % 5 != 0 && !(400..424).contains(i)) {
            let p = det.observe(&mut state, hour(i), office(i)).unwrap();
            assert!(!p.is_anomaly, "false alarm at hour {i}: {p:?}");
        }
    }

    #[test]
    fn cold_start_judges_a_new_series_by_its_population() {
        let det = Detector::new(DetectorConfig::hourly());
        let prior = |tier| ColdStartPrior {
            population_median: Some(3.0),
            tier,
        };
        let mut typical = det.start(prior(TrustTier::New));
        assert!(!det.observe(&mut typical, hour(0), 6.0).unwrap().is_anomaly);
        let mut burst = det.start(prior(TrustTier::New));
        let first = det.observe(&mut burst, hour(0), 40.0).unwrap();
        assert!(first.is_anomaly && first.episode == EpisodeEvent::Opened);
        // An established customer gets more room for the same jump.
        let mut trusted = det.start(prior(TrustTier::Established));
        let p = det.observe(&mut trusted, hour(0), 30.0).unwrap();
        let mut new = det.start(prior(TrustTier::New));
        let q = det.observe(&mut new, hour(0), 30.0).unwrap();
        assert!(!p.is_anomaly && q.is_anomaly);
    }

    #[test]
    fn refuses_out_of_order_and_bad_values() {
        let det = Detector::new(DetectorConfig::daily());
        let mut state = det.start(ColdStartPrior::uninformed());
        det.observe(&mut state, hour(48), 1.0).unwrap();
        assert!(matches!(
            det.observe(&mut state, hour(50), 1.0),
            Err(DetectorError::OutOfOrder { .. })
        ));
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            assert!(matches!(
                det.observe(&mut state, hour(72), bad),
                Err(DetectorError::InvalidValue { .. })
            ));
        }
    }

    #[test]
    fn a_daily_ramp_shows_as_growth() {
        let det = Detector::new(DetectorConfig::daily());
        let mut state = det.start(ColdStartPrior::uninformed());
        let day = |d: i64| hour(d * 24);
        for d in 0..21 {
            assert!(!det.observe(&mut state, day(d), 100.0).unwrap().is_anomaly);
        }
        // +10 % a day: each step is small, the week-over-week growth is not.
        let flagged = (21..35)
            .map(|d| {
                det.observe(&mut state, day(d), 100.0 * 1.1f64.powi((d - 20) as i32))
                    .unwrap()
            })
            .position(|p| p.is_anomaly);
        let at = flagged.expect("the ramp is flagged");
        // +10 % a day passes 1.5× week over week on the eighth day.
        assert!(at <= 8, "flagged after {at} days");
    }
}
