//! The first admin of an empty database (`CRMFLOW_BOOTSTRAP_ADMIN`, `crmflow user create`).

use crate::domain::role::Role;
use crate::error::{AppError, AppResult};
use crate::service::org::{NewUser, UserCreate, UserView};
use crate::service::{run_in_transaction, Services};
use crate::store::{users, DbConnection};

/// The actor id recorded for changes made by crmflow itself.
pub const SYSTEM_ACTOR: &str = "system";

fn user_request(username: String, password: String, role: Role) -> UserCreate {
    UserCreate {
        username,
        password,
        display_name: None,
        role,
        team_id: None,
        manager_id: None,
        regions: Vec::new(),
        industries: Vec::new(),
        skills: Vec::new(),
        capacity: 0,
        active: Some(true),
    }
}

/// Creates an admin when the database has no users at all; otherwise does nothing.
pub async fn ensure_first_admin(
    svc: &Services,
    username: String,
    password: String,
) -> AppResult<()> {
    let prepared = actix_web::rt::task::spawn_blocking(move || {
        NewUser::prepare(user_request(username, password, Role::Admin))
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))??;
    let created = svc
        .write_as(SYSTEM_ACTOR.into(), "bootstrap".into(), move |uow| {
            if users::count(uow.conn)? > 0 {
                return Ok(None);
            }
            prepared.insert(uow).map(Some)
        })
        .await?;
    if let Some(u) = created {
        log::info!("created the first admin `{}`", u.username);
    }
    Ok(())
}

/// Creates one user from the command line.
pub fn create_user(conn: &mut DbConnection, req: UserCreate) -> AppResult<UserView> {
    let prepared = NewUser::prepare(req)?;
    run_in_transaction(
        conn,
        (chrono::Utc::now(), crate::config::DEFAULT_TIME_ZONE),
        SYSTEM_ACTOR.into(),
        "cli".into(),
        |uow| prepared.insert(uow),
    )
}

/// A user create request from CLI arguments.
pub fn cli_user(
    username: String,
    password: String,
    role: Role,
    display_name: Option<String>,
) -> UserCreate {
    UserCreate {
        display_name,
        ..user_request(username, password, role)
    }
}
