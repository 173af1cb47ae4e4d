//! Login throttling: failed logins are counted per username and per client address in a
//! sliding window; past the limit, logins answer 429 with `Retry-After` until the oldest
//! counted failure leaves the window. Counters live in the process (each instance limits
//! on its own) and a success clears the username's failures.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Limits (from `CRMFLOW_LOGIN_*`).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub per_user: usize,
    pub per_ip: usize,
    pub window_secs: i64,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            per_user: 5,
            per_ip: 20,
            window_secs: 300,
        }
    }
}

/// Keys tracked at most (the oldest are dropped first when full).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    limits: ThrottleLimits,
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        LoginThrottle {
            limits,
            failures: Mutex::default(),
        }
    }

    fn keys(username: &str, ip: Option<&str>) -> Vec<(String, bool)> {
        let mut k = vec![(format!("user:{username}"), true)];
        if let Some(ip) = ip {
            k.push((format!("ip:{ip}"), false));
        }
        k
    }

    /// `Err(seconds to wait)` when the username or the address is over its limit at `now`
    /// (Unix seconds).
    pub fn check(&self, username: &str, ip: Option<&str>, now: i64) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = 0i64;
        for (key, is_user) in Self::keys(username, ip) {
            let Some(q) = map.get_mut(&key) else { continue };
            while q
                .front()
                .is_some_and(|t| *t <= now - self.limits.window_secs)
            {
                q.pop_front();
            }
            let limit = if is_user {
                self.limits.per_user
            } else {
                self.limits.per_ip
            };
            if q.len() >= limit {
                // Wait until enough failures leave the window to be under the limit again.
                let oldest_to_expire = q[q.len() - limit];
                wait = wait.max(oldest_to_expire + self.limits.window_secs - now);
            }
        }
        if wait > 0 {
            Err(wait as u64)
        } else {
            Ok(())
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, username: &str, ip: Option<&str>, now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS {
            let cutoff = now - self.limits.window_secs;
            map.retain(|_, q| q.back().is_some_and(|t| *t > cutoff));
        }
        for (key, _) in Self::keys(username, ip) {
            if map.len() < MAX_KEYS || map.contains_key(&key) {
                map.entry(key).or_default().push_back(now);
            }
        }
    }

    /// A successful login clears the username's failures.
    pub fn succeeded(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("user:{username}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits {
            per_user: 3,
            per_ip: 5,
            window_secs: 60,
        })
    }

    #[test]
    fn a_username_is_locked_after_its_limit_until_the_window_passes() {
        let t = throttle();
        for s in 0..3 {
            assert!(t.check("chen", Some("1.1.1.1"), 100 + s).is_ok());
            t.failed("chen", Some("1.1.1.1"), 100 + s);
        }
        assert_eq!(t.check("chen", Some("2.2.2.2"), 110), Err(50));
        assert!(t.check("wang", Some("2.2.2.2"), 110).is_ok());
        assert!(t.check("chen", None, 161).is_ok());
    }

    #[test]
    fn an_address_is_locked_across_usernames_and_success_clears_the_user() {
        let t = throttle();
        for (i, u) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            t.failed(u, Some("9.9.9.9"), 10 + i as i64);
        }
        assert_eq!(t.check("f", Some("9.9.9.9"), 20), Err(50));
        assert!(t.check("f", Some("8.8.8.8"), 20).is_ok());
        t.failed("g", None, 1);
        t.failed("g", None, 2);
        t.succeeded("g");
        t.failed("g", None, 3);
        assert!(t.check("g", None, 4).is_ok());
    }
}
