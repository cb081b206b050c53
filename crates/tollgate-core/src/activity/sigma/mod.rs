//! Sigma detection rules over Azure Activity Log records: the single-event subset of the Sigma
//! specification, compiled at load and evaluated per record without allocation. A rule using
//! anything outside the subset is refused with the construct named (see
//! `docs/activity-detections.md`).

mod condition;
mod matcher;
mod parse;
mod refusal;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use self::refusal::RefusalReason;
use self::{condition::Expr, matcher::FieldTest};
use super::{ActivityRecord, shipped::SHIPPED_RULES};

crate::str_enum! {
    /// A rule's `level`, from Sigma's five-step scale.
    RuleLevel {
        Informational = "informational",
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
}

/// A search identifier: an OR of alternatives, each an AND of field tests.
#[derive(Debug, Clone)]
struct Selection {
    any_of: Vec<Vec<FieldTest>>,
}

impl Selection {
    fn matches(&self, record: &ActivityRecord) -> bool {
        self.any_of
            .iter()
            .any(|tests| tests.iter().all(|test| test.matches(record.fields())))
    }
}

/// One loaded Sigma rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's `id` (a UUID in the SigmaHQ set).
    pub id: String,
    pub title: String,
    pub status: Option<String>,
    pub description: Option<String>,
    /// Required on every alert from this rule by the Detection Rule License.
    pub author: Option<String>,
    pub references: Vec<String>,
    pub level: Option<RuleLevel>,
    pub tags: Vec<String>,
    selections: Vec<Selection>,
    condition: Expr,
}

impl Rule {
    /// Whether `record` satisfies the rule's condition.
    pub fn matches(&self, record: &ActivityRecord) -> bool {
        self.condition
            .eval(&|index| self.selections[index].matches(record))
    }
}

/// A rule that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("rule `{name}` refused: {reason}")]
pub struct Refused {
    /// The name the caller gave the source (a file name for the shipped set).
    pub name: String,
    #[serde(serialize_with = "serialize_display")]
    pub reason: RefusalReason,
}

fn serialize_display<S: serde::Serializer>(
    reason: &RefusalReason,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(reason)
}

/// One rule that matched one record; borrows the rule so matching allocates only the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Match<'r> {
    pub rule_id: &'r str,
    pub title: &'r str,
    pub level: Option<RuleLevel>,
    /// The rule's author, which alerts must carry (Detection Rule License 1.1).
    pub author: Option<&'r str>,
    pub references: &'r [String],
    pub tags: &'r [String],
}

impl<'r> From<&'r Rule> for Match<'r> {
    fn from(rule: &'r Rule) -> Self {
        Self {
            rule_id: &rule.id,
            title: &rule.title,
            level: rule.level,
            author: rule.author.as_deref(),
            references: &rule.references,
            tags: &rule.tags,
        }
    }
}

/// The loaded rules, evaluated together on each record.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Compiles every `(name, yaml)` source. Rules that cannot be evaluated faithfully are
    /// returned as [`Refused`] rather than loaded in part; the first of two rules sharing an id
    /// wins.
    pub fn load<N, T>(sources: impl IntoIterator<Item = (N, T)>) -> (Self, Vec<Refused>)
    where
        N: Into<String>,
        T: AsRef<str>,
    {
        let mut rules = Vec::new();
        let mut refused = Vec::new();
        let mut names_by_id: HashMap<String, String> = HashMap::new();
        for (name, text) in sources {
            let name = name.into();
            let compiled =
                parse::compile(text.as_ref()).and_then(|rule| match names_by_id.get(&rule.id) {
                    Some(first) => Err(RefusalReason::DuplicateId {
                        id: rule.id,
                        first: first.clone(),
                    }),
                    None => Ok(rule),
                });
            match compiled {
                Ok(rule) => {
                    names_by_id.insert(rule.id.clone(), name);
                    rules.push(rule);
                }
                Err(reason) => refused.push(Refused { name, reason }),
            }
        }
        (Self { rules }, refused)
    }

    /// The SigmaHQ Azure Activity Log rules shipped in `data/sigma-azure-activity-logs`.
    pub fn shipped() -> (Self, Vec<Refused>) {
        Self::load(SHIPPED_RULES.iter().copied())
    }

    /// Every rule that matches `record`, in load order.
    pub fn matches<'r>(&'r self, record: &ActivityRecord) -> Vec<Match<'r>> {
        self.rules
            .iter()
            .filter(|rule| rule.matches(record))
            .map(Match::from)
            .collect()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests;
