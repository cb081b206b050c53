//! Sign-up and card bodies as a storefront would send them: careful small businesses in
//! Germany, and the variations bad actors bring.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

const PLACES: [&str; 12] = [
    "Alpen", "Nord", "Rhein", "Spree", "Elb", "Isar", "Main", "Weser", "Harz", "Eifel", "Mosel",
    "Ostsee",
];
const TRADES: [&str; 10] = [
    "Logistik", "Bau", "Software", "Design", "Consult", "Medien", "Technik", "Handel", "Pflege",
    "Energie",
];
const FIRST: [&str; 10] = [
    "Erika", "Jonas", "Leonie", "Mehmet", "Sabine", "Lukas", "Anna", "Tobias", "Fatma", "Jan",
];
const LAST: [&str; 10] = [
    "Mustermann",
    "Schmidt",
    "Yilmaz",
    "Weber",
    "Becker",
    "Hoffmann",
    "Wagner",
    "Schulz",
    "Koch",
    "Richter",
];
const CITIES: [(&str, &str); 5] = [
    ("Berlin", "10115"),
    ("Hamburg", "20095"),
    ("München", "80331"),
    ("Köln", "50667"),
    ("Leipzig", "04109"),
];

pub const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                           (KHTML, like Gecko) Chrome/130.0 Safari/537.36";

/// A sign-up a careful person would submit; `n` makes every identifier unique.
pub fn honest_signup(rng: &mut ChaCha8Rng, n: u32, submitted: DateTime<Utc>) -> Value {
    let place = PLACES.choose(rng).copied().unwrap_or("Nord");
    let trade = TRADES.choose(rng).copied().unwrap_or("Handel");
    let first = FIRST.choose(rng).copied().unwrap_or("Erika");
    let last = LAST.choose(rng).copied().unwrap_or("Mustermann");
    let (city, postal_code) = CITIES.choose(rng).copied().unwrap_or(("Berlin", "10115"));
    let domain = format!("{}{}{n}.de", place.to_lowercase(), trade.to_lowercase());
    json!({
        "external_id": format!("shop-{n}"),
        "company": { "name": format!("{place} {trade} GmbH"), "domain": domain, "country": "DE" },
        "contact": {
            "name": format!("{first} {last}"),
            "email": format!("{}@{domain}", first.to_lowercase()),
            "phone": format!("+49301{:06}", 200_000 + n)
        },
        "billing_address": {
            "line1": format!("Hauptstr. {}", 1 + n % 120), "city": city,
            "postal_code": postal_code, "country": "DE"
        },
        // German addresses (2.160.0.0/11), one per customer.
        "ip": format!("2.{}.{}.{}", 160 + (n / 250) % 8, n % 250, 10 + n % 7),
        "device_id": format!("dev-{n}"),
        "user_agent": BROWSER,
        "session": {
            "form_started_at": submitted - Duration::seconds(rng.random_range(60..400)),
            "submitted_at": submitted,
            "key_events": rng.random_range(150..400),
            "pointer_events": rng.random_range(30..120)
        }
    })
}

/// A card that passes every check.
pub fn good_card(fingerprint: &str) -> Value {
    card(fingerprint, "411111", "pass")
}

/// A verified SEPA Core account held by `holder` in Germany, with a mandate signed `signed`.
pub fn sepa_account(fingerprint: &str, holder: &str, signed: DateTime<Utc>) -> Value {
    json!({
        "type": "bank_account", "scheme": "sepa_core", "country": "DE",
        "bank_code": "COBADEFFXXX", "last4": "3000", "fingerprint": fingerprint,
        "holder_name": holder, "holder_type": "company", "verification": "verified",
        "mandate": {"reference": format!("MNDT-{fingerprint}"), "accepted_at": signed}
    })
}

pub fn card(fingerprint: &str, bin: &str, cvc_check: &str) -> Value {
    json!({
        "bin": bin, "last4": "4242", "fingerprint": fingerprint,
        "exp_month": 12, "exp_year": 2029, "country": "DE",
        "cvc_check": cvc_check, "avs_check": "pass", "three_ds": "authenticated"
    })
}

/// A scripted sign-up: headless browser, form filled in a second, no input events, from one
/// hosting network, with throwaway addresses.
pub fn bot_signup(n: u32, submitted: DateTime<Utc>) -> Value {
    json!({
        "external_id": format!("bot-{n}"),
        "company": { "name": format!("Quick Cloud {n} Ltd"), "domain": format!("quickcloud{n}.com"), "country": "DE" },
        "contact": {
            "name": "John Smith",
            "email": format!("cloud{n}@mailinator.com"),
            "phone": format!("+49302{:06}", 300_000 + n)
        },
        "billing_address": { "line1": "Teststr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE" },
        "ip": format!("185.220.101.{}", 20 + n),
        "device_id": format!("bot-device-{n}"),
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
        "session": {
            "form_started_at": submitted - Duration::milliseconds(900),
            "submitted_at": submitted,
            "key_events": 0,
            "pointer_events": 0
        }
    })
}

/// Money as the API writes it, from minor units.
pub fn amount(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}
