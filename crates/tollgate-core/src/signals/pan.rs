//! The PAN guard: Tollgate never accepts a full card number, so request bodies are scanned for
//! anything that looks like one before they are parsed or stored.

use serde_json::Value;

/// A run of this many digits could be a card number (PANs are 12 to 19 digits).
pub const PAN_MIN_DIGITS: usize = 12;

/// The path (`card.number`, `items[2].sku`) of the first string, number or object key holding a
/// run of 12 or more digits, counting digits separated only by spaces or dashes
/// (`4111 1111-1111 1111`) as one run. `exempt` lists paths that may legitimately hold long
/// digit runs, such as an E.164 `contact.phone` (up to 15 digits).
pub fn find_pan_like(body: &Value, exempt: &[&str]) -> Option<String> {
    scan(body, String::new(), exempt)
}

fn scan(value: &Value, path: String, exempt: &[&str]) -> Option<String> {
    if exempt.contains(&path.as_str()) {
        return None;
    }
    match value {
        Value::String(text) => (has_pan_like_run(text) && !is_tollgate_id(text)).then_some(path),
        Value::Number(number) => has_pan_like_run(&number.to_string()).then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| scan(item, format!("{path}[{index}]"), exempt)),
        Value::Object(fields) => fields.iter().find_map(|(key, field)| {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if has_pan_like_run(key) && !exempt.contains(&child.as_str()) {
                return Some(child);
            }
            scan(field, child, exempt)
        }),
        Value::Null | Value::Bool(_) => None,
    }
}

/// Tollgate's own ids (`cus_` + 32 hex digits) often hold long runs of decimal digits by chance;
/// they are identifiers the caller got from us, not card numbers.
fn is_tollgate_id(text: &str) -> bool {
    text.split_once('_').is_some_and(|(prefix, hex)| {
        (2..=4).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_lowercase())
            && hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `text` holds 12+ digits in a row, allowing single spaces or dashes between them.
pub fn has_pan_like_run(text: &str) -> bool {
    let mut run = 0usize;
    let mut pending_separator = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            run += 1;
            pending_separator = false;
            if run >= PAN_MIN_DIGITS {
                return true;
            }
        } else if (c == ' ' || c == '-') && run > 0 && !pending_separator {
            pending_separator = true;
        } else {
            run = 0;
            pending_separator = false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tollgate_ids_are_not_card_numbers() {
        let body = json!({ "customer_id": "cus_01a2141234567890123c1149d76675b9", "note": "pm_4111111111111111" });
        assert_eq!(find_pan_like(&body, &[]), Some("note".to_owned()));
        assert!(is_tollgate_id("pm_01a2141234567890123c1149d76675b9"));
        assert!(!is_tollgate_id("x_01a2141234567890123c1149d76675b9"));
    }

    #[test]
    fn runs_of_digits_with_single_separators_count() {
        assert!(has_pan_like_run("4111111111111111"));
        assert!(has_pan_like_run("card 4111 1111 1111 1111 please"));
        assert!(has_pan_like_run("4111-1111-1111-1111"));
        assert!(has_pan_like_run("123456789012"));
        assert!(!has_pan_like_run("12345678901"));
        assert!(
            !has_pan_like_run("4111  1111  1111  1111"),
            "double spaces break the run"
        );
        assert!(!has_pan_like_run("2026-11-25T12:00:00Z"));
        assert!(!has_pan_like_run("123456.789012"));
        assert!(!has_pan_like_run(""));
    }

    #[test]
    fn finds_the_path_of_the_first_pan_like_value() {
        let body = json!({"bin": "424242", "last4": "4242", "exp_year": 2030});
        assert_eq!(find_pan_like(&body, &[]), None);
        let body = json!({"card": {"bin": "424242", "number": "4242 4242 4242 4242"}});
        assert_eq!(find_pan_like(&body, &[]).as_deref(), Some("card.number"));
        let body = json!({"items": [{"sku": "a"}, {"sku": 4242424242424242u64}]});
        assert_eq!(find_pan_like(&body, &[]).as_deref(), Some("items[1].sku"));
        let body = json!({"notes": {"4242424242424242": true}});
        assert_eq!(
            find_pan_like(&body, &[]).as_deref(),
            Some("notes.4242424242424242")
        );
        assert_eq!(
            find_pan_like(&json!("4242424242424242"), &[]).as_deref(),
            Some("")
        );
    }

    #[test]
    fn exempt_paths_are_skipped() {
        let body = json!({"contact": {"phone": "+4915112345678"}, "card": "4242424242424242"});
        assert_eq!(
            find_pan_like(&body, &["contact.phone"]).as_deref(),
            Some("card")
        );
        assert_eq!(find_pan_like(&body, &["contact.phone", "card"]), None);
    }
}
