//! The arithmetic of the reports (DESIGN §1.12): percentiles by nearest rank, rates as
//! fractions, means of millisecond sums in seconds, and the digest's schedule. The figures
//! themselves are aggregated in SQL (`store::reports`); this is what turns them into
//! answers, so that every definition is in one place and unit-tested.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};

/// The 1-based rank of the `p`-th percentile (0 < p ≤ 1) of `n` sorted values by the
/// nearest-rank method: the smallest value with at least `p`·n values at or below it.
/// `None` for no values.
pub fn nearest_rank(n: i64, p: f64) -> Option<i64> {
    if n <= 0 {
        return None;
    }
    // Exact for the percentages used here (integer permille), no float drift at 0.5·4.
    let permille = (p * 1000.0).round() as i64;
    Some(((n * permille + 999) / 1000).clamp(1, n))
}

/// `num / den` as a fraction 0–1, `None` when nothing was counted.
pub fn rate(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The mean of a sum of milliseconds over `count` values, in whole seconds (rounded half
/// away from zero); `None` for no values.
pub fn mean_secs(sum_ms: i64, count: i64) -> Option<i64> {
    (count > 0).then(|| (sum_ms as f64 / count as f64 / 1000.0).round() as i64)
}

/// Activities per touched lead per 30 days: `activities / leads`, scaled from the length of
/// the period to 30 days.
pub fn trace_density(activities: i64, leads: i64, period_ms: i64) -> Option<f64> {
    if leads <= 0 || period_ms <= 0 {
        return None;
    }
    let per_lead = activities as f64 / leads as f64;
    Some(per_lead * (30.0 * 86_400_000.0) / period_ms as f64)
}

/// Σ amount × probability (percent) → cents, rounded half up once.
pub fn weighted_cents(amount_times_probability: i64) -> i64 {
    (amount_times_probability + 50).div_euclid(100)
}

/// The local day a digest is due for at `now`, if its time of day has come: the day at
/// `at` in `tz` that is not after `now`, as `YYYY-MM-DD`, with that instant.
pub fn digest_due<Tz: TimeZone>(
    now: DateTime<Utc>,
    tz: &Tz,
    at: NaiveTime,
) -> Option<(String, DateTime<Utc>)> {
    let local = now.with_timezone(tz);
    let day = local.date_naive();
    let due = tz
        .from_local_datetime(&day.and_time(at))
        .earliest()?
        .with_timezone(&Utc);
    (due <= now).then(|| (day.format("%Y-%m-%d").to_string(), due))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_the_documented_value() {
        // Values 10, 20, 30, 40: median rank 2 (20), p90 rank 4 (40).
        assert_eq!(nearest_rank(4, 0.5), Some(2));
        assert_eq!(nearest_rank(4, 0.9), Some(4));
        // Five values: median is the third, p90 the fifth.
        assert_eq!(nearest_rank(5, 0.5), Some(3));
        assert_eq!(nearest_rank(5, 0.9), Some(5));
        assert_eq!(nearest_rank(10, 0.9), Some(9));
        assert_eq!(nearest_rank(1, 0.5), Some(1));
        assert_eq!(nearest_rank(0, 0.5), None);
    }

    #[test]
    fn rates_and_means() {
        assert_eq!(rate(1, 4), Some(0.25));
        assert_eq!(rate(0, 0), None);
        assert_eq!(mean_secs(3_000, 2), Some(2));
        assert_eq!(mean_secs(-3_000, 2), Some(-2));
        assert_eq!(mean_secs(0, 0), None);
        assert_eq!(weighted_cents(1_000 * 30 + 10 * 15), 302);
        assert_eq!(weighted_cents(150), 2);
    }

    #[test]
    fn trace_density_is_per_thirty_days() {
        let ten_days = 10 * 86_400_000;
        assert_eq!(trace_density(6, 2, ten_days), Some(9.0));
        assert_eq!(trace_density(6, 0, ten_days), None);
    }

    #[test]
    fn the_digest_is_due_from_its_local_time_on() {
        let tz = chrono_tz::Asia::Shanghai;
        let at = NaiveTime::from_hms_opt(8, 30, 0).unwrap();
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // 08:29 Shanghai = 00:29 UTC.
        assert_eq!(digest_due(t("2026-11-24T00:29:00Z"), &tz, at), None);
        let (day, due) = digest_due(t("2026-11-24T00:31:00Z"), &tz, at).unwrap();
        assert_eq!(day, "2026-11-24");
        assert_eq!(due, t("2026-11-24T00:30:00Z"));
        // 23:00 UTC is already the next local day, before its 08:30.
        assert_eq!(digest_due(t("2026-11-24T23:00:00Z"), &tz, at), None);
    }
}
