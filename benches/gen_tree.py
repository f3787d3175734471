#!/usr/bin/env python3
"""Generate a deterministic working tree for benchmarking sgscan (and peers).

    python3 benches/gen_tree.py --out /work/bench-data/tree --size-mb 1024 --seed 1

The tree mixes source-like text (Rust, Python, JS/TS, YAML, JSON, Markdown, TOML; 1 KB - 2 MB per
file), minified JSON with very long lines (200 KB - 2 MB per line), binary files (random bytes with
NULs, fake SQLite databases, ELF/PNG-looking blobs), many `SG.` near misses that are not keys, and a
known set of planted SendGrid-format keys: plain in source, in `.env` files, in long JSON lines, in a
binary SQLite file, percent-encoded in URLs and base64-encoded in Kubernetes Secret YAML.

No key is written anywhere but in the generated tree: keys are built at run time from the seeded RNG
('SG.' + base64url(16 bytes) + '.' + base64url(32 bytes), unpadded). A manifest with each planted
key's SHA-256 fingerprint (never the key) and locations is written next to the tree, as
OUT.manifest.json, and a summary is printed.

Bulk text comes from per-language corpora built once from a pool of synthetic lines; each file is a
slice of its corpus (cut at line boundaries) with near misses and keys spliced in at line boundaries,
so generation runs at disk speed rather than at Python-loop speed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import time

TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# The README's rule: SG. + 22 + . + 43 token characters, bounded, not a placeholder, entropy >= 3.5.
KEY_RE = re.compile(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")
PLACEHOLDER_WORDS = [
    "xxxxx", "your_", "your-", "yourkey", "example", "redacted", "placeholder", "dummy",
    "sample", "changeme", "insert", "replace", "0123456789", "abcdefghij",
]

KB = 1024
MB = 1024 * 1024


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.words = self._make_words()
        self.idents = self._make_idents()
        self.keys_made: set[str] = set()

    # ------------------------------------------------------------------ vocabulary
    def _make_words(self) -> list[str]:
        base = (
            "the of and to in is for on that with as by this be are from at or it an was which "
            "request response client server config value error result message mail email send "
            "template user account token header body queue retry timeout buffer stream parse "
            "render cache index scan match rule path file line column offset length count total "
            "handler service worker batch event payload status code debug info warn trace span"
        ).split()
        r = self.rng
        extra = []
        for _ in range(600):
            n = r.randint(3, 10)
            extra.append("".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)))
        return base + extra

    def _make_idents(self) -> list[str]:
        r, w = self.rng, self.words
        out = []
        for _ in range(3000):
            k = r.randint(1, 3)
            parts = [r.choice(w) for _ in range(k)]
            out.append("_".join(parts) if r.random() < 0.6 else parts[0] + "".join(p.title() for p in parts[1:]))
        return out

    def ident(self) -> str:
        return self.rng.choice(self.idents)

    def sentence(self, lo=3, hi=12) -> str:
        r = self.rng
        return " ".join(r.choice(self.words) for _ in range(r.randint(lo, hi)))

    def tok(self, n: int) -> str:
        return "".join(self.rng.choices(TOKEN, k=n))

    # ------------------------------------------------------------------ keys
    def key(self) -> str:
        """A fresh well-formed key that sgscan must report (not a placeholder, high entropy)."""
        while True:
            k = "SG." + b64url(self.rng.randbytes(16)) + "." + b64url(self.rng.randbytes(32))
            low = k.lower()
            if any(w in low for w in PLACEHOLDER_WORDS) or k in self.keys_made:
                continue
            # Entropy of the 43-character secret; random base64url measures ~5 bits/char.
            s = k[26:]
            counts = {c: s.count(c) for c in set(s)}
            ent = -sum(c / 43 * math.log2(c / 43) for c in counts.values())
            if ent < 4.0:
                continue
            self.keys_made.add(k)
            return k

    # ------------------------------------------------------------------ near misses
    def near_miss(self) -> tuple[str, bool]:
        """A string containing `SG.` that is not a key. Returns (text, matches_unbounded_regex)."""
        r = self.rng
        kind = r.randrange(16)
        if kind == 0:
            s = "SG." + self.tok(r.randint(1, 21))
        elif kind == 1:
            s = "SG." + self.tok(21) + "." + self.tok(43)
        elif kind == 2:
            s = "SG." + self.tok(23) + "." + self.tok(43)
        elif kind == 3:
            s = "SG." + self.tok(22) + "." + self.tok(r.randint(30, 42))
        elif kind == 4:
            s = "SG." + self.tok(22) + "." + self.tok(r.randint(44, 60))
        elif kind == 5:
            s = r.choice("xaZ9_-") + "SG." + self.tok(22) + "." + self.tok(43)
        elif kind == 6:
            s = "SG." + self.tok(22) + "." + self.tok(43) + "." + self.tok(r.randint(2, 12))
        elif kind == 7:
            s = self.tok(r.randint(2, 10)) + ".SG." + self.tok(22) + "." + self.tok(43)
        elif kind == 8:
            s = "SG." + "x" * 22 + "." + "x" * 43
        elif kind == 9:
            s = "SG." + self.tok(22) + "." + ("abc" * 15)[:43]
        elif kind == 10:
            s = "SG." + r.choice(["YOUR_SENDGRID_API_KEY", "your-api-key-here", "<redacted>", "***", "REDACTED", "xxxx"])
        elif kind == 11:
            s = r.choice(["MSG.send(", "CSG.Config", "LOG.SG.info", "SG.Helpers.Mail", "sg = SG.Client(", "SG.API", "RSG.", "ISG.Init"])
        elif kind == 12:
            s = "SG." + self.tok(22)
        elif kind == 13:
            s = "SG." + self.tok(22) + "." + self.tok(22) + "." + self.tok(21)
        elif kind == 14:
            s = "SG." + self.tok(22) + "." + self.tok(40) + "=="
        else:
            s = "SG.." + self.tok(r.randint(5, 66))
        return s, KEY_RE.search(s) is not None

    def near_miss_line(self, lang: str) -> tuple[str, bool]:
        s, m = self.near_miss()
        r = self.rng
        q = r.choice(['"', "'"])
        v = self.ident()
        if lang == "rust":
            line = r.choice([f'    let {v} = "{s}";', f"    // see {s} for details", f'    assert_ne!({v}, "{s}");'])
        elif lang == "python":
            line = r.choice([f"    {v} = {q}{s}{q}", f"# TODO: rotate {s} {self.sentence(1, 4)}", f"    assert not {v}.startswith({q}{s}{q})"])
        elif lang == "js":
            line = r.choice([f"  const {v} = {q}{s}{q};", f"  // {s} {self.sentence(1, 4)}", f"  expect({v}).not.toBe({q}{s}{q});"])
        elif lang == "yaml":
            line = r.choice([f"  {v}: {s}", f"  # {s}", f"  {v}: {q}{s}{q}"])
        elif lang == "json":
            line = f'  "{v}": "{s}",'
        else:
            line = r.choice([f"The token `{s}` is {self.sentence(2, 6)}.", f"- {v}: {s}", f"    {s}"])
        return line, m

    # ------------------------------------------------------------------ source-like line pools
    def line(self, lang: str) -> str:
        r = self.rng
        v, w = self.ident, self.sentence
        ind = " " * (4 * r.randint(0, 3))
        k = r.randrange(10)
        if lang == "rust":
            return ind + [
                lambda: f"let {v()} = {v()}.{v()}({v()}, {r.randint(0, 9999)});",
                lambda: f"fn {v()}(&self, {v()}: &{v().title()}) -> Result<{v().title()}> {{",
                lambda: f"// {w()}",
                lambda: "}",
                lambda: f"if {v()}.len() > {r.randint(1, 512)} {{",
                lambda: f"{v()}.push_str(\"{w(1, 5)}\");",
                lambda: f"use crate::{v()}::{{{v()}, {v()}}};",
                lambda: f"/// {w(4, 14)}",
                lambda: f"match {v()} {{ Some(x) => x, None => return Err(anyhow!(\"{w(2, 6)}\")) }}",
                lambda: f"#[derive(Debug, Clone)] pub struct {v().title().replace('_', '')} {{ {v()}: u{r.choice([8, 16, 32, 64])} }}",
            ][k]()
        if lang == "python":
            return ind + [
                lambda: f"{v()} = {v()}.{v()}({v()}, {r.randint(0, 9999)})",
                lambda: f"def {v()}(self, {v()}, {v()}=None):",
                lambda: f"# {w()}",
                lambda: "return None",
                lambda: f"if len({v()}) > {r.randint(1, 512)}:",
                lambda: f"logger.info(\"{w(2, 8)} %s\", {v()})",
                lambda: f"from {v()}.{v()} import {v()}, {v()}",
                lambda: f"\"\"\"{w(4, 14)}\"\"\"",
                lambda: f"for {v()} in {v()}.items():",
                lambda: f"raise ValueError(f\"{w(2, 6)}: {{{v()}!r}}\")",
            ][k]()
        if lang == "js":
            return ind + [
                lambda: f"const {v()} = await {v()}.{v()}({v()}, {r.randint(0, 9999)});",
                lambda: f"function {v()}({v()}, {v()}) {{",
                lambda: f"// {w()}",
                lambda: "}",
                lambda: f"if ({v()}.length > {r.randint(1, 512)}) {{",
                lambda: f"console.log(`{w(2, 8)} ${{{v()}}}`);",
                lambda: f"import {{ {v()}, {v()} }} from './{v()}';",
                lambda: f"/** {w(4, 14)} */",
                lambda: f"export default {{ {v()}: {r.randint(0, 1 << 20)}, {v()}: '{w(1, 3)}' }};",
                lambda: f"{v()}.on('{v()}', ({v()}) => {v()}.{v()}());",
            ][k]()
        if lang == "yaml":
            return ind[: 2 * r.randint(0, 3)] + [
                lambda: f"{v()}: {w(1, 4)}",
                lambda: f"{v()}: {r.randint(0, 65535)}",
                lambda: f"- name: {v()}",
                lambda: f"# {w()}",
                lambda: f"{v()}:",
                lambda: f"image: registry.internal/{v()}:{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)}",
                lambda: f"{v()}: \"{w(1, 6)}\"",
                lambda: f"- {v()}",
                lambda: f"{v()}: {r.choice(['true', 'false', 'null'])}",
                lambda: f"checksum: {base64.b64encode(r.randbytes(24)).decode()}",
            ][k]()
        if lang == "json":
            return " " * (2 * r.randint(1, 4)) + [
                lambda: f"\"{v()}\": \"{w(1, 5)}\",",
                lambda: f"\"{v()}\": {r.randint(0, 10**9)},",
                lambda: f"\"{v()}\": {{",
                lambda: "},",
                lambda: f"\"{v()}\": [{r.randint(0, 99)}, {r.randint(0, 99)}, {r.randint(0, 99)}],",
                lambda: f"\"{v()}\": {r.choice(['true', 'false', 'null'])},",
                lambda: f"\"integrity\": \"sha512-{base64.b64encode(r.randbytes(48)).decode()}\",",
                lambda: f"\"{v()}\": \"{r.randint(0, 9)}.{r.randint(0, 40)}.{r.randint(0, 20)}\",",
                lambda: "],",
                lambda: f"\"description\": \"{w(5, 16)}\",",
            ][k]()
        # markdown / toml / text
        return [
            lambda: w(6, 20),
            lambda: f"## {w(2, 5)}",
            lambda: f"- {w(3, 10)}",
            lambda: "",
            lambda: f"{v()} = \"{w(1, 3)}\"",
            lambda: f"[{v()}]",
            lambda: f"`{v()}` {w(3, 12)}",
            lambda: f"    {v()}({v()})",
            lambda: w(10, 25),
            lambda: f"{v()} = {r.randint(0, 9999)}",
        ][k]()

    def corpus(self, lang: str, target_bytes: int, near_miss_every: int) -> str:
        """A big block of text for `lang`: lines sampled from a pool, with near misses that an
        unbounded regex does not match sprinkled in (so slicing can never break a count)."""
        r = self.rng
        pool = [self.line(lang) for _ in range(20000)]
        avg = sum(len(p) + 1 for p in pool) / len(pool)
        n = int(target_bytes / avg)
        lines = r.choices(pool, k=n)
        for i in range(0, n, near_miss_every):
            j = i + r.randrange(near_miss_every)
            if j < n:
                while True:
                    nm, matches = self.near_miss_line(lang)
                    if not matches:
                        break
                lines[j] = nm
        return "\n".join(lines) + "\n"


LANGS = {
    # lang: (extensions, share of source bytes)
    "rust": ([".rs"], 0.22),
    "python": ([".py"], 0.20),
    "js": ([".js", ".ts", ".mjs"], 0.22),
    "yaml": ([".yaml", ".yml"], 0.12),
    "json": ([".json"], 0.14),
    "text": ([".md", ".toml", ".txt"], 0.10),
}

KEY_LINE = {
    "rust": ['    let api_key = "{k}";', '    const SENDGRID_KEY: &str = "{k}";', '    client.auth("{k}")?;'],
    "python": ['SENDGRID_API_KEY = "{k}"', "    sg = SendGridAPIClient('{k}')", '    os.environ.setdefault("SENDGRID_API_KEY", "{k}")'],
    "js": ["sgMail.setApiKey('{k}');", 'const SENDGRID_API_KEY = "{k}";', "  headers: {{ Authorization: `Bearer {k}` }},"],
    "yaml": ["  sendgrid_api_key: {k}", '  SENDGRID_API_KEY: "{k}"', "    - SENDGRID_API_KEY={k}"],
    "json": ['  "sendgridApiKey": "{k}",', '    "apiKey": "{k}",'],
    "text": ["Use the key {k} for staging.", 'sendgrid_key = "{k}"', "    export SENDGRID_API_KEY={k}"],
}


class Tree:
    def __init__(self, out: str, size_mb: int, seed: int):
        self.out = out
        self.total = size_mb * MB
        self.g = Gen(seed)
        self.r = self.g.rng
        self.written = 0
        self.files = 0
        self.planted: dict[str, dict] = {}  # key -> {"encoding", "locations": [...]}
        self.ignored_planted: list[dict] = []
        self.near_misses_inserted = 0
        self.near_misses_regex = 0  # inserted near misses that `SG\.[..]{22}\.[..]{43}` matches
        self.sg_plain_occurrences = 0
        self.rg_lines_with_keys = 0
        self.dirs = self._make_dirs()

    # ------------------------------------------------------------------ layout
    def _make_dirs(self) -> list[str]:
        r, g = self.r, self.g
        tops = ["services", "packages", "libs", "apps", "tools", "infra", "docs", "vendor", "config"]
        dirs = []
        for t in tops:
            for _ in range(r.randint(4, 10)):
                d = os.path.join(t, g.ident().replace("_", "-"))
                for _ in range(r.randint(1, 5)):
                    sub = r.choice(["src", "lib", "test", "tests", "scripts", "deploy", "internal", "api", "web"])
                    dirs.append(os.path.join(d, sub, *([g.ident()] if r.random() < 0.5 else [])))
        return sorted(set(dirs))

    def path(self, ext: str, top: str | None = None) -> str:
        r = self.r
        d = r.choice(self.dirs) if top is None else top
        name = self.g.ident() + (f"_{r.randrange(1000)}" if r.random() < 0.3 else "")
        p = os.path.join(d, name + ext)
        while os.path.exists(os.path.join(self.out, p)):
            p = os.path.join(d, f"{name}_{r.randrange(10**6)}{ext}")
        return p

    def write(self, rel: str, data: bytes | str, count_text: bool = True) -> None:
        full = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        with open(full, "wb") as f:
            f.write(data)
        self.written += len(data)
        self.files += 1
        if count_text:
            self.sg_plain_occurrences += data.count(b"SG.")

    # ------------------------------------------------------------------ planting
    def plant(self, key: str, rel: str, line: int | None, encoding: str) -> None:
        e = self.planted.setdefault(key, {"fingerprint": fingerprint(key), "encoding": encoding, "locations": []})
        e["locations"].append({"path": rel, "line": line, "encoding": encoding})

    @staticmethod
    def splice(text: str, inserts: list[tuple[int, str]]) -> tuple[str, list[int]]:
        """Inserts lines at the line boundaries at or after the given byte offsets. Returns the text
        and the 1-based line number of each inserted line (in the order given)."""
        cuts = []
        for off, ln in inserts:
            off = min(off, len(text))
            nl = text.find("\n", off)
            cut = len(text) if nl < 0 else nl + 1
            cuts.append((cut, ln))
        order = sorted(range(len(cuts)), key=lambda i: cuts[i][0])
        parts, prev = [], 0
        line_no = [0] * len(cuts)
        line = 1
        for rank, i in enumerate(order):
            cut, ln = cuts[i]
            seg = text[prev:cut]
            if seg and not seg.endswith("\n"):
                seg += "\n"
            parts.append(seg)
            line += seg.count("\n")
            line_no[i] = line
            parts.append(ln + "\n")
            line += 1
            prev = cut
        parts.append(text[prev:])
        return "".join(parts), line_no

    # ------------------------------------------------------------------ generation
    def run(self) -> dict:
        r, g = self.r, self.g
        t0 = time.time()
        os.makedirs(self.out, exist_ok=True)

        # Byte budget by kind.
        budget_binary = int(self.total * 0.08)
        budget_longline = int(self.total * 0.12)
        budget_ignored = int(self.total * 0.03)
        budget_small = int(self.total * 0.01)  # .env, k8s secrets, .gitignore...
        budget_source = self.total - budget_binary - budget_longline - budget_ignored - budget_small

        corpora = {}
        for lang in LANGS:
            corpora[lang] = g.corpus(lang, 6 * MB, near_miss_every=r.randint(300, 900))
        print(f"corpora built in {time.time() - t0:.1f}s", file=sys.stderr)

        # How many keys of each kind (scales with size, never fewer than a handful).
        scale = max(1, self.total // (64 * MB))
        n_src = 4 * scale
        n_env = 2 * scale
        n_k8s = max(3, scale)
        n_json_long = 2
        n_sqlite = 2
        n_percent = 2
        n_b64url = 1

        self._gitignore()
        self._source(corpora, budget_source, n_src)
        self._env_files(n_env, budget_small // 2)
        self._k8s_secrets(corpora["yaml"], n_k8s, n_b64url)
        self._percent(corpora["text"], n_percent)
        self._long_json(budget_longline, n_json_long)
        self._binary(budget_binary, n_sqlite, corpora["text"])
        self._ignored(corpora, budget_ignored)
        self._repeat_key()

        elapsed = time.time() - t0
        locations = sum(len(e["locations"]) for e in self.planted.values())
        summary = {
            "out": self.out,
            "files": self.files,
            "bytes": self.written,
            "planted_keys": len(self.planted),
            "planted_locations": locations,
            "planted_by_encoding": {
                enc: sum(1 for e in self.planted.values() for l in e["locations"] if l["encoding"] == enc)
                for enc in ("plain", "base64", "base64url", "percent")
            },
            "planted_in_ignored_dir": len(self.ignored_planted),
            "near_misses_inserted": self.near_misses_inserted,
            "near_misses_matching_unbounded_regex": self.near_misses_regex,
            "sg_dot_occurrences_in_text_files": self.sg_plain_occurrences,
            "seconds": round(elapsed, 1),
        }
        manifest = dict(summary)
        manifest["keys"] = sorted(self.planted.values(), key=lambda e: e["fingerprint"])
        manifest["ignored_keys"] = self.ignored_planted
        with open(self.out.rstrip("/") + ".manifest.json", "w") as f:
            json.dump(manifest, f, indent=1)
        return summary

    def _gitignore(self):
        self.write(".gitignore", "/build/\n*.log\nnode_modules/\n")
        self.write(".ignore", "# nothing extra\n")

    def _source(self, corpora, budget, n_keys):
        r, g = self.r, self.g
        langs = list(LANGS)
        weights = [LANGS[l][1] for l in langs]
        specs = []
        used = 0
        while used < budget:
            lang = r.choices(langs, weights)[0]
            # Many small files (log-uniform 1-32 KB), some big ones (log-uniform 32 KB - 2 MB).
            size = int(KB * 2 ** (r.uniform(0, 5) if r.random() < 0.85 else r.uniform(5, 11)))
            specs.append((lang, size))
            used += size
        key_files = set(r.sample(range(len(specs)), min(n_keys, len(specs))))
        for i, (lang, size) in enumerate(specs):
            ext = r.choice(LANGS[lang][0])
            rel = self.path(ext)
            text = self._slice(corpora[lang], size)
            inserts = []
            # Per-file near misses, of every kind (some an unbounded regex matches): ~1 per 16 KB.
            nm_meta = []
            for _ in range(max(1, size // (16 * KB)) if r.random() < 0.7 else 0):
                ln, m = g.near_miss_line(lang)
                inserts.append((r.randrange(len(text) + 1), ln))
                nm_meta.append(m)
            key = None
            if i in key_files:
                key = g.key()
                inserts.append((r.randrange(len(text) + 1), r.choice(KEY_LINE[lang]).format(k=key)))
            text, line_nos = self.splice(text, inserts)
            self.near_misses_inserted += len(nm_meta)
            self.near_misses_regex += sum(nm_meta)
            if key:
                self.plant(key, rel, line_nos[-1], "plain")
            self.write(rel, text)

    def _slice(self, corpus: str, size: int) -> str:
        r = self.r
        parts = []
        need = size
        while need > 0:
            start = r.randrange(len(corpus))
            start = corpus.find("\n", start) + 1  # 0 if none: wrap to the start
            piece = corpus[start : start + need]
            parts.append(piece)
            need -= len(piece)
        text = "".join(parts)
        end = text.rfind("\n")
        return text[: end + 1] if end > 0 else text + "\n"

    def _env_files(self, n_keys, budget):
        r, g = self.r, self.g
        envs = []
        for d in r.sample(self.dirs, min(len(self.dirs), n_keys * 3)):
            name = r.choice([".env", ".env.local", ".env.production", ".env.staging", ".envrc"])
            envs.append(os.path.join(os.path.dirname(d), name))
        envs = sorted(set(envs))
        key_idx = set(r.sample(range(len(envs)), min(n_keys, len(envs))))
        for i, rel in enumerate(envs):
            lines = []
            for _ in range(r.randint(5, 40)):
                lines.append(f"{g.ident().upper()}={r.choice([g.tok(r.randint(4, 40)), str(r.randrange(65536)), g.sentence(1, 2).replace(' ', '_')])}")
            nm, m = g.near_miss()
            lines.insert(r.randrange(len(lines) + 1), f"SENDGRID_TEMPLATE={nm}")
            self.near_misses_inserted += 1
            self.near_misses_regex += m
            if i in key_idx:
                key = g.key()
                pos = r.randrange(len(lines) + 1)
                lines.insert(pos, r.choice(["SENDGRID_API_KEY={k}", 'SENDGRID_API_KEY="{k}"', "export SENDGRID_API_KEY='{k}'"]).format(k=key))
                self.plant(key, rel, pos + 1, "plain")
            self.write(rel, "\n".join(lines) + "\n")

    def _k8s_secrets(self, yaml_corpus, n_keys, n_b64url):
        r, g = self.r, self.g
        for i in range(n_keys + n_b64url):
            key = g.key()
            rel = self.path(".yaml", top=os.path.join("infra", "k8s", g.ident().replace("_", "-")))
            name = g.ident().replace("_", "-")
            lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}", f"  namespace: {g.ident().replace('_', '-')}", "type: Opaque", "data:"]
            for _ in range(r.randint(1, 6)):
                lines.append(f"  {g.ident().upper()}: {base64.b64encode(r.randbytes(r.randint(8, 48))).decode()}")
            if i < n_keys:
                enc, val = "base64", base64.b64encode(key.encode()).decode()
                lines.append(f"  SENDGRID_API_KEY: {val}")
            else:
                # A key is ASCII token characters, whose base64 never contains '+' or '/': the
                # URL-safe encoding is the same text, and sgscan reports it as "base64".
                enc, val = "base64", base64.urlsafe_b64encode(key.encode()).decode()
                lines.append(f"  SENDGRID_API_KEY_URLSAFE: {val}")
            line = len(lines)
            lines.append(f"  {g.ident().upper()}: {base64.b64encode(r.randbytes(r.randint(8, 48))).decode()}")
            lines.append("---")
            lines.append(self._slice(yaml_corpus, r.randint(2 * KB, 20 * KB)))
            self.plant(key, rel, line, enc)
            self.write(rel, "\n".join(lines))

    def _percent(self, text_corpus, n_keys):
        r, g = self.r, self.g
        for _ in range(n_keys):
            key = g.key()
            rel = self.path(".md", top=os.path.join("docs", "runbooks"))
            enc = "".join(f"%{b:02X}" for b in key.encode())
            ln = f"curl -s 'https://hooks.internal.invalid/relay?to=ops&k={enc}&v=2'"
            text, nos = self.splice(self._slice(text_corpus, r.randint(4 * KB, 64 * KB)), [(r.randrange(4 * KB), ln)])
            self.plant(key, rel, nos[0], "percent")
            self.write(rel, text)

    def _long_json(self, budget, n_keys):
        """Minified JSON: files of 1-6 lines, each line 200 KB - 2 MB."""
        r, g = self.r, self.g
        records = []
        for _ in range(4000):
            rec = {
                "id": r.randrange(10**9),
                g.ident(): g.sentence(1, 6),
                "tags": [g.ident() for _ in range(r.randint(0, 4))],
                "blob": base64.b64encode(r.randbytes(r.randint(0, 96))).decode(),
                "n": r.random(),
            }
            if r.random() < 0.01:
                rec["note"] = "SG." + g.tok(r.randint(1, 21))
            records.append(json.dumps(rec, separators=(",", ":")))
        used = 0
        files = []
        while used < budget:
            nlines = r.randint(1, 6)
            sizes = [int(200 * KB * 10 ** r.uniform(0, 1)) for _ in range(nlines)]
            files.append(sizes)
            used += sum(sizes)
        key_files = set(r.sample(range(len(files)), min(n_keys, len(files))))
        avg = sum(len(x) + 1 for x in records) / len(records)
        for i, sizes in enumerate(files):
            rel = self.path(".min.json", top=os.path.join("apps", "web", "dist", "data"))
            lines = ["[" + ",".join(r.choices(records, k=max(1, int(s / avg)))) + "]" for s in sizes]
            if i in key_files:
                key = g.key()
                li = r.randrange(len(lines))
                ln = lines[li]
                cut = ln.find("},{", r.randrange(len(ln)))
                cut = cut + 2 if cut > 0 else 1
                lines[li] = ln[:cut] + json.dumps({"sendgrid": {"apiKey": key}}, separators=(",", ":")) + "," + ln[cut:]
                self.plant(key, rel, li + 1, "plain")
            self.write(rel, "\n".join(lines) + "\n")

    def _binary(self, budget, n_keys, text_corpus):
        r, g = self.r, self.g
        used = 0
        specs = []
        while used < budget:
            kind = r.choice(["random", "random", "sqlite", "elf", "png"])
            size = int(16 * KB * 2 ** r.uniform(0, 8))  # 16 KB .. 4 MB
            specs.append((kind, size))
            used += size
        sqlite = [i for i, s in enumerate(specs) if s[0] == "sqlite"]
        if not sqlite:
            specs.append(("sqlite", 256 * KB))
            sqlite = [len(specs) - 1]
        key_files = set(r.sample(sqlite, min(n_keys, len(sqlite))))
        for i, (kind, size) in enumerate(specs):
            if kind == "sqlite":
                rel = self.path(r.choice([".sqlite", ".db", ".sqlite3"]), top=os.path.join("data", "db"))
                data = self._sqlite(size, text_corpus, i in key_files, rel)
            elif kind == "elf":
                rel = self.path(".so", top=os.path.join("vendor", "lib"))
                data = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + r.randbytes(size - 16)
            elif kind == "png":
                rel = self.path(".png", top=os.path.join("docs", "img"))
                data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + r.randbytes(size - 16)
            else:
                rel = self.path(r.choice([".bin", ".dat", ".pack", ".gz"]), top=os.path.join("data", "blobs"))
                data = r.randbytes(size)
            self.write(rel, data, count_text=False)

    def _sqlite(self, size, text_corpus, with_key, rel) -> bytes:
        """Not a valid database, but looks like one to a scanner: header, then 4 KB pages of NUL
        padding, random bytes and text records."""
        r, g = self.r, self.g
        page = 4096
        header = b"SQLite format 3\x00" + (page >> 8).to_bytes(1, "big") + b"\x00\x01\x01\x00@  " + bytes(page - 24)
        pages = [header]
        npages = max(2, size // page)
        key_page = r.randrange(1, npages) if with_key else -1
        for p in range(1, npages):
            kind = r.randrange(3)
            if kind == 0:
                body = bytes(page)
            elif kind == 1:
                body = r.randbytes(page)
            else:
                recs = self._slice(text_corpus, page // 2).encode()[: page // 2]
                body = recs.replace(b"\n", b"\x00") + bytes(page - len(recs))
            if p == key_page:
                key = g.key()
                rec = b"\x00\x00\x05\x17" + b"sendgrid\x00" + key.encode() + b"\x00\x02"
                body = rec + body[len(rec) :]
                # Line of a binary "line": count newlines before the key.
                before = b"".join(pages).count(b"\n") + 1
                self.plant(key, rel, before, "plain")
            pages.append(body[:page])
        return b"".join(pages)

    def _ignored(self, corpora, budget):
        """Files under /build/ (git-ignored): scanners that respect .gitignore skip them."""
        r, g = self.r, self.g
        used = 0
        first = True
        while used < budget:
            lang = r.choice(list(LANGS))
            size = int(KB * 2 ** r.uniform(4, 11))
            rel = self.path(LANGS[lang][0][0], top=os.path.join("build", r.choice(["out", "cache", "tmp"])))
            text = self._slice(corpora[lang], size)
            if first:
                key = g.key()
                text, nos = self.splice(text, [(0, KEY_LINE[lang][0].format(k=key))])
                self.ignored_planted.append({"fingerprint": fingerprint(key), "path": rel, "line": nos[0]})
                first = False
            self.write(rel, text)
            used += len(text)
        # A .log file anywhere is ignored too.
        key = g.key()
        rel = self.path(".log")
        self.write(rel, f"INFO startup\nDEBUG using key {key}\n")
        self.ignored_planted.append({"fingerprint": fingerprint(key), "path": rel, "line": 2})

    def _repeat_key(self):
        """One key leaked in three places: one finding, three locations."""
        r, g = self.r, self.g
        key = g.key()
        for lang in ("python", "js", "yaml"):
            rel = self.path(LANGS[lang][0][0])
            ln = KEY_LINE[lang][1].format(k=key)
            text = "\n".join(g.line(lang) for _ in range(r.randint(10, 200)))
            text, nos = self.splice(text + "\n", [(r.randrange(len(text)), ln)])
            self.plant(key, rel, nos[0], "plain")
            self.write(rel, text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory to create (must not exist, or be empty, unless --force)")
    ap.add_argument("--size-mb", type=int, default=1024, help="approximate total size in MiB (default 1024)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="delete OUT first if it exists")
    a = ap.parse_args()
    if os.path.exists(a.out) and os.listdir(a.out):
        if not a.force:
            print(f"{a.out} exists and is not empty (use --force to replace it)", file=sys.stderr)
            return 2
        shutil.rmtree(a.out)
    s = Tree(a.out, a.size_mb, a.seed).run()
    print(json.dumps(s, indent=1), file=sys.stderr)
    print(f"planted keys: {s['planted_keys']} ({s['planted_locations']} locations; "
          f"{s['planted_in_ignored_dir']} more in git-ignored files) in {s['files']} files, "
          f"{s['bytes'] / MB:.0f} MiB, {s['seconds']}s; manifest: {a.out.rstrip('/')}.manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
