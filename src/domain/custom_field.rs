//! Custom fields (DESIGN §1.13): definitions added at runtime per entity, and the rules a
//! record's `custom{}` values must follow once an entity has definitions.
//!
//! Entities without definitions keep the permissive form (any lower-case key with a scalar
//! or list value). Once an entity has one definition its `custom{}` is strict: every key
//! must be defined and every value must have the defined type. A required field binds
//! creates; an update may not remove a required value, but a record that predates the field
//! may be edited without supplying it (it applies to new writes unless backfilled).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The entities that carry `custom{}`.
pub const ENTITIES: &[&str] = &[
    "lead",
    "account",
    "contact",
    "opportunity",
    "contract",
    "work_order",
];

/// The value type of a custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A string of at most 2,000 characters.
    Text,
    /// Any JSON number.
    Number,
    /// An integer amount in cents (fen), not negative.
    Money,
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// One of `options`.
    Enum,
    /// `true` or `false`.
    Bool,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Money => "money",
            FieldType::Date => "date",
            FieldType::Enum => "enum",
            FieldType::Bool => "bool",
        }
    }

    pub fn parse(s: &str) -> Option<FieldType> {
        [
            FieldType::Text,
            FieldType::Number,
            FieldType::Money,
            FieldType::Date,
            FieldType::Enum,
            FieldType::Bool,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The part of a definition that decides whether a value is acceptable.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRule {
    pub key: String,
    pub field_type: FieldType,
    pub required: bool,
    pub options: Vec<String>,
}

/// One failed value: (`custom.<key>`, code, message).
pub type Problem = (String, &'static str, String);

/// Keys are 1–64 characters of `a-z`, `0-9` and `_`, starting with a letter.
pub fn valid_key(k: &str) -> bool {
    k.len() <= 64
        && k.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

impl FieldRule {
    /// Why `v` (not null) is not a value of this field, if it is not.
    pub fn value_problem(&self, v: &Value) -> Option<(&'static str, String)> {
        let wrong = |what: &str| Some(("invalid_type", format!("must be {what}")));
        match self.field_type {
            FieldType::Text => match v.as_str() {
                Some(s) if s.chars().count() > 2000 => {
                    Some(("too_long", "at most 2000 characters".into()))
                }
                Some(_) => None,
                None => wrong("a string"),
            },
            FieldType::Number => (!v.is_number()).then(|| wrong("a number")).flatten(),
            FieldType::Money => match v.as_i64() {
                Some(c) if c < 0 => Some(("out_of_range", "cannot be negative".into())),
                Some(_) => None,
                None => wrong("an integer amount in cents"),
            },
            FieldType::Date => match v.as_str() {
                Some(s) if valid_date(s) => None,
                _ => wrong("a date YYYY-MM-DD"),
            },
            FieldType::Enum => match v.as_str() {
                Some(s) if self.options.iter().any(|o| o == s) => None,
                Some(_) => Some((
                    "invalid_option",
                    format!("must be one of: {}", self.options.join(", ")),
                )),
                None => wrong("one of the options (a string)"),
            },
            FieldType::Bool => (!v.is_boolean()).then(|| wrong("true or false")).flatten(),
        }
    }
}

fn present(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).is_some_and(|v| !v.is_null())
}

/// Checks the `custom{}` of a write against the entity's definitions (none: no check
/// here). `before` is the stored map on an update, `None` on a create. On an update only
/// keys whose value changes are checked, so values written before a definition changed do
/// not block unrelated edits.
pub fn check(
    rules: &[FieldRule],
    before: Option<&Map<String, Value>>,
    after: &Map<String, Value>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    if rules.is_empty() {
        return out;
    }
    let field = |k: &str| format!("custom.{k}");
    for (k, v) in after {
        if before.is_some_and(|b| b.get(k) == Some(v)) || v.is_null() {
            continue;
        }
        match rules.iter().find(|r| r.key == *k) {
            None => out.push((field(k), "unknown_field", "no such custom field".into())),
            Some(r) => {
                if let Some((code, msg)) = r.value_problem(v) {
                    out.push((field(k), code, msg));
                }
            }
        }
    }
    for r in rules
        .iter()
        .filter(|r| r.required && !present(after, &r.key))
    {
        let binding = match before {
            None => true,
            Some(b) => present(b, &r.key),
        };
        if binding {
            out.push((field(&r.key), "required", "is required".into()));
        }
    }
    out
}

/// What a write changed in `custom{}`: every key of a create; on an update the keys added
/// or changed, and removed keys as `null` (kept for the dry run of a later change).
pub fn written(
    before: Option<&Map<String, Value>>,
    after: &Map<String, Value>,
) -> Map<String, Value> {
    let Some(b) = before else {
        return after.clone();
    };
    let mut out: Map<String, Value> = after
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for k in b.keys().filter(|k| !after.contains_key(*k)) {
        out.insert(k.clone(), Value::Null);
    }
    out
}

/// Whether a stored record's `custom{}` breaks `rule` (missing while required, or a value
/// of the wrong type or outside the options).
pub fn record_violates(rule: &FieldRule, custom: &Map<String, Value>) -> bool {
    match custom.get(&rule.key).filter(|v| !v.is_null()) {
        None => rule.required,
        Some(v) => rule.value_problem(v).is_some(),
    }
}

/// Whether a logged write (see [`written`]) would be refused under `rule`: a create
/// without a required value, an update removing it, or any written value it refuses.
pub fn write_violates(rule: &FieldRule, create: bool, written: &Map<String, Value>) -> bool {
    match written.get(&rule.key) {
        Some(Value::Null) => rule.required,
        Some(v) => rule.value_problem(v).is_some(),
        None => create && rule.required,
    }
}

/// A custom value written as text (a CSV cell) in the form its field takes: numbers and
/// booleans parsed (是/否, yes/no, true/false, 1/0), money read as yuan like an import's
/// budget (`120万`, `1,200`); text that does not parse stays text, so the write is refused
/// naming the field.
pub fn from_text(field_type: FieldType, s: &str) -> Value {
    let parsed = match field_type {
        FieldType::Number => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        FieldType::Money => super::import::yuan_to_cents(s).map(Value::from),
        FieldType::Bool => match s.trim().to_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "是" => Some(Value::Bool(true)),
            "false" | "no" | "n" | "0" | "否" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldType::Text | FieldType::Date | FieldType::Enum => None,
    };
    parsed.unwrap_or_else(|| Value::String(s.to_string()))
}

/// Field-level problems of a definition's shape (key, label, options against the type).
pub fn definition_problems(
    key: &str,
    label: &str,
    field_type: FieldType,
    options: &[String],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !valid_key(key) {
        out.push((
            "key".into(),
            "1–64 characters of a-z, 0-9 and _, starting with a letter".into(),
        ));
    }
    let label_len = label.trim().chars().count();
    if label_len == 0 || label_len > 100 {
        out.push(("label".into(), "1–100 characters".into()));
    }
    match field_type {
        FieldType::Enum => {
            if options.is_empty() || options.len() > 200 {
                out.push(("options".into(), "an enum field has 1–200 options".into()));
            }
            for (i, o) in options.iter().enumerate() {
                let n = o.trim().chars().count();
                if n == 0 || n > 100 || o.trim() != o {
                    out.push((format!("options[{i}]"), "1–100 characters, trimmed".into()));
                } else if options[..i].contains(o) {
                    out.push((format!("options[{i}]"), "listed twice".into()));
                }
            }
        }
        _ if !options.is_empty() => {
            out.push(("options".into(), "only enum fields have options".into()));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(key: &str, t: FieldType, required: bool, options: &[&str]) -> FieldRule {
        FieldRule {
            key: key.into(),
            field_type: t,
            required,
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn each_type_takes_its_values_only() {
        let cases = [
            (FieldType::Text, json!("华东"), json!(3)),
            (FieldType::Number, json!(2.5), json!("2.5")),
            (FieldType::Money, json!(120000), json!(1.5)),
            (FieldType::Date, json!("2026-02-28"), json!("2026-02-30")),
            (FieldType::Bool, json!(true), json!("yes")),
        ];
        for (t, good, bad) in cases {
            let r = rule("k", t, false, &[]);
            assert_eq!(r.value_problem(&good), None, "{t:?}");
            assert_eq!(r.value_problem(&bad).unwrap().0, "invalid_type", "{t:?}");
        }
        let e = rule("k", FieldType::Enum, false, &["A", "B"]);
        assert_eq!(e.value_problem(&json!("A")), None);
        assert_eq!(e.value_problem(&json!("C")).unwrap().0, "invalid_option");
        assert_eq!(
            rule("k", FieldType::Money, false, &[])
                .value_problem(&json!(-1))
                .unwrap()
                .0,
            "out_of_range"
        );
    }

    #[test]
    fn no_definitions_means_no_check() {
        assert!(check(&[], None, &map(json!({"anything": 1}))).is_empty());
    }

    #[test]
    fn strict_once_defined_and_required_binds_creates() {
        let rules = [rule("region", FieldType::Enum, true, &["华东", "华南"])];
        let p = check(&rules, None, &map(json!({"other": 1})));
        let codes: Vec<(&str, &str)> = p.iter().map(|(f, c, _)| (f.as_str(), *c)).collect();
        assert_eq!(
            codes,
            [
                ("custom.other", "unknown_field"),
                ("custom.region", "required")
            ]
        );
        assert!(check(&rules, None, &map(json!({"region": "华东"}))).is_empty());
    }

    #[test]
    fn updates_check_only_what_they_change() {
        let rules = [rule("region", FieldType::Enum, true, &["华东"])];
        // A record from before the field: editable without it.
        assert!(check(&rules, Some(&map(json!({}))), &map(json!({}))).is_empty());
        // A stale value kept as it was does not block the edit.
        let stale = map(json!({"region": "西北", "legacy": 1}));
        assert!(check(&rules, Some(&stale), &stale).is_empty());
        // Removing a required value is refused; writing a bad one too.
        let had = map(json!({"region": "华东"}));
        assert_eq!(check(&rules, Some(&had), &map(json!({})))[0].1, "required");
        assert_eq!(
            check(&rules, Some(&had), &map(json!({"region": "西北"})))[0].1,
            "invalid_option"
        );
    }

    #[test]
    fn a_write_log_entry_is_judged_like_the_write() {
        let before = map(json!({"a": 1, "b": 2}));
        let after = map(json!({"a": 1, "b": 3, "c": 4}));
        assert_eq!(written(Some(&before), &after), map(json!({"b": 3, "c": 4})));
        assert_eq!(
            written(Some(&after), &map(json!({"a": 1}))),
            map(json!({"b": null, "c": null}))
        );
        let req = rule("c", FieldType::Number, true, &[]);
        assert!(write_violates(&req, true, &map(json!({}))));
        assert!(!write_violates(&req, false, &map(json!({}))));
        assert!(write_violates(&req, false, &map(json!({"c": null}))));
        assert!(write_violates(&req, false, &map(json!({"c": "x"}))));
        assert!(record_violates(&req, &map(json!({"c": null}))));
        assert!(!record_violates(&req, &map(json!({"c": 1}))));
    }

    #[test]
    fn text_cells_take_the_form_of_their_field() {
        assert_eq!(from_text(FieldType::Number, " 2.5"), json!(2.5));
        assert_eq!(from_text(FieldType::Money, "1.5万"), json!(1_500_000));
        assert_eq!(from_text(FieldType::Bool, "是"), json!(true));
        assert_eq!(from_text(FieldType::Bool, "No"), json!(false));
        assert_eq!(from_text(FieldType::Number, "很多"), json!("很多"));
        assert_eq!(
            from_text(FieldType::Date, "2026-01-01"),
            json!("2026-01-01")
        );
    }

    #[test]
    fn definitions_are_checked_for_shape() {
        assert!(definition_problems("region", "区域", FieldType::Enum, &["A".into()]).is_empty());
        let p = definition_problems("Region", "", FieldType::Text, &["A".into()]);
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["key", "label", "options"]);
        let p = definition_problems("r", "R", FieldType::Enum, &["A".into(), "A".into()]);
        assert_eq!(p[0].0, "options[1]");
    }
}
