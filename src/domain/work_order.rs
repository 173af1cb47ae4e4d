//! Service work orders (DESIGN §1.11): the fixed field-service flow
//! `new → accepted → dispatched → on_site → (parts_replaced →) customer_signed → closed`,
//! `cancelled` with a reason from any open state, and `waiting_customer`, which pauses the
//! resolution clock and returns to the step it interrupted. SLA state from the clocks.

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
    WaitingCustomer,
}

impl WorkOrderStatus {
    pub const ALL: [WorkOrderStatus; 9] = [
        WorkOrderStatus::New,
        WorkOrderStatus::Accepted,
        WorkOrderStatus::Dispatched,
        WorkOrderStatus::OnSite,
        WorkOrderStatus::PartsReplaced,
        WorkOrderStatus::CustomerSigned,
        WorkOrderStatus::Closed,
        WorkOrderStatus::Cancelled,
        WorkOrderStatus::WaitingCustomer,
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
            WorkOrderStatus::WaitingCustomer => "waiting_customer",
        }
    }

    pub fn parse(s: &str) -> Option<WorkOrderStatus> {
        Self::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// The steps allowed from this state: the next one of the fixed flow (parts replacement
    /// is optional), waiting on the customer while work is under way (and back to the step
    /// it interrupted, `paused_from`), and cancelling while open.
    pub fn next(self, paused_from: Option<WorkOrderStatus>) -> Vec<WorkOrderStatus> {
        use WorkOrderStatus::*;
        match self {
            New => vec![Accepted, Cancelled],
            Accepted => vec![Dispatched, WaitingCustomer, Cancelled],
            Dispatched => vec![OnSite, WaitingCustomer, Cancelled],
            OnSite => vec![PartsReplaced, CustomerSigned, WaitingCustomer, Cancelled],
            PartsReplaced => vec![CustomerSigned, WaitingCustomer, Cancelled],
            WaitingCustomer => paused_from.into_iter().chain([Cancelled]).collect(),
            CustomerSigned => vec![Closed],
            Closed | Cancelled => vec![],
        }
    }

    /// `Err` lists the allowed next states.
    pub fn check_move(
        self,
        to: WorkOrderStatus,
        paused_from: Option<WorkOrderStatus>,
    ) -> Result<(), Vec<String>> {
        let next = self.next(paused_from);
        if next.contains(&to) {
            Ok(())
        } else {
            Err(next.iter().map(|s| s.as_str().to_string()).collect())
        }
    }

    /// What a notifier may tell the customer when the order enters this state.
    pub fn customer_message(self) -> &'static str {
        match self {
            WorkOrderStatus::New => "工单已创建",
            WorkOrderStatus::Accepted => "您的服务请求已受理",
            WorkOrderStatus::Dispatched => "工程师已出发",
            WorkOrderStatus::OnSite => "工程师已到达现场检测",
            WorkOrderStatus::PartsReplaced => "已完成配件更换",
            WorkOrderStatus::CustomerSigned => "服务已完成，感谢您签字验收",
            WorkOrderStatus::Closed => "工单已关闭",
            WorkOrderStatus::Cancelled => "工单已取消",
            WorkOrderStatus::WaitingCustomer => "等待您的确认或配合",
        }
    }
}

/// The SLA clocks of an order, as far as its state depends on them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlaClocks {
    pub has_policy: bool,
    pub warned: bool,
    pub breached: bool,
    pub resolved: bool,
}

/// `breached` once any deadline was missed; otherwise `met` once resolved, `warning` after
/// a warning, else `ok` (also without a policy).
pub fn sla_state(c: SlaClocks) -> &'static str {
    if c.breached {
        "breached"
    } else if c.has_policy && c.resolved {
        "met"
    } else if c.warned {
        "warning"
    } else {
        "ok"
    }
}

/// The instant `ratio` of the way from `start` to `due`.
pub fn warn_at(start: i64, due: i64, ratio: f64) -> i64 {
    start + ((due - start) as f64 * ratio.clamp(0.0, 1.0)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::WorkOrderStatus::*;
    use super::*;

    #[test]
    fn the_flow_refuses_skips_and_steps_back() {
        assert!(New.check_move(Accepted, None).is_ok());
        assert_eq!(
            New.check_move(OnSite, None),
            Err(vec!["accepted".to_string(), "cancelled".to_string()])
        );
        assert!(OnSite.check_move(CustomerSigned, None).is_ok());
        assert!(OnSite.check_move(Dispatched, None).is_err());
        assert!(CustomerSigned.check_move(Cancelled, None).is_err());
        assert!(Closed.next(None).is_empty());
    }

    #[test]
    fn waiting_on_the_customer_returns_to_the_interrupted_step() {
        assert!(OnSite.check_move(WaitingCustomer, None).is_ok());
        assert!(New.check_move(WaitingCustomer, None).is_err());
        assert!(WaitingCustomer.check_move(OnSite, Some(OnSite)).is_ok());
        assert_eq!(
            WaitingCustomer.check_move(CustomerSigned, Some(OnSite)),
            Err(vec!["on_site".to_string(), "cancelled".to_string()])
        );
    }

    #[test]
    fn sla_state_follows_the_clocks() {
        let c = SlaClocks {
            has_policy: true,
            ..Default::default()
        };
        assert_eq!(sla_state(c), "ok");
        assert_eq!(sla_state(SlaClocks { warned: true, ..c }), "warning");
        assert_eq!(
            sla_state(SlaClocks {
                warned: true,
                resolved: true,
                ..c
            }),
            "met"
        );
        assert_eq!(
            sla_state(SlaClocks {
                breached: true,
                resolved: true,
                ..c
            }),
            "breached"
        );
        assert_eq!(warn_at(1000, 2000, 0.8), 1800);
    }
}
