//! Account secrets at rest: ChaCha20-Poly1305 with a random nonce per
//! encryption, stored as base64 of `nonce || ciphertext || tag`.
//!
//! The key lives in its own file, outside the database, so a copied database
//! file alone does not reveal any refresh token.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use secrecy::{ExposeSecret, SecretString};

use crate::StoreError;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct SecretCipher {
    aead: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCipher")
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SecretCipher {
    pub fn from_key_bytes(key: [u8; KEY_LEN]) -> SecretCipher {
        SecretCipher {
            aead: ChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// Reads the key file, or creates it (mode 0600, parent folders included)
    /// with a fresh random key when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<SecretCipher, StoreError> {
        match fs::read_to_string(path) {
            Ok(text) => {
                warn_if_readable_by_others(path);
                Self::from_key_file_text(&text).map_err(|why| key_error(path, why))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(key_error(path, format!("cannot read it: {e}"))),
        }
    }

    fn from_key_file_text(text: &str) -> Result<SecretCipher, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("holds {} bytes, expected {KEY_LEN}", b.len()))?;
        Ok(SecretCipher::from_key_bytes(key))
    }

    fn create(path: &Path) -> Result<SecretCipher, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| key_error(path, format!("cannot create its folder: {e}")))?;
        }
        let key: [u8; KEY_LEN] = Key::generate().into();
        let mut options = fs::OpenOptions::new();
        // create_new: two processes starting at once must not both write a key.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = match options.open(path) {
            Ok(file) => file,
            // Lost the race: use the key the other process wrote.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Self::load_or_create(path),
            Err(e) => return Err(key_error(path, format!("cannot create it: {e}"))),
        };
        file.write_all(format!("{}\n", STANDARD.encode(key)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| key_error(path, format!("cannot write it: {e}")))?;
        tracing::info!(path = %path.display(), "created a new secret key file");
        Ok(SecretCipher::from_key_bytes(key))
    }

    pub fn encrypt(&self, secret: &SecretString) -> String {
        let nonce = Nonce::generate();
        let ciphertext = self
            .aead
            .encrypt(&nonce, secret.expose_secret().as_bytes())
            // Only fails for inputs of more than 256 GiB.
            .expect("ChaCha20-Poly1305 encryption of an in-memory secret");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, stored: &str) -> Result<SecretString, StoreError> {
        let bytes = STANDARD
            .decode(stored.trim())
            .map_err(|e| StoreError::Secret(format!("stored secret is not base64: {e}")))?;
        if bytes.len() < NONCE_LEN {
            return Err(StoreError::Secret("stored secret is truncated".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce)
            .map_err(|_| StoreError::Secret("stored secret has a bad nonce".into()))?;
        let plain = self.aead.decrypt(&nonce, ciphertext).map_err(|_| {
            StoreError::Secret(
                "cannot decrypt a stored secret: wrong key file or altered data".into(),
            )
        })?;
        let text = String::from_utf8(plain)
            .map_err(|_| StoreError::Secret("decrypted secret is not UTF-8".into()))?;
        Ok(SecretString::from(text))
    }
}

fn key_error(path: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Secret(format!("key file {}: {why}", path.display()))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "secret key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn round_trips_and_uses_a_fresh_nonce_each_time() {
        let c = SecretCipher::from_key_bytes([7; 32]);
        let a = c.encrypt(&secret("refresh-token-123"));
        let b = c.encrypt(&secret("refresh-token-123"));
        assert_ne!(a, b);
        assert!(!a.contains("refresh-token-123"));
        assert_eq!(c.decrypt(&a).unwrap().expose_secret(), "refresh-token-123");
        assert_eq!(c.decrypt(&b).unwrap().expose_secret(), "refresh-token-123");
    }

    #[test]
    fn wrong_key_and_tampering_are_errors() {
        let c = SecretCipher::from_key_bytes([7; 32]);
        let other = SecretCipher::from_key_bytes([8; 32]);
        let stored = c.encrypt(&secret("x"));
        assert!(other.decrypt(&stored).is_err());
        let mut bytes = STANDARD.decode(&stored).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        assert!(c.decrypt(&STANDARD.encode(bytes)).is_err());
        assert!(c.decrypt("AAAA").is_err());
        assert!(c.decrypt("not base64!").is_err());
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let c = SecretCipher::from_key_bytes([0xAB; 32]);
        let shown = format!("{c:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("171") && !shown.contains("ab") && !shown.contains("AB"));
    }

    #[test]
    fn creates_a_private_key_file_once_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("bnpl.key");
        let first = SecretCipher::load_or_create(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let stored = first.encrypt(&secret("s3cret"));
        let second = SecretCipher::load_or_create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            text,
            "key file rewritten"
        );
        assert_eq!(second.decrypt(&stored).unwrap().expose_secret(), "s3cret");
    }

    #[test]
    fn an_invalid_key_file_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        fs::write(&path, "not base64 at all").unwrap();
        let err = SecretCipher::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        fs::write(&path, STANDARD.encode([1u8; 16])).unwrap();
        let err = SecretCipher::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("16 bytes") && err.contains("bad.key"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_key_file_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should be: unreadable as a file, even for root.
        let path = dir.path().join("dir.key");
        fs::create_dir(&path).unwrap();
        let err = SecretCipher::load_or_create(&path).unwrap_err().to_string();
        assert!(
            err.contains("dir.key") && err.contains("cannot read"),
            "{err}"
        );
    }
}
