//! Contacts: the people at an account, with their decision-chain role.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::input::{double_option, from_json_text, patch, to_json_text, Check};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::policy::ACCOUNT_WRITERS;
use crate::auth::require_role;
use crate::domain::audit::diff;
use crate::domain::contact::DecisionRole;
use crate::domain::role::RowScope;
use crate::domain::time::{rfc3339, to_millis};
use crate::error::{AppError, AppResult};
use crate::store::contacts::{self, ContactFilter, ContactRow};

const ENTITY: &str = "contact";
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactView {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub decision_role: Option<DecisionRole>,
    pub concerns: Vec<String>,
    pub last_contacted_at: Option<String>,
    /// Values of the custom fields defined for contact (`GET /custom-fields?entity=contact`).
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<ContactRow> for ContactView {
    fn from(r: ContactRow) -> Self {
        ContactView {
            id: r.id,
            account_id: r.account_id,
            name: r.name,
            title: r.title,
            phone: r.phone,
            email: r.email,
            decision_role: r
                .decision_role
                .and_then(|d| serde_json::from_value(Value::String(d)).ok()),
            concerns: from_json_text(&r.concerns),
            last_contacted_at: r.last_contacted_at.map(rfc3339),
            custom: from_json_text(&r.custom),
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "account_id": "0193a1b2-0000-7000-8000-000000000001", "name": "李娜", "title": "采购总监",
    "phone": "+86 138-0013-8000", "email": "li.na@hengrui.cn", "decision_role": "decision_maker",
    "concerns": ["交期", "价格"]
}))]
pub struct ContactCreate {
    pub account_id: String,
    pub name: String,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub decision_role: Option<DecisionRole>,
    #[serde(default)]
    pub concerns: Vec<String>,
    pub last_contacted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Values of the custom fields defined for contacts; free-form until one is defined, then
    /// strict: unknown keys and wrong types are refused (422 naming `custom.<key>`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "副总经理", "decision_role": "decision_maker", "concerns": ["交期"]}))]
pub struct ContactPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub decision_role: Option<Option<DecisionRole>>,
    pub concerns: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub last_contacted_at: Option<Option<chrono::DateTime<chrono::Utc>>>,
    /// Replaces `custom{{}}` (checked like a create, except that values it keeps unchanged).
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Map<String, Value>>,
}

struct Fields {
    name: String,
    title: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    decision_role: Option<DecisionRole>,
    concerns: Vec<String>,
    last_contacted_at: Option<i64>,
    custom: Map<String, Value>,
}

#[allow(clippy::too_many_arguments)]
fn parse(
    name: String,
    title: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    decision_role: Option<DecisionRole>,
    concerns: Vec<String>,
    last_contacted_at: Option<i64>,
    custom: Map<String, Value>,
) -> AppResult<Fields> {
    let mut c = Check::default();
    if concerns.len() > 50 {
        c.fail("concerns", "too_many", "at most 50 concerns");
    }
    let concerns = concerns
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| c.text(&format!("concerns[{i}]"), Some(s), 200))
        .collect();
    let f = Fields {
        name: c.required("name", Some(name), 100),
        title: c.text("title", title, 100),
        phone: c.phone("phone", phone),
        email: c.email("email", email).map(|e| e.into_string()),
        decision_role,
        concerns,
        last_contacted_at,
        custom: c.custom("custom", custom),
    };
    c.finish()?;
    Ok(f)
}

impl Fields {
    fn apply(self, r: ContactRow) -> ContactRow {
        ContactRow {
            name: self.name,
            title: self.title,
            phone: self.phone,
            email: self.email,
            decision_role: self.decision_role.map(|d| d.as_str().to_string()),
            concerns: to_json_text(&self.concerns),
            last_contacted_at: self.last_contacted_at,
            custom: to_json_text(&self.custom),
            ..r
        }
    }
}

pub async fn create(svc: &Services, ctx: &Ctx, req: ContactCreate) -> AppResult<ContactView> {
    require_role(&ctx.principal, ACCOUNT_WRITERS)?;
    let scope = ctx.principal.sales_scope();
    svc.write(ctx, move |uow| create_in(uow, &scope, req)).await
}

/// Creates a contact inside an open unit of work, on an account visible in `scope`.
pub fn create_in(
    uow: &mut Uow<'_>,
    scope: &RowScope,
    req: ContactCreate,
) -> AppResult<ContactView> {
    let f = parse(
        req.name,
        req.title,
        req.phone,
        req.email,
        req.decision_role,
        req.concerns,
        req.last_contacted_at.map(to_millis),
        req.custom,
    )?;
    let account_id = req.account_id;
    if super::accounts::visible(uow.conn, &account_id, scope)?.is_none() {
        return Err(AppError::field(
            "account_id",
            "not_found",
            "no such account",
        ));
    }
    let blank = ContactRow {
        id: new_id(),
        account_id,
        name: String::new(),
        title: None,
        phone: None,
        email: None,
        decision_role: None,
        concerns: "[]".into(),
        last_contacted_at: None,
        custom: "{}".into(),
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
        deleted_at: None,
    };
    let row = f.apply(blank);
    super::custom_fields::check_write(uow, ENTITY, &row.id, None, &row.custom)?;
    contacts::insert(uow.conn, &row)?;
    let view = ContactView::from(row);
    let snapshot = serde_json::to_value(&view).unwrap_or_default();
    uow.audit_created(ENTITY, &view.id, &snapshot, BOOKKEEPING);
    uow.event("contact.created", ENTITY, &view.id, snapshot);
    Ok(view)
}

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<ContactView> {
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        contacts::find_scoped(conn, &id, &scope)?
            .map(ContactView::from)
            .ok_or_else(|| AppError::not_found("contact"))
    })
    .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    f: ContactFilter,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<ContactView>> {
    let scope = ctx.principal.sales_scope();
    let rows = svc
        .read(move |conn| {
            Ok(contacts::list(
                conn,
                &f,
                &scope,
                before.as_deref(),
                limit + 1,
            )?)
        })
        .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |r| r.id.clone(),
        ContactView::from,
    ))
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: ContactPatch,
) -> AppResult<ContactView> {
    require_role(&ctx.principal, ACCOUNT_WRITERS)?;
    let scope = ctx.principal.sales_scope();
    svc.write(ctx, move |uow| {
        let old = contacts::find_scoped(uow.conn, &id, &scope)?
            .ok_or_else(|| AppError::not_found("contact"))?;
        check_version(if_match, old.version)?;
        let current = ContactView::from(old.clone());
        let f = parse(
            p.name.unwrap_or(current.name.clone()),
            patch(current.title.clone(), p.title),
            patch(current.phone.clone(), p.phone),
            patch(current.email.clone(), p.email),
            patch(current.decision_role, p.decision_role),
            p.concerns.unwrap_or(current.concerns.clone()),
            patch(
                old.last_contacted_at,
                p.last_contacted_at.map(|o| o.map(to_millis)),
            ),
            p.custom.unwrap_or(current.custom.clone()),
        )?;
        let new = ContactRow {
            version: old.version + 1,
            updated_at: uow.now_ms,
            ..f.apply(old.clone())
        };
        super::custom_fields::check_write(uow, ENTITY, &new.id, Some(&old.custom), &new.custom)?;
        if !contacts::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let after = ContactView::from(new);
        let after_json = serde_json::to_value(&after).unwrap_or_default();
        let changes = diff(
            &serde_json::to_value(&current).unwrap_or_default(),
            &after_json,
            BOOKKEEPING,
        );
        uow.audit(ENTITY, &after.id, "update", &changes);
        uow.event(
            "contact.updated",
            ENTITY,
            &after.id,
            json!({"contact": after_json, "changes": changes}),
        );
        Ok(after)
    })
    .await
}

/// Soft-deletes a contact (history and audit stay).
pub async fn delete(svc: &Services, ctx: &Ctx, id: String, if_match: Option<i64>) -> AppResult<()> {
    require_role(&ctx.principal, ACCOUNT_WRITERS)?;
    let scope = ctx.principal.sales_scope();
    svc.write(ctx, move |uow| {
        let old = contacts::find_scoped(uow.conn, &id, &scope)?
            .ok_or_else(|| AppError::not_found("contact"))?;
        check_version(if_match, old.version)?;
        let new = ContactRow {
            version: old.version + 1,
            updated_at: uow.now_ms,
            deleted_at: Some(uow.now_ms),
            ..old.clone()
        };
        if !contacts::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        let change = crate::domain::audit::Change {
            field: "deleted_at".into(),
            old: Value::Null,
            new: rfc3339(uow.now_ms).into(),
        };
        uow.audit(ENTITY, &id, "delete", &[change]);
        uow.event(
            "contact.deleted",
            ENTITY,
            &id,
            json!({"id": id, "account_id": old.account_id}),
        );
        Ok(())
    })
    .await
}
