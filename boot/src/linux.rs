//! The Linux hand-off's pure parts, for a board whose slots hold a Linux payload
//! (`[linux]` in its layout; docs/SOC.md): the payload table, the gzip'd kernel and the
//! device-tree `/chosen` patch. No registers and no addresses: the board hands in byte
//! slices over the (already verified) RAM copy and its destination regions, so all of
//! this is tested on the host.
//!
//! Every parser here is bounded by the length of its input and fails with a
//! [`LinuxError`] on anything malformed; nothing panics or indexes out of bounds.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// `"SSLX"`: the magic of a Linux payload table, little-endian at offset 0 of the image.
pub const PAYLOAD_MAGIC: u32 = u32::from_le_bytes(*b"SSLX");
/// The payload table format this code reads.
pub const PAYLOAD_FORMAT: u16 = 1;
/// Bytes of the table header (magic, format, count, reserved).
pub const PAYLOAD_HEADER_LEN: usize = 12;
/// Bytes of one table entry (kind, reserved, offset, length).
pub const PAYLOAD_ENTRY_LEN: usize = 12;
/// Most entries a table may list.
pub const MAX_PARTS: usize = 4;
/// The arm64 `Image` magic, `ARM\x64`, at [`IMAGE_MAGIC_OFFSET`].
pub const IMAGE_MAGIC: [u8; 4] = *b"ARM\x64";
/// Where the arm64 `Image` header keeps its magic.
pub const IMAGE_MAGIC_OFFSET: usize = 0x38;

/// What went wrong in the Linux hand-off. The stage answers any of them with recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LinuxError {
    /// The payload table is missing, of another format, or names a part outside the image.
    BadTable,
    /// The payload has no kernel, or no initramfs.
    MissingPart,
    /// The kernel is not a gzip stream this code reads.
    BadGzip,
    /// Inflating the kernel failed (corrupt stream).
    Inflate,
    /// A part does not fit the RAM region the layout gives it.
    TooBig,
    /// The inflated kernel is not an arm64 `Image` (no `ARM\x64` magic), or its header
    /// asks for more RAM than the kernel region has.
    NotAnImage,
    /// The device tree handed in is not a valid FDT (version 17).
    BadDtb,
    /// The patched device tree does not fit its region.
    DtbTooBig,
}

impl LinuxError {
    /// A short, stable name for logs.
    pub fn name(self) -> &'static str {
        match self {
            LinuxError::BadTable => "bad-table",
            LinuxError::MissingPart => "missing-part",
            LinuxError::BadGzip => "bad-gzip",
            LinuxError::Inflate => "inflate",
            LinuxError::TooBig => "too-big",
            LinuxError::NotAnImage => "not-an-image",
            LinuxError::BadDtb => "bad-dtb",
            LinuxError::DtbTooBig => "dtb-too-big",
        }
    }
}

impl core::fmt::Display for LinuxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::error::Error for LinuxError {}

/// What one payload part is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PartKind {
    /// The arm64 kernel `Image`, gzip'd (kind 1).
    KernelGz,
    /// The initramfs (a cpio archive, compressed as the kernel accepts) (kind 2).
    Initrd,
}

impl PartKind {
    /// The kind code in the table.
    pub fn code(self) -> u16 {
        match self {
            PartKind::KernelGz => 1,
            PartKind::Initrd => 2,
        }
    }

    fn from_code(c: u16) -> Option<PartKind> {
        match c {
            1 => Some(PartKind::KernelGz),
            2 => Some(PartKind::Initrd),
            _ => None,
        }
    }
}

/// The parts of a Linux payload, as slices of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The gzip'd kernel `Image`.
    pub kernel_gz: &'a [u8],
    /// The initramfs.
    pub initrd: &'a [u8],
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut w = [0u8; 4];
    w.copy_from_slice(s);
    Some(u32::from_le_bytes(w))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(s);
    Some(u64::from_le_bytes(w))
}

/// Reads the payload table at the start of `image` (the verified image bytes; see
/// docs/SOC.md, "Linux payload"). Each entry's part must lie inside `image`, after the
/// table; exactly one kernel and one initramfs are required.
pub fn parse_payload(image: &[u8]) -> Result<Payload<'_>, LinuxError> {
    if le32(image, 0) != Some(PAYLOAD_MAGIC) || le16(image, 4) != Some(PAYLOAD_FORMAT) {
        return Err(LinuxError::BadTable);
    }
    let count = usize::from(le16(image, 6).ok_or(LinuxError::BadTable)?);
    if count > MAX_PARTS {
        return Err(LinuxError::BadTable);
    }
    let table_end = PAYLOAD_ENTRY_LEN.checked_mul(count).and_then(|n| n.checked_add(PAYLOAD_HEADER_LEN));
    let table_end = table_end.ok_or(LinuxError::BadTable)?;
    let mut kernel = None;
    let mut initrd = None;
    for i in 0..count {
        let at = PAYLOAD_ENTRY_LEN.checked_mul(i).and_then(|n| n.checked_add(PAYLOAD_HEADER_LEN));
        let at = at.ok_or(LinuxError::BadTable)?;
        let kind = le16(image, at).ok_or(LinuxError::BadTable)?;
        let off = le32(image, at.saturating_add(4)).ok_or(LinuxError::BadTable)? as usize;
        let len = le32(image, at.saturating_add(8)).ok_or(LinuxError::BadTable)? as usize;
        let end = off.checked_add(len).ok_or(LinuxError::BadTable)?;
        if off < table_end || len == 0 {
            return Err(LinuxError::BadTable);
        }
        let part = image.get(off..end).ok_or(LinuxError::BadTable)?;
        let slot = match PartKind::from_code(kind).ok_or(LinuxError::BadTable)? {
            PartKind::KernelGz => &mut kernel,
            PartKind::Initrd => &mut initrd,
        };
        if slot.replace(part).is_some() {
            return Err(LinuxError::BadTable);
        }
    }
    match (kernel, initrd) {
        (Some(kernel_gz), Some(initrd)) => Ok(Payload { kernel_gz, initrd }),
        _ => Err(LinuxError::MissingPart),
    }
}

/// The deflate stream inside a gzip member (RFC 1952): skips the header and its optional
/// fields; returns the deflate data (trailer included, which inflate ignores) and the
/// trailer's ISIZE (the inflated length mod 2^32).
pub fn gzip_deflate(gz: &[u8]) -> Result<(&[u8], u32), LinuxError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if gz.get(..3) != Some(&[0x1F, 0x8B, 8][..]) {
        return Err(LinuxError::BadGzip);
    }
    let flags = *gz.get(3).ok_or(LinuxError::BadGzip)?;
    if flags & 0xE0 != 0 || gz.len() < 18 {
        return Err(LinuxError::BadGzip);
    }
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let xlen = usize::from(le16(gz, at).ok_or(LinuxError::BadGzip)?);
        at = at.checked_add(2).and_then(|a| a.checked_add(xlen)).ok_or(LinuxError::BadGzip)?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = gz.get(at..).ok_or(LinuxError::BadGzip)?;
            let nul = rest.iter().position(|&b| b == 0).ok_or(LinuxError::BadGzip)?;
            at = at.checked_add(nul).and_then(|a| a.checked_add(1)).ok_or(LinuxError::BadGzip)?;
        }
    }
    if flags & FHCRC != 0 {
        at = at.checked_add(2).ok_or(LinuxError::BadGzip)?;
    }
    let isize_at = gz.len().checked_sub(4).ok_or(LinuxError::BadGzip)?;
    let isize = le32(gz, isize_at).ok_or(LinuxError::BadGzip)?;
    let data = gz.get(at..isize_at).ok_or(LinuxError::BadGzip)?;
    Ok((data, isize))
}

/// Inflates a gzip'd kernel `Image` into `out` (the kernel's RAM region) and checks it:
/// the inflated length must match the gzip trailer, the `ARM\x64` magic must be there, and
/// the `Image` header's `image_size` (text plus bss) must fit `out`. Returns the inflated
/// length. `state` is the inflater's ~11 KiB state, which the caller places (a static).
pub fn inflate_kernel(state: &mut DecompressorOxide, gz: &[u8], out: &mut [u8]) -> Result<usize, LinuxError> {
    let (deflate, isize) = gzip_deflate(gz)?;
    state.init();
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _in_used, n) = decompress(state, deflate, out, 0, flags);
    match status {
        TINFLStatus::Done => {}
        TINFLStatus::HasMoreOutput => return Err(LinuxError::TooBig),
        _ => return Err(LinuxError::Inflate),
    }
    if n as u32 != isize {
        return Err(LinuxError::Inflate);
    }
    let kernel = out.get(..n).ok_or(LinuxError::Inflate)?;
    let magic_end = IMAGE_MAGIC_OFFSET.saturating_add(4);
    if kernel.get(IMAGE_MAGIC_OFFSET..magic_end) != Some(&IMAGE_MAGIC[..]) {
        return Err(LinuxError::NotAnImage);
    }
    // `text_offset` (0x08) must be 0: the layout's kernel address is where the image runs.
    let text_offset = le64(kernel, 0x08).ok_or(LinuxError::NotAnImage)?;
    let image_size = le64(kernel, 0x10).ok_or(LinuxError::NotAnImage)?;
    if text_offset != 0 || image_size > out.len() as u64 {
        return Err(LinuxError::NotAnImage);
    }
    Ok(n)
}

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
/// Deepest node nesting the patcher follows (QEMU's trees are 3–4 deep).
const MAX_DEPTH: u32 = 64;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut w = [0u8; 4];
    w.copy_from_slice(s);
    Some(u32::from_be_bytes(w))
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
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
        while !self.at.is_multiple_of(4) {
            self.bytes(&[0])?;
        }
        Ok(())
    }

    fn set32(&mut self, at: usize, v: u32) -> Result<(), LinuxError> {
        let end = at.checked_add(4).ok_or(LinuxError::DtbTooBig)?;
        self.buf.get_mut(at..end).ok_or(LinuxError::DtbTooBig)?.copy_from_slice(&v.to_be_bytes());
        Ok(())
    }
}

/// The names of the properties the patch sets, and their offsets in the new strings block.
struct Names {
    offsets: [u32; 4],
}

const NAMES: [&str; 4] = ["bootargs", "linux,initrd-start", "linux,initrd-end", "safeslot,handoff"];

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

/// Writes into `out` a copy of the device tree `dtb` whose `/chosen` node carries the
/// properties of `chosen` (replacing any of the same name; a missing `/chosen` is created).
/// Everything else is copied unchanged. Returns the new tree's length.
pub fn patch_chosen(dtb: &[u8], out: &mut [u8], chosen: &Chosen<'_>) -> Result<usize, LinuxError> {
    let bad = LinuxError::BadDtb;
    if be32(dtb, 0) != Some(FDT_MAGIC) {
        return Err(bad);
    }
    let total = be32(dtb, 4).ok_or(bad)? as usize;
    let dtb = dtb.get(..total).ok_or(bad)?;
    let off_struct = be32(dtb, 8).ok_or(bad)? as usize;
    let off_strings = be32(dtb, 12).ok_or(bad)? as usize;
    let off_rsv = be32(dtb, 16).ok_or(bad)? as usize;
    let version = be32(dtb, 20).ok_or(bad)?;
    let size_strings = be32(dtb, 32).ok_or(bad)? as usize;
    let size_struct = be32(dtb, 36).ok_or(bad)? as usize;
    if version < 17 || off_rsv < FDT_HEADER_LEN || !off_rsv.is_multiple_of(8) || off_rsv > off_struct {
        return Err(bad);
    }
    let rsv = dtb.get(off_rsv..off_struct).ok_or(bad)?;
    let structure = dtb.get(off_struct..off_struct.checked_add(size_struct).ok_or(bad)?).ok_or(bad)?;
    let strings = dtb.get(off_strings..off_strings.checked_add(size_strings).ok_or(bad)?).ok_or(bad)?;

    let mut o = Out { buf: out, at: 0 };
    o.bytes(&[0u8; FDT_HEADER_LEN])?;
    let new_rsv = o.at;
    o.bytes(rsv)?;
    let new_struct = o.at;
    // The new strings block: the old one plus the names it lacks (offsets decided now).
    let mut names = Names { offsets: [0; 4] };
    let mut appended = strings.len();
    for (slot, name) in names.offsets.iter_mut().zip(NAMES) {
        *slot = match find_string(strings, name) {
            Some(off) => off,
            None => {
                let off = u32::try_from(appended).map_err(|_| bad)?;
                appended = appended.checked_add(name.len()).and_then(|a| a.checked_add(1)).ok_or(bad)?;
                off
            }
        };
    }

    let mut at = 0usize;
    let mut depth = 0u32;
    // Depth at which we are inside /chosen (1), or 0 when not.
    let mut in_chosen = false;
    let mut seen_chosen = false;
    // Bounded: every token advances `at` by at least 4 bytes within `structure`.
    loop {
        let tok = be32(structure, at).ok_or(bad)?;
        let tok_start = at;
        at = at.checked_add(4).ok_or(bad)?;
        match tok {
            FDT_BEGIN_NODE => {
                let rest = structure.get(at..).ok_or(bad)?;
                let len = rest.iter().position(|&b| b == 0).ok_or(bad)?;
                let name = rest.get(..len).ok_or(bad)?;
                at = align4(at.checked_add(len).and_then(|a| a.checked_add(1)).ok_or(bad)?).ok_or(bad)?;
                depth = depth.checked_add(1).ok_or(bad)?;
                if depth > MAX_DEPTH {
                    return Err(bad);
                }
                if depth == 2 && name == b"chosen" {
                    in_chosen = true;
                    seen_chosen = true;
                }
                o.bytes(structure.get(tok_start..at).ok_or(bad)?)?;
            }
            FDT_END_NODE => {
                if in_chosen && depth == 2 {
                    write_props(&mut o, &names, chosen)?;
                    in_chosen = false;
                }
                if depth == 1 && !seen_chosen {
                    o.u32(FDT_BEGIN_NODE)?;
                    o.bytes(b"chosen\0")?;
                    o.pad4()?;
                    write_props(&mut o, &names, chosen)?;
                    o.u32(FDT_END_NODE)?;
                    seen_chosen = true;
                }
                depth = depth.checked_sub(1).ok_or(bad)?;
                o.u32(FDT_END_NODE)?;
            }
            FDT_PROP => {
                let len = be32(structure, at).ok_or(bad)? as usize;
                let nameoff = be32(structure, at.checked_add(4).ok_or(bad)?).ok_or(bad)?;
                at = align4(at.checked_add(8).and_then(|a| a.checked_add(len)).ok_or(bad)?).ok_or(bad)?;
                let whole = structure.get(tok_start..at).ok_or(bad)?;
                let name = string_at(strings, nameoff).ok_or(bad)?;
                let replaced = in_chosen && depth == 2 && NAMES.iter().any(|n| n.as_bytes() == name);
                if !replaced {
                    o.bytes(whole)?;
                }
            }
            FDT_NOP => {}
            FDT_END => {
                if depth != 0 {
                    return Err(bad);
                }
                o.u32(FDT_END)?;
                break;
            }
            _ => return Err(bad),
        }
    }
    let new_struct_size = o.at.checked_sub(new_struct).ok_or(bad)?;
    let new_strings = o.at;
    o.bytes(strings)?;
    for (name, off) in NAMES.iter().zip(names.offsets) {
        if off as usize >= strings.len() {
            o.bytes(name.as_bytes())?;
            o.bytes(&[0])?;
        }
    }
    let new_strings_size = o.at.checked_sub(new_strings).ok_or(bad)?;
    let new_total = o.at;
    let header = dtb.get(..FDT_HEADER_LEN).ok_or(bad)?;
    let boot_cpuid = be32(header, 28).ok_or(bad)?;
    let u = |v: usize| u32::try_from(v).map_err(|_| LinuxError::DtbTooBig);
    for (at, v) in [
        (0, FDT_MAGIC),
        (4, u(new_total)?),
        (8, u(new_struct)?),
        (12, u(new_strings)?),
        (16, u(new_rsv)?),
        (20, 17),
        (24, 16),
        (28, boot_cpuid),
        (32, u(new_strings_size)?),
        (36, u(new_struct_size)?),
    ] {
        o.set32(at, v)?;
    }
    Ok(new_total)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
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

    fn fake_image(len: usize, image_size: u64) -> Vec<u8> {
        let mut k: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        k[8..16].copy_from_slice(&0u64.to_le_bytes());
        k[16..24].copy_from_slice(&image_size.to_le_bytes());
        k[0x38..0x3C].copy_from_slice(&IMAGE_MAGIC);
        k
    }

    fn gz(data: &[u8], name: bool) -> Vec<u8> {
        let mut g = vec![0x1F, 0x8B, 8, if name { 8 } else { 0 }, 0, 0, 0, 0, 0, 3];
        if name {
            g.extend_from_slice(b"Image\0");
        }
        g.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(data, 6));
        g.extend_from_slice(&[0; 4]); // CRC32, not checked (the image's SHA-256 is)
        g.extend_from_slice(&(data.len() as u32).to_le_bytes());
        g
    }

    #[test]
    fn inflates_a_gzip_kernel_and_checks_it() {
        let k = fake_image(100_000, 150_000);
        let mut st = DecompressorOxide::new();
        let mut out = vec![0u8; 200_000];
        for name in [false, true] {
            let n = inflate_kernel(&mut st, &gz(&k, name), &mut out).unwrap();
            assert_eq!(&out[..n], &k[..]);
        }
        // Region smaller than the stream, or than the Image's image_size.
        let mut small = vec![0u8; 120_000];
        assert_eq!(
            inflate_kernel(&mut st, &gz(&fake_image(130_000, 130_000), false), &mut small),
            Err(LinuxError::TooBig)
        );
        assert_eq!(inflate_kernel(&mut st, &gz(&k, false), &mut small), Err(LinuxError::NotAnImage));
        // No magic.
        let mut nm = k.clone();
        nm[0x38] = 0;
        assert_eq!(inflate_kernel(&mut st, &gz(&nm, false), &mut out), Err(LinuxError::NotAnImage));
        // A wrong ISIZE, a corrupt stream, not gzip, and every truncation.
        let mut g = gz(&k, false);
        let l = g.len();
        g[l - 1] ^= 1;
        assert_eq!(inflate_kernel(&mut st, &g, &mut out), Err(LinuxError::Inflate));
        let mut g = gz(&k, false);
        g[20] ^= 0xFF;
        assert!(inflate_kernel(&mut st, &g, &mut out).is_err());
        assert_eq!(inflate_kernel(&mut st, b"PK\x03\x04", &mut out), Err(LinuxError::BadGzip));
        let g = gz(&k, true);
        for n in (0..g.len()).step_by(997) {
            assert!(inflate_kernel(&mut st, &g[..n], &mut out).is_err());
        }
    }

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
}
