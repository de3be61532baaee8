//! [`Error`]: every way a `safeslot-image` operation can fail.
//!
//! The variants are grouped by what the caller can do about them, so `main`
//! maps each to one sysexits code: a missing input, an output that cannot be
//! created, an I/O failure, bad data (a key, an ELF, an image, a detached
//! signature, a failed verification) and a bad configuration (the layout or the
//! slot flags).

use std::io;
use std::path::PathBuf;

use safeslot_shared::{DecodeError, Reason};

/// Why a `safeslot-image` operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An output file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An output file exists and `--force` was not given.
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Writing an opened output file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A key file holds no usable ed25519 key.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it, e.g. "not an ed25519 key (it is an RSA key)".
        reason: String,
    },
    /// The ELF input cannot be turned into a slot image.
    #[error("{}: {reason}", path.display())]
    Elf {
        /// The ELF file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An input of a Linux slot (`sign --linux`) is not what it should be.
    #[error("{}: {reason}", path.display())]
    Linux {
        /// The input file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The image is empty or does not fit in its slot.
    #[error("image is {len} bytes but slot {slot} holds at most {max} bytes after its {header_size:#x}-byte header")]
    TooLarge {
        /// Image length.
        len: u64,
        /// Room after the header.
        max: u64,
        /// The header area size.
        header_size: u32,
        /// The slot's name (or its offset, when given by flags).
        slot: String,
    },
    /// The entry offset does not point into the image.
    #[error("entry offset {entry:#x} is outside the {len}-byte image")]
    Entry {
        /// The entry offset.
        entry: u64,
        /// The image length.
        len: u32,
    },
    /// The input is empty: there is nothing to sign.
    #[error("{}: the image is empty", path.display())]
    EmptyImage {
        /// The input file.
        path: PathBuf,
    },
    /// The file does not start with a well-formed slot header.
    #[error("{}: not a valid slot header: {source}", path.display())]
    Header {
        /// The file.
        path: PathBuf,
        /// The decode error.
        #[source]
        source: DecodeError,
    },
    /// A detached signature (`attach --signature`) is not 64 bytes, or does not verify.
    #[error("{}: {reason}", path.display())]
    Signature {
        /// The signature file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The input of `attach` is not an unsigned slot image as `prepare` writes it, or was
    /// prepared for another key.
    #[error("{}: {reason}", path.display())]
    Unsigned {
        /// The unsigned slot image.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The slot image did not verify.
    #[error("{}: verification failed: {reason} ({})", path.display(), describe(*reason))]
    Verify {
        /// The file.
        path: PathBuf,
        /// Why `verify_slot` refused it.
        reason: Reason,
    },
    /// The slot geometry (from the layout or the flags) cannot hold a signed image.
    #[error("bad slot geometry: {0}")]
    Slot(String),
    /// The version string does not parse.
    #[error("bad version {0:?}: expected MAJOR.MINOR.REVISION[+BUILD], e.g. 1.2.3 or 1.2.3+45")]
    Version(String),
    /// No key was given and the layout names none.
    #[error("no public key: pass --key, or --layout with a [keys] public entry")]
    NoKeys,
    /// The layout file could not be read or is invalid, or names no such slot.
    #[error(transparent)]
    Layout(#[from] safeslot_layout::LayoutError),
}

/// A one-line explanation of a verification [`Reason`], for error messages.
pub fn describe(reason: Reason) -> &'static str {
    match reason {
        Reason::NoImage => "no slot header: erased, or not a safeslot image",
        Reason::BadHeader => "the header is malformed",
        Reason::ImageBounds => "the image does not fit the slot, or the header size differs from the slot's",
        Reason::WrongAddress => "the image was signed for another load address (another slot or board)",
        Reason::UnknownKey => "signed with a key that is not among the given keys",
        Reason::BadSignature => "the header's ed25519 signature does not verify",
        Reason::BadHash => "the image bytes do not match the SHA-256 in the signed header",
        Reason::FlashError => "the file is shorter than the header says",
        _ => "refused",
    }
}
