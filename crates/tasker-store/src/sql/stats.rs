//! Analytics over tasks and recorded attempts.

use chrono::{DateTime, Utc};
use tasker_core::StoreError;
use tasker_core::store::{PerformanceStats, StepStatistics};

use super::SqlStore;
use crate::db::args;

impl SqlStore {
    pub(super) async fn performance_impl(
        &self,
        since: DateTime<Utc>,
    ) -> Result<PerformanceStats, StoreError> {
        let mut stats = PerformanceStats::default();
        for r in self
            .pool
            .all(
                "SELECT status, COUNT(*) AS n FROM tasks WHERE created_at >= $1 GROUP BY status",
                args![since],
            )
            .await?
        {
            let n = u64::try_from(r.int("n")?).unwrap_or(0);
            stats.tasks_created += n;
            stats.tasks_by_status.insert(r.parsed("status")?, n);
        }
        if let Some(r) = self
            .pool
            .one(
                "SELECT COUNT(*) AS n, CAST(AVG(completed_at - created_at) AS DOUBLE PRECISION) AS avg_ms \
                 FROM tasks WHERE status = 'complete' AND completed_at >= $1",
                args![since],
            )
            .await?
        {
            stats.tasks_completed = u64::try_from(r.int("n")?).unwrap_or(0);
            stats.avg_task_duration_ms = r.opt_float("avg_ms")?;
        }
        if let Some(r) = self
            .pool
            .one(
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(1 - success), 0) AS BIGINT) AS failures, \
                 CAST(AVG(duration_ms) AS DOUBLE PRECISION) AS avg_ms \
                 FROM step_results WHERE finished_at >= $1",
                args![since],
            )
            .await?
        {
            stats.step_attempts = u64::try_from(r.int("n")?).unwrap_or(0);
            stats.step_failures = u64::try_from(r.int("failures")?).unwrap_or(0);
            stats.avg_step_duration_ms = r.opt_float("avg_ms")?;
        }
        Ok(stats)
    }

    pub(super) async fn step_statistics_impl(
        &self,
        limit: u32,
    ) -> Result<Vec<StepStatistics>, StoreError> {
        let rows = self
            .pool
            .all(
                "SELECT t.namespace, t.name AS task_name, s.name AS step_name, COUNT(*) AS n, \
                 CAST(SUM(1 - r.success) AS BIGINT) AS failures, \
                 CAST(AVG(r.duration_ms) AS DOUBLE PRECISION) AS avg_ms, \
                 CAST(MAX(r.duration_ms) AS BIGINT) AS max_ms \
                 FROM step_results r JOIN steps s ON s.step_uuid = r.step_uuid \
                 JOIN tasks t ON t.task_uuid = r.task_uuid \
                 GROUP BY t.namespace, t.name, s.name ORDER BY avg_ms DESC LIMIT $1",
                args![i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StepStatistics {
                    namespace: r.text("namespace")?,
                    task_name: r.text("task_name")?,
                    step_name: r.text("step_name")?,
                    executions: u64::try_from(r.int("n")?).unwrap_or(0),
                    failures: u64::try_from(r.int("failures")?).unwrap_or(0),
                    avg_duration_ms: r.opt_float("avg_ms")?.unwrap_or(0.0),
                    max_duration_ms: r.int("max_ms")?,
                })
            })
            .collect()
    }
}
