//! The authenticated caller.

use crate::domain::role::{sales_scope, Role, RowScope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    ApiKey,
}

/// A caller whose credentials checked out, with what was current in the database when the
/// request arrived (role, team, active flag), so deactivation and role changes apply at once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The user id, or the API key id.
    pub id: String,
    pub role: Role,
    pub team_id: Option<String>,
    pub name: String,
}

impl Principal {
    /// Rows of sales records this caller may see.
    pub fn sales_scope(&self) -> RowScope {
        sales_scope(self.role, &self.id, self.team_id.as_deref())
    }

    pub fn is(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }
}
