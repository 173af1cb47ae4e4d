//! Money is integer minor units (`*_cents`, 分) plus an ISO 4217 currency code.

/// The currency when none is given.
pub const DEFAULT_CURRENCY: &str = "CNY";

/// A three-letter upper-case currency code.
pub fn parse_currency(raw: &str) -> Result<String, String> {
    let c = raw.trim().to_uppercase();
    if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err("a currency is a three-letter ISO 4217 code such as CNY".into())
    }
}

/// A non-negative amount in minor units.
pub fn parse_amount(cents: i64) -> Result<i64, String> {
    if cents < 0 {
        Err("an amount cannot be negative".into())
    } else {
        Ok(cents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_three_letters() {
        assert_eq!(parse_currency("cny").unwrap(), "CNY");
        assert!(parse_currency("RMB1").is_err());
        assert!(parse_currency("元").is_err());
    }

    #[test]
    fn negative_amounts_are_refused() {
        assert!(parse_amount(-1).is_err());
        assert_eq!(parse_amount(0), Ok(0));
    }
}
