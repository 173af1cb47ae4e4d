//! Leads: intake, reading, editing and the upsert integrators use.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::audit::AuditEntryView;
use super::input::{
    double_option, from_json_text, patch, raw_array, raw_json, raw_object, to_json_text, Check,
};
use super::refs::{self, ExternalRef};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::policy::LEAD_WRITERS;
use crate::auth::{require_role, Principal, PrincipalKind};
use crate::domain::audit::diff;
use crate::domain::company::company_key;
use crate::domain::lead::{LeadSource, LeadStatus};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::journal::{self, AuditFilter};
use crate::store::leads::{self, LeadFilter, LeadRow};
use crate::store::DbConnection;

const ENTITY: &str = "lead";
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at", "external_refs"];

/// A lead as the API shows it (DESIGN §7: input fields plus the read-only ones).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeadView {
    pub id: String,
    pub name: String,
    pub company: Option<String>,
    /// Normalised: mainland numbers as bare digits.
    pub phone: Option<String>,
    /// Normalised: trimmed, lower-case.
    pub email: Option<String>,
    pub title: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub industry: Option<String>,
    pub source: LeadSource,
    pub product_interest: Option<String>,
    pub budget_cents: Option<i64>,
    pub currency: String,
    pub notes: Option<String>,
    /// Values of the custom fields defined for lead (`GET /custom-fields?entity=lead`).
    #[schema(value_type = Object)]
    pub custom: Box<RawValue>,
    pub status: LeadStatus,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub account_id: Option<String>,
    pub score: Option<i32>,
    pub grade: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub score_breakdown: Box<RawValue>,
    #[schema(value_type = Option<Object>)]
    pub assignment: Option<Box<RawValue>>,
    pub claim_due_at: Option<String>,
    pub first_touch_due_at: Option<String>,
    pub accepted_at: Option<String>,
    pub first_touch_at: Option<String>,
    pub reassign_count: i32,
    pub possible_duplicate: bool,
    #[schema(value_type = Vec<Object>)]
    pub duplicate_candidates: Box<RawValue>,
    /// `normal` or `high`.
    pub priority: String,
    /// Fields the quality gate found missing (for `needs_info` leads: what to complete).
    #[schema(value_type = Vec<String>)]
    pub missing_fields: Box<RawValue>,
    pub first_touch_overdue_at: Option<String>,
    pub escalated_at: Option<String>,
    pub disqualify_reason: Option<String>,
    pub disqualify_note: Option<String>,
    /// For a merged duplicate: the lead it was folded into.
    pub merged_into: Option<String>,
    pub external_refs: Vec<ExternalRef>,
    pub created_by: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl LeadView {
    pub fn new(r: LeadRow, external_refs: Vec<ExternalRef>) -> Self {
        LeadView {
            id: r.id,
            name: r.name,
            company: r.company,
            phone: r.phone,
            email: r.email,
            title: r.title,
            province: r.province,
            city: r.city,
            industry: r.industry,
            source: LeadSource::parse(&r.source).unwrap_or(LeadSource::Other),
            product_interest: r.product_interest,
            budget_cents: r.budget_cents,
            currency: r.currency,
            notes: r.notes,
            custom: raw_object(&r.custom),
            status: LeadStatus::parse(&r.status).unwrap_or(LeadStatus::New),
            owner_id: r.owner_id,
            team_id: r.team_id,
            account_id: r.account_id,
            score: r.score,
            grade: r.grade,
            score_breakdown: raw_array(&r.score_breakdown),
            assignment: r.assignment.as_deref().and_then(|a| raw_json(a, '{')),
            claim_due_at: r.claim_due_at.map(rfc3339),
            first_touch_due_at: r.first_touch_due_at.map(rfc3339),
            accepted_at: r.accepted_at.map(rfc3339),
            first_touch_at: r.first_touch_at.map(rfc3339),
            reassign_count: r.reassign_count,
            possible_duplicate: r.possible_duplicate,
            duplicate_candidates: raw_array(&r.duplicate_candidates),
            priority: r.priority,
            missing_fields: raw_array(&r.missing_fields),
            first_touch_overdue_at: r.first_touch_overdue_at.map(rfc3339),
            escalated_at: r.escalated_at.map(rfc3339),
            disqualify_reason: r.disqualify_reason,
            disqualify_note: r.disqualify_note,
            merged_into: r.merged_into,
            external_refs,
            created_by: r.created_by,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Create body (also the upsert body, which replaces these fields). Read-only fields
/// (`id`, `status`, `owner_id`, `score`, `version`, …) are refused with 422.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "陈明", "company": "苏州恒锐精工有限公司", "phone": "+86 138-0013-8000",
    "email": "chen.ming@hengrui.cn", "title": "设备部经理", "province": "江苏", "city": "苏州",
    "industry": "新能源汽车", "source": "web_form", "product_interest": "激光焊接产线",
    "budget_cents": 80000000, "currency": "CNY", "notes": "展会后来电", "custom": {}
}))]
pub struct LeadInput {
    pub name: String,
    pub company: Option<String>,
    /// At least one of `phone` and `email` is required.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub title: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub industry: Option<String>,
    /// Defaults to `other`.
    pub source: Option<LeadSource>,
    pub product_interest: Option<String>,
    pub budget_cents: Option<i64>,
    pub currency: Option<String>,
    pub notes: Option<String>,
    /// Values of the custom fields defined for leads; free-form until one is defined, then
    /// strict: unknown keys and wrong types are refused (422 naming `custom.<key>`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "设备部总监", "budget_cents": 120000000}))]
pub struct LeadPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub province: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub industry: Option<Option<String>>,
    pub source: Option<LeadSource>,
    #[serde(default, deserialize_with = "double_option")]
    pub product_interest: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub budget_cents: Option<Option<i64>>,
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub notes: Option<Option<String>>,
    /// Replaces `custom{{}}` (checked like a create, except that values it keeps unchanged).
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Map<String, Value>>,
}

/// The editable fields of a lead, validated and normalised.
#[derive(Debug, Clone)]
struct Fields {
    name: String,
    company: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    email_domain: Option<String>,
    title: Option<String>,
    province: Option<String>,
    city: Option<String>,
    industry: Option<String>,
    source: LeadSource,
    product_interest: Option<String>,
    budget_cents: Option<i64>,
    currency: String,
    notes: Option<String>,
    custom: Map<String, Value>,
}

impl Fields {
    fn parse(i: LeadInput) -> AppResult<Fields> {
        let mut c = Check::default();
        let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let has_contact = given(&i.phone) || given(&i.email);
        let email = c.email("email", i.email);
        let phone = c.phone("phone", i.phone);
        let f = Fields {
            name: c.required("name", Some(i.name), 100),
            company: c.text("company", i.company, 200),
            email_domain: email
                .as_ref()
                .and_then(|e| e.company_domain().map(str::to_string)),
            email: email.map(|e| e.into_string()),
            phone,
            title: c.text("title", i.title, 100),
            province: c.text("province", i.province, 50),
            city: c.text("city", i.city, 50),
            industry: c.text("industry", i.industry, 100),
            source: i.source.unwrap_or(LeadSource::Other),
            product_interest: c.text("product_interest", i.product_interest, 200),
            budget_cents: c.amount("budget_cents", i.budget_cents),
            currency: c.currency("currency", i.currency),
            notes: c.text("notes", i.notes, 4000),
            custom: c.custom("custom", i.custom),
        };
        if !has_contact {
            c.fail(
                "phone",
                "required",
                "a lead needs a phone number or an e-mail address",
            );
        }
        c.finish()?;
        Ok(f)
    }

    fn of_row(r: &LeadRow) -> LeadInput {
        LeadInput {
            name: r.name.clone(),
            company: r.company.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            title: r.title.clone(),
            province: r.province.clone(),
            city: r.city.clone(),
            industry: r.industry.clone(),
            source: LeadSource::parse(&r.source),
            product_interest: r.product_interest.clone(),
            budget_cents: r.budget_cents,
            currency: Some(r.currency.clone()),
            notes: r.notes.clone(),
            custom: from_json_text(&r.custom),
        }
    }

    fn apply(self, r: LeadRow) -> LeadRow {
        LeadRow {
            company_key: self
                .company
                .as_deref()
                .map(company_key)
                .filter(|k| !k.is_empty()),
            company_block: self
                .company
                .as_deref()
                .map(company_key)
                .as_deref()
                .and_then(crate::domain::dedup::block_key),
            name: self.name,
            company: self.company,
            phone: self.phone,
            email: self.email,
            email_domain: self.email_domain,
            title: self.title,
            province: self.province,
            city: self.city,
            industry: self.industry,
            source: self.source.as_str().into(),
            product_interest: self.product_interest,
            budget_cents: self.budget_cents,
            currency: self.currency,
            notes: self.notes,
            custom: to_json_text(&self.custom),
            ..r
        }
    }
}

fn merge_patch(current: LeadInput, p: LeadPatch) -> LeadInput {
    LeadInput {
        name: p.name.unwrap_or(current.name),
        company: patch(current.company, p.company),
        phone: patch(current.phone, p.phone),
        email: patch(current.email, p.email),
        title: patch(current.title, p.title),
        province: patch(current.province, p.province),
        city: patch(current.city, p.city),
        industry: patch(current.industry, p.industry),
        source: p.source.or(current.source),
        product_interest: patch(current.product_interest, p.product_interest),
        budget_cents: patch(current.budget_cents, p.budget_cents),
        currency: p.currency.or(current.currency),
        notes: patch(current.notes, p.notes),
        custom: p.custom.unwrap_or(current.custom),
    }
}

fn view(conn: &mut DbConnection, row: LeadRow) -> AppResult<LeadView> {
    let r = refs::load(conn, ENTITY, &row.id)?;
    Ok(LeadView::new(row, r))
}

fn snapshot(row: &LeadRow) -> Value {
    serde_json::to_value(LeadView::new(row.clone(), Vec::new())).unwrap_or_default()
}

/// An empty lead row, filled in by `Fields::apply`.
fn blank_row(id: String, created_by: &str, now: i64) -> LeadRow {
    LeadRow {
        id,
        name: String::new(),
        company: None,
        company_key: None,
        phone: None,
        email: None,
        email_domain: None,
        title: None,
        province: None,
        city: None,
        industry: None,
        source: LeadSource::Other.as_str().into(),
        product_interest: None,
        budget_cents: None,
        currency: String::new(),
        notes: None,
        custom: "{}".into(),
        status: LeadStatus::New.as_str().into(),
        owner_id: None,
        team_id: None,
        account_id: None,
        score: None,
        grade: None,
        score_breakdown: "[]".into(),
        assignment: None,
        claim_due_at: None,
        first_touch_due_at: None,
        accepted_at: None,
        first_touch_at: None,
        reassign_count: 0,
        possible_duplicate: false,
        duplicate_candidates: "[]".into(),
        priority: "normal".into(),
        created_by: created_by.to_string(),
        version: 1,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        rule_id: None,
        missing_fields: "[]".into(),
        lapsed_by: "[]".into(),
        first_touch_overdue_at: None,
        escalated_at: None,
        disqualify_reason: None,
        disqualify_note: None,
        score_version: 0,
        company_block: None,
        merged_into: None,
        assigned_at: None,
    }
}

/// A lead body as the row it would become, for duplicate checks; nothing is stored.
pub fn probe_row(input: LeadInput) -> AppResult<LeadRow> {
    Ok(Fields::parse(input)?.apply(blank_row("probe".into(), "probe", 0)))
}

fn insert_lead(uow: &mut Uow<'_>, p: &Principal, f: Fields) -> AppResult<LeadRow> {
    let blank = blank_row(new_id(), &p.id, uow.now_ms);
    let mut row = f.apply(blank);
    // What depends on this lead alone comes before the queue: its custom fields, its score.
    super::custom_fields::check_write(uow, ENTITY, &row.id, None, &row.custom)?;
    let score = super::routing::apply_score(uow, &mut row)?;
    // Queue behind concurrent creates so that each sees the others for duplicate checks
    // and assignment; on PostgreSQL the queue holds until commit, so it comes late.
    uow.serialize()?;
    let mark = uow.events_mark();
    if p.kind == PrincipalKind::User && p.role == Role::Sales {
        // A sales rep who enters a lead owns it: scored, no claim timer.
        row.owner_id = Some(p.id.clone());
        row.team_id = p.team_id.clone();
        row.status = LeadStatus::Assigned.as_str().into();
        row.assigned_at = Some(uow.now_ms);
        let record = json!({"rule_id": null, "rule_name": null, "matched_conditions": [], "candidates": [],
                            "chosen": p.id, "reason": "entered by its owner", "at": rfc3339(uow.now_ms)});
        row.assignment = Some(record.to_string());
    } else {
        super::routing::route_scored(uow, &mut row, score)?;
    }
    let duplicates = super::dedup::find(uow.conn, &row, super::dedup::Differences::Left)?;
    if !duplicates.is_empty() {
        row.possible_duplicate = true;
        let brief: Vec<Value> = duplicates
            .iter()
            .map(|d| json!({"lead_id": d.lead_id, "similarity": d.similarity, "matched_on": d.matched_on}))
            .collect();
        row.duplicate_candidates = Value::Array(brief.clone()).to_string();
        uow.event(
            "lead.duplicate_suspected",
            ENTITY,
            &row.id,
            json!({"lead_id": row.id, "candidates": brief}),
        );
    }
    leads::insert(uow.conn, &row)?;
    let created = row.clone();
    uow.created(
        mark,
        "lead.created",
        (ENTITY, &row.id),
        BOOKKEEPING,
        move || serde_json::to_value(LeadView::new(created, Vec::new())).unwrap_or_default(),
    );
    Ok(row)
}

fn update_lead(uow: &mut Uow<'_>, old: LeadRow, f: Fields) -> AppResult<LeadRow> {
    let status = LeadStatus::parse(&old.status).unwrap_or(LeadStatus::New);
    if status.is_closed() {
        return Err(AppError::conflict(format!(
            "the lead is {} and can no longer be edited",
            status.as_str()
        )));
    }
    let mut new = LeadRow {
        version: old.version + 1,
        updated_at: uow.now_ms,
        ..f.apply(old.clone())
    };
    super::custom_fields::check_write(uow, ENTITY, &new.id, Some(&old.custom), &new.custom)?;
    if status == LeadStatus::NeedsInfo {
        // Completing a lead re-runs the quality gate (and assignment once it passes).
        super::routing::route(uow, &mut new)?;
    } else {
        super::routing::apply_score(uow, &mut new)?;
    }
    if !leads::update(uow.conn, &new, old.version)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    let changes = diff(&snapshot(&old), &snapshot(&new), BOOKKEEPING);
    if !changes.is_empty() {
        uow.audit(ENTITY, &new.id, "update", &changes);
        uow.event(
            "lead.updated",
            ENTITY,
            &new.id,
            json!({"lead": snapshot(&new), "changes": changes}),
        );
    }
    Ok(new)
}

pub async fn create(svc: &Services, ctx: &Ctx, input: LeadInput) -> AppResult<LeadView> {
    require_role(&ctx.principal, LEAD_WRITERS)?;
    let f = Fields::parse(input)?;
    let p = ctx.principal.clone();
    svc.write(ctx, move |uow| {
        // A lead gets external ids through their own endpoint or an import's upsert, so a
        // new one has none to read.
        Ok(LeadView::new(insert_lead(uow, &p, f)?, Vec::new()))
    })
    .await
}

/// Leads for `POST /leads/{id}/external-refs`.
pub const LINKABLE: refs::Linkable = refs::Linkable {
    entity: ENTITY,
    writers: LEAD_WRITERS,
    visible: |conn, p, id| {
        leads::find_scoped(conn, id, &p.sales_scope())?
            .map(|_| ())
            .ok_or_else(|| AppError::not_found("lead"))
    },
};

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<LeadView> {
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        let row =
            leads::find_scoped(conn, &id, &scope)?.ok_or_else(|| AppError::not_found("lead"))?;
        view(conn, row)
    })
    .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    f: LeadFilter,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<LeadView>> {
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        let rows = leads::list(conn, &f, &scope, before.as_deref(), limit + 1)?;
        let ids: Vec<String> = rows
            .iter()
            .take(limit as usize)
            .map(|r| r.id.clone())
            .collect();
        let mut all_refs = refs::load_many(conn, ENTITY, &ids)?.into_iter();
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            |r| LeadView::new(r, all_refs.next().unwrap_or_default()),
        ))
    })
    .await
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: LeadPatch,
) -> AppResult<LeadView> {
    require_role(&ctx.principal, LEAD_WRITERS)?;
    let scope = ctx.principal.sales_scope();
    svc.write(ctx, move |uow| {
        let old = leads::find_scoped(uow.conn, &id, &scope)?
            .ok_or_else(|| AppError::not_found("lead"))?;
        check_version(if_match, old.version)?;
        let f = Fields::parse(merge_patch(Fields::of_row(&old), p))?;
        let row = update_lead(uow, old, f)?;
        view(uow.conn, row)
    })
    .await
}

/// Soft-deletes a lead (admin only); it disappears from reads, its history stays.
pub async fn delete(svc: &Services, ctx: &Ctx, id: String, if_match: Option<i64>) -> AppResult<()> {
    require_role(&ctx.principal, &[Role::Admin])?;
    svc.write(ctx, move |uow| {
        let old = leads::find_scoped(uow.conn, &id, &crate::domain::role::RowScope::All)?
            .ok_or_else(|| AppError::not_found("lead"))?;
        check_version(if_match, old.version)?;
        let new = LeadRow {
            version: old.version + 1,
            updated_at: uow.now_ms,
            deleted_at: Some(uow.now_ms),
            ..old.clone()
        };
        if !leads::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let change = crate::domain::audit::Change {
            field: "deleted_at".into(),
            old: Value::Null,
            new: rfc3339(uow.now_ms).into(),
        };
        uow.audit(ENTITY, &id, "delete", &[change]);
        uow.event("lead.deleted", ENTITY, &id, json!({"id": id}));
        Ok(())
    })
    .await
}

/// Creates or replaces the lead known to `system` as `external_id`; `true` when created.
pub async fn upsert_by_external(
    svc: &Services,
    ctx: &Ctx,
    system: String,
    external_id: String,
    input: LeadInput,
) -> AppResult<(LeadView, bool)> {
    require_role(&ctx.principal, LEAD_WRITERS)?;
    refs::validate(&system, &external_id)?;
    let f = Fields::parse(input)?;
    refs::retry_upsert(|| {
        let (p, sys, ext, f) = (
            ctx.principal.clone(),
            system.clone(),
            external_id.clone(),
            f.clone(),
        );
        svc.write(ctx, move |uow| {
            let (row, created) = upsert_in(uow, &p, &sys, &ext, f)?;
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
    f: Fields,
) -> AppResult<(LeadRow, bool)> {
    match crate::store::external_refs::resolve(uow.conn, ENTITY, system, external_id)? {
        Some(id) => {
            let old = leads::find_scoped(uow.conn, &id, &p.sales_scope())?
                .ok_or_else(|| AppError::not_found("lead"))?;
            Ok((update_lead(uow, old, f)?, false))
        }
        None => {
            let row = insert_lead(uow, p, f)?;
            refs::link(uow.conn, ENTITY, system, external_id, &row.id, uow.now_ms)?;
            Ok((row, true))
        }
    }
}

/// One imported row inside the import's unit of work: created, or (with an external id
/// already known) updated, exactly as `POST /leads` and the upsert would; `true` when
/// created.
pub fn import_in(
    uow: &mut Uow<'_>,
    p: &Principal,
    input: LeadInput,
    external: Option<(&str, &str)>,
) -> AppResult<bool> {
    let f = Fields::parse(input)?;
    match external {
        Some((system, external_id)) => {
            refs::validate(system, external_id)?;
            Ok(upsert_in(uow, p, system, external_id, f)?.1)
        }
        None => {
            insert_lead(uow, p, f)?;
            Ok(true)
        }
    }
}

/// The audit entries of one lead, oldest first.
pub async fn history(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    after_seq: i64,
    limit: i64,
) -> AppResult<Page<AuditEntryView>> {
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        leads::find_scoped(conn, &id, &scope)?.ok_or_else(|| AppError::not_found("lead"))?;
        let ids = super::dedup::history_ids(conn, &id)?;
        let f = AuditFilter {
            entity: Some(ENTITY.into()),
            entity_ids: Some(ids),
            ..Default::default()
        };
        let rows = journal::list_audit(conn, &f, after_seq, limit + 1)?;
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.seq.to_string(),
            AuditEntryView::from,
        ))
    })
    .await
}
