//! Step logs: one attempt's stored lines, and a follower that yields them as the worker stores
//! them until the attempt ends. Both are scoped like the other step reads (`steps:read`): a
//! step of a task outside the caller's scope does not exist for it.

use std::collections::VecDeque;
use std::time::Duration;

use tasker_core::StepState;
use tasker_core::store::{StepLogLine, StepRecord};
use tasker_proto::Scope;
use tasker_proto::api::{StepLogEnd, StepLogLineView, StepLogView};
use uuid::Uuid;

use crate::error::Error;
use crate::orchestrator::Orchestrator;

/// Lines read per store call.
const PAGE: u32 = 1000;
/// How often a follower looks for new lines of a running attempt.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// What a followed step log yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StepLogEvent {
    /// A stored line.
    Line(StepLogLineView),
    /// The attempt reached its cap; no later line is kept.
    Truncated,
    /// The attempt ended; nothing follows.
    End(StepLogEnd),
}

/// Yields an attempt's lines as they are stored; see [`Orchestrator::follow_step_log`].
#[derive(Debug)]
pub struct StepLogFollower {
    orchestrator: Orchestrator,
    task_uuid: Uuid,
    step_uuid: Uuid,
    /// 0 until the step's first attempt starts.
    attempt: u32,
    after: u64,
    truncated: bool,
    pending: VecDeque<StepLogEvent>,
    done: bool,
}

impl Orchestrator {
    /// The lines of one attempt (the latest when `attempt` is `None`).
    pub async fn step_log(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        attempt: Option<u32>,
        scope: &Scope,
    ) -> Result<StepLogView, Error> {
        let step = self.visible_step(task_uuid, step_uuid, scope).await?;
        let attempt = chosen_attempt(&step, attempt)?;
        let stored = self.log_lines(step_uuid, attempt, 0).await?;
        let truncated = stored.iter().any(|l| l.truncated);
        Ok(StepLogView {
            task_uuid,
            step_uuid,
            attempt,
            attempts: step.attempts,
            running: running(&step, attempt),
            lines: stored
                .into_iter()
                .filter(|l| !l.truncated)
                .map(line_view)
                .collect(),
            truncated,
        })
    }

    /// A follower of one attempt (the latest when `attempt` is `None`; the first when the step
    /// has not started yet). It yields the lines stored so far, then each new one, and ends
    /// with [`StepLogEvent::End`] once the attempt is over.
    pub async fn follow_step_log(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        attempt: Option<u32>,
        scope: &Scope,
    ) -> Result<StepLogFollower, Error> {
        let step = self.visible_step(task_uuid, step_uuid, scope).await?;
        let attempt = chosen_attempt(&step, attempt)?;
        Ok(StepLogFollower {
            orchestrator: self.clone(),
            task_uuid,
            step_uuid,
            attempt,
            after: 0,
            truncated: false,
            pending: VecDeque::new(),
            done: false,
        })
    }

    async fn visible_step(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        scope: &Scope,
    ) -> Result<StepRecord, Error> {
        self.visible_task(task_uuid, scope).await?;
        self.step_record(task_uuid, step_uuid).await
    }

    async fn step_record(&self, task_uuid: Uuid, step_uuid: Uuid) -> Result<StepRecord, Error> {
        self.inner
            .store
            .list_steps(task_uuid)
            .await?
            .into_iter()
            .find(|s| s.step_uuid == step_uuid)
            .ok_or_else(|| Error::NotFound(format!("step {step_uuid} of task {task_uuid}")))
    }

    /// Every stored line of the attempt after `after`.
    async fn log_lines(
        &self,
        step_uuid: Uuid,
        attempt: u32,
        mut after: u64,
    ) -> Result<Vec<StepLogLine>, Error> {
        let mut all = Vec::new();
        loop {
            let page = self
                .inner
                .store
                .step_log(step_uuid, attempt, after, PAGE)
                .await?;
            let full = page.len() == PAGE as usize;
            after = page.last().map_or(after, |l| l.seq);
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }
}

impl StepLogFollower {
    /// The next event; `None` after [`StepLogEvent::End`].
    pub async fn next(&mut self) -> Result<Option<StepLogEvent>, Error> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.done {
                return Ok(None);
            }
            // The state is read before the lines: a worker stores an attempt's last lines
            // before its result, so once the attempt is seen over, this read has them all.
            let step = self
                .orchestrator
                .step_record(self.task_uuid, self.step_uuid)
                .await?;
            if self.attempt == 0 && step.attempts > 0 {
                self.attempt = 1;
            }
            let waiting = self.attempt == 0 && !step.status.is_terminal();
            let live = waiting || running(&step, self.attempt);
            if self.attempt > 0 {
                let lines = self
                    .orchestrator
                    .log_lines(self.step_uuid, self.attempt, self.after)
                    .await?;
                for line in lines {
                    self.after = line.seq;
                    if line.truncated {
                        self.truncated = true;
                        self.pending.push_back(StepLogEvent::Truncated);
                    } else {
                        self.pending.push_back(StepLogEvent::Line(line_view(line)));
                    }
                }
            }
            if !live {
                self.done = true;
                self.pending.push_back(StepLogEvent::End(StepLogEnd {
                    status: step.status.as_str().to_owned(),
                    truncated: self.truncated,
                }));
            } else if self.pending.is_empty() {
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        }
    }
}

fn chosen_attempt(step: &StepRecord, attempt: Option<u32>) -> Result<u32, Error> {
    match attempt {
        None => Ok(step.attempts),
        Some(0) => Err(Error::BadRequest("attempt starts at 1".into())),
        Some(n) if n > step.attempts => Err(Error::NotFound(format!(
            "attempt {n} of step {} (it has made {})",
            step.step_uuid, step.attempts
        ))),
        Some(n) => Ok(n),
    }
}

/// Whether `attempt` is the step's attempt in progress.
fn running(step: &StepRecord, attempt: u32) -> bool {
    step.status == StepState::InProgress && step.attempts == attempt && attempt > 0
}

fn line_view(line: StepLogLine) -> StepLogLineView {
    StepLogLineView {
        seq: line.seq,
        at: line.at,
        line: line.line,
    }
}
