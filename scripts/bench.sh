#!/usr/bin/env bash
# Reproduces every figure of docs/performance.md: builds the release binary,
# then runs `bnpl bench` (sync, delta, ceiling, reads) and the import of a
# generated export. Results go to $OUT (default ./bench-results) as JSON and
# text; medians over $RUNS runs of each 1k measurement. Ends with every
# target of issue 6 judged met or not (scripts/bench-summary.py, also in
# $OUT/targets.txt).
#
#   scripts/bench.sh                 # everything (about 35 minutes on 2 cores)
#   QUICK=1 scripts/bench.sh         # 1k SQLite runs and the import only
#   BNPL_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench.sh
#
# Run it on an idle machine: every figure is CPU-bound on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

RUNS=${RUNS:-3}
OUT=$(realpath -m "${OUT:-bench-results}")
mkdir -p "$OUT"
# The directory holds this run's results only: the summary reads every file.
rm -f "$OUT"/*.json "$OUT"/import-*.txt "$OUT"/summary.txt "$OUT"/targets.txt
cargo build --release --locked -p bnpl-cli
BNPL=$(realpath "${CARGO_TARGET_DIR:-target}/release/bnpl")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

bench() { # name, bench arguments...
  local name=$1
  shift
  echo "== $name: bnpl bench $*" | tee -a "$OUT/summary.txt"
  "$BNPL" bench --json "$@" >"$OUT/$name.json"
}

for i in $(seq 1 "$RUNS"); do
  bench "sqlite-1k-run$i" --accounts 1000 --read-calls 50
done

# Import: one million export rows into a fresh mirror, then the re-run.
"$BNPL" sandbox export --rows 1000000 --out "$WORK/export" >/dev/null
new_mirror() { # directory: a fresh mirror there, with account A
  mkdir -p "$1"
  printf 'database_url = "sqlite://%s/import.db"\nsecret_key_file = "%s/import.key"\n' \
    "$1" "$1" >"$1/bnpl.toml"
  (cd "$1" && BNPL_REFRESH_TOKEN=rt "$BNPL" accounts add klarna-us --account-id A --device-id d >/dev/null)
}
import_into() { # directory, pass name, [export directory]: one import into the mirror there
  local export=${3:-$WORK/export}
  (cd "$1" && /usr/bin/time -v "$BNPL" import --provider klarna-us --account A \
    "$export/purchases.csv" "$export/balance.csv") >"$OUT/import-$2.txt" 2>&1
  echo "== import ($2): $(grep -E 'Elapsed|Maximum resident' "$OUT/import-$2.txt" | tr -s ' ' | tr '\n' ' ')" |
    tee -a "$OUT/summary.txt"
}
# $RUNS first imports, each into a fresh mirror (take the median), then a
# re-run into the last one: a no-op.
for i in $(seq 1 "$RUNS"); do
  mirror="$WORK/import-$i"
  new_mirror "$mirror"
  import_into "$mirror" "first-run$i"
done
import_into "$mirror" rerun
# Import memory flat in the file's size: a 100,000-row export against the 1M above.
"$BNPL" sandbox export --rows 100000 --out "$WORK/export-small" >/dev/null
new_mirror "$WORK/import-small"
import_into "$WORK/import-small" small "$WORK/export-small"

if [ -z "${QUICK:-}" ]; then
  # Fewer, fuller accounts: the delta's share when rows, not requests, dominate.
  bench sqlite-100x200 --accounts 100 --purchases-per-account 200 --read-calls 20
  bench sqlite-10k --accounts 10000 --read-calls 50
  # Memory flat in the number of accounts: 30k against 1k and 10k.
  bench sqlite-30k --accounts 30000 --no-ceiling --read-calls 20
  for c in 1 4 16 64; do
    bench "latency50-c$c" --accounts 64 --latency-ms 50 --concurrency "$c" --no-ceiling --read-calls 5
  done
fi

if [ -n "${BNPL_BENCH_POSTGRES_URL:-}" ]; then
  bench postgres-1k --accounts 1000 --read-calls 50 --database-url "$BNPL_BENCH_POSTGRES_URL"
fi

# Every target of issue 6, judged from the files above.
echo "== targets (scripts/bench-summary.py $OUT)" | tee -a "$OUT/summary.txt"
python3 "$REPO/scripts/bench-summary.py" "$OUT" | tee "$OUT/targets.txt" | tee -a "$OUT/summary.txt"
echo "results in $OUT"
