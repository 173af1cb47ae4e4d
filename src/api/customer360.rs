//! `/assets`, `/accounts/{id}/timeline`, `/lookup` and `/config/renewal-signals`.

use actix_web::{get, patch, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{
    created, location, ok_versioned, page, upserted, Auth, IfMatch, PageOf, PageParams,
};
use super::AppState;
use crate::domain::asset::AssetStatus;
use crate::domain::renewal::RenewalRules;
use crate::error::{AppError, AppResult};
use crate::service::assets::{self as svc, AssetInput, AssetPatch, AssetView};
use crate::service::lookup::{self, LookupKey, LookupResult};
use crate::service::renewal::{self, RenewalRulesView};
use crate::service::timeline::{self, TimelinePage};
use crate::store::assets::AssetFilter;

const IF_MATCH: &str = "Expected version, e.g. \"3\"";

/// Adds a unit to the installed base (service, implementation, integrations, managers,
/// leadership). Delivery orders add theirs when they close; this is for units delivered
/// before crmflow or outside it. A serial number already present answers 409 `duplicate`;
/// work orders that named it before are linked to the new asset.
#[utoipa::path(tag = "customer-360", request_body = AssetInput,
    responses((status = 201, description = "Created", body = AssetView)))]
#[post("")]
pub async fn create_asset(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<AssetInput>,
) -> AppResult<HttpResponse> {
    let a = svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("assets", &a.id), &a, a.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetQuery {
    pub account_id: Option<String>,
    pub contract_id: Option<String>,
    pub status: Option<AssetStatus>,
    pub product_model: Option<String>,
    /// Exact serial number (matched case-insensitively).
    pub serial_number: Option<String>,
    /// `YYYY-MM-DD`: warranty ends on or before this day.
    pub warranty_until_before: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists the installed base of the accounts in the caller's scope (engineers: all), newest
/// first.
#[utoipa::path(tag = "customer-360", params(AssetQuery),
    responses((status = 200, description = "A page of assets", body = PageOf<AssetView>)))]
#[get("")]
pub async fn list_assets(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<AssetQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let f = AssetFilter {
        account_id: q.account_id,
        contract_id: q.contract_id,
        status: q.status.map(|s| s.as_str().to_string()),
        product_model: q.product_model,
        serial_number: q.serial_number,
        warranty_until_before: q.warranty_until_before,
    };
    Ok(page(
        svc::list(&state.services, &auth.0, f, before, limit).await?,
    ))
}

/// Creates (201) or updates (200) the asset known to another system (ERP) by its id there.
/// An asset with the same serial number that this system did not know yet takes the
/// external id instead of being duplicated.
#[utoipa::path(tag = "customer-360", request_body = AssetInput,
    params(("system" = String, Path, description = "e.g. `erp`"), ("external_id" = String, Path, description = "The id in that system")),
    responses((status = 201, description = "Created", body = AssetView), (status = 200, description = "Updated", body = AssetView)))]
#[put("/by-external/{system}/{external_id}")]
pub async fn upsert_asset(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Json<AssetInput>,
) -> AppResult<HttpResponse> {
    let (system, external_id) = path.into_inner();
    let (a, was_created) = svc::upsert_by_external(
        &state.services,
        &auth.0,
        system,
        external_id,
        body.into_inner(),
    )
    .await?;
    Ok(upserted(
        location("assets", &a.id),
        &a,
        a.version,
        was_created,
    ))
}

/// Reads an asset with its warranty state today.
#[utoipa::path(tag = "customer-360", params(("id" = String, Path, description = "Asset id")),
    responses((status = 200, description = "The asset", body = AssetView)))]
#[get("/{id}")]
pub async fn get_asset(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let a = svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&a, a.version))
}

/// Edits an asset (model, account, contract, installation, warranty, status, custom
/// fields); the serial number is its identity and stays.
#[utoipa::path(tag = "customer-360", request_body = AssetPatch,
    params(("id" = String, Path, description = "Asset id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Updated", body = AssetView)))]
#[patch("/{id}")]
pub async fn update_asset(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<AssetPatch>,
) -> AppResult<HttpResponse> {
    let a = svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&a, a.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Comma-separated families (`lead`, `activity`, `opportunity`, `quote`, `contract`,
    /// `invoice`, `payment`, `delivery`, `nps`, `work_order`, `asset`, `account`, `contact`),
    /// patterns (`work_order.*`) or exact event types.
    pub types: Option<String>,
    /// The `next_cursor` of the previous page: older items.
    pub before: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Everything about an account, newest first: its leads and their activities (once
/// converted), opportunities and stage changes, quotes, contracts, payments, invoices and
/// deliveries, work orders and their steps, NPS answers, assets and renewal signals. Items
/// about records the caller may not see are left out, not redacted; such a page may be
/// shorter than `limit` while `next_cursor` continues.
#[utoipa::path(tag = "customer-360", params(("id" = String, Path, description = "Account id"), TimelineQuery),
    responses((status = 200, description = "A page of the timeline", body = TimelinePage)))]
#[get("/{id}/timeline")]
pub async fn account_timeline(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<TimelineQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, _) = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .resolve()?;
    let before = match q.before.as_deref() {
        None => None,
        Some(c) => Some(
            crate::domain::cursor::decode(c)
                .and_then(|k| k.parse::<i64>().ok())
                .ok_or_else(|| {
                    AppError::field("before", "invalid_format", "not a cursor from this API")
                })?,
        ),
    };
    let types = match q.types.as_deref() {
        None | Some("") => None,
        Some(t) => Some(timeline::parse_types(t)?),
    };
    let page = timeline::account_timeline(
        &state.services,
        &auth.0,
        id.into_inner(),
        types,
        before,
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupParams {
    /// Any common format (`+86 138-0013-8000`, `13800138000`, landlines with area code).
    pub phone: Option<String>,
    pub email: Option<String>,
    /// A device serial number (case-insensitive).
    pub serial: Option<String>,
}

/// The hotline screen-pop: give exactly one of `phone`, `email`, `serial`. Normalised the
/// same way as records (and duplicate checks), it finds the matching leads, contacts and
/// assets, and for each account they belong to (up to 10): owner, decision chain, open work
/// orders, installed base with warranty state, last maintenance, active contracts and
/// renewal signals — all within the caller's scope.
#[utoipa::path(tag = "customer-360", params(LookupParams),
    responses((status = 200, description = "What the caller's number, address or device is linked to", body = LookupResult)))]
#[get("/lookup")]
pub async fn lookup_caller(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<LookupParams>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let key = LookupKey::parse(q.phone, q.email, q.serial)?;
    Ok(HttpResponse::Ok().json(lookup::lookup(&state.services, &auth.0, key).await?))
}

/// The renewal-signal rules the sweeper evaluates.
#[utoipa::path(tag = "customer-360", responses((status = 200, description = "The rules", body = RenewalRulesView)))]
#[get("/renewal-signals")]
pub async fn get_renewal_rules(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    let v = renewal::rules(&state.services, &auth.0).await?;
    Ok(ok_versioned(&v, v.version))
}

/// Replaces the renewal-signal rules (admin, director). A rule set to `null` is off.
/// Each signal is raised once per reason, subject and period: a repeat-repair window, a
/// contract end date, a warranty end.
#[utoipa::path(tag = "customer-360", request_body = RenewalRules,
    params(("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Saved", body = RenewalRulesView)))]
#[put("/renewal-signals")]
pub async fn put_renewal_rules(
    state: web::Data<AppState>,
    auth: Auth,
    if_match: IfMatch,
    body: web::Json<RenewalRules>,
) -> AppResult<HttpResponse> {
    let v = renewal::put_rules(&state.services, &auth.0, body.into_inner(), if_match.0).await?;
    Ok(ok_versioned(&v, v.version))
}
