//! Throughput of `Detector::scan` on in-memory buffers (no I/O, no walking).
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench detector
//! CARGO_TARGET_DIR=/work/target-bench cargo bench --bench detector -- near_misses   # one case
//! ```
//!
//! Cases, 16 MiB each, built once from a seeded generator (no key literal is in this file; keys are
//! random `SG.` + 22 + `.` + 43 token characters made at run time):
//! - `no_keyword`: source-like text without `SG.` (the prefilter's best case: nothing to verify);
//! - `near_misses`: the same text with an `SG.` near miss about every 512 bytes (wrong segment lengths,
//!   a token character glued on, placeholders, low entropy, `SG.Helpers`-style code): every one is a
//!   prefilter hit that the regex, boundary, placeholder or entropy check must reject;
//! - `many_keys`: the same text with a real-format key about every 2 KiB (one in eight base64-encoded),
//!   so matches, line/column computation and result allocation dominate;
//! - `random_binary`: uniformly random bytes (NULs included), as in media or compressed files.
//!
//! Adversarial cases (`cargo bench --bench detector -- adversarial`), inputs built to make a
//! detector do work per keyword hit; such blobs compress to kilobytes in git:
//! - `b64_sg_shift0/1/2`: 16 MiB of base64 of `SG.` repeated, at each of the three byte alignments
//!   (`U0cu…` for alignment 0): a base64 needle hit every 4 characters;
//! - `percent_sg`: 16 MiB of `%53%47%2E` repeated;
//! - `sg_repeated`: 16 MiB of `SG.` repeated: a plain keyword hit every 3 bytes;
//! - `escape_sg`, `entity_sg`: 16 MiB of `SG\u002e` / `SG&#` repeated (text-escape hits);
//! - `b64_b64_sg`, `b64_percent_sg`: 16 MiB of base64 of `b64_sg_shift0` / of `percent_sg` (a nested
//!   hit every few characters);
//! - `keys_one_line`: one 2 MiB line holding 20,000 real-format keys (line, column and
//!   `sgscan:allow` look-ups on one long line).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sgscan::Detector;

const SIZE: usize = 16 << 20;
const TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

const WORDS: &[&str] = &[
    "request", "response", "client", "server", "config", "value", "error", "result", "message", "mail",
    "email", "send", "template", "user", "account", "token", "header", "body", "queue", "retry", "timeout",
    "buffer", "stream", "parse", "render", "cache", "index", "scan", "match", "rule", "path", "file", "line",
    "column", "offset", "length", "count", "total", "handler", "service", "worker", "batch", "event",
    "payload", "status", "code", "debug", "info", "warn", "trace", "span", "the", "of", "and", "to", "in",
    "is", "for", "on", "with", "as", "by",
];

fn tok(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n).map(|_| TOKEN[rng.usize(..TOKEN.len())] as char).collect()
}

fn ident(rng: &mut fastrand::Rng) -> String {
    let mut s = String::from(WORDS[rng.usize(..WORDS.len())]);
    for _ in 0..rng.usize(0..3) {
        s.push('_');
        s.push_str(WORDS[rng.usize(..WORDS.len())]);
    }
    s
}

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// One line of source-like text (Rust/Python/JS/YAML flavoured), ending in '\n'.
fn line(rng: &mut fastrand::Rng) -> String {
    let indent = " ".repeat(4 * rng.usize(0..4));
    let body = match rng.usize(0..10) {
        0 => format!(
            "let {} = {}.{}({}, {});",
            ident(rng),
            ident(rng),
            ident(rng),
            ident(rng),
            rng.u32(..10_000)
        ),
        1 => format!("fn {}(&self, {}: &str) -> Result<()> {{", ident(rng), ident(rng)),
        2 => format!("// {} {} {} {}", ident(rng), ident(rng), ident(rng), ident(rng)),
        3 => "}".to_string(),
        4 => format!("if len({}) > {}:", ident(rng), rng.u32(1..512)),
        5 => format!("{}: \"{} {}\"", ident(rng), ident(rng), ident(rng)),
        6 => format!(
            "import {{ {}, {} }} from './{}';",
            ident(rng),
            ident(rng),
            ident(rng)
        ),
        7 => format!(
            "\"integrity\": \"sha512-{}\",",
            b64(&(0..48).map(|_| rng.u8(..)).collect::<Vec<u8>>())
        ),
        8 => format!("logger.info(\"{} %s\", {})", ident(rng), ident(rng)),
        _ => format!("{} = {}", ident(rng), rng.u64(..)),
    };
    format!("{indent}{body}\n")
}

/// Source-like text of about `size` bytes, without `SG.`.
fn text(rng: &mut fastrand::Rng, size: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut n = 0;
    while n < size {
        let l = line(rng);
        n += l.len();
        lines.push(l);
    }
    lines
}

fn near_miss(rng: &mut fastrand::Rng) -> String {
    let s = match rng.usize(0..12) {
        0 => {
            let n = rng.usize(1..22);
            format!("SG.{}", tok(rng, n))
        }
        1 => format!("SG.{}.{}", tok(rng, 21), tok(rng, 43)),
        2 => format!("SG.{}.{}", tok(rng, 23), tok(rng, 43)),
        3 => {
            let n = rng.usize(30..43);
            format!("SG.{}.{}", tok(rng, 22), tok(rng, n))
        }
        4 => format!("SG.{}.{}", tok(rng, 22), tok(rng, 44)),
        5 => format!("xSG.{}.{}", tok(rng, 22), tok(rng, 43)),
        6 => format!("SG.{}.{}.{}", tok(rng, 22), tok(rng, 43), tok(rng, 6)),
        7 => format!("SG.{}.{}", "x".repeat(22), "x".repeat(43)),
        8 => format!("SG.{}.{}", tok(rng, 22), &"abc".repeat(15)[..43]),
        9 => "SG.YOUR_SENDGRID_API_KEY".to_string(),
        10 => "sg = SG.Helpers.Mail(".to_string(),
        _ => format!("SG.{}", tok(rng, 22)),
    };
    format!("    value = \"{s}\"\n")
}

fn key(rng: &mut fastrand::Rng, placeholder_words: &[String]) -> String {
    loop {
        let k = format!("SG.{}.{}", tok(rng, 22), tok(rng, 43));
        let lower = k.to_ascii_lowercase();
        if !placeholder_words.iter().any(|w| lower.contains(w.as_str())) {
            return k;
        }
    }
}

/// `lines` with `extra(i)` inserted about every `every` bytes.
fn interleave(lines: &[String], every: usize, mut extra: impl FnMut() -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIZE + SIZE / 8);
    let mut next = every;
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        if out.len() >= next {
            out.extend_from_slice(extra().as_bytes());
            next = out.len() + every;
        }
        if out.len() >= SIZE {
            break;
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let detector = Detector::new(sgscan::embedded_rules().unwrap()).unwrap();
    let placeholders = detector.rules()[0].placeholder_words.clone();
    let mut rng = fastrand::Rng::with_seed(0x5e5d_9a1d);
    let lines = text(&mut rng, SIZE + SIZE / 4);

    let plain: Vec<u8> = lines.concat().into_bytes()[..SIZE].to_vec();
    assert!(!plain.windows(3).any(|w| w == b"SG."));
    assert!(detector.scan(&plain).is_empty());

    let near = interleave(&lines, 512, || near_miss(&mut rng));
    assert!(detector.scan(&near).is_empty(), "a near miss was reported");

    let mut planted = 0;
    let mut nth = 0;
    let keys = interleave(&lines, 2048, || {
        planted += 1;
        nth += 1;
        let k = key(&mut rng, &placeholders);
        if nth % 8 == 0 {
            format!("  SENDGRID_API_KEY: {}\n", b64(k.as_bytes()))
        } else {
            format!("    api_key = \"{k}\"\n")
        }
    });
    assert_eq!(detector.scan(&keys).len(), planted, "planted keys");

    let binary: Vec<u8> = (0..SIZE).map(|_| rng.u8(..)).collect();

    let mut group = c.benchmark_group("detector_scan");
    for (name, data) in [
        ("no_keyword", &plain),
        ("near_misses", &near),
        ("many_keys", &keys),
        ("random_binary", &binary),
    ] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| b.iter(|| black_box(detector.scan(black_box(data)))));
    }
    group.finish();
}

fn adversarial(c: &mut Criterion) {
    let detector = Detector::new(sgscan::embedded_rules().unwrap()).unwrap();
    let placeholders = detector.rules()[0].placeholder_words.clone();
    let repeat = |unit: &[u8]| -> Vec<u8> { unit.iter().copied().cycle().take(SIZE).collect() };
    let b64_sg = |shift: usize| -> Vec<u8> {
        let mut raw = vec![b'x'; shift];
        raw.extend(repeat(b"SG.").into_iter().take(SIZE / 4 * 3));
        b64(&raw).into_bytes()[..SIZE].to_vec()
    };
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("b64_sg_shift0", b64_sg(0)),
        ("b64_sg_shift1", b64_sg(1)),
        ("b64_sg_shift2", b64_sg(2)),
        ("percent_sg", repeat(b"%53%47%2E")),
        ("sg_repeated", repeat(b"SG.")),
        ("escape_sg", repeat(b"SG\\u002e")),
        ("entity_sg", repeat(b"SG&#")),
        ("b64_b64_sg", b64(&b64_sg(0)).into_bytes()[..SIZE].to_vec()),
        (
            "b64_percent_sg",
            b64(&repeat(b"%53%47%2E")).into_bytes()[..SIZE].to_vec(),
        ),
    ];
    assert!(cases[0].1.starts_with(b"U0cuU0cu"));
    for (name, data) in &cases {
        assert!(detector.scan(data).is_empty(), "{name}: a key was reported");
    }

    const KEYS: usize = 20_000;
    const LINE: usize = 2 << 20;
    let mut rng = fastrand::Rng::with_seed(0xad7e_25a1);
    let mut line = Vec::with_capacity(LINE);
    for i in 0..KEYS {
        let k = key(&mut rng, &placeholders);
        line.extend_from_slice(format!("k{i}=\"{k}\"; ").as_bytes());
        // Spread the keys over the whole line.
        line.resize(LINE * (i + 1) / KEYS - 1, b' ');
    }
    line.push(b'\n');
    assert_eq!(line.len(), LINE);
    assert_eq!(detector.scan(&line).len(), KEYS, "keys on one line");
    cases.push(("keys_one_line", line));

    let mut group = c.benchmark_group("adversarial");
    group.sample_size(10);
    for (name, data) in &cases {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(*name, |b| b.iter(|| black_box(detector.scan(black_box(data)))));
    }
    group.finish();
}

criterion_group!(benches, bench, adversarial);
criterion_main!(benches);
