-- Issue 3: the installment lifecycle and the cross-provider obligations view.
-- See schema/sqlite/0002_obligations.sql for the commentary; the two define
-- the same columns.

ALTER TABLE installments ADD COLUMN state TEXT;

CREATE INDEX installments_state_due ON installments (state, due_date);

CREATE TABLE reconciliation_checks (
    id             BIGSERIAL PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('balance', 'points')),
    ledger         TEXT NOT NULL,
    currency       TEXT,
    snapshot_minor BIGINT NOT NULL,
    entries_minor  BIGINT NOT NULL,
    gap_minor      BIGINT NOT NULL,
    as_of          TIMESTAMPTZ NOT NULL,
    checked_at     TIMESTAMPTZ NOT NULL
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
           WHEN i.reported_state = 'scheduled' AND i.due_date < current_date - 7 THEN 'late'
           WHEN i.reported_state = 'scheduled' AND i.due_date <= current_date THEN 'due'
           ELSE i.reported_state
       END AS state,
       (i.due_date - current_date)::BIGINT AS days_until_due
FROM installments i
JOIN purchases p ON p.id = i.purchase_id
JOIN accounts a ON a.id = i.account_id;

CREATE VIEW upcoming_installments AS
SELECT * FROM installment_states
WHERE state IN ('scheduled', 'due', 'late', 'paused')
ORDER BY due_date, provider, account, purchase, seq;

CREATE VIEW outstanding_by_provider AS
SELECT provider,
       currency,
       SUM(amount_minor + late_fee_minor)::BIGINT AS outstanding_minor,
       COUNT(*) AS open_installments,
       COUNT(DISTINCT account || '/' || purchase) AS active_plans,
       SUM(CASE WHEN state = 'late' THEN amount_minor + late_fee_minor ELSE 0 END)::BIGINT AS late_minor,
       SUM(CASE WHEN state <> 'paused' AND days_until_due <= 7 THEN amount_minor + late_fee_minor ELSE 0 END)::BIGINT AS due_7d_minor,
       SUM(CASE WHEN state <> 'paused' AND days_until_due <= 14 THEN amount_minor + late_fee_minor ELSE 0 END)::BIGINT AS due_14d_minor,
       SUM(CASE WHEN state <> 'paused' AND days_until_due <= 30 THEN amount_minor + late_fee_minor ELSE 0 END)::BIGINT AS due_30d_minor
FROM upcoming_installments
GROUP BY provider, currency;

CREATE VIEW active_plans AS
SELECT provider, account, COUNT(DISTINCT purchase) AS active_plans, currency,
       SUM(amount_minor + late_fee_minor)::BIGINT AS outstanding_minor
FROM upcoming_installments
GROUP BY provider, account, currency;

CREATE VIEW cashflow_by_week AS
SELECT date_trunc('week', GREATEST(due_date, current_date))::date AS week_start,
       currency,
       SUM(amount_minor + late_fee_minor)::BIGINT AS amount_minor,
       COUNT(*) AS installments
FROM upcoming_installments
WHERE state <> 'paused'
GROUP BY 1, currency
ORDER BY 1, currency;

CREATE VIEW balance_reconciliation AS
SELECT s.account_id,
       s.ledger,
       s.currency,
       s.amount_minor AS snapshot_minor,
       COALESCE((SELECT SUM(e.amount_minor) FROM balance_entries e
                 WHERE e.account_id = s.account_id AND e.ledger = s.ledger
                   AND e.currency = s.currency AND e.booking = 'booked'
                   AND e.occurred_at <= s.as_of), 0)::BIGINT AS entries_minor,
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
                 WHERE e.account_id = s.account_id AND e.occurred_at <= s.as_of), 0)::BIGINT AS entries_points,
       s.as_of
FROM points_snapshots s
WHERE s.as_of = (SELECT MAX(s2.as_of) FROM points_snapshots s2 WHERE s2.account_id = s.account_id);

CREATE VIEW reconciliation_gaps AS
SELECT a.provider, a.external_id AS account, c.kind, c.ledger, c.currency,
       c.snapshot_minor, c.entries_minor, c.gap_minor, c.as_of, c.checked_at
FROM reconciliation_checks c
JOIN accounts a ON a.id = c.account_id
WHERE c.gap_minor <> 0
  AND c.checked_at = (SELECT MAX(c2.checked_at) FROM reconciliation_checks c2
                      WHERE c2.account_id = c.account_id AND c2.kind = c.kind AND c2.ledger = c.ledger);
