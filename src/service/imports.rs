//! Bulk imports: a CSV or JSON file becomes a job that `jobs::imports` runs in batches.
//! Each row goes through the same use-case code as a single create or external-id upsert
//! (validation, scoring, dedup, assignment, audit, events), in a savepoint of its batch's
//! transaction: a bad row is reported and skipped, the batch and the job's progress commit
//! together, so a crash resumes at the first unprocessed row. A dry run does the same work
//! and rolls every row back.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::{new_id, Ctx, Services, Uow};
use crate::auth::{require_role, Principal, PrincipalKind};
use crate::domain::import::{self, field_of_serde_error, ImportEntity, ROW_ERRORS};
use crate::domain::role::Role;
use crate::domain::time::rfc3339;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::imports::{
    self as store, ImportChunk, ImportErrorRow, ImportHead, ImportRow, Progress,
};

const ENTITY: &str = "import";
/// Refused rows listed per import; `failed` still counts every one.
const MAX_LISTED_ERRORS: i64 = 10_000;
/// Errors listed per row.
const MAX_ROW_ERRORS: usize = 99;
/// How long an instance holds an import it runs without recording progress (ms).
const LEASE_MS: i64 = 60_000;

/// The file's format, from `Content-Type`.
#[derive(Debug, Clone)]
pub enum FileKind {
    Csv { charset: Option<String> },
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

/// One refused row. `row` counts data rows from 1 (in a CSV file, the line after the
/// header is row 1).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct RowError {
    pub row: i64,
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a1b2-0000-7000-8000-0000000000c1", "entity": "leads", "dry_run": false,
    "status": "completed", "total": 10000, "processed": 10000, "succeeded": 9997, "failed": 3,
    "created": 9990, "updated": 7,
    "errors": [{"row": 17, "field": "email", "code": "invalid_format", "message": "not an e-mail address"}],
    "created_by": "0193a1b2-0000-7000-8000-000000000001",
    "created_at": "2026-11-23T02:00:00.000Z", "updated_at": "2026-11-23T02:00:01.000Z",
    "finished_at": "2026-11-23T02:00:01.000Z"}))]
pub struct ImportView {
    pub id: String,
    pub entity: ImportEntity,
    pub dry_run: bool,
    pub status: ImportStatus,
    pub total: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Rows that created a record (a dry run: would have).
    pub created: i64,
    /// Rows whose external id named an existing record, which they updated.
    pub updated: i64,
    /// Refused rows in row order (`GET /imports/{id}`; at most 10,000 are listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowError>>,
    /// Why a `failed` import stopped (rows before it were processed and stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

fn view(h: ImportHead, errors: Option<Vec<RowError>>) -> ImportView {
    ImportView {
        entity: ImportEntity::parse(&h.entity).unwrap_or(ImportEntity::Leads),
        status: match h.status.as_str() {
            "running" => ImportStatus::Running,
            "completed" => ImportStatus::Completed,
            "failed" => ImportStatus::Failed,
            _ => ImportStatus::Queued,
        },
        id: h.id,
        dry_run: h.dry_run,
        total: h.total,
        processed: h.processed,
        succeeded: h.succeeded,
        failed: h.failed,
        created: h.created_count,
        updated: h.updated_count,
        errors,
        error: h.error,
        created_by: h.created_by,
        created_at: rfc3339(h.created_at),
        updated_at: rfc3339(h.updated_at),
        finished_at: h.finished_at.map(rfc3339),
    }
}

/// Who may import each entity: whoever may create it.
fn writers(entity: ImportEntity) -> &'static [Role] {
    match entity {
        ImportEntity::Leads => crate::auth::policy::LEAD_WRITERS,
        ImportEntity::Accounts | ImportEntity::Contacts => crate::auth::policy::ACCOUNT_WRITERS,
        ImportEntity::WorkOrders => super::work_orders::WORK_ORDER_WRITERS,
    }
}

/// Checks the file (encoding, header, shape) and queues the import; rows are checked
/// when they run.
pub async fn start(
    svc: &Services,
    ctx: &Ctx,
    entity: ImportEntity,
    dry_run: bool,
    kind: FileKind,
    body: actix_web::web::Bytes,
) -> AppResult<ImportView> {
    require_role(&ctx.principal, writers(entity))?;
    let rows = actix_web::rt::task::spawn_blocking(move || -> AppResult<import::Rows> {
        let rows = match kind {
            FileKind::Csv { charset } => {
                let text = import::decode(&body, charset.as_deref())
                    .map_err(|m| AppError::field("body", "invalid_encoding", m))?;
                import::parse_csv(entity, &text)
            }
            FileKind::Json => {
                let text = std::str::from_utf8(&body).map_err(|_| {
                    AppError::field("body", "invalid_encoding", "JSON must be UTF-8")
                })?;
                import::parse_json(text)
            }
        }
        .map_err(|e| AppError::field(e.field, "invalid_format", e.message))?;
        if rows.count == 0 {
            return Err(AppError::field("body", "required", "the file has no rows"));
        }
        Ok(rows)
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))??;
    let total = rows.count as i64;
    let principal =
        serde_json::to_string(&ctx.principal).map_err(|e| AppError::internal(e.to_string()))?;
    let actor = ctx.principal.id.clone();
    svc.write(ctx, move |uow| {
        let row = ImportRow {
            id: new_id(),
            entity: entity.as_str().into(),
            dry_run,
            status: "queued".into(),
            total,
            processed: 0,
            succeeded: 0,
            failed: 0,
            created_count: 0,
            updated_count: 0,
            principal,
            lease_owner: None,
            lease_until: None,
            error: None,
            created_by: actor,
            created_at: uow.now_ms,
            updated_at: uow.now_ms,
            finished_at: None,
        };
        store::insert(uow.conn, &row)?;
        for (n, text) in rows.chunks.into_iter().enumerate() {
            let first_row = (n * import::CHUNK_ROWS) as i64;
            store::insert_chunk(
                uow.conn,
                &ImportChunk {
                    import_id: row.id.clone(),
                    first_row,
                    row_count: (total - first_row).min(import::CHUNK_ROWS as i64),
                    rows: text,
                },
            )?;
        }
        let changes = crate::domain::audit::diff(
            &json!({}),
            &json!({"entity": row.entity, "dry_run": dry_run, "total": total}),
            &[],
        );
        uow.audit(ENTITY, &row.id, "create", &changes);
        let h = store::head(uow.conn, &row.id)?.ok_or_else(|| AppError::not_found("import"))?;
        Ok(view(h, None))
    })
    .await
}

/// An import with its refused rows; its creator and admins may read it.
pub async fn get(svc: &Services, ctx: &Ctx, id: String) -> AppResult<ImportView> {
    let p = ctx.principal.clone();
    svc.read(move |conn| {
        let h = store::head(conn, &id)?
            .filter(|h| h.created_by == p.id || p.role == Role::Admin)
            .ok_or_else(|| AppError::not_found("import"))?;
        let errors = store::errors(conn, &id, -1, MAX_LISTED_ERRORS)?
            .into_iter()
            .map(|e| RowError {
                row: e.row_no,
                field: e.field,
                code: e.code,
                message: e.message,
            })
            .collect();
        Ok(view(h, Some(errors)))
    })
    .await
}

/// A stored chunk of rows with its line boundaries.
struct Chunk {
    first_row: i64,
    rows: String,
    lines: Vec<(usize, usize)>,
}

impl Chunk {
    fn new(stored: ImportChunk) -> Chunk {
        Chunk {
            first_row: stored.first_row,
            lines: import::line_ranges(&stored.rows),
            rows: stored.rows,
        }
    }

    fn holds(&self, row: i64) -> bool {
        row >= self.first_row && row < self.first_row + self.lines.len() as i64
    }
}

/// Runs (or resumes) one import to its end, batch by batch, unless another instance holds
/// it. `owner` names this instance's lease.
pub async fn run(svc: &Services, id: String, owner: String) -> AppResult<()> {
    let lease_ms = LEASE_MS;
    let now = svc.now().timestamp_millis();
    let (i, o) = (id.clone(), owner.clone());
    if !svc
        .db_write(move |conn| Ok(store::claim(conn, &i, &o, now, now + lease_ms)?))
        .await?
    {
        return Ok(());
    }
    let i = id.clone();
    let (head, principal) = svc
        .read(move |conn| {
            let head = store::head(conn, &i)?.ok_or_else(|| AppError::not_found("import"))?;
            let principal: Principal = serde_json::from_str(&store::principal(conn, &i)?)
                .map_err(|e| AppError::internal(format!("import principal: {e}")))?;
            Ok((head, principal))
        })
        .await?;
    let entity = ImportEntity::parse(&head.entity)
        .ok_or_else(|| AppError::internal("unknown import entity"))?;
    let mut processed = head.processed;
    // The chunk of rows being worked through: kept as stored text, each batch parses only
    // its own rows.
    let mut chunk: Option<Arc<Chunk>> = None;
    while processed < head.total {
        let start = processed;
        let done = match chunk_holding(svc, &id, start, chunk.take()).await {
            Ok(c) => {
                chunk = Some(c.clone());
                run_rows(svc, &id, &owner, &principal, entity, head.dry_run, start, c).await
            }
            Err(e) => Err(e),
        };
        match done {
            Ok(n) => processed += n as i64,
            Err(e) if e.code == "conflict" => return Ok(()),
            Err(e) => {
                log::warn!("import {id} stopped: {e}");
                let (i, o, now) = (id.clone(), owner.clone(), svc.now().timestamp_millis());
                let why = e.detail.clone();
                svc.db_write(move |conn| {
                    Ok(store::finish(conn, &i, &o, "failed", Some(&why), now)?)
                })
                .await?;
                return Err(e);
            }
        }
    }
    let (i, o, now) = (id.clone(), owner.clone(), svc.now().timestamp_millis());
    svc.db_write(move |conn| Ok(store::finish(conn, &i, &o, "completed", None, now)?))
        .await?;
    Ok(())
}

/// The chunk holding row `start`: `current` when it does, else read from the database.
async fn chunk_holding(
    svc: &Services,
    id: &str,
    start: i64,
    current: Option<Arc<Chunk>>,
) -> AppResult<Arc<Chunk>> {
    if let Some(c) = current.filter(|c| c.holds(start)) {
        return Ok(c);
    }
    let i = id.to_string();
    let c = svc
        .read(move |conn| Ok(store::chunk_at(conn, &i, start)?))
        .await?
        .map(Chunk::new)
        .filter(|c| c.holds(start))
        .ok_or_else(|| AppError::internal(format!("row {} of the import is missing", start + 1)))?;
    Ok(Arc::new(c))
}

/// One batch: the rows of `c` from row `start`, at most `batch_rows` of them, in one
/// transaction with the import's progress. Returns how many rows it processed.
#[allow(clippy::too_many_arguments)]
async fn run_rows(
    svc: &Services,
    id: &str,
    owner: &str,
    principal: &Principal,
    entity: ImportEntity,
    dry_run: bool,
    start: i64,
    c: Arc<Chunk>,
) -> AppResult<usize> {
    let lease_ms = LEASE_MS;
    let from = (start - c.first_row) as usize;
    let to = (from + svc.settings.imports.batch_rows).min(c.lines.len());
    let (p, id2, owner2) = (principal.clone(), id.to_string(), owner.to_string());
    svc.write_as(principal.id.clone(), format!("import:{id}"), move |uow| {
        uow.client = match p.kind {
            PrincipalKind::ApiKey => format!("api_key:{}", p.name),
            PrincipalKind::User => format!("import:{}", p.name),
        };
        let batch: Vec<Value> = c.lines[from..to]
            .iter()
            .map(|&(a, b)| import::row_at(&c.rows, a, b))
            .collect();
        run_batch(
            uow,
            &p,
            entity,
            dry_run,
            &id2,
            &owner2,
            start as usize,
            &batch,
            lease_ms,
        )
    })
    .await
}

#[allow(clippy::too_many_arguments)]
fn run_batch(
    uow: &mut Uow<'_>,
    p: &Principal,
    entity: ImportEntity,
    dry_run: bool,
    import_id: &str,
    owner: &str,
    start: usize,
    rows: &[Value],
    lease_ms: i64,
) -> AppResult<usize> {
    still_allowed(uow.conn, p)?;
    uow.for_batch();
    let mut progress = Progress {
        processed: rows.len() as i64,
        succeeded: 0,
        failed: 0,
        created: 0,
        updated: 0,
    };
    let mut refused: Vec<RowError> = Vec::new();
    let mut each = |uow: &mut Uow<'_>| {
        for (i, row) in rows.iter().enumerate() {
            let row_no = (start + i + 1) as i64;
            match uow.savepoint(|u| import_row(u, p, entity, row)) {
                Ok(true) => {
                    progress.succeeded += 1;
                    progress.created += 1;
                }
                Ok(false) => {
                    progress.succeeded += 1;
                    progress.updated += 1;
                }
                Err(e) => {
                    progress.failed += 1;
                    refused.extend(row_errors(row_no, &e));
                }
            }
        }
    };
    if dry_run {
        // Everything the rows wrote (and their audit entries and events) is undone.
        let _ = uow.savepoint(|u| -> AppResult<()> {
            each(u);
            Err(AppError::conflict("dry run"))
        });
    } else {
        each(uow);
    }
    let listed = store::error_count(uow.conn, import_id)?;
    let mut seq_of_row: (i64, i64) = (0, 0);
    for e in refused
        .into_iter()
        .take((MAX_LISTED_ERRORS - listed).max(0) as usize)
    {
        // Sequence numbers derive from the row, so a retried batch writes the same ones.
        let k = if seq_of_row.0 == e.row {
            seq_of_row.1 + 1
        } else {
            0
        };
        seq_of_row = (e.row, k);
        if k as usize >= MAX_ROW_ERRORS {
            continue;
        }
        store::insert_error(
            uow.conn,
            &ImportErrorRow {
                import_id: import_id.into(),
                seq: e.row * 100 + k,
                row_no: e.row,
                field: e.field,
                code: e.code,
                message: e.message,
            },
        )?;
    }
    if !store::advance(
        uow.conn,
        import_id,
        owner,
        start as i64,
        &progress,
        uow.now_ms,
        uow.now_ms + lease_ms,
    )? {
        return Err(AppError::conflict("another instance took this import over"));
    }
    Ok(rows.len())
}

/// Every batch runs under the importer's current standing: a user deactivated or an API
/// key revoked since the upload stops the import.
fn still_allowed(conn: &mut crate::store::DbConnection, p: &Principal) -> AppResult<()> {
    let active = match p.kind {
        crate::auth::PrincipalKind::User => {
            crate::store::users::find(conn, &p.id)?.is_some_and(|u| u.active)
        }
        crate::auth::PrincipalKind::ApiKey => {
            crate::store::api_keys::find(conn, &p.id)?.is_some_and(|k| k.revoked_at.is_none())
        }
    };
    if active {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "the user or API key that started this import is no longer active",
        ))
    }
}

fn row_errors(row: i64, e: &AppError) -> Vec<RowError> {
    if e.errors.is_empty() {
        return vec![RowError {
            row,
            field: None,
            code: e.code.to_string(),
            message: e.detail.clone(),
        }];
    }
    e.errors
        .iter()
        .map(|f| RowError {
            row,
            field: Some(f.field.clone()).filter(|f| !f.is_empty()),
            code: f.code.clone(),
            message: f.message.clone(),
        })
        .collect()
}

/// A row as its entity's create body; a refusal names the field it is about (the path
/// where deserialising failed, or the field an unknown/missing-field message names).
fn body_of<T: serde::de::DeserializeOwned>(row: Value) -> AppResult<T> {
    serde_path_to_error::deserialize(row).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let code = if message.starts_with("unknown field") {
            "unknown_field"
        } else if message.starts_with("missing field") {
            "required"
        } else {
            "invalid_format"
        };
        let field = if path.is_empty() || path == "." {
            field_of_serde_error(&message).unwrap_or_default()
        } else {
            path
        };
        AppError::validation(vec![FieldError {
            field,
            code: code.into(),
            message,
        }])
    })
}

fn text(obj: &mut Map<String, Value>, key: &str) -> AppResult<Option<String>> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(AppError::field(key, "invalid_type", "a string is expected")),
    }
}

/// Text values of defined custom fields in the form the field takes (CSV cells are text).
fn typed_custom(
    uow: &mut Uow<'_>,
    entity: ImportEntity,
    custom: &mut Map<String, Value>,
) -> AppResult<()> {
    let name = match entity {
        ImportEntity::Leads => "lead",
        ImportEntity::Accounts => "account",
        ImportEntity::Contacts => "contact",
        ImportEntity::WorkOrders => "work_order",
    };
    for rule in uow.custom_rules(name)?.iter() {
        if let Some(Value::String(s)) = custom.get(&rule.key) {
            let v = crate::domain::custom_field::from_text(rule.field_type, s);
            custom.insert(rule.key.clone(), v);
        }
    }
    Ok(())
}

/// One row through its entity's use case; `true` when it created a record.
fn import_row(
    uow: &mut Uow<'_>,
    p: &Principal,
    entity: ImportEntity,
    row: &Value,
) -> AppResult<bool> {
    let mut obj = row.as_object().cloned().unwrap_or_default();
    if let Some(Value::Array(errs)) = obj.remove(ROW_ERRORS) {
        return Err(AppError::validation(
            errs.iter()
                .map(|e| FieldError {
                    field: e["field"].as_str().unwrap_or_default().to_string(),
                    code: e["code"].as_str().unwrap_or("invalid_format").to_string(),
                    message: e["message"].as_str().unwrap_or_default().to_string(),
                })
                .collect(),
        ));
    }
    let system = text(&mut obj, "external_system")?;
    let external_id = text(&mut obj, "external_id")?;
    let external = match (&system, &external_id) {
        (Some(s), Some(x)) => Some((s.as_str(), x.as_str())),
        (None, None) => None,
        (None, Some(_)) => {
            return Err(AppError::field(
                "external_system",
                "required",
                "an external id needs its system",
            ))
        }
        (Some(_), None) => {
            return Err(AppError::field(
                "external_id",
                "required",
                "an external system needs the id there",
            ))
        }
    };
    if let Some(Value::Object(custom)) = obj.get_mut("custom") {
        typed_custom(uow, entity, custom)?;
    }
    let body = Value::Object(obj);
    match entity {
        ImportEntity::Leads => {
            let mut body = body;
            if body.get("source").is_none() {
                body["source"] = json!("import");
            }
            let input = body_of(body)?;
            super::leads::import_in(uow, p, input, external)
        }
        ImportEntity::Accounts => {
            let input = body_of(body)?;
            super::accounts::import_in(uow, p, input, external)
        }
        ImportEntity::Contacts => {
            if external.is_some() {
                return Err(AppError::field(
                    "external_id",
                    "unsupported",
                    "contacts are not matched by external id",
                ));
            }
            let input = body_of(body)?;
            super::contacts::create_in(uow, &p.sales_scope(), input).map(|_| true)
        }
        ImportEntity::WorkOrders => {
            let input = body_of(body)?;
            super::work_orders::import_in(uow, p, input, external)
        }
    }
}
