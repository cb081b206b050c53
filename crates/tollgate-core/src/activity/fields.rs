//! A flattened, lowercased view of one activity record, built once per record so that every
//! rule can look fields up without allocating or re-lowercasing.

use serde_json::Value;

/// Nested JSON deeper than this is not indexed: real activity records nest a handful of levels,
/// and a bound keeps a hostile record from costing unbounded work per rule.
const MAX_DEPTH: usize = 24;

/// One scalar value of the record at a dotted, lowercased path such as `properties.message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leaf {
    pub path: Box<str>,
    pub original: Box<str>,
    pub lower: Box<str>,
}

/// Separates values in [`FieldIndex::lower_text`]; no Sigma keyword contains it, so a keyword
/// found there lies within one value.
pub(crate) const VALUE_SEPARATOR: char = '\0';

/// Every scalar of a record, sorted by path; a path may hold several values (JSON arrays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldIndex {
    leaves: Vec<Leaf>,
    /// All lowercased values joined by [`VALUE_SEPARATOR`]: one substring search per keyword
    /// instead of one per value.
    lower_text: String,
}

impl FieldIndex {
    /// Flattens `root`. Objects of the Azure "localizable string" shape (`{"value": …,
    /// "localizedValue": …}`) are also indexed at their own path with their `value`, so
    /// `operationName` resolves in both the REST shape and the diagnostic-export shape.
    /// Strings that hold a JSON object (Azure's `properties.requestbody`) are indexed twice:
    /// as the text and as the parsed object beneath the same path.
    pub fn build(root: &serde_json::Map<String, Value>) -> Self {
        let mut leaves = Vec::new();
        let mut path = String::new();
        flatten_object(root, &mut path, 0, &mut leaves);
        leaves.sort_by(|a, b| a.path.cmp(&b.path));
        let mut lower_text = String::new();
        for leaf in &leaves {
            lower_text.push_str(&leaf.lower);
            lower_text.push(VALUE_SEPARATOR);
        }
        Self { leaves, lower_text }
    }

    /// Adds a value computed from the record (for example a provider derived from the operation
    /// name) unless the record already carries one at that path.
    pub fn insert_derived(&mut self, path: &str, value: &str) {
        if self.exists(path) {
            return;
        }
        let at = self.leaves.partition_point(|leaf| &*leaf.path < path);
        let derived = leaf(path, value.into());
        self.lower_text.push_str(&derived.lower);
        self.lower_text.push(VALUE_SEPARATOR);
        self.leaves.insert(at, derived);
    }

    /// The values stored exactly at `path` (lowercased, dotted).
    pub fn get(&self, path: &str) -> &[Leaf] {
        let start = self.leaves.partition_point(|leaf| &*leaf.path < path);
        let len = self.leaves[start..]
            .iter()
            .take_while(|leaf| &*leaf.path == path)
            .count();
        &self.leaves[start..start + len]
    }

    /// The first value at `path`, in the record's own spelling.
    pub fn first(&self, path: &str) -> Option<&str> {
        self.get(path).first().map(|leaf| &*leaf.original)
    }

    /// Whether the record holds a non-null value at `path` or anything nested beneath it.
    pub fn exists(&self, path: &str) -> bool {
        // A linear scan: only `null`/`exists` tests ask, and a record has a few dozen leaves.
        self.leaves.iter().any(|leaf| {
            leaf.path
                .strip_prefix(path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        })
    }

    /// Every scalar in the record, for Sigma keyword (full-text) search.
    pub fn all(&self) -> &[Leaf] {
        &self.leaves
    }

    /// Whether any value contains `needle` (already lowercased, free of the separator).
    pub fn any_lower_contains(&self, needle: &str) -> bool {
        self.lower_text.contains(needle)
    }
}

fn leaf(path: &str, original: String) -> Leaf {
    let lower = original.to_lowercase().into_boxed_str();
    Leaf {
        path: path.into(),
        original: original.into_boxed_str(),
        lower,
    }
}

fn flatten_object(
    object: &serde_json::Map<String, Value>,
    path: &mut String,
    depth: usize,
    out: &mut Vec<Leaf>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let base = path.len();
    if base > 0
        && let Some((_, value)) = object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("value"))
        && let Some(text) = scalar_text(value)
    {
        out.push(leaf(path, text));
    }
    for (key, value) in object {
        if base > 0 {
            path.push('.');
        }
        path.extend(key.chars().flat_map(char::to_lowercase));
        flatten_value(value, path, depth + 1, out);
        path.truncate(base);
    }
}

fn flatten_value(value: &Value, path: &mut String, depth: usize, out: &mut Vec<Leaf>) {
    match value {
        Value::Object(object) => flatten_object(object, path, depth, out),
        Value::Array(items) => {
            for item in items {
                flatten_value(item, path, depth, out);
            }
        }
        Value::String(text) => {
            out.push(leaf(path, text.clone()));
            if text.trim_start().starts_with('{')
                && let Ok(Value::Object(nested)) = serde_json::from_str::<Value>(text)
            {
                flatten_object(&nested, path, depth, out);
            }
        }
        other => {
            if let Some(text) = scalar_text(other) {
                out.push(leaf(path, text));
            }
        }
    }
}

/// Numbers and booleans compare as their JSON text; null is "no value" (Sigma's `null`).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn index(value: Value) -> FieldIndex {
        match value {
            Value::Object(map) => FieldIndex::build(&map),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn paths_are_lowercased_and_dotted_and_values_keep_both_spellings() {
        let idx = index(json!({"Properties": {"Message": "Delete Device"}}));
        let leaves = idx.get("properties.message");
        assert_eq!(leaves.len(), 1);
        assert_eq!(&*leaves[0].original, "Delete Device");
        assert_eq!(&*leaves[0].lower, "delete device");
    }

    #[test]
    fn localizable_strings_resolve_at_their_own_path() {
        let idx = index(
            json!({"operationName": {"value": "Microsoft.Compute/virtualMachines/write",
            "localizedValue": "Create or Update Virtual Machine"}}),
        );
        assert_eq!(
            idx.first("operationname"),
            Some("Microsoft.Compute/virtualMachines/write")
        );
        assert!(idx.first("operationname.localizedvalue").is_some());
    }

    #[test]
    fn arrays_give_several_values_and_null_gives_none() {
        let idx = index(json!({"channels": ["Operation", "Admin"], "subStatus": null, "n": 3}));
        assert_eq!(idx.get("channels").len(), 2);
        assert!(!idx.exists("substatus"));
        assert_eq!(idx.first("n"), Some("3"));
    }

    #[test]
    fn json_inside_strings_is_indexed_beneath_the_string() {
        let idx = index(json!({"properties": {"requestbody":
            "{\"Properties\":{\"PrincipalId\":\"ABC\"}}"}}));
        assert_eq!(
            idx.first("properties.requestbody.properties.principalid"),
            Some("ABC")
        );
        assert!(
            idx.first("properties.requestbody")
                .is_some_and(|t| t.starts_with('{'))
        );
    }

    #[test]
    fn exists_sees_nested_values_but_not_prefix_lookalikes() {
        let idx = index(json!({"properties": {"message": "x"}, "properties-a": "y"}));
        assert!(idx.exists("properties"));
        assert!(!idx.exists("prop"));
        assert!(!idx.exists("properties.other"));
    }

    #[test]
    fn keyword_text_does_not_join_neighbouring_values() {
        let idx = index(json!({"a": "Micro", "b": "soft"}));
        assert!(idx.any_lower_contains("micro"));
        assert!(!idx.any_lower_contains("microsoft"));
    }

    #[test]
    fn derived_values_never_override_the_record() {
        let mut idx = index(json!({"resourceProviderName": "Given"}));
        idx.insert_derived("resourceprovidername", "Derived");
        idx.insert_derived("zeta", "z");
        assert_eq!(idx.first("resourceprovidername"), Some("Given"));
        assert_eq!(idx.first("zeta"), Some("z"));
        assert!(idx.any_lower_contains("z"));
    }
}
