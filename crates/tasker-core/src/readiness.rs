//! Readiness and task-state derivation: which steps may be enqueued now, and what a task's
//! state is given the states of its steps.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::state::{StepState, TaskState};

/// What readiness needs to know about one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    /// Step id.
    pub id: Uuid,
    /// Current state.
    pub state: StepState,
    /// Ids of the steps it depends on.
    pub parents: Vec<Uuid>,
    /// Earliest time of the next attempt, for `waiting_for_retry` steps.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Steps that should move to `enqueued` now: `pending` steps whose parents are all
/// `complete` or `resolved_manually`, and `waiting_for_retry` steps whose retry time has come.
pub fn ready_steps(steps: &[StepView], now: DateTime<Utc>) -> Vec<Uuid> {
    let states: std::collections::HashMap<Uuid, StepState> =
        steps.iter().map(|s| (s.id, s.state)).collect();
    let satisfied = |id: &Uuid| states.get(id).is_some_and(|s| s.satisfies_dependents());
    steps
        .iter()
        .filter(|s| match s.state {
            StepState::Pending => s.parents.iter().all(satisfied),
            StepState::WaitingForRetry => s.retry_at.is_none_or(|at| at <= now),
            _ => false,
        })
        .map(|s| s.id)
        .collect()
}

/// The state a (not cancelled) task is in, given its steps' states.
pub fn derive_task_state(states: &[StepState]) -> TaskState {
    let any = |wanted: &[StepState]| states.iter().any(|s| wanted.contains(s));
    if states.iter().all(|s| s.satisfies_dependents()) {
        TaskState::Complete
    } else if any(&[StepState::Error]) {
        TaskState::BlockedByFailures
    } else if any(&[
        StepState::Enqueued,
        StepState::InProgress,
        StepState::Waiting,
    ]) {
        TaskState::StepsInProcess
    } else if any(&[StepState::WaitingForRetry]) {
        TaskState::WaitingForRetry
    } else if any(&[StepState::Cancelled]) {
        TaskState::Cancelled
    } else {
        TaskState::StepsInProcess
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn view(n: u128, state: StepState, parents: &[u128]) -> StepView {
        StepView {
            id: Uuid::from_u128(n),
            state,
            parents: parents.iter().map(|p| Uuid::from_u128(*p)).collect(),
            retry_at: None,
        }
    }

    #[test]
    fn diamond_join_waits_for_both_parents() {
        let now = Utc.timestamp_opt(1000, 0).unwrap();
        let mut steps = vec![
            view(1, StepState::Complete, &[]),
            view(2, StepState::Complete, &[1]),
            view(3, StepState::InProgress, &[1]),
            view(4, StepState::Pending, &[2, 3]),
        ];
        assert!(ready_steps(&steps, now).is_empty());
        steps[2].state = StepState::ResolvedManually;
        assert_eq!(ready_steps(&steps, now), vec![Uuid::from_u128(4)]);
        steps[2].state = StepState::Error;
        assert!(ready_steps(&steps, now).is_empty());
    }

    #[test]
    fn retry_waits_for_its_time() {
        let now = Utc.timestamp_opt(1000, 0).unwrap();
        let mut s = view(1, StepState::WaitingForRetry, &[]);
        s.retry_at = Some(Utc.timestamp_opt(1001, 0).unwrap());
        assert!(ready_steps(std::slice::from_ref(&s), now).is_empty());
        s.retry_at = Some(now);
        assert_eq!(ready_steps(&[s], now), vec![Uuid::from_u128(1)]);
    }

    #[test]
    fn task_state_follows_steps() {
        use StepState::*;
        assert_eq!(
            derive_task_state(&[Complete, ResolvedManually]),
            TaskState::Complete
        );
        assert_eq!(
            derive_task_state(&[Complete, Error, InProgress]),
            TaskState::BlockedByFailures
        );
        assert_eq!(
            derive_task_state(&[Complete, Enqueued, Pending]),
            TaskState::StepsInProcess
        );
        assert_eq!(
            derive_task_state(&[WaitingForRetry, Pending]),
            TaskState::WaitingForRetry
        );
        assert_eq!(
            derive_task_state(&[Cancelled, Complete]),
            TaskState::Cancelled
        );
    }
}
