//! The commands: each reads the record through the shared `Journal`, and each change
//! is one guarded journal append (`Journal::append_expecting`) under the lock.

use std::fs::OpenOptions;
use std::io;

use safeslot_shared::journal::{Found, Journal};
use safeslot_shared::policy::Admission;
use safeslot_shared::verify::{verify_bootable, SlotRegion, Trust};
use safeslot_shared::{ops, Reason, Record, SlotId, Tries};
use serde::Serialize;

use crate::cli::{Cli, Command, State};
use crate::config::Settings;
use crate::error::Error;
use crate::fw_env::{self, Request, Tool};
use crate::lock::{self, LockGuard};
use crate::mender::{self, Assignment, Env, Parts, Var};
use crate::running::{Evidence, Running};
use crate::storage::{grow_erased, BackendKind, FileFlash, MtdFlash, Storage};
use crate::verify::{load_keys, ImageFile};
use crate::view::{self, SCHEMA};

mod simulate;

/// How a successful command ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Exit 0.
    Yes,
    /// Exit 70 (`EX_SOFTWARE`, as AOSP's bootctl): the answer of an `is-*` query is "no".
    No,
}

/// What a command printed and how it ends.
#[derive(Debug)]
pub struct Reply {
    /// Text for stdout.
    pub stdout: String,
    /// Exit 0, or 70 for "no".
    pub answer: Answer,
}

impl Reply {
    fn yes(stdout: impl Into<String>) -> Reply {
        Reply { stdout: stdout.into(), answer: Answer::Yes }
    }

    /// A bootctl `is-*` answer: `1` (exit 0) or `0` (exit 70), as AOSP's bootctl prints and
    /// exits.
    fn answer(yes: bool) -> Reply {
        if yes {
            Reply { stdout: "1\n".into(), answer: Answer::Yes }
        } else {
            Reply { stdout: "0\n".into(), answer: Answer::No }
        }
    }
}

/// Runs the command `cli` describes.
pub fn run(cli: &Cli) -> Result<Reply, Error> {
    // bootctl `hal-info` describes the tool, not a record: it needs no config or device.
    let reply = if let Command::HalInfo = cli.command {
        Reply::yes(format!("HAL Version: safeslotctl {}\n", env!("CARGO_PKG_VERSION")))
    } else {
        Agent { s: Settings::load(&cli.global)?, json: cli.global.json }.dispatch(&cli.command)?
    };
    if cli.global.json && cli.command.is_bare_verb() {
        return bare_as_json(cli.command.name(), reply);
    }
    Ok(reply)
}

/// A RAUC or bootctl verb's result with `--json`.
#[derive(Debug, Serialize)]
struct BareView<'a> {
    schema: u32,
    command: &'a str,
    /// The bare value the verb prints (`null` for a verb that prints nothing).
    value: Option<&'a str>,
    /// The answer of an `is-*` verb (its exit code); `true` for the others.
    answer: bool,
}

/// Wraps a bare verb's `reply` into one JSON line; the exit code stays the verb's.
fn bare_as_json(command: &str, reply: Reply) -> Result<Reply, Error> {
    let value = reply.stdout.trim_end_matches('\n');
    let view = BareView {
        schema: SCHEMA,
        command,
        value: (!value.is_empty()).then_some(value),
        answer: reply.answer == Answer::Yes,
    };
    Ok(Reply { stdout: json_line(&view)?, answer: reply.answer })
}

/// The result of a write command, for `--json`.
#[derive(Debug, Serialize)]
struct ChangeView {
    schema: u32,
    command: &'static str,
    slot: Option<String>,
    changed: bool,
    seq: u32,
}

/// The result of `verify`, for `--json`.
#[derive(Debug, Serialize)]
struct VerifyView {
    schema: u32,
    target: String,
    valid: bool,
    reason: Option<&'static str>,
    /// The slot whose checks were applied (for a file: the slot its load address names).
    slot: Option<String>,
    /// Whether the load address was checked (the config gives `flash_base`).
    load_address_checked: bool,
    /// The record's anti-rollback floor applied, if the record could be read.
    floor: Option<u32>,
    version: Option<String>,
    security_counter: Option<u32>,
    key_index: Option<usize>,
}

/// The largest file `init --create` makes (a record region is a few KiB to a few MiB; a
/// region ending further out is a typo in its offset or size).
const MAX_CREATE: u64 = 256 << 20;

/// A change that was (or did not need to be) written.
struct Change {
    changed: bool,
    seq: u32,
}

/// `ops::mark_bad`, refused (unless `force`) when it would leave no bootable slot: the
/// boot stage would then boot that slot anyway as a last resort, and `mark-bad` would only
/// have lost its confirmation (issue #17, finding 5).
fn mark_bad_leaving_a_bootable_slot(s: &Settings, r: &mut Record, id: SlotId, force: bool) -> Result<(), Error> {
    let other_bootable = r.slot_ids().any(|o| o != id && r.slot(o).is_some_and(|st| st.is_bootable()));
    let already = r.slot(id).is_some_and(|st| st.unbootable.is_some());
    if !force && !other_bootable && !already {
        return Err(Error::Unavailable(format!(
            "slot {} is the only bootable slot: marking it bad leaves nothing bootable (the boot stage \
             would boot it anyway, as a last resort); activate another slot first, or pass --force",
            s.slot_name(id)
        )));
    }
    ops::mark_bad(r, id).map_err(Error::from)
}

/// The slot that boots next (RAUC `get-primary`, bootctl `get-active-boot-slot`).
fn next_boot(r: &Record) -> Result<SlotId, Error> {
    r.primary().ok_or_else(|| Error::Unavailable("no slot is bootable".into()))
}

/// Makes `id` the slot that boots next (`set-active`, `set-primary`,
/// `set-active-boot-slot`). A confirmed slot that already is the primary is left
/// alone. The running slot, when confirmed, stays confirmed: making it the primary
/// again cancels an update that was activated but has not run (`ops::reinstate`: the
/// other slot drops below it and boots only as a fallback). Anything else is
/// (re-)armed for a trial with `tries` (`ops::set_active`, which also re-arms a slot
/// just marked bad).
fn make_primary(r: &mut Record, id: SlotId, tries: Tries, running: &Running) -> Result<(), Error> {
    let confirmed = r.slot(id).is_some_and(|st| st.confirmed && st.unbootable.is_none());
    if confirmed && (r.primary() == Some(id) || running.slot == Some(id)) {
        return ops::reinstate(r, id).map_err(Error::from);
    }
    ops::set_active(r, id, tries).map_err(Error::from)
}

struct Agent {
    s: Settings,
    json: bool,
}

fn json_line<T: Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map(|s| s + "\n").map_err(|e| Error::Internal(e.to_string()))
}

impl Agent {
    fn dispatch(&self, cmd: &Command) -> Result<Reply, Error> {
        match cmd {
            Command::Status => self.status(),
            Command::History => {
                let (r, _) = self.read()?;
                let v = view::history_list(&self.s, &r);
                Ok(Reply::yes(if self.json { json_line(&v)? } else { view::history_text(&v) }))
            }
            Command::MarkGood => self.mark_good("mark-good"),
            Command::MarkBad { slot, force } => self.change("mark-bad", |s, r, running| {
                let id = match slot {
                    Some(name) => s.slot_by_name(name, r)?,
                    None => running.for_write()?,
                };
                mark_bad_leaving_a_bootable_slot(s, r, id, *force)?;
                Ok(id)
            }),
            Command::SetActive { slot, tries } => {
                let tries = Tries::new(*tries)
                    .filter(|t| *t != Tries::ZERO)
                    .ok_or_else(|| Error::Usage(format!("--tries {tries}: must be 1..=15")))?;
                self.change("set-active", |s, r, running| {
                    let id = s.slot_by_name(slot, r)?;
                    make_primary(r, id, tries, running)?;
                    Ok(id)
                })
            }
            Command::Init { slots, force, allow_rollback, create } => {
                self.init(*slots, *force, *allow_rollback, *create)
            }
            Command::Verify { target } => self.verify(target),
            Command::SimulateBoot { bad, handoff_out, force } => {
                simulate::run(self, bad, handoff_out.as_deref(), *force)
            }

            Command::GetPrimary => {
                let (r, _) = self.read()?;
                Ok(Reply::yes(self.s.bootname(next_boot(&r)?) + "\n"))
            }
            Command::SetPrimary { bootname } => self.set_primary(bootname).map(|_| Reply::yes("")),
            Command::GetState { bootname } => {
                let (r, _) = self.read()?;
                let id = self.s.slot_by_name(bootname, &r)?;
                let good = r.slot(id).is_some_and(|s| s.is_bootable());
                Ok(Reply::yes(if good { "good\n" } else { "bad\n" }))
            }
            Command::SetState { bootname, state } => self.set_state(bootname, *state).map(|_| Reply::yes("")),
            Command::GetCurrent => {
                let (r, seq) = self.read()?;
                let id = self.current(&r, seq)?;
                Ok(Reply::yes(self.s.bootname(id) + "\n"))
            }

            Command::HalInfo => Err(Error::Internal("hal-info is answered before the config is read".into())),
            Command::GetNumberSlots => {
                let (r, _) = self.read()?;
                Ok(Reply::yes(format!("{}\n", r.slot_count())))
            }
            Command::GetCurrentSlot => {
                let (r, seq) = self.read()?;
                Ok(Reply::yes(format!("{}\n", self.current(&r, seq)?.index())))
            }
            Command::MarkBootSuccessful => self.mark_good("mark-boot-successful").map(|_| Reply::yes("")),
            Command::GetActiveBootSlot => {
                let (r, _) = self.read()?;
                Ok(Reply::yes(format!("{}\n", next_boot(&r)?.index())))
            }
            Command::SetActiveBootSlot { n } => self
                .modify(|s, r, running| {
                    let id = s.slot_by_index(*n, r)?;
                    make_primary(r, id, Tries::DEFAULT, running)
                })
                .map(|_| Reply::yes("")),
            Command::SetSlotAsUnbootable { n } => self
                .modify(|s, r, _| {
                    let id = s.slot_by_index(*n, r)?;
                    mark_bad_leaving_a_bootable_slot(s, r, id, false)
                })
                .map(|_| Reply::yes("")),
            Command::IsSlotBootable { n } => {
                let (r, _) = self.read()?;
                let id = self.s.slot_by_index(*n, &r)?;
                Ok(Reply::answer(r.slot(id).is_some_and(|s| s.is_bootable())))
            }
            Command::IsSlotMarkedSuccessful { n } => {
                let (r, _) = self.read()?;
                let id = self.s.slot_by_index(*n, &r)?;
                Ok(Reply::answer(r.slot(id).is_some_and(|s| s.confirmed && s.unbootable.is_none())))
            }
            Command::GetSuffix { n } => {
                let (r, _) = self.read()?;
                let id = self.s.slot_by_index(*n, &r)?;
                Ok(Reply::yes(format!("_{}\n", self.s.slot_name(id))))
            }

            Command::FwPrintenv { args } => self.fw_printenv(args),
            Command::FwSetenv { args } => self.fw_setenv(args),
        }
    }

    // ----- Mender: fw_printenv / fw_setenv (crate::fw_env, crate::mender) -----

    fn mender_parts(&self) -> Parts {
        Parts::new(SlotId::ALL.into_iter().filter_map(|id| Some((id, self.s.slot_name(id), self.s.mender_part(id)?))))
    }

    fn no_json(&self, tool: Tool) -> Result<(), Error> {
        if self.json {
            return Err(Error::Usage(format!(
                "{}: prints U-Boot's NAME=value lines; --json is not supported here (status --json has the record)",
                tool.subcommand()
            )));
        }
        Ok(())
    }

    fn fw_printenv(&self, args: &[String]) -> Result<Reply, Error> {
        self.no_json(Tool::Printenv)?;
        let (names, value_only) = match fw_env::parse_printenv(args)? {
            Request::Print { names, value_only } => (names, value_only),
            _ => return Ok(Reply::yes(Tool::Printenv.usage())),
        };
        let vars = match names.is_empty() {
            true => Var::ALL.to_vec(),
            false => names.iter().map(|n| Var::from_name(n)).collect::<Result<_, _>>()?,
        };
        let (r, _) = self.read()?;
        let env = Env::of(&r, &self.mender_parts())?;
        Ok(Reply::yes(fw_env::print_lines(vars.iter().map(|v| (v.name(), env.value(*v))), value_only)))
    }

    /// `fw_setenv`: every variable it names is applied by [`mender::apply`] inside one
    /// [`Agent::modify`]: one journal append, or nothing.
    fn fw_setenv(&self, args: &[String]) -> Result<Reply, Error> {
        self.no_json(Tool::Setenv)?;
        let settings = match fw_env::parse_setenv(args, &mut io::stdin().lock())? {
            Request::Set(settings) => settings,
            _ => return Ok(Reply::yes(Tool::Setenv.usage())),
        };
        let set: Vec<Assignment> =
            settings.iter().map(|s| Assignment::parse(&s.name, &s.value, &s.at)).collect::<Result<_, _>>()?;
        let parts = self.mender_parts();
        self.modify(|_, r, running| mender::apply(r, &parts, |_| running.for_write(), &set))?;
        Ok(Reply::yes(""))
    }

    // ----- storage -----

    /// Opens the device, read-write for a writer and read-only otherwise, and locks it
    /// (exclusive for a writer, shared otherwise), after the `--lock` file if one is
    /// given: see [`crate::lock`]. Nothing is created unless `--lock` names a missing file.
    fn open_locked(&self, write: bool) -> Result<(LockGuard, Storage), Error> {
        self.open_locked_with(write, None)
    }

    /// [`Agent::open_locked`]; with `grow_to` (`init --create`, a writer), the device is
    /// created if missing and, under the lock, grown to `grow_to` bytes ([`Agent::grow`]).
    fn open_locked_with(&self, write: bool, grow_to: Option<u64>) -> Result<(LockGuard, Storage), Error> {
        let dev = &self.s.device;
        let existed = grow_to.is_some() && dev.exists();
        let wait = lock::Wait::new(self.s.lock_timeout);
        let mut guard = LockGuard::new();
        if let Some(path) = &self.s.lock {
            guard.join(lock::acquire_until(path, write, wait)?);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(write)
            .create(write && grow_to.is_some())
            .open(dev)
            .map_err(|e| Error::from_io(dev, e))?;
        if file.metadata().map_err(|e| Error::from_io(dev, e))?.is_dir() {
            return Err(Error::from_io(dev, io::Error::from(io::ErrorKind::IsADirectory)));
        }
        match lock::lock_open(&file, dev, write, wait)? {
            Some(g) => guard.join(g),
            None if self.s.lock.is_some() => {}
            None => {
                return Err(Error::from_io(
                    dev,
                    io::Error::other(
                        "its file system does not support flock; pass --lock FILE (the same FILE for every \
                         invocation) to serialise through a lock file",
                    ),
                ))
            }
        }
        if let Some(end) = grow_to {
            self.grow(&file, end, existed)?;
        }
        let storage = match self.s.backend {
            BackendKind::File => {
                Storage::File(FileFlash::new(file, self.s.geometry()).map_err(|e| Error::from_io(dev, e))?)
            }
            BackendKind::Mtd => {
                let m = MtdFlash::new(file, self.s.program_once).map_err(|e| Error::from_io(dev, e))?;
                let g = m.geometry();
                let rec = &self.s.record;
                if g.erase_size == 0
                    || !rec.erase_size.is_multiple_of(g.erase_size)
                    || !rec.write_size.is_multiple_of(g.write_size)
                {
                    return Err(Error::Config(format!(
                        "{}: MTD geometry (erase {:#x}, write {}) does not divide the config's (erase {:#x}, write {})",
                        dev.display(),
                        g.erase_size,
                        g.write_size,
                        rec.erase_size,
                        rec.write_size
                    )));
                }
                Storage::Mtd(m)
            }
        };
        Ok((guard, storage))
    }

    /// `init --create`: grows the device, a regular file, with 0xFF to `end` bytes
    /// ([`grow_erased`]: what is in it stays), and says so on stderr. A device node is
    /// refused: its size is fixed.
    fn grow(&self, file: &std::fs::File, end: u64, existed: bool) -> Result<(), Error> {
        let dev = &self.s.device;
        if !file.metadata().map_err(|e| Error::from_io(dev, e))?.is_file() {
            return Err(Error::Usage(format!(
                "init --create makes or grows a regular file; {} is a device, whose size is fixed (drop --create)",
                dev.display()
            )));
        }
        match grow_erased(file, end).map_err(|e| Error::from_io(dev, e))? {
            Some(_) if !existed => eprintln!(
                "safeslotctl: init: created {}: {end} bytes of 0xFF (erased flash), to the record region's end",
                dev.display()
            ),
            Some(from) => eprintln!(
                "safeslotctl: init: grew {} from {from} to {end} bytes with 0xFF (erased flash); the bytes it \
                 held are unchanged",
                dev.display()
            ),
            None => {}
        }
        Ok(())
    }

    /// The journal, opened for writing (exclusive lock) or reading (shared lock).
    fn journal(&self, write: bool) -> Result<(LockGuard, Journal<Storage>), Error> {
        self.journal_with(write, None)
    }

    /// [`Agent::journal`] over [`Agent::open_locked_with`]: with `grow_to`, a record file
    /// shorter than that is first grown with 0xFF (`init --create`).
    fn journal_with(&self, write: bool, grow_to: Option<u64>) -> Result<(LockGuard, Journal<Storage>), Error> {
        let (guard, storage) = self.open_locked_with(write, grow_to)?;
        let c = self.s.record;
        let end = u64::from(c.offset).saturating_add(u64::from(c.size));
        let len = embedded_storage::nor_flash::ReadNorFlash::capacity(&storage) as u64;
        if len < end {
            return Err(Error::Config(format!(
                "{}: {len} bytes, but the record region (offset {:#x}, size {:#x}) needs {end}: wrong device, \
                 or a record file that was never made (`safeslotctl init --create` makes it)",
                self.s.device.display(),
                c.offset,
                c.size
            )));
        }
        let j = Journal::open(storage, c)?;
        // Entries carry the geometry they were written with: a region written with another
        // one is not "no record" (which `init --force` would replace) but a configuration
        // error, and nothing is read or written (issue #17, finding 3).
        if let (false, Some([w, e, n])) = (matches!(j.found(), Found::Valid(_)), j.geometry_mismatch()) {
            let size = |log2: u8| 1u64.checked_shl(u32::from(log2)).unwrap_or(0);
            return Err(Error::Config(format!(
                "the record region was written with write size {} B, erase size {} B, {n} sectors; the \
                 configuration says write size {} B, erase size {} B, {} sectors: fix the config or the \
                 --write-size/--erase-size/--size options (nothing was read or written)",
                size(w),
                size(e),
                c.write_size,
                c.erase_size,
                c.size.checked_div(c.erase_size).unwrap_or(0)
            )));
        }
        Ok((guard, j))
    }

    /// The current record and the journal head's sequence number.
    fn read(&self) -> Result<(Record, u32), Error> {
        let (_guard, j) = self.journal(false)?;
        Ok((j.record()?.clone(), j.seq()))
    }

    /// Read-modify-write: applies `f` to a copy of the record (with the running slot as
    /// the stage and that record see it) and, if it changed, appends it as one journal
    /// entry, guarded by the head's sequence number.
    fn modify(&self, f: impl FnOnce(&Settings, &mut Record, &Running) -> Result<(), Error>) -> Result<Change, Error> {
        let (_guard, mut j) = self.journal(true)?;
        let seq = j.seq();
        let current = j.record()?.clone();
        let running = self.running(&current, seq);
        let mut next = current.clone();
        f(&self.s, &mut next, &running)?;
        // An unacknowledged head is rewritten even when unchanged (docs/FORMAT.md).
        if next == current && j.head_is_solid() {
            return Ok(Change { changed: false, seq });
        }
        j.append_expecting(seq, &next)?;
        Ok(Change { changed: true, seq: j.seq() })
    }

    /// A write command on one slot (`f` applies it and names the slot), reported
    /// in human text or JSON.
    fn change(
        &self,
        command: &'static str,
        f: impl FnOnce(&Settings, &mut Record, &Running) -> Result<SlotId, Error>,
    ) -> Result<Reply, Error> {
        let mut slot = None;
        let c = self.modify(|s, r, running| {
            slot = Some(f(s, r, running)?);
            Ok(())
        })?;
        self.report(command, slot, &c)
    }

    fn report(&self, command: &'static str, slot: Option<SlotId>, c: &Change) -> Result<Reply, Error> {
        let name = slot.map(|id| self.s.slot_name(id));
        if self.json {
            return Ok(Reply::yes(json_line(&ChangeView {
                schema: SCHEMA,
                command,
                slot: name,
                changed: c.changed,
                seq: c.seq,
            })?));
        }
        let what = name.map(|n| format!(" slot {n}")).unwrap_or_default();
        Ok(Reply::yes(if c.changed {
            format!("{command}{what}: written (journal seq {})\n", c.seq)
        } else {
            format!("{command}{what}: already so, nothing written\n")
        }))
    }

    // ----- the running slot -----

    /// The hand-off block the stage left for this boot, decoded (a file that exists but
    /// does not decode is reported on stderr and not used).
    fn handoff(&self) -> Option<safeslot_shared::handoff::Handoff> {
        let bytes = std::fs::read(&self.s.handoff).ok()?;
        match safeslot_shared::handoff::Handoff::decode(&bytes) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("safeslotctl: warning: {}: not a hand-off block: {e}", self.s.handoff.display());
                None
            }
        }
    }

    /// The running slot as the stage (hand-off block, kernel command line) and the record
    /// (`r`, at journal seq `seq`) see it: [`crate::running`].
    fn running(&self, r: &Record, seq: u32) -> Running {
        self.running_with(r, seq, self.handoff().as_ref())
    }

    /// [`Agent::running`] with the hand-off block already read (`status` shows it too).
    fn running_with(&self, r: &Record, seq: u32, handoff: Option<&safeslot_shared::handoff::Handoff>) -> Running {
        let text = std::fs::read_to_string(&self.s.cmdline).unwrap_or_default();
        let e = Evidence { handoff, cmdline: &text, record: (r, seq) };
        Running::gather(&e, |n| self.s.slot_by_name(n, r).ok(), |id| self.s.slot_name(id))
    }

    /// The running slot, for a read (`get-current`): [`Running::for_read`].
    fn current(&self, r: &Record, seq: u32) -> Result<SlotId, Error> {
        self.running(r, seq).for_read()
    }

    // ----- commands -----

    fn status(&self) -> Result<Reply, Error> {
        let (r, seq) = self.read()?;
        // Read (and, if it does not decode, warned about) once: it names the running slot
        // and is shown as "this boot".
        let handoff = self.handoff();
        let running = self.running_with(&r, seq, handoff.as_ref());
        running.warn();
        let this_boot = handoff.map(|h| view::BootView::new(&self.s, &h));
        let v = view::status(&self.s, &r, seq, &running, this_boot);
        if self.s.slots.len() != usize::from(r.slot_count()) && !self.s.slots.is_empty() {
            eprintln!(
                "safeslotctl: warning: the config names {} slots, the record has {}",
                self.s.slots.len(),
                r.slot_count()
            );
        }
        Ok(Reply::yes(if self.json { json_line(&v)? } else { view::status_text(&v) }))
    }

    fn mark_good(&self, command: &'static str) -> Result<Reply, Error> {
        let mut slot = None;
        let c = self.modify(|_, r, running| {
            let id = running.for_write()?;
            slot = Some(id);
            ops::mark_good(r, id).map_err(Error::from)
        })?;
        self.report(command, slot, &c)
    }

    /// RAUC `set-primary`: the slot boots next ([`Agent::make_primary`] with 3 tries).
    fn set_primary(&self, bootname: &str) -> Result<Change, Error> {
        self.modify(|s, r, running| {
            let id = s.slot_by_name(bootname, r)?;
            make_primary(r, id, Tries::DEFAULT, running)
        })
    }

    /// RAUC `set-state`: `bad` marks the slot bad; `good` confirms it when it is the
    /// booted slot, and is accepted without a change for another slot that is
    /// already bootable (a slot that has not run cannot be confirmed).
    fn set_state(&self, bootname: &str, state: State) -> Result<Change, Error> {
        self.modify(|s, r, running| {
            let id = s.slot_by_name(bootname, r)?;
            match state {
                State::Bad => mark_bad_leaving_a_bootable_slot(s, r, id, false),
                State::Good if running.slot == Some(id) => {
                    running.for_write()?;
                    ops::mark_good(r, id).map_err(Error::from)
                }
                State::Good if r.slot(id).is_some_and(|st| st.is_bootable()) => Ok(()),
                State::Good => Err(Error::Unavailable(format!(
                    "slot {} is not the booted slot and is not bootable: use set-primary to arm it",
                    s.slot_name(id)
                ))),
            }
        })
    }

    /// `init [--create] [--force [--allow-rollback]]`: a fresh record. Replacing a valid
    /// record keeps its anti-rollback floor unless `--allow-rollback`; replacing a corrupt
    /// region (whose floor cannot be read) needs `--allow-rollback`, and the new record says
    /// the floor was lost (history `created` with `record-reset`, as the boot stage writes
    /// it). `--create` first makes or grows the file to the record region's end
    /// ([`Agent::grow`]), once the geometry is known to be valid.
    fn init(&self, slots: Option<u8>, force: bool, allow_rollback: bool, create: bool) -> Result<Reply, Error> {
        let n = match slots {
            Some(n) => n,
            None if (2..=4).contains(&self.s.slots.len()) => self.s.slots.len() as u8,
            None => 2,
        };
        if !(2..=4).contains(&n) {
            return Err(Error::Usage(format!("--slots {n}: must be 2..=4")));
        }
        let grow_to = if create { Some(self.create_size()?) } else { None };
        let (_guard, mut j) = self.journal_with(true, grow_to)?;
        let fresh = |corrupt| safeslot_shared::select::FreshRecord::new(n, Tries::DEFAULT).map(|f| f.record(corrupt));
        let (record, note) = match (j.found(), force) {
            (Found::Valid(h), false) => {
                return Err(Error::Unavailable(format!(
                    "the region already holds a valid record (journal seq {}); pass --force to replace it",
                    h.seq
                )))
            }
            (Found::NoValidRecord, false) => {
                return Err(Error::Unavailable(
                    "the region holds data that is not a valid record (corrupt, or the config's offset is \
                     wrong); pass --force to erase it and create a record"
                        .into(),
                ))
            }
            (Found::Valid(_), true) => {
                let floor = j.record()?.rollback_floor;
                let mut r = fresh(false).ok_or_else(|| Error::Internal("fresh record".into()))?;
                if allow_rollback {
                    (r, format!("anti-rollback floor {floor} dropped: the new record starts at 0"))
                } else {
                    r.rollback_floor = floor;
                    (r, format!("anti-rollback floor {floor} kept (--allow-rollback would reset it to 0)"))
                }
            }
            (Found::NoValidRecord, true) if !allow_rollback => {
                return Err(Error::Unavailable(
                    "the region holds no valid record, so its anti-rollback floor cannot be read: a new record \
                     starts at floor 0 and images below the old floor would boot again; pass --allow-rollback \
                     too if that is intended"
                        .into(),
                ))
            }
            (Found::NoValidRecord, true) => (
                fresh(true).ok_or_else(|| Error::Internal("fresh record".into()))?,
                "the anti-rollback floor of the corrupt region is lost: the new record starts at 0".to_owned(),
            ),
            (_, _) => (fresh(false).ok_or_else(|| Error::Internal("fresh record".into()))?, String::new()),
        };
        j.initialize(&record)?;
        if !note.is_empty() {
            eprintln!("safeslotctl: init: {note}");
        }
        let c = Change { changed: true, seq: j.seq() };
        self.report("init", None, &c)
    }

    /// The size `init --create` makes the file: the record region's end, once its geometry
    /// validates, and at most [`MAX_CREATE`] bytes; never for an MTD device.
    fn create_size(&self) -> Result<u64, Error> {
        if self.s.backend == BackendKind::Mtd {
            return Err(Error::Usage(format!(
                "init --create makes or grows a regular file; {} is an MTD device (drop --create)",
                self.s.device.display()
            )));
        }
        let rec = self.s.record;
        let end = u64::from(rec.offset).saturating_add(u64::from(rec.size));
        if end > MAX_CREATE {
            return Err(Error::Config(format!(
                "init --create: the record region ends at {end:#x}, past {MAX_CREATE:#x} bytes; check --offset and \
                 --size (or the config), or make the file yourself"
            )));
        }
        let capacity = usize::try_from(end).unwrap_or(usize::MAX);
        rec.validate::<Storage>(capacity).map_err(|m| Error::Config(format!("record geometry: {m}")))?;
        Ok(end)
    }

    /// `verify SLOT|FILE`: the boot stage's checks, as its generated configuration has them
    /// (the shared `verify_slot` over the slot's region, its required load address
    /// included), then its anti-rollback rule against the record's floor. A file is checked
    /// as the slot whose required load address its header carries (none: wrong-address).
    fn verify(&self, target: &str) -> Result<Reply, Error> {
        let keys = load_keys(&self.s.keys)?;
        let by_name = self
            .s
            .slots
            .iter()
            .position(|c| c.name == target)
            .or_else(|| self.s.slots.iter().position(|c| c.name.eq_ignore_ascii_case(target)));
        let addresses_known = self.s.slots.iter().any(|c| c.load_addr.is_some());
        // The stage refuses an image the record does not admit (decision table rows 6-8:
        // below the floor, a revoked key, a downgrade or unmet requirement on trial).
        let record = self.read().ok().map(|(r, _)| r);
        let floor = record.as_ref().map(|r| r.rollback_floor);
        let trust = Trust { keys: &keys, compatible: self.s.image.compatible.as_deref().map(str::as_bytes) };
        let refuse_downgrade = self.s.image.refuse_downgrade;
        // Slot `i` as the stage would boot it next: its admission, and whether on trial.
        let admit = |i: usize| -> (Admission, bool) {
            match (record.as_ref(), SlotId::from_index(i as u8)) {
                (Some(r), Some(id)) => {
                    (Admission::for_slot(r, id, refuse_downgrade), r.slot(id).is_none_or(|s| !s.confirmed))
                }
                _ => (Admission::default(), true),
            }
        };
        let (slot, result) = match by_name {
            Some(i) => {
                let c = self.s.slots.get(i).ok_or_else(|| Error::Internal("slot index".into()))?;
                let (_guard, mut storage) = self.open_locked(false)?;
                let (a, trial) = admit(i);
                (Some(c.name.clone()), verify_bootable(&mut storage, Settings::region(c), &trust, &a, trial))
            }
            None if std::path::Path::new(target).exists() => {
                let mut f = ImageFile::open(std::path::Path::new(target))?;
                match f.header() {
                    Err(reason) => (None, Err(reason)),
                    Ok(h) if addresses_known => {
                        match self.s.slots.iter().position(|c| c.load_addr == Some(h.load_addr)) {
                            Some(i) => {
                                let c = self.s.slots.get(i).ok_or_else(|| Error::Internal("slot index".into()))?;
                                let region = SlotRegion { offset: 0, ..Settings::region(c) };
                                // A file is an update: it would boot on trial.
                                let (a, _) = admit(i);
                                (Some(c.name.clone()), verify_bootable(&mut f, region, &trust, &a, true))
                            }
                            None => (None, Err(Reason::WrongAddress)),
                        }
                    }
                    Ok(_) => {
                        let a = Admission { confirmed: None, ..admit(0).0 };
                        (None, f.region().and_then(|region| verify_bootable(&mut f, region, &trust, &a, true)))
                    }
                }
            }
            None => {
                let names: Vec<&str> = self.s.slots.iter().map(|c| c.name.as_str()).collect();
                return Err(Error::Usage(format!(
                    "{target:?} is neither a slot ({}) nor a file",
                    if names.is_empty() { "none configured".to_owned() } else { names.join(", ") }
                )));
            }
        };
        if !addresses_known {
            eprintln!("safeslotctl: note: the config has no flash_base: the load address was not checked");
        }
        let v = match &result {
            Ok(ok) => VerifyView {
                schema: SCHEMA,
                target: target.to_owned(),
                valid: true,
                reason: None,
                slot: slot.clone(),
                load_address_checked: addresses_known,
                floor,
                version: Some(ok.header.version.to_string()),
                security_counter: Some(ok.header.security_counter),
                key_index: Some(ok.key_index),
            },
            Err(reason) => VerifyView {
                schema: SCHEMA,
                target: target.to_owned(),
                valid: false,
                reason: Some(reason.name()),
                slot: slot.clone(),
                load_address_checked: addresses_known,
                floor,
                version: None,
                security_counter: None,
                key_index: None,
            },
        };
        match result {
            // In JSON mode the verdict is printed either way; the exit code still says 65.
            Err(reason) if !self.json => Err(Error::Verify { target: target.to_owned(), reason }),
            Err(reason) => {
                print!("{}", json_line(&v)?);
                Err(Error::Verify { target: target.to_owned(), reason })
            }
            Ok(_) if self.json => Ok(Reply::yes(json_line(&v)?)),
            Ok(ok) => Ok(Reply::yes(format!(
                "{target}: valid{}, version {}, security counter {}{}, signed by key #{} ({})\n",
                slot.map(|s| format!(" for slot {s}")).unwrap_or_default(),
                ok.header.version,
                ok.header.security_counter,
                floor.map(|f| format!(" (floor {f})")).unwrap_or_default(),
                ok.key_index,
                self.s.keys.get(ok.key_index).map(|p| p.display().to_string()).unwrap_or_default()
            ))),
        }
    }
}
