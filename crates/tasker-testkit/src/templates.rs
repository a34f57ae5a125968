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
