//! The installed base (assets) and the renewal signals raised on accounts.

use diesel::prelude::*;

use super::schema::{account_signals, accounts, assets, work_orders};
use super::scope::team_members;
use super::DbConnection;
use crate::domain::role::RowScope;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = assets, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct AssetRow {
    pub id: String,
    pub serial_number: String,
    pub product_model: Option<String>,
    pub account_id: String,
    pub contract_id: Option<String>,
    /// The delivery work order that installed it.
    pub work_order_id: Option<String>,
    pub installed_at: Option<i64>,
    /// `YYYY-MM-DD`, the last covered day.
    pub warranty_until: Option<String>,
    pub status: String,
    /// JSON object.
    pub custom: String,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &AssetRow) -> QueryResult<()> {
    diesel::insert_into(assets::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(conn: &mut DbConnection, row: &AssetRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        assets::table
            .find(&row.id)
            .filter(assets::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<AssetRow>> {
    assets::table.find(id).first(conn).optional()
}

pub fn find_by_serial(conn: &mut DbConnection, serial: &str) -> QueryResult<Option<AssetRow>> {
    assets::table
        .filter(assets::serial_number.eq(serial))
        .first(conn)
        .optional()
}

type Boxed<'a> = assets::BoxedQuery<'a, super::MultiBackend>;

/// Assets of the accounts `scope` may see.
pub fn scoped<'a>(q: Boxed<'a>, scope: &RowScope) -> Boxed<'a> {
    let live = accounts::table.filter(accounts::deleted_at.is_null());
    match scope {
        RowScope::All => q,
        RowScope::Own(u) => q.filter(
            assets::account_id.eq_any(
                live.filter(accounts::owner_id.eq(u.clone()))
                    .select(accounts::id),
            ),
        ),
        RowScope::Team(t) => q.filter(
            assets::account_id.eq_any(
                live.filter(
                    accounts::team_id
                        .eq(t.clone())
                        .or(accounts::owner_id.eq_any(team_members(t))),
                )
                .select(accounts::id),
            ),
        ),
        RowScope::Nothing => q.filter(assets::id.is_null()),
    }
}

pub fn find_scoped(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> QueryResult<Option<AssetRow>> {
    scoped(assets::table.find(id.to_string()).into_boxed(), scope)
        .first(conn)
        .optional()
}

#[derive(Debug, Default, Clone)]
pub struct AssetFilter {
    pub account_id: Option<String>,
    pub contract_id: Option<String>,
    pub status: Option<String>,
    pub product_model: Option<String>,
    pub serial_number: Option<String>,
    /// Warranty ends on or before this day (`YYYY-MM-DD`).
    pub warranty_until_before: Option<String>,
}

/// A page of assets in scope, newest first, before the cursor key.
pub fn list(
    conn: &mut DbConnection,
    f: &AssetFilter,
    scope: &RowScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<AssetRow>> {
    let mut q = scoped(
        assets::table
            .order(assets::id.desc())
            .limit(limit)
            .into_boxed(),
        scope,
    );
    if let Some(b) = before {
        q = q.filter(assets::id.lt(b.to_string()));
    }
    if let Some(v) = &f.account_id {
        q = q.filter(assets::account_id.eq(v.clone()));
    }
    if let Some(v) = &f.contract_id {
        q = q.filter(assets::contract_id.eq(v.clone()));
    }
    if let Some(v) = &f.status {
        q = q.filter(assets::status.eq(v.clone()));
    }
    if let Some(v) = &f.product_model {
        q = q.filter(assets::product_model.eq(v.clone()));
    }
    if let Some(v) = &f.serial_number {
        q = q.filter(assets::serial_number.eq(v.clone()));
    }
    if let Some(v) = &f.warranty_until_before {
        q = q.filter(assets::warranty_until.le(v.clone()));
    }
    q.load(conn)
}

/// The installed base of some accounts (the caller lookup), at most `limit` per call.
pub fn for_accounts(
    conn: &mut DbConnection,
    account_ids: &[String],
    limit: i64,
) -> QueryResult<Vec<AssetRow>> {
    assets::table
        .filter(assets::account_id.eq_any(account_ids))
        .order(assets::id.desc())
        .limit(limit)
        .load(conn)
}

/// When each asset was last serviced: the latest customer sign-off of a work order on it.
pub fn last_service(
    conn: &mut DbConnection,
    asset_ids: &[String],
) -> QueryResult<Vec<(String, Option<i64>)>> {
    use diesel::dsl::max;
    work_orders::table
        .filter(work_orders::asset_id.eq_any(asset_ids))
        .filter(work_orders::deleted_at.is_null())
        .group_by(work_orders::asset_id)
        .select((
            work_orders::asset_id.assume_not_null(),
            max(work_orders::resolved_at),
        ))
        .load(conn)
}

/// Open work orders whose `device_sn` names a serial that had no asset yet.
pub fn unlinked_orders(conn: &mut DbConnection, serial: &str) -> QueryResult<Vec<String>> {
    work_orders::table
        .filter(work_orders::device_sn.eq(serial))
        .filter(work_orders::asset_id.is_null())
        .filter(work_orders::deleted_at.is_null())
        .select(work_orders::id)
        .load(conn)
}

/// Other open repair orders on an asset (deciding whether it is back in service).
pub fn open_repairs(conn: &mut DbConnection, asset_id: &str, except: &str) -> QueryResult<i64> {
    work_orders::table
        .filter(work_orders::asset_id.eq(asset_id))
        .filter(work_orders::type_.eq("repair"))
        .filter(work_orders::id.ne(except))
        .filter(work_orders::deleted_at.is_null())
        .filter(work_orders::status.ne_all(["closed", "cancelled"]))
        .count()
        .get_result(conn)
}

// ---- renewal signals ----

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = account_signals, treat_none_as_default_value = false)]
pub struct SignalRow {
    pub id: String,
    pub account_id: String,
    pub reason: String,
    /// The asset or contract the signal is about.
    pub subject_id: String,
    /// Which period of the reason (a repeat-repair window, a contract end date, a warranty end).
    pub period_key: String,
    pub asset_id: Option<String>,
    pub contract_id: Option<String>,
    /// JSON object: the figures behind the signal.
    pub detail: String,
    pub raised_at: i64,
    /// When the signal stops being shown on the account.
    pub expires_at: i64,
}

pub fn signal_exists(
    conn: &mut DbConnection,
    reason: &str,
    subject_id: &str,
    period_key: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        account_signals::table
            .filter(account_signals::reason.eq(reason))
            .filter(account_signals::subject_id.eq(subject_id))
            .filter(account_signals::period_key.eq(period_key)),
    ))
    .get_result(conn)
}

pub fn insert_signal(conn: &mut DbConnection, row: &SignalRow) -> QueryResult<()> {
    diesel::insert_into(account_signals::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The signals still in force on an account, newest first.
pub fn live_signals(
    conn: &mut DbConnection,
    account_id: &str,
    now_ms: i64,
) -> QueryResult<Vec<SignalRow>> {
    account_signals::table
        .filter(account_signals::account_id.eq(account_id))
        .filter(account_signals::expires_at.gt(now_ms))
        .order(account_signals::raised_at.desc())
        .limit(50)
        .load(conn)
}

/// Assets with at least `min` repair orders created since `since`: `(asset_id, count)`.
pub fn repeat_repairs(
    conn: &mut DbConnection,
    since: i64,
    min: i64,
) -> QueryResult<Vec<(String, i64)>> {
    use diesel::dsl::count_star;
    work_orders::table
        .filter(work_orders::type_.eq("repair"))
        .filter(work_orders::asset_id.is_not_null())
        .filter(work_orders::deleted_at.is_null())
        .filter(work_orders::created_at.ge(since))
        .group_by(work_orders::asset_id)
        .having(count_star().ge(min))
        .select((work_orders::asset_id.assume_not_null(), count_star()))
        .load(conn)
}

/// Live assets whose warranty ends between `from` and `to` (days, inclusive) and that have
/// no `reason` signal for that warranty end yet.
pub fn warranties_ending(
    conn: &mut DbConnection,
    from: &str,
    to: &str,
    reason: &str,
    limit: i64,
) -> QueryResult<Vec<AssetRow>> {
    use diesel::dsl::{exists, not};
    assets::table
        .filter(assets::warranty_until.ge(from))
        .filter(assets::warranty_until.le(to))
        .filter(assets::status.ne("retired"))
        .filter(not(exists(
            account_signals::table
                .filter(account_signals::reason.eq(reason.to_string()))
                .filter(account_signals::subject_id.eq(assets::id))
                .filter(
                    account_signals::period_key
                        .nullable()
                        .eq(assets::warranty_until),
                ),
        )))
        .order(assets::warranty_until.asc())
        .limit(limit)
        .load(conn)
}
