//! Renewal signals: the rules that tell an account owner an installed base needs a
//! conversation (repeated repairs, a contract or warranty running out), and the period
//! each signal belongs to so it is raised once per reason per period.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a signal was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalReason {
    /// An asset had at least `min_orders` repair work orders within `within_secs`.
    RepeatRepairs,
    /// A contract's `end_date` is within `contract_ending_within_secs`.
    ContractEnding,
    /// An asset's `warranty_until` is within `warranty_expiring_within_secs`.
    WarrantyExpiring,
}

impl SignalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalReason::RepeatRepairs => "repeat_repairs",
            SignalReason::ContractEnding => "contract_ending",
            SignalReason::WarrantyExpiring => "warranty_expiring",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatRepairs {
    /// At least this many repair work orders on one asset…
    pub min_orders: i64,
    /// …created within this many seconds.
    pub within_secs: i64,
}

/// The renewal rules (`GET/PUT /config/renewal-signals`); a rule set to `null` is off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"repeat_repairs": {"min_orders": 3, "within_secs": 7776000},
    "contract_ending_within_secs": 5184000, "warranty_expiring_within_secs": 5184000}))]
pub struct RenewalRules {
    pub repeat_repairs: Option<RepeatRepairs>,
    pub contract_ending_within_secs: Option<i64>,
    pub warranty_expiring_within_secs: Option<i64>,
}

const DAY: i64 = 86_400;
/// Windows longer than ten years are a typing mistake.
const MAX_WINDOW: i64 = 3650 * DAY;

impl Default for RenewalRules {
    /// Three repairs in 90 days; contracts and warranties 60 days ahead.
    fn default() -> Self {
        RenewalRules {
            repeat_repairs: Some(RepeatRepairs {
                min_orders: 3,
                within_secs: 90 * DAY,
            }),
            contract_ending_within_secs: Some(60 * DAY),
            warranty_expiring_within_secs: Some(60 * DAY),
        }
    }
}

impl RenewalRules {
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let window = |field: &str, v: i64, out: &mut Vec<(String, String)>| {
            if !(DAY..=MAX_WINDOW).contains(&v) {
                out.push((field.into(), "between 86400 (a day) and ten years".into()));
            }
        };
        if let Some(r) = &self.repeat_repairs {
            if !(2..=100).contains(&r.min_orders) {
                out.push((
                    "repeat_repairs.min_orders".into(),
                    "between 2 and 100".into(),
                ));
            }
            window("repeat_repairs.within_secs", r.within_secs, &mut out);
        }
        if let Some(v) = self.contract_ending_within_secs {
            window("contract_ending_within_secs", v, &mut out);
        }
        if let Some(v) = self.warranty_expiring_within_secs {
            window("warranty_expiring_within_secs", v, &mut out);
        }
        out
    }
}

/// The last day a date-based rule looks ahead to from `today`.
pub fn horizon(today: NaiveDate, within_secs: i64) -> NaiveDate {
    today + Duration::days(within_secs / DAY)
}

/// The repeat-repair period `now` falls in: consecutive windows of `within_secs` since the
/// epoch, so an asset that keeps breaking is signalled again in the next window.
pub fn repair_period(now_ms: i64, within_secs: i64) -> String {
    let w = within_secs.max(1) * 1000;
    format!("w{}", now_ms.div_euclid(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_windows_are_named() {
        assert!(RenewalRules::default().problems().is_empty());
        let r = RenewalRules {
            repeat_repairs: Some(RepeatRepairs {
                min_orders: 1,
                within_secs: 60,
            }),
            contract_ending_within_secs: Some(0),
            warranty_expiring_within_secs: None,
        };
        let fields: Vec<String> = r.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "repeat_repairs.min_orders",
                "repeat_repairs.within_secs",
                "contract_ending_within_secs"
            ]
        );
    }

    #[test]
    fn horizons_count_whole_days() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            horizon(d, 60 * DAY + 3600),
            NaiveDate::from_ymd_opt(2027, 1, 22).unwrap()
        );
    }

    #[test]
    fn repair_periods_change_once_per_window() {
        let w = 90 * DAY;
        let start = 20_000 * w * 1000;
        assert_eq!(
            repair_period(start, w),
            repair_period(start + w * 1000 - 1, w)
        );
        assert_ne!(repair_period(start, w), repair_period(start + w * 1000, w));
    }
}
