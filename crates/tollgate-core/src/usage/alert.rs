//! Turning a scored point and its signals into at most one usage alert, with the sentence an
//! analyst reads first: "GPU spend on sub_… in a new region is 38× its 7-day median".

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    anomaly::{EpisodeEvent, PointScore},
    record::Meter,
    signals::{MeterClass, Signal},
};
use crate::SubscriptionId;

/// A usage alert before the store gives it an `alr_…` id.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UsageAlert {
    pub subscription_id: SubscriptionId,
    pub meter: Meter,
    pub class: MeterClass,
    pub region: String,
    pub at: DateTime<Utc>,
    /// In [0, 1].
    pub score: f64,
    pub baseline: f64,
    pub observed: f64,
    pub signals: Vec<Signal>,
    pub sentence: String,
}

/// One judged point of a subscription × meter series, with its context.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub subscription_id: SubscriptionId,
    pub meter: &'a Meter,
    pub class: MeterClass,
    pub region: &'a str,
    pub point: &'a PointScore,
    /// The subscription's 7-day median spend per point of the same granularity, what the
    /// sentence compares with; without it the series' own baseline is used.
    pub reference: Option<f64>,
}

/// An alert when the point opens an anomaly episode or brings a first-time class or region;
/// `None` inside an episode already alerted (the dedupe) and for quiet points.
pub fn assess(observation: &Observation<'_>, signals: Vec<Signal>) -> Option<UsageAlert> {
    let point = observation.point;
    let first_time = signals
        .iter()
        .any(|s| matches!(s, Signal::NewMeterClass { .. } | Signal::NewRegion { .. }));
    if point.episode != EpisodeEvent::Opened && !first_time {
        return None;
    }
    Some(UsageAlert {
        subscription_id: observation.subscription_id,
        meter: observation.meter.clone(),
        class: observation.class,
        region: observation.region.to_owned(),
        at: point.at,
        score: point.score,
        baseline: point.baseline,
        observed: point.observed,
        sentence: sentence(observation, &signals),
        signals,
    })
}

fn sentence(observation: &Observation<'_>, signals: &[Signal]) -> String {
    let point = observation.point;
    let mut text = format!(
        "{} spend on {}",
        observation.class.label(),
        observation.subscription_id
    );
    if signals
        .iter()
        .any(|s| matches!(s, Signal::NewRegion { .. }))
    {
        text.push_str(&format!(" in a new region ({})", observation.region));
    }
    let (reference, label) = match observation.reference {
        Some(r) if r > 0.0 => (r, "its 7-day median"),
        _ => (point.baseline, "its expected level"),
    };
    if reference > 0.0 {
        let ratio = point.observed / reference;
        let shown = if ratio >= 10.0 {
            format!("{ratio:.0}")
        } else {
            format!("{ratio:.1}")
        };
        text.push_str(&format!(" is {shown}× {label}"));
    } else {
        text.push_str(&format!(
            " is {:.2} where none was expected",
            point.observed
        ));
    }
    for signal in signals {
        match signal {
            Signal::NewMeterClass { class } => {
                text.push_str(&format!(
                    "; first {} usage on this subscription",
                    class.label()
                ));
            }
            Signal::SpendGrowth { factor } => {
                text.push_str(&format!("; spend grew {factor:.1}× over the trailing week"));
            }
            Signal::BeforeFirstPayment => text.push_str("; no payment received yet"),
            Signal::NewRegion { .. } => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(episode: EpisodeEvent) -> PointScore {
        PointScore {
            at: "2026-03-30T02:00:00Z".parse().unwrap(),
            observed: 38.0,
            baseline: 3.0,
            score: 0.9,
            is_anomaly: true,
            deviation: 20.0,
            growth: None,
            episode,
        }
    }

    #[test]
    fn alerts_once_per_episode_unless_something_is_new() {
        let meter = Meter::parse("meter", "Virtual Machines/NC24ads A100 v4").unwrap();
        let sub = SubscriptionId::generate();
        let opened = point(EpisodeEvent::Opened);
        let obs = Observation {
            subscription_id: sub,
            meter: &meter,
            class: MeterClass::Gpu,
            region: "southeastasia",
            point: &opened,
            reference: Some(1.0),
        };
        let alert = assess(
            &obs,
            vec![Signal::NewRegion {
                region: "southeastasia".into(),
            }],
        )
        .unwrap();
        assert_eq!(
            alert.sentence,
            format!("GPU spend on {sub} in a new region (southeastasia) is 38× its 7-day median")
        );

        let continuing = point(EpisodeEvent::Continuing);
        let obs = Observation {
            point: &continuing,
            reference: None,
            ..obs
        };
        assert!(assess(&obs, vec![Signal::BeforeFirstPayment]).is_none());
        let again = assess(
            &obs,
            vec![Signal::NewMeterClass {
                class: MeterClass::Gpu,
            }],
        )
        .unwrap();
        assert!(
            again
                .sentence
                .ends_with("is 13× its expected level; first GPU usage on this subscription"),
            "{}",
            again.sentence
        );
    }
}
