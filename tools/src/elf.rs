//! ELF input: the loadable segments of a linked application, placed by their
//! physical (load) addresses into one flat binary that starts at the slot's
//! image address, gaps filled with 0xFF (erased flash).

use std::path::Path;

use object::elf::PT_LOAD;
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind};

use crate::slot::SlotTarget;
use crate::Error;

/// The first four bytes of every ELF file.
pub const ELF_MAGIC: [u8; 4] = *b"\x7fELF";

/// True when `bytes` starts with the ELF magic.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(&ELF_MAGIC)
}

/// A loadable segment's file bytes and the address they are loaded at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment<'a> {
    addr: u64,
    data: &'a [u8],
}

impl Segment<'_> {
    fn end(&self) -> Option<u64> {
        self.addr.checked_add(self.data.len() as u64)
    }
}

/// Turns the ELF in `bytes` into the flat image for `target`.
///
/// Only `PT_LOAD` segments with file data count, at their physical address
/// (`p_paddr`, the LMA: `.data` is stored in flash and copied to RAM). Each must
/// lie inside the slot's image area, and the lowest must start exactly at the
/// image address, where the boot stage expects the vector table.
///
/// # Errors
///
/// [`Error::Elf`] naming the problem.
pub fn flatten(path: &Path, bytes: &[u8], target: &SlotTarget) -> Result<Vec<u8>, Error> {
    let err = |reason: String| Error::Elf { path: path.to_path_buf(), reason };
    let mut segs = match FileKind::parse(bytes) {
        Ok(FileKind::Elf32) => segments::<object::elf::FileHeader32<Endianness>>(bytes),
        Ok(FileKind::Elf64) => segments::<object::elf::FileHeader64<Endianness>>(bytes),
        _ => Err("not a 32- or 64-bit ELF file".to_owned()),
    }
    .map_err(err)?;
    if segs.is_empty() {
        return Err(err("no loadable segment with file data (PT_LOAD with p_filesz > 0)".to_owned()));
    }
    segs.sort_by_key(|s| s.addr);

    let lo = target.image_address();
    let hi = target.end_address();
    for s in &segs {
        let inside = s.end().is_some_and(|end| s.addr >= lo && end <= hi);
        if !inside {
            return Err(err(format!(
                "ELF segment at {:#x} ({} bytes) is outside slot {target} ({lo:#x}-{hi:#x}): \
                 was it linked for this slot?",
                s.addr,
                s.data.len()
            )));
        }
    }
    for w in segs.windows(2) {
        if let [a, b] = w {
            if a.end().is_some_and(|end| end > b.addr) {
                return Err(err(format!("ELF segments at {:#x} and {:#x} overlap", a.addr, b.addr)));
            }
        }
    }
    if let Some(first) = segs.first() {
        if first.addr != lo {
            return Err(err(format!(
                "the lowest ELF segment starts at {:#x}, not at slot {target}'s image address {lo:#x}: \
                 the vector table must come first (was it linked with this slot's memory.x?)",
                first.addr
            )));
        }
    }
    // Inside [lo, hi), which is at most 4 GiB and checked to fit the slot.
    let len = segs.iter().filter_map(Segment::end).max().unwrap_or(lo) - lo;
    let mut out = vec![0xFFu8; usize::try_from(len).map_err(|_| err("image too large".to_owned()))?];
    for s in &segs {
        let at = (s.addr - lo) as usize;
        out[at..at + s.data.len()].copy_from_slice(s.data);
    }
    Ok(out)
}

fn segments<Elf: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> Result<Vec<Segment<'_>>, String> {
    let header = Elf::parse(bytes).map_err(|e| format!("bad ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| format!("bad ELF header: {e}"))?;
    let phdrs = header.program_headers(endian, bytes).map_err(|e| format!("bad ELF program headers: {e}"))?;
    let mut out = Vec::new();
    for ph in phdrs {
        if ph.p_type(endian) != PT_LOAD {
            continue;
        }
        let addr: u64 = ph.p_paddr(endian).into();
        let data =
            ph.data(endian, bytes).map_err(|()| format!("ELF segment at {addr:#x} points past the end of the file"))?;
        if !data.is_empty() {
            out.push(Segment { addr, data });
        }
    }
    if out.is_empty() && phdrs.is_empty() {
        return Err(
            "the ELF has no program headers: is it a relocatable object (.o) rather than a linked image?".to_owned()
        );
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::write::elf::{FileHeader as WFileHeader, ProgramHeader as WProgramHeader, Writer};

    /// Builds a little-endian ELF32 ARM executable with one `PT_LOAD` segment
    /// per `(paddr, vaddr, data)`.
    pub(crate) fn build_elf(segs: &[(u64, u64, &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = Writer::new(Endianness::Little, false, &mut buf);
        w.reserve_file_header();
        w.reserve_program_headers(segs.len() as u32);
        let offsets: Vec<u64> = segs.iter().map(|(_, _, d)| w.reserve(d.len() as u64, 4)).collect();
        w.write_file_header(&WFileHeader {
            os_abi: object::elf::ELFOSABI_NONE,
            abi_version: 0,
            e_type: object::elf::ET_EXEC,
            e_machine: object::elf::EM_ARM,
            e_entry: segs.first().map_or(0, |s| s.0),
            e_flags: Default::default(),
        })
        .unwrap();
        w.write_align_program_headers();
        for ((paddr, vaddr, d), off) in segs.iter().zip(&offsets) {
            w.write_program_header(&WProgramHeader {
                p_type: PT_LOAD,
                p_flags: object::elf::PF_R,
                p_offset: *off,
                p_vaddr: *vaddr,
                p_paddr: *paddr,
                p_filesz: d.len() as u64,
                p_memsz: d.len() as u64,
                p_align: 4,
            });
        }
        for (_, _, d) in segs {
            w.write_align(4);
            w.write(d);
        }
        buf
    }

    fn slot_a() -> SlotTarget {
        SlotTarget::new(Some("a".into()), 0x2100_0000, 0x10000, 0x40_0000, 0x400).unwrap()
    }

    #[test]
    fn flattens_by_load_address() {
        // .text at the image address, .data stored after it but run from RAM.
        let elf = build_elf(&[(0x2101_0400, 0x2101_0400, &[1, 2, 3, 4]), (0x2101_0408, 0x2001_0000, &[9, 9])]);
        assert!(is_elf(&elf));
        let flat = flatten(Path::new("x.elf"), &elf, &slot_a()).unwrap();
        assert_eq!(flat, [1, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFF, 9, 9]);
    }

    #[test]
    fn rejects_foreign_layouts() {
        let e = |elf: Vec<u8>| flatten(Path::new("x.elf"), &elf, &slot_a()).unwrap_err().to_string();
        let other_slot = e(build_elf(&[(0x2141_0400, 0x2141_0400, &[1])]));
        assert!(
            other_slot.contains("ELF segment at 0x21410400 (1 bytes) is outside slot a (0x21010400-0x21410000)"),
            "{other_slot}"
        );
        assert!(other_slot.contains("was it linked for this slot?"));
        assert!(e(build_elf(&[(0x2101_0400, 0, &[1, 2]), (0x2101_0401, 0, &[3])])).contains("overlap"));
        assert!(e(build_elf(&[(0x2101_0500, 0, &[1])])).contains("vector table must come first"));
        assert!(e(build_elf(&[])).contains("no program headers"));
        assert!(e(b"\x7fELF\x05".to_vec()).contains("not a 32- or 64-bit ELF"));
    }
}
