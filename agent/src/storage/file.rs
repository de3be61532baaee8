//! A regular file or block device that behaves like NOR flash.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use safeslot_shared::nor::{self, ProgramError};

use super::{check_aligned, check_bounds, Geometry, StorageError};

/// A file or block-device partition with the configured geometry and the NOR rules
/// ([`safeslot_shared::nor`]) enforced in software. Every write and erase is followed by
/// `fdatasync` and read back.
///
/// A word's write count is the larger of what its contents show ([`nor::writes_seen`]:
/// not erased means programmed) and the programs made through this handle since it last
/// erased the word, so an all-`0xFF` program counts here as on the simulator. Programs
/// made by an earlier process that left a word reading erased are invisible.
#[derive(Debug)]
pub struct FileFlash {
    file: File,
    len: u64,
    geometry: Geometry,
    /// Word offset → programs made through this handle since the word's last erase.
    writes: BTreeMap<u32, u8>,
}

impl FileFlash {
    /// Opens `path` read-write. The capacity is the file's (or block device's) size.
    pub fn open(path: &Path, geometry: Geometry) -> io::Result<FileFlash> {
        FileFlash::new(OpenOptions::new().read(true).write(true).open(path)?, geometry)
    }

    /// Wraps an open file or block device. Opened read-only, it serves reads, and a write
    /// or erase fails with the operating system's error.
    pub fn new(mut file: File, geometry: Geometry) -> io::Result<FileFlash> {
        // Block devices report size 0 in their metadata; seeking to the end works for both.
        let len = file.seek(SeekFrom::End(0))?;
        Ok(FileFlash { file, len, geometry, writes: BTreeMap::new() })
    }

    /// The geometry this backend enforces.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read_at(&self, offset: u32, bytes: &mut [u8]) -> Result<(), StorageError> {
        self.file.read_exact_at(bytes, u64::from(offset)).map_err(|e| StorageError::io("read", &e))
    }

    fn write_synced(&self, offset: u32, bytes: &[u8]) -> Result<(), StorageError> {
        self.file.write_all_at(bytes, u64::from(offset)).map_err(|e| StorageError::io("write", &e))?;
        self.file.sync_data().map_err(|e| StorageError::io("fsync", &e))?;
        let mut back = vec![0u8; bytes.len()];
        self.read_at(offset, &mut back)?;
        if back != bytes {
            return Err(StorageError::ReadBack { offset });
        }
        Ok(())
    }
}

/// Grows the regular file `file` to `end` bytes with 0xFF (erased flash), leaving every
/// byte already in it as it is, and syncs it. Returns the old length if it grew, `None` if
/// it already held `end` bytes.
pub fn grow_erased(file: &File, end: u64) -> io::Result<Option<u64>> {
    const CHUNK: usize = 64 * 1024;
    let len = file.metadata()?.len();
    if len >= end {
        return Ok(None);
    }
    let ff = vec![nor::ERASED; CHUNK];
    let mut at = len;
    while at < end {
        let n = usize::try_from(end.saturating_sub(at)).unwrap_or(CHUNK).min(CHUNK);
        file.write_all_at(ff.get(..n).unwrap_or(&ff), at)?;
        at = at.saturating_add(n as u64);
    }
    file.sync_all()?;
    Ok(Some(len))
}

impl ErrorType for FileFlash {
    type Error = StorageError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), StorageError> {
        check_bounds(offset, bytes.len(), self.len)?;
        self.read_at(offset, bytes)
    }

    fn capacity(&self) -> usize {
        usize::try_from(self.len).unwrap_or(usize::MAX)
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;

    /// Fills `from..to` with 0xFF; both ends must be erase-size aligned.
    fn erase(&mut self, from: u32, to: u32) -> Result<(), StorageError> {
        let len = to.checked_sub(from).ok_or(StorageError::NotAligned { offset: from, len: 0, align: 1 })? as usize;
        check_bounds(from, len, self.len)?;
        check_aligned(from, len, self.geometry.erase_size)?;
        self.writes.retain(|&word, _| word < from || word >= to);
        self.write_synced(from, &vec![nor::ERASED; len])
    }

    /// Programs `bytes` at `offset` under the NOR rules ([`nor::check_word`] for every
    /// word, all checked before anything is written): aligned to the write size, only
    /// clearing bits, and with `program_once` at most one program per word and erase.
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), StorageError> {
        check_bounds(offset, bytes.len(), self.len)?;
        let ws = self.geometry.write_size.max(1);
        check_aligned(offset, bytes.len(), ws)?;
        let mut old = vec![0u8; bytes.len()];
        self.read_at(offset, &mut old)?;
        let mode = self.geometry.write_count();
        let mut counts = Vec::with_capacity(bytes.len() / ws as usize);
        let mut at = offset;
        for (new_word, old_word) in bytes.chunks(ws as usize).zip(old.chunks(ws as usize)) {
            let known = self.writes.get(&at).copied().unwrap_or(0).max(nor::writes_seen(old_word));
            match nor::check_word(mode, known, old_word, new_word) {
                Ok(n) => counts.push((at, n)),
                Err(ProgramError::SetsBits) => {
                    let i = new_word.iter().zip(old_word).position(|(n, o)| n & !o != 0).unwrap_or(0);
                    return Err(StorageError::SetsBits { offset: at.saturating_add(i as u32) });
                }
                Err(_) => return Err(StorageError::ProgrammedTwice { offset: at }),
            }
            at = at.saturating_add(ws);
        }
        self.write_synced(offset, bytes)?;
        self.writes.extend(counts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn flash(write_size: u32, program_once: bool) -> (tempfile::NamedTempFile, FileFlash) {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(&[0xFF; 1024]).unwrap();
        let f = FileFlash::open(t.path(), Geometry { write_size, erase_size: 256, program_once }).unwrap();
        (t, f)
    }

    #[test]
    fn program_only_clears_bits() {
        let (_t, mut f) = flash(1, false);
        f.write(0, &[0xF0]).unwrap();
        f.write(0, &[0x30]).unwrap();
        assert_eq!(f.write(0, &[0x70]), Err(StorageError::SetsBits { offset: 0 }));
        let mut b = [0u8; 1];
        f.read(0, &mut b).unwrap();
        assert_eq!(b, [0x30]);
    }

    #[test]
    fn program_must_be_aligned() {
        let (_t, mut f) = flash(8, false);
        assert!(matches!(f.write(4, &[0; 8]), Err(StorageError::NotAligned { .. })));
        assert!(matches!(f.write(0, &[0; 4]), Err(StorageError::NotAligned { .. })));
        f.write(8, &[0; 8]).unwrap();
    }

    #[test]
    fn program_once_refuses_a_written_word() {
        let (_t, mut f) = flash(8, true);
        f.write(0, &[0xFE; 8]).unwrap();
        assert_eq!(f.write(0, &[0x00; 8]), Err(StorageError::ProgrammedTwice { offset: 0 }));
        // Its neighbour is still erased and may be programmed.
        f.write(8, &[0x00; 8]).unwrap();
        // Without program_once the same re-program (only clearing bits) is allowed.
        let (_t, mut g) = flash(8, false);
        g.write(0, &[0xFE; 8]).unwrap();
        g.write(0, &[0x00; 8]).unwrap();
    }

    #[test]
    fn an_all_ff_program_counts_as_a_write() {
        let (t, mut f) = flash(8, true);
        f.write(16, &[0xFF; 8]).unwrap();
        assert_eq!(f.write(16, &[0x00; 8]), Err(StorageError::ProgrammedTwice { offset: 16 }));
        // An erase gives the word back.
        f.erase(0, 256).unwrap();
        f.write(16, &[0x00; 8]).unwrap();
        // A new handle sees only the contents: an all-0xFF program before it is invisible.
        f.write(24, &[0xFF; 8]).unwrap();
        let mut g = FileFlash::open(t.path(), f.geometry()).unwrap();
        g.write(24, &[0x00; 8]).unwrap();
        assert_eq!(g.write(16, &[0x00; 8]), Err(StorageError::ProgrammedTwice { offset: 16 }));
    }

    #[test]
    fn the_file_agrees_with_the_simulator() {
        use safeslot_shared::nor::WriteCount;
        use safeslot_shared::sim::{SimConfig, SimError, SimFlash};
        // The same programs and erases, on a file and on the simulator, in both modes.
        let ops: &[(u32, &[u8])] = &[
            (0, &[0xF0; 8]),
            (0, &[0x00; 8]),
            (8, &[0xFF; 8]),
            (8, &[0x7F; 8]),
            (16, &[0x0F; 8]),
            (16, &[0xF0; 8]),
            (24, &[0x00; 16]),
            (24, &[0x00; 8]),
        ];
        for once in [true, false] {
            let (_t, mut f) = flash(8, once);
            let cfg = SimConfig {
                size: 1024,
                write_size: 8,
                erase_size: 256,
                write_count: WriteCount::from_program_once(once),
            };
            let mut s = SimFlash::new(cfg).unwrap();
            for round in 0..2 {
                for &(at, data) in ops {
                    let file = f.write(at, data);
                    let sim = s.write(at, data);
                    match (&file, &sim) {
                        (Ok(()), Ok(())) => {}
                        (Err(StorageError::ProgrammedTwice { .. }), Err(SimError::WriteLimit)) => {}
                        (Err(StorageError::SetsBits { .. }), Err(SimError::SetsBits)) => {}
                        _ => panic!("once={once} round={round} at={at}: file {file:?}, sim {sim:?}"),
                    }
                }
                f.erase(0, 256).unwrap();
                s.erase(0, 256).unwrap();
            }
            let mut buf = [0u8; 1024];
            f.read(0, &mut buf).unwrap();
            assert_eq!(&buf[..], s.bytes());
        }
    }

    #[test]
    fn erase_fills_ff_on_sector_boundaries() {
        let (_t, mut f) = flash(1, true);
        f.write(256, &[0; 16]).unwrap();
        assert!(matches!(f.erase(0, 100), Err(StorageError::NotAligned { .. })));
        assert!(matches!(f.erase(128, 384), Err(StorageError::NotAligned { .. })));
        f.erase(256, 512).unwrap();
        let mut b = [0u8; 16];
        f.read(256, &mut b).unwrap();
        assert_eq!(b, [0xFF; 16]);
        f.write(256, &[0; 16]).unwrap();
    }

    #[test]
    fn growing_appends_erased_bytes_only() {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(&[0x12; 100]).unwrap();
        assert_eq!(grow_erased(t.as_file(), 70_000).unwrap(), Some(100));
        let b = std::fs::read(t.path()).unwrap();
        assert_eq!(b.len(), 70_000);
        assert!(b[..100].iter().all(|&x| x == 0x12));
        assert!(b[100..].iter().all(|&x| x == 0xFF));
        assert_eq!(grow_erased(t.as_file(), 4096).unwrap(), None, "never shrinks");
        assert_eq!(std::fs::read(t.path()).unwrap(), b);
    }

    #[test]
    fn bounds_are_checked() {
        let (_t, mut f) = flash(1, false);
        assert_eq!(f.capacity(), 1024);
        let mut b = [0u8; 2];
        assert!(matches!(f.read(1023, &mut b), Err(StorageError::OutOfBounds { .. })));
        assert!(matches!(f.write(1023, &[0, 0]), Err(StorageError::OutOfBounds { .. })));
        assert!(matches!(f.erase(768, 1280), Err(StorageError::OutOfBounds { .. })));
    }
}
