//! The boot stage's own signature check, `verify::signature_word` (the function both of
//! `verify_slot_hardened`'s checks call), against published vectors: RFC 8032 §7.1, the
//! Wycheproof ed25519 file and the ed25519-speccheck edge cases (files and provenance in
//! `tests/vectors/`, `PROVENANCE.md`). Then the edge-case behaviour docs/SECURITY.md states
//! ("What the signature check accepts"), pinned: cofactored, non-canonical `S` refused,
//! small-order and non-canonical `A` and `R` refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::collections::BTreeMap;

use ed25519_compact::{Error, KeyPair, PublicKey, Seed, Signature};
use safeslot_shared::verify::{signature_word, SIGNATURE_OK};
use serde_json::Value;
use sha2::{Digest, Sha512};

const RFC8032: &str = include_str!("vectors/rfc8032_ed25519.json");
const WYCHEPROOF: &str = include_str!("vectors/wycheproof_ed25519_test.json");
const SPECCHECK: &str = include_str!("vectors/speccheck_cases.json");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().unwrap_or_else(|_| panic!("expected {N} bytes, got {}", v.len()))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The stage's verdict on (`key`, `msg`, `sig`).
fn accepts(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let w = signature_word(key, msg, sig);
    assert!(w == SIGNATURE_OK || w == 0, "a check word is SIGNATURE_OK or 0, got {w:#x}");
    w == SIGNATURE_OK
}

/// The group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a + b` as 256-bit little-endian numbers (no overflow for the values used here).
fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    assert_eq!(carry, 0);
    out
}

#[test]
fn rfc8032_section_7_1_vectors_verify_and_every_signature_bit_flip_is_refused() {
    let doc: Value = serde_json::from_str(RFC8032).unwrap();
    let tests = doc["tests"].as_array().unwrap();
    let names: Vec<&str> = tests.iter().map(|t| str_of(t, "name")).collect();
    assert_eq!(names, ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]);
    let mut flips = 0;
    let keys: Vec<[u8; 32]> = tests.iter().map(|t| arr(&hex(str_of(t, "public")))).collect();
    for (i, t) in tests.iter().enumerate() {
        let name = str_of(t, "name");
        let secret: [u8; 32] = arr(&hex(str_of(t, "secret")));
        let key = keys[i];
        let msg = hex(str_of(t, "message"));
        let sig: [u8; 64] = arr(&hex(str_of(t, "signature")));
        // The vector is what the RFC says it is: the key pair from the secret, and the
        // (deterministic) signature over the message, are the ones listed.
        let kp = KeyPair::from_seed(Seed::new(secret));
        assert_eq!(*kp.pk, key, "{name}: public key");
        assert_eq!(*kp.sk.sign(&msg, None), sig, "{name}: signature");
        assert!(accepts(&key, &msg, &sig), "{name}: the stage's check refuses a valid RFC 8032 signature");
        for bit in 0..512 {
            let mut bad = sig;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(!accepts(&key, &msg, &bad), "{name}: signature bit {bit} flipped, still accepted");
            flips += 1;
        }
        if let (Some(_), Some(_)) = (msg.first(), msg.last()) {
            for at in [0, msg.len() - 1] {
                let mut m = msg.clone();
                m[at] ^= 0x80;
                assert!(!accepts(&key, &m, &sig), "{name}: message byte {at} changed, still accepted");
            }
        }
        let other = keys[(i + 1) % keys.len()];
        assert!(!accepts(&other, &msg, &sig), "{name}: accepted under another key");
    }
    // The two long messages are the RFC's: 1023 bytes, and SHA-512("abc").
    assert_eq!(hex(str_of(&tests[3], "message")).len(), 1023);
    assert_eq!(hex(str_of(&tests[4], "message")), Sha512::digest(b"abc").to_vec());
    println!("RFC 8032 §7.1: {} vectors accepted; {flips} single-bit signature flips refused", tests.len());
}

#[test]
fn wycheproof_ed25519_vectors_all_get_their_expected_result() {
    let doc: Value = serde_json::from_str(WYCHEPROOF).unwrap();
    assert_eq!(doc["algorithm"], "EDDSA");
    assert_eq!(doc["schema"], "eddsa_verify_schema_v1.json");
    let mut by_flag: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut valid, mut invalid, mut wrong_length, mut total) = (0, 0, 0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        assert_eq!(group["type"], "EddsaVerify");
        assert_eq!(group["publicKey"]["curve"], "edwards25519");
        let key: [u8; 32] = arr(&hex(str_of(&group["publicKey"], "pk")));
        for t in group["tests"].as_array().unwrap() {
            total += 1;
            let id = t["tcId"].as_u64().unwrap();
            let comment = str_of(t, "comment");
            let msg = hex(str_of(t, "msg"));
            let sig = hex(str_of(t, "sig"));
            let expected = match str_of(t, "result") {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {id}: result {other:?}: this file has no other kind"),
            };
            let got = match <[u8; 64]>::try_from(sig.as_slice()) {
                Ok(sig) => accepts(&key, &msg, &sig),
                Err(_) => {
                    // The header's signature field is exactly 64 bytes (FORMAT.md): a
                    // signature of another length cannot reach the check at all. The
                    // parser the check uses refuses it too.
                    assert!(Signature::from_slice(&sig).is_err(), "tcId {id}: a {}-byte signature parsed", sig.len());
                    wrong_length += 1;
                    false
                }
            };
            assert_eq!(got, expected, "Wycheproof tcId {id} ({comment}): accepted = {got}, expected {expected}");
            if expected {
                valid += 1;
            } else {
                invalid += 1;
            }
            for flag in t["flags"].as_array().unwrap() {
                let e = by_flag.entry(flag.as_str().unwrap().to_owned()).or_default();
                if expected {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
    }
    assert_eq!(total, doc["numberOfTests"].as_u64().unwrap() as usize);
    assert_eq!((total, valid, invalid), (151, 88, 63), "the committed file changed");
    println!(
        "Wycheproof ed25519 (testvectors_v1/ed25519_test.json): {total} vectors, all as expected: {valid} valid \
         accepted, {invalid} invalid refused ({wrong_length} of them not 64 bytes long)"
    );
    for (flag, (v, i)) in &by_flag {
        println!("  {flag:<22} {v:>3} valid accepted, {i:>3} invalid refused");
    }
}

/// What the stage's check answers on each of the 15 ed25519-speccheck cases (Chalkias,
/// Garillot, Nikolaenko, "Taming the many EdDSAs", 2020), by index.
///
/// | case | A | R | S | a cofactorless verifier | this check |
/// | --- | --- | --- | --- | --- | --- |
/// | 0, 1 | small order | small order | 0 | 1 passes | refused (small-order A) |
/// | 2, 3 | small order | mixed order | > 0 | 3 passes | refused (small-order A) |
/// | 4, 5 | mixed order | small order | > 0 | 5 passes | refused (small-order R) |
/// | 6 | mixed order | mixed order | > 0 | passes | **accepted** |
/// | 7 | mixed order | mixed order | > 0 | fails | **accepted**: cofactored |
/// | 8 | mixed order | mixed order | > 0 | fails | **accepted**: cofactored (only a check that reduces `8·k` mod L before multiplying A fails it) |
/// | 9, 10 | prime order | | ≥ L | | refused (non-canonical S) |
/// | 11, 12 | prime order | non-canonical (negative zero) | | | refused |
/// | 13, 14 | non-canonical (negative zero) | | | | refused |
const SPECCHECK_ACCEPTED: [bool; 15] =
    [false, false, false, false, false, false, true, true, true, false, false, false, false, false, false];

#[test]
fn speccheck_edge_cases_pin_a_cofactored_check_that_refuses_small_order_and_non_canonical_inputs() {
    let cases: Value = serde_json::from_str(SPECCHECK).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), SPECCHECK_ACCEPTED.len());
    for (i, c) in cases.iter().enumerate() {
        let key: [u8; 32] = arr(&hex(str_of(c, "pub_key")));
        let msg = hex(str_of(c, "message"));
        let sig: [u8; 64] = arr(&hex(str_of(c, "signature")));
        assert_eq!(accepts(&key, &msg, &sig), SPECCHECK_ACCEPTED[i], "speccheck case {i}");
    }
    // The cases refused for their A are refused for that reason (ed25519-compact's own
    // error, so a later version that refuses them for another reason is noticed).
    let key = |i: usize| PublicKey::new(arr(&hex(str_of(&cases[i], "pub_key"))));
    for i in 0..4 {
        assert_eq!(key(i).validate(), Err(Error::WeakPublicKey), "case {i}: A is of small order");
    }
    for i in [4, 5, 6, 9] {
        assert_eq!(key(i).validate(), Ok(()), "case {i}: A is a valid key");
    }
    for i in [13, 14] {
        assert_eq!(key(i).validate(), Err(Error::InvalidPublicKey), "case {i}: A is a non-canonical encoding");
    }
    let accepted = SPECCHECK_ACCEPTED.iter().filter(|&&a| a).count();
    println!("ed25519-speccheck: 15 cases as pinned: {accepted} accepted (6, 7, 8: mixed-order A and R, cofactored), 12 refused");
}

/// The eight points of small order, canonically encoded (sign bit clear and set where
/// `x != 0`): the identity, the point of order 2, two of order 4, four of order 8.
const SMALL_ORDER: [&str; 8] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
];

/// The RFC 8032 TEST 1 key, message and signature: a genuine prime-order key.
fn test1() -> ([u8; 32], Vec<u8>, [u8; 64]) {
    let doc: Value = serde_json::from_str(RFC8032).unwrap();
    let t = &doc["tests"][0];
    (arr(&hex(str_of(t, "public"))), hex(str_of(t, "message")), arr(&hex(str_of(t, "signature"))))
}

#[test]
fn small_order_keys_and_r_are_refused_even_where_the_equation_holds() {
    let (good_key, _, good_sig) = test1();
    let msg = b"a header the attacker did not sign";
    let mut cases = 0;
    for p in SMALL_ORDER {
        let p: [u8; 32] = arr(&hex(p));
        // The list is right: ed25519-compact decodes each as a point of small order.
        assert_eq!(PublicKey::new(p).validate(), Err(Error::WeakPublicKey), "{p:02x?}");
        // A = R = a small-order point, S = 0: S·B − k·A − R is of small order for every
        // message, so a cofactored equation alone accepts this forgery. Refused because A
        // is of small order.
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&p);
        assert!(!accepts(&p, msg, &forged), "small-order key {p:02x?} with S = 0");
        // Also for the identity as R (any small-order A).
        forged[..32].copy_from_slice(&hex(SMALL_ORDER[0]));
        assert!(!accepts(&p, msg, &forged), "small-order key {p:02x?}, R = identity, S = 0");
        // A small-order R with a genuine key: refused whatever S is.
        let mut sig = good_sig;
        sig[..32].copy_from_slice(&p);
        assert!(!accepts(&good_key, msg, &sig), "small-order R {p:02x?}");
        sig[32..].fill(0);
        assert!(!accepts(&good_key, msg, &sig), "small-order R {p:02x?}, S = 0");
        cases += 4;
    }
    println!("small order: {cases} cases over the 8 small-order points as A and as R, all refused");
}

#[test]
fn non_canonical_encodings_of_a_and_r_and_s_are_refused() {
    let (key, msg, sig) = test1();
    assert!(accepts(&key, &msg, &sig));
    let mut cases = 0;
    // y ≥ p = 2^255 − 19: the 19 values p..2^255−1, each with the sign bit clear and set.
    // Reduced mod p they are y = 0..18, so y = p + 1 would be the identity: a decoder that
    // reduced instead of refusing would accept the S = 0 forgery below.
    let p_minus_1: [u8; 32] = arr(&hex(SMALL_ORDER[1]));
    for i in 1u8..=19 {
        for sign in [0u8, 0x80] {
            let mut y = p_minus_1;
            // p − 1 + i, for i = 1..=19: p .. 2^255 − 1 (no carry out of the low byte).
            y[0] += i;
            y[31] |= sign;
            assert_eq!(PublicKey::new(y).validate(), Err(Error::InvalidPublicKey), "y = p + {}", i - 1);
            let mut forged = [0u8; 64];
            forged[..32].copy_from_slice(&y);
            assert!(!accepts(&y, &msg, &forged), "non-canonical A = R, S = 0 (y = p + {})", i - 1);
            let mut s = sig;
            s[..32].copy_from_slice(&y);
            assert!(!accepts(&key, &msg, &s), "non-canonical R (y = p + {})", i - 1);
            cases += 2;
        }
    }
    // Negative zero: x = 0 with the sign bit set (y = 1, the identity; y = −1).
    for y in [SMALL_ORDER[0], SMALL_ORDER[1]] {
        let mut z: [u8; 32] = arr(&hex(y));
        z[31] |= 0x80;
        assert_eq!(PublicKey::new(z).validate(), Err(Error::InvalidPublicKey));
        let mut s = sig;
        s[..32].copy_from_slice(&z);
        assert!(!accepts(&key, &msg, &s), "negative-zero R");
        assert!(!accepts(&z, &msg, &s), "negative-zero A");
        cases += 2;
    }
    // S + L, S + 2L, … (the same scalar mod L): refused, the signature is not malleable.
    let s: [u8; 32] = arr(&sig[32..]);
    let mut bigger = s;
    for k in 1..=15 {
        bigger = add_le(&bigger, &L);
        let mut m = sig;
        m[32..].copy_from_slice(&bigger);
        assert!(!accepts(&key, &msg, &m), "S + {k}·L accepted");
        cases += 1;
    }
    // S = L exactly, and the largest 256-bit value.
    for big in [L, [0xFF; 32]] {
        let mut m = sig;
        m[32..].copy_from_slice(&big);
        assert!(!accepts(&key, &msg, &m));
        cases += 1;
    }
    println!("non-canonical encodings: {cases} cases (A, R: y ≥ p and negative zero; S ≥ L), all refused");
}
