//! safeslot-hil: hardware-in-the-loop rigs that run the real safeslot firmware.
//!
//! * [`rig`]: the `Rig` abstraction and the virtual rig (QEMU, runs in CI);
//! * [`qemu`]: the bounded QEMU launcher the virtual rig uses ([`qmp`]: reading guest RAM);
//! * [`mailbox_rig`]: the virtual rig driven through the rig mailbox, as the probe rig drives a board;
//! * [`story`]: the scenarios, written once against `Rig`.
//! * [`scenarios`]: the scenarios (updates, tampering, rollback, recovery), against `Rig`;
//! * [`catalogue`]: the one list of them that every rig iterates;
//! * [`probe`]: the probe-rs rig for real boards (probe-rs itself behind the `probe` feature).
//! * [`soc`]: the virtual SoC rig (the aarch64 stage and Debian's arm64 Linux in QEMU `virt`).
//! * [`soc_sweep`]: power cuts at every flash store of the aarch64 stage on the virtual SoC.
//! * [`powercut`]: power cuts at every flash store of the real firmware, and the soak.
//! * [`fi`]: the instruction-skip fault-injection campaign's pure parts (`cargo xtask fi`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod catalogue;
pub mod fi;
pub mod mailbox_rig;
pub mod powercut;
pub mod probe;
pub mod qemu;
pub mod qmp;
pub mod rig;
pub mod scenarios;
pub mod soc;
pub mod soc_sweep;
pub mod story;
