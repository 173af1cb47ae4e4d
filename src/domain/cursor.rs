//! Opaque list cursors: the sort key of the last item returned, base64url-encoded so that
//! callers treat it as a token rather than something to construct.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Default and maximum page sizes of every list (DESIGN §3).
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

pub fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The sort key inside a cursor; `None` when the cursor was not made by [`encode`].
pub fn decode(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.as_bytes()).ok()?;
    let key = String::from_utf8(bytes).ok()?;
    (!key.is_empty() && key.len() <= 200).then_some(key)
}

/// Clamps a requested page size; `Err` for values outside 1..=500.
pub fn limit(requested: Option<i64>) -> Result<i64, String> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(format!("limit must be between 1 and {MAX_LIMIT}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips() {
        let key = "0192f3a4-0000-7000-8000-000000000001";
        assert_eq!(decode(&encode(key)).as_deref(), Some(key));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        assert_eq!(decode("!!!"), None);
        assert_eq!(decode(""), None);
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        assert_eq!(limit(None), Ok(50));
        assert_eq!(limit(Some(500)), Ok(500));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(501)).is_err());
    }
}
