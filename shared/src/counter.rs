//! Hardware security counters: monotonic counters kept outside the record, in memory that
//! can only be programmed (OTP, or flash the boot stage locks before every hand-off), so
//! that wiping or forging the record region cannot lower them.
//!
//! The boot stage reads each counter at every boot and applies the larger of the record's
//! value and the counter's ([`effective_floor`]). It advances a counter only on a boot of
//! an already confirmed slot whose verified value is higher ([`advance_target`]), never on
//! a trial and never on behalf of the OS. A board that has such memory implements
//! [`SecurityCounter`] (usually over a [`Thermometer`] per counter); one without says so
//! with [`NoSecurityCounter`] (docs/PORTING.md).
//!
//! # Thermometer code
//!
//! Program-once memory cannot hold a binary number that grows: a counter is stored as a
//! run of *units* (one or more write-words each, all `0xFF` when erased). Value *n* is
//! "units `0 .. n` programmed to `0x00`", so every increment programs one more unit and
//! never touches a programmed one. The rules, the same for every board
//! ([`Thermometer::read`], [`decode`]):
//!
//! * a unit is **erased** when every byte reads `0xFF`; any other content (fully
//!   programmed, torn, or weak cells that read differently each time) counts as
//!   programmed;
//! * the value is the index of the **last** unit that is not erased, plus one (0 when all
//!   are erased). The scan reads every unit once: it is bounded by the area's size and
//!   never depends on the contents;
//! * an advance to *t* ([`Thermometer::advance`]) programs the erased units from the
//!   current value up to unit *t* − 1, in order, each with `0x00` and read back; a unit
//!   below *t* − 1 that cannot be programmed (a unit an earlier cut touched, on
//!   program-once flash) is skipped; the advance succeeds only if unit *t* − 1 reads back
//!   all `0x00`. It never programs a unit at or above *t*.
//!
//! Why a cut or a weak cell never lowers the value below one that was reported: an
//! advance reports *t* only after unit *t* − 1 read back fully programmed, i.e. its
//! program completed, and nothing ever erases the area, so that unit reads "not erased"
//! forever and the value stays ≥ *t*. A cut during an advance from *v* leaves the units
//! it completed (value between *v* and *t*) and at most one torn unit above them, which
//! counts conservatively (as programmed) whenever any of its bits reads 0; if all of its
//! programmed bits are weak it may read erased on one boot and programmed on the next, so
//! the value moves between two numbers that are both ≥ *v*. Why it never bricks: only
//! units below the target are ever programmed, and the target is the security counter of
//! a confirmed image that verified, so the counter never exceeds the counter of the image
//! that was booting: that image still boots.
//!
//! **Capacity.** An area of *N* units holds values 0 ..= *N*. A target above *N*
//! saturates: unit *N* − 1 is programmed and the hardware floor stays *N*; the record's
//! floor keeps the exact value, so the effective floor is then max(record, *N*).

use core::fmt;

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};

use crate::nor::ERASED;
use crate::policy::BootKind;

/// Which hardware counter. Each has its own area (a [`Thermometer`]): a counter added
/// later gets a new variant and the next area, and changes nothing for the existing ones.
/// Deliberately not `#[non_exhaustive]`: a new counter makes every `match` on it fail to
/// compile until it is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CounterId {
    /// The anti-rollback floor: the lowest image security counter the stage boots.
    Rollback,
    /// The key floor: trusted keys with a lower index are revoked (docs/SECURITY.md).
    /// Advanced, with the same confirm-only rule, to a confirmed image's signed
    /// `revoke-below` (never above the index of the key that signed it).
    KeyFloor,
}

impl CounterId {
    /// Every counter, in area order.
    pub const ALL: [CounterId; 2] = [CounterId::Rollback, CounterId::KeyFloor];

    /// The counter's area index: area `i` of a board's OTP area starts `i` area sizes
    /// after its start (docs/PORTING.md).
    pub const fn index(self) -> u32 {
        match self {
            CounterId::Rollback => 0,
            CounterId::KeyFloor => 1,
        }
    }

    /// A stable lowercase name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            CounterId::Rollback => "rollback",
            CounterId::KeyFloor => "key-floor",
        }
    }
}

/// A platform's hardware security counters (docs/PORTING.md). Implementations store
/// each counter so that nothing but the boot stage can lower it, typically as a
/// [`Thermometer`] in OTP.
///
/// Power-loss behaviour: [`SecurityCounter::advance`] cut at any instant leaves the
/// counter at its old value, at the new one, or in between; never below the old one.
pub trait SecurityCounter {
    /// Why a counter could not be read or advanced.
    type Error: fmt::Debug;

    /// The counter's current value. Called once per boot, before the boot sequence.
    ///
    /// # Errors
    ///
    /// The counter cannot be read: the stage then boots on the record's floor alone.
    fn read(&mut self, id: CounterId) -> Result<u32, Self::Error>;

    /// Raises the counter to at least `to` (saturating at its capacity) and returns the
    /// value it reads afterwards. Never lowers it; a value at or above `to` writes nothing.
    ///
    /// # Errors
    ///
    /// The write failed or did not read back: the counter is unchanged or partly advanced
    /// (never lowered); the stage logs it and boots anyway.
    fn advance(&mut self, id: CounterId, to: u32) -> Result<u32, Self::Error>;

    /// Makes the counters unwritable until the next reset, where the memory needs it (a
    /// flash page the nRF52840's ACL write-protects); OTP that only the boot stage's code
    /// can reach needs nothing (the default). The boot stage calls it right before it
    /// hands off and before recovery, after any advance.
    fn lock(&mut self) {}
}

/// The [`SecurityCounter`] of a platform without any (the RP2040, the virtual SoC): its
/// boot stage keeps the record-only floor. A platform names it explicitly
/// (`type Counter = NoSecurityCounter` and `security_counter()` returning `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoSecurityCounter;

impl SecurityCounter for NoSecurityCounter {
    type Error = core::convert::Infallible;

    fn read(&mut self, _: CounterId) -> Result<u32, Self::Error> {
        Ok(0)
    }

    fn advance(&mut self, _: CounterId, _: u32) -> Result<u32, Self::Error> {
        Ok(0)
    }
}

/// The floor the boot stage applies: the larger of the record's and the hardware
/// counter's (0 where there is none).
pub const fn effective_floor(record: u32, hardware: u32) -> u32 {
    if hardware > record {
        hardware
    } else {
        record
    }
}

/// The confirm-only rule: the value to advance the hardware counter to after booting an
/// image of `kind` with the verified `security_counter`, when the counter reads
/// `hardware`. `Some` only for a **confirmed** slot (never a trial, never a last resort)
/// whose counter is higher; `None` otherwise.
pub fn advance_target(kind: BootKind, security_counter: u32, hardware: u32) -> Option<u32> {
    (kind == BootKind::Confirmed && security_counter > hardware).then_some(security_counter)
}

/// Why a [`Thermometer`] could not be advanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CounterError<E> {
    /// The driver failed a read.
    Flash(E),
    /// The unit that makes the target value (its index) did not program or read back
    /// all `0x00`: the value is unchanged or partly advanced.
    NotProgrammed(u32),
    /// The counter's area is not a valid [`Thermometer`] (a layout safeslot-layout would
    /// have refused).
    Area,
}

impl<E: fmt::Debug> fmt::Display for CounterError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterError::Flash(e) => write!(f, "counter read failed: {e:?}"),
            CounterError::NotProgrammed(u) => write!(f, "counter unit {u} did not program"),
            CounterError::Area => f.write_str("invalid counter area"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for CounterError<E> {}

/// Largest unit in bytes (one ECC double word of the STM32L4 is 8; a 32-byte write-word
/// is the largest the journal supports).
pub const MAX_UNIT: usize = 32;

/// Whether a unit's bytes read erased (every byte `0xFF`).
fn erased(unit: &[u8]) -> bool {
    unit.iter().all(|&b| b == ERASED)
}

/// The value of a thermometer area from its bytes (`unit` bytes per unit; a trailing
/// partial unit is ignored): the index of the last unit that is not erased, plus one. The
/// rule of [`Thermometer::read`], for tools that read an area's bytes (the rigs).
pub fn decode(bytes: &[u8], unit: usize) -> u32 {
    if unit == 0 {
        return 0;
    }
    bytes
        .chunks_exact(unit)
        .enumerate()
        .rev()
        .find(|(_, u)| !erased(u))
        .map_or(0, |(i, _)| u32::try_from(i).map_or(u32::MAX, |i| i.saturating_add(1)))
}

/// One counter stored as a thermometer code (module docs) in `units` units of `unit`
/// bytes from `offset` of a [`NorFlash`] that never erases it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Thermometer {
    offset: u32,
    unit: u32,
    units: u32,
}

impl Thermometer {
    /// The counter in `size` bytes at `offset`, `unit` bytes per unit: `unit` in
    /// 1 ..= [`MAX_UNIT`], `size` a non-zero multiple of `unit`, the area inside the
    /// 32-bit offset space. `None` otherwise.
    pub const fn new(offset: u32, size: u32, unit: u32) -> Option<Thermometer> {
        if unit == 0 || unit as usize > MAX_UNIT || size == 0 || !size.is_multiple_of(unit) {
            return None;
        }
        match (offset.checked_add(size), size.checked_div(unit)) {
            (Some(_), Some(units)) => Some(Thermometer { offset, unit, units }),
            _ => None,
        }
    }

    /// The area of counter `id` in an OTP area of `size` bytes per counter starting at
    /// `offset` ([`CounterId::index`] areas after it). `None` as for [`Thermometer::new`].
    pub const fn for_counter(id: CounterId, offset: u32, size: u32, unit: u32) -> Option<Thermometer> {
        match id.index().checked_mul(size) {
            Some(skip) => match offset.checked_add(skip) {
                Some(start) => Thermometer::new(start, size, unit),
                None => None,
            },
            None => None,
        }
    }

    /// The largest value the area holds (its number of units).
    pub const fn capacity(&self) -> u32 {
        self.units
    }

    /// The area's offset in its device.
    pub const fn offset(&self) -> u32 {
        self.offset
    }

    /// The area's size in bytes.
    pub const fn size(&self) -> u32 {
        self.units.saturating_mul(self.unit)
    }

    fn unit_offset(&self, i: u32) -> u32 {
        self.offset.saturating_add(i.saturating_mul(self.unit))
    }

    /// Reads unit `i` into `buf` and says whether it is erased.
    fn unit_erased<F: ReadNorFlash>(&self, f: &mut F, i: u32) -> Result<bool, F::Error> {
        let mut buf = [0u8; MAX_UNIT];
        let len = self.unit as usize;
        let b = buf.get_mut(..len).unwrap_or_default();
        f.read(self.unit_offset(i), b)?;
        Ok(erased(b))
    }

    /// The counter's value: the index of the last unit that is not erased, plus one
    /// (module docs). Reads every unit once.
    ///
    /// # Errors
    ///
    /// The driver's read error.
    pub fn read<F: ReadNorFlash>(&self, f: &mut F) -> Result<u32, F::Error> {
        let mut value = 0;
        for i in 0..self.units {
            if !self.unit_erased(f, i)? {
                value = i.saturating_add(1);
            }
        }
        Ok(value)
    }

    /// Raises the value to `min(to, capacity)` (module docs: the units from the current
    /// value up to the target's, each programmed to `0x00` and read back, a failing unit
    /// below the last one skipped) and returns the value read afterwards. Writes nothing
    /// when the value is already there.
    ///
    /// # Errors
    ///
    /// [`CounterError::Flash`] when a read fails, [`CounterError::NotProgrammed`] when the
    /// target's unit does not read back programmed. Neither lowers the value.
    pub fn advance<F: NorFlash>(&self, f: &mut F, to: u32) -> Result<u32, CounterError<F::Error>> {
        let target = to.min(self.units);
        let now = self.read(f).map_err(CounterError::Flash)?;
        if now >= target {
            return Ok(now);
        }
        let zeros = [0u8; MAX_UNIT];
        let data = zeros.get(..self.unit as usize).unwrap_or_default();
        for i in now..target {
            // A write error is not final: the read-back decides (a unit an earlier cut
            // touched may refuse the program and still read programmed).
            let _ = f.write(self.unit_offset(i), data);
            let mut back = [ERASED; MAX_UNIT];
            let b = back.get_mut(..data.len()).unwrap_or_default();
            f.read(self.unit_offset(i), b).map_err(CounterError::Flash)?;
            if b != data && i.saturating_add(1) == target {
                return Err(CounterError::NotProgrammed(i));
            }
        }
        self.read(f).map_err(CounterError::Flash)
    }
}

/// Every [`CounterId`] as a thermometer code in an OTP window `F` (offsets from the
/// layout's `[otp] address`): counter `i`'s area is the `size` bytes at `i · size`, in
/// units of `unit` bytes. What a board with OTP wraps its driver in.
#[derive(Debug)]
pub struct OtpCounters<F> {
    otp: F,
    size: u32,
    unit: u32,
}

impl<F> OtpCounters<F> {
    /// The counters over `otp`, `size` bytes per counter (the layout's `[otp] size` and
    /// `unit`).
    pub const fn new(otp: F, size: u32, unit: u32) -> Self {
        OtpCounters { otp, size, unit }
    }

    /// The OTP window's driver.
    pub fn otp(&mut self) -> &mut F {
        &mut self.otp
    }

    /// Counter `id`'s area.
    fn area<E>(&self, id: CounterId) -> Result<Thermometer, CounterError<E>> {
        Thermometer::for_counter(id, 0, self.size, self.unit).ok_or(CounterError::Area)
    }
}

impl<F: NorFlash> SecurityCounter for OtpCounters<F> {
    type Error = CounterError<F::Error>;

    fn read(&mut self, id: CounterId) -> Result<u32, Self::Error> {
        self.area(id)?.read(&mut self.otp).map_err(CounterError::Flash)
    }

    fn advance(&mut self, id: CounterId, to: u32) -> Result<u32, Self::Error> {
        self.area(id)?.advance(&mut self.otp, to)
    }
}

#[cfg(test)]
mod tests;
