//! Quotes (DESIGN §1.8): totals computed server-side in integer cents, and the approval
//! state machine `draft → (pending_approval →) approved → sent`, `rejected` back to draft
//! by an edit.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuoteStatus {
    Draft,
    PendingApproval,
    Approved,
    Rejected,
    Sent,
}

/// What can be done to a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteStep {
    Edit,
    Submit,
    Approve,
    Reject,
    Send,
    RecordView,
}

impl QuoteStep {
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStep::Edit => "edit",
            QuoteStep::Submit => "submit",
            QuoteStep::Approve => "approve",
            QuoteStep::Reject => "reject",
            QuoteStep::Send => "send",
            QuoteStep::RecordView => "views",
        }
    }
}

impl QuoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStatus::Draft => "draft",
            QuoteStatus::PendingApproval => "pending_approval",
            QuoteStatus::Approved => "approved",
            QuoteStatus::Rejected => "rejected",
            QuoteStatus::Sent => "sent",
        }
    }

    pub fn parse(s: &str) -> Option<QuoteStatus> {
        [
            QuoteStatus::Draft,
            QuoteStatus::PendingApproval,
            QuoteStatus::Approved,
            QuoteStatus::Rejected,
            QuoteStatus::Sent,
        ]
        .into_iter()
        .find(|q| q.as_str() == s)
    }

    /// The steps allowed in this state.
    pub fn steps(self) -> &'static [QuoteStep] {
        use QuoteStep::*;
        match self {
            QuoteStatus::Draft => &[Edit, Submit],
            QuoteStatus::PendingApproval => &[Approve, Reject],
            QuoteStatus::Approved => &[Send],
            QuoteStatus::Rejected => &[Edit],
            QuoteStatus::Sent => &[RecordView],
        }
    }

    /// `Err` lists the allowed steps when `step` is not one of them.
    pub fn check(self, step: QuoteStep) -> Result<(), Vec<String>> {
        if self.steps().contains(&step) {
            Ok(())
        } else {
            Err(self
                .steps()
                .iter()
                .map(|s| s.as_str().to_string())
                .collect())
        }
    }

    /// Where a submitted quote goes: straight to approved within the discount limit.
    pub fn after_submit(discount_bp: i64, approval_threshold_bp: i64) -> QuoteStatus {
        if discount_bp <= approval_threshold_bp {
            QuoteStatus::Approved
        } else {
            QuoteStatus::PendingApproval
        }
    }
}

/// One quote line as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteLine {
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// Quote totals computed server-side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteTotals {
    pub subtotal_cents: i64,
    pub discount_cents: i64,
    pub total_cents: i64,
}

/// Σ quantity × unit price, less the discount (basis points of the subtotal, rounded half
/// up to the cent); `None` when the amounts overflow.
pub fn quote_totals(lines: &[QuoteLine], discount_bp: i64) -> Option<QuoteTotals> {
    let mut subtotal: i64 = 0;
    for l in lines {
        subtotal = subtotal.checked_add(l.quantity.checked_mul(l.unit_price_cents)?)?;
    }
    let discount = ((subtotal as i128 * discount_bp as i128 + 5_000) / 10_000) as i64;
    Some(QuoteTotals {
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_totals_apply_the_discount_in_basis_points() {
        let lines = vec![
            QuoteLine {
                quantity: 2,
                unit_price_cents: 15_000_000,
            },
            QuoteLine {
                quantity: 1,
                unit_price_cents: 33_333,
            },
        ];
        let t = quote_totals(&lines, 1250).unwrap();
        assert_eq!(t.subtotal_cents, 30_033_333);
        assert_eq!(t.discount_cents, 3_754_167);
        assert_eq!(t.total_cents, 26_279_166);
        assert!(quote_totals(
            &[QuoteLine {
                quantity: i64::MAX,
                unit_price_cents: 2
            }],
            0
        )
        .is_none());
    }

    #[test]
    fn the_state_machine_allows_only_its_steps() {
        assert!(QuoteStatus::Draft.check(QuoteStep::Submit).is_ok());
        assert_eq!(
            QuoteStatus::Draft.check(QuoteStep::Send),
            Err(vec!["edit".to_string(), "submit".to_string()])
        );
        assert!(QuoteStatus::Rejected.check(QuoteStep::Edit).is_ok());
        assert!(QuoteStatus::Sent.check(QuoteStep::RecordView).is_ok());
        assert!(QuoteStatus::Approved.check(QuoteStep::Approve).is_err());
        assert_eq!(QuoteStatus::after_submit(1000, 1000), QuoteStatus::Approved);
        assert_eq!(
            QuoteStatus::after_submit(1001, 1000),
            QuoteStatus::PendingApproval
        );
    }
}
