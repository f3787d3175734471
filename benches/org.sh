#!/usr/bin/env bash
# Sweeping an organisation over loopback HTTP: ONE tokio mirror served under N names by the tests'
# smart-HTTP server (`git http-backend` behind tests/util/githttp.rs), each name cloned as a
# repository of its own.
#
#   benches/org.sh [MIRROR]     (default: /work/.mirror/tokio-rs+tokio/repo)
#
#   SGSCAN  the binary (default target/release/sgscan)    COUNTS  repositories per run (default "10 50")
#
# For each count: one sweep of that many repositories (every mirror cloned, then swept): wall, peak
# RSS of sgscan (git's own processes not counted), and the clone time beside the sweep time
# (SGSCAN_TIMINGS). The smaller counts clone into a temporary directory (each mirror removed once
# swept); the largest into --clone-dir with --state, then runs again: the second run fetches
# (nothing new) and sweeps only what moved (nothing). The load average is printed: on a busy
# machine the numbers mean little.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SGSCAN="${SGSCAN:-$root/target/release/sgscan}"
COUNTS="${COUNTS:-10 50}"
mirror="${1:-/work/.mirror/tokio-rs+tokio/repo}"
tmp="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/srv"
ln -s "$(cd "$mirror" && pwd)" "$tmp/srv/tokio.git"
tests="$(cd "$root" && cargo test --test all --no-run 2>&1 | sed -n 's/.*Executable tests\/all.rs (\(.*\))/\1/p')"
[ -x "$root/$tests" ] && tests="$root/$tests"
SGSCAN_BENCH_ROOT="$tmp/srv" "$tests" githttp_serve_for_bench --ignored --nocapture --exact remote::githttp_serve_for_bench >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q '^serving ' "$tmp/server.log" && break; sleep 0.1; done
base="$(sed -n 's/^serving //p' "$tmp/server.log")"
[ -n "$base" ] || { echo "the server did not start"; cat "$tmp/server.log"; exit 1; }

# sweep NAME COUNT ARGS...: one sgscan run over COUNT names; prints wall, peak RSS and stage times.
sweep() {
  local name="$1" n="$2"
  shift 2
  seq 1 "$n" | sed "s|^|${base}tokio-|; s|$|.git|" >"$tmp/list"
  SGSCAN_TIMINGS=1 /usr/bin/time -f "%e %M" -o "$tmp/time" \
    "$SGSCAN" git -q -f json -o "$tmp/$name.json" --repos-file "$tmp/list" "$@" 2>"$tmp/$name.err" >/dev/null
  local code=$?
  read -r wall rss <"$tmp/time"
  local stages
  stages="$(grep -o 'fetching.*' "$tmp/$name.err" | tail -n1)"
  python3 - "$tmp/$name.json" "$name" "$n" "$wall" "$rss" "$code" "$stages" <<'PY'
import json, sys
doc, name, n, wall, rss, code, stages = sys.argv[1:]
d = json.load(open(doc))
s = d["summary"]
print(f"{name:>16}: {n} repos  exit {code}  wall {float(wall):7.1f} s  peak RSS {int(rss)/1024:6.1f} MiB  "
      f"blobs {s['blobs_scanned']}  keys {s['keys']}  skipped {s['skipped']}")
print(f"{'':>16}  {stages}")
PY
}

echo "## $(date -u +%FT%TZ)  $(nproc) cores  load: $(cut -d' ' -f1-3 /proc/loadavg)  $("$SGSCAN" --version)"
last="${COUNTS##* }"
for n in $COUNTS; do
  if [ "$n" = "$last" ]; then
    # The largest count clones into a kept directory, to be swept again with the state.
    sweep "first-$n" "$n" --clone-dir "$tmp/clones" --state "$tmp/state.json"
  else
    sweep "temp-$n" "$n"
  fi
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
done
sweep "again-$last" "$last" --clone-dir "$tmp/clones" --state "$tmp/state.json"
echo "clone dir: $(du -sh "$tmp/clones" | cut -f1)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
