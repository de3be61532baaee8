//! `safeslot-image`: the command-line front end of the [`safeslot_image`] library.
//!
//! Parses arguments with clap (`try_parse`, so usage errors exit 64), runs one
//! subcommand, and maps its typed error to a sysexits code in [`exit_code`].
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use safeslot_image::keys::{self, hex};
use safeslot_image::linux;
use safeslot_image::output::{self, Mode};
use safeslot_image::{Error, SignParams, SlotTarget};
use safeslot_layout::{Layout, LayoutError};
use safeslot_shared::policy::Admission;
use safeslot_shared::verify::Trust;
use safeslot_shared::Version;

const EXIT_CODES: &str = "\
Exit codes:
  0   success
  64  usage error (bad arguments)
  65  bad data: an invalid key, ELF, image, header or detached signature, or a failed
      verification
  66  an input file does not exist or cannot be read
  70  internal error
  73  an output file cannot be created (or exists and --force was not given)
  74  I/O error while reading or writing
  78  configuration error: an invalid layout or slot geometry";

/// Create, sign, verify and inspect safeslot slot images.
///
/// A slot image is the signed 152-byte safeslot header, 0xFF padding up to
/// the slot's header size, then the application image, ready to be written
/// at the start of a slot.
#[derive(Debug, Parser)]
#[command(name = "safeslot-image", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Generate an ed25519 signing key (PKCS#8 PEM, mode 0600).
    Keygen(KeygenArgs),
    /// Sign an ELF or raw binary, or (--linux) a Linux kernel and initramfs, into a slot image.
    Sign(SignArgs),
    /// Without the private key: write the bytes to sign and an unsigned slot image
    ///
    /// For a signer that keeps the private key (an HSM, a KMS, an offline machine): takes
    /// sign's arguments, but the PUBLIC key. Sign the --to-sign bytes as they are (plain
    /// ed25519, no pre-hashing) where the private key is, e.g.
    ///
    ///     openssl pkeyutl -sign -rawin -inkey key.pem -in to-sign.bin -out sig.bin
    ///
    /// then finish with `attach` and the same slot flags:
    ///
    ///     safeslot-image attach --signature sig.bin --key pub.pem --layout L --slot S -o OUT UNSIGNED
    #[command(verbatim_doc_comment)]
    Prepare(PrepareArgs),
    /// Put a detached signature into an image from `prepare`, verify it, write the slot image.
    ///
    /// The result is checked with the boot stage's verifier against --key and the slot, and
    /// is written only if it verifies; it is byte for byte what `sign` makes with the
    /// private key.
    Attach(AttachArgs),
    /// Verify a slot image with the boot stage's own verifier.
    Verify(VerifyArgs),
    /// Print every header field of a slot image and check its hash (no key needed).
    Inspect(InspectArgs),
    /// Export the public key of a key file and print its key id.
    Pubkey(PubkeyArgs),
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, OpenSSL-compatible).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Also write the public key here (SubjectPublicKeyInfo PEM).
    #[arg(long = "pub", value_name = "FILE")]
    pub_out: Option<PathBuf>,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
}

/// Which slot: a layout and a slot name, or the four numbers.
#[derive(Debug, Args)]
struct SlotArgs {
    /// The board's layout file, e.g. boards/qemu-mps2-an386/layout.toml.
    #[arg(long, value_name = "FILE", requires = "slot")]
    layout: Option<PathBuf>,
    /// The slot's name in the layout (a, b, ...).
    #[arg(long, value_name = "NAME", requires = "layout")]
    slot: Option<String>,
    /// Without --layout: CPU address of the flash device (e.g. 0x21000000).
    #[arg(long, value_name = "ADDR", value_parser = parse_u32,
          required_unless_present = "layout", conflicts_with = "layout")]
    flash_base: Option<u32>,
    /// Without --layout: slot offset from the flash base.
    #[arg(long, value_name = "OFFSET", value_parser = parse_u32,
          required_unless_present = "layout", conflicts_with = "layout")]
    slot_offset: Option<u32>,
    /// Without --layout: slot size in bytes.
    #[arg(long, value_name = "BYTES", value_parser = parse_u32,
          required_unless_present = "layout", conflicts_with = "layout")]
    slot_size: Option<u32>,
    /// Without --layout: header area size (a power of two, at least 0x100).
    #[arg(long, value_name = "BYTES", value_parser = parse_u32,
          required_unless_present = "layout", conflicts_with = "layout")]
    header_size: Option<u32>,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct SignArgs {
    /// The ed25519 private key (PKCS#8 PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    image: ImageArgs,
    /// Where to write the slot image.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct PrepareArgs {
    /// The signer's ed25519 PUBLIC key: SubjectPublicKeyInfo PEM (`openssl pkey -pubout`)
    /// or 32 raw bytes. Its key id goes into the header.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    image: ImageArgs,
    /// Where to write the bytes to sign: the header's signed part (88 bytes), to be signed
    /// as they are with plain ed25519 (no pre-hashing).
    #[arg(long, value_name = "FILE")]
    to_sign: PathBuf,
    /// Where to write the unsigned slot image (its signature all zero), the input of `attach`.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct AttachArgs {
    /// The detached ed25519 signature of the --to-sign bytes: 64 raw bytes, as
    /// `openssl pkeyutl -sign -rawin` writes it.
    #[arg(long, value_name = "SIG")]
    signature: PathBuf,
    /// The signer's public key, as given to `prepare` (public PEM or 32 raw bytes): the
    /// result must verify with it.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The slot given to `prepare`: the result is verified as this slot's content.
    #[command(flatten)]
    slot: SlotArgs,
    /// The unsigned slot image written by `prepare`.
    #[arg(value_name = "UNSIGNED")]
    unsigned: PathBuf,
    /// Where to write the signed slot image; nothing is written unless it verifies.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
}

/// What goes into a slot image besides the key: the slot, the header fields and the input.
#[derive(Debug, Args)]
struct ImageArgs {
    #[command(flatten)]
    slot: SlotArgs,
    /// Image version: MAJOR.MINOR.REVISION[+BUILD].
    #[arg(long = "version", value_name = "VERSION", value_parser = parse_version)]
    image_version: Version,
    /// Anti-rollback security counter.
    #[arg(long, value_name = "N", value_parser = parse_u32)]
    security_counter: u32,
    /// Entry point offset from the load address (0: the image starts with its vector table).
    #[arg(long, value_name = "OFFSET", value_parser = parse_u64, default_value = "0")]
    entry: u64,
    #[command(flatten)]
    meta: MetaArgs,
    /// The application: an ELF (detected by its magic) or a raw binary linked at the image address.
    #[arg(value_name = "INPUT", required_unless_present = "linux", conflicts_with = "linux")]
    input: Option<PathBuf>,
    #[command(flatten)]
    linux: LinuxArgs,
}

/// Signed metadata: the protected TLVs (docs/FORMAT.md, "Protected TLVs"). With any of
/// them the header is format 2; without, format 1 (which every boot stage reads).
#[derive(Debug, Args)]
struct MetaArgs {
    /// The product the image is for (1..=64 printable ASCII characters, no spaces); a board
    /// whose layout names another `[image] compatible` refuses it. Defaults to the layout's
    /// when --layout is given; `--compatible none` leaves it out.
    #[arg(long, value_name = "ID")]
    compatible: Option<String>,
    /// Once this image is confirmed on a device, keys with an index below N are revoked
    /// there (1..=255; the index is the key's position in the board's `[keys] public`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    revoke_below: Option<u8>,
    /// The image is tried only over a confirmed image of at least this version.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    requires_version: Option<Version>,
    /// A file describing the build (an SBOM, build info): its SHA-256 goes into the header.
    #[arg(long, value_name = "FILE")]
    build_info: Option<PathBuf>,
}

/// A Linux slot (docs/FORMAT.md, "Linux payload") instead of INPUT.
#[derive(Debug, Args)]
struct LinuxArgs {
    /// Build a Linux slot payload (payload table, gzip'd kernel, initramfs) as the image.
    #[arg(long, requires_all = ["kernel", "initramfs"])]
    linux: bool,
    /// With --linux: the arm64 kernel, an `Image` (gzip'd here) or an `Image.gz`.
    #[arg(long, value_name = "FILE", requires = "linux")]
    kernel: Option<PathBuf>,
    /// With --linux: the initramfs, a directory (archived as newc cpio, gzip'd), a newc
    /// cpio archive (gzip'd), or one already compressed with gzip, xz or zstd.
    #[arg(long, value_name = "PATH", requires = "linux")]
    initramfs: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct VerifyArgs {
    /// A trusted key: public PEM, private PEM or 32 raw bytes; repeat for several.
    /// Defaults to the layout's [keys] public.
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    slot: SlotArgs,
    /// Print the result as JSON (schema 1) on stdout.
    #[arg(long)]
    json: bool,
    /// The device's anti-rollback floor (its record's; `safeslotctl status` shows it): an
    /// image below it is refused as the stage refuses it (rollback). 0 for a fresh device.
    #[arg(long, default_value_t = 0, value_name = "N")]
    floor: u32,
    /// The device's key floor (its record's `key_floor`): an image signed by a key with a
    /// lower index is refused (revoked-key).
    #[arg(long, default_value_t = 0, value_name = "N")]
    key_floor: u8,
    /// The board's product identifier. Defaults to the layout's `[image] compatible`;
    /// `none` for a board that names none.
    #[arg(long, value_name = "ID")]
    compatible: Option<String>,
    /// The version of the device's confirmed image: the image is checked as a trial over it
    /// (its requires-version, and the layout's downgrade rule).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    confirmed_version: Option<Version>,
    /// The slot image (header at offset 0).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct InspectArgs {
    /// The slot image (header at offset 0).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print JSON (with "schema": 1) instead of the table; the table is not for parsing.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
struct PubkeyArgs {
    /// The key: private PEM, public PEM or 32 raw bytes.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Write the 32 raw key bytes (for building into the boot stage).
    #[arg(long, conflicts_with = "pem")]
    raw: bool,
    /// Write SubjectPublicKeyInfo PEM (the default).
    #[arg(long)]
    pem: bool,
    /// Where to write the public key; stdout when left out.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: Option<PathBuf>,
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let t = s.replace('_', "");
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    };
    r.map_err(|e| format!("{s:?} is not a number (decimal or 0x-hex): {e}"))
}

fn parse_u32(s: &str) -> Result<u32, String> {
    u32::try_from(parse_u64(s)?).map_err(|_| format!("{s} does not fit in 32 bits"))
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).ok_or_else(|| format!("{s:?}: expected MAJOR.MINOR.REVISION[+BUILD], e.g. 1.2.3 or 1.2.3+45"))
}

/// The layout (when given) and the slot target.
fn resolve_slot(a: &SlotArgs) -> Result<(Option<Layout>, SlotTarget), Error> {
    match (&a.layout, &a.slot) {
        (Some(path), Some(name)) => {
            let layout = Layout::load(path)?;
            let target = SlotTarget::from_loaded(&layout, name)?;
            Ok((Some(layout), target))
        }
        _ => match (a.flash_base, a.slot_offset, a.slot_size, a.header_size) {
            (Some(base), Some(off), Some(size), Some(hs)) => Ok((None, SlotTarget::new(None, base, off, size, hs)?)),
            // clap's required_unless_present makes this unreachable.
            _ => Err(Error::Slot(
                "give --layout and --slot, or all of --flash-base, --slot-offset, --slot-size and --header-size".into(),
            )),
        },
    }
}

fn read_input(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })
}

fn keygen(a: &KeygenArgs) -> anyhow::Result<()> {
    let kp = keys::generate();
    keys::write_key_pair(&kp, &a.out, a.pub_out.as_deref(), a.force)?;
    println!("private key: {}", a.out.display());
    if let Some(p) = &a.pub_out {
        println!("public key:  {}", p.display());
    }
    println!("key id:      {}", hex(&keys::key_id(&kp.pk)));
    Ok(())
}

/// The image to sign and a name for it in messages: INPUT, or the Linux payload.
fn sign_input(a: &ImageArgs, target: &SlotTarget) -> Result<(Vec<u8>, String), Error> {
    match (&a.input, &a.linux) {
        (_, LinuxArgs { linux: true, kernel: Some(kernel), initramfs: Some(initramfs) }) => {
            let inputs = linux::LinuxInputs { kernel, initramfs };
            let what = format!("Linux payload ({} + {})", kernel.display(), initramfs.display());
            Ok((linux::payload(&inputs, target)?, what))
        }
        (Some(input), LinuxArgs { linux: false, .. }) => {
            let bytes = read_input(input)?;
            Ok((safeslot_image::load_image(input, bytes, target)?, input.display().to_string()))
        }
        // clap's requires/conflicts make this unreachable.
        _ => Err(Error::Slot("give INPUT, or --linux with --kernel and --initramfs".into())),
    }
}

impl ImageArgs {
    /// The header parameters; the compatible identifier defaults to `layout`'s.
    fn params(&self, layout: Option<&Layout>) -> Result<SignParams, Error> {
        use safeslot_shared::tlv::{tag, Tlvs};
        let m = &self.meta;
        let mut tlvs = Tlvs::EMPTY;
        let bad = |what: &str, e: safeslot_shared::DecodeError| Error::Slot(format!("{what}: {e}"));
        let compatible = compatible_arg(m.compatible.as_deref(), layout);
        if let Some(c) = &compatible {
            tlvs.push(tag::COMPATIBLE, c.as_bytes()).map_err(|_| {
                Error::Slot(format!(
                    "--compatible {c:?}: must be 1..={} printable ASCII characters without spaces",
                    safeslot_shared::tlv::MAX_COMPATIBLE
                ))
            })?;
        }
        if let Some(n) = m.revoke_below {
            tlvs.push(tag::REVOKE_BELOW, &[n]).map_err(|e| bad("--revoke-below", e))?;
        }
        if let Some(v) = m.requires_version {
            tlvs.push(tag::REQUIRES_VERSION, &v.to_bytes()).map_err(|e| bad("--requires-version", e))?;
        }
        if let Some(p) = &m.build_info {
            let digest = safeslot_shared::image::sha256(&read_input(p)?);
            tlvs.push(tag::BUILD_DIGEST, &digest).map_err(|e| bad("--build-info", e))?;
        }
        Ok(SignParams { version: self.image_version, security_counter: self.security_counter, entry: self.entry, tlvs })
    }
}

/// The compatible identifier: the argument (`none`: no identifier), else the layout's.
fn compatible_arg(arg: Option<&str>, layout: Option<&Layout>) -> Option<String> {
    match arg {
        Some("none") => None,
        Some(c) => Some(c.to_owned()),
        None => layout.and_then(|l| l.image_rules().compatible.clone()),
    }
}

fn sign(a: &SignArgs) -> anyhow::Result<()> {
    let (layout, target) = resolve_slot(&a.image.slot)?;
    let key = keys::load_signing_key(&a.key)?;
    let params = a.image.params(layout.as_ref())?;
    let (image, what) = sign_input(&a.image, &target)?;
    let out = safeslot_image::sign(&image, &target, &key, params)
        .with_context(|| format!("signing {what} for slot {target}"))?;
    output::write_file(&a.out, &out, Mode::Public, true)?;
    println!(
        "{}: slot {target}, version {}, security counter {}, image {} bytes at {:#010x}, key id {}",
        a.out.display(),
        a.image.image_version,
        a.image.security_counter,
        image.len(),
        target.image_address(),
        hex(&keys::key_id(&key.pk)),
    );
    Ok(())
}

fn prepare(a: &PrepareArgs) -> anyhow::Result<()> {
    let (layout, target) = resolve_slot(&a.image.slot)?;
    let pk = keys::load_public_key(&a.key)?;
    let params = a.image.params(layout.as_ref())?;
    let (image, what) = sign_input(&a.image, &target)?;
    let p = safeslot_image::prepare(&image, &target, &pk, params)
        .with_context(|| format!("preparing {what} for slot {target}"))?;
    output::write_file(&a.to_sign, &p.to_sign, Mode::Public, true)?;
    output::write_file(&a.out, &p.unsigned, Mode::Public, true)?;
    println!(
        "unsigned image: {} (slot {target}, version {}, security counter {}, image {} bytes at {:#010x})",
        a.out.display(),
        a.image.image_version,
        a.image.security_counter,
        image.len(),
        target.image_address(),
    );
    println!(
        "to sign:        {} ({} bytes, SHA-256 {})",
        a.to_sign.display(),
        p.to_sign.len(),
        hex(&safeslot_shared::image::sha256(&p.to_sign))
    );
    println!("key id:         {}", hex(&p.header.key_id));
    Ok(())
}

fn attach(a: &AttachArgs) -> anyhow::Result<()> {
    let (_, target) = resolve_slot(&a.slot)?;
    let pk = keys::load_public_key(&a.key)?;
    let unsigned = read_input(&a.unsigned)?;
    let signature = read_input(&a.signature)?;
    let refused = || {
        format!(
            "attaching {} to {} for slot {target}: refused, nothing written",
            a.signature.display(),
            a.unsigned.display()
        )
    };
    let signed =
        safeslot_image::attach(&a.unsigned, &unsigned, &a.signature, &signature, &target, &pk).with_context(refused)?;
    output::write_file(&a.out, &signed.image, Mode::Public, true)?;
    let h = signed.header;
    println!(
        "{}: slot {target}, version {}, security counter {}, image {} bytes at {:#010x}, key id {}",
        a.out.display(),
        h.version,
        h.security_counter,
        h.image_len,
        h.load_addr,
        hex(&h.key_id),
    );
    Ok(())
}

fn verify(a: &VerifyArgs) -> anyhow::Result<()> {
    let (layout, target) = resolve_slot(&a.slot)?;
    let key_paths: Vec<PathBuf> = if a.keys.is_empty() {
        layout.as_ref().map(|l| l.public_keys().to_vec()).unwrap_or_default()
    } else {
        a.keys.clone()
    };
    if key_paths.is_empty() {
        return Err(Error::NoKeys.into());
    }
    let keys =
        key_paths.iter().map(|p| keys::load_public_key(p).map(|k| *k)).collect::<Result<Vec<[u8; 32]>, Error>>()?;
    let bytes = read_input(&a.file)?;
    let compatible = compatible_arg(a.compatible.as_deref(), layout.as_ref());
    let trust = Trust { keys: &keys, compatible: compatible.as_deref().map(str::as_bytes) };
    let admission = Admission {
        floor: a.floor,
        key_floor: a.key_floor,
        confirmed: a.confirmed_version,
        refuse_downgrade: layout.as_ref().is_some_and(|l| l.image_rules().refuse_downgrade),
    };
    let trial = a.confirmed_version.is_some();
    match safeslot_image::verify_bytes(&a.file, &bytes, &target, &trust, &admission, trial) {
        Ok(v) => {
            let h = v.header;
            let key_path = key_paths.get(v.key_index).map(|p| p.display().to_string()).unwrap_or_default();
            if a.json {
                let j = serde_json::json!({
                    "schema": 1, "ok": true, "file": a.file.display().to_string(), "slot": target.to_string(),
                    "version": h.version.to_string(), "security_counter": h.security_counter,
                    "image_len": h.image_len, "load_addr": h.load_addr, "entry": h.entry,
                    "key_id": hex(&h.key_id), "key": key_path,
                });
                println!("{j}");
            } else {
                println!(
                    "OK {}: slot {target}, version {}, security counter {}, image {} bytes at {:#010x}, \
                     signed by key {} ({key_path})",
                    a.file.display(),
                    h.version,
                    h.security_counter,
                    h.image_len,
                    h.load_addr,
                    hex(&h.key_id),
                );
            }
            Ok(())
        }
        Err(e) => {
            if let (true, Error::Verify { reason, .. }) = (a.json, &e) {
                let j = serde_json::json!({
                    "schema": 1, "ok": false, "file": a.file.display().to_string(), "slot": target.to_string(),
                    "reason": reason.name(), "detail": safeslot_image::describe(*reason),
                });
                println!("{j}");
            }
            Err(e.into())
        }
    }
}

fn inspect(a: &InspectArgs) -> anyhow::Result<()> {
    let bytes = read_input(&a.file)?;
    let report = safeslot_image::inspect(&a.file, &bytes)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serialising the report")?);
    } else {
        println!("file              {}", a.file.display());
        print!("{report}");
    }
    Ok(())
}

fn pubkey(a: &PubkeyArgs) -> anyhow::Result<()> {
    let pk = keys::load_public_key(&a.key)?;
    let bytes: Vec<u8> = if a.raw { pk.to_vec() } else { pk.to_pem().into_bytes() };
    let id = hex(&keys::key_id(&pk));
    match &a.out {
        Some(out) => {
            output::write_file(out, &bytes, Mode::Public, true)?;
            println!("key id: {id} (written to {})", out.display());
        }
        None => {
            std::io::stdout().write_all(&bytes).map_err(|source| Error::Write { path: "<stdout>".into(), source })?;
            eprintln!("key id: {id}");
        }
    }
    Ok(())
}

/// The one place errors become exit codes (sysexits.h).
fn exit_code(err: &anyhow::Error) -> u8 {
    use std::io::ErrorKind::{NotFound, PermissionDenied};
    const USAGE: u8 = 64;
    const DATAERR: u8 = 65;
    const NOINPUT: u8 = 66;
    const SOFTWARE: u8 = 70;
    const CANTCREAT: u8 = 73;
    const IOERR: u8 = 74;
    const CONFIG: u8 = 78;
    let Some(e) = err.downcast_ref::<Error>() else {
        return SOFTWARE;
    };
    match e {
        Error::Read { source, .. } if matches!(source.kind(), NotFound | PermissionDenied) => NOINPUT,
        Error::Read { .. } | Error::Write { .. } => IOERR,
        Error::Create { .. } | Error::Exists { .. } => CANTCREAT,
        Error::Key { .. }
        | Error::Elf { .. }
        | Error::TooLarge { .. }
        | Error::EmptyImage { .. }
        | Error::Header { .. }
        | Error::Linux { .. }
        | Error::Signature { .. }
        | Error::Unsigned { .. }
        | Error::Verify { .. } => DATAERR,
        Error::Entry { .. } | Error::Version(_) | Error::NoKeys => USAGE,
        Error::Slot(_) => CONFIG,
        Error::Layout(LayoutError::Read { source, .. }) if matches!(source.kind(), NotFound | PermissionDenied) => {
            NOINPUT
        }
        Error::Layout(LayoutError::Read { .. }) => IOERR,
        Error::Layout(_) => CONFIG,
        _ => SOFTWARE,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    let result = match &cli.cmd {
        Cmd::Keygen(a) => keygen(a),
        Cmd::Sign(a) => sign(a),
        Cmd::Prepare(a) => prepare(a),
        Cmd::Attach(a) => attach(a),
        Cmd::Verify(a) => verify(a),
        Cmd::Inspect(a) => inspect(a),
        Cmd::Pubkey(a) => pubkey(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}
