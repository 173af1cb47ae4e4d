//! Duplicate matching (DESIGN §1.6). Keys: the same normalised phone; phone + similar
//! company; the same e-mail; the same company e-mail domain + similar company; a similar
//! company name. Company names are compared on their keys (`company::company_key`) with
//! Jaro-Winkler similarity; ≥ 0.85 counts as similar. Candidates are only ever fetched
//! through indexed keys (phone, e-mail, e-mail domain, and the blocking key below).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Company-name similarity from which two names count as the same company.
pub const SIMILARITY_THRESHOLD: f64 = 0.85;

/// Fields compared to show how two leads differ.
const COMPARED: &[&str] = &[
    "name", "company", "phone", "email", "title", "province", "city", "industry",
];

/// The blocking key of a company key: its first two characters. Similar names almost
/// always share it (the city or brand comes first in Chinese names), and it is indexed.
pub fn block_key(company_key: &str) -> Option<String> {
    let b: String = company_key.chars().take(2).collect();
    (b.chars().count() == 2).then_some(b)
}

/// Jaro-Winkler similarity of two company keys (0–1).
pub fn company_similarity(a: &str, b: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        0.0
    } else {
        strsim::jaro_winkler(a, b)
    }
}

/// The matching keys of one lead (normalised) and its fields for the differences.
#[derive(Debug, Clone)]
pub struct Keys {
    pub id: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Only a company domain (public mailbox domains are left out).
    pub email_domain: Option<String>,
    pub company_key: Option<String>,
    pub fields: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Difference {
    pub field: String,
    #[serde(rename = "this")]
    #[schema(value_type = Object)]
    pub this_value: Value,
    #[schema(value_type = Object)]
    pub other: Value,
}

/// A suspected duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DupMatch {
    pub lead_id: String,
    /// 1.0 for an exact phone or e-mail match, else the company-name similarity.
    pub similarity: f64,
    /// Any of `phone`, `phone+company`, `email`, `email_domain+company`, `company_name`.
    pub matched_on: Vec<String>,
    pub differences: Vec<Difference>,
}

fn same(a: &Option<String>, b: &Option<String>) -> bool {
    a.is_some() && a == b
}

/// How `probe` matches `other`, if it does.
pub fn compare(probe: &Keys, other: &Keys) -> Option<DupMatch> {
    let sim = match (&probe.company_key, &other.company_key) {
        (Some(a), Some(b)) => company_similarity(a, b),
        _ => 0.0,
    };
    let similar_company = sim >= SIMILARITY_THRESHOLD;
    let mut on = Vec::new();
    if same(&probe.phone, &other.phone) {
        on.push("phone");
        if similar_company {
            on.push("phone+company");
        }
    }
    if same(&probe.email, &other.email) {
        on.push("email");
    }
    if same(&probe.email_domain, &other.email_domain) && similar_company {
        on.push("email_domain+company");
    }
    if similar_company {
        on.push("company_name");
    }
    if on.is_empty() {
        return None;
    }
    let exact = on.iter().any(|k| *k == "phone" || *k == "email");
    let differences = COMPARED
        .iter()
        .filter_map(|f| {
            let a = probe.fields.get(*f).cloned().unwrap_or(Value::Null);
            let b = other.fields.get(*f).cloned().unwrap_or(Value::Null);
            (a != b).then(|| Difference {
                field: f.to_string(),
                this_value: a,
                other: b,
            })
        })
        .collect();
    Some(DupMatch {
        lead_id: other.id.clone(),
        similarity: if exact {
            1.0
        } else {
            (sim * 1000.0).round() / 1000.0
        },
        matched_on: on.into_iter().map(str::to_string).collect(),
        differences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::company::company_key;
    use crate::domain::phone::PhoneNumber;
    use serde_json::json;

    fn keys(id: &str, phone: Option<&str>, email: Option<&str>, company: Option<&str>) -> Keys {
        let phone = phone.map(|p| PhoneNumber::parse(p).unwrap().into_string());
        Keys {
            id: id.into(),
            email_domain: email.and_then(|e| e.split_once('@').map(|(_, d)| d.to_string())),
            email: email.map(str::to_string),
            company_key: company.map(company_key),
            fields: json!({"phone": phone, "company": company}),
            phone,
        }
    }

    #[test]
    fn the_same_mobile_typed_differently_is_a_phone_match() {
        let m = compare(
            &keys("a", Some("+86 138-0013-8000"), None, None),
            &keys("b", Some("13800138000"), None, None),
        )
        .unwrap();
        assert_eq!(m.matched_on, vec!["phone"]);
        assert_eq!(m.similarity, 1.0);
    }

    #[test]
    fn a_company_with_and_without_its_legal_form_is_the_same_company() {
        let m = compare(
            &keys("a", None, None, Some("苏州恒锐精工有限公司")),
            &keys("b", None, None, Some("苏州恒锐精工")),
        )
        .unwrap();
        assert_eq!(m.matched_on, vec!["company_name"]);
        assert_eq!(m.similarity, 1.0);
        assert_eq!(m.differences[0].field, "company");
    }

    #[test]
    fn phone_and_similar_company_and_domain_keys_combine() {
        let a = keys(
            "a",
            Some("13800138000"),
            Some("li@hengrui.cn"),
            Some("苏州恒锐精工有限公司"),
        );
        let b = keys(
            "b",
            Some("13800138000"),
            Some("wang@hengrui.cn"),
            Some("苏州恒锐精工股份有限公司"),
        );
        let m = compare(&a, &b).unwrap();
        assert_eq!(
            m.matched_on,
            vec![
                "phone",
                "phone+company",
                "email_domain+company",
                "company_name"
            ]
        );
    }

    #[test]
    fn different_companies_in_one_city_do_not_match() {
        assert!(compare(
            &keys("a", None, None, Some("苏州恒锐精工")),
            &keys("b", None, None, Some("苏州东方电气"))
        )
        .is_none());
        assert!(company_similarity("苏州恒锐精工", "苏州东方电气") < SIMILARITY_THRESHOLD);
    }

    #[test]
    fn the_blocking_key_is_the_first_two_characters() {
        assert_eq!(block_key("苏州恒锐精工").as_deref(), Some("苏州"));
        assert_eq!(block_key("a"), None);
    }
}
