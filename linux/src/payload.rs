//! The Linux payload: the signed image of a Linux slot is a table, then the parts it
//! lists (docs/FORMAT.md, "Linux payload"). [`parse_payload`] reads it in the boot stage;
//! `Payload::encode` (feature `alloc`) writes it for the host tools. Both take every
//! offset, size and code from this module, so the two cannot drift apart.

use crate::bytes::{le16, le32};
use crate::LinuxError;

/// `"SSLX"`: the magic of a Linux payload table, little-endian at offset 0 of the image.
pub const PAYLOAD_MAGIC: u32 = u32::from_le_bytes(*b"SSLX");
/// The payload table format this code reads and writes.
pub const PAYLOAD_FORMAT: u16 = 1;
/// Bytes of the table header (magic, format, count, reserved).
pub const PAYLOAD_HEADER_LEN: usize = 12;
/// Bytes of one table entry (kind, reserved, offset, length).
pub const PAYLOAD_ENTRY_LEN: usize = 12;
/// Most entries a table may list.
pub const MAX_PARTS: usize = 4;

/// Byte offsets in the payload table (docs/FORMAT.md, "Linux payload").
pub mod field {
    /// Table header: the magic (u32).
    pub const MAGIC: usize = 0;
    /// Table header: the format (u16).
    pub const FORMAT: usize = 4;
    /// Table header: the number of entries (u16).
    pub const COUNT: usize = 6;
    /// Table header: reserved, zero (4 bytes).
    pub const RESERVED: usize = 8;
    /// Entry, relative to its start: the part's kind (u16).
    pub const KIND: usize = 0;
    /// Entry: reserved, zero (2 bytes).
    pub const ENTRY_RESERVED: usize = 2;
    /// Entry: the part's offset from the image start (u32).
    pub const OFFSET: usize = 4;
    /// Entry: the part's length (u32, non-zero).
    pub const LEN: usize = 8;
}

/// What one payload part is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum PartKind {
    /// The arm64 kernel `Image`, gzip'd.
    KernelGz = 1,
    /// The initramfs (a cpio archive, compressed as the kernel accepts).
    Initrd = 2,
}

impl PartKind {
    /// The kind code in the table.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The kind of `code`, if it is one.
    pub const fn from_code(code: u16) -> Option<PartKind> {
        match code {
            1 => Some(PartKind::KernelGz),
            2 => Some(PartKind::Initrd),
            _ => None,
        }
    }
}

/// Bytes of a table with `count` entries (where its first part may start).
pub const fn table_len(count: usize) -> usize {
    PAYLOAD_HEADER_LEN.saturating_add(PAYLOAD_ENTRY_LEN.saturating_mul(count))
}

/// The parts of a Linux payload, as slices of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The gzip'd kernel `Image`.
    pub kernel_gz: &'a [u8],
    /// The initramfs.
    pub initrd: &'a [u8],
}

/// One table entry, decoded: the part's kind and its bytes.
fn entry(image: &[u8], index: usize, table_end: usize) -> Result<(PartKind, &[u8]), LinuxError> {
    let bad = LinuxError::BadTable;
    let at = PAYLOAD_ENTRY_LEN.checked_mul(index).and_then(|n| n.checked_add(PAYLOAD_HEADER_LEN)).ok_or(bad)?;
    let field_at = |f: usize| at.checked_add(f).ok_or(bad);
    let kind = le16(image, field_at(field::KIND)?).ok_or(bad)?;
    let reserved = le16(image, field_at(field::ENTRY_RESERVED)?).ok_or(bad)?;
    let off = le32(image, field_at(field::OFFSET)?).ok_or(bad)? as usize;
    let len = le32(image, field_at(field::LEN)?).ok_or(bad)? as usize;
    let end = off.checked_add(len).ok_or(bad)?;
    if off < table_end || len == 0 || reserved != 0 {
        return Err(bad);
    }
    let part = image.get(off..end).ok_or(bad)?;
    Ok((PartKind::from_code(kind).ok_or(bad)?, part))
}

/// Reads the payload table at the start of `image` (the verified image bytes; see
/// docs/FORMAT.md, "Linux payload"). Each entry's part must lie inside `image`, after the
/// table; exactly one kernel and one initramfs are required; reserved bytes must be zero.
pub fn parse_payload(image: &[u8]) -> Result<Payload<'_>, LinuxError> {
    let bad = LinuxError::BadTable;
    if le32(image, field::MAGIC) != Some(PAYLOAD_MAGIC)
        || le16(image, field::FORMAT) != Some(PAYLOAD_FORMAT)
        || le32(image, field::RESERVED) != Some(0)
    {
        return Err(bad);
    }
    let count = usize::from(le16(image, field::COUNT).ok_or(bad)?);
    if count > MAX_PARTS {
        return Err(bad);
    }
    let table_end = table_len(count);
    let mut kernel = None;
    let mut initrd = None;
    for i in 0..count {
        let (kind, part) = entry(image, i, table_end)?;
        let slot = match kind {
            PartKind::KernelGz => &mut kernel,
            PartKind::Initrd => &mut initrd,
        };
        if slot.replace(part).is_some() {
            return Err(bad);
        }
    }
    match (kernel, initrd) {
        (Some(kernel_gz), Some(initrd)) => Ok(Payload { kernel_gz, initrd }),
        _ => Err(LinuxError::MissingPart),
    }
}

#[cfg(feature = "alloc")]
impl Payload<'_> {
    /// The payload image: the table (kernel entry, then initramfs entry), the gzip'd
    /// kernel, then the initramfs. [`parse_payload`] reads it back to `self`.
    ///
    /// # Errors
    ///
    /// [`LinuxError::MissingPart`] for an empty part (the table cannot list it),
    /// [`LinuxError::TooBig`] when an offset or length does not fit 32 bits.
    pub fn encode(&self) -> Result<alloc::vec::Vec<u8>, LinuxError> {
        let parts = [(PartKind::KernelGz, self.kernel_gz), (PartKind::Initrd, self.initrd)];
        let table = table_len(parts.len());
        let total = parts.iter().try_fold(table, |n, (_, p)| n.checked_add(p.len())).ok_or(LinuxError::TooBig)?;
        u32::try_from(total).map_err(|_| LinuxError::TooBig)?;
        let count = u16::try_from(parts.len()).map_err(|_| LinuxError::TooBig)?;
        let mut out = alloc::vec![0u8; table];
        put(&mut out, field::MAGIC, &PAYLOAD_MAGIC.to_le_bytes())?;
        put(&mut out, field::FORMAT, &PAYLOAD_FORMAT.to_le_bytes())?;
        put(&mut out, field::COUNT, &count.to_le_bytes())?;
        let mut offset = table;
        for (i, (kind, part)) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(LinuxError::MissingPart);
            }
            let at = table_len(i);
            let u = |v: usize| u32::try_from(v).map_err(|_| LinuxError::TooBig);
            put(&mut out, at.saturating_add(field::KIND), &kind.code().to_le_bytes())?;
            put(&mut out, at.saturating_add(field::OFFSET), &u(offset)?.to_le_bytes())?;
            put(&mut out, at.saturating_add(field::LEN), &u(part.len())?.to_le_bytes())?;
            offset = offset.saturating_add(part.len());
        }
        out.reserve(total.saturating_sub(table));
        for (_, part) in parts {
            out.extend_from_slice(part);
        }
        Ok(out)
    }
}

/// Writes `v` at `at` in the table being built (inside it by construction).
#[cfg(feature = "alloc")]
fn put(out: &mut [u8], at: usize, v: &[u8]) -> Result<(), LinuxError> {
    let end = at.checked_add(v.len()).ok_or(LinuxError::TooBig)?;
    out.get_mut(at..end).ok_or(LinuxError::TooBig)?.copy_from_slice(v);
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn table(parts: &[(u16, u32, u32)]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&PAYLOAD_MAGIC.to_le_bytes());
        t.extend_from_slice(&PAYLOAD_FORMAT.to_le_bytes());
        t.extend_from_slice(&(parts.len() as u16).to_le_bytes());
        t.extend_from_slice(&[0; 4]);
        for &(k, off, len) in parts {
            t.extend_from_slice(&k.to_le_bytes());
            t.extend_from_slice(&[0; 2]);
            t.extend_from_slice(&off.to_le_bytes());
            t.extend_from_slice(&len.to_le_bytes());
        }
        t
    }

    #[test]
    fn payload_table_round_trip_and_rejections() {
        let mut img = table(&[(1, 36, 4), (2, 40, 3)]);
        img.extend_from_slice(b"KKKKIII");
        let p = parse_payload(&img).unwrap();
        assert_eq!((p.kernel_gz, p.initrd), (&b"KKKK"[..], &b"III"[..]));
        // A part past the end, overlapping the table, twice the same kind, unknown kind,
        // a missing initramfs, a wrong magic, too many entries.
        let cases: [(Vec<u8>, LinuxError); 7] = [
            (table(&[(1, 36, 4), (2, 40, 30)]), LinuxError::BadTable),
            (table(&[(1, 4, 4), (2, 40, 3)]), LinuxError::BadTable),
            (table(&[(1, 36, 4), (1, 40, 3)]), LinuxError::BadTable),
            (table(&[(1, 36, 4), (7, 40, 3)]), LinuxError::BadTable),
            (table(&[(1, 24, 4)]), LinuxError::MissingPart),
            (b"XXXX".to_vec(), LinuxError::BadTable),
            (table(&[(1, 0, 1); 5]), LinuxError::BadTable),
        ];
        for (mut t, want) in cases {
            t.extend_from_slice(b"KKKKIII");
            assert_eq!(parse_payload(&t), Err(want), "{t:?}");
        }
        // Every truncation of a good image fails cleanly.
        for n in 0..img.len() {
            assert!(parse_payload(&img[..n]).is_err());
        }
    }

    #[test]
    fn reserved_bytes_must_be_zero() {
        let mut img = table(&[(1, 36, 4), (2, 40, 3)]);
        img.extend_from_slice(b"KKKKIII");
        for at in [field::RESERVED, field::RESERVED + 3, table_len(0) + field::ENTRY_RESERVED, table_len(1) + 3] {
            let mut t = img.clone();
            t[at] = 1;
            assert_eq!(parse_payload(&t), Err(LinuxError::BadTable), "reserved byte {at}");
        }
    }

    #[test]
    fn part_kind_codes_round_trip() {
        for k in [PartKind::KernelGz, PartKind::Initrd] {
            assert_eq!(PartKind::from_code(k.code()), Some(k));
        }
        assert_eq!((PartKind::KernelGz.code(), PartKind::Initrd.code()), (1, 2));
        assert_eq!(PartKind::from_code(0), None);
        assert_eq!(PartKind::from_code(3), None);
    }

    #[cfg(feature = "alloc")]
    mod writer {
        use super::*;
        use proptest::prelude::*;

        /// Whether both parts are sub-slices of `img` that start after the table.
        fn after_table(img: &[u8], p: &Payload<'_>) -> bool {
            let base = img.as_ptr() as usize;
            [p.kernel_gz, p.initrd].iter().all(|part| {
                let start = part.as_ptr() as usize - base;
                start >= table_len(2) && start + part.len() <= img.len()
            })
        }

        #[test]
        fn the_writer_lays_out_the_documented_table() {
            let img = Payload { kernel_gz: b"KKKK", initrd: b"III" }.encode().unwrap();
            let mut want = table(&[(1, 36, 4), (2, 40, 3)]);
            want.extend_from_slice(b"KKKKIII");
            assert_eq!(img, want);
            assert_eq!(&img[..4], b"SSLX");
            assert_eq!(table_len(2), 36);
        }

        #[test]
        fn the_writer_refuses_an_empty_part() {
            for p in [Payload { kernel_gz: b"", initrd: b"I" }, Payload { kernel_gz: b"K", initrd: b"" }] {
                assert_eq!(p.encode(), Err(LinuxError::MissingPart));
            }
        }

        #[test]
        fn every_truncation_and_single_byte_corruption_of_the_table_is_typed() {
            let img = Payload { kernel_gz: &[0x1F; 40], initrd: &[0x07; 9] }.encode().unwrap();
            for n in 0..img.len() {
                let r = parse_payload(&img[..n]);
                assert!(matches!(r, Err(LinuxError::BadTable | LinuxError::MissingPart)), "cut at {n}: {r:?}");
            }
            // Any change inside the table is either refused or reads parts that still lie
            // inside the image, after the table (no panic).
            for at in 0..table_len(2) {
                for bit in 0..8 {
                    let mut t = img.clone();
                    t[at] ^= 1 << bit;
                    match parse_payload(&t) {
                        Ok(p) => assert!(after_table(&t, &p), "byte {at} bit {bit}: {p:?}"),
                        Err(e) => assert!(matches!(e, LinuxError::BadTable | LinuxError::MissingPart), "{e:?}"),
                    }
                }
            }
        }

        proptest! {
            #[test]
            fn write_then_read_round_trips(
                kernel in proptest::collection::vec(any::<u8>(), 1..300),
                initrd in proptest::collection::vec(any::<u8>(), 1..300),
            ) {
                let p = Payload { kernel_gz: &kernel, initrd: &initrd };
                let img = p.encode().unwrap();
                prop_assert_eq!(img.len(), table_len(2) + kernel.len() + initrd.len());
                prop_assert_eq!(parse_payload(&img), Ok(p));
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = parse_payload(&bytes);
            }

            #[test]
            fn a_corrupted_payload_is_refused_or_stays_in_bounds(
                at in 0usize..36, val in any::<u8>(), cut in 0usize..60,
            ) {
                let mut img = Payload { kernel_gz: &[1; 16], initrd: &[2; 8] }.encode().unwrap();
                img[at] = val;
                img.truncate(img.len().saturating_sub(cut));
                if let Ok(p) = parse_payload(&img) {
                    prop_assert!(after_table(&img, &p));
                }
            }
        }
    }
}
