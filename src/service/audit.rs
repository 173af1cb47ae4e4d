//! Reading and verifying the audit chain.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Ctx, Page, Services};
use crate::auth::policy::AUDITORS;
use crate::auth::require_role;
use crate::domain::audit::{verify, Change};
use crate::domain::time::rfc3339;
use crate::error::AppResult;
use crate::store::journal::{self, AuditFilter, AuditRow};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    /// Position in the chain.
    pub seq: i64,
    pub entity: String,
    pub entity_id: String,
    /// `create`, `update`, `delete` or the name of a transition.
    pub action: String,
    pub actor_id: String,
    pub at: String,
    pub changes: Vec<Change>,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for AuditEntryView {
    fn from(r: AuditRow) -> Self {
        AuditEntryView {
            changes: serde_json::from_str(&r.changes).unwrap_or_default(),
            id: r.id,
            seq: r.seq,
            entity: r.entity,
            entity_id: r.entity_id,
            action: r.action,
            actor_id: r.actor_id,
            at: rfc3339(r.at),
            request_id: r.request_id,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    f: AuditFilter,
    after_seq: i64,
    limit: i64,
) -> AppResult<Page<AuditEntryView>> {
    require_role(&ctx.principal, AUDITORS)?;
    let rows = svc
        .read(move |conn| Ok(journal::list_audit(conn, &f, after_seq, limit + 1)?))
        .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.seq.to_string(),
        AuditEntryView::from,
    ))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"ok": true, "checked": 1520, "first_broken_id": null}))]
pub struct VerifyResult {
    pub ok: bool,
    /// Entries whose links were checked (up to the first broken one).
    pub checked: u64,
    pub first_broken_id: Option<String>,
}

/// Walks the whole chain in pages of 1,000 and reports the first entry that does not hold.
pub async fn verify_chain(svc: &Services, ctx: &Ctx) -> AppResult<VerifyResult> {
    require_role(&ctx.principal, AUDITORS)?;
    svc.read(|conn| {
        let mut prev_hash = String::new();
        let mut after = 0;
        let mut checked = 0;
        loop {
            let rows = journal::list_audit(conn, &AuditFilter::default(), after, 1000)?;
            let Some(last) = rows.last() else {
                return Ok(VerifyResult {
                    ok: true,
                    checked,
                    first_broken_id: None,
                });
            };
            let (last_seq, last_hash) = (last.seq, last.hash.clone());
            let links = rows
                .iter()
                .map(|r| (r.link(), r.prev_hash.as_str(), r.hash.as_str()));
            match verify(&prev_hash, links) {
                Ok(n) => checked += n,
                Err(id) => {
                    let before = rows.iter().take_while(|r| r.id != id).count() as u64;
                    return Ok(VerifyResult {
                        ok: false,
                        checked: checked + before,
                        first_broken_id: Some(id),
                    });
                }
            }
            prev_hash = last_hash;
            after = last_seq;
        }
    })
    .await
}
