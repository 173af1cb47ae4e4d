//! Roles of DESIGN §3 and what each may see.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's or API key's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Director,
    Manager,
    Sales,
    Marketing,
    Service,
    Engineer,
    Legal,
    Finance,
    Implementation,
    Integration,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::Admin,
        Role::Director,
        Role::Manager,
        Role::Sales,
        Role::Marketing,
        Role::Service,
        Role::Engineer,
        Role::Legal,
        Role::Finance,
        Role::Implementation,
        Role::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Director => "director",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Marketing => "marketing",
            Role::Service => "service",
            Role::Engineer => "engineer",
            Role::Legal => "legal",
            Role::Finance => "finance",
            Role::Implementation => "implementation",
            Role::Integration => "integration",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Admin and director see and steer everything.
    pub fn is_leadership(self) -> bool {
        matches!(self, Role::Admin | Role::Director)
    }
}

/// Which records of an owned entity a caller may see (DESIGN §3 row scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowScope {
    /// Every record.
    All,
    /// Records of this team, or owned by a member of it.
    Team(String),
    /// Records owned by this user.
    Own(String),
    /// Nothing (a role with no business in this entity).
    Nothing,
}

/// The row scope of a caller on sales records (leads, accounts, contacts, opportunities):
/// sales see their own, managers their team's, everyone who runs the process end to end
/// (leadership, marketing for intake, integrations for sync) sees all; back-office roles
/// that need account data for their work (service, legal, finance, implementation) read all.
pub fn sales_scope(role: Role, user_id: &str, team_id: Option<&str>) -> RowScope {
    match role {
        Role::Admin | Role::Director | Role::Marketing | Role::Integration => RowScope::All,
        Role::Service | Role::Legal | Role::Finance | Role::Implementation => RowScope::All,
        Role::Manager => match team_id {
            Some(t) => RowScope::Team(t.to_string()),
            None => RowScope::Own(user_id.to_string()),
        },
        Role::Sales => RowScope::Own(user_id.to_string()),
        Role::Engineer => RowScope::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn sales_see_their_own_and_managers_their_team() {
        assert_eq!(
            sales_scope(Role::Sales, "u1", Some("t1")),
            RowScope::Own("u1".into())
        );
        assert_eq!(
            sales_scope(Role::Manager, "u1", Some("t1")),
            RowScope::Team("t1".into())
        );
        assert_eq!(
            sales_scope(Role::Manager, "u1", None),
            RowScope::Own("u1".into())
        );
        assert_eq!(sales_scope(Role::Director, "u1", None), RowScope::All);
        assert_eq!(
            sales_scope(Role::Engineer, "u1", Some("t1")),
            RowScope::Nothing
        );
    }
}
