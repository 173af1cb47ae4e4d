//! Function-level authorization: which roles may call what. Row scope lives on
//! [`super::Principal::sales_scope`]; both are used by every handler through these helpers.

use super::Principal;
use crate::domain::role::Role;
use crate::error::{AppError, AppResult};

/// Refuses with 403 unless the caller has one of `roles`.
pub fn require_role(p: &Principal, roles: &[Role]) -> AppResult<()> {
    if p.is(roles) {
        Ok(())
    } else {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(AppError::forbidden(format!(
            "this needs one of the roles: {}",
            names.join(", ")
        )))
    }
}

/// Who administers the organisation (teams, users, API keys).
pub const ORG_ADMINS: &[Role] = &[Role::Admin];
/// Who reads the audit trail.
pub const AUDITORS: &[Role] = &[Role::Admin, Role::Director];
/// Who reads the event feed.
pub const FEED_READERS: &[Role] = &[Role::Admin, Role::Director, Role::Integration];
/// Who creates and edits leads.
pub const LEAD_WRITERS: &[Role] = &[
    Role::Admin,
    Role::Director,
    Role::Manager,
    Role::Sales,
    Role::Marketing,
    Role::Integration,
];
/// Who creates and edits accounts and contacts.
pub const ACCOUNT_WRITERS: &[Role] = &[
    Role::Admin,
    Role::Director,
    Role::Manager,
    Role::Sales,
    Role::Marketing,
    Role::Integration,
    Role::Service,
];
