//! 统一社会信用代码 (unified social credit code): 18 characters from a 31-symbol alphabet
//! with a GB 32100-2015 check character.

const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A valid, normalised (upper-case, half-width, no spaces) USCC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uscc(String);

impl Uscc {
    pub fn parse(raw: &str) -> Result<Uscc, String> {
        let s: String = raw
            .chars()
            .map(crate::domain::company::to_half_width)
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase();
        if s.chars().count() != 18 {
            return Err("a unified social credit code has 18 characters".into());
        }
        let mut values = Vec::with_capacity(18);
        for c in s.chars() {
            match ALPHABET.find(c) {
                Some(v) => values.push(v as u32),
                None => {
                    return Err(format!(
                        "`{c}` cannot appear in a unified social credit code"
                    ))
                }
            }
        }
        if check_value(&values[..17]) != values[17] {
            return Err("the check character of the unified social credit code is wrong".into());
        }
        Ok(Uscc(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// GB 32100 check value of the first 17 characters: 31 − (Σ value × weight mod 31), 31 → 0.
fn check_value(values: &[u32]) -> u32 {
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    (31 - sum % 31) % 31
}

/// Completes 17 characters with their check character (demo data and tests).
pub fn with_check_char(first17: &str) -> String {
    let values: Vec<u32> = first17
        .chars()
        .map(|c| ALPHABET.find(c).expect("USCC alphabet") as u32)
        .collect();
    let check = ALPHABET
        .chars()
        .nth(check_value(&values) as usize)
        .expect("check value < 31");
    format!("{first17}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_code_passes_its_check() {
        assert_eq!(
            Uscc::parse("91350100M000100Y43").unwrap().as_str(),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn lower_case_full_width_and_spaces_are_normalised() {
        assert_eq!(
            Uscc::parse(" 91350100m000100y43 ").unwrap().as_str(),
            "91350100M000100Y43"
        );
        assert_eq!(
            Uscc::parse("９１350100M000100Y43").unwrap().as_str(),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn a_wrong_check_character_is_rejected() {
        assert!(Uscc::parse("91350100M000100Y44").is_err());
    }

    #[test]
    fn letters_outside_the_alphabet_and_wrong_lengths_are_rejected() {
        assert!(Uscc::parse("91350100M000100I43").is_err());
        assert!(Uscc::parse("91350100M000100Y4").is_err());
    }

    #[test]
    fn with_check_char_makes_valid_codes() {
        let code = with_check_char("91330100MA2AAAAA1");
        assert!(Uscc::parse(&code).is_ok());
    }
}
