#!/usr/bin/env python3
"""Generate a deterministic git repository with a long history for benchmarking `sgscan git`.

    python3 benches/gen_history.py --out /work/bench-data/history.git --commits 20000 --seed 1

The repository is bare and is written by one `git fast-import` run (its pack is kept as is unless
--repack, which runs `git repack -adf` afterwards and reports both sizes). The history:

- a few hundred files at first, growing towards ~1,500 (Rust, Python, JS, YAML, JSON, Markdown), edited
  by small changes (replace / insert / delete a few lines), with files added and deleted now and then
  and an occasional large refactoring commit; ~5-6 changed files per commit on average, so 20,000
  commits give well over 100,000 blob versions;
- side branches (feature/*) forked from main, most merged back with a merge commit, some left
  unmerged; lightweight tags (v1.N) and annotated tags (release-N) on main;
- `SG.` near misses in the text (wrong lengths, placeholders, code such as `SG.Helpers`);
- planted keys (built at run time from the seeded RNG; no key is in this script):
  * removed: added on main in a dedicated file, removed by a later commit (one of the files is then
    deleted, one is a base64 Kubernetes Secret);
  * head: added on main and still there at the tip;
  * side_branch: only on an unmerged side branch;
  * tag_only: only in a commit reachable from nothing but an annotated tag;
  * commit_message: in one commit's message; tag_message: in an annotated tag's message.

A manifest (fingerprints, never keys; the commit that adds each key; the refs) is written to
OUT.manifest.json, and stats are printed: commits, blob versions, `git count-objects -v`, pack size.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tree import KEY_LINE, Gen, fingerprint  # noqa: E402

EXT_LANG = {".rs": "rust", ".py": "python", ".js": "js", ".ts": "js", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".md": "text", ".toml": "text"}
AUTHORS = [f"{f} {l}" for f, l in zip(
    "Ada Brook Chen Dara Eli Fay Gus Hana Ivo Jin Kai Lea Mo Nia Oz Pia Quinn Ravi Sol Tao Uma Vik Wen Xia Yuri Zoe".split(),
    "Moss Park Ng Okafor Silva Berg Ito Kaur Lund Reyes Adams Novak Haas Petit Cruz Dahl Ueda Varga Wolf Yilmaz Zhou Abe Brun Costa Diaz Egan".split(),
)]


class Stream:
    """Writes a fast-import stream to git's stdin."""

    def __init__(self, proc: subprocess.Popen):
        self.w = proc.stdin
        self.bytes = 0

    def raw(self, b: bytes) -> None:
        self.w.write(b)
        self.bytes += len(b)

    def line(self, s: str) -> None:
        self.raw(s.encode() + b"\n")

    def data(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        self.raw(b"data %d\n" % len(payload) + payload + b"\n")


class History:
    def __init__(self, out: str, commits: int, seed: int, files: int):
        self.out = out
        self.target = commits
        self.g = Gen(seed)
        self.r = self.g.rng
        self.n_files = files
        self.mark = 0
        self.ncommits = 0
        self.blob_versions = 0
        self.ts = 1546300800  # 2019-01-01
        self.main: dict[str, list[str]] = {}
        self.reserved: set[str] = set()  # files holding planted keys: random edits leave them alone
        self.keys: list[dict] = []
        self.tags: list[str] = []
        self.branches: list[dict] = []
        self.dirs = self._dirs()

    # ------------------------------------------------------------------ content
    def _dirs(self) -> list[str]:
        r, g = self.r, self.g
        out = []
        for top in ("src", "crates", "services", "web", "scripts", "deploy", "docs", "tests"):
            for _ in range(r.randint(3, 8)):
                out.append(f"{top}/{g.ident().replace('_', '-')}")
        return out

    def new_path(self, state: dict) -> str:
        r, g = self.r, self.g
        ext = r.choices(list(EXT_LANG), weights=[22, 20, 14, 6, 8, 4, 8, 12, 6])[0]
        while True:
            p = f"{r.choice(self.dirs)}/{g.ident()}{ext}"
            if p not in state and p not in self.reserved:
                return p

    def lang(self, path: str) -> str:
        return EXT_LANG[os.path.splitext(path)[1]]

    def new_lines(self, lang: str, n: int) -> list[str]:
        g, r = self.g, self.r
        out = []
        for _ in range(n):
            if r.random() < 0.004:
                ln, matches = g.near_miss_line(lang)
                out.append(ln)
            else:
                out.append(g.line(lang))
        return out

    def new_file(self, lang: str) -> list[str]:
        r = self.r
        # Mostly 10-300 lines (~0.4-12 KB), sometimes 1,000-5,000.
        n = int(10 * 30 ** r.random()) if r.random() < 0.985 else r.randint(1000, 5000)
        return self.new_lines(lang, n)

    def edit(self, path: str, lines: list[str]) -> list[str]:
        r = self.r
        lang = self.lang(path)
        out = list(lines)
        for _ in range(1 if r.random() < 0.7 else r.randint(2, 4)):
            i = r.randrange(len(out) + 1)
            op = r.random()
            if op < 0.45 and out:
                j = min(len(out), i + r.randint(1, 4))
                out[i:j] = self.new_lines(lang, j - i or 1)
            elif op < 0.8 or len(out) < 5:
                out[i:i] = self.new_lines(lang, r.randint(1, 6))
            else:
                del out[i : i + r.randint(1, 5)]
        return out

    # ------------------------------------------------------------------ stream
    def commit(self, s: Stream, ref: str, changes: dict, parent: int | None = None, merge: int | None = None,
               message: str | None = None, advance: int = 0) -> int:
        """changes: path -> list of lines (write) or None (delete). Returns the commit's mark."""
        r = self.r
        self.mark += 1
        self.ncommits += 1
        self.ts += advance or r.randint(60, 9 * 3600)
        who = r.choice(AUTHORS)
        email = who.lower().replace(" ", ".") + "@dev.invalid"
        s.line(f"commit {ref}")
        s.line(f"mark :{self.mark}")
        s.line(f"author {who} <{email}> {self.ts} +0000")
        s.line(f"committer {who} <{email}> {self.ts} +0000")
        s.data((message or self.message()) + "\n")
        if parent is not None:
            s.line(f"from :{parent}")
        if merge is not None:
            s.line(f"merge :{merge}")
        for path in sorted(changes):
            lines = changes[path]
            if lines is None:
                s.line(f"D {path}")
            else:
                s.line(f"M 100644 inline {path}")
                s.data("\n".join(lines) + "\n")
                self.blob_versions += 1
        return self.mark

    def message(self) -> str:
        r, g = self.r, self.g
        verb = r.choice(["fix", "add", "refactor", "update", "remove", "tidy", "speed up", "document", "test"])
        subject = f"{r.choice(['', 'core: ', 'api: ', 'web: ', 'deploy: ', 'ci: '])}{verb} {g.sentence(2, 7)}"
        if r.random() < 0.3:
            return subject + "\n\n" + g.sentence(8, 30)
        return subject

    def random_changes(self, state: dict, k: int) -> dict:
        r = self.r
        changes: dict = {}
        paths = None
        for _ in range(k):
            op = r.random()
            if op < 0.025 or len(state) < self.n_files // 2:
                p = self.new_path(state)
                changes[p] = self.new_file(self.lang(p))
            elif op < 0.04 and len(state) > self.n_files // 2:
                if paths is None:
                    paths = [p for p in state if p not in self.reserved]
                p = r.choice(paths)
                changes[p] = None
            else:
                if paths is None:
                    paths = [p for p in state if p not in self.reserved]
                p = r.choice(paths)
                base = changes.get(p) or state[p]
                changes[p] = self.edit(p, base)
        return changes

    @staticmethod
    def apply(state: dict, changes: dict) -> None:
        for p, lines in changes.items():
            if lines is None:
                state.pop(p, None)
            else:
                state[p] = lines

    def n_changes(self) -> int:
        r = self.r
        if r.random() < 0.01:
            return r.randint(40, 150)  # a refactoring
        return 1 + min(40, int(r.expovariate(1 / 4.5)))

    # ------------------------------------------------------------------ keys
    def key_file(self, kind: str, key: str, state: dict) -> tuple[str, list[str], str]:
        """A dedicated file holding `key`; returns (path, lines, encoding)."""
        r, g = self.r, self.g
        if kind == "k8s":
            p = f"deploy/k8s/{g.ident().replace('_', '-')}-secret.yaml"
            lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {g.ident().replace('_', '-')}", "type: Opaque", "data:",
                     f"  DB_PASSWORD: {base64.b64encode(r.randbytes(18)).decode()}",
                     f"  SENDGRID_API_KEY: {base64.b64encode(key.encode()).decode()}"]
            return p, lines, "base64"
        if kind == "env":
            p = f"{r.choice(self.dirs)}/.env.{r.choice(['staging', 'local', 'prod'])}"
            lines = [f"{g.ident().upper()}={g.tok(r.randint(6, 30))}" for _ in range(r.randint(3, 12))]
            lines.insert(r.randrange(len(lines) + 1), f"SENDGRID_API_KEY={key}")
            return p, lines, "plain"
        p = self.new_path(state)
        lang = self.lang(p)
        lines = self.new_lines(lang, r.randint(20, 120))
        lines.insert(r.randrange(len(lines) + 1), r.choice(KEY_LINE[lang]).format(k=key))
        return p, lines, "plain"

    def without_key(self, lines: list[str], key: str) -> list[str]:
        b64 = base64.b64encode(key.encode()).decode()
        return [l for l in lines if key not in l and b64 not in l]

    def record(self, kind: str, key: str, path: str, mark: int, encoding: str, refs: list[str], **extra) -> None:
        self.keys.append({"kind": kind, "fingerprint": fingerprint(key), "path": path, "encoding": encoding,
                          "added_in_mark": mark, "reachable_from": refs, **extra})

    # ------------------------------------------------------------------ the history
    def run(self) -> dict:
        r, g = self.r, self.g
        t0 = time.time()
        if os.path.exists(self.out):
            shutil.rmtree(self.out)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", self.out], check=True)
        subprocess.run(["git", "-C", self.out, "config", "gc.auto", "0"], check=True)
        marks = self.out.rstrip("/") + ".marks"
        proc = subprocess.Popen(["git", "-C", self.out, "fast-import", "--quiet", f"--export-marks={os.path.abspath(marks)}"],
                                stdin=subprocess.PIPE, bufsize=1 << 20)
        s = Stream(proc)

        # Initial import: a few hundred files in one commit.
        init = {}
        for _ in range(self.n_files // 3):
            p = self.new_path(init)
            init[p] = self.new_file(self.lang(p))
        tip = self.commit(s, "refs/heads/main", init, message="Initial import")
        self.apply(self.main, init)

        n = self.target
        # Where the planted events happen, as fractions of the main line.
        removed_at = [0.08, 0.3, 0.55, 0.75]
        removed_kind = ["src", "env", "k8s", "src"]
        pending_removals: list[tuple[int, str, str, bool]] = []  # (commit index, path, key, whole file)
        side_key_at, tag_key_at, msg_key_at, tagmsg_key_at, head_key_at = 0.45, 0.62, 0.35, 0.5, 0.9
        done = set()
        open_branches: list[dict] = []
        next_branch = r.randint(60, 200)
        branch_no = 0

        while self.ncommits < n:
            i = self.ncommits
            frac = i / n

            # Planted keys that will be removed later.
            for j, at in enumerate(removed_at):
                if frac >= at and ("removed", j) not in done:
                    done.add(("removed", j))
                    key = g.key()
                    p, lines, enc = self.key_file(removed_kind[j], key, self.main)
                    self.reserved.add(p)
                    tip = self.commit(s, "refs/heads/main", {p: lines})
                    self.apply(self.main, {p: lines})
                    self.record("removed", key, p, tip, enc, ["refs/heads/main (history only)"])
                    pending_removals.append((self.ncommits + r.randint(20, 400), p, key, j == 1))
            for item in list(pending_removals):
                at, p, key, whole = item
                if self.ncommits >= at:
                    pending_removals.remove(item)
                    # The .env one goes with its whole file; the others lose the line.
                    change = {p: None} if whole else {p: self.without_key(self.main[p], key)}
                    tip = self.commit(s, "refs/heads/main", change, message=f"Remove leaked credential from {p}")
                    self.apply(self.main, change)

            if frac >= head_key_at and "head" not in done:
                done.add("head")
                key = g.key()
                p, lines, enc = self.key_file("src", key, self.main)
                self.reserved.add(p)
                tip = self.commit(s, "refs/heads/main", {p: lines})
                self.apply(self.main, {p: lines})
                self.record("head", key, p, tip, enc, ["refs/heads/main"])

            if frac >= msg_key_at and "msg" not in done:
                done.add("msg")
                key = g.key()
                changes = self.random_changes(self.main, 2)
                tip = self.commit(s, "refs/heads/main", changes,
                                  message=f"Configure mail relay\n\nTemporary key for staging: {key}\n(rotate after the demo)")
                self.apply(self.main, changes)
                self.record("commit_message", key, "(commit message)", tip, "plain", ["refs/heads/main"])

            if frac >= side_key_at and "side" not in done:
                done.add("side")
                key = g.key()
                base = tip
                state = dict(self.main)
                ref = "refs/heads/feature/mail-relay-experiment"
                btip = None
                for k in range(r.randint(3, 8)):
                    changes = self.random_changes(state, self.n_changes())
                    if k == 1:
                        p, lines, enc = self.key_file("src", key, state)
                        changes[p] = lines
                    btip = self.commit(s, ref, changes, parent=base if btip is None else None)
                    self.apply(state, changes)
                    if k == 1:
                        self.record("side_branch", key, p, btip, enc, [ref])
                self.branches.append({"ref": ref, "merged": False, "planted": True})

            if frac >= tag_key_at and "tag" not in done:
                done.add("tag")
                key = g.key()
                p, lines, enc = self.key_file("env", key, self.main)
                state = dict(self.main)
                ref = "refs/heads/tmp/hotfix-build"
                changes = self.random_changes(state, 2)
                changes[p] = lines
                m = self.commit(s, ref, changes, parent=tip, message="Hotfix build with production config")
                name = "hotfix-2021-mail"
                self.annotated_tag(s, name, m, "Hotfix build (not merged)")
                self.record("tag_only", key, p, m, enc, [f"refs/tags/{name}"])
                self.tmp_refs = [ref]

            if frac >= tagmsg_key_at and "tagmsg" not in done:
                done.add("tagmsg")
                key = g.key()
                name = f"release-{len(self.tags) + 1}-rc"
                self.annotated_tag(s, name, tip, f"Release candidate\n\nsmoke test with {key}")
                self.record("tag_message", key, f"(tag message {name})", tip, "plain", [f"refs/tags/{name}"])

            # Side branches: fork, run, and merge (most) or leave.
            if self.ncommits >= next_branch:
                branch_no += 1
                next_branch = self.ncommits + r.randint(60, 250)
                ref = f"refs/heads/feature/{g.ident().replace('_', '-')}-{branch_no}"
                state = dict(self.main)
                changed: set[str] = set()
                btip = None
                for _ in range(r.randint(2, 40)):
                    if self.ncommits >= n - 1:
                        break
                    changes = self.random_changes(state, self.n_changes())
                    btip = self.commit(s, ref, changes, parent=tip if btip is None else None)
                    self.apply(state, changes)
                    changed |= set(changes)
                if btip is not None:
                    merge = r.random() < 0.75
                    b = {"ref": ref, "merged": merge, "tip": btip, "state": state, "changed": changed,
                         "merge_at": self.ncommits + r.randint(3, 120)}
                    if merge:
                        open_branches.append(b)
                    self.branches.append({"ref": ref, "merged": merge})
            for b in list(open_branches):
                if self.ncommits >= b["merge_at"] or self.ncommits >= n - 1:
                    open_branches.remove(b)
                    changes = {p: b["state"].get(p) for p in sorted(b["changed"]) if p not in self.reserved}
                    tip = self.commit(s, "refs/heads/main", changes, merge=b["tip"],
                                      message=f"Merge branch '{b['ref'][len('refs/heads/'):]}'")
                    self.apply(self.main, changes)
                    # Merged branches are usually deleted; keep one in three.
                    # (deleted with update-ref after the import)
                    if r.random() < 0.66:
                        for e in self.branches:
                            if e["ref"] == b["ref"]:
                                e["deleted"] = True
            if self.ncommits >= n:
                break

            # An ordinary commit on main.
            changes = self.random_changes(self.main, self.n_changes())
            tip = self.commit(s, "refs/heads/main", changes)
            self.apply(self.main, changes)
            if self.ncommits % 997 == 0:
                name = f"v1.{self.ncommits // 997}"
                s.line(f"reset refs/tags/{name}")
                s.line(f"from :{tip}")
                self.tags.append(name)
            if self.ncommits % 2503 == 0:
                self.annotated_tag(s, f"release-{len(self.tags) + 1}", tip, f"Release {len(self.tags) + 1}\n\n{g.sentence(5, 20)}")

        s.line("done")
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit("git fast-import failed")
        self.import_seconds = time.time() - t0
        # Deleted refs: fast-import's `reset ... from 0{40}` leaves them pointing at nothing; make sure.
        refs = subprocess.run(["git", "-C", self.out, "for-each-ref", "--format=%(refname)"], capture_output=True, text=True, check=True).stdout.split()
        for ref in getattr(self, "tmp_refs", []) + [b["ref"] for b in self.branches if b.get("deleted")]:
            if ref in refs:
                subprocess.run(["git", "-C", self.out, "update-ref", "-d", ref], check=True)
        # Marks -> commit ids for the manifest.
        ids = {}
        with open(marks) as f:
            for line in f:
                m, sha = line.split()
                ids[int(m[1:])] = sha
        os.remove(marks)
        for k in self.keys:
            k["commit"] = ids[k.pop("added_in_mark")]
        return {"stream_bytes": s.bytes}

    def annotated_tag(self, s: Stream, name: str, mark: int, msg: str) -> None:
        who = self.r.choice(AUTHORS)
        s.line(f"tag {name}")
        s.line(f"from :{mark}")
        s.line(f"tagger {who} <{who.lower().replace(' ', '.')}@dev.invalid> {self.ts} +0000")
        s.data(msg + "\n")
        self.tags.append(name)


def git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True).stdout


def stats(repo: str) -> dict:
    co = dict(l.split(": ", 1) for l in git(repo, "count-objects", "-v").splitlines())
    kinds: dict[str, int] = {}
    for line in git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)").splitlines():
        kinds[line] = kinds.get(line, 0) + 1
    packs = [os.path.join(repo, "objects", "pack", p) for p in os.listdir(os.path.join(repo, "objects", "pack")) if p.endswith(".pack")]
    return {
        "commits_all_refs": int(git(repo, "rev-list", "--all", "--count").strip()),
        "commits_main": int(git(repo, "rev-list", "--count", "refs/heads/main").strip()),
        "objects": kinds,
        "refs": {
            "branches": len(git(repo, "for-each-ref", "refs/heads").splitlines()),
            "tags": len(git(repo, "for-each-ref", "refs/tags").splitlines()),
        },
        "files_at_main": len(git(repo, "ls-tree", "-r", "--name-only", "refs/heads/main").splitlines()),
        "count_objects": co,
        "pack_bytes": sum(os.path.getsize(p) for p in packs),
        "packs": len(packs),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/work/bench-data/history.git", help="bare repository to create (replaced if it exists)")
    ap.add_argument("--commits", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--files", type=int, default=1500, help="about how many files the tree grows to (default 1500)")
    ap.add_argument("--repack", action="store_true", help="run `git repack -adf` after the import (slower; smaller pack)")
    ap.add_argument("pos", nargs="*", help="optional positional OUT [COMMITS [SEED]]")
    a = ap.parse_args()
    if a.pos:
        a.out = a.pos[0]
        if len(a.pos) > 1:
            a.commits = int(a.pos[1])
        if len(a.pos) > 2:
            a.seed = int(a.pos[2])
    t0 = time.time()
    h = History(a.out, a.commits, a.seed, a.files)
    info = h.run()
    st = stats(a.out)
    st["fast_import_pack_bytes"] = st["pack_bytes"]
    st["packing"] = "fast-import pack as written"
    if a.repack:
        t1 = time.time()
        subprocess.run(["git", "-C", a.out, "repack", "-adfq"], check=True)
        st = stats(a.out) | {"fast_import_pack_bytes": st["pack_bytes"]}
        st["packing"] = f"git repack -adf ({time.time() - t1:.0f}s)"
    st.update({
        "out": a.out, "seed": a.seed, "commits_generated": h.ncommits, "blob_versions_written": h.blob_versions,
        "fast_import_stream_bytes": info["stream_bytes"], "import_seconds": round(h.import_seconds, 1),
        "seconds": round(time.time() - t0, 1),
        "planted": {k: sum(1 for x in h.keys if x["kind"] == k) for k in dict.fromkeys(x["kind"] for x in h.keys)},
        "planted_keys": len(h.keys),
        "branches_generated": len(h.branches),
        "tags_generated": len(h.tags),
    })
    manifest = dict(st)
    manifest["keys"] = h.keys
    manifest["branches"] = h.branches
    with open(a.out.rstrip("/") + ".manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
    print(json.dumps(st, indent=1))
    print(f"commits: {st['commits_all_refs']} (main: {st['commits_main']}); blobs: {st['objects'].get('blob', 0)} distinct "
          f"({h.blob_versions} versions written); pack: {st['pack_bytes'] / 2**20:.1f} MiB ({st['packing']}); "
          f"planted keys: {len(h.keys)}; {st['seconds']}s; manifest: {a.out.rstrip('/')}.manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
