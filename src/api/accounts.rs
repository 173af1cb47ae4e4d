//! `/accounts` and `/contacts`.

use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{
    created, location, ok_versioned, page, query_time, upserted, Auth, IfMatch, PageOf, PageParams,
};
use super::AppState;
use crate::domain::contact::DecisionRole;
use crate::error::AppResult;
use crate::service::accounts::{self as accounts_svc, AccountInput, AccountPatch, AccountView};
use crate::service::contacts::{self as contacts_svc, ContactCreate, ContactPatch, ContactView};
use crate::store::accounts::AccountFilter;
use crate::store::contacts::ContactFilter;

/// Creates an account. `uscc` is normalised and its GB 32100 check character verified;
/// a second account with the same code answers 409 `duplicate`.
#[utoipa::path(tag = "accounts", request_body = AccountInput, responses((status = 201, description = "Created", body = AccountView)))]
#[post("")]
pub async fn create_account(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<AccountInput>,
) -> AppResult<HttpResponse> {
    let a = accounts_svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("accounts", &a.id), &a, a.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub industry: Option<String>,
    pub province: Option<String>,
    /// RFC 3339; only accounts changed at or after it.
    pub updated_since: Option<String>,
    /// Matches name, legal name or USCC.
    pub q: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists the accounts in the caller's scope, newest first.
#[utoipa::path(tag = "accounts", params(AccountQuery), responses((status = 200, description = "A page of accounts", body = PageOf<AccountView>)))]
#[get("")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<AccountQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let f = AccountFilter {
        owner_id: q.owner_id,
        team_id: q.team_id,
        industry: q.industry,
        province: q.province,
        updated_since: query_time("updated_since", &q.updated_since)?,
        q: q.q,
    };
    Ok(page(
        accounts_svc::list(&state.services, &auth.0, f, before, limit).await?,
    ))
}

/// Reads an account (404 when outside the caller's scope).
#[utoipa::path(tag = "accounts", params(("id" = String, Path, description = "Account id")),
    responses((status = 200, description = "The account", body = AccountView)))]
#[get("/{id}")]
pub async fn get_account(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let a = accounts_svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&a, a.version))
}

/// Edits an account. Master data (`uscc`, `legal_name`, `legal_representative`) can be
/// filled in by anyone but changed only by an admin (403 otherwise).
#[utoipa::path(tag = "accounts", request_body = AccountPatch,
    params(("id" = String, Path, description = "Account id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Updated", body = AccountView)))]
#[patch("/{id}")]
pub async fn update_account(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<AccountPatch>,
) -> AppResult<HttpResponse> {
    let a = accounts_svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&a, a.version))
}

/// Creates (201) or replaces (200) the account known to another system by its id there.
#[utoipa::path(tag = "accounts", request_body = AccountInput,
    params(("system" = String, Path, description = "e.g. `erp`"), ("external_id" = String, Path, description = "The id in that system")),
    responses((status = 201, description = "Created", body = AccountView), (status = 200, description = "Updated", body = AccountView)))]
#[put("/by-external/{system}/{external_id}")]
pub async fn upsert_account(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Json<AccountInput>,
) -> AppResult<HttpResponse> {
    let (system, external_id) = path.into_inner();
    let (a, was_created) = accounts_svc::upsert_by_external(
        &state.services,
        &auth.0,
        system,
        external_id,
        body.into_inner(),
    )
    .await?;
    Ok(upserted(
        location("accounts", &a.id),
        &a,
        a.version,
        was_created,
    ))
}

/// Creates a contact on an account in the caller's scope.
#[utoipa::path(tag = "accounts", request_body = ContactCreate, responses((status = 201, description = "Created", body = ContactView)))]
#[post("")]
pub async fn create_contact(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<ContactCreate>,
) -> AppResult<HttpResponse> {
    let c = contacts_svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("contacts", &c.id), &c, c.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    pub account_id: Option<String>,
    pub decision_role: Option<DecisionRole>,
    /// Exact, after normalisation.
    pub phone: Option<String>,
    /// Exact, after normalisation.
    pub email: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists contacts of the accounts in the caller's scope.
#[utoipa::path(tag = "accounts", params(ContactQuery), responses((status = 200, description = "A page of contacts", body = PageOf<ContactView>)))]
#[get("")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<ContactQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let f = ContactFilter {
        account_id: q.account_id,
        decision_role: q.decision_role.map(|d| d.as_str().to_string()),
        phone: q.phone.and_then(|p| {
            crate::domain::phone::PhoneNumber::parse(&p)
                .ok()
                .map(|p| p.into_string())
        }),
        email: q.email.map(|e| e.trim().to_lowercase()),
    };
    Ok(page(
        contacts_svc::list(&state.services, &auth.0, f, before, limit).await?,
    ))
}

/// Reads a contact.
#[utoipa::path(tag = "accounts", params(("id" = String, Path, description = "Contact id")),
    responses((status = 200, description = "The contact", body = ContactView)))]
#[get("/{id}")]
pub async fn get_contact(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let c = contacts_svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&c, c.version))
}

/// Edits a contact.
#[utoipa::path(tag = "accounts", request_body = ContactPatch,
    params(("id" = String, Path, description = "Contact id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Updated", body = ContactView)))]
#[patch("/{id}")]
pub async fn update_contact(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<ContactPatch>,
) -> AppResult<HttpResponse> {
    let c = contacts_svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&c, c.version))
}

/// Deletes a contact (soft: its history stays).
#[utoipa::path(tag = "accounts",
    params(("id" = String, Path, description = "Contact id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 204, description = "Deleted")))]
#[delete("/{id}")]
pub async fn delete_contact(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    contacts_svc::delete(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
