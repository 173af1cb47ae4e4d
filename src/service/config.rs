//! Runtime configuration documents (scoring model, pipeline, activity rules): each is one
//! versioned JSON entry; a change is validated, checked against `If-Match`, audited and
//! announced with `config.changed` in the caller's transaction.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::Uow;
use crate::domain::audit::diff;
use crate::error::{AppError, AppResult, FieldError};
use crate::store::config::{self, ConfigRow};
use crate::store::DbConnection;

/// A configuration document with a built-in default.
pub trait ConfigDoc: Serialize + DeserializeOwned + Default {
    /// The entry's key (also the audit entity id and the `config.changed` key).
    const KEY: &'static str;
    /// Field-level problems, empty when the document is usable.
    fn problems(&self) -> Vec<(String, String)>;
}

/// The document in force, its version (0: the built-in default) and when it was saved.
pub fn current<T: ConfigDoc>(conn: &mut DbConnection) -> AppResult<(T, i64, Option<i64>)> {
    match config::find(conn, T::KEY)? {
        Some(row) => {
            let doc = serde_json::from_str(&row.value)
                .map_err(|e| AppError::internal(format!("stored {}: {e}", T::KEY)))?;
            Ok((doc, row.version, Some(row.updated_at)))
        }
        None => Ok((T::default(), 0, None)),
    }
}

/// 422 with every field-level problem of the document.
pub fn check<T: ConfigDoc>(doc: &T) -> AppResult<()> {
    let errors: Vec<FieldError> = doc
        .problems()
        .into_iter()
        .map(|(field, message)| FieldError {
            field,
            code: "invalid".into(),
            message,
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::validation(errors))
    }
}

/// Saves a new version of the document (after `check`), with its audit entry and
/// `config.changed` event; returns the new version.
pub fn save<T: ConfigDoc>(uow: &mut Uow<'_>, doc: &T, if_match: Option<i64>) -> AppResult<i64> {
    let (old, version, _) = current::<T>(uow.conn)?;
    super::check_version(if_match, version)?;
    let row = ConfigRow {
        key: T::KEY.into(),
        value: serde_json::to_string(doc).unwrap_or_default(),
        version: version + 1,
        updated_by: uow.actor().to_string(),
        updated_at: uow.now_ms,
    };
    if !config::save(uow.conn, &row, version)? {
        return Err(AppError::version_mismatch(version + 1));
    }
    let changes = diff(
        &serde_json::to_value(&old).unwrap_or_default(),
        &serde_json::to_value(doc).unwrap_or_default(),
        &[],
    );
    uow.audit("config", T::KEY, "update", &changes);
    uow.event(
        "config.changed",
        "config",
        T::KEY,
        json!({"key": T::KEY, "version": row.version, "changes": changes}),
    );
    Ok(row.version)
}
