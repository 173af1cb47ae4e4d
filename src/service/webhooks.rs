//! Webhook subscriptions (admin and integration accounts), their delivery log, manual
//! redelivery and test events. The worker that fans events out and delivers them is
//! `jobs::webhooks`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::input::{double_option, from_json_text, patch, to_json_text, Check};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::require_role;
use crate::domain::audit::diff;
use crate::domain::events::TypeFilter;
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::domain::webhook::{validate_url, DeliveryStatus, WebhookFormat};
use crate::error::{AppError, AppResult};
use crate::store::webhooks::{self as store, AttemptRow, DeliveryRow, WebhookRow};

const ENTITY: &str = "webhook";

/// Who manages subscriptions.
pub const WEBHOOK_ADMINS: &[Role] = &[Role::Admin, Role::Integration];

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://erp.example.com/hooks/crm", "event_types": ["lead.*", "contract.signed"],
    "format": "standard", "active": true}))]
pub struct WebhookInput {
    /// `http` or `https` URL that receives the POSTs.
    pub url: String,
    /// Signing secret. `standard`: generated (`whsec_` + base64) when absent and shown
    /// once in the answer. `dingtalk`/`feishu`: the robot's signing secret (`SEC…`), if the
    /// robot has one. `wecom`: unused (the key is in the URL).
    pub secret: Option<String>,
    /// Exact event names or `family.*` patterns; `*` for all.
    pub event_types: Vec<String>,
    #[serde(default)]
    pub format: WebhookFormat,
    /// Defaults to `true`.
    pub active: Option<bool>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": true}))]
pub struct WebhookPatch {
    pub url: Option<String>,
    /// Replaces the signing secret.
    pub secret: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub format: Option<WebhookFormat>,
    /// `true` re-enables a disabled subscription: it resumes where it stopped.
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a1b2-0000-7000-8000-0000000000a1", "url": "https://erp.example.com/hooks/crm",
    "event_types": ["lead.*"], "format": "standard", "active": true, "secret": "whsec_q3k…", "signed": true,
    "created_by": "0193a1b2-0000-7000-8000-000000000001",
    "version": 1, "created_at": "2026-11-23T02:00:00.000Z", "updated_at": "2026-11-23T02:00:00.000Z"}))]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub format: WebhookFormat,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only in the answer that sets it (create, or a PATCH with `secret`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Whether a signing secret is set.
    pub signed: bool,
    /// Every attempt since then failed (the auto-disable clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<WebhookRow> for WebhookView {
    fn from(r: WebhookRow) -> Self {
        WebhookView {
            event_types: from_json_text(&r.event_types),
            format: WebhookFormat::parse(&r.format).unwrap_or_default(),
            signed: !r.secret.is_empty(),
            secret: None,
            failing_since: r.failing_since.map(rfc3339),
            disabled_at: r.disabled_at.map(rfc3339),
            id: r.id,
            url: r.url,
            active: r.active,
            description: r.description,
            disabled_reason: r.disabled_reason,
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub at: String,
    /// Absent when no HTTP answer came (connection refused, timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    /// The first 1,024 bytes of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a1b2-0000-7000-8000-0000000000d1", "webhook_id": "0193a1b2-0000-7000-8000-0000000000a1",
    "event_id": 42, "event_type": "lead.created", "status": "delivered", "attempts": 1,
    "attempt_log": [{"attempt": 1, "at": "2026-11-23T02:00:01.000Z", "status_code": 200, "latency_ms": 35, "response_body": "ok"}],
    "created_at": "2026-11-23T02:00:00.500Z", "updated_at": "2026-11-23T02:00:01.035Z", "delivered_at": "2026-11-23T02:00:01.035Z"}))]
pub struct DeliveryView {
    /// Sent as `webhook-id`: the same on every attempt and redelivery, so receivers can
    /// de-duplicate.
    pub id: String,
    pub webhook_id: String,
    pub event_id: i64,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When the next attempt is due (`pending` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub attempt_log: Vec<AttemptView>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
}

fn delivery_view(d: DeliveryRow, attempts: Vec<AttemptRow>) -> DeliveryView {
    let status = DeliveryStatus::parse(&d.status).unwrap_or(DeliveryStatus::Pending);
    DeliveryView {
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
        status,
        attempt_log: attempts
            .into_iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                at: rfc3339(a.at),
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                response_body: a.response_body,
                error: a.error,
            })
            .collect(),
        id: d.id,
        webhook_id: d.webhook_id,
        event_id: d.event_id,
        event_type: d.event_type,
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        created_at: rfc3339(d.created_at),
        updated_at: rfc3339(d.updated_at),
        delivered_at: d.delivered_at.map(rfc3339),
    }
}

/// The validated, editable fields of a subscription.
struct Fields {
    url: String,
    secret: String,
    event_types: Vec<String>,
    format: WebhookFormat,
    active: bool,
    description: Option<String>,
}

fn parse(
    url: String,
    secret: Option<String>,
    event_types: Vec<String>,
    format: WebhookFormat,
    active: bool,
    description: Option<String>,
) -> AppResult<Fields> {
    let mut c = Check::default();
    let url = url.trim().to_string();
    if let Err(m) = validate_url(&url) {
        c.fail("url", "invalid_format", m);
    }
    let secret = c.text("secret", secret, 200);
    let event_types: Vec<String> = event_types
        .into_iter()
        .map(|t| t.trim().to_string())
        .collect();
    if event_types.is_empty() {
        c.fail(
            "event_types",
            "required",
            "name at least one event type or pattern",
        );
    } else if event_types.len() > 100 {
        c.fail("event_types", "too_long", "at most 100 patterns");
    }
    for (i, t) in event_types.iter().enumerate() {
        if t.is_empty() || t.contains(',') {
            c.fail(
                &format!("event_types[{i}]"),
                "invalid_format",
                "one name or pattern per entry",
            );
        } else if let Err(m) = TypeFilter::parse(t) {
            c.fail(&format!("event_types[{i}]"), "unknown_event_type", m);
        }
    }
    let description = c.text("description", description, 500);
    c.finish()?;
    let secret = match (secret, format) {
        (Some(s), _) => s,
        (None, WebhookFormat::Standard) => format!("whsec_{}", random_secret_b64()),
        (None, _) => String::new(),
    };
    Ok(Fields {
        url,
        secret,
        event_types,
        format,
        active,
        description,
    })
}

/// 24 random bytes, standard base64 (the `whsec_` convention).
fn random_secret_b64() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What the audit trail and `config.changed` say about a subscription: never its secret,
/// only a fingerprint that shows when it changed.
fn snapshot(r: &WebhookRow) -> Value {
    use sha2::Digest;
    let fingerprint = (!r.secret.is_empty())
        .then(|| hex::encode(sha2::Sha256::digest(r.secret.as_bytes()))[..12].to_string());
    json!({"url": r.url, "event_types": from_json_text::<Vec<String>>(&r.event_types),
           "format": r.format, "active": r.active, "description": r.description,
           "secret_fingerprint": fingerprint})
}

fn record_change(uow: &mut Uow<'_>, id: &str, action: &str, before: Value, after: Value) {
    let changes = diff(&before, &after, &[]);
    uow.audit(ENTITY, id, action, &changes);
    uow.event(
        "config.changed",
        ENTITY,
        id,
        json!({"key": ENTITY, "id": id, "action": action, "changes": changes}),
    );
}

fn load(uow: &mut Uow<'_>, id: &str) -> AppResult<WebhookRow> {
    store::find(uow.conn, id)?.ok_or_else(|| AppError::not_found("webhook"))
}

/// Creates a subscription; it receives the events recorded from now on.
pub async fn create(svc: &Services, ctx: &Ctx, i: WebhookInput) -> AppResult<WebhookView> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    let f = parse(
        i.url,
        i.secret,
        i.event_types,
        i.format,
        i.active.unwrap_or(true),
        i.description,
    )?;
    let actor = ctx.principal.id.clone();
    svc.write(ctx, move |uow| {
        let row = WebhookRow {
            id: new_id(),
            url: f.url,
            secret: f.secret,
            event_types: to_json_text(&f.event_types),
            format: f.format.as_str().into(),
            active: f.active,
            description: f.description,
            event_cursor: store::head_event_id(uow.conn)?,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
            lease_owner: None,
            lease_until: None,
            created_by: actor,
            version: 1,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
            deleted_at: None,
        };
        store::insert(uow.conn, &row)?;
        record_change(uow, &row.id, "create", json!({}), snapshot(&row));
        let secret = row.secret.clone();
        let mut v = WebhookView::from(row);
        v.secret = Some(secret).filter(|s| !s.is_empty());
        Ok(v)
    })
    .await
}

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<WebhookView> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    svc.read(move |conn| {
        store::find(conn, &id)?
            .map(WebhookView::from)
            .ok_or_else(|| AppError::not_found("webhook"))
    })
    .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<WebhookView>> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    svc.read(move |conn| {
        let rows = store::list(conn, before.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            WebhookView::from,
        ))
    })
    .await
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: WebhookPatch,
) -> AppResult<WebhookView> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    svc.write(ctx, move |uow| {
        let old = load(uow, &id)?;
        check_version(if_match, old.version)?;
        let format = p
            .format
            .unwrap_or_else(|| WebhookFormat::parse(&old.format).unwrap_or_default());
        let new_secret = p.secret.is_some();
        let f = parse(
            p.url.unwrap_or_else(|| old.url.clone()),
            p.secret.or_else(|| Some(old.secret.clone())),
            p.event_types
                .unwrap_or_else(|| from_json_text(&old.event_types)),
            format,
            p.active.unwrap_or(old.active),
            patch(old.description.clone(), p.description),
        )?;
        let reenabled = f.active && !old.active;
        let new = WebhookRow {
            url: f.url,
            secret: f.secret,
            event_types: to_json_text(&f.event_types),
            format: f.format.as_str().into(),
            active: f.active,
            description: f.description,
            failing_since: if reenabled { None } else { old.failing_since },
            disabled_at: if f.active { None } else { old.disabled_at },
            disabled_reason: if f.active {
                None
            } else {
                old.disabled_reason.clone()
            },
            version: old.version + 1,
            updated_at: uow.now_ms,
            ..old.clone()
        };
        if !store::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        record_change(uow, &id, "update", snapshot(&old), snapshot(&new));
        let secret = new.secret.clone();
        let mut v = WebhookView::from(new);
        if new_secret {
            v.secret = Some(secret).filter(|s| !s.is_empty());
        }
        Ok(v)
    })
    .await
}

/// Removes a subscription; its waiting deliveries are marked `failed` and not sent (so they
/// hold no change-feed events back from retention).
pub async fn delete(svc: &Services, ctx: &Ctx, id: String, if_match: Option<i64>) -> AppResult<()> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    svc.write(ctx, move |uow| {
        let old = load(uow, &id)?;
        check_version(if_match, old.version)?;
        let new = WebhookRow {
            active: false,
            version: old.version + 1,
            updated_at: uow.now_ms,
            deleted_at: Some(uow.now_ms),
            ..old.clone()
        };
        if !store::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let dropped = store::fail_pending(uow.conn, &id, "the webhook was deleted", uow.now_ms)?;
        record_change(uow, &id, "delete", snapshot(&old), json!({}));
        if dropped > 0 {
            log::info!("webhook {id} deleted with {dropped} waiting deliveries");
        }
        Ok(())
    })
    .await
}

/// A subscription's deliveries, newest first, each with its attempts.
pub async fn deliveries(
    svc: &Services,
    ctx: &Ctx,
    webhook_id: String,
    status: Option<DeliveryStatus>,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<DeliveryView>> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    svc.read(move |conn| {
        store::find(conn, &webhook_id)?.ok_or_else(|| AppError::not_found("webhook"))?;
        let rows = store::list_deliveries(
            conn,
            &webhook_id,
            status.map(DeliveryStatus::as_str),
            before.as_deref(),
            limit + 1,
        )?;
        let ids: Vec<String> = rows
            .iter()
            .take(limit as usize)
            .map(|r| r.id.clone())
            .collect();
        let mut attempts = store::attempts_of(conn, &ids)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            |r| {
                let (mine, rest): (Vec<_>, Vec<_>) =
                    attempts.drain(..).partition(|a| a.delivery_id == r.id);
                attempts = rest;
                delivery_view(r, mine)
            },
        ))
    })
    .await
}

/// Queues a delivery again (whatever its state) with a fresh retry schedule and the same
/// `webhook-id`. It goes out before the subscription's later events.
pub async fn redeliver(svc: &Services, ctx: &Ctx, delivery_id: String) -> AppResult<DeliveryView> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    svc.write(ctx, move |uow| {
        let d = store::find_delivery(uow.conn, &delivery_id)?
            .ok_or_else(|| AppError::not_found("delivery"))?;
        let w = load(uow, &d.webhook_id).map_err(|_| AppError::not_found("delivery"))?;
        if !w.active {
            return Err(AppError::conflict(
                "the webhook is disabled; enable it (PATCH active: true) first",
            ));
        }
        let new = DeliveryRow {
            status: DeliveryStatus::Pending.as_str().into(),
            round_failures: 0,
            next_attempt_at: uow.now_ms,
            updated_at: uow.now_ms,
            ..d.clone()
        };
        if !store::update_delivery(uow.conn, &new, &d.status)? {
            return Err(AppError::conflict(
                "the delivery changed meanwhile; read it again",
            ));
        }
        uow.audit(
            "webhook_delivery",
            &d.id,
            "redeliver",
            &diff(
                &json!({"status": d.status}),
                &json!({"status": new.status}),
                &[],
            ),
        );
        let attempts = store::attempts_of(uow.conn, std::slice::from_ref(&d.id))?;
        Ok(delivery_view(new, attempts))
    })
    .await
}

/// Records a `webhook.test` event that only this subscription receives (whatever its
/// event types), through the normal queue, signing and retries.
pub async fn test(svc: &Services, ctx: &Ctx, id: String) -> AppResult<Value> {
    require_role(&ctx.principal, WEBHOOK_ADMINS)?;
    svc.write(ctx, move |uow| {
        let w = load(uow, &id)?;
        if !w.active {
            return Err(AppError::conflict(
                "the webhook is disabled; enable it (PATCH active: true) first",
            ));
        }
        uow.event(
            "webhook.test",
            ENTITY,
            &id,
            json!({"webhook_id": id, "message": "crmflow test event", "requested_by": uow.actor()}),
        );
        Ok(json!({"webhook_id": id, "event_type": "webhook.test", "status": "queued"}))
    })
    .await
}
