//! Checking a policy document and compiling its CEL once, so evaluation only runs programs.

use std::sync::{Arc, LazyLock};

use cel::{Env, Program};

use super::{
    PolicyError,
    policy::{Band, Policy, Rule},
    template::Template,
};
use crate::decisions::DecisionKind;

/// The CEL environment shared by every policy of the process: building the standard library
/// is the expensive part of a context, so it is done once.
static CEL_ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// Scores are a percentage; a single rule may move it by at most its whole range.
const MAX_RULE_POINTS: i32 = 100;
const MAX_NAME_LEN: usize = 64;

/// A checked policy with every rule compiled, ready to evaluate many times from many threads.
pub struct CompiledPolicy {
    pub(super) policy: Policy,
    pub(super) env: Arc<Env>,
    /// Parallel to `policy.rules`.
    pub(super) rules: Vec<CompiledRule>,
    /// Indexes of the rules that run at each decision kind, in document order.
    pub(super) by_kind: [Vec<usize>; 3],
}

pub(super) struct CompiledRule {
    pub program: Program,
    pub reason: Template,
}

pub(super) fn kind_slot(kind: DecisionKind) -> usize {
    match kind {
        DecisionKind::Signup => 0,
        DecisionKind::PaymentMethod => 1,
        DecisionKind::Order => 2,
    }
}

impl CompiledPolicy {
    /// Checks `policy` and compiles its rules; the first problem found is returned.
    pub fn compile(policy: Policy) -> Result<Self, PolicyError> {
        if !is_version_label(&policy.version) {
            return Err(PolicyError::InvalidVersion);
        }
        for kind in DecisionKind::ALL {
            check_bands(*kind, policy.thresholds.for_kind(*kind))?;
        }
        let env = Arc::clone(&CEL_ENV);
        let mut rules = Vec::with_capacity(policy.rules.len());
        let mut by_kind: [Vec<usize>; 3] = Default::default();
        for (index, rule) in policy.rules.iter().enumerate() {
            if policy.rules[..index].iter().any(|r| r.id == rule.id) {
                return Err(PolicyError::DuplicateRuleId {
                    index,
                    rule_id: rule.id.clone(),
                });
            }
            rules.push(compile_rule(&env, index, rule)?);
            for kind in &rule.applies_to {
                by_kind[kind_slot(*kind)].push(index);
            }
        }
        Ok(Self {
            policy,
            env,
            rules,
            by_kind,
        })
    }

    /// The document this policy was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn version(&self) -> &str {
        &self.policy.version
    }
}

impl std::fmt::Debug for CompiledPolicy {
    // The CEL environment and programs are large and say nothing the document does not.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("version", &self.policy.version)
            .field("rules", &self.policy.rules.len())
            .finish_non_exhaustive()
    }
}

fn compile_rule(env: &Env, index: usize, rule: &Rule) -> Result<CompiledRule, PolicyError> {
    let invalid = |field: &'static str, problem: String| PolicyError::InvalidRule {
        index,
        rule_id: rule.id.clone(),
        field,
        problem,
    };
    if !is_snake_case(&rule.id) {
        return Err(invalid("id", snake_case_problem()));
    }
    if rule.applies_to.is_empty() {
        return Err(invalid(
            "applies_to",
            "must name at least one decision kind".into(),
        ));
    }
    if let Some((i, kind)) = rule
        .applies_to
        .iter()
        .enumerate()
        .find(|(i, kind)| rule.applies_to[..*i].contains(kind))
    {
        return Err(invalid(
            "applies_to",
            format!("names `{kind}` twice (at {i})"),
        ));
    }
    let outcome = &rule.outcome;
    if !(-MAX_RULE_POINTS..=MAX_RULE_POINTS).contains(&outcome.score) {
        return Err(invalid(
            "outcome.score",
            format!("must be between -{MAX_RULE_POINTS} and {MAX_RULE_POINTS}"),
        ));
    }
    if let Some(floor) = outcome.verdict_floor
        && let Some(kind) = rule
            .applies_to
            .iter()
            .find(|kind| kind.severity(floor).is_none())
    {
        return Err(invalid(
            "outcome.verdict_floor",
            format!(
                "`{floor}` is not a {kind} verdict; {kind} verdicts are {}",
                verdict_list(*kind)
            ),
        ));
    }
    if !is_snake_case(&outcome.reason_code) {
        return Err(invalid("outcome.reason_code", snake_case_problem()));
    }
    if outcome.reason.trim().is_empty() {
        return Err(invalid("outcome.reason", "must not be empty".into()));
    }
    if let Some(code) = &outcome.hold_code
        && !is_snake_case(code)
    {
        return Err(invalid("outcome.hold_code", snake_case_problem()));
    }
    let reason = Template::parse(&outcome.reason).map_err(|e| PolicyError::InvalidTemplate {
        index,
        rule_id: rule.id.clone(),
        offset: e.offset,
        problem: e.problem,
    })?;
    let program = env.compile(&rule.when).map_err(|errors| {
        // The parser reports the first error where it stopped; later ones are usually echoes.
        let (line, column, message) = errors
            .errors
            .first()
            .map_or((0, 0, errors.to_string()), |e| {
                (position(e.pos.0), position(e.pos.1), e.msg.clone())
            });
        PolicyError::InvalidCel {
            index,
            rule_id: rule.id.clone(),
            line,
            column,
            message,
        }
    })?;
    Ok(CompiledRule { program, reason })
}

/// The bands must list the kind's ladder in order, with rising scores.
fn check_bands(kind: DecisionKind, bands: &[Band]) -> Result<(), PolicyError> {
    let invalid = |problem: String| PolicyError::InvalidThresholds { kind, problem };
    let verdicts: Vec<_> = bands.iter().map(|b| b.verdict).collect();
    if verdicts != kind.ladder() {
        return Err(invalid(format!(
            "must list the verdicts {} once each, in that order",
            verdict_list(kind)
        )));
    }
    if bands[0].min_score.is_some_and(|s| s != 0) {
        return Err(invalid(format!(
            "`{}` is the mildest verdict and applies from score 0",
            bands[0].verdict
        )));
    }
    let mut previous = 0;
    for band in &bands[1..] {
        match band.min_score {
            Some(score) if score > 100 => {
                return Err(invalid(format!(
                    "`{}`: min_score must be at most 100",
                    band.verdict
                )));
            }
            Some(score) if score <= previous => {
                return Err(invalid(format!(
                    "`{}`: min_score must be above the milder verdicts' ({previous})",
                    band.verdict
                )));
            }
            Some(score) => previous = score,
            None => {}
        }
    }
    Ok(())
}

fn position(p: isize) -> usize {
    usize::try_from(p).unwrap_or(0)
}

fn verdict_list(kind: DecisionKind) -> String {
    kind.ladder()
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" < ")
}

fn is_snake_case(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn snake_case_problem() -> String {
    format!(
        "must be snake_case (a-z, 0-9, `_`, starting with a letter), at most {MAX_NAME_LEN} characters"
    )
}

fn is_version_label(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
