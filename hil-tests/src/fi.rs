//! The instruction-skip fault-injection campaign (`cargo xtask fi`): its pure parts.
//!
//! The campaign boots the real boot stage of the virtual board over flash states that
//! hold an attack in slot B ([`Attack`]) and skips exactly one executed instruction per
//! run with the `insn_skip` QEMU plugin (`hil-tests/plugin/insn_skip.c`, which documents
//! how the skip is made exact). This module owns:
//!
//! * the plugin's protocol: its arguments ([`PluginArgs::encode`]) and its report
//!   ([`Report::parse`]): one encoder/decoder pair;
//! * the attack images ([`attack_image`], and slot A's: [`slot_a_image`]), built with the
//!   image library (`safeslot-image`) and the signed-metadata recipes of the rig's scenarios;
//! * the reference trace ([`decode_trace`]) and where an index's instruction is: which
//!   address, and which execution of that address ([`skip_points`]);
//! * which indices a campaign runs ([`windows`], [`sample`]);
//! * what a run's ending means ([`classify`]).
//!
//! Running QEMU, the ELF's DWARF and the tables are xtask's (`xtask/src/fi.rs`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub use ed25519_compact::KeyPair;
use safeslot_image::{SignParams, SlotTarget};
use safeslot_shared::header::field;
use safeslot_shared::protocol::exit::Exit;
use safeslot_shared::tlv::{tag, Tlvs};
use safeslot_shared::Version;
use sha2::{Digest, Sha256};

pub use crate::scenarios::OTHER_PRODUCT;
use crate::scenarios::{product_tlvs, rotation_tlvs};

/// What went wrong in the campaign's own logic (not in the guest).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FiError {
    /// The plugin's report is not what the plugin writes.
    #[error("plugin report: {0}")]
    Report(String),
    /// The image library refused an attack image.
    #[error("attack image: {0}")]
    Image(String),
}

/// Where to skip: the `hit`-th execution (from 1) of the instruction at `pc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkipPoint {
    /// Index of the instruction in the reference run (0 = the first after reset).
    pub index: u64,
    /// Its address.
    pub pc: u32,
    /// Which execution of `pc` it is (1 = the first).
    pub hit: u64,
}

/// The arguments of one plugin run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginArgs {
    /// Where the plugin writes its [`Report`].
    pub out: PathBuf,
    /// Where the plugin writes the trace of executed addresses (reference runs only).
    pub trace: Option<PathBuf>,
    /// The instruction to skip.
    pub skip: Option<SkipPoint>,
    /// Address ranges whose entry ends the run (the slots: a hand-off), in order.
    pub stops: Vec<Range<u64>>,
    /// Addresses whose entry ends the run as a fault (spinning fault handlers).
    pub faults: Vec<u64>,
    /// Instructions after which the run ends as hung (0: no budget).
    pub budget: u64,
}

impl PluginArgs {
    /// The `-plugin` option value for the plugin at `so`.
    pub fn encode(&self, so: &Path) -> String {
        // QEMU option values escape a comma by doubling it.
        let path = |p: &Path| p.display().to_string().replace(',', ",,");
        let mut s = format!("{},out={}", path(so), path(&self.out));
        if let Some(t) = &self.trace {
            let _ = write!(s, ",trace={}", path(t));
        }
        if let Some(k) = &self.skip {
            let _ = write!(s, ",skip={:#x}:{}", k.pc, k.hit);
        }
        for r in &self.stops {
            let _ = write!(s, ",stop={:#x}:{:#x}", r.start, r.end);
        }
        for f in &self.faults {
            let _ = write!(s, ",fault={f:#x}");
        }
        if self.budget > 0 {
            let _ = write!(s, ",budget={}", self.budget);
        }
        s
    }
}

/// Whether the asked-for skip happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipStatus {
    /// No skip was asked for.
    None,
    /// The instruction's asked-for execution ran as a NOP.
    Applied,
    /// It did not (the run ended before, or the NOP was not what got translated).
    Missed,
}

/// How a plugin run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A block started in stop range `range` (a slot) at `pc`.
    Stop {
        /// Index into [`PluginArgs::stops`].
        range: usize,
        /// Where.
        pc: u64,
    },
    /// A block started at a fault address.
    Fault(u64),
    /// The instruction budget ran out.
    Budget,
    /// The vCPU went idle.
    Idle,
    /// The guest ended the run (semihosting exit or reset); QEMU's exit code says how.
    Exit,
}

/// The plugin's report of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Instructions executed (the block of a stop excluded).
    pub total: u64,
    /// The skip.
    pub skip: SkipStatus,
    /// The instruction's size in bytes (2 or 4; 0 without a skip).
    pub skip_size: u32,
    /// How the run ended.
    pub end: End,
}

impl Report {
    /// Parses the plugin's out= file (format in insn_skip.c).
    ///
    /// # Errors
    /// [`FiError::Report`] for anything else.
    pub fn parse(text: &str) -> Result<Report, FiError> {
        let bad = |what: &str| FiError::Report(format!("{what} in `{}`", text.trim()));
        let num = |s: Option<&str>| -> Result<u64, FiError> {
            let s = s.ok_or_else(|| bad("short line"))?;
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            }
            .map_err(|_| bad("bad number"))
        };
        let mut lines = text.lines();
        if lines.next() != Some("insn_skip 1") {
            return Err(bad("not an insn_skip 1 report"));
        }
        let (mut total, mut skip, mut end) = (None, None, None);
        for line in lines {
            let mut w = line.split_whitespace();
            match w.next() {
                Some("total") => total = Some(num(w.next())?),
                Some("skip") => {
                    let status = match w.next() {
                        Some("none") => SkipStatus::None,
                        Some("applied") => SkipStatus::Applied,
                        Some("missed") => SkipStatus::Missed,
                        _ => return Err(bad("bad skip status")),
                    };
                    let (_pc, _hit, size) = (num(w.next())?, num(w.next())?, num(w.next())?);
                    skip = Some((status, u32::try_from(size).map_err(|_| bad("bad size"))?));
                }
                Some("end") => {
                    end = Some(match w.next() {
                        Some("stop") => End::Stop {
                            range: usize::try_from(num(w.next())?).map_err(|_| bad("bad range"))?,
                            pc: num(w.next())?,
                        },
                        Some("fault") => End::Fault(num(w.next())?),
                        Some("budget") => End::Budget,
                        Some("idle") => End::Idle,
                        Some("exit") => End::Exit,
                        _ => return Err(bad("bad end")),
                    })
                }
                _ => return Err(bad("unexpected line")),
            }
        }
        let (skip, skip_size) = skip.ok_or_else(|| bad("no skip line"))?;
        Ok(Report {
            total: total.ok_or_else(|| bad("no total"))?,
            skip,
            skip_size,
            end: end.ok_or_else(|| bad("no end"))?,
        })
    }
}

/// What one run did, as the campaign counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunEnd {
    /// The boot stage refused everything and entered recovery.
    Refused,
    /// It handed off to a slot holding a genuine valid image (the fallback).
    Fallback,
    /// A fault handler, a panic, a reset, QEMU's lockup abort or an unknown exit.
    Crashed,
    /// The instruction budget ran out, the CPU went idle, or the wall-clock safety net hit.
    Hung,
    /// It handed off to (or ran code in) a slot whose image must not run: the attack.
    Unverified,
    /// The plugin could not apply the skip (a campaign bug if it ever counts).
    NotApplied,
}

impl RunEnd {
    /// Every outcome, in table order.
    pub const ALL: [RunEnd; 6] =
        [RunEnd::Refused, RunEnd::Fallback, RunEnd::Crashed, RunEnd::Hung, RunEnd::Unverified, RunEnd::NotApplied];

    /// The table's column name.
    pub fn name(self) -> &'static str {
        match self {
            RunEnd::Refused => "refused/recovery",
            RunEnd::Fallback => "booted valid fallback",
            RunEnd::Crashed => "crashed",
            RunEnd::Hung => "hung",
            RunEnd::Unverified => "UNVERIFIED LAUNCH",
            RunEnd::NotApplied => "skip not applied",
        }
    }
}

/// Classifies one run: `report` is the plugin's (`None`: QEMU died without one),
/// `exit_code` QEMU's, `timed_out` the wall-clock safety net, and `verified[i]` whether
/// stop range `i` holds a genuine valid image.
pub fn classify(report: Option<&Report>, exit_code: Option<i32>, timed_out: bool, verified: &[bool]) -> RunEnd {
    if timed_out {
        return RunEnd::Hung;
    }
    let Some(r) = report else { return RunEnd::Crashed };
    if r.skip == SkipStatus::Missed {
        return RunEnd::NotApplied;
    }
    match r.end {
        End::Stop { range, .. } if verified.get(range).copied().unwrap_or(false) => RunEnd::Fallback,
        End::Stop { .. } => RunEnd::Unverified,
        End::Fault(_) => RunEnd::Crashed,
        End::Budget | End::Idle => RunEnd::Hung,
        End::Exit if exit_code == Some(Exit::Recovery.status()) => RunEnd::Refused,
        End::Exit => RunEnd::Crashed,
    }
}

/// Decodes the plugin's trace file: executed addresses, 32-bit little-endian.
pub fn decode_trace(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// For each index in `indices` (ascending; those past the trace are dropped), where its
/// instruction is in `trace`: the address and which execution of it.
pub fn skip_points(trace: &[u32], indices: &[u64]) -> Vec<SkipPoint> {
    let mut hits: HashMap<u32, u64> = HashMap::new();
    let mut out = Vec::with_capacity(indices.len());
    let mut wanted = indices.iter().copied().peekable();
    for (i, &pc) in trace.iter().enumerate() {
        let n = hits.entry(pc).or_insert(0);
        *n += 1;
        while wanted.peek().is_some_and(|&w| w < i as u64) {
            wanted.next();
        }
        if wanted.peek() == Some(&(i as u64)) {
            out.push(SkipPoint { index: i as u64, pc, hit: *n });
            wanted.next();
        }
    }
    out
}

/// What kind of code an executed instruction belongs to, for choosing indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Decision code: the verifier's own checks, the policy and boot sequence, the
    /// record write, the board's main (hand-off, jump), the hashing loop's control.
    Decision,
    /// A crypto inner loop (ed25519, SHA-256 compression): its result is decided by
    /// the comparison that follows, whose run-up is kept ([`windows`]' `tail`).
    Crypto,
    /// Everything else: flash reads, memcpy, journal scan, stack painting.
    Other,
}

/// The decision windows of a trace whose instructions have kinds `kinds`. They start at
/// the first [`Kind::Crypto`] index (the first signature check: what runs before it,
/// start-up and the record scan, judges no image) and hold every maximal run of
/// [`Kind::Decision`] indices, plus the last `tail` indices of every stretch between two
/// decision runs that contains crypto (the end of a signature check or of a hash: the
/// comparison whose result the decision code then reads). Merged, ascending.
pub fn windows(kinds: &[Kind], tail: u64) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    let mut push = |r: Range<u64>| {
        if r.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    };
    let Some(first) = kinds.iter().position(|&k| k == Kind::Crypto) else { return out };
    let mut start = first;
    while start < kinds.len() {
        let decision = kinds[start] == Kind::Decision;
        let end =
            kinds[start..].iter().position(|&x| (x == Kind::Decision) != decision).map_or(kinds.len(), |n| start + n);
        let (s, e) = (start as u64, end as u64);
        if decision {
            push(s..e);
        } else if kinds[start..end].contains(&Kind::Crypto) {
            push(e.saturating_sub(tail).max(s)..e);
        }
        start = end;
    }
    out
}

/// The indices a campaign runs, ascending: within `span`, every index of `windows`, plus
/// every `stride`-th index (0 = none), starting half a stride in.
pub fn sample(span: Range<u64>, windows: &[Range<u64>], stride: u64) -> Vec<u64> {
    let mut v: Vec<u64> = windows
        .iter()
        .flat_map(|w| w.start.max(span.start)..w.end.min(span.end))
        .chain((stride > 0).then(|| (span.start + stride / 2..span.end).step_by(stride as usize)).into_iter().flatten())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The attack boots: what slot B holds (slot A holds a genuine, valid, confirmed image
/// unless said otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// The payload replaced and the header's hash rewritten to it; the signature is the
    /// stale genuine one.
    ForgedHeader,
    /// A genuine header over an altered payload.
    AlteredPayload,
    /// A well-formed image signed by a key the boot stage does not trust.
    UntrustedKey,
    /// A genuinely signed image whose security counter is below the record's floor.
    CounterBelowFloor,
    /// A genuinely signed image whose load address is outside its slot.
    LoadAddressOutside,
    /// Both slots invalid: B's payload altered, and A's too (after it was confirmed).
    BothInvalid,
    /// Slot A signed with the second trusted key (index 1) and revoking the keys below it,
    /// confirmed ([`Setup::Rotated`]: the record's key floor and the board's key-floor
    /// counter are 1); B the attacker's payload, well-formed (counter and address right),
    /// signed with the revoked first key (index 0): what a leaked key signs.
    RevokedKey,
    /// A genuine payload signed by the trusted key for another product: its signed
    /// `compatible` is [`OTHER_PRODUCT`], the board names none.
    Incompatible,
    /// A genuine payload signed by the trusted key that requires a confirmed version newer
    /// than A's (signed `requires-version` [`REQUIRED_VERSION`], A is 1.0.0).
    UnmetRequirement,
}

/// What slot A holds when an attack's flash state is prepared, before slot B is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setup {
    /// The genuine image, signed with the first trusted key (index 0).
    Genuine,
    /// The genuine payload signed with the second trusted key (index 1), declaring the
    /// keys below index 1 revoked (as the `key-rotation` scenario's update): once it has
    /// booted confirmed, key 0 is revoked on the device.
    Rotated,
}

impl Attack {
    /// Every attack boot, in table order.
    pub const ALL: [Attack; 9] = [
        Attack::ForgedHeader,
        Attack::AlteredPayload,
        Attack::UntrustedKey,
        Attack::CounterBelowFloor,
        Attack::LoadAddressOutside,
        Attack::BothInvalid,
        Attack::RevokedKey,
        Attack::Incompatible,
        Attack::UnmetRequirement,
    ];

    /// Its name on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Attack::ForgedHeader => "forged-header",
            Attack::AlteredPayload => "altered-payload",
            Attack::UntrustedKey => "untrusted-key",
            Attack::CounterBelowFloor => "counter-below-floor",
            Attack::LoadAddressOutside => "load-address-outside",
            Attack::BothInvalid => "both-invalid",
            Attack::RevokedKey => "revoked-key",
            Attack::Incompatible => "incompatible",
            Attack::UnmetRequirement => "unmet-requirement",
        }
    }

    /// By name.
    pub fn from_name(name: &str) -> Option<Attack> {
        Attack::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether slot A still holds its genuine valid image.
    pub fn a_valid(self) -> bool {
        self != Attack::BothInvalid
    }

    /// What slot A holds before the attack is written into B.
    pub fn setup(self) -> Setup {
        match self {
            Attack::RevokedKey => Setup::Rotated,
            _ => Setup::Genuine,
        }
    }
}

/// The signing keys of a campaign: the board's two trusted keys and one it never trusts.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The first trusted key (index 0): signs the genuine images; revoked in
    /// [`Attack::RevokedKey`].
    pub first: KeyPair,
    /// The second trusted key (index 1): signs slot A of [`Setup::Rotated`].
    pub next: KeyPair,
    /// The attacker's key ([`untrusted_key`]).
    pub untrusted: KeyPair,
}

impl Keys {
    /// The board's trusted public keys, in key-index order.
    pub fn trusted(&self) -> [[u8; 32]; 2] {
        [*self.first.pk, *self.next.pk]
    }
}

/// The security counter of the genuine images (A's, once confirmed, is the record's floor).
pub const GENUINE_COUNTER: u32 = 2;

/// The attacker's signing key: fixed (so the images repeat), never trusted by any board.
pub fn untrusted_key() -> KeyPair {
    KeyPair::from_seed(ed25519_compact::Seed::new([0x5A; 32]))
}

/// The attacker's payload: the genuine one with its last 16 bytes (or all, if shorter)
/// inverted, same length.
pub fn attacker_payload(genuine: &[u8]) -> Vec<u8> {
    let mut p = genuine.to_vec();
    let from = p.len().saturating_sub(16);
    for b in p.iter_mut().skip(from) {
        *b = !*b;
    }
    p
}

/// The version of the genuine image in slot A (B's genuine image is 2.0.0, and so are the
/// attack images).
pub const A_VERSION: Version = Version { major: 1, minor: 0, revision: 0, build: 0 };

/// What [`Attack::UnmetRequirement`]'s image requires of the confirmed image: newer than
/// [`A_VERSION`].
pub const REQUIRED_VERSION: Version = Version { major: 1, minor: 1, revision: 0, build: 0 };

/// The version of B's genuine image and of the attack images.
const B_VERSION: Version = Version { major: 2, minor: 0, revision: 0, build: 0 };

/// The signed metadata a recipe built (`None`: it did not encode).
fn metadata(tlvs: Option<Tlvs>) -> Result<Tlvs, FiError> {
    tlvs.ok_or_else(|| FiError::Image("the signed metadata does not encode".into()))
}

/// `payload` signed for `target` with `key` through the image library.
fn sign_tlvs(
    payload: &[u8],
    target: &SlotTarget,
    key: &KeyPair,
    version: Version,
    counter: u32,
    tlvs: Tlvs,
) -> Result<Vec<u8>, FiError> {
    let params = SignParams { version, security_counter: counter, entry: 0, tlvs };
    safeslot_image::sign(payload, target, key, params).map_err(|e| FiError::Image(e.to_string()))
}

/// `payload` signed for `target` with `key`, version 2.0.0 and no signed metadata.
fn sign(payload: &[u8], target: &SlotTarget, key: &KeyPair, counter: u32) -> Result<Vec<u8>, FiError> {
    sign_tlvs(payload, target, key, B_VERSION, counter, Tlvs::EMPTY)
}

/// What slot A holds in the flash state of attacks with `setup` before the setup boots
/// confirm it (header area and image): the genuine payload `payload` (flat, as it runs at
/// A's image address), version [`A_VERSION`], security counter [`GENUINE_COUNTER`].
///
/// # Errors
/// [`FiError::Image`] when the image library refuses the payload.
pub fn slot_a_image(setup: Setup, payload: &[u8], a: &SlotTarget, keys: &Keys) -> Result<Vec<u8>, FiError> {
    match setup {
        Setup::Genuine => sign_tlvs(payload, a, &keys.first, A_VERSION, GENUINE_COUNTER, Tlvs::EMPTY),
        Setup::Rotated => {
            let tlvs = metadata(rotation_tlvs(Tlvs::EMPTY))?;
            sign_tlvs(payload, a, &keys.next, A_VERSION, GENUINE_COUNTER, tlvs)
        }
    }
}

/// The genuine image slot B holds while the setup boots activate it (the attack then
/// replaces it): `payload` signed with the first trusted key, version 2.0.0, security
/// counter [`GENUINE_COUNTER`].
///
/// # Errors
/// [`FiError::Image`] when the image library refuses the payload.
pub fn genuine_b_image(payload: &[u8], b: &SlotTarget, keys: &Keys) -> Result<Vec<u8>, FiError> {
    sign(payload, b, &keys.first, GENUINE_COUNTER)
}

/// What slot B holds for `attack` (header area and image, as the slot's first bytes),
/// built with the image library from the genuine payload `payload` (flat, as it runs at
/// B's image address) and `keys`.
///
/// # Errors
/// [`FiError::Image`] when the image library refuses the payload.
pub fn attack_image(attack: Attack, payload: &[u8], b: &SlotTarget, keys: &Keys) -> Result<Vec<u8>, FiError> {
    let (key, untrusted) = (&keys.first, &keys.untrusted);
    let hs = b.header_size() as usize;
    let evil = attacker_payload(payload);
    let replace_payload = |mut img: Vec<u8>| -> Vec<u8> {
        img.truncate(hs);
        img.extend_from_slice(&evil);
        img
    };
    Ok(match attack {
        Attack::ForgedHeader => {
            let mut img = replace_payload(sign(payload, b, key, GENUINE_COUNTER)?);
            let at = field::IMAGE_HASH;
            img.get_mut(at..at + 32)
                .ok_or_else(|| FiError::Image("header shorter than its hash field".into()))?
                .copy_from_slice(&Sha256::digest(&evil));
            img
        }
        Attack::AlteredPayload | Attack::BothInvalid => replace_payload(sign(payload, b, key, GENUINE_COUNTER)?),
        Attack::UntrustedKey => sign(&evil, b, untrusted, GENUINE_COUNTER)?,
        Attack::CounterBelowFloor => sign(payload, b, key, GENUINE_COUNTER - 1)?,
        Attack::LoadAddressOutside => {
            // The image library always signs for the slot's own address; the shared
            // builder it wraps takes any: the boot stage's RAM, outside every slot.
            let params = safeslot_shared::image::SignParams {
                header_size: u16::try_from(hs).map_err(|_| FiError::Image("header size".into()))?,
                load_addr: 0x2000_0000,
                entry: 0,
                version: B_VERSION,
                security_counter: GENUINE_COUNTER,
                tlvs: Tlvs::EMPTY,
            };
            safeslot_shared::image::build_slot_image(&params, &evil, key, b.size())
                .map_err(|e| FiError::Image(e.to_string()))?
        }
        // Signed with the key slot A's confirmed image revoked.
        Attack::RevokedKey => sign(&evil, b, &keys.first, GENUINE_COUNTER)?,
        Attack::Incompatible => {
            sign_tlvs(payload, b, key, B_VERSION, GENUINE_COUNTER, metadata(product_tlvs(OTHER_PRODUCT))?)?
        }
        Attack::UnmetRequirement => {
            let mut tlvs = Tlvs::EMPTY;
            let pushed = tlvs.push(tag::REQUIRES_VERSION, &REQUIRED_VERSION.to_bytes()).is_ok();
            sign_tlvs(payload, b, key, B_VERSION, GENUINE_COUNTER, metadata(pushed.then_some(tlvs))?)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use safeslot_shared::policy::Admission;
    use safeslot_shared::reason::Reason;
    use safeslot_shared::verify::{verify_bootable, verify_slot, SlotRegion, Trust, Verified};

    fn report(end: End, skip: SkipStatus) -> Report {
        Report { total: 10, skip, skip_size: 2, end }
    }

    #[test]
    fn args_encode_every_option() {
        let a = PluginArgs {
            out: "/t/o,ut".into(),
            trace: Some("/t/tr".into()),
            skip: Some(SkipPoint { index: 7, pc: 0x4a2, hit: 3 }),
            stops: vec![0x10..0x20, 0x30..0x40],
            faults: vec![0x35b0],
            budget: 99,
        };
        assert_eq!(
            a.encode(Path::new("/p.so")),
            "/p.so,out=/t/o,,ut,trace=/t/tr,skip=0x4a2:3,stop=0x10:0x20,stop=0x30:0x40,fault=0x35b0,budget=99"
        );
        assert_eq!(PluginArgs { out: "o".into(), ..PluginArgs::default() }.encode(Path::new("p")), "p,out=o");
    }

    #[test]
    fn reports_parse() {
        let r =
            Report::parse("insn_skip 1\ntotal 3877586\nskip applied 0x4092 168 4\nend stop 1 0x21410800\n").unwrap();
        assert_eq!(r.total, 3_877_586);
        assert_eq!(r.skip, SkipStatus::Applied);
        assert_eq!(r.skip_size, 4);
        assert_eq!(r.end, End::Stop { range: 1, pc: 0x2141_0800 });
        let r = Report::parse("insn_skip 1\ntotal 5\nskip none 0x0 0 0\nend fault 0x35b0\n").unwrap();
        assert_eq!((r.skip, r.end), (SkipStatus::None, End::Fault(0x35b0)));
        for end in ["budget", "idle", "exit"] {
            assert!(Report::parse(&format!("insn_skip 1\ntotal 5\nskip missed 0x2 1 2\nend {end}\n")).is_ok());
        }
        assert!(Report::parse("insn_count 1\ntotal 5\n").is_err());
        assert!(Report::parse("insn_skip 1\ntotal 5\nskip none 0x0 0 0\n").is_err());
        assert!(Report::parse("insn_skip 1\ntotal x\nskip none 0x0 0 0\nend exit\n").is_err());
        assert!(Report::parse("insn_skip 1\ntotal 1\nskip none 0x0 0 0\nend later\n").is_err());
    }

    #[test]
    fn classification() {
        let verified = [true, false];
        let stop = |range| report(End::Stop { range, pc: 0 }, SkipStatus::Applied);
        assert_eq!(classify(Some(&stop(0)), Some(0), false, &verified), RunEnd::Fallback);
        assert_eq!(classify(Some(&stop(1)), Some(0), false, &verified), RunEnd::Unverified);
        // Both slots invalid: a hand-off anywhere is unverified.
        assert_eq!(classify(Some(&stop(0)), Some(0), false, &[false, false]), RunEnd::Unverified);
        let exit = report(End::Exit, SkipStatus::Applied);
        assert_eq!(classify(Some(&exit), Some(Exit::Recovery.status()), false, &verified), RunEnd::Refused);
        assert_eq!(classify(Some(&exit), Some(0x53), false, &verified), RunEnd::Crashed);
        assert_eq!(classify(Some(&exit), Some(0), false, &verified), RunEnd::Crashed);
        let fault = report(End::Fault(0x35b0), SkipStatus::Applied);
        assert_eq!(classify(Some(&fault), Some(0), false, &verified), RunEnd::Crashed);
        for end in [End::Budget, End::Idle] {
            assert_eq!(classify(Some(&report(end, SkipStatus::Applied)), Some(0), false, &verified), RunEnd::Hung);
        }
        assert_eq!(classify(None, None, true, &verified), RunEnd::Hung);
        assert_eq!(classify(None, Some(-6), false, &verified), RunEnd::Crashed);
        let missed = report(End::Stop { range: 1, pc: 0 }, SkipStatus::Missed);
        assert_eq!(classify(Some(&missed), Some(0), false, &verified), RunEnd::NotApplied);
    }

    #[test]
    fn skip_points_count_executions() {
        let trace = [0x400, 0x402, 0x400, 0x402, 0x404, 0x400];
        let p = skip_points(&trace, &[0, 2, 3, 5, 9]);
        let got: Vec<_> = p.iter().map(|s| (s.index, s.pc, s.hit)).collect();
        assert_eq!(got, vec![(0, 0x400, 1), (2, 0x400, 2), (3, 0x402, 2), (5, 0x400, 3)]);
        assert_eq!(decode_trace(&[0, 4, 0, 0, 2, 4, 0, 0, 9]), vec![0x400, 0x402]);
    }

    #[test]
    fn windows_keep_decisions_and_crypto_tails() {
        use Kind::{Crypto as C, Decision as D, Other as O};
        // Nothing before the first crypto; a tail only before a stretch with crypto; the
        // tail spans the other code (memcpy, ...) a crypto loop calls.
        let kinds = [O, D, D, C, C, C, C, C, D, O, D, O, C, C, O, D];
        assert_eq!(windows(&kinds, 2), vec![6..9, 10..11, 13..16]);
        assert_eq!(windows(&kinds, 0), vec![8..9, 10..11, 15..16]);
        assert!(windows(&[], 5).is_empty());
        assert!(windows(&[D, O, D], 5).is_empty());
    }

    #[test]
    fn samples_union_windows_and_stride() {
        assert_eq!(sample(0..20, &[3..5, 18..25], 8), vec![3, 4, 12, 18, 19]);
        assert_eq!(sample(0..20, &[], 0), Vec::<u64>::new());
        assert_eq!(sample(10..14, &[0..12, 13..20], 0), vec![10, 11, 13]);
    }

    fn keys() -> Keys {
        let seed = |b| KeyPair::from_seed(ed25519_compact::Seed::new([b; 32]));
        Keys { first: seed(7), next: seed(8), untrusted: seed(9) }
    }

    /// Slot `name`'s target on the virtual board's geometry, at offset 0 of its own flash.
    fn target(name: &str, offset: u32) -> SlotTarget {
        SlotTarget::new(Some(name.into()), 0x2100_0000, offset, 0x40_0000, 0x400).unwrap()
    }

    /// `img` verified as the stage verifies it, by a board trusting both of `keys`' trusted
    /// keys and naming no product (as the virtual board).
    fn verify(img: &[u8], t: &SlotTarget, keys: &Keys) -> Result<Verified, Reason> {
        let mut flash = safeslot_image::flash::SliceFlash::new(img);
        verify_slot(&mut flash, region(t), &Trust::keys(&keys.trusted()))
    }

    fn region(t: &SlotTarget) -> SlotRegion {
        SlotRegion { offset: 0, size: 0x40_0000, header_size: 0x400, load_addr: Some(t.image_address()) }
    }

    const PAYLOAD_LEN: u32 = 3000;

    fn payload() -> Vec<u8> {
        (0..PAYLOAD_LEN).map(|i| i as u8).collect()
    }

    #[test]
    fn attack_images_fail_as_intended() {
        let (keys, b) = (keys(), target("b", 0x41_0000));
        let payload = payload();
        let check = |attack| verify(&attack_image(attack, &payload, &b, &keys).unwrap(), &b, &keys);
        assert_eq!(check(Attack::ForgedHeader).err(), Some(Reason::BadSignature));
        assert_eq!(check(Attack::AlteredPayload).err(), Some(Reason::BadHash));
        assert_eq!(check(Attack::BothInvalid).err(), Some(Reason::BadHash));
        assert_eq!(check(Attack::UntrustedKey).err(), Some(Reason::UnknownKey));
        assert_eq!(check(Attack::LoadAddressOutside).err(), Some(Reason::WrongAddress));
        assert_eq!(check(Attack::Incompatible).err(), Some(Reason::Incompatible));
        // Valid on its own: the record's floor refuses it.
        let v = check(Attack::CounterBelowFloor).unwrap();
        assert_eq!(v.header.security_counter, GENUINE_COUNTER - 1);
        assert_eq!(Attack::from_name("forged-header"), Some(Attack::ForgedHeader));
        assert!(Attack::ALL.iter().all(|a| Attack::from_name(a.name()) == Some(*a)));
    }

    #[test]
    fn incompatible_is_genuinely_signed_for_another_product() {
        let (keys, b) = (keys(), target("b", 0x41_0000));
        let img = attack_image(Attack::Incompatible, &payload(), &b, &keys).unwrap();
        // Everything but the product holds: on a board that is that product, it verifies,
        // with the first trusted key, over the genuine payload.
        let mut flash = safeslot_image::flash::SliceFlash::new(&img);
        let other = Trust { keys: &keys.trusted(), compatible: Some(OTHER_PRODUCT) };
        let v = verify_slot(&mut flash, region(&b), &other).unwrap();
        assert_eq!((v.key_index, v.header.security_counter), (0, GENUINE_COUNTER));
        assert_eq!(&img[0x400..], &payload()[..]);
        // The board's own images name no product, and verify there.
        let genuine = genuine_b_image(&payload(), &b, &keys).unwrap();
        assert!(verify(&genuine, &b, &keys).is_ok());
    }

    #[test]
    fn revoked_key_image_is_valid_but_signed_with_the_key_a_revokes() {
        let keys = keys();
        let (a, b) = (target("a", 0x1_0000), target("b", 0x41_0000));
        assert_eq!(Attack::RevokedKey.setup(), Setup::Rotated);
        assert!(Attack::ALL.iter().filter(|&&x| x != Attack::RevokedKey).all(|x| x.setup() == Setup::Genuine));
        // Slot A of the rotated setup: genuine, signed with key 1, revoking keys below 1.
        let a_img = slot_a_image(Setup::Rotated, &payload(), &a, &keys).unwrap();
        let av = verify(&a_img, &a, &keys).unwrap();
        assert_eq!((av.key_index, av.info().revoke_below, av.header.version), (1, 1, A_VERSION));
        assert_eq!(
            verify(&slot_a_image(Setup::Genuine, &payload(), &a, &keys).unwrap(), &a, &keys).unwrap().key_index,
            0
        );
        // Slot B: well-formed, trusted key 0, the right counter and address.
        let img = attack_image(Attack::RevokedKey, &payload(), &b, &keys).unwrap();
        let bv = verify(&img, &b, &keys).unwrap();
        assert_eq!((bv.key_index, bv.header.security_counter), (0, GENUINE_COUNTER));
        assert_eq!(&img[0x400..], &attacker_payload(&payload())[..]);
        // Once A is confirmed (the key floor is what A revokes), the stage's rule refuses B;
        // before, it would boot.
        let mut flash = safeslot_image::flash::SliceFlash::new(&img);
        let confirmed = |key_floor| Admission {
            floor: GENUINE_COUNTER,
            key_floor,
            confirmed: Some(A_VERSION),
            refuse_downgrade: false,
        };
        let trusted = keys.trusted();
        let trust = Trust::keys(&trusted);
        let after = confirmed(av.info().revoke_below);
        assert_eq!(verify_bootable(&mut flash, region(&b), &trust, &after, true).err(), Some(Reason::RevokedKey));
        assert!(verify_bootable(&mut flash, region(&b), &trust, &confirmed(0), true).is_ok());
    }

    #[test]
    fn unmet_requirement_image_requires_more_than_a() {
        let (keys, b) = (keys(), target("b", 0x41_0000));
        let img = attack_image(Attack::UnmetRequirement, &payload(), &b, &keys).unwrap();
        let v = verify(&img, &b, &keys).unwrap();
        assert_eq!(v.info().requires, Some(REQUIRED_VERSION));
        assert!(A_VERSION < REQUIRED_VERSION);
        let trusted = keys.trusted();
        let mut flash = safeslot_image::flash::SliceFlash::new(&img);
        let over = |v| Admission { floor: GENUINE_COUNTER, key_floor: 0, confirmed: Some(v), refuse_downgrade: false };
        let trust = Trust::keys(&trusted);
        assert_eq!(
            verify_bootable(&mut flash, region(&b), &trust, &over(A_VERSION), true).err(),
            Some(Reason::UnmetRequirement)
        );
        assert!(verify_bootable(&mut flash, region(&b), &trust, &over(REQUIRED_VERSION), true).is_ok());
    }
}
