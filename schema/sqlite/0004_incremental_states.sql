-- Issue 6: refresh_states follows what can change, not the table size.
--
-- Every installment upsert now sets `state` at write time: the provider's
-- state as it is when it is not 'scheduled' (NULL on insert, unchanged on
-- update when it is). So the clock can change only rows reported 'scheduled'
-- whose stored state is NULL or not a clock state, 'scheduled' on or past its
-- due date, 'due' before its due date or past the grace period, or 'late'
-- within it. refresh_states finds each of those by a seek on
-- installments_refresh instead of scanning every installment at every sync.

-- No statement uses (state, due_date) from 0002: no view or read query
-- filters on `state` (the views derive it from reported_state), and every
-- index costs each insert.
DROP INDEX installments_state_due;

-- Rows written before this version: a provider's state other than
-- 'scheduled' is the mirror's state.
UPDATE installments SET state = reported_state
WHERE reported_state <> 'scheduled' AND state IS NOT reported_state;

CREATE INDEX installments_refresh ON installments (reported_state, state, due_date);
