//! `/teams` and `/users`.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{created, location, ok_versioned, page, Auth, IfMatch, PageOf, PageParams};
use super::AppState;
use crate::domain::role::Role;
use crate::error::AppResult;
use crate::service::org::{
    self as svc, TeamCreate, TeamPatch, TeamView, UserCreate, UserPatch, UserView,
};
use crate::store::users::UserFilter;

/// Creates a team (admin).
#[utoipa::path(tag = "org", request_body = TeamCreate, responses((status = 201, description = "Created", body = TeamView)))]
#[post("")]
pub async fn create_team(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<TeamCreate>,
) -> AppResult<HttpResponse> {
    let t = svc::create_team(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("teams", &t.id), &t, t.version))
}

/// Lists teams.
#[utoipa::path(tag = "org", params(PageParams), responses((status = 200, description = "A page of teams", body = PageOf<TeamView>)))]
#[get("")]
pub async fn list_teams(
    state: web::Data<AppState>,
    _auth: Auth,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, after) = q.resolve()?;
    Ok(page(svc::list_teams(&state.services, after, limit).await?))
}

/// Reads a team.
#[utoipa::path(tag = "org", params(("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team", body = TeamView)))]
#[get("/{id}")]
pub async fn get_team(
    state: web::Data<AppState>,
    _auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let t = svc::get_team(&state.services, id.into_inner()).await?;
    Ok(ok_versioned(&t, t.version))
}

/// Edits a team (admin); `If-Match` guards against lost updates.
#[utoipa::path(tag = "org", request_body = TeamPatch,
    params(("id" = String, Path, description = "Team id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Updated", body = TeamView)))]
#[patch("/{id}")]
pub async fn update_team(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<TeamPatch>,
) -> AppResult<HttpResponse> {
    let t = svc::update_team(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&t, t.version))
}

/// Creates a user (admin). The password is write-only and stored as an argon2 hash.
#[utoipa::path(tag = "org", request_body = UserCreate, responses((status = 201, description = "Created", body = UserView)))]
#[post("")]
pub async fn create_user(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<UserCreate>,
) -> AppResult<HttpResponse> {
    let u = svc::create_user(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("users", &u.id), &u, u.version))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub team_id: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Lists users.
#[utoipa::path(tag = "org", params(UserQuery), responses((status = 200, description = "A page of users", body = PageOf<UserView>)))]
#[get("")]
pub async fn list_users(
    state: web::Data<AppState>,
    _auth: Auth,
    q: web::Query<UserQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, after) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    let filter = UserFilter {
        team_id: q.team_id,
        role: q.role.map(|r| r.as_str().to_string()),
        active: q.active,
    };
    Ok(page(
        svc::list_users(&state.services, filter, after, limit).await?,
    ))
}

/// Reads a user.
#[utoipa::path(tag = "org", params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView)))]
#[get("/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    _auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let u = svc::get_user(&state.services, id.into_inner()).await?;
    Ok(ok_versioned(&u, u.version))
}

/// Edits a user (admin): role, team, skills, capacity, password, or `active: false` to
/// deactivate (their tokens stop working at once). The last active admin keeps the admin
/// role and stays active (409 `conflict`).
#[utoipa::path(tag = "org", request_body = UserPatch,
    params(("id" = String, Path, description = "User id"), ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Updated", body = UserView)))]
#[patch("/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<UserPatch>,
) -> AppResult<HttpResponse> {
    let u = svc::update_user(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&u, u.version))
}
