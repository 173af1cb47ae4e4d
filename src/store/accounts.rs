//! Accounts (customer companies).

use diesel::prelude::*;

use super::schema::accounts;
use super::scope::{like_pattern, team_members};
use super::DbConnection;
use crate::domain::role::RowScope;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = accounts, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub name_key: String,
    pub legal_name: Option<String>,
    pub uscc: Option<String>,
    pub legal_representative: Option<String>,
    pub industry: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub tier: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub custom: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &AccountRow) -> QueryResult<()> {
    diesel::insert_into(accounts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(
    conn: &mut DbConnection,
    row: &AccountRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        accounts::table
            .find(&row.id)
            .filter(accounts::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

type Boxed<'a> = accounts::BoxedQuery<'a, super::MultiBackend>;

/// Restricts a query to the accounts `scope` may see (never deleted ones).
pub fn scoped<'a>(mut q: Boxed<'a>, scope: &RowScope) -> Boxed<'a> {
    q = q.filter(accounts::deleted_at.is_null());
    match scope {
        RowScope::All => q,
        RowScope::Own(u) => q.filter(accounts::owner_id.eq(u.clone())),
        RowScope::Team(t) => q.filter(
            accounts::team_id
                .eq(t.clone())
                .or(accounts::owner_id.eq_any(team_members(t))),
        ),
        RowScope::Nothing => q.filter(accounts::id.is_null()),
    }
}

/// The account if it exists and is within `scope`.
pub fn find_scoped(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> QueryResult<Option<AccountRow>> {
    scoped(
        accounts::table
            .filter(accounts::id.eq(id.to_string()))
            .into_boxed(),
        scope,
    )
    .first(conn)
    .optional()
}

pub fn find_by_uscc(conn: &mut DbConnection, uscc: &str) -> QueryResult<Option<AccountRow>> {
    accounts::table
        .filter(accounts::uscc.eq(uscc))
        .first(conn)
        .optional()
}

#[derive(Debug, Default, Clone)]
pub struct AccountFilter {
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub industry: Option<String>,
    pub province: Option<String>,
    pub updated_since: Option<i64>,
    pub q: Option<String>,
}

/// A page of accounts in scope, newest first, before the cursor key.
pub fn list(
    conn: &mut DbConnection,
    f: &AccountFilter,
    scope: &RowScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AccountRow>> {
    let mut q = scoped(
        accounts::table
            .order(accounts::id.desc())
            .limit(limit)
            .into_boxed(),
        scope,
    );
    if let Some(b) = before {
        q = q.filter(accounts::id.lt(b.to_string()));
    }
    if let Some(v) = &f.owner_id {
        q = q.filter(accounts::owner_id.eq(v.clone()));
    }
    if let Some(v) = &f.team_id {
        q = q.filter(accounts::team_id.eq(v.clone()));
    }
    if let Some(v) = &f.industry {
        q = q.filter(accounts::industry.eq(v.clone()));
    }
    if let Some(v) = &f.province {
        q = q.filter(accounts::province.eq(v.clone()));
    }
    if let Some(v) = f.updated_since {
        q = q.filter(accounts::updated_at.ge(v));
    }
    if let Some(text) = &f.q {
        let p = like_pattern(text);
        q = q.filter(
            accounts::name
                .like(p.clone())
                .escape('\\')
                .or(accounts::legal_name.like(p.clone()).escape('\\'))
                .or(accounts::uscc.like(p).escape('\\')),
        );
    }
    q.load(conn)
}

/// The live account whose name key equals `key` (the oldest when several).
pub fn find_by_name_key(conn: &mut DbConnection, key: &str) -> QueryResult<Option<AccountRow>> {
    accounts::table
        .filter(accounts::name_key.eq(key))
        .filter(accounts::deleted_at.is_null())
        .order(accounts::id.asc())
        .first(conn)
        .optional()
}
