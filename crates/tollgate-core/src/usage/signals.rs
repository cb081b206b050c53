//! Explicit usage signals beside the statistical score: what kind of meter this is (GPU above
//! all — crypto-mining runs on GPUs), first use of a meter class or a region, week-over-week
//! growth, and usage before the customer has paid anything.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::record::Meter;

str_enum!(
    /// A coarse class of meter, enough to say "first GPU usage".
    MeterClass {
        Gpu = "gpu",
        Compute = "compute",
        Storage = "storage",
        Network = "network",
        Other = "other",
    }
);

impl MeterClass {
    /// How the class reads in an alert sentence.
    pub fn label(self) -> &'static str {
        match self {
            MeterClass::Gpu => "GPU",
            MeterClass::Compute => "Compute",
            MeterClass::Storage => "Storage",
            MeterClass::Network => "Network",
            MeterClass::Other => "Usage",
        }
    }
}

/// Classifies a meter by the vendor's names. Azure's GPU virtual machines are the N family —
/// NC, ND, NG and NV (`NC24ads A100 v4`, `Standard_ND96asr_v4`, `NVv3 Series`); other VM
/// families (A, B, D, E, F, H, L, M) are plain compute.
pub fn classify(meter: &Meter) -> MeterClass {
    let category = meter.category.to_ascii_lowercase();
    let name = meter.name.to_ascii_lowercase();
    if category.contains("gpu") || name.contains("gpu") {
        return MeterClass::Gpu;
    }
    let compute = [
        "virtual machines",
        "cloud services",
        "batch",
        "container instances",
        "machine learning",
    ]
    .iter()
    .any(|c| category.contains(c));
    if compute {
        return if is_gpu_vm_series(&meter.name) {
            MeterClass::Gpu
        } else {
            MeterClass::Compute
        };
    }
    if category.contains("storage") {
        MeterClass::Storage
    } else if ["bandwidth", "network", "data transfer"]
        .iter()
        .any(|c| category.contains(c))
    {
        MeterClass::Network
    } else {
        MeterClass::Other
    }
}

/// `NC24ads A100 v4`, `Standard_NC6`, `NCv3 Series`, `ND96asr v4`, `NV12s v3`, `NGads V620`.
fn is_gpu_vm_series(name: &str) -> bool {
    let name = name.trim();
    let name = name
        .strip_prefix("Standard_")
        .or_else(|| name.strip_prefix("Standard "))
        .unwrap_or(name);
    let mut chars = name.chars();
    let (Some(n), Some(family)) = (chars.next(), chars.next()) else {
        return false;
    };
    // The family letter must be followed by a size digit or a version/feature suffix, so words
    // such as `Nodes` or `NVMe` do not count.
    let follows_ok = match chars.next() {
        Some(c) => c.is_ascii_digit() || matches!(c, 'v' | 'a' | 's' | ' ' | '_'),
        None => true,
    };
    n == 'N' && matches!(family, 'C' | 'D' | 'G' | 'V') && follows_ok
}

/// A signal that fired on a point, carried by the alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// The subscription had never used this class of meter (always fires for GPU).
    NewMeterClass { class: MeterClass },
    /// The subscription had never used this region.
    NewRegion { region: String },
    /// Trailing-week spend over the week before.
    SpendGrowth { factor: f64 },
    /// Usage after sign-up and before the customer's first payment.
    BeforeFirstPayment,
}

/// What the store knows about the subscription before the point being judged.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionHistory<'a> {
    pub known_classes: &'a HashSet<MeterClass>,
    /// Normalised region names (`westeurope`).
    pub known_regions: &'a HashSet<String>,
    pub signed_up_at: DateTime<Utc>,
    pub first_payment_at: Option<DateTime<Utc>>,
}

/// The explicit signals for usage of `class` in `region` at `at`. A first class or region is
/// only "new" against some history — except GPU, which is worth saying even on day one.
pub fn detect(
    class: MeterClass,
    region: &str,
    at: DateTime<Utc>,
    growth: Option<f64>,
    growth_threshold: f64,
    history: &SubscriptionHistory<'_>,
) -> Vec<Signal> {
    let mut signals = Vec::new();
    let has_history = !history.known_classes.is_empty() || !history.known_regions.is_empty();
    if !history.known_classes.contains(&class) && (has_history || class == MeterClass::Gpu) {
        signals.push(Signal::NewMeterClass { class });
    }
    if has_history && !history.known_regions.contains(region) {
        signals.push(Signal::NewRegion {
            region: region.to_owned(),
        });
    }
    if let Some(factor) = growth.filter(|g| *g >= growth_threshold) {
        signals.push(Signal::SpendGrowth { factor });
    }
    if at >= history.signed_up_at && history.first_payment_at.is_none_or(|paid| at < paid) {
        signals.push(Signal::BeforeFirstPayment);
    }
    signals
}

const RING_DAYS: usize = 14;

/// The last fourteen complete days' totals of a series, for week-over-week growth and the
/// 7-day median in alert text; 64 bytes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct DayTotals {
    ring: [f32; RING_DAYS],
    current_day: Option<i64>,
    current: f32,
    complete: u16,
}

impl DayTotals {
    /// Adds `value` to `day` (days since the epoch, non-decreasing) and returns the sums of the
    /// last seven complete days and of the seven before, once fourteen are known.
    pub(crate) fn add(&mut self, day: i64, value: f32) -> Option<(f32, f32)> {
        match self.current_day {
            Some(current) if day > current => {
                self.ring[slot(current)] = self.current;
                // Days without any point had no spend; a gap longer than the ring clears it.
                for skipped in (current + 1..day).take(RING_DAYS) {
                    self.ring[slot(skipped)] = 0.0;
                }
                let advanced = u16::try_from(day - current).unwrap_or(u16::MAX);
                self.complete = self.complete.saturating_add(advanced).min(RING_DAYS as u16);
                self.current = 0.0;
                self.current_day = Some(day);
            }
            Some(_) => {}
            None => self.current_day = Some(day),
        }
        self.current += value;
        if usize::from(self.complete) < RING_DAYS {
            return None;
        }
        let sum = |back: std::ops::RangeInclusive<i64>| -> f32 {
            back.map(|b| self.ring[slot(day - b)]).sum()
        };
        Some((sum(1..=7), sum(8..=14)))
    }

    pub(crate) fn median_of_last_week(&self) -> Option<f32> {
        let today = self.current_day?;
        if self.complete < 7 {
            return None;
        }
        let mut week: Vec<f32> = (1..=7).map(|b| self.ring[slot(today - b)]).collect();
        week.sort_by(f32::total_cmp);
        week.get(3).copied()
    }
}

fn slot(day: i64) -> usize {
    day.rem_euclid(RING_DAYS as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(text: &str) -> Meter {
        Meter::parse("meter", text).unwrap()
    }

    #[test]
    fn classifies_azure_gpu_families() {
        for gpu in [
            "Virtual Machines/NC24ads A100 v4",
            "Virtual Machines/Standard_ND96asr_v4",
            "Virtual Machines/NV12s v3",
            "Virtual Machines/NCv3 Series",
            "Virtual Machines/NGads V620",
            "Virtual Machines/NC6",
            "Azure Machine Learning/NC6s v3",
            "Cloud GPU/Anything",
        ] {
            assert_eq!(classify(&meter(gpu)), MeterClass::Gpu, "{gpu}");
        }
        for (text, class) in [
            ("Virtual Machines/D2s v5", MeterClass::Compute),
            ("Virtual Machines/Nodes", MeterClass::Compute),
            ("Virtual Machines/NP10s", MeterClass::Compute),
            ("Storage/Premium SSD NVMe", MeterClass::Storage),
            ("Bandwidth/Data Transfer Out", MeterClass::Network),
            ("Azure DNS/Zone", MeterClass::Other),
        ] {
            assert_eq!(classify(&meter(text)), class, "{text}");
        }
    }

    #[test]
    fn new_class_and_region_need_history_except_gpu() {
        let at: DateTime<Utc> = "2026-03-01T02:00:00Z".parse().unwrap();
        let none_classes = HashSet::new();
        let none_regions = HashSet::new();
        let fresh = SubscriptionHistory {
            known_classes: &none_classes,
            known_regions: &none_regions,
            signed_up_at: at - chrono::Duration::days(30),
            first_payment_at: Some(at - chrono::Duration::days(29)),
        };
        assert!(detect(MeterClass::Compute, "westeurope", at, None, 1.5, &fresh).is_empty());
        assert_eq!(
            detect(MeterClass::Gpu, "westeurope", at, None, 1.5, &fresh),
            [Signal::NewMeterClass {
                class: MeterClass::Gpu
            }]
        );

        let classes = HashSet::from([MeterClass::Compute]);
        let regions = HashSet::from(["westeurope".to_owned()]);
        let known = SubscriptionHistory {
            known_classes: &classes,
            known_regions: &regions,
            first_payment_at: None,
            ..fresh
        };
        let fired = detect(MeterClass::Gpu, "southeastasia", at, Some(2.0), 1.5, &known);
        assert_eq!(
            fired,
            [
                Signal::NewMeterClass {
                    class: MeterClass::Gpu
                },
                Signal::NewRegion {
                    region: "southeastasia".into()
                },
                Signal::SpendGrowth { factor: 2.0 },
                Signal::BeforeFirstPayment,
            ]
        );
        assert!(
            detect(
                MeterClass::Compute,
                "westeurope",
                at,
                Some(1.2),
                1.5,
                &known
            )
            .iter()
            .all(|s| *s == Signal::BeforeFirstPayment)
        );
    }

    #[test]
    fn day_totals_compare_whole_weeks_and_count_gaps_as_zero() {
        let mut days = DayTotals::default();
        for d in 0..14 {
            assert_eq!(days.add(d, 10.0), None);
        }
        assert_eq!(days.add(14, 1.0), Some((70.0, 70.0)));
        assert_eq!(days.median_of_last_week(), Some(10.0));
        // Three silent days, then a busy one: the last week holds three zeros.
        assert_eq!(days.add(18, 5.0), Some((31.0, 70.0)));
        assert_eq!(days.median_of_last_week(), Some(1.0));
        // Two points on one day add up before the day completes.
        days.add(19, 2.0);
        days.add(19, 3.0);
        let (last, _) = days.add(20, 0.0).unwrap();
        assert_eq!(last, 10.0 + 1.0 + 0.0 + 0.0 + 0.0 + 5.0 + 5.0);
    }
}
