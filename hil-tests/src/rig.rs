//! The `Rig` abstraction and the virtual (QEMU) rig.
//!
//! A rig holds a board's flash (boot-control record + slots), powers the board on,
//! collects what happened (boot log, exit code, which slot ran) and reads the record
//! back through the shared crate. Scenarios are written once against [`Rig`]; the
//! [`VirtualRig`] runs the real cross-compiled firmware in QEMU with one fresh process
//! per cold boot, and the probe-rs rig ([`crate::probe`]) runs them on a real board.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use safeslot_shared::counter::CounterId;
use safeslot_shared::journal::{Journal, JournalConfig};
use safeslot_shared::protocol::order::Order;
use safeslot_shared::reset::ResetCause;
use safeslot_shared::sim::{SimConfig, SimFlash};
use safeslot_shared::{Record, SlotId};

use crate::catalogue::Need;
use crate::qemu::{self, Exit, QemuError, QemuRun, FLASH_SIZE};

/// Errors of a rig.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RigError {
    /// QEMU could not be run.
    #[error(transparent)]
    Qemu(#[from] QemuError),
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The record region could not be read.
    #[error("record: {0}")]
    Record(String),
    /// The debug probe or the board behind it failed (probe-rs rig).
    #[error("probe: {0}")]
    Probe(String),
    /// The rig cannot do what was asked (e.g. a power cut at a flash store on a real board).
    #[error("unsupported on this rig: {0}")]
    Unsupported(String),
}

/// How one power-on ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// The demo app ran from this slot (and exited normally).
    App(SlotId),
    /// The boot stage entered recovery: nothing was booted.
    Recovery,
    /// The firmware faulted (`app=crash`).
    Crash,
    /// A power-cut plan stopped the machine at a flash store.
    PowerCut,
    /// The hardware watchdog the boot stage armed reset the board (the app hung).
    Watchdog,
    /// Anything else: exit code (or `None` when killed at the timeout).
    Other(Option<i32>),
}

impl Ran {
    /// Reads the firmware's semihosting exit code (`None`: QEMU was killed).
    pub fn from_exit(code: Option<i32>) -> Ran {
        match code.and_then(Exit::from_code) {
            Some(Exit::App(slot)) => Ran::App(slot),
            Some(Exit::Recovery) => Ran::Recovery,
            Some(Exit::Crash) => Ran::Crash,
            Some(Exit::Cut) => Ran::PowerCut,
            _ => Ran::Other(code),
        }
    }

    /// How a QEMU run ended: [`Ran::Watchdog`] when QEMU stopped the VM for its watchdog
    /// ([`qemu::QemuOutcome::watchdog`]), else [`Ran::from_exit`].
    pub fn from_outcome(out: &qemu::QemuOutcome) -> Ran {
        if out.watchdog {
            Ran::Watchdog
        } else {
            Ran::from_exit(out.exit_code)
        }
    }
}

/// One cold boot: how it ended and what the firmware logged (decoded when
/// `defmt-print` is available).
#[derive(Debug, Clone)]
pub struct Boot {
    /// How it ended.
    pub ran: Ran,
    /// The boot stage's log lines.
    pub boot_log: Vec<String>,
    /// The application's log lines.
    pub app_log: Vec<String>,
}

/// What a scenario needs from a board, real or virtual.
pub trait Rig {
    /// Writes a slot image (header + image) at the start of `slot`; the rest of the slot is erased.
    fn install(&mut self, slot: SlotId, image: &[u8]) -> Result<(), RigError>;
    /// Erases the record region (a factory-fresh device).
    fn erase_record(&mut self) -> Result<(), RigError>;
    /// Overwrites the record region with `bytes` (garbage, foreign data).
    fn write_record_raw(&mut self, bytes: &[u8]) -> Result<(), RigError>;
    /// Power-cycles the board with the rig order `order` (the app's command, and the
    /// virtual board's hooks: recovery input, write faults, power cuts) and waits for the
    /// boot to end. A rig that cannot carry out part of the order refuses it
    /// ([`RigError::Unsupported`]) rather than ignoring it.
    fn power_on(&mut self, order: &Order) -> Result<Boot, RigError>;
    /// Reads the record back; `Ok(None)` when the region is blank or holds no valid record.
    fn record(&mut self) -> Result<Option<Record>, RigError>;
    /// The board's hardware anti-rollback counter ([`Need::HardwareCounter`]).
    fn hardware_counter(&mut self) -> Result<u32, RigError> {
        Err(RigError::Unsupported("no hardware counter".into()))
    }
    /// Runs the Linux agent (`safeslotctl`'s library, exactly what the binary runs) with
    /// `args` over the board's record, as an OS would; returns its stdout
    /// ([`Need::HardwareCounter`]).
    fn agent(&mut self, args: &[&str]) -> Result<String, RigError> {
        let _ = args;
        Err(RigError::Unsupported("no agent".into()))
    }
    /// Why this rig cannot provide `need` (`None`: it can). Scenarios needing it are
    /// skipped with this reason ([`crate::catalogue::run`]).
    fn lacks(&self, need: Need) -> Option<String> {
        let _ = need;
        None
    }
}

/// The board facts a rig needs, from the board's layout.
#[derive(Debug, Clone)]
pub struct BoardLayout {
    /// Record journal geometry.
    pub journal: JournalConfig,
    /// Slot offsets in the flash device, by index.
    pub slot_offsets: Vec<u32>,
    /// Slot sizes, by index.
    pub slot_sizes: Vec<u32>,
    /// How often a write-word may be programmed between erases.
    pub word_writes: safeslot_shared::nor::WriteCount,
    /// The hardware counters' area in the flash device, when the layout's `[otp]` lies in
    /// it (the virtual board): offset from the device's start of the first counter's (the
    /// rollback counter's) area, the size of one counter's area, unit. Counter `id`'s area
    /// is `id.index()` areas further ([`BoardLayout::hardware_counter`]).
    pub otp: Option<(u32, u32, u32)>,
    /// The Linux agent's config for this board (`Layout::agent_config`).
    pub agent_config: String,
}

impl BoardLayout {
    /// From a validated layout.
    pub fn from_layout(l: &safeslot_layout::Layout) -> BoardLayout {
        let f = l.flash();
        BoardLayout {
            journal: JournalConfig {
                offset: l.record().offset,
                size: l.record().size,
                write_size: f.write_size,
                erase_size: f.erase_size,
            },
            slot_offsets: l.slots().iter().map(|s| s.offset).collect(),
            slot_sizes: l.slots().iter().map(|s| s.size).collect(),
            word_writes: f.word_writes,
            otp: l.otp().and_then(|o| {
                let offset = o.address.checked_sub(f.base).filter(|off| *off < f.size)?;
                Some((offset, o.size, o.unit))
            }),
            agent_config: l.agent_config(None),
        }
    }

    /// Counter `id`'s value in a whole-device image, decoded by the shared thermometer
    /// rule (`safeslot_shared::counter::decode`).
    ///
    /// # Errors
    /// [`RigError::Unsupported`] without an `[otp]` in the flash device, [`RigError::Record`]
    /// when the counter's area lies outside `device`.
    pub fn hardware_counter(&self, device: &[u8], id: CounterId) -> Result<u32, RigError> {
        let Some((offset, size, unit)) = self.otp else {
            return Err(RigError::Unsupported("the layout has no [otp] in the flash device".into()));
        };
        let start = id.index().checked_mul(size).and_then(|skip| skip.checked_add(offset));
        let area = start
            .and_then(|s| Some(s as usize..s.checked_add(size)? as usize))
            .and_then(|r| device.get(r))
            .ok_or_else(|| RigError::Record(format!("[otp] {} counter outside the flash file", id.name())))?;
        Ok(safeslot_shared::counter::decode(area, unit as usize))
    }

    /// Decodes the record from a whole-device image through the shared journal code.
    pub fn read_record(&self, device: &[u8]) -> Result<Option<Record>, RigError> {
        let sim = SimFlash::from_bytes(
            SimConfig {
                size: device.len(),
                write_size: self.journal.write_size as usize,
                erase_size: self.journal.erase_size as usize,
                write_count: self.word_writes,
            },
            device.to_vec(),
        )
        .map_err(|e| RigError::Record(format!("{e:?}")))?;
        let j = Journal::open(sim, self.journal).map_err(|e| RigError::Record(format!("{e:?}")))?;
        Ok(j.record().ok().cloned())
    }
}

/// The virtual rig: the real firmware in `qemu-system-arm -M mps2-an386`, with a
/// host file as the board's flash.
#[derive(Debug, Clone)]
pub struct VirtualRig {
    /// Board facts.
    pub board: BoardLayout,
    /// The boot stage ELF.
    pub boot_elf: PathBuf,
    /// The app ELFs by slot index (to decode their logs).
    pub app_elfs: Vec<PathBuf>,
    /// The flash file.
    pub flash_img: PathBuf,
    /// Per-boot timeout.
    pub timeout: Duration,
    /// The reset cause the next power-on reports: the board has no reset-cause register,
    /// so the rig plays it. Set to [`ResetCause::Watchdog`] after a watchdog reset
    /// ([`Ran::Watchdog`]); every other ending leaves it unknown (a fresh QEMU process is
    /// a cold start, which the rig does not call a power-on unless an order says
    /// `reset=power-on`).
    pub next_reset: Option<ResetCause>,
}

impl VirtualRig {
    /// A rig with a fresh (all 0xFF) flash file at `flash_img`.
    pub fn new(
        board: BoardLayout,
        boot_elf: PathBuf,
        app_elfs: Vec<PathBuf>,
        flash_img: PathBuf,
    ) -> Result<Self, RigError> {
        qemu::compose_flash(&flash_img, FLASH_SIZE, &[])?;
        Ok(VirtualRig { board, boot_elf, app_elfs, flash_img, timeout: Duration::from_secs(20), next_reset: None })
    }

    /// `order` with the reset cause of the previous ending ([`VirtualRig::next_reset`])
    /// unless it names one itself; the pending cause is used up either way.
    pub fn with_reset_cause(&mut self, order: &Order) -> Order {
        let pending = self.next_reset.take();
        Order { reset: order.reset.or(pending), ..*order }
    }

    /// Remembers how a power-on ended, for the next one's reset cause.
    pub fn ended(&mut self, ran: &Ran) {
        self.next_reset = (*ran == Ran::Watchdog).then_some(ResetCause::Watchdog);
    }

    /// The QMP socket path of this rig's runs.
    pub(crate) fn qmp_socket(&self) -> PathBuf {
        self.flash_img.with_extension("qmp")
    }

    /// The whole flash file.
    pub fn flash(&self) -> Result<Vec<u8>, RigError> {
        fs::read(&self.flash_img).map_err(|e| RigError::Io(self.flash_img.clone(), e))
    }

    /// Replaces the whole flash file.
    pub fn set_flash(&self, bytes: &[u8]) -> Result<(), RigError> {
        fs::write(&self.flash_img, bytes).map_err(|e| RigError::Io(self.flash_img.clone(), e))
    }

    fn patch(&mut self, offset: u32, len: u32, bytes: &[u8]) -> Result<(), RigError> {
        let mut f = self.flash()?;
        let (start, end) = (offset as usize, offset as usize + len as usize);
        let region = f.get_mut(start..end).ok_or_else(|| RigError::Record("region outside flash".into()))?;
        region.fill(0xFF);
        let n = bytes.len().min(region.len());
        region[..n].copy_from_slice(&bytes[..n]);
        self.set_flash(&f)
    }

    /// Decodes one image's defmt log into lines (or says how to get a decoder).
    pub(crate) fn decode(elf: &Path, log: &[u8]) -> Vec<String> {
        if log.is_empty() {
            return Vec::new();
        }
        match qemu::decode_defmt(elf, log) {
            Ok(text) => text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect(),
            Err(_) => vec![format!("({} bytes of defmt log; install defmt-print to decode)", log.len())],
        }
    }
}

impl Rig for VirtualRig {
    fn install(&mut self, slot: SlotId, image: &[u8]) -> Result<(), RigError> {
        let i = slot.index();
        let (off, size) = (self.board.slot_offsets[i], self.board.slot_sizes[i]);
        self.patch(off, size, image)
    }

    fn erase_record(&mut self) -> Result<(), RigError> {
        let j = self.board.journal;
        self.patch(j.offset, j.size, &[])
    }

    fn write_record_raw(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        let j = self.board.journal;
        self.patch(j.offset, j.size, bytes)
    }

    fn power_on(&mut self, order: &Order) -> Result<Boot, RigError> {
        let order = self.with_reset_cause(order);
        let mut run = QemuRun::new(&self.boot_elf, &self.flash_img);
        run.append = order.to_string();
        run.timeout = self.timeout;
        // QMP tells a VM the watchdog stopped.
        let qmp = self.qmp_socket();
        let _ = fs::remove_file(&qmp);
        run.qmp = Some(qmp.clone());
        let (out, _) = run.run_watched(|_| Ok(false))?;
        let _ = fs::remove_file(&qmp);
        let ran = Ran::from_outcome(&out);
        self.ended(&ran);
        let segs = out.log_segments();
        let boot_log = Self::decode(&self.boot_elf, segs.first().copied().unwrap_or_default());
        let app_elf = match &ran {
            Ran::App(s) => self.app_elfs.get(s.index()),
            _ => self.app_elfs.first(),
        };
        let app_log = match (segs.get(1), app_elf) {
            (Some(log), Some(elf)) => Self::decode(elf, log),
            _ => Vec::new(),
        };
        Ok(Boot { ran, boot_log, app_log })
    }

    fn hardware_counter(&mut self) -> Result<u32, RigError> {
        if self.board.otp.is_none() {
            return Err(RigError::Unsupported("the layout has no [otp] in the flash device".into()));
        }
        let f = self.flash()?;
        self.board.hardware_counter(&f, CounterId::Rollback)
    }

    fn agent(&mut self, args: &[&str]) -> Result<String, RigError> {
        use clap::Parser as _;
        let config = self.flash_img.with_extension("agent.toml");
        fs::write(&config, &self.board.agent_config).map_err(|e| RigError::Io(config.clone(), e))?;
        let mut argv: Vec<std::ffi::OsString> = vec!["safeslotctl".into(), "--config".into(), config.into_os_string()];
        argv.extend(["--device".into(), self.flash_img.clone().into_os_string()]);
        argv.extend(args.iter().map(std::ffi::OsString::from));
        let cli = safeslotctl::cli::Cli::try_parse_from(argv).map_err(|e| RigError::Unsupported(e.to_string()))?;
        let reply = safeslotctl::app::run(&cli).map_err(|e| RigError::Record(format!("safeslotctl {args:?}: {e}")))?;
        Ok(reply.stdout)
    }

    fn record(&mut self) -> Result<Option<Record>, RigError> {
        let f = self.flash()?;
        self.board.read_record(&f)
    }
}
