//! Contracts, their approvals, installments and payments.

use diesel::prelude::*;

use super::schema::{contract_approvals, contracts, installments, payments};
use super::scope::team_members;
use super::DbConnection;
use crate::domain::role::RowScope;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = contracts, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ContractRow {
    pub id: String,
    pub number: String,
    pub title: String,
    pub opportunity_id: String,
    pub account_id: String,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub status: String,
    /// Bumped by each submission; approvals count only within the current round.
    pub review_round: i32,
    /// JSON array of the roles that must approve this round (`legal`, `finance`).
    pub required_approvals: String,
    pub signed_at: Option<i64>,
    pub signatory: Option<String>,
    pub signature_ref: Option<String>,
    pub paid_cents: i64,
    /// JSON array of milestones.
    pub success_plan: Option<String>,
    pub live_at: Option<i64>,
    pub nps_due_at: Option<i64>,
    pub nps_survey_sent_at: Option<i64>,
    pub nps_score: Option<i32>,
    pub nps_comment: Option<String>,
    pub nps_recorded_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub terminated_at: Option<i64>,
    pub terminated_reason: Option<String>,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// `YYYY-MM-DD`: the last day of the contracted term, when it has one.
    pub end_date: Option<String>,
    pub custom: String,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = contract_approvals, treat_none_as_default_value = false)]
pub struct ApprovalRow {
    pub id: String,
    pub contract_id: String,
    pub review_round: i32,
    /// `legal` or `finance`.
    pub role: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// JSON array of clause revision points.
    pub clause_revisions: String,
    pub comment: Option<String>,
    pub actor_id: String,
    pub at: i64,
}

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = installments, treat_none_as_default_value = false)]
pub struct InstallmentRow {
    pub contract_id: String,
    pub seq: i32,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    pub amount_cents: i64,
    pub paid_cents: i64,
    /// `open` or `paid`.
    pub status: String,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = payments, treat_none_as_default_value = false)]
pub struct PaymentRow {
    pub id: String,
    pub contract_id: String,
    pub bank_txn_id: String,
    pub amount_cents: i64,
    pub paid_at: i64,
    pub installment_seq: Option<i32>,
    pub recorded_by: String,
    pub created_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &ContractRow) -> QueryResult<()> {
    diesel::insert_into(contracts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(
    conn: &mut DbConnection,
    row: &ContractRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        contracts::table
            .find(&row.id)
            .filter(contracts::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ContractRow>> {
    contracts::table.find(id).first(conn).optional()
}

pub fn number_taken(conn: &mut DbConnection, number: &str, other_than: &str) -> QueryResult<bool> {
    let n: i64 = contracts::table
        .filter(contracts::number.eq(number))
        .filter(contracts::id.ne(other_than))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

type Boxed<'a> = contracts::BoxedQuery<'a, super::MultiBackend>;

/// Restricts a query to the contracts `scope` may see.
pub fn scoped<'a>(q: Boxed<'a>, scope: &RowScope) -> Boxed<'a> {
    match scope {
        RowScope::All => q,
        RowScope::Own(u) => q.filter(contracts::owner_id.eq(u.clone())),
        RowScope::Team(t) => q.filter(
            contracts::team_id
                .eq(t.clone())
                .or(contracts::owner_id.eq_any(team_members(t))),
        ),
        RowScope::Nothing => q.filter(contracts::id.is_null()),
    }
}

pub fn find_scoped(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> QueryResult<Option<ContractRow>> {
    scoped(
        contracts::table
            .filter(contracts::id.eq(id.to_string()))
            .into_boxed(),
        scope,
    )
    .first(conn)
    .optional()
}

#[derive(Debug, Default, Clone)]
pub struct ContractFilter {
    pub status: Option<String>,
    pub opportunity_id: Option<String>,
    pub account_id: Option<String>,
    pub owner_id: Option<String>,
}

/// A page of contracts in scope, newest first, before the cursor key.
pub fn list(
    conn: &mut DbConnection,
    f: &ContractFilter,
    scope: &RowScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ContractRow>> {
    let mut q = scoped(
        contracts::table
            .order(contracts::id.desc())
            .limit(limit)
            .into_boxed(),
        scope,
    );
    if let Some(b) = before {
        q = q.filter(contracts::id.lt(b.to_string()));
    }
    if let Some(v) = &f.status {
        q = q.filter(contracts::status.eq(v.clone()));
    }
    if let Some(v) = &f.opportunity_id {
        q = q.filter(contracts::opportunity_id.eq(v.clone()));
    }
    if let Some(v) = &f.account_id {
        q = q.filter(contracts::account_id.eq(v.clone()));
    }
    if let Some(v) = &f.owner_id {
        q = q.filter(contracts::owner_id.eq(v.clone()));
    }
    q.load(conn)
}

/// Whether a deal has a signed (or live, or completed) contract.
pub fn signed_for_opportunity(conn: &mut DbConnection, opportunity_id: &str) -> QueryResult<bool> {
    let n: i64 = contracts::table
        .filter(contracts::opportunity_id.eq(opportunity_id.to_string()))
        .filter(contracts::status.eq_any(["signed", "active", "completed"]))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Live contracts whose NPS survey is due and not yet announced.
pub fn nps_due(conn: &mut DbConnection, now: i64, limit: i64) -> QueryResult<Vec<String>> {
    contracts::table
        .filter(contracts::nps_due_at.le(now))
        .filter(contracts::nps_survey_sent_at.is_null())
        .select(contracts::id)
        .order(contracts::nps_due_at.asc())
        .limit(limit)
        .load(conn)
}

pub fn insert_approval(conn: &mut DbConnection, row: &ApprovalRow) -> QueryResult<()> {
    diesel::insert_into(contract_approvals::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The approval trail, oldest first.
pub fn approvals(conn: &mut DbConnection, contract_id: &str) -> QueryResult<Vec<ApprovalRow>> {
    contract_approvals::table
        .filter(contract_approvals::contract_id.eq(contract_id.to_string()))
        .order(contract_approvals::id.asc())
        .load(conn)
}

pub fn installments(
    conn: &mut DbConnection,
    contract_id: &str,
) -> QueryResult<Vec<InstallmentRow>> {
    installments::table
        .filter(installments::contract_id.eq(contract_id.to_string()))
        .order(installments::seq.asc())
        .load(conn)
}

/// Replaces the installment plan of a contract.
pub fn replace_installments(
    conn: &mut DbConnection,
    contract_id: &str,
    rows: &[InstallmentRow],
) -> QueryResult<()> {
    diesel::delete(
        installments::table.filter(installments::contract_id.eq(contract_id.to_string())),
    )
    .execute(conn)?;
    // One statement per row: batch inserts do not compile through the MultiBackend.
    for row in rows {
        diesel::insert_into(installments::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn update_installment(conn: &mut DbConnection, row: &InstallmentRow) -> QueryResult<()> {
    diesel::update(installments::table.find((row.contract_id.clone(), row.seq)))
        .set(row)
        .execute(conn)
        .map(|_| ())
}

pub fn insert_payment(conn: &mut DbConnection, row: &PaymentRow) -> QueryResult<()> {
    diesel::insert_into(payments::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn bank_txn_exists(conn: &mut DbConnection, bank_txn_id: &str) -> QueryResult<bool> {
    let n: i64 = payments::table
        .filter(payments::bank_txn_id.eq(bank_txn_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn payments(conn: &mut DbConnection, contract_id: &str) -> QueryResult<Vec<PaymentRow>> {
    payments::table
        .filter(payments::contract_id.eq(contract_id.to_string()))
        .order(payments::id.asc())
        .load(conn)
}

pub fn payment_count(conn: &mut DbConnection, contract_id: &str) -> QueryResult<i64> {
    payments::table
        .filter(payments::contract_id.eq(contract_id.to_string()))
        .count()
        .get_result(conn)
}

/// Signed or live contracts whose term ends between `from` and `to` (days, inclusive) and
/// that have no `reason` signal for that end date yet.
pub fn ending_between(
    conn: &mut DbConnection,
    from: &str,
    to: &str,
    reason: &str,
    limit: i64,
) -> QueryResult<Vec<ContractRow>> {
    use super::schema::account_signals;
    use diesel::dsl::{exists, not};
    contracts::table
        .filter(contracts::end_date.ge(from))
        .filter(contracts::end_date.le(to))
        .filter(contracts::status.eq_any(["signed", "active"]))
        .filter(not(exists(
            account_signals::table
                .filter(account_signals::reason.eq(reason.to_string()))
                .filter(account_signals::subject_id.eq(contracts::id))
                .filter(
                    account_signals::period_key
                        .nullable()
                        .eq(contracts::end_date),
                ),
        )))
        .order(contracts::end_date.asc())
        .limit(limit)
        .load(conn)
}
