//! Mender's boot variables mapped onto the record, for the `fw_printenv` / `fw_setenv`
//! personality ([`crate::fw_env`] parses the tools' syntax).
//!
//! The variables are the ones Mender's `rootfs-image` update module and its U-Boot
//! integration read and write (agent/MENDER.md cites the source). Each is derived from
//! the record on every read; a write is mapped onto one record operation
//! (`ops::set_active`, `ops::mark_good` or `ops::reinstate`), and the whole set of
//! variables one `fw_setenv` names is applied as one change, accepted only if every
//! variable then reads back as written.

use safeslot_shared::{ops, Event, OpError, Record, SlotId, Tries};

use crate::error::Error;

/// One of Mender's boot variables, in the order `fw_printenv` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Var {
    /// `bootcount`: boots the running trial has used (U-Boot counts them while
    /// `upgrade_available=1`). Mender writes 0 with an install.
    Bootcount,
    /// `mender_boot_part`: the partition number of the slot that boots next.
    BootPart,
    /// `mender_boot_part_hex`: the same number in hex.
    BootPartHex,
    /// `mender_check_saveenv_canary`: always 1 (Mender checks the canary below).
    CheckSaveenvCanary,
    /// `mender_saveenv_canary`: 1 once the boot stage has written a boot into the record,
    /// i.e. the stage writes the record that userspace reads (the check Mender's canary
    /// makes of U-Boot's `saveenv`).
    SaveenvCanary,
    /// `upgrade_available`: 1 while the slot that boots next is on trial (not confirmed).
    UpgradeAvailable,
}

impl Var {
    /// Every variable, in listing order.
    pub const ALL: [Var; 6] = [
        Var::Bootcount,
        Var::BootPart,
        Var::BootPartHex,
        Var::CheckSaveenvCanary,
        Var::SaveenvCanary,
        Var::UpgradeAvailable,
    ];

    /// The variable's name in the environment.
    pub const fn name(self) -> &'static str {
        match self {
            Var::Bootcount => "bootcount",
            Var::BootPart => "mender_boot_part",
            Var::BootPartHex => "mender_boot_part_hex",
            Var::CheckSaveenvCanary => "mender_check_saveenv_canary",
            Var::SaveenvCanary => "mender_saveenv_canary",
            Var::UpgradeAvailable => "upgrade_available",
        }
    }

    /// The variable called `name`, or a usage error naming the ones there are.
    pub fn from_name(name: &str) -> Result<Var, Error> {
        Var::ALL.into_iter().find(|v| v.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Var::ALL.iter().map(|v| v.name()).collect();
            Error::Usage(format!(
                "unknown variable {name:?}: safeslot maps Mender's boot variables onto its record and keeps no \
                 other environment (the variables are: {})",
                known.join(", ")
            ))
        })
    }

    /// Parses a value written to the variable.
    fn parse(self, text: &str) -> Result<u32, Error> {
        let bad = |what: &str| Error::Usage(format!("{}={text}: {what}", self.name()));
        match self {
            Var::Bootcount | Var::BootPart if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse().map_err(|_| bad("number out of range"))
            }
            Var::Bootcount | Var::BootPart => Err(bad("must be a decimal number")),
            Var::BootPartHex if !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(text, 16).map_err(|_| bad("number out of range"))
            }
            Var::BootPartHex => Err(bad("must be a hexadecimal number")),
            Var::CheckSaveenvCanary | Var::SaveenvCanary | Var::UpgradeAvailable => match text {
                "0" => Ok(0),
                "1" => Ok(1),
                _ => Err(bad("must be 0 or 1")),
            },
        }
    }
}

/// A variable and the value to write, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The variable.
    pub var: Var,
    /// Its value (a number; the hex variable's parsed from hex).
    pub value: u32,
}

impl Assignment {
    /// Parses `name=value`; `at` says where it came from, for the error message.
    pub fn parse(name: &str, value: &str, at: &str) -> Result<Assignment, Error> {
        let with = |e: Error| match e {
            Error::Usage(m) if !at.is_empty() => Error::Usage(format!("{at}: {m}")),
            e => e,
        };
        let var = Var::from_name(name).map_err(with)?;
        Ok(Assignment { var, value: var.parse(value).map_err(with)? })
    }
}

/// Which Mender partition number names which slot (`mender_part` in the config).
#[derive(Clone, Debug, Default)]
pub struct Parts {
    parts: Vec<(SlotId, String, u32)>,
}

impl Parts {
    /// The slots' names and partition numbers; slots without one are left out.
    pub fn new(parts: impl IntoIterator<Item = (SlotId, String, u32)>) -> Parts {
        Parts { parts: parts.into_iter().collect() }
    }

    fn part(&self, slot: SlotId) -> Result<u32, Error> {
        self.parts.iter().find(|(id, _, _)| *id == slot).map(|(_, _, p)| *p).ok_or_else(|| {
            Error::Config(format!(
                "slot {} has no Mender partition number: set mender_part in its [[slot]]",
                slot.letter()
            ))
        })
    }

    fn slot(&self, part: u32) -> Result<(SlotId, &str), Error> {
        match self.parts.iter().find(|(_, _, p)| *p == part) {
            Some((id, name, _)) => Ok((*id, name)),
            None => Err(Error::Usage(format!(
                "mender_boot_part={part}: no slot has that partition number ({})",
                self.parts.iter().map(|(_, n, p)| format!("{n} = {p}")).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// The variables as the record has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Env {
    boot_part: u32,
    upgrade_available: bool,
    bootcount: u32,
    saveenv_canary: bool,
}

impl Env {
    /// Reads the variables off `r`. The slot that boots next is the record's primary
    /// slot; a record with no bootable slot has no `mender_boot_part` (exit 69).
    pub fn of(r: &Record, parts: &Parts) -> Result<Env, Error> {
        let primary = r.primary().ok_or_else(|| {
            Error::Unavailable("no slot is bootable, so mender_boot_part names none (safeslotctl status)".into())
        })?;
        let state = r.slot(primary).ok_or_else(|| Error::Internal("primary slot".into()))?;
        let upgrade_available = !state.confirmed;
        // The tries the trial was armed with: the slot's latest `activated` event.
        let armed = r
            .history()
            .filter(|h| h.slot == Some(primary) && h.event == Event::Activated)
            .last()
            .map_or(Tries::DEFAULT, |h| h.tries);
        Ok(Env {
            boot_part: parts.part(primary)?,
            upgrade_available,
            bootcount: if upgrade_available { u32::from(armed.get().saturating_sub(state.tries.get())) } else { 0 },
            saveenv_canary: r.last_booted.is_some(),
        })
    }

    /// The value of `var`, as a number.
    pub fn number(&self, var: Var) -> u32 {
        match var {
            Var::Bootcount => self.bootcount,
            Var::BootPart | Var::BootPartHex => self.boot_part,
            Var::CheckSaveenvCanary => 1,
            Var::SaveenvCanary => u32::from(self.saveenv_canary),
            Var::UpgradeAvailable => u32::from(self.upgrade_available),
        }
    }

    /// The value of `var` as `fw_printenv` prints it (the hex variable in lowercase hex,
    /// as Mender's module writes it).
    pub fn value(&self, var: Var) -> String {
        match var {
            Var::BootPartHex => format!("{:x}", self.boot_part),
            v => self.number(v).to_string(),
        }
    }
}

/// Applies `set` (one `fw_setenv`) to `r` as one change; `running` gives the running slot
/// when a rule needs it. With P the partition `mender_boot_part` (or its hex twin) names
/// after the change (the current one if neither is written):
///
/// * `upgrade_available=1` written: a new image is in P's slot; it boots next, on trial
///   (`ops::set_active` with 3 tries: a stale confirmation of that slot does not carry
///   over). Refused for the running slot: an update goes to the other one.
/// * Otherwise, if nothing changes (same P, same `upgrade_available`): no record change.
/// * `upgrade_available` staying 1 with another P: as above, that slot on trial.
/// * `upgrade_available` going from 1 to 0 with the same P: the commit; P's slot must be
///   the running one, and it is confirmed (`ops::mark_good`).
/// * `upgrade_available=0` with another P: that slot boots next without a trial, as a
///   rollback asks; it must be confirmed already (`ops::reinstate`).
///
/// Then every variable in `set` must read back as written (`bootcount` only as 0 after
/// an install, the canaries only as they are), or nothing is written.
pub fn apply(
    r: &mut Record,
    parts: &Parts,
    running: impl Fn(&Record) -> Result<SlotId, Error>,
    set: &[Assignment],
) -> Result<(), Error> {
    let before = Env::of(r, parts)?;
    let written = |var: Var| set.iter().rev().find(|a| a.var == var).map(|a| a.value);
    let part = match (written(Var::BootPart), written(Var::BootPartHex)) {
        (Some(d), Some(h)) if d != h => {
            return Err(Error::Usage(format!(
                "mender_boot_part={d} and mender_boot_part_hex={h:x} name different partitions"
            )))
        }
        (d, h) => d.or(h).unwrap_or(before.boot_part),
    };
    let (slot, name) = parts.slot(part)?;
    let explicit_upgrade = written(Var::UpgradeAvailable).map(|u| u == 1);
    let upgrade = explicit_upgrade.unwrap_or(before.upgrade_available);
    let trial = |r: &mut Record| -> Result<(), Error> {
        if running(r)? == slot {
            return Err(Error::Unavailable(format!(
                "mender_boot_part={part} with upgrade_available=1 would put slot {name}, the running slot, on \
                 trial: an update is installed to the other slot"
            )));
        }
        ops::set_active(r, slot, Tries::DEFAULT).map_err(Error::from)
    };
    if explicit_upgrade == Some(true) {
        trial(r)?;
    } else if (part, upgrade) == (before.boot_part, before.upgrade_available) {
        // Nothing to change; the read-back check below still applies.
    } else if upgrade {
        trial(r)?;
    } else if part == before.boot_part {
        let running = running(r)?;
        if running != slot {
            return Err(Error::Unavailable(format!(
                "upgrade_available=0 would commit slot {name} (mender_boot_part={part}), but it is not the \
                 running slot: it has not booted yet. To cancel the update, name the running slot's partition \
                 in mender_boot_part"
            )));
        }
        ops::mark_good(r, running)?;
    } else {
        ops::reinstate(r, slot).map_err(|e| match e {
            OpError::NotConfirmed => Error::Unavailable(format!(
                "mender_boot_part={part} with upgrade_available=0 would boot slot {name} without a trial, but it \
                 has not been confirmed: arm it with upgrade_available=1"
            )),
            e => Error::from(e),
        })?;
    }
    let after = Env::of(r, parts)?;
    for a in set {
        let now = after.number(a.var);
        if now != a.value {
            let shown = |n: u32| if a.var == Var::BootPartHex { format!("{n:x}") } else { n.to_string() };
            return Err(Error::Unavailable(format!(
                "{}={} cannot be written with this change: the record would read back {}={} (safeslot derives \
                 it from the record; see agent/MENDER.md); nothing was written",
                a.var.name(),
                shown(a.value),
                a.var.name(),
                shown(now)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        Parts::new([(SlotId::A, "a".into(), 2), (SlotId::B, "b".into(), 3)])
    }

    fn set(pairs: &[(&str, &str)]) -> Vec<Assignment> {
        pairs.iter().map(|(n, v)| Assignment::parse(n, v, "").unwrap()).collect()
    }

    /// A running, confirmed A (the factory image after its first boot).
    fn confirmed_a() -> Record {
        let mut r = Record::fresh(2, Tries::DEFAULT);
        r.last_booted = Some(SlotId::A);
        ops::mark_good(&mut r, SlotId::A).unwrap();
        r
    }

    fn env(r: &Record) -> Vec<String> {
        let e = Env::of(r, &parts()).unwrap();
        Var::ALL.iter().map(|v| format!("{}={}", v.name(), e.value(*v))).collect()
    }

    #[test]
    fn names_and_values_parse_strictly() {
        assert_eq!(Var::from_name("mender_boot_part_hex").unwrap(), Var::BootPartHex);
        assert!(matches!(Var::from_name("bootlimit"), Err(Error::Usage(_))));
        assert_eq!(Assignment::parse("mender_boot_part_hex", "B", "").unwrap().value, 11);
        for (n, v) in [("upgrade_available", "2"), ("mender_boot_part", "0x3"), ("bootcount", ""), ("bootcount", "-1")]
        {
            assert!(matches!(Assignment::parse(n, v, ""), Err(Error::Usage(_))), "{n}={v}");
        }
        let e = Assignment::parse("nope", "1", "line 3").unwrap_err().to_string();
        assert!(e.starts_with("line 3: unknown variable \"nope\""), "{e}");
    }

    #[test]
    fn reads_follow_the_record() {
        let mut r = Record::fresh(2, Tries::DEFAULT);
        assert_eq!(
            env(&r),
            [
                "bootcount=0",
                "mender_boot_part=2",
                "mender_boot_part_hex=2",
                "mender_check_saveenv_canary=1",
                "mender_saveenv_canary=0",
                "upgrade_available=1"
            ],
            "factory: A on trial, and the stage has not written a boot yet"
        );
        r.last_booted = Some(SlotId::A);
        ops::mark_good(&mut r, SlotId::A).unwrap();
        assert!(env(&r).contains(&"upgrade_available=0".to_owned()));
        assert!(env(&r).contains(&"mender_saveenv_canary=1".to_owned()));
        ops::set_active(&mut r, SlotId::B, Tries::DEFAULT).unwrap();
        r.slot_mut(SlotId::B).unwrap().tries = Tries::new(1).unwrap();
        let e = env(&r);
        assert!(e.contains(&"mender_boot_part_hex=3".to_owned()) && e.contains(&"bootcount=2".to_owned()), "{e:?}");
    }

    #[test]
    fn install_commit_and_rollback_map_onto_the_ops() {
        let install = set(&[
            ("mender_boot_part", "3"),
            ("mender_boot_part_hex", "3"),
            ("upgrade_available", "1"),
            ("bootcount", "0"),
        ]);
        let mut r = confirmed_a();
        apply(&mut r, &parts(), |_| Ok(SlotId::A), &install).unwrap();
        let b = *r.slot(SlotId::B).unwrap();
        assert_eq!((r.primary(), b.tries, b.confirmed), (Some(SlotId::B), Tries::DEFAULT, false));
        // Rollback before the reboot: A, still running and confirmed, boots next.
        let rollback = set(&[("mender_boot_part", "2"), ("mender_boot_part_hex", "2"), ("upgrade_available", "0")]);
        let mut cancelled = r.clone();
        apply(&mut cancelled, &parts(), |_| Ok(SlotId::A), &rollback).unwrap();
        assert_eq!(cancelled.primary(), Some(SlotId::A));
        assert!(cancelled.slot(SlotId::A).unwrap().confirmed);
        // Commit is refused while B has not booted.
        let commit = set(&[("upgrade_available", "0")]);
        let before = r.clone();
        assert!(matches!(apply(&mut r, &parts(), |_| Ok(SlotId::A), &commit), Err(Error::Unavailable(_))));
        assert_eq!(r, before);
        r.last_booted = Some(SlotId::B);
        apply(&mut r, &parts(), |_| Ok(SlotId::B), &commit).unwrap();
        assert_eq!((r.last_known_good, r.slot(SlotId::B).unwrap().confirmed), (Some(SlotId::B), true));
    }

    #[test]
    fn refusals_change_nothing() {
        let r0 = confirmed_a();
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("mender_boot_part", "2"), ("upgrade_available", "1")], "running slot"),
            (&[("mender_boot_part", "3"), ("mender_boot_part_hex", "2")], "different partitions"),
            (&[("mender_boot_part", "7")], "no slot has that partition"),
            (&[("mender_boot_part", "3"), ("upgrade_available", "0")], "has not been confirmed"),
            (&[("mender_saveenv_canary", "0")], "read back mender_saveenv_canary=1"),
        ];
        for (pairs, why) in cases {
            let mut r = r0.clone();
            let e = apply(&mut r, &parts(), |_| Ok(SlotId::A), &set(pairs)).unwrap_err().to_string();
            assert!(e.contains(why), "{pairs:?}: {e}");
            assert_eq!(r, r0, "{pairs:?}");
        }
        // Writing what is already there changes nothing and is accepted.
        let mut r = r0.clone();
        apply(&mut r, &parts(), |_| Ok(SlotId::A), &set(&[("mender_boot_part", "2"), ("upgrade_available", "0")]))
            .unwrap();
        assert_eq!(r, r0);
    }
}
