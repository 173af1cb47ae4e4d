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

/// Regions that open most Chinese company names (provinces, big cities and county-level
/// cities). Blocking on them would put every company of a city into one block.
const REGIONS: &[&str] = &[
    "北京",
    "上海",
    "天津",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
    "苏州",
    "无锡",
    "常州",
    "南京",
    "南通",
    "扬州",
    "徐州",
    "镇江",
    "泰州",
    "盐城",
    "杭州",
    "宁波",
    "温州",
    "绍兴",
    "嘉兴",
    "台州",
    "金华",
    "湖州",
    "深圳",
    "广州",
    "东莞",
    "佛山",
    "珠海",
    "中山",
    "惠州",
    "厦门",
    "福州",
    "泉州",
    "青岛",
    "济南",
    "烟台",
    "潍坊",
    "淄博",
    "合肥",
    "芜湖",
    "武汉",
    "长沙",
    "郑州",
    "成都",
    "西安",
    "沈阳",
    "大连",
    "长春",
    "哈尔滨",
    "石家庄",
    "太原",
    "昆明",
    "南昌",
    "南宁",
    "贵阳",
    "兰州",
    "乌鲁木齐",
    "呼和浩特",
    "银川",
    "西宁",
    "拉萨",
    "海口",
    "三亚",
    "昆山",
    "常熟",
    "张家港",
    "江阴",
    "宜兴",
    "义乌",
    "慈溪",
    "余姚",
    "中国",
];

/// The blocking key of a company key: the first two characters after any leading region
/// (`江苏省苏州市恒锐精工` → `恒锐`), so that a block holds one brand, not one city; the
/// whole key's first two characters when nothing else remains. Indexed.
pub fn block_key(company_key: &str) -> Option<String> {
    let mut rest = company_key;
    loop {
        let before = rest;
        if let Some(r) = REGIONS.iter().find_map(|r| rest.strip_prefix(r)) {
            rest = r;
            rest = ["省", "市", "区", "县"]
                .iter()
                .find_map(|s| rest.strip_prefix(s))
                .unwrap_or(rest);
        }
        if rest == before {
            break;
        }
    }
    let base = if rest.chars().count() >= 2 {
        rest
    } else {
        company_key
    };
    let b: String = base.chars().take(2).collect();
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
    pub this_value: Value,
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

fn similarity(probe: &Keys, other: &Keys) -> f64 {
    match (&probe.company_key, &other.company_key) {
        (Some(a), Some(b)) => company_similarity(a, b),
        _ => 0.0,
    }
}

/// Whether `probe` matches `other`, and the similarity the match has (1 on the same phone
/// or e-mail, else how similar the companies are), without building the match: for
/// screening and ranking many candidates. [`compare`] answers a match of this similarity
/// exactly when this answers one.
pub fn screen(probe: &Keys, other: &Keys) -> Option<f64> {
    rank(probe, other, similarity(probe, other))
}

fn rank(probe: &Keys, other: &Keys, sim: f64) -> Option<f64> {
    if same(&probe.phone, &other.phone) || same(&probe.email, &other.email) {
        Some(1.0)
    } else if sim >= SIMILARITY_THRESHOLD {
        Some((sim * 1000.0).round() / 1000.0)
    } else {
        None
    }
}

/// How `probe` matches `other`, if it does, without the differences of their fields (what
/// a create records; `fields` of either is not read).
pub fn brief(probe: &Keys, other: &Keys) -> Option<DupMatch> {
    let sim = similarity(probe, other);
    let similarity = rank(probe, other, sim)?;
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
    Some(DupMatch {
        lead_id: other.id.clone(),
        similarity,
        matched_on: on.into_iter().map(str::to_string).collect(),
        differences: Vec::new(),
    })
}

/// How `probe` matches `other`, if it does: [`brief`] with the fields that differ.
pub fn compare(probe: &Keys, other: &Keys) -> Option<DupMatch> {
    let mut m = brief(probe, other)?;
    m.differences = COMPARED
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
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_skip_the_leading_region() {
        assert_eq!(block_key("苏州恒锐精工").as_deref(), Some("恒锐"));
        assert_eq!(block_key("江苏省苏州市恒锐精工").as_deref(), Some("恒锐"));
        assert_eq!(block_key("恒锐精工苏州").as_deref(), Some("恒锐"));
        assert_eq!(block_key("苏州").as_deref(), Some("苏州"));
        assert_eq!(block_key("苏州华").as_deref(), Some("苏州"));
        assert_eq!(block_key("abc").as_deref(), Some("ab"));
        assert_eq!(block_key("x"), None);
    }
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
    fn the_screening_check_agrees_with_the_comparison() {
        let phones = [None, Some("13800138000"), Some("13900139000")];
        let emails = [None, Some("li@hengrui.cn"), Some("wang@hengrui.cn")];
        let companies = [
            None,
            Some("苏州恒锐精工有限公司"),
            Some("恒锐精工"),
            Some("苏州东方电气"),
        ];
        let mut all = Vec::new();
        for p in phones {
            for e in emails {
                for c in companies {
                    all.push(keys("k", p, e, c));
                }
            }
        }
        let mut matched = 0;
        for a in &all {
            for b in &all {
                let m = compare(a, b);
                assert_eq!(
                    screen(a, b),
                    m.as_ref().map(|m| m.similarity),
                    "{a:?} vs {b:?}"
                );
                // A create's brief match is the comparison without the differences, and
                // reads no fields.
                let bare = |k: &Keys| Keys {
                    fields: serde_json::Value::Null,
                    ..k.clone()
                };
                assert_eq!(
                    brief(&bare(a), &bare(b)),
                    m.clone().map(|m| DupMatch {
                        differences: Vec::new(),
                        ..m
                    }),
                    "{a:?} vs {b:?}"
                );
                assert!(m.is_none_or(|m| !m.matched_on.is_empty()));
                matched += usize::from(screen(a, b).is_some());
            }
        }
        assert!(matched > 0 && matched < all.len() * all.len());
    }
}
