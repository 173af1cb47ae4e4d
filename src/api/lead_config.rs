//! `/config/scoring` and `/assignment-rules`.

use super::extract::{
    created, location, ok_versioned, page, replaced_or_tried, saved_or_tried, Auth, DryRun,
    IfMatch, PageOf, SavedOrTried,
};
use super::AppState;
use crate::domain::activity::ActivityRules;
use crate::domain::scoring::{Score, ScoringModel};
use crate::error::AppResult;
use crate::service::activities::{self as activities_svc, ActivityRulesView};
use crate::service::calendars::{self, CalendarInput, CalendarView};
use crate::service::impact::ConfigDryRun;
use crate::service::routing::AssignmentRecord;
use crate::service::rules::{self as rules_svc, RuleInput, RuleView};
use crate::service::scoring::{self as scoring_svc, ScoringConfigView};
use actix_web::{delete, get, post, put, web, HttpResponse};

/// The scoring model in force (the built-in default at version 0 until one is saved).
#[utoipa::path(tag = "lead-config", responses((status = 200, description = "The model", body = ScoringConfigView)))]
#[get("/scoring")]
pub async fn get_scoring(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    let v = scoring_svc::get(&state.services, &auth.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Replaces the scoring model (admin, director, marketing): validated, versioned, audited,
/// `config.changed`. Open leads are then rescored in the background (`rescore_pending`).
#[utoipa::path(tag = "lead-config", request_body = ScoringModel, params(DryRun,
    ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Saved (or, with dry_run, validated)", body = ScoringConfigView)))]
#[put("/scoring")]
pub async fn put_scoring(
    state: web::Data<AppState>,
    auth: Auth,
    if_match: IfMatch,
    q: web::Query<DryRun>,
    body: web::Json<ScoringModel>,
) -> AppResult<HttpResponse> {
    let v = scoring_svc::put(
        &state.services,
        &auth.0,
        body.into_inner(),
        if_match.0,
        q.on(),
    )
    .await?;
    Ok(ok_versioned(&v, v.version))
}

/// Scores a lead body without storing anything (optionally with a candidate model).
#[utoipa::path(tag = "lead-config", request_body = scoring_svc::SimulateRequest,
    responses((status = 200, description = "Score, grade and breakdown", body = Score)))]
#[post("/scoring/simulate")]
pub async fn simulate_scoring(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<scoring_svc::SimulateRequest>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(scoring_svc::simulate(&state.services, &auth.0, body.into_inner()).await?))
}

/// Creates an assignment rule (admin, director; managers for their own team's pool). With
/// `?dry_run=true` nothing is saved: the answer (200) tells which of the 200 most recent
/// leads would match another rule.
#[utoipa::path(tag = "lead-config", request_body = RuleInput, params(DryRun),
    responses((status = 201, description = "Created", body = RuleView),
              (status = 200, description = "Dry run: the impact", body = ConfigDryRun)))]
#[post("")]
pub async fn create_rule(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<DryRun>,
    body: web::Json<RuleInput>,
) -> AppResult<HttpResponse> {
    let w = rules_svc::create(&state.services, &auth.0, body.into_inner(), q.on()).await?;
    Ok(saved_or_tried(w, |r| {
        created(location("assignment-rules", &r.id), &r, r.version)
    }))
}

/// The rules in evaluation order (lower priority first).
#[utoipa::path(tag = "lead-config", responses((status = 200, description = "All rules", body = PageOf<RuleView>)))]
#[get("")]
pub async fn list_rules(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    Ok(page(rules_svc::list(&state.services, &auth.0).await?))
}

/// What the rules would do with a lead (rule, matched conditions, candidates, pick, reason);
/// nothing is stored.
#[utoipa::path(tag = "lead-config", request_body = rules_svc::SimulateRequest,
    responses((status = 200, description = "The decision", body = AssignmentRecord)))]
#[post("/simulate")]
pub async fn simulate_rules(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<rules_svc::SimulateRequest>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(rules_svc::simulate(&state.services, &auth.0, body.into_inner()).await?))
}

/// Reads a rule.
#[utoipa::path(tag = "lead-config", params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, description = "The rule", body = RuleView)))]
#[get("/{id}")]
pub async fn get_rule(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let r = rules_svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&r, r.version))
}

/// Replaces a rule; `?dry_run=true` reports the impact on the 200 most recent leads instead.
#[utoipa::path(tag = "lead-config", request_body = RuleInput,
    params(("id" = String, Path, description = "Rule id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""), DryRun),
    responses((status = 200, description = "Saved, or with dry_run the impact", body = SavedOrTried<RuleView>)))]
#[put("/{id}")]
pub async fn replace_rule(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    q: web::Query<DryRun>,
    body: web::Json<RuleInput>,
) -> AppResult<HttpResponse> {
    let w = rules_svc::replace(
        &state.services,
        &auth.0,
        (id.into_inner(), if_match.0),
        body.into_inner(),
        q.on(),
    )
    .await?;
    Ok(replaced_or_tried(w, |r| r.version))
}

/// Deletes a rule (leads it routed keep their assignment record); `?dry_run=true` reports
/// the impact on the 200 most recent leads instead.
#[utoipa::path(tag = "lead-config",
    params(("id" = String, Path, description = "Rule id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\""), DryRun),
    responses((status = 204, description = "Deleted"), (status = 200, description = "Dry run: the impact", body = ConfigDryRun)))]
#[delete("/{id}")]
pub async fn delete_rule(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    q: web::Query<DryRun>,
) -> AppResult<HttpResponse> {
    let w = rules_svc::delete(
        &state.services,
        &auth.0,
        (id.into_inner(), if_match.0),
        q.on(),
    )
    .await?;
    Ok(saved_or_tried(w, |_| HttpResponse::NoContent().finish()))
}

/// Creates a business calendar (admin): time zone, weekly hours, holidays, make-up workdays.
#[utoipa::path(tag = "lead-config", request_body = CalendarInput, responses((status = 201, description = "Created", body = CalendarView)))]
#[post("")]
pub async fn create_calendar(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<CalendarInput>,
) -> AppResult<HttpResponse> {
    let c = calendars::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("calendars", &c.id), &c, c.version))
}

/// Lists business calendars.
#[utoipa::path(tag = "lead-config", responses((status = 200, description = "All calendars", body = PageOf<CalendarView>)))]
#[get("")]
pub async fn list_calendars(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    Ok(page(calendars::list(&state.services, &auth.0).await?))
}

/// Reads a business calendar.
#[utoipa::path(tag = "lead-config", params(("id" = String, Path, description = "Calendar id")),
    responses((status = 200, description = "The calendar", body = CalendarView)))]
#[get("/{id}")]
pub async fn get_calendar(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let c = calendars::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&c, c.version))
}

/// Replaces a business calendar (admin); timers already set keep their due times.
#[utoipa::path(tag = "lead-config", request_body = CalendarInput,
    params(("id" = String, Path, description = "Calendar id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Replaced", body = CalendarView)))]
#[put("/{id}")]
pub async fn replace_calendar(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<CalendarInput>,
) -> AppResult<HttpResponse> {
    let c = calendars::replace(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// The rules of follow-up activities in force: actions that need evidence and the summary
/// keywords that flag priority (the built-in defaults at version 0).
#[utoipa::path(tag = "lead-config", responses((status = 200, description = "The rules", body = ActivityRulesView)))]
#[get("/activities")]
pub async fn get_activity_rules(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    let v = activities_svc::rules(&state.services, &auth.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Replaces the activity rules (admin, director): versioned, audited, `config.changed`.
#[utoipa::path(tag = "lead-config", request_body = ActivityRules,
    params(("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Saved", body = ActivityRulesView)))]
#[put("/activities")]
pub async fn put_activity_rules(
    state: web::Data<AppState>,
    auth: Auth,
    if_match: IfMatch,
    body: web::Json<ActivityRules>,
) -> AppResult<HttpResponse> {
    let v =
        activities_svc::put_rules(&state.services, &auth.0, body.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&v, v.version))
}
