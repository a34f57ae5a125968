//! Task and step state machines. Every change of state goes through `transition`, which refuses
//! moves the lifecycle does not allow.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An illegal state change, or an unknown state name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The lifecycle does not allow `from → to`.
    #[error("illegal {entity} transition from `{from}` to `{to}`")]
    Illegal {
        /// `task` or `step`.
        entity: &'static str,
        /// Current state.
        from: String,
        /// Requested state.
        to: String,
    },
    /// A state string that names no state.
    #[error("unknown {entity} state `{value}`")]
    UnknownState {
        /// `task` or `step`.
        entity: &'static str,
        /// The string.
        value: String,
    },
}

macro_rules! state_enum {
    ($(#[$m:meta])* $name:ident, $entity:literal, { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every state.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The snake_case name used on the wire and in storage.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Moves to `to` when the lifecycle allows it.
            pub fn transition(self, to: $name) -> Result<$name, TransitionError> {
                if self.can_transition_to(to) {
                    Ok(to)
                } else {
                    Err(TransitionError::Illegal {
                        entity: $entity,
                        from: self.as_str().to_owned(),
                        to: to.as_str().to_owned(),
                    })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = TransitionError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(TransitionError::UnknownState { entity: $entity, value: s.to_owned() }),
                }
            }
        }
    };
}

state_enum!(
    /// Lifecycle of a task.
    TaskState, "task", {
        /// Created, no step started yet.
        Pending => "pending",
        /// Steps are queued or running.
        StepsInProcess => "steps_in_process",
        /// Nothing runs; at least one step waits for its retry time.
        WaitingForRetry => "waiting_for_retry",
        /// A step failed permanently; an operator must act.
        BlockedByFailures => "blocked_by_failures",
        /// Every step completed (or was resolved).
        Complete => "complete",
        /// The task failed for good.
        Error => "error",
        /// Cancelled by a caller.
        Cancelled => "cancelled",
        /// Closed by an operator.
        ResolvedManually => "resolved_manually",
    }
);

state_enum!(
    /// Lifecycle of a step.
    StepState, "step", {
        /// Waiting for its parents.
        Pending => "pending",
        /// Ready and queued for a worker.
        Enqueued => "enqueued",
        /// Claimed by a worker holding a lease.
        InProgress => "in_progress",
        /// Waiting for something outside the workers (an approval, a child task); no lease
        /// is held and no worker capacity is used.
        Waiting => "waiting",
        /// Failed, will be enqueued again at its retry time.
        WaitingForRetry => "waiting_for_retry",
        /// Finished with a result.
        Complete => "complete",
        /// Failed permanently.
        Error => "error",
        /// Cancelled with its task.
        Cancelled => "cancelled",
        /// Closed by an operator without a result; dependents proceed.
        ResolvedManually => "resolved_manually",
    }
);

impl TaskState {
    /// No further transitions are possible.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Complete | Self::Error | Self::Cancelled | Self::ResolvedManually
        )
    }

    /// Whether the lifecycle allows `self → to`. Nothing returns to `pending`; terminal states
    /// are final; the active states move freely among themselves and to any end.
    pub fn can_transition_to(self, to: TaskState) -> bool {
        !self.is_terminal() && to != Self::Pending && to != self
    }

    /// Whether a rerun from one of its steps may start in this state (the task then returns
    /// to `steps_in_process`).
    pub fn can_rerun(self) -> bool {
        matches!(self, Self::Complete | Self::Error | Self::BlockedByFailures)
    }
}

impl StepState {
    /// No further transitions are possible.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Complete | Self::Cancelled | Self::ResolvedManually
        )
    }

    /// Counts as done for its dependents.
    pub fn satisfies_dependents(self) -> bool {
        matches!(self, Self::Complete | Self::ResolvedManually)
    }

    /// Cancelling a task cancels steps in these states.
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            Self::Pending
                | Self::Enqueued
                | Self::InProgress
                | Self::WaitingForRetry
                | Self::Waiting
        )
    }

    /// A rerun may reset a step in this state to `pending` (a step queued or running must
    /// finish or be cancelled first).
    pub fn can_rerun(self) -> bool {
        !matches!(self, Self::Enqueued | Self::InProgress)
    }

    /// Whether the lifecycle allows `self → to`.
    pub fn can_transition_to(self, to: StepState) -> bool {
        use StepState::*;
        match self {
            Pending => matches!(
                to,
                Enqueued | Waiting | Cancelled | ResolvedManually | Complete
            ),
            Enqueued => matches!(to, InProgress | Cancelled | ResolvedManually | Complete),
            Waiting => matches!(to, Complete | Error | Cancelled | ResolvedManually),
            InProgress => matches!(
                to,
                Complete | WaitingForRetry | Error | Enqueued | Cancelled
            ),
            WaitingForRetry => matches!(
                to,
                Enqueued | Cancelled | ResolvedManually | Complete | Error
            ),
            Error => matches!(to, Pending | Enqueued | ResolvedManually | Complete),
            Complete | Cancelled | ResolvedManually => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_snake_case() {
        for s in TaskState::ALL {
            assert_eq!(s.as_str().parse::<TaskState>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in StepState::ALL {
            assert_eq!(s.as_str().parse::<StepState>().unwrap(), *s);
        }
        assert_eq!(
            serde_json::to_string(&TaskState::BlockedByFailures).unwrap(),
            "\"blocked_by_failures\""
        );
        assert!("done".parse::<StepState>().is_err());
    }

    #[test]
    fn terminal_task_states_refuse_everything() {
        for from in [TaskState::Complete, TaskState::Cancelled, TaskState::Error] {
            for to in TaskState::ALL {
                assert!(from.transition(*to).is_err(), "{from} -> {to}");
            }
        }
        let err = TaskState::Cancelled
            .transition(TaskState::Cancelled)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal task transition from `cancelled` to `cancelled`"
        );
        assert!(
            TaskState::StepsInProcess
                .transition(TaskState::Pending)
                .is_err()
        );
        assert!(
            TaskState::BlockedByFailures
                .transition(TaskState::StepsInProcess)
                .is_ok()
        );
    }

    #[test]
    fn step_lifecycle() {
        use StepState::*;
        let path = [
            Pending,
            Enqueued,
            InProgress,
            WaitingForRetry,
            Enqueued,
            InProgress,
            Complete,
        ];
        for w in path.windows(2) {
            assert_eq!(w[0].transition(w[1]), Ok(w[1]));
        }
        assert!(Pending.transition(InProgress).is_err());
        assert!(Complete.transition(Enqueued).is_err());
        assert!(Cancelled.transition(Complete).is_err());
        assert!(Error.transition(ResolvedManually).is_ok());
        assert!(InProgress.transition(ResolvedManually).is_err());
    }

    #[test]
    fn waiting_steps_end_by_signal_timeout_or_cancel() {
        use StepState::*;
        assert!(Pending.transition(Waiting).is_ok());
        assert!(Enqueued.transition(Waiting).is_err());
        for to in [Complete, Error, Cancelled, ResolvedManually] {
            assert!(Waiting.transition(to).is_ok(), "waiting -> {to}");
        }
        for to in [Pending, Enqueued, InProgress, WaitingForRetry] {
            assert!(Waiting.transition(to).is_err(), "waiting -> {to}");
        }
        assert!(Waiting.is_unfinished());
        assert!(!Waiting.is_terminal());
        assert!(Waiting.can_rerun() && Complete.can_rerun() && !InProgress.can_rerun());
        assert!(TaskState::Complete.can_rerun() && !TaskState::StepsInProcess.can_rerun());
    }
}
