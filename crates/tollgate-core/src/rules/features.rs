//! The features JSON as CEL sees it. Each top-level field (`email`, `card`, `geo`…) becomes a
//! CEL variable, converted at most once per evaluation and shared by every rule; strings are
//! borrowed from the JSON, not copied.

use std::{collections::HashMap, sync::OnceLock};

use cel::{
    common::{
        types::{
            CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
        },
        value::{CowVal, Val},
    },
    context::VariableResolver,
};
use serde_json::Value;

/// The top-level feature objects of one evaluation, converted for CEL the first time a rule
/// reads them and shared by every later rule (a sign-up never pays for the `order` section).
pub(crate) struct FeatureVariables<'v> {
    variables: Vec<Section<'v>>,
}

/// One top-level feature object and, once a rule has read it, its CEL form.
struct Section<'v> {
    name: &'v str,
    json: &'v Value,
    cel: OnceLock<Box<dyn Val + 'v>>,
}

impl<'v> FeatureVariables<'v> {
    /// Wraps `features`. Anything but a JSON object yields no variables, so every rule
    /// reports an undeclared reference rather than seeing made-up values.
    pub fn new(features: &'v Value) -> Self {
        let variables = match features {
            Value::Object(fields) => fields
                .iter()
                .map(|(name, json)| Section {
                    name,
                    json,
                    cel: OnceLock::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        Self { variables }
    }
}

impl VariableResolver for FeatureVariables<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        // A dozen names: a linear scan beats hashing.
        self.variables
            .iter()
            .find(|section| section.name == variable)
            .map(|section| {
                CowVal::Borrowed(section.cel.get_or_init(|| to_cel(section.json)).as_ref())
            })
    }
}

/// JSON to CEL. Integers become CEL `int` (the contract's counts), so `links.card_customers - 1`
/// works; only integers beyond `i64` fall back to `uint`.
fn to_cel(value: &Value) -> Box<dyn Val + '_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            (None, None) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => {
            Box::new(CelList::from(items.iter().map(to_cel).collect::<Vec<_>>()))
        }
        Value::Object(fields) => Box::new(CelMap::from(
            fields
                .iter()
                .map(|(k, v)| (CelMapKey::from(k.as_str()), to_cel(v)))
                .collect::<HashMap<_, _>>(),
        )),
    }
}
