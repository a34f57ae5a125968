-- Dynamic workflows: a step's type and origin, the template step it comes from (the worker's
-- name for a batch copy), a copy's batch position and handler input, and the plan of a
-- dynamic task's whole shape (every template step, created or not).
ALTER TABLE steps ADD COLUMN step_type TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE steps ADD COLUMN origin TEXT NOT NULL DEFAULT 'template';
ALTER TABLE steps ADD COLUMN template_step TEXT;
ALTER TABLE steps ADD COLUMN batch_index BIGINT;
ALTER TABLE steps ADD COLUMN batch_input TEXT;

CREATE TABLE task_plans (
    task_uuid TEXT PRIMARY KEY REFERENCES tasks (task_uuid),
    plan TEXT NOT NULL
);

-- Parents of a step (claims read them; a join after a fan-out has thousands).
CREATE INDEX step_edges_child ON step_edges (child_uuid);

-- Parents of a step not yet complete or resolved: a step becomes ready at zero, so a result
-- checks its children without reading their other parents.
ALTER TABLE steps ADD COLUMN unmet_parents BIGINT NOT NULL DEFAULT 0;
UPDATE steps SET unmet_parents = (
    SELECT COUNT(*) FROM step_edges e JOIN steps p ON p.step_uuid = e.parent_uuid
    WHERE e.child_uuid = steps.step_uuid AND p.status NOT IN ('complete', 'resolved_manually')
);
CREATE INDEX steps_task_status ON steps (task_uuid, status);

-- Claims take enqueued steps in (ready_at, position) order; with thousands of copies enqueued
-- at once the index gives that order instead of a sort per claim.
CREATE INDEX steps_claim_order ON steps (status, ready_at, position);
