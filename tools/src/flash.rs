//! [`SliceFlash`]: a file's bytes seen as read-only NOR flash, so the shared
//! verifier ([`safeslot_shared::verify::verify_slot`]) runs on a file exactly as
//! the boot stage runs it on flash.

use embedded_storage::nor_flash::{ErrorType, NorFlashError, NorFlashErrorKind, ReadNorFlash};

/// Read-only flash over a byte slice. Reads past the end fail with
/// [`NorFlashErrorKind::OutOfBounds`] (a file shorter than its header says).
#[derive(Debug, Clone, Copy)]
pub struct SliceFlash<'a> {
    bytes: &'a [u8],
}

impl<'a> SliceFlash<'a> {
    /// Wraps `bytes`; offset 0 is the first byte.
    pub fn new(bytes: &'a [u8]) -> Self {
        SliceFlash { bytes }
    }
}

/// The only error: a read outside the slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds;

impl NorFlashError for OutOfBounds {
    fn kind(&self) -> NorFlashErrorKind {
        NorFlashErrorKind::OutOfBounds
    }
}

impl ErrorType for SliceFlash<'_> {
    type Error = OutOfBounds;
}

impl ReadNorFlash for SliceFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let start = usize::try_from(offset).map_err(|_| OutOfBounds)?;
        let end = start.checked_add(bytes.len()).ok_or(OutOfBounds)?;
        let src = self.bytes.get(start..end).ok_or(OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_and_refuses_outside() {
        let data = [1u8, 2, 3, 4];
        let mut f = SliceFlash::new(&data);
        let mut buf = [0u8; 2];
        f.read(2, &mut buf).unwrap();
        assert_eq!(buf, [3, 4]);
        assert_eq!(f.read(3, &mut buf), Err(OutOfBounds));
        assert_eq!(f.read(u32::MAX, &mut buf), Err(OutOfBounds));
        assert_eq!(f.capacity(), 4);
    }
}
