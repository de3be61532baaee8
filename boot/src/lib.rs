//! # safeslot-boot
//!
//! The boot sequence, over traits and without a single register access, so it runs and
//! is tested on the host and on every board alike:
//!
//! 1. open the journal and read the record ([`safeslot_shared::journal`]);
//! 2. choose a slot with the shared policy, verifying each candidate's signed header and
//!    streaming its SHA-256 from flash ([`safeslot_shared::select`]);
//! 3. persist the record update (the tries decrement of a trial) **before** the hand-off;
//! 4. return a [`Launch`], which can only be built from a verification that succeeded
//!    (see [`fih`]) and which [`run()`] seals, unchanged, into the [`ApprovedLaunch`] that is
//!    the only value a board's jump accepts.
//!
//! [`run()`] is the boot stage's main around that sequence, the same on every board; a
//! board implements its [`Platform`] (flash driver, watchdog, log sink, recovery input,
//! hand-off block, jump or Linux hand-off, recovery) and passes the [`BootConfig`] its
//! build script generated from `layout.toml` ([`config`]). The Linux hand-off itself
//! (payload table, gzip'd kernel, device-tree patch) is the `safeslot-linux` crate's.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod config;
pub mod fih;
pub mod run;
pub mod sequence;

pub use run::{
    run, ApprovedLaunch, CounterEvent, CounterId, Event, Named, NoSecurityCounter, Platform, ResetCause,
    SecurityCounter, Sha256Engine, SoftSha256, Stop,
};
pub use sequence::{boot, BootConfig, Launch, Outcome};
