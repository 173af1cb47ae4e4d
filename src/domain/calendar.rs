//! Business calendars (DESIGN §1.3): SLA clocks that count working time only — weekly
//! working hours in a time zone, public holidays off, make-up workdays (调休) on.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Working hours on some weekdays (1 = Monday … 7 = Sunday), local time, `HH:MM`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}))]
pub struct Hours {
    pub days: Vec<u32>,
    pub start: String,
    pub end: String,
}

/// A parsed, valid calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    /// Windows per weekday index 0 (Mon) … 6 (Sun), sorted.
    week: [Vec<(NaiveTime, NaiveTime)>; 7],
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .ok()
        .or_else(|| (s == "24:00").then_some(NaiveTime::MIN))
}

impl Calendar {
    /// Parses and validates; errors are `(field, message)`.
    pub fn parse(
        time_zone: &str,
        hours: &[Hours],
        holidays: &[NaiveDate],
        workdays: &[NaiveDate],
    ) -> Result<Calendar, Vec<(String, String)>> {
        let mut errs = Vec::new();
        let tz: Option<Tz> = time_zone.parse().ok();
        if tz.is_none() {
            errs.push((
                "time_zone".to_string(),
                "an IANA time zone such as Asia/Shanghai".to_string(),
            ));
        }
        let mut week: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        if hours.is_empty() {
            errs.push((
                "hours".into(),
                "at least one window of working hours".into(),
            ));
        }
        for (i, h) in hours.iter().enumerate() {
            let (start, end) = (parse_time(&h.start), parse_time(&h.end));
            let end = end.map(|e| {
                if e == NaiveTime::MIN {
                    NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(e)
                } else {
                    e
                }
            });
            match (start, end) {
                (Some(s), Some(e)) if s < e => {
                    if h.days.is_empty() || h.days.iter().any(|d| !(1..=7).contains(d)) {
                        errs.push((
                            format!("hours[{i}].days"),
                            "weekdays 1 (Monday) to 7 (Sunday)".into(),
                        ));
                    }
                    for d in &h.days {
                        if (1..=7).contains(d) {
                            week[(*d - 1) as usize].push((s, e));
                        }
                    }
                }
                _ => errs.push((
                    format!("hours[{i}]"),
                    "`start` before `end`, both HH:MM".into(),
                )),
            }
        }
        for day in week.iter_mut() {
            day.sort();
            if day.windows(2).any(|w| w[0].1 > w[1].0) {
                errs.push(("hours".into(), "windows of one day must not overlap".into()));
                break;
            }
        }
        let holidays: BTreeSet<NaiveDate> = holidays.iter().copied().collect();
        let workdays: BTreeSet<NaiveDate> = workdays.iter().copied().collect();
        if holidays.intersection(&workdays).next().is_some() {
            errs.push((
                "workdays".into(),
                "a date cannot be both a holiday and a make-up workday".into(),
            ));
        }
        match (tz, errs.is_empty()) {
            (Some(tz), true) => Ok(Calendar {
                tz,
                week,
                holidays,
                workdays,
            }),
            _ => Err(errs),
        }
    }

    /// The working windows of a local date: none on holidays; a make-up workday works the
    /// hours of a Monday.
    fn windows(&self, date: NaiveDate) -> &[(NaiveTime, NaiveTime)] {
        if self.holidays.contains(&date) {
            &[]
        } else if self.workdays.contains(&date) {
            &self.week[0]
        } else {
            &self.week[date.weekday().num_days_from_monday() as usize]
        }
    }

    /// A local wall time as an instant (the later side of a DST gap, the earlier of a fold).
    fn instant(&self, date: NaiveDate, t: NaiveTime) -> DateTime<Utc> {
        let naive = date.and_time(t);
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(d) => d.with_timezone(&Utc),
            LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            LocalResult::None => {
                let later = naive + Duration::hours(1);
                self.tz
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|d| d.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
            }
        }
    }

    /// The instant when `secs` seconds of working time have passed after `start`.
    pub fn due_after(&self, start: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        if secs <= 0 {
            return start;
        }
        let mut remaining = Duration::seconds(secs.max(0));
        let mut date = start.with_timezone(&self.tz).date_naive();
        // Ten years of dates without a working minute cannot happen with a valid calendar.
        for _ in 0..3660 {
            for (s, e) in self.windows(date) {
                let (ws, we) = (self.instant(date, *s), self.instant(date, *e));
                let from = ws.max(start);
                if from >= we {
                    continue;
                }
                let available = we - from;
                if remaining <= available {
                    return from + remaining;
                }
                remaining -= available;
            }
            date = date.succ_opt().unwrap_or(date);
        }
        start + Duration::seconds(secs)
    }
}

/// `due_after` on a calendar, or wall time without one (24/7).
pub fn due(calendar: Option<&Calendar>, start: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    match calendar {
        Some(c) => c.due_after(start, secs),
        None => start + Duration::seconds(secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(tz: &str) -> Calendar {
        let hours = [Hours {
            days: vec![1, 2, 3, 4, 5],
            start: "09:00".into(),
            end: "18:00".into(),
        }];
        Calendar::parse(tz, &hours, &[], &[]).unwrap()
    }

    fn china_2026() -> Calendar {
        let data: serde_json::Value =
            serde_json::from_str(include_str!("../../data/cn-holidays-2026.json")).unwrap();
        let dates = |k: &str| -> Vec<NaiveDate> {
            data[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["date"].as_str().unwrap().parse().unwrap())
                .collect()
        };
        let hours = [Hours {
            days: vec![1, 2, 3, 4, 5],
            start: "09:00".into(),
            end: "18:00".into(),
        }];
        Calendar::parse(
            "Asia/Shanghai",
            &hours,
            &dates("holidays"),
            &dates("makeup_workdays"),
        )
        .unwrap()
    }

    /// A local wall time in `tz` → UTC.
    fn at(tz: Tz, s: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        tz.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
    }

    fn sh(s: &str) -> DateTime<Utc> {
        at(chrono_tz::Asia::Shanghai, s)
    }

    const H2: i64 = 7200;

    #[test]
    fn a_friday_night_lead_with_a_two_hour_window_is_due_monday_eleven() {
        assert_eq!(
            office("Asia/Shanghai").due_after(sh("2026-11-20 23:00"), H2),
            sh("2026-11-23 11:00")
        );
    }

    #[test]
    fn time_inside_hours_counts_straight_and_overnight_carries_over() {
        let c = office("Asia/Shanghai");
        assert_eq!(
            c.due_after(sh("2026-11-23 10:00"), H2),
            sh("2026-11-23 12:00")
        );
        assert_eq!(
            c.due_after(sh("2026-11-23 17:00"), H2),
            sh("2026-11-24 10:00")
        );
        assert_eq!(
            c.due_after(sh("2026-11-23 07:00"), H2),
            sh("2026-11-23 11:00")
        );
        assert_eq!(
            c.due_after(sh("2026-11-23 18:00"), 0),
            sh("2026-11-23 18:00")
        );
    }

    #[test]
    fn a_weekend_is_skipped() {
        let c = office("Asia/Shanghai");
        assert_eq!(
            c.due_after(sh("2026-11-21 12:00"), H2),
            sh("2026-11-23 11:00")
        );
        assert_eq!(
            c.due_after(sh("2026-11-20 17:30"), H2),
            sh("2026-11-23 10:30")
        );
    }

    #[test]
    fn public_holidays_are_skipped_and_make_up_workdays_count() {
        let c = china_2026();
        // National Day 1–7 October; the 8th (Thursday) is a workday.
        assert_eq!(
            c.due_after(sh("2026-09-30 17:00"), H2),
            sh("2026-10-08 10:00")
        );
        // Saturday 10 October is a make-up workday.
        assert_eq!(
            c.due_after(sh("2026-10-09 17:00"), H2),
            sh("2026-10-10 10:00")
        );
        // Sunday 20 September and Saturday 14 February are make-up workdays.
        assert_eq!(
            c.due_after(sh("2026-09-19 12:00"), H2),
            sh("2026-09-20 11:00")
        );
        assert_eq!(
            c.due_after(sh("2026-02-13 17:00"), H2),
            sh("2026-02-14 10:00")
        );
        // Spring Festival: Monday 16 February is off; work resumes on the 24th.
        assert_eq!(
            c.due_after(sh("2026-02-14 17:30"), H2),
            sh("2026-02-24 10:30")
        );
    }

    #[test]
    fn split_days_count_only_their_windows() {
        let hours = [
            Hours {
                days: vec![1, 2, 3, 4, 5],
                start: "09:00".into(),
                end: "12:00".into(),
            },
            Hours {
                days: vec![1, 2, 3, 4, 5],
                start: "13:00".into(),
                end: "18:00".into(),
            },
        ];
        let c = Calendar::parse("Asia/Shanghai", &hours, &[], &[]).unwrap();
        assert_eq!(
            c.due_after(sh("2026-11-23 11:00"), H2),
            sh("2026-11-23 14:00")
        );
    }

    #[test]
    fn daylight_saving_changes_shift_the_utc_due_time() {
        let c = office("Europe/Berlin");
        let berlin = |s: &str| at(chrono_tz::Europe::Berlin, s);
        // Summer time starts on Sunday 29 March 2026: Friday 17:00 CET + 2 h → Monday 10:00 CEST.
        let due = c.due_after(berlin("2026-03-27 17:00"), H2);
        assert_eq!(due, berlin("2026-03-30 10:00"));
        assert_eq!(
            due.format("%H:%M").to_string(),
            "08:00",
            "10:00 CEST is 08:00 UTC"
        );
        // Before the change the same local time was 09:00 UTC.
        assert_eq!(
            c.due_after(berlin("2026-03-20 17:00"), H2)
                .format("%H:%M")
                .to_string(),
            "09:00"
        );
    }

    #[test]
    fn a_zone_without_dst_keeps_a_fixed_offset_all_year() {
        let c = office("Asia/Shanghai");
        assert_eq!(
            c.due_after(sh("2026-07-06 09:00"), 3600)
                .format("%H:%M")
                .to_string(),
            "02:00"
        );
        assert_eq!(
            c.due_after(sh("2026-12-07 09:00"), 3600)
                .format("%H:%M")
                .to_string(),
            "02:00"
        );
    }

    #[test]
    fn without_a_calendar_time_is_wall_time() {
        assert_eq!(
            due(None, sh("2026-11-20 23:00"), H2),
            sh("2026-11-21 01:00")
        );
    }

    #[test]
    fn invalid_calendars_are_refused() {
        let bad = [Hours {
            days: vec![0, 8],
            start: "18:00".into(),
            end: "09:00".into(),
        }];
        let errs = Calendar::parse("Mars/Olympus", &bad, &[], &[]).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, vec!["time_zone", "hours[0]"]);
        let d: NaiveDate = "2026-10-01".parse().unwrap();
        assert!(Calendar::parse("Asia/Shanghai", &[], &[d], &[d]).is_err());
    }
}
