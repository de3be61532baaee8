//! The boot stage's main, once for every board: [`run`] over a small [`Platform`].
//!
//! ```text
//! feed watchdog → sample recovery input and reset cause → read the hardware
//! anti-rollback counter → boot() (journal → policy + verify → persist, on the effective
//! floor)
//!   ├─ Launch:   log → hand-off block → feed → re-check address, floor, proof and
//!   │            control-flow counter (twice) → advance the hardware counter (confirmed
//!   │            slot with a higher security counter only) → arm the watchdog (layout
//!   │            `[watchdog]`) → Platform::launch
//!   └─ Recovery: log → Platform::recover
//! ```
//!
//! A board (the virtual Cortex-M board, the real boards, the size probe, the aarch64 SoC
//! stage) implements [`Platform`] and calls [`run`] with the [`BootConfig`] its build
//! script generated from `layout.toml`; there is no other copy of this sequence. Test hooks
//! (power cuts, rig orders) live inside a platform's flash driver or before the call, never
//! in a second main.
//!
//! The watchdog is fed by a flash wrapper (`Fed`, as embassy-boot-nrf's `WatchdogFlash`):
//! every flash operation of the sequence — journal scan, record write, each hashed chunk of
//! an image — feeds it first, so nothing in the sequence takes a watchdog callback.

use core::convert::Infallible;
use core::hint::black_box;

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use safeslot_shared::counter::{advance_target, effective_floor};
pub use safeslot_shared::counter::{CounterId, NoSecurityCounter, SecurityCounter};
use safeslot_shared::handoff::{Handoff, HANDOFF_LEN};
use safeslot_shared::policy::Inputs;
use safeslot_shared::reason::Reason;
pub use safeslot_shared::reset::ResetCause;
pub use safeslot_shared::verify::{Sha256Engine, SoftSha256};

use crate::fih::Checkpoint;
use crate::sequence::{boot, BootConfig, Launch, Outcome};

/// A short, stable name for logs (the recovery line `safeslot: recovery reason=<name>`).
pub trait Named {
    /// The name: lowercase, no spaces.
    fn name(&self) -> &'static str;
}

impl Named for Reason {
    fn name(&self) -> &'static str {
        Reason::name(*self)
    }
}

impl Named for Infallible {
    fn name(&self) -> &'static str {
        match *self {}
    }
}

/// Why the boot stage stops without handing off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stop<E> {
    /// The boot sequence found nothing that may be booted.
    Sequence(Reason),
    /// The verification proof did not hold at the check right before the hand-off
    /// (fault-injection hardening: a glitch, never a normal outcome).
    Fault,
    /// The platform could not start the verified image.
    Launch(E),
}

impl<E: Named> Named for Stop<E> {
    fn name(&self) -> &'static str {
        match self {
            Stop::Sequence(r) => r.name(),
            Stop::Fault => "fault",
            Stop::Launch(e) => e.name(),
        }
    }
}

/// What [`run`] reports to the platform's log sink ([`Platform::log`]).
#[derive(Clone, Copy, Debug)]
pub enum Event<'a, E> {
    /// An image was chosen and verified; this hand-off block is written next.
    Boot(&'a Handoff),
    /// The stage stops without handing off ([`Platform::recover`] follows).
    Recovery(&'a Stop<E>),
    /// What happened to a hardware security counter ([`Platform::security_counter`]).
    Counter(CounterId, CounterEvent),
}

/// What [`run`] did with a hardware security counter (logged through [`Event::Counter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CounterEvent {
    /// Read before the boot sequence: this value applies as the floor with the record's.
    Read(u32),
    /// The read failed: this boot applies the record's floor alone.
    Unreadable,
    /// Advanced for the confirmed slot being launched; the value it reads now.
    Advanced(u32),
    /// The advance to this value failed; the boot goes on (the counter is unchanged or
    /// partly advanced, never lower, and the next confirmed boot tries again).
    NotAdvanced(u32),
}

/// The verified image [`run`] hands to [`Platform::launch`]: the [`Launch`] that
/// [`boot`] returned, unchanged. Only [`run`] builds one (its field is private and it is
/// neither `Clone` nor `Copy`), so a platform's jump may rely on it describing an image
/// whose signature and SHA-256 verified and whose load address is its slot's.
#[derive(Debug)]
pub struct ApprovedLaunch {
    launch: Launch,
}

impl ApprovedLaunch {
    /// The launch as [`boot`] returned it.
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    /// Re-checks the redundant verification proof ([`Launch::holds`]): a platform calls it
    /// once more right before its jump.
    pub fn holds(&self) -> bool {
        self.launch.holds()
    }
}

/// What a board supplies to [`run`]: flash, watchdog, log sink, recovery input, the
/// hand-off block's place, the jump and the recovery state.
///
/// Power-loss behaviour: [`run`] writes flash only through [`Platform::flash`] and only in
/// the boot sequence (one journal append at most, which a cut leaves as the old or the new
/// record: docs/DESIGN.md, "The journal under faults"); the hand-off block goes to RAM after that
/// write, so a cut anywhere in [`run`] repeats the boot from a durable record.
pub trait Platform {
    /// The NOR flash that holds the record and the slots (offsets from the layout's
    /// `[flash] base`). A board with a test hook (the virtual board's power cuts) puts it
    /// in this driver.
    type Flash: NorFlash;
    /// Why [`Platform::launch`] could not start a verified image (named in the log).
    type LaunchError: Copy + Named;
    /// What [`run`] returns: [`Infallible`] on a board, where [`Platform::launch`] and
    /// [`Platform::recover`] never return (`match run(..) {}`); a record of the ending in
    /// host tests.
    type End;

    /// The flash driver.
    fn flash(&mut self) -> &mut Self::Flash;

    /// The SHA-256 engine images are hashed with: [`SoftSha256`] for software, or a board's
    /// hash peripheral (docs/PORTING.md, "A hash engine").
    type Sha256: Sha256Engine;

    /// The engine, once per boot, before the sequence starts (a peripheral handle the
    /// platform gives away, or a new software state).
    fn sha256(&mut self) -> Self::Sha256;

    /// Feeds the watchdog if one may be running (a no-op by default). Called before the
    /// sequence, before every flash operation of it, and before the hand-off.
    fn feed_watchdog(&mut self) {}

    /// Starts (or restarts) the chip's watchdog with a timeout of `timeout_ms`, so that it
    /// resets the chip unless the image feeds it. [`run`] calls it once, after every check
    /// of the launch and right before [`Platform::launch`], when the layout's `[watchdog]`
    /// asks for it on this boot (the hand-off block already says `timeout_ms`). No default:
    /// a board whose layout has no `[watchdog]` table is never called and says so; a board
    /// must reject at build time a timeout its watchdog cannot count.
    fn arm_watchdog(&mut self, timeout_ms: u32);

    /// Whether the recovery input is held (sampled once, at the start). Boots the
    /// last-known-good slot first (docs/DESIGN.md, decision table row 9).
    fn recovery_requested(&mut self) -> bool;

    /// The log sink (nothing by default, so a log-free build carries no strings).
    fn log(&mut self, event: Event<'_, Self::LaunchError>) {
        let _ = event;
    }

    /// Leaves the hand-off block for the image (RAM the layout's `[handoff]` reserves, or
    /// wherever the payload expects it: the aarch64 stage puts it into the device tree).
    fn leave_handoff(&mut self, block: &[u8; HANDOFF_LEN]);

    /// Starts the verified image: for an XIP image the jump (checking
    /// [`ApprovedLaunch::holds`] right before it), for Linux its placement and the jump.
    /// Returns only if it could not; [`run`] then stops with [`Stop::Launch`].
    ///
    /// # Errors
    ///
    /// Why the image could not be started.
    fn launch(&mut self, approved: ApprovedLaunch) -> Result<Self::End, Self::LaunchError>;

    /// Nothing is booted: report (the log already has the reason) and wait, offer an
    /// update path, or reset. Never returns on a board.
    fn recover(&mut self, stop: Stop<Self::LaunchError>) -> Self::End;

    /// Why the chip reset, read from the chip (and cleared as the chip requires, so the
    /// next reset reports its own cause). [`run`] calls it once, before the boot sequence:
    /// the policy may let a bounded number of power-loss resets during a trial not use a
    /// try, the history and the hand-off block carry it. Default: unknown.
    fn reset_cause(&mut self) -> ResetCause {
        ResetCause::Unknown
    }

    /// The hardware security counters ([`SecurityCounter`]): [`NoSecurityCounter`] on a
    /// platform without any.
    type Counter: SecurityCounter;

    /// The platform's hardware security counters (OTP, a monotonic counter), or `None`:
    /// the boot stage then keeps the record-only floor. No default, as for
    /// [`Platform::arm_watchdog`]: every platform says which it has (docs/PORTING.md).
    ///
    /// [`run`] reads [`CounterId::Rollback`] once, before the boot sequence, and boots on
    /// the larger of it and the record's floor; it advances it only after every check of
    /// a launch of a slot that was **already confirmed** with a higher verified security
    /// counter, right before the watchdog and the jump (never on a trial or last-resort
    /// boot, never for the OS). [`CounterId::KeyFloor`] likewise, with the record's key
    /// floor and the confirmed image's signed `revoke-below`. A failed read or advance is logged and the boot goes on.
    /// It calls [`SecurityCounter::lock`] right before [`Platform::launch`] and before
    /// [`Platform::recover`].
    fn security_counter(&mut self) -> Option<&mut Self::Counter>;
}

/// The boot stage's main: runs the boot sequence over `p`'s flash with `cfg` (the board's
/// generated configuration), then hands off or stops. See the module docs.
pub fn run<P: Platform>(p: &mut P, cfg: &BootConfig<'_>) -> P::End {
    p.feed_watchdog();
    let hardware_floor = read_counter(p, CounterId::Rollback);
    let hardware_key_floor = u8::try_from(read_counter(p, CounterId::KeyFloor)).unwrap_or(u8::MAX);
    let inputs = Inputs {
        recovery: p.recovery_requested(),
        reset_cause: p.reset_cause(),
        free_retries: cfg.power_loss_retries,
        refuse_downgrade: cfg.refuse_downgrade,
        hardware_floor,
        hardware_key_floor,
    };
    let capacity = p.flash().capacity();
    let mut sha = p.sha256();
    let launch = match boot(&mut Fed { p: &mut *p, capacity }, &mut sha, cfg, inputs) {
        Outcome::Launch(l) => l,
        Outcome::Recovery(reason) => return stop(p, Stop::Sequence(reason)),
    };
    p.log(Event::Boot(&launch.handoff));
    p.leave_handoff(&launch.handoff.encode());
    p.feed_watchdog();
    let mut launch = launch;
    // Fault-injection hardening (docs/DESIGN.md, "Fault-injection hardening"): every
    // decision that lets this image run is taken once more, here, right before the
    // platform's jump, twice by different code, with the control-flow counter complete;
    // the launch is reached only through all of them, and failure is the fall-through. The
    // platform checks the proof once more right before its jump.
    let region = cfg.slots.get(launch.slot.index()).copied();
    let address_ok = region.is_some_and(|r| r.load_addr.is_none_or(|a| a == launch.load_addr));
    launch.flow.step(Checkpoint::Address);
    let floor_ok = black_box(launch.security_counter)
        >= effective_floor(black_box(launch.floor), black_box(hardware_floor))
        && black_box(launch.key_index) >= black_box(launch.key_floor).max(black_box(hardware_key_floor));
    launch.flow.step(Checkpoint::Floor);
    let proof_ok = launch.holds();
    launch.flow.step(Checkpoint::Proof);
    if address_ok && floor_ok && proof_ok && launch.flow.complete() {
        // The same decisions, computed another way.
        let address_again = region.map_or(u64::MAX, |r| r.load_addr.map_or(0, |a| black_box(a) ^ launch.load_addr));
        let floor_again = black_box(launch.security_counter)
            .checked_sub(black_box(launch.floor))
            .and(black_box(launch.security_counter).checked_sub(black_box(hardware_floor)))
            .and(black_box(launch.key_index).checked_sub(black_box(launch.key_floor)))
            .and(black_box(launch.key_index).checked_sub(black_box(hardware_key_floor)));
        if black_box(address_again) == 0 && floor_again.is_some() && launch.holds() {
            // The confirm-only rule (`safeslot_shared::counter::advance_target`): after
            // every check, before the jump; a failure is logged, the boot goes on.
            if let Some(to) = advance_target(launch.handoff.kind, launch.security_counter, hardware_floor) {
                advance_counter(p, CounterId::Rollback, to);
            }
            // The key floor: to what the image itself (authenticated) revokes, not to the
            // record's value, which whoever writes the record region could raise.
            if let Some(to) =
                advance_target(launch.handoff.kind, u32::from(launch.revokes), u32::from(hardware_key_floor))
            {
                advance_counter(p, CounterId::KeyFloor, to);
            }
            if launch.handoff.watchdog_ms != 0 {
                p.arm_watchdog(launch.handoff.watchdog_ms);
            }
            lock_counters(p);
            return match p.launch(ApprovedLaunch { launch }) {
                Ok(end) => end,
                Err(e) => stop(p, Stop::Launch(e)),
            };
        }
    }
    stop(p, Stop::Fault)
}

/// Reads counter `id` (0 without one or when the read fails; logged either way).
fn read_counter<P: Platform>(p: &mut P, id: CounterId) -> u32 {
    let Some(c) = p.security_counter() else { return 0 };
    let (value, event) = match c.read(id) {
        Ok(v) => (v, CounterEvent::Read(v)),
        Err(_) => (0, CounterEvent::Unreadable),
    };
    p.log(Event::Counter(id, event));
    value
}

/// Advances counter `id` to `to` and logs the outcome.
fn advance_counter<P: Platform>(p: &mut P, id: CounterId, to: u32) {
    p.feed_watchdog();
    let Some(c) = p.security_counter() else { return };
    let event = match c.advance(id, to) {
        Ok(v) => CounterEvent::Advanced(v),
        Err(_) => CounterEvent::NotAdvanced(to),
    };
    p.log(Event::Counter(id, event));
}

/// Locks the hardware counters before anything else runs ([`SecurityCounter::lock`]).
fn lock_counters<P: Platform>(p: &mut P) {
    if let Some(c) = p.security_counter() {
        c.lock();
    }
}

fn stop<P: Platform>(p: &mut P, s: Stop<P::LaunchError>) -> P::End {
    lock_counters(p);
    p.log(Event::Recovery(&s));
    p.recover(s)
}

/// The platform's flash, feeding its watchdog before every operation.
struct Fed<'a, P> {
    p: &'a mut P,
    /// The flash's capacity (`capacity` takes `&self`, `Platform::flash` needs `&mut`).
    capacity: usize,
}

impl<P: Platform> ErrorType for Fed<'_, P> {
    type Error = <P::Flash as ErrorType>::Error;
}

impl<P: Platform> ReadNorFlash for Fed<'_, P> {
    const READ_SIZE: usize = P::Flash::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.p.feed_watchdog();
        self.p.flash().read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<P: Platform> NorFlash for Fed<'_, P> {
    const WRITE_SIZE: usize = P::Flash::WRITE_SIZE;
    const ERASE_SIZE: usize = P::Flash::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.p.feed_watchdog();
        self.p.flash().erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.p.feed_watchdog();
        self.p.flash().write(offset, bytes)
    }
}
