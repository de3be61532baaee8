//! The QEMU rig: launch a board image in `qemu-system-arm -M mps2-an386` with a
//! host file as its flash, bounded in time, and collect what it said.
//!
//! The machine is set up as `boards/qemu-mps2-an386` expects: the boot stage is
//! the `-kernel` ELF (re-loaded at every reset), the flash window at
//! `0x2100_0000` is the file [`QemuRun::flash_img`] (shared, so every store
//! lands in the file and survives a kill), semihosting carries the command
//! line (`-append`), the defmt log (stdout) and the exit code. `-no-reboot`
//! turns a guest reset into QEMU exit 0, so exit 0 never means success here:
//! the firmware reports how it ended with its own code ([`Exit`], safeslot-shared's one
//! table: [`QemuOutcome::exit`]).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub use safeslot_shared::protocol::exit::Exit;

use crate::qmp::Qmp;

/// QEMU binary the rig runs.
pub const QEMU: &str = "qemu-system-arm";
/// Debian package that ships [`QEMU`].
pub const QEMU_PACKAGE: &str = "qemu-system-arm";
/// QEMU machine of the rig.
pub const MACHINE: &str = "mps2-an386";
/// Size of the flash file: the 16 MiB PSRAM window it replaces.
pub const FLASH_SIZE: usize = 16 << 20;

/// Raw bytes the boot stage writes to stdout just before the hand-off
/// (`host::HANDOFF_MARKER`); see [`QemuOutcome::log_segments`].
pub const HANDOFF_MARKER: &[u8] = b"\0SAFESLOT:HANDOFF\0";

/// How often a running QEMU is polled for exit.
const POLL: Duration = Duration::from_millis(10);

/// What went wrong around QEMU (not inside the guest: that is the exit code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QemuError {
    /// A host tool is missing; the message says which package to install.
    #[error("{0}")]
    Missing(String),
    /// Starting, waiting for or killing a process failed.
    #[error("{what}: {source}")]
    Process {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A piece given to [`compose_flash`] does not fit in the image.
    #[error("piece at {offset:#x} of {len} bytes does not fit in {size} bytes")]
    PieceOutOfRange {
        /// Offset of the piece.
        offset: usize,
        /// Its length.
        len: usize,
        /// Size of the image.
        size: usize,
    },
}

/// Finds [`QEMU`] on `PATH` and checks it knows [`MACHINE`].
///
/// # Errors
/// A sentence naming the Debian package to install (or the problem).
pub fn qemu_available() -> Result<PathBuf, String> {
    let path = find_on_path(QEMU).ok_or_else(|| {
        format!(
            "{QEMU} not found on PATH: install the Debian package `{QEMU_PACKAGE}` (apt-get install -y {QEMU_PACKAGE})"
        )
    })?;
    let out = Command::new(&path)
        .args(["-M", "help"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: cannot run: {e}", path.display()))?;
    if !String::from_utf8_lossy(&out.stdout).contains(MACHINE) {
        return Err(format!(
            "{} does not know machine {MACHINE}: install a newer `{QEMU_PACKAGE}` (QEMU >= 6.2)",
            path.display()
        ));
    }
    Ok(path)
}

/// Finds `defmt-print` on `PATH` or in `~/.cargo/bin`.
///
/// # Errors
/// A sentence saying how to install it.
pub fn defmt_print_available() -> Result<PathBuf, String> {
    find_on_path("defmt-print")
        .or_else(|| {
            let p = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/defmt-print");
            p.is_file().then_some(p)
        })
        .ok_or_else(|| "defmt-print not found: cargo install defmt-print --locked".to_owned())
}

/// The first executable file called `name` in a `PATH` directory.
fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Writes a [`FLASH_SIZE`]-style image of `size` bytes to `path`: all `0xFF`
/// (erased) except the given `(offset, bytes)` pieces; later pieces win.
///
/// # Errors
/// A piece runs past `size`, or the file cannot be written.
pub fn compose_flash(path: &Path, size: usize, pieces: &[(usize, &[u8])]) -> Result<(), QemuError> {
    let mut image = vec![0xFF_u8; size];
    for &(offset, bytes) in pieces {
        let dst = offset
            .checked_add(bytes.len())
            .and_then(|end| image.get_mut(offset..end))
            .ok_or(QemuError::PieceOutOfRange { offset, len: bytes.len(), size })?;
        dst.copy_from_slice(bytes);
    }
    fs::write(path, image).map_err(|source| QemuError::File { path: path.to_owned(), source })
}

/// The virtual clock's rate under [`QemuRun::instruction_clock`]: each instruction takes
/// `2^ICOUNT_SHIFT` ns of virtual time, 32 ns (a 31.25 MHz core; the AN386's runs at
/// 25 MHz).
///
/// Without it, TCG's virtual clock follows the host's: on a host busy with other work the
/// guest runs fewer instructions per second, and a boot that takes 0.1 s on an idle host
/// can outlast the watchdog's 2 s (a rig scenario saw a watchdog reset instead of the
/// app's exit under a parallel build). With it, a boot's virtual duration is a function of
/// its instructions alone: the watchdog fires in the same place on every host, and a
/// hang still trips it (a spinning loop executes instructions; an idle CPU, `sleep=off`,
/// jumps to the next timer).
pub const ICOUNT_SHIFT: u32 = 5;

/// One bounded run of a boot-stage ELF over a flash file.
#[derive(Debug, Clone)]
pub struct QemuRun {
    /// Boot-stage ELF, loaded with `-kernel`.
    pub elf: PathBuf,
    /// Flash file (exactly [`FLASH_SIZE`] bytes), mapped shared: it keeps
    /// every store, also across a timeout kill, so the next run sees them.
    pub flash_img: PathBuf,
    /// Command line the firmware reads (`-append`), e.g. `cut=3 torn=2`.
    pub append: String,
    /// QEMU is killed when it runs longer than this.
    pub timeout: Duration,
    /// Files loaded into guest memory at reset (`-device loader,file=..,addr=..`), e.g. a
    /// rig mailbox command.
    pub loads: Vec<(PathBuf, u64)>,
    /// A QMP socket to create (`-qmp unix:..`), for [`QemuRun::run_watched`].
    pub qmp: Option<PathBuf>,
    /// Drive the machine's virtual clock by the instructions executed
    /// (`-icount shift=`[`ICOUNT_SHIFT`]`,sleep=off`) instead of the host's wall clock, so
    /// the watchdog and the timers see the same time on an idle or a loaded host (on by
    /// default; see [`ICOUNT_SHIFT`]).
    pub instruction_clock: bool,
    /// Map the flash file private (`share=off`): the guest's stores stay in this run's
    /// memory and the file is left as it was (many runs over one flash state).
    pub private_flash: bool,
}

/// What a [`QemuRun`] left behind.
#[derive(Debug, Clone)]
pub struct QemuOutcome {
    /// QEMU's exit code: the firmware's semihosting exit code, or 0 for a
    /// guest reset (`-no-reboot`); `None` when killed (see `timed_out`).
    pub exit_code: Option<i32>,
    /// Everything on stdout: defmt frames (binary) and [`HANDOFF_MARKER`]s.
    pub stdout: Vec<u8>,
    /// QEMU's own messages.
    pub stderr: String,
    /// QEMU outlived [`QemuRun::timeout`] and was killed.
    pub timed_out: bool,
    /// The machine's watchdog fired: QEMU stopped the VM in run state `watchdog` (the rig
    /// runs it with `-action watchdog=pause`) and [`QemuRun::run_watched`] saw that state
    /// over QMP and killed QEMU. Only runs with a QMP socket can tell.
    pub watchdog: bool,
}

impl QemuOutcome {
    /// The firmware's exit code, decoded; `None` when killed, for a guest reset (0) or a
    /// code no firmware uses (see [`QemuOutcome::exit_code`]).
    pub fn exit(&self) -> Option<Exit> {
        self.exit_code.and_then(Exit::from_code)
    }

    /// Splits stdout at each [`HANDOFF_MARKER`]: segment 0 is the boot
    /// stage's defmt log, segment 1 the log of the image it started, and so on.
    /// Each must be decoded with its own ELF.
    pub fn log_segments(&self) -> Vec<&[u8]> {
        let mut segments = Vec::new();
        let mut rest = self.stdout.as_slice();
        while let Some(at) = rest.windows(HANDOFF_MARKER.len()).position(|w| w == HANDOFF_MARKER) {
            let (head, tail) = rest.split_at(at);
            segments.push(head);
            rest = tail.get(HANDOFF_MARKER.len()..).unwrap_or_default();
        }
        segments.push(rest);
        segments
    }
}

impl QemuRun {
    /// A run of `elf` over `flash_img`, with an empty command line and a 30 s timeout.
    pub fn new(elf: impl Into<PathBuf>, flash_img: impl Into<PathBuf>) -> Self {
        Self {
            elf: elf.into(),
            flash_img: flash_img.into(),
            append: String::new(),
            timeout: Duration::from_secs(30),
            loads: Vec::new(),
            qmp: None,
            private_flash: false,
            instruction_clock: true,
        }
    }

    /// The QEMU command line for this run.
    pub fn command(&self, qemu: &Path) -> Command {
        let mut cmd = Command::new(qemu);
        // Semihosting gives the guest file I/O in QEMU's working directory: a fault-injected
        // stage can call it with garbage. Run in the flash file's (scratch) directory, never
        // in the caller's (the repository).
        if let Some(dir) = self.flash_img.parent().filter(|_| self.flash_img.is_absolute() && self.elf.is_absolute()) {
            cmd.current_dir(dir);
        }
        cmd.arg("-M")
            .arg(format!("{MACHINE},memory-backend=flash"))
            .arg("-object")
            .arg(format!(
                "memory-backend-file,id=flash,size={}M,mem-path={},share={}",
                FLASH_SIZE >> 20,
                // QEMU option values escape a comma by doubling it.
                self.flash_img.display().to_string().replace(',', ",,"),
                if self.private_flash { "off" } else { "on" }
            ))
            .arg("-kernel")
            .arg(&self.elf)
            .args(["-semihosting-config", "enable=on,target=native"])
            .args(["-display", "none", "-serial", "none", "-monitor", "none", "-no-reboot"])
            // A watchdog expiry stops the VM in run state `watchdog` instead of resetting
            // it: a state the rig polls over QMP ([`QemuOutcome::watchdog`]), where a reset
            // under -no-reboot would end QEMU like any other guest reset (exit 0) and the
            // QMP `WATCHDOG` event that tells them apart can be missed by a client.
            .args(["-action", "watchdog=pause"]);
        if self.instruction_clock {
            cmd.arg("-icount").arg(format!("shift={ICOUNT_SHIFT},sleep=off"));
        }
        if !self.append.is_empty() {
            cmd.arg("-append").arg(&self.append);
        }
        for (file, addr) in &self.loads {
            let file = file.display().to_string().replace(',', ",,");
            cmd.arg("-device").arg(format!("loader,file={file},addr={addr:#x},force-raw=on"));
        }
        if let Some(sock) = &self.qmp {
            cmd.arg("-qmp").arg(format!("unix:{},server=on,wait=off", sock.display().to_string().replace(',', ",,")));
        }
        cmd
    }

    /// Runs QEMU like [`QemuRun::run`], calling `watch` every poll once the QMP socket
    /// ([`QemuRun::qmp`]) answers; when `watch` returns `true`, QEMU is killed and the
    /// second value is `true`. When the VM is found stopped by its watchdog, QEMU is killed
    /// and [`QemuOutcome::watchdog`] is set. A QMP error drops the session (it is retried).
    ///
    /// # Errors
    /// QEMU is missing or cannot be started or waited for.
    pub fn run_watched(
        &self,
        mut watch: impl FnMut(&mut Qmp) -> io::Result<bool>,
    ) -> Result<(QemuOutcome, bool), QemuError> {
        let qemu = qemu_available().map_err(QemuError::Missing)?;
        let mut cmd = self.command(&qemu);
        let what = format!("{cmd:?}");
        let process = |source| QemuError::Process { what: what.clone(), source };
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(process)?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let scratch = self.flash_img.with_extension("pmem");
        let deadline = Instant::now() + self.timeout;
        let (mut session, mut stopped, mut timed_out, mut watchdog) = (None, false, false, false);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(process)? {
                break status;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                child.kill().map_err(process)?;
                break child.wait().map_err(process)?;
            }
            if session.is_none() {
                session = self.qmp.as_ref().and_then(|s| Qmp::connect(s, scratch.clone()).ok());
            }
            if let Some(q) = session.as_mut() {
                if q.status().is_ok_and(|s| s == "watchdog") {
                    watchdog = true;
                    child.kill().map_err(process)?;
                    break child.wait().map_err(process)?;
                }
                match watch(q) {
                    Ok(true) => {
                        stopped = true;
                        child.kill().map_err(process)?;
                        break child.wait().map_err(process)?;
                    }
                    Ok(false) => {}
                    Err(_) => session = None,
                }
            }
            thread::sleep(POLL);
        };
        let _ = fs::remove_file(&scratch);
        let stdout = stdout.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        let exit_code = if timed_out || stopped || watchdog { None } else { status.code() };
        Ok((QemuOutcome { exit_code, stdout, stderr, timed_out, watchdog }, stopped))
    }

    /// Runs QEMU to its end or the timeout, whichever comes first.
    ///
    /// # Errors
    /// QEMU is missing or cannot be started or waited for.
    pub fn run(&self) -> Result<QemuOutcome, QemuError> {
        let qemu = qemu_available().map_err(QemuError::Missing)?;
        run_bounded(self.command(&qemu), self.timeout)
    }
}

/// Runs `cmd` (e.g. a [`QemuRun::command`] with more options) with piped output,
/// killing it after `timeout`.
///
/// # Errors
/// The process cannot be started or waited for.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<QemuOutcome, QemuError> {
    let what = format!("{cmd:?}");
    let process = |source| QemuError::Process { what: what.clone(), source };
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(process)?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let (status, timed_out) = wait_bounded(&mut child, timeout).map_err(process)?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    Ok(QemuOutcome {
        exit_code: if timed_out { None } else { status.code() },
        stdout,
        stderr,
        timed_out,
        watchdog: false,
    })
}

/// Waits for `child` until `timeout`, then kills it; returns its status and
/// whether it was killed.
fn wait_bounded(child: &mut Child, timeout: Duration) -> io::Result<(ExitStatus, bool)> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, false));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            return Ok((child.wait()?, true));
        }
        thread::sleep(POLL);
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// Decodes a defmt log (one of [`QemuOutcome::log_segments`]) with the ELF
/// that wrote it, through `defmt-print --json`; returns the messages, one per line.
///
/// # Errors
/// defmt-print is missing or fails.
pub fn decode_defmt(elf: &Path, log: &[u8]) -> Result<String, QemuError> {
    let tool = defmt_print_available().map_err(QemuError::Missing)?;
    let what = format!("{} --json -e {}", tool.display(), elf.display());
    let process = |source| QemuError::Process { what: what.clone(), source };
    let mut child = Command::new(&tool)
        .arg("--json")
        .arg("-e")
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(process)?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(log).map_err(process)?;
    }
    let (status, timed_out) = wait_bounded(&mut child, Duration::from_secs(30)).map_err(process)?;
    let json = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    if timed_out || !status.success() {
        let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        return Err(process(io::Error::other(format!("{status}: {err}"))));
    }
    Ok(messages_from_json(&json))
}

/// The `data` (formatted message) of each frame in defmt-print's JSON lines; the first
/// line (`{"schema_version":1}`) and anything that is not a frame are skipped.
pub fn messages_from_json(json: &str) -> String {
    let mut out = String::new();
    for line in json.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let Some(data) = v.get("data").and_then(serde_json::Value::as_str) {
            out.push_str(data);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_frames_become_message_lines() {
        let json = concat!(
            "{\"schema_version\":1}\n",
            "{\"data\":\"safeslot: stack peak=8908\",\"host_timestamp\":1,\"level\":null,\"location\":null}\n",
            "not json\n",
            "{\"data\":\"app: confirmed=true\",\"level\":\"INFO\"}\n"
        );
        assert_eq!(messages_from_json(json), "safeslot: stack peak=8908\napp: confirmed=true\n");
    }

    #[test]
    fn compose_places_pieces_over_erased_bytes() {
        let dir = std::env::temp_dir().join(format!("safeslot-compose-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flash.img");
        compose_flash(&path, 64, &[(4, &[1, 2]), (62, &[9, 9])]).unwrap();
        let image = fs::read(&path).unwrap();
        assert_eq!(image.len(), 64);
        assert_eq!(&image[..8], &[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 0xFF, 0xFF]);
        assert_eq!(&image[62..], &[9, 9]);
        assert!(matches!(
            compose_flash(&path, 64, &[(63, &[1, 2])]),
            Err(QemuError::PieceOutOfRange { offset: 63, len: 2, size: 64 })
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn log_segments_split_at_marker() {
        let mut stdout = b"boot".to_vec();
        stdout.extend_from_slice(HANDOFF_MARKER);
        stdout.extend_from_slice(b"app");
        let outcome =
            QemuOutcome { exit_code: Some(0x42), stdout, stderr: String::new(), timed_out: false, watchdog: false };
        assert_eq!(outcome.log_segments(), vec![&b"boot"[..], &b"app"[..]]);
    }

    #[test]
    fn a_process_past_its_timeout_is_killed() {
        let mut cmd = Command::new("sleep");
        cmd.arg("600");
        let outcome = run_bounded(cmd, Duration::from_millis(100)).unwrap();
        assert!(outcome.timed_out);
        assert_eq!(outcome.exit_code, None);
    }

    #[test]
    fn exit_code_is_reported() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf hi; exit 82"]);
        let outcome = run_bounded(cmd, Duration::from_secs(60)).unwrap();
        assert!(!outcome.timed_out);
        assert_eq!(outcome.exit_code, Some(82));
        assert_eq!(outcome.exit(), Some(Exit::Recovery), "82 is 0x52");
        assert_eq!(outcome.stdout, b"hi");
    }
}
