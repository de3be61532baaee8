//! `inspect`: decode a slot image's header without any key, report every
//! field and whether the bytes after the header match its SHA-256.
//!
//! [`Inspection`] serialises to the `--json` output, whose `schema` field is
//! bumped on any incompatible change.

use std::fmt;
use std::path::Path;

use safeslot_shared::header::{SlotHeader, HEADER_LEN};
use safeslot_shared::tlv::{self, tag};
use safeslot_shared::verify;
use serde::Serialize;

use crate::flash::SliceFlash;
use crate::keys::hex;
use crate::Error;

/// Version of the `inspect --json` schema.
pub const INSPECT_SCHEMA: u32 = 1;

/// Whether the image bytes match the header's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashStatus {
    /// The `image_len` bytes after the header hash to `image_hash`.
    Match,
    /// They do not.
    Mismatch,
    /// The file ends before `header_size + image_len`.
    Truncated,
}

impl fmt::Display for HashStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashStatus::Match => "matches the image",
            HashStatus::Mismatch => "MISMATCH: the image bytes do not match image_hash",
            HashStatus::Truncated => "TRUNCATED: the file ends before header_size + image_len",
        })
    }
}

/// The version, both as text and by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VersionFields {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Revision.
    pub revision: u16,
    /// Build.
    pub build: u32,
}

/// One protected TLV, as `inspect` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlvView {
    /// The tag byte.
    pub tag: u8,
    /// Its name (`unknown` for a tag this tool does not know).
    pub name: &'static str,
    /// Whether a boot stage that does not know it must refuse the image.
    pub critical: bool,
    /// The value as hex.
    pub value: String,
    /// The value as the stage reads it (text, a version, a key index).
    pub meaning: String,
}

impl TlvView {
    fn of(e: &tlv::Tlv<'_>) -> TlvView {
        let (name, meaning) = match e.tag {
            tag::COMPATIBLE => ("compatible", String::from_utf8_lossy(e.value).into_owned()),
            tag::REVOKE_BELOW => (
                "revoke-below",
                format!("keys below index {} revoked once confirmed", e.value.first().copied().unwrap_or(0)),
            ),
            tag::REQUIRES_VERSION => (
                "requires-version",
                <[u8; 8]>::try_from(e.value)
                    .map(|b| {
                        format!("tried only over a confirmed {} or later", safeslot_shared::Version::from_bytes(b))
                    })
                    .unwrap_or_default(),
            ),
            tag::BUILD_DIGEST => ("build-digest", "SHA-256 of the build information".to_owned()),
            _ => ("unknown", if e.is_critical() { "critical: a boot stage refuses it" } else { "skipped" }.to_owned()),
        };
        TlvView { tag: e.tag, name, critical: e.is_critical(), value: hex(e.value), meaning }
    }
}

/// Everything `inspect` reports (the `--json` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// [`INSPECT_SCHEMA`].
    pub schema: u32,
    /// File length in bytes.
    pub file_len: u64,
    /// Always "SSIH" (a file with another magic does not decode).
    pub magic: &'static str,
    /// Header format version.
    pub format: u16,
    /// Header area size.
    pub header_size: u16,
    /// Image length.
    pub image_len: u32,
    /// Flags (0 in format 1).
    pub flags: u32,
    /// Version as `major.minor.revision[+build]`.
    pub version: String,
    /// Version by field.
    pub version_fields: VersionFields,
    /// Anti-rollback security counter.
    pub security_counter: u32,
    /// Reserved (0).
    pub reserved: u32,
    /// Length of the protected TLV area (0 in format 1).
    pub tlv_len: u16,
    /// The protected TLVs, in order (signed with the header).
    pub tlvs: Vec<TlvView>,
    /// Load address.
    pub load_addr: u64,
    /// Entry offset from the load address.
    pub entry: u64,
    /// SHA-256 of the image, hex.
    pub image_hash: String,
    /// Key id, hex.
    pub key_id: String,
    /// Signature, hex (not checked: `inspect` has no key; use `verify`).
    pub signature: String,
    /// Whether the bytes after the header match `image_hash`.
    pub hash: HashStatus,
    /// Bytes after the image (0 for a file written by `sign`).
    pub trailing_bytes: u64,
}

/// Decodes the header at the start of `bytes` and checks the image hash.
///
/// # Errors
///
/// [`Error::Header`] when the header does not decode.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<Inspection, Error> {
    let h = SlotHeader::decode(bytes).map_err(|source| Error::Header { path: path.to_path_buf(), source })?;
    let end = u64::from(h.header_size) + u64::from(h.image_len);
    let file_len = bytes.len() as u64;
    let hash = if end > file_len {
        HashStatus::Truncated
    } else {
        let mut flash = SliceFlash::new(bytes);
        match verify::hash_image(
            &mut flash,
            &mut verify::SoftSha256::default(),
            0,
            u32::from(h.header_size),
            h.image_len,
        ) {
            Ok(d) if d == h.image_hash => HashStatus::Match,
            Ok(_) => HashStatus::Mismatch,
            Err(_) => HashStatus::Truncated,
        }
    };
    Ok(Inspection {
        schema: INSPECT_SCHEMA,
        file_len,
        magic: "SSIH",
        format: h.format(),
        header_size: h.header_size,
        image_len: h.image_len,
        flags: 0,
        version: h.version.to_string(),
        version_fields: VersionFields {
            major: h.version.major,
            minor: h.version.minor,
            revision: h.version.revision,
            build: h.version.build,
        },
        security_counter: h.security_counter,
        reserved: 0,
        tlv_len: h.tlvs.len(),
        tlvs: tlv::entries(h.tlvs.as_bytes()).flatten().map(|e| TlvView::of(&e)).collect(),
        load_addr: h.load_addr,
        entry: h.entry,
        image_hash: hex(&h.image_hash),
        key_id: hex(&h.key_id),
        signature: hex(&h.signature),
        hash,
        trailing_bytes: file_len.saturating_sub(end),
    })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.version_fields;
        let rows: [(&str, String); 17] = [
            ("magic", format!("{} (header is {HEADER_LEN} bytes)", self.magic)),
            ("format", self.format.to_string()),
            ("header_size", format!("{:#x}", self.header_size)),
            ("image_len", format!("{} ({:#x})", self.image_len, self.image_len)),
            ("flags", format!("{:#x}", self.flags)),
            ("version", format!("{} ({}.{}.{} build {})", self.version, v.major, v.minor, v.revision, v.build)),
            ("security_counter", self.security_counter.to_string()),
            ("reserved", format!("{:#x}", self.reserved)),
            ("load_addr", format!("{:#010x}", self.load_addr)),
            ("entry", format!("{:#x} (address {:#010x})", self.entry, self.load_addr.wrapping_add(self.entry))),
            ("image_hash", self.image_hash.clone()),
            ("key_id", self.key_id.clone()),
            ("signature", self.signature.clone()),
            ("signature_check", "not checked (inspect has no key; use `verify`)".to_owned()),
            ("hash", self.hash.to_string()),
            ("file_len", format!("{} ({:#x})", self.file_len, self.file_len)),
            ("trailing_bytes", self.trailing_bytes.to_string()),
        ];
        for (k, val) in rows {
            writeln!(f, "{k:<17} {val}")?;
        }
        writeln!(f, "{:<17} {} bytes, {} entries", "tlvs", self.tlv_len, self.tlvs.len())?;
        for t in &self.tlvs {
            let crit = if t.critical { "critical" } else { "informational" };
            writeln!(f, "  {:#04x} {:<16} {crit:<13} {} ({})", t.tag, t.name, t.meaning, t.value)?;
        }
        Ok(())
    }
}
