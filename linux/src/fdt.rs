//! The device-tree `/chosen` patch: a copy of the firmware's flattened device tree (FDT,
//! version 17) whose `/chosen` node carries the kernel command line, the initramfs bounds
//! and the hand-off block.
//!
//! [`patch_chosen`] is a pipeline of small private steps, each bounded by its input: read
//! the header (`Header::parse`), decide the property names' string offsets
//! (`Names::new`), copy the structure block token by token (`copy_structure`, one
//! function per token kind), append the strings block (`write_strings`), then fill in
//! the new header (`write_header`).

use crate::bytes::be32;
use crate::LinuxError;

/// What the stage writes into the device tree's `/chosen` node.
#[derive(Clone, Copy, Debug)]
pub struct Chosen<'a> {
    /// `bootargs`: the kernel command line.
    pub bootargs: &'a str,
    /// `linux,initrd-start`: the initramfs' first address.
    pub initrd_start: u64,
    /// `linux,initrd-end`: one past its last byte.
    pub initrd_end: u64,
    /// `safeslot,handoff`: the hand-off block (docs/FORMAT.md), for the agent to read from
    /// `/proc/device-tree/chosen`.
    pub handoff: &'a [u8],
}

const FDT_MAGIC: u32 = 0xD00D_FEED;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const FDT_HEADER_LEN: usize = 40;
/// The FDT version written, and the oldest read.
const FDT_VERSION: u32 = 17;
/// The last version a version-17 tree is compatible with.
const FDT_LAST_COMP_VERSION: u32 = 16;
/// Deepest node nesting the patcher follows (QEMU's trees are 3–4 deep).
const MAX_DEPTH: u32 = 64;
/// The depth of `/chosen` (the root node is depth 1).
const CHOSEN_DEPTH: u32 = 2;

/// Byte offsets of the FDT header's big-endian `u32` fields.
mod header {
    pub const MAGIC: usize = 0;
    pub const TOTALSIZE: usize = 4;
    pub const OFF_STRUCT: usize = 8;
    pub const OFF_STRINGS: usize = 12;
    pub const OFF_RSVMAP: usize = 16;
    pub const VERSION: usize = 20;
    pub const LAST_COMP_VERSION: usize = 24;
    pub const BOOT_CPUID: usize = 28;
    pub const SIZE_STRINGS: usize = 32;
    pub const SIZE_STRUCT: usize = 36;
}

/// The names of the properties the patch sets.
const NAMES: [&str; 4] = ["bootargs", "linux,initrd-start", "linux,initrd-end", "safeslot,handoff"];

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

/// The input tree's blocks, each checked to lie inside its `totalsize`.
struct Header<'a> {
    rsv: &'a [u8],
    structure: &'a [u8],
    strings: &'a [u8],
    boot_cpuid: u32,
}

impl<'a> Header<'a> {
    /// Reads and checks the header of `dtb`.
    fn parse(dtb: &'a [u8]) -> Result<Self, LinuxError> {
        let bad = LinuxError::BadDtb;
        let field = |at: usize| be32(dtb, at).ok_or(bad);
        if field(header::MAGIC)? != FDT_MAGIC {
            return Err(bad);
        }
        let dtb = dtb.get(..field(header::TOTALSIZE)? as usize).ok_or(bad)?;
        let off_struct = field(header::OFF_STRUCT)? as usize;
        let off_strings = field(header::OFF_STRINGS)? as usize;
        let off_rsv = field(header::OFF_RSVMAP)? as usize;
        let size_strings = field(header::SIZE_STRINGS)? as usize;
        let size_struct = field(header::SIZE_STRUCT)? as usize;
        if field(header::VERSION)? < FDT_VERSION
            || off_rsv < FDT_HEADER_LEN
            || !off_rsv.is_multiple_of(8)
            || off_rsv > off_struct
        {
            return Err(bad);
        }
        let block = |off: usize, len: usize| dtb.get(off..off.checked_add(len).ok_or(bad)?).ok_or(bad);
        Ok(Header {
            rsv: dtb.get(off_rsv..off_struct).ok_or(bad)?,
            structure: block(off_struct, size_struct)?,
            strings: block(off_strings, size_strings)?,
            boot_cpuid: field(header::BOOT_CPUID)?,
        })
    }
}

/// A bounded writer over the output buffer.
struct Out<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Out<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), LinuxError> {
        let end = self.at.checked_add(b.len()).ok_or(LinuxError::DtbTooBig)?;
        self.buf.get_mut(self.at..end).ok_or(LinuxError::DtbTooBig)?.copy_from_slice(b);
        self.at = end;
        Ok(())
    }

    fn u32(&mut self, v: u32) -> Result<(), LinuxError> {
        self.bytes(&v.to_be_bytes())
    }

    fn pad4(&mut self) -> Result<(), LinuxError> {
        let to = align4(self.at).ok_or(LinuxError::DtbTooBig)?;
        let pad = to.saturating_sub(self.at);
        self.bytes([0; 3].get(..pad).ok_or(LinuxError::DtbTooBig)?)
    }

    fn set32(&mut self, at: usize, v: u32) -> Result<(), LinuxError> {
        let end = at.checked_add(4).ok_or(LinuxError::DtbTooBig)?;
        self.buf.get_mut(at..end).ok_or(LinuxError::DtbTooBig)?.copy_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

/// The offsets of [`NAMES`] in the new strings block: where the old block has the name,
/// or where it will be appended.
struct Names {
    offsets: [u32; 4],
    /// Length of the old strings block: offsets from here on are appended names.
    old_len: usize,
}

impl Names {
    /// Decides the offsets for the strings block `strings`.
    fn new(strings: &[u8]) -> Result<Self, LinuxError> {
        // Every string ends with a NUL: an unterminated last one would run into the names
        // appended after it (found by the `linux` fuzz target: patching twice differed).
        if strings.last().is_some_and(|&b| b != 0) {
            return Err(LinuxError::BadDtb);
        }
        let mut offsets = [0u32; 4];
        let mut appended = strings.len();
        for (slot, name) in offsets.iter_mut().zip(NAMES) {
            *slot = match find_string(strings, name) {
                Some(off) => off,
                None => {
                    let off = u32::try_from(appended).map_err(|_| LinuxError::BadDtb)?;
                    appended =
                        appended.checked_add(name.len()).and_then(|a| a.checked_add(1)).ok_or(LinuxError::BadDtb)?;
                    off
                }
            };
        }
        Ok(Names { offsets, old_len: strings.len() })
    }
}

/// The offset of `name` in a strings block, when it is there as a whole string.
fn find_string(strings: &[u8], name: &str) -> Option<u32> {
    let mut at = 0usize;
    while at < strings.len() {
        let rest = strings.get(at..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        if rest.get(..len) == Some(name.as_bytes()) {
            return u32::try_from(at).ok();
        }
        at = at.checked_add(len)?.checked_add(1)?;
    }
    None
}

/// The string at `off` in a strings block.
fn string_at(strings: &[u8], off: u32) -> Option<&[u8]> {
    let rest = strings.get(off as usize..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    rest.get(..len)
}

/// Writes the four `/chosen` properties.
fn write_props(out: &mut Out<'_>, names: &Names, c: &Chosen<'_>) -> Result<(), LinuxError> {
    let [args, start, end, handoff] = names.offsets;
    let len = |n: usize| u32::try_from(n).map_err(|_| LinuxError::DtbTooBig);
    out.u32(FDT_PROP)?;
    out.u32(len(c.bootargs.len().saturating_add(1))?)?;
    out.u32(args)?;
    out.bytes(c.bootargs.as_bytes())?;
    out.bytes(&[0])?;
    out.pad4()?;
    for (name, v) in [(start, c.initrd_start), (end, c.initrd_end)] {
        out.u32(FDT_PROP)?;
        out.u32(8)?;
        out.u32(name)?;
        out.bytes(&v.to_be_bytes())?;
    }
    out.u32(FDT_PROP)?;
    out.u32(len(c.handoff.len())?)?;
    out.u32(handoff)?;
    out.bytes(c.handoff)?;
    out.pad4()
}

/// Where the structure walk is.
#[derive(Default)]
struct Walk {
    /// Read position in the structure block.
    at: usize,
    /// Node depth (the root is 1).
    depth: u32,
    /// Inside `/chosen`.
    in_chosen: bool,
    /// `/chosen` was met (or created).
    seen_chosen: bool,
}

/// The token loop: copies the structure block, dropping the old values of the patched
/// properties and writing the new ones at the end of `/chosen` (created at the end of
/// the root node when missing). Bounded: every token advances the read position by at
/// least 4 bytes within `h.structure`.
fn copy_structure(h: &Header<'_>, names: &Names, chosen: &Chosen<'_>, o: &mut Out<'_>) -> Result<(), LinuxError> {
    let bad = LinuxError::BadDtb;
    let mut w = Walk::default();
    loop {
        let start = w.at;
        let tok = be32(h.structure, start).ok_or(bad)?;
        w.at = start.checked_add(4).ok_or(bad)?;
        match tok {
            FDT_BEGIN_NODE => begin_node(h.structure, start, &mut w, o)?,
            FDT_END_NODE => end_node(&mut w, names, chosen, o)?,
            FDT_PROP => prop(h, start, &mut w, o)?,
            FDT_NOP => {}
            FDT_END if w.depth == 0 => return o.u32(FDT_END),
            _ => return Err(bad),
        }
    }
}

/// `FDT_BEGIN_NODE` at `start`: copied; notes entering `/chosen`.
fn begin_node(structure: &[u8], start: usize, w: &mut Walk, o: &mut Out<'_>) -> Result<(), LinuxError> {
    let bad = LinuxError::BadDtb;
    let rest = structure.get(w.at..).ok_or(bad)?;
    let len = rest.iter().position(|&b| b == 0).ok_or(bad)?;
    let name = rest.get(..len).ok_or(bad)?;
    w.at = align4(w.at.checked_add(len).and_then(|a| a.checked_add(1)).ok_or(bad)?).ok_or(bad)?;
    w.depth = w.depth.checked_add(1).ok_or(bad)?;
    if w.depth > MAX_DEPTH {
        return Err(bad);
    }
    if w.depth == CHOSEN_DEPTH && name == b"chosen" {
        w.in_chosen = true;
        w.seen_chosen = true;
    }
    o.bytes(structure.get(start..w.at).ok_or(bad)?)
}

/// `FDT_END_NODE`: the new properties go before the end of `/chosen`, and a missing
/// `/chosen` before the end of the root.
fn end_node(w: &mut Walk, names: &Names, chosen: &Chosen<'_>, o: &mut Out<'_>) -> Result<(), LinuxError> {
    if w.in_chosen && w.depth == CHOSEN_DEPTH {
        write_props(o, names, chosen)?;
        w.in_chosen = false;
    }
    if w.depth == 1 && !w.seen_chosen {
        o.u32(FDT_BEGIN_NODE)?;
        o.bytes(b"chosen\0")?;
        o.pad4()?;
        write_props(o, names, chosen)?;
        o.u32(FDT_END_NODE)?;
        w.seen_chosen = true;
    }
    w.depth = w.depth.checked_sub(1).ok_or(LinuxError::BadDtb)?;
    o.u32(FDT_END_NODE)
}

/// `FDT_PROP` at `start`: copied, unless it is one `/chosen` property the patch sets.
fn prop(h: &Header<'_>, start: usize, w: &mut Walk, o: &mut Out<'_>) -> Result<(), LinuxError> {
    let bad = LinuxError::BadDtb;
    let len = be32(h.structure, w.at).ok_or(bad)? as usize;
    let nameoff = be32(h.structure, w.at.checked_add(4).ok_or(bad)?).ok_or(bad)?;
    w.at = align4(w.at.checked_add(8).and_then(|a| a.checked_add(len)).ok_or(bad)?).ok_or(bad)?;
    let whole = h.structure.get(start..w.at).ok_or(bad)?;
    let name = string_at(h.strings, nameoff).ok_or(bad)?;
    let replaced = w.in_chosen && w.depth == CHOSEN_DEPTH && NAMES.iter().any(|n| n.as_bytes() == name);
    if replaced {
        Ok(())
    } else {
        o.bytes(whole)
    }
}

/// The new strings block: the old one, then the names it lacked.
fn write_strings(strings: &[u8], names: &Names, o: &mut Out<'_>) -> Result<(), LinuxError> {
    o.bytes(strings)?;
    for (name, off) in NAMES.iter().zip(names.offsets) {
        if off as usize >= names.old_len {
            o.bytes(name.as_bytes())?;
            o.bytes(&[0])?;
        }
    }
    Ok(())
}

/// Where the new tree's blocks landed.
struct Blocks {
    rsv: usize,
    structure: usize,
    structure_size: usize,
    strings: usize,
    strings_size: usize,
    total: usize,
}

/// Fills in the header at the start of the output.
fn write_header(o: &mut Out<'_>, b: &Blocks, boot_cpuid: u32) -> Result<(), LinuxError> {
    let u = |v: usize| u32::try_from(v).map_err(|_| LinuxError::DtbTooBig);
    for (at, v) in [
        (header::MAGIC, FDT_MAGIC),
        (header::TOTALSIZE, u(b.total)?),
        (header::OFF_STRUCT, u(b.structure)?),
        (header::OFF_STRINGS, u(b.strings)?),
        (header::OFF_RSVMAP, u(b.rsv)?),
        (header::VERSION, FDT_VERSION),
        (header::LAST_COMP_VERSION, FDT_LAST_COMP_VERSION),
        (header::BOOT_CPUID, boot_cpuid),
        (header::SIZE_STRINGS, u(b.strings_size)?),
        (header::SIZE_STRUCT, u(b.structure_size)?),
    ] {
        o.set32(at, v)?;
    }
    Ok(())
}

/// Writes into `out` a copy of the device tree `dtb` whose `/chosen` node carries the
/// properties of `chosen` (replacing any of the same name; a missing `/chosen` is created).
/// Everything else is copied unchanged. Returns the new tree's length.
pub fn patch_chosen(dtb: &[u8], out: &mut [u8], chosen: &Chosen<'_>) -> Result<usize, LinuxError> {
    let h = Header::parse(dtb)?;
    let names = Names::new(h.strings)?;
    let mut o = Out { buf: out, at: 0 };
    o.bytes(&[0u8; FDT_HEADER_LEN])?;
    let rsv = o.at;
    o.bytes(h.rsv)?;
    let structure = o.at;
    copy_structure(&h, &names, chosen, &mut o)?;
    let strings = o.at;
    write_strings(h.strings, &names, &mut o)?;
    let total = o.at;
    let blocks = Blocks {
        rsv,
        structure,
        structure_size: strings.saturating_sub(structure),
        strings,
        strings_size: total.saturating_sub(strings),
        total,
    };
    write_header(&mut o, &blocks, h.boot_cpuid)?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn qemu_like_dtb(with_chosen: bool) -> Vec<u8> {
        let mut f = vm_fdt::FdtWriter::new().unwrap();
        let root = f.begin_node("").unwrap();
        f.property_u32("#address-cells", 2).unwrap();
        f.property_string("compatible", "linux,dummy-virt").unwrap();
        if with_chosen {
            let c = f.begin_node("chosen").unwrap();
            f.property_string("bootargs", "old args").unwrap();
            f.property_string("stdout-path", "/pl011@9000000").unwrap();
            f.property_u64("linux,initrd-start", 1).unwrap();
            f.end_node(c).unwrap();
        }
        let m = f.begin_node("memory@40000000").unwrap();
        f.property_string("device_type", "memory").unwrap();
        f.property_array_u64("reg", &[0x4000_0000, 0x2000_0000]).unwrap();
        f.end_node(m).unwrap();
        let fl = f.begin_node("flash@0").unwrap();
        f.property_string("compatible", "cfi-flash").unwrap();
        f.end_node(fl).unwrap();
        f.end_node(root).unwrap();
        f.finish().unwrap()
    }

    #[test]
    fn refuses_a_strings_block_whose_last_string_is_unterminated() {
        let mut dtb = qemu_like_dtb(true);
        let be = |at: usize| u32::from_be_bytes(dtb[at..at + 4].try_into().unwrap()) as usize;
        let end = be(12) + be(32); // off_dt_strings + size_dt_strings
        assert_eq!(dtb[end - 1], 0);
        dtb[end - 1] = b'x';
        let c = Chosen { bootargs: "a", initrd_start: 0, initrd_end: 1, handoff: &[] };
        let mut out = vec![0u8; dtb.len() + 512];
        assert_eq!(patch_chosen(&dtb, &mut out, &c), Err(LinuxError::BadDtb));
    }

    #[test]
    fn patches_chosen_as_a_real_fdt_parser_reads_it() {
        let handoff = [0xA5u8; 64];
        let c = Chosen {
            bootargs: "console=ttyAMA0 safeslot.slot=b",
            initrd_start: 0x4800_0000,
            initrd_end: 0x4812_3457,
            handoff: &handoff,
        };
        for with_chosen in [true, false] {
            let dtb = qemu_like_dtb(with_chosen);
            let mut out = vec![0u8; dtb.len() + 512];
            let n = patch_chosen(&dtb, &mut out, &c).unwrap();
            let fdt = fdt::Fdt::new(&out[..n]).unwrap();
            let chosen = fdt.find_node("/chosen").unwrap();
            let prop = |name: &str| chosen.property(name).map(|p| p.value.to_vec());
            assert_eq!(chosen.properties().filter(|p| p.name == "bootargs").count(), 1);
            assert_eq!(prop("bootargs").unwrap(), b"console=ttyAMA0 safeslot.slot=b\0");
            assert_eq!(prop("linux,initrd-start").unwrap(), 0x4800_0000u64.to_be_bytes());
            assert_eq!(prop("linux,initrd-end").unwrap(), 0x4812_3457u64.to_be_bytes());
            assert_eq!(prop("safeslot,handoff").unwrap(), handoff);
            if with_chosen {
                assert_eq!(prop("stdout-path").unwrap(), b"/pl011@9000000\0");
            }
            // Everything else is still there.
            let mem = fdt.find_node("/memory@40000000").unwrap();
            assert_eq!(mem.property("device_type").unwrap().value, b"memory\0");
            assert!(fdt.find_compatible(&["cfi-flash"]).is_some());
            // Patching the patched tree again is stable.
            let mut again = vec![0u8; n + 512];
            let m = patch_chosen(&out[..n], &mut again, &c).unwrap();
            assert_eq!(&again[..m], &out[..n]);
            // Too small an output, and every truncation or corruption of the input, fail cleanly.
            assert_eq!(patch_chosen(&dtb, &mut vec![0u8; n - 1], &c), Err(LinuxError::DtbTooBig));
            for cut in (0..dtb.len()).step_by(7) {
                let mut t = dtb.clone();
                t.truncate(cut);
                assert!(patch_chosen(&t, &mut out, &c).is_err());
            }
            for i in (0..dtb.len()).step_by(3) {
                let mut t = dtb.clone();
                t[i] ^= 0x5A;
                let _ = patch_chosen(&t, &mut out, &c); // no panic, whatever the result
            }
        }
    }

    /// The smallest valid tree, by hand: a header, an empty reservation map, a root node
    /// with no property, and an empty strings block.
    fn minimal_dtb() -> Vec<u8> {
        let structure: Vec<u8> =
            [FDT_BEGIN_NODE, 0, FDT_END_NODE, FDT_END].iter().flat_map(|t| t.to_be_bytes()).collect();
        let rsv = [0u8; 16];
        let off_rsv = FDT_HEADER_LEN;
        let off_struct = off_rsv + rsv.len();
        let off_strings = off_struct + structure.len();
        let total = off_strings;
        let mut d = Vec::new();
        for v in [FDT_MAGIC, total as u32, off_struct as u32, off_strings as u32, off_rsv as u32, 17, 16, 0, 0] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(&(structure.len() as u32).to_be_bytes());
        d.extend_from_slice(&rsv);
        d.extend_from_slice(&structure);
        d
    }

    #[test]
    fn patches_a_minimal_dtb_by_creating_chosen() {
        let dtb = minimal_dtb();
        assert!(fdt::Fdt::new(&dtb).is_ok(), "the hand-made tree is valid");
        let handoff = [1u8, 2, 3, 4, 5];
        let c = Chosen { bootargs: "quiet", initrd_start: 0x10, initrd_end: 0x20, handoff: &handoff };
        let mut out = vec![0u8; 512];
        let n = patch_chosen(&dtb, &mut out, &c).unwrap();
        let tree = fdt::Fdt::new(&out[..n]).unwrap();
        let chosen = tree.find_node("/chosen").unwrap();
        assert_eq!(chosen.property("bootargs").unwrap().value, b"quiet\0");
        assert_eq!(chosen.property("linux,initrd-start").unwrap().value, 0x10u64.to_be_bytes());
        assert_eq!(chosen.property("linux,initrd-end").unwrap().value, 0x20u64.to_be_bytes());
        assert_eq!(chosen.property("safeslot,handoff").unwrap().value, handoff);
        assert_eq!(chosen.properties().count(), 4);
        // The strings block now holds exactly the four names.
        let h = Header::parse(&out[..n]).unwrap();
        assert_eq!(h.strings, b"bootargs\0linux,initrd-start\0linux,initrd-end\0safeslot,handoff\0");
        // Exactly as large as it needs to be: one byte less does not fit.
        assert_eq!(patch_chosen(&dtb, &mut vec![0u8; n - 1], &c), Err(LinuxError::DtbTooBig));
    }

    #[test]
    fn refuses_old_versions_bad_offsets_and_unclosed_nodes() {
        let c = Chosen { bootargs: "", initrd_start: 0, initrd_end: 0, handoff: &[] };
        let mut out = vec![0u8; 512];
        let set = |d: &mut Vec<u8>, at: usize, v: u32| d[at..at + 4].copy_from_slice(&v.to_be_bytes());
        let mut old = minimal_dtb();
        set(&mut old, header::VERSION, 16);
        let mut rsv = minimal_dtb();
        set(&mut rsv, header::OFF_RSVMAP, 44);
        let mut big = minimal_dtb();
        set(&mut big, header::SIZE_STRUCT, 0x1000);
        let mut open = minimal_dtb();
        // The root's FDT_END_NODE becomes a NOP: FDT_END comes at depth 1.
        let end_node = FDT_HEADER_LEN + 16 + 8;
        set(&mut open, end_node, FDT_NOP);
        let mut magic = minimal_dtb();
        magic[0] ^= 1;
        for (name, d) in
            [("version 16", old), ("rsv offset", rsv), ("struct size", big), ("open node", open), ("magic", magic)]
        {
            assert_eq!(patch_chosen(&d, &mut out, &c), Err(LinuxError::BadDtb), "{name}");
        }
    }
}
