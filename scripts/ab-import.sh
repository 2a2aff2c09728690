#!/usr/bin/env bash
# A/B of two bnpl binaries on `bnpl import` of a generated one-million-row
# export: alternating imports, each into a fresh mirror, then each binary's
# median wall time, peak RSS and mirror size. Same steps as the import in
# scripts/bench.sh.
#
#   scripts/ab-import.sh OLD_BINARY NEW_BINARY [RUNS] [ROWS]
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,7p "$0"; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
RUNS=${3:-3}
ROWS=${4:-1000000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$A" sandbox export --rows "$ROWS" --out "$WORK/export" >/dev/null
for i in $(seq 1 "$RUNS"); do
  for side in A B; do
    binary=${!side}
    mirror="$WORK/$side-$i"
    mkdir -p "$mirror"
    printf 'database_url = "sqlite://%s/import.db"\nsecret_key_file = "%s/import.key"\n' \
      "$mirror" "$mirror" >"$mirror/bnpl.toml"
    (cd "$mirror" && BNPL_REFRESH_TOKEN=rt "$binary" accounts add klarna-us --account-id A --device-id d >/dev/null 2>&1)
    (cd "$mirror" && /usr/bin/time -v "$binary" import --provider klarna-us --account A \
      "$WORK/export/purchases.csv" "$WORK/export/balance.csv") >"$mirror/out.txt" 2>&1
    wall=$(awk -F': ' '/Elapsed/ {n = split($2, t, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + t[k]; print s}' "$mirror/out.txt")
    rss=$(awk -F': ' '/Maximum resident/ {printf "%.1f", $2 / 1024}' "$mirror/out.txt")
    mb=$(du -sm "$mirror/import.db" | cut -f1)
    echo "run $i $side: $wall s, peak RSS $rss MB, mirror $mb MB" | tee -a "$WORK/$side.txt"
    rm -f "$mirror"/import.db*
  done
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
echo "medians of $RUNS runs: A = $A, B = $B"
for side in A B; do
  wall=$(awk '{print $4}' "$WORK/$side.txt" | median)
  rss=$(awk '{print $8}' "$WORK/$side.txt" | median)
  echo "$side: $wall s, peak RSS $rss MB"
done
