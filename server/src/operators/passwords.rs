//! Operator passwords: Argon2id with the `argon2` crate's defaults (19 MiB, 2 passes, 1 lane — OWASP's password
//! storage recommendation), stored as a PHC string that carries its own salt and parameters.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

/// Shortest password accepted (characters). Length is what makes a password strong (NIST SP 800-63B §5.1.1.2);
/// no composition rules.
pub const MIN_LEN: usize = 12;

/// Longest password accepted (bytes): hashing is costly on purpose, and a megabyte "password" would make it more so.
pub const MAX_LEN: usize = 1024;

/// Whether `password` may be chosen; the error says why, as a sentence.
pub fn check(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("a password needs at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("a password may have at most {MAX_LEN} bytes"));
    }
    Ok(())
}

/// The PHC string of `password` under a fresh salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("Argon2id with default parameters hashes any input").to_string()
}

/// Whether `password` matches the PHC string `stored` (false for a malformed one).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Spends the time of one [`verify`] without an account to check, so a sign-in for an unknown email takes as long
/// as one for a known email (no account enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("not a password anyone has"));
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash("correct horse battery staple");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert!(verify("correct horse battery staple", &a));
        assert!(!verify("correct horse battery stapl", &a));
        assert_ne!(a, hash("correct horse battery staple"));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(check("short").is_err());
        assert!(check("twelve chars").is_ok());
        assert!(check(&"x".repeat(MAX_LEN + 1)).is_err());
    }
}
