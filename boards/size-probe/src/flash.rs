//! A memory-mapped NOR flash with NOR rules enforced in software (as the virtual board's
//! driver, minus its power-cut hooks): the smallest honest `NorFlash` for size measurement.

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

use crate::layout::{ERASE_SIZE, WRITE_SIZE};

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
    /// The program would set a bit or reprogram a word.
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

impl ErrorType for Flash {
    type Error = Error;
}

impl Flash {
    fn addr(&self, offset: u32, len: usize) -> Result<usize, Error> {
        let off = offset as usize;
        match off.checked_add(len) {
            Some(end) if end <= self.size => Ok(self.base.wrapping_add(off)),
            _ => Err(Error::Bounds),
        }
    }
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        let a = self.addr(offset, bytes.len())?;
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: `addr` checked that the range lies inside the flash window, which is
            // always mapped and readable; byte reads need no alignment.
            *b = unsafe { core::ptr::read_volatile((a + i) as *const u8) };
        }
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.size
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = WRITE_SIZE as usize;
    const ERASE_SIZE: usize = ERASE_SIZE as usize;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        if !from.is_multiple_of(ERASE_SIZE) || !to.is_multiple_of(ERASE_SIZE) || to < from {
            return Err(Error::Bounds);
        }
        let a = self.addr(from, (to - from) as usize)?;
        for i in 0..(to - from) as usize {
            // SAFETY: inside the checked window; the window is RAM-like memory on this board.
            unsafe { core::ptr::write_volatile((a + i) as *mut u8, 0xFF) };
        }
        Ok(())
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        if !offset.is_multiple_of(WRITE_SIZE) || !bytes.len().is_multiple_of(WRITE_SIZE as usize) {
            return Err(Error::Bounds);
        }
        let a = self.addr(offset, bytes.len())?;
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: inside the checked window.
            let old = unsafe { core::ptr::read_volatile((a + i) as *const u8) };
            if old != 0xFF {
                return Err(Error::NotErased);
            }
            // SAFETY: inside the checked window.
            unsafe { core::ptr::write_volatile((a + i) as *mut u8, *b) };
        }
        Ok(())
    }
}
