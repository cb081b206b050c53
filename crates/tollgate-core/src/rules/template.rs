//! Reason sentences with feature values in them: `"Card BIN {card.bin} is prepaid"`.
//! Templates are parsed when the policy compiles, so rendering only walks the features.

use std::fmt::Write;

use serde_json::Value;

/// A parsed reason template. `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    /// A dotted path into the features, split into its segments.
    Field(Vec<String>),
}

/// Where and why a template is malformed; the offset is in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub offset: usize,
    pub problem: &'static str,
}

/// What a placeholder renders as when the features lack the value.
const MISSING: &str = "unknown";

impl Template {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            match c {
                '{' if chars.next_if(|&(_, n)| n == '{').is_some() => text.push('{'),
                '}' if chars.next_if(|&(_, n)| n == '}').is_some() => text.push('}'),
                '}' => {
                    return Err(TemplateError {
                        offset,
                        problem: "a lone `}` (write `}}` for a brace)",
                    });
                }
                '{' => {
                    let start = offset + 1;
                    let end =
                        source[start..]
                            .find('}')
                            .map(|len| start + len)
                            .ok_or(TemplateError {
                                offset,
                                problem: "a `{` without its closing `}`",
                            })?;
                    let path = &source[start..end];
                    if !is_field_path(path) {
                        return Err(TemplateError {
                            offset: start,
                            problem: "a placeholder must be a dotted feature path such as `card.bin`",
                        });
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Field(path.split('.').map(str::to_owned).collect()));
                    while chars.next_if(|&(i, _)| i <= end).is_some() {}
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// The sentence with each placeholder replaced by its feature value.
    pub fn render(&self, features: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(path) => {
                    let value = path
                        .iter()
                        .try_fold(features, |value, key| value.get(key.as_str()));
                    write_value(&mut out, value);
                }
            }
        }
        out
    }
}

fn is_field_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

fn write_value(out: &mut String, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => out.push_str(MISSING),
        Some(Value::String(s)) if s.is_empty() => out.push_str(MISSING),
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(items)) if items.is_empty() => out.push_str("none"),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, Some(item));
            }
        }
        // Numbers and booleans print as JSON does; objects are not meant for sentences.
        Some(other) => {
            let _ = write!(out, "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn interpolates_feature_values() {
        let template =
            Template::parse("Card BIN {card.bin} is {card.funding}; lists: {lists.matches}")
                .unwrap();
        let features = json!({
            "card": {"bin": "411111", "funding": "prepaid"},
            "lists": {"matches": ["block:email:a@b.c", "block:ip:1.2.3.4"]}
        });
        assert_eq!(
            template.render(&features),
            "Card BIN 411111 is prepaid; lists: block:email:a@b.c, block:ip:1.2.3.4"
        );
    }

    #[test]
    fn renders_numbers_booleans_and_missing_values() {
        let template =
            Template::parse("{bot.form_seconds}s {bot.too_fast} {geo.nowhere} {x.y}").unwrap();
        let features = json!({"bot": {"form_seconds": 2.5, "too_fast": true}, "geo": {}});
        assert_eq!(template.render(&features), "2.5s true unknown unknown");
    }

    #[test]
    fn doubled_braces_are_literal() {
        let template = Template::parse("{{not a field}} {kind}").unwrap();
        assert_eq!(
            template.render(&json!({"kind": "order"})),
            "{not a field} order"
        );
    }

    #[test]
    fn malformed_templates_name_the_offset() {
        assert_eq!(Template::parse("abc {card.bin").unwrap_err().offset, 4);
        assert_eq!(Template::parse("a } b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("x {Card Bin}").unwrap_err().offset, 3);
        assert_eq!(Template::parse("{}").unwrap_err().offset, 1);
        assert_eq!(Template::parse("{a..b}").unwrap_err().offset, 1);
    }
}
