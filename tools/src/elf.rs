//! ELF input: the loadable segments of a linked application, placed by their
//! physical (load) addresses into one flat binary that starts at the slot's
//! image address, gaps filled with 0xFF (erased flash).

use std::path::Path;

use object::elf::{PF_W, PT_LOAD};
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

/// A loadable (`PT_LOAD`) segment of a linked ELF: the one ELF reader of the project
/// (the image tool's `sign`, and xtask's layout checks and flat stage images use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadSegment<'a> {
    /// The physical (load) address, `p_paddr`: where its file bytes are stored (for
    /// `.data`, its copy in flash).
    pub load_addr: u64,
    /// The virtual address, `p_vaddr`: where it runs (for `.data`, RAM).
    pub run_addr: u64,
    /// Bytes it occupies when running, `p_memsz` (`.bss` has memory and no file bytes).
    pub mem_size: u64,
    /// Whether it is writable (`PF_W`).
    pub writable: bool,
    /// Its file bytes (`p_filesz` of them; empty for `.bss`).
    pub data: &'a [u8],
}

impl LoadSegment<'_> {
    /// The end of its file bytes at the load address (`None` on overflow).
    pub fn load_end(&self) -> Option<u64> {
        self.load_addr.checked_add(self.data.len() as u64)
    }
}

/// Every `PT_LOAD` segment of the ELF in `bytes` (32- or 64-bit, either endianness), in
/// program-header order.
///
/// # Errors
///
/// [`Error::Elf`] when `bytes` is not an ELF, its headers are malformed, a segment's file
/// bytes lie past the end of the file, or it has no program headers (a relocatable object).
pub fn load_segments<'a>(path: &Path, bytes: &'a [u8]) -> Result<Vec<LoadSegment<'a>>, Error> {
    match FileKind::parse(bytes) {
        Ok(FileKind::Elf32) => segments::<object::elf::FileHeader32<Endianness>>(bytes),
        Ok(FileKind::Elf64) => segments::<object::elf::FileHeader64<Endianness>>(bytes),
        _ => Err("not a 32- or 64-bit ELF file".to_owned()),
    }
    .map_err(|reason| Error::Elf { path: path.to_path_buf(), reason })
}

/// The segments' file bytes placed by load address into one flat binary that starts at
/// `base`, gaps filled with 0xFF (erased flash). Every segment with file bytes must lie in
/// `[base, limit)` and none may overlap another.
///
/// # Errors
///
/// [`Error::Elf`] naming the segment outside the range or the overlapping pair.
pub fn place(path: &Path, segs: &[LoadSegment<'_>], base: u64, limit: u64) -> Result<Vec<u8>, Error> {
    let err = |reason: String| Error::Elf { path: path.to_path_buf(), reason };
    let mut segs: Vec<&LoadSegment<'_>> = segs.iter().filter(|s| !s.data.is_empty()).collect();
    segs.sort_by_key(|s| s.load_addr);
    for s in &segs {
        if !s.load_end().is_some_and(|end| s.load_addr >= base && end <= limit) {
            return Err(err(format!(
                "ELF segment at {:#x} ({} bytes) is outside {base:#x}-{limit:#x}",
                s.load_addr,
                s.data.len()
            )));
        }
    }
    for w in segs.windows(2) {
        if let [a, b] = w {
            if a.load_end().is_some_and(|end| end > b.load_addr) {
                return Err(err(format!("ELF segments at {:#x} and {:#x} overlap", a.load_addr, b.load_addr)));
            }
        }
    }
    // Every segment is inside [base, limit), checked above.
    let len = segs.iter().filter_map(|s| s.load_end()).max().unwrap_or(base) - base;
    let mut out = vec![0xFFu8; usize::try_from(len).map_err(|_| err("image too large".to_owned()))?];
    for s in &segs {
        let at = usize::try_from(s.load_addr - base).map_err(|_| err("image too large".to_owned()))?;
        if let Some(dst) = out.get_mut(at..at + s.data.len()) {
            dst.copy_from_slice(s.data);
        }
    }
    Ok(out)
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
    let segs = load_segments(path, bytes)?;
    let lo = target.image_address();
    let hi = target.end_address();
    let Some(first) = segs.iter().filter(|s| !s.data.is_empty()).min_by_key(|s| s.load_addr) else {
        return Err(err("no loadable segment with file data (PT_LOAD with p_filesz > 0)".to_owned()));
    };
    if let Some(s) =
        segs.iter().find(|s| !s.data.is_empty() && !s.load_end().is_some_and(|e| s.load_addr >= lo && e <= hi))
    {
        return Err(err(format!(
            "ELF segment at {:#x} ({} bytes) is outside slot {target} ({lo:#x}-{hi:#x}): \
             was it linked for this slot?",
            s.load_addr,
            s.data.len()
        )));
    }
    let flat = place(path, &segs, lo, hi)?;
    if first.load_addr != lo {
        return Err(err(format!(
            "the lowest ELF segment starts at {:#x}, not at slot {target}'s image address {lo:#x}: \
             the vector table must come first (was it linked with this slot's memory.x?)",
            first.load_addr
        )));
    }
    Ok(flat)
}

fn segments<Elf: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> Result<Vec<LoadSegment<'_>>, String> {
    let header = Elf::parse(bytes).map_err(|e| format!("bad ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| format!("bad ELF header: {e}"))?;
    let phdrs = header.program_headers(endian, bytes).map_err(|e| format!("bad ELF program headers: {e}"))?;
    if phdrs.is_empty() {
        return Err(
            "the ELF has no program headers: is it a relocatable object (.o) rather than a linked image?".to_owned()
        );
    }
    let mut out = Vec::new();
    for ph in phdrs {
        if ph.p_type(endian) != PT_LOAD {
            continue;
        }
        let load_addr: u64 = ph.p_paddr(endian).into();
        let data = ph
            .data(endian, bytes)
            .map_err(|()| format!("ELF segment at {load_addr:#x} points past the end of the file"))?;
        out.push(LoadSegment {
            load_addr,
            run_addr: ph.p_vaddr(endian).into(),
            mem_size: ph.p_memsz(endian).into(),
            writable: ph.p_flags(endian) & PF_W != 0,
            data,
        });
    }
    Ok(out)
}

/// The address of the first symbol in the ELF's symbol table whose name is in `names`.
///
/// # Errors
///
/// [`Error::Elf`] when `bytes` is not an ELF; `Ok(None)` when no symbol matches.
pub fn symbol_address(path: &Path, bytes: &[u8], names: &[&str]) -> Result<Option<u64>, Error> {
    use object::{Object, ObjectSymbol};
    let file =
        object::File::parse(bytes).map_err(|e| Error::Elf { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok(file.symbols().find(|s| s.name().is_ok_and(|n| names.contains(&n))).map(|s| s.address()))
}

/// The tests' ELF builder, shared with `tests/cli.rs`.
#[cfg(test)]
#[path = "../tests/support/elf.rs"]
mod test_elf;

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) use super::test_elf::build_elf;
    use super::*;

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
    fn reads_load_and_run_addresses_and_places_by_load_address() {
        let elf = build_elf(&[(0x100, 0x100, &[1, 2]), (0x104, 0x2000_0000, &[7])]);
        let p = Path::new("x.elf");
        let segs = load_segments(p, &elf).unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(
            (segs[1].load_addr, segs[1].run_addr, segs[1].mem_size, segs[1].data),
            (0x104, 0x2000_0000, 1, &[7u8][..])
        );
        assert!(!segs[0].writable);
        assert_eq!(place(p, &segs, 0x100, 0x200).unwrap(), [1, 2, 0xFF, 0xFF, 7]);
        assert_eq!(place(p, &segs, 0xF0, 0x200).unwrap()[..0x12], [[0xFF; 0x10].as_slice(), &[1, 2]].concat());
        let outside = place(p, &segs, 0x100, 0x104).unwrap_err().to_string();
        assert!(outside.contains("ELF segment at 0x104 (1 bytes) is outside 0x100-0x104"), "{outside}");
        assert!(load_segments(p, b"not an elf").is_err());
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
