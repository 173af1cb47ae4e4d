//! Lead scoring (DESIGN §1.1, §7): score = clamp(round(source weight × Σ component points),
//! 0, 100); grade A ≥ `grades.A`, B ≥ `grades.B`, else C; below `admission_threshold` the
//! lead goes to `needs_info` with the fields that are missing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::conditions::lookup;
use super::lead::LeadSource;

/// One band of a banded component; the first band (top down) whose `gte` holds wins, a band
/// without `gte` always holds (the default, last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub gte: Option<f64>,
    pub points: i32,
}

/// A scoring component: banded on a number, matched on a value, or completeness of fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    /// The field scored by `bands` or `match`.
    pub field: Option<String>,
    pub bands: Option<Vec<Band>>,
    #[serde(rename = "match")]
    pub match_: Option<BTreeMap<String, i32>>,
    /// Points when `match` has no entry for the value (or the field is empty).
    pub default: Option<i32>,
    /// For completeness: the fields that should be filled in.
    pub fields: Option<Vec<String>>,
    /// For completeness: points when all `fields` are filled in (pro rata otherwise).
    pub points: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grades {
    #[serde(rename = "A")]
    pub a: i32,
    #[serde(rename = "B")]
    pub b: i32,
}

/// The scoring model, edited at runtime through `PUT /config/scoring`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "admission_threshold": 40,
    "source_weights": {"whitepaper_download": 0.6, "wechat": 0.8, "phone_400": 1.2, "web_form": 1.0},
    "components": [
        {"name": "budget", "field": "budget_cents", "bands": [{"gte": 100000000, "points": 45}, {"gte": 50000000, "points": 30}, {"points": 15}]},
        {"name": "industry", "field": "industry", "match": {"新能源汽车": 30, "医疗器械": 25}, "default": 10},
        {"name": "completeness", "fields": ["phone", "company", "industry", "province"], "points": 25}
    ],
    "grades": {"A": 80, "B": 60}
}))]
pub struct ScoringModel {
    pub admission_threshold: i32,
    /// Multiplier per source; a source not listed weighs 1.0.
    pub source_weights: BTreeMap<String, f64>,
    pub components: Vec<Component>,
    pub grades: Grades,
}

/// The points one component gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BreakdownItem {
    pub component: String,
    pub points: i32,
    /// What the points were given for (the value, band or filled fields).
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// The outcome of scoring one lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Score {
    pub score: i32,
    /// `A`, `B` or `C`.
    pub grade: String,
    pub source_weight: f64,
    pub breakdown: Vec<BreakdownItem>,
    /// Fields a component wanted but the lead lacks (what marketing should complete).
    pub missing: Vec<String>,
    /// True when the score reaches the admission threshold.
    pub admitted: bool,
}

/// Lead fields that scoring and rule conditions may name (besides `custom.<key>`).
pub const LEAD_FIELDS: &[&str] = &[
    "name",
    "company",
    "phone",
    "email",
    "title",
    "province",
    "city",
    "industry",
    "source",
    "product_interest",
    "budget_cents",
    "currency",
    "notes",
    "grade",
    "score",
    "email_domain",
];

pub fn is_lead_field(f: &str) -> bool {
    LEAD_FIELDS.contains(&f) || f.strip_prefix("custom.").is_some_and(|k| !k.is_empty())
}

impl Default for ScoringModel {
    /// The field example of DESIGN §7.
    fn default() -> Self {
        serde_json::from_value(json!({
            "admission_threshold": 40,
            "source_weights": {"whitepaper_download": 0.6, "wechat": 0.8, "phone_400": 1.2, "web_form": 1.0},
            "components": [
                {"name": "budget", "field": "budget_cents",
                 "bands": [{"gte": 100000000, "points": 45}, {"gte": 50000000, "points": 30}, {"points": 15}]},
                {"name": "industry", "field": "industry", "match": {"新能源汽车": 30, "医疗器械": 25}, "default": 10},
                {"name": "completeness", "fields": ["phone", "company", "industry", "province"], "points": 25}
            ],
            "grades": {"A": 80, "B": 60}
        }))
        .expect("the default scoring model is valid")
    }
}

impl ScoringModel {
    /// Every problem of the model as `(field path, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        let mut fail = |f: String, m: &str| errs.push((f, m.to_string()));
        if !(0..=100).contains(&self.admission_threshold) {
            fail("admission_threshold".into(), "between 0 and 100");
        }
        for (source, w) in &self.source_weights {
            if LeadSource::parse(source).is_none() {
                fail(format!("source_weights.{source}"), "unknown source");
            }
            if !(w.is_finite() && *w >= 0.0 && *w <= 10.0) {
                fail(
                    format!("source_weights.{source}"),
                    "a weight between 0 and 10",
                );
            }
        }
        if !(0..=100).contains(&self.grades.b)
            || !(0..=100).contains(&self.grades.a)
            || self.grades.a <= self.grades.b
        {
            fail("grades".into(), "0 ≤ B < A ≤ 100");
        }
        if self.components.len() > 50 {
            fail("components".into(), "at most 50 components");
        }
        let mut names = Vec::new();
        for (i, c) in self.components.iter().enumerate() {
            let at = |s: &str| format!("components[{i}].{s}");
            if c.name.trim().is_empty() || names.contains(&c.name) {
                fail(at("name"), "a unique, non-empty name");
            }
            names.push(c.name.clone());
            let kinds = [c.bands.is_some(), c.match_.is_some(), c.fields.is_some()]
                .iter()
                .filter(|k| **k)
                .count();
            if kinds != 1 {
                fail(at("kind"), "exactly one of `bands`, `match` or `fields`");
                continue;
            }
            let points_ok = |p: i32| (-100..=100).contains(&p);
            if c.bands.is_some() || c.match_.is_some() {
                match &c.field {
                    Some(f) if is_lead_field(f) => {}
                    _ => fail(at("field"), "a lead field or custom.<key>"),
                }
            }
            if let Some(bands) = &c.bands {
                if bands.is_empty() {
                    fail(at("bands"), "at least one band");
                }
                for (j, b) in bands.iter().enumerate() {
                    if !points_ok(b.points) {
                        fail(at(&format!("bands[{j}].points")), "between -100 and 100");
                    }
                    if b.gte.is_none() && j + 1 != bands.len() {
                        fail(
                            at(&format!("bands[{j}]")),
                            "only the last band may omit `gte`",
                        );
                    }
                    if b.gte.is_some_and(|g| !g.is_finite()) {
                        fail(at(&format!("bands[{j}].gte")), "a number");
                    }
                }
                let thresholds: Vec<f64> = bands.iter().filter_map(|b| b.gte).collect();
                if thresholds.windows(2).any(|w| w[0] <= w[1]) {
                    fail(at("bands"), "bands are read top down: `gte` must decrease");
                }
            }
            if let Some(m) = &c.match_ {
                if m.values().any(|p| !points_ok(*p)) || c.default.is_some_and(|p| !points_ok(p)) {
                    fail(at("match"), "points between -100 and 100");
                }
            }
            if let Some(fields) = &c.fields {
                if fields.is_empty() || fields.iter().any(|f| !is_lead_field(f)) {
                    fail(at("fields"), "a non-empty list of lead fields");
                }
                if !c.points.is_some_and(points_ok) {
                    fail(at("points"), "points between -100 and 100");
                }
            }
        }
        errs
    }

    /// Scores a lead given as JSON facts (its fields, `custom` nested).
    pub fn score(&self, facts: &Value) -> Score {
        let source = lookup(facts, "source")
            .and_then(Value::as_str)
            .unwrap_or("other");
        let weight = self.source_weights.get(source).copied().unwrap_or(1.0);
        let mut total = 0i32;
        let mut breakdown = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for c in &self.components {
            let (points, detail) = if let Some(bands) = &c.bands {
                let field = c.field.as_deref().unwrap_or_default();
                let value = lookup(facts, field).and_then(Value::as_f64);
                if value.is_none() {
                    missing.push(field.to_string());
                }
                let band = bands.iter().find(|b| match (b.gte, value) {
                    (None, _) => true,
                    (Some(g), Some(v)) => v >= g,
                    (Some(_), None) => false,
                });
                (
                    band.map(|b| b.points).unwrap_or(0),
                    json!({"field": field, "value": value, "band_gte": band.and_then(|b| b.gte)}),
                )
            } else if let Some(table) = &c.match_ {
                let field = c.field.as_deref().unwrap_or_default();
                let value = lookup(facts, field).and_then(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .or_else(|| Some(v.to_string()))
                });
                if value.is_none() {
                    missing.push(field.to_string());
                }
                let points = value
                    .as_ref()
                    .and_then(|v| table.get(v))
                    .copied()
                    .or(c.default)
                    .unwrap_or(0);
                (points, json!({"field": field, "value": value}))
            } else {
                let fields = c.fields.clone().unwrap_or_default();
                let filled: Vec<&String> = fields
                    .iter()
                    .filter(|f| lookup(facts, f).is_some_and(|v| v.as_str() != Some("")))
                    .collect();
                for f in &fields {
                    if !filled.contains(&f) {
                        missing.push(f.clone());
                    }
                }
                let full = c.points.unwrap_or(0);
                let points = if fields.is_empty() {
                    0
                } else {
                    (full as f64 * filled.len() as f64 / fields.len() as f64).round() as i32
                };
                (points, json!({"filled": filled, "of": fields}))
            };
            total += points;
            breakdown.push(BreakdownItem {
                component: c.name.clone(),
                points,
                detail,
            });
        }
        missing.sort();
        missing.dedup();
        let score = ((weight * total as f64).round() as i64).clamp(0, 100) as i32;
        let grade = if score >= self.grades.a {
            "A"
        } else if score >= self.grades.b {
            "B"
        } else {
            "C"
        };
        Score {
            score,
            grade: grade.into(),
            source_weight: weight,
            breakdown,
            missing,
            admitted: score >= self.admission_threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_example_scores_a_rich_web_form_lead_as_a() {
        let m = ScoringModel::default();
        assert!(m.validate().is_empty());
        let s = m.score(
            &json!({"source": "web_form", "budget_cents": 120000000, "industry": "新能源汽车",
                                "phone": "13800138000", "company": "恒锐", "province": "江苏"}),
        );
        assert_eq!((s.score, s.grade.as_str(), s.admitted), (100, "A", true));
        assert_eq!(
            s.breakdown.iter().map(|b| b.points).collect::<Vec<_>>(),
            vec![45, 30, 25]
        );
    }

    #[test]
    fn the_source_weight_multiplies_the_sum_and_rounds() {
        let m = ScoringModel::default();
        // 30 (budget ≥ 5,000,000 CNY) + 25 (医疗器械) + 25 (complete) = 80; × 0.6 = 48.
        let s = m.score(&json!({"source": "whitepaper_download", "budget_cents": 60000000, "industry": "医疗器械",
                                "phone": "1", "company": "x", "province": "浙江"}));
        assert_eq!((s.score, s.grade.as_str()), (48, "C"));
        // × 1.2 = 96 for a 400 call.
        let s = m.score(
            &json!({"source": "phone_400", "budget_cents": 60000000, "industry": "医疗器械",
                                "phone": "1", "company": "x", "province": "浙江"}),
        );
        assert_eq!(s.score, 96);
    }

    #[test]
    fn a_thin_lead_falls_below_the_threshold_and_names_what_is_missing() {
        let s = ScoringModel::default().score(&json!({"source": "wechat", "phone": "13800138000"}));
        // 15 (default band) + 10 (default industry) + 6 (1 of 4 fields, 25/4 rounded) = 31 × 0.8 = 25.
        assert_eq!(s.score, 25);
        assert!(!s.admitted);
        assert_eq!(
            s.missing,
            vec!["budget_cents", "company", "industry", "province"]
        );
    }

    #[test]
    fn scores_are_clamped_to_0_100() {
        let mut m = ScoringModel::default();
        m.source_weights.insert("phone_400".into(), 5.0);
        let s = m.score(&json!({"source": "phone_400", "budget_cents": 200000000}));
        assert_eq!(s.score, 100);
        m.components[0].bands = Some(vec![Band {
            gte: None,
            points: -100,
        }]);
        assert_eq!(m.score(&json!({"source": "web_form"})).score, 0);
    }

    #[test]
    fn malformed_models_are_refused_with_the_path_of_each_problem() {
        let mut m = ScoringModel::default();
        m.source_weights.insert("fax".into(), -1.0);
        m.components[0].bands = Some(vec![
            Band {
                gte: None,
                points: 15,
            },
            Band {
                gte: Some(1.0),
                points: 5,
            },
        ]);
        m.components[1].field = Some("shoe_size".into());
        m.grades = Grades { a: 50, b: 60 };
        let fields: Vec<String> = m.validate().into_iter().map(|(f, _)| f).collect();
        for f in [
            "source_weights.fax",
            "components[0].bands[0]",
            "components[1].field",
            "grades",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
        }
    }
}
