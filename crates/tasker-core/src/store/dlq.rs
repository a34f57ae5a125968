//! Dead-letter queue entries, their reasons and resolution states, filters and counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Why a task is in the DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlqReason {
    /// A step failed permanently.
    MaxRetriesExceeded,
    /// The task waited too long in one state.
    StalenessTimeout,
    /// Put there by an operator.
    Manual,
}

/// Investigation progress of a DLQ entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionStatus {
    /// Not handled yet.
    Pending,
    /// Fixed by an operator.
    ManuallyResolved,
    /// Given up.
    PermanentlyFailed,
    /// Withdrawn.
    Cancelled,
}

macro_rules! text_enum {
    ($t:ty, { $($v:path => $s:literal),+ }) => {
        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$($v),+];
            /// The snake_case name.
            pub fn as_str(self) -> &'static str { match self { $($v => $s),+ } }
            /// Parses the snake_case name.
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($v),)+ _ => None } }
        }
    };
}
text_enum!(DlqReason, { DlqReason::MaxRetriesExceeded => "max_retries_exceeded",
    DlqReason::StalenessTimeout => "staleness_timeout", DlqReason::Manual => "manual" });
text_enum!(ResolutionStatus, { ResolutionStatus::Pending => "pending",
    ResolutionStatus::ManuallyResolved => "manually_resolved",
    ResolutionStatus::PermanentlyFailed => "permanently_failed",
    ResolutionStatus::Cancelled => "cancelled" });

/// A DLQ entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqEntry {
    /// Id.
    pub dlq_entry_uuid: Uuid,
    /// Task concerned.
    pub task_uuid: Uuid,
    /// Failed step, when one caused the entry.
    pub step_uuid: Option<Uuid>,
    /// Why.
    pub dlq_reason: DlqReason,
    /// Progress.
    pub resolution_status: ResolutionStatus,
    /// Operator notes.
    pub notes: Option<String>,
    /// Who resolved it.
    pub resolver: Option<String>,
    /// The task (and its steps) when the entry was opened.
    pub task_snapshot: Value,
    /// Priority of the task, for the investigation queue.
    pub priority: i32,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it left `pending`.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// DLQ list filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DlqFilter {
    /// This entry only.
    pub dlq_entry_uuid: Option<Uuid>,
    /// Entries of this task.
    pub task_uuid: Option<Uuid>,
    /// Entries of tasks in these namespaces only; `None` for every namespace.
    pub namespaces: Option<Vec<String>>,
    /// Entries in this status.
    pub resolution_status: Option<ResolutionStatus>,
    /// Entries with this reason.
    pub dlq_reason: Option<DlqReason>,
    /// Order by task priority (highest first) instead of newest first.
    pub by_priority: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
}

/// A change to a DLQ entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqUpdate {
    /// New status.
    pub resolution_status: Option<ResolutionStatus>,
    /// Replaces the notes.
    pub notes: Option<String>,
    /// Who makes the change.
    pub resolver: String,
}

/// Entry counts for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqStat {
    /// The reason.
    pub dlq_reason: DlqReason,
    /// All entries.
    pub total: u64,
    /// Entries per resolution status.
    pub by_status: BTreeMap<ResolutionStatus, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dlq_enums_use_snake_case() {
        assert_eq!(
            serde_json::to_value(DlqReason::MaxRetriesExceeded).unwrap(),
            "max_retries_exceeded"
        );
        assert_eq!(
            ResolutionStatus::parse("manually_resolved"),
            Some(ResolutionStatus::ManuallyResolved)
        );
        assert_eq!(DlqReason::parse("bogus"), None);
    }
}
