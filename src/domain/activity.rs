//! Atomic follow-up actions (DESIGN §1.4): channel, concrete action, reached, summary,
//! next action with a due time, evidence; keywords in the summary raise the priority.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone,
    Wechat,
    Email,
    Visit,
    VideoMeeting,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    FirstContact,
    NeedsDiscovery,
    Demo,
    QuoteSubmitted,
    SiteVisit,
    Trial,
    Tender,
    ContractNegotiation,
    FollowUp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::FirstContact => "first_contact",
            Action::NeedsDiscovery => "needs_discovery",
            Action::Demo => "demo",
            Action::QuoteSubmitted => "quote_submitted",
            Action::SiteVisit => "site_visit",
            Action::Trial => "trial",
            Action::Tender => "tender",
            Action::ContractNegotiation => "contract_negotiation",
            Action::FollowUp => "follow_up",
        }
    }
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Phone => "phone",
            Channel::Wechat => "wechat",
            Channel::Email => "email",
            Channel::Visit => "visit",
            Channel::VideoMeeting => "video_meeting",
            Channel::Other => "other",
        }
    }
}

/// The configurable rules of follow-up activities (`PUT /config/activities`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"evidence_required": ["demo", "quote_submitted", "trial"],
                          "priority_keywords": ["签合同", "加急", "预算批了", "urgent"]}))]
pub struct ActivityRules {
    /// Actions that must carry at least one piece of evidence.
    pub evidence_required: Vec<Action>,
    /// Summary keywords (case-insensitive) that flag the activity and its lead or deal high
    /// priority.
    pub priority_keywords: Vec<String>,
}

impl Default for ActivityRules {
    fn default() -> Self {
        ActivityRules {
            evidence_required: vec![Action::Demo, Action::QuoteSubmitted, Action::Trial],
            priority_keywords: ["签合同", "加急", "预算批了", "urgent"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl ActivityRules {
    /// Field-level problems, empty when the rules are usable.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if self.priority_keywords.len() > 100 {
            errors.push(("priority_keywords".into(), "at most 100 keywords".into()));
        }
        for (n, k) in self.priority_keywords.iter().enumerate() {
            if k.trim().is_empty() || k.chars().count() > 50 {
                errors.push((format!("priority_keywords[{n}]"), "1–50 characters".into()));
            }
        }
        errors
    }

    pub fn needs_evidence(&self, action: Action) -> bool {
        self.evidence_required.contains(&action)
    }

    /// The first keyword found in the summary (case-insensitive), if any.
    pub fn priority_keyword(&self, summary: &str) -> Option<String> {
        let lower = summary.to_lowercase();
        self.priority_keywords
            .iter()
            .find(|k| lower.contains(&k.trim().to_lowercase()))
            .cloned()
    }
}

/// One piece of evidence: a link, file or photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "link", "url": "https://files.example.cn/方案.pdf", "name": "方案.pdf"}))]
pub struct Evidence {
    /// e.g. `link`, `file`, `photo`, `recording`.
    pub kind: String,
    /// An http(s) URL.
    pub url: String,
    pub name: Option<String>,
}

/// Whether a URL is http(s) with a host.
pub fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty() && !r.starts_with('/') && !url.chars().any(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_flag_a_summary() {
        let rules = ActivityRules::default();
        assert_eq!(
            rules
                .priority_keyword("客户说预算批了，下周签合同")
                .as_deref(),
            Some("签合同")
        );
        assert_eq!(
            rules.priority_keyword("URGENT: call back").as_deref(),
            Some("urgent")
        );
        assert_eq!(rules.priority_keyword("已联系"), None);
        assert!(rules.needs_evidence(Action::Demo));
        assert!(!rules.needs_evidence(Action::FollowUp));
    }

    #[test]
    fn blank_keywords_are_refused() {
        let rules = ActivityRules {
            evidence_required: vec![],
            priority_keywords: vec!["加急".into(), " ".into()],
        };
        assert_eq!(rules.validate()[0].0, "priority_keywords[1]");
    }

    #[test]
    fn evidence_urls_must_be_http() {
        assert!(is_http_url("https://x.cn/a.pdf"));
        assert!(!is_http_url("ftp://x.cn/a.pdf"));
        assert!(!is_http_url("javascript:alert(1)"));
        assert!(!is_http_url("https://"));
    }
}
