//! Operations endpoints (no `/api/v1` prefix): liveness, readiness, metrics, the OpenAPI document.

use actix_web::http::header::ContentType;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::{AppError, AppResult};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Liveness: the process is up and serving.
#[utoipa::path(tag = "ops", responses((status = 200, description = "The process is up", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(tag = "ops", responses(
    (status = 200, description = "Ready", body = Health),
    (status = 503, description = "Database unreachable or migrations pending", body = crate::error::Problem,
        content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> AppResult<HttpResponse> {
    let current = state
        .services
        .read(crate::store::migrations_current)
        .await?;
    if !current {
        return Err(AppError::unavailable("database migrations are pending"));
    }
    Ok(HttpResponse::Ok().json(Health {
        status: "ok".into(),
    }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(tag = "ops", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(
            state
                .metrics
                .render(&state.services.db, state.services.write_groups.counts()),
        )
}

/// The OpenAPI document (`/docs/` reads it); not part of the document itself.
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(state.spec_json.clone())
}
