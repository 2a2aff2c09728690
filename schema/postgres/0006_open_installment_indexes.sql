-- Issue 6: SQLite's 0006 makes the two due-date indexes of installments
-- partial (open rows only), because with WAL every SQLite transaction
-- rewrites each whole page it touched and a page's installments land on
-- scattered leaves. PostgreSQL logs row-level changes, not whole pages
-- (except the first change of a page after a checkpoint), and its due query
-- binds the open states as one array, against which the planner cannot
-- prove a partial index's condition. Nothing changes here; the version is
-- kept so both backends number their migrations alike.
SELECT 1;
