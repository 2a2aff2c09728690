-- Issue 6: index the installments that are still owed, not the history.
--
-- Two installment indexes are keyed by due date across every account:
-- installments_by_state_due (0005, for `bnpl due`) and installments_refresh
-- (0004, for refresh_states). A page's installments land on scattered leaf
-- pages of both, and with WAL every transaction rewrites each page it
-- touched: those two indexes were half the cost of applying a page. Most
-- mirrored installments are paid or cancelled, and neither reader ever asks
-- for those, so both become partial indexes of the rows they read:
--
-- * bnpl due and the API read open rows: reported 'scheduled', 'late' or
--   'paused'. Queries must repeat this exact IN list (in this order) for the
--   planner to use the index; `sqlite::read` builds it from the state
--   machine and a test checks it matches this file.
-- * refresh_states only visits rows reported 'scheduled' (the clock changes
--   nothing else).
DROP INDEX installments_by_state_due;
CREATE INDEX installments_by_state_due
    ON installments (reported_state, due_date, currency, amount_minor, late_fee_minor)
    WHERE reported_state IN ('scheduled', 'late', 'paused');

DROP INDEX installments_refresh;
CREATE INDEX installments_refresh ON installments (state, due_date)
    WHERE reported_state = 'scheduled';
