//! The rig's order on the virtual SoC: QEMU's fw_cfg device (MMIO at `0x0902_0000` on
//! `-M virt`), file `opt/safeslot/order`, which the host rig sets with
//! `-fw_cfg name=opt/safeslot/order,string=...`. Its text is a rig order
//! ([`safeslot_shared::protocol::order::Order`], the one decoder the Cortex-M board's stage
//! runs on its semihosting command line); this stage honours its boot-stage cut plan
//! (`cut=N`, `torn=K`; see [`crate::cfi`]) and nothing else. Without the file (every boot
//! but a power-cut sweep's, and any real board) the plan is [`CutPlan::NONE`].
//!
//! fw_cfg's MMIO interface: a 16-bit big-endian selector register at `+8`, a data register
//! at `+0` read a byte at a time; key `0x0000` reads the signature `QEMU`, key `0x0019` the
//! file directory (a big-endian count, then per file: size u32 BE, key u16 BE, two reserved
//! bytes, a 56-byte NUL-padded name).
//!
//! This is a register module: the two volatile accesses are its only unsafe code.

use safeslot_shared::protocol::order::{CutPlan, Order, OrderError};

/// fw_cfg on QEMU's `virt` machine (hw/arm/virt.c, `VIRT_FW_CFG`).
const FW_CFG: usize = 0x0902_0000;
const DATA: usize = FW_CFG;
const SELECTOR: usize = FW_CFG + 8;
const KEY_SIGNATURE: u16 = 0x0000;
const KEY_FILE_DIR: u16 = 0x0019;
/// The file's name in fw_cfg.
pub const ORDER_FILE: &str = "opt/safeslot/order";
/// Bound on directory entries scanned (QEMU's virt machine lists a dozen).
const MAX_FILES: u32 = 256;
const NAME_LEN: usize = 56;

fn select(key: u16) {
    // SAFETY: FW_CFG + 8 is fw_cfg's 16-bit selector register on QEMU's virt machine (a
    // fixed MMIO address outside RAM and flash); a store there only chooses the item the
    // data register reads next. The register is big-endian, hence `to_be`.
    unsafe { core::ptr::write_volatile(SELECTOR as *mut u16, key.to_be()) }
}

fn byte() -> u8 {
    // SAFETY: FW_CFG is fw_cfg's data register (MMIO, byte reads allowed); a read returns
    // the next byte of the selected item (0 past its end) and touches no memory of ours.
    unsafe { core::ptr::read_volatile(DATA as *const u8) }
}

fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    for x in &mut b {
        *x = byte();
    }
    b
}

/// Reads the fw_cfg file `name` into `out`; its bytes, or `None` when fw_cfg is absent,
/// the file is not there or it is longer than `out`.
pub fn read_file<'a>(name: &str, out: &'a mut [u8]) -> Option<&'a [u8]> {
    select(KEY_SIGNATURE);
    if bytes::<4>() != *b"QEMU" {
        return None;
    }
    select(KEY_FILE_DIR);
    let count = u32::from_be_bytes(bytes());
    for _ in 0..count.min(MAX_FILES) {
        let size = u32::from_be_bytes(bytes()) as usize;
        let key = u16::from_be_bytes(bytes());
        let _reserved: [u8; 2] = bytes();
        let entry: [u8; NAME_LEN] = bytes();
        let len = entry.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        if entry.get(..len) == Some(name.as_bytes()) {
            let dst = out.get_mut(..size)?;
            select(key);
            for x in dst.iter_mut() {
                *x = byte();
            }
            return Some(dst);
        }
    }
    None
}

/// The boot-stage cut plan of the rig's order ([`ORDER_FILE`]), or [`CutPlan::NONE`]
/// without one; `Err` when the file is there but is no order (the stage then refuses to
/// run rather than run a different test).
pub fn cut_plan() -> Result<CutPlan, OrderError> {
    let mut buf = [0u8; 256];
    let Some(text) = read_file(ORDER_FILE, &mut buf) else {
        return Ok(CutPlan::NONE);
    };
    let text = core::str::from_utf8(text).map_err(|_| OrderError::Value)?;
    Ok(Order::parse(text)?.boot)
}
