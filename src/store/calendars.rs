//! Business calendars.

use diesel::prelude::*;

use super::schema::calendars;
use super::DbConnection;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = calendars, treat_none_as_default_value = false)]
pub struct CalendarRow {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    pub hours: String,
    pub holidays: String,
    pub makeup_workdays: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, row: &CalendarRow) -> QueryResult<()> {
    diesel::insert_into(calendars::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn update(
    conn: &mut DbConnection,
    row: &CalendarRow,
    expected_version: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        calendars::table
            .find(&row.id)
            .filter(calendars::version.eq(expected_version)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<CalendarRow>> {
    calendars::table.find(id).first(conn).optional()
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<CalendarRow>> {
    calendars::table.order(calendars::name.asc()).load(conn)
}
