//! Contacts of accounts, with their decision-chain role.

use diesel::prelude::*;

use super::schema::{accounts, contacts};
use super::scope::team_members;
use super::DbConnection;
use crate::domain::role::RowScope;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = contacts, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct ContactRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub decision_role: Option<String>,
    pub concerns: String,
    pub last_contacted_at: Option<i64>,
    pub custom: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &ContactRow) -> QueryResult<()> {
    diesel::insert_into(contacts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(
    conn: &mut DbConnection,
    row: &ContactRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        contacts::table
            .find(&row.id)
            .filter(contacts::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

type Boxed<'a> = contacts::BoxedQuery<'a, super::MultiBackend>;

/// Contacts are visible when their account is (and they are not deleted).
pub fn scoped<'a>(q: Boxed<'a>, scope: &RowScope) -> Boxed<'a> {
    let q = q.filter(contacts::deleted_at.is_null());
    match scope {
        RowScope::All => q,
        RowScope::Own(u) => q.filter(
            contacts::account_id.eq_any(
                accounts::table
                    .filter(accounts::deleted_at.is_null())
                    .filter(accounts::owner_id.eq(u.clone()))
                    .select(accounts::id),
            ),
        ),
        RowScope::Team(t) => q.filter(
            contacts::account_id.eq_any(
                accounts::table
                    .filter(accounts::deleted_at.is_null())
                    .filter(
                        accounts::team_id
                            .eq(t.clone())
                            .or(accounts::owner_id.eq_any(team_members(t))),
                    )
                    .select(accounts::id),
            ),
        ),
        RowScope::Nothing => q.filter(contacts::id.is_null()),
    }
}

pub fn find_scoped(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> QueryResult<Option<ContactRow>> {
    scoped(
        contacts::table
            .filter(contacts::id.eq(id.to_string()))
            .into_boxed(),
        scope,
    )
    .first(conn)
    .optional()
}

#[derive(Debug, Default, Clone)]
pub struct ContactFilter {
    pub account_id: Option<String>,
    pub decision_role: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

pub fn list(
    conn: &mut DbConnection,
    f: &ContactFilter,
    scope: &RowScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ContactRow>> {
    let mut q = scoped(
        contacts::table
            .order(contacts::id.desc())
            .limit(limit)
            .into_boxed(),
        scope,
    );
    if let Some(b) = before {
        q = q.filter(contacts::id.lt(b.to_string()));
    }
    if let Some(v) = &f.account_id {
        q = q.filter(contacts::account_id.eq(v.clone()));
    }
    if let Some(v) = &f.decision_role {
        q = q.filter(contacts::decision_role.eq(v.clone()));
    }
    if let Some(v) = &f.phone {
        q = q.filter(contacts::phone.eq(v.clone()));
    }
    if let Some(v) = &f.email {
        q = q.filter(contacts::email.eq(v.clone()));
    }
    q.load(conn)
}

/// A live contact of the account with this phone or e-mail.
pub fn find_on_account(
    conn: &mut DbConnection,
    account_id: &str,
    phone: Option<&str>,
    email: Option<&str>,
) -> QueryResult<Option<ContactRow>> {
    let mut q = contacts::table
        .filter(contacts::account_id.eq(account_id.to_string()))
        .filter(contacts::deleted_at.is_null())
        .into_boxed();
    q = match (phone, email) {
        (Some(p), Some(e)) => q.filter(
            contacts::phone
                .eq(p.to_string())
                .or(contacts::email.eq(e.to_string())),
        ),
        (Some(p), None) => q.filter(contacts::phone.eq(p.to_string())),
        (None, Some(e)) => q.filter(contacts::email.eq(e.to_string())),
        (None, None) => return Ok(None),
    };
    q.first(conn).optional()
}

/// The decision roles of the live contacts of an account.
pub fn roles_on_account(conn: &mut DbConnection, account_id: &str) -> QueryResult<Vec<String>> {
    let roles: Vec<Option<String>> = contacts::table
        .filter(contacts::account_id.eq(account_id.to_string()))
        .filter(contacts::deleted_at.is_null())
        .select(contacts::decision_role)
        .load(conn)?;
    Ok(roles.into_iter().flatten().collect())
}
