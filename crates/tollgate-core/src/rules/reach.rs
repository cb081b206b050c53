//! Thresholds a rule can never reach. The store stops counting linked customers and velocity
//! events at [`COUNT_CAP`], so `velocity.signups_ip_24h > 5000` would never fire. A candidate
//! policy that says so is refused, naming the rule, when it is published or backtested.
//!
//! Versions already stored are not checked again: a live policy keeps compiling, whatever this
//! check learns later.

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

use super::{CompiledPolicy, PolicyError};
use crate::signals::{COUNT_CAP, is_capped_count};

impl CompiledPolicy {
    /// Refuses a rule that compares a capped count with a threshold it can never reach.
    pub fn check_reachable(&self) -> Result<(), PolicyError> {
        for (index, (rule, compiled)) in self.policy.rules.iter().zip(&self.rules).enumerate() {
            if let Some(never) = first_unreachable(compiled.program.expression()) {
                return Err(PolicyError::InvalidRule {
                    index,
                    rule_id: rule.id.clone(),
                    field: "when",
                    problem: format!(
                        "compares `{} {} {}`, which never holds: the store counts `{}` up to \
                         {COUNT_CAP}, so {COUNT_CAP} means \"{COUNT_CAP} or more\"",
                        never.feature, never.operator, never.threshold, never.feature
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A comparison of a capped count that is false whatever the traffic.
struct Never {
    feature: String,
    operator: &'static str,
    threshold: f64,
}

/// The first unreachable comparison anywhere in `expr`, depth first.
fn first_unreachable(expr: &IdedExpr) -> Option<Never> {
    match &expr.expr {
        Expr::Call(call) => {
            if let [left, right] = call.args.as_slice()
                && let Some(never) = comparison(&call.func_name, left, right)
            {
                return Some(never);
            }
            call.target
                .as_deref()
                .into_iter()
                .chain(&call.args)
                .find_map(first_unreachable)
        }
        Expr::Select(select) => first_unreachable(&select.operand),
        Expr::List(list) => list.elements.iter().find_map(first_unreachable),
        Expr::Map(map) => map.entries.iter().find_map(|e| entry(&e.expr)),
        Expr::Struct(value) => value.entries.iter().find_map(|e| entry(&e.expr)),
        Expr::Comprehension(c) => [
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ]
        .into_iter()
        .find_map(first_unreachable),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => None,
    }
}

fn entry(entry: &EntryExpr) -> Option<Never> {
    match entry {
        EntryExpr::MapEntry(m) => first_unreachable(&m.key).or_else(|| first_unreachable(&m.value)),
        EntryExpr::StructField(f) => first_unreachable(&f.value),
    }
}

/// `feature > n`, `feature >= n` or `feature == n`, written either way round, with `n` beyond
/// what the count can show.
fn comparison(function: &str, left: &IdedExpr, right: &IdedExpr) -> Option<Never> {
    let (feature, function, threshold) = match (capped_count(left), number(right)) {
        (Some(feature), Some(n)) => (feature, function, n),
        _ => (capped_count(right)?, mirrored(function)?, number(left)?),
    };
    let cap = f64::from(COUNT_CAP);
    let (operator, never) = match function {
        operators::GREATER => (">", threshold >= cap),
        operators::GREATER_EQUALS => (">=", threshold > cap),
        operators::EQUALS => ("==", threshold > cap),
        _ => return None,
    };
    never.then_some(Never {
        feature,
        operator,
        threshold,
    })
}

/// `n < x` is `x > n`.
fn mirrored(function: &str) -> Option<&'static str> {
    match function {
        operators::LESS => Some(operators::GREATER),
        operators::LESS_EQUALS => Some(operators::GREATER_EQUALS),
        operators::EQUALS => Some(operators::EQUALS),
        _ => None,
    }
}

/// `links.card_customers`, `velocity.signups_ip_24h`: a feature the store counts up to the cap.
fn capped_count(expr: &IdedExpr) -> Option<String> {
    let Expr::Select(select) = &expr.expr else {
        return None;
    };
    let Expr::Ident(section) = &select.operand.expr else {
        return None;
    };
    (!select.test && is_capped_count(section, &select.field))
        .then(|| format!("{section}.{}", select.field))
}

fn number(expr: &IdedExpr) -> Option<f64> {
    match &expr.expr {
        // Thresholds are small integers; beyond 2^53 the check only needs "very large".
        #[expect(clippy::cast_precision_loss)]
        Expr::Literal(LiteralValue::Int(n)) => Some(**n as f64),
        #[expect(clippy::cast_precision_loss)]
        Expr::Literal(LiteralValue::UInt(n)) => Some(**n as f64),
        Expr::Literal(LiteralValue::Double(n)) => Some(**n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Policy;

    fn policy_with(when: &str) -> CompiledPolicy {
        let mut policy = Policy::shipped_default();
        policy.rules[0].when = when.to_owned();
        CompiledPolicy::compile(policy).expect("compiles")
    }

    #[test]
    fn the_shipped_policy_reaches_all_its_thresholds() {
        CompiledPolicy::compile(Policy::shipped_default())
            .unwrap()
            .check_reachable()
            .unwrap();
    }

    #[test]
    fn a_threshold_beyond_the_cap_is_refused_naming_the_rule() {
        for when in [
            "velocity.signups_ip_24h > 1000",
            "velocity.signups_ip_24h >= 1001",
            "5000 < links.ip24_customers",
            "email.free && (velocity.signups_email_domain_1h == 2000)",
            "[1, 2].exists(x, velocity.orders_customer_7d > 1500.0)",
        ] {
            let err = policy_with(when).check_reachable().unwrap_err();
            assert_eq!(err.field(), "rules[0].when", "{when}");
            assert!(err.to_string().contains("never holds"), "{when}: {err}");
        }
    }

    #[test]
    fn thresholds_the_counts_can_reach_stay_allowed() {
        for when in [
            "velocity.signups_ip_24h >= 1000",
            "velocity.signups_ip_24h > 999",
            "velocity.signups_ip_24h < 5000",
            "velocity.order_value_customer_24h > 50000.0",
            "links.linked_customer_ids.size() > 5000",
            "1000 <= links.card_customers",
        ] {
            policy_with(when).check_reachable().unwrap();
        }
    }
}
