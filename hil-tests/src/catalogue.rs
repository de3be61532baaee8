//! The one list of scenarios every rig runs: the virtual rig (QEMU, in CI) and the
//! probe-rs rig (a real board) iterate the same [`catalogue`], so a scenario added here
//! runs on both without touching either rig.
//!
//! Each entry names what it needs from a board beyond flashing and resetting it
//! ([`Need`]); a rig that cannot provide a need answers [`Rig::lacks`] with the reason,
//! and [`run`] reports the scenario as skipped with that reason instead of faking it.

use safeslot_shared::protocol::order::WriteFault;
use safeslot_shared::{Reason, SlotId};

use crate::rig::Rig;
use crate::scenarios::{self, HeaderField, Kit};
use crate::story::{Entry, StoryError};

/// What a scenario needs from a board beyond flash, reset and the rig mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Need {
    /// The recovery input (a held button or strap pin) sampled by the boot stage.
    RecoveryInput,
    /// A flash whose programs and erases fail (or are dropped) for one boot, on demand.
    WriteFault,
    /// Telling a reset by the board's watchdog from any other ending (the hang scenarios),
    /// and a reset cause the rig chooses (`reset=`).
    WatchdogReset,
    /// Firmware that trusts a second key (index 1) whose private half the kit holds (the
    /// key-rotation scenario): `cargo xtask` builds the virtual board so.
    SecondKey,
    /// Reading the board's hardware anti-rollback counter ([`Rig::hardware_counter`]) and
    /// running the Linux agent on its record ([`Rig::agent`]).
    HardwareCounter,
}

/// The scenario body: runs on a rig with the kit of images, returns the timeline.
pub type Body<R> = Box<dyn Fn(&mut R, &Kit) -> Result<Vec<Entry>, StoryError> + Send + Sync>;

/// One entry of the catalogue.
pub struct Scenario<R> {
    /// Short unique name (`fresh`, `header-magic`, ...), for filters and reports.
    pub name: String,
    /// What it needs beyond flash and reset.
    pub needs: &'static [Need],
    /// The body.
    pub body: Body<R>,
}

impl<R> std::fmt::Debug for Scenario<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario").field("name", &self.name).field("needs", &self.needs).finish_non_exhaustive()
    }
}

fn entry<R: Rig + 'static>(
    name: impl Into<String>,
    needs: &'static [Need],
    body: impl Fn(&mut R, &Kit) -> Result<Vec<Entry>, StoryError> + Send + Sync + 'static,
) -> Scenario<R> {
    Scenario { name: name.into(), needs, body: Box::new(body) }
}

/// Kebab-case name of a header field (`HeaderSize` → `header-size`).
fn kebab(f: HeaderField) -> String {
    let mut out = String::new();
    for (i, c) in format!("{f:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Every scenario, in a fixed order. `journal_size` is the board's record region size
/// (the garbage scenario fills all of it); `power_loss_retries` its layout's
/// `[trial] power_loss_retries`.
pub fn catalogue<R: Rig + 'static>(journal_size: usize, power_loss_retries: u8) -> Vec<Scenario<R>> {
    let mut list = vec![
        entry("fresh", &[], |r, k| scenarios::fresh_device(r, k)),
        entry("update", &[], |r, k| scenarios::update_confirmed(r, k)),
        entry("noconfirm", &[], |r, k| scenarios::update_never_confirms(r, k, false)),
        entry("crash", &[], |r, k| scenarios::update_never_confirms(r, k, true)),
        entry("hang", &[Need::WatchdogReset], |r, k| scenarios::trial_hangs(r, k)),
        entry("serve", &[Need::WatchdogReset], |r, k| scenarios::confirmed_app_feeds_the_watchdog(r, k)),
        entry("power-loss-retries", &[Need::WatchdogReset], move |r, k| {
            scenarios::power_loss_retries(r, k, power_loss_retries)
        }),
    ];
    for f in HeaderField::ALL {
        list.push(entry(format!("header-{}", kebab(f)), &[], move |r, k| {
            scenarios::rejected_b(r, k, &k.tampered_header(SlotId::B, f), &[f.expected()])
        }));
    }
    for (name, at) in [("image-first", 0.0), ("image-middle", 0.5), ("image-last", 1.0)] {
        list.push(entry(name, &[], move |r, k| {
            scenarios::rejected_b(r, k, &k.tampered_image(SlotId::B, at), &[Reason::BadHash])
        }));
    }
    list.extend([
        entry("wrong-key", &[], |r, k| scenarios::rejected_b(r, k, &k.wrong_key(SlotId::B), &[Reason::UnknownKey])),
        // Issue #16, item 4: validly signed with the trusted key, but for another product.
        entry("other-product", &[], |r, k| {
            scenarios::rejected_b(r, k, &k.for_product(SlotId::B, scenarios::OTHER_PRODUCT), &[Reason::Incompatible])
        }),
        entry("truncated", &[], |r, k| {
            scenarios::rejected_b(r, k, &k.truncated(SlotId::B, 512), &[Reason::BadHash, Reason::ImageBounds])
        }),
        entry("past-slot", &[], |r, k| scenarios::rejected_b(r, k, &k.past_slot(SlotId::B), &[Reason::ImageBounds])),
        entry("rollback", &[], |r, k| scenarios::rollback(r, k)),
        entry("key-rotation", &[Need::SecondKey], |r, k| scenarios::key_rotation(r, k)),
        entry("hw-floor-wipe", &[Need::HardwareCounter], |r, k| scenarios::hardware_floor(r, k, false)),
        entry("hw-floor-init-force", &[Need::HardwareCounter], |r, k| scenarios::hardware_floor(r, k, true)),
        entry("both-invalid", &[], |r, k| scenarios::both_invalid(r, k)),
        entry("recovery-input", &[Need::RecoveryInput], |r, k| scenarios::recovery_input(r, k)),
        entry("write-fault-error", &[Need::WriteFault], |r, k| {
            scenarios::write_fault_fallback(r, k, WriteFault::Error)
        }),
        entry("write-fault-drop", &[Need::WriteFault], |r, k| scenarios::write_fault_fallback(r, k, WriteFault::Drop)),
        entry("garbage", &[], move |r, k| {
            scenarios::garbage_record(r, k, &scenarios::noise(0x5AFE_5107, journal_size))
        }),
    ]);
    list
}

/// How one scenario ended.
#[derive(Debug)]
pub enum ScenarioResult {
    /// Every step did what it should: the timeline.
    Passed(Vec<Entry>),
    /// Not run: the rig lacks what the scenario needs (the reason).
    Skipped(String),
    /// A step misbehaved or the rig failed.
    Failed(StoryError),
}

/// Runs one scenario on `rig`, or skips it when the rig lacks one of its needs.
pub fn run<R: Rig>(rig: &mut R, kit: &Kit, s: &Scenario<R>) -> ScenarioResult {
    if let Some(why) = s.needs.iter().find_map(|&n| rig.lacks(n)) {
        return ScenarioResult::Skipped(why);
    }
    match (s.body)(rig, kit) {
        Ok(t) => ScenarioResult::Passed(t),
        Err(e) => ScenarioResult::Failed(e),
    }
}

/// The scenarios whose name contains `filter` (all of them without one).
pub fn select<R>(list: Vec<Scenario<R>>, filter: Option<&str>) -> Vec<Scenario<R>> {
    list.into_iter().filter(|s| filter.is_none_or(|f| s.name.contains(f))).collect()
}

/// Prints one outcome (name, boots, each timeline line) and says whether it failed.
pub fn report(name: &str, outcome: &ScenarioResult) -> bool {
    match outcome {
        ScenarioResult::Passed(t) => {
            println!("scenario {name}: passed, {} boots", t.len());
            for e in t {
                println!("  {}", e.line());
            }
            false
        }
        ScenarioResult::Skipped(why) => {
            println!("scenario {name}: skipped: {why}");
            false
        }
        ScenarioResult::Failed(e) => {
            println!("scenario {name}: FAILED: {e}");
            true
        }
    }
}

/// Counts of a catalogue run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios skipped (the rig lacks a need).
    pub skipped: usize,
    /// Names of the scenarios that failed.
    pub failed: Vec<String>,
}

impl Summary {
    /// Adds one outcome (printed with [`report`]).
    pub fn add(&mut self, name: &str, outcome: &ScenarioResult) {
        if report(name, outcome) {
            self.failed.push(name.to_string());
        } else if matches!(outcome, ScenarioResult::Skipped(_)) {
            self.skipped += 1;
        } else {
            self.passed += 1;
        }
    }

    /// How many scenarios were seen.
    pub fn total(&self) -> usize {
        self.passed + self.skipped + self.failed.len()
    }
}

/// Runs `list` one after the other on one rig (a real board: there is one), printing
/// each outcome as it ends.
pub fn run_all<R: Rig>(rig: &mut R, kit: &Kit, list: &[Scenario<R>]) -> Summary {
    let mut sum = Summary::default();
    for s in list {
        let outcome = run(rig, kit, s);
        sum.add(&s.name, &outcome);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::{Boot, Ran, RigError};
    use safeslot_shared::protocol::order::Order;
    use safeslot_shared::Record;

    /// A rig that refuses everything: only `lacks` matters here.
    struct NoBoard(Option<Need>);

    impl Rig for NoBoard {
        fn install(&mut self, _: SlotId, _: &[u8]) -> Result<(), RigError> {
            Err(RigError::Record("no board".into()))
        }
        fn erase_record(&mut self) -> Result<(), RigError> {
            Err(RigError::Record("no board".into()))
        }
        fn write_record_raw(&mut self, _: &[u8]) -> Result<(), RigError> {
            Err(RigError::Record("no board".into()))
        }
        fn power_on(&mut self, _: &Order) -> Result<Boot, RigError> {
            Ok(Boot { ran: Ran::Other(None), boot_log: vec![], app_log: vec![] })
        }
        fn record(&mut self) -> Result<Option<Record>, RigError> {
            Ok(None)
        }
        fn lacks(&self, need: Need) -> Option<String> {
            (self.0 == Some(need)).then(|| format!("no {need:?}"))
        }
    }

    #[test]
    fn names_are_unique_and_cover_every_header_field() {
        let list = catalogue::<NoBoard>(0x2000, 2);
        let mut names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 7 + HeaderField::ALL.len() + 3 + 13, "the 36 scenarios of the virtual rig");
        assert!(names.contains(&"header-header-size") && names.contains(&"header-key-id"));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), list.len(), "duplicate scenario names");
    }

    #[test]
    fn a_missing_need_skips_with_the_rigs_reason_and_others_run() {
        let list = catalogue::<NoBoard>(0x2000, 2);
        let kit = test_kit();
        let rec = list.iter().find(|s| s.name == "recovery-input").unwrap();
        let mut rig = NoBoard(Some(Need::RecoveryInput));
        assert!(matches!(run(&mut rig, &kit, rec), ScenarioResult::Skipped(why) if why == "no RecoveryInput"));
        // A rig with the input runs it (and this one fails at its first flash write).
        let mut rig = NoBoard(None);
        assert!(matches!(run(&mut rig, &kit, rec), ScenarioResult::Failed(StoryError::Rig(_))));
        // Scenarios without needs are never skipped.
        let fresh = list.iter().find(|s| s.name == "fresh").unwrap();
        let mut rig = NoBoard(Some(Need::RecoveryInput));
        assert!(matches!(run(&mut rig, &kit, fresh), ScenarioResult::Failed(_)));
    }

    #[test]
    fn select_filters_by_substring() {
        let all = catalogue::<NoBoard>(0x2000, 2).len();
        assert_eq!(select(catalogue::<NoBoard>(0x2000, 2), None).len(), all);
        let headers = select(catalogue::<NoBoard>(0x2000, 2), Some("header-"));
        assert_eq!(headers.len(), HeaderField::ALL.len());
        assert!(select(catalogue::<NoBoard>(0x2000, 2), Some("no-such-scenario")).is_empty());
    }

    fn test_kit() -> Kit {
        let (key, a, b) = crate::scenarios::tests::signed_pair(&[0x5A; 2048], 0x4_0000);
        Kit::new(&key.sk.to_pem(), &a, &b, 0x4_0000).unwrap()
    }
}
