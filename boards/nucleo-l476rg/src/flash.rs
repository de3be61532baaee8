//! The flash driver: embassy-stm32's blocking `Flash` with the data and instruction caches
//! reset after every erase and program, the NMI handler for ECC double errors (see the
//! crate docs), and the OTP area that holds the hardware anti-rollback counter ([`L4Otp`]).

use core::sync::atomic::{AtomicU32, Ordering};

use embassy_stm32::flash::{Blocking, Error, Flash};
use embassy_stm32::pac::FLASH;
use embedded_storage::nor_flash::{
    check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

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

/// The STM32L4's OTP area (RM0351 §3.3.1: 1 KiB at 0x1FFF_7000, 128 double words, each
/// programmable once and never erasable) as a [`NorFlash`] with offsets from the layout's
/// `[otp] address`: reads are memory-mapped, a program is the standard double-word
/// sequence (unlock, `PG`, two 32-bit stores, wait for `BSY`, check the error flags, lock),
/// erase is always refused. A torn program leaves a double word whose ECC does not match:
/// its read raises the NMI above, which clears it, so the read completes with the raw
/// bytes, which the thermometer code counts as programmed (conservatively).
pub struct L4Otp;

/// Why the OTP area refused an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpError {
    /// Out of the area or not double-word aligned.
    Range(NorFlashErrorKind),
    /// OTP is never erased.
    Erase,
    /// The controller reported an error (`PROGERR`: the double word was programmed before)
    /// or stayed busy.
    Program,
}

impl NorFlashError for OtpError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            OtpError::Range(k) => *k,
            OtpError::Erase | OtpError::Program => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for OtpError {
    fn from(k: NorFlashErrorKind) -> Self {
        OtpError::Range(k)
    }
}

/// `BSY` polls before a program is given up (a double word takes at most 90 µs).
const BSY_POLLS: u32 = 1_000_000;

fn otp_wait() -> Result<(), OtpError> {
    for _ in 0..BSY_POLLS {
        if !FLASH.sr().read().bsy() {
            return Ok(());
        }
    }
    Err(OtpError::Program)
}

impl ErrorType for L4Otp {
    type Error = OtpError;
}

#[allow(unsafe_code)]
impl ReadNorFlash for L4Otp {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), OtpError> {
        check_read(self, offset, bytes.len())?;
        for (i, b) in bytes.iter_mut().enumerate() {
            let addr = crate::layout::OTP_ADDRESS.wrapping_add(offset).wrapping_add(i as u32) as usize;
            // SAFETY: `addr` lies in the OTP area (checked by `check_read`), system memory
            // that is always readable and holds no Rust object; an ECC double error is
            // answered by the NMI handler above, which lets the read complete.
            *b = unsafe { core::ptr::read_volatile(addr as *const u8) };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        OTP_BYTES
    }
}

/// The OTP area's size (RM0351).
const OTP_BYTES: usize = 1024;

#[allow(unsafe_code)]
impl NorFlash for L4Otp {
    const WRITE_SIZE: usize = 8;
    const ERASE_SIZE: usize = OTP_BYTES;

    fn erase(&mut self, _: u32, _: u32) -> Result<(), OtpError> {
        Err(OtpError::Erase)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), OtpError> {
        check_write(self, offset, bytes.len())?;
        otp_wait()?;
        FLASH.sr().write_value(embassy_stm32::pac::flash::regs::Sr(0xC3FB)); // clear every error flag
        if FLASH.cr().read().lock() {
            FLASH.keyr().write_value(0x4567_0123);
            FLASH.keyr().write_value(0xCDEF_89AB);
        }
        FLASH.cr().modify(|w| w.set_pg(true));
        let mut result = Ok(());
        for (i, dw) in bytes.chunks_exact(8).enumerate() {
            let addr = crate::layout::OTP_ADDRESS.wrapping_add(offset).wrapping_add((i * 8) as u32) as usize;
            for (k, half) in dw.chunks_exact(4).enumerate() {
                let value = u32::from_le_bytes([half[0], half[1], half[2], half[3]]);
                // SAFETY: `addr + 4k` is a word of a double word in the OTP area (checked by
                // `check_write`, 8-byte aligned), written with FLASH_CR.PG set as RM0351
                // §3.3.7 requires (first word, then second); no Rust object lives there.
                unsafe { core::ptr::write_volatile((addr + 4 * k) as *mut u32, value) };
            }
            result = otp_wait();
            let sr = FLASH.sr().read();
            if sr.progerr() || sr.wrperr() || sr.pgaerr() || sr.sizerr() || sr.pgserr() || sr.miserr() {
                result = Err(OtpError::Program);
            }
            if result.is_err() {
                break;
            }
        }
        FLASH.cr().modify(|w| {
            w.set_pg(false);
            w.set_lock(true);
        });
        reset_caches();
        result
    }
}
