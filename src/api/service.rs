//! `/work-orders`, `/routing-rules`, `/sla-policies` and `/config/service`.

use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{
    created, location, ok_versioned, page, replaced_or_tried, saved_or_tried, upserted, Auth,
    DryRun, IfMatch, PageOf, PageParams, SavedOrTried,
};
use super::AppState;
use crate::domain::work_order::WorkOrderStatus;
use crate::error::AppResult;
use crate::service::impact::ConfigDryRun;
use crate::service::service_rules::{
    self as rules, RoutingRuleInput, RoutingRuleView, ServiceSettings, ServiceSettingsView,
    SlaPolicyInput, SlaPolicyView,
};
use crate::service::work_orders::{
    self as svc, MesEventRequest, TransitionRequest, WorkOrderInput, WorkOrderPatch, WorkOrderType,
    WorkOrderView,
};
use crate::store::work_orders::WorkOrderFilter;

const IF_MATCH: &str = "Expected version, e.g. \"3\"";

/// Takes in a work order (service, integrations, managers, leadership): numbered, routed by
/// the routing rules (else the default team, else unrouted) and put under the first
/// matching SLA policy.
#[utoipa::path(tag = "service", request_body = WorkOrderInput,
    responses((status = 201, description = "Created", body = WorkOrderView)))]
#[post("")]
pub async fn create_work_order(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<WorkOrderInput>,
) -> AppResult<HttpResponse> {
    let w = svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("work-orders", &w.id), &w, w.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkOrderQuery {
    pub status: Option<WorkOrderStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: Option<WorkOrderType>,
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    pub account_id: Option<String>,
    pub device_sn: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists the work orders in the caller's scope (engineers: theirs and their team's),
/// newest first.
#[utoipa::path(tag = "service", params(WorkOrderQuery),
    responses((status = 200, description = "A page of work orders", body = PageOf<WorkOrderView>)))]
#[get("")]
pub async fn list_work_orders(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<WorkOrderQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let f = WorkOrderFilter {
        status: q.status.map(|s| s.as_str().to_string()),
        type_: q.type_.map(|t| t.as_str().to_string()),
        team_id: q.team_id,
        engineer_id: q.engineer_id,
        account_id: q.account_id,
        device_sn: q.device_sn,
    };
    Ok(page(
        svc::list(&state.services, &auth.0, f, before, limit).await?,
    ))
}

/// Creates (201) or updates (200) the work order known to another system by its id there.
#[utoipa::path(tag = "service", request_body = WorkOrderInput,
    params(("system" = String, Path, description = "e.g. `wecom`"), ("external_id" = String, Path, description = "The id in that system")),
    responses((status = 201, description = "Created", body = WorkOrderView), (status = 200, description = "Updated", body = WorkOrderView)))]
#[put("/by-external/{system}/{external_id}")]
pub async fn upsert_work_order(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Json<WorkOrderInput>,
) -> AppResult<HttpResponse> {
    let (system, external_id) = path.into_inner();
    let (w, was_created) = svc::upsert_by_external(
        &state.services,
        &auth.0,
        system,
        external_id,
        body.into_inner(),
    )
    .await?;
    Ok(upserted(
        location("work-orders", &w.id),
        &w,
        w.version,
        was_created,
    ))
}

/// Reads a work order (engineers: their own and their team's).
#[utoipa::path(tag = "service", params(("id" = String, Path, description = "Work order id")),
    responses((status = 200, description = "The work order", body = WorkOrderView)))]
#[get("/{id}")]
pub async fn get_work_order(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let w = svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&w, w.version))
}

/// Edits the contact and device details of an open work order.
#[utoipa::path(tag = "service", request_body = WorkOrderPatch,
    params(("id" = String, Path, description = "Work order id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Updated", body = WorkOrderView)))]
#[patch("/{id}")]
pub async fn update_work_order(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<WorkOrderPatch>,
) -> AppResult<HttpResponse> {
    let w = svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&w, w.version))
}

/// Deletes a work order (admin only; soft: its history stays).
#[utoipa::path(tag = "service",
    params(("id" = String, Path, description = "Work order id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 204, description = "Deleted")))]
#[delete("/{id}")]
pub async fn delete_work_order(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    svc::delete(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves a work order one step: `new → accepted → dispatched (engineer_id) → on_site
/// (diagnosis) → parts_replaced (parts, optional) → customer_signed (signer) → closed`,
/// `cancelled (reason)`, and `waiting_customer` and back (paused time is excluded from the
/// resolution clock and shown as `paused_secs`). Skipped or backward steps answer 409
/// `invalid_transition` with the allowed next steps, missing step data 422. Each step emits
/// `work_order.status_changed {from, to, at, customer_visible_message}`.
#[utoipa::path(tag = "service", request_body = TransitionRequest,
    params(("id" = String, Path, description = "Work order id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Moved", body = WorkOrderView)))]
#[post("/{id}/transition")]
pub async fn transition_work_order(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<TransitionRequest>,
) -> AppResult<HttpResponse> {
    let w = svc::transition(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&w, w.version))
}

/// Records MES progress of a delivery order (integrations): `first_article_passed` emits
/// `delivery.confirmed` with the report link.
#[utoipa::path(tag = "service", request_body = MesEventRequest, params(("id" = String, Path, description = "Work order id")),
    responses((status = 200, description = "Recorded", body = WorkOrderView)))]
#[post("/{id}/mes-events")]
pub async fn mes_event(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<MesEventRequest>,
) -> AppResult<HttpResponse> {
    let w = svc::mes_event(&state.services, &auth.0, id.into_inner(), body.into_inner()).await?;
    Ok(ok_versioned(&w, w.version))
}

/// Service settings: the default team for orders no routing rule matches.
#[utoipa::path(tag = "service", responses((status = 200, description = "The settings", body = ServiceSettingsView)))]
#[get("/service")]
pub async fn get_service_settings(
    state: web::Data<AppState>,
    auth: Auth,
) -> AppResult<HttpResponse> {
    let v = rules::settings(&state.services, &auth.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Replaces the service settings (admin, director, manager).
#[utoipa::path(tag = "service", request_body = ServiceSettings,
    params(("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Saved", body = ServiceSettingsView)))]
#[put("/service")]
pub async fn put_service_settings(
    state: web::Data<AppState>,
    auth: Auth,
    if_match: IfMatch,
    body: web::Json<ServiceSettings>,
) -> AppResult<HttpResponse> {
    let v = rules::put_settings(&state.services, &auth.0, body.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Creates a routing rule (admin, director, manager): conditions on `type`, `priority`,
/// `channel`, `device_sn`, `product_model`, `account_tier`, `account_id`, `description`.
#[utoipa::path(tag = "service", request_body = RoutingRuleInput,
    params(DryRun),
    responses((status = 201, description = "Created", body = RoutingRuleView),
              (status = 200, description = "Dry run: which of the 200 most recent work orders would be routed differently", body = ConfigDryRun)))]
#[post("")]
pub async fn create_routing_rule(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<DryRun>,
    body: web::Json<RoutingRuleInput>,
) -> AppResult<HttpResponse> {
    let w = rules::create_routing_rule(&state.services, &auth.0, body.into_inner(), q.on()).await?;
    Ok(saved_or_tried(w, |r| {
        created(location("routing-rules", &r.id), &r, r.version)
    }))
}

/// The routing rules in evaluation order.
#[utoipa::path(tag = "service", responses((status = 200, description = "All rules", body = PageOf<RoutingRuleView>)))]
#[get("")]
pub async fn list_routing_rules(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    Ok(page(
        rules::list_routing_rules(&state.services, &auth.0).await?,
    ))
}

/// Reads a routing rule.
#[utoipa::path(tag = "service", params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, description = "The rule", body = RoutingRuleView)))]
#[get("/{id}")]
pub async fn get_routing_rule(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let r = rules::get_routing_rule(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&r, r.version))
}

/// Replaces a routing rule.
#[utoipa::path(tag = "service", request_body = RoutingRuleInput,
    params(("id" = String, Path, description = "Rule id"), ("If-Match" = Option<String>, Header, description = IF_MATCH), DryRun),
    responses((status = 200, description = "Saved, or with dry_run the impact", body = SavedOrTried<RoutingRuleView>)))]
#[put("/{id}")]
pub async fn replace_routing_rule(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    q: web::Query<DryRun>,
    body: web::Json<RoutingRuleInput>,
) -> AppResult<HttpResponse> {
    let w = rules::replace_routing_rule(
        &state.services,
        &auth.0,
        (id.into_inner(), if_match.0),
        body.into_inner(),
        q.on(),
    )
    .await?;
    Ok(replaced_or_tried(w, |r| r.version))
}

/// Deletes a routing rule.
#[utoipa::path(tag = "service", params(("id" = String, Path, description = "Rule id"), DryRun),
    responses((status = 204, description = "Deleted"), (status = 200, description = "Dry run: the impact", body = ConfigDryRun)))]
#[delete("/{id}")]
pub async fn delete_routing_rule(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<DryRun>,
) -> AppResult<HttpResponse> {
    let w = rules::delete_routing_rule(&state.services, &auth.0, id.into_inner(), q.on()).await?;
    Ok(saved_or_tried(w, |_| HttpResponse::NoContent().finish()))
}

/// Creates an SLA policy (admin, director, manager): matched like routing rules; sets
/// `response_due_at` and `resolution_due_at` (in working time with a calendar).
#[utoipa::path(tag = "service", request_body = SlaPolicyInput,
    params(DryRun),
    responses((status = 201, description = "Created", body = SlaPolicyView),
              (status = 200, description = "Dry run: which of the 200 most recent work orders would fall under another policy differently", body = ConfigDryRun)))]
#[post("")]
pub async fn create_sla_policy(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<DryRun>,
    body: web::Json<SlaPolicyInput>,
) -> AppResult<HttpResponse> {
    let w = rules::create_sla_policy(&state.services, &auth.0, body.into_inner(), q.on()).await?;
    Ok(saved_or_tried(w, |r| {
        created(location("sla-policies", &r.id), &r, r.version)
    }))
}

/// The SLA policies in evaluation order.
#[utoipa::path(tag = "service", responses((status = 200, description = "All policies", body = PageOf<SlaPolicyView>)))]
#[get("")]
pub async fn list_sla_policies(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    Ok(page(
        rules::list_sla_policies(&state.services, &auth.0).await?,
    ))
}

/// Reads an SLA policy.
#[utoipa::path(tag = "service", params(("id" = String, Path, description = "Policy id")),
    responses((status = 200, description = "The policy", body = SlaPolicyView)))]
#[get("/{id}")]
pub async fn get_sla_policy(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let r = rules::get_sla_policy(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&r, r.version))
}

/// Replaces an SLA policy (orders already taken in keep their deadlines).
#[utoipa::path(tag = "service", request_body = SlaPolicyInput,
    params(("id" = String, Path, description = "Policy id"), ("If-Match" = Option<String>, Header, description = IF_MATCH), DryRun),
    responses((status = 200, description = "Saved, or with dry_run the impact", body = SavedOrTried<SlaPolicyView>)))]
#[put("/{id}")]
pub async fn replace_sla_policy(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    q: web::Query<DryRun>,
    body: web::Json<SlaPolicyInput>,
) -> AppResult<HttpResponse> {
    let w = rules::replace_sla_policy(
        &state.services,
        &auth.0,
        (id.into_inner(), if_match.0),
        body.into_inner(),
        q.on(),
    )
    .await?;
    Ok(replaced_or_tried(w, |r| r.version))
}

/// Deletes an SLA policy no work order runs under (409 otherwise: deactivate it).
#[utoipa::path(tag = "service", params(("id" = String, Path, description = "Policy id"), DryRun),
    responses((status = 204, description = "Deleted"), (status = 200, description = "Dry run: the impact", body = ConfigDryRun)))]
#[delete("/{id}")]
pub async fn delete_sla_policy(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<DryRun>,
) -> AppResult<HttpResponse> {
    let w = rules::delete_sla_policy(&state.services, &auth.0, id.into_inner(), q.on()).await?;
    Ok(saved_or_tried(w, |_| HttpResponse::NoContent().finish()))
}
