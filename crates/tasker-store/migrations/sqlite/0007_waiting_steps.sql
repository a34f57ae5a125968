-- Waiting steps and child tasks: a waiting step's deadline (an approval's timeout), and the
-- parent task and step of a task created by a `subtask` step.
ALTER TABLE steps ADD COLUMN wait_until BIGINT;
CREATE INDEX steps_wait_until ON steps (wait_until) WHERE wait_until IS NOT NULL;

ALTER TABLE tasks ADD COLUMN parent_task_uuid TEXT;
ALTER TABLE tasks ADD COLUMN parent_step_uuid TEXT;
CREATE INDEX tasks_parent ON tasks (parent_task_uuid) WHERE parent_task_uuid IS NOT NULL;
