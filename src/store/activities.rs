//! Follow-up activities on leads (and, later, opportunities).

use diesel::prelude::*;

use super::schema::activities;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = activities, treat_none_as_default_value = false)]
pub struct ActivityRow {
    pub id: String,
    pub lead_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub channel: String,
    pub action: String,
    pub reached: bool,
    pub summary: String,
    pub contact_id: Option<String>,
    pub next_action: Option<String>,
    pub next_action_due_at: Option<i64>,
    pub evidence: String,
    pub priority_flagged: bool,
    pub created_by: String,
    pub created_at: i64,
    /// When a later activity carried out this one's `next_action` (reports).
    pub fulfilled_at: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &ActivityRow) -> QueryResult<()> {
    diesel::insert_into(activities::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// A page of a lead's activities, newest first, before the cursor key.
pub fn for_lead(
    conn: &mut DbConnection,
    lead_id: &str,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ActivityRow>> {
    let mut q = activities::table
        .filter(activities::lead_id.eq(lead_id.to_string()))
        .order(activities::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(activities::id.lt(b.to_string()));
    }
    q.load(conn)
}

/// Whether the lead has a reached activity of this action.
pub fn has_reached(conn: &mut DbConnection, lead_id: &str, action: &str) -> QueryResult<bool> {
    let n: i64 = activities::table
        .filter(activities::lead_id.eq(lead_id))
        .filter(activities::action.eq(action))
        .filter(activities::reached.eq(true))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Moves a lead's activities to another lead (merge).
pub fn move_to_lead(conn: &mut DbConnection, from: &str, to: &str) -> QueryResult<usize> {
    diesel::update(activities::table.filter(activities::lead_id.eq(from)))
        .set(activities::lead_id.eq(to))
        .execute(conn)
}

/// A page of a deal's activities, newest first, before the cursor key.
pub fn for_opportunity(
    conn: &mut DbConnection,
    opportunity_id: &str,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<ActivityRow>> {
    let mut q = activities::table
        .filter(activities::opportunity_id.eq(opportunity_id.to_string()))
        .order(activities::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(activities::id.lt(b.to_string()));
    }
    q.load(conn)
}

/// The reached activities of a deal and of the lead it came from: (action, evidence JSON).
pub fn reached_for_deal(
    conn: &mut DbConnection,
    opportunity_id: &str,
    lead_id: Option<&str>,
) -> QueryResult<Vec<(String, String)>> {
    let mut q = activities::table
        .filter(activities::reached.eq(true))
        .select((activities::action, activities::evidence))
        .into_boxed();
    q = match lead_id {
        Some(l) => q.filter(
            activities::opportunity_id
                .eq(opportunity_id.to_string())
                .or(activities::lead_id.eq(l.to_string())),
        ),
        None => q.filter(activities::opportunity_id.eq(opportunity_id.to_string())),
    };
    q.load(conn)
}

/// Marks the open plans of `action` on a lead (`on_lead`) or deal as carried out `at`.
pub fn fulfil(
    conn: &mut DbConnection,
    on_lead: bool,
    subject_id: &str,
    action: &str,
    at: i64,
) -> QueryResult<usize> {
    let open = activities::table
        .filter(activities::next_action.eq(action))
        .filter(activities::fulfilled_at.is_null())
        .filter(activities::created_at.lt(at));
    if on_lead {
        diesel::update(open.filter(activities::lead_id.eq(subject_id)))
            .set(activities::fulfilled_at.eq(at))
            .execute(conn)
    } else {
        diesel::update(open.filter(activities::opportunity_id.eq(subject_id)))
            .set(activities::fulfilled_at.eq(at))
            .execute(conn)
    }
}
