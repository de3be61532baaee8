//! Serialising invocations: an advisory `flock` on the record's device itself, with a
//! bounded wait.
//!
//! Readers take a shared lock, writers an exclusive one, on the open file description of
//! the device they read and write through. `flock` locks the inode, so every path to
//! the same file or device node (a symlink, another spelling, a bind mount) contends for
//! the same lock, and nothing is created: a reader needs only read access. On Linux
//! `flock` works on any open file, regular files and block and character (MTD) device
//! nodes alike, read-only or not; where a file system refuses it, `--lock FILE` names a
//! lock file to use instead ([`acquire`]). The lock covers the whole read-modify-write;
//! the journal's `append_expecting` additionally refuses an append when the journal
//! moved since it was read.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::Error;

/// How often a blocked invocation retries.
const POLL: Duration = Duration::from_millis(20);

/// Held locks; released on drop.
#[derive(Debug, Default)]
pub struct LockGuard {
    locks: Vec<Flock<File>>,
}

impl LockGuard {
    /// No lock yet.
    pub fn new() -> LockGuard {
        LockGuard::default()
    }

    /// Adds the locks of `other` (released with these).
    pub fn join(&mut self, other: LockGuard) {
        self.locks.extend(other.locks);
    }
}

/// A bounded wait: started at `start`, giving up after `timeout`.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    start: Instant,
    timeout: Duration,
}

impl Wait {
    /// A wait of at most `timeout` from now.
    pub fn new(timeout: Duration) -> Wait {
        Wait { start: Instant::now(), timeout }
    }
}

/// Takes the lock on the lock file `path`, waiting at most `timeout`. The file is opened
/// read-only if it exists (a lock needs no write access) and created otherwise.
pub fn acquire(path: &Path, exclusive: bool, timeout: Duration) -> Result<LockGuard, Error> {
    acquire_until(path, exclusive, Wait::new(timeout))
}

/// [`acquire`] within `wait`.
pub fn acquire_until(path: &Path, exclusive: bool, wait: Wait) -> Result<LockGuard, Error> {
    let file = match OpenOptions::new().read(true).open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
        }
        other => other,
    }
    .map_err(|e| Error::from_io(path, e))?;
    match lock_open(&file, path, exclusive, wait)? {
        Some(guard) => Ok(guard),
        None => Err(Error::from_io(path, std::io::Error::other("the file system does not support flock"))),
    }
}

/// Locks `file`, opened from `path` (the device), on its open file description (shared by
/// `file` and its duplicates: the lock lasts until the guard drops), within `wait`.
/// `Ok(None)`: the file system does not support `flock` on it.
pub fn lock_open(file: &File, path: &Path, exclusive: bool, wait: Wait) -> Result<Option<LockGuard>, Error> {
    let arg = if exclusive { FlockArg::LockExclusiveNonblock } else { FlockArg::LockSharedNonblock };
    let mut dup = file.try_clone().map_err(|e| Error::from_io(path, e))?;
    loop {
        match Flock::lock(dup, arg) {
            Ok(lock) => return Ok(Some(LockGuard { locks: vec![lock] })),
            Err((f, Errno::EWOULDBLOCK)) => {
                let waited = wait.start.elapsed();
                if waited >= wait.timeout {
                    return Err(Error::Busy { path: path.to_path_buf(), waited_ms: waited.as_millis() as u64 });
                }
                sleep(POLL.min(wait.timeout.saturating_sub(waited)));
                dup = f;
            }
            Err((f, Errno::EINTR)) => dup = f,
            Err((_, Errno::ENOLCK | Errno::EOPNOTSUPP | Errno::ENOSYS | Errno::EINVAL)) => return Ok(None),
            Err((_, e)) => return Err(Error::from_io(path, e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_times_out_and_a_shared_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        let held = acquire(&p, true, Duration::ZERO).unwrap();
        let e = acquire(&p, false, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, Error::Busy { .. }));
        drop(held);
        let _r1 = acquire(&p, false, Duration::ZERO).unwrap();
        let _r2 = acquire(&p, false, Duration::ZERO).unwrap();
        assert!(matches!(acquire(&p, true, Duration::ZERO), Err(Error::Busy { .. })));
    }

    /// The lock is the inode's: a second open of the same file (here through a symlink)
    /// contends with it, and a read-only open is enough for either kind.
    #[test]
    fn every_open_of_the_same_file_contends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dev");
        std::fs::write(&p, [0xFF; 16]).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let ro = File::open(&p).unwrap();
        let held = lock_open(&ro, &p, true, Wait::new(Duration::ZERO)).unwrap().unwrap();
        let other = File::open(&link).unwrap();
        let e = lock_open(&other, &link, false, Wait::new(Duration::from_millis(30))).unwrap_err();
        assert!(matches!(e, Error::Busy { .. }), "{e:?}");
        drop(held);
        let _shared = lock_open(&other, &link, false, Wait::new(Duration::ZERO)).unwrap().unwrap();
        assert!(lock_open(&ro, &p, false, Wait::new(Duration::ZERO)).unwrap().is_some());
    }

    /// `flock` works on character device nodes (as an MTD device is), opened read-only.
    /// (`/dev/null` is the machine's: another process may hold it for a moment, so the
    /// acquisitions wait.)
    #[test]
    fn a_character_device_can_be_locked() {
        let dev = Path::new("/dev/null");
        let a = File::open(dev).unwrap();
        let b = File::open(dev).unwrap();
        let patient = || Wait::new(Duration::from_secs(10));
        let held = lock_open(&a, dev, true, patient()).unwrap().expect("flock on /dev/null");
        assert!(matches!(lock_open(&b, dev, false, Wait::new(Duration::ZERO)), Err(Error::Busy { .. })));
        drop(held);
        assert!(lock_open(&b, dev, true, patient()).unwrap().is_some());
    }
}
