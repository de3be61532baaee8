//! The arm64 kernel: inflating the gzip'd `Image` into its RAM region and checking its
//! header (Documentation/arch/arm64/booting.rst).

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::bytes::le64;
use crate::gzip::gzip_deflate;
use crate::LinuxError;

/// The arm64 `Image` magic, `ARM\x64`, at [`IMAGE_MAGIC_OFFSET`].
pub const IMAGE_MAGIC: [u8; 4] = *b"ARM\x64";
/// Where the arm64 `Image` header keeps its magic.
pub const IMAGE_MAGIC_OFFSET: usize = 0x38;
/// Where the `Image` header keeps `text_offset` (u64, little-endian).
const TEXT_OFFSET_AT: usize = 0x08;
/// Where the `Image` header keeps `image_size` (u64, little-endian).
const IMAGE_SIZE_AT: usize = 0x10;

/// Inflates a gzip'd kernel `Image` into `out` (the kernel's RAM region) and checks it:
/// the inflated length must match the gzip trailer, the `ARM\x64` magic must be there, and
/// the `Image` header's `image_size` (text plus bss) must fit `out`. Returns the inflated
/// length. `state` is the inflater's ~11 KiB state, which the caller places (a static).
pub fn inflate_kernel(state: &mut DecompressorOxide, gz: &[u8], out: &mut [u8]) -> Result<usize, LinuxError> {
    let (deflate, isize) = gzip_deflate(gz)?;
    state.init();
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _in_used, n) = decompress(state, deflate, out, 0, flags);
    match status {
        TINFLStatus::Done => {}
        TINFLStatus::HasMoreOutput => return Err(LinuxError::TooBig),
        _ => return Err(LinuxError::Inflate),
    }
    if n as u32 != isize {
        return Err(LinuxError::Inflate);
    }
    let kernel = out.get(..n).ok_or(LinuxError::Inflate)?;
    check_image(kernel, out.len())?;
    Ok(n)
}

/// Checks an inflated `Image` header: the magic, `text_offset` 0 (the layout's kernel
/// address is where the image runs) and an `image_size` that fits `region` bytes.
pub fn check_image(kernel: &[u8], region: usize) -> Result<(), LinuxError> {
    let magic_end = IMAGE_MAGIC_OFFSET.saturating_add(IMAGE_MAGIC.len());
    if kernel.get(IMAGE_MAGIC_OFFSET..magic_end) != Some(&IMAGE_MAGIC[..]) {
        return Err(LinuxError::NotAnImage);
    }
    let text_offset = le64(kernel, TEXT_OFFSET_AT).ok_or(LinuxError::NotAnImage)?;
    let image_size = le64(kernel, IMAGE_SIZE_AT).ok_or(LinuxError::NotAnImage)?;
    if text_offset != 0 || image_size > region as u64 {
        return Err(LinuxError::NotAnImage);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn fake_image(len: usize, image_size: u64) -> Vec<u8> {
        let mut k: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        k[8..16].copy_from_slice(&0u64.to_le_bytes());
        k[16..24].copy_from_slice(&image_size.to_le_bytes());
        k[0x38..0x3C].copy_from_slice(&IMAGE_MAGIC);
        k
    }

    fn gz(data: &[u8], name: bool) -> Vec<u8> {
        let mut g = vec![0x1F, 0x8B, 8, if name { 8 } else { 0 }, 0, 0, 0, 0, 0, 3];
        if name {
            g.extend_from_slice(b"Image\0");
        }
        g.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(data, 6));
        g.extend_from_slice(&[0; 4]); // CRC32, not checked (the image's SHA-256 is)
        g.extend_from_slice(&(data.len() as u32).to_le_bytes());
        g
    }

    #[test]
    fn inflates_a_gzip_kernel_and_checks_it() {
        let k = fake_image(100_000, 150_000);
        let mut st = DecompressorOxide::new();
        let mut out = vec![0u8; 200_000];
        for name in [false, true] {
            let n = inflate_kernel(&mut st, &gz(&k, name), &mut out).unwrap();
            assert_eq!(&out[..n], &k[..]);
        }
        // Region smaller than the stream, or than the Image's image_size.
        let mut small = vec![0u8; 120_000];
        assert_eq!(
            inflate_kernel(&mut st, &gz(&fake_image(130_000, 130_000), false), &mut small),
            Err(LinuxError::TooBig)
        );
        assert_eq!(inflate_kernel(&mut st, &gz(&k, false), &mut small), Err(LinuxError::NotAnImage));
        // No magic.
        let mut nm = k.clone();
        nm[0x38] = 0;
        assert_eq!(inflate_kernel(&mut st, &gz(&nm, false), &mut out), Err(LinuxError::NotAnImage));
        // A wrong ISIZE, a corrupt stream, not gzip, and every truncation.
        let mut g = gz(&k, false);
        let l = g.len();
        g[l - 1] ^= 1;
        assert_eq!(inflate_kernel(&mut st, &g, &mut out), Err(LinuxError::Inflate));
        let mut g = gz(&k, false);
        g[20] ^= 0xFF;
        assert!(inflate_kernel(&mut st, &g, &mut out).is_err());
        assert_eq!(inflate_kernel(&mut st, b"PK\x03\x04", &mut out), Err(LinuxError::BadGzip));
        let g = gz(&k, true);
        for n in (0..g.len()).step_by(997) {
            assert!(inflate_kernel(&mut st, &g[..n], &mut out).is_err());
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn inflates_what_the_host_gzip_writer_wrote() {
        let k = fake_image(50_000, 60_000);
        let mut st = DecompressorOxide::new();
        let mut out = vec![0u8; 64_000];
        let n = inflate_kernel(&mut st, &crate::gzip::compress(&k).unwrap(), &mut out).unwrap();
        assert_eq!(&out[..n], &k[..]);
    }

    #[test]
    fn a_nonzero_text_offset_is_refused() {
        let mut k = fake_image(1000, 1000);
        assert_eq!(check_image(&k, 1000), Ok(()));
        k[8] = 1;
        assert_eq!(check_image(&k, 1000), Err(LinuxError::NotAnImage));
        assert_eq!(check_image(&k[..0x20], 1000), Err(LinuxError::NotAnImage));
    }
}
