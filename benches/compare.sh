#!/usr/bin/env bash
# Wall-clock comparison of sgscan with ripgrep, git itself and any peer secret scanner on PATH.
#
#   benches/compare.sh [SGSCAN [TREE [REPO]]]
#
# Arguments (or environment variables of the same name):
#   SGSCAN  the sgscan binary        default: $CARGO_TARGET_DIR/release/sgscan, else target/release/sgscan
#   TREE    a working tree           default: /work/bench-data/tree        (benches/gen_tree.py)
#   REPO    a git repository         default: /work/bench-data/history.git (benches/gen_history.py)
#   RUNS    timed runs per command   default: 5 with hyperfine, best of 3 without
#   TOOLS   extra bin directory put first on PATH (default /work/tools/bin, if it exists)
#   ONLY    "tree" or "git" to run one half
#   NO_HYPERFINE=1  time with bash even if hyperfine is installed
#
# Every command runs once untimed first (warm page cache, compiled rule caches; its exit code is
# checked and sgscan's findings are compared with the generator's manifest), then is timed with
# hyperfine if available, else with bash (best of 3). Tools that are not installed are skipped, as is
# `sgscan git` if `sgscan git --help` fails. Load average is printed before and after: the numbers
# mean little on a busy machine.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
default_bin="$root/target/release/sgscan"
[ -n "${CARGO_TARGET_DIR:-}" ] && default_bin="$CARGO_TARGET_DIR/release/sgscan"
SGSCAN="${1:-${SGSCAN:-$default_bin}}"
TREE="${2:-${TREE:-/work/bench-data/tree}}"
REPO="${3:-${REPO:-/work/bench-data/history.git}}"
TOOLS="${TOOLS:-/work/tools/bin}"
ONLY="${ONLY:-}"
[ -d "$TOOLS" ] && PATH="$TOOLS:$PATH"
export PATH NO_COLOR=1

[ -x "$SGSCAN" ] || { echo "compare.sh: no sgscan binary at $SGSCAN (cargo build --release, or pass its path)" >&2; exit 2; }
SGSCAN="$(cd "$(dirname "$SGSCAN")" && pwd)/$(basename "$SGSCAN")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
have() { command -v "$1" >/dev/null 2>&1; }
HYPERFINE=""
[ -z "${NO_HYPERFINE:-}" ] && have hyperfine && HYPERFINE="$(command -v hyperfine)"
RUNS="${RUNS:-$([ -n "$HYPERFINE" ] && echo 5 || echo 3)}"
RG_RE='SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}'

echo "# sgscan compare  $(date -u +%FT%TZ)  host: $(nproc) cores"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sgscan: $SGSCAN ($("$SGSCAN" --version 2>/dev/null))"
if [ -n "$HYPERFINE" ]; then
  echo "# timing: hyperfine $("$HYPERFINE" --version | cut -d' ' -f2), $RUNS runs after 1 untimed warm-up run"
else
  echo "# timing: bash, best of $RUNS runs after 1 untimed warm-up run (no hyperfine)"
fi
for t in rg git gitleaks trufflehog kingfisher noseyparker betterleaks; do
  if have "$t"; then
    echo "#   $t: $(command -v "$t") ($("$t" --version 2>&1 | head -n1))"
  else
    echo "#   $t: not found, skipped"
  fi
done

# Results: label<TAB>mean<TAB>min<TAB>stddev, one file per section.
# bench SECTION LABEL OK_EXIT_CODES PREPARE COMMAND...
#   OK_EXIT_CODES: space-separated list of exit codes that mean "ran fine" (findings often exit 1).
bench() {
  local section="$1" label="$2" ok="$3" prepare="$4"
  shift 4
  local log="$tmp/warm.log" rc
  [ -n "$prepare" ] && bash -c "$prepare"
  "$@" >/dev/null 2>"$log"
  rc=$?
  if [[ " $ok " != *" $rc "* ]]; then
    printf '%s\t%s\t%s\t%s\n' "$label" "failed(exit $rc)" "" "" >>"$tmp/$section.tsv"
    echo "  $label: exit $rc on the warm-up run; not timed. stderr:" >&2
    head -n 5 "$log" | sed 's/^/    /' >&2
    return
  fi
  if [ -n "$HYPERFINE" ]; then
    local q cmd=""
    for q in "$@"; do cmd+="$(printf '%q' "$q") "; done
    local args=(--style none --shell bash --runs "$RUNS" --warmup 0 -i --export-json "$tmp/h.json")
    [ -n "$prepare" ] && args+=(--prepare "$prepare")
    "$HYPERFINE" "${args[@]}" "$cmd" >/dev/null 2>"$log" || { echo "  $label: hyperfine failed" >&2; cat "$log" >&2; return; }
    python3 - "$tmp/h.json" "$label" >>"$tmp/$section.tsv" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"{sys.argv[2]}\t{r['mean']:.4f}\t{r['min']:.4f}\t{r['stddev'] or 0:.4f}")
EOF
  else
    local best="" i s e d
    for ((i = 0; i < RUNS; i++)); do
      [ -n "$prepare" ] && bash -c "$prepare"
      s=$(date +%s.%N)
      "$@" >/dev/null 2>&1
      e=$(date +%s.%N)
      d=$(echo "$e - $s" | bc -l 2>/dev/null || python3 -c "print($e - $s)")
      if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $d < $best else 1)"; then best=$d; fi
    done
    printf '%s\t%.4f\t%.4f\t%s\n' "$label" "$best" "$best" "" >>"$tmp/$section.tsv"
  fi
}

# table SECTION TITLE BYTES: prints the section with throughput and ratios to its first (sgscan) row.
table() {
  python3 - "$tmp/$1.tsv" "$2" "$3" <<'EOF'
import sys
path, title, nbytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    rows = [l.rstrip("\n").split("\t") for l in open(path)]
except FileNotFoundError:
    rows = []
print(f"\n## {title}")
print(f"{'command':<58} {'mean s':>8} {'min s':>8} {'±sd':>7} {'MiB/s':>8} {'× sgscan':>9}")
base = None
for i, (label, mean, mn, sd) in enumerate(rows):
    try:
        m = float(mean)
    except ValueError:
        print(f"{label:<58} {mean:>8}")
        continue
    if i == 0 and label.startswith("sgscan"):
        base = m
    mibs = nbytes / m / 2**20 if m > 0 and nbytes else 0
    ratio = f"{m / base:8.2f}x" if base else f"{'-':>9}"
    print(f"{label:<58} {m:8.3f} {float(mn):8.3f} {(float(sd) if sd else 0):7.3f} {mibs:8.0f} {ratio}")
EOF
}

# ---------------------------------------------------------------------------------------------
if [ "$ONLY" != "git" ]; then
  if [ ! -d "$TREE" ]; then
    echo "compare.sh: no tree at $TREE (python3 benches/gen_tree.py --out $TREE)" >&2
  else
    read -r tree_files tree_bytes < <(find "$TREE" -type f -printf '%s\n' | awk '{n++; s+=$1} END {print n, s}')
    echo "# tree: $TREE: $tree_files files, $((tree_bytes / 1048576)) MiB (all files, ignored ones included)"
    # Correctness first: sgscan's findings against the generator's manifest.
    "$SGSCAN" dir "$TREE" -f json -o "$tmp/tree.json" >/dev/null 2>&1
    if [ -f "$TREE.manifest.json" ]; then
      echo "# sgscan dir vs manifest: $(python3 "$here/check_manifest.py" "$tmp/tree.json" "$TREE.manifest.json" | tail -n1)"
    fi
    bench tree "sgscan dir -f json -o /dev/null" "0 1" "" "$SGSCAN" dir "$TREE" -f json -o /dev/null
    if have rg; then
      bench tree "rg -c --hidden --no-require-git (fair: same files)" "0 1" "" rg -c --hidden --no-require-git "$RG_RE" "$TREE"
      bench tree "rg -c --hidden --no-require-git --binary" "0 1" "" rg -c --hidden --no-require-git --binary "$RG_RE" "$TREE"
      bench tree "rg -c --hidden (no .gitignore: tree is no repo)" "0 1" "" rg -c --hidden "$RG_RE" "$TREE"
      n=$(rg -c --hidden --no-require-git --binary "$RG_RE" "$TREE" 2>/dev/null | awk -F: '{s+=$NF} END {print s+0}')
      echo "# rg --hidden --no-require-git --binary: $n matching lines (an unbounded regex also matches near misses)"
    fi
    have gitleaks && {
      if gitleaks dir --help >/dev/null 2>&1; then
        bench tree "gitleaks dir (all rules)" "0 1" "" gitleaks dir "$TREE" --no-banner --exit-code 0 --report-format json --report-path /dev/null
      else
        bench tree "gitleaks detect --no-git (all rules)" "0 1" "" gitleaks detect --no-git --source "$TREE" --no-banner --exit-code 0 --report-format json --report-path /dev/null
      fi
    }
    have betterleaks && bench tree "betterleaks dir (all rules)" "0 1" "" betterleaks dir "$TREE" --no-banner --exit-code 0 --report-format json --report-path /dev/null
    have trufflehog && bench tree "trufflehog filesystem --no-verification" "0 1 183" "" trufflehog filesystem "$TREE" --no-verification --no-update --json
    if have kingfisher; then
      bench tree "kingfisher scan --no-validate (default rules)" "0 200 205" "" kingfisher scan "$TREE" --no-validate --no-update-check -q -f json -o /dev/null
      bench tree "kingfisher scan --no-validate --rule veles.secrets/sendgrid" "0 200 205" "" kingfisher scan "$TREE" --no-validate --no-update-check -q --rule veles.secrets/sendgrid -f json -o /dev/null
    fi
    have noseyparker && bench tree "noseyparker scan (fresh datastore)" "0" "rm -rf $tmp/np" noseyparker scan -q --datastore "$tmp/np" "$TREE"
    table tree "working tree: $TREE" "$tree_bytes"
  fi
fi

# ---------------------------------------------------------------------------------------------
if [ "$ONLY" != "tree" ]; then
  if ! git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    echo "compare.sh: no git repository at $REPO (python3 benches/gen_history.py --out $REPO)" >&2
  else
    read -r nblobs blob_bytes < <(git -C "$REPO" cat-file --batch-all-objects --batch-check='%(objecttype) %(objectsize)' | awk '$1 == "blob" {n++; s+=$2} END {print n, s}')
    pack_bytes=$(du -sb "$REPO/objects" 2>/dev/null | cut -f1)
    [ -d "$REPO/.git/objects" ] && pack_bytes=$(du -sb "$REPO/.git/objects" | cut -f1)
    echo "# repo: $REPO: $(git -C "$REPO" rev-list --all --count) commits, $nblobs blobs ($((blob_bytes / 1048576)) MiB uncompressed), objects dir $((pack_bytes / 1048576)) MiB"
    if "$SGSCAN" git --help >/dev/null 2>&1; then
      "$SGSCAN" git "$REPO" -f json -o "$tmp/git.json" >/dev/null 2>&1
      if [ -f "$REPO.manifest.json" ]; then
        python3 - "$tmp/git.json" "$REPO.manifest.json" <<'EOF'
import json, sys
try:
    got = {f["fingerprint"]: f for f in json.load(open(sys.argv[1]))["findings"]}
except Exception as e:
    print(f"# sgscan git: no readable report ({e})"); sys.exit()
want = json.load(open(sys.argv[2]))["keys"]
missed = [k["kind"] for k in want if k["fingerprint"] not in got]
extra = len(set(got) - {k["fingerprint"] for k in want})
print(f"# sgscan git vs manifest: {len(want) - len(missed)}/{len(want)} planted keys found"
      + (f"; missed: {', '.join(missed)}" if missed else "") + (f"; {extra} not planted" if extra else ""))
EOF
      fi
      bench git "sgscan git -f json -o /dev/null" "0 1" "" "$SGSCAN" git "$REPO" -f json -o /dev/null
    else
      echo "# sgscan git: not available in this binary ('sgscan git --help' failed), skipped"
      printf '%s\t%s\t\t\n' "sgscan git" "n/a" >>"$tmp/git.tsv"
    fi
    bench git "git cat-file --batch-all-objects --batch" "0" "" git -C "$REPO" cat-file --batch-all-objects --batch
    bench git "git cat-file --batch-all-objects --batch --unordered" "0" "" git -C "$REPO" cat-file --batch-all-objects --batch --unordered
    have gitleaks && {
      if gitleaks git --help >/dev/null 2>&1; then
        bench git "gitleaks git (all rules)" "0 1" "" gitleaks git "$REPO" --no-banner --exit-code 0 --report-format json --report-path /dev/null
      else
        bench git "gitleaks detect (all rules)" "0 1" "" gitleaks detect --source "$REPO" --no-banner --exit-code 0 --report-format json --report-path /dev/null
      fi
    }
    have betterleaks && bench git "betterleaks git (all rules)" "0 1" "" betterleaks git "$REPO" --no-banner --exit-code 0 --report-format json --report-path /dev/null
    have trufflehog && bench git "trufflehog git --no-verification" "0 1 183" "" trufflehog git "file://$REPO" --no-verification --no-update --json
    if have kingfisher; then
      bench git "kingfisher scan --no-validate (default rules)" "0 200 205" "" kingfisher scan "$REPO" --no-validate --no-update-check -q -f json -o /dev/null
      bench git "kingfisher scan --no-validate --rule veles.secrets/sendgrid" "0 200 205" "" kingfisher scan "$REPO" --no-validate --no-update-check -q --rule veles.secrets/sendgrid -f json -o /dev/null
    fi
    have noseyparker && bench git "noseyparker scan (fresh datastore)" "0" "rm -rf $tmp/np" noseyparker scan -q --datastore "$tmp/np" "$REPO"
    # The first row is the ratio base; with no sgscan git, show absolute times only.
    table git "git history: $REPO (MiB/s over uncompressed blob bytes)" "$blob_bytes"
  fi
fi

echo
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
