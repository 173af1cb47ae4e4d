//! Custom fields: definitions (admin), the check every write of a record's `custom{}` goes
//! through, and the dry run that tells what a new or changed definition would break.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::input::{double_option, from_json_text, to_json_text};
use super::{check_version, new_id, Ctx, Services, Uow};
use crate::auth::require_role;
use crate::domain::audit::diff;
use crate::domain::custom_field::{
    self as rules, definition_problems, FieldRule, FieldType, ENTITIES,
};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::custom_fields::{self as store, CustomFieldRow, NewCustomWrite};
use crate::store::DbConnection;

const ENTITY: &str = "custom_field";

/// How far back the dry run looks at the writes of each client.
pub const DRY_RUN_WINDOW_SECS: i64 = 7 * 24 * 3600;

/// How long the write log is kept (the dry-run window and a day of slack).
pub const WRITE_LOG_RETENTION_SECS: i64 = DRY_RUN_WINDOW_SECS + 24 * 3600;

const NOTICE: &str = "a required field binds new writes: creates must carry it and updates may \
                      not remove it; existing records without a value stay valid until backfilled";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"entity": "lead", "key": "region", "label": "大区", "type": "enum",
    "required": true, "options": ["华东", "华南", "华北"]}))]
pub struct CustomFieldInput {
    /// `lead`, `account`, `contact`, `opportunity`, `contract` or `work_order`.
    pub entity: String,
    /// The key in `custom{}`: 1–64 characters of a-z, 0-9 and _, starting with a letter.
    pub key: String,
    /// What front ends show (1–100 characters).
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Creates must carry a value (default false).
    #[serde(default)]
    pub required: bool,
    /// The allowed values of an `enum` field (1–200); only enum fields have options.
    #[serde(default)]
    pub options: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"required": false}))]
pub struct CustomFieldPatch {
    pub label: Option<String>,
    pub required: Option<bool>,
    /// Replaces the options of an enum field.
    pub options: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a1b2-0000-7000-8000-0000000000c1", "entity": "lead", "key": "region",
    "label": "大区", "type": "enum", "required": true, "options": ["华东", "华南", "华北"], "version": 1,
    "created_by": "0193a1b2-0000-7000-8000-000000000001",
    "created_at": "2026-11-23T02:00:00.000Z", "updated_at": "2026-11-23T02:00:00.000Z"}))]
pub struct CustomFieldView {
    pub id: String,
    pub entity: String,
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub required: bool,
    pub options: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub version: i64,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// On the answer to a write that makes a field required: what `required` binds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl CustomFieldView {
    fn new(r: CustomFieldRow) -> CustomFieldView {
        CustomFieldView {
            field_type: FieldType::parse(&r.field_type).unwrap_or(FieldType::Text),
            options: from_json_text(&r.options),
            id: r.id,
            entity: r.entity,
            key: r.field_key,
            label: r.label,
            required: r.required,
            description: r.description,
            version: r.version,
            created_by: r.created_by,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            notice: None,
        }
    }

    fn with_notice(mut self) -> CustomFieldView {
        if self.required {
            self.notice = Some(NOTICE.into());
        }
        self
    }
}

fn rule_of(r: &CustomFieldRow) -> FieldRule {
    FieldRule {
        key: r.field_key.clone(),
        field_type: FieldType::parse(&r.field_type).unwrap_or(FieldType::Text),
        required: r.required,
        options: from_json_text(&r.options),
    }
}

/// The rules of an entity's custom fields (empty: `custom{}` is free-form).
pub fn rules_for(conn: &mut DbConnection, entity: &str) -> AppResult<Vec<FieldRule>> {
    Ok(store::list(conn, Some(entity))?
        .iter()
        .map(rule_of)
        .collect())
}

/// Checks the `custom{}` a write leaves on a record against the entity's definitions
/// (`before`: the stored JSON on an update) and logs what it wrote and which client sent
/// it, for the dry run of later changes. 422 naming each refused `custom.<key>`.
pub fn check_write(
    uow: &mut Uow<'_>,
    entity: &str,
    entity_id: &str,
    before: Option<&str>,
    after: &str,
) -> AppResult<()> {
    let before: Option<Map<String, Value>> = before.map(from_json_text);
    let after: Map<String, Value> = from_json_text(after);
    let problems = rules::check(&uow.custom_rules(entity)?, before.as_ref(), &after);
    if !problems.is_empty() {
        return Err(AppError::validation(
            problems
                .into_iter()
                .map(|(field, code, message)| FieldError {
                    field,
                    code: code.into(),
                    message,
                })
                .collect(),
        ));
    }
    let written = rules::written(before.as_ref(), &after);
    if before.is_some() && written.is_empty() {
        return Ok(());
    }
    store::log_write(
        uow.conn,
        &NewCustomWrite {
            entity,
            entity_id,
            op: if before.is_some() { "update" } else { "create" },
            client: &uow.client,
            custom: &to_json_text(&written),
            at: uow.now_ms,
        },
    )?;
    Ok(())
}

fn check_entity(entity: &str) -> AppResult<()> {
    if ENTITIES.contains(&entity) {
        Ok(())
    } else {
        Err(AppError::field(
            "entity",
            "invalid_value",
            format!("one of {}", ENTITIES.join(", ")),
        ))
    }
}

fn check_shape(i: &CustomFieldInput) -> AppResult<()> {
    check_entity(&i.entity)?;
    let errors: Vec<FieldError> = definition_problems(&i.key, &i.label, i.field_type, &i.options)
        .into_iter()
        .map(|(field, message)| FieldError {
            field,
            code: "invalid".into(),
            message,
        })
        .collect();
    if let Some(d) = &i.description {
        if d.chars().count() > 500 {
            return Err(AppError::field(
                "description",
                "too_long",
                "at most 500 characters",
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::validation(errors))
    }
}

fn announce(uow: &mut Uow<'_>, row: &CustomFieldRow, action: &str, old: Option<&CustomFieldRow>) {
    let snap = |r: &CustomFieldRow| {
        serde_json::to_value(CustomFieldView::new(r.clone())).unwrap_or_default()
    };
    let before = old.map(snap).unwrap_or(json!({}));
    let after = if action == "delete" {
        json!({})
    } else {
        snap(row)
    };
    let changes = diff(&before, &after, &["version", "updated_at", "created_at"]);
    uow.audit(ENTITY, &row.id, action, &changes);
    let key = format!("custom_fields.{}.{}", row.entity, row.field_key);
    uow.event(
        "config.changed",
        "config",
        &key,
        json!({"key": key, "version": row.version, "action": action, "changes": changes}),
    );
}

pub async fn create(svc: &Services, ctx: &Ctx, i: CustomFieldInput) -> AppResult<CustomFieldView> {
    require_role(&ctx.principal, &[Role::Admin])?;
    check_shape(&i)?;
    let label = i.label.trim().to_string();
    svc.write(ctx, move |uow| {
        if store::find_key(uow.conn, &i.entity, &i.key)?.is_some() {
            return Err(AppError::duplicate(format!(
                "{} already has a custom field `{}`",
                i.entity, i.key
            )));
        }
        let row = CustomFieldRow {
            id: new_id(),
            entity: i.entity,
            field_key: i.key,
            label,
            field_type: i.field_type.as_str().into(),
            required: i.required,
            options: to_json_text(&i.options),
            description: i.description.filter(|d| !d.trim().is_empty()),
            version: 1,
            created_by: uow.actor().to_string(),
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
        };
        store::insert(uow.conn, &row).map_err(|e| {
            if crate::store::is_unique_violation(&e) {
                AppError::duplicate("that custom field already exists")
            } else {
                e.into()
            }
        })?;
        announce(uow, &row, "create", None);
        Ok(CustomFieldView::new(row).with_notice())
    })
    .await
}

pub async fn list(
    svc: &Services,
    _ctx: &Ctx,
    entity: Option<String>,
) -> AppResult<Vec<CustomFieldView>> {
    if let Some(e) = &entity {
        check_entity(e)?;
    }
    svc.read(move |conn| {
        Ok(store::list(conn, entity.as_deref())?
            .into_iter()
            .map(CustomFieldView::new)
            .collect())
    })
    .await
}

pub async fn get(svc: &Services, _ctx: &Ctx, id: String) -> AppResult<CustomFieldView> {
    svc.read(move |conn| {
        store::find(conn, &id)?
            .map(CustomFieldView::new)
            .ok_or_else(|| AppError::not_found("custom field"))
    })
    .await
}

pub async fn update(
    svc: &Services,
    ctx: &Ctx,
    id: String,
    if_match: Option<i64>,
    p: CustomFieldPatch,
) -> AppResult<CustomFieldView> {
    require_role(&ctx.principal, &[Role::Admin])?;
    svc.write(ctx, move |uow| {
        let old = store::find(uow.conn, &id)?.ok_or_else(|| AppError::not_found("custom field"))?;
        check_version(if_match, old.version)?;
        let field_type = FieldType::parse(&old.field_type).unwrap_or(FieldType::Text);
        let input = CustomFieldInput {
            entity: old.entity.clone(),
            key: old.field_key.clone(),
            label: p.label.unwrap_or(old.label.clone()),
            field_type,
            required: p.required.unwrap_or(old.required),
            options: p.options.unwrap_or_else(|| from_json_text(&old.options)),
            description: super::input::patch(old.description.clone(), p.description),
        };
        check_shape(&input)?;
        let new = CustomFieldRow {
            label: input.label.trim().to_string(),
            required: input.required,
            options: to_json_text(&input.options),
            description: input.description.filter(|d| !d.trim().is_empty()),
            version: old.version + 1,
            updated_at: uow.now_ms,
            ..old.clone()
        };
        if !store::update(uow.conn, &new, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        announce(uow, &new, "update", Some(&old));
        Ok(CustomFieldView::new(new).with_notice())
    })
    .await
}

/// Removes a definition; values already stored stay in the records, and the key is no
/// longer accepted in writes while the entity has other definitions.
pub async fn delete(svc: &Services, ctx: &Ctx, id: String, if_match: Option<i64>) -> AppResult<()> {
    require_role(&ctx.principal, &[Role::Admin])?;
    svc.write(ctx, move |uow| {
        let old = store::find(uow.conn, &id)?.ok_or_else(|| AppError::not_found("custom field"))?;
        check_version(if_match, old.version)?;
        if !store::delete(uow.conn, &id, old.version)? {
            return Err(AppError::version_mismatch(old.version + 1));
        }
        announce(uow, &old, "delete", Some(&old));
        Ok(())
    })
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientRejections {
    /// `api_key:<name>`, `user_agent:<User-Agent>`, `user:<username>`, or
    /// `import:<username>` for the rows of a user's import.
    pub client: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"entity": "lead", "key": "region", "change": "create", "violating_records": 1520,
    "sample_ids": ["0193a1b2-0000-7000-8000-00000000a001"], "recent_writes_checked": 812,
    "recent_writes_rejected": [{"client": "user_agent:FieldApp/3.2 (iOS 17)", "count": 311},
                               {"client": "api_key:erp-sync", "count": 40}],
    "window_secs": 604800, "applies_to_existing_records": false, "notice": NOTICE}))]
pub struct DryRunReport {
    pub entity: String,
    pub key: String,
    /// `create` (no definition with this key yet) or `update` (the body replaces it).
    pub change: String,
    /// Stored records that break the definition (missing a required value, or a value of
    /// another type or outside the options).
    pub violating_records: i64,
    /// Up to 10 of them.
    pub sample_ids: Vec<String>,
    /// Successful writes of the window that were checked.
    pub recent_writes_checked: i64,
    /// Writes of the last `window_secs` that would have been refused, by client, most first.
    pub recent_writes_rejected: Vec<ClientRejections>,
    pub window_secs: i64,
    /// Always false: a definition never rewrites or invalidates stored records.
    pub applies_to_existing_records: bool,
    pub notice: String,
}

/// What a definition would break, without saving it: stored records that violate it and
/// the writes of the last 7 days, by client, that it would have refused.
pub async fn dry_run(svc: &Services, ctx: &Ctx, i: CustomFieldInput) -> AppResult<DryRunReport> {
    require_role(&ctx.principal, &[Role::Admin])?;
    check_shape(&i)?;
    let since = svc.now().timestamp_millis() - DRY_RUN_WINDOW_SECS * 1000;
    svc.read(move |conn| {
        let existing = store::find_key(conn, &i.entity, &i.key)?;
        let rule = FieldRule {
            key: i.key.clone(),
            field_type: i.field_type,
            required: i.required,
            options: i.options.clone(),
        };
        let (mut violating, mut samples) = (0i64, Vec::new());
        let mut after = String::new();
        loop {
            let batch = store::records_after(conn, &i.entity, &after, 1000)?;
            let Some((last, _)) = batch.last() else { break };
            after = last.clone();
            for (id, custom) in &batch {
                if rules::record_violates(&rule, &from_json_text(custom)) {
                    violating += 1;
                    if samples.len() < 10 {
                        samples.push(id.clone());
                    }
                }
            }
        }
        let (mut checked, mut by_client) = (0i64, BTreeMap::<String, i64>::new());
        let mut seq = 0;
        loop {
            let batch = store::writes_since(conn, &i.entity, since, seq, 1000)?;
            let Some((last, ..)) = batch.last() else {
                break;
            };
            seq = *last;
            for (_, op, client, custom) in &batch {
                checked += 1;
                if rules::write_violates(&rule, op == "create", &from_json_text(custom)) {
                    *by_client.entry(client.clone()).or_default() += 1;
                }
            }
        }
        let mut rejected: Vec<ClientRejections> = by_client
            .into_iter()
            .map(|(client, count)| ClientRejections { client, count })
            .collect();
        rejected.sort_by(|a, b| b.count.cmp(&a.count).then(a.client.cmp(&b.client)));
        Ok(DryRunReport {
            entity: i.entity,
            key: i.key,
            change: if existing.is_some() {
                "update"
            } else {
                "create"
            }
            .into(),
            violating_records: violating,
            sample_ids: samples,
            recent_writes_checked: checked,
            recent_writes_rejected: rejected,
            window_secs: DRY_RUN_WINDOW_SECS,
            applies_to_existing_records: false,
            notice: NOTICE.into(),
        })
    })
    .await
}

/// Forgets logged writes past their retention (sweeper).
pub fn purge_write_log(conn: &mut DbConnection, now_ms: i64) -> AppResult<usize> {
    Ok(store::purge_writes(
        conn,
        now_ms - WRITE_LOG_RETENTION_SECS * 1000,
    )?)
}
