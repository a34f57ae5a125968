//! Templates the integration tests share.

/// `ops/broken`: `explode` fails permanently on its only attempt, so the task ends
/// `blocked_by_failures` with a DLQ entry; `after` depends on it and never runs.
pub const BROKEN: &str = r#"name: broken
namespace: ops
version: 1.0.0
description: A step that always fails permanently, then an echo.
steps:
  - name: explode
    handler: { callable: builtin.fail, initialization: { times: 100, retryable: false } }
    retry: { retryable: false, max_attempts: 1 }
  - name: after
    handler: { callable: builtin.echo }
    depends_on: [explode]
"#;

/// `ops/slow`: one step that sleeps for an hour, so a task stays running (and cancellable)
/// for as long as any test needs.
pub const SLOW: &str = r#"name: slow
namespace: ops
version: 1.0.0
description: Sleeps for an hour.
steps:
  - name: nap
    handler: { callable: builtin.sleep, initialization: { ms: 3600000 } }
"#;
