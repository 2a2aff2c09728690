-- `bnpl due` and the API ask for open installments due on or before a date:
-- `reported_state IN (<open states>) AND due_date <= ?`, ordered by due date.
-- The only index on due_date led with it, (due_date, reported_state), so that
-- range walked every historical, mostly paid, installment. Leading with
-- reported_state, one seek per open state reads only the open rows of the
-- window. currency and the amounts ride along so the per-currency totals of
-- `bnpl due` come from the index alone, without reading the table.
--
-- Nothing else reads installments by due_date first (the obligations views
-- derive their state from the clock and scan; refresh_states seeks
-- installments_refresh from 0004), so the old index goes: one index fewer
-- to maintain on every installment write.
CREATE INDEX installments_by_state_due
    ON installments (reported_state, due_date, currency, amount_minor, late_fee_minor);
DROP INDEX installments_by_due_state;
