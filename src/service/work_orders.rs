//! Service work orders: intake (API, integrations, contract signing), routing by rules,
//! SLA clocks from the first matching policy, the fixed field-service flow with the data
//! each step needs, waiting on the customer (paused resolution clock), MES progress of
//! delivery orders, and the sweeper's SLA warnings and breaches.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::input::{from_json_text, to_json_text, Check};
use super::refs;
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::{require_role, Principal};
use crate::domain::asset::normalize_serial;
use crate::domain::audit::{diff, Change};
use crate::domain::calendar::due;
use crate::domain::role::Role;
use crate::domain::time::{from_millis, rfc3339, to_millis};
use crate::domain::work_order::{sla_state, warn_at, SlaClocks, WorkOrderStatus};
use crate::error::{AppError, AppResult, MissingItem};
use crate::store::work_orders::{self, SlaClock, WorkOrderFilter, WorkOrderRow, WorkOrderScope};
use crate::store::{accounts, contracts, sequences, users, DbConnection};

const ENTITY: &str = "work_order";
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at", "sla_state"];

/// Who takes in work orders.
pub const WORK_ORDER_WRITERS: &[Role] = &[
    Role::Admin,
    Role::Director,
    Role::Manager,
    Role::Service,
    Role::Integration,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderType {
    Repair,
    Maintenance,
    Installation,
    Delivery,
}

impl WorkOrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkOrderType::Repair => "repair",
            WorkOrderType::Maintenance => "maintenance",
            WorkOrderType::Installation => "installation",
            WorkOrderType::Delivery => "delivery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Wecom,
    Phone,
    Portal,
    Api,
    Email,
}

fn name_of<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkOrderView {
    pub id: String,
    /// Human-readable, e.g. `WO-2026-000123`.
    pub number: String,
    /// `repair`, `maintenance`, `installation` or `delivery`.
    #[serde(rename = "type")]
    pub type_: String,
    pub status: WorkOrderStatus,
    pub account_id: String,
    pub contract_id: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    /// Serial number of the unit (upper-case, as in the installed base).
    pub device_sn: Option<String>,
    /// The installed-base asset `device_sn` names.
    pub asset_id: Option<String>,
    /// `device_sn` names no asset in the installed base (counted by data-quality reports).
    pub unknown_asset: bool,
    /// Whether the asset's warranty covered the day the order was opened; `null` without a
    /// known asset or warranty end.
    pub in_warranty: Option<bool>,
    pub product_model: Option<String>,
    pub description: Option<String>,
    /// `P1`–`P4`.
    pub priority: String,
    /// `wecom`, `phone`, `portal`, `api` or `email`.
    pub channel: String,
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    /// How the team was picked: `{rule_id, rule_name, matched_conditions, reason}`.
    #[schema(value_type = Object)]
    pub routing: Value,
    pub sla_policy_id: Option<String>,
    /// Must be accepted by.
    pub response_due_at: Option<String>,
    /// Must be customer-signed by (moved out by time spent waiting on the customer).
    pub resolution_due_at: Option<String>,
    /// `ok`, `warning`, `breached` or `met`.
    pub sla_state: String,
    /// Seconds spent waiting on the customer (excluded from the resolution clock).
    pub paused_secs: i64,
    pub accepted_at: Option<String>,
    pub resolved_at: Option<String>,
    /// What each step recorded and when (`accepted_at`, `diagnosis`, `parts`, `signer`, `mes`).
    #[schema(value_type = Object)]
    pub step_data: Map<String, Value>,
    pub cancel_reason: Option<String>,
    pub external_refs: Vec<refs::ExternalRef>,
    /// Values of the custom fields defined for work orders.
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl WorkOrderView {
    fn new(r: WorkOrderRow, external_refs: Vec<refs::ExternalRef>) -> Self {
        let clocks = SlaClocks {
            has_policy: r.sla_policy_id.is_some(),
            warned: r.response_warned_at.is_some() || r.resolution_warned_at.is_some(),
            breached: r.response_breached_at.is_some() || r.resolution_breached_at.is_some(),
            resolved: r.resolved_at.is_some(),
        };
        WorkOrderView {
            status: WorkOrderStatus::parse(&r.status).unwrap_or(WorkOrderStatus::New),
            step_data: from_json_text(&r.step_data),
            routing: serde_json::from_str(&r.routing).unwrap_or(Value::Null),
            sla_state: sla_state(clocks).into(),
            response_due_at: r.response_due_at.map(rfc3339),
            resolution_due_at: r.resolution_due_at.map(rfc3339),
            accepted_at: r.accepted_at.map(rfc3339),
            resolved_at: r.resolved_at.map(rfc3339),
            external_refs,
            id: r.id,
            number: r.number,
            type_: r.type_,
            account_id: r.account_id,
            contract_id: r.contract_id,
            contact_name: r.contact_name,
            contact_phone: r.contact_phone,
            device_sn: r.device_sn,
            asset_id: r.asset_id,
            unknown_asset: r.unknown_asset,
            in_warranty: r.in_warranty,
            product_model: r.product_model,
            description: r.description,
            priority: r.priority,
            channel: r.channel,
            team_id: r.team_id,
            engineer_id: r.engineer_id,
            sla_policy_id: r.sla_policy_id,
            paused_secs: r.paused_secs,
            cancel_reason: r.cancel_reason,
            custom: from_json_text(&r.custom),
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn snapshot(r: &WorkOrderRow) -> Value {
    serde_json::to_value(WorkOrderView::new(r.clone(), Vec::new())).unwrap_or_default()
}

fn view(conn: &mut DbConnection, r: WorkOrderRow) -> AppResult<WorkOrderView> {
    let refs = refs::load(conn, ENTITY, &r.id)?;
    Ok(WorkOrderView::new(r, refs))
}

/// Engineers see orders assigned to them or their team; service, implementation,
/// integrations, managers and leadership see all; other roles none.
pub fn scope_of(p: &Principal) -> WorkOrderScope {
    match p.role {
        Role::Admin
        | Role::Director
        | Role::Manager
        | Role::Service
        | Role::Implementation
        | Role::Integration => WorkOrderScope::All,
        Role::Engineer => WorkOrderScope::Engineer {
            user_id: p.id.clone(),
            team_id: p.team_id.clone(),
        },
        _ => WorkOrderScope::Nothing,
    }
}

fn visible(scope: &WorkOrderScope, r: &WorkOrderRow) -> bool {
    match scope {
        WorkOrderScope::All => true,
        WorkOrderScope::Engineer { user_id, team_id } => {
            r.engineer_id.as_ref() == Some(user_id) || team_id.is_some() && r.team_id == *team_id
        }
        WorkOrderScope::Nothing => false,
    }
}

/// Whether the caller may see this work order.
pub fn may_see(p: &Principal, r: &WorkOrderRow) -> bool {
    visible(&scope_of(p), r)
}

/// Whether the caller sees every work order.
pub fn sees_all(p: &Principal) -> bool {
    matches!(scope_of(p), WorkOrderScope::All)
}

fn load(conn: &mut DbConnection, p: &Principal, id: &str) -> AppResult<WorkOrderRow> {
    let scope = scope_of(p);
    work_orders::find(conn, id)?
        .filter(|r| visible(&scope, r))
        .ok_or_else(|| AppError::not_found("work order"))
}

/// Create body (also the upsert body).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "repair", "account_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f", "contract_id": null,
    "contact_name": "李工", "contact_phone": "13900139000", "device_sn": "QM-2025-00871", "product_model": "QM-3000",
    "description": "焊接头温度异常报警", "priority": "P2", "channel": "wecom"}))]
pub struct WorkOrderInput {
    #[serde(rename = "type")]
    pub type_: WorkOrderType,
    pub account_id: String,
    pub contract_id: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub device_sn: Option<String>,
    pub product_model: Option<String>,
    pub description: Option<String>,
    /// Defaults to `P3`.
    pub priority: Option<Priority>,
    /// Defaults to `api`.
    pub channel: Option<Channel>,
    /// Values of the custom fields defined for work orders; strict once any is defined.
    /// Routing rules and SLA policies can match on them (`custom.<key>`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

/// Edit body: contact and device details of an open order.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"contact_phone": "13900139001", "description": "焊接头温度异常，伴随异响"}))]
pub struct WorkOrderPatch {
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub device_sn: Option<String>,
    pub product_model: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    /// Replaces `custom{}`.
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Map<String, Value>>,
}

/// A new work order as the flow takes it in.
pub struct NewWorkOrder {
    pub type_: WorkOrderType,
    pub account_id: String,
    pub contract_id: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub device_sn: Option<String>,
    pub product_model: Option<String>,
    pub description: Option<String>,
    pub priority: String,
    pub channel: String,
    /// A team chosen by the caller (delivery orders: the configured delivery team);
    /// otherwise the routing rules decide.
    pub team: Option<String>,
    pub custom: Map<String, Value>,
}

fn parse_input(i: WorkOrderInput) -> AppResult<NewWorkOrder> {
    let mut c = Check::default();
    let w = NewWorkOrder {
        type_: i.type_,
        account_id: i.account_id,
        contract_id: i.contract_id,
        contact_name: c.text("contact_name", i.contact_name, 100),
        contact_phone: c.phone("contact_phone", i.contact_phone),
        device_sn: device_sn(&mut c, i.device_sn),
        product_model: c.text("product_model", i.product_model, 100),
        description: c.text("description", i.description, 4000),
        priority: name_of(i.priority.unwrap_or(Priority::P3)),
        channel: name_of(i.channel.unwrap_or(Channel::Api)),
        team: None,
        custom: c.custom("custom", i.custom),
    };
    c.finish()?;
    Ok(w)
}

/// A serial number normalised as the installed base stores it.
fn device_sn(c: &mut Check, v: Option<String>) -> Option<String> {
    let raw = v.filter(|s| !s.trim().is_empty())?;
    match normalize_serial(&raw) {
        Ok(sn) => Some(sn),
        Err(m) => {
            c.fail("device_sn", "invalid_format", m);
            None
        }
    }
}

/// The facts routing rules and SLA policies match on.
pub fn facts(conn: &mut DbConnection, r: &WorkOrderRow) -> AppResult<Value> {
    let tier = accounts::find_scoped(conn, &r.account_id, &crate::domain::role::RowScope::All)?
        .and_then(|a| a.tier);
    Ok(
        json!({"type": r.type_, "priority": r.priority, "channel": r.channel, "device_sn": r.device_sn,
              "product_model": r.product_model, "account_tier": tier, "account_id": r.account_id,
              "description": r.description, "custom": from_json_text::<Value>(&r.custom)}),
    )
}

/// Takes in a work order: number, routing, SLA clocks, the row, its audit entry and
/// `work_order.created`, in the caller's transaction.
pub fn open_in(uow: &mut Uow<'_>, d: NewWorkOrder) -> AppResult<WorkOrderRow> {
    if accounts::find_scoped(uow.conn, &d.account_id, &crate::domain::role::RowScope::All)?
        .is_none()
    {
        return Err(AppError::field(
            "account_id",
            "not_found",
            "no such account",
        ));
    }
    if let Some(cid) = &d.contract_id {
        if contracts::find(uow.conn, cid)?
            .map(|c| c.account_id)
            .as_deref()
            != Some(&d.account_id)
        {
            return Err(AppError::field(
                "contract_id",
                "not_found",
                "no contract with this id on the account",
            ));
        }
    }
    let year = uow.now.format("%Y").to_string();
    let n = sequences::next(uow.conn, &format!("work-order-{year}"))?;
    let mut row = WorkOrderRow {
        id: new_id(),
        number: format!("WO-{year}-{n:06}"),
        type_: d.type_.as_str().into(),
        status: WorkOrderStatus::New.as_str().into(),
        account_id: d.account_id,
        contract_id: d.contract_id,
        contact_name: d.contact_name,
        contact_phone: d.contact_phone,
        device_sn: d.device_sn,
        product_model: d.product_model,
        description: d.description,
        priority: d.priority,
        channel: d.channel,
        team_id: None,
        engineer_id: None,
        routing: "null".into(),
        sla_policy_id: None,
        response_due_at: None,
        response_warn_at: None,
        resolution_due_at: None,
        resolution_warn_at: None,
        response_warned_at: None,
        response_breached_at: None,
        resolution_warned_at: None,
        resolution_breached_at: None,
        accepted_at: None,
        resolved_at: None,
        paused_at: None,
        paused_from: None,
        paused_secs: 0,
        step_data: "{}".into(),
        cancel_reason: None,
        created_by: uow.actor().to_string(),
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
        deleted_at: None,
        asset_id: None,
        unknown_asset: false,
        in_warranty: None,
        custom: to_json_text(&d.custom),
    };
    super::custom_fields::check_write(uow, ENTITY, &row.id, None, &row.custom)?;
    super::assets::link(uow.conn, &mut row, uow.tz)?;
    let f = facts(uow.conn, &row)?;
    let (team, engineer, routing) = match d.team {
        Some(t) => (
            Some(t.clone()),
            None,
            json!({"rule_id": null, "rule_name": null, "matched_conditions": [], "team_id": t,
                   "engineer_id": null, "reason": "delivery team of the contract settings"}),
        ),
        None => super::service_rules::route(uow.conn, &f)?,
    };
    row.team_id = team;
    row.engineer_id = engineer;
    row.routing = routing.to_string();
    if let Some(policy) = super::service_rules::policy_for(uow.conn, &f)? {
        let calendar = match &policy.calendar_id {
            Some(id) => super::calendars::load(uow.conn, id)?,
            None => None,
        };
        let start = from_millis(uow.now_ms);
        let at = |secs: i64| to_millis(due(calendar.as_ref(), start, secs));
        let (response_due, resolution_due) = (at(policy.response_secs), at(policy.resolution_secs));
        row.response_due_at = Some(response_due);
        row.resolution_due_at = Some(resolution_due);
        row.response_warn_at = Some(warn_at(uow.now_ms, response_due, policy.warn_ratio));
        row.resolution_warn_at = Some(warn_at(uow.now_ms, resolution_due, policy.warn_ratio));
        row.sla_policy_id = Some(policy.id);
    }
    work_orders::insert(uow.conn, &row)?;
    let snap = snapshot(&row);
    uow.audit_created(ENTITY, &row.id, &snap, BOOKKEEPING);
    let mut data = snap;
    data["customer_visible_message"] = json!(WorkOrderStatus::New.customer_message());
    uow.event("work_order.created", ENTITY, &row.id, data);
    super::assets::repair_opened(uow, &row)?;
    Ok(row)
}

pub async fn create(svc: &Services, ctx: &Ctx, i: WorkOrderInput) -> AppResult<WorkOrderView> {
    require_role(&ctx.principal, WORK_ORDER_WRITERS)?;
    let d = parse_input(i)?;
    svc.write(ctx, move |uow| {
        let row = open_in(uow, d)?;
        view(uow.conn, row)
    })
    .await
}

/// Work orders for `POST /work-orders/{id}/external-refs`.
pub const LINKABLE: refs::Linkable = refs::Linkable {
    entity: ENTITY,
    writers: WORK_ORDER_WRITERS,
    visible: |conn, p, id| load(conn, p, id).map(|_| ()),
};

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<WorkOrderView> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        let r = load(conn, &p, &id)?;
        view(conn, r)
    })
    .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    f: WorkOrderFilter,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<WorkOrderView>> {
    let scope = scope_of(&ctx.principal);
    svc.read(move |conn| {
        let rows = work_orders::list(conn, &f, &scope, before.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            |r| WorkOrderView::new(r, Vec::new()),
        ))
    })
    .await
}

fn is_closed(r: &WorkOrderRow) -> bool {
    matches!(r.status.as_str(), "closed" | "cancelled")
}

fn edit(uow: &mut Uow<'_>, old: WorkOrderRow, mut new: WorkOrderRow) -> AppResult<WorkOrderRow> {
    if is_closed(&old) {
        return Err(AppError::conflict(format!(
            "the work order is {}",
            old.status
        )));
    }
    super::custom_fields::check_write(uow, ENTITY, &new.id, Some(&old.custom), &new.custom)?;
    if new.device_sn != old.device_sn {
        super::assets::link(uow.conn, &mut new, uow.tz)?;
    }
    let new = save(uow, &old, new, "update")?;
    if new.asset_id != old.asset_id {
        // The order now names another unit: the one it named is no longer in repair for it.
        super::assets::repair_finished(uow, &old)?;
        super::assets::repair_opened(uow, &new)?;
    }
    Ok(new)
}

/// Links a work order to the asset its `device_sn` names, now that the asset exists.
pub fn relink_asset(uow: &mut Uow<'_>, id: &str) -> AppResult<()> {
    let Some(old) = work_orders::find(uow.conn, id)? else {
        return Ok(());
    };
    let mut new = old.clone();
    super::assets::link(uow.conn, &mut new, uow.tz)?;
    let new = save(uow, &old, new, "link_asset")?;
    if !is_closed(&new) {
        super::assets::repair_opened(uow, &new)?;
    }
    Ok(())
}

fn save(
    uow: &mut Uow<'_>,
    old: &WorkOrderRow,
    mut new: WorkOrderRow,
    action: &str,
) -> AppResult<WorkOrderRow> {
    new.version = old.version + 1;
    new.updated_at = uow.now_ms;
    if !work_orders::update(uow.conn, &new, old.version)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    let changes = diff(&snapshot(old), &snapshot(&new), BOOKKEEPING);
    if !changes.is_empty() {
        uow.audit(ENTITY, &new.id, action, &changes);
    }
    Ok(new)
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: WorkOrderPatch,
) -> AppResult<WorkOrderView> {
    require_role(&ctx.principal, WORK_ORDER_WRITERS)?;
    let mut c = Check::default();
    let contact_name = c.text("contact_name", p.contact_name, 100);
    let contact_phone = c.phone("contact_phone", p.contact_phone);
    let device_sn = device_sn(&mut c, p.device_sn);
    let product_model = c.text("product_model", p.product_model, 100);
    let description = c.text("description", p.description, 4000);
    let custom = c.custom_patch("custom", p.custom);
    c.finish()?;
    let who = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &who, &id)?;
        check_version(if_match, old.version)?;
        let new = WorkOrderRow {
            contact_name: contact_name.or(old.contact_name.clone()),
            contact_phone: contact_phone.or(old.contact_phone.clone()),
            device_sn: device_sn.or(old.device_sn.clone()),
            product_model: product_model.or(old.product_model.clone()),
            description: description.or(old.description.clone()),
            priority: p.priority.map(name_of).unwrap_or(old.priority.clone()),
            custom: custom
                .map(|m| to_json_text(&m))
                .unwrap_or(old.custom.clone()),
            ..old.clone()
        };
        let new = edit(uow, old, new)?;
        view(uow.conn, new)
    })
    .await
}

/// Soft-deletes a work order (admin only).
pub async fn delete(svc: &Services, ctx: &Ctx, id: String, if_match: Option<i64>) -> AppResult<()> {
    require_role(&ctx.principal, &[Role::Admin])?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id)?;
        check_version(if_match, old.version)?;
        let new = WorkOrderRow {
            version: old.version + 1,
            updated_at: uow.now_ms,
            deleted_at: Some(uow.now_ms),
            ..old.clone()
        };
        if !work_orders::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let change = Change {
            field: "deleted_at".into(),
            old: Value::Null,
            new: rfc3339(uow.now_ms).into(),
        };
        uow.audit(ENTITY, &id, "delete", &[change]);
        uow.event("work_order.deleted", ENTITY, &id, json!({"id": id}));
        if !is_closed(&old) {
            super::assets::repair_finished(uow, &old)?;
        }
        Ok(())
    })
    .await
}

/// Creates or updates the work order known to `system` as `external_id`; `true` when created.
pub async fn upsert_by_external(
    svc: &Services,
    ctx: &Ctx,
    system: String,
    external_id: String,
    i: WorkOrderInput,
) -> AppResult<(WorkOrderView, bool)> {
    require_role(&ctx.principal, WORK_ORDER_WRITERS)?;
    refs::validate(&system, &external_id)?;
    let template = i;
    refs::retry_upsert(|| {
        let (p, sys, ext, i) = (
            ctx.principal.clone(),
            system.clone(),
            external_id.clone(),
            template.clone(),
        );
        svc.write(ctx, move |uow| {
            let (row, created) = upsert_in(uow, &p, &sys, &ext, parse_input(i)?)?;
            Ok((view(uow.conn, row)?, created))
        })
    })
    .await
}

fn upsert_in(
    uow: &mut Uow<'_>,
    p: &Principal,
    system: &str,
    external_id: &str,
    d: NewWorkOrder,
) -> AppResult<(WorkOrderRow, bool)> {
    match crate::store::external_refs::resolve(uow.conn, ENTITY, system, external_id)? {
        Some(id) => {
            let old = load(uow.conn, p, &id)?;
            if old.account_id != d.account_id || old.type_ != d.type_.as_str() {
                return Err(AppError::field(
                    "account_id",
                    "immutable",
                    "a work order keeps its account and type",
                ));
            }
            let new = WorkOrderRow {
                contact_name: d.contact_name,
                contact_phone: d.contact_phone,
                device_sn: d.device_sn,
                product_model: d.product_model,
                description: d.description,
                priority: d.priority,
                channel: d.channel,
                custom: to_json_text(&d.custom),
                ..old.clone()
            };
            Ok((edit(uow, old, new)?, false))
        }
        None => {
            let row = open_in(uow, d)?;
            refs::link(uow.conn, ENTITY, system, external_id, &row.id, uow.now_ms)?;
            Ok((row, true))
        }
    }
}

/// One imported row inside the import's unit of work, as `POST /work-orders` or the
/// upsert would handle it; `true` when created.
pub fn import_in(
    uow: &mut Uow<'_>,
    p: &Principal,
    input: WorkOrderInput,
    external: Option<(&str, &str)>,
) -> AppResult<bool> {
    let d = parse_input(input)?;
    match external {
        Some((system, external_id)) => {
            refs::validate(system, external_id)?;
            Ok(upsert_in(uow, p, system, external_id, d)?.1)
        }
        None => {
            open_in(uow, d)?;
            Ok(true)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartUsed {
    pub part_no: String,
    pub qty: i32,
}

/// A step of the flow with its data.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "dispatched", "engineer_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e61"}))]
pub struct TransitionRequest {
    pub to: WorkOrderStatus,
    /// For `dispatched`: the engineer (an active `engineer` user) who goes.
    pub engineer_id: Option<String>,
    /// For `on_site`: what the engineer found.
    pub diagnosis: Option<String>,
    /// For `parts_replaced`: at least one part.
    pub parts: Option<Vec<PartUsed>>,
    /// For `customer_signed`.
    pub signer: Option<String>,
    pub signature_ref: Option<String>,
    /// For `cancelled` (and optionally `waiting_customer`): why.
    pub reason: Option<String>,
    /// Delivery orders, any step: serial numbers of the units delivered (added to those
    /// recorded before). When the order closes, each becomes an asset of the installed base.
    pub serial_numbers: Option<Vec<String>>,
}

/// The data a step must carry, validated, as it is recorded.
fn step_data(req: &TransitionRequest) -> AppResult<Map<String, Value>> {
    let mut c = Check::default();
    let mut data = Map::new();
    match req.to {
        WorkOrderStatus::Dispatched if req.engineer_id.is_none() => {
            c.fail("engineer_id", "required", "who is dispatched");
        }
        WorkOrderStatus::OnSite => {
            let d = c.required("diagnosis", req.diagnosis.clone(), 4000);
            data.insert("diagnosis".into(), json!(d));
        }
        WorkOrderStatus::PartsReplaced => {
            let parts = req.parts.clone().unwrap_or_default();
            if parts.is_empty() {
                c.fail("parts", "required", "the parts replaced");
            }
            for (n, part) in parts.iter().enumerate() {
                if part.part_no.trim().is_empty() || part.part_no.len() > 64 {
                    c.fail(&format!("parts[{n}].part_no"), "invalid", "1–64 characters");
                }
                if part.qty < 1 {
                    c.fail(&format!("parts[{n}].qty"), "out_of_range", "at least 1");
                }
            }
            data.insert("parts".into(), json!(parts));
        }
        WorkOrderStatus::CustomerSigned => {
            let signer = c.required("signer", req.signer.clone(), 200);
            data.insert("signer".into(), json!(signer));
            data.insert(
                "signature_ref".into(),
                json!(c.text("signature_ref", req.signature_ref.clone(), 200)),
            );
        }
        WorkOrderStatus::Cancelled => {
            let r = c.required("reason", req.reason.clone(), 500);
            data.insert("cancel_reason".into(), json!(r));
        }
        _ => {}
    }
    if let Some(list) = &req.serial_numbers {
        if list.len() > 1000 {
            c.fail("serial_numbers", "too_many", "at most 1000 per step");
        }
        let mut serials = Vec::new();
        for (n, raw) in list.iter().enumerate() {
            match normalize_serial(raw) {
                Ok(sn) if !serials.contains(&sn) => serials.push(sn),
                Ok(_) => {}
                Err(m) => c.fail(&format!("serial_numbers[{n}]"), "invalid_format", m),
            }
        }
        data.insert("serial_numbers".into(), json!(serials));
    }
    c.finish()?;
    Ok(data)
}

/// The delivered serial numbers recorded so far and those of this step, without repeats.
fn merge_serials(old: &Map<String, Value>, new: Option<&Value>) -> Value {
    let mut all: Vec<String> = old
        .get("serial_numbers")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let more: Vec<String> = new
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    for sn in more {
        if !all.contains(&sn) {
            all.push(sn);
        }
    }
    json!(all)
}

/// Moves a work order one step along the fixed flow (service, implementation, the assigned
/// engineer, managers, leadership). A skipped or backward step answers 409
/// `invalid_transition`; missing step data 422.
pub async fn transition(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: TransitionRequest,
) -> AppResult<WorkOrderView> {
    let data = step_data(&req)?;
    let to = req.to;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id)?;
        check_version(if_match, old.version)?;
        let may = match p.role {
            Role::Engineer => old.engineer_id.as_deref() == Some(&p.id),
            Role::Admin | Role::Director | Role::Manager | Role::Service | Role::Implementation => {
                true
            }
            _ => false,
        };
        if !may {
            return Err(AppError::forbidden(
                "work orders are moved by service, implementation, their engineer or managers",
            ));
        }
        if data.contains_key("serial_numbers") && old.type_ != "delivery" {
            return Err(AppError::field(
                "serial_numbers",
                "not_applicable",
                "serial numbers are recorded on delivery orders",
            ));
        }
        let from = WorkOrderStatus::parse(&old.status).unwrap_or(WorkOrderStatus::New);
        let paused_from = old.paused_from.as_deref().and_then(WorkOrderStatus::parse);
        from.check_move(to, paused_from)
            .map_err(|allowed| AppError::invalid_transition(from.as_str(), to.as_str(), allowed))?;
        if to == WorkOrderStatus::Accepted && old.type_ == "delivery" {
            if let Some(cid) = &old.contract_id {
                if contracts::find(uow.conn, cid)?.and_then(|c| c.success_plan).is_none() {
                    let mut e = AppError::unprocessable(
                        "delivery cannot start before the contract has a customer success plan",
                    );
                    e.missing = vec![MissingItem {
                        requirement: "success_plan".into(),
                        detail: format!(
                            "PUT /contracts/{cid}/success-plan with milestones for days 30, 60 and 90"
                        ),
                        stage: None,
                    }];
                    return Err(e);
                }
            }
        }
        let mut new = old.clone();
        new.status = to.as_str().into();
        if to == WorkOrderStatus::Dispatched {
            let engineer = req.engineer_id.clone().unwrap_or_default();
            if !users::find(uow.conn, &engineer)?.is_some_and(|u| u.active && u.role == "engineer") {
                return Err(AppError::field(
                    "engineer_id",
                    "not_found",
                    "no active engineer with this id",
                ));
            }
            new.engineer_id = Some(engineer);
        }
        match to {
            WorkOrderStatus::Accepted => new.accepted_at = Some(uow.now_ms),
            WorkOrderStatus::CustomerSigned => new.resolved_at = Some(uow.now_ms),
            WorkOrderStatus::Cancelled => new.cancel_reason = req.reason.clone(),
            WorkOrderStatus::WaitingCustomer => {
                new.paused_at = Some(uow.now_ms);
                new.paused_from = Some(from.as_str().into());
            }
            _ => {}
        }
        if from == WorkOrderStatus::WaitingCustomer {
            // Time waiting on the customer does not count against the resolution clock.
            let paused = uow.now_ms - old.paused_at.unwrap_or(uow.now_ms);
            new.paused_secs = old.paused_secs + paused / 1000;
            new.resolution_due_at = old.resolution_due_at.map(|d| d + paused);
            new.resolution_warn_at = old.resolution_warn_at.map(|d| d + paused);
            new.paused_at = None;
            new.paused_from = None;
        }
        let mut steps: Map<String, Value> = from_json_text(&old.step_data);
        let serials = merge_serials(&steps, data.get("serial_numbers"));
        steps.extend(data);
        if old.type_ == "delivery" {
            steps.insert("serial_numbers".into(), serials);
        }
        steps.insert(format!("{}_at", to.as_str()), json!(rfc3339(uow.now_ms)));
        new.step_data = to_json_text(&steps);
        let new = save(uow, &old, new, "transition")?;
        match to {
            WorkOrderStatus::Closed if new.type_ == "delivery" => {
                let mut units: Vec<String> = steps
                    .get("serial_numbers")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                if let Some(sn) = new.device_sn.clone().filter(|sn| !units.contains(sn)) {
                    units.push(sn);
                }
                super::assets::deliver(uow, &new, &units)?;
            }
            WorkOrderStatus::Closed | WorkOrderStatus::Cancelled => {
                super::assets::repair_finished(uow, &new)?;
            }
            _ => {}
        }
        uow.event(
            "work_order.status_changed",
            ENTITY,
            &id,
            json!({"id": id, "number": new.number, "type": new.type_, "from": from.as_str(), "to": to.as_str(),
                   "at": rfc3339(uow.now_ms), "customer_visible_message": to.customer_message(),
                   "contact_phone": new.contact_phone, "engineer_id": new.engineer_id,
                   "account_id": new.account_id, "contract_id": new.contract_id, "reason": req.reason}),
        );
        view(uow.conn, new)
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MesEventType {
    FirstArticlePassed,
    ProductionStarted,
    Shipped,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "first_article_passed", "report_url": "https://mes.example.cn/reports/FAI-20261201-7"}))]
pub struct MesEventRequest {
    #[serde(rename = "type")]
    pub type_: MesEventType,
    pub report_url: Option<String>,
    /// When it happened (default: now).
    pub at: Option<DateTime<Utc>>,
}

/// Records MES progress on a delivery order (integrations); `first_article_passed` emits
/// `delivery.confirmed` with the report link.
pub async fn mes_event(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    req: MesEventRequest,
) -> AppResult<WorkOrderView> {
    require_role(&ctx.principal, &[Role::Integration, Role::Admin])?;
    if let Some(u) = &req.report_url {
        if !crate::domain::activity::is_http_url(u) || u.len() > 2000 {
            return Err(AppError::field(
                "report_url",
                "invalid_format",
                "an http(s) URL",
            ));
        }
    }
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &p, &id)?;
        if old.type_ != "delivery" {
            return Err(AppError::conflict("MES events apply to delivery work orders"));
        }
        if is_closed(&old) {
            return Err(AppError::conflict(format!("the work order is {}", old.status)));
        }
        let kind = name_of(req.type_);
        let at = req.at.map(to_millis).unwrap_or(uow.now_ms);
        let entry = json!({"type": kind, "report_url": req.report_url, "at": rfc3339(at)});
        let mut steps: Map<String, Value> = from_json_text(&old.step_data);
        let mut mes: Vec<Value> = steps
            .get("mes")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        mes.push(entry.clone());
        steps.insert("mes".into(), Value::Array(mes));
        let new = WorkOrderRow {
            step_data: to_json_text(&steps),
            ..old.clone()
        };
        let new = save(uow, &old, new, "mes_event")?;
        if req.type_ == MesEventType::FirstArticlePassed {
            uow.event(
                "delivery.confirmed",
                ENTITY,
                &id,
                json!({"work_order_id": id, "number": new.number, "contract_id": new.contract_id,
                       "account_id": new.account_id, "report_url": req.report_url, "at": rfc3339(at)}),
            );
        }
        view(uow.conn, new)
    })
    .await
}

/// Reports one SLA clock of a work order once (the sweeper calls this per due order).
pub fn sla_tick(uow: &mut Uow<'_>, id: &str, clock: SlaClock) -> AppResult<()> {
    let Some(old) = work_orders::find(uow.conn, id)? else {
        return Ok(());
    };
    let now = uow.now_ms;
    let open = !is_closed(&old);
    let mut new = old.clone();
    let (event, deadline, kind) = match clock {
        SlaClock::ResponseWarning
            if open
                && old.accepted_at.is_none()
                && old.response_warned_at.is_none()
                && old.response_warn_at.is_some_and(|t| t <= now) =>
        {
            new.response_warned_at = Some(now);
            ("work_order.sla_warning", old.response_due_at, "response")
        }
        SlaClock::ResponseBreach
            if open
                && old.accepted_at.is_none()
                && old.response_breached_at.is_none()
                && old.response_due_at.is_some_and(|t| t <= now) =>
        {
            new.response_breached_at = Some(now);
            ("work_order.sla_breached", old.response_due_at, "response")
        }
        SlaClock::ResolutionWarning
            if open
                && old.resolved_at.is_none()
                && old.paused_at.is_none()
                && old.resolution_warned_at.is_none()
                && old.resolution_warn_at.is_some_and(|t| t <= now) =>
        {
            new.resolution_warned_at = Some(now);
            (
                "work_order.sla_warning",
                old.resolution_due_at,
                "resolution",
            )
        }
        SlaClock::ResolutionBreach
            if open
                && old.resolved_at.is_none()
                && old.paused_at.is_none()
                && old.resolution_breached_at.is_none()
                && old.resolution_due_at.is_some_and(|t| t <= now) =>
        {
            new.resolution_breached_at = Some(now);
            (
                "work_order.sla_breached",
                old.resolution_due_at,
                "resolution",
            )
        }
        _ => return Ok(()),
    };
    let new = save(uow, &old, new, "sla")?;
    uow.event(
        event,
        ENTITY,
        id,
        json!({"id": id, "number": new.number, "deadline": kind, "due_at": deadline.map(rfc3339),
               "status": new.status, "team_id": new.team_id, "engineer_id": new.engineer_id,
               "priority": new.priority, "sla_policy_id": new.sla_policy_id}),
    );
    Ok(())
}
