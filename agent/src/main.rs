//! `safeslotctl`: see the crate docs (agent/README.md).

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use safeslot_shared::OpError;
use safeslotctl::app::{self, Answer};
use safeslotctl::cli::Cli;
use safeslotctl::Error;

/// sysexits codes (see `EXIT_CODES` in `cli.rs`).
mod code {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    pub const NOINPUT: u8 = 66;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const IOERR: u8 = 74;
    pub const TEMPFAIL: u8 = 75;
    pub const PROTOCOL: u8 = 76;
    pub const NOPERM: u8 = 77;
    pub const CONFIG: u8 = 78;
}

/// The one place typed errors become exit codes.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Usage(_) => code::USAGE,
        Error::Blank | Error::NoValidRecord | Error::Verify { .. } | Error::BadData(_) => code::DATAERR,
        Error::NoInput { .. } => code::NOINPUT,
        Error::Unavailable(_) => code::UNAVAILABLE,
        Error::Op(op) => match op {
            OpError::NoSuchSlot | OpError::BadTries => code::USAGE,
            _ => code::UNAVAILABLE,
        },
        Error::Io { .. } | Error::Flash(_) | Error::WriteFailed => code::IOERR,
        Error::Busy { .. } | Error::Conflict => code::TEMPFAIL,
        Error::Disagree(_) => code::PROTOCOL,
        Error::Permission { .. } => code::NOPERM,
        Error::Config(_) => code::CONFIG,
        _ => code::SOFTWARE,
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Messages carry the name the program was run as (`fw_setenv: ...` for the personality).
    let program = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .filter(|n| safeslotctl::fw_env::Tool::from_program(n).is_some())
        .unwrap_or("safeslotctl")
        .to_owned();
    let cli = match Cli::try_parse_from(safeslotctl::fw_env::personality_argv(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => code::OK,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => code::USAGE,
                _ => code::USAGE,
            });
        }
    };
    match app::run(&cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            if stdout.write_all(out.stdout.as_bytes()).and_then(|()| stdout.flush()).is_err() {
                return ExitCode::from(code::IOERR);
            }
            ExitCode::from(match out.answer {
                Answer::Yes => code::OK,
                // AOSP's bootctl answers "no" with EX_SOFTWARE (system/extras
                // bootctl/bootctl.cpp), and scripts written for it test for that.
                Answer::No => code::SOFTWARE,
            })
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safeslot_shared::Reason;

    #[test]
    fn typed_errors_map_to_sysexits() {
        assert_eq!(exit_code(&Error::Blank), 65);
        assert_eq!(exit_code(&Error::NoValidRecord), 65);
        assert_eq!(exit_code(&Error::Verify { target: "a".into(), reason: Reason::BadSignature }), 65);
        assert_eq!(exit_code(&Error::Conflict), 75);
        assert_eq!(exit_code(&Error::Disagree(String::new())), 76);
        assert_eq!(exit_code(&Error::Busy { path: "/x".into(), waited_ms: 1 }), 75);
        assert_eq!(exit_code(&Error::Op(OpError::NothingBooted)), 69);
        assert_eq!(exit_code(&Error::Op(OpError::NoSuchSlot)), 64);
        assert_eq!(exit_code(&Error::Config("x".into())), 78);
        assert_eq!(exit_code(&Error::from_io("/x", std::io::ErrorKind::NotFound.into())), 66);
        assert_eq!(exit_code(&Error::from_io("/x", std::io::ErrorKind::PermissionDenied.into())), 77);
        assert_eq!(exit_code(&Error::from_io("/x", std::io::ErrorKind::Other.into())), 74);
        let conflict: Error = safeslot_shared::Error::<safeslotctl::storage::StorageError>::Conflict.into();
        assert_eq!(exit_code(&conflict), 75);
    }
}
