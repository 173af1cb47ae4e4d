//! `/contracts` and `/config/contracts`.

use actix_web::{get, patch, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{
    created, location, ok_versioned, page, upserted, Auth, IfMatch, PageOf, PageParams,
};
use super::AppState;
use crate::domain::contract::ContractStatus;
use crate::error::AppResult;
use crate::service::contracts::{
    self as svc, ContractInput, ContractPatch, ContractSettings, ContractSettingsView,
    ContractView, GoLiveRequest, InstallmentsRequest, NpsRequest, PaymentRequest, PaymentView,
    ReviewRequest, SignRequest, SuccessPlanRequest, TerminateRequest,
};
use crate::store::contracts::ContractFilter;

const IF_MATCH: &str = "Expected version, e.g. \"3\"";

/// Contract settings: the finance approval threshold, the NPS delay and the delivery team.
#[utoipa::path(tag = "contracts", responses((status = 200, description = "The settings", body = ContractSettingsView)))]
#[get("/contracts")]
pub async fn get_settings(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    let v = svc::settings(&state.services, &auth.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Replaces the contract settings (admin): versioned, audited, `config.changed`.
#[utoipa::path(tag = "contracts", request_body = ContractSettings,
    params(("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Saved", body = ContractSettingsView)))]
#[put("/contracts")]
pub async fn put_settings(
    state: web::Data<AppState>,
    auth: Auth,
    if_match: IfMatch,
    body: web::Json<ContractSettings>,
) -> AppResult<HttpResponse> {
    let v = svc::put_settings(&state.services, &auth.0, body.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Drafts a contract for an opportunity (its owner, their manager, leadership, integrations).
#[utoipa::path(tag = "contracts", request_body = ContractInput,
    responses((status = 201, description = "Created", body = ContractView)))]
#[post("")]
pub async fn create_contract(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<ContractInput>,
) -> AppResult<HttpResponse> {
    let c = svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("contracts", &c.id), &c, c.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContractQuery {
    pub status: Option<ContractStatus>,
    pub opportunity_id: Option<String>,
    pub account_id: Option<String>,
    pub owner_id: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists the contracts in the caller's scope, newest first (approvals and installments
/// are on the single read).
#[utoipa::path(tag = "contracts", params(ContractQuery),
    responses((status = 200, description = "A page of contracts", body = PageOf<ContractView>)))]
#[get("")]
pub async fn list_contracts(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ContractQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let f = ContractFilter {
        status: q.status.map(|s| s.as_str().to_string()),
        opportunity_id: q.opportunity_id,
        account_id: q.account_id,
        owner_id: q.owner_id,
    };
    Ok(page(
        svc::list(&state.services, &auth.0, f, before, limit).await?,
    ))
}

/// Creates (201) or replaces (200) the contract known to an ERP by its id there; a signed
/// contract's terms cannot be replaced (409).
#[utoipa::path(tag = "contracts", request_body = ContractInput,
    params(("system" = String, Path, description = "e.g. `erp`"), ("external_id" = String, Path, description = "The id in that system")),
    responses((status = 201, description = "Created", body = ContractView), (status = 200, description = "Updated", body = ContractView)))]
#[put("/by-external/{system}/{external_id}")]
pub async fn upsert_contract(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Json<ContractInput>,
) -> AppResult<HttpResponse> {
    let (system, external_id) = path.into_inner();
    let (c, was_created) = svc::upsert_by_external(
        &state.services,
        &auth.0,
        system,
        external_id,
        body.into_inner(),
    )
    .await?;
    Ok(upserted(
        location("contracts", &c.id),
        &c,
        c.version,
        was_created,
    ))
}

/// Reads a contract with its approval trail, installments and work orders.
#[utoipa::path(tag = "contracts", params(("id" = String, Path, description = "Contract id")),
    responses((status = 200, description = "The contract", body = ContractView)))]
#[get("/{id}")]
pub async fn get_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let c = svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&c, c.version))
}

/// Edits a draft or rejected contract (a rejected one returns to draft). Terms are
/// read-only in review and once signed (409 naming why).
#[utoipa::path(tag = "contracts", request_body = ContractPatch,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Updated", body = ContractView)))]
#[patch("/{id}")]
pub async fn update_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<ContractPatch>,
) -> AppResult<HttpResponse> {
    let c = svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Sends a draft to review: legal approves, and finance too from the configured threshold.
#[utoipa::path(tag = "contracts",
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "In review", body = ContractView)))]
#[post("/{id}/submit")]
pub async fn submit_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let c = svc::submit(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&c, c.version))
}

/// Approves a contract in review as `legal` (with the clause revisions made) or `finance`;
/// it becomes `approved` once every required role has approved in this round.
#[utoipa::path(tag = "contracts", request_body = ReviewRequest,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Recorded", body = ContractView)))]
#[post("/{id}/approve")]
pub async fn approve_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<ReviewRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::review(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        true,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Rejects a contract in review (legal or finance) with a comment; edit and resubmit.
#[utoipa::path(tag = "contracts", request_body = ReviewRequest,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Rejected", body = ContractView)))]
#[post("/{id}/reject")]
pub async fn reject_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<ReviewRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::review(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        false,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Signs an approved contract. In one transaction: `signed`, a delivery work order,
/// `contract.signed`, `invoice.requested`, `delivery.created`, and the deal won; if any
/// part fails, nothing is stored.
#[utoipa::path(tag = "contracts", request_body = SignRequest,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Signed", body = ContractView)))]
#[post("/{id}/sign")]
pub async fn sign_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<SignRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::sign(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Replaces the installment plan: seqs 1..n, due dates not decreasing, amounts > 0 summing
/// exactly to the contract amount (422 names the difference); frozen after the first
/// payment (409).
#[utoipa::path(tag = "contracts", request_body = InstallmentsRequest,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Saved", body = ContractView)))]
#[put("/{id}/installments")]
pub async fn set_installments(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<InstallmentsRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::set_installments(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Records a payment (finance, admin). Refusals answer 422 `payment_rejected` with
/// `errors[].code` among `bank_txn_missing`, `bank_txn_reused`, `amount_out_of_tolerance`
/// (more than 0.5% — rounded down to the cent — from the installment's outstanding amount,
/// or from the remaining balance when no installment is named), `paid_before_signing`,
/// `overpaid` (cumulative above amount + 0.5%), `contract_not_signed`.
#[utoipa::path(tag = "contracts", request_body = PaymentRequest, params(("id" = String, Path, description = "Contract id")),
    responses((status = 201, description = "Recorded", body = PaymentView)))]
#[post("/{id}/payments")]
pub async fn record_payment(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<PaymentRequest>,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    let pay = svc::record_payment(&state.services, &auth.0, id.clone(), body.into_inner()).await?;
    Ok(created(format!("/api/v1/contracts/{id}/payments"), &pay, 1))
}

/// The contract's payments, oldest first.
#[utoipa::path(tag = "contracts", params(("id" = String, Path, description = "Contract id")),
    responses((status = 200, description = "The payments", body = PageOf<PaymentView>)))]
#[get("/{id}/payments")]
pub async fn list_payments(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let items = svc::payments(&state.services, &auth.0, id.into_inner()).await?;
    Ok(page(crate::service::Page {
        items,
        next_cursor: None,
    }))
}

/// Sets the customer success plan: milestones for days 30, 60 and 90, each with a title,
/// an owner and a due date. Delivery cannot start (nor the contract go live) without it.
#[utoipa::path(tag = "contracts", request_body = SuccessPlanRequest,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Saved", body = ContractView)))]
#[put("/{id}/success-plan")]
pub async fn set_success_plan(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<SuccessPlanRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::set_success_plan(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Marks a signed contract live (`active`, `contract.live`); the NPS survey falls due
/// `nps_delay_secs` later and the sweeper announces it once (`nps.survey_due`).
#[utoipa::path(tag = "contracts", request_body = GoLiveRequest,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Live", body = ContractView)))]
#[post("/{id}/go-live")]
pub async fn go_live(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<GoLiveRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::go_live(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Records the customer's NPS answer (0–10) once the contract is live.
#[utoipa::path(tag = "contracts", request_body = NpsRequest, params(("id" = String, Path, description = "Contract id")),
    responses((status = 200, description = "Recorded", body = ContractView)))]
#[post("/{id}/nps")]
pub async fn record_nps(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<NpsRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::record_nps(&state.services, &auth.0, id.into_inner(), body.into_inner()).await?;
    Ok(ok_versioned(&c, c.version))
}

/// Completes a live contract.
#[utoipa::path(tag = "contracts",
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Completed", body = ContractView)))]
#[post("/{id}/complete")]
pub async fn complete_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    let c = svc::complete(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&c, c.version))
}

/// Terminates an approved, signed or live contract with a reason.
#[utoipa::path(tag = "contracts", request_body = TerminateRequest,
    params(("id" = String, Path, description = "Contract id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Terminated", body = ContractView)))]
#[post("/{id}/terminate")]
pub async fn terminate_contract(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<TerminateRequest>,
) -> AppResult<HttpResponse> {
    let c = svc::terminate(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}
