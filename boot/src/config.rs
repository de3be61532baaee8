//! The types of a board's generated configuration.
//!
//! safeslot-layout turns a board's `layout.toml` into a `config.rs` of typed consts
//! (`BOOT`: a [`BootConfig`] with the journal geometry, the slot regions, the embedded keys
//! and the fresh-record policy; `HANDOFF`: a [`HandoffRegion`]), which the board's build
//! script writes into `OUT_DIR` and the board passes to [`crate::run()`]. The generated code
//! names every type through this module, so a board needs no other crate to include it.

pub use safeslot_shared::journal::JournalConfig;
pub use safeslot_shared::select::FreshRecord;
pub use safeslot_shared::slot::Tries;
pub use safeslot_shared::verify::SlotRegion;

pub use crate::sequence::BootConfig;

/// The RAM the layout reserves for the hand-off block (and the rig mailbox):
/// `[handoff]`, validated by safeslot-layout to lie outside the boot stage's and the
/// application's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandoffRegion {
    /// Its CPU address.
    pub address: u32,
    /// Its size in bytes.
    pub size: u32,
}
