//! End-to-end tests of the `safeslot-image` binary: exit codes, stdout/stderr,
//! OpenSSL interoperability, determinism, tampering and ELF input.

use std::path::Path;

mod support;
use support::cli::{layout, ok, openssl, p, require_openssl, run, sample_image, Fixture, SLOT_A_FLAGS};
use support::elf::build_elf;

/// The qemu board's slot a: flash base 0x2100_0000, offset 0x10000, 4 MiB, 1 KiB header.
const IMAGE_A: u64 = 0x2101_0400;
const IMAGE_B: u64 = 0x2141_0400;

#[test]
fn keygen_sign_verify_inspect() {
    let f = Fixture::new();
    let (key, public) = f.keygen();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "private key mode");
    }
    let input = f.write("app.bin", &sample_image());
    let out = f.sign(&key, &input, "app.slot");
    let bytes = std::fs::read(&out).expect("slot image");
    assert_eq!(bytes.len(), 0x400 + 5000);
    assert_eq!(&bytes[..4], b"SSIH");
    assert!(bytes[152..0x400].iter().all(|&b| b == 0xFF), "header padding is 0xFF");
    assert_eq!(&bytes[0x400..], &sample_image()[..]);

    // Public key, private key and the flags form of the slot all verify.
    let r = f.verify(&public, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("OK "), "{}", r.stdout);
    assert!(r.stdout.contains("version 1.2.3+4") && r.stdout.contains("security counter 7"), "{}", r.stdout);
    assert_eq!(f.verify(&key, &out).code, 0);
    let mut args = vec!["verify", "--key", p(&public)];
    args.extend(SLOT_A_FLAGS);
    args.push(p(&out));
    ok(&args);

    // Signed for slot a, so slot b refuses it.
    let l = layout();
    let r = run(["verify", "--key", p(&public), "--layout", p(&l), "--slot", "b", p(&out)]);
    assert_eq!(r.code, 65);
    assert!(r.stderr.contains("wrong-address"), "{}", r.stderr);

    // On a device whose floor is above the image's security counter (7) the stage refuses
    // it: so does verify, given the floor.
    ok(["verify", "--floor", "7", "--key", p(&public), "--layout", p(&l), "--slot", "a", p(&out)]);
    let r = run(["verify", "--floor", "8", "--key", p(&public), "--layout", p(&l), "--slot", "a", p(&out)]);
    assert_eq!(r.code, 65);
    assert!(r.stderr.contains("rollback"), "{}", r.stderr);

    // JSON verify output.
    let r = ok(["verify", "--json", "--key", p(&public), "--layout", p(&l), "--slot", "a", p(&out)]);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(j["schema"], 1);
    assert_eq!(j["ok"], true);
    assert_eq!(j["load_addr"], IMAGE_A);

    // inspect, human and JSON.
    let r = ok(["inspect", p(&out)]);
    for field in [
        "magic",
        "format",
        "header_size",
        "image_len",
        "flags",
        "version",
        "security_counter",
        "reserved",
        "load_addr",
        "entry",
        "image_hash",
        "key_id",
        "signature",
        "hash",
    ] {
        assert!(r.stdout.lines().any(|l| l.starts_with(field)), "no {field} in\n{}", r.stdout);
    }
    assert!(r.stdout.contains("0x21010400") && r.stdout.contains("matches"), "{}", r.stdout);
    let j: serde_json::Value = serde_json::from_str(&ok(["inspect", "--json", p(&out)]).stdout).expect("json");
    assert_eq!(j["schema"], 1);
    assert_eq!(j["magic"], "SSIH");
    assert_eq!(j["image_len"], 5000);
    assert_eq!(j["header_size"], 0x400);
    assert_eq!(j["version"], "1.2.3+4");
    assert_eq!(j["version_fields"]["build"], 4);
    assert_eq!(j["security_counter"], 7);
    assert_eq!(j["load_addr"], IMAGE_A);
    assert_eq!(j["hash"], "match");
    assert_eq!(j["trailing_bytes"], 0);

    // pubkey: the key id it prints is the header's, and the raw key verifies.
    let raw = f.path("pub.bin");
    let r = ok(["pubkey", "--key", p(&key), "--raw", "-o", p(&raw)]);
    assert_eq!(std::fs::read(&raw).expect("raw").len(), 32);
    let id = j["key_id"].as_str().expect("key id");
    assert!(r.stdout.contains(id), "{} vs {id}", r.stdout);
    assert_eq!(f.verify(&raw, &out).code, 0);
    let pem = ok(["pubkey", "--key", p(&key)]).stdout;
    assert_eq!(pem, std::fs::read_to_string(&public).expect("pub"));

    // A file cut short: inspect says so, verify refuses.
    let short = f.write("short.slot", &bytes[..bytes.len() - 1]);
    let j: serde_json::Value = serde_json::from_str(&ok(["inspect", "--json", p(&short)]).stdout).expect("json");
    assert_eq!(j["hash"], "truncated");
    assert_eq!(f.verify(&public, &short).code, 65);
}

#[test]
fn tampering_is_detected_with_the_right_reason() {
    let f = Fixture::new();
    let (key, public) = f.keygen();
    let input = f.write("app.bin", &sample_image());
    let good = std::fs::read(f.sign(&key, &input, "app.slot")).expect("slot image");
    let last = good.len() - 1;
    let cases: &[(&str, usize, &str)] = &[
        ("magic", 0, "no-image"),
        ("format", 4, "bad-header"),
        ("header_size", 7, "bad-header"),
        ("image_len", 11, "image-bounds"),
        ("image_len low byte", 8, "bad-signature"),
        ("flags", 12, "bad-header"),
        ("version", 16, "bad-signature"),
        ("security_counter", 24, "bad-signature"),
        ("reserved", 28, "bad-header"),
        ("load_addr", 33, "wrong-address"),
        ("entry", 40, "bad-signature"),
        ("image_hash", 48, "bad-signature"),
        ("key_id", 80, "unknown-key"),
        ("signature first byte", 88, "bad-signature"),
        ("signature last byte", 151, "bad-signature"),
        ("image first byte", 0x400, "bad-hash"),
        ("image middle byte", 0x400 + 2500, "bad-hash"),
        ("image last byte", last, "bad-hash"),
    ];
    for (what, at, reason) in cases {
        let mut bad = good.clone();
        bad[*at] ^= 0x01;
        let file = f.write("bad.slot", &bad);
        let r = f.verify(&public, &file);
        assert_eq!(r.code, 65, "{what}: {}", r.stderr);
        assert!(r.stderr.contains(reason), "{what}: expected {reason} in {}", r.stderr);
    }
    // The padding between header and image is not signed, and not read.
    let mut padded = good.clone();
    padded[0x200] = 0;
    assert_eq!(f.verify(&public, &f.write("pad.slot", &padded)).code, 0);
    // Another key.
    let other = f.path("other.pem");
    ok(["keygen", "--out", p(&other)]);
    let r = f.verify(&other, &f.write("good.slot", &good));
    assert_eq!(r.code, 65);
    assert!(r.stderr.contains("unknown-key"), "{}", r.stderr);
    // A tampered image's hash no longer matches, as inspect reports.
    let mut bad = good.clone();
    bad[0x400] ^= 1;
    let j: serde_json::Value =
        serde_json::from_str(&ok(["inspect", "--json", p(&f.write("bad.slot", &bad))]).stdout).expect("json");
    assert_eq!(j["hash"], "mismatch");
}

#[test]
fn signing_is_deterministic() {
    let f = Fixture::new();
    let (key, _) = f.keygen();
    let input = f.write("app.bin", &sample_image());
    let one = std::fs::read(f.sign(&key, &input, "one.slot")).expect("one");
    let two = std::fs::read(f.sign(&key, &input, "two.slot")).expect("two");
    assert_eq!(one, two);
    // The flags name the same slot as the layout: same bytes.
    let three = f.path("three.slot");
    let mut args = vec!["sign", "--key", p(&key), "--version", "1.2.3+4", "--security-counter", "7"];
    args.extend(SLOT_A_FLAGS);
    args.extend([p(&input), "-o", p(&three)]);
    ok(&args);
    assert_eq!(one, std::fs::read(&three).expect("three"));
}

#[test]
#[ignore = "needs openssl: cargo test -p safeslot-image --test cli --test detached -- --ignored openssl_ \
            (cargo xtask test runs it)"]
fn openssl_keys_interoperate() {
    require_openssl();
    let f = Fixture::new();
    // An OpenSSL key signs, and its public half (exported by OpenSSL) verifies.
    let key = f.path("openssl.pem");
    let o = openssl(&["genpkey", "-algorithm", "ed25519", "-out", p(&key)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let public = f.path("openssl.pub.pem");
    let o = openssl(&["pkey", "-in", p(&key), "-pubout", "-out", p(&public)]);
    assert!(o.status.success());
    let input = f.write("app.bin", &sample_image());
    let out = f.sign(&key, &input, "app.slot");
    let r = f.verify(&public, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Our PEM equals OpenSSL's for the same key.
    let ours = ok(["pubkey", "--key", p(&key)]).stdout;
    assert_eq!(ours, std::fs::read_to_string(&public).expect("pub"));

    // Our keys load in OpenSSL.
    let (our_key, our_pub) = f.keygen();
    let o = openssl(&["pkey", "-pubin", "-in", p(&our_pub), "-noout"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = openssl(&["pkey", "-in", p(&our_key), "-noout"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Keys of other algorithms are refused by name.
    for (alg, opts, what) in [
        ("EC", &["-pkeyopt", "ec_paramgen_curve:P-256"][..], "elliptic-curve"),
        ("RSA", &["-pkeyopt", "rsa_keygen_bits:1024"][..], "RSA"),
    ] {
        let k = f.path(&format!("{alg}.pem"));
        let mut args = vec!["genpkey", "-algorithm", alg, "-out", p(&k)];
        args.extend(opts);
        assert!(openssl(&args).status.success());
        let r = run([
            "sign",
            "--key",
            p(&k),
            "--layout",
            p(&layout()),
            "--slot",
            "a",
            "--version",
            "1.0.0",
            "--security-counter",
            "0",
            p(&input),
            "-o",
            p(&f.path("x.slot")),
        ]);
        assert_eq!(r.code, 65, "{}", r.stderr);
        assert!(r.stderr.contains("not an ed25519 key") && r.stderr.contains(what), "{}", r.stderr);
    }
}

#[test]
fn elf_input() {
    let f = Fixture::new();
    let (key, public) = f.keygen();
    // .text at the image address; .data stored after it (LMA) but run from RAM (VMA).
    let text: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let elf = f.write("app.elf", &build_elf(&[(IMAGE_A, IMAGE_A, &text), (IMAGE_A + 0x300, 0x2001_0000, &[0xAB; 16])]));
    let out = f.sign(&key, &elf, "app.slot");
    let bytes = std::fs::read(&out).expect("slot image");
    let image = &bytes[0x400..];
    assert_eq!(image.len(), 0x310);
    assert_eq!(&image[..600], &text[..]);
    assert!(image[600..0x300].iter().all(|&b| b == 0xFF));
    assert_eq!(&image[0x300..], &[0xAB; 16]);
    assert_eq!(f.verify(&public, &out).code, 0);

    // Linked for slot b, signed for slot a.
    let elf_b = f.write("b.elf", &build_elf(&[(IMAGE_B, IMAGE_B, &text)]));
    let r = run([
        "sign",
        "--key",
        p(&key),
        "--layout",
        p(&layout()),
        "--slot",
        "a",
        "--version",
        "1.0.0",
        "--security-counter",
        "0",
        p(&elf_b),
        "-o",
        p(&f.path("x.slot")),
    ]);
    assert_eq!(r.code, 65, "{}", r.stderr);
    assert!(
        r.stderr.contains("ELF segment at 0x21410400")
            && r.stderr.contains("outside slot a (0x21010400-0x21410000)")
            && r.stderr.contains("was it linked for this slot?"),
        "{}",
        r.stderr
    );
}

#[test]
fn refusals_and_exit_codes() {
    let f = Fixture::new();
    let (key, public) = f.keygen();
    let l = layout();
    let sign = |input: &Path, extra: &[&str]| {
        let out = f.path("x.slot");
        let mut args = vec!["sign", "--key", p(&key), "--version", "1.0.0", "--security-counter", "1"];
        args.extend(extra);
        args.extend([p(input), "-o", p(&out)]);
        run(&args)
    };
    let slot_a = ["--layout", p(&l), "--slot", "a"];

    // Oversize: one byte more than slot size - header size.
    let big = f.write("big.bin", &vec![0u8; 0x400000 - 0x400 + 1]);
    let r = sign(&big, &slot_a);
    assert_eq!(r.code, 65, "{}", r.stderr);
    assert!(r.stderr.contains("slot a holds at most 4193280 bytes"), "{}", r.stderr);
    let fits = f.write("fits.bin", &vec![0u8; 0x400000 - 0x400]);
    assert_eq!(sign(&fits, &slot_a).code, 0);
    assert_eq!(sign(&f.write("empty.bin", &[]), &slot_a).code, 65);

    let input = f.write("app.bin", &sample_image());
    // Unaligned load address, bad header size: configuration errors.
    let r = sign(
        &input,
        &[
            "--flash-base",
            "0x21000000",
            "--slot-offset",
            "0x10100",
            "--slot-size",
            "0x400000",
            "--header-size",
            "0x400",
        ],
    );
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert!(r.stderr.contains("not a multiple of the header size"), "{}", r.stderr);
    let r = sign(
        &input,
        &[
            "--flash-base",
            "0x21000000",
            "--slot-offset",
            "0x10000",
            "--slot-size",
            "0x400000",
            "--header-size",
            "0x300",
        ],
    );
    assert_eq!(r.code, 78, "{}", r.stderr);
    // Unknown slot, missing layout.
    assert_eq!(sign(&input, &["--layout", p(&l), "--slot", "z"]).code, 78);
    assert_eq!(sign(&input, &["--layout", "/nonexistent/layout.toml", "--slot", "a"]).code, 66);
    // Usage: bad version, missing slot arguments, both forms at once, no subcommand.
    let r = run([
        "sign",
        "--key",
        p(&key),
        "--layout",
        p(&l),
        "--slot",
        "a",
        "--version",
        "1.x",
        "--security-counter",
        "1",
        p(&input),
        "-o",
        "x",
    ]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert_eq!(sign(&input, &[]).code, 64);
    assert_eq!(sign(&input, &["--layout", p(&l), "--slot", "a", "--header-size", "0x400"]).code, 64);
    assert_eq!(run(["sign"]).code, 64);
    assert_eq!(run(Vec::<&str>::new()).code, 64);
    assert_eq!(run(["frobnicate"]).code, 64);
    assert_eq!(sign(&input, &["--layout", p(&l), "--slot", "a", "--entry", "5000"]).code, 64);
    // --help and --version succeed, and the help lists the exit codes.
    let r = ok(["--help"]);
    assert!(r.stdout.contains("Exit codes") && r.stdout.contains("65"), "{}", r.stdout);
    assert!(ok(["--version"]).stdout.contains("safeslot-image"));
    assert!(ok(["sign", "--help"]).stdout.contains("--security-counter"));
    // Missing input, not a key, output that cannot be created.
    assert_eq!(sign(&f.path("missing.bin"), &slot_a).code, 66);
    assert_eq!(run(["inspect", p(&f.path("missing.slot"))]).code, 66);
    let r = run([
        "sign",
        "--key",
        p(&public),
        "--layout",
        p(&l),
        "--slot",
        "a",
        "--version",
        "1.0.0",
        "--security-counter",
        "1",
        p(&input),
        "-o",
        p(&f.path("x.slot")),
    ]);
    assert_eq!(r.code, 65);
    assert!(r.stderr.contains("public key"), "{}", r.stderr);
    let r = run([
        "sign",
        "--key",
        p(&key),
        "--layout",
        p(&l),
        "--slot",
        "a",
        "--version",
        "1.0.0",
        "--security-counter",
        "1",
        p(&input),
        "-o",
        p(&f.path("no/such/dir/x.slot")),
    ]);
    assert_eq!(r.code, 73, "{}", r.stderr);
    // inspect of a non-image.
    assert_eq!(run(["inspect", p(&input)]).code, 65);

    // keygen never overwrites without --force.
    let r = run(["keygen", "--out", p(&key)]);
    assert_eq!(r.code, 73, "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    let before = std::fs::read(&key).expect("key");
    let r = run(["keygen", "--out", p(&f.path("new.pem")), "--pub", p(&public)]);
    assert_eq!(r.code, 73, "{}", r.stderr);
    assert!(!f.path("new.pem").exists(), "nothing is written when one file exists");
    ok(["keygen", "--out", p(&key), "--force"]);
    assert_ne!(before, std::fs::read(&key).expect("key"));
}

#[test]
fn verify_defaults_to_the_layouts_keys() {
    let f = Fixture::new();
    std::fs::copy(layout(), f.path("layout.toml")).expect("copy layout");
    std::fs::create_dir(f.path("keys")).expect("keys dir");
    let key = f.path("dev.pem");
    ok(["keygen", "--out", p(&key), "--pub", p(&f.path("keys/release.pub.pem"))]);
    let input = f.write("app.bin", &sample_image());
    let out = f.sign(&key, &input, "app.slot");
    let r = ok(["verify", "--layout", p(&f.path("layout.toml")), "--slot", "a", p(&out)]);
    assert!(r.stdout.contains("release.pub.pem"), "{}", r.stdout);
    // The layout's key file is missing: no input.
    std::fs::remove_file(f.path("keys/release.pub.pem")).expect("remove key");
    let r = run(["verify", "--layout", p(&f.path("layout.toml")), "--slot", "a", p(&out)]);
    assert_eq!(r.code, 66, "{}", r.stderr);
    assert!(r.stderr.contains("release.pub.pem"), "{}", r.stderr);
}

/// `sign --linux`: a kernel `Image` and an initramfs directory become a signed Linux slot
/// (the virtual SoC's layout) that verifies, whose image is the payload the boot stage
/// reads; the argument rules are usage errors.
#[test]
fn sign_linux_builds_a_payload_the_stage_reads() {
    let f = Fixture::new();
    let (key, public) = f.keygen();
    let mut kernel = vec![0u8; 8192];
    kernel[0x10..0x18].copy_from_slice(&16384u64.to_le_bytes());
    kernel[0x38..0x3C].copy_from_slice(b"ARM\x64");
    let image = f.write("Image", &kernel);
    let root = f.path("root");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    std::fs::write(root.join("init"), b"#!/bin/sh\n").expect("init");
    let soc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/qemu-virt-aarch64/layout.toml");
    let out = f.path("linux.img");
    let base = ["sign", "--key", p(&key), "--layout", p(&soc), "--slot", "b", "--version", "2.0.0"];
    let r = ok(base.iter().copied().chain([
        "--security-counter",
        "1",
        "--linux",
        "--kernel",
        p(&image),
        "--initramfs",
        p(&root),
        "-o",
        p(&out),
    ]));
    assert!(r.stdout.contains("slot b, version 2.0.0"), "{}", r.stdout);
    let v = run(["verify", "--key", p(&public), "--layout", p(&soc), "--slot", "b", p(&out)]);
    assert_eq!(v.code, 0, "{}", v.stderr);

    let signed = std::fs::read(&out).expect("slot image");
    let header = safeslot_shared::header::SlotHeader::decode(&signed).expect("header");
    let payload = &signed[header.header_size as usize..];
    let parts = safeslot_linux::parse_payload(payload).expect("the stage's reader accepts it");
    let mut state = safeslot_linux::DecompressorOxide::new();
    let mut ram = vec![0u8; 16384];
    let n = safeslot_linux::inflate_kernel(&mut state, parts.kernel_gz, &mut ram).expect("inflates");
    assert_eq!(&ram[..n], &kernel[..]);

    // Usage: --linux needs both inputs, excludes INPUT; --kernel needs --linux.
    let usage = |extra: &[&str]| {
        let r = run(base.iter().copied().chain(["--security-counter", "1"]).chain(extra.iter().copied()));
        assert_eq!(r.code, 64, "{extra:?}: {}", r.stderr);
    };
    usage(&["--linux", "--kernel", p(&image), "-o", p(&out)]);
    usage(&["--linux", "--kernel", p(&image), "--initramfs", p(&root), p(&image), "-o", p(&out)]);
    usage(&["--kernel", p(&image), p(&image), "-o", p(&out)]);
    // Not a kernel: bad data (65).
    let junk = f.write("junk", b"not a kernel");
    let r = run(base.iter().copied().chain([
        "--security-counter",
        "1",
        "--linux",
        "--kernel",
        p(&junk),
        "--initramfs",
        p(&root),
        "-o",
        p(&f.path("junk.img")),
    ]));
    assert_eq!(r.code, 65, "{}", r.stderr);
    assert!(r.stderr.contains("not an arm64 kernel Image"), "{}", r.stderr);
}

/// Issue #16, items 3 and 4 through the binary: signed metadata is written, shown by
/// `inspect` and applied by `verify` as the stage applies it.
#[test]
fn signed_metadata_compatible_revocation_and_requirements() {
    let f = Fixture::new();
    let (old_key, old_pub) = f.keygen();
    let new_key = f.path("new.pem");
    let new_pub = f.path("new.pub.pem");
    ok(["keygen", "--out", p(&new_key), "--pub", p(&new_pub)]);
    let input = f.write("app.bin", &sample_image());
    let sbom = f.write("sbom.json", b"{\"components\": []}\n");
    let l = layout();
    let out = f.path("meta.slot");
    let mut args = vec!["sign", "--key", p(&new_key), "--layout", p(&l), "--slot", "a"];
    args.extend(["--version", "2.0.0", "--security-counter", "7", "--compatible", "acme,widget-2"]);
    args.extend(["--revoke-below", "1", "--requires-version", "1.5.0", "--build-info", p(&sbom)]);
    args.extend([p(&input), "-o", p(&out)]);
    ok(&args);

    let j: serde_json::Value = serde_json::from_str(&ok(["inspect", "--json", p(&out)]).stdout).expect("json");
    assert_eq!(j["format"], 2);
    let tlvs = j["tlvs"].as_array().expect("tlvs");
    let names: Vec<&str> = tlvs.iter().map(|t| t["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["compatible", "revoke-below", "requires-version", "build-digest"]);
    assert_eq!(tlvs[0]["meaning"], "acme,widget-2");
    assert!(tlvs.iter().take(3).all(|t| t["critical"] == true) && tlvs[3]["critical"] == false);
    let human = ok(["inspect", p(&out)]).stdout;
    assert!(human.contains("revoke-below") && human.contains("acme,widget-2"), "{human}");

    // The trusted keys, in index order: old (0), new (1).
    let verify = |extra: &[&str]| {
        let mut a = vec!["verify", "--key", p(&old_pub), "--key", p(&new_pub), "--layout", p(&l), "--slot", "a"];
        a.extend_from_slice(extra);
        a.push(p(&out));
        run(a)
    };
    assert_eq!(verify(&["--compatible", "acme,widget-2"]).code, 0);
    for (extra, reason) in [
        (&["--compatible", "acme,widget-3"][..], "incompatible"),
        (&[][..], "incompatible"),
        (&["--compatible", "acme,widget-2", "--key-floor", "2"][..], "revoked-key"),
        (&["--compatible", "acme,widget-2", "--confirmed-version", "1.4.9"][..], "unmet-requirement"),
    ] {
        let r = verify(extra);
        assert_eq!(r.code, 65, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(reason), "{extra:?}: {}", r.stderr);
    }
    assert_eq!(verify(&["--compatible", "acme,widget-2", "--key-floor", "1", "--confirmed-version", "1.5.0"]).code, 0);
    // The old key's image, after key 0 was revoked.
    let old = f.sign(&old_key, &input, "old.slot");
    let r = run([
        "verify",
        "--key",
        p(&old_pub),
        "--key",
        p(&new_pub),
        "--key-floor",
        "1",
        "--layout",
        p(&l),
        "--slot",
        "a",
        p(&old),
    ]);
    assert_eq!(r.code, 65);
    assert!(r.stderr.contains("revoked-key"), "{}", r.stderr);

    // What cannot be carried is refused before anything is written.
    let bad = f.path("bad.slot");
    for extra in [&["--compatible", "has space"][..], &["--revoke-below", "0"][..]] {
        let mut a = vec!["sign", "--key", p(&new_key), "--layout", p(&l), "--slot", "a", "--version", "1.0.0"];
        a.extend(["--security-counter", "1"]);
        a.extend_from_slice(extra);
        a.extend([p(&input), "-o", p(&bad)]);
        assert_ne!(run(a).code, 0, "{extra:?}");
        assert!(!bad.exists(), "{extra:?}");
    }
}
