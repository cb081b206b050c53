//! Field tests: a Sigma field name with its modifiers and values, compiled once at load into
//! lowercased literals and prebuilt regexes so that matching an event allocates nothing.

use regex::{Regex, RegexBuilder};

use super::refusal::RefusalReason;
use crate::activity::fields::{FieldIndex, Leaf, VALUE_SEPARATOR};

/// Log Analytics `AzureActivity` column names that some rules use, mapped to the path of the
/// same value in the Activity Log JSON (Sigma's "field mapping" step).
const FIELD_ALIASES: &[(&str, &str)] = &[
    ("operationnamevalue", "operationname"),
    ("categoryvalue", "category"),
    ("resourceprovidervalue", "resourceprovidername"),
    ("activitystatusvalue", "status"),
    ("activitysubstatusvalue", "substatus"),
    ("resourcegroup", "resourcegroupname"),
];

/// Modifiers from the Sigma appendix that Tollgate knows and deliberately does not evaluate.
const REFUSED_MODIFIERS: &[&str] = &[
    "windash",
    "base64",
    "base64offset",
    "utf16le",
    "utf16be",
    "utf16",
    "wide",
    "cidr",
    "lt",
    "lte",
    "gt",
    "gte",
    "expand",
    "fieldref",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
];

/// What a test looks at: one field, or every value of the event (Sigma keywords).
#[derive(Debug, Clone)]
enum Target {
    Field(Box<str>),
    Keywords,
}

/// One `field|modifiers: values` entry of a selection.
#[derive(Debug, Clone)]
pub(crate) struct FieldTest {
    target: Target,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Exists(bool),
    Values {
        patterns: Vec<Pattern>,
        all: bool,
        cased: bool,
    },
}

#[derive(Debug, Clone)]
enum Pattern {
    /// Sigma `null`: the field is absent or null.
    Null,
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<str>),
    /// A value with inner `*`/`?` wildcards, as an anchored regex.
    Glob(Regex),
    /// The `re` modifier: unanchored, matched against the value as written.
    Regex(Regex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Whole,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
}

#[derive(Debug, Clone, Copy)]
struct Modifiers {
    placement: Placement,
    all: bool,
    cased: bool,
    exists: bool,
    insensitive: bool,
    multi_line: bool,
    dot_all: bool,
}

impl FieldTest {
    /// Compiles a detection map key (`field|mod|mod`; an empty field means keywords) and its
    /// values (`None` is YAML `null`).
    pub fn compile(key: &str, values: &[Option<String>]) -> Result<Self, RefusalReason> {
        let mut parts = key.split('|');
        let name = parts.next().unwrap_or_default().trim();
        let field_label = if name.is_empty() { "keywords" } else { name };
        let mods = parse_modifiers(field_label, parts)?;
        let target = if name.is_empty() {
            Target::Keywords
        } else {
            let lower = name.to_lowercase();
            let path = FIELD_ALIASES
                .iter()
                .find(|(alias, _)| *alias == lower)
                .map_or(lower.as_str(), |(_, path)| path);
            Target::Field(path.into())
        };
        let value_error = |detail: &str| RefusalReason::Value {
            field: field_label.to_owned(),
            detail: detail.to_owned(),
        };
        if values.is_empty() {
            return Err(value_error("an empty list matches nothing"));
        }
        if mods.all && values.len() < 2 {
            return Err(value_error("`all` needs a list of two or more values"));
        }
        if mods.exists {
            return match (values, &target) {
                ([Some(flag)], Target::Field(_)) => match flag.as_str() {
                    "true" => Ok(Self {
                        target,
                        test: Test::Exists(true),
                    }),
                    "false" => Ok(Self {
                        target,
                        test: Test::Exists(false),
                    }),
                    _ => Err(value_error("`exists` takes `true` or `false`")),
                },
                _ => Err(value_error("`exists` takes one boolean on a named field")),
            };
        }
        // Sigma keywords are a full-text search: each value may occur anywhere in the event.
        let placement = match (&target, mods.placement) {
            (Target::Keywords, Placement::Whole) => Placement::Contains,
            (_, placement) => placement,
        };
        let patterns = values
            .iter()
            .map(|value| match value {
                None if matches!(target, Target::Keywords) => {
                    Err(value_error("`null` is not a keyword"))
                }
                None if placement == Placement::Whole => Ok(Pattern::Null),
                None => Err(value_error("`null` cannot take a modifier")),
                Some(text) if placement == Placement::Regex => {
                    compile_regex(field_label, text, &mods).map(Pattern::Regex)
                }
                Some(text) if text.contains(VALUE_SEPARATOR) => {
                    Err(value_error("values cannot contain the NUL character"))
                }
                Some(text) => compile_wildcard(field_label, text, placement, mods.cased),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            target,
            test: Test::Values {
                patterns,
                all: mods.all,
                cased: mods.cased,
            },
        })
    }

    /// Whether the event satisfies this test.
    pub fn matches(&self, fields: &FieldIndex) -> bool {
        let (leaves, path) = match &self.target {
            Target::Field(path) => (fields.get(path), Some(&**path)),
            Target::Keywords => (fields.all(), None),
        };
        let present = || path.is_none_or(|path| fields.exists(path));
        match &self.test {
            Test::Exists(wanted) => present() == *wanted,
            Test::Values {
                patterns,
                all,
                cased,
            } => {
                let hit = |pattern: &Pattern| match pattern {
                    Pattern::Null => !present(),
                    Pattern::Contains(want) if path.is_none() && !*cased => {
                        fields.any_lower_contains(want)
                    }
                    other => leaves.iter().any(|leaf| other.matches(leaf, *cased)),
                };
                if *all {
                    patterns.iter().all(hit)
                } else {
                    patterns.iter().any(hit)
                }
            }
        }
    }
}

impl Pattern {
    fn matches(&self, leaf: &Leaf, cased: bool) -> bool {
        let text: &str = if cased { &leaf.original } else { &leaf.lower };
        match self {
            Self::Null => false,
            Self::Exact(want) => text == &**want,
            Self::Prefix(want) => text.starts_with(&**want),
            Self::Suffix(want) => text.ends_with(&**want),
            Self::Contains(want) => text.contains(&**want),
            Self::Glob(regex) => regex.is_match(text),
            Self::Regex(regex) => regex.is_match(&leaf.original),
        }
    }
}

fn parse_modifiers<'a>(
    field: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<Modifiers, RefusalReason> {
    let mut mods = Modifiers {
        placement: Placement::Whole,
        all: false,
        cased: false,
        exists: false,
        insensitive: false,
        multi_line: false,
        dot_all: false,
    };
    let conflict = |detail: String| RefusalReason::ConflictingModifiers {
        field: field.to_owned(),
        detail,
    };
    for name in names {
        let placement = match name {
            "contains" => Some(Placement::Contains),
            "startswith" => Some(Placement::StartsWith),
            "endswith" => Some(Placement::EndsWith),
            "re" => Some(Placement::Regex),
            _ => None,
        };
        if let Some(placement) = placement {
            if mods.placement != Placement::Whole {
                return Err(conflict(format!(
                    "`{name}` follows another matching modifier"
                )));
            }
            mods.placement = placement;
            continue;
        }
        let flag = match name {
            "all" => &mut mods.all,
            "cased" => &mut mods.cased,
            "exists" => &mut mods.exists,
            "i" => &mut mods.insensitive,
            "m" => &mut mods.multi_line,
            "s" => &mut mods.dot_all,
            _ => {
                let (field, modifier) = (field.to_owned(), name.to_owned());
                return Err(if REFUSED_MODIFIERS.contains(&name) {
                    RefusalReason::UnsupportedModifier { field, modifier }
                } else {
                    RefusalReason::UnknownModifier { field, modifier }
                });
            }
        };
        if std::mem::replace(flag, true) {
            return Err(conflict(format!("`{name}` is repeated")));
        }
        if matches!(name, "i" | "m" | "s") && mods.placement != Placement::Regex {
            return Err(conflict(format!("`{name}` only qualifies `re`")));
        }
    }
    if mods.exists && (mods.placement != Placement::Whole || mods.all || mods.cased) {
        return Err(conflict("`exists` stands alone".to_owned()));
    }
    Ok(mods)
}

fn compile_regex(field: &str, text: &str, mods: &Modifiers) -> Result<Regex, RefusalReason> {
    RegexBuilder::new(text)
        .case_insensitive(mods.insensitive)
        .multi_line(mods.multi_line)
        .dot_matches_new_line(mods.dot_all)
        .build()
        .map_err(|err| RefusalReason::Regex {
            field: field.to_owned(),
            error: err.to_string(),
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    Star,
    Question,
}

/// Sigma escaping: `\` makes the following `*`, `?` or `\` literal; any other `\` is itself.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    Token::Char(next)
                }
                _ => Token::Char('\\'),
            },
            '*' => Token::Star,
            '?' => Token::Question,
            other => Token::Char(other),
        });
    }
    tokens
}

fn compile_wildcard(
    field: &str,
    text: &str,
    placement: Placement,
    cased: bool,
) -> Result<Pattern, RefusalReason> {
    let mut tokens = tokenize(text);
    if matches!(placement, Placement::Contains | Placement::EndsWith) {
        tokens.insert(0, Token::Star);
    }
    if matches!(placement, Placement::Contains | Placement::StartsWith) {
        tokens.push(Token::Star);
    }
    let lead = tokens.first() == Some(&Token::Star);
    let trail = tokens.len() > 1 && tokens.last() == Some(&Token::Star);
    let inner = &tokens[usize::from(lead)..tokens.len() - usize::from(trail)];
    let literal: Option<String> = inner
        .iter()
        .map(|token| match token {
            Token::Char(c) => Some(*c),
            Token::Star | Token::Question => None,
        })
        .collect();
    let fold = |s: String| if cased { s } else { s.to_lowercase() };
    if let Some(literal) = literal {
        let literal = fold(literal).into_boxed_str();
        return Ok(match (lead, trail) {
            (false, false) => Pattern::Exact(literal),
            (false, true) => Pattern::Prefix(literal),
            (true, false) => Pattern::Suffix(literal),
            (true, true) => Pattern::Contains(literal),
        });
    }
    let mut source = String::from("(?s)^");
    let mut run = String::new();
    for token in &tokens {
        match token {
            Token::Char(c) => run.push(*c),
            Token::Star | Token::Question => {
                source.push_str(&regex::escape(&fold(std::mem::take(&mut run))));
                source.push_str(if *token == Token::Star { ".*" } else { "." });
            }
        }
    }
    source.push_str(&regex::escape(&fold(run)));
    source.push('$');
    Regex::new(&source)
        .map(Pattern::Glob)
        .map_err(|err| RefusalReason::Regex {
            field: field.to_owned(),
            error: err.to_string(),
        })
}
