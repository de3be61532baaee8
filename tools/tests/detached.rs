//! `safeslot-image prepare` and `attach`: signing with a private key that never touches
//! the build machine. The result is byte for byte `sign`'s, an OpenSSL signature of the
//! `--to-sign` file attaches and verifies, and `attach` refuses (65, nothing written)
//! whatever would not verify.

use std::path::{Path, PathBuf};

mod support;
use support::cli::{layout, ok, openssl, p, require_openssl, run, sample_image, Fixture, Run, SLOT_A_FLAGS};
use support::elf::build_elf;

/// sysexits EX_DATAERR.
const DATAERR: i32 = 65;

/// `prepare --key PUBLIC` of `input` for slot a of the qemu layout, with `sign`'s
/// arguments in [`Fixture::sign`]: returns (unsigned image, to-sign file, stdout).
fn prepare(f: &Fixture, public: &Path, input: &Path, name: &str) -> (PathBuf, PathBuf, String) {
    let (unsigned, to_sign) = (f.path(&format!("{name}.unsigned")), f.path(&format!("{name}.to-sign")));
    let l = layout();
    let r = ok([
        "prepare",
        "--key",
        p(public),
        "--layout",
        p(&l),
        "--slot",
        "a",
        "--version",
        "1.2.3+4",
        "--security-counter",
        "7",
        p(input),
        "--to-sign",
        p(&to_sign),
        "-o",
        p(&unsigned),
    ]);
    (unsigned, to_sign, r.stdout)
}

/// `attach --signature SIG --key PUBLIC --layout qemu --slot a -o OUT UNSIGNED`.
fn attach(signature: &Path, public: &Path, unsigned: &Path, out: &Path) -> Run {
    let l = layout();
    run(["attach", "--signature", p(signature), "--key", p(public), "--layout", p(&l), "--slot", "a"]
        .into_iter()
        .chain(["-o", p(out), p(unsigned)]))
}

/// Signs `to_sign` with the private key in `key` (the library's loader and ed25519, as an
/// HSM would sign) into `sig`.
fn sign_detached(f: &Fixture, key: &Path, to_sign: &Path, sig: &str) -> PathBuf {
    let kp = safeslot_image::keys::load_signing_key(key).expect("private key");
    let signature = kp.sk.sign(std::fs::read(to_sign).expect("to-sign"), None);
    f.write(sig, &signature[..])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn prepare_sign_attach_is_byte_identical_to_sign() {
    let f = Fixture::new();
    let (key, public) = f.keygen();
    let raw_public = f.path("pub.bin");
    ok(["pubkey", "--key", p(&public), "--raw", "-o", p(&raw_public)]);
    let text: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let inputs =
        [f.write("app.bin", &sample_image()), f.write("app.elf", &build_elf(&[(0x2101_0400, 0x2101_0400, &text)]))];
    for (input, public) in inputs.iter().zip([&public, &raw_public]) {
        let name = input.file_name().and_then(|n| n.to_str()).expect("name");
        let signed = std::fs::read(f.sign(&key, input, &format!("{name}.slot"))).expect("signed");
        let (unsigned, to_sign, stdout) = prepare(&f, public, input, name);

        // The bytes to sign are the signed header's first 88; the unsigned image is the
        // signed one with an all-zero signature.
        let to_sign_bytes = std::fs::read(&to_sign).expect("to-sign");
        assert_eq!(to_sign_bytes, &signed[..88]);
        let unsigned_bytes = std::fs::read(&unsigned).expect("unsigned");
        let mut expected = signed.clone();
        expected[88..152].fill(0);
        assert_eq!(unsigned_bytes, expected);
        // It prints the key id and the SHA-256 of the bytes to sign.
        let key_id = hex(&signed[80..88]);
        let digest = hex(&safeslot_shared::image::sha256(&to_sign_bytes));
        assert!(stdout.contains(&format!("key id:         {key_id}")), "{stdout}");
        assert!(stdout.contains(&format!("88 bytes, SHA-256 {digest}")), "{stdout}");
        // An unsigned image does not verify.
        assert_eq!(f.verify(public, &unsigned).code, DATAERR);

        let sig = sign_detached(&f, &key, &to_sign, &format!("{name}.sig"));
        let out = f.path(&format!("{name}.attached"));
        let r = attach(&sig, public, &unsigned, &out);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("slot a, version 1.2.3+4, security counter 7"), "{}", r.stdout);
        assert!(r.stdout.contains(&key_id), "{}", r.stdout);
        assert_eq!(std::fs::read(&out).expect("attached"), signed, "{name}: attach gives sign's bytes");
    }

    // The slot by the four numbers is the same slot: the same bytes.
    let (unsigned, to_sign, _) = prepare(&f, &public, &inputs[0], "flags");
    let sig = sign_detached(&f, &key, &to_sign, "flags.sig");
    let out = f.path("flags.attached");
    let mut args = vec!["attach", "--signature", p(&sig), "--key", p(&public)];
    args.extend(SLOT_A_FLAGS);
    args.extend(["-o", p(&out), p(&unsigned)]);
    ok(&args);
    assert_eq!(std::fs::read(&out).expect("attached"), std::fs::read(f.path("app.bin.slot")).expect("signed"));
}

/// The whole ceremony with OpenSSL holding the key: the build machine sees only the
/// public key.
#[test]
#[ignore = "needs openssl: cargo test -p safeslot-image --test cli --test detached -- --ignored openssl_ \
            (cargo xtask test runs it)"]
fn openssl_signs_the_to_sign_file() {
    require_openssl();
    let f = Fixture::new();
    let key = f.path("k.pem");
    let o = openssl(&["genpkey", "-algorithm", "ed25519", "-out", p(&key)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let public = f.path("k.pub.pem");
    let o = openssl(&["pkey", "-in", p(&key), "-pubout", "-out", p(&public)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let input = f.write("app.bin", &sample_image());
    let (unsigned, to_sign, _) = prepare(&f, &public, &input, "app");
    let sig = f.path("sig.bin");
    let o = openssl(&["pkeyutl", "-sign", "-rawin", "-inkey", p(&key), "-in", p(&to_sign), "-out", p(&sig)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&sig).expect("sig").len(), 64);
    let out = f.path("app.slot");
    let r = attach(&sig, &public, &unsigned, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = f.verify(&public, &out);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.starts_with("OK "), "{}", v.stdout);
    // What `sign` makes with the same private key.
    assert_eq!(std::fs::read(&out).expect("out"), std::fs::read(f.sign(&key, &input, "signed.slot")).expect("signed"));
}

#[test]
fn attach_refuses_what_would_not_verify_and_writes_nothing() {
    let f = Fixture::new();
    let (key, public) = f.keygen();
    let other_key = f.path("other.pem");
    let other_public = f.path("other.pub.pem");
    ok(["keygen", "--out", p(&other_key), "--pub", p(&other_public)]);
    let input = f.write("app.bin", &sample_image());
    let (unsigned, to_sign, _) = prepare(&f, &public, &input, "app");
    let good = sign_detached(&f, &key, &to_sign, "good.sig");
    let good_bytes = std::fs::read(&good).expect("sig");
    let unsigned_bytes = std::fs::read(&unsigned).expect("unsigned");
    let out = f.path("out.slot");
    let refused = |r: Run, what: &str, expect: &[&str]| {
        assert_eq!(r.code, DATAERR, "{what}: {}", r.stderr);
        assert!(r.stderr.contains("refused, nothing written"), "{what}: {}", r.stderr);
        for e in expect {
            assert!(r.stderr.contains(e), "{what}: expected {e:?} in {}", r.stderr);
        }
        assert!(!out.exists(), "{what}: nothing is written");
    };

    // A signature by another key over the right bytes.
    let by_other = sign_detached(&f, &other_key, &to_sign, "other.sig");
    refused(attach(&by_other, &public, &unsigned, &out), "another key", &["other.sig", "another private key"]);
    // The right key over other bytes (the unsigned image instead of the bytes to sign).
    let over_other = sign_detached(&f, &key, &unsigned, "over-other.sig");
    refused(attach(&over_other, &public, &unsigned, &out), "other bytes", &["made over other bytes"]);
    // Not 64 bytes: cut short, one too many, or hex text.
    let short = f.write("short.sig", &good_bytes[..63]);
    refused(attach(&short, &public, &unsigned, &out), "truncated", &["63 bytes", "64 raw bytes"]);
    let long = f.write("long.sig", &[&good_bytes[..], b"\n"].concat());
    refused(attach(&long, &public, &unsigned, &out), "extended", &["65 bytes"]);
    let text = f.write("hex.sig", hex(&good_bytes).as_bytes());
    refused(attach(&text, &public, &unsigned, &out), "hex", &["128 bytes"]);
    // The right signature, but the other public key: the image was prepared for this one.
    refused(attach(&good, &other_public, &unsigned, &out), "other public key", &["prepared for the key with id"]);

    // The unsigned image changed after prepare: an image byte, a signed header field, the
    // padding, its length.
    let changed = |at: usize| {
        let mut b = unsigned_bytes.clone();
        b[at] ^= 1;
        f.write("changed.unsigned", &b)
    };
    refused(attach(&good, &public, &changed(0x400 + 2500), &out), "image byte", &["bad-hash"]);
    refused(attach(&good, &public, &changed(24), &out), "security counter", &["made over other bytes"]);
    refused(attach(&good, &public, &changed(0x200), &out), "padding", &["not all 0xFF"]);
    let cut = f.write("cut.unsigned", &unsigned_bytes[..unsigned_bytes.len() - 1]);
    refused(attach(&good, &public, &cut, &out), "cut short", &["cut short"]);
    // Already signed: attach takes the unsigned image only.
    let signed = f.sign(&key, &input, "signed.slot");
    refused(attach(&good, &public, &signed, &out), "signed", &["already carries a signature"]);

    // Another slot than prepare's.
    let l = layout();
    let r = run([
        "attach",
        "--signature",
        p(&good),
        "--key",
        p(&public),
        "--layout",
        p(&l),
        "--slot",
        "b",
        "-o",
        p(&out),
        p(&unsigned),
    ]);
    refused(r, "slot b", &["wrong-address"]);

    // A missing signature file is no input (66); no slot is a usage error (64).
    let r = attach(&f.path("missing.sig"), &public, &unsigned, &out);
    assert_eq!(r.code, 66, "{}", r.stderr);
    let r = run(["attach", "--signature", p(&good), "--key", p(&public), "-o", p(&out), p(&unsigned)]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(!out.exists());

    // And the good signature still attaches.
    assert_eq!(attach(&good, &public, &unsigned, &out).code, 0);
    assert_eq!(std::fs::read(&out).expect("out"), std::fs::read(&signed).expect("signed"));
}
