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

/// Actions that need evidence unless configured otherwise.
pub const EVIDENCE_REQUIRED: &[Action] = &[Action::Demo, Action::QuoteSubmitted, Action::Trial];

/// Summary keywords that flag the activity (and its lead) high priority by default.
pub const PRIORITY_KEYWORDS: &[&str] = &["签合同", "加急", "预算批了", "urgent"];

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

/// The first keyword found in the summary (case-insensitive), if any.
pub fn priority_keyword<'a>(summary: &str, keywords: &'a [&'a str]) -> Option<&'a str> {
    let lower = summary.to_lowercase();
    keywords
        .iter()
        .copied()
        .find(|k| lower.contains(&k.to_lowercase()))
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
        assert_eq!(
            priority_keyword("客户说预算批了，下周签合同", PRIORITY_KEYWORDS),
            Some("签合同")
        );
        assert_eq!(
            priority_keyword("URGENT: call back", PRIORITY_KEYWORDS),
            Some("urgent")
        );
        assert_eq!(priority_keyword("已联系", PRIORITY_KEYWORDS), None);
    }

    #[test]
    fn evidence_urls_must_be_http() {
        assert!(is_http_url("https://x.cn/a.pdf"));
        assert!(!is_http_url("ftp://x.cn/a.pdf"));
        assert!(!is_http_url("javascript:alert(1)"));
        assert!(!is_http_url("https://"));
    }
}
