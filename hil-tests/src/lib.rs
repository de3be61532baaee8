//! safeslot-hil: hardware-in-the-loop rigs that run the real safeslot firmware.
//!
//! * [`rig`]: the `Rig` abstraction and the virtual rig (QEMU, runs in CI);
//! * [`qemu`]: the bounded QEMU launcher the virtual rig uses;
//! * [`story`]: the scenarios, written once against `Rig`.
//! * [`scenarios`]: the scenario catalogue (updates, tampering, rollback, recovery), against `Rig`.
//! * [`soc`]: the virtual SoC rig (the aarch64 stage and Debian's arm64 Linux in QEMU `virt`).
//! * [`powercut`]: power cuts at every flash store of the real firmware, and the soak.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod powercut;
pub mod qemu;
pub mod rig;
pub mod scenarios;
pub mod soc;
pub mod story;
