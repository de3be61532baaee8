//! NOR flash over QEMU's file-backed memory window, with a power-cut switch.
//!
//! On `mps2-an386` the harness maps a host file over the 16 MiB at
//! [`FLASH_BASE`]. That memory takes any load or store, so [`Flash`] enforces
//! the NOR rules itself, as the real part would, through the one rule set in
//! [`safeslot_shared::nor`]:
//!
//! * erase works on whole [`ERASE_SIZE`] sectors and fills them with `0xFF`;
//! * program works on whole [`WRITE_SIZE`] words, each checked by
//!   [`nor::check_word`]: with [`WORD_WRITES`] = 1 a word may be programmed once per
//!   erase ([`FlashError::NotErased`]), as ECC flash (STM32L4 `PROGERR`) demands,
//!   and a word whose new value would set a bit is refused ([`FlashError::WouldSetBits`]).
//!   The driver keeps no per-word state, so a word's write count is what its
//!   contents show ([`nor::writes_seen`]): a word that reads erased counts as
//!   unprogrammed even after an all-`0xFF` program (the simulator, which counts
//!   those, is the stricter check).
//!
//! A refused request is checked in full before anything is stored, so an
//! error leaves the flash unchanged.
//!
//! # The OTP area
//!
//! The layout's `[otp]` sector (the last 4 KiB of the flash file) plays one-time-programmable
//! memory: the [`NorFlash`] interface refuses every program and every erase that touches
//! it ([`FlashError::Otp`]), whoever calls it (boot stage, app). Only the driver's
//! [`SecurityCounter`] implementation programs it, through [`Otp`]: each word once
//! ([`WriteCount::Once`], whatever the rest of the flash allows), never erased. Its
//! stores are counted and cut like every other store, so the firmware power-cut sweep
//! cuts the counter's advance too. The counters themselves are the shared thermometer
//! code ([`OtpCounters`]).
//!
//! # Power cuts
//!
//! Every mutating store is counted: each programmed write-word and each erased
//! sector is one store, numbered from 1 in each program (boot stage, app). A
//! [`CutPlan`] (from the rig order on the command line: `cut=N` and optionally `torn=K`
//! for the boot stage, `appcut=N` and `apptorn=K` for the app) stops the machine through semihosting with
//! [`Exit::Cut`] just before store `N` would land, so stores `1 ..= N-1` are in
//! the file and nothing after them is. With `torn=K`, the first `K` bytes of
//! store `N` land first (for an erase: the first `K` bytes of the sector
//! become `0xFF`), modelling a program or erase cut half-way.
//!
//! This is the register module of the board: the volatile accesses to the
//! window are its only unsafe code.

use core::sync::atomic::{AtomicBool, Ordering};

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use safeslot_shared::counter::{CounterError, CounterId, OtpCounters, SecurityCounter};
use safeslot_shared::nor::{self, ProgramError, WriteCount};

use crate::host::{self, Exit};
use crate::layout::{ERASE_SIZE, FLASH_BASE, FLASH_SIZE, OTP_ADDRESS, OTP_SIZE, OTP_UNIT, WORD_WRITES, WRITE_SIZE};

/// [`WRITE_SIZE`] as a `usize`, for buffers.
const WORD: usize = WRITE_SIZE as usize;

/// Why a flash operation was refused. The flash is unchanged after any of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
#[non_exhaustive]
pub enum FlashError {
    /// Offset or length is not a multiple of the write or erase size.
    NotAligned,
    /// The range runs past the end of the device.
    OutOfBounds,
    /// Programming the word at this offset would turn a 0 bit into 1.
    WouldSetBits {
        /// Offset of the word, from the start of the device.
        offset: u32,
    },
    /// The word at this offset was already programmed as often as the flash allows
    /// since its erase (program-once flash).
    NotErased {
        /// Offset of the word, from the start of the device.
        offset: u32,
    },
    /// `wfault=error`: the test switch made the operation fail.
    Injected,
    /// The range touches the OTP sector, which this interface never programs or erases
    /// (module docs).
    Otp,
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::WouldSetBits { .. } | Self::NotErased { .. } | Self::Injected | Self::Otp => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for FlashError {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => Self::NotAligned,
            // check_* only return NotAligned or OutOfBounds.
            _ => Self::OutOfBounds,
        }
    }
}

impl core::fmt::Display for FlashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotAligned => f.write_str("offset or length not aligned"),
            Self::OutOfBounds => f.write_str("range out of bounds"),
            Self::WouldSetBits { offset } => write!(f, "program at {offset:#x} would set bits"),
            Self::NotErased { offset } => write!(f, "word at {offset:#x} already programmed"),
            Self::Injected => f.write_str("write failed (wfault= test switch)"),
            Self::Otp => f.write_str("the OTP sector is never programmed or erased through this interface"),
        }
    }
}

impl core::error::Error for FlashError {}

/// The cut plan and write faults of one program (the rig order's `cut=`/`torn=`/`wfault=`
/// for the boot stage, `appcut=`/`apptorn=`/`appwfault=` for the app): safeslot-shared's
/// [`Order`](safeslot_shared::protocol::order::Order), parsed from the command line.
pub use safeslot_shared::protocol::order::{CutPlan, WriteFault};

/// The OTP area's offset from `FLASH_BASE` (the layout validated that it lies in the device).
const OTP_OFFSET: u32 = OTP_ADDRESS.wrapping_sub(FLASH_BASE);

/// The erase sectors that hold the OTP area (`OTP_START .. OTP_END`): no program or
/// erase of the [`NorFlash`] interface may touch them.
const OTP_START: u32 = OTP_OFFSET / ERASE_SIZE * ERASE_SIZE;
const OTP_END: u32 = (OTP_OFFSET + OTP_SIZE * CounterId::ALL.len() as u32).div_ceil(ERASE_SIZE) * ERASE_SIZE;

/// Refuses a range `offset .. offset + len` that touches the OTP sectors.
fn outside_otp(offset: u32, len: usize) -> Result<(), FlashError> {
    let end = u64::from(offset).saturating_add(len as u64);
    if end > u64::from(OTP_START) && u64::from(offset) < u64::from(OTP_END) {
        return Err(FlashError::Otp);
    }
    Ok(())
}

/// Set once the one [`Flash`] has been handed out.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The NOR device in the window `FLASH_BASE .. FLASH_BASE + FLASH_SIZE`.
/// Offsets in the trait methods count from `FLASH_BASE`.
#[derive(Debug)]
pub struct Flash {
    plan: CutPlan,
    stores: u32,
}

impl Flash {
    /// The device, once: later calls return `None`, so no two drivers race
    /// over the same window.
    pub fn take(plan: CutPlan) -> Option<Self> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Self { plan, stores: 0 })
    }

    /// Stores (programmed words plus erased sectors) that have landed so far.
    #[must_use]
    pub fn stores(&self) -> u32 {
        self.stores
    }

    /// The cut plan this driver was made with.
    #[must_use]
    pub fn plan(&self) -> CutPlan {
        self.plan
    }

    /// Counts one store and, if it is the planned cut, lets `torn` bytes of it
    /// land through `partial` and stops the machine.
    fn begin_store(&mut self, partial: impl FnOnce(usize)) {
        self.stores = self.stores.saturating_add(1);
        if self.plan.cut == Some(self.stores) {
            let torn = usize::try_from(self.plan.torn).unwrap_or(usize::MAX);
            partial(torn);
            defmt::println!("power cut at store {=u32} (torn {=u32})", self.stores, self.plan.torn);
            host::exit(Exit::Cut);
        }
    }
}

/// Reads the byte at `offset` into the device.
///
/// Callers bounds-check `offset < FLASH_SIZE` (via `check_*`) first.
fn load(offset: u32) -> u8 {
    debug_assert!(offset < FLASH_SIZE);
    let addr = FLASH_BASE.wrapping_add(offset) as usize;
    // SAFETY: `addr` lies in the flash window (callers check `offset < FLASH_SIZE`),
    // which layout.toml maps to memory that is always readable on mps2-an386 and
    // which safeslot-layout checked overlaps no linker region, so no Rust
    // reference aliases it. `u8` has no alignment requirement.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

/// Loads the aligned word at `offset` from the device.
fn load_word(offset: u32) -> u32 {
    debug_assert!(offset.is_multiple_of(4) && offset < FLASH_SIZE);
    let addr = FLASH_BASE.wrapping_add(offset) as usize;
    // SAFETY: as in `load`; the caller passes a 4-aligned offset with 4 bytes left in the
    // window (`check_read`), and FLASH_BASE is 4-aligned, so the `u32` load is aligned and
    // in the window.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Stores `value` at `offset` into the device, bypassing the NOR rules.
///
/// Callers bounds-check `offset < FLASH_SIZE` and apply the NOR rules first.
fn store(offset: u32, value: u8) {
    debug_assert!(offset < FLASH_SIZE);
    let addr = FLASH_BASE.wrapping_add(offset) as usize;
    // SAFETY: as in `load`: `addr` is inside the flash window, which is always
    // writable on this machine and holds no Rust object (not covered by any
    // memory.x region), so the store cannot clobber code, stack or statics.
    unsafe { core::ptr::write_volatile(addr as *mut u8, value) }
}

/// Offsets `start .. start + len`, stepping by one (all already bounds-checked).
fn offsets(start: u32, len: usize) -> impl Iterator<Item = u32> {
    (0..len).map_while(move |i| start.checked_add(u32::try_from(i).ok()?))
}

impl ErrorType for Flash {
    type Error = FlashError;
}

impl ReadNorFlash for Flash {
    const READ_SIZE: usize = 1;

    /// Aligned words with one 32-bit load each, the unaligned ends byte by byte (byte loads
    /// throughout cost 1.66x bare sha2 per KiB hashed, issue #18).
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        let lead = (offset.wrapping_neg() % 4) as usize;
        let (head, body) = bytes.split_at_mut(lead.min(bytes.len()));
        let mut at = offset;
        for b in head {
            *b = load(at);
            at = at.wrapping_add(1);
        }
        // Four words per pass: the loop's own instructions are about half of a one-word pass.
        let mut quads = body.chunks_exact_mut(16);
        for q in &mut quads {
            if let Ok(q) = <&mut [u8; 16]>::try_from(q) {
                q[0..4].copy_from_slice(&load_word(at).to_ne_bytes());
                q[4..8].copy_from_slice(&load_word(at.wrapping_add(4)).to_ne_bytes());
                q[8..12].copy_from_slice(&load_word(at.wrapping_add(8)).to_ne_bytes());
                q[12..16].copy_from_slice(&load_word(at.wrapping_add(12)).to_ne_bytes());
            }
            at = at.wrapping_add(16);
        }
        let mut words = quads.into_remainder().chunks_exact_mut(4);
        for w in &mut words {
            w.copy_from_slice(&load_word(at).to_ne_bytes());
            at = at.wrapping_add(4);
        }
        for b in words.into_remainder() {
            *b = load(at);
            at = at.wrapping_add(1);
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        FLASH_SIZE as usize
    }
}

impl NorFlash for Flash {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = ERASE_SIZE as usize;

    /// Erases the sectors in `from .. to`, one store per sector, in address
    /// order. A cut leaves the earlier sectors erased, the cut one torn (its
    /// first `torn` bytes erased) and the later ones untouched.
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        outside_otp(from, to.saturating_sub(from) as usize)?;
        match self.plan.fault {
            Some(WriteFault::Error) => return Err(FlashError::Injected),
            Some(WriteFault::Drop) => return Ok(()),
            None => {}
        }
        let mut sector = from;
        while sector < to {
            self.begin_store(|torn| {
                for at in offsets(sector, torn.min(Self::ERASE_SIZE)) {
                    store(at, nor::ERASED);
                }
            });
            for at in offsets(sector, Self::ERASE_SIZE) {
                store(at, nor::ERASED);
            }
            sector = sector.saturating_add(ERASE_SIZE);
        }
        Ok(())
    }

    /// Programs `bytes` at `offset`, one store per write-word, in address order.
    /// Every word is checked against the NOR rules before the first one is
    /// stored. A cut leaves earlier words programmed, the cut word torn (its
    /// first `torn` bytes programmed) and later words erased.
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        outside_otp(offset, bytes.len())?;
        self.program(offset, bytes, WriteCount::from_word_writes(WORD_WRITES))
    }
}

impl Flash {
    /// Programs `bytes` at `offset` (already checked) under `mode`: the rig's write faults,
    /// then every word checked against the NOR rules, then one store per word.
    fn program(&mut self, offset: u32, bytes: &[u8], mode: WriteCount) -> Result<(), FlashError> {
        match self.plan.fault {
            Some(WriteFault::Error) => return Err(FlashError::Injected),
            Some(WriteFault::Drop) => return Ok(()),
            None => {}
        }
        for (chunk, word) in bytes.chunks_exact(WORD).zip(offsets(offset, usize::MAX).step_by(WORD)) {
            let mut old = [0u8; WORD];
            for (o, at) in old.iter_mut().zip(offsets(word, WORD)) {
                *o = load(at);
            }
            nor::check_word(mode, nor::writes_seen(&old), &old, chunk).map_err(|e| match e {
                ProgramError::SetsBits => FlashError::WouldSetBits { offset: word },
                _ => FlashError::NotErased { offset: word },
            })?;
        }
        for (chunk, word) in bytes.chunks_exact(WORD).zip(offsets(offset, usize::MAX).step_by(WORD)) {
            let program = |count: usize| {
                for (&new, at) in chunk.iter().take(count).zip(offsets(word, WORD)) {
                    store(at, load(at) & new);
                }
            };
            self.begin_store(program);
            program(WORD);
        }
        Ok(())
    }
}

/// The OTP area as a [`NorFlash`] (offsets from its start): programs each word once,
/// counted and cut like every store of the [`Flash`]; erase is always refused.
struct Otp<'a>(&'a mut Flash);

impl ErrorType for Otp<'_> {
    type Error = FlashError;
}

impl ReadNorFlash for Otp<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        check_read(self, offset, bytes.len())?;
        ReadNorFlash::read(self.0, OTP_OFFSET.saturating_add(offset), bytes)
    }

    fn capacity(&self) -> usize {
        OTP_END.saturating_sub(OTP_OFFSET) as usize
    }
}

impl NorFlash for Otp<'_> {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = ERASE_SIZE as usize;

    /// OTP is never erased.
    fn erase(&mut self, _: u32, _: u32) -> Result<(), FlashError> {
        Err(FlashError::Otp)
    }

    /// Programs words of the OTP area, each at most once ([`WriteCount::Once`]).
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        check_write(self, offset, bytes.len())?;
        self.0.program(OTP_OFFSET.saturating_add(offset), bytes, WriteCount::Once)
    }
}

/// The virtual board's hardware security counters: the shared thermometer codes in the
/// OTP sector ([`OtpCounters`] over [`Otp`]).
impl SecurityCounter for Flash {
    type Error = CounterError<FlashError>;

    fn read(&mut self, id: CounterId) -> Result<u32, Self::Error> {
        OtpCounters::new(Otp(self), OTP_SIZE, OTP_UNIT).read(id)
    }

    fn advance(&mut self, id: CounterId, to: u32) -> Result<u32, Self::Error> {
        OtpCounters::new(Otp(self), OTP_SIZE, OTP_UNIT).advance(id, to)
    }
}
