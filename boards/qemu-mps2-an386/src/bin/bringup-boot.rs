//! Bring-up boot stage for the QEMU rig: proves the runtime, defmt over
//! semihosting, the command line, the flash driver (with its cut point) and
//! the hand-off, then starts the image in slot a.
//!
//! Flash work, in the record region (each line is one store):
//! 1. erase record sector 0;
//! 2. program word 0 with `MAGIC0`;
//! 3. program word 1 with `MAGIC1`;
//! 4. erase record sector 1;
//! 5. program word 0 of sector 1 with `MAGIC0`.
//!
//! With `cut=N` the machine stops before store N lands (see `flash`).
#![no_std]
#![no_main]
#![deny(unsafe_code, missing_docs, clippy::undocumented_unsafe_blocks)]

use cortex_m_rt::entry;
use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use safeslot_board_qemu_mps2_an386::flash::{Flash, FlashError};
use safeslot_board_qemu_mps2_an386::host::{self, CmdLine, Exit};
use safeslot_board_qemu_mps2_an386::layout;
use safeslot_cortex_m::handoff;
use safeslot_shared::protocol::order::Order;

/// First test word.
const MAGIC0: [u8; 8] = *b"SAFESLOT";
/// Second test word.
const MAGIC1: [u8; 8] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];

#[entry]
fn main() -> ! {
    defmt::println!("stage up");
    let line = CmdLine::read().unwrap_or_else(|e| {
        defmt::error!("cmdline: {}", e);
        host::exit(Exit::BadCmdline)
    });
    defmt::println!("cmdline: {=str}", line.as_str());
    let order = Order::parse(line.as_str()).unwrap_or_else(|e| {
        defmt::error!("rig order: {}", defmt::Display2Format(&e));
        host::exit(Exit::BadCmdline)
    });
    let Some(mut flash) = Flash::take(order.boot) else {
        defmt::panic!("flash taken twice");
    };
    if let Err(e) = exercise(&mut flash) {
        defmt::panic!("flash exercise failed: {}", e);
    }
    defmt::println!("flash ok: {=u32} stores", flash.stores());

    let slot_a = layout::FLASH_BASE + layout::SLOT_OFFSETS[0] + layout::SLOT_HEADER_SIZES[0];
    defmt::println!("jumping to slot a vector table at {=u32:#x}", slot_a);
    host::mark_handoff();
    // SAFETY: the harness placed the bring-up app, linked for exactly this
    // address by the app-a memory.x, at slot a + header size; nothing else
    // runs; this stage enabled no interrupts; and it needs nothing after the jump.
    // (Bring-up only: the real boot stage verifies the image before jumping.)
    #[allow(unsafe_code)]
    unsafe {
        handoff::jump(slot_a)
    }
}

/// The five stores listed in the module docs, plus checks that the NOR rules
/// are enforced (the refused requests store nothing).
fn exercise(flash: &mut Flash) -> Result<(), FlashError> {
    let rec = layout::RECORD_OFFSET;
    let sector = layout::ERASE_SIZE;
    flash.erase(rec, rec + sector)?;
    flash.write(rec, &MAGIC0)?;
    flash.write(rec + 8, &MAGIC1)?;
    flash.erase(rec + sector, rec + 2 * sector)?;
    flash.write(rec + sector, &MAGIC0)?;

    let mut back = [0u8; 16];
    flash.read(rec, &mut back)?;
    defmt::assert!(back[..8] == MAGIC0 && back[8..] == MAGIC1);
    // Reprogramming a word (even to clear bits) is refused on program-once flash,
    // setting bits always; misaligned writes too. None of these is a store.
    let before = flash.stores();
    defmt::assert!(flash.write(rec, &[0u8; 8]).is_err());
    defmt::assert!(flash.write(rec + 8, &[0xFF; 8]).is_err());
    defmt::assert!(flash.write(rec + 17, &[0u8; 8]) == Err(FlashError::NotAligned));
    defmt::assert!(flash.erase(rec + 1, rec + sector) == Err(FlashError::NotAligned));
    defmt::assert_eq!(flash.stores(), before);
    Ok(())
}
