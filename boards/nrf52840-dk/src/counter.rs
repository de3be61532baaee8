//! The hardware anti-rollback counter: a flash page the ACL write-protects after the stage.
//!
//! The nRF52840 has no OTP the application cannot erase: its UICR customer words can be
//! erased from software (`NVMC.ERASEUICR`, together with the rest of UICR). So the counter
//! lives in a page of the internal flash (the layout's `[otp]`, the last 4 KiB, outside
//! every slot and the record) as the shared thermometer code ([`Thermometer`], 4-byte
//! units), and the stage **locks the page with the ACL peripheral before every hand-off
//! and before recovery** ([`SecurityCounter::lock`]): ACL region 0 over the page with
//! write (program and erase) protection, which cannot be changed or cleared until the next
//! reset, and every reset runs the stage first. So the application and the OS can read
//! the page, never lower it. (docs/PORTING.md, "Hardware anti-rollback counter".)
//!
//! This is the register module of the counter: the volatile accesses to the page are its
//! only unsafe code; NVMC and ACL registers go through the PAC's safe API.

use embassy_nrf::pac::acl::vals::Write;
use embassy_nrf::pac::nvmc::vals::Wen;
use embassy_nrf::pac::{ACL, NVMC};
use embedded_storage::nor_flash::{
    check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use safeslot_boot::{CounterId, SecurityCounter};
use safeslot_shared::counter::{CounterError, OtpCounters};

use crate::layout::{ERASE_SIZE, OTP_ADDRESS, OTP_SIZE, OTP_UNIT, WRITE_SIZE};

/// Bytes of the counters' areas (one per counter).
const OTP_BYTES: u32 = OTP_SIZE * CounterId::ALL.len() as u32;

/// The page that holds the counters (ACL regions are whole pages).
const PAGE: u32 = OTP_ADDRESS / ERASE_SIZE * ERASE_SIZE;

/// NVMC READY polls before a word program is given up (a program takes at most 41 µs,
/// about 2 700 cycles at 64 MHz).
const READY_POLLS: u32 = 100_000;

/// Why the page refused an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    /// Out of the page or not word-aligned.
    Range(NorFlashErrorKind),
    /// The page is never erased, and not written once locked.
    Locked,
    /// The NVMC did not become ready.
    Timeout,
}

impl NorFlashError for PageError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            PageError::Range(k) => *k,
            PageError::Locked | PageError::Timeout => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for PageError {
    fn from(k: NorFlashErrorKind) -> Self {
        PageError::Range(k)
    }
}

/// The counters' areas in the page (offsets from `[otp] address`).
pub struct Page {
    locked: bool,
}

/// The hardware security counters: the shared thermometer codes over [`Page`], which
/// [`SecurityCounter::lock`] write-protects with the ACL.
pub struct AclPage(OtpCounters<Page>);

impl AclPage {
    /// The page, not locked yet (the stage runs first after every reset).
    pub const fn new() -> Self {
        AclPage(OtpCounters::new(Page { locked: false }, OTP_SIZE, OTP_UNIT))
    }
}

impl Default for AclPage {
    fn default() -> Self {
        Self::new()
    }
}

fn wait_ready() -> Result<(), PageError> {
    for _ in 0..READY_POLLS {
        if NVMC.ready().read().ready() {
            return Ok(());
        }
    }
    Err(PageError::Timeout)
}

impl ErrorType for Page {
    type Error = PageError;
}

impl ReadNorFlash for Page {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), PageError> {
        check_read(self, offset, bytes.len())?;
        for (i, b) in bytes.iter_mut().enumerate() {
            let addr = OTP_ADDRESS.wrapping_add(offset).wrapping_add(i as u32) as usize;
            // SAFETY: `addr` lies in the counter page (checked by `check_read`), internal
            // flash that is always readable and holds no Rust object (outside every
            // memory.x region: safeslot-layout keeps `[otp]` out of the partitions).
            *b = unsafe { core::ptr::read_volatile(addr as *const u8) };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        OTP_BYTES as usize
    }
}

impl NorFlash for Page {
    const WRITE_SIZE: usize = WRITE_SIZE as usize;
    const ERASE_SIZE: usize = ERASE_SIZE as usize;

    /// The counter page is never erased.
    fn erase(&mut self, _: u32, _: u32) -> Result<(), PageError> {
        Err(PageError::Locked)
    }

    /// Programs whole words with the NVMC (write enabled only for the duration).
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), PageError> {
        check_write(self, offset, bytes.len())?;
        if self.locked {
            return Err(PageError::Locked);
        }
        wait_ready()?;
        NVMC.config().write(|w| w.set_wen(Wen::Wen));
        let mut result = Ok(());
        for (i, word) in bytes.chunks_exact(4).enumerate() {
            let addr = OTP_ADDRESS.wrapping_add(offset).wrapping_add((i * 4) as u32) as usize;
            let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            // SAFETY: `addr` is a word-aligned address in the counter page (checked by
            // `check_write`), with CONFIG.WEN set; the page holds no Rust object.
            unsafe { core::ptr::write_volatile(addr as *mut u32, value) };
            result = wait_ready();
            if result.is_err() {
                break;
            }
        }
        NVMC.config().write(|w| w.set_wen(Wen::Ren));
        result
    }
}

impl SecurityCounter for AclPage {
    type Error = CounterError<PageError>;

    fn read(&mut self, id: CounterId) -> Result<u32, Self::Error> {
        self.0.read(id)
    }

    fn advance(&mut self, id: CounterId, to: u32) -> Result<u32, Self::Error> {
        self.0.advance(id, to)
    }

    /// ACL region 0 over the page, write-protected until the next reset.
    fn lock(&mut self) {
        ACL.acl(0).addr().write_value(PAGE);
        ACL.acl(0).size().write_value(ERASE_SIZE);
        ACL.acl(0).perm().write(|w| w.set_write(Write::Disable));
        self.0.otp().locked = true;
    }
}
