//! The probe-rs rig: the scenarios of [`crate::catalogue`] on a real board through a
//! debug probe, driven only by the board's `layout.toml` and its built ELFs.
//!
//! What a power-on does on a real board (`ProbeRig`, behind the `probe` feature):
//!
//! 1. optionally a true cold power cycle through a relay ([`RELAY_ENV`]), with the
//!    probe holding nRESET while power comes back so no boot runs unobserved;
//! 2. reset and halt at the boot stage's reset vector; zero the layout's hand-off area
//!    (hand-off block and mailbox) and write the [`Command`] that [`command_for`] took
//!    from the scenario's rig [`Order`] into the mailbox; a hardware breakpoint on each
//!    demo app's entry; HardFault vector catch;
//! 3. run. Until the breakpoint, a fault, or the boot stage's recovery log line
//!    ([`is_recovery_line`]) (RTT read and decoded while it runs), or the timeout;
//! 4. at the breakpoint: read the boot stage's RTT log and the hand-off block it left,
//!    then a breakpoint on the boot stage's own entry instead (a firmware-initiated reset
//!    is caught, never counted as a boot) and run the app until its [`Report`] appears in
//!    the mailbox, it faults, or the timeout; halt it and drain its RTT log;
//! 5. [`classify`] what was seen into a [`Ran`]; the record is read back through the
//!    probe (memory-mapped flash) and decoded with the shared journal code.
//!
//! What it cannot do, and says so: drive the recovery input (a held button or strap pin:
//! [`Need::RecoveryInput`] scenarios are skipped), and cut power at the N-th flash store
//! (`cut=`/`torn=`, the virtual board's flash hooks; the power-cut sweep stays on the
//! virtual rig). Everything here (enumeration, flashing, each boot) is bounded in time.
//!
//! The pure parts (command translation, classification, board and chip choice, the
//! bounded enumeration) are always compiled and unit-tested; probe-rs itself is only
//! linked with the `probe` feature.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use safeslot_shared::handoff::{Handoff, HANDOFF_LEN};
use safeslot_shared::mailbox::{Command, Report, MAILBOX_LEN, MAILBOX_OFFSET};
use safeslot_shared::protocol::log::StageLine;
use safeslot_shared::protocol::order::Order;

use crate::catalogue::Need;
use crate::rig::Ran;

#[cfg(feature = "probe")]
mod device;
#[cfg(feature = "probe")]
pub use device::{list_probes, ProbeRig};

/// Environment variable naming the board (a directory under `boards/`); `--board` wins.
pub const BOARD_ENV: &str = "SAFESLOT_BOARD";
/// Environment variable naming the probe-rs chip; `--chip` wins; both override the
/// layout's `board.chip`.
pub const CHIP_ENV: &str = "SAFESLOT_CHIP";
/// Environment variable with a shell command that switches the board's power: the rig
/// runs `sh -c "$SAFESLOT_RELAY_CMD off"` and `sh -c "$SAFESLOT_RELAY_CMD on"`.
pub const RELAY_ENV: &str = "SAFESLOT_RELAY_CMD";
/// Environment variable selecting one probe (`VID:PID` or `VID:PID:SERIAL`) when several
/// are attached.
pub const PROBE_ENV: &str = "SAFESLOT_PROBE";
/// How long probe enumeration may take before the rig gives up (it can hang without USB).
pub const ENUMERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Whether a decoded log line is the boot stage's recovery line ("nothing booted":
/// `safeslot: recovery reason=...`, every board's stage logs it; the one parser,
/// [`StageLine::parse`]).
pub fn is_recovery_line(line: &str) -> bool {
    matches!(StageLine::parse(line), Ok(Some(StageLine::Recovery { .. })))
}

/// Why a rig order cannot be carried out through a probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// The order needs something a probe cannot do on a real board.
    #[error("`{word}` cannot be done on a real board through a probe: {why}")]
    Unsupported {
        /// The order's word (as on the virtual board's command line).
        word: String,
        /// Why.
        why: &'static str,
    },
}

/// Why the recovery input cannot be exercised through a probe.
pub const NO_RECOVERY_INPUT: &str =
    "the recovery input is a held button or strap pin on a real board, which a debug probe cannot drive";
/// Why `cut=`/`torn=` cannot be exercised through a probe.
pub const NO_POWER_CUT: &str = "a power cut at the N-th flash store needs the virtual board's flash hooks \
     (the power-cut sweep runs on the virtual rig)";

/// The mailbox command of a rig order: its app part (`app=`, `activate=`), which the demo
/// app acts on. `mailbox` (the virtual stage writes the mailbox) is what this rig does
/// anyway.
///
/// # Errors
/// The virtual board's hooks — the recovery input, power cuts, write faults — are
/// [`ArgsError::Unsupported`]: refused rather than ignored.
pub fn command_for(order: &Order) -> Result<Command, ArgsError> {
    let unsupported = |word: String, why| Err(ArgsError::Unsupported { word, why });
    if order.recovery {
        return unsupported("recovery".into(), NO_RECOVERY_INPUT);
    }
    if let Some(c) = order.reset {
        return unsupported(format!("reset={}", c.name()), NO_RESET_CAUSE);
    }
    for (plan, keys) in [(&order.boot, ["cut", "wfault"]), (&order.app, ["appcut", "appwfault"])] {
        if plan.cut.is_some() || plan.torn != 0 {
            return unsupported(format!("{}={}", keys[0], plan.cut.unwrap_or(0)), NO_POWER_CUT);
        }
        if let Some(f) = plan.fault {
            return unsupported(format!("{}={}", keys[1], f.name()), NO_WRITE_FAULT);
        }
    }
    Ok(order.command)
}

/// Why the probe rig does not run the watchdog scenarios yet.
pub const NO_WATCHDOG_RESET: &str = "telling a watchdog reset from another reset needs the board's reset-reason register \
     read after the reset, which the probe rig does not do yet (and the nRF52 WDT and STM32 IWDG pause while a probe halts the core)";
/// Why `reset=` cannot be given to a real board.
pub const NO_RESET_CAUSE: &str = "a real board reports its own reset cause (`reset=` is the virtual board's stand-in)";

/// Why a real board cannot run the write-fault scenarios.
pub const NO_WRITE_FAULT: &str =
    "a real board's flash cannot be made to fail or drop its writes for one boot (the virtual board's can)";

/// Why the probe rig skips the hardware-floor scenarios.
pub const NO_HARDWARE_COUNTER: &str =
    "reading the OTP counter through the probe and running the agent on the board's record are not implemented";

/// What a rig without a recovery input answers for [`crate::rig::Rig::lacks`].
pub fn lacks(need: Need) -> Option<String> {
    match need {
        Need::RecoveryInput => Some(NO_RECOVERY_INPUT.to_string()),
        Need::WriteFault => Some(NO_WRITE_FAULT.to_string()),
        Need::WatchdogReset => Some(NO_WATCHDOG_RESET.to_string()),
        Need::SecondKey => Some(NO_SECOND_KEY.to_string()),
        Need::HardwareCounter => Some(NO_HARDWARE_COUNTER.to_string()),
    }
}

/// Why a real board skips the key-rotation scenario.
pub const NO_SECOND_KEY: &str =
    "the probe rig's firmware is built with one trusted key, so there is no second key to rotate to";

/// What the rig saw during one power-on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observation {
    /// The board's watchdog reset it (the virtual board: QEMU stopped the VM for its watchdog).
    pub watchdog: bool,
    /// The core halted on a fault (HardFault vector catch) or locked up.
    pub fault: bool,
    /// The firmware reset itself during the boot (the boot stage's entry was hit again).
    pub reset: bool,
    /// The hand-off block the boot stage left (decoded), if it jumped.
    pub handoff: Option<Handoff>,
    /// The app's report from the mailbox, if one appeared.
    pub report: Option<Report>,
    /// The boot stage's decoded log lines.
    pub boot_log: Vec<String>,
}

/// How the power-on ended, from what was seen.
///
/// A fault is a crash; a report is an app run from the slot it names, but only when the
/// boot stage's hand-off block names the same slot (anything else is [`Ran::Other`]);
/// no hand-off and the boot stage's recovery log line is recovery.
pub fn classify(o: &Observation) -> Ran {
    if o.watchdog {
        return Ran::Watchdog;
    }
    if o.reset {
        return Ran::Other(None);
    }
    if o.fault {
        return Ran::Crash;
    }
    match (&o.report, &o.handoff) {
        (Some(r), Some(h)) if r.slot == h.slot => Ran::App(r.slot),
        (Some(_), _) => Ran::Other(None),
        (None, None) if o.boot_log.iter().any(|l| is_recovery_line(l)) => Ran::Recovery,
        (None, _) => Ran::Other(None),
    }
}

/// The addresses a probe rig needs, from a validated layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeBoard {
    /// Board name.
    pub name: String,
    /// Chip name for probe-rs (`board.chip`, or the override).
    pub chip: Option<String>,
    /// CPU address of flash offset 0.
    pub flash_base: u64,
    /// Start of the hand-off area in RAM.
    pub handoff: u64,
    /// Size of the hand-off area.
    pub handoff_size: u32,
}

/// Why a layout cannot be driven through the probe rig.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoardError {
    /// The hand-off area has no room for the mailbox.
    #[error(
        "board {board}: handoff.size is {size} bytes; the rig mailbox needs {need} (MAILBOX_OFFSET + MAILBOX_LEN)"
    )]
    NoMailbox {
        /// Board.
        board: String,
        /// The hand-off area's size.
        size: u32,
        /// What it needs.
        need: u32,
    },
    /// No chip name: neither `board.chip`, `--chip` nor the environment.
    #[error("board {0}: no probe-rs chip name (set board.chip in layout.toml, --chip or SAFESLOT_CHIP)")]
    NoChip(String),
}

/// Bytes of the hand-off area the rig zeroes before each boot: the hand-off block and the mailbox.
pub const CLEARED: usize = MAILBOX_OFFSET as usize + MAILBOX_LEN;

const _: () = assert!(HANDOFF_LEN <= MAILBOX_OFFSET as usize);

impl ProbeBoard {
    /// From a layout; `chip` overrides `board.chip`.
    ///
    /// # Errors
    /// [`BoardError::NoMailbox`] when the hand-off area is smaller than the mailbox needs.
    pub fn from_layout(l: &safeslot_layout::Layout, chip: Option<String>) -> Result<ProbeBoard, BoardError> {
        let h = l.handoff();
        let need = CLEARED as u32;
        if h.size < need {
            return Err(BoardError::NoMailbox { board: l.board().name.clone(), size: h.size, need });
        }
        Ok(ProbeBoard {
            name: l.board().name.clone(),
            chip: chip.or_else(|| l.board().chip.clone()),
            flash_base: u64::from(l.flash().base),
            handoff: u64::from(h.base),
            handoff_size: h.size,
        })
    }

    /// Where the rig writes the command and reads the report.
    pub fn mailbox(&self) -> u64 {
        self.handoff + u64::from(MAILBOX_OFFSET)
    }

    /// The chip name, or why there is none.
    ///
    /// # Errors
    /// [`BoardError::NoChip`].
    pub fn chip(&self) -> Result<&str, BoardError> {
        self.chip.as_deref().ok_or_else(|| BoardError::NoChip(self.name.clone()))
    }
}

/// The board and chip override chosen from the command line and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The board (`--board`, else [`BOARD_ENV`]); `None` when neither names one.
    pub board: Option<String>,
    /// The chip override (`--chip`, else [`CHIP_ENV`]).
    pub chip: Option<String>,
}

impl Choice {
    /// Flags win over the environment; empty values count as unset.
    pub fn new(
        board_flag: Option<&str>,
        chip_flag: Option<&str>,
        env_board: Option<String>,
        env_chip: Option<String>,
    ) -> Choice {
        let pick =
            |flag: Option<&str>, env: Option<String>| flag.map(str::to_owned).or(env).filter(|s| !s.trim().is_empty());
        Choice { board: pick(board_flag, env_board), chip: pick(chip_flag, env_chip) }
    }

    /// From the flags and the process environment.
    pub fn from_env(board_flag: Option<&str>, chip_flag: Option<&str>) -> Choice {
        Choice::new(board_flag, chip_flag, std::env::var(BOARD_ENV).ok(), std::env::var(CHIP_ENV).ok())
    }
}

/// What a bounded probe enumeration found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probes<T> {
    /// At least one probe.
    Found(Vec<T>),
    /// None attached.
    None,
    /// The enumeration did not answer within the timeout (no USB stack, a stuck device).
    TimedOut(Duration),
}

/// Runs `list` (the probe enumeration) on its own thread and waits at most `timeout`.
/// A hung enumeration is abandoned (its thread is left to the process's exit).
pub fn enumerate_bounded<T, F>(timeout: Duration, list: F) -> Probes<T>
where
    T: Send + 'static,
    F: FnOnce() -> Vec<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("probe-enumeration".into()).spawn(move || {
        let _ = tx.send(list());
    });
    if spawned.is_err() {
        return Probes::TimedOut(Duration::ZERO);
    }
    let started = Instant::now();
    match rx.recv_timeout(timeout) {
        Ok(v) if v.is_empty() => Probes::None,
        Ok(v) => Probes::Found(v),
        Err(_) => Probes::TimedOut(started.elapsed()),
    }
}

/// The entry point (`e_entry`, Thumb bit cleared) of a little-endian 32-bit ELF: where
/// the rig puts the breakpoint that marks "this image started".
pub fn elf32_entry(elf: &[u8]) -> Option<u32> {
    let ident = elf.get(..0x18)?;
    // Magic, ELFCLASS32, ELFDATA2LSB.
    if ident.get(..4)? != b"\x7fELF" || ident.get(4)? != &1 || ident.get(5)? != &1 {
        return None;
    }
    let e = u32::from_le_bytes(elf.get(0x18..0x1C)?.try_into().ok()?);
    (e != 0).then_some(e & !1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safeslot_shared::policy::BootKind;
    use safeslot_shared::SlotId;
    use safeslot_shared::{Reason, Tries, Version};

    #[test]
    fn the_app_part_of_an_order_is_the_command() {
        use safeslot_shared::mailbox::Action::*;
        let cases = [
            (Order::confirm(), Confirm, None),
            (Order::noconfirm(), NoConfirm, None),
            (Order::crash(), Crash, None),
            (Order::confirm().activate(SlotId::B), Confirm, Some(SlotId::B)),
            (Order::noconfirm().activate(SlotId::A).mailbox(), NoConfirm, Some(SlotId::A)),
        ];
        for (order, action, activate) in cases {
            assert_eq!(command_for(&order), Ok(Command { action, activate }), "{order}");
            // What the app decodes from the mailbox is exactly this command.
            let c = command_for(&order).unwrap();
            assert_eq!(Command::decode(&c.encode()), Ok(c));
        }
    }

    #[test]
    fn what_a_probe_cannot_do_is_refused_not_ignored() {
        use safeslot_shared::protocol::order::WriteFault;
        let c = Order::confirm();
        for (order, why) in [
            (c.recovery(), NO_RECOVERY_INPUT),
            (c.cut(3, 0), NO_POWER_CUT),
            (c.cut(2, 1), NO_POWER_CUT),
            (c.app_cut(1, 0), NO_POWER_CUT),
            (c.app_cut(1, 4), NO_POWER_CUT),
            (c.wfault(WriteFault::Error), NO_WRITE_FAULT),
            (c.reset(safeslot_shared::reset::ResetCause::PowerOn), NO_RESET_CAUSE),
            (
                Order {
                    app: safeslot_shared::protocol::order::CutPlan { fault: Some(WriteFault::Drop), ..c.app },
                    ..c
                },
                NO_WRITE_FAULT,
            ),
        ] {
            assert!(matches!(command_for(&order), Err(ArgsError::Unsupported { why: w, .. }) if w == why), "{order}");
        }
        assert_eq!(lacks(Need::RecoveryInput).as_deref(), Some(NO_RECOVERY_INPUT));
    }

    fn handoff(slot: SlotId) -> Handoff {
        Handoff {
            slot,
            kind: BootKind::Trial,
            tries_left: Tries::DEFAULT,
            last_fallback: Reason::None,
            version: Version { major: 2, minor: 0, revision: 0, build: 0 },
            record_seq: 7,
            recorded: true,
            reset_cause: safeslot_shared::reset::ResetCause::Unknown,
            watchdog_ms: 0,
            format: safeslot_shared::handoff::HANDOFF_FORMAT,
        }
    }

    #[test]
    fn classification() {
        let report = |slot| Some(Report { slot, confirmed: true });
        let app = Observation { handoff: Some(handoff(SlotId::B)), report: report(SlotId::B), ..Default::default() };
        assert_eq!(classify(&app), Ran::App(SlotId::B));
        // The report must agree with the boot stage's hand-off.
        let liar = Observation { report: report(SlotId::A), ..app.clone() };
        assert_eq!(classify(&liar), Ran::Other(None));
        let no_handoff = Observation { handoff: None, ..app.clone() };
        assert_eq!(classify(&no_handoff), Ran::Other(None));
        // A fault after the hand-off is a crash (no report: the app faulted before it).
        let crash = Observation { fault: true, report: None, ..app.clone() };
        assert_eq!(classify(&crash), Ran::Crash);
        // A firmware-initiated reset is never counted as the boot the step expects.
        assert_eq!(classify(&Observation { reset: true, ..app.clone() }), Ran::Other(None));
        let hung = Observation { reset: true, watchdog: true, report: None, ..app.clone() };
        assert_eq!(classify(&hung), Ran::Watchdog);
        let recovery = Observation {
            boot_log: vec!["safeslot: stack peak=8908".into(), "safeslot: recovery reason=bad-hash".into()],
            ..Default::default()
        };
        assert_eq!(classify(&recovery), Ran::Recovery);
        // Silence is not recovery, and an app that never reported did not "run".
        assert_eq!(classify(&Observation::default()), Ran::Other(None));
        let silent_app = Observation { report: None, ..app };
        assert_eq!(classify(&silent_app), Ran::Other(None));
    }

    #[test]
    fn flags_win_over_the_environment() {
        let env = || (Some("nrf52840-dk".to_string()), Some("nRF52840_xxAA".to_string()));
        let (b, c) = env();
        assert_eq!(
            Choice::new(Some("rpi-pico"), None, b, c),
            Choice { board: Some("rpi-pico".into()), chip: Some("nRF52840_xxAA".into()) }
        );
        let (b, c) = env();
        assert_eq!(Choice::new(None, Some("RP2040"), b, c).chip.as_deref(), Some("RP2040"));
        assert_eq!(Choice::new(None, None, Some(" ".into()), None), Choice { board: None, chip: None });
    }

    #[test]
    fn board_facts_and_chip_override_come_from_the_layout() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/qemu-mps2-an386");
        let l = safeslot_layout::Layout::load(&dir.join("layout.toml")).unwrap();
        let b = ProbeBoard::from_layout(&l, None).unwrap();
        assert_eq!(b.flash_base, u64::from(l.flash().base));
        assert_eq!(b.mailbox(), u64::from(l.handoff().base) + 48);
        assert_eq!(b.chip(), Ok("mps2-an386"));
        let b = ProbeBoard::from_layout(&l, Some("STM32L476RGTx".into())).unwrap();
        assert_eq!(b.chip(), Ok("STM32L476RGTx"));
    }

    #[test]
    fn a_hung_enumeration_is_abandoned_at_the_timeout() {
        // Had it waited for the thread, the answer would be `Found([1])`.
        let r: Probes<u8> = enumerate_bounded(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(30));
            vec![1]
        });
        assert!(matches!(r, Probes::TimedOut(_)), "{r:?}");
        assert_eq!(enumerate_bounded(Duration::from_secs(5), Vec::<u8>::new), Probes::None);
        assert_eq!(enumerate_bounded(Duration::from_secs(5), || vec![3u8]), Probes::Found(vec![3]));
    }

    #[test]
    fn elf_entry_is_read_with_the_thumb_bit_cleared() {
        let mut elf = vec![0u8; 0x34];
        elf[..6].copy_from_slice(b"\x7fELF\x01\x01");
        elf[0x18..0x1C].copy_from_slice(&0x0001_0401u32.to_le_bytes());
        assert_eq!(elf32_entry(&elf), Some(0x0001_0400));
        elf[4] = 2; // ELFCLASS64
        assert_eq!(elf32_entry(&elf), None);
        assert_eq!(elf32_entry(b"\x7fELF"), None);
        assert_eq!(elf32_entry(&[]), None);
    }
}
