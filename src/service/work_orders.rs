//! Work orders: reading one and moving it through the fixed field-service flow with the
//! data each step needs. A delivery order cannot be accepted before its contract has a
//! customer success plan.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::input::{from_json_text, to_json_text, Check};
use super::{check_version, Ctx, Services};
use crate::auth::Principal;
use crate::domain::audit::diff;
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::domain::work_order::WorkOrderStatus;
use crate::error::{AppError, AppResult, MissingItem};
use crate::store::work_orders::{self, WorkOrderRow};
use crate::store::{contracts, users, DbConnection};

const ENTITY: &str = "work_order";

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
    pub team_id: Option<String>,
    pub engineer_id: Option<String>,
    pub description: Option<String>,
    /// `P1`–`P4`.
    pub priority: String,
    pub channel: String,
    /// What each step recorded: `diagnosis`, `parts`, `signer`, `signature_ref`.
    #[schema(value_type = Object)]
    pub step_data: Map<String, Value>,
    pub cancel_reason: Option<String>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<WorkOrderRow> for WorkOrderView {
    fn from(r: WorkOrderRow) -> Self {
        WorkOrderView {
            status: WorkOrderStatus::parse(&r.status).unwrap_or(WorkOrderStatus::New),
            step_data: from_json_text(&r.step_data),
            id: r.id,
            number: r.number,
            type_: r.type_,
            account_id: r.account_id,
            contract_id: r.contract_id,
            team_id: r.team_id,
            engineer_id: r.engineer_id,
            description: r.description,
            priority: r.priority,
            channel: r.channel,
            cancel_reason: r.cancel_reason,
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Engineers see orders assigned to them or their team; service, implementation,
/// integrations, managers and leadership see all; other roles none.
fn visible(p: &Principal, r: &WorkOrderRow) -> bool {
    match p.role {
        Role::Admin
        | Role::Director
        | Role::Manager
        | Role::Service
        | Role::Implementation
        | Role::Integration => true,
        Role::Engineer => {
            r.engineer_id.as_deref() == Some(&p.id) || r.team_id.is_some() && r.team_id == p.team_id
        }
        _ => false,
    }
}

fn load(conn: &mut DbConnection, p: &Principal, id: &str) -> AppResult<WorkOrderRow> {
    work_orders::find(conn, id)?
        .filter(|r| visible(p, r))
        .ok_or_else(|| AppError::not_found("work order"))
}

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<WorkOrderView> {
    let p = ctx.principal.clone();
    svc.read(move |conn| Ok(load(conn, &p, &id)?.into())).await
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
    /// For `dispatched`: the engineer who goes.
    pub engineer_id: Option<String>,
    /// For `on_site`: what the engineer found.
    pub diagnosis: Option<String>,
    /// For `parts_replaced`.
    pub parts: Option<Vec<PartUsed>>,
    /// For `customer_signed`.
    pub signer: Option<String>,
    pub signature_ref: Option<String>,
    /// For `cancelled`.
    pub reason: Option<String>,
}

/// Moves a work order one step along the fixed flow (service, implementation, the
/// assigned engineer, managers, leadership). A skipped or backward step answers 409
/// `invalid_transition`; missing step data 422.
pub async fn transition(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    req: TransitionRequest,
) -> AppResult<WorkOrderView> {
    let mut c = Check::default();
    let mut data = Map::new();
    let to = req.to;
    match to {
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
        _ => {}
    }
    let reason = if to == WorkOrderStatus::Cancelled {
        Some(c.required("reason", req.reason.clone(), 500))
    } else {
        None
    };
    c.finish()?;
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
        let from = WorkOrderStatus::parse(&old.status).unwrap_or(WorkOrderStatus::New);
        from.check_move(to)
            .map_err(|allowed| AppError::invalid_transition(from.as_str(), to.as_str(), allowed))?;
        if to == WorkOrderStatus::Accepted && old.type_ == "delivery" {
            if let Some(cid) = &old.contract_id {
                let plan = contracts::find(uow.conn, cid)?.and_then(|c| c.success_plan);
                if plan.is_none() {
                    let mut e = AppError::unprocessable(
                        "delivery cannot start before the contract has a customer success plan",
                    );
                    e.missing = vec![MissingItem {
                        requirement: "success_plan".into(),
                        detail: format!("PUT /contracts/{cid}/success-plan with milestones for days 30, 60 and 90"),
                        stage: None,
                    }];
                    return Err(e);
                }
            }
        }
        let mut new = old.clone();
        new.status = to.as_str().into();
        if let Some(e) = &req.engineer_id {
            if to == WorkOrderStatus::Dispatched {
                if !users::find(uow.conn, e)?.is_some_and(|u| u.active) {
                    return Err(AppError::field("engineer_id", "not_found", "no active user with this id"));
                }
                new.engineer_id = Some(e.clone());
            }
        }
        let mut steps: Map<String, Value> = from_json_text(&old.step_data);
        steps.extend(data);
        new.step_data = to_json_text(&steps);
        new.cancel_reason = reason.clone().or(old.cancel_reason.clone());
        new.version = old.version + 1;
        new.updated_at = uow.now_ms;
        if !work_orders::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let before = serde_json::to_value(WorkOrderView::from(old.clone())).unwrap_or_default();
        let after = serde_json::to_value(WorkOrderView::from(new.clone())).unwrap_or_default();
        uow.audit(ENTITY, &id, "transition", &diff(&before, &after, &["version", "updated_at"]));
        uow.event(
            "work_order.status_changed",
            ENTITY,
            &id,
            json!({"id": id, "number": new.number, "type": new.type_, "from": from.as_str(), "to": to.as_str(),
                   "engineer_id": new.engineer_id, "account_id": new.account_id, "contract_id": new.contract_id,
                   "reason": reason}),
        );
        Ok(new.into())
    })
    .await
}
