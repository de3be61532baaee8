//! The one loader of trusted ed25519 public key files, shared by the board build script,
//! the agent, the image tool and xtask: a key file is "PEM or 32 raw bytes".
//!
//! Accepted, in this order:
//! 1. exactly 32 bytes not starting with `-----`: the raw public key (`pubkey --raw`);
//! 2. a SubjectPublicKeyInfo PEM (`openssl pkey -pubout`, `safeslot-image keygen`);
//! 3. a PKCS#8 private key PEM, whose public half is used.

use std::path::{Path, PathBuf};

use ed25519_compact::{KeyPair, PublicKey};

/// Length of a raw ed25519 public key.
pub const RAW_PUBLIC_KEY_LEN: usize = 32;

/// Why a key file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// 32 raw bytes that are not a valid ed25519 point.
    #[error("{}: not a valid raw ed25519 public key", path.display())]
    BadRaw {
        /// The file.
        path: PathBuf,
    },
    /// Neither PEM text nor 32 raw bytes.
    #[error("{}: neither a PEM file nor a 32-byte raw ed25519 public key", path.display())]
    NotPem {
        /// The file.
        path: PathBuf,
    },
    /// PEM text that holds no ed25519 key (the text is kept so callers can say what it is).
    #[error("{}: not an ed25519 public or private key PEM", path.display())]
    NotEd25519 {
        /// The file.
        path: PathBuf,
        /// The file's text.
        text: String,
    },
}

/// Loads a public key from `path`; see the module docs for the accepted forms.
///
/// # Errors
///
/// [`KeyFileError`]: unreadable, or none of the accepted forms.
pub fn load_public_key(path: &Path) -> Result<[u8; RAW_PUBLIC_KEY_LEN], KeyFileError> {
    let bytes = std::fs::read(path).map_err(|source| KeyFileError::Read { path: path.to_path_buf(), source })?;
    parse_public_key(path, bytes)
}

/// [`load_public_key`] over the bytes of a file already read (`path` only names it in errors).
///
/// # Errors
///
/// As [`load_public_key`], without [`KeyFileError::Read`].
pub fn parse_public_key(path: &Path, bytes: Vec<u8>) -> Result<[u8; RAW_PUBLIC_KEY_LEN], KeyFileError> {
    if bytes.len() == RAW_PUBLIC_KEY_LEN && !bytes.starts_with(b"-----") {
        return PublicKey::from_slice(&bytes)
            .map(|pk| *pk)
            .map_err(|_| KeyFileError::BadRaw { path: path.to_path_buf() });
    }
    let text = String::from_utf8(bytes).map_err(|_| KeyFileError::NotPem { path: path.to_path_buf() })?;
    if let Ok(pk) = PublicKey::from_pem(&text) {
        return Ok(*pk);
    }
    match KeyPair::from_pem(&text) {
        Ok(kp) => Ok(*kp.pk),
        Err(_) => Err(KeyFileError::NotEd25519 { path: path.to_path_buf(), text }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<[u8; 32], KeyFileError> {
        parse_public_key(Path::new("k"), bytes.to_vec())
    }

    #[test]
    fn raw_public_and_private_pem_give_the_same_key() {
        let kp = KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
        let raw = *kp.pk;
        assert_eq!(parse(&raw).unwrap(), raw);
        assert_eq!(parse(kp.pk.to_pem().as_bytes()).unwrap(), raw);
        assert_eq!(parse(kp.sk.to_pem().as_bytes()).unwrap(), raw);
    }

    #[test]
    fn other_files_are_refused_with_their_kind() {
        assert!(matches!(parse(&[0xFF; 31]), Err(KeyFileError::NotPem { .. })));
        assert!(matches!(
            parse(b"-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n"),
            Err(KeyFileError::NotEd25519 { .. })
        ));
        // 32 bytes starting with the PEM armour are read as (bad) PEM, not as a raw key.
        let mut armour = [b'A'; 32];
        armour[..5].copy_from_slice(b"-----");
        assert!(matches!(parse(&armour), Err(KeyFileError::NotEd25519 { .. })));
    }
}
