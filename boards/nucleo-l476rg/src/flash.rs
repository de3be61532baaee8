//! The flash driver: embassy-stm32's blocking `Flash` with the data and instruction caches
//! reset after every erase and program, and the NMI handler for ECC double errors (see the
//! crate docs).

use core::sync::atomic::{AtomicU32, Ordering};

use embassy_stm32::flash::{Blocking, Error, Flash};
use embassy_stm32::pac::FLASH;
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

/// ECC double errors the NMI handler cleared (reads of torn double words).
pub static ECC_ERRORS: AtomicU32 = AtomicU32::new(0);

/// embassy-stm32's flash driver plus cache resets after every change.
pub struct L4Flash(pub(crate) Flash<'static, Blocking>);

fn reset_caches() {
    // A cache may only be reset while it is disabled (RM0351, FLASH_ACR).
    FLASH.acr().modify(|w| {
        w.set_dcen(false);
        w.set_icen(false);
    });
    FLASH.acr().modify(|w| {
        w.set_dcrst(true);
        w.set_icrst(true);
    });
    FLASH.acr().modify(|w| {
        w.set_dcrst(false);
        w.set_icrst(false);
        w.set_dcen(true);
        w.set_icen(true);
    });
}

impl ErrorType for L4Flash {
    type Error = Error;
}

impl ReadNorFlash for L4Flash {
    const READ_SIZE: usize = <Flash<'static, Blocking> as ReadNorFlash>::READ_SIZE;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Error> {
        self.0.blocking_read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl NorFlash for L4Flash {
    const WRITE_SIZE: usize = <Flash<'static, Blocking> as NorFlash>::WRITE_SIZE;
    const ERASE_SIZE: usize = <Flash<'static, Blocking> as NorFlash>::ERASE_SIZE;
    fn erase(&mut self, from: u32, to: u32) -> Result<(), Error> {
        let r = self.0.blocking_erase(from, to);
        reset_caches();
        r
    }
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Error> {
        let r = self.0.blocking_write(offset, bytes);
        reset_caches();
        r
    }
}

/// NMI: a read of a double word with a 2-bit ECC error (a torn program) is answered by
/// clearing the flag and returning, so the read completes with the raw bytes and the
/// journal's CRC rejects them. Any other NMI (clock security system) resets the chip.
#[allow(unsafe_code)]
#[cortex_m_rt::exception]
// SAFETY: cortex-m-rt requires the NMI handler to be declared `unsafe` (it may preempt
// anything); this one only reads and clears FLASH_ECCR, bumps an atomic counter, or resets.
unsafe fn NonMaskableInt() {
    if FLASH.eccr().read().eccd() {
        FLASH.eccr().modify(|w| w.set_eccd(true)); // write 1 to clear
        ECC_ERRORS.fetch_add(1, Ordering::Relaxed);
    } else {
        cortex_m::peripheral::SCB::sys_reset();
    }
}
