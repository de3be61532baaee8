//! The protocols between safeslot's firmware and the host programs that test it, each with
//! one typed encoder and one decoder (docs/FORMAT.md, "Rig protocols"):
//!
//! * [`exit`]: the semihosting exit codes of the QEMU firmware (boot stage, demo apps,
//!   and bench floor), read by the virtual rig, the fault-injection campaign and
//!   the instruction bench;
//! * [`log`]: the boot stage's result line (`safeslot: boot ...` / `safeslot: recovery
//!   ...`), written by every board and parsed by every rig;
//! * [`order`]: what a rig asks of one power-on (the demo app's action, a slot to activate,
//!   the virtual board's recovery input, power cuts and write faults), as the virtual
//!   board's command line; its app part travels to a real board in the rig mailbox
//!   ([`crate::mailbox`]).
//!
//! * [`cmdline`]: what the SoC stage tells Linux on the kernel command line (the booted
//!   slot, how, the record's sequence number), read by the agent.
//!
//! All of it is `no_std` without an allocator: the firmware encodes (and decodes its
//! command line) with exactly the code the host decodes (and encodes) with.

pub mod cmdline;
pub mod exit;
pub mod log;
pub mod order;
