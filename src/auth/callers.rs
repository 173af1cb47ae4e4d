//! Callers resolved recently.
//!
//! A request's caller (role, team, active flag) is read from the database so that a
//! deactivation, role change or key revocation applies to the very next request. The same
//! holds without the read when the process hears of every such change: a caller is kept
//! with the *generation* it was read in, and every change to a user or an API key starts a
//! new generation. A caller kept from an older generation is read again.
//! - SQLite: every write goes through this process; a committed unit of work that changed
//!   a user or key starts a new generation right after its commit, before its response.
//! - PostgreSQL: several instances may write. Each does the same for its own writes, and
//!   such a transaction also notifies the others (`store::listen::CALLERS`), which start
//!   a new generation when they hear it: within [`crate::store::listen::POLL`] of the
//!   commit. The cache is on only while the instance listens ([`CallerCache::resume`],
//!   [`CallerCache::suspend`]), since a change made while it did not listen is never heard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use super::Principal;

/// At most this many callers are kept; past it the cache starts over.
pub const CAPACITY: usize = 4096;

pub struct CallerCache {
    enabled: AtomicBool,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Principal)>>,
}

impl CallerCache {
    /// A cache that keeps callers from the start when `enabled` (the database has no other
    /// writer), else from [`CallerCache::resume`] on.
    pub fn new(enabled: bool) -> CallerCache {
        CallerCache {
            enabled: AtomicBool::new(enabled),
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
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (generation, principal) = entries.get(key)?;
        (*generation == self.generation()).then(|| principal.clone())
    }

    /// Keeps `principal`, read from the database in generation `read_in`; a caller read
    /// before the users or keys last changed is not kept.
    pub fn keep(&self, key: String, read_in: u64, principal: Principal) {
        if !self.enabled() || read_in != self.generation() {
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

    /// Starts keeping callers: every change from now on will be heard. What was read
    /// before may predate a change that was not, so it is forgotten first.
    pub fn resume(&self) {
        self.forget_all();
        self.enabled.store(true, Ordering::Release);
    }

    /// Stops keeping callers (changes are no longer heard) and forgets those kept.
    pub fn suspend(&self) {
        self.enabled.store(false, Ordering::Release);
        self.forget_all();
    }

    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
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
    fn a_suspended_cache_forgets_and_keeps_nothing_until_resumed() {
        let cache = CallerCache::new(false);
        let before = cache.generation();
        cache.resume();
        cache.keep("user:u1".into(), before, caller(Role::Admin));
        assert!(cache.get("user:u1").is_none(), "read before resuming");
        cache.keep("user:u1".into(), cache.generation(), caller(Role::Admin));
        assert!(cache.get("user:u1").is_some());
        let read_in = cache.generation();
        cache.suspend();
        assert!(cache.get("user:u1").is_none());
        cache.keep("user:u2".into(), cache.generation(), caller(Role::Sales));
        assert!(cache.get("user:u2").is_none());
        cache.resume();
        cache.keep("user:u3".into(), read_in, caller(Role::Sales));
        assert!(cache.get("user:u3").is_none(), "read before the suspension");
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
