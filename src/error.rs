//! The one error type of crmflow and its one mapping to RFC 9457 problem documents.
//!
//! Every layer returns [`AppError`]; handlers never build error JSON by hand. The `code`
//! values are the fixed ones of DESIGN.md §3 (plus `bad_request` for unparseable JSON).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `custom.region` or `items[2].quantity`.
    pub field: String,
    /// Machine-readable reason, e.g. `required`, `invalid_format`, `out_of_range`.
    pub code: String,
    pub message: String,
}

/// One unmet requirement (stage gates, quality gates, prerequisites).
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct MissingItem {
    /// e.g. `activity:needs_discovery`.
    pub requirement: String,
    pub detail: String,
    /// For stage gates: the stage whose exit needs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// An RFC 9457 problem document as crmflow sends it (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:crmflow:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "The request body has invalid fields.",
    "code": "validation_failed",
    "errors": [{"field": "email", "code": "invalid_format", "message": "not an e-mail address"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// One of DESIGN §3's codes: `validation_failed`, `stage_gate`, `payment_rejected`,
    /// `unauthorized`, `forbidden`, `not_found`, `conflict`, `duplicate`,
    /// `invalid_transition`, `version_mismatch`, `payload_too_large`,
    /// `unsupported_media_type`, `rate_limited`, `unavailable`, `internal`, `bad_request`,
    /// `method_not_allowed`, `headers_too_large`.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub missing: Vec<MissingItem>,
    /// For `invalid_transition`: the states or steps that are allowed from here; for
    /// `method_not_allowed`: the methods of the path.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub allowed: Vec<String>,
    /// For `version_mismatch`: the record's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

/// The error every crmflow function returns (boxed: results stay small on the happy path).
#[derive(Debug, Clone)]
pub struct AppError(Box<ErrorDetails>);

/// What an [`AppError`] says; read through `Deref` (`e.code`, `e.status`, …).
#[derive(Debug, Clone)]
pub struct ErrorDetails {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub missing: Vec<MissingItem>,
    pub allowed: Vec<String>,
    pub current_version: Option<i64>,
    pub retry_after_secs: Option<u64>,
}

impl std::ops::Deref for AppError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for AppError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.detail
        )
    }
}

impl std::error::Error for AppError {}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        AppError(Box::new(ErrorDetails {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            missing: Vec::new(),
            allowed: Vec::new(),
            current_version: None,
            retry_after_secs: None,
        }))
    }

    /// 422 with a list of field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid.", errors.len()),
        };
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
            detail,
        );
        e.errors = errors;
        e
    }

    /// 422 for a single field.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }])
    }

    /// 422 for a body that is well-formed JSON but not of the expected shape.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
            detail,
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Bad request",
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("{what} not found"),
        )
    }

    /// 422 `payment_rejected` with one entry per failed check (`errors[].code`).
    pub fn payment_rejected(errors: Vec<FieldError>) -> Self {
        let codes: Vec<&str> = errors.iter().map(|e| e.code.as_str()).collect();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment_rejected",
            "Payment rejected",
            format!("the payment fails: {}", codes.join(", ")),
        );
        e.errors = errors;
        e
    }

    /// 422 `stage_gate` listing every unmet exit requirement.
    pub fn stage_gate(detail: impl Into<String>, missing: Vec<MissingItem>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "stage_gate",
            "Stage gate not met",
            detail,
        );
        e.missing = missing;
        e
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn duplicate(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "duplicate", "Duplicate", detail)
    }

    /// 409 naming the current state and what may follow it.
    pub fn invalid_transition(from: &str, to: &str, allowed: Vec<String>) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            "Invalid transition",
            format!("cannot go from `{from}` to `{to}`"),
        );
        e.allowed = allowed;
        e
    }

    pub fn version_mismatch(current: i64) -> Self {
        let mut e = Self::new(
            StatusCode::PRECONDITION_FAILED,
            "version_mismatch",
            "Version mismatch",
            format!("the record is at version {current}; re-read it and retry"),
        );
        e.current_version = Some(current);
        e
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "Request headers too large",
            format!("the request line and headers exceed {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            detail,
        )
    }

    /// 405 for a documented path called with a method it does not have.
    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            format!("{method} is not allowed here"),
        );
        e.allowed = allowed.iter().map(|m| m.to_string()).collect();
        e
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            format!("retry after {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        e.retry_after_secs = Some(1);
        e
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail,
        )
    }

    /// The problem document this error is sent as.
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("urn:crmflow:problem:{}", self.code),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            errors: self.errors.clone(),
            missing: self.missing.clone(),
            allowed: self.allowed.clone(),
            current_version: self.current_version,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE {
            log::error!("{self}");
        }
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            res.insert_header((header::ALLOW, self.allowed.join(", ")));
        }
        if let Some(secs) = self.retry_after_secs {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<DieselError> for AppError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => AppError::not_found("record"),
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation => {
                    AppError::conflict(format!("already exists: {}", info.message()))
                }
                DatabaseErrorKind::ForeignKeyViolation => {
                    AppError::unprocessable("a referenced record does not exist")
                }
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    AppError::unavailable("the database connection was lost")
                }
                DatabaseErrorKind::SerializationFailure => {
                    AppError::unavailable("a concurrent write interfered; retry")
                }
                _ if is_busy(info.message()) => {
                    AppError::unavailable("the database is busy; retry")
                }
                _ => AppError::internal(format!("database error: {}", info.message())),
            },
            DieselError::RollbackTransaction => AppError::internal("transaction rolled back"),
            other => AppError::internal(format!("database error: {other}")),
        }
    }
}

fn is_busy(message: &str) -> bool {
    message.contains("deadlock detected")
        || message.contains("database is locked")
        || message.contains("database is busy")
        || message.contains("terminating connection")
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        AppError::unavailable(format!("no database connection available: {e}"))
    }
}
