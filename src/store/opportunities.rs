//! Opportunities (created by lead conversion for now).

use diesel::prelude::*;

use super::schema::opportunities;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = opportunities)]
pub struct OpportunityRow {
    pub id: String,
    pub account_id: String,
    pub primary_contact_id: Option<String>,
    pub name: String,
    pub amount_cents: Option<i64>,
    pub currency: String,
    pub expected_close_date: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub lead_id: Option<String>,
    pub stage: String,
    pub probability: i32,
    pub status: String,
    pub stage_entered_at: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &OpportunityRow) -> QueryResult<()> {
    diesel::insert_into(opportunities::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<OpportunityRow>> {
    opportunities::table.find(id).first(conn).optional()
}
