//! A minimal QMP (QEMU Machine Protocol) client: enough to read guest RAM while the
//! guest runs, as a debug probe does on a real board, and the VM's run state (a VM that
//! its watchdog stopped is in state `watchdog`).
//!
//! The mailbox mode of the virtual rig ([`crate::mailbox_rig`]) starts QEMU with
//! `-qmp unix:<socket>,server=on,wait=off` and polls the hand-off area with `pmemsave`
//! (raw bytes to a file: nothing to parse). Every read is bounded by a socket timeout.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limit for one QMP answer.
const ANSWER: Duration = Duration::from_secs(2);
/// Lines read while waiting for one answer (events may come first).
const MAX_LINES: usize = 32;

/// A QMP session on a unix socket.
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    scratch: PathBuf,
}

impl Qmp {
    /// Connects (fails at once when QEMU has not created the socket yet), reads the
    /// greeting and leaves capability-negotiation mode. `scratch` is the file `pmemsave`
    /// writes to.
    ///
    /// # Errors
    /// No socket, no or a bad answer.
    pub fn connect(socket: &Path, scratch: PathBuf) -> io::Result<Qmp> {
        let writer = UnixStream::connect(socket)?;
        writer.set_read_timeout(Some(ANSWER))?;
        writer.set_write_timeout(Some(ANSWER))?;
        let mut q = Qmp { reader: BufReader::new(writer.try_clone()?), writer, scratch };
        let mut greeting = String::new();
        q.reader.read_line(&mut greeting)?;
        if !greeting.contains("\"QMP\"") {
            return Err(io::Error::other(format!("not a QMP greeting: {greeting:?}")));
        }
        q.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(q)
    }

    /// The VM's run state (`query-status`): `running`, `paused`, `watchdog` (stopped by a
    /// watchdog under `-action watchdog=pause`), ...
    ///
    /// # Errors
    /// QMP failed or the answer has no status.
    pub fn status(&mut self) -> io::Result<String> {
        let v = self.execute_value(r#"{"execute":"query-status"}"#)?;
        v.get("status")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("query-status answered {v}")))
    }

    /// Sends one command and waits for its `return` (skipping events).
    fn execute(&mut self, json: &str) -> io::Result<()> {
        self.execute_value(json).map(|_| ())
    }

    /// Sends one command and returns its `return` value (skipping events).
    fn execute_value(&mut self, json: &str) -> io::Result<serde_json::Value> {
        self.writer.write_all(json.as_bytes())?;
        self.writer.write_all(b"\n")?;
        for _ in 0..MAX_LINES {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "QMP closed"));
            }
            match answer(&line) {
                Answer::Return(v) => return Ok(v),
                Answer::Error(e) => return Err(io::Error::other(e)),
                Answer::Other => {}
            }
        }
        Err(io::Error::other("no QMP answer"))
    }

    /// Reads `len` bytes of guest physical memory at `addr`.
    ///
    /// # Errors
    /// QMP failed or the scratch file could not be read.
    pub fn read_memory(&mut self, addr: u64, len: usize) -> io::Result<Vec<u8>> {
        let file = serde_json::to_string(&self.scratch.display().to_string()).map_err(io::Error::other)?;
        self.execute(&format!(
            r#"{{"execute":"pmemsave","arguments":{{"val":{addr},"size":{len},"filename":{file}}}}}"#
        ))?;
        let bytes = std::fs::read(&self.scratch)?;
        if bytes.len() != len {
            return Err(io::Error::other(format!("pmemsave wrote {} of {len} bytes", bytes.len())));
        }
        Ok(bytes)
    }
}

/// What one QMP line is.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Return(serde_json::Value),
    Error(String),
    Other,
}

fn answer(line: &str) -> Answer {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { return Answer::Other };
    if let Some(r) = v.get("return") {
        Answer::Return(r.clone())
    } else if let Some(e) = v.get("error") {
        Answer::Error(e.to_string())
    } else {
        Answer::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_told_from_events() {
        assert_eq!(answer("{\"return\": {}}\r\n"), Answer::Return(serde_json::json!({})));
        assert_eq!(
            answer("{\"return\": {\"status\": \"watchdog\", \"running\": false}}"),
            Answer::Return(serde_json::json!({"status": "watchdog", "running": false}))
        );
        assert_eq!(answer("{\"event\": \"STOP\", \"timestamp\": {}}"), Answer::Other);
        assert!(matches!(answer("{\"error\": {\"class\": \"GenericError\"}}"), Answer::Error(_)));
        assert_eq!(answer("garbage"), Answer::Other);
    }
}
