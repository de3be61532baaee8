//! The append-only journal that stores the record in a NOR flash region.
//!
//! The region is split into erase sectors (at least two). Each sector holds fixed-size
//! entry positions; an entry is `seq (u32) | record | CRC-32`, padded with 0xFF to a
//! multiple of the write size (see `docs/FORMAT.md`, "Journal"). Rules:
//!
//! * **Newest valid entry wins.** Torn, partial or corrupt entries fail their CRC or
//!   the record's own checks and are skipped.
//! * **Program once.** A position is written by exactly one `write` call and never
//!   again before its sector is erased, so ECC flash (STM32L4/H7 double-words) works.
//!   The next write goes *after* the last non-blank position of the head's sector, so
//!   torn garbage is never programmed over. Every entry is read back; if it does not read
//!   back intact (a word that looked erased was in fact half-programmed) the same entry
//!   is written at the next position, a bounded number of times.
//! * **Rotation keeps a valid entry at every instant.** When the head's sector is full,
//!   the *next* sector (which holds only older entries) is erased and the entry is
//!   written there. The sector holding the newest entry is never erased: it is erased
//!   only once a newer sector has filled, by which time it holds only older entries.
//! * **Bounded.** Every scan reads each position of the region once; every retry loop
//!   has a fixed bound.
//!
//! A blank region and a region holding only garbage are reported as
//! [`Error::Blank`] and [`Error::NoValidRecord`]; the caller decides what to do
//! ([`Journal::initialize`] re-creates the record only when asked).

use embedded_storage::nor_flash::NorFlash;

use crate::codec::{crc32, get_u32, is_erased, put};
use crate::error::{Error, OpError};
use crate::record::{Record, RECORD_LEN};

/// Bytes of an entry before padding: sequence number, record, CRC-32.
pub const ENTRY_LEN: usize = 4 + RECORD_LEN + 4;
/// Largest supported write size.
pub const MAX_WRITE_SIZE: u32 = 32;
/// Smallest supported erase size.
pub const MIN_ERASE_SIZE: u32 = 256;
/// Largest supported erase size.
pub const MAX_ERASE_SIZE: u32 = 256 * 1024;
/// Entry size for the largest write size: the scratch buffer's size.
const MAX_ENTRY: usize = 160;
/// How many positions one append may try before giving up.
const WRITE_ATTEMPTS: u32 = 3;
/// The sequence number of an erased entry; never written.
const SEQ_ERASED: u32 = u32::MAX;

/// Byte offsets of a journal entry (see `docs/FORMAT.md`).
pub mod field {
    /// Sequence number (u32), 1 for the first entry, +1 per entry.
    pub const SEQ: usize = 0;
    /// The encoded record.
    pub const RECORD: usize = 4;
    /// CRC-32 over bytes 0..132 (u32).
    pub const CRC: usize = 132;
}

/// Where the journal lives and how the flash is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JournalConfig {
    /// Offset of the region in the flash device (erase-aligned).
    pub offset: u32,
    /// Size of the region: a multiple of `erase_size`, at least two sectors.
    pub size: u32,
    /// Write granularity: 1, 2, 4, 8, 16 or 32 bytes.
    pub write_size: u32,
    /// Erase sector size: a power of two from 256 B to 256 KiB.
    pub erase_size: u32,
}

impl JournalConfig {
    /// A config for flash driver `F`, using its own write and erase sizes.
    pub fn for_flash<F: NorFlash>(offset: u32, size: u32) -> JournalConfig {
        JournalConfig { offset, size, write_size: F::WRITE_SIZE as u32, erase_size: F::ERASE_SIZE as u32 }
    }

    /// Size of one entry position: [`ENTRY_LEN`] rounded up to the write size.
    pub fn entry_size(&self) -> u32 {
        let w = self.write_size.max(1);
        (ENTRY_LEN as u32).div_ceil(w).saturating_mul(w)
    }

    /// Entry positions per sector.
    pub fn entries_per_sector(&self) -> u32 {
        self.erase_size.checked_div(self.entry_size()).unwrap_or(0)
    }

    /// Number of sectors.
    pub fn sectors(&self) -> u32 {
        self.size.checked_div(self.erase_size).unwrap_or(0)
    }

    fn validate<F: NorFlash>(&self, capacity: usize) -> Result<(), &'static str> {
        if !matches!(self.write_size, 1 | 2 | 4 | 8 | 16 | 32) {
            return Err("write size must be 1, 2, 4, 8, 16 or 32");
        }
        if !self.erase_size.is_power_of_two() || !(MIN_ERASE_SIZE..=MAX_ERASE_SIZE).contains(&self.erase_size) {
            return Err("erase size must be a power of two from 256 B to 256 KiB");
        }
        let ws = F::WRITE_SIZE.max(1) as u32;
        let es = F::ERASE_SIZE.max(1) as u32;
        let rs = F::READ_SIZE.max(1) as u32;
        if !self.write_size.is_multiple_of(ws) || !self.erase_size.is_multiple_of(es) {
            return Err("journal geometry is not a multiple of the flash's write/erase size");
        }
        if !self.entry_size().is_multiple_of(rs) || !self.offset.is_multiple_of(rs) {
            return Err("entries are not aligned to the flash's read size");
        }
        if !self.offset.is_multiple_of(self.erase_size) || !self.size.is_multiple_of(self.erase_size) {
            return Err("region offset and size must be erase-aligned");
        }
        if self.sectors() < 2 {
            return Err("region must span at least two erase sectors");
        }
        match self.offset.checked_add(self.size) {
            Some(end) if end as usize <= capacity => Ok(()),
            _ => Err("region runs past the end of the flash"),
        }
    }

    fn position_offset(&self, p: Pos) -> Option<u32> {
        self.offset
            .checked_add(p.sector.checked_mul(self.erase_size)?)?
            .checked_add(p.index.checked_mul(self.entry_size())?)
    }
}

/// A position: sector number within the region and entry index within the sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pos {
    /// Sector number within the region.
    pub sector: u32,
    /// Entry index within the sector.
    pub index: u32,
}

/// The newest valid entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Head {
    /// Its sequence number.
    pub seq: u32,
    /// Where it is.
    pub pos: Pos,
    /// First position after the last non-blank position of the head's sector.
    pub next_index: u32,
}

/// What the last scan found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Found {
    /// Every entry position is erased.
    Blank,
    /// Something is written, but no entry is valid.
    Garbage,
    /// The newest valid entry.
    Valid(Head),
}

/// The journal over flash `F`.
#[derive(Debug)]
pub struct Journal<F> {
    flash: F,
    cfg: JournalConfig,
    found: Found,
    record: Option<Record>,
}

impl<F: NorFlash> Journal<F> {
    /// Validates the geometry and scans the region. A blank or corrupt region is not an
    /// error here: see [`Journal::found`] and [`Journal::record`].
    pub fn open(flash: F, cfg: JournalConfig) -> Result<Self, Error<F::Error>> {
        cfg.validate::<F>(flash.capacity()).map_err(Error::Geometry)?;
        let mut j = Journal { flash, cfg, found: Found::Blank, record: None };
        j.rescan()?;
        Ok(j)
    }

    /// Scans the whole region again (after another writer may have appended).
    pub fn rescan(&mut self) -> Result<(), Error<F::Error>> {
        let es = self.cfg.entry_size() as usize;
        let per = self.cfg.entries_per_sector();
        let mut buf = [0u8; MAX_ENTRY];
        let entry = buf.get_mut(..es).ok_or(Error::Geometry("entry larger than scratch buffer"))?;
        let mut any_written = false;
        let mut best: Option<(Head, Record)> = None;
        for sector in 0..self.cfg.sectors() {
            let mut last_used: Option<u32> = None;
            for index in 0..per {
                let pos = Pos { sector, index };
                let off = self.cfg.position_offset(pos).ok_or(Error::Geometry("offset overflow"))?;
                self.flash.read(off, entry).map_err(Error::Flash)?;
                if is_erased(entry) {
                    continue;
                }
                any_written = true;
                last_used = Some(index);
                if let Some((seq, rec)) = decode_entry(entry) {
                    if best.as_ref().is_none_or(|(h, _)| seq >= h.seq) {
                        best = Some((Head { seq, pos, next_index: 0 }, rec));
                    }
                }
            }
            if let Some((h, _)) = best.as_mut() {
                if h.pos.sector == sector {
                    h.next_index = last_used.map_or(0, |i| i.saturating_add(1));
                }
            }
        }
        match best {
            Some((h, r)) => {
                self.found = Found::Valid(h);
                self.record = Some(r);
            }
            None => {
                self.found = if any_written { Found::Garbage } else { Found::Blank };
                self.record = None;
            }
        }
        Ok(())
    }

    /// What the last scan found.
    pub fn found(&self) -> Found {
        self.found
    }

    /// The current record, or why there is none ([`Error::Blank`], [`Error::NoValidRecord`]).
    pub fn record(&self) -> Result<&Record, Error<F::Error>> {
        match (&self.record, self.found) {
            (Some(r), _) => Ok(r),
            (None, Found::Blank) => Err(Error::Blank),
            (None, _) => Err(Error::NoValidRecord),
        }
    }

    /// The head's sequence number (0 when there is no valid entry).
    pub fn seq(&self) -> u32 {
        match self.found {
            Found::Valid(h) => h.seq,
            _ => 0,
        }
    }

    /// The geometry in use.
    pub fn config(&self) -> &JournalConfig {
        &self.cfg
    }

    /// The flash driver, for reading other regions (slots) through the same handle.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash driver back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// Appends `record` as the new newest entry: one program operation, plus one sector
    /// erase when the head's sector is full. Fails with [`Error::Blank`] or
    /// [`Error::NoValidRecord`] when there is no record yet (see [`Journal::initialize`]).
    pub fn append(&mut self, record: &Record) -> Result<(), Error<F::Error>> {
        let head = match self.found {
            Found::Valid(h) => h,
            Found::Blank => return Err(Error::Blank),
            Found::Garbage => return Err(Error::NoValidRecord),
        };
        let seq = head.seq.checked_add(1).filter(|&s| s != SEQ_ERASED).ok_or(Error::SequenceExhausted)?;
        let start = Pos { sector: head.pos.sector, index: head.next_index };
        self.write_entry(start, false, seq, record)
    }

    /// Appends only if the head is still `expected_seq`, after re-scanning: the
    /// read-modify-write guard for writers that share the region (the Linux agent).
    pub fn append_expecting(&mut self, expected_seq: u32, record: &Record) -> Result<(), Error<F::Error>> {
        self.rescan()?;
        if self.seq() != expected_seq {
            return Err(Error::Conflict);
        }
        self.append(record)
    }

    /// Applies `change` to a copy of the current record and appends it if it changed.
    /// Returns whether an entry was written: an unchanged record writes nothing.
    pub fn update(&mut self, change: impl FnOnce(&mut Record) -> Result<(), OpError>) -> Result<bool, Error<F::Error>> {
        let mut next = self.record()?.clone();
        change(&mut next)?;
        if self.record.as_ref() == Some(&next) {
            return Ok(false);
        }
        self.append(&next)?;
        Ok(true)
    }

    /// Writes `record` as a new record. On a region with a valid record this is an
    /// ordinary append (the old state stays until the new entry is complete). On a blank
    /// or corrupt region, sector 0 is erased first and the entry written at its start.
    pub fn initialize(&mut self, record: &Record) -> Result<(), Error<F::Error>> {
        match self.found {
            Found::Valid(_) => self.append(record),
            Found::Blank | Found::Garbage => self.write_entry(Pos { sector: 0, index: 0 }, true, 1, record),
        }
    }

    fn write_entry(&mut self, start: Pos, erase_first: bool, seq: u32, record: &Record) -> Result<(), Error<F::Error>> {
        let es = self.cfg.entry_size() as usize;
        let per = self.cfg.entries_per_sector();
        let mut out = [0xFFu8; MAX_ENTRY];
        let mut back = [0u8; MAX_ENTRY];
        let body = encode_entry(seq, record);
        let (Some(out), Some(back)) = (out.get_mut(..es), back.get_mut(..es)) else {
            return Err(Error::Geometry("entry larger than scratch buffer"));
        };
        put(out, 0, &body);
        let mut pos = start;
        let mut erase = erase_first;
        let mut last_err = Error::WriteFailed;
        for _ in 0..WRITE_ATTEMPTS {
            if pos.index >= per {
                pos = Pos { sector: next_sector(pos.sector, self.cfg.sectors()), index: 0 };
                erase = true;
            }
            if erase {
                let from = self.cfg.position_offset(Pos { sector: pos.sector, index: 0 });
                let from = from.ok_or(Error::Geometry("offset overflow"))?;
                let to = from.checked_add(self.cfg.erase_size).ok_or(Error::Geometry("offset overflow"))?;
                self.flash.erase(from, to).map_err(Error::Flash)?;
                erase = false;
            }
            let off = self.cfg.position_offset(pos).ok_or(Error::Geometry("offset overflow"))?;
            let written = self.flash.write(off, out).map_err(Error::Flash);
            let verified = written.and_then(|()| self.flash.read(off, back).map_err(Error::Flash));
            match verified {
                Ok(()) if back == out => {
                    self.found = Found::Valid(Head { seq, pos, next_index: pos.index.saturating_add(1) });
                    self.record = Some(record.clone());
                    return Ok(());
                }
                Ok(()) => last_err = Error::WriteFailed,
                Err(e) => last_err = e,
            }
            pos.index = pos.index.saturating_add(1);
        }
        Err(last_err)
    }
}

fn next_sector(s: u32, n: u32) -> u32 {
    match s.checked_add(1) {
        Some(x) if x < n => x,
        _ => 0,
    }
}

/// Encodes an entry body (without padding).
pub fn encode_entry(seq: u32, record: &Record) -> [u8; ENTRY_LEN] {
    let mut b = [0u8; ENTRY_LEN];
    put(&mut b, field::SEQ, &seq.to_le_bytes());
    put(&mut b, field::RECORD, &record.encode());
    let crc = crc32(b.get(..field::CRC).unwrap_or(&[]));
    put(&mut b, field::CRC, &crc.to_le_bytes());
    b
}

/// Decodes an entry (padding ignored): `Some((seq, record))` when it is valid.
pub fn decode_entry(b: &[u8]) -> Option<(u32, Record)> {
    let seq = get_u32(b, field::SEQ)?;
    if seq == SEQ_ERASED || seq == 0 {
        return None;
    }
    let crc = get_u32(b, field::CRC)?;
    if crc32(b.get(..field::CRC)?) != crc {
        return None;
    }
    let rec = Record::decode(b.get(field::RECORD..field::CRC)?).ok()?;
    Some((seq, rec))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;
    use crate::ops;
    use crate::policy::{BootKind, Decision, ImageInfo, Inputs, Verdict};
    use crate::select::{select, FreshPolicy};
    use crate::sim::{SimConfig, SimFlash, Stats};
    use crate::slot::{SlotId, Tries};

    const W: u32 = 8;
    const E: u32 = 256;

    fn cfg(write_size: u32, erase_size: u32, sectors: u32) -> JournalConfig {
        JournalConfig { offset: 0, size: erase_size * sectors, write_size, erase_size }
    }

    fn flash(c: JournalConfig, program_once: bool) -> SimFlash {
        SimFlash::new(SimConfig {
            size: (c.offset + c.size) as usize,
            write_size: c.write_size as usize,
            erase_size: c.erase_size as usize,
            program_once,
        })
        .unwrap()
    }

    fn valid() -> Verdict {
        Verdict::Valid(ImageInfo::default())
    }

    /// A journal holding a freshly initialised record (seq 1), stats reset.
    fn initialised(c: JournalConfig) -> Journal<SimFlash> {
        let mut j = Journal::open(flash(c, true), c).unwrap();
        j.initialize(&Record::fresh(2, Tries::DEFAULT)).unwrap();
        j.flash_mut().reset_stats();
        j
    }

    fn ops_only(s: Stats) -> (u64, u64) {
        (s.programs, s.erases)
    }

    #[test]
    fn blank_region() {
        let c = cfg(W, E, 2);
        let mut j = Journal::open(flash(c, true), c).unwrap();
        assert_eq!(j.found(), Found::Blank);
        assert_eq!(j.record(), Err(Error::Blank));
        assert_eq!(j.seq(), 0);
        assert_eq!(j.append(&Record::fresh(2, Tries::DEFAULT)), Err(Error::Blank));
        assert_eq!(j.update(|_| Ok(())), Err(Error::Blank));
        assert_eq!(j.flash_mut().mutating_ops(), 0, "refusals write nothing");
    }

    #[test]
    fn garbage_region_is_reported_and_never_appended_to() {
        let c = cfg(W, E, 2);
        let mut f = flash(c, false);
        for (i, b) in f.bytes_mut().iter_mut().enumerate().take(300) {
            *b = (i as u8).wrapping_mul(31);
        }
        let mut j = Journal::open(f, c).unwrap();
        assert_eq!(j.found(), Found::Garbage);
        assert_eq!(j.record(), Err(Error::NoValidRecord));
        assert_eq!(j.append(&Record::fresh(2, Tries::DEFAULT)), Err(Error::NoValidRecord));
        assert_eq!(j.append_expecting(0, &Record::fresh(2, Tries::DEFAULT)), Err(Error::NoValidRecord));
        assert_eq!(j.flash_mut().mutating_ops(), 0);
        // initialize is the explicit way out: erase sector 0, write seq 1.
        let r = Record::fresh(4, Tries::MAX);
        j.initialize(&r).unwrap();
        assert_eq!(ops_only(j.flash_mut().stats()), (1, 1));
        assert_eq!(j.seq(), 1);
        let j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!(j.record(), Ok(&r));
        assert_eq!(j.found(), Found::Valid(Head { seq: 1, pos: Pos { sector: 0, index: 0 }, next_index: 1 }));
    }

    #[test]
    fn a_valid_entry_with_a_foreign_record_inside_is_garbage() {
        // The entry CRC is right but the record inside does not decode.
        let c = cfg(W, E, 2);
        let mut f = flash(c, false);
        let mut body = encode_entry(1, &Record::fresh(2, Tries::DEFAULT));
        body[field::RECORD + 4] = 9; // record format 9
        let crc = crc32(&body[..field::CRC]);
        body[field::CRC..].copy_from_slice(&crc.to_le_bytes());
        f.bytes_mut()[..ENTRY_LEN].copy_from_slice(&body);
        let j = Journal::open(f, c).unwrap();
        assert_eq!(j.found(), Found::Garbage);
    }

    #[test]
    fn geometry_is_validated() {
        let good = cfg(W, E, 2);
        let f = || flash(cfg(1, 256, 8), false);
        let bad = [
            JournalConfig { write_size: 3, ..good },
            JournalConfig { write_size: 64, ..good },
            JournalConfig { write_size: 0, ..good },
            JournalConfig { erase_size: 100, size: 200, ..good },
            JournalConfig { erase_size: 128, size: 256, ..good },
            JournalConfig { size: 256, ..good },
            JournalConfig { size: 384, ..good },
            JournalConfig { offset: 128, ..good },
            JournalConfig { offset: 256 * 7, ..good },
            JournalConfig { offset: u32::MAX - 255, ..good },
        ];
        for c in bad {
            match Journal::open(f(), c) {
                Err(Error::Geometry(msg)) => assert!(!msg.is_empty()),
                other => panic!("{c:?} accepted: {other:?}"),
            }
        }
        assert!(Journal::open(f(), JournalConfig { offset: 256 * 6, ..good }).is_ok());
        // The flash driver's own granularity is respected too.
        struct Coarse(SimFlash);
        impl embedded_storage::nor_flash::ErrorType for Coarse {
            type Error = crate::sim::SimError;
        }
        impl embedded_storage::nor_flash::ReadNorFlash for Coarse {
            const READ_SIZE: usize = 4;
            fn read(&mut self, o: u32, b: &mut [u8]) -> Result<(), Self::Error> {
                self.0.read(o, b)
            }
            fn capacity(&self) -> usize {
                self.0.capacity()
            }
        }
        impl NorFlash for Coarse {
            const WRITE_SIZE: usize = 16;
            const ERASE_SIZE: usize = 512;
            fn write(&mut self, o: u32, b: &[u8]) -> Result<(), Self::Error> {
                self.0.write(o, b)
            }
            fn erase(&mut self, a: u32, b: u32) -> Result<(), Self::Error> {
                self.0.erase(a, b)
            }
        }
        assert!(matches!(Journal::open(Coarse(f()), cfg(8, 512, 2)), Err(Error::Geometry(_))));
        assert!(matches!(Journal::open(Coarse(f()), cfg(16, 256, 2)), Err(Error::Geometry(_))));
        assert!(Journal::open(Coarse(f()), cfg(16, 512, 2)).is_ok());
        assert_eq!(JournalConfig::for_flash::<Coarse>(0, 1024), cfg(16, 512, 2));
    }

    #[test]
    fn sizing() {
        for (w, size) in [(1, 136), (2, 136), (4, 136), (8, 136), (16, 144), (32, 160)] {
            let c = cfg(w, 256, 2);
            assert_eq!(c.entry_size(), size, "w={w}");
            assert_eq!(c.entry_size(), (ENTRY_LEN as u32).div_ceil(w) * w);
        }
        assert_eq!(cfg(8, 256, 2).entries_per_sector(), 1);
        assert_eq!(cfg(8, 2048, 2).entries_per_sector(), 15);
        assert_eq!(cfg(32, 4096, 3).entries_per_sector(), 25);
        assert_eq!(cfg(32, 4096, 3).sectors(), 3);
    }

    #[test]
    fn open_only_reads_one_position_at_a_time() {
        let c = cfg(W, 512, 3);
        let j = initialised(c);
        let f = j.into_inner();
        let before = f.stats();
        let j = Journal::open(f, c).unwrap();
        let s = j.into_inner().stats();
        assert_eq!(ops_only(s), ops_only(before), "open never writes or erases");
        let positions = u64::from(c.entries_per_sector() * c.sectors());
        assert_eq!(s.reads - before.reads, positions);
    }

    #[test]
    fn trial_boot_is_one_program_and_confirmed_boot_writes_nothing() {
        let c = cfg(W, 1024, 2); // 7 entries per sector: no rotation in this test
        let mut j = initialised(c);
        let boot = |j: &mut Journal<SimFlash>| match select(j, Inputs::default(), FreshPolicy::default(), |_, s| {
            if s == SlotId::A {
                valid()
            } else {
                Verdict::Invalid(crate::Reason::NoImage)
            }
        })
        .unwrap()
        .decision
        {
            Decision::Boot(p) => p.kind,
            Decision::Recovery(n) => panic!("{n:?}"),
        };
        assert_eq!(boot(&mut j), BootKind::Trial);
        let s = j.flash_mut().stats();
        assert_eq!((s.programs, s.erases, s.reads), (1, 0, 1), "one program plus its read-back");
        assert_eq!(s.bytes_programmed, u64::from(c.entry_size()));
        assert_eq!(j.seq(), 2);

        j.flash_mut().reset_stats();
        assert!(j.update(ops::mark_good).unwrap());
        assert_eq!(ops_only(j.flash_mut().stats()), (1, 0));
        assert_eq!(j.seq(), 3);

        // The first confirmed boot records nothing new: last_booted is already A.
        j.flash_mut().reset_stats();
        assert_eq!(boot(&mut j), BootKind::Confirmed);
        assert_eq!(j.flash_mut().stats(), Stats::default(), "a confirmed boot touches no flash at all");
        assert_eq!(j.seq(), 3);

        // mark_good again: unchanged record, nothing written.
        assert!(!j.update(ops::mark_good).unwrap());
        assert_eq!(j.flash_mut().stats(), Stats::default());
    }

    #[test]
    fn blank_first_boot_is_one_erase_and_one_program() {
        let c = cfg(W, 512, 2);
        let mut j = Journal::open(flash(c, true), c).unwrap();
        j.flash_mut().reset_stats();
        let sel = select(&mut j, Inputs::default(), FreshPolicy::default(), |_, _| valid()).unwrap();
        assert_eq!(sel.created, Some(crate::Reason::None));
        assert_eq!(sel.seq, 1);
        assert_eq!(ops_only(j.flash_mut().stats()), (1, 1));
    }

    #[test]
    fn rotation_is_one_erase_and_one_program_and_alternates_sectors() {
        let c = cfg(W, 512, 3); // 3 entries per sector
        let per = c.entries_per_sector();
        assert_eq!(per, 3);
        let mut j = initialised(c);
        let mut r = j.record().unwrap().clone();
        let mut erases_expected = 0;
        for n in 2..=20u32 {
            r.rollback_floor = n;
            j.flash_mut().reset_stats();
            j.append(&r).unwrap();
            let rotated = (n - 1) % per == 0;
            let s = j.flash_mut().stats();
            assert_eq!(ops_only(s), (1, u64::from(rotated)), "append #{n}");
            if rotated {
                erases_expected += 1;
                assert_eq!(s.sectors_erased, 1);
            }
            let Found::Valid(h) = j.found() else { panic!() };
            assert_eq!(h.seq, n);
            assert_eq!(h.pos, Pos { sector: ((n - 1) / per) % 3, index: (n - 1) % per });
            // Reopening finds the same head.
            let again = Journal::open(j.flash_mut(), c).unwrap();
            assert_eq!(again.found(), Found::Valid(h));
            assert_eq!(again.record(), Ok(&r));
        }
        assert_eq!(erases_expected, 6);
    }

    #[test]
    fn the_largest_sectors_fill_rotate_and_reopen() {
        // 256 KiB blocks, as on the CFI NOR of the SoC board (write size 1 as Linux
        // reports it there): fill the first sector, rotate, and reopen.
        let c = cfg(1, MAX_ERASE_SIZE, 2);
        let per = c.entries_per_sector();
        assert_eq!(per, MAX_ERASE_SIZE / ENTRY_LEN as u32);
        let mut j = initialised(c);
        let mut r = j.record().unwrap().clone();
        for n in 2..=per + 1 {
            r.rollback_floor = n;
            j.append(&r).unwrap();
        }
        assert_eq!(j.found(), Found::Valid(Head { seq: per + 1, pos: Pos { sector: 1, index: 0 }, next_index: 1 }));
        let again = Journal::open(j.flash_mut(), c).unwrap();
        assert_eq!(again.record().unwrap().rollback_floor, per + 1);
        // One step past the cap is refused.
        let too_big = cfg(1, MAX_ERASE_SIZE * 2, 2);
        assert!(matches!(Journal::open(flash(cfg(1, 256, 2), false), too_big), Err(Error::Geometry(_))));
    }

    #[test]
    fn sequence_numbers_survive_reopen_and_newest_wins() {
        let c = cfg(4, 256, 2);
        let mut j = initialised(c);
        let mut r = j.record().unwrap().clone();
        for n in 2..=5u32 {
            r.rollback_floor = n * 10;
            j.append(&r).unwrap();
            assert_eq!(j.seq(), n);
            let again = Journal::open(j.flash_mut(), c).unwrap();
            assert_eq!((again.seq(), again.record().unwrap().rollback_floor), (n, n * 10));
        }
    }

    #[test]
    fn a_torn_entry_is_skipped_and_never_programmed_over() {
        let c = cfg(W, 1024, 2);
        let mut j = initialised(c);
        let mut r = j.record().unwrap().clone();
        r.rollback_floor = 7;
        // Tear the second entry: only its first 64 bytes land.
        let full = encode_entry(2, &r);
        let at = c.entry_size() as usize;
        j.flash_mut().write(at as u32, &full[..64]).unwrap();
        let mut j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!(j.seq(), 1);
        assert_eq!(j.record().unwrap().rollback_floor, 0);
        let Found::Valid(h) = j.found() else { panic!() };
        assert_eq!(h.next_index, 2, "the next write goes after the torn position");
        r.rollback_floor = 8;
        j.append(&r).unwrap(); // program_once flash: would fail on the torn position
        let Found::Valid(h) = j.found() else { panic!() };
        assert_eq!((h.seq, h.pos.index), (2, 2));
    }

    #[test]
    fn a_position_that_does_not_read_back_is_retried_at_the_next() {
        // A position whose first word was half-programmed (reads 0xFF but is marked
        // programmed on ECC flash) makes the write fail; the entry lands one further.
        let c = cfg(W, 1024, 2);
        let mut j = initialised(c);
        let r = j.record().unwrap().clone();
        let at = c.entry_size();
        // Program an all-0xFF word: it stays "erased" to a scan but is used on ECC flash.
        j.flash_mut().write(at, &[0xFF; W as usize]).unwrap();
        let mut j = Journal::open(j.into_inner(), c).unwrap();
        j.flash_mut().reset_stats();
        j.append(&r).unwrap();
        let Found::Valid(h) = j.found() else { panic!() };
        assert_eq!((h.seq, h.pos.index), (2, 2));
        assert_eq!(j.flash_mut().stats().programs, 1, "the refused program is not counted by the sim");
    }

    #[test]
    fn append_expecting_detects_another_writer() {
        let c = cfg(W, 512, 2);
        let j = initialised(c);
        let mut mine = Journal::open(j.into_inner(), c).unwrap();
        let seen = mine.seq();
        // Another writer (a second process on the same MTD) appends meanwhile.
        let mut other_flash = mine.flash_mut().clone();
        let mut other = Journal::open(&mut other_flash, c).unwrap();
        let mut theirs = other.record().unwrap().clone();
        ops::mark_bad(&mut theirs, SlotId::B).unwrap();
        other.append(&theirs).unwrap();
        mine.flash_mut().bytes_mut().copy_from_slice(other_flash.bytes());

        let mut r = mine.record().unwrap().clone();
        r.rollback_floor = 3;
        mine.flash_mut().reset_stats();
        assert_eq!(mine.append_expecting(seen, &r), Err(Error::Conflict));
        assert_eq!(ops_only(mine.flash_mut().stats()), (0, 0));
        assert_eq!(mine.record(), Ok(&theirs), "the rescan picked up the other write");
        assert_eq!(mine.seq(), seen + 1);
        mine.append_expecting(seen + 1, &r).unwrap();
        assert_eq!(mine.seq(), seen + 2);
    }

    #[test]
    fn update_writes_only_changes_and_passes_op_errors() {
        let c = cfg(W, 512, 2);
        let mut j = initialised(c);
        assert_eq!(j.update(|_| Ok(())), Ok(false));
        assert_eq!(j.update(ops::mark_good), Err(Error::Op(crate::OpError::NothingBooted)));
        assert_eq!(j.flash_mut().stats(), Stats::default());
        assert_eq!(j.update(|r| ops::set_active(r, SlotId::B, Tries::new(2).unwrap())), Ok(true));
        assert_eq!(ops_only(j.flash_mut().stats()), (1, 0));
        assert_eq!(j.seq(), 2);
    }

    #[test]
    fn initialize_on_a_valid_region_is_an_append() {
        let c = cfg(W, 512, 2);
        let mut j = initialised(c);
        j.initialize(&Record::fresh(3, Tries::DEFAULT)).unwrap();
        assert_eq!(j.seq(), 2);
        assert_eq!(ops_only(j.flash_mut().stats()), (1, 0));
    }

    #[test]
    fn sequence_exhaustion_is_an_error_not_a_wrap() {
        let c = cfg(W, 512, 2);
        let mut f = flash(c, false);
        let r = Record::fresh(2, Tries::DEFAULT);
        let body = encode_entry(u32::MAX - 1, &r);
        f.write(0, &body).unwrap();
        let mut j = Journal::open(f, c).unwrap();
        assert_eq!(j.seq(), u32::MAX - 1);
        assert_eq!(j.append(&r), Err(Error::SequenceExhausted));
    }

    #[test]
    fn entry_codec() {
        let r = Record::fresh(2, Tries::DEFAULT);
        let b = encode_entry(42, &r);
        assert_eq!(decode_entry(&b), Some((42, r.clone())));
        // Padding is ignored; seq 0 and 0xFFFFFFFF are never valid.
        let mut padded = [0xFFu8; 160];
        padded[..ENTRY_LEN].copy_from_slice(&b);
        assert_eq!(decode_entry(&padded), Some((42, r.clone())));
        for seq in [0, u32::MAX] {
            let mut c = encode_entry(seq, &r);
            let crc = crc32(&c[..field::CRC]);
            c[field::CRC..].copy_from_slice(&crc.to_le_bytes());
            assert_eq!(decode_entry(&c), None);
        }
        assert_eq!(decode_entry(&b[..ENTRY_LEN - 1]), None);
        for i in 0..ENTRY_LEN * 8 {
            let mut c = b;
            c[i / 8] ^= 1 << (i % 8);
            assert_eq!(decode_entry(&c), None, "bit {i}");
        }
    }
}
