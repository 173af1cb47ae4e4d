//! `/auth/login`, `/me`, `/api-keys`.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};

use super::extract::{created, page, Auth, PageOf, PageParams};
use super::AppState;
use crate::error::AppResult;
use crate::service::auth::{
    self as svc, ApiKeyCreate, ApiKeyCreated, ApiKeyView, LoginRequest, LoginResponse, MeView,
};

/// Exchanges a username and password for an access token (JWT, HS256). Failed logins are
/// limited per username (`CRMFLOW_LOGIN_MAX_FAILURES_PER_USER`, default 5) and per client
/// address (`CRMFLOW_LOGIN_MAX_FAILURES_PER_IP`, default 20) within
/// `CRMFLOW_LOGIN_WINDOW_SECS` (300): beyond, 429 `rate_limited` with `Retry-After`.
#[utoipa::path(tag = "auth", security(), request_body = LoginRequest,
    responses((status = 200, description = "Logged in", body = LoginResponse),
        (status = 429, description = "Too many failed logins; wait `Retry-After` seconds", body = crate::error::Problem,
            headers(("Retry-After" = u64, description = "Seconds until a login is accepted again")))))]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> AppResult<HttpResponse> {
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    Ok(HttpResponse::Ok().json(svc::login(&state.services, body.into_inner(), ip).await?))
}

/// The caller: user or API key, role and team.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The caller", body = MeView)))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(svc::me(&state.services, auth.0.principal).await?))
}

/// Creates an API key (admin). The token is in this response only; it is stored hashed.
#[utoipa::path(tag = "auth", request_body = ApiKeyCreate,
    responses((status = 201, description = "Created; `token` is shown once", body = ApiKeyCreated)))]
#[post("")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<ApiKeyCreate>,
) -> AppResult<HttpResponse> {
    let key = svc::create_api_key(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(format!("/api/v1/api-keys/{}", key.key.id), &key, 1))
}

/// Lists API keys (admin); tokens are never shown again.
#[utoipa::path(tag = "auth", params(PageParams), responses((status = 200, description = "A page of keys", body = PageOf<ApiKeyView>)))]
#[get("")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, after) = q.resolve()?;
    Ok(page(
        svc::list_api_keys(&state.services, &auth.0, after, limit).await?,
    ))
}

/// Revokes an API key (admin); effective for the next request.
#[utoipa::path(tag = "auth", params(("id" = String, Path, description = "API key id")),
    responses((status = 204, description = "Revoked")))]
#[delete("/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    svc::revoke_api_key(&state.services, &auth.0, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
