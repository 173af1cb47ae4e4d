//! `/webhooks`, `/webhook-deliveries` and `/imports`.

use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{created, location, ok_versioned, page, Auth, IfMatch, PageOf, PageParams};
use super::AppState;
use crate::domain::import::ImportEntity;
use crate::domain::webhook::DeliveryStatus;
use crate::error::{AppError, AppResult};
use crate::service::imports::{self, FileKind, ImportView};
use crate::service::refs::{self, ExternalRef};
use crate::service::webhooks::{
    self as svc, DeliveryView, WebhookInput, WebhookPatch, WebhookView,
};

const IF_MATCH: &str = "Expected version, e.g. \"3\"";

/// Subscribes a URL to events (admin, integration). `standard` deliveries carry the event
/// envelope and Standard Webhooks headers: `webhook-id` (the delivery id: the same on
/// every retry), `webhook-timestamp` (Unix seconds) and `webhook-signature:
/// v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`, where the key
/// is the base64-decoded part of a `whsec_` secret (any other secret: its UTF-8 bytes).
/// Robot formats post a Chinese summary: `dingtalk` (markdown; `timestamp` and `sign`
/// query parameters when a secret is set), `feishu` (interactive card; `timestamp` and
/// `sign` in the body when a secret is set), `wecom` (markdown). The generated secret is
/// in this answer only. The subscription receives events recorded from now on.
#[utoipa::path(tag = "integration", request_body = WebhookInput,
    responses((status = 201, description = "Created; `secret` shown this once", body = WebhookView)))]
#[post("")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    auth: Auth,
    body: web::Json<WebhookInput>,
) -> AppResult<HttpResponse> {
    let w = svc::create(&state.services, &auth.0, body.into_inner()).await?;
    Ok(created(location("webhooks", &w.id), &w, w.version))
}

/// Lists subscriptions, newest first.
#[utoipa::path(tag = "integration", params(PageParams),
    responses((status = 200, description = "A page of subscriptions", body = PageOf<WebhookView>)))]
#[get("")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<PageParams>,
) -> AppResult<HttpResponse> {
    let (limit, before) = q.into_inner().resolve()?;
    Ok(page(
        svc::list(&state.services, &auth.0, before, limit).await?,
    ))
}

/// Reads a subscription (without its secret), including why it was disabled.
#[utoipa::path(tag = "integration", params(("id" = String, Path, description = "Webhook id")),
    responses((status = 200, description = "The subscription", body = WebhookView)))]
#[get("/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let w = svc::get(&state.services, &auth.0, id.into_inner()).await?;
    Ok(ok_versioned(&w, w.version))
}

/// Edits a subscription. `active: true` re-enables a disabled one: it resumes with the
/// deliveries it had queued and the events recorded since (those still in the change
/// feed).
#[utoipa::path(tag = "integration", request_body = WebhookPatch,
    params(("id" = String, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 200, description = "Updated", body = WebhookView)))]
#[patch("/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
    body: web::Json<WebhookPatch>,
) -> AppResult<HttpResponse> {
    let w = svc::update(
        &state.services,
        &auth.0,
        id.into_inner(),
        if_match.0,
        body.into_inner(),
    )
    .await?;
    Ok(ok_versioned(&w, w.version))
}

/// Deletes a subscription; its waiting deliveries are not sent.
#[utoipa::path(tag = "integration",
    params(("id" = String, Path, description = "Webhook id"), ("If-Match" = Option<String>, Header, description = IF_MATCH)),
    responses((status = 204, description = "Deleted")))]
#[delete("/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    if_match: IfMatch,
) -> AppResult<HttpResponse> {
    svc::delete(&state.services, &auth.0, id.into_inner(), if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The delivery log of a subscription, newest first: status, attempts with status code,
/// latency and the first 1,024 bytes of each answer. Retries follow ~5 s, 5 min, 30 min,
/// 2 h, 5 h and 10 h (±20 %); after the seventh failed attempt a delivery is `failed`.
#[utoipa::path(tag = "integration", params(("id" = String, Path, description = "Webhook id"), DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = PageOf<DeliveryView>)))]
#[get("/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<DeliveryQuery>,
) -> AppResult<HttpResponse> {
    let q = q.into_inner();
    let (limit, before) = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .resolve()?;
    Ok(page(
        svc::deliveries(
            &state.services,
            &auth.0,
            id.into_inner(),
            q.status,
            before,
            limit,
        )
        .await?,
    ))
}

/// Sends a `webhook.test` event to this subscription only (whatever its event types),
/// through the normal queue, signing and retries; watch it in the delivery log.
#[utoipa::path(tag = "integration", params(("id" = String, Path, description = "Webhook id")),
    responses((status = 202, description = "Queued", body = Object,
        example = json!({"webhook_id": "0193a1b2-0000-7000-8000-0000000000a1", "event_type": "webhook.test", "status": "queued"}))))]
#[post("/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let v = svc::test(&state.services, &auth.0, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(v))
}

/// Queues a delivery again (delivered, failed or waiting) with a fresh retry schedule and
/// the same `webhook-id`; it goes out before the subscription's later events.
#[utoipa::path(tag = "integration", params(("id" = String, Path, description = "Delivery id")),
    responses((status = 202, description = "Queued", body = DeliveryView)))]
#[post("/webhook-deliveries/{id}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let d = svc::redeliver(&state.services, &auth.0, id.into_inner()).await?;
    Ok(HttpResponse::Accepted().json(d))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    pub entity: ImportEntity,
    /// Validate every row through the full path and store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Reads a request body up to `limit` bytes (413 `payload_too_large` beyond).
pub async fn read_body<S>(mut payload: S, limit: usize) -> AppResult<web::Bytes>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::bad_request(format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Imports a file of leads, accounts, contacts or work orders: a JSON array of create
/// bodies (`application/json`) or CSV (`text/csv`; UTF-8 with or without BOM, or GBK as
/// Excel saves it — detected, or say `charset=gbk`). CSV headers are field names
/// (`name, company, phone, email, province, city, industry, source, budget_cents …`),
/// `budget` in yuan (`120万` reads as 1,200,000 yuan), `custom.<key>`, or the Chinese
/// labels 姓名/公司/手机/邮箱/省份/城市/行业/来源/预算 (sources such as 展会 or 官网 map to
/// their codes). Rows with `external_system` and `external_id` upsert by that id instead
/// of creating. Leads without a source are `import`. An unknown column refuses the file
/// (422); a bad row (also a JSON element that is not an object) is reported in the job's `errors` and the rest are stored. Every row
/// runs through the same code as a single create (scoring, dedup, assignment, audit,
/// events). Answers 202 with the job; poll `GET /imports/{id}`. The largest file is
/// `CRMFLOW_IMPORT_MAX_BYTES` (413 above).
#[utoipa::path(tag = "integration", params(ImportQuery),
    request_body(content(
        (Vec<serde_json::Value> = "application/json", example = json!([{"name": "陈明", "company": "华东机床", "phone": "13800138000", "source": "trade_show"}])),
        (String = "text/csv", example = "姓名,公司,手机,邮箱,省份,城市,行业,来源,预算\n陈明,华东机床,13800138000,chen@hdjc.cn,江苏,苏州,机械制造,展会,120万\n"),
    )),
    responses((status = 202, description = "Queued", body = ImportView), (status = 413, description = "File too large", body = crate::error::Problem),
        (status = 415, description = "Neither JSON nor CSV", body = crate::error::Problem)))]
#[post("")]
pub async fn create_import(
    state: web::Data<AppState>,
    auth: Auth,
    req: HttpRequest,
    q: web::Query<ImportQuery>,
    payload: web::Payload,
) -> AppResult<HttpResponse> {
    let kind = file_kind(&req)?;
    let body = read_body(payload, state.services.settings.imports.max_bytes).await?;
    let q = q.into_inner();
    let v = imports::start(&state.services, &auth.0, q.entity, q.dry_run, kind, body).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, location("imports", &v.id)))
        .json(v))
}

fn file_kind(req: &HttpRequest) -> AppResult<FileKind> {
    let raw = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = raw.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().to_string())
    });
    match mime.as_str() {
        "text/csv" | "application/csv" => Ok(FileKind::Csv { charset }),
        "application/json" => Ok(FileKind::Json),
        _ => Err(AppError::unsupported_media_type(
            "send the file as `text/csv` or `application/json`",
        )),
    }
}

/// An import's progress (`total, processed, succeeded, failed`) and its refused rows
/// `{row, field, code, message}` (row 1 = the first data row). Readable by whoever started
/// it and by admins.
#[utoipa::path(tag = "integration", params(("id" = String, Path, description = "Import id")),
    responses((status = 200, description = "The import", body = ImportView)))]
#[get("/{id}")]
pub async fn get_import(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(imports::get(&state.services, &auth.0, id.into_inner()).await?))
}

/// The five kinds of record that carry external ids, by collection path.
fn linkable(collection: &str) -> Option<refs::Linkable> {
    Some(match collection {
        "leads" => crate::service::leads::LINKABLE,
        "accounts" => crate::service::accounts::LINKABLE,
        "contracts" => crate::service::contracts::LINKABLE,
        "work-orders" => crate::service::work_orders::LINKABLE,
        "assets" => crate::service::assets::LINKABLE,
        _ => return None,
    })
}

/// Gives a lead, account, contract, work order or asset the id another system knows it
/// by, so that system's `PUT /{collection}/by-external/{system}/{external_id}` updates
/// this record: one record can carry ids from several systems (ERP and MES). Answers the
/// record's `external_refs`. An id already naming another record: 409 `duplicate`.
#[utoipa::path(tag = "integration", request_body = ExternalRef,
    params(("collection" = String, Path, description = "`leads`, `accounts`, `contracts`, `work-orders` or `assets`"),
           ("id" = String, Path, description = "Record id")),
    responses((status = 200, description = "The record's external ids", body = Vec<ExternalRef>)))]
#[post("/{collection}/{id}/external-refs")]
pub async fn link_external_ref(
    state: web::Data<AppState>,
    auth: Auth,
    path: web::Path<(String, String)>,
    body: web::Json<ExternalRef>,
) -> AppResult<HttpResponse> {
    let (collection, id) = path.into_inner();
    let what = linkable(&collection).ok_or_else(|| AppError::not_found("resource"))?;
    let refs = refs::attach(&state.services, &auth.0, what, id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(refs))
}
