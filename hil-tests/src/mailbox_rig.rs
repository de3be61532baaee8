//! The virtual rig in mailbox mode: the probe-rs rig's protocol, end to end, in QEMU.
//!
//! [`MailboxRig`] drives the virtual board exactly as [`crate::probe`] drives a real one,
//! except for the transport: the app's part of the [`Order`] becomes a mailbox
//! [`Command`](safeslot_shared::mailbox::Command) that QEMU loads into the hand-off area at
//! reset (over zeros, as the probe rig clears it); instead of an exit code, the outcome
//! comes from the hand-off block and the app's [`Report`] read out of guest RAM over QMP
//! while it runs, classified by the same [`probe::classify`]. A fault is the fault
//! handler's exit code (the probe rig's HardFault vector catch), and recovery is the boot
//! stage's log line, which must agree with the recovery exit code.
//!
//! What a real board has and a probe cannot drive — the recovery input, failing or dropped
//! flash writes — the virtual board still provides, through its own hooks: the order's
//! rest (`recovery`, `wfault=`...) goes on QEMU's command line. So this is the one rig the
//! scenario catalogue runs on in CI (`tests/virtual_rig.rs`): every scenario, through the
//! protocol a real board uses; CI proves on the real firmware that the mailbox layout, the
//! app's side of the protocol and the classification agree.

use std::fs;

use safeslot_shared::handoff::{Handoff, HANDOFF_LEN};
use safeslot_shared::mailbox::{Action, Command, Report, MAILBOX_OFFSET};
use safeslot_shared::protocol::order::Order;
use safeslot_shared::{Record, SlotId};

use crate::catalogue::Need;
use crate::probe::{self, Observation, CLEARED};
use crate::qemu::{Exit, QemuRun};
use crate::rig::{Boot, Ran, Rig, RigError, VirtualRig};

/// The virtual rig driven through the rig mailbox.
#[derive(Debug, Clone)]
pub struct MailboxRig {
    /// The virtual rig whose flash file, ELFs and timeout are used.
    pub inner: VirtualRig,
    /// The layout's hand-off address (guest RAM).
    pub handoff: u64,
}

impl MailboxRig {
    /// Over `inner`, with the board's hand-off address.
    pub fn new(inner: VirtualRig, handoff: u64) -> Self {
        MailboxRig { inner, handoff }
    }
}

/// The hand-off area as the rig leaves it before the boot: zeros, then the command.
pub fn area_with(command: &[u8]) -> Vec<u8> {
    let mut area = vec![0u8; CLEARED];
    let at = MAILBOX_OFFSET as usize;
    if let Some(dst) = area.get_mut(at..at + command.len()) {
        dst.copy_from_slice(command);
    }
    area
}

impl Rig for MailboxRig {
    fn install(&mut self, slot: SlotId, image: &[u8]) -> Result<(), RigError> {
        self.inner.install(slot, image)
    }

    fn erase_record(&mut self) -> Result<(), RigError> {
        self.inner.erase_record()
    }

    fn write_record_raw(&mut self, bytes: &[u8]) -> Result<(), RigError> {
        self.inner.write_record_raw(bytes)
    }

    fn power_on(&mut self, order: &Order) -> Result<Boot, RigError> {
        let order = &self.inner.with_reset_cause(order);
        if order.mailbox {
            return Err(RigError::Unsupported("`mailbox`: this rig loads the mailbox itself".into()));
        }
        let load = self.inner.flash_img.with_extension("mailbox");
        fs::write(&load, area_with(&order.command.encode())).map_err(|e| RigError::Io(load.clone(), e))?;
        let qmp = self.inner.qmp_socket();
        let _ = fs::remove_file(&qmp);
        let mut run = QemuRun::new(&self.inner.boot_elf, &self.inner.flash_img);
        run.timeout = self.inner.timeout;
        // The board's own hooks on the command line; the app's command is in the mailbox
        // (which the app reads first), so the line's app part stays the field default.
        run.append = hooks(order).to_string();
        run.loads = vec![(load.clone(), self.handoff)];
        run.qmp = Some(qmp.clone());
        let (mut handoff, mut report) = (None, None);
        let at = self.handoff;
        let (out, _) = run.run_watched(|q| {
            let area = q.read_memory(at, CLEARED)?;
            let Some(r) = area.get(MAILBOX_OFFSET as usize..).and_then(|m| Report::decode(m).ok()) else {
                return Ok(false);
            };
            report = Some(r);
            handoff = area.get(..HANDOFF_LEN).and_then(|h| Handoff::decode(h).ok());
            Ok(true)
        })?;
        let _ = fs::remove_file(&load);
        let _ = fs::remove_file(&qmp);
        let segs = out.log_segments();
        let boot_log = VirtualRig::decode(&self.inner.boot_elf, segs.first().copied().unwrap_or_default());
        let o = Observation {
            watchdog: Ran::from_outcome(&out) == Ran::Watchdog,
            fault: out.exit() == Some(Exit::Crash),
            // -no-reboot: a guest reset ends QEMU with 0.
            reset: out.exit_code == Some(0),
            handoff,
            report,
            boot_log,
        };
        let ran = match (probe::classify(&o), out.exit()) {
            // The log line and the exit code must agree on recovery.
            (Ran::Recovery, Some(Exit::Recovery)) => Ran::Recovery,
            (Ran::Recovery, _) | (_, Some(Exit::Recovery)) => Ran::Other(out.exit_code),
            (_, Some(Exit::Cut)) => Ran::PowerCut,
            (ran, _) => ran,
        };
        self.inner.ended(&ran);
        let app_elf = match &ran {
            Ran::App(s) => self.inner.app_elfs.get(s.index()),
            _ => self.inner.app_elfs.first(),
        };
        let app_log = match (segs.get(1), app_elf) {
            (Some(log), Some(elf)) => VirtualRig::decode(elf, log),
            _ => Vec::new(),
        };
        Ok(Boot { ran, boot_log: o.boot_log, app_log })
    }

    fn record(&mut self) -> Result<Option<Record>, RigError> {
        self.inner.record()
    }

    fn hardware_counter(&mut self) -> Result<u32, RigError> {
        self.inner.hardware_counter()
    }

    fn agent(&mut self, args: &[&str]) -> Result<String, RigError> {
        self.inner.agent(args)
    }

    fn lacks(&self, need: Need) -> Option<String> {
        // The virtual board's command line provides both the recovery input and the write
        // faults; its flash file holds the OTP sector and the record the agent works on.
        match need {
            Need::RecoveryInput | Need::WriteFault | Need::WatchdogReset | Need::SecondKey | Need::HardwareCounter => {
                None
            }
        }
    }
}

/// The order without its app part (the field default): what goes on the command line
/// while the app's command travels in the mailbox.
pub fn hooks(order: &Order) -> Order {
    Order { command: Command { action: Action::Confirm, activate: None }, ..*order }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaded_area_clears_the_handoff_block_and_holds_the_command() {
        let c = Command { action: Action::NoConfirm, activate: Some(SlotId::B) };
        let area = area_with(&c.encode());
        assert_eq!(area.len(), CLEARED);
        assert!(area[..MAILBOX_OFFSET as usize].iter().all(|&b| b == 0));
        assert!(Handoff::decode(&area[..HANDOFF_LEN]).is_err(), "no stale hand-off block");
        assert_eq!(Command::decode(&area[MAILBOX_OFFSET as usize..]), Ok(c));
    }

    #[test]
    fn the_command_line_carries_only_the_boards_hooks() {
        use safeslot_shared::protocol::order::WriteFault;
        let o = Order::noconfirm().activate(SlotId::B).recovery().wfault(WriteFault::Drop);
        assert_eq!(hooks(&o).to_string(), "recovery app=confirm wfault=drop");
        assert_eq!(hooks(&o).command_only(), None, "the hooks stay");
        assert_eq!(hooks(&Order::crash().activate(SlotId::A)), Order::confirm());
    }
}
