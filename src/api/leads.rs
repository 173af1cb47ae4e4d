//! `/leads`.

use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{
    created, location, ok_versioned, page, query_time, upserted, Auth, IfMatch, PageOf, PageParams,
};
use super::AppState;
use crate::domain::lead::{LeadSource, LeadStatus};
use crate::error::AppResult;
use crate::service::activities::{self, ActivityInput, ActivityView};
use crate::service::audit::AuditEntryView;
use crate::service::leads::{self as svc, LeadInput, LeadPatch, LeadView};
use crate::service::{dedup, lead_flow};
use crate::store::leads::LeadFilter;

/// Takes in a lead. Phone and e-mail are normalised (`+86 138-0013-8000` → `13800138000`).
#[utoipa::path(tag = "leads", request_body = LeadInput, responses((status = 201, description = "Created", body = LeadView)))]
#[post("")]
pub async fn create_lead(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<LeadInput>,
) -> AppResult<HttpResponse> {
    let l = svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("leads", &l.id), &l, l.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    pub status: Option<LeadStatus>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub source: Option<LeadSource>,
    /// `A`, `B` or `C`.
    pub grade: Option<String>,
    /// RFC 3339; only leads changed at or after it.
    pub updated_since: Option<String>,
    /// Matches name, company, phone or e-mail.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists the leads in the caller's scope, newest first.
#[utoipa::path(tag = "leads", params(LeadQuery), responses((status = 200, description = "A page of leads", body = PageOf<LeadView>)))]
#[get("")]
pub async fn list_leads(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<LeadQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let f = LeadFilter {
        status: q.status.map(|s| s.as_str().to_string()),
        owner_id: q.owner_id,
        team_id: q.team_id,
        source: q.source.map(|s| s.as_str().to_string()),
        grade: q.grade,
        updated_since: query_time("updated_since", &q.updated_since)?,
        q: q.q,
    };
    Ok(page(
        svc::list(&state.services, &auth.0, f, before, limit).await?,
    ))
}

/// Creates (201) or replaces (200) the lead known to another system by its id there.
#[utoipa::path(tag = "leads", request_body = LeadInput,
    params(("system" = String, Path, description = "e.g. `crm_legacy`"), ("external_id" = String, Path, description = "The id in that system")),
    responses((status = 201, description = "Created", body = LeadView), (status = 200, description = "Updated", body = LeadView)))]
#[put("/by-external/{system}/{external_id}")]
pub async fn upsert_lead(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Json<LeadInput>,
) -> AppResult<HttpResponse> {
    let (system, external_id) = path.into_inner();
    let (l, was_created) = svc::upsert_by_external(
        &state.services,
        &auth.0,
        system,
        external_id,
        body.into_inner(),
    )
    .await?;
    Ok(upserted(
        location("leads", &l.id),
        &l,
        l.version,
        was_created,
    ))
}

/// Reads a lead (404 when outside the caller's scope).
#[utoipa::path(tag = "leads", params(("id" = String, Path, description = "Lead id")),
    responses((status = 200, description = "The lead", body = LeadView)))]
#[get("/{id}")]
pub async fn get_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let l = svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&l, l.version))
}

/// Edits a lead; `null` clears a field. Closed (converted/disqualified) leads answer 409.
#[utoipa::path(tag = "leads", request_body = LeadPatch,
    params(("id" = String, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Updated", body = LeadView)))]
#[patch("/{id}")]
pub async fn update_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<LeadPatch>,
) -> AppResult<HttpResponse> {
    let l = svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&l, l.version))
}

/// Deletes a lead (admin; soft: it leaves reads, its history stays).
#[utoipa::path(tag = "leads",
    params(("id" = String, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 204, description = "Deleted")))]
#[delete("/{id}")]
pub async fn delete_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    svc::delete(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit entries of a lead, oldest first.
#[utoipa::path(tag = "leads", params(("id" = String, Path, description = "Lead id"), PageParams),
    responses((status = 200, description = "A page of audit entries", body = PageOf<AuditEntryView>)))]
#[get("/{id}/history")]
pub async fn lead_history(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, after) = q.resolve_seq()?;
    Ok(page(
        svc::history(&state.services, &auth.0, id.into_inner(), after, limit).await?,
    ))
}

/// The owner starts working the lead (开始跟进): stops the claim timer and starts the
/// first-touch timer.
#[utoipa::path(tag = "leads",
    params(("id" = String, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Now `working`", body = LeadView)))]
#[post("/{id}/accept")]
pub async fn accept_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let l = lead_flow::accept(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&l, l.version))
}

/// Hands the lead to a rep by hand (manager for their team, director, admin), with a reason.
#[utoipa::path(tag = "leads", request_body = lead_flow::AssignRequest,
    params(("id" = String, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Assigned", body = LeadView)))]
#[post("/{id}/assign")]
pub async fn assign_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<lead_flow::AssignRequest>,
) -> AppResult<HttpResponse> {
    let l = lead_flow::assign(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&l, l.version))
}

/// Qualifies a worked lead; without a reached `needs_discovery` activity it answers 422
/// with `missing`.
#[utoipa::path(tag = "leads",
    params(("id" = String, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Now `qualified`", body = LeadView)))]
#[post("/{id}/qualify")]
pub async fn qualify_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let l = lead_flow::qualify(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&l, l.version))
}

/// Closes the lead as disqualified, with a reason from the fixed list.
#[utoipa::path(tag = "leads", request_body = lead_flow::DisqualifyRequest,
    params(("id" = String, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Now `disqualified`", body = LeadView)))]
#[post("/{id}/disqualify")]
pub async fn disqualify_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<lead_flow::DisqualifyRequest>,
) -> AppResult<HttpResponse> {
    let l = lead_flow::disqualify(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&l, l.version))
}

/// Logs a follow-up activity (owner, their manager, director, admin).
#[utoipa::path(tag = "leads", request_body = ActivityInput, params(("id" = String, Path, description = "Lead id")),
    responses((status = 201, description = "Logged", body = ActivityView)))]
#[post("/{id}/activities")]
pub async fn log_activity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<ActivityInput>,
) -> AppResult<HttpResponse> {
    let lead_id = id.into_inner();
    let a = activities::log_on_lead(&state.services, &auth.0, lead_id.clone(), body.into_inner())
        .await?;
    Ok(created(
        format!("/api/v1/leads/{lead_id}/activities"),
        &a,
        1,
    ))
}

/// The lead's activities, newest first.
#[utoipa::path(tag = "leads", params(("id" = String, Path, description = "Lead id"), PageParams),
    responses((status = 200, description = "A page of activities", body = PageOf<ActivityView>)))]
#[get("/{id}/activities")]
pub async fn list_activities(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, before) = q.resolve()?;
    Ok(page(
        activities::list_for_lead(&state.services, &auth.0, id.into_inner(), before, limit).await?,
    ))
}

/// Checks a lead body against stored leads (phone, phone + company, e-mail, e-mail domain +
/// company, company-name similarity ≥ 0.85 by Jaro-Winkler) without storing anything.
#[utoipa::path(tag = "leads", request_body = LeadInput,
    responses((status = 200, description = "Suspected duplicates, best first", body = Vec<dedup::DedupCandidate>)))]
#[post("/dedup-check")]
pub async fn dedup_check(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<LeadInput>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(dedup::check(&state.services, &auth.0, body.into_inner()).await?))
}

/// Folds a duplicate into this lead: empty fields filled, activities, external ids and
/// history moved over, the duplicate disqualified as `duplicate` with `merged_into`.
#[utoipa::path(tag = "leads", request_body = dedup::MergeRequest,
    params(("id" = String, Path, description = "The surviving lead"), ("If-Match" = Option<String>, Header, description = "Expected version of the survivor")),
    responses((status = 200, description = "The survivor after the merge", body = LeadView)))]
#[post("/{id}/merge")]
pub async fn merge_leads(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<dedup::MergeRequest>,
) -> AppResult<HttpResponse> {
    let l = dedup::merge(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&l, l.version))
}

/// Converts a qualified lead into an account (linked by id or company-name match, else
/// created), a contact and an opportunity at the first stage; returns their ids.
#[utoipa::path(tag = "leads", request_body = lead_flow::ConvertRequest,
    params(("id" = String, Path, description = "Lead id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Converted", body = lead_flow::ConvertResult)))]
#[post("/{id}/convert")]
pub async fn convert_lead(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<lead_flow::ConvertRequest>,
) -> AppResult<HttpResponse> {
    let r = lead_flow::convert(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&r, r.lead.version))
}
