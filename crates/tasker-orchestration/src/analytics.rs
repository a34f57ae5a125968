//! Analytics: performance over a time window and per-step bottlenecks.

use chrono::{Duration, Utc};
use tasker_core::TaskState;

use crate::error::Error;
use crate::orchestrator::Orchestrator;
use crate::views;
use tasker_proto::api::{BottlenecksView, PerformanceView, StepBottleneck};

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl Orchestrator {
    /// Counts, rates, durations and throughput over the last `hours` (default 24, max 720).
    pub async fn performance(&self, hours: Option<u32>) -> Result<PerformanceView, Error> {
        let hours = hours.unwrap_or(24);
        if !(1..=720).contains(&hours) {
            return Err(Error::BadRequest("hours must be between 1 and 720".into()));
        }
        let stats = self
            .inner
            .store
            .performance(Utc::now() - Duration::hours(i64::from(hours)))
            .await?;
        let failed = [TaskState::BlockedByFailures, TaskState::Error]
            .iter()
            .map(|s| stats.tasks_by_status.get(s).copied().unwrap_or(0))
            .sum();
        Ok(PerformanceView {
            window_hours: hours,
            tasks_created: stats.tasks_created,
            completion_rate: ratio(stats.tasks_completed, stats.tasks_created),
            error_rate: ratio(failed, stats.tasks_created),
            tasks_by_status: views::tasks_by_status(stats.tasks_by_status),
            tasks_completed: stats.tasks_completed,
            avg_task_duration_ms: stats.avg_task_duration_ms,
            step_attempts: stats.step_attempts,
            step_failures: stats.step_failures,
            step_error_rate: ratio(stats.step_failures, stats.step_attempts),
            avg_step_duration_ms: stats.avg_step_duration_ms,
            throughput_tasks_per_hour: stats.tasks_completed as f64 / f64::from(hours),
        })
    }

    /// The slowest steps and the most error-prone ones.
    pub async fn bottlenecks(&self, limit: Option<u32>) -> Result<BottlenecksView, Error> {
        let limit = limit.unwrap_or(10).clamp(1, 100);
        let all = self.inner.store.step_statistics(1000).await?;
        let with_rate: Vec<StepBottleneck> = all
            .into_iter()
            .map(|stats| {
                let rate = ratio(stats.failures, stats.executions);
                views::bottleneck(stats, rate)
            })
            .collect();
        let limit = usize::try_from(limit).unwrap_or(10);
        let slowest_steps = with_rate.iter().take(limit).cloned().collect();
        let mut error_prone: Vec<StepBottleneck> =
            with_rate.into_iter().filter(|b| b.failures > 0).collect();
        error_prone.sort_by(|a, b| b.error_rate.total_cmp(&a.error_rate));
        error_prone.truncate(limit);
        Ok(BottlenecksView {
            slowest_steps,
            error_prone_steps: error_prone,
        })
    }
}
