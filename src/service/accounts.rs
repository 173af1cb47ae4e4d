//! Accounts: customer companies with normalised identifiers and locked master data.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::input::{double_option, from_json_text, patch, to_json_text, Check};
use super::refs::{self, ExternalRef};
use super::{check_version, new_id, Ctx, Page, Services, Uow};
use crate::auth::policy::ACCOUNT_WRITERS;
use crate::auth::{require_role, Principal, PrincipalKind};
use crate::domain::audit::diff;
use crate::domain::company::company_key;
use crate::domain::role::{Role, RowScope};
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult};
use crate::store::accounts::{self, AccountFilter, AccountRow};
use crate::store::{is_unique_violation, users, DbConnection};

const ENTITY: &str = "account";
const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at", "external_refs"];
/// Fields only an admin may change once they hold a value.
const MASTER_DATA: &[&str] = &["uscc", "legal_name", "legal_representative"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub legal_name: Option<String>,
    /// 统一社会信用代码, normalised (upper-case, half-width).
    pub uscc: Option<String>,
    pub legal_representative: Option<String>,
    pub industry: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub tier: Option<String>,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    /// Values of the custom fields defined for account (`GET /custom-fields?entity=account`).
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
    pub external_refs: Vec<ExternalRef>,
    /// Renewal signals in force (repeated repairs, a contract or warranty running out);
    /// on `GET /accounts/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signals: Option<Vec<super::renewal::SignalView>>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl AccountView {
    fn new(r: AccountRow, external_refs: Vec<ExternalRef>) -> Self {
        AccountView {
            id: r.id,
            name: r.name,
            legal_name: r.legal_name,
            uscc: r.uscc,
            legal_representative: r.legal_representative,
            industry: r.industry,
            province: r.province,
            city: r.city,
            address: r.address,
            phone: r.phone,
            email: r.email,
            website: r.website,
            tier: r.tier,
            signals: None,
            owner_id: r.owner_id,
            team_id: r.team_id,
            custom: from_json_text(&r.custom),
            external_refs,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// Create body (also the body of the upsert by external id, which replaces these fields).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "苏州恒锐精工有限公司", "legal_name": "苏州恒锐精工有限公司", "uscc": "91350100M000100Y43",
    "legal_representative": "王强", "industry": "新能源汽车", "province": "江苏", "city": "苏州",
    "phone": "+86 512-6666-8888", "tier": "A", "custom": {}
}))]
pub struct AccountInput {
    pub name: String,
    pub legal_name: Option<String>,
    pub uscc: Option<String>,
    pub legal_representative: Option<String>,
    pub industry: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub tier: Option<String>,
    /// Managers, directors and admins may name the owner; others own what they create.
    pub owner_id: Option<String>,
    /// Values of the custom fields defined for accounts; free-form until one is defined, then
    /// strict: unknown keys and wrong types are refused (422 naming `custom.<key>`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tier": "A", "website": "https://www.hengrui.cn", "address": "苏州工业园区星湖街 328 号"}))]
pub struct AccountPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub legal_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub uscc: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub legal_representative: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub province: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub tier: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub owner_id: Option<Option<String>>,
    /// Replaces `custom{{}}` (checked like a create, except that values it keeps unchanged).
    #[schema(value_type = Option<Object>)]
    pub custom: Option<Map<String, Value>>,
}

/// The editable fields of an account, validated and normalised.
#[derive(Debug, Clone)]
struct Fields {
    name: String,
    legal_name: Option<String>,
    uscc: Option<String>,
    legal_representative: Option<String>,
    industry: Option<String>,
    province: Option<String>,
    city: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    website: Option<String>,
    tier: Option<String>,
    owner_id: Option<String>,
    custom: Map<String, Value>,
}

impl Fields {
    fn parse(i: AccountInput) -> AppResult<Fields> {
        let mut c = Check::default();
        let website = c.text("website", i.website, 200);
        if let Some(w) = &website {
            if !(w.starts_with("http://") || w.starts_with("https://"))
                || w.contains(char::is_whitespace)
            {
                c.fail("website", "invalid_format", "an http(s) URL");
            }
        }
        let f = Fields {
            name: c.required("name", Some(i.name), 200),
            legal_name: c.text("legal_name", i.legal_name, 200),
            uscc: c.uscc("uscc", i.uscc),
            legal_representative: c.text("legal_representative", i.legal_representative, 100),
            industry: c.text("industry", i.industry, 100),
            province: c.text("province", i.province, 50),
            city: c.text("city", i.city, 50),
            address: c.text("address", i.address, 500),
            phone: c.phone("phone", i.phone),
            email: c.email("email", i.email).map(|e| e.into_string()),
            website,
            tier: c.text("tier", i.tier, 20),
            owner_id: c.text("owner_id", i.owner_id, 64),
            custom: c.custom("custom", i.custom),
        };
        c.finish()?;
        Ok(f)
    }

    fn of_row(r: &AccountRow) -> AccountInput {
        AccountInput {
            name: r.name.clone(),
            legal_name: r.legal_name.clone(),
            uscc: r.uscc.clone(),
            legal_representative: r.legal_representative.clone(),
            industry: r.industry.clone(),
            province: r.province.clone(),
            city: r.city.clone(),
            address: r.address.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            website: r.website.clone(),
            tier: r.tier.clone(),
            owner_id: r.owner_id.clone(),
            custom: from_json_text(&r.custom),
        }
    }

    fn apply(self, r: AccountRow, team_id: Option<String>) -> AccountRow {
        AccountRow {
            name_key: company_key(&self.name),
            name: self.name,
            legal_name: self.legal_name,
            uscc: self.uscc,
            legal_representative: self.legal_representative,
            industry: self.industry,
            province: self.province,
            city: self.city,
            address: self.address,
            phone: self.phone,
            email: self.email,
            website: self.website,
            tier: self.tier,
            owner_id: self.owner_id,
            team_id,
            custom: to_json_text(&self.custom),
            ..r
        }
    }
}

fn merge_patch(current: AccountInput, p: AccountPatch) -> AccountInput {
    AccountInput {
        name: p.name.unwrap_or(current.name),
        legal_name: patch(current.legal_name, p.legal_name),
        uscc: patch(current.uscc, p.uscc),
        legal_representative: patch(current.legal_representative, p.legal_representative),
        industry: patch(current.industry, p.industry),
        province: patch(current.province, p.province),
        city: patch(current.city, p.city),
        address: patch(current.address, p.address),
        phone: patch(current.phone, p.phone),
        email: patch(current.email, p.email),
        website: patch(current.website, p.website),
        tier: patch(current.tier, p.tier),
        owner_id: patch(current.owner_id, p.owner_id),
        custom: p.custom.unwrap_or(current.custom),
    }
}

fn may_assign_owners(p: &Principal) -> bool {
    p.is(&[
        Role::Admin,
        Role::Director,
        Role::Manager,
        Role::Integration,
    ])
}

/// The owner a new account gets: the named one when the caller may name owners, else the
/// creating sales rep or manager.
fn owner_for_create(p: &Principal, requested: Option<String>) -> AppResult<Option<String>> {
    match requested {
        Some(o) if o != p.id && !may_assign_owners(p) => Err(AppError::forbidden(
            "only managers, directors and admins assign accounts to others",
        )),
        Some(o) => Ok(Some(o)),
        None if p.kind == PrincipalKind::User && p.is(&[Role::Sales, Role::Manager]) => {
            Ok(Some(p.id.clone()))
        }
        None => Ok(None),
    }
}

/// Resolves the owner to an active user and returns their team.
fn owner_team(conn: &mut DbConnection, owner_id: Option<&str>) -> AppResult<Option<String>> {
    match owner_id {
        None => Ok(None),
        Some(o) => match users::find(conn, o)? {
            Some(u) if u.active => Ok(u.team_id),
            _ => Err(AppError::field(
                "owner_id",
                "not_found",
                "no such active user",
            )),
        },
    }
}

fn duplicate_uscc(e: diesel::result::Error) -> AppError {
    if is_unique_violation(&e) {
        AppError::duplicate("an account with this unified social credit code exists")
    } else {
        e.into()
    }
}

fn check_uscc_free(conn: &mut DbConnection, uscc: Option<&str>, own_id: &str) -> AppResult<()> {
    if let Some(u) = uscc {
        if let Some(other) = accounts::find_by_uscc(conn, u)? {
            if other.id != own_id {
                return Err(AppError::duplicate(format!(
                    "account {} already has the unified social credit code {u}",
                    other.id
                )));
            }
        }
    }
    Ok(())
}

fn insert_account(uow: &mut Uow<'_>, p: &Principal, f: Fields) -> AppResult<AccountRow> {
    let id = new_id();
    check_uscc_free(uow.conn, f.uscc.as_deref(), &id)?;
    let team_id = owner_team(uow.conn, f.owner_id.as_deref())?;
    let blank = AccountRow {
        id,
        name: String::new(),
        name_key: String::new(),
        legal_name: None,
        uscc: None,
        legal_representative: None,
        industry: None,
        province: None,
        city: None,
        address: None,
        phone: None,
        email: None,
        website: None,
        tier: None,
        owner_id: None,
        team_id: None,
        custom: "{}".into(),
        version: 1,
        created_at: uow.now_ms,
        updated_at: uow.now_ms,
        deleted_at: None,
    };
    let row = f.apply(blank, team_id);
    super::custom_fields::check_write(uow, ENTITY, &row.id, None, &row.custom)?;
    accounts::insert(uow.conn, &row).map_err(duplicate_uscc)?;
    let view = AccountView::new(row.clone(), Vec::new());
    let snapshot = serde_json::to_value(&view).unwrap_or_default();
    uow.audit_created(ENTITY, &row.id, &snapshot, BOOKKEEPING);
    uow.event(
        "account.created",
        ENTITY,
        &row.id,
        json!({"account": snapshot, "created_by": p.id}),
    );
    Ok(row)
}

/// Replaces an account's editable fields, enforcing the master-data lock and the owner rule.
fn update_account(
    uow: &mut Uow<'_>,
    p: &Principal,
    old: AccountRow,
    f: Fields,
) -> AppResult<AccountRow> {
    let locked = [
        ("uscc", &old.uscc, &f.uscc),
        ("legal_name", &old.legal_name, &f.legal_name),
        (
            "legal_representative",
            &old.legal_representative,
            &f.legal_representative,
        ),
    ];
    for (field, before, after) in locked {
        if before.is_some() && before != after && p.role != Role::Admin {
            return Err(AppError::forbidden(format!(
                "`{field}` is master data: only an admin changes it once set ({})",
                MASTER_DATA.join(", ")
            )));
        }
    }
    if f.owner_id != old.owner_id && !may_assign_owners(p) {
        return Err(AppError::forbidden(
            "only managers, directors and admins re-assign accounts",
        ));
    }
    check_uscc_free(uow.conn, f.uscc.as_deref(), &old.id)?;
    let team_id = if f.owner_id == old.owner_id {
        old.team_id.clone()
    } else {
        owner_team(uow.conn, f.owner_id.as_deref())?
    };
    let new = AccountRow {
        version: old.version + 1,
        updated_at: uow.now_ms,
        ..f.apply(old.clone(), team_id)
    };
    super::custom_fields::check_write(uow, ENTITY, &new.id, Some(&old.custom), &new.custom)?;
    if !accounts::update(uow.conn, &new, old.version).map_err(duplicate_uscc)? {
        return Err(AppError::version_mismatch(old.version + 1));
    }
    let before = serde_json::to_value(AccountView::new(old, Vec::new())).unwrap_or_default();
    let after = serde_json::to_value(AccountView::new(new.clone(), Vec::new())).unwrap_or_default();
    let changes = diff(&before, &after, BOOKKEEPING);
    uow.audit(ENTITY, &new.id, "update", &changes);
    uow.event(
        "account.updated",
        ENTITY,
        &new.id,
        json!({"account": after, "changes": changes}),
    );
    Ok(new)
}

fn view(conn: &mut DbConnection, row: AccountRow) -> AppResult<AccountView> {
    let r = refs::load(conn, ENTITY, &row.id)?;
    Ok(AccountView::new(row, r))
}

pub async fn create(svc: &Services, ctx: &Ctx, input: AccountInput) -> AppResult<AccountView> {
    require_role(&ctx.principal, ACCOUNT_WRITERS)?;
    let p = ctx.principal.clone();
    let mut fields = Fields::parse(input)?;
    fields.owner_id = owner_for_create(&p, fields.owner_id)?;
    svc.write(ctx, move |uow| {
        let row = insert_account(uow, &p, fields)?;
        view(uow.conn, row)
    })
    .await
}

/// Accounts for `POST /accounts/{id}/external-refs`.
pub const LINKABLE: refs::Linkable = refs::Linkable {
    entity: ENTITY,
    writers: ACCOUNT_WRITERS,
    visible: |conn, p, id| {
        accounts::find_scoped(conn, id, &p.sales_scope())?
            .map(|_| ())
            .ok_or_else(|| AppError::not_found("account"))
    },
};

pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<AccountView> {
    let scope = ctx.principal.sales_scope();
    let now = svc.now().timestamp_millis();
    svc.read(move |conn| {
        let row = accounts::find_scoped(conn, &id, &scope)?
            .ok_or_else(|| AppError::not_found("account"))?;
        let mut v = view(conn, row)?;
        v.signals = Some(super::renewal::live(conn, &id, now)?);
        Ok(v)
    })
    .await
}

pub async fn list(
    svc: &Services,
    ctx: &Ctx,
    f: AccountFilter,
    before: Option<String>,
    limit: i64,
) -> AppResult<Page<AccountView>> {
    let scope = ctx.principal.sales_scope();
    svc.read(move |conn| {
        let rows = accounts::list(conn, &f, &scope, before.as_deref(), limit + 1)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut all_refs = refs::load_many(conn, ENTITY, &ids)?.into_iter();
        Ok(Page::from_rows(
            rows,
            limit,
            |r| r.id.clone(),
            |r| AccountView::new(r, all_refs.next().unwrap_or_default()),
        ))
    })
    .await
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: AccountPatch,
) -> AppResult<AccountView> {
    require_role(&ctx.principal, ACCOUNT_WRITERS)?;
    let principal = ctx.principal.clone();
    let scope = principal.sales_scope();
    svc.write(ctx, move |uow| {
        let old = accounts::find_scoped(uow.conn, &id, &scope)?
            .ok_or_else(|| AppError::not_found("account"))?;
        check_version(if_match, old.version)?;
        let fields = Fields::parse(merge_patch(Fields::of_row(&old), p))?;
        let row = update_account(uow, &principal, old, fields)?;
        view(uow.conn, row)
    })
    .await
}

/// Creates or replaces the account known to `system` as `external_id`; `true` when created.
pub async fn upsert_by_external(
    svc: &Services,
    ctx: &Ctx,
    system: String,
    external_id: String,
    input: AccountInput,
) -> AppResult<(AccountView, bool)> {
    require_role(&ctx.principal, ACCOUNT_WRITERS)?;
    refs::validate(&system, &external_id)?;
    let p = ctx.principal.clone();
    let fields = Fields::parse(input)?;
    let requested_owner = fields.owner_id.clone();
    refs::retry_upsert(|| {
        let (p2, sys, ext, f, req_owner) = (
            p.clone(),
            system.clone(),
            external_id.clone(),
            fields.clone(),
            requested_owner.clone(),
        );
        svc.write(ctx, move |uow| {
            let (row, created) = upsert_in(uow, &p2, &sys, &ext, f, req_owner)?;
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
    mut f: Fields,
    requested_owner: Option<String>,
) -> AppResult<(AccountRow, bool)> {
    match refs_resolve(uow.conn, system, external_id)? {
        Some(id) => {
            let old = accounts::find_scoped(uow.conn, &id, &p.sales_scope())?
                .ok_or_else(|| AppError::not_found("account"))?;
            if requested_owner.is_none() {
                f.owner_id = old.owner_id.clone();
            }
            Ok((update_account(uow, p, old, f)?, false))
        }
        None => {
            f.owner_id = owner_for_create(p, requested_owner)?;
            let row = insert_account(uow, p, f)?;
            refs::link(uow.conn, ENTITY, system, external_id, &row.id, uow.now_ms)?;
            Ok((row, true))
        }
    }
}

/// One imported row inside the import's unit of work, as `POST /accounts` or the upsert
/// would handle it; `true` when created.
pub fn import_in(
    uow: &mut Uow<'_>,
    p: &Principal,
    input: AccountInput,
    external: Option<(&str, &str)>,
) -> AppResult<bool> {
    let mut f = Fields::parse(input)?;
    let requested_owner = f.owner_id.clone();
    match external {
        Some((system, external_id)) => {
            refs::validate(system, external_id)?;
            Ok(upsert_in(uow, p, system, external_id, f, requested_owner)?.1)
        }
        None => {
            f.owner_id = owner_for_create(p, requested_owner)?;
            insert_account(uow, p, f)?;
            Ok(true)
        }
    }
}

fn refs_resolve(
    conn: &mut DbConnection,
    system: &str,
    external_id: &str,
) -> AppResult<Option<String>> {
    Ok(crate::store::external_refs::resolve(
        conn,
        ENTITY,
        system,
        external_id,
    )?)
}

/// Whether a row scope lets the caller see this account (used by contacts).
pub fn visible(
    conn: &mut DbConnection,
    id: &str,
    scope: &RowScope,
) -> AppResult<Option<AccountRow>> {
    Ok(accounts::find_scoped(conn, id, scope)?)
}

/// Creates an account inside an open unit of work (lead conversion); the owner is taken
/// as given.
pub fn create_in(uow: &mut Uow<'_>, p: &Principal, input: AccountInput) -> AppResult<AccountRow> {
    let fields = Fields::parse(input)?;
    insert_account(uow, p, fields)
}
