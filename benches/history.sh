#!/usr/bin/env bash
# sgscan git against git's own best order, interleaved in one run, on each repository given:
#
#   benches/history.sh [REPO...]      (default: /work/bench-data/history.git)
#
#   SGSCAN  the binary (default target/release/sgscan)      RUNS  runs of each (default 5)
#   JOBS    the `-j` values to run sgscan with, e.g. "1 2 4" (default "0": one worker per core);
#           with 1 among them, each other's speedup over -j1 and speedup per worker are printed
#
# Real repositories: fetch tokio and git/git as bare mirrors, e.g.
#   git clone --mirror https://github.com/tokio-rs/tokio tokio.git
#   git clone --mirror https://github.com/git/git git.git
# For each run of each command: wall, user, sys, peak RSS and peak RssAnon (sampled every 50 ms
# from /proc), then the medians, the ratio sgscan / cat-file and the cores busy ((user+sys)/wall).
# One more sgscan run with SGSCAN_TIMINGS=1 prints the per-stage times. The load average is printed
# before each repository: numbers mean little on a busy machine.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SGSCAN="${SGSCAN:-$root/target/release/sgscan}"
RUNS="${RUNS:-5}"
JOBS="${JOBS:-0}"
[ $# -eq 0 ] && set -- /work/bench-data/history.git
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# measure OUT CMD...: appends "wall user sys maxrss_kb rssanon_kb" to OUT. The sampler uses shell
# builtins only (no process per sample), so it takes no core from what it measures.
measure() {
  local out="$1"
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/t" "$@" >/dev/null 2>&1 &
  local tpid=$! anon=0 p1 p2 p k v rest
  while kill -0 "$tpid" 2>/dev/null; do
    p1="" p2=""
    read -r p1 rest <"/proc/$tpid/task/$tpid/children" 2>/dev/null
    [ -n "$p1" ] && read -r p2 rest <"/proc/$p1/task/$p1/children" 2>/dev/null
    for p in $p1 $p2; do
      while read -r k v rest; do
        [ "$k" = "RssAnon:" ] && [ "$v" -gt "$anon" ] && anon="$v"
      done <"/proc/$p/status" 2>/dev/null
    done
    sleep 0.05
  done
  wait "$tpid"
  echo "$(tail -n1 "$tmp/t") $anon" >>"$out"
}

for repo in "$@"; do
  echo "## $repo  $(date -u +%FT%TZ)  $(nproc) cores  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -f "$tmp"/s* "$tmp/c"
  "$SGSCAN" git "$repo" -q -f json -o /dev/null >/dev/null 2>&1 # warm the page cache
  for ((i = 0; i < RUNS; i++)); do
    for j in $JOBS; do
      measure "$tmp/s$j" "$SGSCAN" git "$repo" -q -f json -o /dev/null -j "$j"
    done
    measure "$tmp/c" sh -c "git -C '$repo' cat-file --batch-all-objects --batch --unordered >/dev/null"
  done
  python3 - "$tmp/c" $JOBS <<PY
import statistics, sys
def load(p):
    rows = [list(map(float, l.split())) for l in open(p)]
    return [statistics.median(c) for c in zip(*rows)]
c = load(sys.argv[1])
jobs = sys.argv[2:]
s = {j: load(f"$tmp/s{j}") for j in jobs}
rows = [(f"sgscan git -j {j}" + (" (one per core)" if j == "0" else ""), s[j]) for j in jobs]
for name, r in rows + [("git cat-file --batch-all-objects --batch --unordered", c)]:
    wall, user, sys_, rss, anon = r
    print(f"  {name:<55} {wall:7.2f} s  user {user:6.2f}  sys {sys_:5.2f}  cores {(user+sys_)/wall:4.2f}"
          f"  peak RSS {rss/1024:6.0f} MB  RssAnon {anon/1024:6.0f} MB")
for j in jobs:
    print(f"  ratio sgscan -j {j} / cat-file: {s[j][0]/c[0]:.2f}")
    if "1" in s and j not in ("0", "1"):
        up = s["1"][0] / s[j][0]
        print(f"  speedup -j {j} over -j 1: {up:.2f}x, {up/int(j):.2f} per worker")
PY
  SGSCAN_TIMINGS=1 "$SGSCAN" git "$repo" -q -f json -o /dev/null 2>&1 >/dev/null | sed 's/^/  /'
  echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
done
