//! Service work orders (DESIGN §1.11): the fixed field-service flow
//! `new → accepted → dispatched → on_site → (parts_replaced →) customer_signed → closed`,
//! `cancelled` with a reason from any open state.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderStatus {
    New,
    Accepted,
    Dispatched,
    OnSite,
    PartsReplaced,
    CustomerSigned,
    Closed,
    Cancelled,
}

impl WorkOrderStatus {
    pub const ALL: [WorkOrderStatus; 8] = [
        WorkOrderStatus::New,
        WorkOrderStatus::Accepted,
        WorkOrderStatus::Dispatched,
        WorkOrderStatus::OnSite,
        WorkOrderStatus::PartsReplaced,
        WorkOrderStatus::CustomerSigned,
        WorkOrderStatus::Closed,
        WorkOrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkOrderStatus::New => "new",
            WorkOrderStatus::Accepted => "accepted",
            WorkOrderStatus::Dispatched => "dispatched",
            WorkOrderStatus::OnSite => "on_site",
            WorkOrderStatus::PartsReplaced => "parts_replaced",
            WorkOrderStatus::CustomerSigned => "customer_signed",
            WorkOrderStatus::Closed => "closed",
            WorkOrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<WorkOrderStatus> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// The steps allowed from this state: the next one of the fixed flow (parts replacement
    /// is optional) and cancelling while open. Skipping or going back is not a step.
    pub fn next(self) -> &'static [WorkOrderStatus] {
        use WorkOrderStatus::*;
        match self {
            New => &[Accepted, Cancelled],
            Accepted => &[Dispatched, Cancelled],
            Dispatched => &[OnSite, Cancelled],
            OnSite => &[PartsReplaced, CustomerSigned, Cancelled],
            PartsReplaced => &[CustomerSigned, Cancelled],
            CustomerSigned => &[Closed],
            Closed | Cancelled => &[],
        }
    }

    /// `Err` lists the allowed next states.
    pub fn check_move(self, to: WorkOrderStatus) -> Result<(), Vec<String>> {
        if self.next().contains(&to) {
            Ok(())
        } else {
            Err(self.next().iter().map(|s| s.as_str().to_string()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WorkOrderStatus::*;

    #[test]
    fn the_flow_refuses_skips_and_steps_back() {
        assert!(New.check_move(Accepted).is_ok());
        assert_eq!(
            New.check_move(OnSite),
            Err(vec!["accepted".to_string(), "cancelled".to_string()])
        );
        assert!(OnSite.check_move(CustomerSigned).is_ok());
        assert!(OnSite.check_move(Dispatched).is_err());
        assert!(CustomerSigned.check_move(Cancelled).is_err());
        assert!(Closed.next().is_empty());
    }
}
