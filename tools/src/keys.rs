//! ed25519 keys: generation, OpenSSL-compatible PEM files (PKCS#8 private keys,
//! SubjectPublicKeyInfo public keys), raw 32-byte public keys, key ids, and
//! the error that names what a non-ed25519 key file holds instead.

use std::path::Path;

use ct_codecs::{Base64, Decoder};
use ed25519_compact::{KeyPair, PublicKey};
use safeslot_shared::verify;

use crate::{output, Error};

/// Length of a raw ed25519 public key.
pub use safeslot_layout::keys::RAW_PUBLIC_KEY_LEN;

/// Generates a fresh key pair from the operating system's random source.
pub fn generate() -> KeyPair {
    KeyPair::generate()
}

/// The key id of `pk`: the first 8 bytes of SHA-256 of its 32 bytes, as in the header.
pub fn key_id(pk: &PublicKey) -> [u8; 8] {
    verify::key_id(pk)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the private key (PKCS#8 PEM, mode 0600) to `key_out` and, when
/// given, the public key (SubjectPublicKeyInfo PEM) to `pub_out`. Neither file
/// is overwritten without `force`; both are checked before either is written.
///
/// # Errors
///
/// [`Error::Exists`], [`Error::Create`] or [`Error::Write`].
pub fn write_key_pair(kp: &KeyPair, key_out: &Path, pub_out: Option<&Path>, force: bool) -> Result<(), Error> {
    if !force {
        for p in std::iter::once(key_out).chain(pub_out) {
            if p.exists() {
                return Err(Error::Exists { path: p.to_path_buf() });
            }
        }
    }
    output::write_file(key_out, kp.sk.to_pem().as_bytes(), output::Mode::Secret, force)?;
    if let Some(p) = pub_out {
        output::write_file(p, kp.pk.to_pem().as_bytes(), output::Mode::Public, force)?;
    }
    Ok(())
}

/// Loads a signing key: an ed25519 private key in PKCS#8 PEM, as written by
/// `keygen` or `openssl genpkey -algorithm ed25519`.
///
/// # Errors
///
/// [`Error::Read`] or [`Error::Key`] (which says what the file holds instead).
pub fn load_signing_key(path: &Path) -> Result<KeyPair, Error> {
    parse_signing_key(path, &read_text(path)?)
}

/// Parses the text of a signing-key file read from `path` (named in errors): as
/// [`load_signing_key`], without the read (the `keys_elf` fuzz target runs it).
///
/// # Errors
///
/// [`Error::Key`] (which says what the text holds instead).
pub fn parse_signing_key(path: &Path, text: &str) -> Result<KeyPair, Error> {
    KeyPair::from_pem(text).map_err(|_| Error::Key {
        path: path.to_path_buf(),
        reason: match pem_label(text) {
            Some("PUBLIC KEY") if spki_is_ed25519(text) => {
                "this is a public key; signing needs the private key (PKCS#8 PEM)".to_owned()
            }
            _ => explain(text),
        },
    })
}

/// Loads a public key with the workspace's one key-file loader
/// ([`safeslot_layout::keys::load_public_key`]): a SubjectPublicKeyInfo PEM, a PKCS#8
/// private key PEM (its public half is used), or exactly 32 raw bytes (as `pubkey --raw`
/// writes).
///
/// # Errors
///
/// [`Error::Read`] or [`Error::Key`] (which says what the file holds instead).
pub fn load_public_key(path: &Path) -> Result<PublicKey, Error> {
    use safeslot_layout::keys::{self as loader, KeyFileError};
    let raw = loader::load_public_key(path).map_err(|e| match e {
        KeyFileError::Read { path, source } => Error::Read { path, source },
        KeyFileError::NotEd25519 { path, text } => Error::Key { path, reason: explain(&text) },
        KeyFileError::BadRaw { path } => Error::Key { path, reason: "not a valid raw ed25519 public key".to_owned() },
        _ => Error::Key {
            path: path.to_path_buf(),
            reason: "neither a PEM file nor a 32-byte raw ed25519 public key".to_owned(),
        },
    })?;
    Ok(PublicKey::new(raw))
}

fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Key { path: path.to_path_buf(), reason: "not a PEM file (it is binary)".to_owned() })
}

/// The label of the first PEM block: `PRIVATE KEY` for `-----BEGIN PRIVATE KEY-----`.
fn pem_label(text: &str) -> Option<&str> {
    let rest = text.split("-----BEGIN ").nth(1)?;
    rest.split("-----").next()
}

/// The DER body of the first PEM block.
fn pem_der(text: &str) -> Option<Vec<u8>> {
    let label = pem_label(text)?;
    let body = text.split(&format!("-----BEGIN {label}-----")).nth(1)?;
    let b64 = body.split(&format!("-----END {label}-----")).next()?;
    let mut out = vec![0u8; b64.len()];
    let n = Base64::decode(&mut out, b64, Some(b"\r\n\t ")).ok()?.len();
    out.truncate(n);
    Some(out)
}

/// DER-encoded algorithm OIDs (tag, length, value) and their names.
const KNOWN_OIDS: &[(&[u8], &str)] = &[
    (&[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01], "an RSA key"),
    (&[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A], "an RSA-PSS key"),
    (&[0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01], "an elliptic-curve (ECDSA) key"),
    (&[0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x01], "a DSA key"),
    (&[0x06, 0x03, 0x2B, 0x65, 0x6E], "an X25519 key"),
    (&[0x06, 0x03, 0x2B, 0x65, 0x6F], "an X448 key"),
    (&[0x06, 0x03, 0x2B, 0x65, 0x71], "an Ed448 key"),
];
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];

fn spki_is_ed25519(text: &str) -> bool {
    pem_der(text).is_some_and(|d| contains(&d, ED25519_OID))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Why `text` did not load as an ed25519 key, as precisely as we can tell.
fn explain(text: &str) -> String {
    let what = match pem_label(text) {
        None => return "not a PEM key file".to_owned(),
        Some("RSA PRIVATE KEY" | "RSA PUBLIC KEY") => "an RSA key",
        Some("EC PRIVATE KEY") => "an elliptic-curve (ECDSA) key",
        Some("DSA PRIVATE KEY") => "a DSA key",
        Some("ENCRYPTED PRIVATE KEY") => {
            return "the private key is encrypted; decrypt it first \
                    (openssl pkey -in KEY -out PLAIN.pem)"
                .to_owned()
        }
        Some("OPENSSH PRIVATE KEY") => {
            return "an OpenSSH private key; safeslot needs PKCS#8 PEM \
                    (make one with `safeslot-image keygen` or `openssl genpkey -algorithm ed25519`)"
                .to_owned()
        }
        Some("CERTIFICATE") => "a certificate",
        Some("PRIVATE KEY" | "PUBLIC KEY") => match pem_der(text) {
            None => return "the PEM body is not valid base64".to_owned(),
            Some(der) => match KNOWN_OIDS.iter().find(|(oid, _)| contains(&der, oid)) {
                Some((_, name)) => name,
                None if contains(&der, ED25519_OID) => {
                    return "an ed25519 key in an unsupported encoding (only the minimal PKCS#8 v1 \
                            form OpenSSL writes is accepted)"
                        .to_owned()
                }
                None => "a key of an unknown algorithm",
            },
        },
        Some(_) => "not a key",
    };
    format!("not an ed25519 key (it is {what})")
}

#[cfg(test)]
mod tests {
    use super::*;

    // `openssl genpkey -algorithm ed25519` (a throwaway test key).
    const OPENSSL_ED25519: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEICobVkkbLK6YyWUO+Q+6a8ijUeVvDxqEaoBkWhI9lATm\n\
        -----END PRIVATE KEY-----\n";
    // `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    const OPENSSL_P256: &str = "-----BEGIN PRIVATE KEY-----\n\
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglzFZBNSbWwhgJhZD\n\
        UqH9rfKGZFxDPXxWLpZjKT4N7cWhRANCAAQrgQzg7AEvWVAeDV2ibHs9IZ+0stwQ\n\
        ldaC+M0oiysyNh71FiNrdh5Din7qG+ZZvHc7PQaw+K80daK0CNSKxo/2\n\
        -----END PRIVATE KEY-----\n";

    #[test]
    fn explains_foreign_keys() {
        assert!(KeyPair::from_pem(OPENSSL_ED25519).is_ok());
        assert_eq!(explain(OPENSSL_P256), "not an ed25519 key (it is an elliptic-curve (ECDSA) key)");
        assert_eq!(
            explain("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"),
            "not an ed25519 key (it is an RSA key)"
        );
        assert!(explain("hello").contains("not a PEM"));
        assert!(explain("-----BEGIN ENCRYPTED PRIVATE KEY-----\n").contains("encrypted"));
    }

    #[test]
    fn pem_round_trip_and_key_id() {
        let kp = generate();
        let again = KeyPair::from_pem(&kp.sk.to_pem()).unwrap();
        assert_eq!(again.pk, kp.pk);
        assert_eq!(PublicKey::from_pem(&kp.pk.to_pem()).unwrap(), kp.pk);
        assert_eq!(key_id(&kp.pk), verify::key_id(&kp.pk));
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert!(spki_is_ed25519(&kp.pk.to_pem()));
    }
}
