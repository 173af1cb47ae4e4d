//! Instants: stored as epoch milliseconds, shown as RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// RFC 3339 with millisecond precision and a `Z` suffix.
pub fn rfc3339(ms: i64) -> String {
    from_millis(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_render_as_utc_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(to_millis(from_millis(1_795_000_000_123)), 1_795_000_000_123);
    }
}
