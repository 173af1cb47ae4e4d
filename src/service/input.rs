//! Parsing request fields into domain values, collecting every field error of a body so
//! that one 422 names them all.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::domain::email::EmailAddress;
use crate::domain::phone::PhoneNumber;
use crate::domain::uscc::Uscc;
use crate::error::{AppError, AppResult, FieldError};

/// For PATCH bodies: absent → `None` (keep), `null` → `Some(None)` (clear), value → set.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Applies a PATCH field to a current value.
pub fn patch<T>(current: Option<T>, change: Option<Option<T>>) -> Option<T> {
    match change {
        None => current,
        Some(v) => v,
    }
}

/// Collects field errors while parsing a body.
#[derive(Default)]
pub struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    pub fn fail(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        });
    }

    /// Trimmed text of at most `max` characters; empty becomes `None`.
    pub fn text(&mut self, field: &str, v: Option<String>, max: usize) -> Option<String> {
        let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())?;
        if v.chars().count() > max {
            self.fail(field, "too_long", format!("at most {max} characters"));
        }
        if v.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.fail(
                field,
                "invalid_format",
                "control characters are not allowed",
            );
        }
        Some(v)
    }

    /// Like [`Check::text`] but the field must be present and non-empty.
    pub fn required(&mut self, field: &str, v: Option<String>, max: usize) -> String {
        match self.text(field, v, max) {
            Some(s) => s,
            None => {
                self.fail(field, "required", "is required");
                String::new()
            }
        }
    }

    pub fn phone(&mut self, field: &str, v: Option<String>) -> Option<String> {
        let raw = self.text(field, v, 40)?;
        match PhoneNumber::parse(&raw) {
            Ok(p) => Some(p.into_string()),
            Err(m) => {
                self.fail(field, "invalid_format", m);
                None
            }
        }
    }

    pub fn email(&mut self, field: &str, v: Option<String>) -> Option<EmailAddress> {
        let raw = self.text(field, v, 254)?;
        match EmailAddress::parse(&raw) {
            Ok(e) => Some(e),
            Err(m) => {
                self.fail(field, "invalid_format", m);
                None
            }
        }
    }

    pub fn uscc(&mut self, field: &str, v: Option<String>) -> Option<String> {
        let raw = self.text(field, v, 40)?;
        match Uscc::parse(&raw) {
            Ok(u) => Some(u.into_string()),
            Err(m) => {
                self.fail(field, "invalid_uscc", m);
                None
            }
        }
    }

    pub fn currency(&mut self, field: &str, v: Option<String>) -> String {
        match v {
            None => crate::domain::money::DEFAULT_CURRENCY.to_string(),
            Some(raw) => crate::domain::money::parse_currency(&raw).unwrap_or_else(|m| {
                self.fail(field, "invalid_format", m);
                raw
            }),
        }
    }

    pub fn amount(&mut self, field: &str, v: Option<i64>) -> Option<i64> {
        let cents = v?;
        if crate::domain::money::parse_amount(cents).is_err() {
            self.fail(field, "out_of_range", "cannot be negative");
        }
        Some(cents)
    }

    /// Custom field values: an object of at most 100 keys with scalar or list values.
    pub fn custom(&mut self, field: &str, v: Map<String, Value>) -> Map<String, Value> {
        if v.len() > 100 {
            self.fail(field, "too_many", "at most 100 custom fields");
        }
        for (k, val) in &v {
            let key_ok = !k.is_empty()
                && k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                self.fail(
                    &format!("{field}.{k}"),
                    "invalid_key",
                    "keys are 1–64 characters of a-z, 0-9 and _",
                );
            }
            if val.is_object() {
                self.fail(
                    &format!("{field}.{k}"),
                    "invalid_type",
                    "a custom value is a string, number, bool or list",
                );
            }
        }
        v
    }

    /// [`Check::custom`] for an optional PATCH value.
    pub fn custom_patch(
        &mut self,
        field: &str,
        v: Option<Map<String, Value>>,
    ) -> Option<Map<String, Value>> {
        v.map(|m| self.custom(field, m))
    }

    /// Ends the check: `Err(422)` naming every failed field, if any.
    pub fn finish(self) -> AppResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::validation(self.errors))
        }
    }
}

/// A JSON list of strings stored as text.
pub fn to_json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Reads JSON text written by [`to_json_text`]; a damaged value reads as the default.
pub fn from_json_text<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

/// A JSON object stored as text by [`to_json_text`], passed through to a response as it
/// is (checked, not parsed into values and written out again); damaged text reads as `{}`.
pub fn raw_object(s: &str) -> Box<RawValue> {
    raw_json(s, '{').unwrap_or_else(|| empty_raw("{}"))
}

/// [`raw_object`] for a JSON array; damaged text reads as `[]`.
pub fn raw_array(s: &str) -> Box<RawValue> {
    raw_json(s, '[').unwrap_or_else(|| empty_raw("[]"))
}

/// `s` as raw JSON, when it is one well-formed value opening with `open`.
pub fn raw_json(s: &str, open: char) -> Option<Box<RawValue>> {
    let s = s.trim();
    s.starts_with(open)
        .then(|| RawValue::from_string(s.to_string()).ok())
        .flatten()
}

fn empty_raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_string()).expect("an empty object or array is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_json_passes_through_as_it_is() {
        let stored = r#"{"budget":"80万","regions":["华东","华南"]}"#;
        assert_eq!(raw_object(stored).get(), stored);
        assert_eq!(
            raw_array(r#"[{"rule":"source","points":10}]"#).get(),
            r#"[{"rule":"source","points":10}]"#
        );
        assert_eq!(raw_json(" {\"a\":1} ", '{').unwrap().get(), "{\"a\":1}");
    }

    #[test]
    fn damaged_or_mistyped_json_reads_as_empty() {
        assert_eq!(raw_object("{\"a\":").get(), "{}");
        assert_eq!(raw_object("[1]").get(), "{}");
        assert_eq!(raw_object("").get(), "{}");
        assert_eq!(raw_array("{}").get(), "[]");
        assert_eq!(raw_array("[1] trailing").get(), "[]");
        assert!(raw_json("null", '{').is_none());
    }
}
