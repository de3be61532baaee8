//! The initramfs writer: a newc ("new ASCII", magic `070701`) cpio archive, the format the
//! Linux initramfs unpacker reads (Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! [`CpioBuilder`] adds entries one by one, owned by root with mtime 0, so an archive is a
//! deterministic function of its entries; [`CpioBuilder::add_tree`] (feature `std`) adds a
//! directory from the host. Compress the result with [`crate::gzip::compress`].

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The newc magic.
const MAGIC: &[u8; 6] = b"070701";
/// The name of the entry that ends an archive.
const TRAILER: &str = "TRAILER!!!";
/// The file types the builder writes.
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;
/// Permission bits a caller may give (rwx for all, setuid, setgid, sticky).
const PERMISSIONS: u32 = 0o7777;

/// Why an entry cannot go into the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CpioError {
    /// The path is empty, absolute, has a `..` or empty component, or contains a NUL.
    BadPath(String),
    /// A file is larger than the format's 32-bit size field.
    TooLarge(String),
}

impl core::fmt::Display for CpioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CpioError::BadPath(p) => write!(f, "initramfs path {p:?} is not a relative path without `..`"),
            CpioError::TooLarge(p) => write!(f, "initramfs file {p:?} is 4 GiB or larger"),
        }
    }
}

impl core::error::Error for CpioError {}

/// Builds a newc archive in memory; see the module docs.
#[derive(Debug, Default)]
pub struct CpioBuilder {
    out: Vec<u8>,
    /// The next inode number (entries are numbered from 1; the trailer has 0).
    next_ino: u32,
}

/// One header's fields besides the name and size.
struct Meta {
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
}

impl CpioBuilder {
    /// An empty archive.
    pub fn new() -> Self {
        CpioBuilder::default()
    }

    /// Adds a directory `path` with permission bits `perm`.
    pub fn dir(&mut self, path: &str, perm: u32) -> Result<&mut Self, CpioError> {
        self.entry(path, Meta { mode: S_IFDIR | (perm & PERMISSIONS), nlink: 2, rdev: (0, 0) }, &[])
    }

    /// Adds a regular file `path` holding `data`, with permission bits `perm`.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> Result<&mut Self, CpioError> {
        self.entry(path, Meta { mode: S_IFREG | (perm & PERMISSIONS), nlink: 1, rdev: (0, 0) }, data)
    }

    /// Adds a symbolic link `path` pointing to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Self, CpioError> {
        self.entry(path, Meta { mode: S_IFLNK | 0o777, nlink: 1, rdev: (0, 0) }, target.as_bytes())
    }

    /// Adds a character device `path` (`major`, `minor`) with permission bits `perm`.
    pub fn char_dev(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> Result<&mut Self, CpioError> {
        self.entry(path, Meta { mode: S_IFCHR | (perm & PERMISSIONS), nlink: 1, rdev: (major, minor) }, &[])
    }

    /// Ends the archive with its trailer and returns it.
    pub fn finish(mut self) -> Vec<u8> {
        self.header(TRAILER, &Meta { mode: 0, nlink: 1, rdev: (0, 0) }, 0, 0);
        self.out
    }

    fn entry(&mut self, path: &str, meta: Meta, data: &[u8]) -> Result<&mut Self, CpioError> {
        check_path(path)?;
        let size = u32::try_from(data.len()).map_err(|_| CpioError::TooLarge(path.into()))?;
        self.next_ino = self.next_ino.saturating_add(1);
        let ino = self.next_ino;
        self.header(path, &meta, ino, size);
        self.out.extend_from_slice(data);
        self.pad4();
        Ok(self)
    }

    /// The 110-byte header, the NUL-terminated name, padding to 4.
    fn header(&mut self, name: &str, m: &Meta, ino: u32, size: u32) {
        let namesize = u32::try_from(name.len().saturating_add(1)).unwrap_or(u32::MAX);
        self.out.extend_from_slice(MAGIC);
        let (rdev_major, rdev_minor) = m.rdev;
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
        // rdevminor, namesize, check.
        for v in [ino, m.mode, 0, 0, m.nlink, 0, size, 0, 0, rdev_major, rdev_minor, namesize, 0] {
            self.out.extend_from_slice(alloc::format!("{v:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad4();
    }

    fn pad4(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

/// A path the kernel's unpacker takes as written: relative, no empty or `..` component,
/// no NUL.
fn check_path(path: &str) -> Result<(), CpioError> {
    let ok = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && path.split('/').all(|c| !c.is_empty() && c != "..");
    if ok {
        Ok(())
    } else {
        Err(CpioError::BadPath(path.into()))
    }
}

/// Why a host directory could not be added.
#[cfg(feature = "std")]
#[derive(Debug)]
#[non_exhaustive]
pub enum TreeError {
    /// Reading the directory or a file failed.
    Io(std::path::PathBuf, std::io::Error),
    /// An entry's name cannot go into the archive (not UTF-8, or refused by the builder).
    Entry(std::path::PathBuf, CpioError),
    /// The tree is nested deeper than [`MAX_TREE_DEPTH`].
    TooDeep(std::path::PathBuf),
    /// An entry is neither a directory, a regular file nor a symbolic link.
    Unsupported(std::path::PathBuf),
}

#[cfg(feature = "std")]
impl core::fmt::Display for TreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TreeError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            TreeError::Entry(p, e) => write!(f, "{}: {e}", p.display()),
            TreeError::TooDeep(p) => write!(f, "{}: nested deeper than {MAX_TREE_DEPTH} levels", p.display()),
            TreeError::Unsupported(p) => {
                write!(f, "{}: only directories, regular files and symbolic links go into an initramfs", p.display())
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TreeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TreeError::Io(_, e) => Some(e),
            TreeError::Entry(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Deepest directory nesting [`CpioBuilder::add_tree`] follows.
#[cfg(feature = "std")]
pub const MAX_TREE_DEPTH: usize = 32;

/// An I/O error on `path`, as a [`TreeError`].
#[cfg(feature = "std")]
fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TreeError + '_ {
    move |e| TreeError::Io(path.to_path_buf(), e)
}

#[cfg(feature = "std")]
impl CpioBuilder {
    /// Adds everything under the host directory `root` (not `root` itself), in sorted
    /// order: directories and regular files with their permission bits, symbolic links
    /// as links (never followed). Owners and times are not kept (root, mtime 0).
    pub fn add_tree(&mut self, root: &std::path::Path) -> Result<&mut Self, TreeError> {
        self.add_dir(root, "", 0)?;
        Ok(self)
    }

    /// Adds `dir`'s entries under `prefix` (the archive path of `dir`, empty for the root).
    fn add_dir(&mut self, dir: &std::path::Path, prefix: &str, depth: usize) -> Result<(), TreeError> {
        use std::os::unix::fs::PermissionsExt;
        if depth >= MAX_TREE_DEPTH {
            return Err(TreeError::TooDeep(dir.to_path_buf()));
        }
        let mut entries = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io(dir))?;
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| TreeError::Entry(path.clone(), CpioError::BadPath(path.display().to_string())))?;
            let inner = if prefix.is_empty() { String::from(name) } else { alloc::format!("{prefix}/{name}") };
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let perm = meta.permissions().mode();
            let added = if meta.is_dir() {
                self.dir(&inner, perm).map(|_| ())
            } else if meta.is_file() {
                let data = std::fs::read(&path).map_err(io(&path))?;
                self.file(&inner, perm, &data).map(|_| ())
            } else if meta.is_symlink() {
                let target = std::fs::read_link(&path).map_err(io(&path))?;
                let target = target
                    .to_str()
                    .ok_or_else(|| TreeError::Entry(path.clone(), CpioError::BadPath(target.display().to_string())))?;
                self.symlink(&inner, target).map(|_| ())
            } else {
                return Err(TreeError::Unsupported(path));
            };
            added.map_err(|e| TreeError::Entry(path.clone(), e))?;
            if meta.is_dir() {
                self.add_dir(&path, &inner, depth.saturating_add(1))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::io::Read;
    use std::string::ToString;
    use std::vec;

    fn file_type(mode: u32) -> u32 {
        mode & 0o170_000
    }

    /// One entry read back: name, mode, (rdev major, minor), data.
    type Entry = (String, u32, (u32, u32), Vec<u8>);

    /// Every entry of `archive`, read by the `cpio` crate.
    fn read_back(archive: &[u8]) -> Vec<Entry> {
        let mut rest = archive;
        let mut out = Vec::new();
        loop {
            let mut r = cpio::NewcReader::new(rest).unwrap();
            if r.entry().is_trailer() {
                let tail = r.finish().unwrap();
                assert!(tail.is_empty(), "nothing after the trailer");
                return out;
            }
            let e = r.entry();
            let meta = (e.name().to_string(), e.mode(), (e.rdev_major(), e.rdev_minor()));
            assert_eq!((e.uid(), e.gid(), e.mtime()), (0, 0, 0));
            let mut data = Vec::new();
            r.read_to_end(&mut data).unwrap();
            out.push((meta.0, meta.1, meta.2, data));
            rest = r.finish().unwrap();
        }
    }

    #[test]
    fn a_built_archive_reads_back_entry_for_entry() {
        let mut b = CpioBuilder::new();
        b.dir("bin", 0o755).unwrap();
        b.file("bin/tool", 0o755, b"#!/bin/sh\n").unwrap();
        b.file("etc.conf", 0o644, b"").unwrap();
        b.file("odd", 0o600, b"12345").unwrap();
        b.symlink("sbin", "bin").unwrap();
        b.char_dev("console", 0o600, 5, 1).unwrap();
        let archive = b.finish();
        assert_eq!(archive.len() % 4, 0);
        assert_eq!(&archive[..6], b"070701");
        let got = read_back(&archive);
        let want: Vec<Entry> = vec![
            ("bin".into(), 0o040_755, (0, 0), vec![]),
            ("bin/tool".into(), 0o100_755, (0, 0), b"#!/bin/sh\n".to_vec()),
            ("etc.conf".into(), 0o100_644, (0, 0), vec![]),
            ("odd".into(), 0o100_600, (0, 0), b"12345".to_vec()),
            ("sbin".into(), 0o120_777, (0, 0), b"bin".to_vec()),
            ("console".into(), 0o020_600, (5, 1), vec![]),
        ];
        assert_eq!(got, want);
        assert_eq!(file_type(got[4].1), S_IFLNK);
    }

    #[test]
    fn an_empty_archive_is_only_the_trailer() {
        let a = CpioBuilder::new().finish();
        assert!(read_back(&a).is_empty());
        assert_eq!(a.len(), 124, "110-byte header + 11-byte name, padded to 4");
    }

    #[test]
    fn refuses_paths_the_kernel_would_not_place_as_named() {
        for p in ["", "/abs", "a/../b", "..", "a//b", "a/", "nul\0"] {
            assert_eq!(CpioBuilder::new().file(p, 0o644, b"x").map(|_| ()), Err(CpioError::BadPath(p.into())), "{p:?}");
        }
        // Type bits in `perm` are ignored: the method decides the type.
        let mut b = CpioBuilder::new();
        b.file("f", 0o040_755, b"").unwrap();
        assert_eq!(read_back(&b.finish())[0].1, 0o100_755);
    }

    #[test]
    fn adds_a_host_tree_sorted_with_modes_and_links() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(alloc::format!("safeslot-linux-cpio-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("b/c")).unwrap();
        std::fs::write(dir.join("init"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(dir.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("b/c/data"), b"data").unwrap();
        std::fs::set_permissions(dir.join("b/c/data"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("b/c/data", dir.join("a-link")).unwrap();
        let mut b = CpioBuilder::new();
        b.add_tree(&dir).unwrap();
        let got = read_back(&b.finish());
        std::fs::remove_dir_all(&dir).unwrap();
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["a-link", "b", "b/c", "b/c/data", "init"]);
        assert_eq!((got[0].1, &got[0].3[..]), (0o120_777, &b"b/c/data"[..]));
        assert_eq!(file_type(got[1].1), S_IFDIR);
        assert_eq!((got[3].1, &got[3].3[..]), (0o100_640, &b"data"[..]));
        assert_eq!((got[4].1, &got[4].3[..]), (0o100_755, &b"#!/bin/sh\n"[..]));
    }
}
