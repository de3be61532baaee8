//! Raw NOR through Linux MTD (`/dev/mtdN`).
//!
//! The geometry comes from the `MEMGETINFO` ioctl, erase is the `MEMERASE` ioctl,
//! reads and writes are `pread`/`pwrite` on the character device (the MTD driver
//! programs the flash). The structs mirror `include/uapi/mtd/mtd-abi.h`.
//!
//! This is the only module of the agent with `unsafe`: the two ioctl calls.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

use super::{check_aligned, check_bounds, Geometry, StorageError};

/// `struct mtd_info_user` from `mtd-abi.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MtdInfoUser {
    /// `MTD_NORFLASH` = 3, `MTD_NANDFLASH` = 4, ...
    pub kind: u8,
    /// `MTD_WRITEABLE`, `MTD_BIT_WRITEABLE`, ...
    pub flags: u32,
    /// Total size of the MTD device.
    pub size: u32,
    /// Erase block size.
    pub erasesize: u32,
    /// Minimal writable unit.
    pub writesize: u32,
    /// Out-of-band bytes per page (NAND).
    pub oobsize: u32,
    /// Obsolete, unused.
    pub padding: u64,
}

/// `struct erase_info_user` from `mtd-abi.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EraseInfoUser {
    /// Start of the range to erase.
    pub start: u32,
    /// Its length (a multiple of the erase size).
    pub length: u32,
}

/// `MTD_NORFLASH` in `mtd_info_user.type`.
pub const MTD_NORFLASH: u8 = 3;
/// The ioctl "magic" of MTD requests.
pub const MTD_IOC_MAGIC: u8 = b'M';

mod ioctl {
    use super::{EraseInfoUser, MtdInfoUser, MTD_IOC_MAGIC};
    // MEMGETINFO = _IOR('M', 1, struct mtd_info_user)
    nix::ioctl_read!(memgetinfo, MTD_IOC_MAGIC, 1, MtdInfoUser);
    // MEMERASE = _IOW('M', 2, struct erase_info_user)
    nix::ioctl_write_ptr!(memerase, MTD_IOC_MAGIC, 2, EraseInfoUser);
}

/// An MTD character device.
#[derive(Debug)]
pub struct MtdFlash {
    file: File,
    info: MtdInfoUser,
    geometry: Geometry,
}

impl MtdFlash {
    /// Opens `path` read-write and reads its geometry with `MEMGETINFO`.
    /// `program_once` is only recorded: the MTD driver enforces the hardware's rules.
    pub fn open(path: &Path, program_once: bool) -> io::Result<MtdFlash> {
        MtdFlash::new(OpenOptions::new().read(true).write(true).open(path)?, program_once)
    }

    /// Wraps an open MTD character device and reads its geometry with `MEMGETINFO`
    /// (allowed on a read-only open; `MEMERASE` and writes then fail with the kernel's
    /// error).
    pub fn new(file: File, program_once: bool) -> io::Result<MtdFlash> {
        let mut info = MtdInfoUser::default();
        // SAFETY: `file` is an open descriptor for the whole call; `info` is a live,
        // properly aligned `MtdInfoUser`, whose layout matches `struct mtd_info_user`
        // (size checked by a unit test), so the kernel writes only within it.
        unsafe { ioctl::memgetinfo(file.as_raw_fd(), &mut info) }.map_err(io::Error::from)?;
        let geometry = Geometry { write_size: info.writesize.max(1), erase_size: info.erasesize, program_once };
        Ok(MtdFlash { file, info, geometry })
    }

    /// What `MEMGETINFO` reported.
    pub fn info(&self) -> MtdInfoUser {
        self.info
    }

    /// The device's geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read_back(&self, offset: u32, expect: &[u8]) -> Result<(), StorageError> {
        let mut back = vec![0u8; expect.len()];
        self.file.read_exact_at(&mut back, u64::from(offset)).map_err(|e| StorageError::io("read", &e))?;
        if back != expect {
            return Err(StorageError::ReadBack { offset });
        }
        Ok(())
    }
}

impl ErrorType for MtdFlash {
    type Error = StorageError;
}

impl ReadNorFlash for MtdFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), StorageError> {
        check_bounds(offset, bytes.len(), u64::from(self.info.size))?;
        self.file.read_exact_at(bytes, u64::from(offset)).map_err(|e| StorageError::io("read", &e))
    }

    fn capacity(&self) -> usize {
        self.info.size as usize
    }
}

impl NorFlash for MtdFlash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;

    /// Erases `from..to` (erase-block aligned) with one `MEMERASE`, then reads it back.
    fn erase(&mut self, from: u32, to: u32) -> Result<(), StorageError> {
        let length = to.checked_sub(from).ok_or(StorageError::NotAligned { offset: from, len: 0, align: 1 })?;
        check_bounds(from, length as usize, u64::from(self.info.size))?;
        check_aligned(from, length as usize, self.geometry.erase_size)?;
        let req = EraseInfoUser { start: from, length };
        // SAFETY: `self.file` is open; `req` is a live `EraseInfoUser` matching
        // `struct erase_info_user`, which the kernel only reads.
        unsafe { ioctl::memerase(self.file.as_raw_fd(), &req) }
            .map_err(|e| StorageError::io("MEMERASE", &io::Error::from(e)))?;
        self.read_back(from, &vec![0xFF; length as usize])
    }

    /// Programs `bytes` (write-size aligned) with `pwrite`, then reads them back.
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), StorageError> {
        check_bounds(offset, bytes.len(), u64::from(self.info.size))?;
        check_aligned(offset, bytes.len(), self.geometry.write_size)?;
        self.file.write_all_at(bytes, u64::from(offset)).map_err(|e| StorageError::io("write", &e))?;
        self.read_back(offset, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layouts_match_mtd_abi() {
        assert_eq!(std::mem::size_of::<MtdInfoUser>(), 32);
        assert_eq!(std::mem::offset_of!(MtdInfoUser, flags), 4);
        assert_eq!(std::mem::offset_of!(MtdInfoUser, erasesize), 12);
        assert_eq!(std::mem::offset_of!(MtdInfoUser, writesize), 16);
        assert_eq!(std::mem::offset_of!(MtdInfoUser, padding), 24);
        assert_eq!(std::mem::size_of::<EraseInfoUser>(), 8);
    }

    // The generic _IOC encoding (x86, arm, aarch64, riscv): dir << 30 | size << 16 | type << 8 | nr.
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64"
    ))]
    #[test]
    fn request_numbers_match_the_kernel() {
        assert_eq!(nix::request_code_read!(MTD_IOC_MAGIC, 1, std::mem::size_of::<MtdInfoUser>()) as u64, 0x8020_4D01);
        assert_eq!(
            nix::request_code_write!(MTD_IOC_MAGIC, 2, std::mem::size_of::<EraseInfoUser>()) as u64,
            0x4008_4D02
        );
    }

    #[test]
    fn opening_a_non_mtd_file_fails_cleanly() {
        let t = tempfile::NamedTempFile::new().unwrap();
        let e = MtdFlash::open(t.path(), false).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(nix::libc::ENOTTY));
    }
}
