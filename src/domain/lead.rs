//! Lead vocabulary: statuses (DESIGN §4) and sources (DESIGN §7).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a lead is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
    NeedsInfo,
    Unassigned,
    Assigned,
    Working,
    Qualified,
    Converted,
    Disqualified,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 8] = [
        LeadStatus::New,
        LeadStatus::NeedsInfo,
        LeadStatus::Unassigned,
        LeadStatus::Assigned,
        LeadStatus::Working,
        LeadStatus::Qualified,
        LeadStatus::Converted,
        LeadStatus::Disqualified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::NeedsInfo => "needs_info",
            LeadStatus::Unassigned => "unassigned",
            LeadStatus::Assigned => "assigned",
            LeadStatus::Working => "working",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Converted => "converted",
            LeadStatus::Disqualified => "disqualified",
        }
    }

    pub fn parse(s: &str) -> Option<LeadStatus> {
        LeadStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The statuses a lead may move to from this one.
    pub fn next(self) -> &'static [LeadStatus] {
        use LeadStatus::*;
        match self {
            New => &[Assigned, Unassigned, NeedsInfo, Disqualified],
            NeedsInfo => &[Assigned, Unassigned, Disqualified],
            Unassigned => &[Assigned, Disqualified],
            Assigned => &[Working, Assigned, Unassigned, Disqualified],
            Working => &[Qualified, Assigned, Disqualified],
            Qualified => &[Converted, Disqualified],
            Converted | Disqualified => &[],
        }
    }

    /// `Ok` when `to` may follow, else the allowed statuses (for a 409 answer).
    pub fn check_move(self, to: LeadStatus) -> Result<(), Vec<String>> {
        if self.next().contains(&to) {
            Ok(())
        } else {
            Err(self.next().iter().map(|s| s.as_str().to_string()).collect())
        }
    }

    /// Converted and disqualified leads are closed: no more edits but merges and history.
    pub fn is_closed(self) -> bool {
        matches!(self, LeadStatus::Converted | LeadStatus::Disqualified)
    }
}

/// The channel a lead came in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    WebForm,
    WhitepaperDownload,
    Wechat,
    #[serde(rename = "phone_400")]
    Phone400,
    TradeShow,
    Sem,
    Referral,
    Import,
    Other,
}

impl LeadSource {
    pub const ALL: [LeadSource; 9] = [
        LeadSource::WebForm,
        LeadSource::WhitepaperDownload,
        LeadSource::Wechat,
        LeadSource::Phone400,
        LeadSource::TradeShow,
        LeadSource::Sem,
        LeadSource::Referral,
        LeadSource::Import,
        LeadSource::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadSource::WebForm => "web_form",
            LeadSource::WhitepaperDownload => "whitepaper_download",
            LeadSource::Wechat => "wechat",
            LeadSource::Phone400 => "phone_400",
            LeadSource::TradeShow => "trade_show",
            LeadSource::Sem => "sem",
            LeadSource::Referral => "referral",
            LeadSource::Import => "import",
            LeadSource::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<LeadSource> {
        LeadSource::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Why a lead was disqualified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisqualifyReason {
    NoBudget,
    NoNeed,
    Unreachable,
    Competitor,
    Duplicate,
    Invalid,
    Other,
}

impl DisqualifyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisqualifyReason::NoBudget => "no_budget",
            DisqualifyReason::NoNeed => "no_need",
            DisqualifyReason::Unreachable => "unreachable",
            DisqualifyReason::Competitor => "competitor",
            DisqualifyReason::Duplicate => "duplicate",
            DisqualifyReason::Invalid => "invalid",
            DisqualifyReason::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_leads_go_nowhere_and_working_leads_cannot_skip_to_converted() {
        assert!(LeadStatus::Converted.next().is_empty());
        assert!(LeadStatus::Disqualified.next().is_empty());
        assert_eq!(
            LeadStatus::Working.check_move(LeadStatus::Converted),
            Err(vec![
                "qualified".into(),
                "assigned".into(),
                "disqualified".into()
            ])
        );
        assert!(LeadStatus::Assigned.check_move(LeadStatus::Working).is_ok());
    }

    #[test]
    fn sources_serialise_as_the_contract_names_them() {
        for s in LeadSource::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
            assert_eq!(
                serde_json::from_value::<LeadSource>(s.as_str().into()).unwrap(),
                s
            );
        }
    }

    #[test]
    fn statuses_and_sources_round_trip() {
        for s in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(s.as_str()), Some(s));
        }
        for s in LeadSource::ALL {
            assert_eq!(LeadSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(LeadSource::parse("fax"), None);
    }

    #[test]
    fn only_converted_and_disqualified_are_closed() {
        let closed: Vec<_> = LeadStatus::ALL
            .into_iter()
            .filter(|s| s.is_closed())
            .collect();
        assert_eq!(
            closed,
            vec![LeadStatus::Converted, LeadStatus::Disqualified]
        );
    }
}
