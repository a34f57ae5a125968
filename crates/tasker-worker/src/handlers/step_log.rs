//! `StepLog`: the handle through which a handler writes lines to the log of its attempt (what
//! `GET /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/logs` serves). `builtin.command`
//! writes its program's stderr lines here; Rust handlers call [`StepLog::line`].
//!
//! The cap (`[worker] step_log_max_bytes`) is enforced here, as lines are written: once the
//! attempt's lines reach it, one truncation marker is kept and every later line is dropped, so
//! a program printing without end costs at most the cap in memory and in the database.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use tasker_core::store::NewLogLine;
use tokio::sync::mpsc;

/// Longest line kept; a longer line is split into pieces of at most this many bytes.
pub(crate) const MAX_LINE_BYTES: usize = 8 * 1024;

/// Where one attempt's log lines go. Cheap to clone; every clone writes to the same log.
#[derive(Clone)]
pub struct StepLog {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    sender: mpsc::UnboundedSender<NewLogLine>,
    max_bytes: usize,
    state: Mutex<Budget>,
}

#[derive(Default)]
struct Budget {
    used: usize,
    truncated: bool,
}

impl std::fmt::Debug for StepLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepLog")
            .field("kept", &self.inner.is_some())
            .finish()
    }
}

/// Two handles are equal when they write to the same log (or both write nowhere).
impl PartialEq for StepLog {
    fn eq(&self, other: &Self) -> bool {
        match (&self.inner, &other.inner) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// The default log keeps nothing, like [`StepLog::discard`].
impl Default for StepLog {
    fn default() -> Self {
        Self::discard()
    }
}

impl StepLog {
    /// A log that keeps nothing (handlers called outside a worker, tests).
    pub fn discard() -> Self {
        Self { inner: None }
    }

    /// A log keeping at most `max_bytes` of lines, and the receiving end its writer drains.
    pub(crate) fn channel(max_bytes: usize) -> (Self, mpsc::UnboundedReceiver<NewLogLine>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let inner = Inner {
            sender,
            max_bytes,
            state: Mutex::new(Budget::default()),
        };
        (
            Self {
                inner: Some(Arc::new(inner)),
            },
            receiver,
        )
    }

    /// Writes `text` as one or more lines (split at line breaks; pieces longer than 8 KiB are
    /// split further). Never blocks; lines past the attempt's cap are dropped.
    pub fn line(&self, text: &str) {
        let Some(inner) = &self.inner else {
            return;
        };
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            for piece in pieces(line) {
                inner.push(piece);
            }
        }
    }

    /// Writes raw bytes of one line; bytes that are not UTF-8 become U+FFFD.
    pub(crate) fn bytes(&self, raw: &[u8]) {
        if self.inner.is_some() {
            self.line(&String::from_utf8_lossy(raw));
        }
    }
}

impl Inner {
    fn push(&self, piece: &str) {
        let mut budget = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if budget.truncated {
            return;
        }
        // A line costs its bytes plus one for the line break it had.
        let cost = piece.len() + 1;
        let at = Utc::now();
        if budget.used + cost > self.max_bytes {
            budget.truncated = true;
            let _ = self.sender.send(NewLogLine {
                at,
                line: format!(
                    "step log truncated: this attempt wrote more than {} bytes; later lines are not kept",
                    self.max_bytes
                ),
                truncated: true,
            });
            return;
        }
        budget.used += cost;
        let _ = self.sender.send(NewLogLine {
            at,
            line: piece.to_owned(),
            truncated: false,
        });
    }
}

/// `line` in pieces of at most [`MAX_LINE_BYTES`], cut at character boundaries.
fn pieces(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while rest.len() > MAX_LINE_BYTES {
        let mut cut = MAX_LINE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut mpsc::UnboundedReceiver<NewLogLine>) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while let Ok(l) = rx.try_recv() {
            out.push((l.line, l.truncated));
        }
        out
    }

    #[test]
    fn lines_are_split_and_capped() {
        let (log, mut rx) = StepLog::channel(14);
        log.line("one\r\ntwo");
        log.line("three");
        log.line("four");
        log.line("five");
        let lines = drain(&mut rx);
        assert_eq!(
            lines[..3],
            [
                ("one".to_owned(), false),
                ("two".to_owned(), false),
                ("three".to_owned(), false)
            ]
        );
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[3].1, "{lines:?}");
        assert!(lines[3].0.contains("more than 14 bytes"), "{lines:?}");
    }

    #[test]
    fn long_lines_and_bad_bytes() {
        let (log, mut rx) = StepLog::channel(1 << 20);
        let long = "é".repeat(MAX_LINE_BYTES);
        log.line(&long);
        log.bytes(b"ok \xff\xfe end");
        let lines = drain(&mut rx);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|(l, _)| l.len() <= MAX_LINE_BYTES));
        assert_eq!(lines[0].0.len() + lines[1].0.len(), long.len());
        assert_eq!(lines[2].0, "ok \u{fffd}\u{fffd} end");
    }

    #[test]
    fn a_full_log_keeps_one_marker() {
        StepLog::discard().line("nowhere");
        let (log, mut rx) = StepLog::channel(0);
        log.line("x");
        log.line("y");
        let lines = drain(&mut rx);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].1);
    }
}
