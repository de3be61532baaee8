//! `ProbeRig`: the [`Rig`] over a probe-rs session (the `probe` feature).
//!
//! See the parent module for the sequence of one power-on. All waits are bounded by
//! [`ProbeRig::timeout`] (per phase) or fixed short limits; every probe-rs error becomes
//! [`RigError::Probe`] with what was being done.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use probe_rs::flashing::{self, DownloadOptions, ElfLoader, ElfOptions, FlashProgress};
use probe_rs::probe::list::Lister;
use probe_rs::probe::{DebugProbeInfo, DebugProbeSelector};
use probe_rs::rtt::Rtt;
use probe_rs::{Core, CoreStatus, HaltReason, MemoryInterface, Permissions, Session, VectorCatchCondition};
use safeslot_shared::handoff::{Handoff, HANDOFF_LEN};
use safeslot_shared::mailbox::Report;
use safeslot_shared::protocol::order::Order;
use safeslot_shared::{Record, SlotId};

use super::{classify, elf32_entry, is_recovery_line, Observation, ProbeBoard, CLEARED};
use crate::catalogue::Need;
use crate::qemu;
use crate::rig::{BoardLayout, Boot, Rig, RigError};

/// How often a running board is polled (status, mailbox, RTT).
const POLL: Duration = Duration::from_millis(10);
/// How often the boot stage's log is decoded while waiting (to spot recovery).
const DECODE_EVERY: Duration = Duration::from_millis(300);
/// Time the boot stage gets to initialise its RAM before its RTT block is looked for.
const SETTLE: Duration = Duration::from_millis(50);
/// Limit for a halt or reset-and-halt request.
const HALT: Duration = Duration::from_secs(2);
/// Limit for one relay command.
const RELAY: Duration = Duration::from_secs(10);

fn err(what: &str) -> impl Fn(probe_rs::Error) -> RigError + '_ {
    move |e| RigError::Probe(format!("{what}: {e}"))
}

/// Every probe probe-rs can see (blocking: call through [`super::enumerate_bounded`]).
pub fn list_probes() -> Vec<DebugProbeInfo> {
    Lister::new().list_all()
}

/// An image the rig watches: its ELF, its entry (breakpoint) and RTT control block.
#[derive(Debug, Clone)]
struct Watched {
    elf: PathBuf,
    entry: u64,
    rtt: Option<u64>,
}

impl Watched {
    fn load(elf: &Path) -> Result<Watched, RigError> {
        let bytes = std::fs::read(elf).map_err(|e| RigError::Io(elf.to_path_buf(), e))?;
        let entry = elf32_entry(&bytes)
            .ok_or_else(|| RigError::Probe(format!("{}: not a 32-bit little-endian ELF", elf.display())))?;
        let rtt = probe_rs::rtt::find_rtt_control_block_in_raw_file(&bytes).ok().flatten();
        Ok(Watched { elf: elf.to_path_buf(), entry: u64::from(entry), rtt })
    }

    fn decode(&self, log: &[u8]) -> Vec<String> {
        if log.is_empty() {
            return Vec::new();
        }
        match qemu::decode_defmt(&self.elf, log) {
            Ok(text) => text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect(),
            Err(_) => vec![format!("({} bytes of defmt log; install defmt-print to decode)", log.len())],
        }
    }
}

/// Reads an image's RTT up channel 0 (defmt), attaching on first use.
struct RttLog {
    at: Option<u64>,
    rtt: Option<Rtt>,
    bytes: Vec<u8>,
}

impl RttLog {
    fn new(at: Option<u64>) -> RttLog {
        RttLog { at, rtt: None, bytes: Vec::new() }
    }

    /// Reads what is there; a control block not yet initialised is not an error.
    fn poll(&mut self, core: &mut Core<'_>) {
        if self.rtt.is_none() {
            if let Some(at) = self.at {
                self.rtt = Rtt::attach_at(core, at).ok();
            }
        }
        let Some(rtt) = self.rtt.as_mut() else { return };
        let Some(up) = rtt.up_channel(0) else { return };
        let mut buf = [0u8; 1024];
        // Bounded: at most 64 KiB per poll.
        for _ in 0..64 {
            match up.read(core, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.bytes.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
    }
}

/// The probe-rs rig: a real board behind a debug probe.
pub struct ProbeRig {
    session: Session,
    probe: DebugProbeSelector,
    chip: String,
    board: ProbeBoard,
    flash: BoardLayout,
    boot: Watched,
    apps: Vec<Watched>,
    relay: Option<String>,
    /// Limit for each phase of a power-on (boot stage to hand-off; app to its report).
    pub timeout: Duration,
}

impl std::fmt::Debug for ProbeRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeRig")
            .field("probe", &self.probe.to_string())
            .field("chip", &self.chip)
            .field("board", &self.board)
            .finish_non_exhaustive()
    }
}

impl ProbeRig {
    /// Opens `probe`, attaches to the board's chip and flashes the boot stage ELF (once
    /// per rig; verified). `app_elfs` are the demo apps by slot index (their logs are
    /// decoded with them and their entries mark the hand-off). `relay`: the power relay
    /// command ([`super::RELAY_ENV`]).
    ///
    /// # Errors
    /// No chip name, the probe cannot be opened or attached, an ELF is unreadable, or
    /// flashing fails.
    pub fn open(
        probe: &DebugProbeInfo,
        board: ProbeBoard,
        flash: BoardLayout,
        boot_elf: &Path,
        app_elfs: &[PathBuf],
        relay: Option<String>,
    ) -> Result<ProbeRig, RigError> {
        let chip = board.chip().map_err(|e| RigError::Probe(e.to_string()))?.to_string();
        let selector = DebugProbeSelector::from(probe);
        let session = probe
            .open()
            .map_err(|e| RigError::Probe(format!("open {probe}: {e}")))?
            .attach(chip.as_str(), Permissions::default())
            .map_err(err("attach"))?;
        let boot = Watched::load(boot_elf)?;
        let apps = app_elfs.iter().map(|p| Watched::load(p)).collect::<Result<Vec<_>, _>>()?;
        let mut rig = ProbeRig {
            session,
            probe: selector,
            chip,
            board,
            flash,
            boot,
            apps,
            relay,
            timeout: Duration::from_secs(10),
        };
        rig.flash_boot_stage()?;
        Ok(rig)
    }

    fn flash_boot_stage(&mut self) -> Result<(), RigError> {
        let mut opts = DownloadOptions::default();
        opts.verify = true;
        opts.preverify = true;
        flashing::download_file_with_options(&mut self.session, &self.boot.elf, ElfLoader(ElfOptions::default()), opts)
            .map_err(|e| RigError::Probe(format!("flash {}: {e}", self.boot.elf.display())))
    }

    /// Erases `[offset, offset + len)` of the flash device, then programs `bytes` at its start.
    fn write_region(&mut self, offset: u32, len: u32, bytes: &[u8]) -> Result<(), RigError> {
        if bytes.len() > len as usize {
            return Err(RigError::Probe(format!("{} bytes do not fit in {len} at {offset:#x}", bytes.len())));
        }
        let start = self.board.flash_base + u64::from(offset);
        let end = start + u64::from(len);
        flashing::erase(&mut self.session, &mut FlashProgress::empty(), start, end, false)
            .map_err(|e| RigError::Probe(format!("erase {start:#x}..{end:#x}: {e}")))?;
        if bytes.is_empty() {
            return Ok(());
        }
        let mut loader = self.session.target().flash_loader();
        loader.add_data(start, bytes).map_err(|e| RigError::Probe(format!("program {start:#x}: {e}")))?;
        let mut opts = DownloadOptions::default();
        opts.skip_erase = true;
        opts.verify = true;
        loader.commit(&mut self.session, opts).map_err(|e| RigError::Probe(format!("program {start:#x}: {e}")))
    }

    /// A true cold power cycle through the relay, with nRESET held while power returns
    /// so the firmware does not boot before the rig has halted it.
    fn cold_cycle(&mut self, relay: &str) -> Result<(), RigError> {
        let _ = self.session.core(0).and_then(|mut c| c.halt(HALT).map(|_| ()));
        run_relay(relay, "off")?;
        std::thread::sleep(Duration::from_millis(500));
        let info = Lister::new()
            .list(Some(&self.probe))
            .into_iter()
            .next()
            .ok_or_else(|| RigError::Probe(format!("probe {} gone after the power cut", self.probe)))?;
        let mut probe = info.open().map_err(|e| RigError::Probe(format!("reopen {info}: {e}")))?;
        // Not every probe drives nRESET; then the power-on boot may run unobserved, which
        // the next reset-and-halt cannot undo: say so.
        let held = probe.target_reset_assert().is_ok();
        run_relay(relay, "on")?;
        std::thread::sleep(Duration::from_millis(200));
        if !held {
            return Err(RigError::Probe(format!(
                "{info} cannot hold nRESET: a relay power cycle would boot unobserved"
            )));
        }
        self.session = probe.attach_under_reset(self.chip.as_str(), Permissions::default()).map_err(err("attach"))?;
        Ok(())
    }

    fn observe(&mut self, command: &[u8]) -> Result<(Observation, Vec<String>), RigError> {
        let (board, timeout) = (self.board.clone(), self.timeout);
        let (boot, apps) = (self.boot.clone(), self.apps.clone());
        let mut core = self.session.core(0).map_err(err("core"))?;
        core.reset_and_halt(HALT).map_err(err("reset and halt"))?;
        core.write_8(board.handoff, &[0u8; CLEARED]).map_err(err("clear the hand-off area"))?;
        core.write_8(board.mailbox(), command).map_err(err("write the mailbox"))?;
        // RAM survives a warm reset: invalidate the previous boot's RTT control blocks so
        // nothing stale is read before the startup code re-initialises them.
        for rtt in std::iter::once(&boot).chain(&apps).filter_map(|w| w.rtt) {
            core.write_8(rtt, &[0u8; 16]).map_err(err("clear an RTT control block"))?;
        }
        core.clear_all_hw_breakpoints().map_err(err("breakpoints"))?;
        for app in &apps {
            core.set_hw_breakpoint(app.entry).map_err(err("breakpoint on an app's entry"))?;
        }
        core.enable_vector_catch(VectorCatchCondition::HardFault).map_err(err("vector catch"))?;
        core.run().map_err(err("run"))?;

        let mut o = Observation::default();
        let mut boot_log = RttLog::new(boot.rtt);
        let (started, mut decoded_at, mut decoded_len) = (Instant::now(), Instant::now(), 0);
        let mut note = None;
        let jumped = loop {
            match core.status().map_err(err("status"))? {
                CoreStatus::Halted(HaltReason::Breakpoint(_)) => break true,
                CoreStatus::Halted(HaltReason::Exception) | CoreStatus::LockedUp => {
                    o.fault = true;
                    break false;
                }
                CoreStatus::Halted(why) => {
                    note = Some(format!("(rig: the core halted in the boot stage: {why:?})"));
                    break false;
                }
                _ => {}
            }
            if started.elapsed() >= SETTLE {
                boot_log.poll(&mut core);
            }
            if boot_log.bytes.len() != decoded_len && decoded_at.elapsed() >= DECODE_EVERY {
                decoded_len = boot_log.bytes.len();
                decoded_at = Instant::now();
                if boot.decode(&boot_log.bytes).iter().any(|l| is_recovery_line(l)) {
                    break false;
                }
            }
            if started.elapsed() >= timeout {
                break false;
            }
            std::thread::sleep(POLL);
        };
        boot_log.poll(&mut core);
        o.boot_log = boot.decode(&boot_log.bytes);
        o.boot_log.extend(note);
        if boot.rtt.is_none() {
            o.boot_log.push(format!("(rig: no _SEGGER_RTT in {}: no boot log)", boot.elf.display()));
        }

        let mut app_lines = Vec::new();
        if jumped {
            let mut block = [0u8; HANDOFF_LEN];
            core.read_8(board.handoff, &mut block).map_err(err("read the hand-off block"))?;
            o.handoff = Handoff::decode(&block).ok();
            let app = o.handoff.and_then(|h| apps.get(h.slot.index()).cloned());
            core.clear_all_hw_breakpoints().map_err(err("breakpoints"))?;
            // A reset from here on (watchdog, a reset handler) re-enters the boot stage.
            core.set_hw_breakpoint(boot.entry).map_err(err("breakpoint on the boot stage's entry"))?;
            core.run().map_err(err("run the app"))?;
            let mut app_log = RttLog::new(app.as_ref().and_then(|a| a.rtt));
            let started = Instant::now();
            loop {
                match core.status().map_err(err("status"))? {
                    CoreStatus::Halted(HaltReason::Breakpoint(_)) => {
                        o.reset = true;
                        break;
                    }
                    CoreStatus::Halted(HaltReason::Exception) | CoreStatus::LockedUp => {
                        o.fault = true;
                        break;
                    }
                    CoreStatus::Halted(why) => {
                        o.boot_log.push(format!("(rig: the core halted in the app: {why:?})"));
                        break;
                    }
                    _ => {}
                }
                // A read may fail while the app programs flash (some chips stall the bus):
                // poll again rather than fail the boot.
                let mut mail = [0u8; safeslot_shared::mailbox::MAILBOX_LEN];
                if core.read_8(board.mailbox(), &mut mail).is_ok() {
                    if let Ok(r) = Report::decode(&mail) {
                        o.report = Some(r);
                        break;
                    }
                }
                app_log.poll(&mut core);
                if started.elapsed() >= timeout {
                    break;
                }
                std::thread::sleep(POLL);
            }
            let _ = core.halt(HALT);
            app_log.poll(&mut core);
            if let Some(a) = app {
                app_lines = a.decode(&app_log.bytes);
            }
        } else {
            let _ = core.halt(HALT);
        }
        let _ = core.clear_all_hw_breakpoints();
        if o.reset {
            o.boot_log.push("(rig: the firmware reset itself during the boot)".into());
        }
        Ok((o, app_lines))
    }
}

/// Runs `sh -c "<relay> <state>"`, bounded by [`RELAY`].
fn run_relay(relay: &str, state: &str) -> Result<(), RigError> {
    let line = format!("{relay} {state}");
    let mut child = Process::new("sh")
        .args(["-c", &line])
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| RigError::Probe(format!("relay `{line}`: {e}")))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(RigError::Probe(format!("relay `{line}`: {s}"))),
            Ok(None) if started.elapsed() >= RELAY => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RigError::Probe(format!("relay `{line}`: no answer in {RELAY:?}")));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(RigError::Probe(format!("relay `{line}`: {e}"))),
        }
    }
}

impl Rig for ProbeRig {
    fn install(&mut self, slot: SlotId, image: &[u8]) -> Result<(), RigError> {
        let i = slot.index();
        let (off, size) = match (self.flash.slot_offsets.get(i), self.flash.slot_sizes.get(i)) {
            (Some(&o), Some(&s)) => (o, s),
            _ => return Err(RigError::Probe(format!("board {} has no slot {slot}", self.board.name))),
        };
        self.write_region(off, size, image)
    }

    fn erase_record(&mut self) -> Result<(), RigError> {
        let j = self.flash.journal;
        self.write_region(j.offset, j.size, &[])
    }

    fn write_record_raw(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        let j = self.flash.journal;
        let n = bytes.len().min(j.size as usize);
        self.write_region(j.offset, j.size, bytes.get(..n).unwrap_or_default())
    }

    fn power_on(&mut self, order: &Order) -> Result<Boot, RigError> {
        let command = super::command_for(order).map_err(|e| RigError::Unsupported(e.to_string()))?;
        if let Some(relay) = self.relay.clone() {
            self.cold_cycle(&relay)?;
        }
        let (o, app_log) = self.observe(&command.encode())?;
        Ok(Boot { ran: classify(&o), boot_log: o.boot_log, app_log })
    }

    fn record(&mut self) -> Result<Option<Record>, RigError> {
        let j = self.flash.journal;
        let mut device = vec![0xFF; (j.offset + j.size) as usize];
        let region = device.get_mut(j.offset as usize..).unwrap_or_default();
        let at = self.board.flash_base + u64::from(j.offset);
        let mut core = self.session.core(0).map_err(err("core"))?;
        let _ = core.halt(HALT);
        core.read(at, region).map_err(err("read the record region"))?;
        self.flash.read_record(&device)
    }

    fn lacks(&self, need: Need) -> Option<String> {
        super::lacks(need)
    }
}
