//! Why a Sigma rule was not loaded. Every construct Tollgate cannot evaluate faithfully is
//! refused here by name, so no rule is ever run with part of its logic silently dropped.

/// The reason one rule was refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusalReason {
    #[error("not a valid Sigma YAML document: {0}")]
    Yaml(String),
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{key}` is invalid: {detail}")]
    Invalid { key: String, detail: String },
    #[error("logsource {0} is not Azure activity logs (product `azure`, service `activitylogs`)")]
    Logsource(String),
    #[error("rules with status `{0}` are not run")]
    Status(String),
    #[error("correlation rules (`correlation:`) are not supported")]
    Correlation,
    #[error("`detection.timeframe` (time-windowed rules) is not supported")]
    Timeframe,
    #[error("aggregation in condition `{0}` (`| count() …`, `near`) is not supported")]
    Aggregation(String),
    #[error("modifier `{modifier}` on `{field}` is not supported")]
    UnsupportedModifier { field: String, modifier: String },
    #[error("modifier `{modifier}` on `{field}` is not a Sigma modifier")]
    UnknownModifier { field: String, modifier: String },
    #[error("modifiers on `{field}` conflict: {detail}")]
    ConflictingModifiers { field: String, detail: String },
    #[error("value of `{field}` is not supported: {detail}")]
    Value { field: String, detail: String },
    #[error("regular expression on `{field}` does not compile: {error}")]
    Regex { field: String, error: String },
    #[error("condition: {message} at character {position}")]
    Condition { position: usize, message: String },
    #[error("condition refers to `{0}`, which `detection` does not define")]
    UnknownIdentifier(String),
    #[error("condition `{0}` matches no search identifier")]
    NoIdentifierMatches(String),
    #[error("rule id `{id}` is already used by `{first}`")]
    DuplicateId { id: String, first: String },
}

impl RefusalReason {
    /// A stable snake_case code for counting and filtering refusals.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Yaml(_) => "yaml",
            Self::Missing(_) => "missing",
            Self::Invalid { .. } => "invalid",
            Self::Logsource(_) => "logsource",
            Self::Status(_) => "status",
            Self::Correlation => "correlation",
            Self::Timeframe => "timeframe",
            Self::Aggregation(_) => "aggregation",
            Self::UnsupportedModifier { .. } => "unsupported_modifier",
            Self::UnknownModifier { .. } => "unknown_modifier",
            Self::ConflictingModifiers { .. } => "conflicting_modifiers",
            Self::Value { .. } => "value",
            Self::Regex { .. } => "regex",
            Self::Condition { .. } => "condition",
            Self::UnknownIdentifier(_) => "unknown_identifier",
            Self::NoIdentifierMatches(_) => "no_identifier_matches",
            Self::DuplicateId { .. } => "duplicate_id",
        }
    }
}
