//! Request bodies: JSON only, size-limited, parsed with the path of any field at fault, so
//! every bad body is a 4xx that says where it went wrong.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::DeserializeOwned;

use crate::{AppState, error::ApiError};

/// A JSON body deserialized into `T`. Input types use `deny_unknown_fields`, so a misspelt
/// field is an error rather than silently ignored.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = state.config().body_limit;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| ApiError::TooLarge(limit))?;
        parse(&bytes).map(JsonBody)
    }
}

/// A batch of records: a JSON array (`application/json`) or one JSON object per line
/// (`application/x-ndjson`), under the larger batch size limit. Each element stays a raw value
/// so the route can name `[i].field` in its own validation.
pub struct BatchBody(pub serde_json::Value);

impl FromRequest<AppState> for BatchBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (bytes, ndjson) = batch_bytes(request, state).await?;
        batch_value(&bytes, ndjson).map(BatchBody)
    }
}

/// A batch like [`BatchBody`], deserialized straight into records. Going through a `Value` and
/// then tracking every field's path cost about 11 % of the server's CPU under the usage bench,
/// twice what one plain pass does; so the bytes are parsed once without paths, and only a batch
/// that fails is parsed again the slow way, which gives exactly the errors of [`BatchBody`]
/// and [`from_value`]: a 400 for malformed JSON anywhere, else `[i].field`.
pub struct Batch<T>(pub Vec<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for Batch<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (bytes, ndjson) = batch_bytes(request, state).await?;
        batch(&bytes, ndjson).map(Batch)
    }
}

fn batch<T: DeserializeOwned>(bytes: &[u8], ndjson: bool) -> Result<Vec<T>, ApiError> {
    let parsed = if ndjson {
        ndjson_lines(bytes)?
            .map(|(_, line)| serde_json::from_str(line))
            .collect()
    } else {
        serde_json::from_slice(bytes)
    };
    match parsed {
        Ok(records) => Ok(records),
        Err(_) => from_value(batch_value(bytes, ndjson)?),
    }
}

/// The body of a batch request, and whether it is NDJSON.
async fn batch_bytes(request: Request, state: &AppState) -> Result<(Bytes, bool), ApiError> {
    let mime = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let ndjson = matches!(
        mime.as_str(),
        "application/x-ndjson" | "application/jsonl" | "application/ndjson"
    );
    if !ndjson && mime != "application/json" {
        return Err(ApiError::UnsupportedMediaType);
    }
    let limit = state.config().batch_body_limit;
    let bytes = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| ApiError::TooLarge(limit))?;
    Ok((bytes, ndjson))
}

/// A batch body as one JSON value: the array itself, or the array of an NDJSON body's lines.
fn batch_value(bytes: &[u8], ndjson: bool) -> Result<serde_json::Value, ApiError> {
    if !ndjson {
        return parse(bytes);
    }
    let records = ndjson_lines(bytes)?
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| ApiError::MalformedJson(format!("line {}: {e}", i + 1)))
        })
        .collect::<Result<Vec<serde_json::Value>, _>>()?;
    Ok(serde_json::Value::Array(records))
}

/// The non-blank lines of an NDJSON body with their (0-based) line numbers.
fn ndjson_lines(bytes: &[u8]) -> Result<impl Iterator<Item = (usize, &str)>, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::MalformedJson(format!("the body is not UTF-8: {e}")))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty()))
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        match err.inner().classify() {
            // serde_json calls a number where an enum's string belongs a syntax error; when the
            // body is well-formed JSON after all, the value's own error names the field.
            serde_json::error::Category::Syntax => serde_json::from_slice(bytes)
                .ok()
                .and_then(|value| from_value::<T>(value).err())
                .unwrap_or_else(|| classify(err)),
            _ => classify(err),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// Typed input from a body already parsed as JSON (for routes that inspect the raw value first).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(classify)
}

fn classify(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = strip_position(&inner.to_string());
            ApiError::field(field_name(&path, &message), message)
        }
        _ => ApiError::MalformedJson(inner.to_string()),
    }
}

/// serde reports unknown and missing fields at their parent; name the field itself.
fn field_name(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (named, parent) {
        // Unknown fields are already in the path; missing ones are not.
        (Some(name), parent) if parent == name || parent.ends_with(&format!(".{name}")) => {
            parent.to_owned()
        }
        (Some(name), "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "") => "body".to_owned(),
        (None, parent) => parent.to_owned(),
    }
}

/// serde's data errors end with "at line 1 column 42", which means nothing once a field is named.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        quantity: u32,
    }

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::Invalid(errors) => errors[0].field.clone(),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_with_the_wrong_type() {
        let err = parse::<Input>(br#"{"name":"x","inner":{"quantity":-1}}"#).unwrap_err();
        assert_eq!(field_of(err), "inner.quantity");
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = parse::<Input>(br#"{"name":"x","inner":{"quantity":1},"extra":1}"#).unwrap_err();
        assert_eq!(field_of(err), "extra");
    }

    #[test]
    fn a_batch_fails_as_its_raw_value_would() {
        let good = br#"[{"name":"a","inner":{"quantity":1}},{"name":"b","inner":{"quantity":2}}]"#;
        assert_eq!(batch::<Input>(good, false).unwrap().len(), 2);
        let lines = b"{\"name\":\"a\",\"inner\":{\"quantity\":1}}\n\n{\"name\":\"b\"}\n";
        assert_eq!(
            field_of(batch::<Input>(lines, true).unwrap_err()),
            "[1].inner"
        );

        let extra =
            br#"[{"name":"a","inner":{"quantity":1}},{"name":"b","inner":{"quantity":1},"x":0}]"#;
        assert_eq!(field_of(batch::<Input>(extra, false).unwrap_err()), "[1].x");
        assert_eq!(
            field_of(batch::<Input>(br#"{"name":"a"}"#, false).unwrap_err()),
            "body"
        );
        // A data fault early does not hide malformed JSON later.
        assert!(matches!(
            batch::<Input>(br#"[{"name":1}, {"#, false),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            batch::<Input>(b"{\"name\":1}\n{", true),
            Err(ApiError::MalformedJson(m)) if m.starts_with("line 2")
        ));
    }

    #[test]
    fn malformed_json_and_trailing_garbage_are_bad_requests() {
        assert!(matches!(
            parse::<Input>(b"{\"name\":"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Input>(br#"{"name":"x","inner":{"quantity":1}} {}"#),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
