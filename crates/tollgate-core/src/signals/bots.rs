//! Bot signals: forms filled faster than a person can, no keyboard or pointer at all,
//! automation user agents, and bursts of sign-ups from one network.

use serde::{Deserialize, Serialize};

use super::facts::SessionTiming;

/// The `bot` section of the features.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BotFeatures {
    /// Seconds from opening the form to submitting it (negative if the clocks disagree).
    pub form_seconds: f64,
    pub too_fast: bool,
    pub no_input_events: bool,
    pub headless_ua: bool,
    pub network_burst: bool,
}

/// Seconds between opening and submitting the form, to the millisecond.
pub fn form_seconds(session: &SessionTiming) -> f64 {
    let millis = (session.submitted_at - session.form_started_at).num_milliseconds();
    // i64 milliseconds → f64 is exact for any plausible session (< 2^53 ms ≈ 285 000 years).
    #[expect(clippy::cast_precision_loss, reason = "exact below 2^53 ms")]
    let seconds = millis as f64 / 1000.0;
    seconds
}

/// Faster than `min_seconds`, or submitted before it was opened (a forged timing).
pub fn too_fast(form_seconds: f64, min_seconds: f64) -> bool {
    form_seconds < min_seconds
}

/// True when the storefront reported input counts and every reported count is zero. Absent
/// counts mean "not measured" and prove nothing.
pub fn no_input_events(session: &SessionTiming) -> bool {
    let reported: Vec<u32> = [session.key_events, session.pointer_events]
        .into_iter()
        .flatten()
        .collect();
    !reported.is_empty() && reported.iter().all(|&count| count == 0)
}

/// User-agent fragments of headless browsers, browser automation and HTTP libraries, lower
/// case. Real browsers never send these; a bot that forges a full browser agent is left to the
/// other signals.
const AUTOMATION_AGENTS: [&str; 22] = [
    "headlesschrome",
    "phantomjs",
    "slimerjs",
    "puppeteer",
    "playwright",
    "selenium",
    "webdriver",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "scrapy",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "node-fetch",
    "axios/",
    "libwww-perl",
    "postmanruntime",
];

/// An automation user agent, or none at all (every real browser sends one).
pub fn headless_user_agent(user_agent: &str) -> bool {
    let lower = user_agent.trim().to_ascii_lowercase();
    lower.is_empty()
        || AUTOMATION_AGENTS
            .iter()
            .any(|fragment| lower.contains(fragment))
}

/// `threshold` or more sign-ups from the same network in the last hour (0 disables).
pub fn network_burst(network_signups_1h: u32, threshold: u32) -> bool {
    threshold > 0 && network_signups_1h >= threshold
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;

    fn session(millis: i64, keys: Option<u32>, pointer: Option<u32>) -> SessionTiming {
        let start: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
        SessionTiming {
            form_started_at: start,
            submitted_at: start + Duration::milliseconds(millis),
            key_events: keys,
            pointer_events: pointer,
        }
    }

    #[test]
    fn form_time_is_measured_in_seconds() {
        assert_eq!(form_seconds(&session(2_500, None, None)), 2.5);
        assert_eq!(form_seconds(&session(-1_000, None, None)), -1.0);
    }

    #[test]
    fn too_fast_uses_the_configured_minimum() {
        assert!(too_fast(2.5, 5.0));
        assert!(!too_fast(5.0, 5.0));
        assert!(!too_fast(2.5, 2.0));
        assert!(too_fast(-1.0, 0.0));
    }

    #[test]
    fn input_events_prove_absence_only_when_reported() {
        assert!(no_input_events(&session(0, Some(0), Some(0))));
        assert!(no_input_events(&session(0, Some(0), None)));
        assert!(!no_input_events(&session(0, Some(0), Some(3))));
        assert!(!no_input_events(&session(0, None, None)));
    }

    #[test]
    fn automation_agents_are_recognized() {
        for agent in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
            "python-requests/2.31.0",
            "curl/8.4.0",
            "Go-http-client/1.1",
            "",
        ] {
            assert!(headless_user_agent(agent), "{agent}");
        }
        assert!(!headless_user_agent(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
        ));
    }

    #[test]
    fn bursts_reach_the_threshold() {
        assert!(network_burst(10, 10));
        assert!(!network_burst(9, 10));
        assert!(!network_burst(50, 0));
    }
}
