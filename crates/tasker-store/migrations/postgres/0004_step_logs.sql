-- Step logs: the stderr lines of each attempt of a step (`builtin.command`), and lines Rust
-- handlers write through their step log. `id` orders the lines and is the follow cursor; a
-- `truncated` row marks the point where the attempt's cap was reached.
CREATE TABLE step_log_lines (
    id BIGSERIAL PRIMARY KEY,
    step_uuid TEXT NOT NULL,
    task_uuid TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    line TEXT NOT NULL,
    truncated BIGINT NOT NULL
);
CREATE INDEX step_log_lines_attempt ON step_log_lines (step_uuid, attempt, id);
CREATE INDEX step_log_lines_task ON step_log_lines (task_uuid);
