//! Access tokens: HS256 JWTs with `sub`, `role`, `iat`, `exp`, `iss` (and `aud` when set).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aud: Option<String>,
}

/// At most this many verified tokens are kept; past it the memo starts over.
pub const VERIFIED_CAPACITY: usize = 4096;

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub issuer: String,
    pub audience: Option<String>,
    pub ttl_secs: i64,
    /// Tokens whose signature, algorithm, issuer and audience checked out, with their
    /// claims: none of that can change for a given token, so only its expiry is checked
    /// again (a front end sends the same token with every request until it expires).
    verified: Arc<Mutex<HashMap<String, Claims>>>,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: String, audience: Option<String>, ttl_secs: i64) -> JwtKeys {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer,
            audience,
            ttl_secs,
            verified: Arc::default(),
        }
    }

    /// A token for `sub` with `role`, valid from `now` (epoch seconds) for the TTL.
    pub fn issue(&self, sub: &str, role: &str, now: i64) -> AppResult<String> {
        let claims = Claims {
            sub: sub.to_string(),
            role: role.to_string(),
            iat: now,
            exp: now + self.ttl_secs,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::internal(format!("token signing failed: {e}")))
    }

    /// The claims of a valid token: HS256 only (so `none` and RS/ES tokens fail), right
    /// issuer and audience, not expired (against the system clock, as jsonwebtoken checks).
    pub fn verify(&self, token: &str) -> AppResult<Claims> {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            match verified.get(token) {
                Some(c) if c.exp >= now => return Ok(c.clone()),
                Some(_) => {
                    verified.remove(token);
                }
                None => {}
            }
        }
        let claims = self.check(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(token.to_string(), claims.clone());
        Ok(claims)
    }

    /// The full check of [`JwtKeys::verify`]: signature, algorithm, claims, expiry.
    fn check(&self, token: &str) -> AppResult<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_issuer(&[self.issuer.as_str()]);
        v.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        match &self.audience {
            Some(aud) => v.set_audience(&[aud.as_str()]),
            None => v.validate_aud = false,
        }
        decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| AppError::unauthorized(format!("invalid access token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            b"test-secret-test-secret-test-secret",
            "crmflow".into(),
            None,
            3600,
        )
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_signed_token_verifies_and_carries_its_claims() {
        let k = keys();
        let t = k.issue("u1", "sales", now()).unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.role.as_str()), ("u1", "sales"));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let k = keys();
        let t = k.issue("u1", "sales", now() - 7200).unwrap();
        assert!(k.verify(&t).is_err());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = JwtKeys::new(
            b"another-secret-another-secret-xx",
            "crmflow".into(),
            None,
            3600,
        );
        assert!(keys()
            .verify(&other.issue("u1", "admin", now()).unwrap())
            .is_err());
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(
            format!(
                r#"{{"sub":"u1","role":"admin","iat":{},"exp":{},"iss":"crmflow"}}"#,
                now(),
                now() + 60
            )
            .as_bytes(),
        );
        assert!(keys().verify(&format!("{header}.{body}.")).is_err());
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let k = keys();
        let t = k.issue("u1", "sales", now()).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            format!(
                r#"{{"sub":"u1","role":"admin","iat":{},"exp":{},"iss":"crmflow"}}"#,
                now(),
                now() + 60
            )
            .as_bytes(),
        );
        assert!(k
            .verify(&format!("{}.{}.{}", parts[0], forged, parts[2]))
            .is_err());
    }

    #[test]
    fn a_wrong_issuer_or_audience_is_refused() {
        let k = JwtKeys::new(
            b"test-secret-test-secret-test-secret",
            "crmflow".into(),
            Some("crm-web".into()),
            3600,
        );
        let other_iss = JwtKeys::new(
            b"test-secret-test-secret-test-secret",
            "evil".into(),
            Some("crm-web".into()),
            3600,
        );
        let other_aud = JwtKeys::new(
            b"test-secret-test-secret-test-secret",
            "crmflow".into(),
            Some("x".into()),
            3600,
        );
        assert!(k.verify(&k.issue("u", "sales", now()).unwrap()).is_ok());
        assert!(k
            .verify(&other_iss.issue("u", "sales", now()).unwrap())
            .is_err());
        assert!(k
            .verify(&other_aud.issue("u", "sales", now()).unwrap())
            .is_err());
    }

    #[test]
    fn a_verified_token_is_refused_once_it_expires() {
        let k = keys();
        // Expires one second from now: verified (and kept) now, refused once past it.
        let t = k.issue("u1", "sales", now() - 3600 + 1).unwrap();
        assert!(k.verify(&t).is_ok());
        assert!(k.verify(&t).is_ok(), "served from the memo");
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert!(k.verify(&t).is_err());
    }

    #[test]
    fn a_changed_copy_of_a_verified_token_is_checked_in_full() {
        let k = keys();
        let t = k.issue("u1", "sales", now()).unwrap();
        assert!(k.verify(&t).is_ok());
        let (rest, signature) = t.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("{rest}.{flipped}{}", &signature[1..]);
        assert!(k.verify(&forged).is_err());
        assert!(k.verify(&t).is_ok());
    }
}
