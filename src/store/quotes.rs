//! Quotes and the customer views integrations report.

use diesel::prelude::*;

use super::schema::{quote_views, quotes};
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = quotes, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct QuoteRow {
    pub id: String,
    pub opportunity_id: String,
    pub number: String,
    pub currency: String,
    /// JSON array of line items.
    pub items: String,
    /// Discount in basis points of the subtotal (12.5% = 1250).
    pub discount_bp: i64,
    pub subtotal_cents: i64,
    pub discount_cents: i64,
    pub total_cents: i64,
    pub status: String,
    pub note: Option<String>,
    pub valid_until: Option<String>,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_comment: Option<String>,
    pub sent_at: Option<i64>,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = quote_views, treat_none_as_default_value = false)]
pub struct QuoteViewRow {
    pub id: String,
    pub quote_id: String,
    /// `opened` or `downloaded`.
    pub event: String,
    pub at: i64,
    pub page: Option<i32>,
    pub recorded_by: String,
    pub created_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &QuoteRow) -> QueryResult<()> {
    diesel::insert_into(quotes::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(conn: &mut DbConnection, row: &QuoteRow, expected_version: i64) -> QueryResult<bool> {
    let n = diesel::update(
        quotes::table
            .find(&row.id)
            .filter(quotes::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<QuoteRow>> {
    quotes::table.find(id).first(conn).optional()
}

/// A deal's quotes, newest first, before the cursor key.
pub fn for_opportunity(
    conn: &mut DbConnection,
    opportunity_id: &str,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<QuoteRow>> {
    let mut q = quotes::table
        .filter(quotes::opportunity_id.eq(opportunity_id.to_string()))
        .order(quotes::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(quotes::id.lt(b.to_string()));
    }
    q.load(conn)
}

/// Whether the deal has an approved (or already sent) quote.
pub fn has_approved(conn: &mut DbConnection, opportunity_id: &str) -> QueryResult<bool> {
    let n: i64 = quotes::table
        .filter(quotes::opportunity_id.eq(opportunity_id.to_string()))
        .filter(quotes::status.eq_any(["approved", "sent"]))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn insert_view(conn: &mut DbConnection, row: &QuoteViewRow) -> QueryResult<()> {
    diesel::insert_into(quote_views::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The latest customer views of a quote, newest first.
pub fn views(
    conn: &mut DbConnection,
    quote_id: &str,
    limit: i64,
) -> QueryResult<Vec<QuoteViewRow>> {
    quote_views::table
        .filter(quote_views::quote_id.eq(quote_id.to_string()))
        .order(quote_views::id.desc())
        .limit(limit)
        .load(conn)
}
