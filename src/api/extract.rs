//! Request extractors and response helpers shared by every handler: the authenticated
//! caller, the request id, `If-Match`, paging, and 201/ETag responses.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use crate::auth::Principal;
use crate::domain::cursor;
use crate::error::{AppError, AppResult};
use crate::service::{Ctx, Page};

/// The request id assigned by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn request_id_of(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// The bearer token of a request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_string())
}

/// An authenticated call: who asks (resolved against the database) and the request id.
pub struct Auth(pub Ctx);

impl FromRequest for Auth {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = AppResult<Auth>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let request_id = request_id_of(req);
        let cached = req.extensions().get::<Principal>().cloned();
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().chars().take(120).collect::<String>())
            .filter(|s| !s.is_empty());
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let principal = match cached {
                Some(p) => p,
                None => {
                    let token = token.ok_or_else(|| {
                        AppError::unauthorized("send `Authorization: Bearer <token>`")
                    })?;
                    let p = crate::service::auth::authenticate(&state.services, token).await?;
                    req.extensions_mut().insert(p.clone());
                    p
                }
            };
            let client = match (&principal.kind, user_agent) {
                (crate::auth::PrincipalKind::ApiKey, _) => format!("api_key:{}", principal.name),
                (_, Some(ua)) => format!("user_agent:{ua}"),
                (_, None) => format!("user:{}", principal.name),
            };
            Ok(Auth(Ctx {
                principal,
                request_id,
                client,
            }))
        })
    }
}

/// The version named by `If-Match` (`"3"`, `W/"3"` or `3`); `*` and absence mean any.
pub struct IfMatch(pub Option<i64>);

impl FromRequest for IfMatch {
    type Error = AppError;
    type Future = std::future::Ready<AppResult<IfMatch>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = match req.headers().get(header::IF_MATCH) {
            None => Ok(IfMatch(None)),
            Some(v) => {
                let s = v.to_str().unwrap_or("").trim();
                if s == "*" {
                    Ok(IfMatch(None))
                } else {
                    s.trim_start_matches("W/")
                        .trim_matches('"')
                        .parse::<i64>()
                        .map(|n| IfMatch(Some(n)))
                        .map_err(|_| {
                            AppError::field("If-Match", "invalid_format", "an ETag such as \"3\"")
                        })
                }
            }
        };
        std::future::ready(parsed)
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The page size and the decoded cursor key.
    pub fn resolve(&self) -> AppResult<(i64, Option<String>)> {
        let limit =
            cursor::limit(self.limit).map_err(|m| AppError::field("limit", "out_of_range", m))?;
        let key = match &self.cursor {
            None => None,
            Some(c) => Some(cursor::decode(c).ok_or_else(|| {
                AppError::field("cursor", "invalid_format", "not a cursor from this API")
            })?),
        };
        Ok((limit, key))
    }

    /// For lists keyed by a sequence number.
    pub fn resolve_seq(&self) -> AppResult<(i64, i64)> {
        let (limit, key) = self.resolve()?;
        let seq = match key {
            None => 0,
            Some(k) => k.parse().map_err(|_| {
                AppError::field("cursor", "invalid_format", "not a cursor from this API")
            })?,
        };
        Ok((limit, seq))
    }
}

/// A page of items as JSON (`{items, next_cursor}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub fn page<T: Serialize + ToSchema>(p: Page<T>) -> HttpResponse {
    HttpResponse::Ok().json(PageOf {
        items: p.items,
        next_cursor: p.next_cursor,
    })
}

/// 200 with an `ETag` of the record's version.
pub fn ok_versioned<T: Serialize>(body: &T, version: i64) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(body)
}

/// 201 with `Location` and `ETag`.
pub fn created<T: Serialize>(location: String, body: &T, version: i64) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(body)
}

/// 201 or 200 for an upsert.
pub fn upserted<T: Serialize>(
    location: String,
    body: &T,
    version: i64,
    was_created: bool,
) -> HttpResponse {
    if was_created {
        created(location, body, version)
    } else {
        ok_versioned(body, version)
    }
}

/// Parses an RFC 3339 query parameter into epoch milliseconds.
pub fn query_time(field: &str, v: &Option<String>) -> AppResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.timestamp_millis()))
            .map_err(|_| {
                AppError::field(
                    field,
                    "invalid_format",
                    "an RFC 3339 time such as 2026-11-23T08:00:00Z",
                )
            }),
    }
}

/// The path of a resource under the API base.
pub fn location(kind: &str, id: &str) -> String {
    format!("/api/v1/{kind}/{id}")
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DryRun {
    /// Validate and report the impact without saving.
    pub dry_run: Option<bool>,
}

impl DryRun {
    pub fn on(&self) -> bool {
        self.dry_run.unwrap_or(false)
    }
}

/// The answer to a write that may have been a dry run (200 with the impact).
pub fn saved_or_tried<T>(
    w: crate::service::impact::Written<T>,
    saved: impl FnOnce(T) -> HttpResponse,
) -> HttpResponse {
    match w {
        crate::service::impact::Written::Saved(v) => saved(v),
        crate::service::impact::Written::DryRun(d) => HttpResponse::Ok().json(d),
    }
}

/// The answer of a PUT that takes `dry_run`: the saved record, or what the change would do.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SavedOrTried<T: ToSchema> {
    Saved(T),
    Tried(crate::service::impact::ConfigDryRun),
}

/// 200 with the saved record and its `ETag`, or (dry run) 200 with the impact.
pub fn replaced_or_tried<T: Serialize + ToSchema>(
    w: crate::service::impact::Written<T>,
    version: impl FnOnce(&T) -> i64,
) -> HttpResponse {
    match w {
        crate::service::impact::Written::Saved(v) => {
            let current = version(&v);
            ok_versioned(&SavedOrTried::Saved(v), current)
        }
        crate::service::impact::Written::DryRun(d) => {
            HttpResponse::Ok().json(SavedOrTried::<T>::Tried(d))
        }
    }
}
