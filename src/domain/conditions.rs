//! The condition language of assignment, routing and SLA rules (DESIGN §7): a list of
//! `{field, op, value}` that must all hold. A field is a record field or `custom.<key>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    Prefix,
    Exists,
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"field": "budget_cents", "op": "gte", "value": 50000000}))]
pub struct Condition {
    pub field: String,
    pub op: Op,
    /// A string, number or bool; a list for `in`/`not_in`; `true`/`false` for `exists`.
    #[serde(default)]
    pub value: Value,
}

/// Reads `field` (dotted for `custom.<key>`) from a record's JSON facts.
pub fn lookup<'a>(facts: &'a Value, field: &str) -> Option<&'a Value> {
    let mut v = facts;
    for part in field.split('.') {
        v = v.get(part)?;
    }
    (!v.is_null()).then_some(v)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => as_text(a).is_some() && as_text(a) == as_text(b),
    }
}

impl Condition {
    /// Checks the shape of the value against the operator.
    pub fn validate(&self, known_field: impl Fn(&str) -> bool) -> Result<(), String> {
        if !(known_field(&self.field)
            || self
                .field
                .strip_prefix("custom.")
                .is_some_and(|k| !k.is_empty()))
        {
            return Err(format!("unknown field `{}`", self.field));
        }
        let ok = match self.op {
            Op::In | Op::NotIn => self.value.as_array().is_some_and(|a| !a.is_empty()),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => self.value.is_number(),
            Op::Contains | Op::Prefix => self.value.as_str().is_some_and(|s| !s.is_empty()),
            Op::Exists => self.value.is_boolean() || self.value.is_null(),
            Op::Eq | Op::Ne => {
                !self.value.is_null() && !self.value.is_array() && !self.value.is_object()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("`{:?}` needs a different kind of value", self.op).to_lowercase())
        }
    }

    /// Whether the condition holds for `facts`.
    pub fn holds(&self, facts: &Value) -> bool {
        let actual = lookup(facts, &self.field);
        match self.op {
            Op::Exists => actual.is_some() == self.value.as_bool().unwrap_or(true),
            Op::Ne => actual.is_none_or(|a| !loosely_equal(a, &self.value)),
            Op::NotIn => actual.is_none_or(|a| {
                !self
                    .value
                    .as_array()
                    .is_some_and(|l| l.iter().any(|v| loosely_equal(a, v)))
            }),
            _ => {
                let Some(a) = actual else { return false };
                match self.op {
                    Op::Eq => loosely_equal(a, &self.value),
                    Op::In => self
                        .value
                        .as_array()
                        .is_some_and(|l| l.iter().any(|v| loosely_equal(a, v))),
                    Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                        match (a.as_f64(), self.value.as_f64()) {
                            (Some(x), Some(y)) => match self.op {
                                Op::Gt => x > y,
                                Op::Gte => x >= y,
                                Op::Lt => x < y,
                                _ => x <= y,
                            },
                            _ => false,
                        }
                    }
                    Op::Contains => match (a, self.value.as_str()) {
                        (Value::Array(items), Some(needle)) => {
                            items.iter().any(|i| i.as_str() == Some(needle))
                        }
                        (_, Some(needle)) => as_text(a).is_some_and(|t| t.contains(needle)),
                        _ => false,
                    },
                    Op::Prefix => match (as_text(a), self.value.as_str()) {
                        (Some(t), Some(p)) => t.to_uppercase().starts_with(&p.to_uppercase()),
                        _ => false,
                    },
                    _ => false,
                }
            }
        }
    }
}

/// The conditions that hold, or `None` when any fails (all must hold; none = match all).
pub fn matches(conditions: &[Condition], facts: &Value) -> Option<Vec<Condition>> {
    conditions
        .iter()
        .all(|c| c.holds(facts))
        .then(|| conditions.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(field: &str, op: Op, value: Value) -> Condition {
        Condition {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn each_operator_holds_as_documented() {
        let lead = json!({"industry": "新能源汽车", "budget_cents": 60000000, "province": "江苏", "device_sn": "QM-2025-001",
                          "custom": {"tags": ["vip"], "tier": "A"}});
        assert!(c("industry", Op::Eq, json!("新能源汽车")).holds(&lead));
        assert!(c("industry", Op::Ne, json!("医疗器械")).holds(&lead));
        assert!(c("province", Op::In, json!(["江苏", "浙江"])).holds(&lead));
        assert!(c("province", Op::NotIn, json!(["广东"])).holds(&lead));
        assert!(c("budget_cents", Op::Gte, json!(50000000)).holds(&lead));
        assert!(!c("budget_cents", Op::Gt, json!(60000000)).holds(&lead));
        assert!(c("budget_cents", Op::Lt, json!(70000000)).holds(&lead));
        assert!(c("budget_cents", Op::Lte, json!(60000000)).holds(&lead));
        assert!(c("industry", Op::Contains, json!("能源")).holds(&lead));
        assert!(c("custom.tags", Op::Contains, json!("vip")).holds(&lead));
        assert!(c("device_sn", Op::Prefix, json!("qm-2025")).holds(&lead));
        assert!(c("custom.tier", Op::Eq, json!("A")).holds(&lead));
        assert!(c("email", Op::Exists, json!(false)).holds(&lead));
        assert!(c("province", Op::Exists, json!(true)).holds(&lead));
    }

    #[test]
    fn a_missing_field_fails_positive_operators_and_passes_negative_ones() {
        let lead = json!({"industry": null});
        assert!(!c("industry", Op::Eq, json!("x")).holds(&lead));
        assert!(!c("budget_cents", Op::Gte, json!(0)).holds(&lead));
        assert!(c("industry", Op::Ne, json!("x")).holds(&lead));
        assert!(c("industry", Op::NotIn, json!(["x"])).holds(&lead));
    }

    #[test]
    fn values_must_fit_their_operator() {
        let known = |f: &str| f == "budget_cents" || f == "industry";
        assert!(c("budget_cents", Op::Gte, json!("many"))
            .validate(known)
            .is_err());
        assert!(c("industry", Op::In, json!("x")).validate(known).is_err());
        assert!(c("colour", Op::Eq, json!("x")).validate(known).is_err());
        assert!(c("custom.colour", Op::Eq, json!("x"))
            .validate(known)
            .is_ok());
        assert!(c("industry", Op::In, json!(["x"])).validate(known).is_ok());
    }

    #[test]
    fn no_conditions_match_everything() {
        assert_eq!(matches(&[], &json!({})), Some(vec![]));
    }
}
