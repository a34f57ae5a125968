//! Step logs: appending an attempt's lines (one multi-row insert per chunk, in one
//! transaction) and reading them back after a cursor.

use tasker_core::StoreError;
use tasker_core::store::{NewLogLine, StepLogLine};
use uuid::Uuid;

use super::SqlStore;
use crate::db::{Arg, args};

/// Rows per `INSERT` (six parameters each, far below either backend's parameter limit).
const ROWS_PER_INSERT: usize = 200;

impl SqlStore {
    pub(super) async fn append_step_log_impl(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        attempt: u32,
        lines: &[NewLogLine],
    ) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for chunk in lines.chunks(ROWS_PER_INSERT) {
            let mut values = Vec::with_capacity(chunk.len());
            let mut a: Vec<Arg> = Vec::with_capacity(chunk.len() * 6);
            for (i, line) in chunk.iter().enumerate() {
                let p = i * 6;
                values.push(format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                ));
                a.extend(args![
                    step_uuid,
                    task_uuid,
                    i64::from(attempt),
                    line.at,
                    line.line.as_str(),
                    i64::from(line.truncated),
                ]);
            }
            let sql = format!(
                "INSERT INTO step_log_lines (step_uuid, task_uuid, attempt, at, line, truncated) VALUES {}",
                values.join(", ")
            );
            tx.exec(&sql, a).await?;
        }
        tx.commit().await
    }

    pub(super) async fn step_log_impl(
        &self,
        step_uuid: Uuid,
        attempt: u32,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StepLogLine>, StoreError> {
        let rows = self
            .pool
            .all(
                "SELECT id, at, line, truncated FROM step_log_lines \
                 WHERE step_uuid = $1 AND attempt = $2 AND id > $3 ORDER BY id LIMIT $4",
                args![
                    step_uuid,
                    i64::from(attempt),
                    i64::try_from(after_seq).unwrap_or(i64::MAX),
                    i64::from(limit)
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StepLogLine {
                    seq: u64::try_from(r.int("id")?).unwrap_or(0),
                    at: r.time("at")?,
                    line: r.text("line")?,
                    truncated: r.int("truncated")? != 0,
                })
            })
            .collect()
    }
}
