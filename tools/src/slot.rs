//! [`SlotTarget`]: the slot an image is signed for or checked against, taken
//! from a board's `layout.toml` or from explicit flags, and checked for what a
//! signed image needs.

use std::fmt;
use std::path::Path;

use safeslot_layout::Layout;
use safeslot_shared::header::{HEADER_LEN, MIN_HEADER_SIZE};
use safeslot_shared::verify::SlotRegion;

use crate::Error;

/// Where a slot lies: the CPU address of the flash device and the slot's
/// offset, size and header area. Only [`SlotTarget::new`] and
/// [`SlotTarget::from_layout`] make one, so every value is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTarget {
    name: Option<String>,
    flash_base: u64,
    offset: u32,
    size: u32,
    header_size: u32,
}

impl SlotTarget {
    /// A slot from explicit numbers (`--flash-base`, `--slot-offset`,
    /// `--slot-size`, `--header-size`).
    ///
    /// # Errors
    ///
    /// [`Error::Slot`] when the header area is not a power of two of at least
    /// 256 bytes that fits the header field (u16) and leaves room for an image,
    /// when the slot runs past 4 GiB, or when the image address is not a
    /// multiple of the header size (the vector table would be misaligned).
    pub fn new(name: Option<String>, flash_base: u32, offset: u32, size: u32, header_size: u32) -> Result<Self, Error> {
        let t = SlotTarget { name, flash_base: u64::from(flash_base), offset, size, header_size };
        t.check()?;
        Ok(t)
    }

    /// Slot `name` of the layout at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] when the layout cannot be read or validated or has no
    /// such slot; [`Error::Slot`] as for [`SlotTarget::new`].
    pub fn from_layout(path: &Path, name: &str) -> Result<Self, Error> {
        let layout = Layout::load(path)?;
        Self::from_loaded(&layout, name)
    }

    /// Slot `name` of an already loaded layout.
    ///
    /// # Errors
    ///
    /// As [`SlotTarget::from_layout`].
    pub fn from_loaded(layout: &Layout, name: &str) -> Result<Self, Error> {
        let slot = layout.slot(name)?;
        Self::new(Some(slot.name.clone()), layout.flash().base, slot.offset, slot.size, slot.header_size)
    }

    fn check(&self) -> Result<(), Error> {
        let hs = self.header_size;
        if hs < MIN_HEADER_SIZE || !hs.is_power_of_two() || hs > u32::from(u16::MAX) {
            return Err(Error::Slot(format!(
                "header size {hs:#x} must be a power of two between {MIN_HEADER_SIZE:#x} and 0x8000"
            )));
        }
        debug_assert!(hs as usize >= HEADER_LEN);
        if self.size <= hs {
            return Err(Error::Slot(format!(
                "slot size {:#x} leaves no room for an image after the {hs:#x}-byte header",
                self.size
            )));
        }
        if self.end_address() > 1 << 32 {
            return Err(Error::Slot(format!("slot {self} ends at {:#x}, above 4 GiB", self.end_address())));
        }
        if !self.image_address().is_multiple_of(u64::from(hs)) {
            return Err(Error::Slot(format!(
                "load address {:#x} (flash base + slot offset + header size) is not a multiple of the \
                 header size {hs:#x}: the image's vector table would be misaligned",
                self.image_address()
            )));
        }
        Ok(())
    }

    /// The slot's name, when it came from a layout.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Header area size: the image starts this many bytes into the slot.
    pub fn header_size(&self) -> u32 {
        self.header_size
    }

    /// Slot size in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// CPU address of the slot's first byte (its header).
    pub fn slot_address(&self) -> u64 {
        self.flash_base + u64::from(self.offset)
    }

    /// CPU address of the image, which is the header's load address:
    /// flash base + slot offset + header size.
    pub fn image_address(&self) -> u64 {
        self.slot_address() + u64::from(self.header_size)
    }

    /// One past the slot's last CPU address.
    pub fn end_address(&self) -> u64 {
        self.slot_address() + u64::from(self.size)
    }

    /// Largest image the slot holds: size - header size.
    pub fn max_image_len(&self) -> u32 {
        self.size - self.header_size
    }

    /// The region to verify a file holding this slot: the header at offset 0
    /// of the file, and the load address checked against this slot's.
    pub fn file_region(&self) -> SlotRegion {
        SlotRegion { offset: 0, size: self.size, header_size: self.header_size, load_addr: Some(self.image_address()) }
    }
}

impl fmt::Display for SlotTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => f.write_str(n),
            None => write!(f, "at {:#x}", self.slot_address()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_slot_a() {
        let t = SlotTarget::new(Some("a".into()), 0x2100_0000, 0x10000, 0x40_0000, 0x400).unwrap();
        assert_eq!(t.image_address(), 0x2101_0400);
        assert_eq!(t.max_image_len(), 0x40_0000 - 0x400);
        assert_eq!(t.file_region().load_addr, Some(0x2101_0400));
        assert_eq!(t.to_string(), "a");
    }

    #[test]
    fn rejects_bad_geometry() {
        let bad = |base, off, size, hs| SlotTarget::new(None, base, off, size, hs).unwrap_err().to_string();
        assert!(bad(0x2100_0000, 0x10000, 0x40_0000, 0x300).contains("power of two"));
        assert!(bad(0x2100_0000, 0x10000, 0x40_0000, 0x80).contains("power of two"));
        assert!(bad(0x2100_0000, 0x10000, 0x400, 0x400).contains("no room"));
        assert!(bad(0x2100_0000, 0x10100, 0x40_0000, 0x400).contains("misaligned"));
        assert!(bad(0xFFFF_0000, 0x10000, 0x40_0000, 0x400).contains("above 4 GiB"));
    }
}
