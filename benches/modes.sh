#!/usr/bin/env bash
# `sgscan staged` and `sgscan git --range` must cost what the change costs, not what the repository
# weighs. This times both on repositories of very different sizes (e.g. benches/gen_history.py with
# --commits 1000 and 20000), in one run, with `git diff --cached --stat` (git's own index-vs-HEAD
# comparison) as the reference for `staged`.
#
#   benches/modes.sh [SGSCAN] REPO.git [REPO.git ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
SGSCAN="${SGSCAN:-$here/../target/release/sgscan}"
if [ $# -gt 0 ] && [ -x "$1" ] && [ ! -d "$1" ]; then SGSCAN="$1"; shift; fi
[ $# -gt 0 ] || { echo "usage: benches/modes.sh [SGSCAN] REPO.git [REPO.git ...]" >&2; exit 2; }
export NO_COLOR=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "# sgscan modes  $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %8s %8s %10s %12s %12s %12s\n' repo commits objects "staged ms" "git-diff ms" "range10 ms" "range100 ms"
for repo in "$@"; do
  name="$(basename "$repo")"
  work="$tmp/$name"
  git clone -q "$repo" "$work"
  commits=$(git -C "$work" rev-list --count HEAD)
  objects=$(git -C "$repo" count-objects -v | awk '/in-pack/ {print $2}')
  # One staged change: a modified file, as a developer's commit would be.
  f=$(git -C "$work" ls-files | sed -n 200p)
  printf '\n// touched by modes.sh\n' >> "$work/$f"
  git -C "$work" add "$f"
  t() { hyperfine -N -w 2 -r 10 --export-json "$tmp/h.json" "$@" >/dev/null 2>&1 || true; python3 -c "import json;print('%.1f'%(json.load(open('$tmp/h.json'))['results'][0]['mean']*1000))"; }
  staged=$(t -i "$SGSCAN staged $work -f json -o /dev/null")
  gitdiff=$(t "git -C $work diff --cached --stat")
  r10=$(t -i "$SGSCAN git $work -q --range HEAD~10..HEAD -f json -o /dev/null")
  r100=$(t -i "$SGSCAN git $work -q --range HEAD~100..HEAD -f json -o /dev/null")
  printf '%-28s %8s %8s %10s %12s %12s %12s\n' "$name" "$commits" "$objects" "$staged" "$gitdiff" "$r10" "$r100"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
