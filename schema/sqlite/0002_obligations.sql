-- Issue 3: the installment lifecycle and the cross-provider obligations view.
--
-- `installments.state` is the state the mirror shows (the provider's report
-- plus `due`/`late` derived from the clock, with a 7-day grace period),
-- materialized by each sync so that every change, including one caused by the
-- clock alone, is recorded in installment_history with cause 'clock'.
-- The views below derive the state from the current date themselves, so they
-- are right even when no sync ran today. Amounts are never summed across currencies.

ALTER TABLE installments ADD COLUMN state TEXT;

CREATE INDEX installments_state_due ON installments (state, due_date);

-- Every reconciliation of a snapshot against its ledger, gap or not.
CREATE TABLE reconciliation_checks (
    id             INTEGER PRIMARY KEY,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('balance', 'points')),
    ledger         TEXT NOT NULL,
    currency       TEXT,
    snapshot_minor INTEGER NOT NULL,
    entries_minor  INTEGER NOT NULL,
    gap_minor      INTEGER NOT NULL,
    as_of          TEXT NOT NULL,
    checked_at     TEXT NOT NULL
);

CREATE INDEX reconciliation_checks_account ON reconciliation_checks (account_id, kind, ledger, checked_at);

CREATE VIEW installment_states AS
SELECT i.id AS installment_id,
       a.provider,
       a.external_id AS account,
       p.external_id AS purchase,
       p.merchant,
       p.plan,
       i.seq,
       i.due_date,
       i.amount_minor,
       i.late_fee_minor,
       i.currency,
       i.reported_state,
       CASE
           WHEN i.reported_state = 'scheduled' AND i.due_date < date('now', '-7 days') THEN 'late'
           WHEN i.reported_state = 'scheduled' AND i.due_date <= date('now') THEN 'due'
           ELSE i.reported_state
       END AS state,
       CAST(julianday(i.due_date) - julianday(date('now')) AS INTEGER) AS days_until_due
FROM installments i
JOIN purchases p ON p.id = i.purchase_id
JOIN accounts a ON a.id = i.account_id;

-- Open installments (money still owed), soonest first, overdue included.
CREATE VIEW upcoming_installments AS
SELECT * FROM installment_states
WHERE state IN ('scheduled', 'due', 'late', 'paused')
ORDER BY due_date, provider, account, purchase, seq;

-- What is owed per provider and currency, and how many plans are stacked.
CREATE VIEW outstanding_by_provider AS
SELECT provider,
       currency,
       SUM(amount_minor + late_fee_minor) AS outstanding_minor,
       COUNT(*) AS open_installments,
       COUNT(DISTINCT account || '/' || purchase) AS active_plans,
       SUM(CASE WHEN state = 'late' THEN amount_minor + late_fee_minor ELSE 0 END) AS late_minor,
       SUM(CASE WHEN state <> 'paused' AND days_until_due <= 7 THEN amount_minor + late_fee_minor ELSE 0 END) AS due_7d_minor,
       SUM(CASE WHEN state <> 'paused' AND days_until_due <= 14 THEN amount_minor + late_fee_minor ELSE 0 END) AS due_14d_minor,
       SUM(CASE WHEN state <> 'paused' AND days_until_due <= 30 THEN amount_minor + late_fee_minor ELSE 0 END) AS due_30d_minor
FROM upcoming_installments
GROUP BY provider, currency;

-- Plan stacking: active plans per provider and account.
CREATE VIEW active_plans AS
SELECT provider, account, COUNT(DISTINCT purchase) AS active_plans, currency,
       SUM(amount_minor + late_fee_minor) AS outstanding_minor
FROM upcoming_installments
GROUP BY provider, account, currency;

-- Cash-flow forecast: what leaves each week (weeks start on Monday); overdue
-- amounts fall in the current week. Paused installments are not forecast.
CREATE VIEW cashflow_by_week AS
SELECT CASE WHEN due_date < date('now') THEN date('now', '-6 days', 'weekday 1')
            ELSE date(due_date, '-6 days', 'weekday 1') END AS week_start,
       currency,
       SUM(amount_minor + late_fee_minor) AS amount_minor,
       COUNT(*) AS installments
FROM upcoming_installments
WHERE state <> 'paused'
GROUP BY week_start, currency
ORDER BY week_start, currency;

-- The latest balance snapshot of each ledger against the sum of its booked
-- entries up to the snapshot's time. Only `available` balances are checked:
-- they are what a full-history ledger sums to (a PSD2 feed holds 90 days).
CREATE VIEW balance_reconciliation AS
SELECT s.account_id,
       s.ledger,
       s.currency,
       s.amount_minor AS snapshot_minor,
       COALESCE((SELECT SUM(e.amount_minor) FROM balance_entries e
                 WHERE e.account_id = s.account_id AND e.ledger = s.ledger
                   AND e.currency = s.currency AND e.booking = 'booked'
                   AND e.occurred_at <= s.as_of), 0) AS entries_minor,
       s.as_of
FROM balance_snapshots s
WHERE s.balance_type = 'available'
  AND s.as_of = (SELECT MAX(s2.as_of) FROM balance_snapshots s2
                 WHERE s2.account_id = s.account_id AND s2.ledger = s.ledger
                   AND s2.balance_type = s.balance_type AND s2.currency = s.currency);

CREATE VIEW points_reconciliation AS
SELECT s.account_id,
       s.points AS snapshot_points,
       COALESCE((SELECT SUM(e.points) FROM points_entries e
                 WHERE e.account_id = s.account_id AND e.occurred_at <= s.as_of), 0) AS entries_points,
       s.as_of
FROM points_snapshots s
WHERE s.as_of = (SELECT MAX(s2.as_of) FROM points_snapshots s2 WHERE s2.account_id = s.account_id);

-- The latest check of each ledger that found a gap.
CREATE VIEW reconciliation_gaps AS
SELECT a.provider, a.external_id AS account, c.kind, c.ledger, c.currency,
       c.snapshot_minor, c.entries_minor, c.gap_minor, c.as_of, c.checked_at
FROM reconciliation_checks c
JOIN accounts a ON a.id = c.account_id
WHERE c.gap_minor <> 0
  AND c.checked_at = (SELECT MAX(c2.checked_at) FROM reconciliation_checks c2
                      WHERE c2.account_id = c.account_id AND c2.kind = c.kind AND c2.ledger = c.ledger);
