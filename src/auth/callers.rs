//! Callers resolved recently, for a database that only this process writes (SQLite).
//!
//! A request's caller (role, team, active flag) is read from the database so that a
//! deactivation, role change or key revocation applies to the very next request. When
//! every write to the database goes through this process, the same holds without the read:
//! a caller is kept with the *generation* it was read in, and every committed unit of work
//! that changes a user or an API key starts a new generation (after its commit, before its
//! response). A caller kept from an older generation is read again. Several processes on
//! one PostgreSQL cannot see each other's generations, so there the cache is off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::Principal;

/// At most this many callers are kept; past it the cache starts over.
pub const CAPACITY: usize = 4096;

pub struct CallerCache {
    enabled: bool,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Principal)>>,
}

impl CallerCache {
    /// A cache that keeps callers when `enabled` (the database has no other writer).
    pub fn new(enabled: bool) -> CallerCache {
        CallerCache {
            enabled,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The generation a database read of a caller starts in: take it before the read and
    /// hand it to [`CallerCache::keep`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The caller kept under `key`, if it was read in the current generation.
    pub fn get(&self, key: &str) -> Option<Principal> {
        if !self.enabled {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (generation, principal) = entries.get(key)?;
        (*generation == self.generation()).then(|| principal.clone())
    }

    /// Keeps `principal`, read from the database in generation `read_in`; a caller read
    /// before the users or keys last changed is not kept.
    pub fn keep(&self, key: String, read_in: u64, principal: Principal) {
        if !self.enabled || read_in != self.generation() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (read_in, principal));
    }

    /// Starts a new generation: call after a commit that changed a user or an API key.
    pub fn forget_all(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::PrincipalKind;
    use crate::domain::role::Role;

    fn caller(role: Role) -> Principal {
        Principal {
            kind: PrincipalKind::User,
            id: "u1".into(),
            role,
            team_id: None,
            name: "Wang".into(),
        }
    }

    #[test]
    fn a_caller_read_in_the_current_generation_is_served() {
        let cache = CallerCache::new(true);
        let read_in = cache.generation();
        cache.keep("user:u1".into(), read_in, caller(Role::Sales));
        assert_eq!(cache.get("user:u1").map(|p| p.role), Some(Role::Sales));
        assert!(cache.get("user:u2").is_none());
    }

    #[test]
    fn a_change_to_users_or_keys_forgets_every_caller() {
        let cache = CallerCache::new(true);
        cache.keep("user:u1".into(), cache.generation(), caller(Role::Admin));
        cache.forget_all();
        assert!(cache.get("user:u1").is_none());
    }

    #[test]
    fn a_caller_read_before_a_change_is_not_kept() {
        let cache = CallerCache::new(true);
        let read_in = cache.generation();
        cache.forget_all();
        cache.keep("user:u1".into(), read_in, caller(Role::Admin));
        assert!(cache.get("user:u1").is_none());
        cache.keep("user:u1".into(), cache.generation(), caller(Role::Sales));
        assert_eq!(cache.get("user:u1").map(|p| p.role), Some(Role::Sales));
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = CallerCache::new(false);
        cache.keep("user:u1".into(), cache.generation(), caller(Role::Admin));
        assert!(cache.get("user:u1").is_none());
    }

    #[test]
    fn the_cache_starts_over_past_its_capacity() {
        let cache = CallerCache::new(true);
        for i in 0..CAPACITY {
            cache.keep(format!("user:{i}"), 0, caller(Role::Sales));
        }
        assert!(cache.get("user:0").is_some());
        cache.keep("user:new".into(), 0, caller(Role::Sales));
        assert!(cache.get("user:0").is_none());
        assert!(cache.get("user:new").is_some());
    }
}
