//! The scenario catalogue, written once against [`Rig`]: every way an update can go
//! right or wrong, each an assertion on what ran and what the record says.
//!
//! A [`Kit`] holds the signing key and the two demo apps (taken out of the signed
//! `a-v1.img`/`b-v2.img`) and builds the variants the scenarios install: re-signed with
//! another security counter, signed with a wrong key, a header field or an image byte
//! tampered, truncated, too long for the slot. Each scenario starts from its own state
//! (it erases the record region first), so scenarios can run in any order and on any
//! rig; the virtual rig runs each in its own QEMU flash file.

use ed25519_compact::{KeyPair, Seed};
use safeslot_shared::header::{field, SlotHeader, HEADER_LEN};
use safeslot_shared::image::{build_slot_image, sign_header, SignParams};
use safeslot_shared::protocol::order::{Order, WriteFault};
use safeslot_shared::reset::ResetCause;
use safeslot_shared::tlv::Tlvs;
use safeslot_shared::{Event, Reason, Record, SlotId, Tries};

use crate::rig::{Ran, Rig};
use crate::story::{Entry, Story, StoryError};

use SlotId::{A, B};

/// Tries an activation gives (the app's `activate=b`, the boot stage's fresh record).
pub const TRIES: u8 = Tries::DEFAULT.get();

/// Why a [`Kit`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KitError {
    /// The key file is not an ed25519 PKCS#8 PEM key.
    #[error("signing key: {0}")]
    Key(String),
    /// A signed image does not decode or does not fit.
    #[error("image {0}: {1}")]
    Image(&'static str, String),
    /// Re-signing the image with the key does not reproduce it byte for byte.
    #[error("image {0} was not signed with this key (re-signing does not reproduce it)")]
    NotThisKey(&'static str),
}

/// One demo app: its header parameters and its bytes.
#[derive(Debug, Clone)]
struct App {
    params: SignParams,
    body: Vec<u8>,
}

impl App {
    fn from_signed(name: &'static str, img: &[u8]) -> Result<App, KitError> {
        let bad = |why: String| KitError::Image(name, why);
        let h = SlotHeader::decode(img).map_err(|e| bad(format!("{e:?}")))?;
        let start = usize::from(h.header_size);
        let end = start.checked_add(h.image_len as usize).ok_or_else(|| bad("length overflows".into()))?;
        let body = img.get(start..end).ok_or_else(|| bad("shorter than its header says".into()))?.to_vec();
        let params = SignParams {
            header_size: h.header_size,
            load_addr: h.load_addr,
            entry: h.entry,
            version: h.version,
            security_counter: h.security_counter,
            tlvs: h.tlvs,
        };
        Ok(App { params, body })
    }
}

/// The key and the apps the scenarios sign their variants with.
#[derive(Debug, Clone)]
pub struct Kit {
    key: KeyPair,
    /// A second key the firmware trusts (index 1), when the rig has one.
    next: Option<KeyPair>,
    apps: [App; 2],
    a_v1: Vec<u8>,
    b_v2: Vec<u8>,
    slot_size: u32,
}

impl Kit {
    /// From the signing key (PKCS#8 PEM) and the signed demo images; checks that the key
    /// reproduces both images exactly (ed25519 signatures are deterministic).
    pub fn new(key_pem: &str, a_v1: &[u8], b_v2: &[u8], slot_size: u32) -> Result<Kit, KitError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| KitError::Key(e.to_string()))?;
        let apps = [App::from_signed("a", a_v1)?, App::from_signed("b", b_v2)?];
        let kit = Kit { key, next: None, apps, a_v1: a_v1.to_vec(), b_v2: b_v2.to_vec(), slot_size };
        for (slot, name, img) in [(A, "a", a_v1), (B, "b", b_v2)] {
            let app = kit.app(slot);
            if kit.sign(slot, app.params.security_counter) != img {
                return Err(KitError::NotThisKey(name));
            }
        }
        Ok(kit)
    }

    /// The kit with `next_pem` (PKCS#8 PEM) as the firmware's second trusted key (index 1).
    pub fn with_next_key(mut self, next_pem: &str) -> Result<Kit, KitError> {
        self.next = Some(KeyPair::from_pem(next_pem).map_err(|e| KitError::Key(e.to_string()))?);
        Ok(self)
    }

    /// The slot's app signed with the second trusted key (index 1), declaring that keys
    /// below index 1 are revoked once it is confirmed; `None` without a second key.
    pub fn rotated(&self, slot: SlotId) -> Option<Vec<u8>> {
        let next = self.next.as_ref()?;
        let app = self.app(slot);
        let params = SignParams { tlvs: rotation_tlvs(app.params.tlvs)?, ..app.params };
        build_slot_image(&params, &app.body, next, self.slot_size).ok()
    }

    fn app(&self, slot: SlotId) -> &App {
        &self.apps[usize::from(slot == B)]
    }

    /// The signed image as given (v1 for A, v2 for B).
    pub fn original(&self, slot: SlotId) -> Vec<u8> {
        if slot == B {
            self.b_v2.clone()
        } else {
            self.a_v1.clone()
        }
    }

    /// The slot's app signed with `security_counter`.
    pub fn sign(&self, slot: SlotId, security_counter: u32) -> Vec<u8> {
        self.sign_with(slot, &self.key, security_counter)
    }

    /// The slot's app signed with another key.
    pub fn sign_with(&self, slot: SlotId, key: &KeyPair, security_counter: u32) -> Vec<u8> {
        let app = self.app(slot);
        let params = SignParams { security_counter, ..app.params };
        // The apps came out of images that fit their slots, so this cannot fail.
        build_slot_image(&params, &app.body, key, self.slot_size).unwrap_or_default()
    }

    /// The slot's app signed, with the trusted key, for another product: its signed
    /// `compatible` names `product` (a format-2 header) where the board names none or
    /// another one.
    pub fn for_product(&self, slot: SlotId, product: &[u8]) -> Vec<u8> {
        let app = self.app(slot);
        let Some(tlvs) = product_tlvs(product) else { return Vec::new() };
        let params = SignParams { tlvs, ..app.params };
        build_slot_image(&params, &app.body, &self.key, self.slot_size).unwrap_or_default()
    }

    /// The slot's image signed by a key the boot stage does not trust.
    pub fn wrong_key(&self, slot: SlotId) -> Vec<u8> {
        let other = KeyPair::from_seed(Seed::new([0x5A; 32]));
        self.sign_with(slot, &other, self.app(slot).params.security_counter)
    }

    /// The slot's image with bit 0 of the first byte of header field `f` flipped (not
    /// re-signed: what an attacker or a bit flip does).
    pub fn tampered_header(&self, slot: SlotId, f: HeaderField) -> Vec<u8> {
        let mut img = self.original(slot);
        if let Some(b) = img.get_mut(f.offset()) {
            *b ^= 0x01;
        }
        img
    }

    /// The slot's image with one image byte (`at` = 0.0 first, 1.0 last) flipped.
    pub fn tampered_image(&self, slot: SlotId, at: f64) -> Vec<u8> {
        let mut img = self.original(slot);
        let start = usize::from(self.app(slot).params.header_size);
        let last = img.len().saturating_sub(1);
        let i = start + ((last - start) as f64 * at.clamp(0.0, 1.0)).round() as usize;
        if let Some(b) = img.get_mut(i) {
            *b ^= 0x01;
        }
        img
    }

    /// The slot's image missing its last `n` bytes (what an interrupted download leaves;
    /// the rest of the slot stays erased).
    pub fn truncated(&self, slot: SlotId, n: usize) -> Vec<u8> {
        let mut img = self.original(slot);
        img.truncate(img.len().saturating_sub(n));
        img
    }

    /// A correctly signed header whose image length runs past the end of the slot,
    /// followed by the real image.
    pub fn past_slot(&self, slot: SlotId) -> Vec<u8> {
        let app = self.app(slot);
        let mut h = match sign_header(&app.params, &app.body, &self.key) {
            Ok(h) => h,
            Err(_) => return Vec::new(),
        };
        h.image_len = self.slot_size - u32::from(app.params.header_size) + 1;
        h.signature = *self.key.sk.sign(h.signed_bytes(), None);
        let mut img = h.encode().to_vec();
        img.resize(usize::from(app.params.header_size), 0xFF);
        img.extend_from_slice(&app.body);
        img
    }
}

/// The product the `other-product` scenario and the `incompatible` attack boot of the
/// fault-injection campaign sign for: no board in this repository names it.
pub const OTHER_PRODUCT: &[u8] = b"acme,other-board";

/// The key index a rotation moves to (the firmware's second trusted key): an image signed
/// with it revokes the keys below it.
pub const ROTATED_KEY_INDEX: u8 = 1;

/// The signed metadata of an image signed with the rotated-to key: `tlvs` plus
/// `revoke-below` [`ROTATED_KEY_INDEX`] (once it is confirmed, keys below that index are
/// revoked). `None` when the area has no room for it or already holds a tag at or above
/// `revoke-below` (tags stay in ascending order). Shared by the
/// `key-rotation` scenario ([`Kit::rotated`]) and the `revoked-key` attack boot.
pub fn rotation_tlvs(tlvs: Tlvs) -> Option<Tlvs> {
    let mut tlvs = tlvs;
    tlvs.push(safeslot_shared::tlv::tag::REVOKE_BELOW, &[ROTATED_KEY_INDEX]).ok()?;
    Some(tlvs)
}

/// The signed metadata of an image built for `product`: its `compatible` alone (whatever
/// the board's own images carry is not kept). `None` when `product` is not a valid
/// identifier. Shared by the `other-product` scenario ([`Kit::for_product`]) and the
/// `incompatible` attack boot.
pub fn product_tlvs(product: &[u8]) -> Option<Tlvs> {
    let mut tlvs = Tlvs::EMPTY;
    tlvs.push(safeslot_shared::tlv::tag::COMPATIBLE, product).ok()?;
    Some(tlvs)
}

/// The fields of the slot header (`docs/FORMAT.md`, "Slot header").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderField {
    /// Magic "SSIH".
    Magic,
    /// Header format version.
    Format,
    /// Header area size.
    HeaderSize,
    /// Image length.
    ImageLen,
    /// Flags.
    Flags,
    /// Image version.
    Version,
    /// Security counter.
    SecurityCounter,
    /// Reserved word.
    Reserved,
    /// Load address.
    LoadAddr,
    /// Entry offset.
    Entry,
    /// SHA-256 of the image.
    Hash,
    /// Key id.
    KeyId,
    /// ed25519 signature.
    Signature,
}

impl HeaderField {
    /// Every field, in header order.
    pub const ALL: [HeaderField; 13] = [
        HeaderField::Magic,
        HeaderField::Format,
        HeaderField::HeaderSize,
        HeaderField::ImageLen,
        HeaderField::Flags,
        HeaderField::Version,
        HeaderField::SecurityCounter,
        HeaderField::Reserved,
        HeaderField::LoadAddr,
        HeaderField::Entry,
        HeaderField::Hash,
        HeaderField::KeyId,
        HeaderField::Signature,
    ];

    /// Byte offset of the field in the header.
    pub fn offset(self) -> usize {
        match self {
            HeaderField::Magic => field::MAGIC,
            HeaderField::Format => field::FORMAT,
            HeaderField::HeaderSize => field::HEADER_SIZE,
            HeaderField::ImageLen => field::IMAGE_LEN,
            HeaderField::Flags => field::FLAGS,
            HeaderField::Version => field::VERSION,
            HeaderField::SecurityCounter => field::SECURITY_COUNTER,
            HeaderField::Reserved => field::RESERVED,
            HeaderField::LoadAddr => field::LOAD_ADDR,
            HeaderField::Entry => field::ENTRY,
            HeaderField::Hash => field::IMAGE_HASH,
            HeaderField::KeyId => field::KEY_ID,
            HeaderField::Signature => field::SIGNATURE,
        }
    }

    /// The reason the verifier gives when bit 0 of the field's first byte flips: the
    /// structural checks (magic, format, flags, reserved, header size), then bounds,
    /// load address and key id come before the signature, which covers everything else.
    pub fn expected(self) -> Reason {
        match self {
            HeaderField::Magic => Reason::NoImage,
            HeaderField::Format | HeaderField::HeaderSize | HeaderField::Flags | HeaderField::Reserved => {
                Reason::BadHeader
            }
            HeaderField::LoadAddr => Reason::WrongAddress,
            HeaderField::KeyId => Reason::UnknownKey,
            HeaderField::ImageLen
            | HeaderField::Version
            | HeaderField::SecurityCounter
            | HeaderField::Entry
            | HeaderField::Hash
            | HeaderField::Signature => Reason::BadSignature,
        }
    }
}

const _: () = assert!(field::SIGNATURE + 64 == HEADER_LEN);

// ---- checks on a record -------------------------------------------------------------

type Check = Result<(), String>;

fn slot_is(r: &Record, slot: SlotId, confirmed: bool, tries: u8) -> Check {
    let s = r.slot(slot).ok_or(format!("no slot {slot}"))?;
    if s.confirmed != confirmed || s.tries.get() != tries || s.unbootable.is_some() {
        return Err(format!(
            "slot {slot}: confirmed={} tries={} unbootable={:?}, expected confirmed={confirmed} tries={tries} bootable",
            s.confirmed,
            s.tries.get(),
            s.unbootable
        ));
    }
    Ok(())
}

fn lkg_is(r: &Record, slot: Option<SlotId>) -> Check {
    if r.last_known_good != slot {
        return Err(format!("last-known-good {:?}, expected {slot:?}", r.last_known_good));
    }
    Ok(())
}

fn fallback_is(r: &Record, reason: Reason) -> Check {
    if r.last_fallback != reason {
        return Err(format!("last-fallback {}, expected {reason}", r.last_fallback));
    }
    Ok(())
}

fn unbootable_is(r: &Record, slot: SlotId, ok: &[Reason]) -> Check {
    match r.slot(slot).and_then(|s| s.unbootable) {
        Some(why) if ok.contains(&why) => Ok(()),
        other => Err(format!("slot {slot} unbootable={other:?}, expected one of {ok:?}")),
    }
}

fn has_event(r: &Record, slot: Option<SlotId>, event: Event, reason: Reason) -> Check {
    if r.history().any(|h| h.slot == slot && h.event == event && h.reason == reason) {
        return Ok(());
    }
    Err(format!("history lacks {slot:?} {} {reason}: {:?}", event.name(), r.history().collect::<Vec<_>>()))
}

/// The newest history entry of `event` for `slot` was recorded after a reset of `cause`.
fn newest_cause_is(r: &Record, slot: SlotId, event: Event, cause: ResetCause) -> Check {
    match r.history().filter(|h| h.slot == Some(slot) && h.event == event).last() {
        Some(h) if h.cause == cause => Ok(()),
        other => Err(format!("newest {} of {slot}: {other:?}, expected reset cause {}", event.name(), cause.name())),
    }
}

fn free_retries_are(r: &Record, n: u8) -> Check {
    if r.free_retries != n {
        return Err(format!("free retries used {}, expected {n}", r.free_retries));
    }
    Ok(())
}

fn primary_is(r: &Record, slot: SlotId) -> Check {
    if r.primary() != Some(slot) {
        return Err(format!("primary {:?}, expected {slot}", r.primary()));
    }
    Ok(())
}

fn unexpected(n: usize, what: &str, why: String) -> StoryError {
    StoryError::Unexpected { step: n, what: what.to_string(), why }
}

// ---- scenarios ----------------------------------------------------------------------

/// Starts an update: a blank record region, `a` in A and `b` in B; the first boot runs A
/// (on its factory trial), which activates B and confirms itself. Afterwards A is
/// confirmed and last-known-good and B is next with [`TRIES`] tries.
pub fn start_update<R: Rig>(s: &mut Story<'_, R>, a: &[u8], b: &[u8]) -> Result<(), StoryError> {
    s.rig().erase_record()?;
    s.rig().install(A, a)?;
    s.rig().install(B, b)?;
    s.boot("A (factory trial) activates B and confirms", Order::confirm().activate(B), Ran::App(A), |r| {
        slot_is(r, A, true, TRIES - 1)?;
        lkg_is(r, Some(A))?;
        slot_is(r, B, false, TRIES)?;
        primary_is(r, B)
    })?;
    Ok(())
}

/// A factory-fresh device (blank record region, B erased) boots A on its trial, A
/// confirms, and a confirmed boot writes nothing.
pub fn fresh_device<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    rig.erase_record()?;
    rig.install(A, &kit.original(A))?;
    rig.install(B, &[])?;
    if let Some(r) = rig.record()? {
        return Err(unexpected(0, "blank record region", format!("reads as a record: {r:?}")));
    }
    let mut s = Story::new(rig, false);
    s.boot("blank record: created, A boots on trial", Order::noconfirm(), Ran::App(A), |r| {
        slot_is(r, A, false, TRIES - 1)?;
        fallback_is(r, Reason::None)?;
        lkg_is(r, None)?;
        has_event(r, Some(A), Event::Created, Reason::None)?;
        has_event(r, Some(A), Event::TrialBoot, Reason::None)
    })?;
    s.boot("A on trial confirms", Order::confirm(), Ran::App(A), |r| {
        slot_is(r, A, true, TRIES - 2)?;
        lkg_is(r, Some(A))?;
        has_event(r, Some(A), Event::Confirmed, Reason::None)
    })?;
    let before = s.timeline.last().and_then(|e| e.record.clone());
    s.boot("confirmed boot writes nothing", Order::confirm(), Ran::App(A), |r| {
        if Some(r) == before.as_ref() {
            Ok(())
        } else {
            Err(format!("record changed: {r:?}"))
        }
    })?;
    Ok(s.timeline)
}

/// B is activated with [`TRIES`] tries, boots on trial, confirms, and stays.
pub fn update_confirmed<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &kit.original(B))?;
    s.boot("B on trial confirms", Order::confirm(), Ran::App(B), |r| {
        slot_is(r, B, true, TRIES - 1)?;
        lkg_is(r, Some(B))?;
        slot_is(r, A, true, TRIES - 1)
    })?;
    s.boot("B stays", Order::confirm(), Ran::App(B), |r| {
        slot_is(r, B, true, TRIES - 1)?;
        lkg_is(r, Some(B))?;
        fallback_is(r, Reason::None)
    })?;
    Ok(s.timeline)
}

/// B is activated and never confirms (`app=noconfirm`) or crashes before confirming
/// (`app=crash`): it runs exactly [`TRIES`] times, then A boots with `tries-exhausted`
/// recorded, and B does not run again.
pub fn update_never_confirms<R: Rig>(rig: &mut R, kit: &Kit, crash: bool) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &kit.original(B))?;
    let (args, ran) = if crash { (Order::crash(), Ran::Crash) } else { (Order::noconfirm(), Ran::App(B)) };
    let mut b_runs = 0;
    for left in (0..TRIES).rev() {
        s.boot("B on trial, does not confirm", args, ran.clone(), |r| {
            slot_is(r, B, false, left)?;
            if r.last_booted == Some(B) {
                Ok(())
            } else {
                Err(format!("last booted {:?}", r.last_booted))
            }
        })?;
        b_runs += 1;
    }
    s.boot("B out of tries: back on A", Order::confirm(), Ran::App(A), |r| {
        fallback_is(r, Reason::TriesExhausted)?;
        unbootable_is(r, B, &[Reason::TriesExhausted])?;
        slot_is(r, A, true, TRIES - 1)?;
        lkg_is(r, Some(A))?;
        has_event(r, Some(A), Event::Fallback, Reason::TriesExhausted)
    })?;
    s.boot("A stays", Order::confirm(), Ran::App(A), |r| unbootable_is(r, B, &[Reason::TriesExhausted]))?;
    if b_runs != usize::from(TRIES) {
        return Err(unexpected(s.timeline.len(), "count B's runs", format!("B ran {b_runs} times, expected {TRIES}")));
    }
    Ok(s.timeline)
}

/// Issue #15: B's trial hangs (`app=hang`: it never confirms, feeds the watchdog the boot
/// stage armed, or resets). The watchdog resets the board each time (the rig sees the
/// reset and tells the next boot its cause, as a chip's reset-reason register would): each
/// hang uses one try, the trial boots after a hang record the `watchdog` cause, and after
/// [`TRIES`] hangs A boots with `tries-exhausted` recorded and stays.
pub fn trial_hangs<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &kit.original(B))?;
    for left in (0..TRIES).rev() {
        s.boot("B on trial hangs: the watchdog resets the board", Order::hang(), Ran::Watchdog, |r| {
            slot_is(r, B, false, left)?;
            lkg_is(r, Some(A))?;
            if r.last_booted != Some(B) {
                return Err(format!("last booted {:?}", r.last_booted));
            }
            let cause = if left + 1 == TRIES { ResetCause::Unknown } else { ResetCause::Watchdog };
            newest_cause_is(r, B, Event::TrialBoot, cause)
        })?;
    }
    s.boot("B out of tries after the last hang: back on A", Order::confirm(), Ran::App(A), |r| {
        fallback_is(r, Reason::TriesExhausted)?;
        unbootable_is(r, B, &[Reason::TriesExhausted])?;
        slot_is(r, A, true, TRIES - 1)?;
        lkg_is(r, Some(A))?;
        has_event(r, Some(A), Event::Fallback, Reason::TriesExhausted)?;
        newest_cause_is(r, A, Event::Fallback, ResetCause::Watchdog)
    })?;
    s.boot("A stays", Order::confirm(), Ran::App(A), |r| unbootable_is(r, B, &[Reason::TriesExhausted]))?;
    Ok(s.timeline)
}

/// Issue #15: B's trial confirms and then serves on under the watchdog the stage armed
/// (`app=serve`: three of its timeouts of QEMU virtual time, feeding it) without being
/// reset; confirmed, B boots unarmed (the layout arms trial boots only) and serves again.
pub fn confirmed_app_feeds_the_watchdog<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &kit.original(B))?;
    for (what, armed) in [("B on trial confirms, then serves fed", true), ("B confirmed serves, unarmed", false)] {
        let e = s.boot(what, Order::serve(), Ran::App(B), |r| {
            slot_is(r, B, true, TRIES - 1)?;
            lkg_is(r, Some(B))
        })?;
        let (n, served) = (e.n, e.boot.app_log.iter().find(|l| l.starts_with("app: served")).cloned());
        let want = format!("watchdog armed={armed}");
        match served {
            Some(l) if l.ends_with(&want) => {}
            other => return Err(unexpected(n, what, format!("app log {other:?}, expected `... {want}`"))),
        }
    }
    Ok(s.timeline)
}

/// Issue #15, item 3: resets that are not the image's fault do not burn its tries, a
/// bounded number of times. B's trial is interrupted by power-on resets (`reset=power-on`,
/// the virtual board's stand-in for its reset-reason register): the first `free` of them
/// repeat the trial without using a try; after that every reset uses one, so a trial that
/// never confirms still falls back to A after [`TRIES`] tried boots.
pub fn power_loss_retries<R: Rig>(rig: &mut R, kit: &Kit, free: u8) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &kit.original(B))?;
    s.boot("B on trial, does not confirm", Order::noconfirm(), Ran::App(B), |r| {
        slot_is(r, B, false, TRIES - 1)?;
        free_retries_are(r, 0)
    })?;
    let power_on = Order::noconfirm().reset(ResetCause::PowerOn);
    for used in 1..=free {
        s.boot("power lost during B's trial: repeated for free", power_on, Ran::App(B), |r| {
            slot_is(r, B, false, TRIES - 1)?;
            free_retries_are(r, used)?;
            newest_cause_is(r, B, Event::TrialBoot, ResetCause::PowerOn)
        })?;
    }
    for left in (0..TRIES - 1).rev() {
        s.boot("power lost again: the bound is reached, a try is used", power_on, Ran::App(B), |r| {
            slot_is(r, B, false, left)?;
            free_retries_are(r, free)
        })?;
    }
    s.boot("B out of tries: back on A", power_on, Ran::App(A), |r| {
        fallback_is(r, Reason::TriesExhausted)?;
        unbootable_is(r, B, &[Reason::TriesExhausted])?;
        lkg_is(r, Some(A))
    })?;
    Ok(s.timeline)
}

/// Issue #12, failure 1, on the real firmware: B's trial does not confirm; the next boot's
/// flash refuses (`error`) or silently drops (`drop`) every write, so A boots read-only as
/// confirmed while the record still names B as last booted. A confirms itself (the slot the
/// hand-off names, A: nothing to write), never B: B runs its remaining tries, then A for
/// good, and the floor and last-known-good slot are A's throughout.
pub fn write_fault_fallback<R: Rig>(rig: &mut R, kit: &Kit, fault: WriteFault) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    // B carries a higher security counter than A: confirming B would raise the floor past A.
    start_update(&mut s, &kit.original(A), &kit.sign(B, 1))?;
    s.boot("B on trial, does not confirm", Order::noconfirm(), Ran::App(B), |r| slot_is(r, B, false, TRIES - 1))?;
    s.boot("writes fail: A boots read-only and confirms itself", Order::confirm().wfault(fault), Ran::App(A), |r| {
        slot_is(r, B, false, TRIES - 1)?;
        lkg_is(r, Some(A))?;
        if r.last_booted != Some(B) {
            return Err(format!("the record changed under a failing flash: last booted {:?}", r.last_booted));
        }
        Ok(())
    })?;
    for left in (0..TRIES - 1).rev() {
        s.boot("B runs its remaining tries", Order::noconfirm(), Ran::App(B), |r| {
            slot_is(r, B, false, left)?;
            lkg_is(r, Some(A))
        })?;
    }
    s.boot("B out of tries: back on A", Order::confirm(), Ran::App(A), |r| {
        unbootable_is(r, B, &[Reason::TriesExhausted])?;
        lkg_is(r, Some(A))?;
        if r.rollback_floor != 0 {
            return Err(format!("floor {} rose to B's counter", r.rollback_floor));
        }
        Ok(())
    })?;
    Ok(s.timeline)
}

/// `b` is installed in B and activated; B never runs, A boots and the record holds one
/// of `reasons` (all image faults) for B, also as the last fallback.
pub fn rejected_b<R: Rig>(rig: &mut R, kit: &Kit, b: &[u8], reasons: &[Reason]) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), b)?;
    s.boot("bad B refused: A boots", Order::confirm(), Ran::App(A), |r| {
        unbootable_is(r, B, reasons)?;
        let why = r.slot(B).and_then(|st| st.unbootable).unwrap_or(Reason::None);
        if !why.is_image_fault() {
            return Err(format!("{why} is not an image fault"));
        }
        fallback_is(r, why)?;
        has_event(r, Some(B), Event::Unbootable, why)?;
        slot_is(r, A, true, TRIES - 1)?;
        lkg_is(r, Some(A))
    })?;
    Ok(s.timeline)
}

/// Key rotation (issue #16, item 3): B, signed with the firmware's second key (index 1) and
/// declaring keys below 1 revoked, is tried and confirmed; nothing is revoked on its trial,
/// its next (confirmed) boot raises the record's key floor to 1; then A re-signed with the
/// first key (index 0, say leaked) is activated and refused with `revoked-key`.
pub fn key_rotation<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    let Some(b) = kit.rotated(B) else {
        return Err(unexpected(0, "key rotation", "the kit has no second trusted key".into()));
    };
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &b)?;
    let floor_is = |r: &Record, n: u8| {
        if r.key_floor == n {
            Ok(())
        } else {
            Err(format!("key floor {}, expected {n}", r.key_floor))
        }
    };
    s.boot("B (key 1, revokes keys below 1) on trial confirms", Order::confirm(), Ran::App(B), |r| {
        slot_is(r, B, true, TRIES - 1)?;
        floor_is(r, 0)
    })?;
    s.boot("B's first confirmed boot revokes key 0", Order::confirm(), Ran::App(B), |r| floor_is(r, 1))?;
    s.rig().install(A, &kit.sign(A, 0))?;
    s.boot("A re-signed with key 0, activated from B", Order::confirm().activate(A), Ran::App(B), |r| {
        primary_is(r, A)
    })?;
    s.boot("A's key is revoked: refused, B boots", Order::confirm(), Ran::App(B), |r| {
        unbootable_is(r, A, &[Reason::RevokedKey])?;
        fallback_is(r, Reason::RevokedKey)?;
        lkg_is(r, Some(B))?;
        floor_is(r, 1)
    })?;
    Ok(s.timeline)
}

/// Anti-rollback: B with security counter 5 is confirmed (the floor rises to 5); then A
/// re-signed with counter 4 is activated and refused with `rollback`; B keeps running.
pub fn rollback<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.sign(A, 0), &kit.sign(B, 5))?;
    s.boot("B (counter 5) confirms: floor 5", Order::confirm(), Ran::App(B), |r| {
        slot_is(r, B, true, TRIES - 1)?;
        if r.rollback_floor == 5 {
            Ok(())
        } else {
            Err(format!("floor {}, expected 5", r.rollback_floor))
        }
    })?;
    s.rig().install(A, &kit.sign(A, 4))?;
    s.boot("A re-signed with counter 4, activated from B", Order::confirm().activate(A), Ran::App(B), |r| {
        slot_is(r, A, false, TRIES)?;
        primary_is(r, A)
    })?;
    s.boot("A below the floor: refused, B boots", Order::confirm(), Ran::App(B), |r| {
        unbootable_is(r, A, &[Reason::Rollback])?;
        fallback_is(r, Reason::Rollback)?;
        lkg_is(r, Some(B))?;
        if r.rollback_floor == 5 {
            Ok(())
        } else {
            Err(format!("floor {}, expected 5", r.rollback_floor))
        }
    })?;
    Ok(s.timeline)
}

/// Issue #16: the hardware anti-rollback counter holds when the record's floor is gone.
/// B (counter 5) is confirmed on its trial (the counter stays 0: never on a trial), then
/// boots confirmed, which advances the counter to 5. Then the record is wiped
/// (`init_force == false`: the region erased, as by an attacker with flash access) or
/// reset by the Linux agent (`safeslotctl init --force --allow-rollback` on the flash file,
/// floor 0 in the record): either way the stage's fresh record puts the old A (counter 0)
/// on trial, the counter refuses it as a rollback, and B boots instead (a last resort: the
/// fresh record disabled it); the record gets the hardware floor back.
pub fn hardware_floor<R: Rig>(rig: &mut R, kit: &Kit, init_force: bool) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.sign(A, 0), &kit.sign(B, 5))?;
    let counter_is = |s: &mut Story<'_, R>, what: &str, want: u32| -> Result<(), StoryError> {
        match s.rig().hardware_counter()? {
            v if v == want => Ok(()),
            v => Err(unexpected(s.timeline.len(), what, format!("hardware counter {v}, expected {want}"))),
        }
    };
    let floor_is = |r: &Record, want: u32| {
        if r.rollback_floor == want {
            Ok(())
        } else {
            Err(format!("floor {}, expected {want}", r.rollback_floor))
        }
    };
    s.boot("B (counter 5) on trial confirms: record floor 5", Order::confirm(), Ran::App(B), |r| {
        slot_is(r, B, true, TRIES - 1)?;
        floor_is(r, 5)
    })?;
    counter_is(&mut s, "a trial never advances the hardware counter", 0)?;
    s.boot("B boots confirmed: the hardware counter advances to 5", Order::confirm(), Ran::App(B), |r| floor_is(r, 5))?;
    counter_is(&mut s, "advanced by the confirmed boot", 5)?;
    let what = if init_force {
        let out = s.rig().agent(&["init", "--force", "--allow-rollback"])?;
        match s.rig().record()? {
            Some(r) if r.rollback_floor == 0 && r.primary() == Some(A) => {}
            other => {
                return Err(unexpected(
                    s.timeline.len(),
                    "safeslotctl init --force --allow-rollback",
                    format!("{out}: {other:?}"),
                ))
            }
        }
        "after init --force --allow-rollback (record floor 0): old A refused by the hardware floor, B boots"
    } else {
        s.rig().erase_record()?;
        "record wiped: old A refused by the hardware floor, B boots"
    };
    s.boot(what, Order::confirm(), Ran::App(B), |r| {
        unbootable_is(r, A, &[Reason::Rollback])?;
        floor_is(r, 5)
    })?;
    counter_is(&mut s, "the hardware counter is unchanged", 5)?;
    Ok(s.timeline)
}

/// Both slots invalid (A's image tampered, B signed by a wrong key) after an update was
/// started: nothing is booted (no jump, no app log) and the record says why for each.
pub fn both_invalid<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &kit.original(B))?;
    s.rig().install(A, &kit.tampered_image(A, 0.5))?;
    s.rig().install(B, &kit.wrong_key(B))?;
    let check = |r: &Record| {
        unbootable_is(r, A, &[Reason::BadHash])?;
        unbootable_is(r, B, &[Reason::UnknownKey])?;
        lkg_is(r, None)?;
        has_event(r, Some(A), Event::Unbootable, Reason::BadHash)?;
        has_event(r, Some(B), Event::Unbootable, Reason::UnknownKey)
    };
    for what in ["both slots invalid: recovery", "still recovery, nothing written"] {
        let before = s.rig().record()?;
        let n = s.timeline.len() + 1;
        let e = s.boot(what, Order::confirm(), Ran::Recovery, check)?;
        if !e.boot.app_log.is_empty() {
            return Err(unexpected(n, what, format!("an app ran: {:?}", e.boot.app_log)));
        }
        if n > 2 && e.record != before {
            return Err(unexpected(n, what, "a repeated recovery boot changed the record".into()));
        }
    }
    Ok(s.timeline)
}

/// The recovery input held while an update is pending: the last-known-good A boots with
/// `recovery-input`, B's tries are untouched; released, B gets its trial.
pub fn recovery_input<R: Rig>(rig: &mut R, kit: &Kit) -> Result<Vec<Entry>, StoryError> {
    let mut s = Story::new(rig, false);
    start_update(&mut s, &kit.original(A), &kit.original(B))?;
    s.boot("recovery input held: last-known-good A", Order::confirm().recovery(), Ran::App(A), |r| {
        fallback_is(r, Reason::RecoveryInput)?;
        slot_is(r, B, false, TRIES)?;
        lkg_is(r, Some(A))?;
        has_event(r, Some(A), Event::Fallback, Reason::RecoveryInput)
    })?;
    s.boot("released: B gets its trial", Order::noconfirm(), Ran::App(B), |r| slot_is(r, B, false, TRIES - 1))?;
    Ok(s.timeline)
}

/// The record region holds garbage (`garbage`, e.g. random bytes): the boot stage
/// re-creates the record with `record-reset` and boots A on trial.
pub fn garbage_record<R: Rig>(rig: &mut R, kit: &Kit, garbage: &[u8]) -> Result<Vec<Entry>, StoryError> {
    rig.install(A, &kit.original(A))?;
    rig.install(B, &kit.original(B))?;
    rig.write_record_raw(garbage)?;
    if let Some(r) = rig.record()? {
        return Err(unexpected(0, "garbage record region", format!("reads as a record: {r:?}")));
    }
    let mut s = Story::new(rig, false);
    s.boot("garbage record: re-created, A on trial", Order::noconfirm(), Ran::App(A), |r| {
        fallback_is(r, Reason::NoValidRecord)?;
        slot_is(r, A, false, TRIES - 1)?;
        has_event(r, None, Event::Created, Reason::NoValidRecord)
    })?;
    s.boot("A confirms", Order::confirm(), Ran::App(A), |r| {
        slot_is(r, A, true, TRIES - 2)?;
        lkg_is(r, Some(A))
    })?;
    Ok(s.timeline)
}

/// `n` pseudo-random bytes from `seed` (xorshift64*; no dependency, same bytes everywhere).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The unit tests' key (seed 3) and slots A and B built from `body` for `slot_size`
    /// slots at the virtual board's load addresses (header 0x400, version 1.0.0).
    pub(crate) fn signed_pair(body: &[u8], slot_size: u32) -> (KeyPair, Vec<u8>, Vec<u8>) {
        let key = KeyPair::from_seed(Seed::new([3; 32]));
        let params = |addr| SignParams {
            header_size: 0x400,
            load_addr: addr,
            entry: 0,
            version: safeslot_shared::Version { major: 1, minor: 0, revision: 0, build: 0 },
            security_counter: 0,
            tlvs: safeslot_shared::tlv::Tlvs::EMPTY,
        };
        let a = build_slot_image(&params(0x2101_0400), body, &key, slot_size).unwrap();
        let b = build_slot_image(&params(0x2141_0400), body, &key, slot_size).unwrap();
        (key, a, b)
    }

    #[test]
    fn every_tamper_expectation_is_an_image_fault() {
        for f in HeaderField::ALL {
            assert!(f.expected().is_image_fault(), "{f:?}");
            assert!(f.offset() < HEADER_LEN);
        }
    }

    #[test]
    fn noise_is_deterministic_and_not_blank() {
        assert_eq!(noise(7, 64), noise(7, 64));
        assert_ne!(noise(7, 64), noise(8, 64));
        assert!(noise(1, 4096).iter().any(|&b| b != 0xFF));
    }

    #[test]
    fn kit_round_trips_and_builds_variants() {
        let body: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let (key, a, b) = signed_pair(&body, 0x40_0000);
        let kit = Kit::new(&key.sk.to_pem(), &a, &b, 0x40_0000).unwrap();
        assert_eq!(kit.sign(B, 0), b);
        assert_ne!(kit.sign(B, 5), b);
        assert_ne!(kit.wrong_key(A), a);
        assert_eq!(kit.truncated(A, 10).len(), a.len() - 10);
        assert_eq!(kit.tampered_image(A, 1.0)[a.len() - 1], a[a.len() - 1] ^ 1);
        assert_eq!(kit.tampered_image(A, 0.0)[0x400], a[0x400] ^ 1);
        let past = SlotHeader::decode(&kit.past_slot(A)).unwrap();
        assert!(!past.check_bounds(0x40_0000));
        let other = KeyPair::from_seed(Seed::new([4; 32]));
        assert!(matches!(Kit::new(&other.sk.to_pem(), &a, &b, 0x40_0000), Err(KitError::NotThisKey("a"))));
    }
}
