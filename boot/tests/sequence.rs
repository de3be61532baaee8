//! The boot sequence over a simulated flash with real signed images.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

mod common;

use common::{cfg, install, key, HDR, JOURNAL, SLOT, SLOTS};
use ed25519_compact::KeyPair;
use embedded_storage::nor_flash::NorFlash;
use safeslot_boot::{boot, BootConfig, Outcome};
use safeslot_shared::header::field;
use safeslot_shared::journal::Journal;
use safeslot_shared::ops;
use safeslot_shared::policy::{BootKind, Inputs};
use safeslot_shared::select::FreshRecord;
use safeslot_shared::sim::{CutKind, SimConfig, SimFlash};
use safeslot_shared::verify::SoftSha256;
use safeslot_shared::{Reason, SlotId, Tries};

struct Device {
    flash: SimFlash,
    keys: Vec<[u8; 32]>,
}

impl Device {
    fn new() -> Device {
        Device { flash: common::blank_flash(), keys: vec![*key(1).pk] }
    }

    fn image(slot: SlotId, major: u8, sc: u32, signer: &KeyPair) -> Vec<u8> {
        common::image_signed(slot, major, sc, signer)
    }

    fn install(&mut self, slot: SlotId, bytes: &[u8]) {
        install(&mut self.flash, slot, bytes);
    }

    fn boot(&mut self, inputs: Inputs) -> Outcome {
        boot(&mut self.flash, &mut SoftSha256::default(), &cfg(&self.keys), inputs)
    }

    fn change(&mut self, f: impl FnOnce(&mut safeslot_shared::Record) -> Result<(), safeslot_shared::OpError>) {
        let mut j = Journal::open(&mut self.flash, JOURNAL).unwrap();
        j.update(f).unwrap();
    }

    fn record(&mut self) -> safeslot_shared::Record {
        Journal::open(&mut self.flash, JOURNAL).unwrap().record().unwrap().clone()
    }
}

fn launched(o: Outcome) -> (SlotId, BootKind, u8) {
    match o {
        Outcome::Launch(l) => {
            assert!(l.holds());
            (l.slot, l.handoff.kind, l.handoff.version.major)
        }
        Outcome::Recovery(r) => panic!("expected a launch, got recovery ({r})"),
    }
}

/// A device with v1 confirmed in A and a v2 image in B.
fn updated_device(b: Vec<u8>) -> Device {
    let mut rig = Device::new();
    rig.install(SlotId::A, &Device::image(SlotId::A, 1, 0, &key(1)));
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::A, BootKind::Trial, 1));
    rig.change(|r| ops::mark_good(r, SlotId::A));
    rig.install(SlotId::B, &b);
    rig.change(|r| ops::set_active(r, SlotId::B, Tries::new(3).unwrap()));
    rig
}

#[test]
fn fresh_device_boots_a_on_trial_and_confirmed_boots_write_nothing() {
    let mut rig = Device::new();
    rig.install(SlotId::A, &Device::image(SlotId::A, 1, 0, &key(1)));
    rig.flash.reset_stats();
    let o = rig.boot(Inputs::default());
    assert_eq!(launched(o), (SlotId::A, BootKind::Trial, 1));
    let s = rig.flash.stats();
    assert_eq!((s.programs, s.erases), (2, 1), "first boot: one erase (initialise), one entry and its ack");
    rig.change(|r| ops::mark_good(r, SlotId::A));
    rig.flash.reset_stats();
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::A, BootKind::Confirmed, 1));
    let s = rig.flash.stats();
    assert_eq!((s.programs, s.erases), (0, 0), "a confirmed boot writes nothing");
}

#[test]
fn update_confirmed_stays() {
    let mut rig = updated_device(Device::image(SlotId::B, 2, 1, &key(1)));
    rig.flash.reset_stats();
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::B, BootKind::Trial, 2));
    let s = rig.flash.stats();
    assert_eq!((s.programs, s.erases), (3, 0), "a trial boot writes one entry: claim, body, ack");
    rig.change(|r| ops::mark_good(r, SlotId::B));
    for _ in 0..3 {
        assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::B, BootKind::Confirmed, 2));
    }
    assert_eq!(rig.record().rollback_floor, 1);
}

#[test]
fn update_that_never_confirms_falls_back_after_exactly_its_tries() {
    let mut rig = updated_device(Device::image(SlotId::B, 2, 0, &key(1)));
    for left in [2, 1, 0] {
        match rig.boot(Inputs::default()) {
            Outcome::Launch(l) => {
                assert_eq!((l.slot, l.handoff.tries_left.get()), (SlotId::B, left));
            }
            o => panic!("{o:?}"),
        }
    }
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::A, BootKind::Confirmed, 1));
    let r = rig.record();
    assert_eq!(r.last_fallback, Reason::TriesExhausted);
    assert_eq!(r.slot(SlotId::B).unwrap().unbootable, Some(Reason::TriesExhausted));
}

fn rejected(b: Vec<u8>, reason: Reason) {
    let mut rig = updated_device(b);
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::A, BootKind::Confirmed, 1), "{reason}");
    let r = rig.record();
    assert_eq!(r.slot(SlotId::B).unwrap().unbootable, Some(reason));
    assert_eq!(r.last_fallback, reason);
}

#[test]
fn tampered_header_fields_are_rejected() {
    let good = Device::image(SlotId::B, 2, 0, &key(1));
    for at in 0..safeslot_shared::header::HEADER_LEN {
        let mut b = good.clone();
        b[at] ^= 0x01;
        let mut rig = updated_device(b);
        let o = rig.boot(Inputs::default());
        assert_eq!(launched(o).0, SlotId::A, "header byte {at} tampered but B booted");
        let why = rig.record().slot(SlotId::B).unwrap().unbootable;
        assert!(why.is_some_and(Reason::is_image_fault), "byte {at}: {why:?}");
    }
}

#[test]
fn tampered_image_wrong_key_truncated_and_oversize_are_rejected() {
    let good = Device::image(SlotId::B, 2, 0, &key(1));
    let n = good.len();
    for at in [HDR as usize, HDR as usize + (n - HDR as usize) / 2, n - 1] {
        let mut b = good.clone();
        b[at] ^= 0x80;
        rejected(b, Reason::BadHash);
    }
    rejected(Device::image(SlotId::B, 2, 0, &key(9)), Reason::UnknownKey);
    // Signed by a trusted key id but with a foreign signature.
    let mut forged = good.clone();
    forged[field::SIGNATURE..field::SIGNATURE + 64].copy_from_slice(&[0x11; 64]);
    rejected(forged, Reason::BadSignature);
    rejected(good[..n - 100].to_vec(), Reason::BadHash);
    let mut long = good.clone();
    long[field::IMAGE_LEN..field::IMAGE_LEN + 4].copy_from_slice(&(SLOT).to_le_bytes());
    rejected(long, Reason::ImageBounds);
    // Linked and signed for slot A, copied into slot B.
    rejected(Device::image(SlotId::A, 2, 0, &key(1)), Reason::WrongAddress);
}

#[test]
fn security_counter_below_floor_is_refused() {
    let mut rig = updated_device(Device::image(SlotId::B, 2, 5, &key(1)));
    launched(rig.boot(Inputs::default()));
    rig.change(|r| ops::mark_good(r, SlotId::B));
    assert_eq!(rig.record().rollback_floor, 5);
    rig.install(SlotId::A, &Device::image(SlotId::A, 3, 4, &key(1)));
    rig.change(|r| ops::set_active(r, SlotId::A, Tries::DEFAULT));
    assert_eq!(launched(rig.boot(Inputs::default())).0, SlotId::B);
    assert_eq!(rig.record().slot(SlotId::A).unwrap().unbootable, Some(Reason::Rollback));
}

#[test]
fn both_slots_invalid_means_recovery_never_a_jump() {
    let mut rig = Device::new();
    let mut a = Device::image(SlotId::A, 1, 0, &key(1));
    a[HDR as usize + 5] ^= 1;
    rig.install(SlotId::A, &a);
    match rig.boot(Inputs::default()) {
        Outcome::Recovery(r) => assert_eq!(r, Reason::NothingBootable),
        o => panic!("{o:?}"),
    }
    let r = rig.record();
    assert_eq!(r.slot(SlotId::A).unwrap().unbootable, Some(Reason::BadHash));
    assert_eq!(r.slot(SlotId::B).unwrap().unbootable, Some(Reason::NoImage), "B was tried as a last resort");
}

#[test]
fn recovery_input_boots_last_known_good() {
    let mut rig = updated_device(Device::image(SlotId::B, 2, 0, &key(1)));
    let o = rig.boot(Inputs { recovery: true, ..Inputs::default() });
    assert_eq!(launched(o), (SlotId::A, BootKind::Confirmed, 1));
    assert_eq!(rig.record().last_fallback, Reason::RecoveryInput);
}

#[test]
fn garbage_record_region_is_recreated_and_reported() {
    let mut rig = Device::new();
    rig.install(SlotId::A, &Device::image(SlotId::A, 1, 0, &key(1)));
    rig.flash.bytes_mut()[..0x2000].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 31) as u8);
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::A, BootKind::Trial, 1));
    assert_eq!(rig.record().last_fallback, Reason::NoValidRecord);
}

#[test]
fn trial_whose_decrement_cannot_be_persisted_is_not_booted() {
    let mut rig = updated_device(Device::image(SlotId::B, 2, 0, &key(1)));
    // Power "fails" at the very write of the trial decrement: the sim refuses the op.
    let at = rig.flash.mutating_ops();
    rig.flash.arm_cut(at, CutKind::Before);
    match rig.boot(Inputs::default()) {
        // The write failed: the confirmed last-known-good slot may boot read-only...
        Outcome::Launch(l) => panic!("booted {:?} although flash is dead", l.slot),
        // ...but here the flash is dead for reads as well, so the stage must stop.
        Outcome::Recovery(r) => assert_eq!(r, Reason::FlashError),
    }
}

/// A flash whose programs and erases fail while reads work (a worn or locked device).
struct WriteFails<'a>(&'a mut SimFlash);

impl embedded_storage::nor_flash::ErrorType for WriteFails<'_> {
    type Error = safeslot_shared::sim::SimError;
}
impl embedded_storage::nor_flash::ReadNorFlash for WriteFails<'_> {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        embedded_storage::nor_flash::ReadNorFlash::capacity(self.0)
    }
}
impl NorFlash for WriteFails<'_> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;
    fn erase(&mut self, _: u32, _: u32) -> Result<(), Self::Error> {
        Err(safeslot_shared::sim::SimError::PowerLost)
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), Self::Error> {
        Err(safeslot_shared::sim::SimError::PowerLost)
    }
}

#[test]
fn trial_that_cannot_be_recorded_falls_back_to_last_known_good_read_only() {
    let mut rig = updated_device(Device::image(SlotId::B, 2, 0, &key(1)));
    let before = rig.flash.bytes().to_vec();
    let keys = rig.keys.clone();
    let cfg = cfg(&keys);
    let o = boot(&mut WriteFails(&mut rig.flash), &mut SoftSha256::default(), &cfg, Inputs::default());
    match o {
        Outcome::Launch(l) => {
            assert!(l.holds());
            assert_eq!(
                (l.slot, l.handoff.kind, l.handoff.last_fallback),
                (SlotId::A, BootKind::Confirmed, Reason::FlashError)
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(rig.flash.bytes(), &before[..], "nothing was written");
}

/// Issue #12, failure 1, through the real boot sequence: B's trial crashes, the next boot
/// cannot write (every program and erase fails), so A boots read-only as confirmed and the
/// record still says B was last booted. A's confirmation must confirm A (nothing to do),
/// never B: every later boot launches A.
#[test]
fn a_read_only_fallback_is_not_confirmed_as_the_crashed_update() {
    use safeslot_shared::sim::WriteFault;
    let mut rig = Device::new();
    rig.flash = SimFlash::new(SimConfig {
        size: 0x12000,
        write_size: 8,
        erase_size: 0x800,
        write_count: safeslot_shared::nor::WriteCount::Once,
    })
    .unwrap();
    rig.install(SlotId::A, &Device::image(SlotId::A, 1, 1, &key(1)));
    launched(rig.boot(Inputs::default()));
    rig.change(|r| ops::mark_good(r, SlotId::A));
    rig.install(SlotId::B, &Device::image(SlotId::B, 2, 2, &key(1)));
    rig.change(|r| ops::set_active(r, SlotId::B, Tries::new(3).unwrap()));
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::B, BootKind::Trial, 2));
    // B crashes without confirming; the next boot's writes fail (or are dropped).
    for fault in [WriteFault::Error, WriteFault::Drop] {
        let mut dev = Device { flash: rig.flash.clone(), keys: rig.keys.clone() };
        dev.flash.set_write_fault(Some(fault));
        let Outcome::Launch(l) = dev.boot(Inputs::default()) else { panic!("{fault:?}: A must boot read-only") };
        assert_eq!((l.slot, l.handoff.kind, l.handoff.recorded), (SlotId::A, BootKind::Confirmed, false), "{fault:?}");
        dev.flash.set_write_fault(None);
        assert_eq!(dev.record().last_booted, Some(SlotId::B), "{fault:?}: the record could not be updated");
        // App A confirms the slot that runs: the hand-off's, not the record's.
        let mut j = Journal::open(&mut dev.flash, JOURNAL).unwrap();
        assert_eq!(j.update(|r| ops::mark_good(r, l.handoff.slot)), Ok(false), "{fault:?}");
        let r = dev.record();
        assert_eq!((r.last_known_good, r.rollback_floor), (Some(SlotId::A), 1), "{fault:?}");
        assert!(!r.slot(SlotId::B).unwrap().confirmed, "{fault:?}");
        // B never confirms: it runs its remaining tries, then A for good.
        let mut slots = Vec::new();
        for _ in 0..6 {
            let Outcome::Launch(l) = dev.boot(Inputs::default()) else { panic!("{fault:?}: nothing boots") };
            slots.push((l.slot, l.handoff.kind));
        }
        assert_eq!(
            slots,
            [
                (SlotId::B, BootKind::Trial),
                (SlotId::B, BootKind::Trial),
                (SlotId::A, BootKind::Confirmed),
                (SlotId::A, BootKind::Confirmed),
                (SlotId::A, BootKind::Confirmed),
                (SlotId::A, BootKind::Confirmed)
            ],
            "{fault:?}"
        );
        assert_eq!(dev.record().rollback_floor, 1, "{fault:?}: the floor never rose to B's counter");
    }
}

/// Issue #13, item 4: the read-only fallback applies the anti-rollback floor. An old image
/// (security counter below the floor) written into the last-known-good slot is refused
/// on that path too, never booted "confirmed".
#[test]
fn the_read_only_fallback_refuses_an_image_below_the_floor() {
    let mut rig = updated_device(Device::image(SlotId::B, 2, 0, &key(1)));
    // A confirmed at floor 3, then A's image replaced by an old one (counter 1).
    rig.install(SlotId::A, &Device::image(SlotId::A, 1, 3, &key(1)));
    rig.change(|r| {
        r.rollback_floor = 3;
        Ok(())
    });
    rig.install(SlotId::A, &Device::image(SlotId::A, 0, 1, &key(1)));
    let before = rig.flash.bytes().to_vec();
    let keys = rig.keys.clone();
    let cfg = cfg(&keys);
    match boot(&mut WriteFails(&mut rig.flash), &mut SoftSha256::default(), &cfg, Inputs::default()) {
        Outcome::Recovery(r) => assert_eq!(r, Reason::Rollback),
        Outcome::Launch(l) => panic!("booted {:?} below the floor", l.slot),
    }
    assert_eq!(rig.flash.bytes(), &before[..]);
}

/// Verify-in-RAM (`safeslot_linux::shadow`): the boot sequence runs over RAM copies, so
/// what it verified is what the hand-off gets, whatever the flash holds afterwards.
#[test]
fn shadow_boots_the_verified_ram_copy_not_the_flash() {
    use safeslot_linux::shadow::{Shadow, ShadowError};
    let mut rig = Device::new();
    let a = Device::image(SlotId::A, 1, 0, &key(1));
    rig.install(SlotId::A, &a);
    let cfg_keys = rig.keys.clone();
    let cfg = BootConfig {
        journal: JOURNAL,
        slots: &SLOTS,
        keys: &cfg_keys,
        fresh: FreshRecord::default(),
        power_loss_retries: 0,
        watchdog: None,
        compatible: None,
        refuse_downgrade: false,
    };
    let (mut ram_a, mut ram_b) = (vec![0u8; SLOT as usize], vec![0u8; SLOT as usize]);
    let mut shadow = Shadow::new(&mut rig.flash, &SLOTS, [Some(&mut ram_a), Some(&mut ram_b), None, None]);
    // After the copy, the flash changes under the stage: a tampered image in slot A.
    {
        let mut evil = a.clone();
        evil[HDR as usize + 100] ^= 0xFF;
        let f = shadow_flash(&mut shadow);
        f.bytes_mut()[0x2000..0x2000 + evil.len()].copy_from_slice(&evil);
    }
    let Outcome::Launch(l) = boot(&mut shadow, &mut SoftSha256::default(), &cfg, Inputs::default()) else {
        panic!("A must boot")
    };
    assert!(l.holds());
    // The image handed out is the verified RAM copy: the original bytes, not the flash's.
    let img = shadow.image(l.slot.index(), l.image_len).unwrap();
    assert_eq!(img, &a[HDR as usize..HDR as usize + l.image_len as usize]);
    assert!(shadow.image(l.slot.index(), l.image_len + 1).is_none(), "no byte past the copy");
    // The record went to the flash; slots cannot be written through the view.
    assert_eq!(shadow.write(0x2000, &[0; 8]), Err(ShadowError::Refused));
    assert_eq!(shadow.erase(0x9000, 0xB000), Err(ShadowError::Refused));
    assert_eq!(rig.record().slot(SlotId::A).unwrap().tries, Tries::new(2).unwrap());

    // Conversely, a slot tampered *before* the copy is rejected, verified over RAM.
    let mut rig = Device::new();
    let mut bad = a.clone();
    bad[HDR as usize + 100] ^= 0xFF;
    rig.install(SlotId::A, &bad);
    let (mut ram_a, mut ram_b) = (vec![0u8; SLOT as usize], vec![0u8; SLOT as usize]);
    let mut shadow = Shadow::new(&mut rig.flash, &SLOTS, [Some(&mut ram_a), Some(&mut ram_b), None, None]);
    assert!(matches!(boot(&mut shadow, &mut SoftSha256::default(), &cfg, Inputs::default()), Outcome::Recovery(_)));
}

/// The flash under a `Shadow` (test only: the real stage never touches it after the copy).
fn shadow_flash<'s, 'f>(s: &'s mut safeslot_linux::shadow::Shadow<'_, &'f mut SimFlash>) -> &'s mut &'f mut SimFlash {
    s.flash_mut()
}

/// Protected TLVs for a test image.
fn tlvs(compatible: Option<&[u8]>, revoke_below: Option<u8>) -> safeslot_shared::tlv::Tlvs {
    use safeslot_shared::tlv::{tag, Tlvs};
    let mut t = Tlvs::EMPTY;
    if let Some(c) = compatible {
        t.push(tag::COMPATIBLE, c).unwrap();
    }
    if let Some(n) = revoke_below {
        t.push(tag::REVOKE_BELOW, &[n]).unwrap();
    }
    t
}

/// Issue #16, item 3: rotate from key 0 to key 1. The update signed with key 1 declares
/// keys below 1 revoked; nothing is revoked while it is on trial; after it is confirmed,
/// its next boot records the revocation, and from then on an image signed with key 0 (a
/// leaked key) is refused, in either slot.
#[test]
fn a_confirmed_rotation_revokes_the_old_key() {
    let (old, new) = (key(1), key(2));
    let mut rig = Device::new();
    rig.keys = vec![*old.pk, *new.pk];
    rig.install(SlotId::A, &Device::image(SlotId::A, 1, 0, &old));
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::A, BootKind::Trial, 1));
    rig.change(|r| ops::mark_good(r, SlotId::A));
    rig.install(SlotId::B, &common::image_with(SlotId::B, 2, 0, &new, tlvs(None, Some(1))));
    rig.change(|r| ops::set_active(r, SlotId::B, Tries::new(3).unwrap()));
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::B, BootKind::Trial, 2));
    assert_eq!(rig.record().key_floor, 0, "a trial revokes nothing");
    rig.change(|r| ops::mark_good(r, SlotId::B));
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::B, BootKind::Confirmed, 2));
    assert_eq!(rig.record().key_floor, 1);
    // An image signed with the old key, validly, in A and activated: refused.
    rig.install(SlotId::A, &Device::image(SlotId::A, 3, 0, &old));
    rig.change(|r| ops::set_active(r, SlotId::A, Tries::new(3).unwrap()));
    assert_eq!(launched(rig.boot(Inputs::default())), (SlotId::B, BootKind::Confirmed, 2));
    let r = rig.record();
    assert_eq!(
        (r.slot(SlotId::A).unwrap().unbootable, r.last_fallback),
        (Some(Reason::RevokedKey), Reason::RevokedKey)
    );
    // The same key's image written over the confirmed slot B is not booted either, not even
    // as a last resort: nothing is bootable.
    rig.install(SlotId::B, &Device::image(SlotId::B, 4, 0, &old));
    assert!(matches!(rig.boot(Inputs::default()), Outcome::Recovery(_)));
}

/// Issue #16, item 4: an image signed for another product does not boot, whatever slot it
/// is in; an image for this product does.
#[test]
fn an_image_for_another_product_is_refused() {
    let mut rig = Device::new();
    rig.install(SlotId::A, &common::image_with(SlotId::A, 1, 0, &key(1), tlvs(Some(b"acme,widget-2"), None)));
    let keys = rig.keys.clone();
    let cfg = BootConfig { compatible: Some(b"acme,widget-2"), ..cfg(&keys) };
    assert_eq!(
        launched(boot(&mut rig.flash, &mut SoftSha256::default(), &cfg, Inputs::default())),
        (SlotId::A, BootKind::Trial, 1)
    );
    rig.change(|r| ops::mark_good(r, SlotId::A));
    for b in [
        common::image_with(SlotId::B, 2, 0, &key(1), tlvs(Some(b"acme,widget-3"), None)),
        Device::image(SlotId::B, 2, 0, &key(1)),
    ] {
        rig.install(SlotId::B, &b);
        rig.change(|r| ops::set_active(r, SlotId::B, Tries::new(3).unwrap()));
        assert_eq!(
            launched(boot(&mut rig.flash, &mut SoftSha256::default(), &cfg, Inputs::default())),
            (SlotId::A, BootKind::Confirmed, 1)
        );
        assert_eq!(rig.record().slot(SlotId::B).unwrap().unbootable, Some(Reason::Incompatible));
    }
    // A board that names no product refuses an image that names one (B, refused above,
    // stays refused: nothing is bootable).
    assert!(matches!(rig.boot(Inputs::default()), Outcome::Recovery(Reason::NothingBootable)));
    assert_eq!(rig.record().slot(SlotId::A).unwrap().unbootable, Some(Reason::Incompatible));
}
