//! The installed base: one asset per delivered unit, created when a delivery work order
//! closes or synced from ERP; work orders link to it by serial number, which decides their
//! warranty state; repair orders take it `in_repair` and back.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::input::{from_json_text, to_json_text, Check};
use super::{check_version, new_id, refs, Ctx, Page, Services, Uow};
use crate::auth::{require_role, Principal};
use crate::domain::asset::{covers, local_day, normalize_serial, warranty_until, AssetStatus};
use crate::domain::audit::diff;
use crate::domain::role::{Role, RowScope};
use crate::domain::time::{from_millis, rfc3339};
use crate::error::{AppError, AppResult};
use crate::store::assets::{self, AssetFilter, AssetRow};
use crate::store::work_orders::WorkOrderRow;
use crate::store::{accounts, contracts, DbConnection};

const ENTITY: &str = "asset";
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at", "in_warranty"];

/// Who maintains the installed base.
pub const ASSET_WRITERS: &[Role] = &[
    Role::Admin,
    Role::Director,
    Role::Manager,
    Role::Service,
    Role::Implementation,
    Role::Integration,
];

/// Whoever sees every work order, and engineers (they service any unit), see the whole
/// installed base; everyone else sees the assets of the accounts they may see.
pub fn scope_of(p: &Principal) -> RowScope {
    if p.role == Role::Engineer || super::work_orders::sees_all(p) {
        RowScope::All
    } else {
        p.sales_scope()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssetView {
    pub id: String,
    /// Upper-case, unique.
    pub serial_number: String,
    pub product_model: Option<String>,
    pub account_id: String,
    pub contract_id: Option<String>,
    /// The delivery work order that installed it.
    pub work_order_id: Option<String>,
    pub installed_at: Option<String>,
    /// `YYYY-MM-DD`: the last covered day.
    pub warranty_until: Option<String>,
    /// Whether the warranty covers today (in the company's time zone); `null` without a
    /// warranty end.
    pub in_warranty: Option<bool>,
    /// `active`, `in_repair` or `retired`.
    pub status: AssetStatus,
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
    pub external_refs: Vec<refs::ExternalRef>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl AssetView {
    pub fn new(r: AssetRow, today: NaiveDate, external_refs: Vec<refs::ExternalRef>) -> Self {
        AssetView {
            in_warranty: covers(r.warranty_until.as_deref().and_then(parse_day), today),
            status: AssetStatus::parse(&r.status).unwrap_or(AssetStatus::Active),
            custom: from_json_text(&r.custom),
            installed_at: r.installed_at.map(rfc3339),
            external_refs,
            id: r.id,
            serial_number: r.serial_number,
            product_model: r.product_model,
            account_id: r.account_id,
            contract_id: r.contract_id,
            work_order_id: r.work_order_id,
            warranty_until: r.warranty_until,
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn snapshot(r: &AssetRow) -> Value {
    let mut v = json!({
        "serial_number": r.serial_number, "product_model": r.product_model, "account_id": r.account_id,
        "contract_id": r.contract_id, "work_order_id": r.work_order_id,
        "installed_at": r.installed_at.map(rfc3339), "warranty_until": r.warranty_until,
        "status": r.status, "custom": from_json_text::<Map<String, Value>>(&r.custom),
    });
    v["id"] = json!(r.id);
    v
}

fn view(conn: &mut DbConnection, r: AssetRow, today: NaiveDate) -> AppResult<AssetView> {
    let refs = refs::load(conn, ENTITY, &r.id)?;
    Ok(AssetView::new(r, today, refs))
}

/// Create body (also the upsert body).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"serial_number": "QM-ENDO-1-000871", "product_model": "QM-ENDO-1",
    "account_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f", "contract_id": null,
    "installed_at": "2023-08-15T02:00:00Z", "warranty_until": "2026-08-14", "status": "active", "custom": {}}))]
pub struct AssetInput {
    pub serial_number: String,
    pub product_model: Option<String>,
    pub account_id: String,
    pub contract_id: Option<String>,
    /// RFC 3339.
    pub installed_at: Option<String>,
    /// `YYYY-MM-DD`.
    pub warranty_until: Option<String>,
    /// Defaults to `active`.
    pub status: Option<AssetStatus>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

/// Edit body; the serial number is the asset's identity and does not change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "retired"}))]
pub struct AssetPatch {
    pub product_model: Option<String>,
    /// Moves the unit to another account (resale, group restructuring).
    pub account_id: Option<String>,
    pub contract_id: Option<String>,
    pub installed_at: Option<String>,
    pub warranty_until: Option<String>,
    pub status: Option<AssetStatus>,
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Map<String, Value>>,
}

/// Checked fields of an input or patch.
struct Fields {
    product_model: Option<String>,
    installed_at: Option<i64>,
    warranty_until: Option<String>,
    custom: Option<Map<String, Value>>,
}

fn check_fields(
    c: &mut Check,
    product_model: Option<String>,
    installed_at: Option<String>,
    warranty: Option<String>,
    custom: Option<Map<String, Value>>,
) -> Fields {
    let installed_at = installed_at.and_then(|s| match DateTime::parse_from_rfc3339(&s) {
        Ok(t) => Some(t.with_timezone(&Utc).timestamp_millis()),
        Err(_) => {
            c.fail("installed_at", "invalid_format", "an RFC 3339 instant");
            None
        }
    });
    let warranty_until = warranty.and_then(|s| match parse_day(&s) {
        Some(d) if s.len() == 10 => Some(d.format("%Y-%m-%d").to_string()),
        _ => {
            c.fail("warranty_until", "invalid_format", "a date as YYYY-MM-DD");
            None
        }
    });
    Fields {
        product_model: c.text("product_model", product_model, 100),
        installed_at,
        warranty_until,
        custom: custom.map(|m| c.custom("custom", m)),
    }
}

fn serial(c: &mut Check, raw: &str) -> String {
    normalize_serial(raw).unwrap_or_else(|m| {
        c.fail("serial_number", "invalid_format", m);
        String::new()
    })
}

fn check_refs(
    conn: &mut DbConnection,
    account_id: &str,
    contract_id: Option<&str>,
) -> AppResult<()> {
    if accounts::find_scoped(conn, account_id, &RowScope::All)?.is_none() {
        return Err(AppError::field(
            "account_id",
            "not_found",
            "no such account",
        ));
    }
    if let Some(cid) = contract_id {
        if contracts::find(conn, cid)?.map(|c| c.account_id).as_deref() != Some(account_id) {
            return Err(AppError::field(
                "contract_id",
                "not_found",
                "no contract with this id on the account",
            ));
        }
    }
    Ok(())
}

/// A new asset as the flow takes it in.
pub struct NewAsset {
    pub serial_number: String,
    pub product_model: Option<String>,
    pub account_id: String,
    pub contract_id: Option<String>,
    pub work_order_id: Option<String>,
    pub installed_at: Option<i64>,
    pub warranty_until: Option<String>,
    pub status: AssetStatus,
    pub custom: Map<String, Value>,
}

/// Stores a new asset with its audit entry and `asset.created`, then links the work orders
/// that named its serial number before it was known.
pub fn create_in(uow: &mut Uow<'_>, a: NewAsset) -> AppResult<AssetRow> {
    if assets::find_by_serial(uow.conn, &a.serial_number)?.is_some() {
        return Err(AppError::duplicate(format!(
            "an asset with serial number {} exists",
            a.serial_number
        )));
    }
    let row = AssetRow {
        id: new_id(),
        serial_number: a.serial_number,
        product_model: a.product_model,
        account_id: a.account_id,
        contract_id: a.contract_id,
        work_order_id: a.work_order_id,
        installed_at: a.installed_at,
        warranty_until: a.warranty_until,
        status: a.status.as_str().into(),
        custom: to_json_text(&a.custom),
        created_by: uow.actor().to_string(),
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
    };
    assets::insert(uow.conn, &row)?;
    let snap = snapshot(&row);
    uow.audit_created(ENTITY, &row.id, &snap, BOOKKEEPING);
    uow.event("asset.created", ENTITY, &row.id, snap);
    for id in assets::unlinked_orders(uow.conn, &row.serial_number)? {
        super::work_orders::relink_asset(uow, &id)?;
    }
    Ok(row)
}

fn save(uow: &mut Uow<'_>, old: &AssetRow, mut new: AssetRow, action: &str) -> AppResult<AssetRow> {
    new.version = old.version + 1;
    new.updated_at = uow.now_ms;
    let changes = diff(&snapshot(old), &snapshot(&new), BOOKKEEPING);
    if changes.is_empty() {
        return Ok(old.clone());
    }
    if !assets::update(uow.conn, &new, old.version)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    uow.audit(ENTITY, &new.id, action, &changes);
    let mut data = json!({"id": new.id, "account_id": new.account_id,
                          "serial_number": new.serial_number, "status": new.status});
    data["changes"] = json!(changes);
    uow.event("asset.updated", ENTITY, &new.id, data);
    Ok(new)
}

/// The work order's link to the installed base, from its `device_sn`: the asset, whether
/// the serial is unknown, and whether the warranty covered the order's creation day.
pub fn link(conn: &mut DbConnection, wo: &mut WorkOrderRow, tz: Tz) -> AppResult<()> {
    let asset = match &wo.device_sn {
        Some(sn) => assets::find_by_serial(conn, sn)?,
        None => None,
    };
    wo.unknown_asset = wo.device_sn.is_some() && asset.is_none();
    wo.in_warranty = asset.as_ref().and_then(|a| {
        covers(
            a.warranty_until.as_deref().and_then(parse_day),
            local_day(from_millis(wo.created_at), tz),
        )
    });
    wo.asset_id = asset.map(|a| a.id);
    Ok(())
}

/// A repair order opened on an active asset takes it `in_repair`.
pub fn repair_opened(uow: &mut Uow<'_>, wo: &WorkOrderRow) -> AppResult<()> {
    let Some(id) = wo.asset_id.as_deref().filter(|_| wo.type_ == "repair") else {
        return Ok(());
    };
    if let Some(old) = assets::find(uow.conn, id)?.filter(|a| a.status == "active") {
        let new = AssetRow {
            status: AssetStatus::InRepair.as_str().into(),
            ..old.clone()
        };
        save(uow, &old, new, "repair_opened")?;
    }
    Ok(())
}

/// A repair order that ends (closed or cancelled) returns its asset to service unless
/// another repair is still open on it.
pub fn repair_finished(uow: &mut Uow<'_>, wo: &WorkOrderRow) -> AppResult<()> {
    let Some(id) = wo.asset_id.as_deref().filter(|_| wo.type_ == "repair") else {
        return Ok(());
    };
    if assets::open_repairs(uow.conn, id, &wo.id)? > 0 {
        return Ok(());
    }
    if let Some(old) = assets::find(uow.conn, id)?.filter(|a| a.status == "in_repair") {
        let new = AssetRow {
            status: AssetStatus::Active.as_str().into(),
            ..old.clone()
        };
        save(uow, &old, new, "repair_finished")?;
    }
    Ok(())
}

/// A closed delivery order puts each unit it delivered into the installed base: a new
/// asset per unknown serial number (installed now, warranty from the service settings);
/// a serial already known (synced from ERP first) gets the delivery's account, contract
/// and installation filled in where it has none.
pub fn deliver(uow: &mut Uow<'_>, wo: &WorkOrderRow, serials: &[String]) -> AppResult<Vec<String>> {
    let tz = uow.tz;
    let (settings, _, _) =
        super::config::current::<super::service_rules::ServiceSettings>(uow.conn)?;
    let installed = from_millis(uow.now_ms);
    let mut ids = Vec::new();
    for sn in serials {
        match assets::find_by_serial(uow.conn, sn)? {
            Some(old) => {
                let new = AssetRow {
                    contract_id: old.contract_id.clone().or(wo.contract_id.clone()),
                    work_order_id: old.work_order_id.clone().or(Some(wo.id.clone())),
                    installed_at: old.installed_at.or(Some(uow.now_ms)),
                    warranty_until: old.warranty_until.clone().or_else(|| {
                        Some(warranty_until(installed, settings.warranty_secs, tz).to_string())
                    }),
                    product_model: old.product_model.clone().or(wo.product_model.clone()),
                    ..old.clone()
                };
                ids.push(save(uow, &old, new, "deliver")?.id);
            }
            None => {
                let row = create_in(
                    uow,
                    NewAsset {
                        serial_number: sn.clone(),
                        product_model: wo.product_model.clone(),
                        account_id: wo.account_id.clone(),
                        contract_id: wo.contract_id.clone(),
                        work_order_id: Some(wo.id.clone()),
                        installed_at: Some(uow.now_ms),
                        warranty_until: Some(
                            warranty_until(installed, settings.warranty_secs, tz).to_string(),
                        ),
                        status: AssetStatus::Active,
                        custom: Map::new(),
                    },
                )?;
                ids.push(row.id);
            }
        }
    }
    Ok(ids)
}

fn today(svc: &Services) -> NaiveDate {
    local_day(svc.now(), svc.settings.time_zone)
}

fn parse_input(i: AssetInput) -> AppResult<(NewAsset, Fields)> {
    let mut c = Check::default();
    let sn = serial(&mut c, &i.serial_number);
    let f = check_fields(
        &mut c,
        i.product_model,
        i.installed_at,
        i.warranty_until,
        Some(i.custom),
    );
    c.finish()?;
    let a = NewAsset {
        serial_number: sn,
        product_model: f.product_model.clone(),
        account_id: i.account_id,
        contract_id: i.contract_id,
        work_order_id: None,
        installed_at: f.installed_at,
        warranty_until: f.warranty_until.clone(),
        status: i.status.unwrap_or(AssetStatus::Active),
        custom: f.custom.clone().unwrap_or_default(),
    };
    Ok((a, f))
}

pub async fn create(svc: &Services, ctx: &Ctx, i: AssetInput) -> AppResult<AssetView> {
    require_role(&ctx.principal, ASSET_WRITERS)?;
    let (a, _) = parse_input(i)?;
    let today = today(svc);
    svc.write(ctx, move |uow| {
        check_refs(uow.conn, &a.account_id, a.contract_id.as_deref())?;
        let row = create_in(uow, a)?;
        view(uow.conn, row, today)
    })
    .await
}

fn load(conn: &mut DbConnection, p: &Principal, id: &str) -> AppResult<AssetRow> {
    assets::find_scoped(conn, id, &scope_of(p))?.ok_or_else(|| AppError::not_found("asset"))
}

/// Assets for `POST /assets/{id}/external-refs`.
pub const LINKABLE: refs::Linkable = refs::Linkable {
    entity: ENTITY,
    writers: ASSET_WRITERS,
    visible: |conn, p, id| load(conn, p, id).map(|_| ()),
};

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<AssetView> {
    let (p, today) = (ctx.principal.clone(), today(svc));
    svc.read(move |conn| {
        let r = load(conn, &p, &id)?;
        view(conn, r, today)
    })
    .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    mut f: AssetFilter,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<AssetView>> {
    if let Some(sn) = f.serial_number.take() {
        f.serial_number = Some(
            normalize_serial(&sn)
                .map_err(|m| AppError::field("serial_number", "invalid_format", m))?,
        );
    }
    if let Some(s) = &f.status {
        if AssetStatus::parse(s).is_none() {
            return Err(AppError::field(
                "status",
                "invalid",
                "active, in_repair or retired",
            ));
        }
    }
    if let Some(d) = &f.warranty_until_before {
        if parse_day(d).is_none() {
            return Err(AppError::field(
                "warranty_until_before",
                "invalid_format",
                "a date as YYYY-MM-DD",
            ));
        }
    }
    let (scope, today) = (scope_of(&ctx.principal), today(svc));
    svc.read(move |conn| {
        let rows = assets::list(conn, &f, &scope, before.as_deref(), limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            |r| AssetView::new(r, today, Vec::new()),
        ))
    })
    .await
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: AssetPatch,
) -> AppResult<AssetView> {
    require_role(&ctx.principal, ASSET_WRITERS)?;
    let mut c = Check::default();
    let f = check_fields(
        &mut c,
        p.product_model,
        p.installed_at,
        p.warranty_until,
        p.custom,
    );
    c.finish()?;
    let (who, today) = (ctx.principal.clone(), today(svc));
    svc.write(ctx, move |uow| {
        let old = load(uow.conn, &who, &id)?;
        check_version(if_match, old.version)?;
        let new = AssetRow {
            product_model: f.product_model.or(old.product_model.clone()),
            account_id: p.account_id.unwrap_or(old.account_id.clone()),
            contract_id: p.contract_id.or(old.contract_id.clone()),
            installed_at: f.installed_at.or(old.installed_at),
            warranty_until: f.warranty_until.or(old.warranty_until.clone()),
            status: p
                .status
                .map(|s| s.as_str().to_string())
                .unwrap_or(old.status.clone()),
            custom: f
                .custom
                .map(|m| to_json_text(&m))
                .unwrap_or(old.custom.clone()),
            ..old.clone()
        };
        check_refs(uow.conn, &new.account_id, new.contract_id.as_deref())?;
        let new = save(uow, &old, new, "update")?;
        view(uow.conn, new, today)
    })
    .await
}

/// Creates or updates the asset known to `system` as `external_id`; `true` when created.
/// A serial number already in the installed base (say, from a delivery order) takes the
/// external id instead of duplicating.
pub async fn upsert_by_external(
    svc: &Services,
    ctx: &Ctx,
    system: String,
    external_id: String,
    i: AssetInput,
) -> AppResult<(AssetView, bool)> {
    require_role(&ctx.principal, ASSET_WRITERS)?;
    refs::validate(&system, &external_id)?;
    parse_input(i.clone())?;
    let today = today(svc);
    refs::retry_upsert(|| {
        let (sys, ext, i) = (system.clone(), external_id.clone(), i.clone());
        svc.write(ctx, move |uow| {
            let (a, f) = parse_input(i)?;
            check_refs(uow.conn, &a.account_id, a.contract_id.as_deref())?;
            let known = match crate::store::external_refs::resolve(uow.conn, ENTITY, &sys, &ext)? {
                Some(id) => assets::find(uow.conn, &id)?,
                None => None,
            };
            let existing = match known {
                Some(a) => Some((a, false)),
                None => assets::find_by_serial(uow.conn, &a.serial_number)?.map(|a| (a, true)),
            };
            match existing {
                Some((old, link_ref)) => {
                    if old.serial_number != a.serial_number {
                        return Err(AppError::field(
                            "serial_number",
                            "immutable",
                            "an asset keeps its serial number",
                        ));
                    }
                    if link_ref {
                        refs::link(uow.conn, ENTITY, &sys, &ext, &old.id, uow.now_ms)?;
                    }
                    let new = AssetRow {
                        product_model: f.product_model,
                        account_id: a.account_id,
                        contract_id: a.contract_id,
                        installed_at: f.installed_at.or(old.installed_at),
                        warranty_until: f.warranty_until.or(old.warranty_until.clone()),
                        status: a.status.as_str().into(),
                        custom: to_json_text(&a.custom),
                        ..old.clone()
                    };
                    let row = save(uow, &old, new, "update")?;
                    Ok((view(uow.conn, row, today)?, false))
                }
                None => {
                    let row = create_in(uow, a)?;
                    refs::link(uow.conn, ENTITY, &sys, &ext, &row.id, uow.now_ms)?;
                    Ok((view(uow.conn, row, today)?, true))
                }
            }
        })
    })
    .await
}
