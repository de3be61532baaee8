//! The CFI NOR driver for pflash1 (the record and the slots): Intel/Sharp command set, as
//! QEMU models `-M virt`'s banks — two x16 chips side by side in a 32-bit bank, so every
//! command is written as a 32-bit word with the command in both halves (`0x0020_0020`).
//!
//! * block erase: `0x20`, then `0xD0` at the block; poll status bit `0x80`;
//! * program: `0x40`, then the data word; poll status bit `0x80`;
//! * `0x50` clears the status, `0xFF` returns to read-array mode (where the bank reads as
//!   memory).
//!
//! QEMU's program simply stores the word, so this driver enforces the NOR rules itself,
//! as the real part would, through the one rule set in [`safeslot_shared::nor`]: erase
//! works on whole [`ERASE_SIZE`] blocks; program works on whole [`WRITE_SIZE`] units (whole
//! 32-bit bank words, programmed one after the other), each bank word checked by
//! [`nor::check_word`] before anything is written: the layout's write-count mode
//! ([`WORD_WRITES`]; [`CfiError::WriteLimit`]) and only clearing bits
//! ([`CfiError::WouldSetBits`]). Without per-word state, a word's write count is what its
//! contents show ([`nor::writes_seen`]). Every word is programmed, all-ones ones included:
//! a program of all `0xFF` counts as a write under the shared rules.
//!
//! # Power cuts
//!
//! As on the Cortex-M board (`boards/qemu-mps2-an386/src/flash.rs`), every mutating store
//! is counted: each programmed write unit ([`WRITE_SIZE`] bytes) and each erased block is
//! one store, numbered from 1 in the stage's run. A [`CutPlan`] (the rig order's `cut=N`
//! and `torn=K`, read from fw_cfg by [`crate::fwcfg`]) stops the machine just before store
//! `N` lands: stores `1 ..= N-1` are in the bank and nothing after them is. The stage prints
//! the shared result line `safeslot: cut store=N torn=K` (`StageLine::Cut`) and powers off
//! (PSCI `SYSTEM_OFF`). With `torn=K` on a program store, its first `K` bytes land first
//! (the rest of the unit stays as it was); on an erase, `torn` is ignored: the CFI command set has no way to erase part
//! of a block, so a cut erase leaves the block untouched. `wfault=` is not honoured here.
//!
//! This is the register module of the driver: the volatile accesses to the bank are its
//! only unsafe code.

use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

use safeslot_shared::nor::{self, ProgramError, WriteCount};
use safeslot_shared::protocol::log::StageLine;
use safeslot_shared::protocol::order::CutPlan;

use crate::layout::{ERASE_SIZE, FLASH_BASE, FLASH_SIZE, WORD_WRITES, WRITE_SIZE};

const CMD_ERASE: u32 = 0x0020_0020;
const CMD_CONFIRM: u32 = 0x00D0_00D0;
const CMD_PROGRAM: u32 = 0x0040_0040;
const CMD_CLEAR_STATUS: u32 = 0x0050_0050;
const CMD_READ_ARRAY: u32 = 0x00FF_00FF;
/// Status: ready (both chips).
const SR_READY: u32 = 0x0080_0080;
/// Status: erase error, program error, Vpp low, block locked (both chips).
const SR_ERRORS: u32 = 0x003A_003A;
/// Bound on status polls for one operation (QEMU completes at once; a real part within
/// milliseconds). Running out is reported as [`CfiError::Timeout`].
const POLLS: u32 = 10_000_000;

const _: () = assert!(
    WRITE_SIZE >= 4 && WRITE_SIZE.is_multiple_of(4),
    "the driver programs a write unit as whole 32-bit bank words, one at a time"
);

/// Why a flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CfiError {
    /// Offset or length is not a multiple of the write or erase size.
    NotAligned,
    /// The range runs past the end of the device.
    OutOfBounds,
    /// Programming the word at this offset would turn a 0 bit into 1 (refused, unchanged).
    WouldSetBits {
        /// Offset of the word from the start of the device.
        offset: u32,
    },
    /// The word at this offset was already programmed as often as the layout's write-count
    /// mode allows since its erase (refused, unchanged).
    WriteLimit {
        /// Offset of the word from the start of the device.
        offset: u32,
    },
    /// The chip reported an error (status bits in the value).
    Device {
        /// The status word.
        status: u32,
    },
    /// The chip never reported ready.
    Timeout,
}

impl NorFlashError for CfiError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for CfiError {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => Self::NotAligned,
            _ => Self::OutOfBounds,
        }
    }
}

/// pflash1, from [`FLASH_BASE`] for [`FLASH_SIZE`] bytes.
#[derive(Debug)]
pub struct Cfi {
    plan: CutPlan,
    stores: u32,
}

impl Cfi {
    /// The driver without a cut (the bank is left in read-array mode after every
    /// operation).
    pub fn new() -> Cfi {
        Cfi::with_plan(CutPlan::NONE)
    }

    /// The driver with the rig's cut plan (module docs, "Power cuts").
    pub fn with_plan(plan: CutPlan) -> Cfi {
        let c = Cfi { plan, stores: 0 };
        c.command(0, CMD_READ_ARRAY);
        c
    }

    /// Stores (programmed write units plus erased blocks) made so far.
    pub fn stores(&self) -> u32 {
        self.stores
    }

    /// Counts one store and, if it is the planned cut, lets `partial(torn)` land and
    /// powers off.
    fn begin_store(&mut self, partial: impl FnOnce(&Self, usize)) {
        self.stores = self.stores.saturating_add(1);
        if self.plan.cut == Some(self.stores) {
            partial(self, usize::try_from(self.plan.torn).unwrap_or(usize::MAX));
            let mut u = crate::uart::Uart;
            let line = StageLine::Cut { store: self.stores, torn: self.plan.torn };
            let _ = line.encode(&mut u).and_then(|()| core::fmt::Write::write_str(&mut u, "\n"));
            crate::handoff::power_off();
        }
    }

    /// Programs one 32-bit bank word (already checked against the NOR rules).
    fn program_word(&self, at: u32, word: u32) -> Result<(), CfiError> {
        self.command(at, CMD_PROGRAM);
        self.command(at, word);
        self.finish(at)
    }

    fn addr(offset: u32) -> usize {
        FLASH_BASE as usize + offset as usize
    }

    fn read_word(&self, offset: u32) -> u32 {
        // SAFETY: callers pass a 4-byte aligned offset below FLASH_SIZE (checked by the
        // NorFlash entry points), so the address is an aligned word of the bank, which
        // QEMU maps as a ROM device (read-array mode) or answers with status (command mode).
        unsafe { core::ptr::read_volatile(Self::addr(offset) as *const u32) }
    }

    fn command(&self, offset: u32, word: u32) {
        // SAFETY: as in `read_word`: an aligned word of the bank; a store there is a
        // command or data cycle to the flash chips, which changes no RAM.
        unsafe { core::ptr::write_volatile(Self::addr(offset) as *mut u32, word) }
    }

    /// Waits for ready, checks the error bits, clears the status, back to read-array mode.
    fn finish(&self, offset: u32) -> Result<(), CfiError> {
        let mut status = 0;
        let mut ready = false;
        for _ in 0..POLLS {
            status = self.read_word(offset);
            if status & SR_READY == SR_READY {
                ready = true;
                break;
            }
        }
        let result = if !ready {
            Err(CfiError::Timeout)
        } else if status & SR_ERRORS != 0 {
            Err(CfiError::Device { status })
        } else {
            Ok(())
        };
        self.command(offset, CMD_CLEAR_STATUS);
        self.command(offset, CMD_READ_ARRAY);
        result
    }

    /// Copies `out.len()` bytes from `offset` (in read-array mode) into `out`, a word at a
    /// time where aligned: the fast path for copying a whole slot to RAM.
    pub fn read_into(&self, offset: u32, out: &mut [u8]) -> Result<(), CfiError> {
        check_read(self, offset, out.len())?;
        let mut at = offset;
        let mut chunks = out.chunks_exact_mut(4);
        let aligned = offset.is_multiple_of(4);
        for c in &mut chunks {
            if aligned {
                c.copy_from_slice(&self.read_word(at).to_le_bytes());
            } else {
                for (i, b) in c.iter_mut().enumerate() {
                    *b = self.byte(at.saturating_add(i as u32));
                }
            }
            at = at.saturating_add(4);
        }
        for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
            *b = self.byte(at.saturating_add(i as u32));
        }
        Ok(())
    }

    fn byte(&self, offset: u32) -> u8 {
        let w = self.read_word(offset & !3);
        w.to_le_bytes().get((offset & 3) as usize).copied().unwrap_or(0xFF)
    }
}

impl Default for Cfi {
    fn default() -> Self {
        Cfi::new()
    }
}

impl ErrorType for Cfi {
    type Error = CfiError;
}

impl ReadNorFlash for Cfi {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), CfiError> {
        self.read_into(offset, bytes)
    }

    fn capacity(&self) -> usize {
        FLASH_SIZE as usize
    }
}

impl NorFlash for Cfi {
    const WRITE_SIZE: usize = WRITE_SIZE as usize;
    const ERASE_SIZE: usize = ERASE_SIZE as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), CfiError> {
        check_erase(self, from, to)?;
        let mut at = from;
        // Bounded: one pass per block of the (checked) range.
        while at < to {
            // A cut erase leaves the block as it was (module docs).
            self.begin_store(|_, _| {});
            self.command(at, CMD_ERASE);
            self.command(at, CMD_CONFIRM);
            self.finish(at)?;
            at = at.saturating_add(ERASE_SIZE);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), CfiError> {
        check_write(self, offset, bytes.len())?;
        // Check every word first, so a refused request changes nothing.
        let mode = WriteCount::from_word_writes(WORD_WRITES);
        for (i, w) in bytes.chunks_exact(4).enumerate() {
            let at = offset.saturating_add((i as u32).saturating_mul(4));
            let old = self.read_word(at).to_le_bytes();
            nor::check_word(mode, nor::writes_seen(&old), &old, w).map_err(|e| match e {
                ProgramError::SetsBits => CfiError::WouldSetBits { offset: at },
                _ => CfiError::WriteLimit { offset: at },
            })?;
        }
        let unit = WRITE_SIZE as usize;
        for (u, chunk) in bytes.chunks_exact(unit).enumerate() {
            let base = offset.saturating_add((u as u32).saturating_mul(WRITE_SIZE));
            let word_at = |i: usize| base.saturating_add((i as u32).saturating_mul(4));
            // A torn store: its first `torn` bytes land, the rest of the unit stays as it
            // was (a program only clears bits, so 0xFF leaves those bytes alone). The
            // machine stops right after, so a failed program here can only show as bytes
            // that did not land, which the rig's torn check (exact bytes) reports.
            self.begin_store(|c, torn| {
                for (i, w) in chunk.chunks_exact(4).enumerate() {
                    let mut word = [0xFF; 4];
                    for (j, b) in word.iter_mut().enumerate() {
                        if i.saturating_mul(4).saturating_add(j) < torn {
                            *b = w.get(j).copied().unwrap_or(0xFF);
                        }
                    }
                    if word != [0xFF; 4] {
                        let _ = c.program_word(word_at(i), u32::from_le_bytes(word));
                    }
                }
            });
            for (i, w) in chunk.chunks_exact(4).enumerate() {
                self.program_word(word_at(i), u32::from_le_bytes(w.try_into().unwrap_or([0xFF; 4])))?;
            }
        }
        Ok(())
    }
}
