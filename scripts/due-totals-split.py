#!/usr/bin/env python3
"""Times the totals of `bnpl due` on a kept SQLite mirror, whole and split.

    scripts/due-totals-split.py MIRROR.db TODAY [DAYS] [CALLS]

MIRROR.db is a mirror kept by `bnpl bench --database-url sqlite:///path/b.db`
(with the bench's default seed its sandbox's today is 2026-06-01). For the
window TODAY .. TODAY + DAYS (14 by default) it prints the p50 of CALLS
interleaved calls (60 by default) of: a bare COUNT(*) of the window's open
rows (the cost of stepping through the index alone), the totals statement
as one query, its two halves at once on two connections (what
`sqlite::read::installment_totals` does), and the two halves one after the
other. It checks that the halves add up to the whole.

The statement is `sqlite::read::totals_query`'s, written out again here: a
change there must be made here too. Python's sqlite3 releases the GIL while
a statement runs, so the two threads run on two cores.
"""
import datetime
import sqlite3
import statistics
import sys
import threading
import time

OPEN = ("(i.reported_state = 'scheduled' OR i.reported_state = 'late' "
        "OR i.reported_state = 'paused')")
TOTALS = f"""SELECT currency, SUM(n), SUM(amount), SUM(fees),
 SUM(CASE WHEN due_date < :today THEN n ELSE 0 END),
 SUM(CASE WHEN due_date < :today THEN amount ELSE 0 END)
 FROM (SELECT i.reported_state, i.due_date, i.currency, COUNT(*) AS n,
 SUM(i.amount_minor) AS amount, SUM(i.late_fee_minor) AS fees
 FROM installments i WHERE 1 = 1 AND {OPEN} AND i.due_date <= :end {{part}}
 GROUP BY i.reported_state, i.due_date, i.currency)
 GROUP BY currency ORDER BY currency"""
WHOLE = TOTALS.format(part="")
EARLY = TOTALS.format(part="AND i.due_date < :split")
LATE = TOTALS.format(part="AND i.due_date >= :split")
COUNT = f"SELECT COUNT(*) FROM installments i WHERE {OPEN} AND i.due_date <= :end"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, today = sys.argv[1], datetime.date.fromisoformat(sys.argv[2])
    days = int(sys.argv[3]) if len(sys.argv) > 3 else 14
    calls = int(sys.argv[4]) if len(sys.argv) > 4 else 60
    args = {
        "today": today.isoformat(),
        "end": (today + datetime.timedelta(days=days)).isoformat(),
        # `split_day`: the middle day between today and the window's end.
        "split": (today + datetime.timedelta(days=days // 2)).isoformat(),
    }
    first = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    second = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def run(conn, sql):
        return conn.execute(sql, args).fetchall()

    def at_once():
        late = {}
        t = threading.Thread(target=lambda: late.update(rows=run(second, LATE)))
        t.start()
        early = run(first, EARLY)
        t.join()
        return early, late["rows"]

    ways = {
        "count of the window's open rows": lambda: run(first, COUNT),
        "totals, one query": lambda: run(first, WHOLE),
        "totals, two halves at once": at_once,
        "totals, two halves one after the other": lambda: (run(first, EARLY), run(second, LATE)),
    }
    times = {name: [] for name in ways}
    for _ in range(calls):
        for name, way in ways.items():
            started = time.perf_counter()
            way()
            times[name].append((time.perf_counter() - started) * 1000)

    whole = run(first, WHOLE)
    early, late = at_once()
    merged = {}
    for row in early + late:
        merged[row[0]] = [a + b for a, b in zip(merged.get(row[0], [0] * 5), row[1:])]
    if [(c, *v) for c, v in sorted(merged.items())] != [tuple(r) for r in whole]:
        sys.exit(f"the halves do not add up: {early} + {late} != {whole}")
    rows = run(first, COUNT)[0][0]
    print(f"window {args['today']} .. {args['end']}, split at {args['split']}: {rows} open rows")
    for name, t in times.items():
        print(f"{name:42} p50 {statistics.median(t):8.2f} ms")


if __name__ == "__main__":
    main()
