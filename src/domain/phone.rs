//! Phone numbers, normalised so that the same line is stored the same way however it was
//! typed: `+86 138-0013-8000`, `0086 13800138000` and `138 0013 8000` are all `13800138000`.

/// A normalised phone number: mainland numbers as bare digits (mobiles 11 digits, landlines
/// with their area code), other countries as `+<digits>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses and normalises; rejects anything that is not 5–20 digits after stripping
    /// separators (spaces, `-`, `.`, `()`, full-width forms) and the China country code.
    pub fn parse(raw: &str) -> Result<PhoneNumber, String> {
        let mut plus = false;
        let mut digits = String::new();
        for (i, c) in raw.trim().chars().enumerate() {
            let c = crate::domain::company::to_half_width(c);
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{3000}' => {}
                _ => return Err(format!("unexpected character `{c}` in phone number")),
            }
        }
        if !plus && digits.starts_with("00") {
            digits.drain(..2);
            plus = true;
        }
        let normalised = if plus {
            match digits.strip_prefix("86") {
                // Mobiles are dialled as is; landlines domestically with the trunk 0.
                Some(rest) if rest.starts_with('1') || rest.starts_with('0') => rest.to_string(),
                Some(rest) => format!("0{rest}"),
                None => format!("+{digits}"),
            }
        } else if digits.len() == 13 && digits.starts_with("861") {
            digits[2..].to_string()
        } else {
            digits
        };
        let count = normalised.trim_start_matches('+').len();
        if !(5..=20).contains(&count) {
            return Err("a phone number has 5 to 20 digits".into());
        }
        if !normalised.starts_with('+') && normalised.starts_with('1') && normalised.len() != 11 {
            return Err("a mainland mobile number has 11 digits".into());
        }
        Ok(PhoneNumber(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::PhoneNumber;

    fn norm(s: &str) -> String {
        PhoneNumber::parse(s).unwrap().into_string()
    }

    #[test]
    fn a_mainland_mobile_typed_with_country_code_and_dashes_is_bare_digits() {
        assert_eq!(norm("+86 138-0013-8000"), "13800138000");
        assert_eq!(norm("0086 138 0013 8000"), "13800138000");
        assert_eq!(norm("8613800138000"), "13800138000");
        assert_eq!(norm("138.0013.8000"), "13800138000");
        assert_eq!(norm("１３８００１３８０００"), "13800138000");
    }

    #[test]
    fn a_landline_keeps_its_area_code() {
        assert_eq!(norm("0571-8888 6666"), "057188886666");
        assert_eq!(norm("(021) 6666-8888"), "02166668888");
        assert_eq!(norm("+86 512-6666-8888"), "051266668888");
    }

    #[test]
    fn a_foreign_number_keeps_its_country_code() {
        assert_eq!(norm("+1 (415) 555-0100"), "+14155550100");
    }

    #[test]
    fn letters_and_wrong_lengths_are_rejected() {
        assert!(PhoneNumber::parse("138-call-me").is_err());
        assert!(PhoneNumber::parse("123").is_err());
        assert!(PhoneNumber::parse("1380013800").is_err());
        assert!(PhoneNumber::parse("").is_err());
    }
}
