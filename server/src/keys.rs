//! Secret keys (`sk_test_…`) and link tokens: generation, parsing and hashing. The plaintext exists only in the
//! request that carries it; the database stores SHA-256 digests (256-bit random values, so a fast hash is the
//! right tool — there is nothing to brute-force). Session tokens (`pbs_…`) are signed instead: [`crate::session`].

use std::{fmt, str::FromStr};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Deployment environment a key (and everything created with it) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    Test,
    Live,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "test" => Some(Self::Test),
            "live" => Some(Self::Live),
            _ => None,
        }
    }
}

/// 32 random bytes, base64url: the body of every token Plugboard issues.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256 of a secret, the only form in which secrets are stored or compared.
pub fn digest(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in hash {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 15)] as char);
    }
    hex
}

/// A project secret key. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn generate(env: Environment) -> Self {
        Self(format!("sk_{}_{}", env.as_str(), random_token()))
    }

    pub fn environment(&self) -> Environment {
        if self.0.starts_with("sk_live_") {
            Environment::Live
        } else {
            Environment::Test
        }
    }

    pub fn digest(&self) -> String {
        digest(&self.0)
    }

    /// The first characters, safe to show in listings (`sk_test_AbCd…`).
    pub fn hint(&self) -> String {
        format!("{}…", &self.0[..12.min(self.0.len())])
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.hint())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a secret key looks like sk_test_… or sk_live_… followed by at least 24 characters")]
pub struct BadSecretKey;

impl FromStr for SecretKey {
    type Err = BadSecretKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let rest = s.strip_prefix("sk_test_").or_else(|| s.strip_prefix("sk_live_")).ok_or(BadSecretKey)?;
        let ok = rest.len() >= 24 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadSecretKey)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_never_print() {
        let key = SecretKey::generate(Environment::Live);
        let parsed: SecretKey = key.expose().parse().unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.environment(), Environment::Live);
        assert!(!format!("{key:?}").contains(&key.expose()[12..]));
        assert_ne!(key.digest(), SecretKey::generate(Environment::Live).digest());
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in ["", "sk_test_", "sk_prod_aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sk_test_short", "sk_test_has spaces in it ......"] {
            assert!(bad.parse::<SecretKey>().is_err(), "{bad:?}");
        }
    }
}
