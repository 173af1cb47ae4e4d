//! The hotline screen-pop: one call that says who a phone number, e-mail address or serial
//! number belongs to and what the service desk needs to know about their accounts.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::assets::{scope_of as asset_scope, AssetView};
use super::renewal::SignalView;
use super::{Ctx, Services};
use crate::domain::asset::{local_day, normalize_serial};
use crate::domain::email::EmailAddress;
use crate::domain::phone::PhoneNumber;
use crate::domain::role::RowScope;
use crate::domain::time::rfc3339;
use crate::domain::work_order::{sla_state, SlaClocks};
use crate::error::{AppError, AppResult};
use crate::store::lookup::{self as q, Key};
use crate::store::{assets, users, DbConnection};

/// How many accounts one lookup describes.
const MAX_ACCOUNTS: usize = 10;

/// What to look up: exactly one of `phone`, `email`, `serial`.
#[derive(Debug, Clone)]
pub enum LookupKey {
    Phone(String),
    Email(String),
    Serial(String),
}

impl LookupKey {
    /// Normalises the query the way records are stored (and deduplicated).
    pub fn parse(
        phone: Option<String>,
        email: Option<String>,
        serial: Option<String>,
    ) -> AppResult<LookupKey> {
        let given: Vec<&str> = [("phone", &phone), ("email", &email), ("serial", &serial)]
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(name, _)| *name)
            .collect();
        match given.as_slice() {
            [] => {
                return Err(AppError::field(
                    "query",
                    "required",
                    "give one of phone, email or serial",
                ))
            }
            [_] => {}
            [_, second, ..] => {
                return Err(AppError::field(
                    second,
                    "conflict",
                    format!(
                        "give only one of phone, email or serial, not {}",
                        given.join(" and ")
                    ),
                ))
            }
        }
        if let Some(p) = phone {
            return PhoneNumber::parse(&p)
                .map(|p| LookupKey::Phone(p.into_string()))
                .map_err(|m| AppError::field("phone", "invalid_format", m));
        }
        if let Some(e) = email {
            return EmailAddress::parse(&e)
                .map(|e| LookupKey::Email(e.into_string()))
                .map_err(|m| AppError::field("email", "invalid_format", m));
        }
        let s = serial.unwrap_or_default();
        normalize_serial(&s)
            .map(LookupKey::Serial)
            .map_err(|m| AppError::field("serial", "invalid_format", m))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LookupQuery {
    /// `phone`, `email` or `serial`.
    pub by: String,
    /// The normalised value matched.
    pub value: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadMatch {
    pub id: String,
    pub name: String,
    pub company: Option<String>,
    pub status: String,
    pub owner_id: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactCard {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The contact's part in the buying decision.
    pub decision_role: Option<String>,
}

impl From<crate::store::contacts::ContactRow> for ContactCard {
    fn from(r: crate::store::contacts::ContactRow) -> Self {
        ContactCard {
            id: r.id,
            account_id: r.account_id,
            name: r.name,
            title: r.title,
            phone: r.phone,
            email: r.email,
            decision_role: r.decision_role,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonCard {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenOrderCard {
    pub id: String,
    pub number: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub priority: String,
    pub device_sn: Option<String>,
    pub in_warranty: Option<bool>,
    pub engineer_id: Option<String>,
    /// `ok`, `warning`, `breached` or `met`.
    pub sla_state: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContractCard {
    pub id: String,
    pub number: String,
    pub title: String,
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    pub end_date: Option<String>,
}

/// One account as the service desk sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountCard {
    pub id: String,
    pub name: String,
    pub tier: Option<String>,
    pub phone: Option<String>,
    /// The account owner.
    pub owner: Option<PersonCard>,
    /// Contacts with a role in the buying decision.
    pub decision_chain: Vec<ContactCard>,
    /// Work orders not yet closed or cancelled (up to 20, newest first).
    pub open_work_orders: Vec<OpenOrderCard>,
    /// The installed base (up to 50) with warranty state.
    pub assets: Vec<AssetView>,
    /// The latest customer sign-off of a maintenance or repair order.
    pub last_maintenance_at: Option<String>,
    /// Signed or live contracts.
    pub active_contracts: Vec<ContractCard>,
    pub signals: Vec<SignalView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"query": {"by": "phone", "value": "13800138000"},
    "leads": [], "contacts": [{"id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e61", "account_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e5f",
      "name": "李娜", "title": "设备科科长", "phone": "13800138000", "email": null, "decision_role": "decision_maker"}],
    "assets": [], "accounts": []}))]
pub struct LookupResult {
    pub query: LookupQuery,
    /// Leads with this phone or e-mail (within the caller's scope).
    pub leads: Vec<LeadMatch>,
    /// Contacts with this phone or e-mail.
    pub contacts: Vec<ContactCard>,
    /// Assets with this serial number.
    pub assets: Vec<AssetView>,
    /// The accounts these belong to (up to 10), with their service picture.
    pub accounts: Vec<AccountCard>,
}

fn push_unique(ids: &mut Vec<String>, id: String) {
    if !ids.contains(&id) && ids.len() < MAX_ACCOUNTS {
        ids.push(id);
    }
}

fn card(
    conn: &mut DbConnection,
    a: crate::store::accounts::AccountRow,
    p: &crate::auth::Principal,
    today: NaiveDate,
    now_ms: i64,
) -> AppResult<AccountCard> {
    let owner = match &a.owner_id {
        Some(id) => users::find(conn, id)?.map(|u| PersonCard {
            id: u.id,
            display_name: u.display_name,
        }),
        None => None,
    };
    let orders = q::open_orders(conn, &a.id, 20)?
        .into_iter()
        .filter(|w| super::work_orders::may_see(p, w))
        .map(|w| OpenOrderCard {
            sla_state: sla_state(SlaClocks {
                has_policy: w.sla_policy_id.is_some(),
                warned: w.response_warned_at.is_some() || w.resolution_warned_at.is_some(),
                breached: w.response_breached_at.is_some() || w.resolution_breached_at.is_some(),
                resolved: w.resolved_at.is_some(),
            })
            .into(),
            created_at: rfc3339(w.created_at),
            id: w.id,
            number: w.number,
            type_: w.type_,
            status: w.status,
            priority: w.priority,
            device_sn: w.device_sn,
            in_warranty: w.in_warranty,
            engineer_id: w.engineer_id,
        })
        .collect();
    Ok(AccountCard {
        owner,
        decision_chain: q::decision_chain(conn, &a.id)?
            .into_iter()
            .map(ContactCard::from)
            .collect(),
        open_work_orders: orders,
        assets: assets::for_accounts(conn, std::slice::from_ref(&a.id), 50)?
            .into_iter()
            .map(|r| AssetView::new(r, today, Vec::new()))
            .collect(),
        last_maintenance_at: q::last_maintenance(conn, &a.id)?.map(rfc3339),
        active_contracts: q::active_contracts(conn, &a.id)?
            .into_iter()
            .map(|c| ContractCard {
                id: c.id,
                number: c.number,
                title: c.title,
                status: c.status,
                amount_cents: c.amount_cents,
                currency: c.currency,
                end_date: c.end_date,
            })
            .collect(),
        signals: super::renewal::live(conn, &a.id, now_ms)?,
        id: a.id,
        name: a.name,
        tier: a.tier,
        phone: a.phone,
    })
}

pub async fn lookup(svc: &Services, ctx: &Ctx, key: LookupKey) -> AppResult<LookupResult> {
    let p = ctx.principal.clone();
    let now = svc.now();
    let today = local_day(now, svc.settings.time_zone);
    svc.read(move |conn| {
        let sales = p.sales_scope();
        let mut account_ids = Vec::new();
        let (mut leads, mut contacts, mut found_assets) = (Vec::new(), Vec::new(), Vec::new());
        let query = match &key {
            LookupKey::Phone(v) | LookupKey::Email(v) => {
                let (by, k) = match &key {
                    LookupKey::Phone(v) => ("phone", Key::Phone(v.clone())),
                    _ => ("email", Key::Email(v.clone())),
                };
                for c in q::contacts_by(conn, &k, &sales, 20)? {
                    push_unique(&mut account_ids, c.account_id.clone());
                    contacts.push(ContactCard::from(c));
                }
                for l in q::leads_by(conn, &k, &sales, 20)? {
                    if let Some(a) = &l.account_id {
                        push_unique(&mut account_ids, a.clone());
                    }
                    leads.push(LeadMatch {
                        id: l.id,
                        name: l.name,
                        company: l.company,
                        status: l.status,
                        owner_id: l.owner_id,
                        account_id: l.account_id,
                    });
                }
                for a in q::accounts_by(conn, &k, &sales, MAX_ACCOUNTS as i64)? {
                    push_unique(&mut account_ids, a.id);
                }
                if let Key::Phone(ph) = &k {
                    for a in q::order_accounts(conn, Some(ph), None, 20)? {
                        push_unique(&mut account_ids, a);
                    }
                }
                LookupQuery {
                    by: by.into(),
                    value: v.clone(),
                }
            }
            LookupKey::Serial(sn) => {
                let scope = asset_scope(&p);
                if let Some(a) = assets::find_by_serial(conn, sn)? {
                    if assets::find_scoped(conn, &a.id, &scope)?.is_some() {
                        push_unique(&mut account_ids, a.account_id.clone());
                        found_assets.push(AssetView::new(a, today, Vec::new()));
                    }
                }
                for a in q::order_accounts(conn, None, Some(sn), 20)? {
                    push_unique(&mut account_ids, a);
                }
                LookupQuery {
                    by: "serial".into(),
                    value: sn.clone(),
                }
            }
        };
        let visible = if sales == RowScope::Nothing {
            Vec::new()
        } else {
            q::accounts_in(conn, &account_ids, &sales)?
        };
        let mut accounts = Vec::new();
        // Keep the order in which the matches named the accounts.
        for id in &account_ids {
            if let Some(a) = visible.iter().find(|a| &a.id == id) {
                accounts.push(card(conn, a.clone(), &p, today, now.timestamp_millis())?);
            }
        }
        Ok(LookupResult {
            query,
            leads,
            contacts,
            assets: found_assets,
            accounts,
        })
    })
    .await
}
