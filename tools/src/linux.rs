//! Linux slot payloads (`sign --linux`): the kernel `Image` and the initramfs become the
//! payload table and parts of docs/FORMAT.md, "Linux payload", written by
//! `safeslot_linux::Payload::encode` (the writer that shares its constants with the boot
//! stage's reader). The result is then signed like any raw image.

use std::path::Path;

use safeslot_linux::cpio::{CpioBuilder, TreeError};
use safeslot_linux::gzip::{self, is_gzip};
use safeslot_linux::kernel::check_image;
use safeslot_linux::{parse_payload, Payload};

use crate::image::check_fits;
use crate::slot::SlotTarget;
use crate::Error;

/// The newc cpio magic.
const CPIO_MAGIC: &[u8] = b"070701";
/// Compressed initramfs formats passed through as they are (besides gzip): xz, zstd.
const COMPRESSED_MAGICS: [&[u8]; 2] = [b"\xFD7zXZ\0", b"\x28\xB5\x2F\xFD"];

/// What goes into a Linux slot.
#[derive(Debug, Clone, Copy)]
pub struct LinuxInputs<'a> {
    /// The arm64 kernel: an `Image` (gzip'd here) or an `Image.gz`.
    pub kernel: &'a Path,
    /// The initramfs: a directory (archived as newc cpio and gzip'd), a newc cpio archive
    /// (gzip'd), or an archive already compressed with gzip, xz or zstd (taken as is).
    pub initramfs: &'a Path,
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Linux { path: path.to_path_buf(), reason: reason.into() }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })
}

fn compress(path: &Path, data: &[u8]) -> Result<Vec<u8>, Error> {
    gzip::compress(data).map_err(|e| bad(path, format!("gzip: {e}")))
}

/// The gzip'd kernel: an `Image.gz` as it is (its gzip header checked), or an arm64
/// `Image` (magic and `text_offset` checked) compressed.
pub fn kernel_gz(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = read(path)?;
    if is_gzip(&bytes) {
        gzip::gzip_deflate(&bytes).map_err(|e| bad(path, format!("not a gzip stream the boot stage reads ({e})")))?;
        return Ok(bytes);
    }
    check_image(&bytes, usize::MAX)
        .map_err(|_| bad(path, "not an arm64 kernel Image (no ARM\\x64 magic at 0x38, or text_offset is not 0)"))?;
    compress(path, &bytes)
}

/// The initramfs part; see [`LinuxInputs::initramfs`].
pub fn initramfs(path: &Path) -> Result<Vec<u8>, Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    if meta.is_dir() {
        let mut b = CpioBuilder::new();
        b.add_tree(path).map_err(|e| match e {
            TreeError::Io(p, source) => Error::Read { path: p, source },
            other => bad(path, other.to_string()),
        })?;
        return compress(path, &b.finish());
    }
    let bytes = read(path)?;
    if is_gzip(&bytes) || COMPRESSED_MAGICS.iter().any(|m| bytes.starts_with(m)) {
        Ok(bytes)
    } else if bytes.starts_with(CPIO_MAGIC) {
        compress(path, &bytes)
    } else {
        Err(bad(path, "not a directory, a newc cpio archive, or a gzip, xz or zstd compressed one"))
    }
}

/// The payload image for `inputs`: table, gzip'd kernel, initramfs; checked to fit
/// `target` and to read back with the boot stage's own reader.
///
/// # Errors
///
/// [`Error::Read`] for an input that cannot be read, [`Error::Linux`] for one that is not
/// what it should be, [`Error::TooLarge`] when the payload does not fit the slot.
pub fn payload(inputs: &LinuxInputs<'_>, target: &SlotTarget) -> Result<Vec<u8>, Error> {
    let kernel_gz = kernel_gz(inputs.kernel)?;
    let initrd = initramfs(inputs.initramfs)?;
    if initrd.is_empty() {
        return Err(bad(inputs.initramfs, "the initramfs is empty"));
    }
    let parts = Payload { kernel_gz: &kernel_gz, initrd: &initrd };
    let out = parts.encode().map_err(|e| bad(inputs.kernel, format!("cannot write the payload table: {e}")))?;
    check_fits(out.len(), target)?;
    match parse_payload(&out) {
        Ok(p) if p == parts => Ok(out),
        // The writer and the reader share their constants: a bug, kept as an error.
        _ => Err(bad(inputs.kernel, "the payload written does not read back")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(size: u32) -> SlotTarget {
        SlotTarget::new(Some("a".into()), 0x0, 0x40000, size, 0x1000).unwrap()
    }

    fn image() -> Vec<u8> {
        let mut k = vec![0u8; 4096];
        k[0x10..0x18].copy_from_slice(&8192u64.to_le_bytes());
        k[0x38..0x3C].copy_from_slice(b"ARM\x64");
        k
    }

    #[test]
    fn builds_a_payload_the_boot_stage_reads() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("Image");
        std::fs::write(&kernel, image()).unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("init"), b"#!/bin/sh\n").unwrap();
        let out = payload(&LinuxInputs { kernel: &kernel, initramfs: &root }, &slot(0x10_0000)).unwrap();
        let p = parse_payload(&out).unwrap();
        let mut st = safeslot_linux::DecompressorOxide::new();
        let mut ram = vec![0u8; 8192];
        let n = safeslot_linux::inflate_kernel(&mut st, p.kernel_gz, &mut ram).unwrap();
        assert_eq!(&ram[..n], &image()[..]);
        assert!(is_gzip(p.initrd));

        // An Image.gz and a gzip'd cpio go in unchanged.
        let gz = dir.path().join("Image.gz");
        std::fs::write(&gz, p.kernel_gz).unwrap();
        let cpio = dir.path().join("initrd.cpio.gz");
        std::fs::write(&cpio, p.initrd).unwrap();
        let again = payload(&LinuxInputs { kernel: &gz, initramfs: &cpio }, &slot(0x10_0000)).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn refuses_wrong_inputs_with_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("Image");
        std::fs::write(&kernel, image()).unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"hello").unwrap();
        let cpio = dir.path().join("initrd.cpio");
        std::fs::write(&cpio, safeslot_linux::cpio::CpioBuilder::new().finish()).unwrap();
        let missing = dir.path().join("missing");
        let err =
            |k: &Path, i: &Path, size| payload(&LinuxInputs { kernel: k, initramfs: i }, &slot(size)).unwrap_err();
        assert!(matches!(err(&junk, &cpio, 0x10_0000), Error::Linux { .. }));
        assert!(matches!(err(&kernel, &junk, 0x10_0000), Error::Linux { .. }));
        assert!(matches!(err(&missing, &cpio, 0x10_0000), Error::Read { .. }));
        assert!(matches!(err(&kernel, &missing, 0x10_0000), Error::Read { .. }));
        assert!(matches!(err(&kernel, &cpio, 0x1040), Error::TooLarge { .. }));
    }
}
