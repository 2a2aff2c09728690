#!/usr/bin/env bash
# A/B of two bnpl binaries by instructions executed, counted by valgrind's
# callgrind: unlike wall time, the count does not move with the machine's
# load or speed (this machine's speed drifts ~2x across hours), so a change
# of a few percent shows. It counts work, not waiting or parallelism: a
# change that overlaps work on two cores shows in `scripts/ab.sh` only.
# Runs the two under callgrind side by side (one per core), ~50x slower
# than natively: keep the workload small.
#
#   scripts/ab-instructions.sh OLD_BINARY NEW_BINARY bench [bnpl bench arguments...]
#   scripts/ab-instructions.sh OLD_BINARY NEW_BINARY import [ROWS]
#
# `bench` counts the bnpl process of `bnpl bench` (default: --accounts 200
# --read-calls 1; the sandbox child is not counted); `import` counts `bnpl
# import` of a generated export (default 100,000 rows) into a fresh mirror.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,16p "$0"; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
A=$(realpath "$1")
B=$(realpath "$2")
MODE=$3
shift 3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

count() { # side binary
  local side=$1 binary=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  case $MODE in
    bench)
      local args=("${BENCH_ARGS[@]}")
      (cd "$dir" && valgrind --tool=callgrind --callgrind-out-file="$dir/out" \
        "$binary" bench "${args[@]}" >"$dir/log" 2>&1) ;;
    import)
      printf 'database_url = "sqlite://%s/import.db"\nsecret_key_file = "%s/import.key"\n' \
        "$dir" "$dir" >"$dir/bnpl.toml"
      (cd "$dir" && BNPL_REFRESH_TOKEN=rt "$binary" accounts add klarna-us --account-id A \
        --device-id d >/dev/null 2>&1)
      (cd "$dir" && valgrind --tool=callgrind --callgrind-out-file="$dir/out" \
        "$binary" import --provider klarna-us --account A "$WORK/export/purchases.csv" \
        "$WORK/export/balance.csv" >"$dir/log" 2>&1) ;;
  esac
  grep -o 'Collected : [0-9]*' "$dir/log" | awk '{print $3}' >"$dir/total"
}

case $MODE in
  bench)
    BENCH_ARGS=("$@")
    [ ${#BENCH_ARGS[@]} -gt 0 ] || BENCH_ARGS=(--accounts 200 --read-calls 1) ;;
  import)
    "$A" sandbox export --rows "${1:-100000}" --out "$WORK/export" >/dev/null ;;
  *) echo "mode must be bench or import" >&2; exit 2 ;;
esac

count A "$A" &
count B "$B" &
wait
a=$(cat "$WORK/A/total")
b=$(cat "$WORK/B/total")
echo "instructions ($MODE): A = $A, B = $B"
awk -v a="$a" -v b="$b" 'BEGIN {
  printf "A: %d\nB: %d\nB/A: %.3f (%+.1f%%)\n", a, b, b / a, (b / a - 1) * 100 }'
