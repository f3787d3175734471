#!/usr/bin/env python3
"""Compare an sgscan JSON report with the manifest gen_tree.py wrote next to the tree.

    python3 benches/check_manifest.py REPORT.json TREE.manifest.json

Keys are matched by SHA-256 fingerprint (neither file holds a key unless the report was made with
--show-secrets); locations by (path relative to the tree, line, encoding). Prints one line per
difference and a summary; exit 0 if the report has exactly the planted keys and locations.
"""

import json
import os
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    report = json.load(open(sys.argv[1]))
    manifest = json.load(open(sys.argv[2]))
    root = os.path.normpath(manifest["out"])

    def rel(p: str) -> str:
        p = os.path.normpath(p)
        for base in (root, os.path.abspath(root)):
            if p.startswith(base + os.sep):
                return p[len(base) + 1 :]
        return p

    want = {k["fingerprint"]: k for k in manifest["keys"]}
    got = {f["fingerprint"]: f for f in report["findings"]}
    problems = 0
    for fp in sorted(set(want) - set(got)):
        problems += 1
        print(f"MISSED  {fp[:16]}  {want[fp]['locations']}")
    for fp in sorted(set(got) - set(want)):
        problems += 1
        locs = [(rel(l["path"]), l["line"], l["encoding"]) for l in got[fp]["locations"]]
        print(f"EXTRA   {fp[:16]}  {locs}")
    for fp in sorted(set(want) & set(got)):
        w = sorted((l["path"], l["line"], l["encoding"]) for l in want[fp]["locations"])
        g = sorted((rel(l["path"]), l["line"], l["encoding"]) for l in got[fp]["locations"])
        if w != g:
            problems += 1
            print(f"LOCDIFF {fp[:16]}  want {w}  got {g}")
    s = report.get("summary", {})
    print(
        f"report: {s.get('keys')} keys / {s.get('locations')} locations; planted: "
        f"{len(want)} keys / {sum(len(k['locations']) for k in want.values())} locations; "
        f"{problems} difference(s)"
    )
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
