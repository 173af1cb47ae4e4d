//! Work orders (delivery orders created by contract signing; the service flow extends them).

use diesel::prelude::*;

use super::schema::work_orders;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = work_orders, treat_none_as_null = true)]
pub struct WorkOrderRow {
    pub id: String,
    pub number: String,
    pub type_: String,
    pub status: String,
    pub account_id: String,
    pub contract_id: Option<String>,
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    pub description: Option<String>,
    pub priority: String,
    pub channel: String,
    /// JSON object: the data each step recorded (diagnosis, parts, signer, …).
    pub step_data: String,
    pub cancel_reason: Option<String>,
    pub created_by: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &WorkOrderRow) -> QueryResult<()> {
    diesel::insert_into(work_orders::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(
    conn: &mut DbConnection,
    row: &WorkOrderRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        work_orders::table
            .find(&row.id)
            .filter(work_orders::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<WorkOrderRow>> {
    work_orders::table.find(id).first(conn).optional()
}

pub fn for_contract(conn: &mut DbConnection, contract_id: &str) -> QueryResult<Vec<WorkOrderRow>> {
    work_orders::table
        .filter(work_orders::contract_id.eq(contract_id.to_string()))
        .order(work_orders::id.asc())
        .load(conn)
}
