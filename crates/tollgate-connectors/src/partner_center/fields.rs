//! Lenient reading of Partner Center's JSON: its payloads vary in key case (`IsTest`,
//! `isTest`), send numbers and booleans as strings (`"hitCount": "10"`, `"IsTest": "false"`)
//! and nest JSON inside strings (`"activityLogs": "[…]"`).

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// The value of `name` compared case-insensitively; `null` reads as absent.
pub(crate) fn get<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .get(name)
        .or_else(|| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        })
        .filter(|value| !value.is_null())
}

/// A string, or a number or boolean written as one.
pub(crate) fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected text, found {}", kind(other))),
    }
}

/// Optional text: absent and empty strings read as `None`.
pub(crate) fn opt_text(object: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    get(object, name)
        .map(text)
        .transpose()
        .map(|t| t.filter(|s| !s.trim().is_empty()))
        .map_err(|e| format!("{name}: {e}"))
}

pub(crate) fn integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("`{n}` is not a whole number")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a whole number")),
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

pub(crate) fn flag(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        other => Err(format!("`{other}` is not a boolean")),
    }
}

/// RFC 3339, or the offset-less form Partner Center often sends (read as UTC). Empty strings
/// and its "never" sentinel (`9999-12-31T23:59:59.997`) read as `None`.
pub(crate) fn time(value: &Value) -> Result<Option<DateTime<Utc>>, String> {
    let text = text(value)?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| format!("`{text}` is not a date-time"))?;
    Ok((parsed.year() < 9999).then_some(parsed))
}

/// `value` with every string that holds a JSON array or object replaced by what it holds.
pub(crate) fn unnest(value: Value) -> Value {
    match value {
        Value::String(s) => {
            let trimmed = s.trim_start();
            if trimmed.starts_with('[') || trimmed.starts_with('{') {
                match serde_json::from_str::<Value>(&s) {
                    Ok(inner) => unnest(inner),
                    Err(_) => Value::String(s),
                }
            } else {
                Value::String(s)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(unnest).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, unnest(v))).collect()),
        other => other,
    }
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_keys_in_any_case_and_values_in_any_form() {
        let object =
            json!({"IsTest": "FALSE", "hitcount": "10", "n": 3.0, "empty": "", "nil": null});
        let object = object.as_object().unwrap();
        assert_eq!(get(object, "isTest").map(flag), Some(Ok(false)));
        assert_eq!(get(object, "hitCount").map(integer), Some(Ok(10)));
        assert_eq!(get(object, "N").map(integer), Some(Ok(3)));
        assert_eq!(opt_text(object, "empty"), Ok(None));
        assert_eq!(get(object, "nil"), None);
        assert!(integer(&json!("ten")).is_err());
        assert!(flag(&json!("maybe")).is_err());
    }

    #[test]
    fn reads_times_with_and_without_offset_and_drops_the_never_sentinel() {
        let t = time(&json!("2021-12-08T00:25:45.69")).unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2021-12-08T00:25:45.690+00:00");
        let t = time(&json!("2023-07-10T12:34:27.8016635+05:30"))
            .unwrap()
            .unwrap();
        assert_eq!(t.to_rfc3339(), "2023-07-10T07:04:27.801663500+00:00");
        assert_eq!(time(&json!("9999-12-31T23:59:59.9970000")), Ok(None));
        assert!(time(&json!("yesterday")).is_err());
    }

    #[test]
    fn unnests_json_inside_strings() {
        let value = json!({"ips": "[\r\n \"13.89.185.189\"\r\n]", "plain": "[not json", "n": "1"});
        assert_eq!(
            unnest(value),
            json!({"ips": ["13.89.185.189"], "plain": "[not json", "n": "1"})
        );
    }
}
