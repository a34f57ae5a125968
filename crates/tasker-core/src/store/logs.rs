//! Step log values: the lines a worker appends for one attempt of a step, and the lines read
//! back from the store.

use chrono::{DateTime, Utc};

/// A line a worker appends to an attempt's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogLine {
    /// When the worker read or received it.
    pub at: DateTime<Utc>,
    /// The text, without its line ending.
    pub line: String,
    /// Whether this is the marker saying the attempt's cap was reached (no line follows it).
    pub truncated: bool,
}

/// A stored line of an attempt's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLogLine {
    /// Increasing position in the store; the cursor for reading on (`after_seq`).
    pub seq: u64,
    /// When the worker read or received it.
    pub at: DateTime<Utc>,
    /// The text.
    pub line: String,
    /// Whether this is the truncation marker.
    pub truncated: bool,
}
