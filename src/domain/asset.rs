//! The installed base: serial numbers, asset status and warranty coverage.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a delivered unit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    Active,
    InRepair,
    Retired,
}

impl AssetStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::Active => "active",
            AssetStatus::InRepair => "in_repair",
            AssetStatus::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<AssetStatus> {
        [
            AssetStatus::Active,
            AssetStatus::InRepair,
            AssetStatus::Retired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A serial number as stored and matched: trimmed, upper-case, 1–64 characters of letters,
/// digits and `-_./`.
pub fn normalize_serial(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim().to_uppercase();
    if s.is_empty() || s.chars().count() > 64 {
        return Err("1–64 characters");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return Err("letters, digits and - _ . / only");
    }
    Ok(s)
}

/// The calendar day an instant falls on in the company's zone.
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The last covered day of a warranty of `secs` starting at installation.
pub fn warranty_until(installed_at: DateTime<Utc>, secs: i64, tz: Tz) -> NaiveDate {
    local_day(installed_at + Duration::seconds(secs), tz)
}

/// Whether a warranty covers `day`; unknown without a warranty end.
pub fn covers(warranty_until: Option<NaiveDate>, day: NaiveDate) -> Option<bool> {
    warranty_until.map(|w| day <= w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serials_are_trimmed_upper_cased_and_checked() {
        assert_eq!(
            normalize_serial("  qm-endo-1/0042 ").as_deref(),
            Ok("QM-ENDO-1/0042")
        );
        assert!(normalize_serial("").is_err());
        assert!(normalize_serial("QM 0042").is_err());
        assert!(normalize_serial(&"A".repeat(65)).is_err());
    }

    #[test]
    fn days_begin_in_the_company_zone() {
        // 2026-11-23 17:00 UTC is already the 24th in Shanghai.
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            local_day(at, tz),
            NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
        );
        assert_eq!(
            warranty_until(at, 365 * 86_400, tz),
            NaiveDate::from_ymd_opt(2027, 11, 24).unwrap()
        );
    }

    #[test]
    fn coverage_includes_the_last_day() {
        let w = NaiveDate::from_ymd_opt(2027, 1, 31);
        assert_eq!(
            covers(w, NaiveDate::from_ymd_opt(2027, 1, 31).unwrap()),
            Some(true)
        );
        assert_eq!(
            covers(w, NaiveDate::from_ymd_opt(2027, 2, 1).unwrap()),
            Some(false)
        );
        assert_eq!(
            covers(None, NaiveDate::from_ymd_opt(2027, 2, 1).unwrap()),
            None
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            AssetStatus::Active,
            AssetStatus::InRepair,
            AssetStatus::Retired,
        ] {
            assert_eq!(AssetStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(AssetStatus::parse("lost"), None);
    }
}
