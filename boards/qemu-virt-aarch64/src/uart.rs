//! The serial log: QEMU virt's PL011 UART at `0x0900_0000`, transmit only.
//!
//! This is a register module: its volatile accesses are its only unsafe code.

/// The PL011's base address on `-M virt`.
const PL011: usize = 0x0900_0000;
/// Data register.
const DR: usize = 0x00;
/// Flag register.
const FR: usize = 0x18;
/// FR: transmit FIFO full.
const TXFF: u32 = 1 << 5;
/// Bound on the busy-wait for FIFO space (QEMU's FIFO never stays full).
const SPIN: u32 = 1_000_000;

/// The UART, as a `core::fmt::Write` sink.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uart;

impl Uart {
    /// Sends one byte (after a bounded wait for FIFO space).
    pub fn byte(self, b: u8) {
        for _ in 0..SPIN {
            // SAFETY: PL011 + FR is the UART's flag register on this machine (a device
            // register, 4-byte aligned, readable at any time, no side effects).
            let fr = unsafe { core::ptr::read_volatile((PL011 + FR) as *const u32) };
            if fr & TXFF == 0 {
                break;
            }
        }
        // SAFETY: PL011 + DR is the UART's data register; a 32-bit store queues one byte.
        unsafe { core::ptr::write_volatile((PL011 + DR) as *mut u32, u32::from(b)) };
    }
}

impl core::fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.byte(b'\r');
            }
            self.byte(b);
        }
        Ok(())
    }
}
