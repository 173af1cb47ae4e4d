//! Company names reduced to a matching key: `苏州恒锐精工有限公司`, `苏州恒锐精工` and
//! `苏州 恒锐精工（有限公司）` share the key `苏州恒锐精工`.

/// Legal-form and filler words that do not distinguish one company from another, taken
/// off the end of a name (punctuation already removed), longest first.
const SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团",
    "股份",
    "科技",
    "coltd",
    "ltd",
    "inc",
    "corporation",
    "corp",
    "limited",
    "company",
];

/// Full-width ASCII forms (`Ａ`, `１`, `（`) and the ideographic space to their half-width forms.
pub fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// The matching key of a company name: half-width, lower-case, without `(中国)`,
/// punctuation, spaces and trailing legal-form words. Never strips a name to nothing.
pub fn company_key(name: &str) -> String {
    let s: String = name
        .chars()
        .map(to_half_width)
        .collect::<String>()
        .to_lowercase()
        .replace("(中国)", "");
    let mut key: String = s.chars().filter(|c| c.is_alphanumeric()).collect();
    loop {
        let stripped = SUFFIXES
            .iter()
            .find_map(|suffix| key.strip_suffix(suffix))
            .filter(|rest| !rest.is_empty());
        match stripped {
            Some(rest) => key = rest.to_string(),
            None => return key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_forms_and_punctuation_do_not_change_the_key() {
        assert_eq!(company_key("苏州恒锐精工有限公司"), "苏州恒锐精工");
        assert_eq!(company_key("苏州恒锐精工"), "苏州恒锐精工");
        assert_eq!(
            company_key("苏州 恒锐精工（中国）有限责任公司"),
            "苏州恒锐精工"
        );
        assert_eq!(company_key("杭州新锐科技股份有限公司"), "杭州新锐");
    }

    #[test]
    fn full_width_latin_is_folded() {
        assert_eq!(company_key("ＡＢＣ Co., Ltd."), "abc");
        assert_eq!(to_half_width('１'), '1');
    }

    #[test]
    fn legal_words_inside_a_name_are_kept() {
        assert_eq!(company_key("Zinc Mining Ltd"), "zincmining");
        assert_eq!(company_key("集团"), "集团");
    }
}
