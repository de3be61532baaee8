//! The harness side of the rig, reached through Arm semihosting: the command
//! line given to QEMU with `-append`, and the exit code QEMU returns.
//!
//! QEMU must run with `-semihosting-config enable=on,target=native`; the exit
//! code comes from `SYS_EXIT_EXTENDED`, so any value reaches the host.
//! The exit codes are safeslot-shared's [`Exit`] (`protocol::exit`), which the
//! host rigs decode with the same type.

pub use safeslot_shared::protocol::exit::Exit;

/// Longest command line [`cmdline`] reads (program name included).
pub const CMDLINE_MAX: usize = 256;

/// Separates the log streams of two images on the host's stdout.
///
/// Each image logs defmt frames against its own ELF, so the harness must
/// decode what the boot stage wrote and what the image wrote separately. The
/// boot stage writes this (raw, not defmt) just before [`crate::handoff::jump`];
/// defmt frames (rzcobs) never contain `0x00`, so a frame can never contain it.
/// Mirrored in `hil-tests/src/qemu.rs`.
pub const HANDOFF_MARKER: &[u8] = b"\0SAFESLOT:HANDOFF\0";

/// Writes [`HANDOFF_MARKER`] to the host's stdout; a host that refuses it
/// only loses the split, so errors are ignored.
pub fn mark_handoff() {
    use semihosting::io::Write as _;
    if let Ok(mut out) = semihosting::io::stdout() {
        let _ = out.write_all(HANDOFF_MARKER);
    }
}

/// Stops the machine; QEMU exits with `code`'s exit code.
pub fn exit(code: Exit) -> ! {
    semihosting::process::exit(code.status())
}

/// Why [`CmdLine::read`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum CmdLineError {
    /// The host did not answer `SYS_GET_CMDLINE` (semihosting off?) or the
    /// line does not fit in [`CMDLINE_MAX`] bytes.
    Host,
    /// A word is not UTF-8.
    NotUtf8,
}

/// The `-append` words, copied into a fixed buffer and separated by single spaces.
pub struct CmdLine {
    buf: [u8; CMDLINE_MAX],
    len: usize,
}

impl CmdLine {
    /// An empty command line.
    pub const EMPTY: Self = Self { buf: [0; CMDLINE_MAX], len: 0 };

    /// Reads the command line from the host, dropping the program name
    /// (QEMU's `-kernel` path) that comes first.
    ///
    /// # Errors
    /// See [`CmdLineError`].
    pub fn read() -> Result<Self, CmdLineError> {
        let args = semihosting::experimental::env::args::<CMDLINE_MAX>().map_err(|_| CmdLineError::Host)?;
        let mut line = Self::EMPTY;
        for word in (&args).skip(1) {
            line.push(word.map_err(|_| CmdLineError::NotUtf8)?)?;
        }
        Ok(line)
    }

    fn push(&mut self, word: &str) -> Result<(), CmdLineError> {
        let sep = usize::from(self.len != 0);
        let dst = self
            .len
            .checked_add(sep)
            .and_then(|start| Some(start..start.checked_add(word.len())?))
            .and_then(|range| self.buf.get_mut(range))
            .ok_or(CmdLineError::Host)?;
        dst.copy_from_slice(word.as_bytes());
        if sep == 1 {
            if let Some(b) = self.buf.get_mut(self.len) {
                *b = b' ';
            }
        }
        self.len = self.len.saturating_add(sep).saturating_add(word.len());
        Ok(())
    }

    /// The whole line.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only whole `&str` words and ASCII spaces were copied in.
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}
