//! The append-only journal that stores the record in a NOR flash region.
//!
//! The region is split into erase sectors (at least two). Each sector holds fixed-size
//! positions; a position is an entry body (`seq | format | geometry | prev | record |
//! CRC-32`, padded to the write size), then an **ack** mark and a **claim** mark, each in
//! write-words of its own (see `docs/FORMAT.md`, "Journal"). The design assumes what a
//! power cut really leaves on NOR flash (`docs/DESIGN.md`, "The journal under faults"):
//! torn programs, half-finished erases, and *weak* cells that read differently on each
//! read until erased. Rules:
//!
//! * **Three programs per entry.** An append programs the previous position's claim mark
//!   (the next position may now be touched), then the body, reads it back, then the ack
//!   mark, and reads it back. An entry is *valid* when its body checks; it is *solid*
//!   (acknowledged) when its ack mark reads as written. The ack is programmed only after
//!   the body read back intact, so a solid entry's body was programmed completely.
//! * **Never a touched position.** A body is programmed only at position 0 of a sector
//!   that the same append has just erased, or at position *i*+1 right after *i*'s claim
//!   mark read back as written. A claim mark set, or any programmed byte, makes a
//!   position *used*; the next append goes after the last used position of the head's
//!   sector. So a position left touched-but-erased-looking by a cut is never programmed
//!   again. A position that fails (program error, dropped write, bad read-back) is
//!   skipped; when the sector runs out, the journal rotates. Nothing can wedge it.
//! * **Head.** The newest solid entry (highest sequence number) is the anchor. The head
//!   is the anchor, or an unacknowledged entry that extends it directly (sequence
//!   number + 1 and `prev` = the anchor's CRC): the write that was cut during its ack.
//!   An unacknowledged entry that does not extend the anchor (it was written on the basis
//!   of a state that later read differently) never wins, whatever its sequence number.
//!   Without any solid entry, the newest valid entry is the head.
//! * **Consolidation.** A head that is not solid may read differently next time; every
//!   writer that finds one rewrites it first ([`Journal::head_is_solid`]; the boot stage
//!   and [`Journal::update`] write even an unchanged record then), so a state is never
//!   acted on until it is solid.
//! * **Rotation keeps the anchor.** When the head's sector is full, the next sector that
//!   does not hold the anchor is erased and the entry goes to its position 0. The
//!   anchor's sector is never erased.
//! * **Bounded.** A scan reads each position's first word once and the newest entry
//!   whole; only when that entry is not valid and solid (the boot after a cut) does it read
//!   every position whole, once (twice when an unacknowledged entry was seen). Both give
//!   the same head (tested against each other over cut sequences). An append tries each
//!   position and each sector at most once, reading only the head's sector from the head on.
//!
//! A blank region and a region holding no valid entry are reported as [`Error::Blank`]
//! and [`Error::NoValidRecord`]; the caller decides what to do ([`Journal::initialize`]
//! re-creates the record only when asked). Regions written by format 1 (no marks) are
//! still read; the first append then moves to format 2 by rotation.

use embedded_storage::nor_flash::NorFlash;

use crate::codec::{crc32, get_u32, is_erased, put};
use crate::error::{Error, OpError};
use crate::record::{Record, RECORD_LEN};

/// The journal entry format written by this code.
pub const FORMAT: u8 = 2;
/// Bytes of an entry body before padding: header, record, CRC-32.
pub const ENTRY_LEN: usize = field::CRC + 4;
/// Bytes of a format-1 entry (sequence number, record, CRC-32): read, never written.
pub const V1_ENTRY_LEN: usize = 4 + RECORD_LEN + 4;
/// Largest supported write size.
pub const MAX_WRITE_SIZE: u32 = 32;
/// Smallest supported erase size.
pub const MIN_ERASE_SIZE: u32 = 256;
/// Largest supported erase size.
pub const MAX_ERASE_SIZE: u32 = 256 * 1024;
/// Most sectors a region may have (the count is stored in one byte of every entry).
pub const MAX_SECTORS: u32 = 255;
/// The value every byte of a written ack or claim mark holds.
pub const MARK: u8 = 0x00;
/// Position size for the largest write size: the scratch buffer's size.
const MAX_POSITION: usize = 224;
/// The sequence number of an erased entry; never written.
const SEQ_ERASED: u32 = u32::MAX;

/// Byte offsets of a journal entry body (see `docs/FORMAT.md`).
pub mod field {
    /// Sequence number (u32), 1 for the first entry, +1 per entry.
    pub const SEQ: usize = 0;
    /// Journal entry format (u8), [`super::FORMAT`].
    pub const FORMAT: usize = 4;
    /// log2 of the region's write size (u8).
    pub const WRITE_LOG2: usize = 5;
    /// log2 of the region's erase size (u8).
    pub const ERASE_LOG2: usize = 6;
    /// Number of sectors of the region (u8).
    pub const SECTORS: usize = 7;
    /// CRC-32 of the entry this one was written on top of (u32; 0 for none).
    pub const PREV: usize = 8;
    /// The encoded record.
    pub const RECORD: usize = 12;
    /// CRC-32 over bytes 0..140 (u32).
    pub const CRC: usize = 140;
}

/// Where the journal lives and how the flash is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JournalConfig {
    /// Offset of the region in the flash device (erase-aligned).
    pub offset: u32,
    /// Size of the region: a multiple of `erase_size`, two to 255 sectors.
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

    fn round(&self, n: u32) -> u32 {
        let w = self.write_size.max(1);
        n.div_ceil(w).saturating_mul(w)
    }

    /// Size of an entry body: [`ENTRY_LEN`] rounded up to the write size.
    pub fn body_size(&self) -> u32 {
        self.round(ENTRY_LEN as u32)
    }

    /// Size of the ack mark and of the claim mark: the write size, at least 4 bytes.
    pub fn mark_size(&self) -> u32 {
        self.write_size.max(4)
    }

    /// Size of one position: body, ack mark, claim mark.
    pub fn entry_size(&self) -> u32 {
        self.body_size().saturating_add(self.mark_size().saturating_mul(2))
    }

    /// Positions per sector.
    pub fn entries_per_sector(&self) -> u32 {
        self.erase_size.checked_div(self.entry_size()).unwrap_or(0)
    }

    /// Number of sectors.
    pub fn sectors(&self) -> u32 {
        self.size.checked_div(self.erase_size).unwrap_or(0)
    }

    /// The geometry bytes every entry carries: log2 write size, log2 erase size, sectors.
    pub fn geometry(&self) -> [u8; 3] {
        [self.write_size.trailing_zeros() as u8, self.erase_size.trailing_zeros() as u8, self.sectors() as u8]
    }

    /// Checks the geometry on its own and against flash driver `F` of `capacity` bytes.
    pub fn validate<F: NorFlash>(&self, capacity: usize) -> Result<(), &'static str> {
        if !self.write_size.is_power_of_two() || self.write_size > MAX_WRITE_SIZE {
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
        if !self.entry_size().is_multiple_of(rs)
            || !self.offset.is_multiple_of(rs)
            || !self.mark_size().is_multiple_of(rs)
        {
            return Err("entries are not aligned to the flash's read size");
        }
        if !self.offset.is_multiple_of(self.erase_size) || !self.size.is_multiple_of(self.erase_size) {
            return Err("region offset and size must be erase-aligned");
        }
        if !(2..=MAX_SECTORS).contains(&self.sectors()) {
            return Err("region must span 2 to 255 erase sectors");
        }
        match self.offset.checked_add(self.size) {
            Some(end) if end as usize <= capacity => Ok(()),
            _ => Err("region runs past the end of the flash"),
        }
    }

    /// Flash offset of position `p`'s first byte.
    pub fn position_offset(&self, p: Pos) -> Option<u32> {
        self.offset
            .checked_add(p.sector.checked_mul(self.erase_size)?)?
            .checked_add(p.index.checked_mul(self.entry_size())?)
    }

    fn sector_offset(&self, sector: u32) -> Option<u32> {
        self.position_offset(Pos { sector, index: 0 })
    }

    fn v1_entry_size(&self) -> u32 {
        self.round(V1_ENTRY_LEN as u32)
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

/// The entry the record is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Head {
    /// Its sequence number.
    pub seq: u32,
    /// Where it is (for a format-1 entry: its index at the format-1 entry size).
    pub pos: Pos,
    /// Its ack mark reads as written: the entry is solid.
    pub acked: bool,
    /// Its CRC: the next entry's `prev`.
    pub crc: u32,
    /// Its entry format (1 or [`FORMAT`]).
    pub format: u8,
}

/// What the last scan found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Found {
    /// Every entry position is erased.
    Blank,
    /// Something is written, but no entry is valid.
    NoValidRecord,
    /// The head.
    Valid(Head),
}

/// A valid entry seen by a scan.
#[derive(Clone, Debug)]
struct Seen {
    head: Head,
    prev: u32,
    record: Record,
}

/// The journal over flash `F`.
#[derive(Debug)]
pub struct Journal<F> {
    flash: F,
    cfg: JournalConfig,
    found: Found,
    record: Option<Record>,
    /// The sector no rotation may erase: the anchor's (or, without one, the head's).
    keep: Option<u32>,
    /// A valid entry whose geometry bytes differ from `cfg` was seen (and ignored).
    mismatch: Option<[u8; 3]>,
}

impl<F: NorFlash> Journal<F> {
    /// Validates the geometry and scans the region. A blank or corrupt region is not an
    /// error here: see [`Journal::found`] and [`Journal::record`].
    pub fn open(flash: F, cfg: JournalConfig) -> Result<Self, Error<F::Error>> {
        cfg.validate::<F>(flash.capacity()).map_err(Error::Geometry)?;
        let mut j = Journal { flash, cfg, found: Found::Blank, record: None, keep: None, mismatch: None };
        j.rescan()?;
        Ok(j)
    }

    /// Reads position `p` into `buf` (its whole entry size) and returns it.
    fn read_pos<'b>(&mut self, p: Pos, buf: &'b mut [u8; MAX_POSITION]) -> Result<&'b [u8], Error<F::Error>> {
        let off = self.cfg.position_offset(p).ok_or(Error::Geometry("offset overflow"))?;
        let b = buf.get_mut(..self.cfg.entry_size() as usize).ok_or(Error::Geometry("entry too large"))?;
        self.flash.read(off, b).map_err(Error::Flash)?;
        Ok(b)
    }

    /// Decodes position bytes `b` as a format-2 entry of this geometry.
    fn seen(&mut self, b: &[u8], pos: Pos) -> Option<Seen> {
        let body = b.get(..ENTRY_LEN)?;
        let (seq, prev, geometry, record) = decode_entry(body)?;
        if geometry != self.cfg.geometry() {
            self.mismatch = Some(geometry);
            return None;
        }
        let (bs, ms) = (self.cfg.body_size() as usize, self.cfg.mark_size() as usize);
        let acked = b.get(bs..bs.checked_add(ms)?).is_some_and(|m| m.iter().all(|&x| x == MARK));
        let crc = get_u32(body, field::CRC)?;
        Some(Seen { head: Head { seq, pos, acked, crc, format: FORMAT }, prev, record })
    }

    /// Scans the region again (after another writer may have appended): the newest entry
    /// when it is valid and solid ([`Self::newest_if_solid`]), else every position.
    pub fn rescan(&mut self) -> Result<(), Error<F::Error>> {
        if !self.newest_if_solid()? {
            self.scan_all()?;
        }
        Ok(())
    }

    /// The sequence number a position's first bytes claim, when they look like the start
    /// of a format-2 entry (neither 0 nor erased, format byte [`FORMAT`]); a hint only,
    /// never trusted: the entry is decoded and checked before it counts.
    fn hint(&mut self, p: Pos) -> Result<Option<u32>, Error<F::Error>> {
        // The bytes through the format byte, in whole read units.
        let rs = F::READ_SIZE.max(1);
        let n = (field::FORMAT + 1).div_ceil(rs).saturating_mul(rs);
        let mut small = [0u8; MAX_WRITE_SIZE as usize];
        match small.get_mut(..n) {
            Some(b) => {
                let off = self.cfg.position_offset(p).ok_or(Error::Geometry("offset overflow"))?;
                self.flash.read(off, b).map_err(Error::Flash)?;
                Ok(hint_of(b))
            }
            // A read unit above 32 bytes: the whole position (a whole number of units).
            None => Ok(hint_of(self.read_pos(p, &mut [0u8; MAX_POSITION])?)),
        }
    }

    /// Takes the head without reading the whole region, when that gives the full scan's
    /// answer: each position's first bytes are read for the sequence number they claim
    /// ([`Self::hint`]) and the position with the highest claim, (sequence number, sector,
    /// index) ordered as the full scan orders entries, is decoded. When that entry is valid
    /// and solid, it is the head: no valid entry is above it, so none can be a newer anchor
    /// or extend it. That is the common case, whatever the region's fill: every position's
    /// first word read once and one entry read whole. Returns `false`, changing nothing,
    /// when the newest entry is torn, weak, unacknowledged or absent; the full scan decides.
    fn newest_if_solid(&mut self) -> Result<bool, Error<F::Error>> {
        let mut top: Option<(u32, u32, u32)> = None;
        for pos in self.positions() {
            if let Some(seq) = self.hint(pos)? {
                top = top.max(Some((seq, pos.sector, pos.index)));
            }
        }
        let Some((_, sector, index)) = top else { return Ok(false) };
        let pos = Pos { sector, index };
        let mut buf = [0u8; MAX_POSITION];
        let b = self.read_pos(pos, &mut buf)?;
        let Some(s) = self.seen(b, pos).filter(|s| s.head.acked) else { return Ok(false) };
        self.mismatch = None;
        self.keep = Some(sector);
        self.found = Found::Valid(s.head);
        self.record = Some(s.record);
        Ok(true)
    }

    /// Reads and decodes every position: the head, whether the region is blank or holds
    /// no valid entry, and whether a valid entry has another geometry.
    fn scan_all(&mut self) -> Result<(), Error<F::Error>> {
        let mut buf = [0u8; MAX_POSITION];
        let mut any_written = false;
        let mut anchor: Option<Seen> = None;
        let mut newest: Option<Seen> = None;
        let mut unacked = false;
        self.mismatch = None;
        for pos in self.positions() {
            let b = self.read_pos(pos, &mut buf)?;
            if is_erased(b) {
                continue;
            }
            any_written = true;
            let Some(s) = self.seen(b, pos) else { continue };
            unacked |= !s.head.acked;
            if s.head.acked && anchor.as_ref().is_none_or(|a| s.head.seq >= a.head.seq) {
                anchor = Some(s.clone());
            }
            if newest.as_ref().is_none_or(|n| s.head.seq >= n.head.seq) {
                newest = Some(s);
            }
        }
        let anchor_sector = anchor.as_ref().map(|a| a.head.pos.sector);
        let head = match anchor {
            // The anchor, or the write that was cut during its ack (a second pass).
            Some(a) if unacked => Some(self.extension(&a, &mut buf)?.unwrap_or(a)),
            Some(a) => Some(a),
            None => newest,
        };
        let head = match head {
            Some(h) => Some(h),
            None if any_written => self.scan_v1()?,
            None => None,
        };
        match head {
            Some(s) => {
                self.keep = anchor_sector.or(Some(s.head.pos.sector));
                self.found = Found::Valid(s.head);
                self.record = Some(s.record);
            }
            None => {
                self.keep = None;
                self.found = if any_written { Found::NoValidRecord } else { Found::Blank };
                self.record = None;
            }
        }
        Ok(())
    }

    /// The last unacknowledged entry that extends `anchor`, if any.
    fn extension(&mut self, anchor: &Seen, buf: &mut [u8; MAX_POSITION]) -> Result<Option<Seen>, Error<F::Error>> {
        let want = anchor.head.seq.checked_add(1);
        let mut found = None;
        for pos in self.positions() {
            let b = self.read_pos(pos, buf)?;
            if let Some(s) = self.seen(b, pos) {
                if !s.head.acked && Some(s.head.seq) == want && s.prev == anchor.head.crc {
                    found = Some(s);
                }
            }
        }
        Ok(found)
    }

    /// Reads the region as format 1 (entries without marks): the newest valid entry.
    fn scan_v1(&mut self) -> Result<Option<Seen>, Error<F::Error>> {
        let es = self.cfg.v1_entry_size();
        let per = self.cfg.erase_size.checked_div(es).unwrap_or(0);
        let mut buf = [0u8; MAX_POSITION];
        let entry = buf.get_mut(..es as usize).ok_or(Error::Geometry("entry too large"))?;
        let mut best: Option<Seen> = None;
        for sector in 0..self.cfg.sectors() {
            for index in 0..per {
                let off = self
                    .cfg
                    .sector_offset(sector)
                    .and_then(|o| o.checked_add(index.checked_mul(es)?))
                    .ok_or(Error::Geometry("offset overflow"))?;
                self.flash.read(off, entry).map_err(Error::Flash)?;
                let Some((seq, record)) = decode_v1_entry(entry) else { continue };
                if best.as_ref().is_none_or(|b| seq >= b.head.seq) {
                    let crc = get_u32(entry, V1_ENTRY_LEN.saturating_sub(4)).unwrap_or(0);
                    let head = Head { seq, pos: Pos { sector, index }, acked: true, crc, format: 1 };
                    best = Some(Seen { head, prev: 0, record });
                }
            }
        }
        Ok(best)
    }

    fn positions(&self) -> impl Iterator<Item = Pos> {
        let per = self.cfg.entries_per_sector();
        (0..self.cfg.sectors()).flat_map(move |sector| (0..per).map(move |index| Pos { sector, index }))
    }

    /// What the last scan found.
    pub fn found(&self) -> Found {
        self.found
    }

    /// The geometry bytes of a valid entry that did not match this journal's
    /// configuration (the region was written with another geometry), if the last scan
    /// saw one. Such entries are ignored.
    pub fn geometry_mismatch(&self) -> Option<[u8; 3]> {
        self.mismatch
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

    /// Whether the head is solid: acknowledged, in the current format. A writer that finds
    /// it is not rewrites the record before relying on it (see the module docs).
    pub fn head_is_solid(&self) -> bool {
        matches!(self.found, Found::Valid(h) if h.acked && h.format == FORMAT)
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

    /// Appends `record` as the new newest entry (three programs, plus one sector erase
    /// when the head's sector is full). Fails with [`Error::Blank`] or
    /// [`Error::NoValidRecord`] when there is no record yet (see [`Journal::initialize`]).
    pub fn append(&mut self, record: &Record) -> Result<(), Error<F::Error>> {
        let head = match self.found {
            Found::Valid(h) => h,
            Found::Blank => return Err(Error::Blank),
            Found::NoValidRecord => return Err(Error::NoValidRecord),
        };
        match head.seq.checked_add(1).filter(|&s| s != SEQ_ERASED) {
            Some(seq) => self.place(Some(head), seq, head.crc, record, false),
            None => self.renumber(record),
        }
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

    /// Applies `change` to a copy of the current record and appends it if it changed, or
    /// if the head is not solid (so what the caller saw becomes durable). Returns whether
    /// an entry was written.
    pub fn update(&mut self, change: impl FnOnce(&mut Record) -> Result<(), OpError>) -> Result<bool, Error<F::Error>> {
        let mut next = self.record()?.clone();
        change(&mut next)?;
        if self.head_is_solid() && self.record.as_ref().is_some_and(|r| r.encode() == next.encode()) {
            return Ok(false);
        }
        self.append(&next)?;
        Ok(true)
    }

    /// Writes `record` as a new record. On a region with a valid record this is an
    /// ordinary append (the old state stays until the new entry is solid). On a blank or
    /// corrupt region, sector 0 (or the next that works) is erased and the entry written
    /// at its start with sequence number 1.
    pub fn initialize(&mut self, record: &Record) -> Result<(), Error<F::Error>> {
        match self.found {
            Found::Valid(_) => self.append(record),
            Found::Blank | Found::NoValidRecord => self.place(None, 1, 0, record, true),
        }
    }

    /// Writes the entry after the head (in its sector, else by rotation).
    fn place(
        &mut self,
        head: Option<Head>,
        seq: u32,
        prev: u32,
        record: &Record,
        rotate: bool,
    ) -> Result<(), Error<F::Error>> {
        let entry = encode_entry(seq, prev, self.cfg.geometry(), record);
        let crc = get_u32(&entry, field::CRC).unwrap_or(0);
        let mut body = [0xFFu8; MAX_POSITION];
        put(&mut body, 0, &entry);
        let body = body.get(..self.cfg.body_size() as usize).ok_or(Error::Geometry("entry too large"))?;
        let mut last_err = Error::WriteFailed;
        if let Some(h) = head.filter(|h| h.format == FORMAT && !rotate) {
            if let Some(last) = self.last_used(h.pos.sector, h.pos.index)? {
                match self.fill(h.pos.sector, last, body) {
                    Ok(pos) => return self.placed(pos, seq, crc, record),
                    Err(e) => last_err = e,
                }
            }
        }
        // Rotation: the sectors after the head's, the anchor's never, the head's last.
        let n = self.cfg.sectors();
        let start = head.map_or(n.saturating_sub(1), |h| h.pos.sector);
        for i in 1..=n {
            let v = start.checked_add(i).and_then(|s| s.checked_rem(n)).unwrap_or(0);
            if Some(v) == self.keep {
                continue;
            }
            let from = self.cfg.sector_offset(v).ok_or(Error::Geometry("offset overflow"))?;
            let to = from.checked_add(self.cfg.erase_size).ok_or(Error::Geometry("offset overflow"))?;
            if let Err(e) = self.flash.erase(from, to) {
                last_err = Error::Flash(e);
                continue;
            }
            let first = Pos { sector: v, index: 0 };
            let done = match self.write_at(first, body) {
                Ok(()) => Ok(first),
                Err(_) => self.fill(v, 0, body),
            };
            match done {
                Ok(pos) => return self.placed(pos, seq, crc, record),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn placed(&mut self, pos: Pos, seq: u32, crc: u32, record: &Record) -> Result<(), Error<F::Error>> {
        self.found = Found::Valid(Head { seq, pos, acked: true, crc, format: FORMAT });
        self.record = Some(record.clone());
        self.keep = Some(pos.sector);
        Ok(())
    }

    /// Tries the positions after `last` in `sector`: claim the previous, then write.
    fn fill(&mut self, sector: u32, mut last: u32, body: &[u8]) -> Result<Pos, Error<F::Error>> {
        let mut err = Error::WriteFailed;
        loop {
            let next = last.checked_add(1).filter(|&n| n < self.cfg.entries_per_sector()).ok_or(err)?;
            let claimed = self.write_mark(Pos { sector, index: last }, true);
            let t = Pos { sector, index: next };
            match claimed.and_then(|()| self.write_at(t, body)) {
                Ok(()) => return Ok(t),
                Err(e) => err = e,
            }
            last = next;
        }
    }

    /// Programs the body at `p`, reads it back, then programs and reads back its ack.
    fn write_at(&mut self, p: Pos, body: &[u8]) -> Result<(), Error<F::Error>> {
        let off = self.cfg.position_offset(p).ok_or(Error::Geometry("offset overflow"))?;
        self.program_checked(off, body)?;
        self.write_mark(p, false)
    }

    /// Programs `p`'s ack mark (or, with `claim`, its claim mark) and reads it back.
    fn write_mark(&mut self, p: Pos, claim: bool) -> Result<(), Error<F::Error>> {
        let ms = self.cfg.mark_size();
        let at = if claim { self.cfg.body_size().saturating_add(ms) } else { self.cfg.body_size() };
        let off =
            self.cfg.position_offset(p).and_then(|o| o.checked_add(at)).ok_or(Error::Geometry("offset overflow"))?;
        let mark = [MARK; MAX_WRITE_SIZE as usize];
        self.program_checked(off, mark.get(..ms as usize).ok_or(Error::Geometry("mark too large"))?)
    }

    fn program_checked(&mut self, off: u32, data: &[u8]) -> Result<(), Error<F::Error>> {
        self.flash.write(off, data).map_err(Error::Flash)?;
        let mut back = [0u8; MAX_POSITION];
        let back = back.get_mut(..data.len()).ok_or(Error::Geometry("write too large"))?;
        self.flash.read(off, back).map_err(Error::Flash)?;
        if back != data {
            return Err(Error::WriteFailed);
        }
        Ok(())
    }

    /// The last used position of `sector` at or after `from` (`None`: those positions are
    /// erased). A position is used when any of its bytes is programmed or the previous
    /// one's claim mark is. The caller passes the head's index: the head's position is used,
    /// so the positions before it cannot be the last.
    fn last_used(&mut self, sector: u32, from: u32) -> Result<Option<u32>, Error<F::Error>> {
        let mut buf = [0u8; MAX_POSITION];
        let claim_at = self.cfg.body_size().saturating_add(self.cfg.mark_size()) as usize;
        let mut last = None;
        let mut claimed = false;
        for index in from..self.cfg.entries_per_sector() {
            let b = self.read_pos(Pos { sector, index }, &mut buf)?;
            if claimed || !is_erased(b) {
                last = Some(index);
            }
            claimed = !b.get(claim_at..).is_none_or(is_erased);
        }
        Ok(last)
    }

    /// The sequence numbers ran out: write `record` as sequence 1 in a fresh sector, then
    /// erase every other sector, the anchor's last (until then the old head still wins).
    fn renumber(&mut self, record: &Record) -> Result<(), Error<F::Error>> {
        let Found::Valid(head) = self.found else { return Err(Error::NoValidRecord) };
        let old_keep = self.keep;
        self.place(Some(head), 1, 0, record, true)?;
        let new_sector = self.keep;
        let others = (0..self.cfg.sectors()).filter(|&v| Some(v) != new_sector && Some(v) != old_keep);
        for v in others.chain(old_keep.filter(|&k| Some(k) != new_sector)) {
            let from = self.cfg.sector_offset(v).ok_or(Error::Geometry("offset overflow"))?;
            let to = from.checked_add(self.cfg.erase_size).ok_or(Error::Geometry("offset overflow"))?;
            self.flash.erase(from, to).map_err(Error::Flash)?;
        }
        Ok(())
    }
}

/// The sequence number entry bytes `b` claim ([`Journal::hint`]).
fn hint_of(b: &[u8]) -> Option<u32> {
    let seq = get_u32(b, field::SEQ)?;
    (seq != SEQ_ERASED && seq != 0 && b.get(field::FORMAT) == Some(&FORMAT)).then_some(seq)
}

/// Encodes an entry body (without padding).
pub fn encode_entry(seq: u32, prev: u32, geometry: [u8; 3], record: &Record) -> [u8; ENTRY_LEN] {
    let mut b = [0u8; ENTRY_LEN];
    put(&mut b, field::SEQ, &seq.to_le_bytes());
    put(&mut b, field::FORMAT, &[FORMAT]);
    put(&mut b, field::WRITE_LOG2, &geometry);
    put(&mut b, field::PREV, &prev.to_le_bytes());
    put(&mut b, field::RECORD, &record.encode());
    let crc = crc32(b.get(..field::CRC).unwrap_or(&[]));
    put(&mut b, field::CRC, &crc.to_le_bytes());
    b
}

/// Decodes an entry body (padding ignored): `Some((seq, prev, geometry, record))` when it
/// is a valid format-2 entry.
pub fn decode_entry(b: &[u8]) -> Option<(u32, u32, [u8; 3], Record)> {
    let seq = get_u32(b, field::SEQ)?;
    if seq == SEQ_ERASED || seq == 0 || b.get(field::FORMAT) != Some(&FORMAT) {
        return None;
    }
    let crc = get_u32(b, field::CRC)?;
    if crc32(b.get(..field::CRC)?) != crc {
        return None;
    }
    let geometry: [u8; 3] = b.get(field::WRITE_LOG2..field::PREV)?.try_into().ok()?;
    let prev = get_u32(b, field::PREV)?;
    let rec = Record::decode(b.get(field::RECORD..field::CRC)?).ok()?;
    Some((seq, prev, geometry, rec))
}

/// Decodes a format-1 entry (`seq | record | CRC-32`): `Some((seq, record))` when valid.
pub fn decode_v1_entry(b: &[u8]) -> Option<(u32, Record)> {
    let seq = get_u32(b, 0)?;
    if seq == SEQ_ERASED || seq == 0 {
        return None;
    }
    let crc_at = V1_ENTRY_LEN.checked_sub(4)?;
    if crc32(b.get(..crc_at)?) != get_u32(b, crc_at)? {
        return None;
    }
    Some((seq, Record::decode(b.get(4..crc_at)?).ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;
    use crate::ops;
    use crate::policy::{BootKind, Decision, ImageInfo, Inputs, Verdict};
    use crate::select::{select, FreshRecord};
    use crate::sim::{CutKind, SimConfig, SimFlash, Stats, WriteFault};
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
            write_count: crate::nor::WriteCount::from_program_once(program_once),
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

    fn head(j: &Journal<impl NorFlash>) -> Head {
        match j.found() {
            Found::Valid(h) => h,
            other => panic!("no head: {other:?}"),
        }
    }

    fn with_floor(n: u32) -> Record {
        let mut r = Record::fresh(2, Tries::DEFAULT);
        r.rollback_floor = n;
        r
    }

    /// Boots with A valid and B absent, as the boot stage does; the boot kind.
    fn boot(j: &mut Journal<impl NorFlash>) -> Option<BootKind> {
        let sel = select(j, Inputs::default(), FreshRecord::default(), |_, s| {
            if s == SlotId::A {
                valid()
            } else {
                Verdict::Invalid(crate::Reason::NoImage)
            }
        })
        .ok()?;
        match sel.decision {
            Decision::Boot(p) => Some(p.kind),
            Decision::Recovery(_) => None,
        }
    }

    #[test]
    fn blank_region() {
        let c = cfg(W, E, 2);
        let mut j = Journal::open(flash(c, true), c).unwrap();
        assert_eq!(j.found(), Found::Blank);
        assert_eq!(j.record(), Err(Error::Blank));
        assert_eq!(j.seq(), 0);
        assert!(!j.head_is_solid());
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
        assert_eq!(j.found(), Found::NoValidRecord);
        assert_eq!(j.record(), Err(Error::NoValidRecord));
        assert_eq!(j.append(&Record::fresh(2, Tries::DEFAULT)), Err(Error::NoValidRecord));
        assert_eq!(j.append_expecting(0, &Record::fresh(2, Tries::DEFAULT)), Err(Error::NoValidRecord));
        assert_eq!(j.flash_mut().mutating_ops(), 0);
        // initialize is the explicit way out: erase sector 0, write seq 1 (body + ack).
        let r = Record::fresh(4, Tries::MAX);
        j.initialize(&r).unwrap();
        assert_eq!(ops_only(j.flash_mut().stats()), (2, 1));
        assert_eq!(j.seq(), 1);
        let j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!(j.record(), Ok(&r));
        assert_eq!(head(&j).pos, Pos { sector: 0, index: 0 });
        assert!(j.head_is_solid());
    }

    #[test]
    fn a_valid_entry_with_a_foreign_record_inside_is_garbage() {
        // The entry CRC is right but the record inside does not decode.
        let c = cfg(W, E, 2);
        let mut f = flash(c, false);
        let mut body = encode_entry(1, 0, c.geometry(), &Record::fresh(2, Tries::DEFAULT));
        body[field::RECORD + 4] = 9; // record format 9
        let crc = crc32(&body[..field::CRC]);
        body[field::CRC..].copy_from_slice(&crc.to_le_bytes());
        f.bytes_mut()[..ENTRY_LEN].copy_from_slice(&body);
        let j = Journal::open(f, c).unwrap();
        assert_eq!(j.found(), Found::NoValidRecord);
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
        // At most 255 sectors: the count is stored in one byte of every entry.
        let many = SimFlash::new(SimConfig {
            size: 256 * 256,
            write_size: 1,
            erase_size: 256,
            write_count: crate::nor::WriteCount::Unlimited,
        });
        assert!(matches!(Journal::open(many.unwrap(), cfg(1, 256, 256)), Err(Error::Geometry(_))));
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
        for (w, body, mark, size) in [
            (1, 144, 4, 152),
            (2, 144, 4, 152),
            (4, 144, 4, 152),
            (8, 144, 8, 160),
            (16, 144, 16, 176),
            (32, 160, 32, 224),
        ] {
            let c = cfg(w, 256, 2);
            assert_eq!((c.body_size(), c.mark_size(), c.entry_size()), (body, mark, size), "w={w}");
            assert!(c.entry_size() as usize <= MAX_POSITION);
        }
        assert_eq!(cfg(8, 256, 2).entries_per_sector(), 1);
        assert_eq!(cfg(32, 256, 2).entries_per_sector(), 1);
        assert_eq!(cfg(8, 2048, 2).entries_per_sector(), 12);
        assert_eq!(cfg(32, 4096, 3).entries_per_sector(), 18);
        assert_eq!(cfg(32, 4096, 3).sectors(), 3);
        assert_eq!(cfg(8, 4096, 2).geometry(), [3, 12, 2]);
    }

    /// Issue #18: opening a region of solid entries reads each position's first word once
    /// and one entry whole, however full the region is (one entry, half, full, rotated).
    #[test]
    fn open_reads_each_position_once_one_entry_whole_and_writes_nothing() {
        let c = cfg(W, 512, 3);
        let positions = u64::from(c.entries_per_sector() * c.sectors());
        let mut j = initialised(c);
        for appended in 0..positions * 2 {
            let mut f = j.into_inner();
            let before = f.stats();
            let opened = Journal::open(&mut f, c).unwrap();
            assert_eq!(opened.seq() as u64, appended + 1);
            let s = f.stats();
            assert_eq!(ops_only(s), ops_only(before), "open never writes or erases");
            assert_eq!(s.reads - before.reads, positions + 1, "after {appended} appends");
            j = Journal::open(f, c).unwrap();
            j.append(&with_floor(appended as u32)).unwrap();
        }
    }

    /// The newest-first scan finds exactly the head the full scan finds (same entry, same
    /// record, same sector kept from rotation), on regions left by long sequences of appends
    /// with power cuts of every kind but weak bits (weak cells read differently on each
    /// read, so two scans of one region may differ by design), rotations included.
    #[test]
    fn the_newest_first_scan_picks_the_full_scans_head() {
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut compared = 0;
        for (w, erase, sectors) in [(1, 256, 2), (4, 512, 3), (8, 1024, 2), (16, 512, 4), (32, 1024, 3)] {
            let c = cfg(w, erase, sectors);
            let mut j = initialised(c);
            for step in 0..400u32 {
                let r = next();
                if r % 2 == 0 {
                    let at = j.flash_mut().mutating_ops() + (r >> 8) % 4;
                    let seed = r >> 16;
                    let kind = match (r >> 4) % 5 {
                        0 => CutKind::Before,
                        1 => CutKind::After,
                        2 => CutKind::TornPrefix(((r >> 12) % 8) as usize),
                        3 => CutKind::TornBits(seed),
                        _ => CutKind::EraseMix(seed),
                    };
                    j.flash_mut().arm_cut(at, kind);
                }
                let _ = j.append(&with_floor(step));
                j.flash_mut().power_cycle();
                let fast = Journal::open(j.into_inner(), c).unwrap();
                let got = (fast.found(), fast.record().ok().cloned(), fast.keep);
                let mut full = fast;
                full.scan_all().unwrap();
                assert_eq!(got, (full.found(), full.record().ok().cloned(), full.keep), "w={w} step {step}");
                assert!(matches!(got.0, Found::Valid(_)), "w={w} step {step}: the record was lost");
                compared += 1;
                j = full;
            }
        }
        assert_eq!(compared, 2000);
    }

    #[test]
    fn trial_boot_is_three_programs_and_confirmed_boot_writes_nothing() {
        let c = cfg(W, 1024, 2); // 6 positions per sector: no rotation in this test
        let mut j = initialised(c);
        assert_eq!(boot(&mut j), Some(BootKind::Trial));
        let s = j.flash_mut().stats();
        let per = u64::from(c.entries_per_sector());
        // claim of the head's position, body, ack; each read back; the sector scanned for
        // its last used position.
        assert_eq!((s.programs, s.erases, s.reads), (3, 0, 3 + per));
        assert_eq!(s.bytes_programmed, u64::from(c.entry_size()));
        assert_eq!(j.seq(), 2);

        j.flash_mut().reset_stats();
        assert!(j.update(|r| ops::mark_good(r, SlotId::A)).unwrap());
        assert_eq!(ops_only(j.flash_mut().stats()), (3, 0));
        assert_eq!(j.seq(), 3);

        // The first confirmed boot records nothing new: last_booted is already A.
        j.flash_mut().reset_stats();
        assert_eq!(boot(&mut j), Some(BootKind::Confirmed));
        assert_eq!(j.flash_mut().stats(), Stats::default(), "a confirmed boot touches no flash at all");
        assert_eq!(j.seq(), 3);

        // mark_good again: unchanged record, nothing written.
        assert!(!j.update(|r| ops::mark_good(r, SlotId::A)).unwrap());
        assert_eq!(j.flash_mut().stats(), Stats::default());
    }

    #[test]
    fn blank_first_boot_is_one_erase_and_two_programs() {
        let c = cfg(W, 512, 2);
        let mut j = Journal::open(flash(c, true), c).unwrap();
        j.flash_mut().reset_stats();
        let sel = select(&mut j, Inputs::default(), FreshRecord::default(), |_, _| valid()).unwrap();
        // A blank region gets a fresh record whose history starts with its creation.
        assert!(j.record().unwrap().history().any(|h| h.event == crate::record::Event::Created));
        assert_eq!(sel.seq, 1);
        assert!(sel.recorded);
        assert_eq!(ops_only(j.flash_mut().stats()), (2, 1));
    }

    #[test]
    fn rotation_keeps_the_anchor_and_alternates_sectors() {
        let c = cfg(W, 512, 3); // 3 positions per sector
        let per = c.entries_per_sector();
        assert_eq!(per, 3);
        let mut j = initialised(c);
        for n in 2..=20u32 {
            let r = with_floor(n);
            j.flash_mut().reset_stats();
            j.append(&r).unwrap();
            let rotated = (n - 1) % per == 0;
            let s = j.flash_mut().stats();
            // A rotation erases and writes body + ack at position 0; otherwise claim too.
            assert_eq!(ops_only(s), if rotated { (2, 1) } else { (3, 0) }, "append #{n}");
            let h = head(&j);
            assert_eq!(h.seq, n);
            assert!(h.acked);
            assert_eq!(h.pos, Pos { sector: ((n - 1) / per) % 3, index: (n - 1) % per });
            let again = Journal::open(j.flash_mut(), c).unwrap();
            assert_eq!(again.found(), Found::Valid(h));
            assert_eq!(again.record(), Ok(&r));
        }
    }

    #[test]
    fn the_largest_sectors_fill_rotate_and_reopen() {
        // 256 KiB blocks, as on the CFI NOR of the SoC board (write size 1 as Linux
        // reports it there): fill the first sector, rotate, and reopen.
        let c = cfg(1, MAX_ERASE_SIZE, 2);
        let per = c.entries_per_sector();
        assert_eq!(per, MAX_ERASE_SIZE / c.entry_size());
        let mut j = initialised(c);
        for n in 2..=per + 1 {
            j.append(&with_floor(n)).unwrap();
        }
        assert_eq!(head(&j).pos, Pos { sector: 1, index: 0 });
        let again = Journal::open(j.flash_mut(), c).unwrap();
        assert_eq!(again.record().unwrap().rollback_floor, per + 1);
        let too_big = cfg(1, MAX_ERASE_SIZE * 2, 2);
        assert!(matches!(Journal::open(flash(cfg(1, 256, 2), false), too_big), Err(Error::Geometry(_))));
    }

    #[test]
    fn a_torn_entry_is_skipped_and_never_programmed_over() {
        let c = cfg(W, 1024, 2);
        let mut j = initialised(c);
        // Tear the second entry: its claim landed, then only half of its body.
        let at = j.flash_mut().mutating_ops();
        j.flash_mut().arm_cut(at + 1, CutKind::TornPrefix(8));
        assert!(j.append(&with_floor(7)).is_err());
        j.flash_mut().power_cycle();
        let mut j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!((j.seq(), j.record().unwrap().rollback_floor), (1, 0));
        j.append(&with_floor(8)).unwrap(); // program-once flash: fails on any touched word
        assert_eq!((head(&j).seq, head(&j).pos.index), (2, 2));
    }

    /// Issue #12, failure 2: with a cut at the first program of three boots in a row, each
    /// leaving a word marked programmed that still reads erased (`TornPrefix(0)` on ECC
    /// flash), the old journal kept pointing at the same position and refused every write
    /// from then on. Now each boot skips what it cannot use and the next one rotates.
    #[test]
    fn repeated_torn_first_words_never_wedge_program_once_flash() {
        for w in [1u32, 2, 4, 8, 16, 32] {
            let c = JournalConfig { offset: 0x1000, size: 0x1000, write_size: w, erase_size: 0x800 };
            let mut f = SimFlash::new(SimConfig {
                size: 0x6000,
                write_size: w as usize,
                erase_size: 0x800,
                write_count: crate::nor::WriteCount::Once,
            })
            .unwrap();
            let mut j = Journal::open(&mut f, c).unwrap();
            assert_eq!(boot(&mut j), Some(BootKind::Trial));
            for cut_boot in 0..40 {
                let mut j = Journal::open(&mut f, c).unwrap();
                let at = j.flash_mut().mutating_ops();
                j.flash_mut().arm_cut(at, CutKind::TornPrefix(0));
                let _ = boot(&mut j);
                f.power_cycle();
                assert!(Journal::open(&mut f, c).unwrap().record().is_ok(), "w={w} boot {cut_boot}: record lost");
                // Without a fault, the next write always succeeds.
                let mut probe = f.clone();
                let mut jp = Journal::open(&mut probe, c).unwrap();
                assert!(jp.update(|r| ops::set_active(r, SlotId::B, Tries::DEFAULT)).is_ok(), "w={w}: wedged");
            }
        }
    }

    /// A body program cut in its first instant can leave a position whose cells read
    /// erased on one read and programmed on another. The claim mark written before it
    /// makes the position used, so the next entry never lands on those cells (where a
    /// weak bit the new entry leaves at 1 would later break its CRC: an acknowledged
    /// write lost).
    #[test]
    fn a_position_touched_but_reading_erased_is_never_reused() {
        for (once, shift) in [false, true].into_iter().flat_map(|o| (0..16).map(move |s| (o, s))) {
            let c = cfg(W, 1024, 2);
            let mut j = Journal::open(flash(c, once), c).unwrap();
            j.initialize(&Record::fresh(2, Tries::DEFAULT)).unwrap();
            let target = c.position_offset(Pos { sector: 0, index: 1 }).unwrap();
            // Find the body program of the next append, cut it before it lands...
            let mut dry = j.flash_mut().clone();
            let base = dry.mutating_ops();
            Journal::open(&mut dry, c).unwrap().append(&with_floor(1)).unwrap();
            let k = dry.op_log()[base as usize..]
                .iter()
                .position(|op| matches!(op, crate::sim::Op::Program { offset, .. } if *offset == target))
                .unwrap();
            j.flash_mut().arm_cut(base + k as u64, CutKind::Before);
            assert!(j.append(&with_floor(1)).is_err());
            j.flash_mut().power_cycle();
            // ...leaving one weak bit where the next entry's sequence number has a 1.
            j.flash_mut().weaken(target, 0x02);
            for _ in 0..shift {
                embedded_storage::nor_flash::ReadNorFlash::read(j.flash_mut(), target, &mut [0u8; 1]).unwrap();
                // another noise draw
            }
            let mut j = Journal::open(j.into_inner(), c).unwrap();
            j.append(&with_floor(2)).unwrap();
            let mut f = j.into_inner();
            for read in 0..64 {
                let j = Journal::open(&mut f, c).unwrap();
                assert_eq!(
                    (j.seq(), j.record().unwrap().rollback_floor),
                    (2, 2),
                    "once={once} shift {shift} read {read}"
                );
            }
        }
    }

    /// A silently dropped write is caught by the read-back, and the entry lands one
    /// position later; a flash that refuses every write leaves the record as it was.
    #[test]
    fn dropped_and_failed_writes_are_detected() {
        let c = cfg(W, 1024, 2);
        let mut j = initialised(c);
        j.flash_mut().set_write_fault(Some(WriteFault::Drop));
        assert!(j.append(&with_floor(3)).is_err());
        j.flash_mut().set_write_fault(Some(WriteFault::Error));
        assert!(j.append(&with_floor(3)).is_err());
        j.flash_mut().set_write_fault(None);
        let mut j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!(j.record().unwrap().rollback_floor, 0);
        j.append(&with_floor(4)).unwrap();
        let j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!(j.record().unwrap().rollback_floor, 4);
    }

    /// An entry whose ack was cut is valid but not solid: it is the head only while it
    /// extends the anchor, and any writer rewrites it before relying on it.
    #[test]
    fn an_unacknowledged_head_is_consolidated() {
        let c = cfg(W, 1024, 2);
        let mut j = initialised(c);
        j.append(&with_floor(2)).unwrap();
        // Cut after the body landed: at the ack's program (claim, body, ack = ops 0..3).
        let at = j.flash_mut().mutating_ops();
        j.flash_mut().arm_cut(at + 2, CutKind::Before);
        assert!(j.append(&with_floor(3)).is_err());
        j.flash_mut().power_cycle();
        let mut j = Journal::open(j.into_inner(), c).unwrap();
        let h = head(&j);
        assert_eq!((h.seq, h.acked), (3, false));
        assert!(!j.head_is_solid());
        // An unchanged update still writes: the state read becomes solid.
        assert!(j.update(|_| Ok(())).unwrap());
        let j = Journal::open(j.into_inner(), c).unwrap();
        assert!(j.head_is_solid());
        assert_eq!((j.seq(), j.record().unwrap().rollback_floor), (4, 3));
    }

    /// An unacknowledged entry that does not extend the newest solid entry never wins,
    /// whatever its sequence number (it was written on top of a state that later read
    /// otherwise), and the tie with an acknowledged entry goes to the acknowledged one.
    #[test]
    fn a_stale_unacknowledged_entry_never_wins() {
        let c = cfg(W, 1024, 2);
        let mut j = initialised(c);
        let anchor = head(&j);
        // A stray entry: seq 9, not acknowledged, on top of something else.
        let off = c.position_offset(Pos { sector: 0, index: 3 }).unwrap();
        let mut body = std::vec![0xFFu8; c.body_size() as usize];
        body[..ENTRY_LEN].copy_from_slice(&encode_entry(9, 0x1234, c.geometry(), &with_floor(99)));
        j.flash_mut().write(off, &body).unwrap();
        // And one with the anchor's seq + 1 but the wrong prev.
        let off = c.position_offset(Pos { sector: 1, index: 0 }).unwrap();
        body[..ENTRY_LEN].copy_from_slice(&encode_entry(2, 0x1234, c.geometry(), &with_floor(98)));
        j.flash_mut().write(off, &body).unwrap();
        let j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!(head(&j), anchor);
        assert_eq!(j.record().unwrap().rollback_floor, 0);
        assert!(j.head_is_solid());
    }

    /// With one position per sector, a head that is not solid must never make the
    /// rotation erase the sector holding the only solid entry (issue #12, weak bits).
    #[test]
    fn rotation_never_erases_the_only_solid_entry() {
        let c = cfg(8, 256, 2);
        assert_eq!(c.entries_per_sector(), 1);
        let mut j = initialised(c); // solid seq 1 in sector 0
        j.append(&with_floor(2)).unwrap(); // solid seq 2 in sector 1
                                           // seq 3 goes to sector 0 (erased first); cut at its ack: valid, not solid.
        let at = j.flash_mut().mutating_ops();
        j.flash_mut().arm_cut(at + 2, CutKind::Before);
        assert!(j.append(&with_floor(3)).is_err());
        j.flash_mut().power_cycle();
        let mut j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!((head(&j).seq, head(&j).acked, head(&j).pos.sector), (3, false, 0));
        // Consolidating must erase sector 0 (only unacknowledged data), never sector 1.
        let mut probe = j.flash_mut().clone();
        let base = probe.mutating_ops();
        let mut jp = Journal::open(&mut probe, c).unwrap();
        jp.update(|_| Ok(())).unwrap();
        let erased: std::vec::Vec<_> = probe.op_log()[base as usize..]
            .iter()
            .filter_map(|op| match op {
                crate::sim::Op::Erase { from, .. } => Some(*from),
                _ => None,
            })
            .collect();
        assert_eq!(erased, [0]);
        // And a cut in that erase leaves the solid seq 2.
        let at = j.flash_mut().mutating_ops();
        j.flash_mut().arm_cut(at, CutKind::EraseMix(3));
        assert!(j.update(|_| Ok(())).is_err());
        j.flash_mut().power_cycle();
        let j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!((j.seq(), j.record().unwrap().rollback_floor), (2, 2));
    }

    /// Sequence numbers never run out: at the last one, the record is written as 1 in a
    /// fresh sector and the others erased, the old head's last.
    #[test]
    fn sequence_exhaustion_renumbers_and_keeps_the_record() {
        for sectors in [2, 3] {
            let c = cfg(W, 512, sectors);
            let mut f = flash(c, true);
            let mut body = std::vec![0xFFu8; c.body_size() as usize];
            body[..ENTRY_LEN].copy_from_slice(&encode_entry(u32::MAX - 1, 0, c.geometry(), &with_floor(5)));
            f.write(0, &body).unwrap();
            let ack = std::vec![MARK; c.mark_size() as usize];
            f.write(c.body_size(), &ack).unwrap();
            let mut j = Journal::open(f, c).unwrap();
            assert_eq!(j.seq(), u32::MAX - 1);
            j.append(&with_floor(6)).unwrap();
            assert_eq!(j.seq(), 1);
            let mut j = Journal::open(j.into_inner(), c).unwrap();
            assert_eq!((j.seq(), j.record().unwrap().rollback_floor), (1, 6));
            j.append(&with_floor(7)).unwrap();
            assert_eq!(j.seq(), 2);
        }
    }

    /// Issue #17's geometry mismatch: entries carry their geometry, so a reader with
    /// another write or erase size sees no record (and is told why) instead of a stale one.
    #[test]
    fn a_region_written_with_another_geometry_is_not_read() {
        let c = cfg(8, 512, 4);
        let j = initialised(c);
        let f = j.into_inner();
        let other = JournalConfig { write_size: 16, ..c };
        let j = Journal::open(f.clone(), other).unwrap();
        assert_eq!(j.found(), Found::NoValidRecord);
        assert_eq!(j.geometry_mismatch(), Some([3, 9, 4]));
        let other = JournalConfig { erase_size: 1024, size: 2048, ..c };
        let j = Journal::open(f.clone(), other).unwrap();
        assert_eq!(j.found(), Found::NoValidRecord);
        let j = Journal::open(f, c).unwrap();
        assert_eq!(j.geometry_mismatch(), None);
    }

    /// A region written by format 1 is still read; the first append moves it to format 2
    /// by rotation, never touching the sector with the format-1 head.
    #[test]
    fn format_1_regions_are_read_and_migrated() {
        let c = cfg(8, 512, 2);
        let mut f = flash(c, true);
        let es = c.v1_entry_size() as usize;
        for (i, floor) in [(0usize, 1u32), (1, 2)] {
            let r = with_floor(floor);
            let mut b = std::vec![0xFFu8; es];
            b[0..4].copy_from_slice(&(i as u32 + 1).to_le_bytes());
            b[4..132].copy_from_slice(&r.encode());
            let crc = crc32(&b[..132]);
            b[132..136].copy_from_slice(&crc.to_le_bytes());
            f.write((i * es) as u32, &b).unwrap();
        }
        let mut j = Journal::open(f, c).unwrap();
        let h = head(&j);
        assert_eq!((h.seq, h.format, j.record().unwrap().rollback_floor), (2, 1, 2));
        assert!(!j.head_is_solid(), "a format-1 head is rewritten by the next writer");
        j.append(&with_floor(3)).unwrap();
        let h = head(&j);
        assert_eq!((h.seq, h.format, h.pos), (3, FORMAT, Pos { sector: 1, index: 0 }));
        let j = Journal::open(j.into_inner(), c).unwrap();
        assert_eq!((j.seq(), j.record().unwrap().rollback_floor), (3, 3));
    }

    #[test]
    fn append_expecting_detects_another_writer() {
        let c = cfg(W, 512, 2);
        let j = initialised(c);
        let mut mine = Journal::open(j.into_inner(), c).unwrap();
        let seen = mine.seq();
        let mut other_flash = mine.flash_mut().clone();
        let mut other = Journal::open(&mut other_flash, c).unwrap();
        let mut theirs = other.record().unwrap().clone();
        ops::mark_bad(&mut theirs, SlotId::B).unwrap();
        other.append(&theirs).unwrap();
        *mine.flash_mut() = other_flash;

        mine.flash_mut().reset_stats();
        assert_eq!(mine.append_expecting(seen, &with_floor(3)), Err(Error::Conflict));
        assert_eq!(ops_only(mine.flash_mut().stats()), (0, 0));
        assert_eq!(mine.record(), Ok(&theirs), "the rescan picked up the other write");
        mine.append_expecting(seen + 1, &with_floor(3)).unwrap();
        assert_eq!(mine.seq(), seen + 2);
    }

    #[test]
    fn update_writes_only_changes_and_passes_op_errors() {
        let c = cfg(W, 512, 2);
        let mut j = initialised(c);
        assert_eq!(j.update(|_| Ok(())), Ok(false));
        assert!(matches!(j.update(|r| ops::mark_good(r, SlotId::A)), Err(Error::Op(_))));
        assert_eq!(j.flash_mut().stats(), Stats::default());
        assert_eq!(j.update(|r| ops::set_active(r, SlotId::B, Tries::new(2).unwrap())), Ok(true));
        assert_eq!(ops_only(j.flash_mut().stats()), (3, 0));
        assert_eq!(j.seq(), 2);
    }

    #[test]
    fn initialize_on_a_valid_region_is_an_append() {
        let c = cfg(W, 512, 2);
        let mut j = initialised(c);
        j.initialize(&Record::fresh(3, Tries::DEFAULT)).unwrap();
        assert_eq!(j.seq(), 2);
        assert_eq!(ops_only(j.flash_mut().stats()), (3, 0));
    }

    #[test]
    fn entry_codec() {
        let r = Record::fresh(2, Tries::DEFAULT);
        let g = [3, 9, 2];
        let b = encode_entry(42, 7, g, &r);
        assert_eq!(decode_entry(&b), Some((42, 7, g, r.clone())));
        let mut padded = [0xFFu8; 160];
        padded[..ENTRY_LEN].copy_from_slice(&b);
        assert_eq!(decode_entry(&padded), Some((42, 7, g, r.clone())));
        for seq in [0, u32::MAX] {
            let mut c = encode_entry(seq, 0, g, &r);
            let crc = crc32(&c[..field::CRC]);
            c[field::CRC..].copy_from_slice(&crc.to_le_bytes());
            assert_eq!(decode_entry(&c), None);
        }
        let mut c = b;
        c[field::FORMAT] = 3;
        let crc = crc32(&c[..field::CRC]);
        c[field::CRC..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_entry(&c), None, "unknown entry format");
        assert_eq!(decode_entry(&b[..ENTRY_LEN - 1]), None);
        for i in 0..ENTRY_LEN * 8 {
            let mut c = b;
            c[i / 8] ^= 1 << (i % 8);
            assert_eq!(decode_entry(&c), None, "bit {i}");
        }
    }
}
