//! [`LinuxError`]: every way the Linux hand-off (and the payload writer) can fail.

/// What went wrong in the Linux hand-off. The stage answers any of them with recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LinuxError {
    /// The payload table is missing, of another format, or names a part outside the image.
    BadTable,
    /// The payload has no kernel, or no initramfs.
    MissingPart,
    /// The kernel is not a gzip stream this code reads.
    BadGzip,
    /// Inflating the kernel failed (corrupt stream).
    Inflate,
    /// A part does not fit the RAM region the layout gives it (or, when writing a
    /// payload, the 32-bit offsets of the table).
    TooBig,
    /// The inflated kernel is not an arm64 `Image` (no `ARM\x64` magic), or its header
    /// asks for more RAM than the kernel region has.
    NotAnImage,
    /// The device tree handed in is not a valid FDT (version 17).
    BadDtb,
    /// The patched device tree does not fit its region.
    DtbTooBig,
}

impl LinuxError {
    /// A short, stable name for logs.
    pub fn name(self) -> &'static str {
        match self {
            LinuxError::BadTable => "bad-table",
            LinuxError::MissingPart => "missing-part",
            LinuxError::BadGzip => "bad-gzip",
            LinuxError::Inflate => "inflate",
            LinuxError::TooBig => "too-big",
            LinuxError::NotAnImage => "not-an-image",
            LinuxError::BadDtb => "bad-dtb",
            LinuxError::DtbTooBig => "dtb-too-big",
        }
    }
}

impl core::fmt::Display for LinuxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::error::Error for LinuxError {}
