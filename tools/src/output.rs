//! Writing output files: keys never overwritten by accident, private keys
//! created with mode 0600, and errors that tell "cannot create" from "cannot write".

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::Error;

/// Who may read a file we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Secret material: owner read/write only (0600 on Unix), even when
    /// overwriting an existing file.
    Secret,
    /// Anything else: the usual permissions (0666 less the umask).
    Public,
}

/// Writes `bytes` to `path`. With `overwrite` false an existing file is an
/// [`Error::Exists`]; the check and the creation are one atomic step
/// (`O_CREAT | O_EXCL`).
///
/// # Errors
///
/// [`Error::Exists`], [`Error::Create`] (open failed) or [`Error::Write`].
pub fn write_file(path: &Path, bytes: &[u8], mode: Mode, overwrite: bool) -> Result<(), Error> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    if mode == Mode::Secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Exists { path: path.to_path_buf() },
        _ => Error::Create { path: path.to_path_buf(), source },
    })?;
    let werr = |source| Error::Write { path: path.to_path_buf(), source };
    // An existing file keeps its mode when truncated: tighten it before writing the secret.
    #[cfg(unix)]
    if mode == Mode::Secret {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(werr)?;
    }
    f.write_all(bytes).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_overwrite_and_sets_secret_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        write_file(&p, b"one", Mode::Public, false).unwrap();
        assert!(matches!(write_file(&p, b"two", Mode::Secret, false), Err(Error::Exists { .. })));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_file(&p, b"two", Mode::Secret, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let missing = dir.path().join("no/such/dir/x");
        assert!(matches!(write_file(&missing, b"x", Mode::Public, false), Err(Error::Create { .. })));
    }
}
