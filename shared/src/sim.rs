//! Simulated NOR flash for host tests, with power cuts at any operation
//! (feature `sim`, which enables `std`).
//!
//! # Model
//!
//! [`SimFlash`] is a byte array of [`SimConfig::size`] bytes. Erased is
//! `0xFF`. The runtime geometry is enforced on every call, like real NOR:
//!
//! * **Program** (`NorFlash::write`): offset and length must be multiples of
//!   [`SimConfig::write_size`] (a *write-word*). Each word is checked by the
//!   one NOR rule set, [`crate::nor::check_word`], with the word's exact
//!   write count: the [`SimConfig::write_count`] mode bounds the programs per
//!   erase ([`SimError::WriteLimit`]; every program that touches a word counts,
//!   even if the data was all `0xFF` or the program was torn), and a data bit 1
//!   over a stored 0 is rejected ([`SimError::SetsBits`]; a weak bit may read
//!   either way, so programming a 1 over it is allowed).
//! * **Erase**: `from` and `to` must be multiples of
//!   [`SimConfig::erase_size`] (a *sector*). Erase sets the bytes to `0xFF`
//!   and resets the write counts of their write-words to 0.
//! * **Read**: any offset and length inside the flash.
//!
//! All checks use checked arithmetic and happen before anything changes. An
//! operation that fails a check changes nothing and is *not counted*: it gets
//! no op index, no [`Op`] log entry and no [`Stats`] update.
//!
//! # Op indices and power cuts
//!
//! Every program or erase that passes its checks gets the next *op index*
//! (0-based, absolute since [`SimFlash::new`]; see
//! [`SimFlash::mutating_ops`]) and is appended to [`SimFlash::op_log`], so
//! `op_log()[i]` is the op with index `i`. [`SimFlash::arm_cut`] names an op
//! index and a [`CutKind`]. When that op starts, the cut is applied instead of
//! the normal op, the op returns [`SimError::PowerLost`] and the flash is
//! *dead*: every read, program and erase fails with `PowerLost` (and is not
//! counted) until [`SimFlash::power_cycle`], which keeps the contents and the
//! write counts.
//!
//! What a cut leaves is what embedded-storage allows after power loss
//! (`NorFlash::write`/`erase` docs): a torn program leaves some of its 1→0
//! bit changes, an interrupted erase leaves arbitrary data (modelled as
//! `old | mask`: erasing only ever sets bits). A recorded run plus
//! [`SimFlash::cut_variants`] gives the cut sweep: for each op index, each
//! variant, re-run the scenario with that cut armed, power cycle, check the
//! invariants.
//!
//! The seeded variants use a small deterministic PRNG (splitmix64), so a
//! failing `(op index, CutKind)` pair reproduces exactly.
//!
//! # Weak cells and failing writes
//!
//! A cell a cut left half-programmed or half-erased is *weak*: every read returns
//! a fresh pseudo-random value for it (real NOR: the cell sits near the sense
//! threshold), until an erase completes over it or a program drives it to 0.
//! [`CutKind::Weak`] leaves such cells. [`SimFlash::set_write_fault`] makes every
//! program and erase fail ([`WriteFault::Error`]) or report success while
//! changing nothing ([`WriteFault::Drop`], a silently dropped write) until it is
//! cleared.

extern crate std;

use core::fmt;
use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use std::vec::Vec;

use crate::nor::{self, Geometry, ProgramError, WriteCount};

/// Geometry and write rules of a [`SimFlash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SimConfig {
    /// Capacity in bytes. Must be a non-zero multiple of `erase_size` and at
    /// most `u32::MAX`.
    pub size: usize,
    /// Program granularity in bytes (a write-word). Must be non-zero.
    pub write_size: usize,
    /// Erase granularity in bytes (a sector). Must be a non-zero multiple of
    /// `write_size`.
    pub erase_size: usize,
    /// How often a write-word may be programmed between erases
    /// ([`WriteCount::Once`] for ECC flash, [`WriteCount::Twice`] for the
    /// nRF52840). Violations return [`SimError::WriteLimit`].
    pub write_count: WriteCount,
}

impl SimConfig {
    /// A journal config that uses the whole simulated device as its region.
    pub fn whole_journal(&self) -> crate::journal::JournalConfig {
        crate::journal::JournalConfig {
            offset: 0,
            size: self.size as u32,
            write_size: self.write_size as u32,
            erase_size: self.erase_size as u32,
        }
    }

    /// Checks the geometry rules documented on the fields; returns
    /// [`SimError::BadConfig`] if one is broken.
    pub fn validate(&self) -> Result<(), SimError> {
        let ok = self.size > 0 && u32::try_from(self.size).is_ok() && self.geometry().is_valid();
        if ok {
            Ok(())
        } else {
            Err(SimError::BadConfig)
        }
    }

    /// The geometry as the NOR rule set sees it (read size 1).
    pub fn geometry(&self) -> Geometry {
        Geometry { read_size: 1, write_size: self.write_size, erase_size: self.erase_size, capacity: self.size }
    }

    /// Number of write-words in the flash (0 if the config is invalid).
    fn words(&self) -> usize {
        self.geometry().words(self.size)
    }
}

/// Error returned by [`SimFlash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SimError {
    /// The range does not lie inside the flash (or `from > to` for an erase).
    OutOfBounds,
    /// Offset or length is not a multiple of the write or erase size.
    NotAligned,
    /// A program tried to turn a stored 0 bit into 1. Nothing changed.
    SetsBits,
    /// A write-word has taken as many programs since its last erase as
    /// [`SimConfig::write_count`] allows. Nothing changed.
    WriteLimit,
    /// Power was cut at (or before) this operation; the flash is dead until
    /// [`SimFlash::power_cycle`].
    PowerLost,
    /// The [`SimConfig`] (or the initial contents) is invalid.
    BadConfig,
    /// A write fault armed with [`SimFlash::set_write_fault`] refused the op.
    Injected,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            SimError::NotAligned => NorFlashErrorKind::NotAligned,
            SimError::SetsBits
            | SimError::WriteLimit
            | SimError::PowerLost
            | SimError::BadConfig
            | SimError::Injected => NorFlashErrorKind::Other,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SimError::OutOfBounds => "access out of bounds",
            SimError::NotAligned => "access not aligned to the write or erase size",
            SimError::SetsBits => "program would turn a 0 bit into 1",
            SimError::WriteLimit => "write-word already programmed as often as allowed since its last erase",
            SimError::PowerLost => "power lost",
            SimError::BadConfig => "invalid simulated flash configuration",
            SimError::Injected => "injected write failure",
        })
    }
}

impl core::error::Error for SimError {}

impl From<NorFlashErrorKind> for SimError {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => SimError::NotAligned,
            _ => SimError::OutOfBounds,
        }
    }
}

impl From<ProgramError> for SimError {
    fn from(e: ProgramError) -> Self {
        match e {
            ProgramError::WriteLimit => SimError::WriteLimit,
            ProgramError::SetsBits => SimError::SetsBits,
            _ => SimError::NotAligned,
        }
    }
}

/// What a power cut armed with [`SimFlash::arm_cut`] leaves behind.
///
/// Every kind makes the op return [`SimError::PowerLost`] and kills the flash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CutKind {
    /// Power fails before the op starts: nothing changes.
    Before,
    /// Power fails right after the op completed: it fully lands.
    After,
    /// Program: the first `n` write-words land; word `n` (the one in
    /// progress) keeps its old bytes but counts as programmed; later words
    /// are untouched. Erase: the first `n` sectors are erased and sector `n`
    /// is left as by [`CutKind::EraseMix`] (seed derived from `n`).
    /// `n >= ` the op's word (sector) count behaves like [`CutKind::After`].
    TornPrefix(usize),
    /// Program: a seeded pseudo-random subset of the op's 1→0 bit changes
    /// lands; every write-word of the op counts as programmed. On an erase it
    /// acts as [`CutKind::EraseMix`] with the same seed.
    TornBits(u64),
    /// Erase: every byte of the range becomes `old | mask` with a seeded
    /// pseudo-random mask (a mix of old and erased bits); a write-word in the
    /// range counts as programmed afterwards iff it does not read all `0xFF`.
    /// On a program it acts as [`CutKind::TornBits`] with the same seed.
    EraseMix(u64),
    /// Program: of the op's 1→0 bit changes, a seeded third lands, a third
    /// becomes *weak* (reads vary, see the module docs) and a third does not
    /// happen; every write-word of the op counts as programmed. Erase: of the
    /// range's 0 bits, a third is erased, a third becomes weak, a third stays.
    Weak(u64),
}

/// A fault armed with [`SimFlash::set_write_fault`]: what every program and erase does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteFault {
    /// Fails with [`SimError::Injected`]; nothing changes; not counted.
    Error,
    /// Returns `Ok` but changes nothing (a silently dropped write); counted and logged.
    Drop,
}

/// A mutating operation accepted by the sim, as recorded in
/// [`SimFlash::op_log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `NorFlash::write(offset, bytes)` with `bytes.len() == len`.
    Program {
        /// Start offset in bytes.
        offset: u32,
        /// Length in bytes.
        len: u32,
    },
    /// `NorFlash::erase(from, to)`.
    Erase {
        /// Start offset in bytes (inclusive).
        from: u32,
        /// End offset in bytes (exclusive).
        to: u32,
    },
}

/// Operation counters of a [`SimFlash`].
///
/// Only operations that pass their checks are counted, including the one a
/// power cut interrupts (whatever part of it landed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// `read` calls.
    pub reads: u64,
    /// `write` (program) calls.
    pub programs: u64,
    /// `erase` calls.
    pub erases: u64,
    /// Sum of the program lengths in bytes.
    pub bytes_programmed: u64,
    /// Sum of the program lengths in write-words.
    pub words_programmed: u64,
    /// Sum of the erase lengths in sectors.
    pub sectors_erased: u64,
}

/// Seeds used by [`SimFlash::cut_variants`] for `TornBits` and `EraseMix`.
///
/// The low two bits of a seed pick the mask density (0: 1/8, 1: 1/4,
/// 2: 1/2, 3: 3/4 of the bits); these three give 1/8, 1/2 and 3/4.
pub const VARIANT_SEEDS: [u64; 3] = [0x5AFE_5107_0000_0010, 0x5AFE_5107_0000_0022, 0x5AFE_5107_0000_0033];

/// Seed of the `Weak` variant listed by [`SimFlash::cut_variants`].
pub const WEAK_SEED: u64 = 0x5AFE_5107_0000_0042;

/// Salt mixed into the seed of the partial sector of an erase `TornPrefix`.
const TORN_ERASE_SALT: u64 = 0xE4A5_E000_0000_0001;

/// Most `TornPrefix` values listed per op by [`SimFlash::cut_variants`]
/// before it switches to a spread.
const ALL_PREFIXES_UP_TO: usize = 8;

/// Number of `TornPrefix` values in a spread.
const SPREAD: usize = 6;

/// A simulated NOR flash; see the [module docs](self).
#[derive(Clone)]
pub struct SimFlash {
    cfg: SimConfig,
    data: Vec<u8>,
    /// Per write-word: programs since its last erase (saturating; `u8::MAX`
    /// after an interrupted erase left it neither erased nor programmed).
    writes: Vec<u8>,
    /// Per byte, the bits that are weak (stored as 1 in `data`, read at random).
    weak: Vec<u8>,
    /// State of the read noise of weak bits.
    noise: u64,
    fault: Option<WriteFault>,
    stats: Stats,
    ops: u64,
    log: Vec<Op>,
    armed: Option<(u64, CutKind)>,
    dead: bool,
}

impl fmt::Debug for SimFlash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Contents are left out on purpose: flashes are hundreds of KiB.
        f.debug_struct("SimFlash")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats)
            .field("mutating_ops", &self.ops)
            .field("armed", &self.armed)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

impl SimFlash {
    /// A fully erased flash (all `0xFF`, nothing programmed).
    ///
    /// Returns [`SimError::BadConfig`] if `cfg` fails [`SimConfig::validate`].
    pub fn new(cfg: SimConfig) -> Result<Self, SimError> {
        cfg.validate()?;
        let mut data = Vec::new();
        data.resize(cfg.size, 0xFF);
        let writes = std::vec![0; cfg.words()];
        let weak = std::vec![0; cfg.size];
        Ok(Self {
            cfg,
            data,
            writes,
            weak,
            noise: 0x005E_ED0F_0E4C_E115,
            fault: None,
            stats: Stats::default(),
            ops: 0,
            log: Vec::new(),
            armed: None,
            dead: false,
        })
    }

    /// A flash holding `bytes` (which must be exactly `cfg.size` long, else
    /// [`SimError::BadConfig`]). Write-words that are not all `0xFF` count as
    /// programmed once ([`nor::writes_seen`]).
    pub fn from_bytes(cfg: SimConfig, bytes: Vec<u8>) -> Result<Self, SimError> {
        let mut sim = Self::new(cfg)?;
        if bytes.len() != cfg.size {
            return Err(SimError::BadConfig);
        }
        sim.data = bytes;
        sim.remark_range(0, cfg.size, 1);
        Ok(sim)
    }

    /// The geometry this flash was created with.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The whole contents (readable even when dead).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The whole contents, for tests that corrupt flash directly. Does not
    /// change the write counts, the stats or the op log.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Whether the write-word holding byte `offset` is marked programmed
    /// since its last erase (`None` if `offset` is out of bounds).
    pub fn is_programmed(&self, offset: usize) -> Option<bool> {
        self.writes(offset).map(|w| w > 0)
    }

    /// How often the write-word holding byte `offset` was programmed since
    /// its last erase (`None` if `offset` is out of bounds; `u8::MAX` after an
    /// interrupted erase).
    pub fn writes(&self, offset: usize) -> Option<u8> {
        let word = offset.checked_div(self.cfg.write_size)?;
        self.writes.get(word).copied()
    }

    /// The operation counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Zeroes the counters of [`SimFlash::stats`]. Does not touch
    /// [`SimFlash::mutating_ops`] or the op log.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Number of programs and erases accepted so far (absolute, never reset):
    /// the index the next accepted program or erase will get.
    pub fn mutating_ops(&self) -> u64 {
        self.ops
    }

    /// Every accepted program and erase in order; entry `i` is op index `i`.
    pub fn op_log(&self) -> &[Op] {
        &self.log
    }

    /// Arms a power cut at the op with absolute index `op_index` (compare
    /// [`SimFlash::mutating_ops`]); replaces any armed cut. An index that has
    /// already passed never fires. Reads never fire a cut.
    pub fn arm_cut(&mut self, op_index: u64, kind: CutKind) {
        self.armed = Some((op_index, kind));
    }

    /// Makes every following program and erase fail or be dropped (`None` clears it).
    pub fn set_write_fault(&mut self, fault: Option<WriteFault>) {
        self.fault = fault;
    }

    /// Makes the bits of `mask` in byte `offset` weak, as a program cut in its first
    /// instant leaves them (they read either way), and counts one program of the
    /// byte's write-word. For tests that need a position touched but reading erased.
    pub fn weaken(&mut self, offset: u32, mask: u8) {
        let i = offset as usize;
        if let (Some(d), Some(w)) = (self.data.get_mut(i), self.weak.get_mut(i)) {
            *d |= mask;
            *w |= mask;
        }
        if let Some(word) = i.checked_div(self.cfg.write_size) {
            self.count_writes(word, 1);
        }
    }

    /// Number of weak bits in the flash.
    pub fn weak_bits(&self) -> u64 {
        self.weak.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The armed cut, if any.
    pub fn armed(&self) -> Option<(u64, CutKind)> {
        self.armed
    }

    /// Removes the armed cut, if any.
    pub fn disarm(&mut self) {
        self.armed = None;
    }

    /// Power has been cut: every read, program and erase returns
    /// [`SimError::PowerLost`] until [`SimFlash::power_cycle`].
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Restores power: not dead, cut disarmed. Contents, write counts,
    /// stats, op count and op log are kept.
    pub fn power_cycle(&mut self) {
        self.dead = false;
        self.armed = None;
    }

    /// The cut kinds worth checking for the recorded op at `op_index` of
    /// [`SimFlash::op_log`] (empty if there is no such op); see
    /// [`SimFlash::cut_variants`].
    pub fn cut_variants_at(&self, op_index: u64) -> Vec<CutKind> {
        usize::try_from(op_index)
            .ok()
            .and_then(|i| self.log.get(i))
            .map(|op| Self::cut_variants(op, &self.cfg))
            .unwrap_or_default()
    }

    /// The cut kinds worth checking for `op` on a flash with geometry `cfg`.
    ///
    /// Always `Before` and `After`. A program of `k > 0` write-words adds
    /// `TornPrefix(0..k)` (all of them if `k <= 8`, else `0` plus a spread of
    /// 6 over `1..=k-1` including both ends) and `TornBits` with each of
    /// [`VARIANT_SEEDS`]. An erase of `s > 0` sectors adds `EraseMix` with
    /// each of [`VARIANT_SEEDS`] and, if `s > 1`, `TornPrefix(0..s)` (all of
    /// them if `s <= 8`, else a spread of 6 including `0` and `s-1`).
    pub fn cut_variants(op: &Op, cfg: &SimConfig) -> Vec<CutKind> {
        let mut v = Vec::new();
        v.push(CutKind::Before);
        v.push(CutKind::After);
        match *op {
            Op::Program { len, .. } => {
                let words = usize::try_from(len).ok().and_then(|l| l.checked_div(cfg.write_size)).unwrap_or(0);
                if let Some(last) = words.checked_sub(1) {
                    if words <= ALL_PREFIXES_UP_TO {
                        v.extend((0..=last).map(CutKind::TornPrefix));
                    } else {
                        v.push(CutKind::TornPrefix(0));
                        v.extend(spread(1, last).into_iter().map(CutKind::TornPrefix));
                    }
                    v.extend(VARIANT_SEEDS.iter().map(|&s| CutKind::TornBits(s)));
                    v.push(CutKind::Weak(WEAK_SEED));
                }
            }
            Op::Erase { from, to } => {
                let sectors = to
                    .checked_sub(from)
                    .and_then(|l| usize::try_from(l).ok())
                    .and_then(|l| l.checked_div(cfg.erase_size))
                    .unwrap_or(0);
                if sectors > 0 {
                    v.extend(VARIANT_SEEDS.iter().map(|&s| CutKind::EraseMix(s)));
                    v.push(CutKind::Weak(WEAK_SEED));
                }
                if let Some(last) = sectors.checked_sub(1).filter(|&l| l > 0) {
                    v.extend(spread(0, last).into_iter().map(CutKind::TornPrefix));
                }
            }
        }
        v
    }

    /// Checks a read range and returns it as `start..end` byte indices.
    fn check_range(&self, offset: u32, len: usize) -> Result<(usize, usize), SimError> {
        let start = usize::try_from(offset).map_err(|_| SimError::OutOfBounds)?;
        let end = start.checked_add(len).ok_or(SimError::OutOfBounds)?;
        if end > self.cfg.size {
            return Err(SimError::OutOfBounds);
        }
        Ok((start, end))
    }

    /// Counts an accepted op, logs it and takes the cut armed for it.
    fn accept(&mut self, op: Op) -> Option<CutKind> {
        let index = self.ops;
        self.ops = self.ops.saturating_add(1);
        self.log.push(op);
        match self.armed {
            Some((at, kind)) if at == index => {
                self.armed = None;
                self.dead = true;
                Some(kind)
            }
            _ => None,
        }
    }

    /// Program implementation; see the module docs for the rules.
    fn program(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if self.dead {
            return Err(SimError::PowerLost);
        }
        if self.fault == Some(WriteFault::Error) {
            return Err(SimError::Injected);
        }
        let ws = self.cfg.write_size;
        self.cfg.geometry().check_write(offset, bytes.len())?;
        let (start, end) = self.check_range(offset, bytes.len())?;
        let first_word = start.checked_div(ws).ok_or(SimError::NotAligned)?;
        let words = bytes.len().checked_div(ws).ok_or(SimError::NotAligned)?;
        let word_end = first_word.checked_add(words).ok_or(SimError::OutOfBounds)?;
        let counts = self.writes.get(first_word..word_end).ok_or(SimError::OutOfBounds)?;
        let old = self.data.get(start..end).ok_or(SimError::OutOfBounds)?;
        let weak = self.weak.get(start..end).ok_or(SimError::OutOfBounds)?;
        // A weak bit may read either way: programming a 1 over it is no error.
        let readable: std::borrow::Cow<'_, [u8]> = if weak.iter().any(|&w| w != 0) {
            std::borrow::Cow::Owned(old.iter().zip(weak).map(|(&o, &w)| o | w).collect())
        } else {
            std::borrow::Cow::Borrowed(old)
        };
        for ((&count, was), new) in counts.iter().zip(readable.chunks(ws)).zip(bytes.chunks(ws)) {
            nor::check_word(self.cfg.write_count, count, was, new)?;
        }
        let len = u32::try_from(bytes.len()).map_err(|_| SimError::OutOfBounds)?;

        let cut = self.accept(Op::Program { offset, len });
        self.stats.programs = self.stats.programs.saturating_add(1);
        self.stats.bytes_programmed = self.stats.bytes_programmed.saturating_add(u64::from(len));
        self.stats.words_programmed =
            self.stats.words_programmed.saturating_add(u64::try_from(words).unwrap_or(u64::MAX));

        if self.fault == Some(WriteFault::Drop) && cut.is_none() {
            return Ok(());
        }
        match cut {
            None | Some(CutKind::After) => {
                self.land_words(start, bytes, words);
                self.count_writes(first_word, words);
            }
            Some(CutKind::Weak(seed)) => {
                let mut rng = MaskRng::new(seed);
                if let (Some(dst), Some(wk)) = (self.data.get_mut(start..end), self.weak.get_mut(start..end)) {
                    for ((o, w), &d) in dst.iter_mut().zip(wk.iter_mut()).zip(bytes) {
                        let clearing = *o & !d;
                        let (a, b) = (rng.byte(), rng.byte());
                        let lands = clearing & a & !b;
                        let weakens = clearing & !a & b;
                        *o &= !lands;
                        *w = (*w & !lands) | weakens;
                    }
                }
                self.count_writes(first_word, words);
            }
            Some(CutKind::Before) => {}
            Some(CutKind::TornPrefix(n)) => {
                let landed = n.min(words);
                self.land_words(start, bytes, landed);
                // The word in progress (if any) counts a program too.
                self.count_writes(first_word, landed.saturating_add(1).min(words));
            }
            Some(CutKind::TornBits(seed) | CutKind::EraseMix(seed)) => {
                let mut rng = MaskRng::new(seed);
                if let Some(dst) = self.data.get_mut(start..end) {
                    for (o, &d) in dst.iter_mut().zip(bytes) {
                        let clearing = *o & !d;
                        *o &= !(clearing & rng.mask());
                    }
                }
                self.count_writes(first_word, words);
            }
        }
        match cut {
            None => Ok(()),
            Some(_) => Err(SimError::PowerLost),
        }
    }

    /// Erase implementation; see the module docs for the rules.
    fn erase_range(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if self.dead {
            return Err(SimError::PowerLost);
        }
        if self.fault == Some(WriteFault::Error) {
            return Err(SimError::Injected);
        }
        let es = self.cfg.erase_size;
        self.cfg.geometry().check_erase(from, to)?;
        let len = to.checked_sub(from).ok_or(SimError::OutOfBounds)?;
        let len = usize::try_from(len).map_err(|_| SimError::OutOfBounds)?;
        let (start, end) = self.check_range(from, len)?;
        let sectors = len.checked_div(es).ok_or(SimError::NotAligned)?;

        let cut = self.accept(Op::Erase { from, to });
        self.stats.erases = self.stats.erases.saturating_add(1);
        self.stats.sectors_erased =
            self.stats.sectors_erased.saturating_add(u64::try_from(sectors).unwrap_or(u64::MAX));

        if self.fault == Some(WriteFault::Drop) && cut.is_none() {
            return Ok(());
        }
        match cut {
            None | Some(CutKind::After) => self.erase_bytes(start, end),
            Some(CutKind::Weak(seed)) => {
                let mut rng = MaskRng::new(seed);
                if let (Some(dst), Some(wk)) = (self.data.get_mut(start..end), self.weak.get_mut(start..end)) {
                    for (o, w) in dst.iter_mut().zip(wk.iter_mut()) {
                        let setting = !*o;
                        let (a, b) = (rng.byte(), rng.byte());
                        *o |= setting & a & !b;
                        // Weak bits are stored as 1.
                        let weakens = setting & !a & b;
                        *o |= weakens;
                        *w |= weakens;
                    }
                }
                self.remark_range(start, end, u8::MAX);
            }
            Some(CutKind::Before) => {}
            Some(CutKind::TornPrefix(n)) => {
                let done = n.min(sectors);
                let mid = es.checked_mul(done).and_then(|l| start.checked_add(l)).unwrap_or(end).min(end);
                self.erase_bytes(start, mid);
                if done < sectors {
                    let seed = u64::try_from(n).unwrap_or(u64::MAX) ^ TORN_ERASE_SALT;
                    let partial_end = mid.checked_add(es).unwrap_or(end).min(end);
                    self.mix_bytes(mid, partial_end, seed);
                }
            }
            Some(CutKind::EraseMix(seed) | CutKind::TornBits(seed)) => {
                self.mix_bytes(start, end, seed);
            }
        }
        match cut {
            None => Ok(()),
            Some(_) => Err(SimError::PowerLost),
        }
    }

    /// Lands the first `words` write-words of `bytes` at byte `start`
    /// (NOR semantics: stored & data).
    fn land_words(&mut self, start: usize, bytes: &[u8], words: usize) {
        let n = words.saturating_mul(self.cfg.write_size).min(bytes.len());
        let end = start.saturating_add(n);
        if let (Some(dst), Some(src)) = (self.data.get_mut(start..end), bytes.get(..n)) {
            for (o, &d) in dst.iter_mut().zip(src) {
                *o &= d;
            }
        }
        // Programming a 0 drives a weak bit solid; a 1 leaves it weak.
        if let (Some(wk), Some(src)) = (self.weak.get_mut(start..end), bytes.get(..n)) {
            for (w, &d) in wk.iter_mut().zip(src) {
                *w &= d;
            }
        }
    }

    /// Counts one program of each of the `count` words from `first`.
    fn count_writes(&mut self, first: usize, count: usize) {
        let end = first.saturating_add(count);
        if let Some(counts) = self.writes.get_mut(first..end) {
            for c in counts {
                *c = c.saturating_add(1);
            }
        }
    }

    /// Erases bytes `start..end` (write-word aligned) and resets their write counts.
    fn erase_bytes(&mut self, start: usize, end: usize) {
        if let Some(dst) = self.data.get_mut(start..end) {
            dst.fill(0xFF);
        }
        if let Some(wk) = self.weak.get_mut(start..end) {
            wk.fill(0);
        }
        let ws = self.cfg.write_size;
        if let (Some(first), Some(last)) = (start.checked_div(ws), end.checked_div(ws)) {
            if let Some(counts) = self.writes.get_mut(first..last) {
                counts.fill(0);
            }
        }
    }

    /// Interrupted erase of bytes `start..end` (write-word aligned): every
    /// byte becomes `old | mask`, then the write counts follow the contents.
    fn mix_bytes(&mut self, start: usize, end: usize, seed: u64) {
        let mut rng = MaskRng::new(seed);
        if let Some(dst) = self.data.get_mut(start..end) {
            for b in dst.iter_mut() {
                *b |= rng.mask();
            }
        }
        self.remark_range(start, end, u8::MAX);
    }

    /// Sets the write count of each write-word of bytes `start..end` to
    /// `touched` if it does not read erased (or has weak bits), else to 0.
    /// An interrupted erase passes `u8::MAX` (no program allowed before the
    /// next erase, in any limited mode); [`SimFlash::from_bytes`] passes 1.
    fn remark_range(&mut self, start: usize, end: usize, touched: u8) {
        let ws = self.cfg.write_size;
        let Some(first) = start.checked_div(ws) else {
            return;
        };
        let (Some(data), Some(weak), Some(counts)) =
            (self.data.get(start..end), self.weak.get(start..end), self.writes.get_mut(first..))
        else {
            return;
        };
        for ((word, wk), c) in data.chunks_exact(ws).zip(weak.chunks_exact(ws)).zip(counts.iter_mut()) {
            let touched_here = nor::writes_seen(word) > 0 || wk.iter().any(|&b| b != 0);
            *c = if touched_here { touched } else { 0 };
        }
    }
}

/// Up to [`SPREAD`] values from `lo..=hi` including both ends (all of them
/// if there are at most [`ALL_PREFIXES_UP_TO`]).
fn spread(lo: usize, hi: usize) -> Vec<usize> {
    let Some(width) = hi.checked_sub(lo) else {
        return Vec::new();
    };
    if width < ALL_PREFIXES_UP_TO {
        return (lo..=hi).collect();
    }
    let steps = SPREAD.saturating_sub(1).max(1);
    let mut v: Vec<usize> = (0..SPREAD)
        .map(|i| {
            let off = u128::try_from(width)
                .ok()
                .and_then(|w| w.checked_mul(u128::try_from(i).ok()?))
                .and_then(|x| x.checked_div(u128::try_from(steps).ok()?))
                .and_then(|x| usize::try_from(x).ok())
                .unwrap_or(width);
            lo.saturating_add(off).min(hi)
        })
        .collect();
    v.dedup();
    v
}

/// splitmix64 producing byte masks whose density is set by the seed's low
/// two bits (see [`VARIANT_SEEDS`]).
struct MaskRng {
    state: u64,
    density: u64,
}

impl MaskRng {
    fn new(seed: u64) -> Self {
        Self { state: seed, density: seed & 3 }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ z.wrapping_shr(30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ z.wrapping_shr(27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ z.wrapping_shr(31)
    }

    fn byte(&mut self) -> u8 {
        let [b, ..] = self.next_u64().to_be_bytes();
        b
    }

    fn mask(&mut self) -> u8 {
        match self.density {
            0 => self.byte() & self.byte() & self.byte(),
            1 => self.byte() & self.byte(),
            2 => self.byte(),
            _ => self.byte() | self.byte(),
        }
    }
}

impl ErrorType for SimFlash {
    type Error = SimError;
}

/// Reads fail with [`SimError::PowerLost`] while the flash is dead and never
/// fire a cut.
impl ReadNorFlash for SimFlash {
    /// 1; any offset and length inside the flash may be read.
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.dead {
            return Err(SimError::PowerLost);
        }
        let (start, end) = self.check_range(offset, bytes.len())?;
        let src = self.data.get(start..end).ok_or(SimError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        let weak = self.weak.get(start..end).ok_or(SimError::OutOfBounds)?;
        if weak.iter().any(|&w| w != 0) {
            let mut rng = MaskRng::new(self.noise);
            for (b, &w) in bytes.iter_mut().zip(weak) {
                *b = (*b & !w) | (rng.byte() & w);
            }
            self.noise = rng.next_u64();
        }
        self.stats.reads = self.stats.reads.saturating_add(1);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.cfg.size
    }
}

/// The trait constants are 1; the runtime [`SimConfig::write_size`] and
/// [`SimConfig::erase_size`] are enforced on every call instead.
///
/// Power loss: an armed cut applies the [`CutKind`] to the op and returns
/// [`SimError::PowerLost`]; a torn program leaves a subset of its 1→0 bit
/// changes, an interrupted erase leaves `old | arbitrary`.
impl NorFlash for SimFlash {
    /// 1 (see [`SimConfig::write_size`] for the enforced size).
    const WRITE_SIZE: usize = 1;
    /// 1 (see [`SimConfig::erase_size`] for the enforced size).
    const ERASE_SIZE: usize = 1;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.erase_range(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.program(offset, bytes)
    }
}

/// A [`SimFlash`] whose trait constants are its real geometry: `WRITE_SIZE = W`,
/// `ERASE_SIZE = E`. [`SimFlash`] itself reports 1 and 1 (its geometry is a run-time value
/// so one test can sweep many), so a journal configuration misaligned to its words is
/// rejected only when a write fails; through `SimNor`, `Journal::open` rejects it up
/// front, as with a real driver. Dereferences to the [`SimFlash`] for the test controls.
#[derive(Clone, Debug)]
pub struct SimNor<const W: usize, const E: usize>(SimFlash);

impl<const W: usize, const E: usize> SimNor<W, E> {
    /// An erased flash of `size` bytes with write size `W`, erase size `E` and the
    /// `write_count` mode.
    pub fn new(size: usize, write_count: WriteCount) -> Result<Self, SimError> {
        SimFlash::new(SimConfig { size, write_size: W, erase_size: E, write_count }).map(SimNor)
    }

    /// Wraps `flash` if its geometry is `W` and `E` ([`SimError::BadConfig`] otherwise).
    pub fn from_sim(flash: SimFlash) -> Result<Self, SimError> {
        if flash.cfg.write_size == W && flash.cfg.erase_size == E {
            Ok(SimNor(flash))
        } else {
            Err(SimError::BadConfig)
        }
    }

    /// The simulator inside.
    pub fn into_inner(self) -> SimFlash {
        self.0
    }
}

impl<const W: usize, const E: usize> core::ops::Deref for SimNor<W, E> {
    type Target = SimFlash;
    fn deref(&self) -> &SimFlash {
        &self.0
    }
}

impl<const W: usize, const E: usize> core::ops::DerefMut for SimNor<W, E> {
    fn deref_mut(&mut self) -> &mut SimFlash {
        &mut self.0
    }
}

impl<const W: usize, const E: usize> ErrorType for SimNor<W, E> {
    type Error = SimError;
}

impl<const W: usize, const E: usize> ReadNorFlash for SimNor<W, E> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.0.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.0.cfg.size
    }
}

/// Power loss as for [`SimFlash`].
impl<const W: usize, const E: usize> NorFlash for SimNor<W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.0.erase_range(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.0.program(offset, bytes)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use std::format;
    use std::vec;

    fn cfg(write_size: usize, erase_size: usize, program_once: bool) -> SimConfig {
        SimConfig {
            size: erase_size * 4,
            write_size,
            erase_size,
            write_count: WriteCount::from_program_once(program_once),
        }
    }

    fn sim(write_size: usize, erase_size: usize, program_once: bool) -> SimFlash {
        SimFlash::new(cfg(write_size, erase_size, program_once)).unwrap()
    }

    #[test]
    fn new_is_erased_and_validates_config() {
        let s = sim(4, 64, false);
        assert!(s.bytes().iter().all(|&b| b == 0xFF));
        assert_eq!(s.capacity(), 256);
        assert_eq!(s.is_programmed(0), Some(false));
        assert_eq!(s.is_programmed(256), None);
        let bad = [
            SimConfig { size: 0, write_size: 4, erase_size: 64, write_count: WriteCount::Unlimited },
            SimConfig { size: 256, write_size: 0, erase_size: 64, write_count: WriteCount::Unlimited },
            SimConfig { size: 256, write_size: 4, erase_size: 0, write_count: WriteCount::Unlimited },
            SimConfig { size: 256, write_size: 8, erase_size: 12, write_count: WriteCount::Unlimited },
            SimConfig { size: 250, write_size: 4, erase_size: 64, write_count: WriteCount::Unlimited },
        ];
        for c in bad {
            assert_eq!(SimFlash::new(c).unwrap_err(), SimError::BadConfig, "{c:?}");
        }
    }

    #[test]
    fn from_bytes_marks_non_erased_words() {
        let c = cfg(4, 16, true);
        let mut b = vec![0xFF; 64];
        b[5] = 0x7F;
        let mut s = SimFlash::from_bytes(c, b).unwrap();
        assert_eq!(s.is_programmed(0), Some(false));
        assert_eq!(s.is_programmed(4), Some(true));
        assert_eq!(s.is_programmed(8), Some(false));
        assert_eq!(s.write(4, &[0; 4]), Err(SimError::WriteLimit));
        s.write(8, &[0; 4]).unwrap();
        assert_eq!(SimFlash::from_bytes(c, vec![0xFF; 63]).unwrap_err(), SimError::BadConfig);
    }

    #[test]
    fn program_cannot_set_bits() {
        let mut s = sim(1, 16, false);
        s.write(0, &[0x0F]).unwrap();
        assert_eq!(s.write(0, &[0xF0]), Err(SimError::SetsBits));
        assert_eq!(s.bytes()[0], 0x0F);
        assert_eq!(s.mutating_ops(), 1, "rejected op is not counted");
        // Clearing more bits is fine without program_once.
        s.write(0, &[0x05]).unwrap();
        assert_eq!(s.bytes()[0], 0x05);

        // With program_once, an unprogrammed word holding zeros (corruption,
        // interrupted erase) still rejects setting bits, and stays unmarked.
        let mut s = sim(2, 16, true);
        s.bytes_mut()[2] = 0x0F;
        assert_eq!(s.write(2, &[0xF0, 0xFF]), Err(SimError::SetsBits));
        assert_eq!(s.is_programmed(2), Some(false));
        s.write(2, &[0x0E, 0x00]).unwrap();
        assert_eq!(&s.bytes()[2..4], &[0x0E, 0x00]);
    }

    #[test]
    fn write_twice_only_with_program_once() {
        // Without program_once, re-programming the same word is fine.
        let mut s = sim(8, 64, false);
        s.write(0, &[0xFF; 8]).unwrap();
        s.write(0, &[0x00; 8]).unwrap();
        s.write(0, &[0x00; 8]).unwrap();

        // With it, even an all-0xFF program marks the word.
        let mut s = sim(8, 64, true);
        s.write(8, &[0xFF; 8]).unwrap();
        assert_eq!(s.is_programmed(8), Some(true));
        let before = s.bytes().to_vec();
        // A program overlapping one programmed word is rejected whole.
        assert_eq!(s.write(0, &[0x00; 16]), Err(SimError::WriteLimit));
        assert_eq!(s.bytes(), &before[..]);
        assert_eq!(s.mutating_ops(), 1);
        // Neighbouring words are independent.
        s.write(0, &[0x00; 8]).unwrap();
        s.write(16, &[0x00; 8]).unwrap();
        // Erase clears the marks.
        s.erase(0, 64).unwrap();
        assert_eq!(s.is_programmed(8), Some(false));
        s.write(8, &[0x12; 8]).unwrap();
    }

    #[test]
    fn twice_mode_allows_exactly_two_writes() {
        let c = SimConfig { size: 64, write_size: 4, erase_size: 16, write_count: WriteCount::Twice };
        let mut s = SimFlash::new(c).unwrap();
        s.write(4, &[0xF0; 4]).unwrap();
        assert_eq!(s.writes(4), Some(1));
        s.write(4, &[0x30; 4]).unwrap();
        assert_eq!(s.writes(4), Some(2));
        let before = s.bytes().to_vec();
        assert_eq!(s.write(4, &[0x00; 4]), Err(SimError::WriteLimit));
        assert_eq!(s.bytes(), &before[..]);
        assert_eq!(s.writes(4), Some(2));
        assert_eq!(s.mutating_ops(), 2, "the refused third write is not counted");

        // All-0xFF programs count as writes too.
        s.write(8, &[0xFF; 4]).unwrap();
        s.write(8, &[0xFF; 4]).unwrap();
        assert_eq!(s.writes(8), Some(2));
        assert_eq!(s.write(8, &[0x00; 4]), Err(SimError::WriteLimit));
        // A program over a word with a write left and a spent one is refused whole.
        s.write(12, &[0x7F; 4]).unwrap();
        assert_eq!(s.write(8, &[0x00; 8]), Err(SimError::WriteLimit));
        assert_eq!(s.writes(12), Some(1));
        assert_eq!(&s.bytes()[12..16], &[0x7F; 4]);

        // The 1->0 rule still holds on the second write.
        s.write(0, &[0x0F; 4]).unwrap();
        assert_eq!(s.write(0, &[0xF0; 4]), Err(SimError::SetsBits));
        assert_eq!(s.writes(0), Some(1));

        // Erase gives every word of the sector two writes again.
        s.erase(0, 16).unwrap();
        assert!((0..16).step_by(4).all(|o| s.writes(o) == Some(0)));
        s.write(4, &[0x00; 4]).unwrap();
        s.write(4, &[0x00; 4]).unwrap();
        assert_eq!(s.write(4, &[0x00; 4]), Err(SimError::WriteLimit));

        // A torn program counts as one write of the word in progress.
        s.arm_cut(s.mutating_ops(), CutKind::TornPrefix(0));
        assert_eq!(s.write(16, &[0x00; 8]), Err(SimError::PowerLost));
        s.power_cycle();
        assert_eq!((s.writes(16), s.writes(20)), (Some(1), Some(0)));
        s.write(16, &[0x00; 4]).unwrap();
        assert_eq!(s.write(16, &[0x00; 4]), Err(SimError::WriteLimit));

        // Once and Unlimited for comparison: one write, and any number.
        let mut once = SimFlash::new(SimConfig { write_count: WriteCount::Once, ..c }).unwrap();
        once.write(0, &[0xF0; 4]).unwrap();
        assert_eq!(once.write(0, &[0x00; 4]), Err(SimError::WriteLimit));
        let mut any = SimFlash::new(SimConfig { write_count: WriteCount::Unlimited, ..c }).unwrap();
        for _ in 0..5 {
            any.write(0, &[0xF0; 4]).unwrap();
        }
        assert_eq!(any.writes(0), Some(5));
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 128, ..Default::default() })]

        /// The module docs' claim: a backend without per-word state (a file, a memory
        /// window: count from the contents, `nor::writes_seen`) accepts every program the
        /// simulator accepts, in every mode; the simulator is the strictest backend.
        #[test]
        fn stateless_backends_accept_whatever_the_simulator_accepts(
            mode in proptest::sample::select(vec![WriteCount::Once, WriteCount::Twice, WriteCount::Unlimited]),
            ops in proptest::collection::vec((0u8..8, 0u8..4, proptest::num::u8::ANY, proptest::bool::weighted(0.1)), 1..60),
        ) {
            let ws = 4usize;
            let mut s = SimFlash::new(SimConfig { size: 64, write_size: ws, erase_size: 32, write_count: mode }).unwrap();
            for (word, len, byte, erase) in ops {
                if erase {
                    let from = u32::from(word / 4) * 32;
                    s.erase(from, from + 32).unwrap();
                    continue;
                }
                let len = usize::from(len % 2 + 1) * ws;
                let at = usize::from(word).min(16 - len / ws) * ws;
                // Mostly 0xFF or a byte that clears some bits: all-ones programs included.
                let data = vec![if byte < 64 { 0xFF } else { byte }; len];
                let old = s.bytes()[at..at + len].to_vec();
                let seen = nor::check_program_seen(mode, ws, &old, &data);
                if s.write(at as u32, &data).is_ok() {
                    proptest::prop_assert_eq!(seen, Ok(()), "mode {:?} at {}", mode, at);
                }
            }
        }
    }

    #[test]
    fn an_interrupted_erase_spends_the_writes_of_the_words_it_leaves_dirty() {
        let c = SimConfig { size: 64, write_size: 4, erase_size: 16, write_count: WriteCount::Twice };
        let mut s = SimFlash::new(c).unwrap();
        s.write(0, &[0x00; 16]).unwrap();
        s.arm_cut(1, CutKind::EraseMix(VARIANT_SEEDS[0]));
        assert_eq!(s.erase(0, 16), Err(SimError::PowerLost));
        s.power_cycle();
        for o in (0..16).step_by(4) {
            let erased = s.bytes()[o..o + 4].iter().all(|&b| b == 0xFF);
            let expect = if erased { 0 } else { u8::MAX };
            assert_eq!(s.writes(o), Some(expect), "word at {o}");
            if !erased {
                assert_eq!(s.write(o as u32, &[0x00; 4]), Err(SimError::WriteLimit));
            }
        }
    }

    #[test]
    fn alignment_is_enforced_for_each_write_size() {
        for ws in [1usize, 2, 4, 8, 16, 32] {
            let mut s = sim(ws, 128, false);
            let w = ws as u32;
            s.write(w, &vec![0xA5; ws]).unwrap();
            s.write(2 * w, &vec![0xA5; 2 * ws]).unwrap();
            if ws > 1 {
                assert_eq!(s.write(1, &vec![0; ws]), Err(SimError::NotAligned), "ws={ws}");
                assert_eq!(s.write(w + 1, &vec![0; ws]), Err(SimError::NotAligned));
                assert_eq!(s.write(0, &vec![0; ws - 1]), Err(SimError::NotAligned));
                assert_eq!(s.write(0, &vec![0; ws + 1]), Err(SimError::NotAligned));
            }
            assert_eq!(s.mutating_ops(), 2);
            assert_eq!(s.erase(0, 64), Err(SimError::NotAligned));
            assert_eq!(s.erase(64, 128), Err(SimError::NotAligned));
            assert_eq!(s.erase(0, 127), Err(SimError::NotAligned));
            s.erase(128, 384).unwrap();
            s.erase(0, 128).unwrap();
            assert!(s.bytes().iter().all(|&b| b == 0xFF));
        }
    }

    #[test]
    fn bounds_are_checked_without_overflow() {
        let mut s = sim(4, 16, false);
        let mut buf = [0u8; 8];
        assert_eq!(s.read(u32::MAX, &mut buf), Err(SimError::OutOfBounds));
        assert_eq!(s.read(60, &mut buf), Err(SimError::OutOfBounds));
        s.read(56, &mut buf).unwrap();
        s.read(64, &mut []).unwrap();
        assert_eq!(s.write(u32::MAX - 3, &[0; 4]), Err(SimError::OutOfBounds));
        assert_eq!(s.write(64, &[0; 4]), Err(SimError::OutOfBounds));
        assert_eq!(s.erase(u32::MAX - 15, u32::MAX), Err(SimError::OutOfBounds));
        assert_eq!(s.erase(32, 16), Err(SimError::OutOfBounds));
        assert_eq!(s.erase(0, 80), Err(SimError::OutOfBounds));
        assert_eq!(s.mutating_ops(), 0);
        assert_eq!(s.stats().reads, 2);
    }

    #[test]
    fn stats_and_log_count_exactly() {
        let mut s = sim(4, 16, true);
        let mut buf = [0u8; 4];
        s.write(0, &[0; 8]).unwrap();
        s.write(8, &[0; 4]).unwrap();
        let _ = s.write(0, &[0; 4]); // WriteLimit: not counted
        let _ = s.write(1, &[0; 4]); // NotAligned: not counted
        s.read(0, &mut buf).unwrap();
        s.erase(0, 32).unwrap();
        s.read(0, &mut buf).unwrap();
        assert_eq!(
            s.stats(),
            Stats { reads: 2, programs: 2, erases: 1, bytes_programmed: 12, words_programmed: 3, sectors_erased: 2 }
        );
        assert_eq!(s.mutating_ops(), 3);
        assert_eq!(
            s.op_log(),
            &[Op::Program { offset: 0, len: 8 }, Op::Program { offset: 8, len: 4 }, Op::Erase { from: 0, to: 32 },]
        );
        s.reset_stats();
        assert_eq!(s.stats(), Stats::default());
        assert_eq!(s.mutating_ops(), 3);
        assert_eq!(s.op_log().len(), 3);
    }

    #[test]
    fn cut_before_changes_nothing_and_kills_until_power_cycle() {
        let mut s = sim(4, 16, true);
        s.write(0, &[0x11; 4]).unwrap();
        s.arm_cut(1, CutKind::Before);
        let before = s.bytes().to_vec();
        assert_eq!(s.write(4, &[0x22; 4]), Err(SimError::PowerLost));
        assert!(s.is_dead());
        assert_eq!(s.bytes(), &before[..]);
        assert_eq!(s.is_programmed(4), Some(false));
        assert_eq!(s.armed(), None);
        // Everything fails, and nothing is counted, while dead.
        let mut buf = [0u8; 4];
        assert_eq!(s.read(0, &mut buf), Err(SimError::PowerLost));
        assert_eq!(s.write(8, &[0; 4]), Err(SimError::PowerLost));
        assert_eq!(s.erase(0, 16), Err(SimError::PowerLost));
        assert_eq!(s.mutating_ops(), 2);
        let st = s.stats();
        assert_eq!((st.reads, st.programs, st.erases), (0, 2, 0));
        s.power_cycle();
        assert!(!s.is_dead());
        s.write(4, &[0x22; 4]).unwrap();
        s.read(4, &mut buf).unwrap();
        assert_eq!(buf, [0x22; 4]);
    }

    #[test]
    fn cut_after_lands_fully() {
        let mut s = sim(4, 16, false);
        s.write(0, &[0; 4]).unwrap();
        s.arm_cut(1, CutKind::After);
        assert_eq!(s.erase(0, 32), Err(SimError::PowerLost));
        assert!(s.bytes().iter().all(|&b| b == 0xFF));
        s.power_cycle();
        s.arm_cut(2, CutKind::After);
        assert_eq!(s.write(16, &[0x3C; 8]), Err(SimError::PowerLost));
        assert_eq!(&s.bytes()[16..24], &[0x3C; 8]);
    }

    #[test]
    fn cut_fires_at_absolute_index_and_not_in_the_past() {
        let mut s = sim(1, 16, false);
        s.arm_cut(2, CutKind::Before);
        let mut buf = [0u8; 1];
        for _ in 0..5 {
            s.read(0, &mut buf).unwrap(); // reads never fire
        }
        s.write(0, &[0xFE]).unwrap();
        s.write(1, &[0xFE]).unwrap();
        assert_eq!(s.write(2, &[0xFE]), Err(SimError::PowerLost));
        s.power_cycle();
        assert_eq!(s.armed(), None, "power_cycle disarms");
        s.arm_cut(1, CutKind::Before); // already passed
        s.write(3, &[0xFE]).unwrap();
        s.write(4, &[0xFE]).unwrap();
        assert!(!s.is_dead());
        s.disarm();
        assert_eq!(s.armed(), None);
    }

    #[test]
    fn torn_prefix_program_lands_exactly_n_words() {
        for ws in [1usize, 2, 4, 8, 16, 32] {
            let k = 5;
            for n in 0..=k + 1 {
                let mut s = sim(ws, 256, true);
                s.arm_cut(0, CutKind::TornPrefix(n));
                let data: Vec<u8> = (0..k * ws).map(|i| i as u8).collect();
                let off = ws; // start at word 1
                assert_eq!(s.write(off as u32, &data), Err(SimError::PowerLost));
                let landed = n.min(k);
                let b = s.bytes();
                assert!(b[..off].iter().all(|&x| x == 0xFF));
                assert_eq!(&b[off..off + landed * ws], &data[..landed * ws], "ws={ws} n={n}");
                assert!(b[off + landed * ws..].iter().all(|&x| x == 0xFF));
                // Marks: landed words plus the one in progress.
                let marked = (landed + 1).min(k);
                for w in 0..k + 2 {
                    let expect = w >= 1 && w < 1 + marked;
                    assert_eq!(s.is_programmed(w * ws), Some(expect), "ws={ws} n={n} w={w}");
                }
                s.power_cycle();
                if landed < k {
                    // The in-progress word cannot be programmed again (ECC).
                    let at = (off + landed * ws) as u32;
                    assert_eq!(s.write(at, &vec![0; ws]), Err(SimError::WriteLimit));
                }
            }
        }
    }

    #[test]
    fn torn_bits_lands_a_subset_of_the_bit_clearings() {
        let old: Vec<u8> = (0..64u32).map(|i| (i.wrapping_mul(37) as u8) | 0xC3).collect();
        let data: Vec<u8> = old.iter().map(|&o| o & 0x5A).collect();
        let c = cfg(8, 64, true);
        let mut partial = 0;
        for seed in VARIANT_SEEDS.into_iter().chain([0, 1, 2, 3, 77]) {
            let mut s = SimFlash::new(c).unwrap();
            s.bytes_mut()[64..128].copy_from_slice(&old);
            s.arm_cut(0, CutKind::TornBits(seed));
            assert_eq!(s.write(64, &data), Err(SimError::PowerLost));
            let got = &s.bytes()[64..128];
            for ((&g, &o), &d) in got.iter().zip(&old).zip(&data) {
                assert_eq!(g & !o, 0, "no bit set");
                assert_eq!(g & d, d, "only bits the program clears are cleared");
            }
            if got != &old[..] && got != &data[..] {
                partial += 1;
            }
            for w in 8..16 {
                assert_eq!(s.is_programmed(w * 8), Some(true));
            }
            assert!(s.bytes()[..64].iter().all(|&b| b == 0xFF));
            // Deterministic per seed.
            let mut again = SimFlash::new(c).unwrap();
            again.bytes_mut()[64..128].copy_from_slice(&old);
            again.arm_cut(0, CutKind::TornBits(seed));
            let _ = again.write(64, &data);
            assert_eq!(again.bytes(), s.bytes());
        }
        assert!(partial >= 6, "torn programs should mostly be partial: {partial}");
    }

    #[test]
    fn erase_mix_only_sets_bits() {
        let c = cfg(4, 32, true);
        let mut changed = 0;
        for seed in VARIANT_SEEDS.into_iter().chain([0, 1, 5]) {
            let mut s = SimFlash::new(c).unwrap();
            let content: Vec<u8> = (0..128u32).map(|i| (i.wrapping_mul(91) as u8) & 0x3C).collect();
            s.write(0, &content).unwrap();
            let old = s.bytes().to_vec();
            s.arm_cut(1, CutKind::EraseMix(seed));
            assert_eq!(s.erase(32, 96), Err(SimError::PowerLost));
            let new = s.bytes();
            assert_eq!(&new[..32], &old[..32]);
            assert_eq!(&new[96..], &old[96..]);
            for (&n, &o) in new[32..96].iter().zip(&old[32..96]) {
                assert_eq!(n & o, o, "EraseMix never clears a bit");
            }
            if new[32..96] != old[32..96] {
                changed += 1;
            }
            for w in 8..24 {
                let erased = new[w * 4..w * 4 + 4].iter().all(|&b| b == 0xFF);
                assert_eq!(s.is_programmed(w * 4), Some(!erased));
            }
        }
        assert_eq!(changed, 6);
    }

    #[test]
    fn full_erase_mix_of_all_ones_reads_erased_and_unmarks() {
        // Mixing with a dense mask can fully erase a word: it becomes free.
        let mut s = sim(1, 16, true);
        s.write(0, &[0xFE; 16]).unwrap();
        s.arm_cut(1, CutKind::EraseMix(VARIANT_SEEDS[2]));
        let _ = s.erase(0, 16);
        s.power_cycle();
        for i in 0..16 {
            let b = s.bytes()[i];
            assert!(b == 0xFE || b == 0xFF);
            assert_eq!(s.is_programmed(i), Some(b != 0xFF));
        }
    }

    #[test]
    fn torn_prefix_erase_erases_n_sectors_and_mixes_the_next() {
        let c = cfg(4, 16, true);
        for n in 0..=4 {
            let mut s = SimFlash::new(c).unwrap();
            s.write(0, &[0u8; 64]).unwrap();
            s.arm_cut(1, CutKind::TornPrefix(n));
            assert_eq!(s.erase(0, 48), Err(SimError::PowerLost));
            let b = s.bytes();
            let done = n.min(3);
            assert!(b[..done * 16].iter().all(|&x| x == 0xFF), "n={n}");
            for w in 0..done * 4 {
                assert_eq!(s.is_programmed(w * 4), Some(false));
            }
            if done < 3 {
                let partial = &b[done * 16..done * 16 + 16];
                assert!(partial.iter().any(|&x| x != 0), "partial sector was mixed");
                assert!(b[done * 16 + 16..].iter().all(|&x| x == 0), "rest untouched");
            }
            assert!(b[48..].iter().all(|&x| x == 0), "outside the range untouched");
        }
    }

    #[test]
    fn cut_variants_lists_the_documented_kinds() {
        let c = cfg(4, 16, false);
        let v = SimFlash::cut_variants(&Op::Program { offset: 0, len: 16 }, &c);
        assert_eq!(v.len(), 2 + 4 + 3 + 1);
        assert!(v.contains(&CutKind::Weak(WEAK_SEED)));
        assert_eq!(&v[..2], &[CutKind::Before, CutKind::After]);
        assert!((0..4).all(|n| v.contains(&CutKind::TornPrefix(n))));
        assert!(VARIANT_SEEDS.iter().all(|&s| v.contains(&CutKind::TornBits(s))));

        let v = SimFlash::cut_variants(&Op::Program { offset: 0, len: 400 }, &c);
        let prefixes: Vec<usize> = v
            .iter()
            .filter_map(|k| match k {
                CutKind::TornPrefix(n) => Some(*n),
                _ => None,
            })
            .collect();
        assert_eq!(prefixes, vec![0, 1, 20, 40, 59, 79, 99]);

        let v = SimFlash::cut_variants(&Op::Program { offset: 0, len: 0 }, &c);
        assert_eq!(v, vec![CutKind::Before, CutKind::After]);

        let v = SimFlash::cut_variants(&Op::Erase { from: 0, to: 16 }, &c);
        assert_eq!(v.len(), 6);
        assert!(VARIANT_SEEDS.iter().all(|&s| v.contains(&CutKind::EraseMix(s))));
        let v = SimFlash::cut_variants(&Op::Erase { from: 0, to: 48 }, &c);
        assert_eq!(&v[6..], &[CutKind::TornPrefix(0), CutKind::TornPrefix(1), CutKind::TornPrefix(2)]);
        let v = SimFlash::cut_variants(&Op::Erase { from: 0, to: 16 * 20 }, &c);
        assert_eq!(v.len(), 6 + 6);
        assert!(v.contains(&CutKind::TornPrefix(0)) && v.contains(&CutKind::TornPrefix(19)));

        let mut s = SimFlash::new(c).unwrap();
        s.write(0, &[0; 8]).unwrap();
        assert_eq!(s.cut_variants_at(0).len(), 2 + 2 + 3 + 1);
        assert!(s.cut_variants_at(1).is_empty());
    }

    #[test]
    fn every_variant_of_a_recorded_run_kills_then_recovers() {
        // The sweep pattern the journal tests use: record, then replay with
        // each cut at each index.
        let c = cfg(8, 32, true);
        let scenario = |s: &mut SimFlash| -> Result<(), SimError> {
            s.erase(0, 64)?;
            s.write(0, &[0x12; 24])?;
            s.write(32, &[0x00; 8])?;
            s.erase(0, 32)?;
            Ok(())
        };
        let mut rec = SimFlash::new(c).unwrap();
        scenario(&mut rec).unwrap();
        let log = rec.op_log().to_vec();
        assert_eq!(log.len(), 4);
        for (i, op) in log.iter().enumerate() {
            for kind in SimFlash::cut_variants(op, &c) {
                let mut s = SimFlash::new(c).unwrap();
                s.arm_cut(i as u64, kind);
                assert_eq!(scenario(&mut s), Err(SimError::PowerLost), "{i} {kind:?}");
                assert!(s.is_dead());
                assert_eq!(s.mutating_ops(), i as u64 + 1);
                s.power_cycle();
                s.erase(0, c.size as u32).unwrap();
                scenario(&mut s).unwrap();
            }
        }
    }

    #[test]
    fn error_kinds_display_and_debug() {
        assert_eq!(SimError::OutOfBounds.kind(), NorFlashErrorKind::OutOfBounds);
        assert_eq!(SimError::NotAligned.kind(), NorFlashErrorKind::NotAligned);
        for e in [SimError::SetsBits, SimError::WriteLimit, SimError::PowerLost, SimError::BadConfig] {
            assert_eq!(e.kind(), NorFlashErrorKind::Other);
            assert!(!format!("{e}").is_empty());
        }
        let s =
            SimFlash::new(SimConfig { size: 1 << 20, write_size: 8, erase_size: 4096, write_count: WriteCount::Once })
                .unwrap();
        let d = format!("{s:?}");
        assert!(d.len() < 400, "Debug must not dump contents: {}", d.len());
        let e: &dyn core::error::Error = &SimError::PowerLost;
        assert_eq!(format!("{e}"), "power lost");
    }

    #[test]
    fn sim_nor_reports_its_real_geometry() {
        use crate::journal::{Journal, JournalConfig};
        let good = JournalConfig { offset: 0, size: 0x2000, write_size: 8, erase_size: 0x1000 };
        let nor = SimNor::<8, 0x1000>::new(0x4000, WriteCount::Once).unwrap();
        assert_eq!((SimNor::<8, 0x1000>::WRITE_SIZE, SimNor::<8, 0x1000>::ERASE_SIZE), (8, 0x1000));
        assert!(Journal::open(nor.clone(), good).is_ok());
        // A journal with 4-byte words or 2 KiB sectors on this flash is refused at open.
        for bad in [JournalConfig { write_size: 4, ..good }, JournalConfig { erase_size: 0x800, ..good }] {
            assert!(matches!(Journal::open(nor.clone(), bad), Err(crate::Error::Geometry(_))), "{bad:?}");
        }
        assert!(SimNor::<8, 0x1000>::from_sim(sim(4, 0x1000, false)).is_err());
        assert!(SimNor::<8, 0x1000>::from_sim(sim(8, 0x1000, false)).is_ok());
    }
}
