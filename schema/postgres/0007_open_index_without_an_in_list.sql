-- Issue 6, round 9: nothing to do on PostgreSQL; the version keeps both
-- backends' migration lists aligned.
--
-- SQLite's migration 0007 respells the condition of the partial index
-- installments_by_state_due as equalities joined by OR, because SQLite builds
-- a temporary b-tree for an IN over three constants at every write to the
-- table. PostgreSQL evaluates `reported_state IN ('scheduled', 'late',
-- 'paused')` as a scalar array comparison, with no such cost, so its index
-- (migration 0006) stays as it is.
SELECT 1;
