//! Quotes on opportunities: totals computed here, submission that approves within the
//! discount limit and otherwise waits for a manager, sending, and the customer views that
//! integrations report.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::input::{from_json_text, to_json_text, Check};
use super::opportunities::{load as load_deal, may_steer};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::Principal;
use crate::domain::audit::diff;
use crate::domain::quote::{quote_totals, QuoteLine, QuoteStatus, QuoteStep};
use crate::domain::role::Role;
use crate::domain::time::{rfc3339, to_millis};
use crate::error::{AppError, AppResult};
use crate::store::opportunities::OpportunityRow;
use crate::store::quotes::{self, QuoteRow, QuoteViewRow};
use crate::store::{sequences, DbConnection};

const ENTITY: &str = "quote";
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at", "views"];

/// A line item as entered.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteItem {
    pub sku: String,
    pub description: Option<String>,
    /// Whole units, at least 1.
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// A line item as stored and shown, with its computed total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PricedItem {
    pub sku: String,
    pub description: Option<String>,
    pub quantity: i64,
    pub unit_price_cents: i64,
    /// quantity × unit_price_cents.
    pub line_total_cents: i64,
}

/// Create and edit body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "items": [{"sku": "LW-3000", "description": "激光焊接工作站", "quantity": 2, "unit_price_cents": 45000000},
              {"sku": "SVC-INST", "description": "安装调试", "quantity": 1, "unit_price_cents": 3000000}],
    "discount_pct": 8, "currency": "CNY", "valid_until": "2027-01-31", "note": "含三年质保"
}))]
pub struct QuoteInput {
    pub items: Vec<QuoteItem>,
    /// Percent off the subtotal, 0–100, at most two decimals.
    #[serde(default)]
    pub discount_pct: f64,
    /// Defaults to the deal's currency.
    pub currency: Option<String>,
    /// `YYYY-MM-DD`.
    pub valid_until: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuoteViewEntry {
    pub id: String,
    /// `opened` or `downloaded`.
    pub event: String,
    pub at: String,
    pub page: Option<i32>,
    pub recorded_by: String,
}

impl From<QuoteViewRow> for QuoteViewEntry {
    fn from(r: QuoteViewRow) -> Self {
        QuoteViewEntry {
            id: r.id,
            event: r.event,
            at: rfc3339(r.at),
            page: r.page,
            recorded_by: r.recorded_by,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuoteView {
    pub id: String,
    pub opportunity_id: String,
    /// Human-readable, e.g. `Q-2026-000042`.
    pub number: String,
    pub currency: String,
    pub items: Vec<PricedItem>,
    pub discount_pct: f64,
    pub subtotal_cents: i64,
    /// Rounded half up to the cent.
    pub discount_cents: i64,
    pub total_cents: i64,
    pub status: QuoteStatus,
    pub valid_until: Option<String>,
    pub note: Option<String>,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<String>,
    /// Who approved or rejected it (`system` when within the discount limit).
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_comment: Option<String>,
    pub sent_at: Option<String>,
    /// The latest customer views (newest first, at most 50).
    pub views: Vec<QuoteViewEntry>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl QuoteView {
    fn new(r: QuoteRow, views: Vec<QuoteViewRow>) -> Self {
        QuoteView {
            status: QuoteStatus::parse(&r.status).unwrap_or(QuoteStatus::Draft),
            items: from_json_text(&r.items),
            discount_pct: r.discount_bp as f64 / 100.0,
            id: r.id,
            opportunity_id: r.opportunity_id,
            number: r.number,
            currency: r.currency,
            subtotal_cents: r.subtotal_cents,
            discount_cents: r.discount_cents,
            total_cents: r.total_cents,
            valid_until: r.valid_until,
            note: r.note,
            submitted_by: r.submitted_by,
            submitted_at: r.submitted_at.map(rfc3339),
            decided_by: r.decided_by,
            decided_at: r.decided_at.map(rfc3339),
            decision_comment: r.decision_comment,
            sent_at: r.sent_at.map(rfc3339),
            views: views.into_iter().map(QuoteViewEntry::from).collect(),
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn snapshot(r: &QuoteRow) -> Value {
    serde_json::to_value(QuoteView::new(r.clone(), Vec::new())).unwrap_or_default()
}

/// The priced content of a quote, validated.
struct Priced {
    items: Vec<PricedItem>,
    discount_bp: i64,
    subtotal_cents: i64,
    discount_cents: i64,
    total_cents: i64,
    currency: Option<String>,
    valid_until: Option<String>,
    note: Option<String>,
}

fn price(i: QuoteInput) -> AppResult<Priced> {
    let mut c = Check::default();
    if i.items.is_empty() || i.items.len() > 200 {
        c.fail("items", "invalid", "between 1 and 200 line items");
    }
    let mut items = Vec::with_capacity(i.items.len());
    for (n, it) in i.items.into_iter().enumerate() {
        let sku = c.required(&format!("items[{n}].sku"), Some(it.sku), 64);
        let description = c.text(&format!("items[{n}].description"), it.description, 500);
        if !(1..=1_000_000_000).contains(&it.quantity) {
            c.fail(
                &format!("items[{n}].quantity"),
                "out_of_range",
                "between 1 and 1,000,000,000",
            );
        }
        if !(0..=10_000_000_000_000).contains(&it.unit_price_cents) {
            c.fail(
                &format!("items[{n}].unit_price_cents"),
                "out_of_range",
                "between 0 and 10,000,000,000,000 cents",
            );
        }
        items.push(PricedItem {
            sku,
            description,
            quantity: it.quantity,
            unit_price_cents: it.unit_price_cents,
            line_total_cents: it.quantity.saturating_mul(it.unit_price_cents),
        });
    }
    let bp = (i.discount_pct * 100.0).round();
    if !(0.0..=100.0).contains(&i.discount_pct) || (i.discount_pct * 100.0 - bp).abs() > 1e-6 {
        c.fail(
            "discount_pct",
            "out_of_range",
            "a percentage between 0 and 100 with at most two decimals",
        );
    }
    let currency = i.currency.map(|cur| c.currency("currency", Some(cur)));
    let valid_until = c.text("valid_until", i.valid_until, 10);
    if let Some(d) = &valid_until {
        if NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            c.fail("valid_until", "invalid_format", "a date as YYYY-MM-DD");
        }
    }
    let note = c.text("note", i.note, 2000);
    c.finish()?;
    let lines: Vec<QuoteLine> = items
        .iter()
        .map(|it| QuoteLine {
            quantity: it.quantity,
            unit_price_cents: it.unit_price_cents,
        })
        .collect();
    let totals = quote_totals(&lines, bp as i64)
        .ok_or_else(|| AppError::field("items", "out_of_range", "the total is too large"))?;
    Ok(Priced {
        items,
        discount_bp: bp as i64,
        subtotal_cents: totals.subtotal_cents,
        discount_cents: totals.discount_cents,
        total_cents: totals.total_cents,
        currency,
        valid_until,
        note,
    })
}

/// The quote and its deal, if the caller may see the deal.
fn load(
    conn: &mut DbConnection,
    p: &Principal,
    id: &str,
    if_match: Option<i64>,
) -> AppResult<(QuoteRow, OpportunityRow)> {
    let q = quotes::find(conn, id)?.ok_or_else(|| AppError::not_found("quote"))?;
    let deal =
        load_deal(conn, p, &q.opportunity_id, None).map_err(|_| AppError::not_found("quote"))?;
    check_version(if_match, q.version)?;
    Ok((q, deal))
}

fn step(q: &QuoteRow, s: QuoteStep) -> AppResult<QuoteStatus> {
    let status = QuoteStatus::parse(&q.status).unwrap_or(QuoteStatus::Draft);
    status
        .check(s)
        .map_err(|allowed| AppError::invalid_transition(status.as_str(), s.as_str(), allowed))?;
    Ok(status)
}

fn steer(p: &Principal, deal: &OpportunityRow) -> AppResult<()> {
    if !may_steer(p, deal) {
        return Err(AppError::forbidden(
            "only the deal's owner, their manager or a director works its quotes",
        ));
    }
    if deal.status != "open" {
        return Err(AppError::conflict(format!("the deal is {}", deal.status)));
    }
    Ok(())
}

fn save(uow: &mut Uow<'_>, old: &QuoteRow, mut new: QuoteRow, action: &str) -> AppResult<QuoteRow> {
    new.version = old.version + 1;
    new.updated_at = uow.now_ms;
    if !quotes::update(uow.conn, &new, old.version)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    let changes = diff(&snapshot(old), &snapshot(&new), BOOKKEEPING);
    uow.audit(ENTITY, &new.id, action, &changes);
    Ok(new)
}

fn view(conn: &mut DbConnection, row: QuoteRow) -> AppResult<QuoteView> {
    let views = quotes::views(conn, &row.id, 50)?;
    Ok(QuoteView::new(row, views))
}

fn brief(q: &QuoteRow) -> Value {
    json!({"id": q.id, "number": q.number, "opportunity_id": q.opportunity_id, "status": q.status,
           "total_cents": q.total_cents, "currency": q.currency, "discount_pct": q.discount_bp as f64 / 100.0})
}

pub async fn create(
    svc: &Services,
    ctx: &Ctx,
    opportunity_id: String,
    i: QuoteInput,
) -> AppResult<QuoteView> {
    let priced = price(i)?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let deal = load_deal(uow.conn, &p, &opportunity_id, None)?;
        steer(&p, &deal)?;
        let year = uow.now.format("%Y").to_string();
        let n = sequences::next(uow.conn, &format!("quote-{year}"))?;
        let row = QuoteRow {
            id: new_id(),
            opportunity_id: deal.id.clone(),
            number: format!("Q-{year}-{n:06}"),
            currency: priced.currency.unwrap_or(deal.currency.clone()),
            items: to_json_text(&priced.items),
            discount_bp: priced.discount_bp,
            subtotal_cents: priced.subtotal_cents,
            discount_cents: priced.discount_cents,
            total_cents: priced.total_cents,
            status: QuoteStatus::Draft.as_str().into(),
            note: priced.note,
            valid_until: priced.valid_until,
            submitted_by: None,
            submitted_at: None,
            decided_by: None,
            decided_at: None,
            decision_comment: None,
            sent_at: None,
            created_by: p.id.clone(),
            version: 1,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
        };
        quotes::insert(uow.conn, &row)?;
        let snap = snapshot(&row);
        uow.audit_created(ENTITY, &row.id, &snap, BOOKKEEPING);
        uow.event("quote.created", ENTITY, &row.id, brief(&row));
        Ok(QuoteView::new(row, Vec::new()))
    })
    .await
}

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<QuoteView> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        let (q, _) = load(conn, &p, &id, None)?;
        view(conn, q)
    })
    .await
}

pub async fn list_for_opportunity(
    svc: &Services,
    ctx: &Ctx,
    opportunity_id: String,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<QuoteView>> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        load_deal(conn, &p, &opportunity_id, None)?;
        let rows = quotes::for_opportunity(conn, &opportunity_id, before.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            |r| QuoteView::new(r, Vec::new()),
        ))
    })
    .await
}

/// Replaces a draft or rejected quote's content; a rejected quote returns to draft.
pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    i: QuoteInput,
) -> AppResult<QuoteView> {
    let priced = price(i)?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let (old, deal) = load(uow.conn, &p, &id, if_match)?;
        steer(&p, &deal)?;
        step(&old, QuoteStep::Edit)?;
        let new = QuoteRow {
            currency: priced.currency.unwrap_or(old.currency.clone()),
            items: to_json_text(&priced.items),
            discount_bp: priced.discount_bp,
            subtotal_cents: priced.subtotal_cents,
            discount_cents: priced.discount_cents,
            total_cents: priced.total_cents,
            note: priced.note,
            valid_until: priced.valid_until,
            status: QuoteStatus::Draft.as_str().into(),
            ..old.clone()
        };
        let new = save(uow, &old, new, "update")?;
        view(uow.conn, new)
    })
    .await
}

/// Submits a draft: approved at once when the discount is within the pipeline's
/// `quote_discount_approval_pct`, otherwise pending a manager's decision.
pub async fn submit(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
) -> AppResult<QuoteView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let (old, deal) = load(uow.conn, &p, &id, if_match)?;
        steer(&p, &deal)?;
        step(&old, QuoteStep::Submit)?;
        let pipeline = super::pipeline::current(uow.conn)?;
        let threshold = pipeline.approval_threshold_bp();
        let next = QuoteStatus::after_submit(old.discount_bp, threshold);
        let auto = next == QuoteStatus::Approved;
        let new = QuoteRow {
            status: next.as_str().into(),
            submitted_by: Some(p.id.clone()),
            submitted_at: Some(uow.now_ms),
            decided_by: auto.then(|| "system".to_string()),
            decided_at: auto.then_some(uow.now_ms),
            decision_comment: auto.then(|| {
                format!(
                    "discount within the {}% approval limit",
                    pipeline.quote_discount_approval_pct
                )
            }),
            ..old.clone()
        };
        let new = save(uow, &old, new, "submit")?;
        uow.event("quote.submitted", ENTITY, &id, brief(&new));
        if auto {
            uow.event("quote.approved", ENTITY, &id, brief(&new));
        }
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"comment": "折扣超出权限，请控制在10%以内"}))]
pub struct DecisionRequest {
    /// Required when rejecting.
    pub comment: Option<String>,
}

/// Approves or rejects a quote pending approval: the deal's team manager, a director or an
/// admin, never the one who submitted it.
pub async fn decide(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    approve: bool,
    req: DecisionRequest,
) -> AppResult<QuoteView> {
    let mut c = Check::default();
    let comment = c.text("comment", req.comment, 2000);
    if !approve && comment.is_none() {
        c.fail("comment", "required", "say why the quote is rejected");
    }
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let (old, deal) = load(uow.conn, &p, &id, if_match)?;
        let approver = match p.role {
            Role::Admin | Role::Director => true,
            Role::Manager => deal.team_id.is_some() && deal.team_id == p.team_id,
            _ => false,
        };
        if !approver {
            return Err(AppError::forbidden(
                "quotes are approved by the deal's team manager, a director or an admin",
            ));
        }
        if old.submitted_by.as_deref() == Some(&p.id) {
            return Err(AppError::forbidden(
                "a quote is approved by someone other than its submitter",
            ));
        }
        step(
            &old,
            if approve {
                QuoteStep::Approve
            } else {
                QuoteStep::Reject
            },
        )?;
        let status = if approve {
            QuoteStatus::Approved
        } else {
            QuoteStatus::Rejected
        };
        let new = QuoteRow {
            status: status.as_str().into(),
            decided_by: Some(p.id.clone()),
            decided_at: Some(uow.now_ms),
            decision_comment: comment.clone(),
            ..old.clone()
        };
        let new = save(uow, &old, new, if approve { "approve" } else { "reject" })?;
        let mut data = brief(&new);
        data["comment"] = json!(comment);
        data["decided_by"] = json!(p.id);
        let event = if approve {
            "quote.approved"
        } else {
            "quote.rejected"
        };
        uow.event(event, ENTITY, &id, data);
        view(uow.conn, new)
    })
    .await
}

/// Marks an approved quote as sent to the customer.
pub async fn send(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
) -> AppResult<QuoteView> {
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let (old, deal) = load(uow.conn, &p, &id, if_match)?;
        steer(&p, &deal)?;
        step(&old, QuoteStep::Send)?;
        let new = QuoteRow {
            status: QuoteStatus::Sent.as_str().into(),
            sent_at: Some(uow.now_ms),
            ..old.clone()
        };
        let new = save(uow, &old, new, "send")?;
        uow.event("quote.sent", ENTITY, &id, brief(&new));
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuoteViewEvent {
    Opened,
    Downloaded,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event": "opened", "at": "2026-11-23T08:30:00Z", "page": 3}))]
pub struct ViewRequest {
    pub event: QuoteViewEvent,
    /// When the customer opened or downloaded it (not in the future).
    pub at: DateTime<Utc>,
    /// The page viewed, if the viewer reports it.
    pub page: Option<i32>,
}

/// Records a customer's view of a sent quote (integrations, or anyone who sees the deal).
pub async fn record_view(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    req: ViewRequest,
) -> AppResult<QuoteViewEntry> {
    let now = svc.now().timestamp_millis();
    let at = to_millis(req.at);
    let mut c = Check::default();
    if at > now + 300_000 {
        c.fail("at", "in_future", "a view cannot lie in the future");
    }
    if req.page.is_some_and(|p| !(1..=10_000).contains(&p)) {
        c.fail("page", "out_of_range", "between 1 and 10,000");
    }
    c.finish()?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let (q, _) = load(uow.conn, &p, &id, None)?;
        step(&q, QuoteStep::RecordView)?;
        let event = match req.event {
            QuoteViewEvent::Opened => "opened",
            QuoteViewEvent::Downloaded => "downloaded",
        };
        let row = QuoteViewRow {
            id: new_id(),
            quote_id: q.id.clone(),
            event: event.into(),
            at,
            page: req.page,
            recorded_by: p.id.clone(),
            created_at: uow.now_ms,
        };
        quotes::insert_view(uow.conn, &row)?;
        let entry = QuoteViewEntry::from(row);
        uow.event(
            "quote.viewed",
            ENTITY,
            &q.id,
            json!({"quote": brief(&q), "view": entry}),
        );
        Ok(entry)
    })
    .await
}
