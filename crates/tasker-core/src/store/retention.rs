//! Retention: what purging finished tasks deletes (or, in a dry run, would delete).

use serde::Serialize;

/// Rows deleted by a purge, or counted by a dry run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCount {
    /// Finished tasks.
    pub tasks: u64,
    /// Their steps (with the dependency edges between them).
    pub steps: u64,
    /// Their audit-trail rows.
    pub transitions: u64,
    /// Their recorded attempt results.
    pub results: u64,
    /// Their DLQ entries, all resolved (a task with a pending entry is never purged).
    pub dlq_entries: u64,
}

impl PurgeCount {
    /// Adds another batch's counts to these.
    pub fn add(&mut self, other: PurgeCount) {
        self.tasks += other.tasks;
        self.steps += other.steps;
        self.transitions += other.transitions;
        self.results += other.results;
        self.dlq_entries += other.dlq_entries;
    }
}
