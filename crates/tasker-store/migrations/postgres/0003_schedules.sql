-- Schedules and their runs. A run row per (schedule, fire time) is inserted in the
-- transaction that creates the fired task; its primary key makes each fire time fire at most
-- once across every server. Template schedules carry their position in the template's
-- `schedules:` list (NULL for API schedules).
CREATE TABLE schedules (
    schedule_uuid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    context TEXT NOT NULL,
    overlap TEXT NOT NULL,
    catchup TEXT NOT NULL,
    paused BIGINT NOT NULL,
    description TEXT,
    created_by TEXT NOT NULL,
    template_index BIGINT,
    next_fire_at BIGINT,
    last_fired_at BIGINT,
    last_task_uuid TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX schedules_due ON schedules (paused, next_fire_at);
CREATE INDEX schedules_template ON schedules (namespace, name);
CREATE UNIQUE INDEX schedules_declared ON schedules (namespace, name, template_index)
    WHERE template_index IS NOT NULL;

CREATE TABLE schedule_runs (
    schedule_uuid TEXT NOT NULL,
    scheduled_for BIGINT NOT NULL,
    result TEXT NOT NULL,
    task_uuid TEXT,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (schedule_uuid, scheduled_for)
);

ALTER TABLE tasks ADD COLUMN scheduled_for BIGINT;
