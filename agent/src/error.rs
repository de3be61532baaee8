//! The agent's error type. `main` maps each variant to a sysexits code.

use std::io;
use std::path::PathBuf;

use safeslot_shared::{OpError, Reason};

use crate::storage::StorageError;

/// Everything that can go wrong in a `safeslotctl` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad arguments (a slot name that does not exist, a bad number).
    #[error("{0}")]
    Usage(String),
    /// The record region is erased: no record was ever written.
    #[error("record region is blank: run `safeslotctl init`")]
    Blank,
    /// The record region holds data but no valid entry.
    #[error(
        "record region holds no valid record (corrupt or foreign data); nothing was changed. \
         Check the config's [record] offset; `safeslotctl init --force` re-creates the record"
    )]
    NoValidRecord,
    /// An image did not verify.
    #[error("{target}: image does not verify: {reason}")]
    Verify {
        /// The slot or file.
        target: String,
        /// Why.
        reason: Reason,
    },
    /// Other bad data (a key file that is not a key).
    #[error("{0}")]
    BadData(String),
    /// The device or an input file does not exist.
    #[error("{}: {source}", path.display())]
    NoInput {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The operation cannot be done in the record's current state.
    #[error("{0}")]
    Unavailable(String),
    /// The record refused an operation.
    #[error("{0}")]
    Op(OpError),
    /// A check that should never fail did.
    #[error("internal error: {0}")]
    Internal(String),
    /// Reading or writing a file or the device failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The flash backend failed.
    #[error("flash: {0}")]
    Flash(StorageError),
    /// A journal entry did not read back intact after the journal's bounded retries.
    #[error("flash: the new journal entry did not read back intact after retries")]
    WriteFailed,
    /// Another writer holds the lock past the bounded wait.
    #[error("{} is held by another safeslotctl (waited {waited_ms} ms); try again", path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The boot stage's word on the running slot (hand-off block, kernel command line)
    /// and the record disagree, so a write that acts on the running slot is refused.
    #[error("{0}; nothing was written (the running slot is uncertain: see `safeslotctl status`)")]
    Disagree(String),
    /// The journal moved underneath a read-modify-write.
    #[error("the record changed underneath this update (another writer); nothing was written, try again")]
    Conflict,
    /// Permission denied.
    #[error("{}: {source}", path.display())]
    Permission {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The configuration is missing or wrong.
    #[error("config: {0}")]
    Config(String),
}

impl Error {
    /// Classifies an error from opening or reading `path`.
    pub fn from_io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        let path = path.into();
        match source.kind() {
            io::ErrorKind::NotFound => Error::NoInput { path, source },
            io::ErrorKind::IsADirectory => {
                Error::NoInput { path, source: io::Error::other("is a directory, not a flash device or record file") }
            }
            io::ErrorKind::PermissionDenied => Error::Permission { path, source },
            _ => Error::Io { path, source },
        }
    }
}

impl From<journal_error::JError> for Error {
    fn from(e: journal_error::JError) -> Error {
        use safeslot_shared::Error as J;
        match e {
            J::Flash(f) => Error::Flash(f),
            J::Geometry(m) => Error::Config(format!("record geometry: {m}")),
            J::Blank => Error::Blank,
            J::NoValidRecord => Error::NoValidRecord,
            J::WriteFailed => Error::WriteFailed,
            J::SequenceExhausted => Error::Unavailable("journal sequence numbers exhausted".into()),
            J::Conflict => Error::Conflict,
            J::Op(op) => Error::Op(op),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Error {
        Error::Op(e)
    }
}

/// The journal's error over this crate's storage.
pub mod journal_error {
    /// `safeslot_shared::Error` over [`StorageError`](crate::storage::StorageError).
    pub type JError = safeslot_shared::Error<crate::storage::StorageError>;
}
