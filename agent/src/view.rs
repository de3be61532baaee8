//! What the read commands show: serialisable views of the record (`--json`,
//! schema 1) and their human rendering.

use std::fmt::Write as _;

use serde::Serialize;

use safeslot_shared::{HistoryEntry, Record, SlotId};

use crate::config::Settings;
use crate::running::Running;

/// The JSON schema version of every `--json` output.
pub const SCHEMA: u32 = 1;

/// One slot.
#[derive(Debug, Serialize)]
pub struct SlotView {
    /// Name from the config.
    pub name: String,
    /// The RAUC bootname (`[[slot]] bootname`, default: the name).
    pub bootname: String,
    /// Index (bootctl numbering).
    pub index: usize,
    /// Boot priority, 0 = disabled.
    pub priority: u8,
    /// Tries left while unconfirmed.
    pub tries: u8,
    /// Marked good.
    pub confirmed: bool,
    /// Bootable by the record.
    pub bootable: bool,
    /// Why the slot is unbootable, if it is.
    pub unbootable: Option<&'static str>,
    /// Version of the image last verified by the boot stage.
    pub version: String,
    /// Its security counter.
    pub security_counter: u32,
}

/// One history entry.
#[derive(Debug, Serialize)]
pub struct HistoryView {
    /// The slot concerned.
    pub slot: Option<String>,
    /// What happened.
    pub event: &'static str,
    /// Why.
    pub reason: &'static str,
    /// The slot's tries afterwards.
    pub tries: u8,
    /// Why the chip reset before the boot that recorded it (`unknown` for events the
    /// agent records and in format-1 records).
    pub reset_cause: &'static str,
}

/// `status --json`.
#[derive(Debug, Serialize)]
pub struct StatusView {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// The journal head's sequence number.
    pub seq: u32,
    /// The record's `last_booted`: the slot the boot stage last recorded a boot of.
    pub booted: Option<String>,
    /// The running slot: what the boot stage handed over for this boot (hand-off block,
    /// else kernel command line), else the record's `last_booted`.
    pub running: Option<String>,
    /// Where `running` comes from: `handoff`, `cmdline` or `record`.
    pub running_from: &'static str,
    /// The slot the kernel command line names, if it names one.
    pub cmdline_slot: Option<String>,
    /// True when the running slot the stage names is not the record's `last_booted`
    /// (expected after a boot the stage could not record), or `conflict` is set.
    pub mismatch: bool,
    /// How the stage's word and the record disagree so that writes acting on the running
    /// slot are refused (exit 76); `null` when they agree.
    pub conflict: Option<String>,
    /// The slot that boots next (if its image verifies).
    pub primary: Option<String>,
    /// The slot most recently marked good.
    pub last_known_good: Option<String>,
    /// Reason of the most recent fallback.
    pub last_fallback: &'static str,
    /// Anti-rollback floor.
    pub rollback_floor: u32,
    /// The record was recreated from a corrupt region (by the boot stage, or `init --force
    /// --allow-rollback`): the floor before that is unknown, and images below it may boot.
    /// True while that `created`/`record-reset` entry is in the history.
    pub floor_lost: bool,
    /// Key floor: trusted keys with a lower index are revoked on this device.
    pub key_floor: u8,
    /// Power-loss resets the running trial has had without using a try.
    pub free_retries: u8,
    /// The record format in flash (the agent writes the same format back).
    pub record_format: u8,
    /// What the boot stage handed over for this boot (the device tree's hand-off block),
    /// or `null` when there is none (no stage in front of the agent, or not Linux on a
    /// safeslot SoC board).
    pub this_boot: Option<BootView>,
    /// Every slot.
    pub slots: Vec<SlotView>,
    /// The boot history, oldest first.
    pub history: Vec<HistoryView>,
}

/// The hand-off block of this boot, as `status` shows it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct BootView {
    /// The slot the stage booted.
    pub slot: String,
    /// `confirmed`, `trial` or `last-resort`.
    pub kind: &'static str,
    /// Why the chip reset before this boot (`unknown` where it cannot tell).
    pub reset_cause: &'static str,
    /// The watchdog timeout the stage armed before the jump, in ms (0: none): the system
    /// must feed the watchdog within it (on Linux: a watchdog daemon or systemd's
    /// `RuntimeWatchdogSec`) until, and after, it marks the slot good.
    pub watchdog_ms: u32,
    /// The hand-off block's format (3; older stages: 1 or 2, the newer fields unknown).
    pub format: u8,
}

impl BootView {
    /// From a decoded hand-off block.
    pub fn new(s: &Settings, h: &safeslot_shared::handoff::Handoff) -> BootView {
        BootView {
            slot: s.slot_name(h.slot),
            kind: h.kind.name(),
            reset_cause: h.reset_cause.name(),
            watchdog_ms: h.watchdog_ms,
            format: h.format,
        }
    }
}

/// `history --json`.
#[derive(Debug, Serialize)]
pub struct HistoryList {
    /// Always [`SCHEMA`].
    pub schema: u32,
    /// Oldest first.
    pub history: Vec<HistoryView>,
}

fn history(s: &Settings, r: &Record) -> Vec<HistoryView> {
    r.history()
        .map(|h: &HistoryEntry| HistoryView {
            slot: h.slot.map(|id| s.slot_name(id)),
            event: h.event.name(),
            reason: h.reason.name(),
            tries: h.tries.get(),
            reset_cause: h.cause.name(),
        })
        .collect()
}

/// The history view.
pub fn history_list(s: &Settings, r: &Record) -> HistoryList {
    HistoryList { schema: SCHEMA, history: history(s, r) }
}

/// The status view.
pub fn status(s: &Settings, r: &Record, seq: u32, running: &Running, this_boot: Option<BootView>) -> StatusView {
    let name = |id: Option<SlotId>| id.map(|i| s.slot_name(i));
    let slots = r
        .slot_ids()
        .filter_map(|id| r.slot(id).map(|st| (id, st)))
        .map(|(id, st)| SlotView {
            name: s.slot_name(id),
            bootname: s.bootname(id),
            index: id.index(),
            priority: st.priority.get(),
            tries: st.tries.get(),
            confirmed: st.confirmed,
            bootable: st.is_bootable(),
            unbootable: st.unbootable.map(|r| r.name()),
            version: st.version.to_string(),
            security_counter: st.security_counter,
        })
        .collect();
    StatusView {
        schema: SCHEMA,
        seq,
        booted: name(r.last_booted),
        running: name(running.slot),
        running_from: running.source.name(),
        cmdline_slot: running.cmdline_slot.map(|i| s.slot_name(i)).or_else(|| running.cmdline.clone()),
        mismatch: running.mismatch(),
        conflict: running.conflict.clone(),
        primary: name(r.primary()),
        last_known_good: name(r.last_known_good),
        last_fallback: r.last_fallback.name(),
        rollback_floor: r.rollback_floor,
        floor_lost: r
            .history()
            .any(|h| h.event == safeslot_shared::Event::Created && h.reason == safeslot_shared::Reason::NoValidRecord),
        key_floor: r.key_floor,
        free_retries: r.free_retries,
        record_format: r.format(),
        this_boot,
        slots,
        history: history(s, r),
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn history_lines(out: &mut String, h: &[HistoryView]) {
    if h.is_empty() {
        out.push_str("  (empty)\n");
    }
    for (i, e) in h.iter().enumerate() {
        let _ = write!(out, "  {i:>2}  {:<12} slot {:<3} tries {:>2}", e.event, opt(&e.slot), e.tries);
        if e.reason != "none" {
            let _ = write!(out, "  ({})", e.reason);
        }
        if e.reset_cause != "unknown" {
            let _ = write!(out, "  after a {} reset", e.reset_cause);
        }
        out.push('\n');
    }
}

/// Human rendering of `status` (not a stable format).
pub fn status_text(v: &StatusView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "running:         {} (from the {})",
        opt(&v.running),
        match v.running_from {
            "handoff" => "hand-off block",
            "cmdline" => "kernel command line",
            _ => "record",
        }
    );
    let _ = writeln!(out, "record booted:   {}", opt(&v.booted));
    if let Some(why) = &v.conflict {
        let _ = writeln!(out, "MISMATCH:        {why}");
    }
    let _ = writeln!(out, "next boot:       {}", v.primary.as_deref().unwrap_or("none (nothing bootable)"));
    let _ = writeln!(out, "last known good: {}", opt(&v.last_known_good));
    let _ = writeln!(out, "last fallback:   {}", v.last_fallback);
    let _ = write!(out, "rollback floor:  {}", v.rollback_floor);
    if v.floor_lost {
        out.push_str("  (LOST: the record was recreated from a corrupt region; the floor before that is unknown)");
    }
    out.push('\n');
    if v.key_floor > 0 {
        let _ = writeln!(out, "key floor:       {} (keys with a lower index are revoked)", v.key_floor);
    }
    if v.free_retries > 0 {
        let _ = writeln!(out, "free retries:    {} (power losses during this trial that used no try)", v.free_retries);
    }
    if let Some(b) = &v.this_boot {
        let _ = write!(out, "this boot:       slot {} ({}), after a {} reset", b.slot, b.kind, b.reset_cause);
        if b.watchdog_ms != 0 {
            let _ = write!(out, "; watchdog armed: {} ms", b.watchdog_ms);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "journal seq:     {}", v.seq);
    let _ = writeln!(out, "\nslot  prio  tries  state        version  security");
    for s in &v.slots {
        let state = match (s.unbootable, s.confirmed, s.bootable) {
            (Some(r), _, _) => format!("bad: {r}"),
            (None, true, _) => "good".to_string(),
            (None, false, true) => "trial".to_string(),
            (None, false, false) => "disabled".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<5} {:>4}  {:>5}  {:<12} {:<8} {}",
            s.name, s.priority, s.tries, state, s.version, s.security_counter
        );
    }
    out.push_str("\nhistory (oldest first):\n");
    history_lines(&mut out, &v.history);
    out
}

/// Human rendering of `history`.
pub fn history_text(v: &HistoryList) -> String {
    let mut out = String::new();
    history_lines(&mut out, &v.history);
    out
}
