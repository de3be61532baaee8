//! Mender runs unmodified on safeslot (issue #17): `fw_printenv` / `fw_setenv` symlinks to
//! safeslotctl, driven by the exact command sequence of Mender's `rootfs-image` update
//! module (mendersoftware/mender `support/modules/rootfs-image`, the module the 4.x/5.x
//! client runs; agent/MENDER.md cites it line by line), across the reboots the boot
//! stage's own policy makes (`Sandbox::reboot`).
//!
//! The module is replayed in Rust (`Module::state`): the same commands with the same
//! arguments and stdin, in the same order, with the same tests on their output, and
//! `set -e` (any failing command fails the state). Its one check that is not a command,
//! "does the mounted root match `mender_boot_part`" (`ensure_correct_root_mounted`),
//! compares with the slot the rig booted.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{output, Run, Sandbox};
use safeslot_shared::SlotId;

/// Mender's `RootfsPartA` / `RootfsPartB` as the module reads them from mender.conf,
/// reduced to their partition numbers (the trailing digits of `/dev/mmcblk0p2`, `..p3`).
const PART_A: u32 = 2;
const PART_B: u32 = 3;

struct Mender<'a> {
    rig: &'a Sandbox,
    /// Every command the module ran, as a shell would show it.
    log: Vec<String>,
}

impl<'a> Mender<'a> {
    fn new(rig: &'a Sandbox) -> Mender<'a> {
        for tool in ["fw_printenv", "fw_setenv"] {
            let link = rig.path(tool);
            if !link.exists() {
                std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_safeslotctl"), &link).unwrap();
            }
        }
        Mender { rig, log: Vec::new() }
    }

    /// Runs a symlinked tool as Mender does: no options of safeslot's; the config, the
    /// kernel command line and the hand-off block from `SAFESLOT_CONFIG`,
    /// `SAFESLOT_CMDLINE` and `SAFESLOT_HANDOFF` (the rig's files, not this host's: the
    /// command line names no slot and there is no block, so the running slot is the
    /// record's last-booted one, which `Sandbox::reboot` writes).
    fn tool(&mut self, tool: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let mut shown = format!("{tool} {}", args.join(" ")).trim_end().to_owned();
        if let Some(text) = stdin {
            shown.push_str(&format!(" <<EOF\n{text}EOF"));
        }
        self.log.push(shown);
        let mut c = Command::new(self.rig.path(tool));
        c.args(args)
            .env("SAFESLOT_CONFIG", self.rig.path("safeslot.toml"))
            .env("SAFESLOT_CMDLINE", self.rig.path("cmdline"))
            .env("SAFESLOT_HANDOFF", self.rig.path("handoff"));
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
        drop(pipe);
        output(child.wait_with_output().unwrap())
    }

    /// `"$(fw_printenv NAME)"` under `set -e`: the output without its trailing newline,
    /// or the state fails.
    fn printenv(&mut self, name: &str) -> Result<String, String> {
        let r = self.tool("fw_printenv", &[name], None);
        if r.code != 0 {
            return Err(format!("fw_printenv {name} exited {}: {}", r.code, r.stderr));
        }
        Ok(r.stdout.trim_end_matches('\n').to_owned())
    }

    fn setenv(&mut self, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
        let r = self.tool("fw_setenv", args, stdin);
        if r.code != 0 {
            return Err(format!("fw_setenv {args:?} exited {}: {}", r.code, r.stderr));
        }
        Ok(())
    }

    /// `rootfs-image STATE` with the slot the rig booted as the mounted root. `Ok` is the
    /// module's exit 0.
    fn state(&mut self, state: &str, root: SlotId) -> Result<(), String> {
        self.log.clear();
        // check_requirements (lines 155-160): check_environment_canary (lines 89-108).
        let check = self.printenv("mender_check_saveenv_canary")?;
        if check == "mender_check_saveenv_canary=1"
            && self.printenv("mender_saveenv_canary")? != "mender_saveenv_canary=1"
        {
            return Err("mender_saveenv_canary check failed".into());
        }
        // set_upgrade_vars (lines 72-87).
        let active = self.printenv("mender_boot_part")?;
        let active: u32 =
            active.trim_start_matches("mender_boot_part=").parse().map_err(|e| format!("{active}: {e}"))?;
        let (active, passive) = if active == PART_A { (PART_A, PART_B) } else { (PART_B, PART_A) };
        let passive_hex = format!("{passive:x}");
        let upgrade_available = self.printenv("upgrade_available")?;
        let upgrade_available = upgrade_available.trim_start_matches("upgrade_available=").to_owned();
        // ensure_correct_root_mounted (lines 137-153).
        let mounted = if root == SlotId::A { PART_A } else { PART_B };
        let in_flight = upgrade_available == "1" && state != "Download" && state != "ArtifactInstall";
        if mounted != active && !(in_flight && mounted == passive) {
            return Err("Mounted root does not match boot loader environment!".into());
        }
        match state {
            // Lines 194-202.
            "ArtifactInstall" => self.setenv(
                &["-s", "-"],
                Some(&format!(
                    "mender_boot_part={passive}\nmender_boot_part_hex={passive_hex}\nupgrade_available=1\nbootcount=0\n"
                )),
            ),
            // Lines 212-217.
            "ArtifactVerifyReboot" if upgrade_available != "1" => Err("upgrade_available is not 1".into()),
            // Lines 219-224.
            "ArtifactVerifyRollbackReboot" if upgrade_available == "1" => Err("upgrade_available is 1".into()),
            "ArtifactVerifyReboot" | "ArtifactVerifyRollbackReboot" => Ok(()),
            // Lines 226-236.
            "ArtifactCommit" if upgrade_available == "1" => self.setenv(&["upgrade_available", "0"], None),
            "ArtifactCommit" => Err("Upgrade failed and was reverted: refusing to commit!".into()),
            // Lines 238-249.
            "ArtifactRollback" if upgrade_available == "1" => self.setenv(
                &["-s", "-"],
                Some(&format!("mender_boot_part={passive}\nmender_boot_part_hex={passive_hex}\nupgrade_available=0\n")),
            ),
            "ArtifactRollback" => Ok(()),
            other => panic!("state {other} is not replayed here"),
        }
    }
}

/// A rig whose factory image in slot a has booted and been confirmed (at provisioning:
/// with Mender, Mender commits updates, and safeslot-mark-good.service is not enabled).
fn provisioned() -> Sandbox {
    let rig = Sandbox::new(8);
    rig.ok(&["init"]);
    assert_eq!(rig.reboot(), SlotId::A);
    rig.set_cmdline("root=/dev/mmcblk0p2 safeslot.slot=a\n");
    rig.ok(&["mark-good"]);
    rig
}

/// The rig's `Sandbox::reboot`, with the kernel command line the stage would pass.
fn boot(rig: &Sandbox) -> SlotId {
    let slot = rig.reboot();
    rig.set_cmdline(&format!("safeslot.slot={}\n", slot.letter()));
    slot
}

fn status(rig: &Sandbox) -> serde_json::Value {
    rig.ok(&["status", "--json"]).json()
}

fn printenv_all(m: &mut Mender) -> String {
    m.tool("fw_printenv", &[], None).stdout
}

const INSTALL_B: &str = "mender_boot_part=3\nmender_boot_part_hex=3\nupgrade_available=1\nbootcount=0\n";

#[test]
fn install_reboot_verify_and_commit() {
    let rig = provisioned();
    let mut m = Mender::new(&rig);
    assert_eq!(
        printenv_all(&mut m),
        "bootcount=0\nmender_boot_part=2\nmender_boot_part_hex=2\nmender_check_saveenv_canary=1\n\
         mender_saveenv_canary=1\nupgrade_available=0\n"
    );
    let seq = status(&rig)["seq"].as_u64().unwrap();

    m.state("ArtifactInstall", SlotId::A).unwrap();
    assert_eq!(
        m.log,
        [
            "fw_printenv mender_check_saveenv_canary",
            "fw_printenv mender_saveenv_canary",
            "fw_printenv mender_boot_part",
            "fw_printenv upgrade_available",
            &format!("fw_setenv -s - <<EOF\n{INSTALL_B}EOF"),
        ],
        "the module's exact commands"
    );
    let st = status(&rig);
    assert_eq!(st["seq"].as_u64(), Some(seq + 1), "four variables, one journal append");
    assert_eq!(st["primary"], "b");
    assert_eq!((st["slots"][1]["tries"].clone(), st["slots"][1]["confirmed"].clone()), (3.into(), false.into()));
    assert_eq!(st["slots"][0]["confirmed"], true, "the running slot stays confirmed");

    // ArtifactReboot: the client reboots; the stage boots b on trial.
    assert_eq!(boot(&rig), SlotId::B);
    m.state("ArtifactVerifyReboot", SlotId::B).unwrap();
    assert!(printenv_all(&mut m).contains("bootcount=1\nmender_boot_part=3\nmender_boot_part_hex=3\n"));
    m.state("ArtifactCommit", SlotId::B).unwrap();
    assert_eq!(m.log.last().map(String::as_str), Some("fw_setenv upgrade_available 0"));

    let st = status(&rig);
    assert_eq!(st["slots"][1]["confirmed"], true);
    assert_eq!((st["primary"].clone(), st["last_known_good"].clone()), ("b".into(), "b".into()));
    assert_eq!(m.printenv("upgrade_available").unwrap(), "upgrade_available=0");
    for _ in 0..4 {
        assert_eq!(boot(&rig), SlotId::B, "b is confirmed: no more trials");
    }
    // A commit from the committed slot again is what the module refuses itself.
    assert_eq!(
        m.state("ArtifactCommit", SlotId::B),
        Err("Upgrade failed and was reverted: refusing to commit!".into())
    );

    // The next update goes to a, whose old confirmation does not carry over.
    m.state("ArtifactInstall", SlotId::B).unwrap();
    let st = status(&rig);
    assert_eq!((st["primary"].clone(), st["slots"][0]["confirmed"].clone()), ("a".into(), false.into()));
    assert_eq!(m.printenv("mender_boot_part").unwrap(), "mender_boot_part=2");
}

#[test]
fn rollback_before_and_after_the_reboot() {
    // Before the reboot (ArtifactInstall_Leave failed, say): a stays running and confirmed.
    let rig = provisioned();
    let mut m = Mender::new(&rig);
    m.state("ArtifactInstall", SlotId::A).unwrap();
    m.state("ArtifactRollback", SlotId::A).unwrap();
    assert_eq!(
        m.log.last().unwrap(),
        "fw_setenv -s - <<EOF\nmender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nEOF"
    );
    assert_eq!(boot(&rig), SlotId::A, "ArtifactRollbackReboot");
    m.state("ArtifactVerifyRollbackReboot", SlotId::A).unwrap();
    let st = status(&rig);
    assert_eq!((st["primary"].clone(), st["slots"][0]["confirmed"].clone()), ("a".into(), true.into()));
    assert_eq!(st["slots"][1]["confirmed"], false);
    for _ in 0..5 {
        assert_eq!(boot(&rig), SlotId::A, "the cancelled update in b is not tried");
    }

    // After the reboot (ArtifactReboot_Leave failed): b is running on trial.
    let rig = provisioned();
    let mut m = Mender::new(&rig);
    m.state("ArtifactInstall", SlotId::A).unwrap();
    assert_eq!(boot(&rig), SlotId::B);
    m.state("ArtifactVerifyReboot", SlotId::B).unwrap();
    let seq = status(&rig)["seq"].as_u64().unwrap();
    m.state("ArtifactRollback", SlotId::B).unwrap();
    assert_eq!(status(&rig)["seq"].as_u64(), Some(seq + 1), "one journal append");
    assert_eq!(m.printenv("mender_boot_part").unwrap(), "mender_boot_part=2");
    assert_eq!(boot(&rig), SlotId::A, "ArtifactRollbackReboot: a, confirmed, boots without a trial");
    m.state("ArtifactVerifyRollbackReboot", SlotId::A).unwrap();
    let st = status(&rig);
    assert_eq!((st["primary"].clone(), st["last_known_good"].clone()), ("a".into(), "a".into()));
    assert_eq!((st["slots"][0]["confirmed"].clone(), st["slots"][1]["confirmed"].clone()), (true.into(), false.into()));
    for _ in 0..5 {
        assert_eq!(boot(&rig), SlotId::A, "b is not armed: it does not boot again");
    }
    assert!(printenv_all(&mut m).ends_with("mender_boot_part=2\nmender_boot_part_hex=2\nmender_check_saveenv_canary=1\nmender_saveenv_canary=1\nupgrade_available=0\n"));
}

#[test]
fn a_new_image_that_never_comes_up_falls_back_and_mender_sees_the_rollback() {
    let rig = provisioned();
    let mut m = Mender::new(&rig);
    m.state("ArtifactInstall", SlotId::A).unwrap();
    // b crashes (or hangs until the watchdog resets it) before Mender's client runs: the
    // stage boots it for each of its 3 tries, then falls back to a, as U-Boot's
    // altbootcmd does once bootcount passes bootlimit.
    let mut booted = Vec::new();
    for _ in 0..4 {
        booted.push(boot(&rig));
    }
    assert_eq!(booted, [SlotId::B, SlotId::B, SlotId::B, SlotId::A]);
    let st = status(&rig);
    assert_eq!(st["primary"], "a");
    assert_eq!(st["last_fallback"], "tries-exhausted");
    assert_eq!(m.printenv("mender_boot_part").unwrap(), "mender_boot_part=2", "altbootcmd's swap back");
    assert_eq!(m.printenv("upgrade_available").unwrap(), "upgrade_available=0", "altbootcmd's reset");

    // The client resumes on a: ArtifactVerifyReboot fails, ArtifactRollback has nothing to
    // write, ArtifactRollbackReboot, ArtifactVerifyRollbackReboot passes.
    assert_eq!(m.state("ArtifactVerifyReboot", SlotId::A), Err("upgrade_available is not 1".into()));
    let seq = status(&rig)["seq"].as_u64().unwrap();
    m.state("ArtifactRollback", SlotId::A).unwrap();
    assert!(m.log.iter().all(|c| c.starts_with("fw_printenv")), "nothing written: {:?}", m.log);
    assert_eq!(boot(&rig), SlotId::A);
    m.state("ArtifactVerifyRollbackReboot", SlotId::A).unwrap();
    assert_eq!(status(&rig)["seq"].as_u64(), Some(seq), "Mender wrote nothing after the fallback");
    assert_eq!(
        m.state("ArtifactCommit", SlotId::A),
        Err("Upgrade failed and was reverted: refusing to commit!".into())
    );
}

/// The subcommand form, the config's `mender_part`, hex in lower case, `-n`, and
/// `--json` refused.
#[test]
fn subcommands_and_configured_partition_numbers() {
    let rig = Sandbox::new(1);
    let cfg = std::fs::read_to_string(rig.path("safeslot.toml")).unwrap();
    // Slot b's block ends the rig's config.
    assert!(cfg.ends_with("header_size = 0x400\n"));
    let cfg = cfg.replacen("header_size = 0x400\n", "header_size = 0x400\nmender_part = 9\n", 1) + "mender_part = 10\n";
    std::fs::write(rig.path("safeslot.toml"), &cfg).unwrap();
    rig.ok(&["init"]);
    let e = rig.expect(69, &["fw-setenv", "upgrade_available", "1"]);
    assert!(e.stderr.starts_with("safeslotctl: no slot has been booted yet"), "{}", e.stderr);
    assert_eq!(boot(&rig), SlotId::A);
    rig.ok(&["mark-good"]);
    assert_eq!(rig.ok(&["fw-printenv", "-n", "mender_boot_part"]).stdout, "9\n");
    let mut c = rig.command(&["fw-setenv", "-s", "-"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"mender_boot_part 10\nmender_boot_part_hex A\nupgrade_available 1\nbootcount 0\n")
        .unwrap();
    let r = output(child.wait_with_output().unwrap());
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    assert_eq!(
        rig.ok(&["fw-printenv", "mender_boot_part", "mender_boot_part_hex"]).stdout,
        "mender_boot_part=10\nmender_boot_part_hex=a\n"
    );
    assert_eq!(status(&rig)["primary"], "b");
    let e = rig.expect(64, &["--json", "fw-printenv"]);
    assert!(e.stderr.contains("--json is not supported"), "{}", e.stderr);
    let e = rig.expect(64, &["fw-setenv", "mender_boot_part", "2"]);
    assert!(e.stderr.contains("no slot has that partition number (a = 9, b = 10)"), "{}", e.stderr);
}

#[test]
fn bad_input_exits_non_zero_and_writes_nothing() {
    let rig = provisioned();
    let mut m = Mender::new(&rig);
    let flash = rig.flash_bytes();
    let cases: &[(&[&str], Option<&str>, i32, &str)] = &[
        (&["bootlimit", "1"], None, 64, "unknown variable \"bootlimit\""),
        (
            &["-s", "-"],
            Some("mender_boot_part=3\nmender_boot_part_hex=3\nupgrade_avail=1\n"),
            64,
            "line 3 of the script: unknown variable",
        ),
        (
            &["-s", "-"],
            Some("mender_boot_part=3\nupgrade_available\n"),
            64,
            "line 2 of the script: upgrade_available has no value",
        ),
        (&["-s", "-"], Some("mender_boot_part=3\n=1\n"), 64, "has no variable name"),
        (&["-s", "-"], Some("mender_boot_part=three\n"), 64, "must be a decimal number"),
        (&["upgrade_available"], None, 64, "has no value"),
        (&["upgrade_available", "yes"], None, 64, "must be 0 or 1"),
        (&["-s", "-"], Some("mender_boot_part=3\nmender_boot_part_hex=2\n"), 64, "name different partitions"),
        (&["-s", "-"], Some("mender_boot_part=2\nupgrade_available=1\n"), 69, "the running slot"),
        (&["-s", "-"], Some("mender_boot_part=3\nupgrade_available=0\n"), 69, "has not been confirmed"),
        (&["-s", "-"], Some("mender_saveenv_canary=0\n"), 69, "nothing was written"),
        (&["-s", "-"], Some("bootcount=2\n"), 69, "read back bootcount=0"),
    ];
    for (args, stdin, code, why) in cases {
        let r = m.tool("fw_setenv", args, *stdin);
        assert_eq!(r.code, *code, "{args:?} {stdin:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("fw_setenv: ") && r.stderr.contains(why), "{args:?} {stdin:?}: {}", r.stderr);
        assert_eq!(r.stdout, "");
        assert!(rig.flash_bytes() == flash, "{args:?} {stdin:?} changed the flash");
    }
    let r = m.tool("fw_printenv", &["upgrade_available", "bootlimit"], None);
    assert_eq!((r.code, r.stdout.as_str()), (64, ""), "{}", r.stderr);
    assert!(r.stderr.starts_with("fw_printenv: unknown variable \"bootlimit\""), "{}", r.stderr);
    let r = m.tool("fw_printenv", &["-n"], None);
    assert_eq!(r.code, 64, "{}", r.stderr);
    let missing: PathBuf = rig.path("no-such-script");
    let r = m.tool("fw_setenv", &["-s", missing.to_str().unwrap()], None);
    assert_eq!(r.code, 66, "{}", r.stderr);
    assert!(rig.flash_bytes() == flash);
    // And the same writes, valid, still work afterwards.
    m.setenv(&["-s", "-"], Some(INSTALL_B)).unwrap();
    assert!(rig.flash_bytes() != flash);
}

/// The 3.x Go client (mendersoftware/mender 3.x `installer/bootenv.go`,
/// `installer/dual_rootfs_device.go`) wrote `NAME VALUE` lines to `fw_setenv -s -`, in Go
/// map order (any order), and committed through the script form too.
#[test]
fn the_3x_client_script_form() {
    let rig = provisioned();
    let mut m = Mender::new(&rig);
    // InstallUpdate: WriteEnv({upgrade_available: 1, mender_boot_part, _hex, bootcount: 0}).
    m.setenv(&["-s", "-"], Some("bootcount 0\nupgrade_available 1\nmender_boot_part_hex 3\nmender_boot_part 3\n"))
        .unwrap();
    assert_eq!(boot(&rig), SlotId::B);
    // HasUpdate: ReadEnv("upgrade_available"), after checkEnvCanary.
    assert_eq!(m.printenv("mender_check_saveenv_canary").unwrap(), "mender_check_saveenv_canary=1");
    assert_eq!(m.printenv("mender_saveenv_canary").unwrap(), "mender_saveenv_canary=1");
    assert_eq!(m.printenv("upgrade_available").unwrap(), "upgrade_available=1");
    // CommitUpdate: WriteEnv({upgrade_available: 0}).
    m.setenv(&["-s", "-"], Some("upgrade_available 0\n")).unwrap();
    let st = status(&rig);
    assert_eq!((st["last_known_good"].clone(), st["slots"][1]["confirmed"].clone()), ("b".into(), true.into()));
}
