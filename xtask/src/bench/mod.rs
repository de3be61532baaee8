//! `cargo xtask bench`: measured, never asserted.
//!
//! * [`agent`]: wall time of `safeslotctl status` on a 128 KiB record region;
//! * [`insns`]: instructions the real boot stage executes from reset to hand-off in QEMU,
//!   counted by a TCG plugin ([`plugin`]), split into phases (`safeslot_profile`, xtask/profile), against the
//!   floor of the bare crates.

pub mod agent;
pub mod insns;
pub mod plugin;

use anyhow::Result;

/// `cargo xtask bench [agent|insns]`: both parts, or one.
pub fn run(part: Option<&str>) -> Result<()> {
    if matches!(part, None | Some("agent")) {
        agent::run()?;
        println!();
    }
    if matches!(part, None | Some("insns")) {
        let m = insns::measure(&insns::SIZES_KIB)?;
        insns::print(&m)?;
        insns::check(&m)?;
    }
    if !matches!(part, None | Some("agent") | Some("insns")) {
        anyhow::bail!("usage: cargo xtask bench [agent|insns]");
    }
    Ok(())
}
