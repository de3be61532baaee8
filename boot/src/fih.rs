//! Fault-injection hardening of the "verified" decision.
//!
//! Fault model (docs/DESIGN.md, "Fault-injection hardening"): one skipped instruction
//! anywhere between reading the header and the jump, including inside ed25519-compact and
//! sha2; a skipped conditional branch is also an inverted one. Such a glitch must not turn a
//! failed check into a jump. As MCUboot's `fault_injection_hardening` does, the outcome of
//! verification is not a `bool` but a pair of words with a known relation: a success is
//! `(SUCCESS ^ tag, !(SUCCESS ^ tag))` where `tag` binds it to one slot and header; anything
//! else is a failure. The two words are computed by different code from the
//! [`Evidence`] of [`verify_slot_hardened`](safeslot_shared::verify::verify_slot_hardened):
//!
//! * `word` folds in a byte-wise, branch-free compare of the SHA-256 *computed* over the
//!   flash bytes with the header's claim, and the first ed25519 check's word;
//! * `complement` folds in a word-wise compare of the same two hashes (other code, other
//!   order) and the second, independent ed25519 check's and key check's words.
//!
//! A failed check sets bits in a word by `|`, never by one branch, so no single skipped
//! branch or store makes both words right. The pair is checked twice through
//! [`core::hint::black_box`] so the compiler cannot merge the checks.
//!
//! A control-flow counter ([`Flow`]) is stepped by every mandatory step from the
//! verification to the last check in [`crate::run()`], which launches only if it holds
//! [`Flow::EXPECTED`].

use core::hint::black_box;

use safeslot_shared::verify::{Evidence, SIGNATURE_OK};

const SUCCESS: u32 = 0x3CA5_965A;
const FAILURE: u32 = 0x0000_0000;

/// The redundant outcome of a verification, bound to `tag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Proof {
    word: u32,
    complement: u32,
}

impl Proof {
    /// A failed verification.
    pub const FAILED: Proof = Proof { word: FAILURE, complement: FAILURE };

    /// A successful verification of the image identified by `tag`, taken on trust: only in
    /// this module's tests (the boot sequence builds its proofs with
    /// [`Proof::from_evidence`]).
    #[cfg(test)]
    fn success(tag: u32) -> Proof {
        let word = black_box(SUCCESS ^ tag);
        Proof { word, complement: !word }
    }

    /// The proof of `evidence` for slot `slot_index`, and its tag (from the header's
    /// claimed hash). It holds only if the computed digest equals the claimed hash, both
    /// signature checks verified and the key check agreed: each failure sets bits in one of
    /// the two words (see the module docs), computed by different code.
    ///
    /// The proof is also bound to the authenticated header's launch fields ([`bind`]): it
    /// holds for `tag ^ bind(load address, entry, length, security counter)` of exactly
    /// these values, so whoever checks it recomputes that from the copies it is about to
    /// use, and a copy glitched on the way (a skipped load leaving another field's value in
    /// the security counter, found by `cargo xtask fi`) breaks the proof.
    pub fn from_evidence(slot_index: usize, evidence: &Evidence) -> (Proof, u32) {
        let h = &evidence.verified.header;
        let claimed = &h.image_hash;
        let base = tag(slot_index, claimed);
        let t = base ^ bind(h.load_addr, h.entry, h.image_len, h.security_counter, evidence.verified.key_index_u8());
        let bad =
            spread(diff_bytes(black_box(&evidence.digest), claimed)) | (black_box(evidence.signature) ^ SIGNATURE_OK);
        let word = black_box(SUCCESS ^ t) ^ bad;
        let bad_again = diff_words(claimed, black_box(&evidence.digest))
            | (black_box(evidence.signature_again) ^ SIGNATURE_OK)
            | (black_box(evidence.key_again) ^ SIGNATURE_OK);
        let complement = !black_box(SUCCESS ^ t) ^ bad_again;
        (Proof { word, complement }, base)
    }

    /// True only for a successful proof with the same `tag`; evaluated twice,
    /// independently.
    pub fn holds(&self, tag: u32) -> bool {
        let expect = black_box(SUCCESS ^ tag);
        let first = black_box(self.word) == expect && black_box(self.complement) == !expect;
        let second =
            black_box(self.complement ^ self.word) == u32::MAX && black_box(self.word ^ SUCCESS) == black_box(tag);
        first & second
    }
}

/// Byte-wise OR of `a ^ b`, without an early exit: 0 iff equal.
fn diff_bytes(a: &[u8; 32], b: &[u8; 32]) -> u8 {
    a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| black_box(d | (x ^ y)))
}

/// Word-wise OR of `a ^ b`, last word first, without an early exit: 0 iff equal.
fn diff_words(a: &[u8; 32], b: &[u8; 32]) -> u32 {
    a.chunks_exact(4).zip(b.chunks_exact(4)).rev().fold(0u32, |d, (x, y)| {
        let w = |c: &[u8]| c.iter().rev().fold(0u32, |w, &b| w.rotate_left(8) | u32::from(b));
        black_box(d | (w(x) ^ w(y)))
    })
}

/// A nonzero byte to a word with every byte nonzero (0 stays 0).
fn spread(d: u8) -> u32 {
    u32::from(d).wrapping_mul(0x0101_0101)
}

/// The launch fields of a header, and the index of the key that signed it, folded into one
/// word (each field mixed in turn, so no two fields cancel): [`Proof::from_evidence`] binds
/// its proof to them. The key index is bound because the launch re-checks it against the
/// key floor: a skip in the copy the policy saw (`Verified::info`) could otherwise make a
/// revoked key's image look signed by a later key (found by `cargo xtask fi --boot
/// revoked-key`: 4 launches before it was bound).
pub fn bind(load_addr: u64, entry: u64, image_len: u32, security_counter: u32, key_index: u8) -> u32 {
    let words = [
        load_addr.to_le_bytes(),
        entry.to_le_bytes(),
        u64::from(image_len).to_le_bytes(),
        (u64::from(security_counter) | (u64::from(key_index) << 32)).to_le_bytes(),
    ];
    words.iter().flat_map(|w| w.chunks_exact(4)).fold(0x2545_F491u32, |h, c| {
        let w = u32::from_le_bytes([
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
            c.get(2).copied().unwrap_or(0),
            c.get(3).copied().unwrap_or(0),
        ]);
        (h ^ w).wrapping_mul(0x9E37_79B1).rotate_left(13)
    })
}

/// A tag binding a proof to a slot and the image hash (all 32 bytes folded).
pub fn tag(slot_index: usize, image_hash: &[u8; 32]) -> u32 {
    let h = image_hash.chunks_exact(4).fold(0u32, |h, c| {
        let w = u32::from_le_bytes([
            c.first().copied().unwrap_or(0),
            c.get(1).copied().unwrap_or(0),
            c.get(2).copied().unwrap_or(0),
            c.get(3).copied().unwrap_or(0),
        ]);
        h.rotate_left(5) ^ w
    });
    h ^ (slot_index as u32).wrapping_mul(0x9E37_79B9)
}

/// A control-flow counter: each mandatory step of a launch folds its own constant in, in
/// order; [`crate::run()`] launches only if the counter is [`Flow::EXPECTED`]. A step that
/// was jumped over, or taken twice, leaves another value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flow(u32);

/// The mandatory steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Checkpoint {
    /// The slot's verification returned its evidence (sequence: `verify`).
    Verified = 0x1B87_3593,
    /// The proof was built from that evidence (sequence: `verify`).
    Proved = 0x2C1B_3C6D,
    /// The proof held and the floor was checked when the launch was built (sequence).
    Built = 0x297A_2D39,
    /// The load address was re-checked against the slot ([`crate::run()`]).
    Address = 0x4B5C_A1F3,
    /// The security counter was re-checked against the floor ([`crate::run()`]).
    Floor = 0x5E3B_7A95,
    /// The proof held once more ([`crate::run()`]).
    Proof = 0x68E3_1DA4,
}

const fn fold(f: u32, s: Checkpoint) -> u32 {
    (f ^ s as u32).rotate_left(7).wrapping_add(0x9E37_79B9)
}

impl Flow {
    /// The counter before any step.
    pub const START: Flow = Flow(0xA5A5_0F0F);

    /// The counter after every step, in order.
    pub const EXPECTED: Flow = {
        let mut f = Flow::START.0;
        f = fold(f, Checkpoint::Verified);
        f = fold(f, Checkpoint::Proved);
        f = fold(f, Checkpoint::Built);
        f = fold(f, Checkpoint::Address);
        f = fold(f, Checkpoint::Floor);
        f = fold(f, Checkpoint::Proof);
        Flow(f)
    };

    /// Folds `s` in.
    pub fn step(&mut self, s: Checkpoint) {
        self.0 = black_box(fold(black_box(self.0), s));
    }

    /// Whether every step was taken, in order (compared through `black_box`).
    pub fn complete(&self) -> bool {
        black_box(self.0) == black_box(Flow::EXPECTED.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safeslot_shared::header::SlotHeader;
    use safeslot_shared::verify::Verified;

    #[test]
    fn only_a_matching_success_holds() {
        let p = Proof::success(42);
        assert!(p.holds(42));
        assert!(!p.holds(43));
        assert!(!Proof::FAILED.holds(42));
        assert!(!Proof::FAILED.holds(SUCCESS));
        // A single corrupted word (a glitched store) fails.
        assert!(!Proof { word: p.word, complement: p.complement ^ 1 }.holds(42));
        assert!(!Proof { word: p.word ^ 0x100, complement: p.complement }.holds(42));
    }

    fn fields(e: &Evidence) -> u32 {
        let h = &e.verified.header;
        bind(h.load_addr, h.entry, h.image_len, h.security_counter, e.verified.key_index_u8())
    }

    #[test]
    fn the_proof_binds_the_launch_fields() {
        let e = evidence();
        let (p, t) = Proof::from_evidence(1, &e);
        let h = e.verified.header;
        let k = e.verified.key_index_u8();
        assert!(p.holds(t ^ bind(h.load_addr, h.entry, h.image_len, h.security_counter, k)));
        // Any one field copied wrong (another field's value, a neighbour, zero): no proof.
        for wrong in [0u32, 1, 2, 4, 0x1000, u32::MAX] {
            if wrong != h.security_counter {
                assert!(!p.holds(t ^ bind(h.load_addr, h.entry, h.image_len, wrong, k)), "counter {wrong}");
            }
            if wrong != h.image_len {
                assert!(!p.holds(t ^ bind(h.load_addr, h.entry, wrong, h.security_counter, k)), "length {wrong}");
            }
            if u64::from(wrong) != h.load_addr {
                assert!(
                    !p.holds(t ^ bind(u64::from(wrong), h.entry, h.image_len, h.security_counter, k)),
                    "address {wrong}"
                );
            }
            if u64::from(wrong) != h.entry {
                assert!(
                    !p.holds(t ^ bind(h.load_addr, u64::from(wrong), h.image_len, h.security_counter, k)),
                    "entry {wrong}"
                );
            }
            if let Ok(wrong) = u8::try_from(wrong) {
                if wrong != k {
                    assert!(
                        !p.holds(t ^ bind(h.load_addr, h.entry, h.image_len, h.security_counter, wrong)),
                        "key index {wrong}"
                    );
                }
            }
        }
    }

    fn evidence() -> Evidence {
        let header = SlotHeader {
            header_size: 256,
            image_len: 1024,
            version: Default::default(),
            security_counter: 3,
            load_addr: 0x1000,
            entry: 0,
            image_hash: [0x11; 32],
            key_id: [0; 8],
            signature: [0; 64],
            tlvs: safeslot_shared::tlv::Tlvs::EMPTY,
        };
        Evidence {
            verified: Verified { header, key_index: 0 },
            digest: [0x11; 32],
            signature: SIGNATURE_OK,
            signature_again: SIGNATURE_OK,
            key_again: SIGNATURE_OK,
        }
    }

    #[test]
    fn the_proof_binds_the_computed_digest_and_every_check_word() {
        let (p, t) = Proof::from_evidence(1, &evidence());
        assert!(p.holds(t ^ fields(&evidence())));
        assert!(!p.holds(t), "the proof holds only with the launch fields bound");
        assert_eq!(t, tag(1, &[0x11; 32]));
        // Any single byte of the computed digest differing from the claim, any check word
        // wrong (a skipped check, a skipped store): the proof does not hold.
        for i in 0..32 {
            for bit in 0..8 {
                let mut e = evidence();
                e.digest[i] ^= 1 << bit;
                let (p, t) = Proof::from_evidence(1, &e);
                let t = t ^ fields(&e);
                assert!(!p.holds(t), "digest byte {i} bit {bit}");
                // Each half on its own catches it.
                assert_ne!(p.word, SUCCESS ^ t);
                assert_ne!(p.complement, !(SUCCESS ^ t));
            }
        }
        for bad in [0, 1, u32::MAX, SIGNATURE_OK ^ 0x8000_0000] {
            let mut e = evidence();
            e.signature = bad;
            let (p, t) = Proof::from_evidence(1, &e);
            assert!(!p.holds(t ^ fields(&e)));
            let mut e = evidence();
            e.signature_again = bad;
            let (p, t) = Proof::from_evidence(1, &e);
            assert!(!p.holds(t ^ fields(&e)));
            let mut e = evidence();
            e.key_again = bad;
            let (p, t) = Proof::from_evidence(1, &e);
            assert!(!p.holds(t ^ fields(&e)));
        }
        // Bound to the slot.
        let (p, _) = Proof::from_evidence(1, &evidence());
        assert!(!p.holds(tag(0, &[0x11; 32]) ^ fields(&evidence())));
    }

    #[test]
    fn the_flow_counter_needs_every_step_once_in_order() {
        let all = [
            Checkpoint::Verified,
            Checkpoint::Proved,
            Checkpoint::Built,
            Checkpoint::Address,
            Checkpoint::Floor,
            Checkpoint::Proof,
        ];
        let run = |steps: &[Checkpoint]| {
            let mut f = Flow::START;
            for s in steps {
                f.step(*s);
            }
            f.complete()
        };
        assert!(run(&all));
        for skip in 0..all.len() {
            let mut v = all.to_vec();
            v.remove(skip);
            assert!(!run(&v), "without step {skip}");
            let mut v = all.to_vec();
            v.insert(skip, all[skip]);
            assert!(!run(&v), "step {skip} twice");
        }
        let mut swapped = all;
        swapped.swap(1, 2);
        assert!(!run(&swapped));
    }
}
