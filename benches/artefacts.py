#!/usr/bin/env python3
"""Which scanner finds which case of the artefact corpus (`benches/gen_artefacts.py`):

    python3 benches/gen_artefacts.py --out /tmp/artefacts --seed 1
    python3 benches/artefacts.py /tmp/artefacts sgscan=target/release/sgscan \
        kingfisher=/path/to/kingfisher betterleaks=/path/to/betterleaks

Each scanner runs once per case directory without network validation; a case counts as found when
the SHA-256 of a key-shaped string in the scanner's output, or a fingerprint sgscan reports, is the
case's. Prints a Markdown table. No key is printed.
"""

import hashlib
import json
import os
import re
import subprocess
import sys

KEY = re.compile(rb"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")


def found(name, binary, case_dir):
    # `sgscan-old=…`: another build of the same scanner, named apart in the table.
    name = name.split("-", 1)[0]
    if name == "sgscan":
        cmd = [binary, "dir", case_dir, "-f", "json", "--show-secrets"]
    elif name == "kingfisher":
        cmd = [binary, "scan", case_dir, "--no-validate", "-f", "json"]
    elif name == "betterleaks":
        cmd = [binary, case_dir, "--no-banner", "-o", "-", "--exit-code", "0"]
    else:
        raise SystemExit(f"unknown scanner {name}")
    out = subprocess.run(cmd, capture_output=True, timeout=300).stdout
    fps = {hashlib.sha256(k).hexdigest() for k in KEY.findall(out)}
    if name == "sgscan":
        try:
            fps |= {f["fingerprint"] for f in json.loads(out)["findings"]}
        except (ValueError, KeyError):
            pass
    return fps


def main():
    corpus = sys.argv[1]
    scanners = [a.split("=", 1) for a in sys.argv[2:]]
    rows = [line.rstrip("\n").split("\t") for line in open(os.path.join(corpus, "keys.tsv"))]
    print("| case | " + " | ".join(n for n, _ in scanners) + " |")
    print("|---|" + "---|" * len(scanners))
    totals = [0] * len(scanners)
    for case, _path, fp in rows:
        cells = []
        for i, (name, binary) in enumerate(scanners):
            hit = fp in found(name, binary, os.path.join(corpus, case))
            totals[i] += hit
            cells.append("found" if hit else "missed")
        print(f"| {case} | " + " | ".join(cells) + " |")
    print("| **total** | " + " | ".join(f"{t}/{len(rows)}" for t in totals) + " |")


if __name__ == "__main__":
    main()
