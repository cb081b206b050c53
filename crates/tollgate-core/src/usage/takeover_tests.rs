//! The crypto-mining takeover, end to end through the pure engine: a quiet subscription with a
//! little CPU spend starts GPU virtual machines in a region it never used, at night.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::{
    Observation,
    anomaly::{ColdStartPrior, Detector, DetectorConfig, EpisodeEvent, Granularity},
    assess, classify,
    record::Meter,
    signals::{self, MeterClass, Signal, SubscriptionHistory},
};
use crate::{SubscriptionId, customers::TrustTier};

#[test]
fn gpu_in_a_new_region_at_night_alerts_within_the_first_hour() {
    let detector = Detector::new(DetectorConfig::hourly());
    let sub = SubscriptionId::generate();
    let start: DateTime<Utc> = "2026-03-02T00:00:00Z".parse().unwrap();

    // Four quiet weeks: one small VM in West Europe, about 0.50 an hour.
    let cpu = Meter::parse("meter", "Virtual Machines/D2s v5").unwrap();
    assert_eq!(classify(&cpu), MeterClass::Compute);
    let mut cpu_state = detector.start(ColdStartPrior {
        population_median: Some(0.6),
        tier: TrustTier::Verified,
    });
    for h in 0..24 * 28 {
        let wobble = 1.0 + 0.02 * f64::from(h % 5 - 2);
        let point = detector
            .observe(
                &mut cpu_state,
                start + Duration::hours(i64::from(h)),
                0.5 * wobble,
            )
            .unwrap();
        assert!(
            !point.is_anomaly,
            "quiet CPU flagged at hour {h}: {point:?}"
        );
    }
    let reference = cpu_state.seven_day_median(Granularity::Hourly);

    // 02:00 on day 29: ten A100 VMs start in South East Asia. The first hourly bucket closes
    // at 03:00 and is the first data the detector sees for the GPU meter.
    let gpu = Meter::parse("meter", "Virtual Machines/NC24ads A100 v4").unwrap();
    let class = classify(&gpu);
    assert_eq!(class, MeterClass::Gpu);
    let first_hour = start + Duration::days(28) + Duration::hours(2);
    let mut gpu_state = detector.start(ColdStartPrior {
        population_median: Some(3.67),
        tier: TrustTier::Verified,
    });
    let point = detector.observe(&mut gpu_state, first_hour, 36.70).unwrap();
    assert!(point.is_anomaly, "{point:?}");
    assert_eq!(point.episode, EpisodeEvent::Opened);

    let known_classes = HashSet::from([MeterClass::Compute]);
    let known_regions = HashSet::from(["westeurope".to_owned()]);
    let history = SubscriptionHistory {
        known_classes: &known_classes,
        known_regions: &known_regions,
        signed_up_at: start - Duration::days(60),
        first_payment_at: Some(start - Duration::days(59)),
    };
    let fired = signals::detect(
        class,
        "southeastasia",
        first_hour,
        point.growth,
        1.5,
        &history,
    );
    let alert = assess(
        &Observation {
            subscription_id: sub,
            meter: &gpu,
            class,
            region: "southeastasia",
            point: &point,
            reference,
        },
        fired,
    )
    .expect("the first hour of GPU data raises an alert");

    assert!(alert.at - first_hour < Duration::hours(1));
    assert_eq!(
        alert.signals,
        [
            Signal::NewMeterClass {
                class: MeterClass::Gpu
            },
            Signal::NewRegion {
                region: "southeastasia".into()
            },
        ]
    );
    assert!(
        alert.sentence.starts_with(&format!(
            "GPU spend on {sub} in a new region (southeastasia) is 73× its 7-day median"
        )),
        "{}",
        alert.sentence
    );
    assert!(alert.score > 0.5);
}
