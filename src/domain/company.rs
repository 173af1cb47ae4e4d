//! Company names reduced to a matching key: `苏州恒锐精工有限公司`, `苏州恒锐精工` and
//! `苏州 恒锐精工（有限公司）` share the key `苏州恒锐精工`.

/// Legal-form and filler words that do not distinguish one company from another, longest
/// first so that `有限责任公司` is removed before `有限公司`.
const SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "(中国)",
    "集团",
    "股份",
    "科技",
    "co.,ltd",
    "co.ltd",
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

/// The matching key of a company name: half-width, lower-case, without legal-form words,
/// punctuation or spaces. Empty when nothing distinctive is left.
pub fn company_key(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(to_half_width)
        .collect::<String>()
        .to_lowercase();
    for suffix in SUFFIXES {
        s = s.replace(suffix, "");
    }
    s.chars().filter(|c| c.is_alphanumeric()).collect()
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
}
