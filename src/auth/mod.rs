//! Who is calling: passwords (argon2), JWTs (HS256), API keys (stored as SHA-256), the
//! resolved [`Principal`] and the role / row-scope policy every handler uses.

pub mod callers;
pub mod jwt;
pub mod password;
pub mod policy;
pub mod principal;
pub mod throttle;
pub mod tokens;

pub use policy::require_role;
pub use principal::{Principal, PrincipalKind};
