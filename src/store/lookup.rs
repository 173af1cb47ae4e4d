//! The caller lookup's queries: who a phone number, e-mail address or serial number
//! belongs to, and the service picture of their accounts. Every query is an indexed
//! equality match, bounded by a limit.

use diesel::prelude::*;

use super::accounts::{self as account_store, AccountRow};
use super::contacts::{self as contact_store, ContactRow};
use super::contracts::ContractRow;
use super::leads::{self as lead_store, LeadRow};
use super::schema::{accounts, contacts, contracts, leads, work_orders};
use super::work_orders::WorkOrderRow;
use super::DbConnection;
use crate::domain::role::RowScope;

/// A normalised key to match on.
#[derive(Debug, Clone)]
pub enum Key {
    Phone(String),
    Email(String),
}

pub fn leads_by(
    conn: &mut DbConnection,
    key: &Key,
    scope: &RowScope,
    limit: i64,
) -> QueryResult<Vec<LeadRow>> {
    let q = leads::table
        .order(leads::id.desc())
        .limit(limit)
        .into_boxed();
    let q = match key {
        Key::Phone(p) => q.filter(leads::phone.eq(p.clone())),
        Key::Email(e) => q.filter(leads::email.eq(e.clone())),
    };
    lead_store::scoped(q, scope).load(conn)
}

pub fn contacts_by(
    conn: &mut DbConnection,
    key: &Key,
    scope: &RowScope,
    limit: i64,
) -> QueryResult<Vec<ContactRow>> {
    let q = contacts::table
        .order(contacts::id.desc())
        .limit(limit)
        .into_boxed();
    let q = match key {
        Key::Phone(p) => q.filter(contacts::phone.eq(p.clone())),
        Key::Email(e) => q.filter(contacts::email.eq(e.clone())),
    };
    contact_store::scoped(q, scope).load(conn)
}

pub fn accounts_by(
    conn: &mut DbConnection,
    key: &Key,
    scope: &RowScope,
    limit: i64,
) -> QueryResult<Vec<AccountRow>> {
    let q = accounts::table
        .order(accounts::id.desc())
        .limit(limit)
        .into_boxed();
    let q = match key {
        Key::Phone(p) => q.filter(accounts::phone.eq(p.clone())),
        Key::Email(e) => q.filter(accounts::email.eq(e.clone())),
    };
    account_store::scoped(q, scope).load(conn)
}

/// Accounts of the work orders that name this caller phone or device serial number.
pub fn order_accounts(
    conn: &mut DbConnection,
    phone: Option<&str>,
    serial: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let mut q = work_orders::table
        .filter(work_orders::deleted_at.is_null())
        .select(work_orders::account_id)
        .order(work_orders::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(p) = phone {
        q = q.filter(work_orders::contact_phone.eq(p.to_string()));
    }
    if let Some(s) = serial {
        q = q.filter(work_orders::device_sn.eq(s.to_string()));
    }
    q.load(conn)
}

pub fn accounts_in(
    conn: &mut DbConnection,
    ids: &[String],
    scope: &RowScope,
) -> QueryResult<Vec<AccountRow>> {
    account_store::scoped(
        accounts::table
            .filter(accounts::id.eq_any(ids.to_vec()))
            .into_boxed(),
        scope,
    )
    .load(conn)
}

/// Work orders of an account that are not closed or cancelled, newest first.
pub fn open_orders(
    conn: &mut DbConnection,
    account_id: &str,
    limit: i64,
) -> QueryResult<Vec<WorkOrderRow>> {
    work_orders::table
        .filter(work_orders::account_id.eq(account_id))
        .filter(work_orders::status.ne_all(["closed", "cancelled"]))
        .filter(work_orders::deleted_at.is_null())
        .order(work_orders::id.desc())
        .limit(limit)
        .load(conn)
}

/// When the account's equipment was last maintained or repaired (customer sign-off): one
/// index seek per order type on `(account_id, type, resolved_at)`.
pub fn last_maintenance(conn: &mut DbConnection, account_id: &str) -> QueryResult<Option<i64>> {
    let mut latest = None;
    for kind in ["maintenance", "repair"] {
        let at: Option<Option<i64>> = work_orders::table
            .filter(work_orders::account_id.eq(account_id))
            .filter(work_orders::type_.eq(kind))
            .filter(work_orders::resolved_at.is_not_null())
            .filter(work_orders::deleted_at.is_null())
            .order(work_orders::resolved_at.desc())
            .select(work_orders::resolved_at)
            .first(conn)
            .optional()?;
        latest = latest.max(at.flatten());
    }
    Ok(latest)
}

/// Signed or live contracts of an account.
pub fn active_contracts(
    conn: &mut DbConnection,
    account_id: &str,
) -> QueryResult<Vec<ContractRow>> {
    contracts::table
        .filter(contracts::account_id.eq(account_id))
        .filter(contracts::status.eq_any(["signed", "active"]))
        .order(contracts::id.desc())
        .limit(20)
        .load(conn)
}

/// The account's contacts with a role in the buying decision.
pub fn decision_chain(conn: &mut DbConnection, account_id: &str) -> QueryResult<Vec<ContactRow>> {
    contacts::table
        .filter(contacts::account_id.eq(account_id))
        .filter(contacts::decision_role.is_not_null())
        .filter(contacts::deleted_at.is_null())
        .order(contacts::id.asc())
        .limit(20)
        .load(conn)
}
