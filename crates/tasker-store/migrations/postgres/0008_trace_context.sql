-- The W3C trace context (`traceparent` form) of the request that created a task, so the spans
-- of its steps, on any worker process, join the task's trace. NULL when tracing was off.
ALTER TABLE tasks ADD COLUMN trace_parent TEXT;
