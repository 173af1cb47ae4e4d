//! Middleware: request ids and metrics around every request; `Idempotency-Key` replay
//! around the API.

use std::time::Instant;

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::extract::{bearer_token, RequestId};
use super::AppState;
use crate::error::AppError;
use crate::store::{idempotency, is_unique_violation};

const REQUEST_ID: &str = "x-request-id";

fn valid_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic())
}

/// Gives every request an id (the caller's `x-request-id` when sane, else a new UUIDv7),
/// echoes it on the response, and records the request in the Prometheus metrics.
pub async fn request_id_and_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let started = Instant::now();
    let method = req.method().to_string();
    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        state
            .metrics
            .observe(&method, &route, res.status().as_u16(), started.elapsed());
    }
    Ok(res)
}

/// Refuses a request whose head (request line and headers) is larger than
/// `CRMFLOW_HEADER_LIMIT_BYTES` with 431, before any handler runs.
pub async fn limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |s| s.header_limit);
    let size = req.uri().path_and_query().map_or(0, |p| p.as_str().len())
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if size > limit {
        return Ok(problem(req, AppError::headers_too_large(limit)));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// What is stored for a replay.
#[derive(Serialize, Deserialize)]
struct StoredResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

const REPLAYED_HEADERS: &[&str] = &["content-type", "location", "etag"];

fn problem(req: ServiceRequest, e: AppError) -> ServiceResponse<BoxBody> {
    req.into_response(e.error_response())
}

/// `Idempotency-Key` on POST/PUT: the first response for a (caller, key) is stored for the
/// configured TTL and replayed to retries with `Idempotent-Replayed: true`; the same key
/// with another request body answers 422; a retry while the first is running answers 409.
pub async fn idempotency_keys(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let is_write = req.method() == Method::POST || req.method() == Method::PUT;
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("").to_string());
    let (Some(key), true) = (key, is_write) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Ok(problem(
            req,
            AppError::field(
                "Idempotency-Key",
                "invalid_format",
                "1–255 visible ASCII characters",
            ),
        ));
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(token) = bearer_token(req.request()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let principal = match crate::service::auth::authenticate(&state.services, token).await {
        Ok(p) => p,
        Err(e) => return Ok(problem(req, e)),
    };
    req.extensions_mut().insert(principal.clone());

    let limit = if req.path().ends_with("/imports") {
        state.services.settings.imports.max_bytes
    } else {
        state.services.settings.body_limit_bytes
    };
    let body = match super::integration::read_body(req.take_payload(), limit).await {
        Ok(b) => b,
        Err(e) => return Ok(problem(req, e)),
    };
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.uri().to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(&body);
    let request_hash = hex::encode(hasher.finalize());
    let (_, mut payload) = actix_http::h1::Payload::create(true);
    payload.unread_data(body);
    req.set_payload(payload.into());

    let svc = state.services.clone();
    let ttl_ms = svc.settings.idempotency_ttl_secs * 1000;
    let now = svc.now().timestamp_millis();
    let (p_id, k, h) = (principal.id.clone(), key.clone(), request_hash.clone());
    let claimed = svc
        .db_write(move |conn| {
            idempotency::purge_key(conn, &p_id, &k, now - ttl_ms)?;
            if let Some(existing) = idempotency::find(conn, &p_id, &k, now - ttl_ms)? {
                return Ok(Some(existing));
            }
            match idempotency::claim(conn, &p_id, &k, &h, now) {
                Ok(()) => Ok(None),
                Err(e) if is_unique_violation(&e) => Err(AppError::conflict(
                    "a request with this Idempotency-Key is still running",
                )),
                Err(e) => Err(e.into()),
            }
        })
        .await;
    match claimed {
        Err(e) => return Ok(problem(req, e)),
        Ok(Some(existing)) => {
            if existing.request_hash != request_hash {
                return Ok(problem(
                    req,
                    AppError::field(
                        "Idempotency-Key",
                        "key_reused",
                        "this key was used with a different request",
                    ),
                ));
            }
            let Some(stored) = existing
                .response
                .and_then(|r| serde_json::from_str::<StoredResponse>(&r).ok())
            else {
                return Ok(problem(
                    req,
                    AppError::conflict("a request with this Idempotency-Key is still running"),
                ));
            };
            let mut res =
                HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
            for (name, value) in &stored.headers {
                res.insert_header((name.as_str(), value.as_str()));
            }
            res.insert_header(("idempotent-replayed", "true"));
            return Ok(req.into_response(res.body(stored.body)));
        }
        Ok(None) => {}
    }

    let res = next.call(req).await?;
    let (http_req, res) = res.into_parts();
    let status = res.status();
    let headers: Vec<(String, String)> = REPLAYED_HEADERS
        .iter()
        .filter_map(|h| {
            res.headers()
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(|v| (h.to_string(), v.to_string()))
        })
        .collect();
    let (head, body) = res.into_parts();
    let bytes = to_bytes(body).await.unwrap_or_default();
    let (p_id, k) = (principal.id, key);
    let outcome = if status.is_server_error() {
        svc.db_write(move |conn| Ok(idempotency::release(conn, &p_id, &k)?))
            .await
    } else {
        let stored = StoredResponse {
            status: status.as_u16(),
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        let text = serde_json::to_string(&stored).unwrap_or_default();
        svc.db_write(move |conn| {
            Ok(idempotency::complete(
                conn,
                &p_id,
                &k,
                status.as_u16() as i32,
                &text,
            )?)
        })
        .await
    };
    if let Err(e) = outcome {
        log::warn!("could not record the Idempotency-Key response: {e}");
    }
    Ok(ServiceResponse::new(
        http_req,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}
