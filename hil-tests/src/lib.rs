//! safeslot-hil: hardware-in-the-loop rigs that run the real safeslot firmware.
//!
//! * [`rig`]: the `Rig` abstraction and the virtual rig (QEMU, runs in CI);
//! * [`qemu`]: the bounded QEMU launcher the virtual rig uses;
//! * [`story`]: the scenarios, written once against `Rig`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod qemu;
pub mod rig;
pub mod story;
