//! Serialising invocations: an advisory `flock` on a lock file, with a bounded wait.
//!
//! Readers take a shared lock, writers an exclusive one. The lock covers the whole
//! read-modify-write; the journal's `append_expecting` additionally catches a writer
//! that does not take the lock.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::Error;

/// How often a blocked invocation retries.
const POLL: Duration = Duration::from_millis(20);

/// A held lock; released on drop.
#[derive(Debug)]
pub struct LockGuard {
    _lock: Flock<File>,
}

/// Takes the lock at `path` (creating the file), waiting at most `timeout`.
pub fn acquire(path: &Path, exclusive: bool, timeout: Duration) -> Result<LockGuard, Error> {
    let arg = if exclusive { FlockArg::LockExclusiveNonblock } else { FlockArg::LockSharedNonblock };
    let start = Instant::now();
    let mut file = open(path)?;
    loop {
        match Flock::lock(file, arg) {
            Ok(lock) => return Ok(LockGuard { _lock: lock }),
            Err((f, Errno::EWOULDBLOCK)) => {
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(Error::Busy { path: path.to_path_buf(), waited_ms: waited.as_millis() as u64 });
                }
                sleep(POLL.min(timeout.saturating_sub(waited)));
                file = f;
            }
            Err((f, Errno::EINTR)) => file = f,
            Err((_, e)) => return Err(Error::from_io(path, e.into())),
        }
    }
}

fn open(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::from_io(path, e))
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
}
