//! Little-endian field access and the CRC-32 used by every safeslot structure.
//!
//! All formats in `docs/FORMAT.md` are little-endian and protected by CRC-32/ISO-HDLC
//! (the zlib/Ethernet CRC: poly 0x04C11DB7, reflected, init and xorout 0xFFFFFFFF,
//! check value 0xCBF43926). The table-less implementation is used: the record is a few
//! hundred bytes, and the table would cost ~1 KiB of bootloader flash.

use crc::{Crc, NoTable, CRC_32_ISO_HDLC};

/// The CRC-32 used by the record, the journal entry and the hand-off block.
pub const CRC32: Crc<u32, NoTable> = Crc::<u32, NoTable>::new(&CRC_32_ISO_HDLC);

/// CRC-32/ISO-HDLC of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// Reads a little-endian `u16` at `at`; `None` when out of bounds.
pub fn get_u16(b: &[u8], at: usize) -> Option<u16> {
    let end = at.checked_add(2)?;
    let s = b.get(at..end)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

/// Reads a little-endian `u32` at `at`; `None` when out of bounds.
pub fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let s: [u8; 4] = b.get(at..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

/// Reads a little-endian `u64` at `at`; `None` when out of bounds.
pub fn get_u64(b: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    let s: [u8; 8] = b.get(at..end)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

/// Writes `v` at `at`; returns `false` (writing nothing) when out of bounds.
pub fn put(b: &mut [u8], at: usize, v: &[u8]) -> bool {
    let Some(end) = at.checked_add(v.len()) else {
        return false;
    };
    match b.get_mut(at..end) {
        Some(dst) => {
            dst.copy_from_slice(v);
            true
        }
        None => false,
    }
}

/// True when every byte is the erased value 0xFF (compared a word at a time: the journal
/// checks whole positions with it on every append).
pub fn is_erased(b: &[u8]) -> bool {
    let mut words = b.chunks_exact(4);
    words.all(|w| w.try_into().is_ok_and(|w: [u8; 4]| u32::from_ne_bytes(w) == u32::MAX))
        && words.remainder().iter().all(|&x| x == 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_programmed_bit_anywhere_is_not_erased() {
        for len in 0..=13 {
            let mut b = [0xFFu8; 13];
            assert!(is_erased(&b[..len]), "{len}");
            for at in 0..len {
                for bit in 0..8 {
                    b[at] = !(1 << bit);
                    assert!(!is_erased(&b[..len]), "len {len}, byte {at}, bit {bit}");
                    b[at] = 0xFF;
                }
            }
        }
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn bounds_are_checked() {
        let b = [1u8, 2, 3, 4];
        assert_eq!(get_u32(&b, 0), Some(0x0403_0201));
        assert_eq!(get_u32(&b, 1), None);
        assert_eq!(get_u16(&b, usize::MAX), None);
        let mut m = [0u8; 2];
        assert!(!put(&mut m, 1, &[1, 2]));
        assert_eq!(m, [0, 0]);
    }
}
