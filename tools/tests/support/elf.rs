//! Test support shared by the image tool's unit tests (`src/elf.rs`) and its command-line
//! tests (`tests/cli.rs`): one ELF builder.

use object::elf::{ELFOSABI_NONE, EM_ARM, ET_EXEC, PF_R, PT_LOAD};
use object::write::elf::{FileHeader, ProgramHeader, Writer};
use object::Endianness;

/// A little-endian ELF32 ARM executable with one read-only `PT_LOAD` segment per
/// `(paddr, vaddr, data)`.
pub fn build_elf(segs: &[(u64, u64, &[u8])]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = Writer::new(Endianness::Little, false, &mut buf);
    w.reserve_file_header();
    w.reserve_program_headers(u32::try_from(segs.len()).expect("segment count"));
    let offsets: Vec<usize> = segs.iter().map(|(_, _, d)| w.reserve(d.len(), 4)).collect();
    w.write_file_header(&FileHeader {
        os_abi: ELFOSABI_NONE,
        abi_version: 0,
        e_type: ET_EXEC,
        e_machine: EM_ARM,
        e_entry: segs.first().map_or(0, |s| s.0),
        e_flags: Default::default(),
    })
    .expect("ELF header");
    w.write_align_program_headers();
    for ((paddr, vaddr, d), off) in segs.iter().zip(&offsets) {
        w.write_program_header(&ProgramHeader {
            p_type: PT_LOAD,
            p_flags: PF_R,
            p_offset: *off as u64,
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
