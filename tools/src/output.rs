//! Writing output files: keys never overwritten by accident, private keys
//! never written through a symbolic link nor readable by others for an instant,
//! and errors that tell "cannot create" from "cannot write".
//!
//! A secret ([`Mode::Secret`]) goes to a new temporary file beside the destination,
//! created exclusively (`O_EXCL`) with mode 0600, written and fsynced, then renamed
//! onto the destination (and the directory fsynced). So the destination holds the
//! old file or the whole new one, never a torn key; a process that opened the old
//! file keeps reading the old file, not the new key; and since rename(2) replaces a
//! name and never follows it, no race can redirect the key through a link. A
//! symbolic link (or anything but a regular file) at the destination is refused
//! outright rather than replaced: the user meant the file it points to, and
//! silently breaking the link would leave that file stale.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use crate::Error;

/// Who may read a file we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Secret material: owner read/write only (0600 on Unix) from its creation,
    /// replaced atomically and never written through a symbolic link (see the
    /// module docs).
    Secret,
    /// Anything else: the usual permissions (0666 less the umask), written in
    /// place, through a link or into a pipe as a user naming it expects.
    Public,
}

/// Writes `bytes` to `path`. With `overwrite` false an existing file is an
/// [`Error::Exists`], checked in the same atomic step that creates the file
/// (`O_CREAT | O_EXCL`, or for a secret a rename that never replaces).
///
/// # Errors
///
/// [`Error::Exists`], [`Error::Create`] (the file cannot be created, or for a
/// secret the destination is a symbolic link or not a regular file) or
/// [`Error::Write`].
pub fn write_file(path: &Path, bytes: &[u8], mode: Mode, overwrite: bool) -> Result<(), Error> {
    match mode {
        Mode::Secret => write_secret(path, bytes, overwrite),
        Mode::Public => write_in_place(path, bytes, overwrite),
    }
}

fn write_in_place(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), Error> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => Error::Exists { path: path.to_path_buf() },
        _ => Error::Create { path: path.to_path_buf(), source },
    })?;
    let werr = |source| Error::Write { path: path.to_path_buf(), source };
    f.write_all(bytes).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    Ok(())
}

/// An [`Error::Create`] for a destination a secret is never written to.
fn refused(path: &Path, why: &str) -> Error {
    Error::Create { path: path.to_path_buf(), source: io::Error::new(io::ErrorKind::InvalidInput, why) }
}

fn write_secret(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), Error> {
    // lstat: look at the name itself, never at what a link points to. This check
    // only gives the clear message; the safety comes from the rename below.
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(refused(
                path,
                "it is a symbolic link, and a private key is never written through one: \
                 name the file it points to, or remove the link",
            ))
        }
        Ok(_) if !overwrite => return Err(Error::Exists { path: path.to_path_buf() }),
        Ok(m) if !m.is_file() => return Err(refused(path, "not a regular file")),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(Error::Create { path: path.to_path_buf(), source }),
    }
    let dir = parent_dir(path);
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile's default too; said here because it is the point.
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    // O_CREAT | O_EXCL with that mode: never a moment with wider permissions. The
    // temporary file is removed on any error below (NamedTempFile's drop).
    let mut tmp = builder.tempfile_in(dir).map_err(|source| Error::Create { path: path.to_path_buf(), source })?;
    let werr = |source| Error::Write { path: path.to_path_buf(), source };
    tmp.write_all(bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    let persisted = if overwrite { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    persisted.map_err(|e| match e.error.kind() {
        io::ErrorKind::AlreadyExists => Error::Exists { path: path.to_path_buf() },
        _ => Error::Write { path: path.to_path_buf(), source: e.error },
    })?;
    sync_dir(dir).map_err(werr)
}

/// The directory `path` is in: the temporary file must be on the same file system
/// for the rename. A bare file name's parent is empty: the current directory.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable: fsync the directory (Unix only; elsewhere a
/// directory cannot be opened as a file).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

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
        assert!(matches!(write_file(&missing, b"x", Mode::Secret, false), Err(Error::Create { .. })));
        assert_eq!(entries(dir.path()), ["k.pem"], "no temporary file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_is_never_written_through_a_link_or_onto_a_non_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for overwrite in [false, true] {
            let e = write_file(&link, b"secret", Mode::Secret, overwrite).unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let e = write_file(&sub, b"secret", Mode::Secret, true).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert_eq!(entries(dir.path()), ["link.pem", "sub", "target"], "no temporary file left behind");
        assert!(entries(&sub).is_empty());
    }

    #[test]
    fn the_temporary_file_goes_beside_the_destination() {
        assert_eq!(parent_dir(Path::new("k.pem")), Path::new("."));
        assert_eq!(parent_dir(Path::new("keys/k.pem")), Path::new("keys"));
        assert_eq!(parent_dir(Path::new("/k.pem")), Path::new("/"));
    }
}
