//! The command line (clap derive; the doc comments are the help text).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config::parse_u32;
use crate::storage::BackendKind;

/// The exit-code table, shown after `--help` and in the README.
pub const EXIT_CODES: &str = "\
Exit codes:
   0  ok
  64  usage: bad arguments, unknown slot, unknown or malformed fw_setenv variable
  65  bad data: blank or corrupt record region, image that does not verify
  66  no input: the device or an input file does not exist (or is a directory)
  69  unavailable: refused in the current state (nothing booted, slot unbootable,
      no bootable slot, init over a valid record without --force, an fw_setenv
      the record cannot represent)
  70  internal error; also the \"no\" of is-slot-bootable and
      is-slot-marked-successful, as AOSP's bootctl answers it
  74  I/O error reading or writing the device
  75  busy: the lock is held past --lock-timeout, or the record changed underneath
      an update; try again
  76  the boot stage's word on the running slot (hand-off block, kernel command
      line) and the record disagree: mark-good, mark-bad without a slot and
      set-state <booted> good write nothing
  77  permission denied
  78  config: missing or invalid config, unusable geometry

Human output is for people and may change: scripts use --json (versioned by
its \"schema\" field), the RAUC and bootctl verbs, which print bare values, or
fw-printenv (U-Boot's NAME=value lines).";

/// The whole command line as a clap [`clap::Command`], for the man page
/// (`cargo xtask man`) and shell completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Reads and changes safeslot's boot-control record from Linux.
///
/// Every change is one journal append through safeslot-shared, synced and read back;
/// invocations are serialised with a lock on the device itself. Read-only commands open
/// the device read-only. Results go to stdout, diagnostics to stderr.
#[derive(Debug, Parser)]
#[command(name = "safeslotctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Agent config file [default: /etc/safeslot.toml]. The fw_printenv/fw_setenv
    /// personality, which takes no --config, reads SAFESLOT_CONFIG.
    #[arg(long, global = true, value_name = "FILE", env = "SAFESLOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print machine-readable JSON (`{"schema":1,...}`) instead of human text; the RAUC
    /// and bootctl verbs print `{"schema":1,"command":...,"value":...,"answer":...}`
    /// instead of their bare value.
    #[arg(long, global = true)]
    pub json: bool,
    /// The device or file holding the record (overrides `[record] device`, which is relative
    /// to the config file's directory).
    #[arg(long, global = true, value_name = "PATH")]
    pub device: Option<PathBuf>,
    /// Storage backend [default: mtd for /dev/mtd*, file otherwise].
    #[arg(long, global = true, value_enum)]
    pub backend: Option<BackendKind>,
    /// Offset of the record region in the device (overrides the config).
    #[arg(long, global = true, value_parser = parse_u32, value_name = "BYTES")]
    pub offset: Option<u32>,
    /// Size of the record region (overrides the config).
    #[arg(long, global = true, value_parser = parse_u32, value_name = "BYTES")]
    pub size: Option<u32>,
    /// Erase sector size (overrides the config).
    #[arg(long, global = true, value_parser = parse_u32, value_name = "BYTES")]
    pub erase_size: Option<u32>,
    /// Write granularity (overrides the config).
    #[arg(long, global = true, value_parser = parse_u32, value_name = "BYTES")]
    pub write_size: Option<u32>,
    /// Whether a written word may not be programmed again (overrides the config).
    #[arg(long, global = true, value_name = "BOOL")]
    pub program_once: Option<bool>,
    /// Also lock FILE (created if missing) before the device. Invocations always lock the
    /// device itself (flock: shared for reads, exclusive for writes); where its file
    /// system does not support flock, FILE alone serialises them, so every invocation
    /// must then name the same FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Seconds to wait for the lock before giving up with exit code 75.
    #[arg(long, global = true, value_parser = parse_seconds, default_value = "10", value_name = "SECONDS")]
    pub lock_timeout: Duration,
    /// The kernel command line holding the boot stage's words on the running slot
    /// (`safeslot.slot=`, `safeslot.seq=`); the fw_printenv/fw_setenv personality, which
    /// takes no options, reads SAFESLOT_CMDLINE.
    #[arg(long, global = true, default_value = "/proc/cmdline", value_name = "FILE", env = "SAFESLOT_CMDLINE")]
    pub cmdline: PathBuf,
    /// The hand-off block the boot stage left for this boot (the device tree's
    /// `/chosen/safeslot,handoff`): the running slot, the reset cause and the watchdog
    /// it armed; the fw_printenv/fw_setenv personality reads SAFESLOT_HANDOFF.
    #[arg(
        long,
        global = true,
        default_value = "/proc/device-tree/chosen/safeslot,handoff",
        value_name = "FILE",
        env = "SAFESLOT_HANDOFF"
    )]
    pub handoff: PathBuf,
}

impl Command {
    /// The command's name on the command line.
    pub const fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::History => "history",
            Command::MarkGood => "mark-good",
            Command::MarkBad { .. } => "mark-bad",
            Command::SetActive { .. } => "set-active",
            Command::Init { .. } => "init",
            Command::Verify { .. } => "verify",
            Command::GetPrimary => "get-primary",
            Command::SetPrimary { .. } => "set-primary",
            Command::GetState { .. } => "get-state",
            Command::SetState { .. } => "set-state",
            Command::GetCurrent => "get-current",
            Command::GetNumberSlots => "get-number-slots",
            Command::GetCurrentSlot => "get-current-slot",
            Command::MarkBootSuccessful => "mark-boot-successful",
            Command::SetActiveBootSlot { .. } => "set-active-boot-slot",
            Command::SetSlotAsUnbootable { .. } => "set-slot-as-unbootable",
            Command::IsSlotBootable { .. } => "is-slot-bootable",
            Command::IsSlotMarkedSuccessful { .. } => "is-slot-marked-successful",
            Command::GetSuffix { .. } => "get-suffix",
            Command::FwPrintenv { .. } => "fw-printenv",
            Command::FwSetenv { .. } => "fw-setenv",
            Command::SimulateBoot { .. } => "simulate-boot",
            Command::GetActiveBootSlot => "get-active-boot-slot",
            Command::HalInfo => "hal-info",
        }
    }

    /// A RAUC or bootctl verb: prints a bare value (or nothing) for its caller, and with
    /// `--json` the same value in a JSON object.
    pub const fn is_bare_verb(&self) -> bool {
        !matches!(
            self,
            Command::Status
                | Command::History
                | Command::MarkGood
                | Command::MarkBad { .. }
                | Command::SetActive { .. }
                | Command::Init { .. }
                | Command::Verify { .. }
                | Command::FwPrintenv { .. }
                | Command::FwSetenv { .. }
                | Command::SimulateBoot { .. }
        )
    }
}

/// A RAUC boot state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum State {
    /// Booted successfully / bootable.
    Good,
    /// Must not be booted.
    Bad,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show every slot, the booted slot, the next boot, last-known-good and the history.
    Status,
    /// Show the boot history (oldest first).
    History,
    /// Mark the booted slot good (confirmed); it becomes last-known-good.
    MarkGood,
    /// Mark a slot bad (unbootable) [default: the booted slot].
    MarkBad {
        /// Slot name (from the config) or letter.
        slot: Option<String>,
        /// Mark it even if no other slot is bootable (the boot stage then boots it anyway,
        /// as a last resort).
        #[arg(long)]
        force: bool,
    },
    /// Make SLOT the next boot, on trial with --tries attempts until marked good. The
    /// running slot, if confirmed, stays confirmed (no trial): that cancels a pending update.
    SetActive {
        /// Slot name (from the config) or letter.
        slot: String,
        /// Boot attempts before the boot stage falls back (1..=15).
        #[arg(long, default_value_t = 3)]
        tries: u8,
    },
    /// Create a fresh record (slot A active, on trial). Never runs implicitly.
    Init {
        /// Create the device file if it does not exist, or grow a shorter one, with 0xFF
        /// (erased flash) up to the end of the record region (offset + size), under the
        /// lock; bytes already in the file are never changed. For a regular file only (a
        /// device node has its size). Without it, a missing or short file is refused.
        #[arg(long)]
        create: bool,
        /// Number of slots (2..=4) [default: the slots in the config, else 2].
        #[arg(long)]
        slots: Option<u8>,
        /// Also replace a valid or corrupt record. A valid record's anti-rollback floor is
        /// kept in the new one.
        #[arg(long)]
        force: bool,
        /// With --force: let the new record start at floor 0 (a valid record's floor is
        /// dropped; a corrupt region's, which cannot be read, is lost). Images signed with a
        /// lower security counter will boot again.
        #[arg(long, requires = "force")]
        allow_rollback: bool,
    },
    /// Check a slot's (or an image file's) header signature and hash.
    Verify {
        /// Slot name, or the path of an image file (header + image).
        target: String,
    },
    /// Rehearse a boot on a record file: run the boot stage's own selection
    /// (safeslot-shared's `select`, the journal part of the stage) with every image valid
    /// unless named with --bad, write its record through the journal as the stage does, and
    /// print the slot that would boot. For trying update flows (RAUC, bootctl) without a
    /// board. Refused on anything but a regular file (a device node holds a real record)
    /// unless --force.
    SimulateBoot {
        /// Treat SLOT's image as failing verification (`bad-hash`); repeatable.
        #[arg(long, value_name = "SLOT")]
        bad: Vec<String>,
        /// Also write the hand-off block the stage would leave for this boot to FILE (what
        /// `--handoff FILE` reads).
        #[arg(long, value_name = "FILE")]
        handoff_out: Option<PathBuf>,
        /// Run on a device that is not a regular file too.
        #[arg(long)]
        force: bool,
    },

    /// RAUC: Print the bootname of the slot that boots next.
    GetPrimary,
    /// RAUC: Make BOOTNAME the slot that boots next (re-arms a slot marked bad; the
    /// running, confirmed slot stays confirmed, which cancels a pending update).
    SetPrimary {
        /// The slot's bootname.
        bootname: String,
    },
    /// RAUC: Print `good` or `bad` for BOOTNAME.
    GetState {
        /// The slot's bootname.
        bootname: String,
    },
    /// RAUC: Mark BOOTNAME good (only the booted slot) or bad.
    SetState {
        /// The slot's bootname.
        bootname: String,
        /// `good` or `bad`.
        state: State,
    },
    /// RAUC: Print the bootname of the running slot.
    GetCurrent,

    /// bootctl: Print `HAL Version: safeslotctl <version>` (needs no config or device).
    HalInfo,
    /// bootctl: Print the number of slots.
    GetNumberSlots,
    /// bootctl: Print the index of the running slot.
    GetCurrentSlot,
    /// bootctl: Mark the running slot as successfully booted.
    MarkBootSuccessful,
    /// bootctl: Print the index of the slot that boots next.
    GetActiveBootSlot,
    /// bootctl: Make slot N the next boot (on trial; the running, confirmed slot stays
    /// confirmed, which cancels a pending update).
    SetActiveBootSlot {
        /// Slot index (0 = first slot).
        n: u8,
    },
    /// bootctl: Mark slot N unbootable.
    SetSlotAsUnbootable {
        /// Slot index.
        n: u8,
    },
    /// bootctl: Print 1 and exit 0 if slot N is bootable; print 0 and exit 70 if not (as
    /// AOSP's bootctl).
    IsSlotBootable {
        /// Slot index.
        n: u8,
    },
    /// bootctl: Print 1 and exit 0 if slot N is marked successful; print 0 and exit 70 if
    /// not (as AOSP's bootctl).
    IsSlotMarkedSuccessful {
        /// Slot index.
        n: u8,
    },
    /// bootctl: Print the suffix of slot N (`_a`).
    GetSuffix {
        /// Slot index.
        n: u8,
    },

    /// Mender: U-Boot's fw_printenv for Mender's boot variables (`mender_boot_part`,
    /// `upgrade_available`, ...), read off the record: `NAME=value` lines (all variables
    /// without NAME; `-n NAME`: the value alone). Run through a symlink named
    /// `fw_printenv`, safeslotctl behaves as this command.
    #[command(disable_help_flag = true)]
    FwPrintenv {
        /// `[-n] [NAME...]`, as fw_printenv takes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Mender: U-Boot's fw_setenv for Mender's boot variables: `NAME VALUE`, or `-s FILE`
    /// (`-s -`: stdin) with one `NAME=VALUE` or `NAME VALUE` per line. All of them are
    /// mapped onto one record change (one journal append) or refused as a whole. Run
    /// through a symlink named `fw_setenv`, safeslotctl behaves as this command.
    #[command(disable_help_flag = true)]
    FwSetenv {
        /// `NAME VALUE` or `-s FILE`, as fw_setenv takes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
        args: Vec<String>,
    },
}
