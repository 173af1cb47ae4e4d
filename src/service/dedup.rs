//! Duplicate control of leads: the dry-run check, flagging on create, and merging.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::leads::{LeadInput, LeadView};
use super::{check_version, Ctx, Services};
use crate::auth::policy::LEAD_WRITERS;
use crate::auth::require_role;
use crate::domain::dedup::{block_key, brief, compare, screen, DupMatch, Keys};
use crate::domain::lead::LeadStatus;
use crate::domain::role::RowScope;
use crate::error::{AppError, AppResult};
use crate::store::leads::{self, DedupRow, LeadRow, MatchRow};
use crate::store::{activities, external_refs, DbConnection};

/// Suspected duplicates listed per lead.
const MAX_MATCHES: usize = 20;

/// The matching keys of a lead (its matching columns).
pub fn keys_of(row: &DedupRow) -> Keys {
    Keys {
        fields: json!({"name": row.name, "company": row.company, "phone": row.phone, "email": row.email,
                       "title": row.title, "province": row.province, "city": row.city, "industry": row.industry}),
        ..bare_keys_of(row)
    }
}

/// [`keys_of`] without the compared fields.
fn bare_keys_of(row: &DedupRow) -> Keys {
    match_keys(&MatchRow {
        id: row.id.clone(),
        company_key: row.company_key.clone(),
        phone: row.phone.clone(),
        email: row.email.clone(),
        email_domain: row.email_domain.clone(),
        whole: true,
    })
}

/// The keys that decide whether two leads match, without the compared fields (cheap to
/// build for every candidate; the fields are read and built for matches only).
fn match_keys(row: &MatchRow) -> Keys {
    Keys {
        id: row.id.clone(),
        phone: row.phone.clone(),
        email: row.email.clone(),
        email_domain: row.email_domain.clone(),
        company_key: row.company_key.clone(),
        fields: Value::Null,
    }
}

fn dedup_row(r: &LeadRow) -> DedupRow {
    DedupRow {
        id: r.id.clone(),
        name: r.name.clone(),
        company: r.company.clone(),
        company_key: r.company_key.clone(),
        phone: r.phone.clone(),
        email: r.email.clone(),
        email_domain: r.email_domain.clone(),
        title: r.title.clone(),
        province: r.province.clone(),
        city: r.city.clone(),
        industry: r.industry.clone(),
    }
}

/// Fills in the blocking keys a change of the blocking rule cleared (a migration sets
/// them to NULL); runs at start-up in batches of 1,000. Answers how many were set.
pub fn backfill_blocks(conn: &mut DbConnection) -> AppResult<usize> {
    use diesel::Connection;
    let (mut after, mut set) = (String::new(), 0);
    loop {
        let rows = leads::unblocked(conn, &after, 1000)?;
        let Some((last, _)) = rows.last() else {
            return Ok(set);
        };
        after = last.clone();
        set += conn.transaction::<_, AppError, _>(|conn| {
            let mut n = 0;
            for (id, key) in &rows {
                if let Some(b) = key.as_deref().and_then(block_key) {
                    leads::set_block(conn, id, &b)?;
                    n += 1;
                }
            }
            Ok(n)
        })?;
    }
}

/// The suspected duplicates of `row` among stored leads, best first (at most
/// [`MAX_MATCHES`]). Candidates are screened and ranked on their matching keys; only the
/// best are read whole, in rank order, until that many live ones are found.
pub fn find(
    conn: &mut DbConnection,
    row: &LeadRow,
    differences: Differences,
) -> AppResult<Vec<DupMatch>> {
    let probe = match differences {
        Differences::Listed => keys_of(&dedup_row(row)),
        Differences::Left => bare_keys_of(&dedup_row(row)),
    };
    let block = row.company_key.as_deref().and_then(block_key);
    let candidates = leads::dedup_candidates(
        conn,
        row.phone.as_deref(),
        row.email.as_deref(),
        row.email_domain.as_deref(),
        block.as_deref(),
    )?;
    let mut ranked: Vec<(f64, &MatchRow)> = candidates
        .iter()
        .filter(|c| c.id != row.id)
        .filter_map(|c| screen(&probe, &match_keys(c)).map(|s| (s, c)))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    let mut found: Vec<DupMatch> = Vec::new();
    for (_, c) in ranked {
        if found.len() == MAX_MATCHES {
            break;
        }
        // Not there when deleted or merged (a block's candidates are not checked before).
        let m = match differences {
            Differences::Listed => {
                leads::dedup_row(conn, &c.id)?.and_then(|c| compare(&probe, &keys_of(&c)))
            }
            Differences::Left if c.whole => brief(&probe, &match_keys(c)),
            Differences::Left => {
                leads::match_row(conn, &c.id)?.and_then(|c| brief(&probe, &match_keys(&c)))
            }
        };
        found.extend(m);
    }
    // A block's candidate is screened on its company alone; read whole, it can rank higher.
    found.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then(a.lead_id.cmp(&b.lead_id))
    });
    Ok(found)
}

/// Whether [`find`] lists how each match's fields differ from the lead's (the dry-run
/// check shows them), or leaves them out (a create records the matches' ids, similarity
/// and keys only, and reads no more of a candidate than its matching keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Differences {
    Listed,
    Left,
}

/// One candidate of a dry-run check; `differences` only for leads the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct DedupCandidate {
    #[serde(flatten)]
    pub found: DupMatch,
    /// False when the lead is outside the caller's scope (its values are not shown).
    pub visible: bool,
}

/// What a lead body would match, without storing anything.
pub async fn check(svc: &Services, ctx: &Ctx, input: LeadInput) -> AppResult<Vec<DedupCandidate>> {
    require_role(&ctx.principal, LEAD_WRITERS)?;
    let probe = super::leads::probe_row(input)?;
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        let found = find(conn, &probe, Differences::Listed)?;
        let mut out = Vec::new();
        for mut f in found {
            let visible =
                scope == RowScope::All || leads::find_scoped(conn, &f.lead_id, &scope)?.is_some();
            if !visible {
                f.differences.clear();
            }
            out.push(DedupCandidate { found: f, visible });
        }
        Ok(out)
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"duplicate_id": "0193a1b2-0000-7000-8000-000000000002"}))]
pub struct MergeRequest {
    /// The lead folded into this one.
    pub duplicate_id: String,
}

fn fill<T: Clone>(keep: &mut Option<T>, other: &Option<T>) {
    if keep.is_none() {
        keep.clone_from(other);
    }
}

/// Folds `duplicate_id` into the survivor: empty fields are filled from the duplicate,
/// activities and external ids move over, the duplicate is disqualified (`duplicate`) with
/// `merged_into`; the survivor's history then includes the duplicate's.
pub async fn merge(
    svc: &Services,
    ctx: &Ctx,
    survivor_id: String,
    if_match: Option<i64>,
    req: MergeRequest,
) -> AppResult<LeadView> {
    require_role(&ctx.principal, LEAD_WRITERS)?;
    if req.duplicate_id == survivor_id {
        return Err(AppError::field(
            "duplicate_id",
            "invalid_reference",
            "a lead cannot be merged into itself",
        ));
    }
    let scope = ctx.principal.sales_scope();
    svc.write(ctx, move |uow| {
        let old = leads::find_scoped(uow.conn, &survivor_id, &scope)?
            .ok_or_else(|| AppError::not_found("lead"))?;
        check_version(if_match, old.version)?;
        let dup = leads::find_scoped(uow.conn, &req.duplicate_id, &scope)?.ok_or_else(|| {
            AppError::field("duplicate_id", "not_found", "no such lead in your scope")
        })?;
        for (which, l) in [("the survivor", &old), ("the duplicate", &dup)] {
            if LeadStatus::parse(&l.status).is_some_and(|s| s.is_closed()) {
                return Err(AppError::conflict(format!(
                    "{which} is {} and cannot be merged",
                    l.status
                )));
            }
        }
        let mut new = old.clone();
        fill(&mut new.company, &dup.company);
        fill(&mut new.company_key, &dup.company_key);
        fill(&mut new.company_block, &dup.company_block);
        fill(&mut new.phone, &dup.phone);
        fill(&mut new.email, &dup.email);
        fill(&mut new.email_domain, &dup.email_domain);
        fill(&mut new.title, &dup.title);
        fill(&mut new.province, &dup.province);
        fill(&mut new.city, &dup.city);
        fill(&mut new.industry, &dup.industry);
        fill(&mut new.product_interest, &dup.product_interest);
        fill(&mut new.budget_cents, &dup.budget_cents);
        fill(&mut new.notes, &dup.notes);
        fill(&mut new.first_touch_at, &dup.first_touch_at);
        let mut custom: serde_json::Map<String, Value> =
            serde_json::from_str(&dup.custom).unwrap_or_default();
        custom.extend(
            serde_json::from_str::<serde_json::Map<String, Value>>(&old.custom).unwrap_or_default(),
        );
        new.custom = Value::Object(custom).to_string();
        if dup.priority == "high" {
            new.priority = "high".into();
        }
        super::routing::apply_score(uow, &mut new)?;
        let moved = activities::move_to_lead(uow.conn, &dup.id, &old.id)?;
        external_refs::move_refs(uow.conn, "lead", &dup.id, &old.id)?;
        let mut gone = dup.clone();
        gone.status = LeadStatus::Disqualified.as_str().into();
        gone.disqualify_reason = Some("duplicate".into());
        gone.merged_into = Some(old.id.clone());
        gone.claim_due_at = None;
        if !super::routing::save(uow, &dup, &mut gone, "merged_into")? {
            return Err(AppError::version_mismatch(dup.version + 1));
        }
        if !super::routing::save(uow, &old, &mut new, "merge")? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        uow.event(
            "lead.merged",
            "lead",
            &old.id,
            json!({"survivor_id": old.id, "duplicate_id": dup.id, "activities_moved": moved}),
        );
        let refs = super::refs::load(uow.conn, "lead", &new.id)?;
        Ok(LeadView::new(new, refs))
    })
    .await
}

/// Ids whose history belongs to a lead: itself and the leads merged into it.
pub fn history_ids(conn: &mut DbConnection, id: &str) -> AppResult<Vec<String>> {
    let mut ids = vec![id.to_string()];
    ids.extend(leads::merged_into(conn, id)?);
    Ok(ids)
}
