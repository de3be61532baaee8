//! Rig orders: what a test rig asks of one power-on, as one typed [`Order`] with one
//! encoder ([`Order::encode`], the virtual board's command line) and one decoder
//! ([`Order::parse`], which the virtual board's firmware runs on its semihosting command
//! line). docs/FORMAT.md "Rig orders" has the table.
//!
//! An order has two parts:
//!
//! * the demo app's [`Command`] (confirm, not, crash; a slot to activate first): on a real
//!   board it travels in the rig mailbox ([`crate::mailbox`]), on the virtual board either
//!   in the mailbox too or on the command line (`app=`, `activate=`);
//! * the virtual board's own hooks, which a real board does not have: the recovery input
//!   (`recovery`), power cuts at a flash store and failing or dropped writes ([`CutPlan`]:
//!   `cut=`/`torn=`/`wfault=` for the boot stage, `appcut=`/`apptorn=`/`appwfault=` for the
//!   app), and `mailbox` (the virtual boot stage writes the command into the mailbox itself,
//!   as the probe-rs rig does on a real board before the core runs).

use core::fmt::{self, Write};

use crate::mailbox::{Action, Command};
use crate::reset::ResetCause;
use crate::slot::SlotId;

/// What every program and erase of one program's run does instead of its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteFault {
    /// Fails; nothing changes (`error`).
    Error,
    /// Returns success; nothing changes, as a silently dropped write (`drop`).
    Drop,
}

impl WriteFault {
    /// The value's name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            WriteFault::Error => "error",
            WriteFault::Drop => "drop",
        }
    }
}

/// Where one program (boot stage or app) loses power, and whether its writes fail: the
/// virtual board's flash hooks. Stores (programmed words, erased sectors) count from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CutPlan {
    /// The store that never completes (≥ 1); `None` runs without a cut.
    pub cut: Option<u32>,
    /// How many leading bytes of that store land before the cut.
    pub torn: u32,
    /// Every program and erase fails or is dropped.
    pub fault: Option<WriteFault>,
}

impl CutPlan {
    /// No cut, no fault.
    pub const NONE: Self = CutPlan { cut: None, torn: 0, fault: None };
}

/// Everything a rig asks of one power-on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Order {
    /// What the demo app does (`app=`, `activate=`; the mailbox command).
    pub command: Command,
    /// The recovery input is held (`recovery`).
    pub recovery: bool,
    /// The virtual boot stage writes [`Order::command`] into the rig mailbox (`mailbox`).
    pub mailbox: bool,
    /// The boot stage's flash hooks (`cut=`, `torn=`, `wfault=`).
    pub boot: CutPlan,
    /// The app's flash hooks (`appcut=`, `apptorn=`, `appwfault=`).
    pub app: CutPlan,
    /// The reset cause the virtual board's stage reports (`reset=`; `None`: unknown). The
    /// virtual board has no reset-cause register: the rig tells it why it "reset".
    pub reset: Option<ResetCause>,
}

/// Why a command line is not an [`Order`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OrderError {
    /// A word is no order the firmware knows.
    Unknown,
    /// A key was given twice.
    Twice,
    /// A value does not parse (or `cut=0`).
    Value,
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderError::Unknown => "unknown word in the rig order",
            OrderError::Twice => "a rig order key was given twice",
            OrderError::Value => "bad value in the rig order",
        })
    }
}

impl core::error::Error for OrderError {}

impl Action {
    /// The value's name after `app=`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Action::Confirm => "confirm",
            Action::NoConfirm => "noconfirm",
            Action::Crash => "crash",
            Action::Hang => "hang",
            Action::Serve => "serve",
        }
    }
}

impl Default for Order {
    fn default() -> Self {
        Order::app(Action::Confirm)
    }
}

impl Order {
    /// The app does `action`; no other orders.
    #[must_use]
    pub const fn app(action: Action) -> Order {
        Order {
            command: Command { action, activate: None },
            recovery: false,
            mailbox: false,
            boot: CutPlan::NONE,
            app: CutPlan::NONE,
            reset: None,
        }
    }

    /// The app confirms itself (the field behaviour, and what an empty line means).
    #[must_use]
    pub const fn confirm() -> Order {
        Order::app(Action::Confirm)
    }

    /// The app does not confirm itself.
    #[must_use]
    pub const fn noconfirm() -> Order {
        Order::app(Action::NoConfirm)
    }

    /// The app faults.
    #[must_use]
    pub const fn crash() -> Order {
        Order::app(Action::Crash)
    }

    /// The app hangs (never confirms, feeds or resets).
    #[must_use]
    pub const fn hang() -> Order {
        Order::app(Action::Hang)
    }

    /// The app confirms, then runs on for three watchdog timeouts, feeding it.
    #[must_use]
    pub const fn serve() -> Order {
        Order::app(Action::Serve)
    }

    /// The virtual board's stage reports `cause` as the reason of this reset.
    #[must_use]
    pub const fn reset(mut self, cause: ResetCause) -> Order {
        self.reset = Some(cause);
        self
    }

    /// The app first activates `slot` for a trial.
    #[must_use]
    pub const fn activate(mut self, slot: SlotId) -> Order {
        self.command.activate = Some(slot);
        self
    }

    /// The recovery input is held.
    #[must_use]
    pub const fn recovery(mut self) -> Order {
        self.recovery = true;
        self
    }

    /// The virtual boot stage writes the command into the rig mailbox.
    #[must_use]
    pub const fn mailbox(mut self) -> Order {
        self.mailbox = true;
        self
    }

    /// The boot stage's writes fail or are dropped.
    #[must_use]
    pub const fn wfault(mut self, fault: WriteFault) -> Order {
        self.boot.fault = Some(fault);
        self
    }

    /// The boot stage loses power at store `cut` (≥ 1) after `torn` bytes of it landed.
    #[must_use]
    pub const fn cut(mut self, cut: u32, torn: u32) -> Order {
        self.boot.cut = Some(cut);
        self.boot.torn = torn;
        self
    }

    /// The app loses power at store `cut` (≥ 1) after `torn` bytes of it landed.
    #[must_use]
    pub const fn app_cut(mut self, cut: u32, torn: u32) -> Order {
        self.app.cut = Some(cut);
        self.app.torn = torn;
        self
    }

    /// The same order without the virtual board's hooks: what a real board can be asked
    /// (the mailbox command alone), or `None` when the order needs a hook.
    #[must_use]
    pub fn command_only(&self) -> Option<Command> {
        let plain = Order::app(self.command.action);
        let plain = Order { command: self.command, ..plain };
        (*self == plain).then_some(self.command)
    }

    /// Writes the command line: words separated by one space, `app=` always, the other
    /// keys only when set, in the order of the table in docs/FORMAT.md.
    ///
    /// # Errors
    /// `out` refused a write.
    pub fn encode(&self, out: &mut impl Write) -> fmt::Result {
        if self.recovery {
            out.write_str("recovery ")?;
        }
        if self.mailbox {
            out.write_str("mailbox ")?;
        }
        out.write_str("app=")?;
        out.write_str(self.command.action.name())?;
        if let Some(s) = self.command.activate {
            let mut b = [0u8; 4];
            out.write_str(" activate=")?;
            out.write_str(s.letter().encode_utf8(&mut b))?;
        }
        if let Some(c) = self.reset {
            out.write_str(" reset=")?;
            out.write_str(c.name())?;
        }
        for (plan, keys) in [(&self.boot, ["cut", "torn", "wfault"]), (&self.app, ["appcut", "apptorn", "appwfault"])] {
            let [cut, torn, fault] = keys;
            if let Some(n) = plan.cut {
                word(out, cut, n)?;
            }
            if plan.torn != 0 {
                word(out, torn, plan.torn)?;
            }
            if let Some(f) = plan.fault {
                out.write_str(" ")?;
                out.write_str(fault)?;
                out.write_str("=")?;
                out.write_str(f.name())?;
            }
        }
        Ok(())
    }

    /// Reads a command line (words separated by whitespace, in any order). An empty line
    /// is [`Order::confirm`].
    ///
    /// # Errors
    /// An unknown word, a key given twice, or a bad value: [`OrderError`]. Nothing is
    /// ignored, so a typo in a rig can never silently run a different test.
    pub fn parse(line: &str) -> Result<Order, OrderError> {
        let mut o = Order::confirm();
        let mut seen = 0u16;
        for w in line.split_whitespace() {
            let (key, value) = w.split_once('=').map_or((w, None), |(k, v)| (k, Some(v)));
            let bit = KEYS.iter().position(|k| *k == key).ok_or(OrderError::Unknown)?;
            let flag = 1u16.checked_shl(u32::try_from(bit).unwrap_or(u32::MAX)).unwrap_or(0);
            if seen & flag != 0 {
                return Err(OrderError::Twice);
            }
            seen |= flag;
            match (key, value) {
                ("recovery", None) => o.recovery = true,
                ("mailbox", None) => o.mailbox = true,
                ("app", Some(v)) => {
                    o.command.action = [Action::Confirm, Action::NoConfirm, Action::Crash, Action::Hang, Action::Serve]
                        .into_iter()
                        .find(|a| a.name() == v)
                        .ok_or(OrderError::Value)?;
                }
                ("activate", Some(v)) => {
                    let mut c = v.chars();
                    o.command.activate = match (c.next().and_then(SlotId::from_letter), c.next()) {
                        (Some(s), None) => Some(s),
                        _ => return Err(OrderError::Value),
                    };
                }
                ("reset", Some(v)) => {
                    o.reset = Some(
                        (0..=u8::MAX)
                            .find_map(|c| ResetCause::from_u8(c).filter(|r| r.name() == v))
                            .ok_or(OrderError::Value)?,
                    );
                }
                ("cut", Some(v)) => o.boot.cut = Some(cut(v)?),
                ("torn", Some(v)) => o.boot.torn = number(v)?,
                ("wfault", Some(v)) => o.boot.fault = Some(fault(v)?),
                ("appcut", Some(v)) => o.app.cut = Some(cut(v)?),
                ("apptorn", Some(v)) => o.app.torn = number(v)?,
                ("appwfault", Some(v)) => o.app.fault = Some(fault(v)?),
                _ => return Err(OrderError::Value),
            }
        }
        Ok(o)
    }
}

/// Every key, in encoding order.
const KEYS: [&str; 11] =
    ["recovery", "mailbox", "app", "activate", "reset", "cut", "torn", "wfault", "appcut", "apptorn", "appwfault"];

fn word(out: &mut impl Write, key: &str, n: u32) -> fmt::Result {
    out.write_str(" ")?;
    out.write_str(key)?;
    out.write_str("=")?;
    super::log::decimal(out, n)
}

fn number(v: &str) -> Result<u32, OrderError> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OrderError::Value);
    }
    v.parse().map_err(|_| OrderError::Value)
}

fn cut(v: &str) -> Result<u32, OrderError> {
    match number(v)? {
        0 => Err(OrderError::Value),
        n => Ok(n),
    }
}

fn fault(v: &str) -> Result<WriteFault, OrderError> {
    [WriteFault::Error, WriteFault::Drop].into_iter().find(|f| f.name() == v).ok_or(OrderError::Value)
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.encode(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::{String, ToString};

    #[test]
    fn the_lines_the_rigs_use() {
        use SlotId::{A, B};
        for (line, order) in [
            ("", Order::confirm()),
            ("app=confirm", Order::confirm()),
            ("app=noconfirm", Order::noconfirm()),
            ("app=crash", Order::crash()),
            ("app=confirm activate=b", Order::confirm().activate(B)),
            ("activate=a  app=noconfirm", Order::noconfirm().activate(A)),
            ("recovery app=confirm", Order::confirm().recovery()),
            ("mailbox app=noconfirm activate=b", Order::noconfirm().activate(B).mailbox()),
            ("wfault=error app=confirm", Order::confirm().wfault(WriteFault::Error)),
            ("cut=3 torn=2 app=noconfirm", Order::noconfirm().cut(3, 2)),
            ("appcut=1 app=confirm", Order::confirm().app_cut(1, 0)),
            ("app=hang", Order::hang()),
            ("app=serve reset=watchdog", Order::serve().reset(ResetCause::Watchdog)),
            ("reset=power-on app=noconfirm", Order::noconfirm().reset(ResetCause::PowerOn)),
            (
                "appwfault=drop",
                Order { app: CutPlan { fault: Some(WriteFault::Drop), ..CutPlan::NONE }, ..Order::confirm() },
            ),
        ] {
            assert_eq!(Order::parse(line), Ok(order), "{line:?}");
        }
        assert_eq!(Order::noconfirm().activate(SlotId::B).cut(4, 0).to_string(), "app=noconfirm activate=b cut=4");
        assert_eq!(
            Order::confirm().recovery().mailbox().wfault(WriteFault::Drop).app_cut(2, 5).to_string(),
            "recovery mailbox app=confirm wfault=drop appcut=2 apptorn=5"
        );
    }

    #[test]
    fn nothing_is_ignored() {
        for (line, e) in [
            ("verbose", OrderError::Unknown),
            ("app=reboot", OrderError::Value),
            ("app", OrderError::Value),
            ("recovery=1", OrderError::Value),
            ("activate=z", OrderError::Value),
            ("activate=ab", OrderError::Value),
            ("cut=0", OrderError::Value),
            ("cut=x", OrderError::Value),
            ("cut=-1", OrderError::Value),
            ("torn=4294967296", OrderError::Value),
            ("wfault=maybe", OrderError::Value),
            ("reset=cosmic-ray", OrderError::Value),
            ("reset=", OrderError::Value),
            ("reset=watchdog reset=pin", OrderError::Twice),
            ("app=crash app=confirm", OrderError::Twice),
            ("recovery recovery", OrderError::Twice),
        ] {
            assert_eq!(Order::parse(line), Err(e), "{line:?}");
        }
    }

    #[test]
    fn only_a_plain_order_is_a_mailbox_command() {
        let c = Order::noconfirm().activate(SlotId::B);
        assert_eq!(c.command_only(), Some(Command { action: Action::NoConfirm, activate: Some(SlotId::B) }));
        for hooked in [
            c.recovery(),
            c.mailbox(),
            c.cut(1, 0),
            c.app_cut(2, 0),
            c.wfault(WriteFault::Error),
            c.reset(ResetCause::PowerOn),
        ] {
            assert_eq!(hooked.command_only(), None, "{hooked}");
        }
    }

    fn plan() -> impl Strategy<Value = CutPlan> {
        (
            proptest::option::of(1u32..),
            any::<u32>(),
            proptest::option::of(prop_oneof![Just(WriteFault::Error), Just(WriteFault::Drop)]),
        )
            .prop_map(|(cut, torn, fault)| CutPlan { cut, torn, fault })
    }

    proptest! {
        #[test]
        fn orders_round_trip(
            action in prop_oneof![
                Just(Action::Confirm), Just(Action::NoConfirm), Just(Action::Crash), Just(Action::Hang), Just(Action::Serve)
            ],
            activate in proptest::option::of(0u8..4),
            recovery: bool, mailbox: bool, boot in plan(), app in plan(),
            reset in proptest::option::of(0u8..7),
        ) {
            let o = Order {
                command: Command { action, activate: activate.and_then(SlotId::from_index) },
                recovery, mailbox, boot, app, reset: reset.and_then(ResetCause::from_u8),
            };
            let mut line = String::new();
            o.encode(&mut line).unwrap();
            prop_assert_eq!(Order::parse(&line), Ok(o));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = Order::parse(&s);
        }
    }
}
