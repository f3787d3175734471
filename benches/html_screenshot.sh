#!/usr/bin/env bash
# A screenshot of `--format html` for a generated history, to look at the page as a browser draws it
# (not run in CI). Needs a headless Chromium: `apt-get install chromium-headless-shell` (Debian's
# package; also works with `chromium`).
#
#   benches/html_screenshot.sh [SGSCAN] [OUT_DIR]
#
# SGSCAN defaults to target/debug/sgscan, OUT_DIR to /work/bench-data/html. Writes OUT_DIR/report.html
# and OUT_DIR/report.png. The repository comes from gen_history.py (keys built at run time; none is
# stored here), small enough to take seconds. The browser runs with no network (the page needs
# none: a missing asset would show as a gap).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
sgscan="${1:-$here/../target/debug/sgscan}"
out="${2:-/work/bench-data/html}"
mkdir -p "$out"

browser=""
for b in chromium-headless-shell chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then
        browser="$b"
        break
    fi
done
if [ -z "$browser" ]; then
    echo "no headless Chromium on PATH (apt-get install chromium-headless-shell)" >&2
    exit 2
fi

python3 "$here/gen_history.py" --out "$out/history.git" --commits 400 --files 60 --seed 7 >/dev/null
# Exit 1 means keys were found, which is the point here.
"$sgscan" git "$out/history.git" --format html --output "$out/report.html" || [ $? -eq 1 ]

"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --proxy-server='127.0.0.1:9' --proxy-bypass-list='<-loopback>' \
    --window-size="${WINDOW:-1400,1100}" --screenshot="$out/report.png" "file://$out/report.html" 2>"$out/browser.log"
echo "$out/report.html ($(wc -c <"$out/report.html") bytes), $out/report.png"
