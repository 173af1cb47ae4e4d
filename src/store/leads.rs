//! Leads.

use diesel::prelude::*;

use super::schema::{leads, rep_loads};
use super::scope::{like_pattern, team_members};
use super::DbConnection;
use crate::domain::role::RowScope;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = leads, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct LeadRow {
    pub id: String,
    pub name: String,
    pub company: Option<String>,
    pub company_key: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub email_domain: Option<String>,
    pub title: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub industry: Option<String>,
    pub source: String,
    pub product_interest: Option<String>,
    pub budget_cents: Option<i64>,
    pub currency: String,
    pub notes: Option<String>,
    pub custom: String,
    pub status: String,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub account_id: Option<String>,
    pub score: Option<i32>,
    pub grade: Option<String>,
    pub score_breakdown: String,
    pub assignment: Option<String>,
    pub claim_due_at: Option<i64>,
    pub first_touch_due_at: Option<i64>,
    pub accepted_at: Option<i64>,
    pub first_touch_at: Option<i64>,
    pub reassign_count: i32,
    pub possible_duplicate: bool,
    pub duplicate_candidates: String,
    pub priority: String,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    /// The assignment rule that routed the lead (its SLA timers come from it).
    pub rule_id: Option<String>,
    /// JSON list of fields the quality gate found missing.
    pub missing_fields: String,
    /// JSON list of reps who let the claim window lapse.
    pub lapsed_by: String,
    pub first_touch_overdue_at: Option<i64>,
    pub escalated_at: Option<i64>,
    pub disqualify_reason: Option<String>,
    pub disqualify_note: Option<String>,
    /// The scoring model version the score was computed with.
    pub score_version: i64,
    /// Blocking key for company-name similarity (see `domain::dedup::block_key`).
    pub company_block: Option<String>,
    /// The surviving lead this one was merged into.
    pub merged_into: Option<String>,
    /// When the lead was first put in a rep's hands.
    pub assigned_at: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &LeadRow) -> QueryResult<()> {
    concrete!(conn, c => diesel::insert_into(leads::table).values(row).execute(c)).map(|_| ())
}

pub fn update(conn: &mut DbConnection, row: &LeadRow, expected_version: i64) -> QueryResult<bool> {
    let n = concrete!(conn, c => diesel::update(
        leads::table
            .find(&row.id)
            .filter(leads::version.eq(expected_version)),
    )
    .set(row)
    .execute(c))?;
    Ok(n == 1)
}

type Boxed<'a> = leads::BoxedQuery<'a, super::MultiBackend>;

/// Restricts a query to the live leads `scope` may see.
pub fn scoped<'a>(q: Boxed<'a>, scope: &RowScope) -> Boxed<'a> {
    let q = q.filter(leads::deleted_at.is_null());
    match scope {
        RowScope::All => q,
        RowScope::Own(u) => q.filter(leads::owner_id.eq(u.clone())),
        RowScope::Team(t) => q.filter(
            leads::team_id
                .eq(t.clone())
                .or(leads::owner_id.eq_any(team_members(t))),
        ),
        RowScope::Nothing => q.filter(leads::id.is_null()),
    }
}

pub fn find_scoped(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> QueryResult<Option<LeadRow>> {
    // Everyone's and one's own leads through one static statement (a boxed query is
    // prepared anew on every call) that is a primary-key lookup and nothing else: with
    // `deleted_at IS NULL` in a prepared statement, PostgreSQL's generic plan on a fresh
    // table scans a partial index of live leads for the id (see `dedup_row`).
    match scope {
        RowScope::All | RowScope::Own(_) => {
            let row: Option<LeadRow> =
                concrete!(conn, c => leads::table.find(id).first(c).optional())?;
            Ok(row.filter(|r| {
                r.deleted_at.is_none()
                    && match scope {
                        RowScope::Own(u) => r.owner_id.as_ref() == Some(u),
                        _ => true,
                    }
            }))
        }
        _ => scoped(
            leads::table
                .filter(leads::id.eq(id.to_string()))
                .into_boxed(),
            scope,
        )
        .first(conn)
        .optional(),
    }
}

#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    pub status: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub source: Option<String>,
    pub grade: Option<String>,
    pub updated_since: Option<i64>,
    pub q: Option<String>,
}

/// A page of leads in scope, newest first, before the cursor key.
pub fn list(
    conn: &mut DbConnection,
    f: &LeadFilter,
    scope: &RowScope,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<LeadRow>> {
    let mut q = scoped(
        leads::table
            .order(leads::id.desc())
            .limit(limit)
            .into_boxed(),
        scope,
    );
    if let Some(b) = before {
        q = q.filter(leads::id.lt(b.to_string()));
    }
    if let Some(v) = &f.status {
        q = q.filter(leads::status.eq(v.clone()));
    }
    if let Some(v) = &f.owner_id {
        q = q.filter(leads::owner_id.eq(v.clone()));
    }
    if let Some(v) = &f.team_id {
        q = q.filter(leads::team_id.eq(v.clone()));
    }
    if let Some(v) = &f.source {
        q = q.filter(leads::source.eq(v.clone()));
    }
    if let Some(v) = &f.grade {
        q = q.filter(leads::grade.eq(v.clone()));
    }
    if let Some(v) = f.updated_since {
        q = q.filter(leads::updated_at.ge(v));
    }
    if let Some(text) = &f.q {
        let p = like_pattern(text);
        q = q.filter(
            leads::name
                .like(p.clone())
                .escape('\\')
                .or(leads::company.like(p.clone()).escape('\\'))
                .or(leads::phone.like(p.clone()).escape('\\'))
                .or(leads::email.like(p).escape('\\')),
        );
    }
    q.load(conn)
}

/// Open leads (assigned + working) per owner, for the given reps.
pub fn open_counts(
    conn: &mut DbConnection,
    owner_ids: &[String],
) -> QueryResult<Vec<(Option<String>, i64)>> {
    // `rep_loads` is kept by triggers on `leads` (migration 6): one row per owner with
    // open leads, so this is a primary-key lookup per rep rather than a count of their leads.
    rep_loads::table
        .filter(rep_loads::user_id.eq_any(owner_ids))
        .select((rep_loads::user_id.nullable(), rep_loads::open_leads))
        .load(conn)
}

/// Converted leads per owner since an instant (the performance measure until contracts exist).
pub fn conversions_since(
    conn: &mut DbConnection,
    owner_ids: &[String],
    since: i64,
) -> QueryResult<Vec<(Option<String>, i64)>> {
    leads::table
        .filter(
            leads::owner_id.eq_any(
                owner_ids
                    .iter()
                    .map(|s| Some(s.clone()))
                    .collect::<Vec<_>>(),
            ),
        )
        .filter(leads::status.eq("converted"))
        .filter(leads::updated_at.ge(since))
        .filter(leads::deleted_at.is_null())
        .group_by(leads::owner_id)
        .select((leads::owner_id, diesel::dsl::count_star()))
        .load(conn)
}

/// Ids of assigned leads whose claim window has passed.
pub fn claim_overdue(conn: &mut DbConnection, now: i64, limit: i64) -> QueryResult<Vec<String>> {
    leads::table
        .filter(leads::status.eq("assigned"))
        .filter(leads::claim_due_at.le(now))
        .filter(leads::deleted_at.is_null())
        .order(leads::claim_due_at.asc())
        .select(leads::id)
        .limit(limit)
        .load(conn)
}

/// Ids of accepted leads with no reached activity by their first-touch deadline, not yet reported.
pub fn first_touch_overdue(
    conn: &mut DbConnection,
    now: i64,
    limit: i64,
) -> QueryResult<Vec<String>> {
    leads::table
        .filter(leads::status.eq("working"))
        .filter(leads::first_touch_at.is_null())
        .filter(leads::first_touch_overdue_at.is_null())
        .filter(leads::first_touch_due_at.le(now))
        .filter(leads::deleted_at.is_null())
        .select(leads::id)
        .limit(limit)
        .load(conn)
}

/// Ids of open leads scored with an older model version.
pub fn stale_scores(
    conn: &mut DbConnection,
    model_version: i64,
    limit: i64,
) -> QueryResult<Vec<String>> {
    leads::table
        .filter(leads::score_version.lt(model_version))
        .filter(leads::status.ne_all(["converted", "disqualified"]))
        .filter(leads::deleted_at.is_null())
        .select(leads::id)
        .limit(limit)
        .load(conn)
}

/// How many open leads are scored with an older model version.
pub fn count_stale_scores(conn: &mut DbConnection, model_version: i64) -> QueryResult<i64> {
    leads::table
        .filter(leads::score_version.lt(model_version))
        .filter(leads::status.ne_all(["converted", "disqualified"]))
        .filter(leads::deleted_at.is_null())
        .count()
        .get_result(conn)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<LeadRow>> {
    find_scoped(conn, id, &RowScope::All)
}

/// The columns duplicate matching compares (a candidate that matches).
#[derive(Debug, Clone, Queryable)]
pub struct DedupRow {
    pub id: String,
    pub name: String,
    pub company: Option<String>,
    pub company_key: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub email_domain: Option<String>,
    pub title: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub industry: Option<String>,
}

/// The columns that decide whether a candidate matches at all.
#[derive(Debug, Clone)]
pub struct MatchRow {
    pub id: String,
    pub company_key: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub email_domain: Option<String>,
    /// Read from the lead's row, live and unmerged; false for a company block's candidate,
    /// which holds its id and company key only.
    pub whole: bool,
}

/// Leads sharing a duplicate-matching key with the probe, found through the indexes on
/// phone, e-mail, e-mail domain and company block (never a scan): only their matching
/// keys, as most candidates of a company block do not match. A company block's leads
/// come from its index alone (id and company key, no table row read: a block holds up to
/// 200 leads and only a similar company makes one of them a match), so their other keys
/// are left empty and whether they are live is left to [`dedup_row`]. Deleted and merged
/// leads found by phone, e-mail or domain are dropped here rather than in the statement:
/// with `deleted_at IS NULL` in it, PostgreSQL without statistics yet (a fresh database's
/// first import) planned a bitmap over every live lead through the partial indexes on that
/// condition, and kept that plan.
pub fn dedup_candidates(
    conn: &mut DbConnection,
    phone: Option<&str>,
    email: Option<&str>,
    email_domain: Option<&str>,
    company_block: Option<&str>,
) -> QueryResult<Vec<MatchRow>> {
    // One static statement per key (not boxed), so each stays in the prepared-statement cache.
    macro_rules! by {
        ($column:expr, $value:expr, $limit:expr) => {
            concrete!(&mut *conn, c => leads::table
                .filter($column.eq($value))
                .select(MATCH_COLUMNS)
                .order(leads::id.desc())
                .limit($limit)
                .load::<Candidate>(c))?
        };
    }
    let mut found: Vec<MatchRow> = Vec::new();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut add = |rows: Vec<Candidate>| {
        found.extend(
            rows.into_iter()
                .filter_map(live_match)
                .filter(|m| seen.insert(m.id.clone())),
        );
    };
    if let Some(p) = phone {
        add(by!(leads::phone, p, 50));
    }
    if let Some(e) = email {
        add(by!(leads::email, e, 50));
    }
    if let Some(d) = email_domain {
        add(by!(leads::email_domain, d, 100));
    }
    if let Some(b) = company_block {
        let block: Vec<(String, Option<String>)> = concrete!(&mut *conn, c => leads::table
            .filter(leads::company_block.eq(b))
            .select((leads::id, leads::company_key))
            .order(leads::id.desc())
            .limit(200)
            .load(c))?;
        for (id, company_key) in block {
            if seen.insert(id.clone()) {
                found.push(MatchRow {
                    id,
                    company_key,
                    phone: None,
                    email: None,
                    email_domain: None,
                    whole: false,
                });
            }
        }
    }
    Ok(found)
}

/// The matching columns of a lead that is live and unmerged (a company block's candidate
/// made whole), checked as [`dedup_row`] does.
pub fn match_row(conn: &mut DbConnection, id: &str) -> QueryResult<Option<MatchRow>> {
    let found: Option<Candidate> = concrete!(conn, c => leads::table
        .find(id)
        .select(MATCH_COLUMNS)
        .first(c)
        .optional())?;
    Ok(found.and_then(live_match))
}

/// The columns a candidate is matched on, with its deletion and merge: each column is a
/// type and its value, so one list names both the select's type and the select.
macro_rules! match_columns {
    () => {
        (
            leads::id,
            leads::company_key,
            leads::phone,
            leads::email,
            leads::email_domain,
            leads::deleted_at,
            leads::merged_into,
        )
    };
}
const MATCH_COLUMNS: match_columns!() = match_columns!();
type Candidate = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// A candidate read through [`MATCH_COLUMNS`], when it is live and unmerged.
fn live_match(
    (id, company_key, phone, email, email_domain, deleted_at, merged_into): Candidate,
) -> Option<MatchRow> {
    (deleted_at.is_none() && merged_into.is_none()).then_some(MatchRow {
        id,
        company_key,
        phone,
        email,
        email_domain,
        whole: true,
    })
}

/// The compared columns of a lead that is live and unmerged. The lead's state is checked
/// here, not in the statement: with `deleted_at IS NULL` in it, PostgreSQL's generic plan
/// for the prepared statement (chosen on a fresh table without statistics) scanned the
/// partial index of live leads `leads_owner_conversions_idx`, filtering on the id, instead
/// of looking the id up, and an import ran at a third of its speed.
pub fn dedup_row(conn: &mut DbConnection, id: &str) -> QueryResult<Option<DedupRow>> {
    let found: Option<(DedupRow, Option<i64>, Option<String>)> = concrete!(conn, c => leads::table
        .find(id)
        .select((
            (
                leads::id,
                leads::name,
                leads::company,
                leads::company_key,
                leads::phone,
                leads::email,
                leads::email_domain,
                leads::title,
                leads::province,
                leads::city,
                leads::industry,
            ),
            leads::deleted_at,
            leads::merged_into,
        ))
        .first(c)
        .optional())?;
    Ok(found.and_then(|(row, deleted_at, merged_into)| {
        (deleted_at.is_none() && merged_into.is_none()).then_some(row)
    }))
}

/// Leads whose company has a key but no blocking key (the blocking rule changed), after
/// `after_id` in id order.
pub fn unblocked(
    conn: &mut DbConnection,
    after_id: &str,
    limit: i64,
) -> QueryResult<Vec<(String, Option<String>)>> {
    leads::table
        .filter(leads::company_block.is_null())
        .filter(leads::company_key.is_not_null())
        .filter(leads::id.gt(after_id))
        .order(leads::id.asc())
        .select((leads::id, leads::company_key))
        .limit(limit)
        .load(conn)
}

/// Stores a lead's blocking key (derived data: no version change, no audit entry).
pub fn set_block(conn: &mut DbConnection, id: &str, block: &str) -> QueryResult<()> {
    diesel::update(leads::table.find(id))
        .set(leads::company_block.eq(block))
        .execute(conn)
        .map(|_| ())
}

/// Ids of the leads merged into `id`.
pub fn merged_into(conn: &mut DbConnection, id: &str) -> QueryResult<Vec<String>> {
    leads::table
        .filter(leads::merged_into.eq(Some(id.to_string())))
        .select(leads::id)
        .load(conn)
}

/// A missed lead deadline charged to the rep who held the lead (for reports).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = super::schema::lead_lapses, treat_none_as_default_value = false)]
pub struct LapseRow<'a> {
    pub id: String,
    pub lead_id: &'a str,
    /// `claim` or `first_touch`.
    pub kind: &'a str,
    /// `reassigned`, `escalated` or `overdue`.
    pub outcome: &'a str,
    pub owner_id: Option<&'a str>,
    pub team_id: Option<&'a str>,
    pub at: i64,
}

pub fn record_lapse(conn: &mut DbConnection, row: &LapseRow<'_>) -> QueryResult<()> {
    diesel::insert_into(super::schema::lead_lapses::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The `n` most recently created live leads, newest first.
pub fn recent(conn: &mut DbConnection, n: i64) -> QueryResult<Vec<LeadRow>> {
    leads::table
        .filter(leads::deleted_at.is_null())
        .filter(leads::merged_into.is_null())
        .order((leads::created_at.desc(), leads::id.desc()))
        .limit(n)
        .load(conn)
}
