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
//!   commit. The cache is on only while the listener vouches that it hears
//!   ([`CallerCache::renew`], a lease it renews after each check of its connection;
//!   [`CallerCache::suspend`] when the connection fails), since a change made while it did
//!   not listen is never heard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Principal;

/// At most this many callers are kept; past it the cache starts over.
pub const CAPACITY: usize = 4096;

pub struct CallerCache {
    /// On for good (the database has no other writer), else only while leased.
    always: bool,
    base: Instant,
    /// Nanoseconds after `base` until which changes are known to be heard (0: not).
    leased_until: AtomicU64,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Principal)>>,
}

impl CallerCache {
    /// A cache that keeps callers from the start and for good when `always` (the database
    /// has no other writer), else while [`CallerCache::renew`]'s lease runs.
    pub fn new(always: bool) -> CallerCache {
        CallerCache {
            always,
            base: Instant::now(),
            leased_until: AtomicU64::new(0),
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

    /// Keeps callers for `lease` from now: every change until then will be heard. When
    /// the previous lease had run out, what was read before may predate a change that was
    /// not heard, so it is forgotten first.
    pub fn renew(&self, lease: Duration) {
        if !self.leased() {
            self.forget_all();
        }
        let until = self.base.elapsed() + lease;
        self.leased_until
            .store(until.as_nanos() as u64, Ordering::Release);
    }

    /// Stops keeping callers (changes are no longer heard) and forgets those kept.
    pub fn suspend(&self) {
        self.leased_until.store(0, Ordering::Release);
        self.forget_all();
    }

    fn enabled(&self) -> bool {
        self.always || self.leased()
    }

    fn leased(&self) -> bool {
        (self.base.elapsed().as_nanos() as u64) < self.leased_until.load(Ordering::Acquire)
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

    const LEASE: Duration = Duration::from_secs(60);

    #[test]
    fn a_suspended_cache_forgets_and_keeps_nothing_until_renewed() {
        let cache = CallerCache::new(false);
        let before = cache.generation();
        cache.keep("user:u0".into(), before, caller(Role::Admin));
        assert!(cache.get("user:u0").is_none(), "not leased yet");
        cache.renew(LEASE);
        cache.keep("user:u1".into(), before, caller(Role::Admin));
        assert!(cache.get("user:u1").is_none(), "read before resuming");
        cache.keep("user:u1".into(), cache.generation(), caller(Role::Admin));
        assert!(cache.get("user:u1").is_some());
        let read_in = cache.generation();
        cache.suspend();
        assert!(cache.get("user:u1").is_none());
        cache.keep("user:u2".into(), cache.generation(), caller(Role::Sales));
        assert!(cache.get("user:u2").is_none());
        cache.renew(LEASE);
        cache.keep("user:u3".into(), read_in, caller(Role::Sales));
        assert!(cache.get("user:u3").is_none(), "read before the suspension");
    }

    #[test]
    fn a_lease_that_runs_out_switches_the_cache_off_until_renewed() {
        let cache = CallerCache::new(false);
        cache.renew(Duration::from_millis(50));
        let read_in = cache.generation();
        cache.keep("user:u1".into(), read_in, caller(Role::Admin));
        assert!(cache.get("user:u1").is_some());
        // A renewal within the lease keeps what is kept.
        cache.renew(Duration::from_millis(50));
        assert!(cache.get("user:u1").is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(cache.get("user:u1").is_none(), "the lease ran out");
        cache.keep("user:u2".into(), cache.generation(), caller(Role::Admin));
        assert!(cache.get("user:u2").is_none());
        // Renewed after it ran out: what was read before is forgotten.
        cache.renew(LEASE);
        assert!(cache.get("user:u1").is_none());
        cache.keep("user:u1".into(), read_in, caller(Role::Admin));
        assert!(
            cache.get("user:u1").is_none(),
            "read before the lease ran out"
        );
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
