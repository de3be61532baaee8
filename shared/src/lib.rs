//! # safeslot-shared
//!
//! The bytes every part of safeslot agrees on, and the rules that read them:
//!
//! * [`record`]: the boot-control record (which slot boots, tries, confirmed, history);
//! * [`journal`]: the append-only, power-fail-safe journal that stores the record in NOR flash;
//! * [`header`], [`tlv`] and [`verify`]: the signed slot header, its protected metadata and
//!   the streaming image verification;
//! * [`policy`] and [`ops`]: the pure slot-selection policy and the operations that change a record;
//! * [`handoff`]: the small RAM block the boot stage leaves for the application;
//! * [`mailbox`]: the RAM mailbox through which a hardware test rig drives a demo app;
//! * [`protocol`]: the firmware ↔ host protocols of the test rigs (exit codes, the boot
//!   log line, rig orders), one typed encoder/decoder each;
//! * [`counter`]: the hardware security counters (anti-rollback floor in OTP) and their
//!   thermometer code;
//! * [`nor`]: the NOR flash rules (geometry checks, 1→0 only, write-count modes) that the
//!   simulator, the agent's file backend and the board drivers all enforce.
//!
//! Data flows one way: flash → journal → record → policy → decision → hand-off.
//! The crate is `no_std`, uses no allocator and never panics on any input: every
//! decoder returns a typed error. The byte formats are specified in `docs/FORMAT.md`.
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

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod codec;
pub mod counter;
pub mod error;
pub mod handoff;
pub mod header;
#[cfg(feature = "std")]
pub mod image;
pub mod journal;
pub mod mailbox;
#[cfg(any(test, feature = "sim"))]
pub mod model;
pub mod nor;
pub mod ops;
pub mod policy;
pub mod protocol;
pub mod reason;
pub mod record;
pub mod reset;
pub mod select;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod slot;
#[cfg(test)]
mod sweep;
#[cfg(test)]
mod tidy;
pub mod tlv;
#[cfg(test)]
mod vectors;
pub mod verify;
pub mod version;

pub use error::{DecodeError, Error, OpError};
pub use reason::Reason;
pub use record::{Event, HistoryEntry, Record, SlotState};
pub use slot::{Priority, SlotId, Tries};
pub use version::Version;
