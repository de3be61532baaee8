//! A minimal QMP (QEMU Machine Protocol) client: enough to read guest RAM while the
//! guest runs, as a debug probe does on a real board, and to see QEMU's events (a
//! `WATCHDOG` event tells a watchdog reset from any other guest reset).
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
    /// The names of the events seen so far (`WATCHDOG`, `SHUTDOWN`, ...), in order.
    events: Vec<String>,
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
        let mut q = Qmp { reader: BufReader::new(writer.try_clone()?), writer, scratch, events: Vec::new() };
        let mut greeting = String::new();
        q.reader.read_line(&mut greeting)?;
        if !greeting.contains("\"QMP\"") {
            return Err(io::Error::other(format!("not a QMP greeting: {greeting:?}")));
        }
        q.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(q)
    }

    /// Sends one command and waits for its `return` (skipping events).
    fn execute(&mut self, json: &str) -> io::Result<()> {
        self.writer.write_all(json.as_bytes())?;
        self.writer.write_all(b"\n")?;
        for _ in 0..MAX_LINES {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "QMP closed"));
            }
            match answer(&line) {
                Answer::Return => return Ok(()),
                Answer::Error(e) => return Err(io::Error::other(e)),
                Answer::Event(name) => self.events.push(name),
                Answer::Other => {}
            }
        }
        Err(io::Error::other("no QMP answer"))
    }

    /// Reads what QEMU still sent before it closed the socket (call once QEMU has exited:
    /// an event it sent right before exiting, as `WATCHDOG` before a `-no-reboot` reset),
    /// and returns every event seen in this session, in order.
    pub fn finish(mut self) -> Vec<String> {
        let mut line = String::new();
        for _ in 0..MAX_LINES {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Answer::Event(name) = answer(&line) {
                        self.events.push(name);
                    }
                }
            }
        }
        self.events
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
    Return,
    Error(String),
    Event(String),
    Other,
}

fn answer(line: &str) -> Answer {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { return Answer::Other };
    if v.get("return").is_some() {
        Answer::Return
    } else if let Some(e) = v.get("error") {
        Answer::Error(e.to_string())
    } else if let Some(name) = v.get("event").and_then(serde_json::Value::as_str) {
        Answer::Event(name.to_owned())
    } else {
        Answer::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_told_from_events() {
        assert_eq!(answer("{\"return\": {}}\r\n"), Answer::Return);
        assert_eq!(answer("{\"event\": \"STOP\", \"timestamp\": {}}"), Answer::Event("STOP".into()));
        assert_eq!(answer("{\"timestamp\": {}}"), Answer::Other);
        assert!(matches!(answer("{\"error\": {\"class\": \"GenericError\"}}"), Answer::Error(_)));
        assert_eq!(answer("garbage"), Answer::Other);
    }
}
