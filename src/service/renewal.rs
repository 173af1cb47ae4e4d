//! Renewal signals: the sweeper evaluates the configured rules against the installed base
//! and contracts, raises `account.renewal_signal` once per reason, subject and period, and
//! the account shows the signals still in force.

use chrono::{Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::config::{self, ConfigDoc};
use super::{new_id, Ctx, Services, Uow};
use crate::auth::require_role;
use crate::domain::asset::local_day;
use crate::domain::audit::Change;
use crate::domain::renewal::{horizon, repair_period, RenewalRules, SignalReason};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::AppResult;
use crate::store::assets::{self, SignalRow};
use crate::store::{contracts, DbConnection};

/// How many candidates of one rule one sweep handles.
const BATCH: i64 = 200;

impl ConfigDoc for RenewalRules {
    const KEY: &'static str = "renewal_signals";
    fn problems(&self) -> Vec<(String, String)> {
        RenewalRules::problems(self)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenewalRulesView {
    #[serde(flatten)]
    pub rules: RenewalRules,
    pub version: i64,
    pub updated_at: Option<String>,
}

pub async fn rules(svc: &Services, _ctx: &Ctx) -> AppResult<RenewalRulesView> {
    svc.read(|conn| {
        let (rules, version, at) = config::current::<RenewalRules>(conn)?;
        Ok(RenewalRulesView {
            rules,
            version,
            updated_at: at.map(rfc3339),
        })
    })
    .await
}

pub async fn put_rules(
    svc: &Services,
    ctx: &Ctx,
    rules: RenewalRules,
    if_match: Option<i64>,
) -> AppResult<RenewalRulesView> {
    require_role(&ctx.principal, &[Role::Admin, Role::Director])?;
    config::check(&rules)?;
    svc.write(ctx, move |uow| {
        let version = config::save(uow, &rules, if_match)?;
        Ok(RenewalRulesView {
            rules,
            version,
            updated_at: Some(rfc3339(uow.now_ms)),
        })
    })
    .await
}

/// A renewal signal shown on the account.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e90", "reason": "warranty_expiring",
    "asset_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e80", "contract_id": null,
    "detail": {"serial_number": "QM-ENDO-1-000871", "warranty_until": "2026-12-31"},
    "raised_at": "2026-11-23T01:00:00.000Z", "expires_at": "2026-12-31T16:00:00.000Z"}))]
pub struct SignalView {
    pub id: String,
    /// `repeat_repairs`, `contract_ending` or `warranty_expiring`.
    pub reason: String,
    pub asset_id: Option<String>,
    pub contract_id: Option<String>,
    /// The figures behind the signal.
    #[schema(value_type = Object)]
    pub detail: Value,
    pub raised_at: String,
    /// Shown on the account until then.
    pub expires_at: String,
}

impl From<SignalRow> for SignalView {
    fn from(r: SignalRow) -> Self {
        SignalView {
            detail: serde_json::from_str(&r.detail).unwrap_or(Value::Null),
            id: r.id,
            reason: r.reason,
            asset_id: r.asset_id,
            contract_id: r.contract_id,
            raised_at: rfc3339(r.raised_at),
            expires_at: rfc3339(r.expires_at),
        }
    }
}

/// The signals in force on an account.
pub fn live(conn: &mut DbConnection, account_id: &str, now_ms: i64) -> AppResult<Vec<SignalView>> {
    Ok(assets::live_signals(conn, account_id, now_ms)?
        .into_iter()
        .map(SignalView::from)
        .collect())
}

/// A signal a rule found, before it is raised.
pub struct Candidate {
    account_id: String,
    reason: SignalReason,
    subject_id: String,
    period_key: String,
    asset_id: Option<String>,
    contract_id: Option<String>,
    detail: Value,
    expires_at: i64,
}

/// The instant a calendar day ends in the company's zone.
fn end_of_day(day: &str, tz: Tz) -> i64 {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| (d + Duration::days(1)).and_hms_opt(0, 0, 0))
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// The signals the configured rules call for that are not raised yet (each rule at most
/// `BATCH` per call).
pub fn due(conn: &mut DbConnection, now_ms: i64, tz: Tz) -> AppResult<Vec<Candidate>> {
    let (rules, _, _) = config::current::<RenewalRules>(conn)?;
    let today = local_day(crate::domain::time::from_millis(now_ms), tz);
    let today_s = today.to_string();
    let mut out = Vec::new();
    if let Some(r) = &rules.repeat_repairs {
        let period = repair_period(now_ms, r.within_secs);
        let reason = SignalReason::RepeatRepairs;
        for (asset_id, count) in
            assets::repeat_repairs(conn, now_ms - r.within_secs * 1000, r.min_orders)?
        {
            if assets::signal_exists(conn, reason.as_str(), &asset_id, &period)? {
                continue;
            }
            let Some(a) = assets::find(conn, &asset_id)? else {
                continue;
            };
            out.push(Candidate {
                account_id: a.account_id,
                reason,
                subject_id: asset_id.clone(),
                period_key: period.clone(),
                asset_id: Some(asset_id),
                contract_id: a.contract_id,
                detail: json!({"serial_number": a.serial_number, "product_model": a.product_model,
                               "repair_orders": count, "within_secs": r.within_secs}),
                expires_at: now_ms + r.within_secs * 1000,
            });
        }
    }
    if let Some(secs) = rules.contract_ending_within_secs {
        let until = horizon(today, secs).to_string();
        let reason = SignalReason::ContractEnding;
        for c in contracts::ending_between(conn, &today_s, &until, reason.as_str(), BATCH)? {
            let end = c.end_date.clone().unwrap_or_default();
            out.push(Candidate {
                account_id: c.account_id,
                reason,
                subject_id: c.id.clone(),
                period_key: end.clone(),
                asset_id: None,
                contract_id: Some(c.id),
                detail: json!({"number": c.number, "title": c.title, "end_date": end}),
                expires_at: end_of_day(&end, tz),
            });
        }
    }
    if let Some(secs) = rules.warranty_expiring_within_secs {
        let until = horizon(today, secs).to_string();
        let reason = SignalReason::WarrantyExpiring;
        for a in assets::warranties_ending(conn, &today_s, &until, reason.as_str(), BATCH)? {
            let end = a.warranty_until.clone().unwrap_or_default();
            out.push(Candidate {
                account_id: a.account_id,
                reason,
                subject_id: a.id.clone(),
                period_key: end.clone(),
                asset_id: Some(a.id),
                contract_id: a.contract_id,
                detail: json!({"serial_number": a.serial_number, "product_model": a.product_model,
                               "warranty_until": end}),
                expires_at: end_of_day(&end, tz),
            });
        }
    }
    Ok(out)
}

/// Raises one signal unless another instance did first: the row, an audit entry on the
/// account and `account.renewal_signal`.
pub fn raise(uow: &mut Uow<'_>, c: Candidate) -> AppResult<()> {
    if assets::signal_exists(uow.conn, c.reason.as_str(), &c.subject_id, &c.period_key)? {
        return Ok(());
    }
    let row = SignalRow {
        id: new_id(),
        account_id: c.account_id.clone(),
        reason: c.reason.as_str().into(),
        subject_id: c.subject_id,
        period_key: c.period_key,
        asset_id: c.asset_id.clone(),
        contract_id: c.contract_id.clone(),
        detail: c.detail.to_string(),
        raised_at: uow.now_ms,
        expires_at: c.expires_at,
    };
    assets::insert_signal(uow.conn, &row)?;
    let change = Change {
        field: "signals".into(),
        old: Value::Null,
        new: json!({"id": row.id, "reason": row.reason}),
    };
    uow.audit("account", &c.account_id, "renewal_signal", &[change]);
    uow.event(
        "account.renewal_signal",
        "account",
        &c.account_id,
        json!({"account_id": c.account_id, "signal_id": row.id, "reason": row.reason,
               "asset_id": c.asset_id, "contract_id": c.contract_id, "detail": c.detail,
               "expires_at": rfc3339(row.expires_at)}),
    );
    Ok(())
}
