-- SQLite plans a statement when it is prepared, from the statistics in sqlite_stat1. With
-- none, it assumes that an equality on any indexed column matches about ten rows, so for
-- `status = ? AND step_uuid IN (...)` it walked every step of that status (under a backlog of
-- 20,000 tasks, 60,000 pending steps for each step recorded) instead of looking the ids up.
-- These figures describe a large store: a million steps over five statuses, a few steps per
-- task and per parent. The planner only compares them, so their proportions matter, not the
-- counts; a later ANALYZE replaces them with measured ones. Tables not listed keep SQLite's
-- defaults.
ANALYZE sqlite_master;
DELETE FROM sqlite_stat1 WHERE tbl IN ('steps', 'step_edges', 'step_leases');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('steps', 'sqlite_autoindex_steps_1', '1000000 1'),
    ('steps', 'steps_task', '1000000 5 1'),
    ('steps', 'steps_task_status', '1000000 5 2'),
    ('steps', 'steps_claim_order', '1000000 200000 2 1'),
    ('steps', 'steps_wait_until', '1000 1'),
    ('step_edges', 'sqlite_autoindex_step_edges_1', '1000000 2 1'),
    ('step_edges', 'step_edges_task', '1000000 5'),
    ('step_edges', 'step_edges_child', '1000000 2'),
    ('step_leases', 'sqlite_autoindex_step_leases_1', '10000 1'),
    ('step_leases', 'step_leases_expiry', '10000 10');
