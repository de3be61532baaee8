//! The boot stage's main (`safeslot_boot::run`) over a host platform: what every board
//! runs, with the platform recording what the board would do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

mod common;

use common::{cfg, flash_with, image, image_signed, install, key, BASE, BODY, HDR, JOURNAL, SLOT, SLOTS};
use embedded_storage::nor_flash::NorFlash;
use safeslot_boot::config::{Watchdog, WatchdogArm};
use safeslot_boot::{
    run, ApprovedLaunch, BootConfig, CounterId, Event, Named, NoSecurityCounter, Platform, ResetCause, SecurityCounter,
    Sha256Engine, SoftSha256, Stop,
};
use safeslot_linux::shadow::Shadow;
use safeslot_shared::counter::{CounterError, Thermometer};
use safeslot_shared::handoff::{Handoff, HANDOFF_LEN};
use safeslot_shared::journal::Journal;
use safeslot_shared::ops;
use safeslot_shared::policy::BootKind;
use safeslot_shared::sim::{SimConfig, SimError, SimFlash, WriteFault};
use safeslot_shared::{Reason, SlotId};

/// Why the host platform's launch fails when told to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NoJump;

impl Named for NoJump {
    fn name(&self) -> &'static str {
        "no-jump"
    }
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The platform jumped to this slot's image at this address.
    Jumped { slot: SlotId, load_addr: u64, image_len: u32 },
    /// The platform entered recovery.
    Recovered(Stop<NoJump>),
}

/// A board on the host: records every call `run` makes.
struct Host<F> {
    flash: F,
    recovery: bool,
    refuse_launch: bool,
    feeds: u32,
    /// Watchdog feeds seen before each flash operation (the sim counts operations).
    calls: Vec<&'static str>,
    log: Vec<String>,
    block: Option<[u8; HANDOFF_LEN]>,
    /// The reset cause the chip reports.
    reset: ResetCause,
    /// The timeouts the stage armed the watchdog with.
    armed: Vec<u32>,
    /// The hardware anti-rollback counter, if this host has one.
    otp: Option<Otp>,
    /// The hash engine `run` gets (clones share its counts).
    engine: Engine,
}

/// A hash peripheral on the host: software SHA-256 that counts what it is given and, when
/// `broken`, returns a digest with one bit flipped.
#[derive(Clone, Default)]
struct Engine {
    soft: SoftSha256,
    /// Bytes fed, over every clone.
    fed: std::rc::Rc<std::cell::Cell<u64>>,
    /// Digests started, over every clone.
    starts: std::rc::Rc<std::cell::Cell<u32>>,
    broken: bool,
}

impl Sha256Engine for Engine {
    fn start(&mut self) {
        self.starts.set(self.starts.get() + 1);
        self.soft.start();
    }
    fn update(&mut self, bytes: &[u8]) {
        self.fed.set(self.fed.get() + bytes.len() as u64);
        self.soft.update(bytes);
    }
    fn finish(&mut self) -> [u8; 32] {
        let mut d = self.soft.finish();
        d[31] ^= u8::from(self.broken);
        d
    }
}

/// An OTP area of program-once units of 8 bytes: 16 for the rollback counter, then 16 for
/// the key floor.
struct Otp {
    flash: SimFlash,
    /// How often the stage locked it.
    locks: u32,
}

impl Otp {
    fn new() -> Otp {
        let cfg = SimConfig {
            size: 256,
            write_size: 8,
            erase_size: 256,
            write_count: safeslot_shared::nor::WriteCount::Once,
        };
        Otp { flash: SimFlash::new(cfg).unwrap(), locks: 0 }
    }

    fn area(id: CounterId) -> Thermometer {
        Thermometer::for_counter(id, 0, 128, 8).unwrap()
    }

    /// The rollback counter.
    fn value(&mut self) -> u32 {
        Otp::area(CounterId::Rollback).read(&mut self.flash).unwrap()
    }

    /// The key-floor counter.
    fn key_floor(&mut self) -> u32 {
        Otp::area(CounterId::KeyFloor).read(&mut self.flash).unwrap()
    }
}

impl SecurityCounter for Otp {
    type Error = CounterError<SimError>;
    fn read(&mut self, id: CounterId) -> Result<u32, Self::Error> {
        Otp::area(id).read(&mut self.flash).map_err(CounterError::Flash)
    }
    fn advance(&mut self, id: CounterId, to: u32) -> Result<u32, Self::Error> {
        Otp::area(id).advance(&mut self.flash, to)
    }
    fn lock(&mut self) {
        self.locks += 1;
    }
}

impl<F> Host<F> {
    fn new(flash: F) -> Self {
        Host {
            flash,
            recovery: false,
            refuse_launch: false,
            feeds: 0,
            calls: vec![],
            log: vec![],
            block: None,
            reset: ResetCause::Unknown,
            armed: vec![],
            otp: None,
            engine: Engine::default(),
        }
    }
}

impl<F: NorFlash> Platform for Host<F> {
    type Flash = F;
    type LaunchError = NoJump;
    type End = End;
    type Counter = Otp;
    type Sha256 = Engine;

    fn sha256(&mut self) -> Engine {
        self.calls.push("sha256");
        self.engine.clone()
    }

    fn security_counter(&mut self) -> Option<&mut Otp> {
        if self.otp.is_some() {
            self.calls.push("counter");
        }
        self.otp.as_mut()
    }

    fn flash(&mut self) -> &mut F {
        self.calls.push("flash");
        &mut self.flash
    }

    fn feed_watchdog(&mut self) {
        self.feeds += 1;
        self.calls.push("feed");
    }

    fn recovery_requested(&mut self) -> bool {
        self.calls.push("recovery-input");
        self.recovery
    }

    fn arm_watchdog(&mut self, timeout_ms: u32) {
        self.calls.push("arm");
        self.armed.push(timeout_ms);
    }

    fn reset_cause(&mut self) -> ResetCause {
        self.calls.push("reset-cause");
        self.reset
    }

    fn log(&mut self, event: Event<'_, NoJump>) {
        self.log.push(match event {
            Event::Boot(h) => format!("boot slot={} kind={}", h.slot.index(), h.kind.name()),
            Event::Recovery(s) => format!("recovery reason={}", s.name()),
            Event::Counter(id, e) => format!("counter {} {e:?}", id.name()),
        });
    }

    fn leave_handoff(&mut self, block: &[u8; HANDOFF_LEN]) {
        self.calls.push("handoff");
        self.block = Some(*block);
    }

    fn launch(&mut self, approved: ApprovedLaunch) -> Result<End, NoJump> {
        self.calls.push("launch");
        assert!(approved.holds());
        if self.refuse_launch {
            return Err(NoJump);
        }
        let l = approved.launch();
        Ok(End::Jumped { slot: l.slot, load_addr: l.load_addr, image_len: l.image_len })
    }

    fn recover(&mut self, stop: Stop<NoJump>) -> End {
        self.calls.push("recover");
        End::Recovered(stop)
    }
}

fn with_watchdog(keys: &[[u8; 32]], arm: WatchdogArm) -> BootConfig<'_> {
    BootConfig { watchdog: Some(Watchdog { timeout_ms: 2500, arm }), ..cfg(keys) }
}

#[test]
fn trial_boot_leaves_the_block_then_launches_and_feeds_the_watchdog_throughout() {
    let keys = [*key(1).pk];
    let mut host = Host::new(flash_with(&[(SlotId::A, image(SlotId::A, 1))]));
    let end = run(&mut host, &cfg(&keys));
    let image_len = image(SlotId::A, 1).len() as u32 - HDR;
    assert_eq!(end, End::Jumped { slot: SlotId::A, load_addr: BASE + 0x2400, image_len });
    assert_eq!(host.log, ["boot slot=0 kind=trial"]);
    let h = Handoff::decode(&host.block.unwrap()).unwrap();
    assert_eq!((h.slot, h.kind, h.version.major), (SlotId::A, BootKind::Trial, 1));
    // The order of what a board sees: feed, input, the flash (its capacity), the hash
    // engine, the sequence's flash operations (each fed first), then the hand-off block, a
    // last feed and the jump.
    assert_eq!(host.calls[..5], ["feed", "recovery-input", "reset-cause", "flash", "sha256"]);
    let tail = &host.calls[host.calls.len() - 3..];
    assert_eq!(tail, ["handoff", "feed", "launch"]);
    let ops = &host.calls[5..host.calls.len() - 3];
    assert!(ops.chunks(2).all(|c| c == ["feed", "flash"]), "every flash operation is fed first: {ops:?}");
    // Journal scan, record write and the image hash (at least one read per 256 B).
    let s = host.flash.stats();
    assert_eq!(host.feeds as u64, 2 + s.reads + s.programs + s.erases);
    assert!(s.reads > u64::from(BODY / 256));
    // The record the stage wrote: A on trial, one try used.
    let rec = Journal::open(&mut host.flash, JOURNAL).unwrap().record().unwrap().clone();
    assert_eq!(rec.slot(SlotId::A).unwrap().tries.get(), 2);
}

#[test]
fn nothing_bootable_ends_in_recovery_without_a_handoff() {
    let keys = [*key(1).pk];
    let mut host = Host::new(flash_with(&[]));
    let end = run(&mut host, &cfg(&keys));
    assert_eq!(end, End::Recovered(Stop::Sequence(Reason::NothingBootable)));
    assert_eq!(host.log, ["recovery reason=nothing-bootable"]);
    assert!(host.block.is_none());
    assert!(!host.calls.contains(&"launch"));
    assert_eq!(host.calls.last(), Some(&"recover"));
}

#[test]
fn a_launch_the_platform_refuses_ends_in_recovery() {
    let keys = [*key(1).pk];
    let mut host = Host::new(flash_with(&[(SlotId::A, image(SlotId::A, 1))]));
    host.refuse_launch = true;
    assert_eq!(run(&mut host, &cfg(&keys)), End::Recovered(Stop::Launch(NoJump)));
    assert_eq!(host.log, ["boot slot=0 kind=trial", "recovery reason=no-jump"]);
    assert!(host.block.is_some(), "the block was left before the launch was tried");
}

#[test]
fn recovery_input_boots_last_known_good() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[(SlotId::A, image(SlotId::A, 1)), (SlotId::B, image(SlotId::B, 2))]);
    assert!(matches!(run(&mut Host::new(&mut flash), &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    {
        let mut j = Journal::open(&mut flash, JOURNAL).unwrap();
        j.update(|r| ops::mark_good(r, SlotId::A)).unwrap();
        j.update(|r| ops::set_active(r, SlotId::B, safeslot_shared::Tries::DEFAULT)).unwrap();
    }
    let mut host = Host::new(&mut flash);
    host.recovery = true;
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    let h = Handoff::decode(&host.block.unwrap()).unwrap();
    assert_eq!(h.last_fallback, Reason::RecoveryInput);
    // Without the input, B's trial.
    assert!(matches!(run(&mut Host::new(&mut flash), &cfg(&keys)), End::Jumped { slot: SlotId::B, .. }));
}

/// The aarch64 stage's shape: the platform's flash is a `Shadow` (slots verified in RAM)
/// and its launch takes the verified RAM copy from it.
#[test]
fn a_shadow_platform_launches_the_verified_ram_copy() {
    struct Soc<'a>(Host<Shadow<'a, SimFlash>>);
    impl<'a> Platform for Soc<'a> {
        type Flash = Shadow<'a, SimFlash>;
        type LaunchError = NoJump;
        type End = Vec<u8>;
        type Counter = NoSecurityCounter;
        type Sha256 = SoftSha256;
        fn sha256(&mut self) -> SoftSha256 {
            SoftSha256::default()
        }
        fn security_counter(&mut self) -> Option<&mut NoSecurityCounter> {
            None
        }
        fn flash(&mut self) -> &mut Self::Flash {
            self.0.flash()
        }
        fn recovery_requested(&mut self) -> bool {
            false
        }
        fn arm_watchdog(&mut self, timeout_ms: u32) {
            self.0.arm_watchdog(timeout_ms);
        }
        fn leave_handoff(&mut self, block: &[u8; HANDOFF_LEN]) {
            self.0.leave_handoff(block);
        }
        fn launch(&mut self, approved: ApprovedLaunch) -> Result<Vec<u8>, NoJump> {
            let l = approved.launch();
            self.0.flash.image(l.slot.index(), l.image_len).map(<[u8]>::to_vec).ok_or(NoJump)
        }
        fn recover(&mut self, stop: Stop<NoJump>) -> Vec<u8> {
            panic!("recovery: {stop:?}")
        }
    }
    let keys = [*key(1).pk];
    let a = image(SlotId::A, 1);
    let (mut ram_a, mut ram_b) = (vec![0u8; SLOT as usize], vec![0u8; SLOT as usize]);
    let shadow =
        Shadow::new(flash_with(&[(SlotId::A, a.clone())]), &SLOTS, [Some(&mut ram_a), Some(&mut ram_b), None, None]);
    let booted = run(&mut Soc(Host::new(shadow)), &cfg(&keys));
    assert_eq!(booted, &a[HDR as usize..HDR as usize + booted.len()]);
    assert_eq!(booted.len(), a.len() - HDR as usize);
}

/// Issue #15: the watchdog is armed right before the jump of a trial boot, with the layout's
/// timeout, and the hand-off block says so; the reset cause read once goes into the block.
#[test]
fn a_trial_boot_is_armed_right_before_the_jump_and_the_block_says_so() {
    let keys = [*key(1).pk];
    let mut host = Host::new(flash_with(&[(SlotId::A, image(SlotId::A, 1))]));
    host.reset = ResetCause::Watchdog;
    assert!(matches!(run(&mut host, &with_watchdog(&keys, WatchdogArm::Trial)), End::Jumped { slot: SlotId::A, .. }));
    assert_eq!(host.armed, [2500]);
    assert_eq!(host.calls[host.calls.len() - 4..], ["handoff", "feed", "arm", "launch"]);
    assert_eq!(host.calls.iter().filter(|c| **c == "reset-cause").count(), 1);
    let h = Handoff::decode(&host.block.unwrap()).unwrap();
    assert_eq!((h.kind, h.watchdog_ms, h.reset_cause, h.format), (BootKind::Trial, 2500, ResetCause::Watchdog, 3));
    // Without a [watchdog] table nothing is armed and the block says 0.
    let mut host = Host::new(flash_with(&[(SlotId::A, image(SlotId::A, 1))]));
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { .. }));
    assert!(host.armed.is_empty() && !host.calls.contains(&"arm"));
    assert_eq!(Handoff::decode(&host.block.unwrap()).unwrap().watchdog_ms, 0);
}

#[test]
fn a_confirmed_boot_is_armed_only_with_arm_always() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[(SlotId::A, image(SlotId::A, 1))]);
    assert!(matches!(run(&mut Host::new(&mut flash), &cfg(&keys)), End::Jumped { .. }));
    Journal::open(&mut flash, JOURNAL).unwrap().update(|r| ops::mark_good(r, SlotId::A)).unwrap();
    for (arm, expect) in [(WatchdogArm::Trial, 0), (WatchdogArm::Always, 2500)] {
        let mut host = Host::new(&mut flash);
        assert!(matches!(run(&mut host, &with_watchdog(&keys, arm)), End::Jumped { slot: SlotId::A, .. }));
        let h = Handoff::decode(&host.block.unwrap()).unwrap();
        assert_eq!(h.kind, BootKind::Confirmed);
        assert_eq!(h.watchdog_ms, expect, "{arm:?}");
        assert_eq!(host.armed, if expect == 0 { vec![] } else { vec![expect] }, "{arm:?}");
    }
}

#[test]
fn recovery_never_arms_the_watchdog() {
    let keys = [*key(1).pk];
    let mut host = Host::new(flash_with(&[]));
    assert!(matches!(run(&mut host, &with_watchdog(&keys, WatchdogArm::Always)), End::Recovered(_)));
    assert!(host.armed.is_empty());
}

/// Issue #16, item 1: the hardware counter advances only on a boot that finds the slot
/// already confirmed with a higher security counter, after every check and right before
/// the watchdog and the jump; never on its trial, and a repeat writes nothing.
#[test]
fn the_hardware_counter_advances_only_on_a_confirmed_boot() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[(SlotId::A, image_signed(SlotId::A, 1, 3, &key(1)))]);
    let mut otp = Otp::new();
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert!(matches!(run(&mut host, &with_watchdog(&keys, WatchdogArm::Trial)), End::Jumped { slot: SlotId::A, .. }));
    assert_eq!(host.log, ["counter rollback Read(0)", "counter key-floor Read(0)", "boot slot=0 kind=trial"]);
    // Read once before the sequence; locked right before the jump.
    assert_eq!(host.calls[..2], ["feed", "counter"]);
    assert_eq!(host.calls[host.calls.len() - 5..], ["handoff", "feed", "arm", "counter", "launch"]);
    otp = host.otp.take().unwrap();
    assert_eq!((otp.value(), otp.flash.stats().programs, otp.locks), (0, 0, 1), "a trial never advances it");
    Journal::open(&mut flash, JOURNAL).unwrap().update(|r| ops::mark_good(r, SlotId::A)).unwrap();
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert!(matches!(run(&mut host, &with_watchdog(&keys, WatchdogArm::Always)), End::Jumped { slot: SlotId::A, .. }));
    assert_eq!(
        host.log,
        [
            "counter rollback Read(0)",
            "counter key-floor Read(0)",
            "boot slot=0 kind=confirmed",
            "counter rollback Advanced(3)"
        ]
    );
    assert_eq!(host.calls[host.calls.len() - 7..], ["handoff", "feed", "feed", "counter", "arm", "counter", "launch"]);
    otp = host.otp.take().unwrap();
    assert_eq!((otp.value(), otp.flash.stats().programs), (3, 3));
    // Confirmed again, same counter: nothing is written.
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    assert_eq!(host.log, ["counter rollback Read(3)", "counter key-floor Read(0)", "boot slot=0 kind=confirmed"]);
    assert_eq!(host.otp.unwrap().flash.stats().programs, 3);
}

/// The update both counter tests start from, on a device with a counter: A boots and is
/// confirmed, B is activated, boots on trial, then is confirmed and boots again; `check`
/// sees the counter after each of B's boots (trial, then confirmed). Returns the counter.
fn update_a_to_b(flash: &mut SimFlash, cfg: &BootConfig<'_>, mut check: impl FnMut(BootKind, &mut Otp)) -> Otp {
    let mut host = Host::new(&mut *flash);
    host.otp = Some(Otp::new());
    assert!(matches!(run(&mut host, cfg), End::Jumped { slot: SlotId::A, .. }));
    let mut otp = host.otp.take().unwrap();
    {
        let mut j = Journal::open(&mut *flash, JOURNAL).unwrap();
        j.update(|r| ops::mark_good(r, SlotId::A)).unwrap();
        j.update(|r| ops::set_active(r, SlotId::B, safeslot_shared::Tries::DEFAULT)).unwrap();
    }
    for expect in [BootKind::Trial, BootKind::Confirmed] {
        if expect == BootKind::Confirmed {
            Journal::open(&mut *flash, JOURNAL).unwrap().update(|r| ops::mark_good(r, SlotId::B)).unwrap();
        }
        let mut host = Host::new(&mut *flash);
        host.otp = Some(otp);
        assert!(matches!(run(&mut host, cfg), End::Jumped { slot: SlotId::B, .. }));
        assert_eq!(Handoff::decode(&host.block.unwrap()).unwrap().kind, expect);
        otp = host.otp.take().unwrap();
        check(expect, &mut otp);
    }
    otp
}

/// Issue #16: wiping the record region no longer lowers the floor. B (counter 2) was
/// confirmed and advanced the hardware counter; the record region is erased and an old
/// image (counter 1) written into A: the fresh record's trial of A is refused as a
/// rollback and B boots as a last resort. Without the hardware counter, A would boot.
#[test]
fn a_wiped_record_cannot_lower_the_hardware_floor() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[
        (SlotId::A, image_signed(SlotId::A, 1, 1, &key(1))),
        (SlotId::B, image_signed(SlotId::B, 2, 2, &key(1))),
    ]);
    let mut otp = update_a_to_b(&mut flash, &cfg(&keys), |_, _| {});
    assert_eq!(otp.value(), 2);
    // The attack: wipe the record region (A still holds the old image, counter 1).
    flash.erase(JOURNAL.offset, JOURNAL.offset + JOURNAL.size).unwrap();
    let mut without = flash.clone();
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::B, .. }));
    assert_eq!(Handoff::decode(&host.block.unwrap()).unwrap().kind, BootKind::LastResort);
    let rec = Journal::open(&mut flash, JOURNAL).unwrap().record().unwrap().clone();
    assert_eq!(rec.slot(SlotId::A).unwrap().unbootable, Some(Reason::Rollback));
    assert_eq!(rec.rollback_floor, 2, "the re-created record carries the hardware floor");
    // The same region on a platform without the counter boots the old image.
    assert!(matches!(run(&mut Host::new(&mut without), &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
}

/// A failed advance is logged and the boot goes on; the counter is not lowered, and the
/// next confirmed boot advances it.
#[test]
fn a_failed_advance_is_logged_and_the_boot_goes_on() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[(SlotId::A, image_signed(SlotId::A, 1, 2, &key(1)))]);
    assert!(matches!(run(&mut Host::new(&mut flash), &cfg(&keys)), End::Jumped { .. }));
    Journal::open(&mut flash, JOURNAL).unwrap().update(|r| ops::mark_good(r, SlotId::A)).unwrap();
    let mut otp = Otp::new();
    otp.flash.set_write_fault(Some(WriteFault::Error));
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    assert_eq!(host.log[3], "counter rollback NotAdvanced(2)");
    otp = host.otp.take().unwrap();
    otp.flash.set_write_fault(None);
    assert_eq!(otp.value(), 0);
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    assert_eq!(host.otp.unwrap().value(), 2);
}

/// The read-only fallback (the record cannot be written) applies the hardware floor too:
/// a record whose floor was reset to 0 over an old image in the confirmed slot is not
/// booted "read-only".
#[test]
fn the_read_only_fallback_applies_the_hardware_floor() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[(SlotId::A, image_signed(SlotId::A, 1, 2, &key(1)))]);
    assert!(matches!(run(&mut Host::new(&mut flash), &cfg(&keys)), End::Jumped { .. }));
    Journal::open(&mut flash, JOURNAL).unwrap().update(|r| ops::mark_good(r, SlotId::A)).unwrap();
    let mut host = Host::new(&mut flash);
    host.otp = Some(Otp::new());
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    let otp = host.otp.take().unwrap();
    // `init --force --allow-rollback` from a hostile OS: the same record, floor 0; and the
    // old image (counter 1) in A, still marked confirmed.
    {
        let mut j = Journal::open(&mut flash, JOURNAL).unwrap();
        j.update(|r| {
            r.rollback_floor = 0;
            Ok(())
        })
        .unwrap();
    }
    install(&mut flash, SlotId::A, &image_signed(SlotId::A, 0, 1, &key(1)));
    flash.set_write_fault(Some(WriteFault::Error));
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert_eq!(run(&mut host, &cfg(&keys)), End::Recovered(Stop::Sequence(Reason::Rollback)));
    assert_eq!(host.otp.as_ref().unwrap().locks, 2, "locked before recovery too");
    // Without the hardware counter that old image boots read-only.
    let mut host = Host::new(&mut flash);
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    assert!(!Handoff::decode(&host.block.unwrap()).unwrap().recorded);
}

/// Issue #16, item 3: the key floor is kept in the hardware counter too, with the same
/// confirm-only rule: B (signed with key 1, revoking keys below 1) advances it on its first
/// confirmed boot, not on its trial; a wiped record then cannot bring back the revoked key:
/// A signed with key 0 is refused and the re-created record carries the key floor.
#[test]
fn a_wiped_record_cannot_lift_a_key_revocation() {
    use safeslot_shared::tlv::{tag, Tlvs};
    let (old, new) = (key(1), key(2));
    let keys = [*old.pk, *new.pk];
    let mut revoking = Tlvs::EMPTY;
    revoking.push(tag::REVOKE_BELOW, &[1]).unwrap();
    let mut flash = flash_with(&[
        (SlotId::A, image_signed(SlotId::A, 1, 0, &old)),
        (SlotId::B, common::image_with(SlotId::B, 2, 0, &new, revoking)),
    ]);
    let otp = update_a_to_b(&mut flash, &cfg(&keys), |expect, otp| {
        let want = if expect == BootKind::Trial { 0 } else { 1 };
        assert_eq!(otp.key_floor(), want, "{expect:?}: the key floor counter");
    });
    // The attack: wipe the record region (A still holds the image signed with key 0).
    flash.erase(JOURNAL.offset, JOURNAL.offset + JOURNAL.size).unwrap();
    let mut without = flash.clone();
    let mut host = Host::new(&mut flash);
    host.otp = Some(otp);
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::B, .. }));
    let rec = Journal::open(&mut flash, JOURNAL).unwrap().record().unwrap().clone();
    assert_eq!(rec.slot(SlotId::A).unwrap().unbootable, Some(Reason::RevokedKey));
    assert_eq!(rec.key_floor, 1, "the re-created record carries the hardware key floor");
    // Without the counter, the wiped record boots the revoked key's image.
    assert!(matches!(run(&mut Host::new(&mut without), &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
}

/// Issue #18, goal 6: the image is hashed by the platform's engine (a hash peripheral's
/// driver), fed every byte of the image once, in chunks; the software engine is only the
/// default.
#[test]
fn the_platforms_hash_engine_hashes_the_image() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[(SlotId::A, image(SlotId::A, 1))]);
    let mut host = Host::new(&mut flash);
    let engine = host.engine.clone();
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Jumped { slot: SlotId::A, .. }));
    assert_eq!(engine.starts.get(), 1, "one image hashed");
    assert_eq!(engine.fed.get(), u64::from(BODY), "every byte of the image, once");
    assert_eq!(host.calls.iter().filter(|&&c| c == "sha256").count(), 1, "the engine is taken once per boot");
}

/// A hash engine that returns a wrong digest cannot admit an image: the digest is compared
/// with the signed header's as software's is, and the slot is refused as bad-hash.
#[test]
fn a_wrong_digest_from_the_engine_refuses_the_image() {
    let keys = [*key(1).pk];
    let mut flash = flash_with(&[(SlotId::A, image(SlotId::A, 1)), (SlotId::B, image(SlotId::B, 2))]);
    let mut host = Host::new(&mut flash);
    host.engine.broken = true;
    assert!(matches!(run(&mut host, &cfg(&keys)), End::Recovered(_)));
    let rec = Journal::open(&mut flash, JOURNAL).unwrap().record().unwrap().clone();
    for slot in [SlotId::A, SlotId::B] {
        assert_eq!(rec.slot(slot).unwrap().unbootable, Some(Reason::BadHash), "{slot:?}");
    }
}
