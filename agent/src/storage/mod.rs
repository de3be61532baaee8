//! Storage backends: the flash that holds the record, seen from Linux.
//!
//! Two backends implement embedded-storage's [`NorFlash`] so the shared
//! [`Journal`](safeslot_shared::journal::Journal) runs on them unchanged:
//!
//! * [`FileFlash`]: a regular file or a block-device partition. It enforces the
//!   configured geometry and the NOR rules at run time, through the one rule set in
//!   [`safeslot_shared::nor`] (erase fills 0xFF on erase-size boundaries; a program is
//!   write-size aligned and only clears bits; with `program_once` a word is programmed
//!   at most once per erase), so a file behaves like the device, and a test on a file
//!   exercises what the device sees.
//! * [`MtdFlash`]: raw NOR through Linux MTD (`/dev/mtdN`), geometry from
//!   `MEMGETINFO`, erase with `MEMERASE`.
//!
//! Both report the trait constants `READ_SIZE = WRITE_SIZE = ERASE_SIZE = 1`: the
//! real geometry is only known at run time, and reaches the journal through
//! `JournalConfig`. Every write and erase is synced to the device and read back.
//!
//! Power loss: a write or erase interrupted by power loss leaves the affected range
//! partly changed, as on NOR flash; the journal is built for exactly that.

mod file;
pub mod mtd;

use std::fmt;
use std::io;
use std::path::Path;

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use safeslot_shared::nor;

pub use file::{grow_erased, FileFlash};
pub use mtd::MtdFlash;

/// The geometry and write rules a backend enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Program granularity in bytes (1, 2, 4, 8, 16 or 32).
    pub write_size: u32,
    /// Erase sector size in bytes (a power of two).
    pub erase_size: u32,
    /// A write-word may be programmed only once per erase (ECC flash).
    pub program_once: bool,
}

impl Geometry {
    /// The write-count mode `program_once` names ([`nor::WriteCount::Once`] or
    /// [`nor::WriteCount::Unlimited`]).
    pub fn write_count(&self) -> nor::WriteCount {
        nor::WriteCount::from_program_once(self.program_once)
    }
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// A regular file or a block device, with NOR rules enforced in software.
    File,
    /// A Linux MTD character device (`/dev/mtdN`).
    Mtd,
}

impl BackendKind {
    /// The backend a device path implies: `/dev/mtd*` is MTD, anything else a file.
    pub fn for_path(path: &Path) -> BackendKind {
        let s = path.to_string_lossy();
        if s.starts_with("/dev/mtd") && !s.starts_with("/dev/mtdblock") {
            BackendKind::Mtd
        } else {
            BackendKind::File
        }
    }
}

/// An error of a storage backend.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// The range runs past the end of the device.
    OutOfBounds {
        /// Start of the range.
        offset: u32,
        /// Its length.
        len: usize,
    },
    /// The range is not aligned to the write or erase size.
    NotAligned {
        /// Start of the range.
        offset: u32,
        /// Its length.
        len: usize,
        /// The alignment required.
        align: u32,
    },
    /// A program would set a bit from 0 to 1 (only an erase can).
    SetsBits {
        /// Offset of the first offending byte.
        offset: u32,
    },
    /// With `program_once`: a write-word already programmed since its erase would be
    /// programmed again.
    ProgrammedTwice {
        /// Offset of the word.
        offset: u32,
    },
    /// The data read back after a write or erase differs from what was written.
    ReadBack {
        /// Start of the range.
        offset: u32,
    },
    /// The operating system reported an error.
    Io {
        /// What was being done.
        op: &'static str,
        /// The error kind.
        kind: io::ErrorKind,
        /// The error text.
        message: String,
    },
}

impl StorageError {
    pub(crate) fn io(op: &'static str, e: &io::Error) -> StorageError {
        StorageError::Io { op, kind: e.kind(), message: e.to_string() }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::OutOfBounds { offset, len } => {
                write!(f, "{len} bytes at {offset:#x} run past the end of the device")
            }
            StorageError::NotAligned { offset, len, align } => {
                write!(f, "{len} bytes at {offset:#x} are not aligned to {align:#x}")
            }
            StorageError::SetsBits { offset } => {
                write!(f, "program at {offset:#x} would set bits from 0 to 1 (NOR only clears bits)")
            }
            StorageError::ProgrammedTwice { offset } => {
                write!(f, "word at {offset:#x} is already programmed (program-once flash)")
            }
            StorageError::ReadBack { offset } => write!(f, "read-back at {offset:#x} differs from what was written"),
            StorageError::Io { op, message, .. } => write!(f, "{op}: {message}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl NorFlashError for StorageError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            StorageError::OutOfBounds { .. } => NorFlashErrorKind::OutOfBounds,
            StorageError::NotAligned { .. } => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// Checks that `offset..offset+len` lies within `capacity` ([`nor::Geometry::check_read`]
/// with 1-byte reads).
pub(crate) fn check_bounds(offset: u32, len: usize, capacity: u64) -> Result<(), StorageError> {
    let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
    let g = nor::Geometry { read_size: 1, write_size: 1, erase_size: 1, capacity };
    g.check_read(offset, len).map_err(|_| StorageError::OutOfBounds { offset, len })
}

/// Checks that `offset` and `len` are multiples of `align` (the alignment half of
/// [`nor::Geometry::check_write`]; 0 counts as 1).
pub(crate) fn check_aligned(offset: u32, len: usize, align: u32) -> Result<(), StorageError> {
    let a = usize::try_from(align.max(1)).unwrap_or(usize::MAX);
    let g = nor::Geometry { read_size: 1, write_size: a, erase_size: a, capacity: usize::MAX };
    match g.check_write(offset, len) {
        Err(NorFlashErrorKind::NotAligned) => Err(StorageError::NotAligned { offset, len, align }),
        _ => Ok(()),
    }
}

/// Either backend, chosen at run time.
#[derive(Debug)]
pub enum Storage {
    /// A file or block device.
    File(FileFlash),
    /// An MTD device.
    Mtd(MtdFlash),
}

impl Storage {
    /// The geometry in force.
    pub fn geometry(&self) -> Geometry {
        match self {
            Storage::File(f) => f.geometry(),
            Storage::Mtd(m) => m.geometry(),
        }
    }
}

impl ErrorType for Storage {
    type Error = StorageError;
}

impl ReadNorFlash for Storage {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), StorageError> {
        match self {
            Storage::File(f) => f.read(offset, bytes),
            Storage::Mtd(m) => m.read(offset, bytes),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Storage::File(f) => f.capacity(),
            Storage::Mtd(m) => m.capacity(),
        }
    }
}

impl NorFlash for Storage {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), StorageError> {
        match self {
            Storage::File(f) => f.erase(from, to),
            Storage::Mtd(m) => m.erase(from, to),
        }
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), StorageError> {
        match self {
            Storage::File(f) => f.write(offset, bytes),
            Storage::Mtd(m) => m.write(offset, bytes),
        }
    }
}
