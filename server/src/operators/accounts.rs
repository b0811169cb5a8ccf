//! Operator accounts: creating them, password and single sign-on sign-ins with lockout, browser sessions with
//! their CSRF token, API tokens and one-time setup links. Every sign-in attempt and every change is audited.

use std::{sync::Arc, time::Duration};

use serde_json::json;

use super::{
    audit::{self, Actor, Change},
    passwords, Credential, OperatorError, Principal, Role, TokenScope,
};
use crate::{
    clock::now,
    keys::{digest, random_token},
    store::{OperatorRow, OperatorTokenRow, SharedStore},
};

/// How long a browser stays signed in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Consecutive failed password sign-ins that lock an account.
pub const MAX_FAILED_SIGN_INS: i64 = 5;

/// How long a locked account refuses password sign-ins.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// How long a setup link stays usable.
pub const SETUP_LINK_TTL: Duration = Duration::from_secs(72 * 3600);

/// Longest email accepted (RFC 5321 §4.5.3.1.3: a path of 256 octets, minus the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// Longest API token name (characters).
pub const MAX_TOKEN_NAME: usize = 100;

/// Prefix of operator API tokens.
pub const TOKEN_PREFIX: &str = "pbo_";

/// Prefix of browser session tokens (the cookie's value).
pub const SESSION_PREFIX: &str = "pbos_";

/// Prefix of setup link tokens.
pub const SETUP_PREFIX: &str = "pbsu_";

/// A sign-in that worked: the session token goes in a cookie, the CSRF token to the console (it sends it back
/// in `X-CSRF-Token` on every write). Neither is stored, only their digests.
#[derive(Debug)]
pub struct SignedIn {
    pub operator: OperatorRow,
    pub session_token: String,
    pub csrf_token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The email as stored: trimmed and lower-cased. Errors say why.
pub fn normalize_email(email: &str) -> Result<String, OperatorError> {
    let email = email.trim().to_lowercase();
    let invalid = |why: &str| OperatorError::Invalid(format!("email {why}"));
    if email.len() > MAX_EMAIL_LEN {
        return Err(invalid(&format!("is longer than {MAX_EMAIL_LEN} bytes")));
    }
    let Some((local, domain)) = email.split_once('@') else { return Err(invalid("needs an @")) };
    if local.is_empty() || domain.is_empty() || domain.contains('@') || !domain.contains('.') && domain != "localhost" {
        return Err(invalid("is not an address like name@example.com"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control() || crate::projects::is_invisible_format(c)) {
        return Err(invalid("holds a space or a control character"));
    }
    Ok(email)
}

/// The CSRF token of a session: derived from the session token, so it is never stored and the console can ask
/// for it again after a reload (`GET /operator/v1/me`). A page on another site cannot read the session cookie, so
/// it cannot derive the token (the signed double-submit pattern, OWASP CSRF Prevention Cheat Sheet).
pub fn csrf_token(session_token: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(format!("plugboard operator csrf\n{session_token}").as_bytes()))
}

/// Operator accounts and their credentials.
#[derive(Clone)]
pub struct Accounts {
    store: SharedStore,
}

impl Accounts {
    pub fn new(store: SharedStore) -> Arc<Self> {
        Arc::new(Self { store })
    }

    /// Creates an operator with `role` and, when given, a password (checked: [`passwords::check`]). 409 when the
    /// email is taken.
    pub async fn create(&self, email: &str, role: Role, password: Option<&str>, by: &Actor) -> Result<OperatorRow, OperatorError> {
        let email = normalize_email(email)?;
        if let Some(p) = password {
            passwords::check(p).map_err(OperatorError::Invalid)?;
        }
        let row = OperatorRow {
            id: format!("op_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            email: email.clone(),
            role,
            password_hash: password.map(passwords::hash),
            sso_subject: None,
            created_at: now(),
            disabled_at: None,
            failed_sign_ins: 0,
            locked_until: None,
        };
        match self.store.insert_operator(&row).await {
            Ok(()) => {}
            Err(e) if e.is_conflict() => return Err(OperatorError::Exists),
            Err(e) => return Err(e.into()),
        }
        audit::record(&self.store, by, Change { action: "operator.create", target: Some(&email), details: json!({"role": role.as_str()}), ..Default::default() }).await?;
        Ok(row)
    }

    /// A one-time setup link token for `operator_id` (valid [`SETUP_LINK_TTL`]): whoever holds it chooses the
    /// operator's password, so it is shown once and stored as a digest.
    pub async fn setup_link(&self, operator_id: &str) -> Result<String, OperatorError> {
        let token = format!("{SETUP_PREFIX}{}", random_token());
        self.store.insert_setup_link(&digest(&token), operator_id, now() + SETUP_LINK_TTL.as_secs() as i64).await?;
        Ok(token)
    }

    /// Spends a setup link: sets the password and signs the operator in.
    pub async fn finish_setup(&self, token: &str, password: &str, client_ip: Option<std::net::IpAddr>) -> Result<SignedIn, OperatorError> {
        passwords::check(password).map_err(OperatorError::Invalid)?;
        let gone = || OperatorError::Unauthenticated("this setup link was used, has expired, or is not one; ask an admin for a new one".into());
        let operator_id = self.store.use_setup_link(&digest(token)).await?.ok_or_else(gone)?;
        let operator = self.store.operator_by_id(&operator_id).await?.filter(|o| o.disabled_at.is_none()).ok_or_else(gone)?;
        self.store.set_operator_password(&operator.id, &passwords::hash(password)).await?;
        let actor = Actor { name: operator.email.clone(), operator_id: Some(operator.id.clone()), client_ip: client_ip.map(|ip| ip.to_string()) };
        audit::record(&self.store, &actor, Change { action: "operator.set_password", target: Some(&operator.email), ..Default::default() }).await?;
        self.start_session(&operator, client_ip).await
    }

    /// A password sign-in. Wrong email and wrong password read the same and take as long; after
    /// [`MAX_FAILED_SIGN_INS`] failures in a row the account refuses passwords for [`LOCKOUT`] (429), the right
    /// one included. Every attempt is audited.
    pub async fn sign_in(&self, email: &str, password: &str, client_ip: Option<std::net::IpAddr>) -> Result<SignedIn, OperatorError> {
        let wrong = || OperatorError::Unauthenticated("wrong email or password".into());
        let tried = email.trim().to_lowercase().chars().take(MAX_EMAIL_LEN).collect::<String>();
        let ip = client_ip.map(|ip| ip.to_string());
        let refused = |operator_id: Option<String>, why: &'static str| {
            let actor = Actor { name: tried.clone(), operator_id, client_ip: ip.clone() };
            async move {
                audit::record(&self.store, &actor, Change { action: "operator.sign_in", refused: true, details: json!({"reason": why}), ..Default::default() }).await
            }
        };
        let operator = match normalize_email(email) {
            Ok(e) => self.store.operator_by_email(&e).await?,
            Err(_) => None,
        };
        let Some(operator) = operator.filter(|o| o.disabled_at.is_none()) else {
            passwords::verify_nothing(password);
            refused(None, "unknown or disabled account").await?;
            return Err(wrong());
        };
        if let Some(until) = operator.locked_until.filter(|&t| t > now()) {
            refused(Some(operator.id.clone()), "locked out").await?;
            return Err(OperatorError::LockedOut { retry_after_secs: (until - now()).max(1) as u64 });
        }
        let matches = match &operator.password_hash {
            Some(h) => passwords::verify(password, h),
            None => {
                passwords::verify_nothing(password);
                false
            }
        };
        if !matches {
            let failures = self.store.record_failed_sign_in(&operator.id, MAX_FAILED_SIGN_INS, now() + LOCKOUT.as_secs() as i64).await?;
            refused(Some(operator.id.clone()), if failures >= MAX_FAILED_SIGN_INS { "wrong password; account locked" } else { "wrong password" }).await?;
            return Err(wrong());
        }
        if operator.failed_sign_ins > 0 {
            self.store.clear_failed_sign_ins(&operator.id).await?;
        }
        let actor = Actor { name: operator.email.clone(), operator_id: Some(operator.id.clone()), client_ip: ip.clone() };
        audit::record(&self.store, &actor, Change { action: "operator.sign_in", details: json!({"method": "password"}), ..Default::default() }).await?;
        self.start_session(&operator, client_ip).await
    }

    /// A new browser session for `operator` (after a password, a setup link or single sign-on).
    pub async fn start_session(&self, operator: &OperatorRow, client_ip: Option<std::net::IpAddr>) -> Result<SignedIn, OperatorError> {
        let session_token = format!("{SESSION_PREFIX}{}", random_token());
        let csrf_token = csrf_token(&session_token);
        let expires_at = now() + SESSION_TTL.as_secs() as i64;
        let ip = client_ip.map(|ip| ip.to_string());
        self.store.insert_operator_session(&digest(&session_token), &operator.id, &digest(&csrf_token), expires_at, ip.as_deref()).await?;
        Ok(SignedIn { operator: operator.clone(), session_token, csrf_token, expires_at })
    }

    /// The operator signed in with the session `token`, and the digest of its CSRF token; 401 for an unknown,
    /// expired or signed-out session or a disabled operator.
    pub async fn session(&self, token: &str) -> Result<(Principal, String), OperatorError> {
        let invalid = || OperatorError::Unauthenticated("you are not signed in (or your sign-in expired); sign in again".into());
        if !token.starts_with(SESSION_PREFIX) {
            return Err(invalid());
        }
        let token_hash = digest(token);
        let s = self.store.operator_session(&token_hash).await?.ok_or_else(invalid)?;
        let principal = Principal { operator_id: s.operator.id, email: s.operator.email, role: s.operator.role, credential: Credential::Session { token_hash } };
        Ok((principal, s.csrf_hash))
    }

    pub async fn sign_out(&self, principal: &Principal, client_ip: Option<std::net::IpAddr>) -> Result<(), OperatorError> {
        if let Credential::Session { token_hash } = &principal.credential {
            self.store.delete_operator_session(token_hash).await?;
        }
        audit::record(&self.store, &Actor::operator(principal, client_ip), Change { action: "operator.sign_out", ..Default::default() }).await?;
        Ok(())
    }

    /// The operator an API token belongs to, with the token's scope; 401 for an unknown or revoked token or a
    /// disabled operator.
    pub async fn token(&self, token: &str) -> Result<Principal, OperatorError> {
        let invalid = || OperatorError::Unauthenticated("invalid operator API token".into());
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(invalid());
        }
        let (t, o) = self.store.use_operator_token(&digest(token)).await?.ok_or_else(invalid)?;
        Ok(Principal { operator_id: o.id, email: o.email, role: o.role, credential: Credential::Token { id: t.id, scope: t.scope } })
    }

    /// A new API token for `operator_id` (shown once: the answer's string).
    pub async fn create_token(&self, operator_id: &str, name: &str, scope: TokenScope, by: &Actor) -> Result<(OperatorTokenRow, String), OperatorError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME || name.chars().any(|c| c.is_control() || crate::projects::is_invisible_format(c)) {
            return Err(OperatorError::Invalid(format!("name must be 1 to {MAX_TOKEN_NAME} characters, without control characters")));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_token());
        let row = OperatorTokenRow {
            id: format!("tok_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]),
            operator_id: operator_id.into(),
            name: name.into(),
            scope,
            hint: token[token.len() - 4..].into(),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_operator_token(&row, &digest(&token)).await?;
        audit::record(&self.store, by, Change { action: "token.create", target: Some(&row.id), details: json!({"name": row.name, "scope": scope.as_str(), "operatorId": operator_id}), ..Default::default() }).await?;
        Ok((row, token))
    }

    /// Revokes the token `id`, of `owner` only when given (an admin revokes anyone's). 404 when there is no such
    /// active token.
    pub async fn revoke_token(&self, id: &str, owner: Option<&str>, by: &Actor) -> Result<(), OperatorError> {
        if !self.store.revoke_operator_token(id, owner).await? {
            return Err(OperatorError::NotFound("no such active API token".into()));
        }
        audit::record(&self.store, by, Change { action: "token.revoke", target: Some(id), ..Default::default() }).await?;
        Ok(())
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(normalize_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["ada", "@example.com", "ada@", "ada@example", "a da@example.com", "a@b@example.com", "ada\u{202e}@example.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }
}
