//! Teams and users (admin-managed), and the first admin of an empty database.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::input::{double_option, from_json_text, patch, to_json_text, Check};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::policy::ORG_ADMINS;
use crate::auth::{password, require_role};
use crate::domain::audit::diff;
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::teams::{self, TeamRow};
use crate::store::users::{self, UserFilter, UserRow};
use crate::store::{is_unique_violation, DbConnection};

const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamView {
    pub id: String,
    pub name: String,
    pub manager_id: Option<String>,
    pub regions: Vec<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<TeamRow> for TeamView {
    fn from(r: TeamRow) -> Self {
        TeamView {
            id: r.id,
            name: r.name,
            manager_id: r.manager_id,
            regions: from_json_text(&r.regions),
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "华东", "regions": ["上海", "江苏", "浙江"]}))]
pub struct TeamCreate {
    pub name: String,
    pub manager_id: Option<String>,
    #[serde(default)]
    pub regions: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "华东大区", "regions": ["上海", "江苏", "浙江", "安徽"]}))]
pub struct TeamPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub manager_id: Option<Option<String>>,
    pub regions: Option<Vec<String>>,
}

fn clean_list(check: &mut Check, field: &str, items: Vec<String>) -> Vec<String> {
    if items.len() > 100 {
        check.fail(field, "too_many", "at most 100 entries");
    }
    let mut out: Vec<String> = Vec::new();
    for (i, s) in items.into_iter().enumerate() {
        if let Some(v) = check.text(&format!("{field}[{i}]"), Some(s), 100) {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

fn ensure_user(conn: &mut DbConnection, field: &str, id: &str) -> AppResult<UserRow> {
    users::find(conn, id)?.ok_or_else(|| AppError::field(field, "not_found", "no such user"))
}

fn ensure_team(conn: &mut DbConnection, id: &str) -> AppResult<TeamRow> {
    teams::find(conn, id)?.ok_or_else(|| AppError::field("team_id", "not_found", "no such team"))
}

fn team_name_taken(e: diesel::result::Error) -> AppError {
    if is_unique_violation(&e) {
        AppError::duplicate("a team with this name exists")
    } else {
        e.into()
    }
}

pub async fn create_team(svc: &Services, ctx: &Ctx, req: TeamCreate) -> AppResult<TeamView> {
    require_role(&ctx.principal, ORG_ADMINS)?;
    let mut check = Check::default();
    let name = check.required("name", Some(req.name), 100);
    let regions = clean_list(&mut check, "regions", req.regions);
    let manager_id = check.text("manager_id", req.manager_id, 64);
    check.finish()?;
    svc.write(ctx, move |uow| {
        if let Some(m) = &manager_id {
            ensure_user(uow.conn, "manager_id", m)?;
        }
        let row = TeamRow {
            id: new_id(),
            name,
            manager_id,
            regions: to_json_text(&regions),
            version: 1,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
        };
        teams::insert(uow.conn, &row).map_err(team_name_taken)?;
        let view = TeamView::from(row);
        let snapshot = serde_json::to_value(&view).unwrap_or_default();
        uow.audit_created("team", &view.id, &snapshot, BOOKKEEPING);
        uow.event("team.created", "team", &view.id, snapshot);
        Ok(view)
    })
    .await
}

pub async fn get_team(svc: &Services, id: String) -> AppResult<TeamView> {
    svc.read(move |conn| {
        teams::find(conn, &id)?
            .map(TeamView::from)
            .ok_or_else(|| AppError::not_found("team"))
    })
    .await
}

pub async fn list_teams(
    svc: &Services,
    after: Option<String>,
    limit: i64,
) -> AppResult<Page<TeamView>> {
    let rows = svc
        .read(move |conn| Ok(teams::list(conn, after.as_deref(), limit + 1)?))
        .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        TeamView::from,
    ))
}

pub async fn update_team(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: TeamPatch,
) -> AppResult<TeamView> {
    require_role(&ctx.principal, ORG_ADMINS)?;
    let mut check = Check::default();
    let name = req.name.map(|n| check.required("name", Some(n), 100));
    let regions = req.regions.map(|r| clean_list(&mut check, "regions", r));
    let manager_id = req.manager_id.map(|m| check.text("manager_id", m, 64));
    check.finish()?;
    svc.write(ctx, move |uow| {
        let old = teams::find(uow.conn, &id)?.ok_or_else(|| AppError::not_found("team"))?;
        check_version(if_match, old.version)?;
        if let Some(Some(m)) = &manager_id {
            ensure_user(uow.conn, "manager_id", m)?;
        }
        let new = TeamRow {
            name: name.unwrap_or(old.name.clone()),
            manager_id: patch(old.manager_id.clone(), manager_id),
            regions: regions
                .map(|r| to_json_text(&r))
                .unwrap_or(old.regions.clone()),
            version: old.version + 1,
            updated_at: uow.now_ms,
            ..old.clone()
        };
        if !teams::update(uow.conn, &new, old.version).map_err(team_name_taken)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let (before, after) = (TeamView::from(old), TeamView::from(new));
        let after_json = serde_json::to_value(&after).unwrap_or_default();
        let changes = diff(
            &serde_json::to_value(&before).unwrap_or_default(),
            &after_json,
            BOOKKEEPING,
        );
        uow.audit("team", &after.id, "update", &changes);
        uow.event(
            "team.updated",
            "team",
            &after.id,
            json!({"team": after_json, "changes": changes}),
        );
        Ok(after)
    })
    .await
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub team_id: Option<String>,
    pub manager_id: Option<String>,
    pub regions: Vec<String>,
    pub industries: Vec<String>,
    pub skills: Vec<String>,
    /// How many open leads (assigned + working) this rep can carry.
    pub capacity: i32,
    pub active: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<UserRow> for UserView {
    fn from(r: UserRow) -> Self {
        UserView {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            role: Role::parse(&r.role).unwrap_or(Role::Sales),
            team_id: r.team_id,
            manager_id: r.manager_id,
            regions: from_json_text(&r.regions),
            industries: from_json_text(&r.industries),
            skills: from_json_text(&r.skills),
            capacity: r.capacity,
            active: r.active,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "username": "zhang.wei", "password": "change-me-2026", "display_name": "张伟", "role": "sales",
    "team_id": null, "manager_id": null, "regions": ["上海"], "industries": ["新能源汽车"],
    "skills": ["电池", "储能"], "capacity": 40, "active": true
}))]
pub struct UserCreate {
    pub username: String,
    /// Write-only; at least 8 characters.
    pub password: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub team_id: Option<String>,
    pub manager_id: Option<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub industries: Vec<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub capacity: i32,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "张伟（华东）", "capacity": 50, "skills": ["电池", "储能", "光伏"]}))]
pub struct UserPatch {
    /// Write-only; at least 8 characters.
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "double_option")]
    pub team_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub manager_id: Option<Option<String>>,
    pub regions: Option<Vec<String>>,
    pub industries: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    pub capacity: Option<i32>,
    pub active: Option<bool>,
}

fn check_username(check: &mut Check, raw: String) -> String {
    let u = check.required("username", Some(raw), 64).to_lowercase();
    let ok = u.len() >= 2
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !u.is_empty() && !ok {
        check.fail(
            "username",
            "invalid_format",
            "2–64 characters of a-z, 0-9, `.`, `_` and `-`",
        );
    }
    u
}

fn check_password(check: &mut Check, p: &str) {
    if p.chars().count() < 8 || p.len() > 256 {
        check.fail("password", "too_weak", "a password has 8 to 256 characters");
    }
}

fn check_capacity(check: &mut Check, c: i32) {
    if !(0..=10_000).contains(&c) {
        check.fail("capacity", "out_of_range", "between 0 and 10000");
    }
}

/// A new user, validated; the password is hashed off the async workers.
pub struct NewUser {
    row: UserRow,
}

impl NewUser {
    /// Validates a create body and hashes its password (blocking: call off the workers).
    pub fn prepare(req: UserCreate) -> AppResult<NewUser> {
        let mut check = Check::default();
        let username = check_username(&mut check, req.username);
        check_password(&mut check, &req.password);
        let display_name = check
            .text("display_name", req.display_name, 100)
            .unwrap_or_else(|| username.clone());
        let team_id = check.text("team_id", req.team_id, 64);
        let manager_id = check.text("manager_id", req.manager_id, 64);
        let regions = clean_list(&mut check, "regions", req.regions);
        let industries = clean_list(&mut check, "industries", req.industries);
        let skills = clean_list(&mut check, "skills", req.skills);
        check_capacity(&mut check, req.capacity);
        check.finish()?;
        Ok(NewUser {
            row: UserRow {
                id: new_id(),
                username,
                password_hash: password::hash(&req.password)?,
                display_name,
                role: req.role.as_str().into(),
                team_id,
                manager_id,
                regions: to_json_text(&regions),
                industries: to_json_text(&industries),
                skills: to_json_text(&skills),
                capacity: req.capacity,
                active: req.active.unwrap_or(true),
                version: 1,
                created_at: 0,
                updated_at: 0,
            },
        })
    }

    /// Stores the user inside an open unit of work.
    pub fn insert(self, uow: &mut Uow<'_>) -> AppResult<UserView> {
        if let Some(t) = &self.row.team_id {
            ensure_team(uow.conn, t)?;
        }
        if let Some(m) = &self.row.manager_id {
            ensure_user(uow.conn, "manager_id", m)?;
        }
        let row = UserRow {
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
            ..self.row
        };
        users::insert(uow.conn, &row).map_err(|e| {
            if is_unique_violation(&e) {
                AppError::duplicate("this username is taken")
            } else {
                e.into()
            }
        })?;
        let view = UserView::from(row);
        let snapshot = serde_json::to_value(&view).unwrap_or_default();
        uow.audit_created("user", &view.id, &snapshot, BOOKKEEPING);
        uow.event("user.created", "user", &view.id, snapshot);
        Ok(view)
    }
}

pub async fn create_user(svc: &Services, ctx: &Ctx, req: UserCreate) -> AppResult<UserView> {
    require_role(&ctx.principal, ORG_ADMINS)?;
    let prepared = actix_web::rt::task::spawn_blocking(move || NewUser::prepare(req))
        .await
        .map_err(|e| AppError::internal(e.to_string()))??;
    svc.write(ctx, move |uow| prepared.insert(uow)).await
}

pub async fn get_user(svc: &Services, id: String) -> AppResult<UserView> {
    svc.read(move |conn| {
        users::find(conn, &id)?
            .map(UserView::from)
            .ok_or_else(|| AppError::not_found("user"))
    })
    .await
}

pub async fn list_users(
    svc: &Services,
    filter: UserFilter,
    after: Option<String>,
    limit: i64,
) -> AppResult<Page<UserView>> {
    let rows = svc
        .read(move |conn| Ok(users::list(conn, &filter, after.as_deref(), limit + 1)?))
        .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        UserView::from,
    ))
}

pub async fn update_user(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: UserPatch,
) -> AppResult<UserView> {
    require_role(&ctx.principal, ORG_ADMINS)?;
    let mut check = Check::default();
    if let Some(p) = &req.password {
        check_password(&mut check, p);
    }
    let display_name = req
        .display_name
        .map(|d| check.required("display_name", Some(d), 100));
    let team_id = req.team_id.map(|t| check.text("team_id", t, 64));
    let manager_id = req.manager_id.map(|m| check.text("manager_id", m, 64));
    let regions = req.regions.map(|v| clean_list(&mut check, "regions", v));
    let industries = req
        .industries
        .map(|v| clean_list(&mut check, "industries", v));
    let skills = req.skills.map(|v| clean_list(&mut check, "skills", v));
    if let Some(c) = req.capacity {
        check_capacity(&mut check, c);
    }
    check.finish()?;
    if manager_id == Some(Some(id.clone())) {
        return Err(AppError::field(
            "manager_id",
            "invalid_reference",
            "a user cannot be their own manager",
        ));
    }
    let password_hash = match req.password {
        Some(p) => Some(
            actix_web::rt::task::spawn_blocking(move || password::hash(&p))
                .await
                .map_err(|e| AppError::internal(e.to_string()))??,
        ),
        None => None,
    };
    let (role, capacity, active) = (req.role, req.capacity, req.active);
    svc.write(ctx, move |uow| {
        let old = users::find(uow.conn, &id)?.ok_or_else(|| AppError::not_found("user"))?;
        check_version(if_match, old.version)?;
        if let Some(Some(t)) = &team_id {
            ensure_team(uow.conn, t)?;
        }
        if let Some(Some(m)) = &manager_id {
            ensure_user(uow.conn, "manager_id", m)?;
        }
        let password_changed = password_hash.is_some();
        let new = UserRow {
            password_hash: password_hash.unwrap_or(old.password_hash.clone()),
            display_name: display_name.unwrap_or(old.display_name.clone()),
            role: role
                .map(|r| r.as_str().to_string())
                .unwrap_or(old.role.clone()),
            team_id: patch(old.team_id.clone(), team_id),
            manager_id: patch(old.manager_id.clone(), manager_id),
            regions: regions
                .map(|v| to_json_text(&v))
                .unwrap_or(old.regions.clone()),
            industries: industries
                .map(|v| to_json_text(&v))
                .unwrap_or(old.industries.clone()),
            skills: skills
                .map(|v| to_json_text(&v))
                .unwrap_or(old.skills.clone()),
            capacity: capacity.unwrap_or(old.capacity),
            active: active.unwrap_or(old.active),
            version: old.version + 1,
            updated_at: uow.now_ms,
            ..old.clone()
        };
        let admin = |u: &UserRow| u.active && u.role == Role::Admin.as_str();
        if admin(&old) && !admin(&new) {
            // Queued behind other writers, so two admins cannot demote each other at once.
            uow.serialize()?;
            if users::active_admins(uow.conn)? <= 1 {
                return Err(AppError::conflict(
                    "the last active admin cannot lose the admin role or be deactivated: \
                     make another user an admin first",
                ));
            }
        }
        if !users::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let (before, after) = (UserView::from(old), UserView::from(new));
        let after_json = serde_json::to_value(&after).unwrap_or_default();
        let mut changes = diff(
            &serde_json::to_value(&before).unwrap_or_default(),
            &after_json,
            BOOKKEEPING,
        );
        if password_changed {
            changes.push(crate::domain::audit::Change {
                field: "password".into(),
                old: "***".into(),
                new: "***".into(),
            });
        }
        uow.audit("user", &after.id, "update", &changes);
        uow.event(
            "user.updated",
            "user",
            &after.id,
            json!({"user": after_json, "changes": changes}),
        );
        Ok(after)
    })
    .await
}
