//! `/pipeline`, `/opportunities` and `/quotes`.

use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{
    created, location, ok_versioned, page, query_time, replaced_or_tried, Auth, DryRun, IfMatch,
    PageOf, PageParams, SavedOrTried,
};
use super::AppState;
use crate::domain::pipeline::Pipeline;
use crate::error::{AppError, AppResult};
use crate::service::activities::{self, ActivityInput, ActivityView};
use crate::service::opportunities::{
    self as svc, ForecastGroupBy, ForecastView, LoseRequest, OpportunityInput, OpportunityPatch,
    OpportunityView, StageChangeView, StageRequest,
};
use crate::service::pipeline::{self as pipeline_svc, PipelineView};
use crate::service::quotes::{
    self as quotes_svc, DecisionRequest, QuoteInput, QuoteView, QuoteViewEntry, ViewRequest,
};
use crate::store::opportunities::OpportunityFilter;

const IF_MATCH: &str = "Expected version, e.g. \"3\"";

/// The pipeline in force: stages, probabilities, exit requirements (the built-in default at
/// version 0 until one is saved).
#[utoipa::path(tag = "pipeline", responses((status = 200, description = "The pipeline", body = PipelineView)))]
#[get("")]
pub async fn get_pipeline(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    let v = pipeline_svc::get(&state.services, &auth.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Replaces the pipeline (admin): unique stage keys, probabilities 0–100 and non-decreasing,
/// known requirement kinds; versioned, audited, `config.changed`. A stage that still holds
/// open deals cannot be removed (409); open deals take their stage's new probability.
#[utoipa::path(tag = "pipeline", request_body = Pipeline,
    params(("If-Match" = Option<String>, Header, description = IF_MATCH), DryRun),
    responses((status = 200, description = "Saved, or with dry_run the impact", body = SavedOrTried<PipelineView>)))]
#[put("")]
pub async fn put_pipeline(
    state: web::Data<AppState>,
    auth: Auth,
    if_match: IfMatch,
    q: web::Query<DryRun>,
    body: web::Json<Pipeline>,
) -> AppResult<HttpResponse> {
    let w = pipeline_svc::put(
        &state.services,
        &auth.0,
        body.into_inner(),
        if_match.0,
        q.on(),
    )
    .await?;
    Ok(replaced_or_tried(w, |v| v.version))
}

/// Opens a deal on an account in the pipeline's first stage (sales, managers, directors,
/// admins, integrations).
#[utoipa::path(tag = "pipeline", request_body = OpportunityInput,
    responses((status = 201, description = "Created", body = OpportunityView)))]
#[post("")]
pub async fn create_opportunity(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<OpportunityInput>,
) -> AppResult<HttpResponse> {
    let o = svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("opportunities", &o.id), &o, o.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpportunityQuery {
    /// `open`, `won` or `lost`.
    pub status: Option<String>,
    /// A stage key.
    pub stage: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub account_id: Option<String>,
    pub stalled: Option<bool>,
    /// RFC 3339; only deals changed at or after it.
    pub updated_since: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists the deals in the caller's scope, newest first.
#[utoipa::path(tag = "pipeline", params(OpportunityQuery),
    responses((status = 200, description = "A page of deals", body = PageOf<OpportunityView>)))]
#[get("")]
pub async fn list_opportunities(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<OpportunityQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    if let Some(s) = &q.status {
        if !["open", "won", "lost"].contains(&s.as_str()) {
            return Err(AppError::field("status", "invalid", "open, won or lost"));
        }
    }
    let f = OpportunityFilter {
        status: q.status,
        stage: q.stage,
        owner_id: q.owner_id,
        team_id: q.team_id,
        account_id: q.account_id,
        stalled: q.stalled,
        updated_since: query_time("updated_since", &q.updated_since)?,
    };
    Ok(page(
        svc::list(&state.services, &auth.0, f, before, limit).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// `owner`, `team`, `month` (of the expected close date) or `stage` (default).
    pub group_by: Option<ForecastGroupBy>,
    /// Earliest expected close date (`YYYY-MM-DD`), inclusive.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Latest expected close date (`YYYY-MM-DD`), inclusive.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
}

/// The weighted forecast of the open deals in the caller's scope: per group and currency,
/// Σ amount_cents (unweighted) and Σ amount_cents × probability / 100 (weighted). Weighted
/// sums are computed exactly in integers and rounded half up to the cent once per group
/// (and once for the total), so they never drift with the number of deals. With `from`/`to`
/// only deals whose expected close date lies in the range count.
#[utoipa::path(tag = "pipeline", params(ForecastQuery),
    responses((status = 200, description = "The forecast", body = ForecastView)))]
#[get("/forecast")]
pub async fn forecast(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ForecastQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let v = svc::forecast_for(
        &state.services,
        &auth.0,
        q.group_by.unwrap_or(ForecastGroupBy::Stage),
        q.from,
        q.to,
    )
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// Reads a deal.
#[utoipa::path(tag = "pipeline", params(("id" = String, Path, description = "Opportunity id")),
    responses((status = 200, description = "The deal", body = OpportunityView)))]
#[get("/{id}")]
pub async fn get_opportunity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let o = svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&o, o.version))
}

/// Edits an open deal (owner, their manager, director, admin); re-assigning the owner needs
/// a manager, director or admin. Stage and status change only through `/stage` and `/lose`.
#[utoipa::path(tag = "pipeline", request_body = OpportunityPatch,
    params(("id" = String, Path, description = "Opportunity id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Updated", body = OpportunityView)))]
#[patch("/{id}")]
pub async fn update_opportunity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<OpportunityPatch>,
) -> AppResult<HttpResponse> {
    let o = svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&o, o.version))
}

/// Deletes a deal (admin only; soft: its history and audit trail stay).
#[utoipa::path(tag = "pipeline",
    params(("id" = String, Path, description = "Opportunity id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 204, description = "Deleted")))]
#[delete("/{id}")]
pub async fn delete_opportunity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    svc::delete(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves a deal to another stage. Forwards, every exit requirement of each stage left must
/// hold, else 422 `stage_gate` with `missing: [{requirement, stage, detail}]`. Backwards
/// (a regression) needs a director or admin (403 otherwise) and a reason, and emits
/// `opportunity.stage_regressed`. Entering the last stage wins the deal (`opportunity.won`).
#[utoipa::path(tag = "pipeline", request_body = StageRequest,
    params(("id" = String, Path, description = "Opportunity id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Moved", body = OpportunityView)))]
#[post("/{id}/stage")]
pub async fn change_stage(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<StageRequest>,
) -> AppResult<HttpResponse> {
    let o = svc::change_stage(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&o, o.version))
}

/// Marks an open deal lost, with the reason and the competitor that won it.
#[utoipa::path(tag = "pipeline", request_body = LoseRequest,
    params(("id" = String, Path, description = "Opportunity id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Lost", body = OpportunityView)))]
#[post("/{id}/lose")]
pub async fn lose_opportunity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<LoseRequest>,
) -> AppResult<HttpResponse> {
    let o = svc::lose(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&o, o.version))
}

/// The deal's stage changes, oldest first, with the time spent in each stage.
#[utoipa::path(tag = "pipeline", params(("id" = String, Path, description = "Opportunity id"), PageParams),
    responses((status = 200, description = "A page of stage changes", body = PageOf<StageChangeView>)))]
#[get("/{id}/stage-history")]
pub async fn stage_history(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, after) = q.resolve()?;
    Ok(page(
        svc::stage_history(&state.services, &auth.0, id.into_inner(), after, limit).await?,
    ))
}

/// Logs a follow-up activity on a deal: the same model and rules as on leads (owner, their
/// manager, director, admin).
#[utoipa::path(tag = "pipeline", request_body = ActivityInput, params(("id" = String, Path, description = "Opportunity id")),
    responses((status = 201, description = "Logged", body = ActivityView)))]
#[post("/{id}/activities")]
pub async fn log_opportunity_activity(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<ActivityInput>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let a = activities::log_on_opportunity(&state.services, &auth.0, id.clone(), body.into_inner())
        .await?;
    Ok(created(
        format!("/api/v1/opportunities/{id}/activities"),
        &a,
        1,
    ))
}

/// The deal's activities, newest first.
#[utoipa::path(tag = "pipeline", params(("id" = String, Path, description = "Opportunity id"), PageParams),
    responses((status = 200, description = "A page of activities", body = PageOf<ActivityView>)))]
#[get("/{id}/activities")]
pub async fn list_opportunity_activities(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, before) = q.resolve()?;
    Ok(page(
        activities::list_for_opportunity(&state.services, &auth.0, id.into_inner(), before, limit)
            .await?,
    ))
}

/// Drafts a quote on an open deal; subtotal, discount and total are computed here.
#[utoipa::path(tag = "pipeline", request_body = QuoteInput, params(("id" = String, Path, description = "Opportunity id")),
    responses((status = 201, description = "Created", body = QuoteView)))]
#[post("/{id}/quotes")]
pub async fn create_quote(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<QuoteInput>,
) -> AppResult<HttpResponse> {
    let q =
        quotes_svc::create(&state.services, &auth.0, id.into_inner(), body.into_inner()).await?;
    Ok(created(location("quotes", &q.id), &q, q.version))
}

/// The deal's quotes, newest first.
#[utoipa::path(tag = "pipeline", params(("id" = String, Path, description = "Opportunity id"), PageParams),
    responses((status = 200, description = "A page of quotes", body = PageOf<QuoteView>)))]
#[get("/{id}/quotes")]
pub async fn list_quotes(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, before) = q.resolve()?;
    Ok(page(
        quotes_svc::list_for_opportunity(&state.services, &auth.0, id.into_inner(), before, limit)
            .await?,
    ))
}

/// Reads a quote with its latest customer views.
#[utoipa::path(tag = "pipeline", params(("id" = String, Path, description = "Quote id")),
    responses((status = 200, description = "The quote", body = QuoteView)))]
#[get("/{id}")]
pub async fn get_quote(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let q = quotes_svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&q, q.version))
}

/// Replaces the content of a draft or rejected quote (a rejected one returns to draft).
#[utoipa::path(tag = "pipeline", request_body = QuoteInput,
    params(("id" = String, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Updated", body = QuoteView)))]
#[patch("/{id}")]
pub async fn update_quote(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<QuoteInput>,
) -> AppResult<HttpResponse> {
    let q = quotes_svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&q, q.version))
}

/// Submits a draft: `approved` at once when the discount is within the pipeline's
/// `quote_discount_approval_pct`, else `pending_approval`.
#[utoipa::path(tag = "pipeline",
    params(("id" = String, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Submitted", body = QuoteView)))]
#[post("/{id}/submit")]
pub async fn submit_quote(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let q = quotes_svc::submit(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&q, q.version))
}

/// Approves a quote pending approval (the deal's team manager, a director or an admin; not
/// its submitter).
#[utoipa::path(tag = "pipeline", request_body(content = DecisionRequest, description = "Optional comment"),
    params(("id" = String, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Approved", body = QuoteView)))]
#[post("/{id}/approve")]
pub async fn approve_quote(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: Option<web::Json<DecisionRequest>>,
) -> AppResult<HttpResponse> {
    let req = body.map(|b| b.into_inner()).unwrap_or_default();
    let q = quotes_svc::decide(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        true,
        req,
    )
    .await?;
    Ok(ok_versioned(&q, q.version))
}

/// Rejects a quote pending approval, with a comment (same approvers as `approve`).
#[utoipa::path(tag = "pipeline", request_body = DecisionRequest,
    params(("id" = String, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Rejected", body = QuoteView)))]
#[post("/{id}/reject")]
pub async fn reject_quote(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<DecisionRequest>,
) -> AppResult<HttpResponse> {
    let q = quotes_svc::decide(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        false,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&q, q.version))
}

/// Marks an approved quote as sent to the customer.
#[utoipa::path(tag = "pipeline",
    params(("id" = String, Path, description = "Quote id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Sent", body = QuoteView)))]
#[post("/{id}/send")]
pub async fn send_quote(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let q = quotes_svc::send(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&q, q.version))
}

/// Records that the customer opened or downloaded a sent quote (integrations, or anyone who
/// sees the deal); emits `quote.viewed`.
#[utoipa::path(tag = "pipeline", request_body = ViewRequest, params(("id" = String, Path, description = "Quote id")),
    responses((status = 201, description = "Recorded", body = QuoteViewEntry)))]
#[post("/{id}/views")]
pub async fn record_quote_view(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<ViewRequest>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let v =
        quotes_svc::record_view(&state.services, &auth.0, id.clone(), body.into_inner()).await?;
    Ok(created(location("quotes", &id), &v, 1))
}
