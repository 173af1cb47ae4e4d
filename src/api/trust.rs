//! `/audit` and `/events`.

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{page, query_time, Auth, PageOf, PageParams};
use super::AppState;
use crate::domain::events::TypeFilter;
use crate::error::{AppError, AppResult};
use crate::service::audit::{self as audit_svc, AuditEntryView, VerifyResult};
use crate::service::events::{self as events_svc, EventPage};
use crate::store::journal::AuditFilter;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// e.g. `lead`, `account`, `user`.
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<String>,
    /// RFC 3339; entries at or after it.
    pub since: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The audit trail in chain order (admin, director).
#[utoipa::path(tag = "trust", params(AuditQuery), responses((status = 200, description = "A page of audit entries", body = PageOf<AuditEntryView>)))]
#[get("")]
pub async fn list_audit(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, after) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve_seq()?;
    let f = AuditFilter {
        entity: q.entity,
        entity_id: q.entity_id,
        entity_ids: None,
        actor_id: q.actor_id,
        since: query_time("since", &q.since)?,
    };
    Ok(page(
        audit_svc::list(&state.services, &auth.0, f, after, limit).await?,
    ))
}

/// Recomputes the SHA-256 chain over every entry and reports the first broken one.
#[utoipa::path(tag = "trust", responses((status = 200, description = "Verification result", body = VerifyResult)))]
#[get("/verify")]
pub async fn verify_audit(state: web::Data<AppState>, auth: Auth) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(audit_svc::verify_chain(&state.services, &auth.0).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Events with an id greater than this (default 0).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Comma-separated types or patterns such as `lead.*,contract.signed`.
    pub types: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// The change feed: events in id order. Poll with `after` = the previous `next_after`.
/// Stable under concurrent writers: every writing transaction takes the journal head row
/// lock before inserting its events and keeps it until it commits, so ids are allocated and
/// become visible strictly in order and a reader that follows `after` never skips one.
/// With `CRMFLOW_EVENT_RETENTION_SECS` set, events older than that leave the feed (events
/// tied to an account stay: they are its timeline).
#[utoipa::path(tag = "integration", params(EventQuery), responses((status = 200, description = "Events after `after`", body = EventPage)))]
#[get("/events")]
pub async fn list_events(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<EventQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let limit = crate::domain::cursor::limit(q.limit)
        .map_err(|m| AppError::field("limit", "out_of_range", m))?;
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(AppError::field(
            "after",
            "out_of_range",
            "an event id, 0 or more",
        ));
    }
    let types = match q.types.as_deref() {
        None | Some("") => None,
        Some(t) => {
            Some(TypeFilter::parse(t).map_err(|m| AppError::field("types", "unknown_type", m))?)
        }
    };
    Ok(HttpResponse::Ok()
        .json(events_svc::feed(&state.services, &auth.0, after, types, limit).await?))
}
