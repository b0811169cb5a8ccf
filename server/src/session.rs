//! Widget session tokens (`pbs_…`): signed and self-verifying, so minting one writes nothing and checking one reads
//! nothing but the revocation list.
//!
//! Shape: `pbs_<claims>.<tag>`, both base64url without padding. `claims` is the JSON of [`Claims`] (who the
//! session is for, until when, and a random id); `tag` is HMAC-SHA256 (RFC 2104) over `pbs_<claims>` under a key
//! derived from the master key ([`crate::vault::Vault::signing_keys`]). Every node with the same master key
//! verifies every node's tokens; after a master-key rotation tokens signed with the previous key stay valid until
//! they expire (minutes). A token is bound to its project, environment and identity by the tag, short-lived by
//! `exp`, and revocable by its id (the store's revocation list, consulted on every use, on every node).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use plugboard_shared::IdentityType;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{keys::Environment, vault::Vault};

const PREFIX: &str = "pbs_";

/// Longest token accepted (bytes): a session naming 500 allowed integrations still fits.
pub const MAX_TOKEN_LEN: usize = 32 * 1024;

/// Most integrations one session may be narrowed to.
pub const MAX_ALLOWED_INTEGRATIONS: usize = 500;

/// A widget session: what its token says, once its tag has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Random id (128 bits, base64url): what the revocation list names.
    pub id: String,
    /// Hex SHA-256 of the whole token: what sign-ins started from this session are tied to.
    pub token_hash: String,
    pub project_id: String,
    pub environment: Environment,
    pub identity: String,
    pub identity_type: IdentityType,
    pub allowed_integrations: Option<Vec<String>>,
    pub name: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Digest of the auth link or hosted session this session was opened from: its connection spends the link.
    pub link_hash: Option<String>,
}

/// What a token carries (short member names: the token travels in every widget request's header).
#[derive(Serialize, Deserialize)]
struct Claims {
    jti: String,
    p: String,
    e: String,
    i: String,
    t: IdentityType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    iat: i64,
    exp: i64,
}

/// What a session is for; [`issue`] adds the id and the token.
pub struct NewSession {
    pub project_id: String,
    pub environment: Environment,
    pub identity: String,
    pub identity_type: IdentityType,
    pub allowed_integrations: Option<Vec<String>>,
    pub name: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub link_hash: Option<String>,
}

fn tag(key: &[u8; 32], signed: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signed.as_bytes());
    mac
}

/// Signs a new session with the current master key: the token (a secret: the bearer is the session).
pub fn issue(vault: &Vault, new: NewSession) -> String {
    let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    let claims = Claims {
        jti: id.clone(),
        p: new.project_id,
        e: new.environment.as_str().to_owned(),
        i: new.identity,
        t: new.identity_type,
        a: new.allowed_integrations,
        n: new.name,
        l: new.link_hash,
        iat: new.created_at,
        exp: new.expires_at,
    };
    let json = serde_json::to_vec(&claims).expect("claims serialize");
    let signed = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
    let mac = tag(&vault.signing_keys()[0], &signed).finalize().into_bytes();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The session `token` stands for, if its tag is one of ours (checked in constant time, under every configured
/// master key). Says nothing about expiry or revocation: the caller checks `expires_at` and the revocation list.
pub fn verify(vault: &Vault, token: &str) -> Option<Session> {
    if token.len() > MAX_TOKEN_LEN || !token.starts_with(PREFIX) {
        return None;
    }
    let (signed, tag_b64) = token.rsplit_once('.')?;
    let presented = URL_SAFE_NO_PAD.decode(tag_b64).ok()?;
    let ours = vault.signing_keys().iter().any(|key| tag(key, signed).verify_slice(&presented).is_ok());
    if !ours {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(&signed[PREFIX.len()..]).ok()?;
    let claims: Claims = serde_json::from_slice(&json).ok()?;
    into_session(claims, crate::keys::digest(token))
}

/// The session of checked claims. Claims whose texts hold a control character are refused: the API refuses such
/// text when it mints ([`crate::http::input`]), so only a token minted before it did can carry one, and its
/// identity would reach the database.
fn into_session(c: Claims, token_hash: String) -> Option<Session> {
    let texts = [&c.p, &c.i].into_iter().chain(&c.n).chain(c.a.iter().flatten());
    if texts.into_iter().any(|t| t.chars().any(char::is_control)) {
        return None;
    }
    Some(Session {
        id: c.jti,
        token_hash,
        project_id: c.p,
        environment: Environment::parse(&c.e)?,
        identity: c.i,
        identity_type: c.t,
        allowed_integrations: c.a,
        name: c.n,
        created_at: c.iat,
        expires_at: c.exp,
        link_hash: c.l,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_session() -> NewSession {
        NewSession {
            project_id: "p1".into(),
            environment: Environment::Live,
            identity: "alice@example.com".into(),
            identity_type: IdentityType::Team,
            allowed_integrations: Some(vec!["gmail".into()]),
            name: Some("Work".into()),
            created_at: 1_700_000_000,
            expires_at: 1_700_000_900,
            link_hash: None,
        }
    }

    #[test]
    fn a_token_verifies_to_what_was_issued_and_ids_differ() {
        let vault = Vault::from_spec(&Vault::generate_spec()).unwrap();
        let token = issue(&vault, new_session());
        let issued = verify(&vault, &token).unwrap();
        assert_eq!((issued.identity.as_str(), issued.environment, issued.expires_at), ("alice@example.com", Environment::Live, 1_700_000_900));
        assert_eq!((issued.identity_type, issued.allowed_integrations.as_deref(), issued.name.as_deref()), (IdentityType::Team, Some(&["gmail".to_owned()][..]), Some("Work")));
        assert_eq!(issued.token_hash, crate::keys::digest(&token));
        let again = verify(&vault, &issue(&vault, new_session())).unwrap();
        assert_ne!(issued.id, again.id);
    }

    #[test]
    fn a_changed_claim_a_changed_tag_or_another_master_key_is_refused() {
        let vault = Vault::from_spec(&Vault::generate_spec()).unwrap();
        let token = issue(&vault, new_session());
        let (signed, tag) = token.rsplit_once('.').unwrap();
        // Claims rewritten to another identity, signed tag kept.
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&signed[4..]).unwrap()).unwrap().replace("alice", "mallory");
        let forged = format!("pbs_{}.{tag}", URL_SAFE_NO_PAD.encode(claims));
        assert_eq!(verify(&vault, &forged), None);
        let mut bad_tag = token.clone().into_bytes();
        let last = bad_tag.len() - 2;
        bad_tag[last] = if bad_tag[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(verify(&vault, &String::from_utf8(bad_tag).unwrap()), None);
        let stranger = Vault::from_spec(&Vault::generate_spec()).unwrap();
        assert_eq!(verify(&stranger, &token), None);
        for junk in ["", "pbs_", "pbs_.", "pbs_x.y", "sk_test_abc", &"pbs_a".repeat(10_000)] {
            assert_eq!(verify(&vault, junk), None, "{junk:.20}");
        }
    }

    #[test]
    fn a_token_whose_claims_hold_a_control_character_is_refused() {
        let vault = Vault::from_spec(&Vault::generate_spec()).unwrap();
        for tweak in [
            (|s: &mut NewSession| s.identity = "alice\0".into()) as fn(&mut NewSession),
            |s| s.name = Some("Wo\nrk".into()),
            |s| s.allowed_integrations = Some(vec!["gmail".into(), "x\u{7f}".into()]),
        ] {
            let mut new = new_session();
            tweak(&mut new);
            assert_eq!(verify(&vault, &issue(&vault, new)), None);
        }
    }

    #[test]
    fn tokens_signed_before_a_master_key_rotation_stay_valid() {
        let old = Vault::generate_spec().replace("k1:", "old:");
        let new = Vault::generate_spec().replace("k1:", "new:");
        let token = issue(&Vault::from_spec(&old).unwrap(), new_session());
        let issued = verify(&Vault::from_spec(&old).unwrap(), &token);
        assert!(issued.is_some());
        assert_eq!(verify(&Vault::from_spec(&format!("{new},{old}")).unwrap(), &token), issued);
        assert_eq!(verify(&Vault::from_spec(&new).unwrap(), &token), None, "rotated out");
    }
}
