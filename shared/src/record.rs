//! The boot-control record: every slot's state plus global boot state.
//!
//! A record is a fixed [`RECORD_LEN`]-byte, little-endian structure with a magic, a format
//! version and a CRC-32 over every other byte. The byte table is in `docs/FORMAT.md`
//! ("Boot-control record"); the `field` module below mirrors it offset for offset.
//!
//! Decoding is strict and total: any byte string yields either a [`Record`] or a
//! [`DecodeError`], and `encode(decode(b)) == b` for every accepted `b` (reserved
//! bytes must be zero, unused slots and history entries must be zero).

use crate::codec::{crc32, get_u32, put};
use crate::error::DecodeError;
use crate::reason::Reason;
use crate::reset::ResetCause;
use crate::slot::{Priority, SlotId, Tries, MAX_SLOTS};
use crate::version::Version;

/// Size of an encoded record.
pub const RECORD_LEN: usize = 128;
/// "SSBR": safeslot boot record.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"SSBR");
/// The record format version this code writes. It also reads formats 1 and 2 (see
/// [`Record::decode`]).
pub const RECORD_FORMAT: u8 = 3;
/// Format 2: format 3 without the key floor (byte 9 reserved, zero). Still read and, by
/// writers other than the boot stage, written.
pub const RECORD_FORMAT_2: u8 = 2;
/// The previous format, which this code still reads (its history entries carry no reset
/// cause and it has no free-retry count).
pub const RECORD_FORMAT_1: u8 = 1;
/// Events kept in the history.
pub const HISTORY_LEN: usize = 8;
/// The "no slot" byte.
pub const NO_SLOT: u8 = 0xFF;

/// Byte offsets of the record's fields (see `docs/FORMAT.md`).
pub mod field {
    /// Magic "SSBR" (u32).
    pub const MAGIC: usize = 0;
    /// Format version (u8).
    pub const FORMAT: usize = 4;
    /// Number of slots in use, 2..=4 (u8).
    pub const SLOT_COUNT: usize = 5;
    /// Last slot the boot stage handed off to, or 0xFF (u8).
    pub const LAST_BOOTED: usize = 6;
    /// Last-known-good slot, or 0xFF (u8).
    pub const LAST_KNOWN_GOOD: usize = 7;
    /// Reason of the last fallback (u8).
    pub const LAST_FALLBACK: usize = 8;
    /// Key floor (u8, format 3; formats 1 and 2: reserved, zero): keys with a lower index
    /// are revoked.
    pub const KEY_FLOOR: usize = 9;
    /// Reserved, zero (2 bytes; 3 bytes from 9 in formats 1 and 2).
    pub const RESERVED0: usize = 10;
    /// Anti-rollback floor: minimum security counter (u32).
    pub const ROLLBACK_FLOOR: usize = 12;
    /// Slot entries, [`SLOT_LEN`] bytes each, four of them.
    pub const SLOTS: usize = 16;
    /// Size of one slot entry.
    pub const SLOT_LEN: usize = 16;
    /// Within a slot entry: priority (u8).
    pub const SLOT_PRIORITY: usize = 0;
    /// Within a slot entry: tries remaining (u8).
    pub const SLOT_TRIES: usize = 1;
    /// Within a slot entry: flags (u8): bit 0 confirmed, bit 1 unbootable.
    pub const SLOT_FLAGS: usize = 2;
    /// Within a slot entry: unbootable reason (u8).
    pub const SLOT_REASON: usize = 3;
    /// Within a slot entry: security counter of the installed image (u32).
    pub const SLOT_SECURITY: usize = 4;
    /// Within a slot entry: version of the installed image (8 bytes).
    pub const SLOT_VERSION: usize = 8;
    /// Number of valid history entries, 0..=8 (u8).
    pub const HISTORY_COUNT: usize = 80;
    /// Power-loss resets the running trial has had for free, without using a try (u8;
    /// format 2; format 1: reserved, zero).
    pub const FREE_RETRIES: usize = 81;
    /// Reserved, zero (2 bytes).
    pub const RESERVED1: usize = 82;
    /// History entries, oldest first, [`HISTORY_ENTRY_LEN`] bytes each, eight of them.
    pub const HISTORY: usize = 84;
    /// Size of one history entry: slot, event, reason, tries left, reset cause.
    pub const HISTORY_ENTRY_LEN: usize = 5;
    /// Format 1's history entry: slot, event, reason, tries left (followed by 8 reserved
    /// zero bytes at 116).
    pub const HISTORY_ENTRY_LEN_1: usize = 4;
    /// CRC-32 over bytes 0..124 (u32).
    pub const CRC: usize = 124;
}

/// Priority, tries, flags and reason are adjacent bytes in this order (the encoder stores
/// them at once).
const _: () = assert!(
    field::SLOT_TRIES == field::SLOT_PRIORITY + 1
        && field::SLOT_FLAGS == field::SLOT_PRIORITY + 2
        && field::SLOT_REASON == field::SLOT_PRIORITY + 3
);

const FLAG_CONFIRMED: u8 = 1 << 0;
const FLAG_UNBOOTABLE: u8 = 1 << 1;

/// The state of one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotState {
    /// Boot priority; 0 = disabled.
    pub priority: Priority,
    /// Attempts left while unconfirmed.
    pub tries: Tries,
    /// Booted and marked good.
    pub confirmed: bool,
    /// `Some(reason)` when the slot must not be booted.
    pub unbootable: Option<Reason>,
    /// Security counter of the image last verified in this slot.
    pub security_counter: u32,
    /// Version of the image last verified in this slot.
    pub version: Version,
}

impl SlotState {
    /// Enabled, not unbootable, and either confirmed or with tries left.
    pub fn is_bootable(&self) -> bool {
        self.priority != Priority::DISABLED
            && self.unbootable.is_none()
            && (self.confirmed || self.tries != Tries::ZERO)
    }
}

/// What a history entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Event {
    /// An unconfirmed slot was booted (its tries were decremented first).
    TrialBoot = 1,
    /// A slot other than the preferred one was booted.
    Fallback = 2,
    /// A slot was marked good.
    Confirmed = 3,
    /// A slot was marked bad or found unbootable.
    Unbootable = 4,
    /// A slot was activated for a trial (update).
    Activated = 5,
    /// The record was created.
    Created = 6,
    /// A slot was booted although every slot was exhausted (rather than brick).
    LastResort = 7,
    /// Reserved: never written by this version (an early draft meant "a confirmed slot
    /// was booted and the record changed"; such boots record nothing, so they cost no
    /// flash write). Still decoded, so a record that carries it is not refused.
    Boot = 8,
}

impl Event {
    /// Decodes an event byte.
    pub const fn from_u8(v: u8) -> Option<Event> {
        Some(match v {
            1 => Event::TrialBoot,
            2 => Event::Fallback,
            3 => Event::Confirmed,
            4 => Event::Unbootable,
            5 => Event::Activated,
            6 => Event::Created,
            7 => Event::LastResort,
            8 => Event::Boot,
            _ => return None,
        })
    }

    /// A stable lowercase name for logs and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Event::TrialBoot => "trial-boot",
            Event::Fallback => "fallback",
            Event::Confirmed => "confirmed",
            Event::Unbootable => "unbootable",
            Event::Activated => "activated",
            Event::Created => "created",
            Event::LastResort => "last-resort",
            Event::Boot => "boot",
        }
    }
}

/// One boot event in the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HistoryEntry {
    /// The slot concerned, if any.
    pub slot: Option<SlotId>,
    /// What happened.
    pub event: Event,
    /// Why.
    pub reason: Reason,
    /// The slot's tries after the event.
    pub tries: Tries,
    /// Why the chip reset before the boot that recorded the event ([`ResetCause::Unknown`]
    /// for events not recorded by the boot stage, and in format-1 records).
    pub cause: ResetCause,
}

/// The boot-control record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Record {
    slot_count: u8,
    slots: [SlotState; MAX_SLOTS],
    /// The slot the boot stage last handed off to.
    pub last_booted: Option<SlotId>,
    /// The slot most recently marked good.
    pub last_known_good: Option<SlotId>,
    /// The reason of the most recent fallback (`Reason::None` if none yet).
    pub last_fallback: Reason,
    /// Anti-rollback floor: images with a lower security counter are refused.
    pub rollback_floor: u32,
    /// Key floor: images signed by a trusted key whose index is below it are refused
    /// (revoked). Raised only by the boot stage, on a boot that finds a slot already
    /// confirmed whose image declares `revoke-below` (docs/SECURITY.md).
    pub key_floor: u8,
    /// Power-loss resets the running trial has had for free (the layout's bound keeps it
    /// finite; see the policy). Back to 0 when a trial is activated or confirmed.
    pub free_retries: u8,
    history: [Option<HistoryEntry>; HISTORY_LEN],
    /// The format [`Record::encode`] writes: the one it was decoded from, so that a writer
    /// never upgrades a record that an older boot stage may have to read
    /// (`docs/FORMAT.md`, "Version rule"); [`Record::upgrade`] moves it to
    /// [`RECORD_FORMAT`]. Format 1 cannot store reset causes or the free-retry count.
    format: u8,
}

impl Record {
    /// A fresh record for a device with `slot_count` slots (clamped to 2..=4): slot A
    /// active with `tries` attempts and unconfirmed, the other slots disabled.
    ///
    /// This is what the boot stage writes on a blank region (factory state): the
    /// factory image in A still has to confirm itself, and nothing is assumed good.
    pub fn fresh(slot_count: u8, tries: Tries) -> Record {
        let slot_count = slot_count.clamp(2, MAX_SLOTS as u8);
        let mut slots = [SlotState::default(); MAX_SLOTS];
        slots[0] = SlotState { priority: Priority::MAX, tries, ..SlotState::default() };
        let mut r = Record {
            slot_count,
            slots,
            last_booted: None,
            last_known_good: None,
            last_fallback: Reason::None,
            rollback_floor: 0,
            key_floor: 0,
            free_retries: 0,
            history: [None; HISTORY_LEN],
            format: RECORD_FORMAT,
        };
        r.push_history(HistoryEntry {
            slot: Some(SlotId::A),
            event: Event::Created,
            reason: Reason::None,
            tries,
            cause: ResetCause::Unknown,
        });
        r
    }

    /// Number of slots in use (2..=4).
    pub fn slot_count(&self) -> u8 {
        self.slot_count
    }

    /// The slot ids in use, in index order.
    pub fn slot_ids(&self) -> impl Iterator<Item = SlotId> + Clone {
        SlotId::ALL.into_iter().take(usize::from(self.slot_count))
    }

    /// True when `slot` is one of the slots in use.
    pub fn has_slot(&self, slot: SlotId) -> bool {
        slot.index() < usize::from(self.slot_count)
    }

    /// The state of `slot`; `None` for a slot beyond `slot_count`.
    pub fn slot(&self, slot: SlotId) -> Option<&SlotState> {
        if self.has_slot(slot) {
            self.slots.get(slot.index())
        } else {
            None
        }
    }

    /// Mutable state of `slot`; `None` for a slot beyond `slot_count`.
    pub fn slot_mut(&mut self, slot: SlotId) -> Option<&mut SlotState> {
        if self.has_slot(slot) {
            self.slots.get_mut(slot.index())
        } else {
            None
        }
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.history.iter().flatten()
    }

    /// Appends an event, dropping the oldest when the history is full.
    pub fn push_history(&mut self, e: HistoryEntry) {
        if self.history.iter().all(Option::is_some) {
            // Bubble the oldest entry to the end (= `rotate_left(1)`, which pulls in a
            // 1.5 KiB memmove on Cortex-M for these 8 words).
            for i in 1..self.history.len() {
                self.history.swap(i.wrapping_sub(1), i); // i >= 1: no wrap
            }
            if let Some(last) = self.history.last_mut() {
                *last = Some(e);
            }
        } else if let Some(free) = self.history.iter_mut().find(|h| h.is_none()) {
            *free = Some(e);
        }
    }

    /// The slot the boot stage will try first, judged from the record alone
    /// (assuming its image verifies): the highest-priority bootable slot, lowest
    /// index first on a tie. `None` when no slot is bootable by the record.
    pub fn primary(&self) -> Option<SlotId> {
        let mut best: Option<(SlotId, Priority)> = None;
        for id in self.slot_ids() {
            let Some(s) = self.slot(id) else { continue };
            if s.is_bootable() && best.is_none_or(|(_, p)| s.priority > p) {
                best = Some((id, s.priority));
            }
        }
        best.map(|(id, _)| id)
    }

    /// Encodes the record into its [`RECORD_LEN`] bytes.
    /// The format [`Record::encode`] writes.
    pub fn format(&self) -> u8 {
        self.format
    }

    /// Writes [`RECORD_FORMAT`] from now on. The boot stage does this before it persists a
    /// record (it reads every format, so the record region moves forward with it); the
    /// agent and the record operations keep the format they read.
    pub fn upgrade(&mut self) {
        self.format = RECORD_FORMAT;
    }

    /// Encodes the record into its [`RECORD_LEN`] bytes, in [`Record::format`] (format 1
    /// leaves out the reset causes and the free-retry count, formats 1 and 2 the key
    /// floor). A key floor above 0 is written as format 3 whatever the record was read
    /// as: a revocation is never dropped (only the boot stage raises it, and it writes
    /// format 3 anyway).
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        // All offsets below are constants inside RECORD_LEN: `put` cannot fail.
        put(&mut b, field::MAGIC, &RECORD_MAGIC.to_le_bytes());
        let format = if self.key_floor != 0 { RECORD_FORMAT } else { self.format };
        let v1 = format == RECORD_FORMAT_1;
        put(&mut b, field::FORMAT, &[format]);
        put(&mut b, field::KEY_FLOOR, &[self.key_floor]);
        put(&mut b, field::SLOT_COUNT, &[self.slot_count]);
        put(&mut b, field::LAST_BOOTED, &[slot_byte(self.last_booted)]);
        put(&mut b, field::LAST_KNOWN_GOOD, &[slot_byte(self.last_known_good)]);
        put(&mut b, field::LAST_FALLBACK, &[self.last_fallback.code()]);
        put(&mut b, field::ROLLBACK_FLOOR, &self.rollback_floor.to_le_bytes());
        let mut at = field::SLOTS;
        for (i, s) in self.slots.iter().enumerate() {
            if i < usize::from(self.slot_count) {
                let mut flags = 0;
                if s.confirmed {
                    flags |= FLAG_CONFIRMED;
                }
                if s.unbootable.is_some() {
                    flags |= FLAG_UNBOOTABLE;
                }
                let reason = s.unbootable.map_or(0, Reason::code);
                // One store of the four adjacent one-byte fields (four cost 108 B of boot
                // stage flash); a const assertion after `field` pins the order.
                put(&mut b, at.saturating_add(field::SLOT_PRIORITY), &[s.priority.get(), s.tries.get(), flags, reason]);
                put(&mut b, at.saturating_add(field::SLOT_SECURITY), &s.security_counter.to_le_bytes());
                put(&mut b, at.saturating_add(field::SLOT_VERSION), &s.version.to_bytes());
            }
            at = at.saturating_add(field::SLOT_LEN);
        }
        let count = self.history.iter().flatten().count();
        put(&mut b, field::HISTORY_COUNT, &[count as u8]);
        let entry_len = if v1 { field::HISTORY_ENTRY_LEN_1 } else { field::HISTORY_ENTRY_LEN };
        if !v1 {
            put(&mut b, field::FREE_RETRIES, &[self.free_retries]);
        }
        let mut at = field::HISTORY;
        for h in self.history.iter().flatten() {
            let e = [slot_byte(h.slot), h.event as u8, h.reason.code(), h.tries.get(), h.cause.code()];
            put(&mut b, at, e.get(..entry_len).unwrap_or(&e));
            at = at.saturating_add(entry_len);
        }
        let crc = crc32(b.get(..field::CRC).unwrap_or(&[]));
        put(&mut b, field::CRC, &crc.to_le_bytes());
        b
    }

    /// Decodes and validates a record. Total: never panics, whatever the input.
    pub fn decode(b: &[u8]) -> Result<Record, DecodeError> {
        if b.len() != RECORD_LEN {
            return Err(DecodeError::Length);
        }
        let byte = |at: usize| b.get(at).copied().ok_or(DecodeError::Length);
        if get_u32(b, field::MAGIC) != Some(RECORD_MAGIC) {
            return Err(DecodeError::Magic);
        }
        let format = byte(field::FORMAT)?;
        if !matches!(format, RECORD_FORMAT | RECORD_FORMAT_2 | RECORD_FORMAT_1) {
            return Err(DecodeError::UnsupportedVersion(format));
        }
        let v1 = format == RECORD_FORMAT_1;
        let stored = get_u32(b, field::CRC).ok_or(DecodeError::Length)?;
        if crc32(b.get(..field::CRC).ok_or(DecodeError::Length)?) != stored {
            return Err(DecodeError::Crc);
        }
        let slot_count = byte(field::SLOT_COUNT)?;
        if !(2..=MAX_SLOTS as u8).contains(&slot_count) {
            return Err(DecodeError::Field("slot_count"));
        }
        let slot_ref = |v: u8, name: &'static str| -> Result<Option<SlotId>, DecodeError> {
            if v == NO_SLOT {
                return Ok(None);
            }
            match SlotId::from_index(v) {
                Some(s) if v < slot_count => Ok(Some(s)),
                _ => Err(DecodeError::Field(name)),
            }
        };
        let last_booted = slot_ref(byte(field::LAST_BOOTED)?, "last_booted")?;
        let last_known_good = slot_ref(byte(field::LAST_KNOWN_GOOD)?, "last_known_good")?;
        let last_fallback = Reason::from_u8(byte(field::LAST_FALLBACK)?).ok_or(DecodeError::Field("last_fallback"))?;
        let zero = |from: usize, len: usize, name: &'static str| -> Result<(), DecodeError> {
            let end = from.checked_add(len).ok_or(DecodeError::Length)?;
            match b.get(from..end) {
                Some(s) if s.iter().all(|&x| x == 0) => Ok(()),
                _ => Err(DecodeError::Field(name)),
            }
        };
        zero(field::RESERVED0, 2, "reserved")?;
        let key_floor = byte(field::KEY_FLOOR)?;
        if format != RECORD_FORMAT && key_floor != 0 {
            return Err(DecodeError::Field("reserved"));
        }
        // Format 1: bytes 81..84 and the 8 bytes after its shorter history are reserved.
        let (entry_len, free_retries) = if v1 {
            zero(field::FREE_RETRIES, 3, "reserved")?;
            zero(field::HISTORY.saturating_add(HISTORY_LEN * field::HISTORY_ENTRY_LEN_1), 8, "reserved")?;
            (field::HISTORY_ENTRY_LEN_1, 0)
        } else {
            zero(field::RESERVED1, 2, "reserved")?;
            (field::HISTORY_ENTRY_LEN, byte(field::FREE_RETRIES)?)
        };
        let rollback_floor = get_u32(b, field::ROLLBACK_FLOOR).ok_or(DecodeError::Length)?;

        let mut slots = [SlotState::default(); MAX_SLOTS];
        let mut at = field::SLOTS;
        for (i, s) in slots.iter_mut().enumerate() {
            if i >= usize::from(slot_count) {
                zero(at, field::SLOT_LEN, "unused slot")?;
            } else {
                let priority = Priority::new(byte(at.saturating_add(field::SLOT_PRIORITY))?)
                    .ok_or(DecodeError::Field("priority"))?;
                let tries =
                    Tries::new(byte(at.saturating_add(field::SLOT_TRIES))?).ok_or(DecodeError::Field("tries"))?;
                let flags = byte(at.saturating_add(field::SLOT_FLAGS))?;
                if flags & !(FLAG_CONFIRMED | FLAG_UNBOOTABLE) != 0 {
                    return Err(DecodeError::Field("flags"));
                }
                let reason_byte = byte(at.saturating_add(field::SLOT_REASON))?;
                let unbootable = if flags & FLAG_UNBOOTABLE != 0 {
                    match Reason::from_u8(reason_byte) {
                        Some(Reason::None) | None => return Err(DecodeError::Field("unbootable reason")),
                        Some(r) => Some(r),
                    }
                } else if reason_byte != 0 {
                    return Err(DecodeError::Field("unbootable reason"));
                } else {
                    None
                };
                let security_counter =
                    get_u32(b, at.saturating_add(field::SLOT_SECURITY)).ok_or(DecodeError::Length)?;
                let vat = at.saturating_add(field::SLOT_VERSION);
                let vb: [u8; 8] = b
                    .get(vat..vat.saturating_add(Version::LEN))
                    .and_then(|s| s.try_into().ok())
                    .ok_or(DecodeError::Length)?;
                *s = SlotState {
                    priority,
                    tries,
                    confirmed: flags & FLAG_CONFIRMED != 0,
                    unbootable,
                    security_counter,
                    version: Version::from_bytes(vb),
                };
            }
            at = at.saturating_add(field::SLOT_LEN);
        }

        let count = usize::from(byte(field::HISTORY_COUNT)?);
        if count > HISTORY_LEN {
            return Err(DecodeError::Field("history_count"));
        }
        let mut history = [None; HISTORY_LEN];
        let mut at = field::HISTORY;
        for (i, h) in history.iter_mut().enumerate() {
            if i >= count {
                zero(at, entry_len, "unused history")?;
            } else {
                let slot = slot_ref(byte(at)?, "history slot")?;
                let event = Event::from_u8(byte(at.saturating_add(1))?).ok_or(DecodeError::Field("history event"))?;
                let reason =
                    Reason::from_u8(byte(at.saturating_add(2))?).ok_or(DecodeError::Field("history reason"))?;
                let tries = Tries::new(byte(at.saturating_add(3))?).ok_or(DecodeError::Field("history tries"))?;
                let cause = if v1 {
                    ResetCause::Unknown
                } else {
                    ResetCause::from_u8(byte(at.saturating_add(4))?).ok_or(DecodeError::Field("history reset cause"))?
                };
                *h = Some(HistoryEntry { slot, event, reason, tries, cause });
            }
            at = at.saturating_add(entry_len);
        }
        Ok(Record {
            slot_count,
            slots,
            last_booted,
            last_known_good,
            last_fallback,
            rollback_floor,
            key_floor,
            free_retries,
            history,
            format,
        })
    }
}

fn slot_byte(s: Option<SlotId>) -> u8 {
    s.map_or(NO_SLOT, |s| s.index() as u8)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_record() -> impl Strategy<Value = Record> {
        let slot = (0u8..=15, 0u8..=15, any::<bool>(), proptest::option::of(1u8..=16), any::<u32>(), any::<[u8; 8]>())
            .prop_map(|(p, t, c, u, sc, v)| SlotState {
                priority: Priority::new(p).unwrap(),
                tries: Tries::new(t).unwrap(),
                confirmed: c,
                unbootable: u.and_then(Reason::from_u8),
                security_counter: sc,
                version: Version::from_bytes(v),
            });
        let hist = (proptest::option::of(0u8..4), 1u8..=8, 0u8..=20, 0u8..=15, 0u8..=6);
        (
            2u8..=4,
            proptest::array::uniform4(slot),
            proptest::option::of(0u8..4),
            proptest::option::of(0u8..4),
            0u8..=16,
            any::<u32>(),
            proptest::collection::vec(hist, 0..12),
            any::<u8>(),
            any::<u8>(),
        )
            .prop_map(|(n, mut slots, lb, lkg, fb, floor, hist, free_retries, key_floor)| {
                let fix = |s: Option<u8>| s.filter(|&i| i < n).and_then(SlotId::from_index);
                for (i, s) in slots.iter_mut().enumerate() {
                    if i >= usize::from(n) {
                        *s = SlotState::default();
                    }
                }
                let mut r = Record {
                    slot_count: n,
                    slots,
                    last_booted: fix(lb),
                    last_known_good: fix(lkg),
                    last_fallback: Reason::from_u8(fb).unwrap(),
                    rollback_floor: floor,
                    key_floor,
                    free_retries,
                    history: [None; HISTORY_LEN],
                    format: RECORD_FORMAT,
                };
                for (s, e, reason, t, c) in hist {
                    r.push_history(HistoryEntry {
                        slot: fix(s),
                        event: Event::from_u8(e).unwrap(),
                        reason: Reason::from_u8(reason).unwrap(),
                        tries: Tries::new(t).unwrap(),
                        cause: ResetCause::from_u8(c).unwrap(),
                    });
                }
                r
            })
    }

    #[test]
    fn fresh_round_trips() {
        let r = Record::fresh(2, Tries::DEFAULT);
        let b = r.encode();
        assert_eq!(Record::decode(&b), Ok(r.clone()));
        assert_eq!(r.primary(), Some(SlotId::A));
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let b = Record::fresh(2, Tries::DEFAULT).encode();
        for i in 0..RECORD_LEN * 8 {
            let mut c = b;
            c[i / 8] ^= 1 << (i % 8);
            assert!(Record::decode(&c).is_err(), "bit {i} flip accepted");
        }
    }

    #[test]
    fn history_keeps_the_newest_eight() {
        let mut r = Record::fresh(2, Tries::DEFAULT);
        for t in 0..12u8 {
            r.push_history(HistoryEntry {
                slot: Some(SlotId::B),
                event: Event::TrialBoot,
                reason: Reason::None,
                cause: ResetCause::Unknown,
                tries: Tries::new(t).unwrap(),
            });
        }
        let tries: std::vec::Vec<u8> = r.history().map(|h| h.tries.get()).collect();
        assert_eq!(tries, [4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(Record::decode(&r.encode()), Ok(r));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(r in arb_record()) {
            let b = r.encode();
            prop_assert_eq!(Record::decode(&b), Ok(r));
        }

        #[test]
        fn decode_is_total_and_canonical(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(r) = Record::decode(&b) {
                prop_assert_eq!(&r.encode()[..], &b[..]);
            }
        }

        #[test]
        fn decode_of_valid_crc_garbage_is_total(mut b in proptest::array::uniform32(any::<u8>()).prop_flat_map(|_| proptest::collection::vec(any::<u8>(), RECORD_LEN))) {
            // Give random bytes a valid magic, format and CRC so decoding reaches the field checks.
            b[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
            b[4] = RECORD_FORMAT;
            let crc = crc32(&b[..field::CRC]);
            b[field::CRC..].copy_from_slice(&crc.to_le_bytes());
            if let Ok(r) = Record::decode(&b) {
                prop_assert_eq!(&r.encode()[..], &b[..]);
            }
        }
    }
}
