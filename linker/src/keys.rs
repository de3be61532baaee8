//! The one loader of trusted ed25519 public key files, shared by the board build script,
//! the agent, the image tool and xtask: a key file is "PEM or 32 raw bytes".
//!
//! Accepted, in this order:
//! 1. exactly 32 bytes not starting with `-----`: the raw public key (`pubkey --raw`);
//! 2. a SubjectPublicKeyInfo PEM (`openssl pkey -pubout`, `safeslot-image keygen`);
//! 3. a PKCS#8 private key PEM, whose public half is used.
//!
//! A board build loads its keys with [`load_board_keys`], which also refuses the public
//! TEST key (`docs/vectors/test-key.pub`) unless [`ALLOW_TEST_KEY_ENV`] opts in: its
//! secret seed is published, so a board that trusts it boots anyone's image.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use ed25519_compact::{KeyPair, PublicKey};

/// Length of a raw ed25519 public key.
pub const RAW_PUBLIC_KEY_LEN: usize = 32;

/// The published secret seed of the TEST key that signs the vectors in `docs/vectors/`
/// (docs/FORMAT.md, "Test vectors"); its public key is `docs/vectors/test-key.pub`.
pub const TEST_KEY_SEED: [u8; 32] = [7; 32];

/// Environment variable that, set to `1` at build time, lets a board embed the public TEST
/// key (for tests that sign with [`TEST_KEY_SEED`]); any other value, or none, refuses it.
pub const ALLOW_TEST_KEY_ENV: &str = "SAFESLOT_ALLOW_TEST_KEY";

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
    /// The public TEST key, given to a board build without `SAFESLOT_ALLOW_TEST_KEY=1`
    /// ([`ALLOW_TEST_KEY_ENV`]).
    #[error(
        "{}: this is the public TEST key (docs/vectors/test-key.pub): its secret seed [7; 32] is \
         published, so a board embedding it boots an image signed by anyone. Build with your own \
         key (safeslot-image keygen), or set {ALLOW_TEST_KEY_ENV}=1 to embed it anyway (tests only)",
        path.display()
    )]
    TestKey {
        /// The file that holds it.
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

/// The public half of [`TEST_KEY_SEED`]: the bytes of `docs/vectors/test-key.pub`.
#[must_use]
pub fn test_public_key() -> [u8; RAW_PUBLIC_KEY_LEN] {
    *KeyPair::from_seed(ed25519_compact::Seed::new(TEST_KEY_SEED)).pk
}

/// Refuses `key`, loaded from `path`, when it is the public TEST key ([`test_public_key`],
/// compared by bytes, so any file form of it is caught), unless `allow`, the value of
/// [`ALLOW_TEST_KEY_ENV`], is `1`. A pure function: pass
/// `std::env::var_os(ALLOW_TEST_KEY_ENV).as_deref()`.
///
/// # Errors
///
/// [`KeyFileError::TestKey`].
pub fn refuse_test_key(path: &Path, key: &[u8; RAW_PUBLIC_KEY_LEN], allow: Option<&OsStr>) -> Result<(), KeyFileError> {
    if *key == test_public_key() && allow != Some(OsStr::new("1")) {
        return Err(KeyFileError::TestKey { path: path.to_path_buf() });
    }
    Ok(())
}

/// Loads the public keys a board embeds from `paths` ([`load_public_key`] each, in order)
/// and [refuses the TEST key](refuse_test_key) unless `allow_test_key` (the value of
/// [`ALLOW_TEST_KEY_ENV`]) is `1`.
///
/// # Errors
///
/// The first key that does not load, or [`KeyFileError::TestKey`].
pub fn load_board_keys(
    paths: &[PathBuf],
    allow_test_key: Option<&OsStr>,
) -> Result<Vec<[u8; RAW_PUBLIC_KEY_LEN]>, KeyFileError> {
    paths
        .iter()
        .map(|p| {
            let key = load_public_key(p)?;
            refuse_test_key(p, &key, allow_test_key)?;
            Ok(key)
        })
        .collect()
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

    fn vectors_key() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors/test-key.pub")
    }

    #[test]
    fn test_public_key_is_the_vectors_file() {
        assert_eq!(std::fs::read(vectors_key()).unwrap(), test_public_key());
    }

    #[test]
    fn board_keys_refuse_the_test_key_unless_opted_in() {
        let path = vectors_key();
        let e = load_board_keys(std::slice::from_ref(&path), None).unwrap_err();
        assert!(matches!(&e, KeyFileError::TestKey { path: p } if *p == path), "{e:?}");
        let msg = e.to_string();
        for needle in [path.display().to_string().as_str(), "TEST key", "[7; 32]", "SAFESLOT_ALLOW_TEST_KEY=1"] {
            assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
        }
        for not_opted_in in ["", "0", "true", "yes"] {
            assert!(
                load_board_keys(std::slice::from_ref(&path), Some(not_opted_in.as_ref())).is_err(),
                "{not_opted_in:?}"
            );
        }
        assert_eq!(load_board_keys(&[path], Some("1".as_ref())).unwrap(), [test_public_key()]);
    }

    #[test]
    fn the_test_key_is_refused_in_any_file_form_and_other_keys_pass() {
        let test = KeyPair::from_seed(ed25519_compact::Seed::new(TEST_KEY_SEED));
        for form in [test.pk.to_pem(), test.sk.to_pem()] {
            let key = parse(form.as_bytes()).unwrap();
            assert!(matches!(refuse_test_key(Path::new("k"), &key, None), Err(KeyFileError::TestKey { .. })));
        }
        let other = *KeyPair::from_seed(ed25519_compact::Seed::new([9; 32])).pk;
        refuse_test_key(Path::new("k"), &other, None).unwrap();
    }
}
