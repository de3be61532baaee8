//! `safeslotctl verify`: trusted keys and image files for `safeslot_shared::verify`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use embedded_storage::nor_flash::{ErrorType, ReadNorFlash};
use safeslot_shared::header::{SlotHeader, HEADER_LEN, MAX_HEADER_LEN};
use safeslot_shared::verify::SlotRegion;
use safeslot_shared::Reason;

use crate::error::Error;
use crate::storage::StorageError;

/// Loads an ed25519 public key with the workspace's one key-file loader
/// ([`safeslot_layout::keys::load_public_key`]: PEM or 32 raw bytes).
pub fn load_key(path: &Path) -> Result<[u8; 32], Error> {
    safeslot_layout::keys::load_public_key(path).map_err(|e| match e {
        safeslot_layout::keys::KeyFileError::Read { path, source } => Error::from_io(path, source),
        other => Error::BadData(other.to_string()),
    })
}

/// Loads every key in `paths`; at least one is required.
pub fn load_keys(paths: &[PathBuf]) -> Result<Vec<[u8; 32]>, Error> {
    if paths.is_empty() {
        return Err(Error::Config("no trusted keys: add `[keys] public = [...]` to the config".into()));
    }
    paths.iter().map(|p| load_key(p)).collect()
}

/// An image file (header followed by the image), read like a slot.
#[derive(Debug)]
pub struct ImageFile {
    file: File,
    len: u32,
}

impl ImageFile {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<ImageFile, Error> {
        let file = File::open(path).map_err(|e| Error::from_io(path, e))?;
        let len = file.metadata().map_err(|e| Error::from_io(path, e))?.len();
        let len = u32::try_from(len).map_err(|_| Error::BadData(format!("{}: larger than 4 GiB", path.display())))?;
        Ok(ImageFile { file, len })
    }

    /// The file's slot header with its protected TLVs, decoded (not verified).
    pub fn header(&mut self) -> Result<SlotHeader, Reason> {
        let mut hb = [0xFFu8; MAX_HEADER_LEN];
        let n = (self.len as usize).min(MAX_HEADER_LEN);
        if n < HEADER_LEN {
            return Err(Reason::NoImage);
        }
        self.read(0, &mut hb[..n]).map_err(|_| Reason::NoImage)?;
        SlotHeader::decode(&hb).map_err(|_| Reason::BadHeader)
    }

    /// The whole file as a slot, with the header area size its header declares and no
    /// load address check: for a config that does not say where the flash is mapped.
    pub fn region(&mut self) -> Result<SlotRegion, Reason> {
        let h = self.header()?;
        Ok(SlotRegion { offset: 0, size: self.len, header_size: u32::from(h.header_size), load_addr: None })
    }
}

impl ErrorType for ImageFile {
    type Error = StorageError;
}

impl ReadNorFlash for ImageFile {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), StorageError> {
        crate::storage::check_bounds(offset, bytes.len(), u64::from(self.len))?;
        self.file.read_exact_at(bytes, u64::from(offset)).map_err(|e| StorageError::io("read", &e))
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}
