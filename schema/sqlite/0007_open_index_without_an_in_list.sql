-- Issue 6, round 9: the open-installments index without a three-value IN.
--
-- SQLite evaluates a partial index's condition on every write to the table
-- (insert, and on update both the old and the new row). An IN over three or
-- more constants is evaluated by building a temporary b-tree of the list,
-- once per statement execution; the writer runs one statement per
-- installment, so each installment write built three of them. In `perf`
-- and callgrind that was about a tenth of a sync's instructions (opening,
-- filling and freeing those b-trees). The same condition spelt as equalities
-- joined by OR is three comparisons.
--
-- Queries must repeat this exact condition (in this order) for the planner
-- to use the index; `sqlite::read::open_states_condition` builds it from the
-- state machine and a test checks it matches this file. The planner still
-- seeks the index once per state: it reads an OR of equalities on one column
-- as an IN.
DROP INDEX installments_by_state_due;
CREATE INDEX installments_by_state_due
    ON installments (reported_state, due_date, currency, amount_minor, late_fee_minor)
    WHERE (reported_state = 'scheduled' OR reported_state = 'late' OR reported_state = 'paused');
