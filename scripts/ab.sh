#!/usr/bin/env bash
# A/B of two bnpl binaries on the same benchmark: runs them alternately
# (so a slow period of the machine hits both), then prints each phase's
# median wall time and peak RSS per binary. This machine's run-to-run noise is large;
# compare binaries this way, not against figures from another session.
#
#   scripts/ab.sh OLD_BINARY NEW_BINARY [RUNS] [bnpl bench arguments...]
#   scripts/ab.sh /tmp/bnpl-before target/release/bnpl 4 --accounts 1000 --read-calls 5
#
# Build the two binaries from the two commits first, e.g.
#   git worktree add /tmp/before COMMIT && cargo build --release -p bnpl-cli \
#     --manifest-path /tmp/before/Cargo.toml && cp "$CARGO_TARGET_DIR/release/bnpl" /tmp/bnpl-before
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,12p "$0"; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
RUNS=${3:-4}
shift $(($# < 3 ? $# : 3))
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--accounts 1000 --read-calls 5)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Each phase's wall time and peak RSS, one line per phase
# ("initial sync 12.34 26.1"), from --json.
phases() {
  grep -o '"name": *"[a-z ]*"\|"peak_rss_mb": *[0-9.]*\|"wall_s": *[0-9.]*' "$1" |
    grep -v '"name": *"due' | paste - - - |
    sed -E 's/"name": *"([a-z ]*)"\t"peak_rss_mb": *([0-9.]*)\t"wall_s": *([0-9.]*)/\1 \3 \2/'
}

for i in $(seq 1 "$RUNS"); do
  for side in A B; do
    binary=${!side}
    "$binary" bench --json "${ARGS[@]}" >"$WORK/$side-$i.json"
    echo "run $i $side: $(phases "$WORK/$side-$i.json" | tr '\n' ' ')"
  done
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
echo "medians of $RUNS runs: A = $A, B = $B"
printf '%-14s %s %10s %12s\n' phase side "wall s" "peak RSS MB"
for phase in "initial sync" "delta sync" "store ceiling"; do
  for side in A B; do
    lines=$(for f in "$WORK"/$side-*.json; do phases "$f"; done | grep "^$phase " || true)
    [ -n "$lines" ] || continue
    wall=$(awk '{print $(NF-1)}' <<<"$lines" | median)
    rss=$(awk '{print $NF}' <<<"$lines" | median)
    printf '%-14s %s %10s %12s\n' "$phase" "$side" "$wall" "$rss"
  done
done
