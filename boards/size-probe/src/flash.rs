//! A memory-mapped NOR flash with NOR rules enforced in software (as the virtual board's
//! driver, minus its power-cut hooks): the smallest honest `NorFlash` for size measurement.
//!
//! The range checks are embedded-storage's `check_read/check_write/check_erase`, and every
//! word of a program is checked by the shared rule set ([`nor::check_word`], write-count
//! mode from the layout's `WORD_WRITES`, count from the contents: [`nor::writes_seen`])
//! before the first byte is stored, so a refused program changes nothing.

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use safeslot_shared::nor::{self, WriteCount};

use crate::layout::{ERASE_SIZE, WORD_WRITES, WRITE_SIZE};

/// [`WRITE_SIZE`] as a `usize`, for buffers.
const WORD: usize = WRITE_SIZE as usize;

/// The flash window.
pub struct Flash {
    /// CPU address of offset 0.
    pub base: usize,
    /// Size in bytes.
    pub size: usize,
}

/// A refused operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Out of bounds or misaligned.
    Bounds,
    /// The program would set a bit or program a word more often than the flash allows.
    NotErased,
}

impl NorFlashError for Error {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Error::Bounds => NorFlashErrorKind::OutOfBounds,
            Error::NotErased => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for Error {
    fn from(_: NorFlashErrorKind) -> Self {
        Error::Bounds
    }
}

impl ErrorType for Flash {
    type Error = Error;
}

impl Flash {
    /// Reads the byte at `offset` (bounds-checked by the caller through `check_*`).
    fn load(&self, offset: usize) -> u8 {
        // SAFETY: callers checked `offset < self.size` with embedded-storage's `check_*`;
        // the window is always mapped and readable, and byte reads need no alignment.
        unsafe { core::ptr::read_volatile(self.base.wrapping_add(offset) as *const u8) }
    }

    /// Stores `value` at `offset` (bounds-checked by the caller, NOR rules applied).
    fn store(&self, offset: usize, value: u8) {
        // SAFETY: inside the checked window; the window is RAM-like memory on this board
        // and holds no Rust object.
        unsafe { core::ptr::write_volatile(self.base.wrapping_add(offset) as *mut u8, value) };
    }
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        check_read(self, offset, bytes.len())?;
        let start = offset as usize;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = self.load(start.wrapping_add(i));
        }
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.size
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = ERASE_SIZE as usize;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        check_erase(self, from, to)?;
        for at in from as usize..to as usize {
            self.store(at, nor::ERASED);
        }
        Ok(())
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        check_write(self, offset, bytes.len())?;
        let start = offset as usize;
        let mode = WriteCount::from_word_writes(WORD_WRITES);
        for (w, new) in bytes.chunks_exact(WORD).enumerate() {
            let mut old = [0u8; WORD];
            for (i, o) in old.iter_mut().enumerate() {
                *o = self.load(start.wrapping_add(w.wrapping_mul(WORD)).wrapping_add(i));
            }
            nor::check_word(mode, nor::writes_seen(&old), &old, new).map_err(|_| Error::NotErased)?;
        }
        for (i, &b) in bytes.iter().enumerate() {
            self.store(start.wrapping_add(i), b);
        }
        Ok(())
    }
}
