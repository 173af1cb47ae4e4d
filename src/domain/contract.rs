//! Contracts (DESIGN §1.9–1.10): the lifecycle, the approvals a contract needs, the
//! installment plan check and the three payment checks, all in integer cents.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Draft,
    InReview,
    Approved,
    Rejected,
    Signed,
    Active,
    Completed,
    Terminated,
}

impl ContractStatus {
    pub const ALL: [ContractStatus; 8] = [
        ContractStatus::Draft,
        ContractStatus::InReview,
        ContractStatus::Approved,
        ContractStatus::Rejected,
        ContractStatus::Signed,
        ContractStatus::Active,
        ContractStatus::Completed,
        ContractStatus::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Draft => "draft",
            ContractStatus::InReview => "in_review",
            ContractStatus::Approved => "approved",
            ContractStatus::Rejected => "rejected",
            ContractStatus::Signed => "signed",
            ContractStatus::Active => "active",
            ContractStatus::Completed => "completed",
            ContractStatus::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<ContractStatus> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The states reachable from this one (`rejected → draft` happens by editing).
    pub fn next(self) -> &'static [ContractStatus] {
        use ContractStatus::*;
        match self {
            Draft => &[InReview],
            InReview => &[Approved, Rejected],
            Rejected => &[Draft],
            Approved => &[Signed, Terminated],
            Signed => &[Active, Terminated],
            Active => &[Completed, Terminated],
            Completed | Terminated => &[],
        }
    }

    /// `Err` lists the allowed next states.
    pub fn check_move(self, to: ContractStatus) -> Result<(), Vec<String>> {
        if self.next().contains(&to) {
            Ok(())
        } else {
            Err(self.next().iter().map(|s| s.as_str().to_string()).collect())
        }
    }

    /// Whether the contract's terms may still be edited.
    pub fn editable(self) -> bool {
        matches!(self, ContractStatus::Draft | ContractStatus::Rejected)
    }

    /// Whether payments can be taken.
    pub fn takes_payments(self) -> bool {
        matches!(self, ContractStatus::Signed | ContractStatus::Active)
    }

    /// Signed at some point (signed, live or completed).
    pub fn is_signed(self) -> bool {
        matches!(
            self,
            ContractStatus::Signed | ContractStatus::Active | ContractStatus::Completed
        )
    }
}

/// Points of a contract legal review may revise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClauseRevision {
    Price,
    Delivery,
    Liability,
    PaymentTerms,
    Other,
}

/// The roles whose approval a contract of this amount needs, in order.
pub fn required_approvals(amount_cents: i64, finance_threshold_cents: i64) -> Vec<&'static str> {
    if amount_cents >= finance_threshold_cents {
        vec!["legal", "finance"]
    } else {
        vec!["legal"]
    }
}

/// One installment as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedInstallment {
    pub seq: i32,
    pub due_date: NaiveDate,
    pub amount_cents: i64,
}

/// Field-level problems of an installment plan for a contract of `total_cents`: seqs
/// 1..n in order, due dates not decreasing, amounts > 0, and the sum exactly the total.
pub fn check_installments(plan: &[PlannedInstallment], total_cents: i64) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if plan.is_empty() || plan.len() > 120 {
        errors.push((
            "installments".into(),
            "between 1 and 120 installments".into(),
        ));
        return errors;
    }
    let mut sum: i128 = 0;
    for (n, i) in plan.iter().enumerate() {
        if i.seq != n as i32 + 1 {
            errors.push((
                format!("installments[{n}].seq"),
                format!("expected {}", n + 1),
            ));
        }
        if i.amount_cents <= 0 {
            errors.push((
                format!("installments[{n}].amount_cents"),
                "must be greater than 0".into(),
            ));
        }
        if n > 0 && i.due_date < plan[n - 1].due_date {
            errors.push((
                format!("installments[{n}].due_date"),
                "due dates must not go backwards".into(),
            ));
        }
        sum += i.amount_cents as i128;
    }
    if sum != total_cents as i128 {
        errors.push((
            "installments".into(),
            format!(
                "the amounts sum to {sum} but the contract is {total_cents} (difference {})",
                total_cents as i128 - sum
            ),
        ));
    }
    errors
}

/// Half a percent of `cents`, rounded down to the cent (the payment tolerance).
pub fn tolerance_cents(cents: i64) -> i64 {
    ((cents.max(0) as i128 * 5) / 1000) as i64
}

/// What a payment is checked against.
#[derive(Debug, Clone)]
pub struct PaymentContext {
    pub status: ContractStatus,
    pub amount_cents: i64,
    pub paid_cents: i64,
    /// Epoch ms of signing (none before signing).
    pub signed_at: Option<i64>,
    /// The outstanding amount of the named installment (`None` when none is named).
    pub installment_outstanding: Option<i64>,
    pub bank_txn_reused: bool,
}

/// A payment as posted.
#[derive(Debug, Clone)]
pub struct PaymentAttempt {
    pub bank_txn_id: Option<String>,
    pub amount_cents: i64,
    pub paid_at: i64,
}

/// The refusal codes of DESIGN §7 that apply (empty: the payment is accepted). The
/// amount must be within [`tolerance_cents`] of the named installment's outstanding amount
/// (or of the remaining balance when none is named); cumulative payments may exceed the
/// contract amount by at most that tolerance of the contract amount.
pub fn check_payment(ctx: &PaymentContext, p: &PaymentAttempt) -> Vec<(&'static str, String)> {
    let mut refusals = Vec::new();
    if !ctx.status.takes_payments() {
        refusals.push((
            "contract_not_signed",
            format!("the contract is {}", ctx.status.as_str()),
        ));
    }
    if p.bank_txn_id.as_deref().is_none_or(|t| t.trim().is_empty()) {
        refusals.push((
            "bank_txn_missing",
            "a bank transaction id is required".to_string(),
        ));
    } else if ctx.bank_txn_reused {
        refusals.push((
            "bank_txn_reused",
            "this bank transaction is already recorded".to_string(),
        ));
    }
    if let Some(signed) = ctx.signed_at {
        if p.paid_at < signed {
            refusals.push((
                "paid_before_signing",
                "the payment is dated before the contract was signed".to_string(),
            ));
        }
    }
    let remaining = ctx.amount_cents - ctx.paid_cents;
    let target = ctx.installment_outstanding.unwrap_or(remaining);
    let tol = tolerance_cents(target);
    if p.amount_cents <= 0 || (p.amount_cents as i128 - target as i128).abs() > tol as i128 {
        refusals.push((
            "amount_out_of_tolerance",
            format!(
                "{} is not within {tol} of the {} due",
                p.amount_cents, target
            ),
        ));
    }
    let cap = ctx.amount_cents as i128 + tolerance_cents(ctx.amount_cents) as i128;
    if ctx.paid_cents as i128 + p.amount_cents as i128 > cap {
        refusals.push((
            "overpaid",
            format!(
                "payments would total {} of a {} contract",
                ctx.paid_cents as i128 + p.amount_cents as i128,
                ctx.amount_cents
            ),
        ));
    }
    refusals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_lifecycle_allows_only_its_moves() {
        use ContractStatus::*;
        assert!(Draft.check_move(InReview).is_ok());
        assert_eq!(Draft.check_move(Signed), Err(vec!["in_review".to_string()]));
        assert!(Approved.check_move(Terminated).is_ok());
        assert!(Active.check_move(Terminated).is_ok());
        assert!(InReview.check_move(Terminated).is_err());
        assert!(Completed.next().is_empty());
        assert!(Rejected.editable() && Draft.editable() && !Signed.editable());
    }

    #[test]
    fn finance_joins_from_the_threshold() {
        assert_eq!(required_approvals(99, 100), vec!["legal"]);
        assert_eq!(required_approvals(100, 100), vec!["legal", "finance"]);
    }

    #[test]
    fn an_installment_plan_must_sum_to_the_amount() {
        let i = |seq, d: &str, a| PlannedInstallment {
            seq,
            due_date: date(d),
            amount_cents: a,
        };
        assert!(
            check_installments(&[i(1, "2026-12-01", 60), i(2, "2027-01-01", 40)], 100).is_empty()
        );
        let e = check_installments(&[i(1, "2026-12-01", 60), i(3, "2026-11-01", 0)], 100);
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "installments[1].seq",
                "installments[1].amount_cents",
                "installments[1].due_date",
                "installments"
            ]
        );
        assert!(e[3].1.contains("difference 40"), "{}", e[3].1);
    }

    fn ctx() -> PaymentContext {
        PaymentContext {
            status: ContractStatus::Signed,
            amount_cents: 1_000_000,
            paid_cents: 0,
            signed_at: Some(1_000),
            installment_outstanding: Some(300_000),
            bank_txn_reused: false,
        }
    }

    fn pay(amount: i64) -> PaymentAttempt {
        PaymentAttempt {
            bank_txn_id: Some("TXN-1".into()),
            amount_cents: amount,
            paid_at: 2_000,
        }
    }

    fn codes(r: Vec<(&'static str, String)>) -> Vec<&'static str> {
        r.into_iter().map(|(c, _)| c).collect()
    }

    #[test]
    fn a_payment_within_half_a_percent_is_accepted() {
        assert!(check_payment(&ctx(), &pay(300_000)).is_empty());
        assert!(check_payment(&ctx(), &pay(301_500)).is_empty());
        assert!(check_payment(&ctx(), &pay(298_500)).is_empty());
        assert_eq!(
            codes(check_payment(&ctx(), &pay(301_501))),
            vec!["amount_out_of_tolerance"]
        );
        let mut whole = ctx();
        whole.installment_outstanding = None;
        assert!(check_payment(&whole, &pay(1_000_000)).is_empty());
    }

    #[test]
    fn each_refusal_has_its_code() {
        let mut c = ctx();
        c.status = ContractStatus::Approved;
        assert_eq!(
            codes(check_payment(&c, &pay(300_000))),
            vec!["contract_not_signed"]
        );
        let mut p = pay(300_000);
        p.bank_txn_id = Some(" ".into());
        assert_eq!(codes(check_payment(&ctx(), &p)), vec!["bank_txn_missing"]);
        let mut c = ctx();
        c.bank_txn_reused = true;
        assert_eq!(
            codes(check_payment(&c, &pay(300_000))),
            vec!["bank_txn_reused"]
        );
        let mut p = pay(300_000);
        p.paid_at = 999;
        assert_eq!(
            codes(check_payment(&ctx(), &p)),
            vec!["paid_before_signing"]
        );
        let mut c = ctx();
        c.paid_cents = 800_000;
        c.installment_outstanding = Some(300_000);
        assert_eq!(codes(check_payment(&c, &pay(300_000))), vec!["overpaid"]);
        let mut c = ctx();
        c.paid_cents = 1_004_000;
        assert_eq!(
            codes(check_payment(&c, &pay(i64::MAX))),
            vec!["amount_out_of_tolerance", "overpaid"],
            "extreme amounts are refused, not overflowed"
        );
    }
}
