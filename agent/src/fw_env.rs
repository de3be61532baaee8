//! The syntax of U-Boot's `fw_printenv` / `fw_setenv` (as libubootenv's tools take it
//! too), for the personality `safeslotctl` takes when it is run through a symlink of one
//! of those names, or as `safeslotctl fw-printenv` / `fw-setenv`. What the variables mean
//! is [`crate::mender`]'s business; this module only parses arguments and scripts and
//! prints `NAME=value` lines.
//!
//! Accepted: `fw_printenv [-n] [NAME...]` (`-n`: the value alone, one NAME) and
//! `fw_setenv NAME VALUE` or `fw_setenv -s FILE` (`-s -`: standard input), where each
//! script line is `NAME=VALUE` or `NAME VALUE`, and blank lines and lines starting with
//! `#` are skipped. U-Boot deletes a variable given without a value; safeslot keeps no
//! free-form environment, so that is refused, as is anything else it cannot map.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// `fw_printenv` or `fw_setenv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `fw_printenv`.
    Printenv,
    /// `fw_setenv`.
    Setenv,
}

impl Tool {
    /// The tool a program name (`argv[0]`'s file name) stands for.
    pub fn from_program(name: &str) -> Option<Tool> {
        match name {
            "fw_printenv" => Some(Tool::Printenv),
            "fw_setenv" => Some(Tool::Setenv),
            _ => None,
        }
    }

    /// safeslotctl's subcommand for the tool.
    pub const fn subcommand(self) -> &'static str {
        match self {
            Tool::Printenv => "fw-printenv",
            Tool::Setenv => "fw-setenv",
        }
    }

    /// The tool's usage, for `-h`.
    pub const fn usage(self) -> &'static str {
        match self {
            Tool::Printenv => PRINTENV_USAGE,
            Tool::Setenv => SETENV_USAGE,
        }
    }
}

const PRINTENV_USAGE: &str = "\
usage: fw_printenv [-n] [NAME...]
Prints Mender's boot variables as safeslot's boot-control record has them, one
NAME=value line each (all of them without NAME; -n: the value of one NAME alone).
The config is SAFESLOT_CONFIG, or /etc/safeslot.toml. See agent/README.md, \"Mender\".
";

const SETENV_USAGE: &str = "\
usage: fw_setenv NAME VALUE
       fw_setenv -s FILE      (-s -: standard input)
Writes Mender's boot variables onto safeslot's boot-control record, as one journal
append. Script lines are NAME=VALUE or NAME VALUE; blank lines and lines starting with
# are skipped. Variables cannot be deleted. The config is SAFESLOT_CONFIG, or
/etc/safeslot.toml. See agent/README.md, \"Mender\".
";

/// The command line with the personality applied: run as `fw_printenv` or `fw_setenv`
/// (through a symlink of that name), `PROGRAM ARGS...` becomes
/// `safeslotctl fw-printenv ARGS...`; any other program name leaves `args` as they are.
pub fn personality_argv(args: Vec<OsString>) -> Vec<OsString> {
    let tool =
        args.first().and_then(|a| Path::new(a).file_name()).and_then(|n| n.to_str()).and_then(Tool::from_program);
    match tool {
        Some(t) => [OsString::from("safeslotctl"), OsString::from(t.subcommand())]
            .into_iter()
            .chain(args.into_iter().skip(1))
            .collect(),
        None => args,
    }
}

/// What a command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `-h` / `--help`: print the usage.
    Help,
    /// `fw_printenv`: the variables to print (all if empty), and whether to print the
    /// value alone (`-n`).
    Print {
        /// The variable names.
        names: Vec<String>,
        /// `-n`.
        value_only: bool,
    },
    /// `fw_setenv`: the variables to write, in order.
    Set(Vec<Setting>),
}

/// One `NAME VALUE` to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The variable name.
    pub name: String,
    /// The value, as written.
    pub value: String,
    /// Where it came from (`line 2 of the script`), or empty for the command line.
    pub at: String,
}

/// A command line split into options and operands.
#[derive(Debug, Default)]
struct Opts {
    /// `-h` / `--help`.
    help: bool,
    /// `-n` / `--no-header` (`fw_printenv`).
    value_only: bool,
    /// `-s FILE` / `--script FILE` (`fw_setenv`; the last one counts).
    script: Option<String>,
    /// The operands, in order.
    operands: Vec<String>,
}

/// Splits `args` getopt-style: options may follow operands, `--` ends the options,
/// short options may be grouped (`-sFILE`, `-s FILE`).
fn getopt(tool: Tool, args: &[String]) -> Result<Opts, Error> {
    let usage = |m: String| Error::Usage(format!("{m}\n{}", tool.usage().trim_end()));
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--" => o.operands.extend(it.by_ref().cloned()),
            "--help" => o.help = true,
            "--no-header" if tool == Tool::Printenv => o.value_only = true,
            "--script" if tool == Tool::Setenv => {
                o.script = Some(it.next().cloned().ok_or_else(|| usage("option --script needs a FILE".into()))?);
            }
            s if s.starts_with("--script=") && tool == Tool::Setenv => {
                o.script = Some(s.trim_start_matches("--script=").to_owned());
            }
            s if s.starts_with("--") => return Err(usage(format!("unknown option {s}"))),
            s if s.len() > 1 && s.starts_with('-') => {
                let mut chars = s.chars().skip(1);
                while let Some(c) = chars.next() {
                    match (c, tool) {
                        ('h', _) => o.help = true,
                        ('n', Tool::Printenv) => o.value_only = true,
                        ('s', Tool::Setenv) => {
                            let rest: String = chars.by_ref().collect();
                            o.script = Some(if rest.is_empty() {
                                it.next()
                                    .cloned()
                                    .ok_or_else(|| usage("option -s needs a FILE (- for stdin)".into()))?
                            } else {
                                rest
                            });
                        }
                        ('c', _) => {
                            return Err(usage(
                                "option -c (an fw_env.config) does not apply: safeslot's config is SAFESLOT_CONFIG, \
                                 or /etc/safeslot.toml"
                                    .into(),
                            ))
                        }
                        _ => return Err(usage(format!("unknown option -{c}"))),
                    }
                }
            }
            _ => o.operands.push(a.clone()),
        }
    }
    Ok(o)
}

/// Parses `fw_printenv`'s arguments.
pub fn parse_printenv(args: &[String]) -> Result<Request, Error> {
    let o = getopt(Tool::Printenv, args)?;
    if o.help {
        return Ok(Request::Help);
    }
    if o.value_only && o.operands.len() != 1 {
        return Err(Error::Usage("-n needs exactly one NAME".into()));
    }
    Ok(Request::Print { names: o.operands, value_only: o.value_only })
}

/// Parses `fw_setenv`'s arguments; `-s -` reads the script from `stdin`.
pub fn parse_setenv(args: &[String], stdin: &mut dyn Read) -> Result<Request, Error> {
    let Opts { help, script, operands, .. } = getopt(Tool::Setenv, args)?;
    if help {
        return Ok(Request::Help);
    }
    if let Some(file) = script {
        if !operands.is_empty() {
            return Err(Error::Usage(format!(
                "-s {file}: NAME VALUE arguments cannot be given with a script ({})",
                operands.join(" ")
            )));
        }
        let mut bytes = Vec::new();
        if file == "-" {
            stdin.read_to_end(&mut bytes).map_err(|e| Error::from_io("standard input", e))?;
        } else {
            bytes = std::fs::read(&file).map_err(|e| Error::from_io(&file, e))?;
        }
        let text =
            String::from_utf8(bytes).map_err(|_| Error::Usage(format!("-s {file}: the script is not UTF-8 text")))?;
        return parse_script(&text).map(Request::Set);
    }
    match operands.as_slice() {
        [] => Err(Error::Usage(format!("variable name missing\n{}", SETENV_USAGE.trim_end()))),
        [name] => Err(no_value(name, "")),
        [name, value] => {
            Ok(Request::Set(vec![Setting { name: name.clone(), value: value.clone(), at: String::new() }]))
        }
        [name, ..] => Err(Error::Usage(format!(
            "{name} ...: one NAME VALUE per call (safeslot's variables hold one word); use -s for several"
        ))),
    }
}

fn no_value(name: &str, at: &str) -> Error {
    let at = if at.is_empty() { String::new() } else { format!("{at}: ") };
    Error::Usage(format!(
        "{at}{name} has no value: U-Boot would delete it, but safeslot keeps no free-form environment and \
         deletes nothing"
    ))
}

/// Parses an `fw_setenv -s` script: one `NAME=VALUE` or `NAME VALUE` per line (the value
/// starts after the `=` or the blanks, leading and trailing blanks dropped); blank lines
/// and lines starting with `#` are skipped. A line with a name but no value is refused.
pub fn parse_script(text: &str) -> Result<Vec<Setting>, Error> {
    let blank = [' ', '\t'];
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let at = format!("line {} of the script", i.saturating_add(1));
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let body = line.trim_start_matches(blank);
        if body.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(end) = body.find([' ', '\t', '=']) else {
            return Err(no_value(body, &at));
        };
        let (name, rest) = body.split_at(end);
        let value = rest.get(1..).unwrap_or_default().trim_matches(blank);
        if name.is_empty() {
            return Err(Error::Usage(format!("{at}: {line:?} has no variable name")));
        }
        if value.is_empty() {
            return Err(no_value(name, &at));
        }
        out.push(Setting { name: name.to_owned(), value: value.to_owned(), at });
    }
    if out.is_empty() {
        return Err(Error::Usage("-s: the script sets no variable".into()));
    }
    Ok(out)
}

/// `fw_printenv`'s output: `NAME=value` lines, or the values alone with `-n`.
pub fn print_lines<'a>(vars: impl IntoIterator<Item = (&'a str, String)>, value_only: bool) -> String {
    vars.into_iter()
        .map(|(name, value)| if value_only { format!("{value}\n") } else { format!("{name}={value}\n") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn set(args: &[&str], stdin: &str) -> Result<Vec<(String, String)>, Error> {
        match parse_setenv(&strings(args), &mut stdin.as_bytes())? {
            Request::Set(v) => Ok(v.into_iter().map(|s| (s.name, s.value)).collect()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn personality_follows_the_program_name() {
        let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            personality_argv(argv(&["/usr/bin/fw_setenv", "-s", "-"])),
            argv(&["safeslotctl", "fw-setenv", "-s", "-"])
        );
        assert_eq!(personality_argv(argv(&["fw_printenv"])), argv(&["safeslotctl", "fw-printenv"]));
        assert_eq!(personality_argv(argv(&["safeslotctl", "status"])), argv(&["safeslotctl", "status"]));
        assert_eq!(personality_argv(argv(&["/bin/fw_printenvx", "a"])), argv(&["/bin/fw_printenvx", "a"]));
    }

    #[test]
    fn mender_scripts_parse_in_both_separators() {
        // The module's heredoc (`name=value`) and the 3.x client's pipe (`name value`).
        let want = vec![("mender_boot_part".to_owned(), "3".to_owned()), ("upgrade_available".into(), "1".into())];
        assert_eq!(set(&["-s", "-"], "mender_boot_part=3\nupgrade_available=1\n").unwrap(), want);
        assert_eq!(set(&["-s-"], "mender_boot_part 3\r\n# note\n\n  upgrade_available\t 1").unwrap(), want);
        assert_eq!(set(&["upgrade_available", "0"], "").unwrap(), vec![("upgrade_available".into(), "0".into())]);
        assert_eq!(set(&["--", "upgrade_available", "0"], "").unwrap().len(), 1);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for (args, stdin, why) in [
            (&["-s", "-"][..], "mender_boot_part\n", "has no value"),
            (&["-s", "-"], "mender_boot_part=\n", "has no value"),
            (&["-s", "-"], "=3\n", "no variable name"),
            (&["-s", "-"], "# nothing\n", "sets no variable"),
            (&["upgrade_available"], "", "has no value"),
            (&[], "", "variable name missing"),
            (&["a", "b", "c"], "", "one NAME VALUE per call"),
            (&["-s", "-", "a", "1"], "", "cannot be given with a script"),
            (&["-s"], "", "needs a FILE"),
            (&["-x", "a", "1"], "", "unknown option -x"),
            (&["-c", "/etc/fw_env.config", "a", "1"], "", "SAFESLOT_CONFIG"),
        ] {
            let e = set(args, stdin).unwrap_err();
            assert!(matches!(&e, Error::Usage(m) if m.contains(why)), "{args:?} {stdin:?}: {e}");
        }
        assert!(matches!(set(&["-s", "/nonexistent/script"], ""), Err(Error::NoInput { .. })));
        let e = set(&["-s", "-"], "upgrade_available=1\nbootcount\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2 of the script: bootcount has no value"), "{e}");
    }

    #[test]
    fn printenv_arguments() {
        assert_eq!(
            parse_printenv(&strings(&["-n", "upgrade_available"])).unwrap(),
            Request::Print { names: strings(&["upgrade_available"]), value_only: true }
        );
        assert_eq!(parse_printenv(&[]).unwrap(), Request::Print { names: vec![], value_only: false });
        assert_eq!(parse_printenv(&strings(&["--help"])).unwrap(), Request::Help);
        assert!(matches!(parse_printenv(&strings(&["-n"])), Err(Error::Usage(_))));
        assert!(matches!(parse_printenv(&strings(&["-s", "x"])), Err(Error::Usage(_))));
        assert_eq!(print_lines([("a", "1".to_owned()), ("b", "2".to_owned())], false), "a=1\nb=2\n");
        assert_eq!(print_lines([("a", "1".to_owned())], true), "1\n");
    }
}
