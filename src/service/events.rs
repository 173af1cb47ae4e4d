//! The change feed: events in id order for pull-based sync.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Ctx, Services};
use crate::auth::policy::FEED_READERS;
use crate::auth::require_role;
use crate::domain::events::TypeFilter;
use crate::domain::time::rfc3339;
use crate::error::AppResult;
use crate::store::journal::{self, EventRow};

/// The event envelope of DESIGN §5.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 42, "type": "lead.created", "occurred_at": "2026-11-23T02:00:00.000Z",
    "entity": "lead", "entity_id": "0193a1b2-0000-7000-8000-000000000001", "data": {"name": "陈明"}
}))]
pub struct EventView {
    /// Monotonic: `GET /events?after=<id>` continues after it.
    pub id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: String,
    pub entity: String,
    pub entity_id: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

impl From<EventRow> for EventView {
    fn from(r: EventRow) -> Self {
        EventView {
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
pub struct EventPage {
    pub items: Vec<EventView>,
    /// Pass as `after` to continue; equals the request's `after` when nothing new arrived.
    pub next_after: i64,
}

pub async fn feed(
    svc: &Services,
    ctx: &Ctx,
    after: i64,
    types: Option<TypeFilter>,
    limit: i64,
) -> AppResult<EventPage> {
    require_role(&ctx.principal, FEED_READERS)?;
    let rows = svc
        .read(move |conn| {
            let expanded = types.as_ref().map(|t| t.expand());
            Ok(journal::list_events(
                conn,
                after,
                expanded.as_deref(),
                limit,
            )?)
        })
        .await?;
    let next_after = rows.last().map(|r| r.id).unwrap_or(after);
    Ok(EventPage {
        items: rows.into_iter().map(EventView::from).collect(),
        next_after,
    })
}
