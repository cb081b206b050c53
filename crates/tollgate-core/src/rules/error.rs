//! Why a policy document was refused. Each error names the field at fault (`rules[3].when`) so
//! the API can answer 422 pointing at it, and CEL errors carry the line and column.

use crate::decisions::DecisionKind;

/// A policy document that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not a policy document (bad JSON, a missing or unknown field).
    #[error("invalid policy document at line {line}, column {column}: {message}")]
    Document {
        line: usize,
        column: usize,
        message: String,
    },
    /// A rule's `when` is not valid CEL. Line and column are 1-based, within the expression.
    #[error("rule `{rule_id}`: invalid CEL at line {line}, column {column}: {message}")]
    InvalidCel {
        index: usize,
        rule_id: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A rule's reason template is malformed; `offset` is the byte offset in the template.
    #[error("rule `{rule_id}`: reason template at offset {offset}: {problem}")]
    InvalidTemplate {
        index: usize,
        rule_id: String,
        offset: usize,
        problem: &'static str,
    },
    /// Some other field of a rule is wrong.
    #[error("rule `{rule_id}`: `{field}` {problem}")]
    InvalidRule {
        index: usize,
        rule_id: String,
        field: &'static str,
        problem: String,
    },
    #[error("rule id `{rule_id}` is used by more than one rule")]
    DuplicateRuleId { index: usize, rule_id: String },
    /// The score bands of one decision kind are inconsistent.
    #[error("thresholds for {kind}: {problem}")]
    InvalidThresholds { kind: DecisionKind, problem: String },
    #[error("`version` must be 1 to 64 letters, digits, `.`, `_` or `-`")]
    InvalidVersion,
}

impl PolicyError {
    /// The path of the offending field in the document, e.g. `rules[3].when`.
    pub fn field(&self) -> String {
        match self {
            PolicyError::Document { .. } => String::new(),
            PolicyError::InvalidCel { index, .. } => format!("rules[{index}].when"),
            PolicyError::InvalidTemplate { index, .. } => format!("rules[{index}].outcome.reason"),
            PolicyError::InvalidRule { index, field, .. } => format!("rules[{index}].{field}"),
            PolicyError::DuplicateRuleId { index, .. } => format!("rules[{index}].id"),
            PolicyError::InvalidThresholds { kind, .. } => format!("thresholds.{kind}"),
            PolicyError::InvalidVersion => "version".to_owned(),
        }
    }
}
