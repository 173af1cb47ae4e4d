//! Login, token checks and API keys.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::org::UserView;
use super::{new_id, Ctx, Page, Services};
use crate::auth::policy::ORG_ADMINS;
use crate::auth::{password, require_role, tokens, Principal, PrincipalKind};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::api_keys::{self, ApiKeyRow};
use crate::store::users;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "admin", "password": "admin-pass-2026"}))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
    pub user: UserView,
}

/// Checks a username and password and issues an access token. Unknown users, wrong
/// passwords and deactivated users all answer the same 401.
/// Checks a username and password. Failed logins are throttled per username and per
/// client address (`ip`): past the limit, 429 with `Retry-After`, before any password work.
pub async fn login(
    svc: &Services,
    req: LoginRequest,
    ip: Option<String>,
) -> AppResult<LoginResponse> {
    let username = req.username.trim().to_lowercase();
    let now = svc.now().timestamp();
    svc.login_throttle
        .check(&username, ip.as_deref(), now)
        .map_err(AppError::rate_limited)?;
    let name = username.clone();
    let user = svc
        .read(move |conn| Ok(users::find_by_username(conn, &name)?))
        .await?;
    let password = req.password;
    let (ok, user) = actix_web::rt::task::spawn_blocking(move || {
        let stored = user
            .as_ref()
            .map(|u| u.password_hash.as_str())
            .unwrap_or(password::dummy_hash());
        (password::verify(&password, stored), user)
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?;
    let user = match user {
        Some(u) if ok && u.active => u,
        _ => {
            svc.login_throttle.failed(&username, ip.as_deref(), now);
            return Err(AppError::unauthorized("wrong username or password"));
        }
    };
    svc.login_throttle.succeeded(&username);
    let token = svc.jwt.issue(&user.id, &user.role, svc.now().timestamp())?;
    Ok(LoginResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: svc.jwt.ttl_secs,
        user: UserView::from(user),
    })
}

/// Resolves a bearer token (JWT or API key) to the caller, reading the user's current role,
/// team and active flag so that changes apply at once (kept in [`Services::callers`] until
/// a user or key changes, where this process is the database's one writer).
pub async fn authenticate(svc: &Services, token: String) -> AppResult<Principal> {
    let credential = if tokens::is_api_key(&token) {
        Credential::ApiKey(tokens::hash_token(&token))
    } else {
        Credential::User(svc.jwt.verify(&token)?.sub)
    };
    let key = credential.cache_key();
    if let Some(principal) = svc.callers.get(&key) {
        return Ok(principal);
    }
    let read_in = svc.callers.generation();
    let principal = resolve(svc, credential).await?;
    svc.callers.keep(key, read_in, principal.clone());
    Ok(principal)
}

/// What a checked token names: an API key (by its hash) or a user (by id).
enum Credential {
    ApiKey(String),
    User(String),
}

impl Credential {
    fn cache_key(&self) -> String {
        match self {
            Credential::ApiKey(hash) => format!("api_key:{hash}"),
            Credential::User(id) => format!("user:{id}"),
        }
    }
}

/// The caller `credential` names, as the database has it now.
async fn resolve(svc: &Services, credential: Credential) -> AppResult<Principal> {
    match credential {
        Credential::ApiKey(hash) => {
            let key = svc
                .read(move |conn| Ok(api_keys::find_active_by_hash(conn, &hash)?))
                .await?
                .ok_or_else(|| AppError::unauthorized("unknown or revoked API key"))?;
            let role = Role::parse(&key.role)
                .ok_or_else(|| AppError::unauthorized("API key has an unknown role"))?;
            Ok(Principal {
                kind: PrincipalKind::ApiKey,
                id: key.id,
                role,
                team_id: None,
                name: key.name,
            })
        }
        Credential::User(id) => {
            let user = svc.read(move |conn| Ok(users::find(conn, &id)?)).await?;
            let u = user.filter(|u| u.active).ok_or_else(|| {
                AppError::unauthorized("the user of this token no longer exists or is deactivated")
            })?;
            let role = Role::parse(&u.role)
                .ok_or_else(|| AppError::unauthorized("user has an unknown role"))?;
            Ok(Principal {
                kind: PrincipalKind::User,
                id: u.id,
                role,
                team_id: u.team_id,
                name: u.display_name,
            })
        }
    }
}

/// What `GET /me` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    /// `user` or `api_key`.
    pub kind: String,
    pub id: String,
    pub role: Role,
    pub team_id: Option<String>,
    pub name: String,
    /// The user record, for users.
    pub user: Option<UserView>,
}

pub async fn me(svc: &Services, p: Principal) -> AppResult<MeView> {
    let user = match p.kind {
        PrincipalKind::User => {
            let id = p.id.clone();
            svc.read(move |conn| Ok(users::find(conn, &id)?))
                .await?
                .map(UserView::from)
        }
        PrincipalKind::ApiKey => None,
    };
    Ok(MeView {
        kind: match p.kind {
            PrincipalKind::User => "user".into(),
            PrincipalKind::ApiKey => "api_key".into(),
        },
        id: p.id,
        role: p.role,
        team_id: p.team_id,
        name: p.name,
        user,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ERP sync", "role": "integration"}))]
pub struct ApiKeyCreate {
    pub name: String,
    /// Defaults to `integration`.
    pub role: Option<Role>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The first characters of the token, to recognise it.
    pub token_prefix: String,
    pub created_by: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A new key: `token` is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKeyView,
    pub token: String,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(r: ApiKeyRow) -> Self {
        ApiKeyView {
            id: r.id,
            name: r.name,
            role: Role::parse(&r.role).unwrap_or(Role::Integration),
            token_prefix: r.token_prefix,
            created_by: r.created_by,
            created_at: rfc3339(r.created_at),
            revoked_at: r.revoked_at.map(rfc3339),
        }
    }
}

pub async fn create_api_key(
    svc: &Services,
    ctx: &Ctx,
    req: ApiKeyCreate,
) -> AppResult<ApiKeyCreated> {
    require_role(&ctx.principal, ORG_ADMINS)?;
    let mut check = super::input::Check::default();
    let name = check.required("name", Some(req.name), 100);
    check.finish()?;
    let role = req.role.unwrap_or(Role::Integration);
    let token = tokens::new_api_key();
    let row = ApiKeyRow {
        id: new_id(),
        name,
        role: role.as_str().into(),
        token_hash: tokens::hash_token(&token),
        token_prefix: token.chars().take(10).collect(),
        created_by: ctx.principal.id.clone(),
        created_at: 0,
        revoked_at: None,
    };
    let key = svc
        .write(ctx, move |uow| {
            let row = ApiKeyRow {
                created_at: uow.now_ms,
                ..row
            };
            api_keys::insert(uow.conn, &row)?;
            let changes = [
                crate::domain::audit::Change {
                    field: "name".into(),
                    old: serde_json::Value::Null,
                    new: row.name.clone().into(),
                },
                crate::domain::audit::Change {
                    field: "role".into(),
                    old: serde_json::Value::Null,
                    new: row.role.clone().into(),
                },
            ];
            uow.audit("api_key", &row.id, "create", &changes);
            Ok(ApiKeyView::from(row))
        })
        .await?;
    Ok(ApiKeyCreated { key, token })
}

pub async fn list_api_keys(
    svc: &Services,
    ctx: &Ctx,
    after: Option<String>,
    limit: i64,
) -> AppResult<Page<ApiKeyView>> {
    require_role(&ctx.principal, ORG_ADMINS)?;
    let rows = svc
        .read(move |conn| Ok(api_keys::list(conn, after.as_deref(), limit + 1)?))
        .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        ApiKeyView::from,
    ))
}

/// Revokes a key at once: the next request with it answers 401.
pub async fn revoke_api_key(svc: &Services, ctx: &Ctx, id: String) -> AppResult<()> {
    require_role(&ctx.principal, ORG_ADMINS)?;
    svc.write(ctx, move |uow| {
        if api_keys::find(uow.conn, &id)?.is_none() {
            return Err(AppError::not_found("API key"));
        }
        if !api_keys::revoke(uow.conn, &id, uow.now_ms)? {
            return Err(AppError::conflict("the API key is already revoked"));
        }
        let change = crate::domain::audit::Change {
            field: "revoked_at".into(),
            old: serde_json::Value::Null,
            new: rfc3339(uow.now_ms).into(),
        };
        uow.audit("api_key", &id, "revoke", &[change]);
        Ok(())
    })
    .await
}
