#!/usr/bin/env python3
"""Issue 6's targets, judged from one scripts/bench.sh results directory.

    scripts/bench-summary.py [RESULTS_DIR]     # default ./bench-results

Reads the JSON of every `bnpl bench --json` run and the `/usr/bin/time -v`
output of every import that scripts/bench.sh wrote, and prints one line per
target: the measured figure, the rule it is judged by, and met or not.
Medians where bench.sh ran a measurement more than once. A measurement the
directory lacks (QUICK=1 skips the 10k, 30k and latency runs) is reported as
not run, never as met.
"""

import glob
import json
import os
import re
import statistics
import sys

DUE_READ = "due 14d, all accounts: totals + first 50 (bnpl due)"


def load(directory, name):
    path = os.path.join(directory, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            sys.exit(f"bench-summary: {path} is not a finished bench run's JSON ({e})")


def phase(run, name):
    for p in run["phases"]:
        if p["name"] == name:
            return p
    raise KeyError(f"no phase {name!r} in a bench run")


def read(run, name):
    for r in run["reads"]:
        if r["name"] == name:
            return r
    raise KeyError(f"no read {name!r} in a bench run")


def median_of(runs, value):
    return statistics.median(value(r) for r in runs)


def imports(directory, pattern):
    """(rows, wall seconds, peak RSS MB) of each import output matching pattern."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, pattern))):
        text = open(path).read()
        rows = sum(int(n) for n in re.findall(r": (\d+) rows, ", text))
        elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        if not (rows and elapsed and rss):
            raise ValueError(f"{path}: no row count, wall time or peak RSS in it")
        seconds = 0.0
        for part in elapsed.group(1).split(":"):
            seconds = seconds * 60 + float(part)
        out.append((rows, seconds, int(rss.group(1)) / 1024))
    return out


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "bench-results"
    if not os.path.isdir(directory):
        sys.exit(f"bench-summary: no results directory {directory!r} (run scripts/bench.sh)")
    lines = []

    def verdict(target, figure, met):
        state = "not run" if met is None else ("met" if met else "NOT MET")
        lines.append((target, figure, state))

    # However many runs bench.sh made ($RUNS).
    ones = [
        load(directory, os.path.basename(path)[: -len(".json")])
        for path in sorted(glob.glob(os.path.join(directory, "sqlite-1k-run*.json")))
    ]
    ten = load(directory, "sqlite-10k")
    thirty = load(directory, "sqlite-30k")

    # Initial sync throughput: the issue names 10k accounts; 1k shown beside it.
    if ten:
        rate = phase(ten, "initial sync")["purchases_per_s"]
        figure = f"{rate:,.0f} purchases/s at 10k"
        if ones:
            figure += f" ({median_of(ones, lambda r: phase(r, 'initial sync')['purchases_per_s']):,.0f} at 1k)"
        verdict("initial sync >= 30,000 purchases/s", figure, rate >= 30_000)
    else:
        verdict("initial sync >= 30,000 purchases/s", "10k run missing", None)

    # Fraction of the store's own ceiling, from the same run.
    runs = [r for r in [ten] + ones if r and r.get("initial_fraction_of_store_ceiling")]
    if runs:
        fractions = [r["initial_fraction_of_store_ceiling"] for r in runs]
        figure = ", ".join(
            f"{f:.0%} at {r['config']['accounts'] // 1000}k" for f, r in zip(fractions, runs)
        )
        verdict("initial sync >= half the store ceiling", figure, min(fractions) >= 0.5)
    else:
        verdict("initial sync >= half the store ceiling", "no run with a ceiling", None)

    # Delta with 1% changed against the initial sync.
    def delta_share(run):
        return run["delta"]["delta_time_fraction_of_initial"]

    shares = []
    if ten:
        shares.append(("10k", delta_share(ten)))
    if ones:
        shares.append((f"1k (median of {len(ones)})", median_of(ones, delta_share)))
    if shares:
        figure = ", ".join(f"{share:.1%} at {size}" for size, share in shares)
        verdict(
            "delta (1% changed) < 5% of the initial",
            figure,
            all(share < 0.05 for _, share in shares),
        )
    else:
        verdict("delta (1% changed) < 5% of the initial", "no sync run", None)

    # Peak RSS: under 100 MB, and flat from 1k to 10k (and 30k).
    def sync_peak(run):
        return max(phase(run, p)["peak_rss_mb"] for p in ("initial sync", "delta sync"))

    peaks = {n: sync_peak(r) for n, r in ((10_000, ten), (30_000, thirty)) if r}
    if ones:
        peaks[1_000] = median_of(ones, sync_peak)
    if peaks:
        figure = ", ".join(f"{peaks[n]:.1f} MB at {n // 1000}k" for n in sorted(peaks))
        verdict("peak RSS of a sync < 100 MB", figure, max(peaks.values()) < 100)
    else:
        verdict("peak RSS of a sync < 100 MB", "no sync run", None)
    if 1_000 in peaks and len(peaks) > 1:
        growth = max(peaks.values()) - peaks[1_000]
        verdict(
            "sync memory flat from 1k accounts up (growth < 10%)",
            f"+{growth:.1f} MB over the 1k peak",
            growth < 0.10 * peaks[1_000],
        )
    else:
        verdict(
            "sync memory flat from 1k accounts up (growth < 10%)",
            "needs the 1k runs and a 10k or 30k one",
            None,
        )

    # The import of one million export rows.
    first = imports(directory, "import-first-run*.txt")
    if first:
        rate = statistics.median(rows / wall for rows, wall, _ in first)
        rss = statistics.median(r for _, _, r in first)
        verdict(
            "import >= 200,000 rows/s",
            f"{rate:,.0f} rows/s ({first[0][0]:,} rows, median of {len(first)}), peak {rss:.1f} MB",
            rate >= 200_000,
        )
    else:
        verdict("import >= 200,000 rows/s", "import not run", None)
    small = imports(directory, "import-small.txt")
    if first and small:
        growth = statistics.median(r for _, _, r in first) - small[0][2]
        verdict(
            "import memory flat (1M rows against 100k, growth < 10%)",
            f"{small[0][2]:.1f} MB at {small[0][0]:,} rows, {growth:+.1f} MB at {first[0][0]:,}",
            growth < 0.10 * small[0][2],
        )
    else:
        verdict(
            "import memory flat (1M rows against 100k, growth < 10%)",
            "needs both imports",
            None,
        )

    # bnpl due over the 10k mirror (over a million installments).
    if ten:
        due = read(ten, DUE_READ)
        installments = phase(ten, "store ceiling").get("installments")
        held = f"{installments:,} installments" if installments else "installments unknown"
        verdict(
            "bnpl due --within 14d p50 < 20 ms at 1M installments",
            f"p50 {due['p50_ms']:.1f} ms, p99 {due['p99_ms']:.1f} ms over {held}",
            due["p50_ms"] < 20 and (installments or 0) >= 1_000_000,
        )
    else:
        verdict("bnpl due --within 14d p50 < 20 ms at 1M installments", "10k run missing", None)

    # Throughput against concurrency with 50 ms of provider latency.
    curve = []
    for c in (1, 4, 16, 64):
        run = load(directory, f"latency50-c{c}")
        if run:
            curve.append((c, phase(run, "initial sync")["purchases_per_s"]))
    if curve:
        rising = all(b[1] > a[1] for a, b in zip(curve, curve[1:]))
        figure = ", ".join(f"c={c}: {rate:,.0f}/s" for c, rate in curve)
        verdict("50 ms latency: throughput rises with concurrency", figure, rising and len(curve) > 1)
    else:
        verdict("50 ms latency: throughput rises with concurrency", "curve not run", None)

    pg = load(directory, "postgres-1k")
    if pg:
        initial = phase(pg, "initial sync")
        lines.append(
            (
                "PostgreSQL, 1k accounts (reported, no target of its own)",
                f"{initial['purchases_per_s']:,.0f} purchases/s, delta "
                f"{pg['delta']['delta_time_fraction_of_initial']:.1%} of the initial, "
                f"due p50 {read(pg, DUE_READ)['p50_ms']:.1f} ms",
                "-",
            )
        )

    width = max(len(t) for t, _, _ in lines)
    for target, figure, state in lines:
        print(f"{target:<{width}}  {state:<7}  {figure}")


if __name__ == "__main__":
    main()
