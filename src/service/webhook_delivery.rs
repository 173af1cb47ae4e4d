//! The delivery pipeline behind `jobs::webhooks`, one step per transaction so that no
//! connection is held while a receiver answers:
//!
//! 1. [`fan_out`]: events after a subscription's cursor become delivery rows (in event
//!    order); the cursor moves by compare-and-set, so two instances never queue one event
//!    twice.
//! 2. [`prepare`]: takes the subscription's lease (one instance delivers a subscription at
//!    a time, in event order), picks the oldest waiting delivery if it is due and renders
//!    the request (body, signature).
//! 3. the worker sends it without a connection;
//! 4. [`record`]: stores the attempt, schedules the retry or gives up, and disables a
//!    subscription that has only failed for the configured time (`webhook.disabled`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::events::EventView;
use super::{new_id, Uow};
use crate::config::WebhookSettings;
use crate::domain::events::pattern_matches;
use crate::domain::webhook::{
    self, accepted, dingtalk_sign, feishu_sign, retry_delay_ms, robot_body, standard_signature,
    DeliveryStatus, Names, WebhookFormat,
};
use crate::error::{AppError, AppResult};
use crate::store::journal;
use crate::store::webhooks::{self as store, AttemptRow, DeliveryRow, WebhookRow};
use crate::store::DbConnection;

/// Events read per fan-out transaction.
const FAN_OUT_BATCH: i64 = 1000;
/// Response bytes kept per attempt.
const RESPONSE_KEPT: usize = 1024;

/// Queues the events after the subscription's cursor that it subscribes to; answers how
/// many events were read (a full batch means there may be more).
pub fn fan_out(conn: &mut DbConnection, webhook_id: &str, now_ms: i64) -> AppResult<usize> {
    use diesel::Connection;
    conn.transaction::<_, AppError, _>(|conn| {
        let Some(w) = store::find(conn, webhook_id)? else {
            return Ok(0);
        };
        if !w.active {
            return Ok(0);
        }
        let patterns: Vec<String> = serde_json::from_str(&w.event_types).unwrap_or_default();
        let events = journal::list_events(conn, w.event_cursor, None, FAN_OUT_BATCH)?;
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        for e in &events {
            if !wanted(&w, &patterns, &e.event_type, &e.data) {
                continue;
            }
            store::insert_delivery(
                conn,
                &DeliveryRow {
                    id: new_id(),
                    webhook_id: w.id.clone(),
                    event_id: e.id,
                    event_type: e.event_type.clone(),
                    status: DeliveryStatus::Pending.as_str().into(),
                    attempts: 0,
                    round_failures: 0,
                    next_attempt_at: now_ms,
                    last_status_code: None,
                    last_error: None,
                    created_at: now_ms,
                    updated_at: now_ms,
                    delivered_at: None,
                },
            )?;
        }
        if !store::advance_cursor(conn, &w.id, w.event_cursor, last)? {
            return Err(AppError::conflict(
                "another instance fanned these events out",
            ));
        }
        Ok(events.len())
    })
}

/// A `webhook.test` event goes to the subscription it tests, and only there; everything
/// else by the subscription's patterns.
fn wanted(w: &WebhookRow, patterns: &[String], event_type: &str, data: &str) -> bool {
    if event_type == "webhook.test" {
        return serde_json::from_str::<Value>(data)
            .ok()
            .and_then(|d| {
                d.get("webhook_id")
                    .and_then(Value::as_str)
                    .map(|id| id == w.id)
            })
            .unwrap_or(false);
    }
    patterns.iter().any(|p| pattern_matches(p, event_type))
}

/// One rendered HTTP request for one attempt.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery_id: String,
    pub webhook_id: String,
    pub format: WebhookFormat,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// What came back from one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub body: String,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// Takes or renews the lease on a subscription and renders its oldest waiting delivery if
/// it is due. `None`: nothing to send now (or another instance holds the lease), and the
/// lease is released.
pub fn prepare(
    conn: &mut DbConnection,
    webhook_id: &str,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    public_url: Option<&str>,
) -> AppResult<Option<Outgoing>> {
    use diesel::Connection;
    conn.transaction(|conn| prepare_in(conn, webhook_id, owner, now_ms, lease_ms, public_url))
}

fn prepare_in(
    conn: &mut DbConnection,
    webhook_id: &str,
    owner: &str,
    now_ms: i64,
    lease_ms: i64,
    public_url: Option<&str>,
) -> AppResult<Option<Outgoing>> {
    if !store::claim(conn, webhook_id, owner, now_ms, now_ms + lease_ms)? {
        return Ok(None);
    }
    loop {
        let Some(d) = store::head(conn, webhook_id)? else {
            store::release(conn, webhook_id, owner)?;
            return Ok(None);
        };
        if d.next_attempt_at > now_ms {
            store::release(conn, webhook_id, owner)?;
            return Ok(None);
        }
        let Some(w) = store::find(conn, webhook_id)? else {
            return Ok(None);
        };
        let Some(event) = store::event(conn, d.event_id)? else {
            // Expired from the change feed before it could go out.
            store::update_delivery(
                conn,
                &DeliveryRow {
                    status: DeliveryStatus::Failed.as_str().into(),
                    last_error: Some("the event expired from the change feed".into()),
                    updated_at: now_ms,
                    ..d
                },
                DeliveryStatus::Pending.as_str(),
            )?;
            continue;
        };
        return Ok(Some(render(
            conn,
            &w,
            &d,
            EventView::from(event),
            now_ms,
            public_url,
        )?));
    }
}

fn collection(entity: &str) -> Option<&'static str> {
    Some(match entity {
        "lead" => "leads",
        "account" => "accounts",
        "contact" => "contacts",
        "opportunity" => "opportunities",
        "quote" => "quotes",
        "contract" => "contracts",
        "work_order" => "work-orders",
        "asset" => "assets",
        "webhook" => "webhooks",
        _ => return None,
    })
}

/// User ids an event names (owners, engineers, managers).
const USER_KEYS: &[&str] = &[
    "owner_id",
    "to",
    "from",
    "engineer_id",
    "manager_id",
    "supervisor_id",
];

fn render(
    conn: &mut DbConnection,
    w: &WebhookRow,
    d: &DeliveryRow,
    event: EventView,
    now_ms: i64,
    public_url: Option<&str>,
) -> AppResult<Outgoing> {
    let format = WebhookFormat::parse(&w.format).unwrap_or_default();
    let ts = now_ms / 1000;
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("webhook-id", d.id.clone()),
        ("webhook-timestamp", ts.to_string()),
    ];
    let mut url = w.url.clone();
    let body = if format == WebhookFormat::Standard {
        let body = serde_json::to_string(&event).map_err(|e| AppError::internal(e.to_string()))?;
        if !w.secret.is_empty() {
            headers.push((
                "webhook-signature",
                standard_signature(&w.secret, &d.id, ts, &body),
            ));
        }
        body
    } else {
        let ids: Vec<String> = USER_KEYS
            .iter()
            .filter_map(|k| {
                event
                    .data
                    .get(*k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let names: HashMap<String, String> = store::user_names(conn, &ids)?.into_iter().collect();
        let record = store::label(conn, &event.entity, &event.entity_id)?;
        let lookup = |id: &str| names.get(id).cloned();
        let link = public_url.zip(collection(&event.entity)).map(|(base, c)| {
            format!(
                "{}/api/v1/{c}/{}",
                base.trim_end_matches('/'),
                event.entity_id
            )
        });
        let summary = webhook::summary(
            &event.event_type,
            &event.data,
            &Names {
                record: record.as_deref(),
                user: &lookup,
                link,
            },
        );
        let feishu = (format == WebhookFormat::Feishu && !w.secret.is_empty())
            .then(|| (ts, feishu_sign(&w.secret, ts)));
        if format == WebhookFormat::Dingtalk && !w.secret.is_empty() {
            url = dingtalk_url(&url, &w.secret, now_ms)?;
        }
        robot_body(format, &summary, feishu).to_string()
    };
    Ok(Outgoing {
        delivery_id: d.id.clone(),
        webhook_id: w.id.clone(),
        format,
        url,
        headers,
        body,
    })
}

/// The robot URL with DingTalk's `timestamp` (ms) and URL-encoded `sign`.
fn dingtalk_url(base: &str, secret: &str, now_ms: i64) -> AppResult<String> {
    let mut url = url::Url::parse(base).map_err(|e| AppError::internal(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("timestamp", &now_ms.to_string())
        .append_pair("sign", &dingtalk_sign(secret, now_ms));
    Ok(url.into())
}

/// Stores one attempt's outcome; answers whether it delivered. A failure schedules the
/// next retry (the schedule scaled by the multiplier, ±20 % jitter) or, after the last,
/// marks the delivery `failed`; a subscription whose attempts have all failed for
/// `disable_after_secs` is disabled with `webhook.disabled`.
pub fn record(
    uow: &mut Uow<'_>,
    out: &Outgoing,
    outcome: &Outcome,
    settings: &WebhookSettings,
    jitter: f64,
) -> AppResult<bool> {
    // The subscription before its delivery, the order a delete takes them in (it fails the
    // pending deliveries after marking the subscription deleted): the other way round, an
    // outcome and a delete deadlocked on PostgreSQL.
    store::lock(uow.conn, &out.webhook_id)?;
    let Some(d) = store::find_delivery(uow.conn, &out.delivery_id)? else {
        return Ok(false);
    };
    let ok = outcome
        .status
        .is_some_and(|s| accepted(out.format, s, &outcome.body));
    let attempt = d.attempts + 1;
    store::insert_attempt(
        uow.conn,
        &AttemptRow {
            id: new_id(),
            delivery_id: d.id.clone(),
            attempt,
            at: uow.now_ms,
            status_code: outcome.status.map(i32::from),
            latency_ms: outcome.latency_ms,
            response_body: Some(webhook::truncate(&outcome.body, RESPONSE_KEPT).to_string())
                .filter(|b| !b.is_empty()),
            error: outcome.error.clone(),
        },
    )?;
    // The attempt was sent, so it is on record; a delivery given up meanwhile (its
    // subscription was deleted) keeps its outcome.
    let pending = DeliveryStatus::Pending.as_str();
    if d.status != pending {
        return Ok(false);
    }
    let error = if ok {
        None
    } else {
        Some(
            outcome
                .error
                .clone()
                .unwrap_or_else(|| match outcome.status {
                    Some(s) if (200..300).contains(&s) => "the robot refused the message".into(),
                    Some(s) => format!("HTTP {s}"),
                    None => "no answer".into(),
                }),
        )
    };
    let mut next = DeliveryRow {
        attempts: attempt,
        last_status_code: outcome.status.map(i32::from),
        last_error: error,
        updated_at: uow.now_ms,
        ..d.clone()
    };
    if ok {
        next.status = DeliveryStatus::Delivered.as_str().into();
        next.delivered_at = Some(uow.now_ms);
    } else {
        next.round_failures += 1;
        match retry_delay_ms(
            next.round_failures as u32,
            settings.retry_multiplier,
            jitter,
        ) {
            Some(delay) => next.next_attempt_at = uow.now_ms + delay,
            None => next.status = DeliveryStatus::Failed.as_str().into(),
        }
    }
    if !store::update_delivery(uow.conn, &next, pending)? {
        // Given up while the attempt was in flight (its subscription was deleted).
        return Ok(false);
    }
    store::note_outcome(uow.conn, &out.webhook_id, ok, uow.now_ms)?;
    if !ok {
        disable_if_failing(uow, &out.webhook_id, settings.disable_after_secs)?;
    }
    Ok(ok)
}

fn disable_if_failing(uow: &mut Uow<'_>, webhook_id: &str, after_secs: i64) -> AppResult<()> {
    let Some(w) = store::find(uow.conn, webhook_id)? else {
        return Ok(());
    };
    let Some(since) = w.failing_since else {
        return Ok(());
    };
    if !w.active || uow.now_ms - since < after_secs * 1000 {
        return Ok(());
    }
    let reason = format!("every delivery attempt failed for {after_secs} s");
    let new = WebhookRow {
        active: false,
        disabled_at: Some(uow.now_ms),
        disabled_reason: Some(reason.clone()),
        version: w.version + 1,
        updated_at: uow.now_ms,
        ..w.clone()
    };
    if !store::update(uow.conn, &new, w.version)? {
        return Ok(());
    }
    let changes = crate::domain::audit::diff(
        &json!({"active": true}),
        &json!({"active": false, "disabled_reason": reason}),
        &[],
    );
    uow.audit("webhook", webhook_id, "disable", &changes);
    uow.event(
        "webhook.disabled",
        "webhook",
        webhook_id,
        json!({"webhook_id": webhook_id, "url": w.url, "reason": reason,
               "failing_since": crate::domain::time::rfc3339(since)}),
    );
    Ok(())
}

/// Lets another instance (or this one, later) pick the subscription up.
pub fn release(conn: &mut DbConnection, webhook_id: &str, owner: &str) -> AppResult<()> {
    Ok(store::release(conn, webhook_id, owner)?)
}

/// Active subscriptions and the newest event id (to see which are behind).
pub fn active(conn: &mut DbConnection) -> AppResult<(Vec<WebhookRow>, i64)> {
    Ok((store::active(conn)?, store::head_event_id(conn)?))
}

/// Subscriptions with a delivery due by `now_ms`.
pub fn due(conn: &mut DbConnection, now_ms: i64) -> AppResult<Vec<String>> {
    Ok(store::with_due_deliveries(conn, now_ms)?)
}

/// Expires what retention allows: change-feed events (when `event_retention_secs` is
/// set) and finished deliveries; answers how many rows went.
pub fn expire(
    conn: &mut DbConnection,
    now_ms: i64,
    event_retention_secs: Option<i64>,
    settings: &WebhookSettings,
) -> AppResult<usize> {
    let mut n = 0;
    if let Some(secs) = event_retention_secs {
        n += store::expire_events(conn, now_ms - secs * 1000, 5000)?;
    }
    n += store::expire_deliveries(conn, now_ms - settings.log_retention_secs * 1000, 5000)?;
    Ok(n)
}
