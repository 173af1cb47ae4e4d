//! Business calendars (admin): the clocks SLA timers run on when a rule names one.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::input::{from_json_text, to_json_text, Check};
use super::{check_version, new_id, Ctx, Page, Services};
use crate::auth::require_role;
use crate::domain::audit::diff;
use crate::domain::calendar::{Calendar, Hours};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::calendars::{self, CalendarRow};
use crate::store::{is_unique_violation, DbConnection};

const ENTITY: &str = "calendar";

/// A dated entry: a holiday or a make-up workday (调休上班).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"date": "2026-10-01", "name": "国庆节"}))]
pub struct DatedEntry {
    pub date: NaiveDate,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "中国大陆工作日", "time_zone": "Asia/Shanghai",
    "hours": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}],
    "holidays": [{"date": "2026-10-01", "name": "国庆节"}],
    "makeup_workdays": [{"date": "2026-10-10", "name": null}]
}))]
pub struct CalendarInput {
    pub name: String,
    /// IANA zone; default `Asia/Shanghai`.
    pub time_zone: Option<String>,
    pub hours: Vec<Hours>,
    #[serde(default)]
    pub holidays: Vec<DatedEntry>,
    /// Weekend days that are working days (they work Monday's hours).
    #[serde(default)]
    pub makeup_workdays: Vec<DatedEntry>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarView {
    pub id: String,
    pub name: String,
    pub time_zone: String,
    pub hours: Vec<Hours>,
    pub holidays: Vec<DatedEntry>,
    pub makeup_workdays: Vec<DatedEntry>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<CalendarRow> for CalendarView {
    fn from(r: CalendarRow) -> Self {
        CalendarView {
            id: r.id,
            name: r.name,
            time_zone: r.time_zone,
            hours: from_json_text(&r.hours),
            holidays: from_json_text(&r.holidays),
            makeup_workdays: from_json_text(&r.makeup_workdays),
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn dates(v: &[DatedEntry]) -> Vec<NaiveDate> {
    v.iter().map(|d| d.date).collect()
}

/// Validates a body into the row fields (name, zone, hours, holidays, workdays as JSON).
fn validate(i: &CalendarInput) -> AppResult<(String, String)> {
    let mut c = Check::default();
    let name = c.required("name", Some(i.name.clone()), 100);
    if i.holidays.len() + i.makeup_workdays.len() > 2000 {
        c.fail("holidays", "too_many", "at most 2000 dated entries");
    }
    c.finish()?;
    let tz = i
        .time_zone
        .clone()
        .unwrap_or_else(|| "Asia/Shanghai".into());
    Calendar::parse(
        &tz,
        &i.hours,
        &dates(&i.holidays),
        &dates(&i.makeup_workdays),
    )
    .map_err(|errs| {
        AppError::validation(
            errs.into_iter()
                .map(|(field, message)| FieldError {
                    field,
                    code: "invalid".into(),
                    message,
                })
                .collect(),
        )
    })?;
    Ok((name, tz))
}

/// The parsed calendar with this id, if any.
pub fn load(conn: &mut DbConnection, id: &str) -> AppResult<Option<Calendar>> {
    let Some(row) = calendars::find(conn, id)? else {
        return Ok(None);
    };
    let v = CalendarView::from(row);
    Calendar::parse(
        &v.time_zone,
        &v.hours,
        &dates(&v.holidays),
        &dates(&v.makeup_workdays),
    )
    .map(Some)
    .map_err(|_| AppError::internal(format!("stored calendar {id} is invalid")))
}

fn name_taken(e: diesel::result::Error) -> AppError {
    if is_unique_violation(&e) {
        AppError::duplicate("a calendar with this name exists")
    } else {
        e.into()
    }
}

pub async fn create(svc: &Services, ctx: &Ctx, i: CalendarInput) -> AppResult<CalendarView> {
    require_role(&ctx.principal, &[Role::Admin])?;
    let (name, tz) = validate(&i)?;
    svc.write(ctx, move |uow| {
        let row = CalendarRow {
            id: new_id(),
            name,
            time_zone: tz,
            hours: to_json_text(&i.hours),
            holidays: to_json_text(&i.holidays),
            makeup_workdays: to_json_text(&i.makeup_workdays),
            version: 1,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
        };
        calendars::insert(uow.conn, &row).map_err(name_taken)?;
        let view = CalendarView::from(row);
        let snap = serde_json::to_value(&view).unwrap_or_default();
        uow.audit_created(
            ENTITY,
            &view.id,
            &snap,
            &["version", "created_at", "updated_at"],
        );
        uow.event(
            "config.changed",
            ENTITY,
            &view.id,
            json!({"key": "calendars", "calendar_id": view.id}),
        );
        Ok(view)
    })
    .await
}

pub async fn replace(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    i: CalendarInput,
) -> AppResult<CalendarView> {
    require_role(&ctx.principal, &[Role::Admin])?;
    let (name, tz) = validate(&i)?;
    svc.write(ctx, move |uow| {
        let old = calendars::find(uow.conn, &id)?.ok_or_else(|| AppError::not_found("calendar"))?;
        check_version(if_match, old.version)?;
        let new = CalendarRow {
            name,
            time_zone: tz,
            hours: to_json_text(&i.hours),
            holidays: to_json_text(&i.holidays),
            makeup_workdays: to_json_text(&i.makeup_workdays),
            version: old.version + 1,
            updated_at: uow.now_ms,
            ..old.clone()
        };
        if !calendars::update(uow.conn, &new, old.version).map_err(name_taken)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let (before, after) = (CalendarView::from(old), CalendarView::from(new));
        let changes = diff(
            &serde_json::to_value(&before).unwrap_or_default(),
            &serde_json::to_value(&after).unwrap_or_default(),
            &["version", "updated_at"],
        );
        uow.audit(ENTITY, &after.id, "update", &changes);
        uow.event(
            "config.changed",
            ENTITY,
            &after.id,
            json!({"key": "calendars", "calendar_id": after.id}),
        );
        Ok(after)
    })
    .await
}

pub async fn get(svc: &Services, _ctx: &Ctx, id: String) -> AppResult<CalendarView> {
    svc.read(move |conn| {
        calendars::find(conn, &id)?
            .map(CalendarView::from)
            .ok_or_else(|| AppError::not_found("calendar"))
    })
    .await
}

pub async fn list(svc: &Services, _ctx: &Ctx) -> AppResult<Page<CalendarView>> {
    let rows = svc.read(|conn| Ok(calendars::list(conn)?)).await?;
    Ok(Page {
        items: rows.into_iter().map(CalendarView::from).collect(),
        next_cursor: None,
    })
}
