//! Error types, one per layer, `Copy`, no alloc, generic over the flash driver's error.
//!
//! I/O (the flash said no), corruption (the bytes are not a valid structure), caller
//! errors (bad arguments or geometry) and internal errors (a check that would have
//! been a panic) are kept apart so callers can react to each differently.

use core::fmt;

use crate::reason::Reason;

/// Why bytes did not decode into a structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// Wrong length.
    Length,
    /// Wrong magic: not a safeslot structure.
    Magic,
    /// A format version this code does not understand.
    UnsupportedVersion(u8),
    /// The CRC does not match.
    Crc,
    /// A field holds a value outside its range (named).
    Field(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Length => f.write_str("wrong length"),
            DecodeError::Magic => f.write_str("bad magic"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            DecodeError::Crc => f.write_str("CRC mismatch"),
            DecodeError::Field(n) => write!(f, "field `{n}` out of range"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Errors of the journal (and of everything that reads or writes the record through it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// The flash driver failed (I/O).
    Flash(E),
    /// The region or geometry is unusable (caller error): alignment, sizes, write size.
    Geometry(&'static str),
    /// The region is erased: no record was ever written. Call `initialize` to create one.
    Blank,
    /// The region holds data but no valid entry: corrupt or foreign. Nothing is
    /// "repaired" implicitly; `initialize` re-creates it when the caller decides to.
    NoValidRecord,
    /// An entry could not be written and read back intact after bounded retries.
    WriteFailed,
    /// The sequence number space is exhausted (after 2^32 - 2 writes).
    SequenceExhausted,
    /// The journal moved underneath a read-modify-write (another writer appended).
    Conflict,
    /// An operation on the record was refused.
    Op(OpError),
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Flash(e) => write!(f, "flash error: {e:?}"),
            Error::Geometry(m) => write!(f, "bad journal geometry: {m}"),
            Error::Blank => f.write_str("record region is blank (never initialised)"),
            Error::NoValidRecord => f.write_str("record region holds no valid record (corrupt or foreign data)"),
            Error::WriteFailed => f.write_str("journal entry did not read back intact after retries"),
            Error::SequenceExhausted => f.write_str("journal sequence numbers exhausted"),
            Error::Conflict => f.write_str("the journal changed underneath this update"),
            Error::Op(e) => write!(f, "{e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

impl<E> From<OpError> for Error<E> {
    fn from(e: OpError) -> Self {
        Error::Op(e)
    }
}

/// Why an operation on the record (mark good, mark bad, set active) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OpError {
    /// The slot is not one of the record's slots.
    NoSuchSlot,
    /// No slot has been booted yet, so there is nothing to mark good.
    NothingBooted,
    /// The slot is unbootable (reason given) and cannot be marked good.
    Unbootable(Reason),
    /// Tries must be 1..=15 when activating a slot.
    BadTries,
    /// The running slot is not the one the record shows as booted (the boot stage could
    /// not record this boot), so confirming it would confirm the wrong state.
    NotRecordedAsBooted {
        /// The slot that runs, as the boot stage handed it over.
        running: crate::slot::SlotId,
        /// The record's last-booted slot.
        recorded: Option<crate::slot::SlotId>,
    },
    /// The slot is not confirmed, so it cannot become the primary without a trial.
    NotConfirmed,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::NoSuchSlot => f.write_str("no such slot"),
            OpError::NothingBooted => f.write_str("no slot has been booted yet"),
            OpError::Unbootable(r) => write!(f, "slot is unbootable ({r})"),
            OpError::BadTries => f.write_str("tries must be 1..=15"),
            OpError::NotRecordedAsBooted { running, recorded } => {
                write!(f, "slot {running} runs but the record shows ")?;
                match recorded {
                    Some(s) => write!(f, "slot {s} as last booted")?,
                    None => f.write_str("no slot as booted")?,
                }
                f.write_str(" (the boot stage could not record this boot); not confirming")
            }
            OpError::NotConfirmed => f.write_str("slot is not confirmed"),
        }
    }
}

impl core::error::Error for OpError {}
