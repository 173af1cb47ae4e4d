//! The opportunity pipeline (DESIGN §1.7, §7): stages with probabilities and exit
//! requirements as data, stage-gate evaluation, the direction of a move, the weighted
//! forecast in integer cents and the stalled-deal threshold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::activity::Action;
use super::contact::DecisionRole;

/// Fields of an opportunity a `field` requirement can ask to be filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateField {
    AmountCents,
    ExpectedCloseDate,
    PrimaryContactId,
}

impl GateField {
    pub fn as_str(self) -> &'static str {
        match self {
            GateField::AmountCents => "amount_cents",
            GateField::ExpectedCloseDate => "expected_close_date",
            GateField::PrimaryContactId => "primary_contact_id",
        }
    }
}

/// One exit requirement of a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Requirement {
    /// A reached activity of this action on the deal (or on the lead it came from).
    Activity {
        action: Action,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        with_evidence: bool,
    },
    /// A live contact with this decision role on the deal's account.
    ContactRole { role: DecisionRole },
    /// A field of the deal that must be filled in.
    Field { field: GateField },
    /// An approved (or already sent) quote on the deal.
    QuoteApproved,
    /// A signed contract on the deal.
    ContractSigned,
}

impl Requirement {
    /// The machine-readable name used in `missing[].requirement`, e.g. `activity:demo`.
    pub fn key(&self) -> String {
        match self {
            Requirement::Activity { action, .. } => format!("activity:{}", action.as_str()),
            Requirement::ContactRole { role } => format!("contact_role:{}", role.as_str()),
            Requirement::Field { field } => format!("field:{}", field.as_str()),
            Requirement::QuoteApproved => "quote_approved".into(),
            Requirement::ContractSigned => "contract_signed".into(),
        }
    }

    fn explain(&self) -> String {
        match self {
            Requirement::Activity {
                action,
                with_evidence: true,
            } => format!("a reached `{}` activity with evidence", action.as_str()),
            Requirement::Activity { action, .. } => {
                format!("a reached `{}` activity", action.as_str())
            }
            Requirement::ContactRole { role } => {
                format!("a `{}` contact on the account", role.as_str())
            }
            Requirement::Field { field } => format!("`{}` filled in", field.as_str()),
            Requirement::QuoteApproved => "an approved quote".into(),
            Requirement::ContractSigned => "a signed contract".into(),
        }
    }
}

/// One stage of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Stable machine name, e.g. `needs_confirmed`.
    pub key: String,
    /// Display name, e.g. 需求确认.
    pub name: String,
    /// Win probability in percent (0–100), non-decreasing along the pipeline.
    pub probability: i32,
    /// What must hold before a deal may leave this stage forwards.
    #[serde(default)]
    pub exit_requirements: Vec<Requirement>,
    /// Mean seconds in this stage assumed while there is no stage history (falls back to
    /// the pipeline's `default_stage_mean_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_mean_secs: Option<i64>,
}

fn default_stalled_factor() -> f64 {
    1.3
}

fn default_stage_mean_secs() -> i64 {
    14 * 86_400
}

/// The pipeline definition, edited at runtime through `PUT /pipeline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "quote_discount_approval_pct": 10,
    "stalled_factor": 1.3,
    "default_stage_mean_secs": 1209600,
    "stages": [
        {"key": "needs_confirmed", "name": "需求确认", "probability": 10, "exit_requirements": [
            {"kind": "activity", "action": "needs_discovery"},
            {"kind": "contact_role", "role": "decision_maker"},
            {"kind": "field", "field": "amount_cents"}]},
        {"key": "solution_demo", "name": "方案演示", "probability": 30, "exit_requirements": [
            {"kind": "activity", "action": "demo", "with_evidence": true}]},
        {"key": "quote_approval", "name": "报价审批", "probability": 50, "exit_requirements": [{"kind": "quote_approved"}]},
        {"key": "contract_signing", "name": "合同签署", "probability": 80, "exit_requirements": [{"kind": "contract_signed"}]},
        {"key": "payment_tracking", "name": "回款跟踪", "probability": 100, "exit_requirements": []}
    ]
}))]
pub struct Pipeline {
    /// Quotes with a discount above this percentage need a manager's approval.
    pub quote_discount_approval_pct: f64,
    /// A deal is stalled when its time in stage exceeds this factor × the stage's mean.
    #[serde(default = "default_stalled_factor")]
    pub stalled_factor: f64,
    /// Mean seconds in a stage assumed while a stage has no history of its own.
    #[serde(default = "default_stage_mean_secs")]
    pub default_stage_mean_secs: i64,
    /// In order; entering the last stage wins the deal.
    pub stages: Vec<Stage>,
}

impl Default for Pipeline {
    fn default() -> Self {
        let stage = |key: &str, name: &str, probability, exit_requirements| Stage {
            key: key.into(),
            name: name.into(),
            probability,
            exit_requirements,
            default_mean_secs: None,
        };
        Pipeline {
            quote_discount_approval_pct: 10.0,
            stalled_factor: default_stalled_factor(),
            default_stage_mean_secs: default_stage_mean_secs(),
            stages: vec![
                stage(
                    "needs_confirmed",
                    "需求确认",
                    10,
                    vec![
                        Requirement::Activity {
                            action: Action::NeedsDiscovery,
                            with_evidence: false,
                        },
                        Requirement::ContactRole {
                            role: DecisionRole::DecisionMaker,
                        },
                        Requirement::Field {
                            field: GateField::AmountCents,
                        },
                    ],
                ),
                stage(
                    "solution_demo",
                    "方案演示",
                    30,
                    vec![Requirement::Activity {
                        action: Action::Demo,
                        with_evidence: true,
                    }],
                ),
                stage(
                    "quote_approval",
                    "报价审批",
                    50,
                    vec![Requirement::QuoteApproved],
                ),
                stage(
                    "contract_signing",
                    "合同签署",
                    80,
                    vec![Requirement::ContractSigned],
                ),
                stage("payment_tracking", "回款跟踪", 100, vec![]),
            ],
        }
    }
}

/// What a stage move is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// Forwards: the gates of the stages at these indexes (the current one and every skipped
    /// one) must hold.
    Forward { gates: Vec<usize> },
    /// Backwards (a regression).
    Backward,
}

/// A requirement that does not hold, as the `stage_gate` problem lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Missing {
    /// e.g. `activity:needs_discovery`, `contact_role:decision_maker`, `field:amount_cents`.
    pub requirement: String,
    /// The stage whose exit requires it.
    pub stage: String,
    pub detail: String,
}

/// What is known about a deal when its gates are checked.
#[derive(Debug, Clone, Default)]
pub struct GateFacts {
    /// Reached activities: (action, carried evidence).
    pub activities: Vec<(String, bool)>,
    /// Decision roles of the live contacts on the account.
    pub contact_roles: Vec<String>,
    /// Filled-in gate fields.
    pub fields: Vec<GateField>,
    pub quote_approved: bool,
    pub contract_signed: bool,
}

impl GateFacts {
    fn holds(&self, r: &Requirement) -> bool {
        match r {
            Requirement::Activity {
                action,
                with_evidence,
            } => self
                .activities
                .iter()
                .any(|(a, ev)| a == action.as_str() && (*ev || !with_evidence)),
            Requirement::ContactRole { role } => {
                self.contact_roles.iter().any(|r| r == role.as_str())
            }
            Requirement::Field { field } => self.fields.contains(field),
            Requirement::QuoteApproved => self.quote_approved,
            Requirement::ContractSigned => self.contract_signed,
        }
    }
}

impl Pipeline {
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.key == key)
    }

    pub fn stage(&self, key: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.key == key)
    }

    pub fn first(&self) -> &Stage {
        &self.stages[0]
    }

    pub fn is_last(&self, key: &str) -> bool {
        self.stages.last().is_some_and(|s| s.key == key)
    }

    /// Field-level problems, empty when the definition is usable.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if !(0.0..=100.0).contains(&self.quote_discount_approval_pct) {
            errors.push((
                "quote_discount_approval_pct".into(),
                "a percentage between 0 and 100".into(),
            ));
        }
        if !(self.stalled_factor > 1.0 && self.stalled_factor <= 10.0) {
            errors.push((
                "stalled_factor".into(),
                "greater than 1 and at most 10".into(),
            ));
        }
        if self.default_stage_mean_secs <= 0 {
            errors.push(("default_stage_mean_secs".into(), "positive seconds".into()));
        }
        if self.stages.len() < 2 || self.stages.len() > 20 {
            errors.push(("stages".into(), "between 2 and 20 stages".into()));
        }
        let mut seen = BTreeMap::new();
        let mut previous = 0;
        for (n, s) in self.stages.iter().enumerate() {
            let at = |f: &str| format!("stages[{n}].{f}");
            let key_ok = !s.key.is_empty()
                && s.key.len() <= 40
                && s.key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                errors.push((at("key"), "1–40 characters of a–z, 0–9 and _".into()));
            } else if let Some(first) = seen.insert(s.key.clone(), n) {
                errors.push((at("key"), format!("duplicate of stages[{first}].key")));
            }
            if s.name.trim().is_empty() || s.name.chars().count() > 50 {
                errors.push((at("name"), "1–50 characters".into()));
            }
            if !(0..=100).contains(&s.probability) {
                errors.push((at("probability"), "between 0 and 100".into()));
            } else if s.probability < previous {
                errors.push((
                    at("probability"),
                    format!("must not be below the previous stage's {previous}"),
                ));
            } else {
                previous = s.probability;
            }
            if s.default_mean_secs.is_some_and(|v| v <= 0) {
                errors.push((at("default_mean_secs"), "positive seconds".into()));
            }
            let mut keys: Vec<String> = s.exit_requirements.iter().map(|r| r.key()).collect();
            keys.sort();
            keys.dedup();
            if keys.len() != s.exit_requirements.len() {
                errors.push((
                    at("exit_requirements"),
                    "a requirement is listed twice".into(),
                ));
            }
        }
        errors
    }

    /// The kind of a move from `from` to `to`; `Err` names what is wrong with the target.
    pub fn direction(&self, from: &str, to: &str) -> Result<Direction, String> {
        let target = self
            .index_of(to)
            .ok_or_else(|| format!("`{to}` is not a stage of the pipeline"))?;
        let current = self
            .index_of(from)
            .ok_or_else(|| format!("the deal's stage `{from}` is no longer in the pipeline"))?;
        match target.cmp(&current) {
            std::cmp::Ordering::Equal => Err(format!("the deal is already in `{to}`")),
            std::cmp::Ordering::Less => Ok(Direction::Backward),
            std::cmp::Ordering::Greater => Ok(Direction::Forward {
                gates: (current..target).collect(),
            }),
        }
    }

    /// Every unmet exit requirement of the stages at `gates`, in pipeline order.
    pub fn unmet(&self, gates: &[usize], facts: &GateFacts) -> Vec<Missing> {
        gates
            .iter()
            .filter_map(|&i| self.stages.get(i))
            .flat_map(|s| {
                s.exit_requirements
                    .iter()
                    .filter(|r| !facts.holds(r))
                    .map(|r| Missing {
                        requirement: r.key(),
                        stage: s.key.clone(),
                        detail: format!("leaving `{}` needs {}", s.key, r.explain()),
                    })
            })
            .collect()
    }

    /// Seconds in `stage` after which a deal is stalled: factor × the historical mean, or
    /// × the configured default while the stage has no history.
    pub fn stall_after_secs(&self, stage: &Stage, historical_mean_secs: Option<f64>) -> i64 {
        let mean = historical_mean_secs.filter(|m| *m > 0.0).unwrap_or(
            stage
                .default_mean_secs
                .unwrap_or(self.default_stage_mean_secs) as f64,
        );
        (mean * self.stalled_factor).ceil() as i64
    }

    /// The discount (in basis points) above which a quote needs approval.
    pub fn approval_threshold_bp(&self) -> i64 {
        (self.quote_discount_approval_pct * 100.0).round() as i64
    }
}

/// One open deal as the forecast sees it.
#[derive(Debug, Clone)]
pub struct ForecastDeal {
    pub group: String,
    pub currency: String,
    pub amount_cents: i64,
    pub probability: i32,
}

/// Totals of one group and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ForecastGroup {
    /// The owner id, team id, `YYYY-MM` of the expected close date or stage key
    /// (`none` when the deal has no owner, team or date).
    pub key: String,
    pub currency: String,
    pub deals: i64,
    /// Σ amount_cents.
    pub unweighted_cents: i64,
    /// Σ amount_cents × probability / 100, summed exactly and rounded half up once.
    pub weighted_cents: i64,
}

/// Rounds `value / 100` half up (values are never negative).
fn percent_of(value: i128) -> i64 {
    ((value + 50) / 100) as i64
}

/// Groups deals by key and currency (sorted by both). Each group's weighted total is the
/// exact sum of amount × probability, divided by 100 and rounded half up once, so it never
/// drifts with the number of deals; the grand total is computed the same way and can differ
/// from the sum of the rounded group totals by less than one cent per group.
pub fn forecast(deals: &[ForecastDeal]) -> (Vec<ForecastGroup>, Vec<ForecastGroup>) {
    let mut groups: BTreeMap<(String, String), (i64, i128, i128)> = BTreeMap::new();
    let mut totals: BTreeMap<String, (i64, i128, i128)> = BTreeMap::new();
    for d in deals {
        let amount = d.amount_cents.max(0) as i128;
        let weighted = amount * d.probability.clamp(0, 100) as i128;
        for acc in [
            groups
                .entry((d.group.clone(), d.currency.clone()))
                .or_default(),
            totals.entry(d.currency.clone()).or_default(),
        ] {
            acc.0 += 1;
            acc.1 += amount;
            acc.2 += weighted;
        }
    }
    let row = |key: String, currency: String, (deals, amount, weighted): (i64, i128, i128)| {
        ForecastGroup {
            key,
            currency,
            deals,
            unweighted_cents: amount as i64,
            weighted_cents: percent_of(weighted),
        }
    };
    (
        groups.into_iter().map(|((k, c), v)| row(k, c, v)).collect(),
        totals
            .into_iter()
            .map(|(c, v)| row("total".into(), c, v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> GateFacts {
        GateFacts::default()
    }

    #[test]
    fn the_default_pipeline_is_valid_and_matches_design() {
        let p = Pipeline::default();
        assert!(p.validate().is_empty(), "{:?}", p.validate());
        let probs: Vec<i32> = p.stages.iter().map(|s| s.probability).collect();
        assert_eq!(probs, vec![10, 30, 50, 80, 100]);
        assert!(p.is_last("payment_tracking"));
    }

    #[test]
    fn validation_names_each_bad_field() {
        let mut p = Pipeline::default();
        p.stages[1].key = "needs_confirmed".into();
        p.stages[2].probability = 20;
        p.stages[3].probability = 101;
        p.quote_discount_approval_pct = -1.0;
        p.stages[0]
            .exit_requirements
            .push(Requirement::QuoteApproved);
        p.stages[0]
            .exit_requirements
            .push(Requirement::QuoteApproved);
        let fields: Vec<String> = p.validate().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            vec![
                "quote_discount_approval_pct",
                "stages[0].exit_requirements",
                "stages[1].key",
                "stages[2].probability",
                "stages[3].probability",
            ]
        );
    }

    #[test]
    fn unknown_requirement_kinds_do_not_parse() {
        let bad = serde_json::json!({"kind": "horoscope"});
        assert!(serde_json::from_value::<Requirement>(bad).is_err());
        let good = serde_json::json!({"kind": "activity", "action": "demo", "with_evidence": true});
        assert_eq!(
            serde_json::from_value::<Requirement>(good).unwrap().key(),
            "activity:demo"
        );
    }

    #[test]
    fn moves_forward_check_every_stage_left() {
        let p = Pipeline::default();
        assert_eq!(
            p.direction("needs_confirmed", "quote_approval"),
            Ok(Direction::Forward { gates: vec![0, 1] })
        );
        assert_eq!(
            p.direction("quote_approval", "needs_confirmed"),
            Ok(Direction::Backward)
        );
        assert!(p.direction("quote_approval", "quote_approval").is_err());
        assert!(p.direction("quote_approval", "nirvana").is_err());
    }

    #[test]
    fn unmet_lists_exactly_what_is_missing() {
        let p = Pipeline::default();
        let mut f = facts();
        f.activities.push(("needs_discovery".into(), false));
        f.activities.push(("demo".into(), false));
        let missing: Vec<String> = p
            .unmet(&[0, 1], &f)
            .into_iter()
            .map(|m| m.requirement)
            .collect();
        assert_eq!(
            missing,
            vec![
                "contact_role:decision_maker",
                "field:amount_cents",
                "activity:demo"
            ]
        );
        f.contact_roles.push("decision_maker".into());
        f.fields.push(GateField::AmountCents);
        f.activities.push(("demo".into(), true));
        assert!(p.unmet(&[0, 1], &f).is_empty());
        assert_eq!(p.unmet(&[3], &f)[0].requirement, "contract_signed");
    }

    #[test]
    fn stall_threshold_uses_history_then_defaults() {
        let mut p = Pipeline {
            default_stage_mean_secs: 100,
            ..Pipeline::default()
        };
        let s = p.stages[0].clone();
        assert_eq!(p.stall_after_secs(&s, None), 130);
        assert_eq!(p.stall_after_secs(&s, Some(1000.0)), 1300);
        p.stages[0].default_mean_secs = Some(10);
        assert_eq!(p.stall_after_secs(&p.stages[0], None), 13);
    }

    #[test]
    fn forecast_sums_exactly_and_rounds_once() {
        let deal = |group: &str, amount, probability| ForecastDeal {
            group: group.into(),
            currency: "CNY".into(),
            amount_cents: amount,
            probability,
        };
        // 3 × 0.5 cent would drift to 3 cents if each deal were rounded first.
        let deals = vec![
            deal("a", 5, 10),
            deal("a", 5, 10),
            deal("a", 5, 10),
            deal("b", 100_000_000, 30),
            deal("b", 1, 50),
        ];
        let (groups, totals) = forecast(&deals);
        assert_eq!(groups[0].key, "a");
        assert_eq!(
            (groups[0].unweighted_cents, groups[0].weighted_cents),
            (15, 2)
        );
        assert_eq!((groups[1].deals, groups[1].weighted_cents), (2, 30_000_001));
        assert_eq!(totals[0].weighted_cents, 30_000_002);
        assert_eq!(totals[0].unweighted_cents, 100_000_016);
    }
}
