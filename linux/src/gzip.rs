//! gzip (RFC 1952): [`gzip_deflate`] finds the deflate stream in a member for the boot
//! stage's inflater; `compress` (feature `std`) writes a member for the host tools.

use crate::bytes::{le16, le32};
use crate::LinuxError;

/// The first three bytes of a gzip member: ID1, ID2 and CM = 8 (deflate).
pub const GZIP_MAGIC: [u8; 3] = [0x1F, 0x8B, 8];
/// Bytes of the fixed member header (before the optional fields).
const FIXED_HEADER_LEN: usize = 10;
/// Bytes of the trailer (CRC32, ISIZE).
const TRAILER_LEN: usize = 8;

/// Whether `bytes` starts like a gzip member.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// The deflate stream inside a gzip member (RFC 1952): skips the header and its optional
/// fields; returns the deflate data (trailer included, which inflate ignores) and the
/// trailer's ISIZE (the inflated length mod 2^32).
pub fn gzip_deflate(gz: &[u8]) -> Result<(&[u8], u32), LinuxError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if !is_gzip(gz) {
        return Err(LinuxError::BadGzip);
    }
    let flags = *gz.get(3).ok_or(LinuxError::BadGzip)?;
    if flags & 0xE0 != 0 || gz.len() < FIXED_HEADER_LEN.saturating_add(TRAILER_LEN) {
        return Err(LinuxError::BadGzip);
    }
    let mut at = FIXED_HEADER_LEN;
    if flags & FEXTRA != 0 {
        let xlen = usize::from(le16(gz, at).ok_or(LinuxError::BadGzip)?);
        at = at.checked_add(2).and_then(|a| a.checked_add(xlen)).ok_or(LinuxError::BadGzip)?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = gz.get(at..).ok_or(LinuxError::BadGzip)?;
            let nul = rest.iter().position(|&b| b == 0).ok_or(LinuxError::BadGzip)?;
            at = at.checked_add(nul).and_then(|a| a.checked_add(1)).ok_or(LinuxError::BadGzip)?;
        }
    }
    if flags & FHCRC != 0 {
        at = at.checked_add(2).ok_or(LinuxError::BadGzip)?;
    }
    let isize_at = gz.len().checked_sub(4).ok_or(LinuxError::BadGzip)?;
    let isize = le32(gz, isize_at).ok_or(LinuxError::BadGzip)?;
    let data = gz.get(at..isize_at).ok_or(LinuxError::BadGzip)?;
    Ok((data, isize))
}

/// `data` as one gzip member at the best compression ratio (a slot carries the kernel
/// and the initramfs compressed).
///
/// # Errors
///
/// Only what the encoder's in-memory writer reports (none in practice).
#[cfg(feature = "std")]
pub fn compress(data: &[u8]) -> std::io::Result<std::vec::Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(std::vec::Vec::new(), flate2::Compression::best());
    e.write_all(data)?;
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_stream_past_optional_fields_and_refuses_junk() {
        assert_eq!(gzip_deflate(b"PK\x03\x04"), Err(LinuxError::BadGzip));
        assert_eq!(
            gzip_deflate(&[0x1F, 0x8B, 8, 0xE0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(LinuxError::BadGzip)
        );
        // FNAME "x", then a 1-byte stream and the trailer (ISIZE 7).
        let gz = [0x1F, 0x8B, 8, 8, 0, 0, 0, 0, 0, 3, b'x', 0, 0xAA, 1, 2, 3, 4, 7, 0, 0, 0];
        assert_eq!(gzip_deflate(&gz), Ok((&[0xAA, 1, 2, 3, 4][..], 7)));
        // An unterminated name.
        assert_eq!(gzip_deflate(&gz[..11]), Err(LinuxError::BadGzip));
        for n in 0..gz.len() {
            let _ = gzip_deflate(&gz[..n]);
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn gzip_round_trips() {
        extern crate std;
        use std::io::Read;
        let data: std::vec::Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let gz = compress(&data).unwrap();
        assert!(is_gzip(&gz));
        assert!(gz.len() < data.len() / 10);
        let mut back = std::vec::Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let (_, isize) = gzip_deflate(&gz).unwrap();
        assert_eq!(isize as usize, data.len());
    }
}
