//! The Sigma condition language, single-event subset:
//!
//! ```text
//! or   := and ("or" and)*
//! and  := not ("and" not)*
//! not  := "not" not | atom
//! atom := "(" or ")" | ("1" | "all") "of" ("them" | pattern) | identifier
//! ```
//!
//! so `not` binds tighter than `and`, which binds tighter than `or`. Identifiers are resolved to
//! selection indices at load; aggregations (`| count() by …`) are refused.

use super::refusal::RefusalReason;

/// A condition with identifiers resolved to the rule's selections by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Selection(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates with short-circuiting; `selection` is asked only for what decides the result.
    pub fn eval(&self, selection: &impl Fn(usize) -> bool) -> bool {
        match self {
            Self::Selection(index) => selection(*index),
            Self::Not(inner) => !inner.eval(selection),
            Self::And(items) => items.iter().all(|item| item.eval(selection)),
            Self::Or(items) => items.iter().any(|item| item.eval(selection)),
        }
    }
}

/// Parses `text` against the rule's search identifiers, in the order of `names`.
pub(crate) fn parse(text: &str, names: &[&str]) -> Result<Expr, RefusalReason> {
    if text.contains('|') || words(text).any(|(_, word)| word.eq_ignore_ascii_case("near")) {
        return Err(RefusalReason::Aggregation(text.trim().to_owned()));
    }
    let mut parser = Parser {
        tokens: words(text).collect(),
        next: 0,
        names,
        end: text.chars().count(),
    };
    let expr = parser.or()?;
    match parser.tokens.get(parser.next) {
        None => Ok(expr),
        Some((position, word)) => Err(syntax(*position, format!("unexpected `{word}`"))),
    }
}

/// Splits into words and single-character parentheses, with character positions.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text.char_indices().peekable();
    let mut position = 0;
    std::iter::from_fn(move || {
        loop {
            let (start, c) = rest.next()?;
            let at = position;
            position += 1;
            if c.is_whitespace() {
                continue;
            }
            if c == '(' || c == ')' {
                return Some((at, &text[start..start + 1]));
            }
            let mut end = start + c.len_utf8();
            while let Some(&(index, next)) = rest.peek() {
                if next.is_whitespace() || next == '(' || next == ')' {
                    break;
                }
                end = index + next.len_utf8();
                position += 1;
                rest.next();
            }
            return Some((at, &text[start..end]));
        }
    })
}

fn syntax(position: usize, message: String) -> RefusalReason {
    RefusalReason::Condition { position, message }
}

struct Parser<'a> {
    tokens: Vec<(usize, &'a str)>,
    next: usize,
    names: &'a [&'a str],
    end: usize,
}

impl Parser<'_> {
    fn peek_is(&self, keyword: &str) -> bool {
        self.tokens
            .get(self.next)
            .is_some_and(|(_, word)| word.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Expr, RefusalReason> {
        self.chain("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, RefusalReason> {
        self.chain("and", Self::not, Expr::And)
    }

    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Expr, RefusalReason>,
        join: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, RefusalReason> {
        let mut items = vec![operand(self)?];
        while self.peek_is(keyword) {
            self.next += 1;
            items.push(operand(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            join(items)
        })
    }

    fn not(&mut self) -> Result<Expr, RefusalReason> {
        if self.peek_is("not") {
            self.next += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, RefusalReason> {
        let Some(&(position, word)) = self.tokens.get(self.next) else {
            return Err(syntax(self.end, "expected a search identifier".to_owned()));
        };
        self.next += 1;
        if word == "(" {
            let inner = self.or()?;
            return match self.tokens.get(self.next) {
                Some((_, ")")) => {
                    self.next += 1;
                    Ok(inner)
                }
                Some((at, other)) => Err(syntax(*at, format!("expected `)`, found `{other}`"))),
                None => Err(syntax(self.end, "unclosed `(`".to_owned())),
            };
        }
        let lower = word.to_ascii_lowercase();
        if self.peek_is("of") {
            let all = match lower.as_str() {
                "1" => false,
                "all" => true,
                _ => {
                    return Err(syntax(
                        position,
                        format!("`{word} of` is not supported; use `1 of` or `all of`"),
                    ));
                }
            };
            self.next += 1;
            return self.quantified(all);
        }
        if matches!(lower.as_str(), "and" | "or" | "of" | "them" | ")") {
            return Err(syntax(position, format!("unexpected `{word}`")));
        }
        self.names
            .iter()
            .position(|name| *name == word)
            .map(Expr::Selection)
            .ok_or_else(|| RefusalReason::UnknownIdentifier(word.to_owned()))
    }

    /// `1 of x` / `all of x`: `them` is every identifier not starting with `_`; a pattern
    /// may use `*` for any run of characters.
    fn quantified(&mut self, all: bool) -> Result<Expr, RefusalReason> {
        let Some(&(position, target)) = self.tokens.get(self.next) else {
            return Err(syntax(
                self.end,
                "expected `them` or a pattern after `of`".to_owned(),
            ));
        };
        if target == "(" || target == ")" {
            return Err(syntax(
                position,
                "expected `them` or a pattern after `of`".to_owned(),
            ));
        }
        self.next += 1;
        let them = target.eq_ignore_ascii_case("them");
        let items: Vec<Expr> = (0..self.names.len())
            .filter(|&index| {
                let name = self.names[index];
                if them {
                    !name.starts_with('_')
                } else {
                    wildcard_match(target, name)
                }
            })
            .map(Expr::Selection)
            .collect();
        if items.is_empty() {
            let quantifier = if all { "all" } else { "1" };
            return Err(RefusalReason::NoIdentifierMatches(format!(
                "{quantifier} of {target}"
            )));
        }
        Ok(if all {
            Expr::And(items)
        } else {
            Expr::Or(items)
        })
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["sel1", "sel2", "filter", "_hidden"];

    fn eval(condition: &str, truths: [bool; 4]) -> bool {
        parse(condition, NAMES)
            .expect("condition parses")
            .eval(&|index| truths[index])
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        // sel1 or (sel2 and (not filter))
        assert!(eval(
            "sel1 or sel2 and not filter",
            [true, false, true, false]
        ));
        assert!(!eval(
            "sel1 or sel2 and not filter",
            [false, true, true, false]
        ));
        assert!(eval(
            "sel1 or sel2 and not filter",
            [false, true, false, false]
        ));
        assert_eq!(
            parse("not sel1 and sel2", NAMES),
            Ok(Expr::And(vec![
                Expr::Not(Box::new(Expr::Selection(0))),
                Expr::Selection(1)
            ]))
        );
    }

    #[test]
    fn parentheses_override_precedence() {
        assert!(!eval(
            "(sel1 or sel2) and not filter",
            [true, false, true, false]
        ));
        assert!(eval("not (sel1 and sel2)", [true, false, false, false]));
        assert!(eval("((sel1))", [true, false, false, false]));
    }

    #[test]
    fn quantifiers_over_patterns_and_them() {
        assert!(eval("1 of sel*", [false, true, false, false]));
        assert!(!eval("all of sel*", [false, true, false, false]));
        assert!(eval(
            "all of sel* and not filter",
            [true, true, false, false]
        ));
        // `them` leaves out identifiers that start with an underscore.
        assert!(eval("all of them", [true, true, true, false]));
        assert!(!eval("1 of them", [false, false, false, true]));
        assert!(eval("1 of *_hid*", [false, false, false, true]));
        assert!(eval(
            "ALL OF sel* AND NOT filter",
            [true, true, false, false]
        ));
    }

    #[test]
    fn refuses_aggregations_and_near() {
        for text in [
            "sel1 | count() by caller > 5",
            "sel1 | near sel2",
            "sel1 near sel2",
        ] {
            assert!(
                matches!(parse(text, NAMES), Err(RefusalReason::Aggregation(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_bad_syntax_with_a_position() {
        let cases = [
            ("sel1 and", 8),
            ("sel1 sel2", 5),
            ("(sel1 or sel2", 13),
            ("2 of sel*", 0),
            ("sel1 and or sel2", 9),
            ("1 of", 4),
        ];
        for (text, at) in cases {
            match parse(text, NAMES) {
                Err(RefusalReason::Condition { position, .. }) => {
                    assert_eq!(position, at, "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_unknown_identifiers_and_empty_quantifiers() {
        assert_eq!(
            parse("sel1 and nope", NAMES),
            Err(RefusalReason::UnknownIdentifier("nope".to_owned()))
        );
        assert_eq!(
            parse("1 of keywords*", NAMES),
            Err(RefusalReason::NoIdentifierMatches(
                "1 of keywords*".to_owned()
            ))
        );
    }

    #[test]
    fn wildcard_patterns() {
        assert!(wildcard_match("sel*", "sel"));
        assert!(wildcard_match("*1", "sel1"));
        assert!(wildcard_match("s*l*1", "sel1"));
        assert!(!wildcard_match("sel*2", "sel1"));
        assert!(!wildcard_match("sel", "sel1"));
        assert!(!wildcard_match("a*a", "a"));
    }
}
