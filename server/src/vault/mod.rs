//! Envelope encryption of connection secrets with AES-256-GCM: the only module that sees plaintext credentials.
//! Every record gets a fresh random 96-bit nonce; the key id is stored beside the ciphertext so master keys can
//! rotate (old ids stay readable, new records use the current key); the connection id is the associated data,
//! so a ciphertext moved to another row does not decrypt.

mod credentials;

use std::{collections::HashMap, fmt, path::Path};

use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    Aes256Gcm, Key, Nonce,
};
use base64::{engine::general_purpose::STANDARD, Engine};
pub use credentials::{Credentials, NamedToken, SecretString};
use rand::RngCore;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("PLUGBOARD_MASTER_KEY must be `<id>:<base64 of 32 bytes>` entries, comma-separated (the first is current)")]
    BadKeySpec,
    #[error("the master key id {0:?} appears twice in PLUGBOARD_MASTER_KEY; every key needs its own id")]
    DuplicateKeyId(String),
    #[error("no master key with id {0:?}: it was rotated out of PLUGBOARD_MASTER_KEY")]
    UnknownKey(String),
    #[error("a stored secret failed to decrypt (wrong key or tampered record)")]
    Decrypt,
    #[error("cannot read or write the master key file {path}: {source}")]
    File { path: String, source: std::io::Error },
}

/// Ciphertext as stored: key id, nonce, AES-GCM output (ciphertext ‖ tag).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({}, {} bytes)", self.key_id, self.ciphertext.len())
    }
}

pub struct Vault {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
    /// Per master key, its HMAC-SHA256 key for session tokens (HKDF-SHA256, RFC 5869, from the master key with
    /// [`SESSION_SIGNING_INFO`]): same master keys, same signing keys on every node; current first.
    signing: Vec<zeroize::Zeroizing<[u8; 32]>>,
}

/// HKDF `info` of the session-token signing keys: the master key itself never signs, and no other use of it can
/// produce the same key.
const SESSION_SIGNING_INFO: &[u8] = b"plugboard session token signing key v1";

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault(current key {:?}, {} keys)", self.current, self.keys.len())
    }
}

impl Vault {
    /// Parses `id:base64,id:base64…`; a bare base64 key gets the id `k1`.
    pub fn from_spec(spec: &str) -> Result<Self, VaultError> {
        let mut keys = HashMap::new();
        let mut signing = Vec::new();
        let mut current = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part.split_once(':').map_or(("k1", part), |(id, b64)| (id.trim(), b64.trim()));
            let bytes = zeroize::Zeroizing::new(STANDARD.decode(b64).map_err(|_| VaultError::BadKeySpec)?);
            if bytes.len() != 32 || id.is_empty() {
                return Err(VaultError::BadKeySpec);
            }
            if keys.insert(id.to_owned(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes))).is_some() {
                return Err(VaultError::DuplicateKeyId(id.to_owned()));
            }
            let mut okm = zeroize::Zeroizing::new([0u8; 32]);
            hkdf::Hkdf::<sha2::Sha256>::new(None, &bytes)
                .expand(SESSION_SIGNING_INFO, okm.as_mut())
                .expect("32 bytes is a valid HKDF-SHA256 output length");
            signing.push(okm);
            current.get_or_insert_with(|| id.to_owned());
        }
        Ok(Self { current: current.ok_or(VaultError::BadKeySpec)?, keys, signing })
    }

    /// A new random key spec (`k1:<base64>`).
    pub fn generate_spec() -> String {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        format!("k1:{}", STANDARD.encode(key.as_ref()))
    }

    /// Reads the key spec from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), VaultError> {
        let err = |source| VaultError::File { path: path.display().to_string(), source };
        match std::fs::read_to_string(path) {
            Ok(spec) => Ok((Self::from_spec(spec.trim())?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let spec = Self::generate_spec();
                write_secret_file(path, &spec).map_err(err)?;
                Ok((Self::from_spec(&spec)?, true))
            }
            Err(e) => Err(err(e)),
        }
    }

    /// The id new records are sealed under (the first in the spec).
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Whether records sealed under `key_id` can be opened.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// The session-token signing keys, the current master key's first (the others verify tokens signed before a
    /// rotation).
    pub fn signing_keys(&self) -> &[zeroize::Zeroizing<[u8; 32]>] {
        &self.signing
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let cipher = &self.keys[&self.current];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        Sealed { key_id: self.current.clone(), nonce: nonce.to_vec(), ciphertext }
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, VaultError> {
        let cipher = self.keys.get(&sealed.key_id).ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(VaultError::Decrypt);
        }
        cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad })
            .map(zeroize::Zeroizing::new)
            .map_err(|_| VaultError::Decrypt)
    }

    pub fn seal_credentials(&self, creds: &Credentials, aad: &str) -> Sealed {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(creds).expect("credentials serialize"));
        self.seal(&json, aad.as_bytes())
    }

    pub fn open_credentials(&self, sealed: &Sealed, aad: &str) -> Result<Credentials, VaultError> {
        let json = self.open(sealed, aad.as_bytes())?;
        serde_json::from_slice(&json).map_err(|_| VaultError::Decrypt)
    }
}

/// Writes `contents` to `path` readable by its owner only (mode 0600), creating the folder if needed (mode 0700,
/// [`create_private_dir`]).
pub fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// Creates `dir` and any missing parents for its owner only (mode 0700, whatever the umask allows more). A folder
/// that exists is left as it is, with a warning when other users may enter it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        warn_if_shared(dir);
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the empty file `path` for its owner only (mode 0600) unless it exists — which is left as it is, with a
/// warning when other users may read it. For the SQLite database: SQLite gives its `-wal` and `-shm` files the
/// database file's mode.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Logs a warning when users other than the owner may read `path` (a data folder or database made before
/// Plugboard created them private, or by hand).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "other users may read this; Plugboard creates its data folder 0700 and its files 0600 (chmod go-rwx)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_fresh_nonces_bound_to_the_row() {
        let v = Vault::from_spec(&Vault::generate_spec()).unwrap();
        let a = v.seal(b"token-123", b"conn-1");
        let b = v.seal(b"token-123", b"conn-1");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!a.ciphertext.windows(9).any(|w| w == b"token-123"));
        assert_eq!(&*v.open(&a, b"conn-1").unwrap(), b"token-123");
        assert!(matches!(v.open(&a, b"conn-2"), Err(VaultError::Decrypt)), "moved to another row");
        let mut tampered = a.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(matches!(v.open(&tampered, b"conn-1"), Err(VaultError::Decrypt)));
    }

    #[test]
    fn rotation_keeps_old_records_readable() {
        let old = Vault::generate_spec().replace("k1:", "old:");
        let new = Vault::generate_spec().replace("k1:", "new:");
        let before = Vault::from_spec(&old).unwrap().seal(b"s", b"x");
        let rotated = Vault::from_spec(&format!("{new},{old}")).unwrap();
        assert_eq!(&*rotated.open(&before, b"x").unwrap(), b"s");
        assert_eq!(rotated.seal(b"s", b"x").key_id, "new");
        let dropped = Vault::from_spec(&new).unwrap();
        assert!(matches!(dropped.open(&before, b"x"), Err(VaultError::UnknownKey(_))));
    }

    #[test]
    fn a_key_id_given_twice_is_refused() {
        let a = Vault::generate_spec();
        let b = Vault::generate_spec();
        assert!(matches!(Vault::from_spec(&format!("{a},{b}")), Err(VaultError::DuplicateKeyId(id)) if id == "k1"));
        // Spaces around an id do not make it another id.
        let spaced = b.replacen("k1:", "k1 : ", 1);
        assert!(matches!(Vault::from_spec(&format!("{a},{spaced}")), Err(VaultError::DuplicateKeyId(id)) if id == "k1"));
    }

    #[test]
    fn bad_specs_are_refused() {
        for spec in ["", "k1:short", "k1:!!!", ":AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
            assert!(Vault::from_spec(spec).is_err(), "{spec:?}");
        }
    }
}
