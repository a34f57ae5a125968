-- Engine schema. Ids are TEXT (UUID strings), times are BIGINT epoch milliseconds and JSON is
-- TEXT, so one SQL dialect serves both backends.
CREATE TABLE templates (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    definition TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name, version)
);

CREATE TABLE tasks (
    task_uuid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    context TEXT NOT NULL,
    created_by TEXT NOT NULL,
    initiator TEXT,
    source_system TEXT,
    reason TEXT,
    tags TEXT NOT NULL,
    priority BIGINT NOT NULL,
    correlation_id TEXT,
    idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE UNIQUE INDEX tasks_idempotency ON tasks (namespace, name, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_status ON tasks (status, status_changed_at);
CREATE INDEX tasks_created ON tasks (created_at);

CREATE TABLE steps (
    step_uuid TEXT PRIMARY KEY,
    task_uuid TEXT NOT NULL REFERENCES tasks (task_uuid),
    position BIGINT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    handler TEXT NOT NULL,
    initialization TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    retryable BIGINT NOT NULL,
    backoff_base_ms BIGINT NOT NULL,
    backoff_max_ms BIGINT NOT NULL,
    jitter_percent BIGINT NOT NULL,
    timeout_seconds BIGINT NOT NULL,
    results TEXT,
    last_error TEXT,
    ready_at BIGINT,
    retry_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX steps_task ON steps (task_uuid, position);
CREATE INDEX steps_queue ON steps (status, ready_at);

CREATE TABLE step_edges (
    task_uuid TEXT NOT NULL,
    parent_uuid TEXT NOT NULL REFERENCES steps (step_uuid),
    child_uuid TEXT NOT NULL REFERENCES steps (step_uuid),
    PRIMARY KEY (parent_uuid, child_uuid)
);
CREATE INDEX step_edges_task ON step_edges (task_uuid);

CREATE TABLE transitions (
    id BIGSERIAL PRIMARY KEY,
    task_uuid TEXT NOT NULL,
    step_uuid TEXT,
    from_state TEXT,
    to_state TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX transitions_task ON transitions (task_uuid, id);
CREATE INDEX transitions_step ON transitions (step_uuid, id);

CREATE TABLE step_results (
    id BIGSERIAL PRIMARY KEY,
    step_uuid TEXT NOT NULL,
    task_uuid TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    worker_id TEXT NOT NULL,
    success BIGINT NOT NULL,
    payload TEXT NOT NULL,
    backoff_ms BIGINT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX step_results_step ON step_results (step_uuid);
CREATE INDEX step_results_finished ON step_results (finished_at);

CREATE TABLE step_leases (
    step_uuid TEXT PRIMARY KEY,
    task_uuid TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    token TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX step_leases_expiry ON step_leases (expires_at);

CREATE TABLE dlq_entries (
    dlq_entry_uuid TEXT PRIMARY KEY,
    task_uuid TEXT NOT NULL,
    step_uuid TEXT,
    dlq_reason TEXT NOT NULL,
    resolution_status TEXT NOT NULL,
    notes TEXT,
    resolver TEXT,
    task_snapshot TEXT NOT NULL,
    priority BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX dlq_task ON dlq_entries (task_uuid);
CREATE INDEX dlq_status ON dlq_entries (resolution_status, priority);
