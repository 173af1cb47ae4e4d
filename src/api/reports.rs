//! `/reports/*` and `/custom-fields`.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{created, location, ok_versioned, query_time, Auth, IfMatch};
use super::AppState;
use crate::error::AppResult;
use crate::service::custom_fields::{
    self as fields, CustomFieldInput, CustomFieldPatch, CustomFieldView, DryRunReport,
};
use crate::service::reports::{
    self as svc, ActionsReport, DataHealthReport, LeadFunnelReport, LeadHealthReport,
    LeadResponseReport, PipelineReport, ReportParams, ServiceReport,
};
use crate::service::Figures;

/// A report's figures as their JSON document, written once per computation.
fn figures<T: serde::Serialize>(r: Figures<T>) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(r.json()?))
}

const IF_MATCH: &str = "Expected version, e.g. \"3\"";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// RFC 3339, inclusive (default: 30 days before `to`; lead-health-daily: 24 hours;
    /// data-health: all records).
    pub from: Option<String>,
    /// RFC 3339, exclusive (default: now).
    pub to: Option<String>,
    /// Only records of this team (its own or owned by its members; work orders: taken by it).
    pub team_id: Option<String>,
    /// Only records owned by this user (work orders: assigned to this engineer).
    pub owner_id: Option<String>,
}

impl ReportQuery {
    fn params(self) -> AppResult<ReportParams> {
        Ok(ReportParams {
            from: query_time("from", &self.from)?,
            to: query_time("to", &self.to)?,
            team_id: self.team_id,
            owner_id: self.owner_id,
        })
    }
}

/// Lead response: first-touch time (first assignment → first reached activity, median and
/// p90 by nearest rank, seconds) and 24-hour action completion of the leads first assigned
/// in the period; claim breaches and automatic re-assignments in the period, charged to
/// the rep who held the lead. Row scope applies (a manager sees their team, a rep their
/// own leads).
#[utoipa::path(tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report", body = LeadResponseReport)))]
#[get("/lead-response")]
pub async fn lead_response(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> AppResult<HttpResponse> {
    let r = svc::lead_response(&state.services, &auth.0, q.into_inner().params()?).await?;
    figures(r)
}

/// Lead funnel of the leads created in the period: counts by current status and by
/// source, conversion rate (converted / ever assigned) and MQL conversion by score grade.
#[utoipa::path(tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report", body = LeadFunnelReport)))]
#[get("/lead-funnel")]
pub async fn lead_funnel(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> AppResult<HttpResponse> {
    let r = svc::lead_funnel(&state.services, &auth.0, q.into_inner().params()?).await?;
    figures(r)
}

/// Follow-up discipline: required-action coverage (leads accepted within their claim
/// window), key-action timeliness (mean seconds from a planned next action's due time to
/// the activity that carries it out), action-chain completeness (converted leads that went
/// through first_contact → needs_discovery → demo → quote_submitted) and trace density
/// (activities per touched lead per 30 days, with leads per rep).
#[utoipa::path(tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report", body = ActionsReport)))]
#[get("/actions")]
pub async fn actions(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> AppResult<HttpResponse> {
    let r = svc::actions(&state.services, &auth.0, q.into_inner().params()?).await?;
    figures(r)
}

/// Pipeline: weighted forecast and per-stage count/amount of the open deals now, mean days
/// in stage and the regression rate of the stage moves in the period, stalled deals,
/// evidence completeness of the gated actions logged in the period, and forecast deviation
/// (won in the period vs. the weighted forecast, at the period's start, of the deals
/// expected to close in it).
#[utoipa::path(tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report", body = PipelineReport)))]
#[get("/pipeline")]
pub async fn pipeline(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> AppResult<HttpResponse> {
    let r = svc::pipeline(&state.services, &auth.0, q.into_inner().params()?).await?;
    figures(r)
}

/// Service of the work orders created in the period, overall and by team: closure rate
/// (closed / created), SLA compliance (met / with a known outcome) and MTTR (creation to
/// customer sign-off, time waiting on the customer excluded).
#[utoipa::path(tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report", body = ServiceReport)))]
#[get("/service")]
pub async fn service(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> AppResult<HttpResponse> {
    let r = svc::service(&state.services, &auth.0, q.into_inner().params()?).await?;
    figures(r)
}

/// Data health: suspected duplicate leads and accounts not merged, and the share of
/// records with each field (and each defined custom field) filled in, per entity.
#[utoipa::path(tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report", body = DataHealthReport)))]
#[get("/data-health")]
pub async fn data_health(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> AppResult<HttpResponse> {
    let r = svc::data_health(&state.services, &auth.0, q.into_inner().params()?).await?;
    figures(r)
}

/// The daily lead-health digest on demand: the 10 open leads longest without an activity,
/// and reps with more than 3 missed lead deadlines in the period. The sweeper posts it per
/// team every morning as `report.lead_health_daily`.
#[utoipa::path(tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report", body = LeadHealthReport)))]
#[get("/lead-health-daily")]
pub async fn lead_health_daily(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ReportQuery>,
) -> AppResult<HttpResponse> {
    let r = svc::lead_health_daily(&state.services, &auth.0, q.into_inner().params()?).await?;
    figures(r)
}

/// Defines a custom field (admin). From the first definition on, the entity's `custom{}`
/// is strict: unknown keys and values of the wrong type are refused (422 naming
/// `custom.<key>`). A required field binds creates; updates may not remove it; existing
/// records without it stay valid until backfilled. Conditions of assignment, routing and
/// SLA rules and the scoring model can name it as `custom.<key>`; imports take it as a
/// `custom.<key>` column.
#[utoipa::path(tag = "trust", request_body = CustomFieldInput,
    responses((status = 201, description = "Created", body = CustomFieldView)))]
#[post("")]
pub async fn create_field(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<CustomFieldInput>,
) -> AppResult<HttpResponse> {
    let f = fields::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("custom-fields", &f.id), &f, f.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FieldQuery {
    /// Only this entity's fields.
    pub entity: Option<String>,
}

/// The custom-field definitions (any signed-in caller: front ends render forms from them).
#[utoipa::path(tag = "trust", params(FieldQuery),
    responses((status = 200, description = "The definitions, by entity and key", body = [CustomFieldView])))]
#[get("")]
pub async fn list_fields(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<FieldQuery>,
) -> AppResult<HttpResponse> {
    let all = fields::list(&state.services, &auth.0, q.into_inner().entity).await?;
    Ok(HttpResponse::Ok().json(all))
}

/// What a custom field would break, without saving anything (admin): stored records that
/// violate it (`violating_records`, up to 10 `sample_ids`) and, per client (API key or
/// user agent), the successful writes of the last 7 days it would have refused. The body
/// is a definition; one with the key of an existing field is judged as its replacement
/// (narrowed options, a field made required).
#[utoipa::path(tag = "trust", request_body = CustomFieldInput,
    responses((status = 200, description = "The impact", body = DryRunReport)))]
#[post("/dry-run")]
pub async fn dry_run(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<CustomFieldInput>,
) -> AppResult<HttpResponse> {
    let r = fields::dry_run(&state.services, &auth.0, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Reads a custom-field definition.
#[utoipa::path(tag = "trust", params(("id" = String, Path, description = "Custom field id")),
    responses((status = 200, description = "The definition", body = CustomFieldView)))]
#[get("/{id}")]
pub async fn get_field(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let f = fields::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&f, f.version))
}

/// Edits a definition's label, description, required flag or options (admin); entity, key
/// and type are fixed. Run the dry run first to see what narrowed options or a new
/// required flag would refuse.
#[utoipa::path(tag = "trust", request_body = CustomFieldPatch,
    params(("id" = String, Path, description = "Custom field id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Updated", body = CustomFieldView)))]
#[patch("/{id}")]
pub async fn update_field(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<CustomFieldPatch>,
) -> AppResult<HttpResponse> {
    let f = fields::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&f, f.version))
}

/// Removes a definition (admin). Stored values stay in the records; while the entity has
/// other definitions the key is no longer accepted in writes.
#[utoipa::path(tag = "trust",
    params(("id" = String, Path, description = "Custom field id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 204, description = "Deleted")))]
#[delete("/{id}")]
pub async fn delete_field(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    fields::delete(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
