//! Templates on disk are read like any other input: a `*.yaml` that is a FIFO, a directory or
//! larger than the template limit, or a document past the nesting limit, is an error naming the
//! file, and loading never blocks on it.

use std::sync::mpsc;
use std::time::Duration;

use tasker_core::MAX_TEMPLATE_BYTES;
use tasker_store::{TemplateLoadError, load_templates};

/// Generous deadline separating "refused" from "hangs" (opening a FIFO with no writer).
const HANG_GUARD: Duration = Duration::from_secs(60);

fn problems(dir: &std::path::Path) -> Vec<String> {
    let paths = vec![dir.display().to_string()];
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load_templates(&paths));
    });
    match rx
        .recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("hang guard: loading did not return"))
    {
        Err(TemplateLoadError::Invalid(problems)) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn hostile_template_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("a-fifo.yaml"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(
        dir.path().join("b-big.yaml"),
        format!("# {}\n", "x".repeat(MAX_TEMPLATE_BYTES)),
    )
    .unwrap();
    std::fs::write(dir.path().join("c-deep.yaml"), "{a: ".repeat(20_000)).unwrap();
    let found = problems(dir.path());
    let expect = [
        ("a-fifo.yaml", "it is a FIFO, not a regular file"),
        ("b-big.yaml", "larger than 256 KiB"),
        (
            "c-deep.yaml",
            "template document nests deeper than 32 levels",
        ),
    ];
    assert_eq!(found.len(), expect.len(), "{found:?}");
    for (problem, (file, reason)) in found.iter().zip(expect) {
        assert!(
            problem.contains(&dir.path().join(file).display().to_string())
                && problem.contains(reason),
            "{problem}"
        );
    }
}
