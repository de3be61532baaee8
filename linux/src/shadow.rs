//! Verify-in-RAM: a flash view whose slot reads come from RAM copies of the slots.
//!
//! It lives with the Linux hand-off, not the boot sequence: the sequence only sees a
//! `NorFlash`; a stage that loads its image into RAM (this crate's users) gives it this one.
//!
//! A board that copies a slot into RAM before running it (an SoC stage loading Linux)
//! must boot exactly the bytes it verified. [`Shadow::new`] copies each slot's header and
//! image (as long as the not-yet-verified header claims, at most the slot and the RAM
//! region) into its RAM region once; the boot sequence then runs over the `Shadow`, so the
//! signature and SHA-256 are checked over the RAM bytes, and [`Shadow::image`] hands out
//! those same bytes for the hand-off. Whatever the flash does after the copy (a second
//! master, a glitch, an attacker swapping the part) cannot reach what boots.
//!
//! Record reads and writes go to the flash; writes and erases touching a slot are refused
//! ([`ShadowError::Refused`]): the boot sequence never changes a slot.

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use safeslot_shared::header::{SlotHeader, HEADER_LEN, MAX_HEADER_LEN};
use safeslot_shared::verify::SlotRegion;

/// Most slots a `Shadow` copies.
pub const MAX_COPIES: usize = safeslot_shared::slot::MAX_SLOTS;

/// An error of the shadowed flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ShadowError<E> {
    /// The underlying flash failed.
    Flash(E),
    /// A write or erase that touches a slot.
    Refused,
}

impl<E: NorFlashError> NorFlashError for ShadowError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            ShadowError::Flash(e) => e.kind(),
            ShadowError::Refused => NorFlashErrorKind::Other,
        }
    }
}

/// One slot's RAM copy.
#[derive(Debug)]
struct SlotCopy<'a> {
    region: SlotRegion,
    /// Bytes copied from the slot's start.
    copied: u32,
    ram: &'a mut [u8],
}

impl SlotCopy<'_> {
    fn holds(&self, offset: u32) -> bool {
        offset.checked_sub(self.region.offset).is_some_and(|d| d < self.region.size)
    }

    fn overlaps(&self, offset: u32, len: u32) -> bool {
        let (s, e) = (u64::from(offset), u64::from(offset).saturating_add(u64::from(len)));
        let rs = u64::from(self.region.offset);
        let re = rs.saturating_add(u64::from(self.region.size));
        s < re && e > rs
    }
}

/// The flash view; see the module docs.
#[derive(Debug)]
pub struct Shadow<'a, F> {
    flash: F,
    copies: [Option<SlotCopy<'a>>; MAX_COPIES],
}

impl<'a, F: NorFlash> Shadow<'a, F> {
    /// Copies each of `slots` into the RAM region of the same index in `ram` (a slot
    /// without a region, or whose flash cannot be read, reads as erased).
    pub fn new(mut flash: F, slots: &[SlotRegion], ram: [Option<&'a mut [u8]>; MAX_COPIES]) -> Self {
        let mut copies: [Option<SlotCopy<'a>>; MAX_COPIES] = [const { None }; MAX_COPIES];
        for ((region, ram), c) in slots.iter().zip(ram).zip(copies.iter_mut()) {
            let Some(ram) = ram else { continue };
            let limit = region.size.min(u32::try_from(ram.len()).unwrap_or(u32::MAX));
            let mut copied = 0;
            // The header with its protected TLVs: as much of the header area as a header can
            // use.
            let head = (region.header_size as usize).clamp(HEADER_LEN, MAX_HEADER_LEN).min(limit as usize);
            if let Some(h) = ram.get_mut(..head) {
                if flash.read(region.offset, h).is_ok() {
                    copied = head as u32;
                    // The claimed length decides how much to copy; verification of the
                    // copy decides whether it is believed.
                    let want = match SlotHeader::decode(h) {
                        Ok(hdr) => region.header_size.saturating_add(hdr.image_len).min(limit),
                        Err(_) => head as u32,
                    };
                    if let Some(rest) = ram.get_mut(head..want as usize) {
                        if flash.read(region.offset.saturating_add(head as u32), rest).is_ok() {
                            copied = want.max(head as u32);
                        }
                    }
                }
            }
            *c = Some(SlotCopy { region: *region, copied, ram });
        }
        Shadow { flash, copies }
    }

    /// The RAM copy of slot `index`'s image: `len` bytes after its header area. Call it with
    /// a `safeslot_boot::Launch`'s slot and `image_len`, whose verification read these bytes.
    pub fn image(&self, index: usize, len: u32) -> Option<&[u8]> {
        let c = self.copies.get(index)?.as_ref()?;
        let start = c.region.header_size;
        let end = start.checked_add(len)?;
        if end > c.copied {
            return None;
        }
        c.ram.get(start as usize..end as usize)
    }

    /// The underlying flash (for tests that change it after the copy; a stage has no use
    /// for it: the copies are what it boots).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }
}

impl<F: NorFlash> ErrorType for Shadow<'_, F> {
    type Error = ShadowError<F::Error>;
}

impl<F: NorFlash> ReadNorFlash for Shadow<'_, F> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let Some(c) = self.copies.iter().flatten().find(|c| c.holds(offset)) else {
            return self.flash.read(offset, bytes).map_err(ShadowError::Flash);
        };
        // Inside a slot: from its copy; bytes past what was copied (never part of a
        // verified image) or past the slot read as erased.
        bytes.fill(0xFF);
        let start = offset.saturating_sub(c.region.offset) as usize;
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

impl<F: NorFlash> NorFlash for Shadow<'_, F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if self.copies.iter().flatten().any(|c| c.overlaps(from, to.saturating_sub(from))) {
            return Err(ShadowError::Refused);
        }
        self.flash.erase(from, to).map_err(ShadowError::Flash)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        if self.copies.iter().flatten().any(|c| c.overlaps(offset, len)) {
            return Err(ShadowError::Refused);
        }
        self.flash.write(offset, bytes).map_err(ShadowError::Flash)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use ed25519_compact::{KeyPair, Seed};
    use safeslot_shared::image::{build_slot_image, SignParams};
    use safeslot_shared::nor::WriteCount;
    use safeslot_shared::sim::{SimConfig, SimFlash};
    use safeslot_shared::Version;
    use std::vec;
    use std::vec::Vec;

    const HDR: u32 = 0x400;
    const SLOT: u32 = 0x4000;
    const SLOTS: [SlotRegion; 2] = [
        SlotRegion { offset: 0x1000, size: SLOT, header_size: HDR, load_addr: Some(0x1000 + HDR as u64) },
        SlotRegion { offset: 0x5000, size: SLOT, header_size: HDR, load_addr: Some(0x5000 + HDR as u64) },
    ];

    /// A flash with a signed image of `body_len` bytes in slot A; B erased.
    fn flash_with_a(body_len: u32) -> (SimFlash, Vec<u8>) {
        let cfg = SimConfig { size: 0x9000, write_size: 8, erase_size: 0x1000, write_count: WriteCount::Once };
        let mut flash = SimFlash::new(cfg).unwrap();
        let body: Vec<u8> = (0..body_len).map(|i| (i * 7) as u8).collect();
        let p = SignParams {
            header_size: HDR as u16,
            load_addr: SLOTS[0].load_addr.unwrap(),
            entry: 0,
            version: Version { major: 1, minor: 0, revision: 0, build: 0 },
            security_counter: 0,
            tlvs: safeslot_shared::tlv::Tlvs::EMPTY,
        };
        let img = build_slot_image(&p, &body, &KeyPair::from_seed(Seed::new([1; 32])), SLOT).unwrap();
        let mut padded = img.clone();
        padded.resize(img.len().div_ceil(8) * 8, 0xFF);
        flash.write(SLOTS[0].offset, &padded).unwrap();
        (flash, img)
    }

    #[test]
    fn copies_what_the_header_claims_and_refuses_slot_writes() {
        let (flash, img) = flash_with_a(1000);
        let (mut ra, mut rb) = (vec![0u8; SLOT as usize], vec![0u8; SLOT as usize]);
        let mut s = Shadow::new(flash, &SLOTS, [Some(&mut ra), Some(&mut rb), None, None]);
        assert_eq!(s.image(0, 1000), Some(&img[HDR as usize..]));
        assert_eq!(s.image(0, 1001), None, "no byte past the copy");
        // B is erased: only its header was copied, there is no image to hand out.
        assert_eq!(s.image(1, 1), None);
        // Slot reads come from the copy, and read as erased past it.
        let mut b = [0u8; 4];
        s.read(SLOTS[0].offset + HDR + 998, &mut b).unwrap();
        assert_eq!(b, [img[img.len() - 2], img[img.len() - 1], 0xFF, 0xFF]);
        // Writes and erases touching a slot are refused; the rest reaches the flash.
        assert_eq!(s.write(SLOTS[1].offset + 8, &[0; 8]), Err(ShadowError::Refused));
        assert_eq!(s.erase(0x4000, 0x6000), Err(ShadowError::Refused));
        s.write(0, &[0; 8]).unwrap();
        let mut r = [0xAAu8; 8];
        s.read(0, &mut r).unwrap();
        assert_eq!(r, [0; 8]);
        // A flash change after the copy never reaches it.
        s.flash_mut().bytes_mut()[(SLOTS[0].offset + HDR) as usize] ^= 0xFF;
        assert_eq!(s.image(0, 1000), Some(&img[HDR as usize..]));
    }

    #[test]
    fn a_header_claiming_more_than_the_ram_region_copies_only_the_region() {
        let (flash, img) = flash_with_a(3000);
        let mut small = vec![0u8; 0x800];
        let s = Shadow::new(flash, &SLOTS, [Some(&mut small), None, None, None]);
        assert_eq!(s.image(0, 0x800 - HDR), Some(&img[HDR as usize..0x800]));
        assert_eq!(s.image(0, 3000), None);
    }
}
