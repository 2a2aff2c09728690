-- The same as schema/sqlite/0005_due_index.sql: open installments due by a
-- date are read through (reported_state, due_date), not through the old
-- (due_date, reported_state) that walked every historical installment of the
-- range. currency and the amounts are INCLUDEd so that the per-currency
-- totals can be an index-only scan once the table is vacuumed. Nothing else
-- needs the old index.
CREATE INDEX installments_by_state_due
    ON installments (reported_state, due_date) INCLUDE (currency, amount_minor, late_fee_minor);
DROP INDEX installments_by_due_state;
