#!/bin/sh
# Hook time of `sgscan pre-receive` on a server holding a real repository's history, against a full
# `sgscan git` of the same repository in the same run.
#
#   cargo build --release --locked
#   benches/prereceive.sh [MIRROR] [RUNS]     (default: tokio's bare mirror, 3 runs)
#
# The server is a bare clone of MIRROR; a work-tree clone pushes 1 commit, then 1,000 commits (each
# changing a file) into it, through the hook, as separate series. The hook's time is measured around
# the sgscan process by a wrapper hook (date +%s%N), so it includes process start. Prints medians.
set -eu
MIRROR=${1:-/work/.mirror/tokio-rs+tokio/repo}
RUNS=${2:-3}
BIN=${SGSCAN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/sgscan}
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release --locked" >&2; exit 2; }
WORK=$(mktemp -d /tmp/sgscan-prereceive.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=b@e.test \
    GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=b@e.test

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
git clone -q --bare "$MIRROR" "$WORK/srv.git"
echo "server: $(git -C "$WORK/srv.git" rev-list --all | wc -l) commits, $(git -C "$WORK/srv.git" for-each-ref | wc -l) refs"
cat > "$WORK/srv.git/hooks/pre-receive" <<HOOK
#!/bin/sh
start=\$(date +%s%N)
"$BIN" pre-receive --time-budget 60s
rc=\$?
echo \$(( (\$(date +%s%N) - start) / 1000000 )) >> "$WORK/hook-ms"
exit \$rc
HOOK
chmod +x "$WORK/srv.git/hooks/pre-receive"
git clone -q "$WORK/srv.git" "$WORK/client"
cd "$WORK/client"
FILE=$(git ls-files | grep -m1 '\.rs$')

series() { # $1: commits per push
    : > "$WORK/hook-ms"
    for run in $(seq "$RUNS"); do
        git reset -q --hard origin/HEAD
        i=0
        while [ "$i" -lt "$1" ]; do
            echo "// bench $run $i" >> "$FILE"
            git commit -q -am "bench $run $i"
            i=$((i + 1))
        done
        git push -q origin HEAD:refs/heads/bench-$1-$run 2>/dev/null
    done
    echo "push of $1 commit(s), new branch: hook $(median < "$WORK/hook-ms") ms (median of $RUNS: $(tr '\n' ' ' < "$WORK/hook-ms"))"
    : > "$WORK/hook-ms"
    for run in $(seq "$RUNS"); do
        git checkout -q -B upd origin/HEAD
        git push -q -f origin upd:refs/heads/upd-$1 2>/dev/null
        i=0
        while [ "$i" -lt "$1" ]; do
            echo "// upd $run $i" >> "$FILE"
            git commit -q -am "upd $run $i"
            i=$((i + 1))
        done
        : > "$WORK/hook-ms"
        git push -q origin upd:refs/heads/upd-$1 2>/dev/null
        cat "$WORK/hook-ms" >> "$WORK/upd-ms-$1"
    done
    echo "push of $1 commit(s) onto a branch: hook $(median < "$WORK/upd-ms-$1") ms (median of $RUNS: $(tr '\n' ' ' < "$WORK/upd-ms-$1"))"
}
series 1
series 1000
: > "$WORK/full-ms"
for run in $(seq "$RUNS"); do
    start=$(date +%s%N)
    "$BIN" git "$WORK/srv.git" -q -f json -o /dev/null || [ $? -eq 1 ]
    ms_since "$start" >> "$WORK/full-ms"
done
echo "full sgscan git of the server: $(median < "$WORK/full-ms") ms (median of $RUNS: $(tr '\n' ' ' < "$WORK/full-ms"))"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
