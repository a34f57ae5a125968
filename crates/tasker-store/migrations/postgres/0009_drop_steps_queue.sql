-- steps_claim_order (status, ready_at, position) serves every query steps_queue (status,
-- ready_at) served; each step's status changes several times, and each change updated both.
DROP INDEX IF EXISTS steps_queue;
