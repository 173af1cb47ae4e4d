//! External ids (`external_refs`) of records, shared by every upsert-by-external-id.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Ctx, Services};
use crate::auth::{require_role, Principal};
use crate::domain::role::Role;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::external_refs::{self, ExternalRefRow};
use crate::store::DbConnection;

/// The id of a record in another system.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[schema(example = json!({"system": "erp", "external_id": "C-10023"}))]
pub struct ExternalRef {
    pub system: String,
    pub external_id: String,
}

/// Checks the path parts of `/by-external/{system}/{external_id}`.
pub fn validate(system: &str, external_id: &str) -> AppResult<()> {
    let mut errors = Vec::new();
    let sys_ok = !system.is_empty()
        && system.len() <= 32
        && system
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !sys_ok {
        errors.push(FieldError {
            field: "system".into(),
            code: "invalid_format".into(),
            message: "1–32 characters of letters, digits, _ and -".into(),
        });
    }
    if external_id.is_empty()
        || external_id.chars().count() > 128
        || external_id.chars().any(char::is_control)
    {
        errors.push(FieldError {
            field: "external_id".into(),
            code: "invalid_format".into(),
            message: "1–128 printable characters".into(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(crate::error::AppError::validation(errors))
    }
}

/// The refs of each record of a page, in the order of `ids`.
pub fn load_many(
    conn: &mut DbConnection,
    entity: &str,
    ids: &[String],
) -> AppResult<Vec<Vec<ExternalRef>>> {
    let rows = external_refs::for_entities(conn, entity, ids)?;
    Ok(ids
        .iter()
        .map(|id| {
            rows.iter()
                .filter(|r| &r.entity_id == id)
                .map(|r| ExternalRef {
                    system: r.system.clone(),
                    external_id: r.external_id.clone(),
                })
                .collect()
        })
        .collect())
}

pub fn load(conn: &mut DbConnection, entity: &str, id: &str) -> AppResult<Vec<ExternalRef>> {
    Ok(load_many(conn, entity, &[id.to_string()])?
        .pop()
        .unwrap_or_default())
}

pub fn link(
    conn: &mut DbConnection,
    entity: &str,
    system: &str,
    external_id: &str,
    entity_id: &str,
    at: i64,
) -> diesel::QueryResult<()> {
    external_refs::insert(
        conn,
        &ExternalRefRow {
            entity: entity.into(),
            system: system.into(),
            external_id: external_id.into(),
            entity_id: entity_id.into(),
            created_at: at,
        },
    )
}

/// Which records carry external ids, who may link them, and how to check that the caller
/// sees the record.
#[derive(Clone, Copy)]
pub struct Linkable {
    pub entity: &'static str,
    pub writers: &'static [Role],
    pub visible: fn(&mut DbConnection, &Principal, &str) -> AppResult<()>,
}

/// Gives a record the id another system knows it by, so that this system's upserts
/// (`PUT /…/by-external/{system}/{external_id}`) update it: a record may carry ids from
/// several systems (ERP and MES). Linking an id the record already has is a no-op; an id
/// that names another record answers 409 `duplicate`.
pub async fn attach(
    svc: &Services,
    ctx: &Ctx,
    what: Linkable,
    id: String,
    r: ExternalRef,
) -> AppResult<Vec<ExternalRef>> {
    require_role(&ctx.principal, what.writers)?;
    validate(&r.system, &r.external_id)?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        (what.visible)(uow.conn, &p, &id)?;
        let before = load(uow.conn, what.entity, &id)?;
        match external_refs::resolve(uow.conn, what.entity, &r.system, &r.external_id)? {
            Some(owner) if owner == id => {}
            Some(_) => {
                return Err(AppError::duplicate(format!(
                    "{}/{} already names another {}",
                    r.system, r.external_id, what.entity
                )))
            }
            None => {
                link(
                    uow.conn,
                    what.entity,
                    &r.system,
                    &r.external_id,
                    &id,
                    uow.now_ms,
                )?;
                let after = load(uow.conn, what.entity, &id)?;
                let change = crate::domain::audit::Change {
                    field: "external_refs".into(),
                    old: serde_json::to_value(&before).unwrap_or_default(),
                    new: serde_json::to_value(&after).unwrap_or_default(),
                };
                uow.audit(what.entity, &id, "link_external", &[change]);
            }
        }
        load(uow.conn, what.entity, &id)
    })
    .await
}

/// Runs an upsert-by-external-id attempt until it does not lose a race: a concurrent
/// upsert of the same external id may create the record first (unique violation) or
/// update it in between (version moved). Upserts replace, so trying again is correct.
pub async fn retry_upsert<T, F, Fut>(mut attempt: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<T>>,
{
    let mut lost = 0;
    loop {
        match attempt().await {
            Err(e) if lost < 10 && lost_race(&e) => lost += 1,
            other => return other,
        }
    }
}

fn lost_race(e: &crate::error::AppError) -> bool {
    e.code == "version_mismatch" || (e.code == "conflict" && e.detail.starts_with("already exists"))
}
