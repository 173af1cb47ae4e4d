//! Picking a rep for a lead (DESIGN §1.2): eligibility (active, below capacity, not one who
//! let this lead lapse, below the rule's max load ratio when anyone is) and the four
//! strategies. Every candidate is reported with its load and why it was or was not eligible.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::conditions::lookup;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    RoundRobin,
    LeastLoaded,
    SkillMatch,
    TopPerformers,
}

/// A rep of a rule's pool as the picker sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rep {
    pub id: String,
    pub active: bool,
    pub capacity: i32,
    /// Open leads (assigned + working).
    pub open: i64,
    pub skills: Vec<String>,
    pub industries: Vec<String>,
    pub regions: Vec<String>,
    /// Won amount in the last 90 days, or conversions while contracts do not exist.
    pub performance: i64,
}

impl Rep {
    pub fn load(&self) -> f64 {
        if self.capacity <= 0 {
            1.0
        } else {
            self.open as f64 / self.capacity as f64
        }
    }
}

/// One candidate considered, as recorded on the lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CandidateReport {
    pub user_id: String,
    /// Open leads / capacity.
    pub load: f64,
    pub open: i64,
    pub capacity: i32,
    pub eligible: bool,
    pub reason: String,
}

/// The outcome of a pick.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub chosen: Option<String>,
    pub reason: String,
    pub candidates: Vec<CandidateReport>,
}

/// What a pick depends on.
pub struct PickInput<'a> {
    pub strategy: Strategy,
    pub reps: &'a [Rep],
    /// Reps who already let this lead lapse: never picked again.
    pub excluded: &'a [String],
    pub max_load_ratio: Option<f64>,
    pub top_n: Option<usize>,
    /// The last rep round robin gave a lead to.
    pub rr_cursor: Option<&'a str>,
    pub lead: &'a Value,
}

fn least_loaded<'a>(reps: impl Iterator<Item = &'a Rep>) -> Option<&'a Rep> {
    reps.min_by(|a, b| {
        a.load()
            .total_cmp(&b.load())
            .then(a.open.cmp(&b.open))
            .then(a.id.cmp(&b.id))
    })
}

/// How well a rep's industries, regions and skills fit the lead (higher is better).
pub fn skill_overlap(rep: &Rep, lead: &Value) -> (i32, Vec<String>) {
    let text = |f: &str| {
        lookup(lead, f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (industry, province) = (text("industry"), text("province"));
    let haystack = format!(
        "{} {} {}",
        text("product_interest"),
        text("notes"),
        industry
    );
    let mut score = 0;
    let mut why = Vec::new();
    if !industry.is_empty() && rep.industries.contains(&industry) {
        score += 2;
        why.push(format!("industry {industry}"));
    }
    if !province.is_empty() && rep.regions.contains(&province) {
        score += 1;
        why.push(format!("region {province}"));
    }
    for s in &rep.skills {
        if !s.is_empty() && haystack.contains(s.as_str()) {
            score += 1;
            why.push(format!("skill {s}"));
        }
    }
    (score, why)
}

/// Picks a rep, reporting every candidate.
pub fn pick(input: &PickInput<'_>) -> Pick {
    let mut reports: Vec<CandidateReport> = input
        .reps
        .iter()
        .map(|r| {
            let reason = if !r.active {
                Some("inactive")
            } else if r.capacity <= 0 || r.open >= r.capacity as i64 {
                Some("at capacity")
            } else if input.excluded.contains(&r.id) {
                Some("let this lead lapse before")
            } else {
                None
            };
            CandidateReport {
                user_id: r.id.clone(),
                load: (r.load() * 1000.0).round() / 1000.0,
                open: r.open,
                capacity: r.capacity,
                eligible: reason.is_none(),
                reason: reason.unwrap_or("eligible").into(),
            }
        })
        .collect();
    if let Some(ratio) = input.max_load_ratio {
        let any_below = input
            .reps
            .iter()
            .zip(&reports)
            .any(|(r, c)| c.eligible && r.load() < ratio);
        if any_below {
            for (r, c) in input.reps.iter().zip(reports.iter_mut()) {
                if c.eligible && r.load() >= ratio {
                    c.eligible = false;
                    c.reason = format!("load at or above the max ratio {ratio}");
                }
            }
        }
    }
    let eligible: Vec<&Rep> = input
        .reps
        .iter()
        .zip(&reports)
        .filter(|(_, c)| c.eligible)
        .map(|(r, _)| r)
        .collect();
    if eligible.is_empty() {
        return Pick {
            chosen: None,
            reason: "no eligible candidate".into(),
            candidates: reports,
        };
    }
    let describe = |r: &Rep| format!("load {}/{}", r.open, r.capacity);
    let (chosen, reason) = match input.strategy {
        Strategy::RoundRobin => {
            let mut sorted = eligible.clone();
            sorted.sort_by(|a, b| a.id.cmp(&b.id));
            let next = input
                .rr_cursor
                .and_then(|c| sorted.iter().find(|r| r.id.as_str() > c))
                .or(sorted.first())
                .copied()
                .expect("eligible is not empty");
            (
                next,
                format!("round robin: next in turn ({})", describe(next)),
            )
        }
        Strategy::LeastLoaded => {
            let r = least_loaded(eligible.iter().copied()).expect("eligible is not empty");
            (r, format!("least loaded ({})", describe(r)))
        }
        Strategy::SkillMatch => {
            let best = eligible
                .iter()
                .map(|r| skill_overlap(r, input.lead).0)
                .max()
                .unwrap_or(0);
            let r = least_loaded(
                eligible
                    .iter()
                    .copied()
                    .filter(|r| skill_overlap(r, input.lead).0 == best),
            )
            .expect("some rep has the best overlap");
            let (_, why) = skill_overlap(r, input.lead);
            let matched = if why.is_empty() {
                "no overlap".to_string()
            } else {
                why.join(", ")
            };
            (
                r,
                format!(
                    "skill match: {matched}; least loaded among the best ({})",
                    describe(r)
                ),
            )
        }
        Strategy::TopPerformers => {
            let n = input.top_n.unwrap_or(3).max(1);
            let mut ranked = eligible.clone();
            ranked.sort_by(|a, b| b.performance.cmp(&a.performance).then(a.id.cmp(&b.id)));
            ranked.truncate(n);
            let r = least_loaded(ranked.iter().copied()).expect("ranked is not empty");
            (
                r,
                format!(
                    "top {n} performer ({} in 90 days); least loaded among them ({})",
                    r.performance,
                    describe(r)
                ),
            )
        }
    };
    Pick {
        chosen: Some(chosen.id.clone()),
        reason,
        candidates: reports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rep(id: &str, open: i64, capacity: i32) -> Rep {
        Rep {
            id: id.into(),
            active: true,
            capacity,
            open,
            skills: vec![],
            industries: vec![],
            regions: vec![],
            performance: 0,
        }
    }

    fn input<'a>(strategy: Strategy, reps: &'a [Rep], lead: &'a Value) -> PickInput<'a> {
        PickInput {
            strategy,
            reps,
            excluded: &[],
            max_load_ratio: None,
            top_n: None,
            rr_cursor: None,
            lead,
        }
    }

    #[test]
    fn round_robin_takes_the_next_rep_after_the_cursor_and_wraps() {
        let reps = [rep("a", 0, 5), rep("b", 0, 5), rep("c", 0, 5)];
        let lead = json!({});
        let mut i = input(Strategy::RoundRobin, &reps, &lead);
        assert_eq!(pick(&i).chosen.as_deref(), Some("a"));
        i.rr_cursor = Some("a");
        assert_eq!(pick(&i).chosen.as_deref(), Some("b"));
        i.rr_cursor = Some("c");
        assert_eq!(pick(&i).chosen.as_deref(), Some("a"));
    }

    #[test]
    fn least_loaded_compares_open_leads_to_capacity() {
        let reps = [rep("a", 5, 10), rep("b", 3, 4), rep("c", 2, 10)];
        let lead = json!({});
        let p = pick(&input(Strategy::LeastLoaded, &reps, &lead));
        assert_eq!(p.chosen.as_deref(), Some("c"));
        assert_eq!(p.candidates[1].load, 0.75);
    }

    #[test]
    fn reps_at_capacity_inactive_or_lapsed_are_never_picked() {
        let mut reps = [
            rep("a", 10, 10),
            rep("b", 0, 10),
            rep("c", 0, 10),
            rep("d", 1, 10),
        ];
        reps[1].active = false;
        let lead = json!({});
        let excluded = vec!["c".to_string()];
        let mut i = input(Strategy::LeastLoaded, &reps, &lead);
        i.excluded = &excluded;
        let p = pick(&i);
        assert_eq!(p.chosen.as_deref(), Some("d"));
        let reasons: Vec<&str> = p.candidates.iter().map(|c| c.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "at capacity",
                "inactive",
                "let this lead lapse before",
                "eligible"
            ]
        );
    }

    #[test]
    fn nobody_above_the_max_load_ratio_is_picked_while_someone_is_below() {
        let reps = [rep("a", 7, 10), rep("b", 6, 10)];
        let lead = json!({});
        let mut i = input(Strategy::RoundRobin, &reps, &lead);
        i.max_load_ratio = Some(0.65);
        assert_eq!(pick(&i).chosen.as_deref(), Some("b"));
        let full = [rep("a", 7, 10), rep("b", 8, 10)];
        i.reps = &full;
        assert_eq!(
            pick(&i).chosen.as_deref(),
            Some("a"),
            "when everyone is above, the ratio does not block"
        );
    }

    #[test]
    fn skill_match_prefers_overlap_then_load() {
        let mut reps = [rep("a", 0, 10), rep("b", 5, 10), rep("c", 1, 10)];
        reps[1].industries = vec!["医疗器械".into()];
        reps[1].skills = vec!["内窥镜".into()];
        reps[2].industries = vec!["医疗器械".into()];
        let lead = json!({"industry": "医疗器械", "product_interest": "内窥镜清洗"});
        let p = pick(&input(Strategy::SkillMatch, &reps, &lead));
        assert_eq!(p.chosen.as_deref(), Some("b"));
        assert!(p.reason.contains("skill 内窥镜"), "{}", p.reason);
    }

    #[test]
    fn top_performers_takes_the_least_loaded_of_the_top_n() {
        let mut reps = [
            rep("a", 5, 10),
            rep("b", 1, 10),
            rep("c", 3, 10),
            rep("d", 0, 10),
        ];
        reps[0].performance = 9;
        reps[1].performance = 1;
        reps[2].performance = 7;
        reps[3].performance = 0;
        let lead = json!({});
        let mut i = input(Strategy::TopPerformers, &reps, &lead);
        i.top_n = Some(2);
        assert_eq!(pick(&i).chosen.as_deref(), Some("c"));
    }

    #[test]
    fn an_empty_pool_picks_nobody_and_says_so() {
        let lead = json!({});
        let p = pick(&input(Strategy::LeastLoaded, &[], &lead));
        assert_eq!(
            (p.chosen, p.reason.as_str()),
            (None, "no eligible candidate")
        );
    }
}
