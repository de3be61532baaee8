//! The flash as the boot sequence sees it: the record straight from [`Cfi`], the slots from
//! their RAM copies.
//!
//! Before the boot sequence runs, [`Shadow::new`] copies each slot's header and image (as
//! long as its unverified header claims, at most the slot) into the slot's staging region.
//! Verification then reads those RAM bytes, and the hand-off takes the kernel and initramfs
//! from the same RAM: what was verified is exactly what boots, whatever the flash does
//! afterwards (no time-of-check/time-of-use gap). Writes and erases of a slot are refused:
//! the stage never changes a slot.

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use safeslot_shared::header::{SlotHeader, HEADER_LEN};

use crate::cfi::{Cfi, CfiError};
use crate::layout::{SLOT_COUNT, SLOT_HEADER_SIZES, SLOT_OFFSETS, SLOT_SIZES};

/// One slot's RAM copy.
#[derive(Debug)]
struct Copy {
    offset: u32,
    size: u32,
    /// Bytes copied from the slot's start (header area plus the claimed image length).
    copied: u32,
    ram: &'static mut [u8],
}

/// The flash view; see the module docs.
#[derive(Debug)]
pub struct Shadow {
    flash: Cfi,
    copies: [Option<Copy>; SLOT_COUNT],
}

impl Shadow {
    /// Copies every slot into its RAM region (`staging[i]`, from [`crate::ram`]).
    pub fn new(flash: Cfi, staging: [&'static mut [u8]; SLOT_COUNT]) -> Shadow {
        let mut copies: [Option<Copy>; SLOT_COUNT] = [const { None }; SLOT_COUNT];
        for (i, (ram, c)) in staging.into_iter().zip(copies.iter_mut()).enumerate() {
            let (Some(&offset), Some(&size), Some(&hs)) =
                (SLOT_OFFSETS.get(i), SLOT_SIZES.get(i), SLOT_HEADER_SIZES.get(i))
            else {
                continue;
            };
            let limit = size.min(ram.len() as u32);
            // The header first; its (not yet verified) length says how much to copy.
            let mut copied = 0;
            if let Some(h) = ram.get_mut(..HEADER_LEN) {
                if flash.read_into(offset, h).is_ok() {
                    copied = HEADER_LEN as u32;
                    let want = match SlotHeader::decode(h) {
                        Ok(hdr) => hs.saturating_add(hdr.image_len).min(limit),
                        Err(_) => HEADER_LEN as u32,
                    };
                    let rest = ram.get_mut(HEADER_LEN..want as usize).unwrap_or(&mut []);
                    if flash.read_into(offset.saturating_add(HEADER_LEN as u32), rest).is_ok() {
                        copied = want.max(HEADER_LEN as u32);
                    }
                }
            }
            *c = Some(Copy { offset, size, copied, ram });
        }
        Shadow { flash, copies }
    }

    /// The verified RAM copy of slot `i`'s image: `len` bytes after its `header_size`.
    /// Call only with a [`safeslot_boot::Launch`]'s slot and length.
    pub fn image(&self, i: usize, len: u32) -> Option<&[u8]> {
        let c = self.copies.get(i)?.as_ref()?;
        let hs = *SLOT_HEADER_SIZES.get(i)?;
        let end = hs.checked_add(len)?;
        if end > c.copied {
            return None;
        }
        c.ram.get(hs as usize..end as usize)
    }

    fn slot_holding(&self, offset: u32) -> Option<&Copy> {
        self.copies.iter().flatten().find(|c| offset >= c.offset && offset - c.offset < c.size)
    }

    fn slot_at(&self, offset: u32, len: usize) -> Option<&Copy> {
        let end = u64::from(offset) + len as u64;
        self.copies
            .iter()
            .flatten()
            .find(|c| u64::from(offset) < u64::from(c.offset) + u64::from(c.size) && end > u64::from(c.offset))
    }
}

impl ErrorType for Shadow {
    type Error = CfiError;
}

impl ReadNorFlash for Shadow {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), CfiError> {
        let Some(c) = self.slot_holding(offset) else { return self.flash.read(offset, bytes) };
        // Inside a slot: served from its copy; bytes past what was copied (never part of
        // a verified image) or past the slot read as erased.
        bytes.fill(0xFF);
        let start = offset.saturating_sub(c.offset) as usize;
        let avail = (c.copied as usize).saturating_sub(start).min(bytes.len());
        if let (Some(dst), Some(src)) = (bytes.get_mut(..avail), c.ram.get(start..start.saturating_add(avail))) {
            dst.copy_from_slice(src);
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl NorFlash for Shadow {
    const WRITE_SIZE: usize = Cfi::WRITE_SIZE;
    const ERASE_SIZE: usize = Cfi::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), CfiError> {
        if self.slot_at(from, to.saturating_sub(from) as usize).is_some() {
            return Err(CfiError::Refused);
        }
        self.flash.erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), CfiError> {
        if self.slot_at(offset, bytes.len()).is_some() {
            return Err(CfiError::Refused);
        }
        self.flash.write(offset, bytes)
    }
}
