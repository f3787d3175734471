#!/usr/bin/env bash
# Screenshots of `--format html` for a generated history, to look at the page as a browser draws it
# (not run in CI): at 1280 and 1920 px wide, and as printed. Needs a headless Chromium (`apt-get
# install chromium`, or Debian's `chromium-headless-shell`) and, for the print view as a PNG,
# pdftoppm (`apt-get install poppler-utils`).
#
#   benches/html_screenshot.sh [SGSCAN] [OUT_DIR]
#
# SGSCAN defaults to target/debug/sgscan, OUT_DIR to /work/bench-data/html. Writes OUT_DIR/report.html,
# report-1280.png, report-1920.png, report.pdf and report-print-N.png (one per printed page).
#
# The repository comes from gen_history.py (keys built at run time; none is stored here), small
# enough to take seconds, with an `origin` whose URL carries a user and a token (the header must
# show it without them). No SendGrid is asked: the scan's JSONL report is given verification
# results (a live full-access key with an account, an invalid one, an unknown one; the rest not
# verified) and turned into the page by `sgscan merge`, as shards are. The browser runs with no
# network (the page needs none: a missing asset would show as a gap).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
sgscan="${1:-$here/../target/debug/sgscan}"
out="${2:-/work/bench-data/html}"
mkdir -p "$out"

browser=""
for b in chromium chromium-headless-shell chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then
        browser="$b"
        break
    fi
done
if [ -z "$browser" ]; then
    echo "no headless Chromium on PATH (apt-get install chromium)" >&2
    exit 2
fi

python3 "$here/gen_history.py" --out "$out/history.git" --commits 400 --files 60 --seed 7 >/dev/null
git -C "$out/history.git" remote add origin "https://ci-user:not-a-real-token@git.example.com/acme/history.git"
# Exit 1 means keys were found, which is the point here.
"$sgscan" git "$out/history.git" -q --format jsonl --output "$out/scan.jsonl" || [ $? -eq 1 ]

python3 - "$out/scan.jsonl" "$out/verified.jsonl" <<'PY'
import json, sys
now = "2026-01-01T00:00:00+00:00"
results = [
    {"status": "live", "reason": "authenticated", "http_status": 200, "privilege": "full-access",
     "scopes": ["api_keys.create", "api_keys.delete", "mail.send", "user.webhooks.parse.settings.read"],
     "above_send_only": ["api_keys.create", "api_keys.delete", "user.webhooks.parse.settings.read"],
     "account": "acme-mail", "checked_at": now, "attempts": 1},
    {"status": "invalid", "http_status": 401, "checked_at": now, "attempts": 1,
     "reason": "The provided authorization grant is invalid, expired, or revoked"},
    {"status": "unknown", "reason": "HTTP 503 from the API (not SendGrid's error shape)",
     "http_status": 503, "checked_at": now, "attempts": 3},
]
given = {}
with open(sys.argv[1]) as src, open(sys.argv[2], "w") as dst:
    for line in src:
        rec = json.loads(line)
        if rec.get("type") == "finding":
            fp = rec["fingerprint"]
            if fp not in given and len(given) < len(results):
                given[fp] = results[len(given)]
            if fp in given:
                rec["verification"] = given[fp]
        dst.write(json.dumps(rec) + "\n")
PY
"$sgscan" merge "$out/verified.jsonl" --format html --output "$out/report.html" || [ $? -eq 1 ]

run_browser() {
    "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$(mktemp -d)" \
        --proxy-server='127.0.0.1:9' --proxy-bypass-list='<-loopback>' "$@" 2>>"$out/browser.log"
}
for width in 1280 1920; do
    run_browser --window-size="$width,2000" --screenshot="$out/report-$width.png" "file://$out/report.html"
done
run_browser --no-pdf-header-footer --print-to-pdf="$out/report.pdf" "file://$out/report.html"
rm -f "$out"/report-print-*.png
if command -v pdftoppm >/dev/null; then
    pdftoppm -png -r 70 "$out/report.pdf" "$out/report-print"
fi
ls -l "$out"/report*
