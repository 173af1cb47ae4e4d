//! The account timeline: everything about an account in one cursor-paged stream, newest
//! first, read from the event log (each event carries its account, resolved when it was
//! written) and filtered by what the caller may see of each record.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Ctx, Services};
use crate::auth::Principal;
use crate::domain::events::TypeFilter;
use crate::domain::role::RowScope;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::journal::EventRow;
use crate::store::{accounts, contacts, contracts, leads, opportunities, quotes, timeline};
use crate::store::{work_orders, DbConnection};

/// Families of the `types` filter besides exact event names and `family.*` patterns.
pub const KINDS: &[&str] = &[
    "lead",
    "activity",
    "opportunity",
    "quote",
    "contract",
    "invoice",
    "payment",
    "delivery",
    "nps",
    "work_order",
    "asset",
    "account",
    "contact",
];

/// One thing that happened to the account.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": 9812, "type": "work_order.status_changed", "kind": "work_order",
    "occurred_at": "2026-08-14T06:30:00.000Z", "entity": "work_order",
    "entity_id": "01936f0e-7c55-7d2a-9f1e-3b7c1a2d4e70",
    "data": {"number": "WO-2026-000871", "from": "on_site", "to": "parts_replaced"}}))]
pub struct TimelineItem {
    /// The event id (ascending with time).
    pub id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The family of the type: `lead`, `activity`, `opportunity`, `quote`, `contract`,
    /// `invoice`, `payment`, `delivery`, `nps`, `work_order`, `asset`, `account`, `contact`.
    pub kind: String,
    pub occurred_at: String,
    /// The record the item is about.
    pub entity: String,
    pub entity_id: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

impl From<EventRow> for TimelineItem {
    fn from(r: EventRow) -> Self {
        TimelineItem {
            kind: r
                .event_type
                .split_once('.')
                .map(|(k, _)| k.to_string())
                .unwrap_or_default(),
            data: serde_json::from_str(&r.data).unwrap_or(Value::Null),
            id: r.id,
            event_type: r.event_type,
            occurred_at: rfc3339(r.occurred_at),
            entity: r.entity,
            entity_id: r.entity_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelinePage {
    pub items: Vec<TimelineItem>,
    /// Pass as `before` for older items; absent at the beginning of the account's history.
    pub next_cursor: Option<String>,
}

/// Parses `types`: families (`work_order`), patterns (`lead.*`) or exact event names.
pub fn parse_types(raw: &str) -> AppResult<Vec<String>> {
    let spec: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if KINDS.contains(&s) {
                format!("{s}.*")
            } else {
                s.to_string()
            }
        })
        .collect();
    let filter = TypeFilter::parse(&spec.join(","))
        .map_err(|m| AppError::field("types", "unknown_type", m))?;
    Ok(filter.expand().into_iter().map(str::to_string).collect())
}

/// Decides, record by record, whether the caller may see an item (and remembers).
struct Visibility<'p> {
    principal: &'p Principal,
    sales: RowScope,
    seen: HashMap<(String, String), bool>,
}

impl Visibility<'_> {
    fn sees(&mut self, conn: &mut DbConnection, entity: &str, id: &str) -> AppResult<bool> {
        let key = (entity.to_string(), id.to_string());
        if let Some(v) = self.seen.get(&key) {
            return Ok(*v);
        }
        let s = &self.sales;
        let v = match entity {
            "lead" => leads::find_scoped(conn, id, s)?.is_some(),
            "opportunity" => opportunities::find_scoped(conn, id, s)?.is_some(),
            "quote" => match quotes::find(conn, id)? {
                Some(q) => opportunities::find_scoped(conn, &q.opportunity_id, s)?.is_some(),
                None => false,
            },
            "contract" => contracts::find_scoped(conn, id, s)?.is_some(),
            "contact" => contacts::find_scoped(conn, id, s)?.is_some(),
            "work_order" => match work_orders::find(conn, id)? {
                Some(w) => super::work_orders::may_see(self.principal, &w),
                None => false,
            },
            // The account itself and its installed base: whoever sees the account.
            _ => true,
        };
        self.seen.insert(key, v);
        Ok(v)
    }
}

/// Up to `limit` items of the account before the cursor. Items the caller may not see are
/// left out (the page may then be shorter; `next_cursor` still continues the walk).
pub async fn account_timeline(
    svc: &Services,
    ctx: &Ctx,
    account_id: String,
    types: Option<Vec<String>>,
    before: Option<i64>,
    limit: i64,
) -> AppResult<TimelinePage> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        let sales = p.sales_scope();
        if accounts::find_scoped(conn, &account_id, &sales)?.is_none() {
            return Err(AppError::not_found("account"));
        }
        let everything = sales == RowScope::All && super::work_orders::sees_all(&p);
        let mut vis = Visibility {
            principal: &p,
            sales,
            seen: HashMap::new(),
        };
        let mut items = Vec::new();
        let mut cursor = before;
        let mut scanned = 0;
        let mut more = false;
        // Scan in batches until the page is full or the history ends; a caller who sees
        // little of a large account gets a short page (bounded work per request).
        'scan: loop {
            let batch = timeline::page(conn, &account_id, cursor, types.as_deref(), limit)?;
            let fetched = batch.len() as i64;
            for row in batch {
                if items.len() as i64 == limit {
                    more = true;
                    break 'scan;
                }
                scanned += 1;
                cursor = Some(row.id);
                if everything || vis.sees(conn, &row.entity, &row.entity_id)? {
                    items.push(TimelineItem::from(row));
                }
            }
            if fetched < limit {
                break;
            }
            if items.len() as i64 == limit {
                more = !timeline::page(conn, &account_id, cursor, types.as_deref(), 1)?.is_empty();
                break;
            }
            if scanned >= limit * 10 {
                more = true;
                break;
            }
        }
        Ok(TimelinePage {
            items,
            next_cursor: if more {
                cursor.map(|c| crate::domain::cursor::encode(&c.to_string()))
            } else {
                None
            },
        })
    })
    .await
}
