//! From Sigma YAML text to a compiled [`Rule`]; anything outside the supported subset is a
//! [`RefusalReason`].

use serde::Deserialize;
use serde_norway::{Mapping, Value};

use super::{Rule, RuleLevel, Selection, condition, matcher::FieldTest, refusal::RefusalReason};

/// The metadata keys Tollgate reads; other Sigma keys (`date`, `falsepositives`, custom
/// fields…) are informational and ignored by design.
#[derive(Debug, Deserialize)]
struct RawRule {
    title: Option<String>,
    id: Option<String>,
    status: Option<String>,
    description: Option<String>,
    author: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    level: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    logsource: Option<RawLogsource>,
    detection: Option<Mapping>,
    correlation: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RawLogsource {
    product: Option<String>,
    service: Option<String>,
    category: Option<String>,
}

/// Compiles one rule document.
pub(crate) fn compile(text: &str) -> Result<Rule, RefusalReason> {
    let raw: RawRule =
        serde_norway::from_str(text).map_err(|err| RefusalReason::Yaml(err.to_string()))?;
    if raw.correlation.is_some() {
        return Err(RefusalReason::Correlation);
    }
    let title = non_empty(raw.title).ok_or(RefusalReason::Missing("title"))?;
    // Alerts and suppressions key on the id, so a rule without one cannot be run.
    let id = non_empty(raw.id).ok_or(RefusalReason::Missing("id"))?;
    if let Some(status @ ("deprecated" | "unsupported")) = raw.status.as_deref() {
        return Err(RefusalReason::Status(status.to_owned()));
    }
    check_logsource(raw.logsource)?;
    let level = raw
        .level
        .map(|level| {
            level
                .parse::<RuleLevel>()
                .map_err(|detail| RefusalReason::Invalid {
                    key: "level".to_owned(),
                    detail,
                })
        })
        .transpose()?;
    let detection = raw.detection.ok_or(RefusalReason::Missing("detection"))?;
    let (selections, condition) = compile_detection(&detection)?;
    Ok(Rule {
        id,
        title,
        status: raw.status,
        description: raw.description,
        author: raw.author,
        references: raw.references,
        level,
        tags: raw.tags,
        selections,
        condition,
    })
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// A rule for another log source would reference fields activity records never carry and so
/// never match; refusing it says so instead.
fn check_logsource(logsource: Option<RawLogsource>) -> Result<(), RefusalReason> {
    let logsource = logsource.ok_or(RefusalReason::Missing("logsource"))?;
    let product = logsource.product.unwrap_or_default();
    let service = logsource.service.unwrap_or_default();
    if product.eq_ignore_ascii_case("azure") && service.eq_ignore_ascii_case("activitylogs") {
        return Ok(());
    }
    let category = logsource
        .category
        .map(|category| format!(" category `{category}`"))
        .unwrap_or_default();
    Err(RefusalReason::Logsource(format!(
        "product `{product}` service `{service}`{category}"
    )))
}

fn compile_detection(
    detection: &Mapping,
) -> Result<(Vec<Selection>, condition::Expr), RefusalReason> {
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut conditions = None;
    for (key, value) in detection {
        let key = key.as_str().ok_or_else(|| RefusalReason::Invalid {
            key: "detection".to_owned(),
            detail: format!("search identifier {key:?} is not a string"),
        })?;
        match key {
            "condition" => conditions = Some(condition_texts(value)?),
            "timeframe" => return Err(RefusalReason::Timeframe),
            name => {
                names.push(name);
                selections.push(compile_selection(name, value)?);
            }
        }
    }
    let conditions = conditions.ok_or(RefusalReason::Missing("detection.condition"))?;
    // A list of conditions is OR-linked (Sigma specification, "Condition").
    let mut exprs = conditions
        .iter()
        .map(|text| condition::parse(text, &names))
        .collect::<Result<Vec<_>, _>>()?;
    let expr = if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        condition::Expr::Or(exprs)
    };
    Ok((selections, expr))
}

fn condition_texts(value: &Value) -> Result<Vec<&str>, RefusalReason> {
    let invalid = || RefusalReason::Invalid {
        key: "detection.condition".to_owned(),
        detail: "must be a string or a non-empty list of strings".to_owned(),
    };
    match value {
        Value::String(text) => Ok(vec![text.as_str()]),
        Value::Sequence(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().ok_or_else(invalid))
            .collect(),
        _ => Err(invalid()),
    }
}

/// A map is an AND of field tests; a list of maps is an OR of such ANDs; a list of plain
/// values is a keyword (full-text) search.
fn compile_selection(name: &str, value: &Value) -> Result<Selection, RefusalReason> {
    let invalid = |detail: &str| RefusalReason::Invalid {
        key: format!("detection.{name}"),
        detail: detail.to_owned(),
    };
    match value {
        Value::Mapping(map) => Ok(Selection {
            any_of: vec![compile_map(name, map)?],
        }),
        Value::Sequence(items) if items.iter().all(Value::is_mapping) => Ok(Selection {
            any_of: items
                .iter()
                .filter_map(Value::as_mapping)
                .map(|map| compile_map(name, map))
                .collect::<Result<_, _>>()?,
        }),
        Value::Sequence(items) if items.iter().any(Value::is_mapping) => {
            Err(invalid("mixes maps and plain values in one list"))
        }
        Value::Sequence(_) | Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            Ok(Selection {
                any_of: vec![vec![FieldTest::compile("", &scalars("keywords", value)?)?]],
            })
        }
        Value::Null | Value::Tagged(_) => Err(invalid("must be a map or a list")),
    }
}

fn compile_map(name: &str, map: &Mapping) -> Result<Vec<FieldTest>, RefusalReason> {
    if map.is_empty() {
        return Err(RefusalReason::Invalid {
            key: format!("detection.{name}"),
            detail: "an empty map would match every event".to_owned(),
        });
    }
    map.iter()
        .map(|(key, value)| {
            let key = key.as_str().ok_or_else(|| RefusalReason::Invalid {
                key: format!("detection.{name}"),
                detail: format!("field name {key:?} is not a string"),
            })?;
            let field = key.split('|').next().unwrap_or_default();
            FieldTest::compile(key, &scalars(field, value)?)
        })
        .collect()
}

/// The values of one field as text (`None` = YAML `null`); numbers and booleans compare as
/// their text, as Sigma treats all values as strings.
fn scalars(field: &str, value: &Value) -> Result<Vec<Option<String>>, RefusalReason> {
    let one = |value: &Value| match value {
        Value::Null => Ok(None),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        Value::Number(number) => Ok(Some(number.to_string())),
        Value::String(text) => Ok(Some(text.clone())),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => Err(RefusalReason::Value {
            field: field.to_owned(),
            detail: "nested lists and maps are not values".to_owned(),
        }),
    };
    match value {
        Value::Sequence(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}
