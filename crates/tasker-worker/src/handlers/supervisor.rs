//! The `builtin.command` supervisor: a small process between the worker and each program it
//! runs, so that a worker killed with SIGKILL does not leave step programs running.
//!
//! Without it a `kill -9` of the worker orphans the program (it leads its own process group,
//! which nothing kills any more), and the orphan keeps working on a step whose lease expires and
//! is claimed again: two executions of one step at once.
//!
//! The worker starts its own executable as `EXE __tasker-command-supervisor PARENT_PID PROGRAM
//! ARGS…`, as the leader of a new process group. The supervisor runs the program with the same
//! stdin, stdout, stderr and environment, in the same group, and exits with the program's exit
//! code (or dies by the program's signal). A watcher thread checks every
//! [`WATCH_INTERVAL`] that its parent is still the worker; once it is not, it kills the whole
//! group (program, its children and itself) with SIGKILL.
//!
//! Binaries opt in with [`enable_command_supervisor`] as the first line of `main`; a library
//! embedding the worker in a binary that cannot be re-executed runs programs directly and says
//! so once in its log.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::time::Duration;

use rustix::process::{Pid, Signal};

/// The first argument that turns an executable into the supervisor.
pub(crate) const SUPERVISOR_ARG: &str = "__tasker-command-supervisor";
/// How often the supervisor checks that the worker is still its parent.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// Exit code for a supervisor started wrongly (`EX_USAGE`).
const USAGE: i32 = 64;
/// Exit code asking for another attempt (`EX_TEMPFAIL`), as the command contract defines it.
const TEMPFAIL: i32 = 75;

static SUPERVISOR: OnceLock<PathBuf> = OnceLock::new();

/// Call first in `main` of every binary that runs `builtin.command` steps.
///
/// When the process was started as a command supervisor this runs the supervisor and exits;
/// otherwise it records the current executable as the supervisor for later `builtin.command`
/// steps and returns.
pub fn enable_command_supervisor() {
    let mut args = std::env::args_os();
    if args.nth(1).is_some_and(|a| a == SUPERVISOR_ARG) {
        std::process::exit(supervise(args.collect()));
    }
    // `/proc/self/exe` is the running image even after an upgrade replaced the file on disk.
    let this = Path::new("/proc/self/exe");
    let exe = if this.exists() {
        Some(this.to_path_buf())
    } else {
        std::env::current_exe().ok()
    };
    if let Some(exe) = exe {
        let _ = SUPERVISOR.set(exe);
    }
}

/// Uses `executable` (a binary that calls [`enable_command_supervisor`] first in `main`) as the
/// supervisor of `builtin.command` programs. For tests and embedders whose own executable cannot
/// act as one. The first call wins.
pub fn set_command_supervisor(executable: impl Into<PathBuf>) {
    let _ = SUPERVISOR.set(executable.into());
}

/// The supervisor executable, when one was enabled.
pub(crate) fn supervisor() -> Option<&'static Path> {
    SUPERVISOR.get().map(PathBuf::as_path)
}

/// The supervisor's body: `PARENT_PID PROGRAM ARGS…`; returns its exit code.
fn supervise(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter();
    let parent = args
        .next()
        .and_then(|p| p.to_str().and_then(|p| p.parse::<i32>().ok()))
        .and_then(Pid::from_raw);
    let (Some(parent), Some(program)) = (parent, args.next()) else {
        eprintln!("{SUPERVISOR_ARG}: usage: PARENT_PID PROGRAM [ARGS...]");
        return USAGE;
    };
    let group = rustix::process::getpgrp();
    if group != rustix::process::getpid() {
        // Killing "our" group would hit whoever started us by hand.
        eprintln!("{SUPERVISOR_ARG}: must lead its own process group");
        return USAGE;
    }
    if rustix::process::getppid() != Some(parent) {
        // The worker is already gone: start nothing.
        return TEMPFAIL;
    }
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(WATCH_INTERVAL);
            if rustix::process::getppid() != Some(parent) {
                let _ = rustix::process::kill_process_group(group, Signal::KILL);
            }
        }
    });
    match Command::new(&program).args(args).status() {
        Ok(status) => relay(status),
        Err(e) => {
            let shown = program.to_string_lossy();
            eprintln!("builtin.command: cannot start `{shown}`: {e}");
            match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                std::io::ErrorKind::PermissionDenied => 126,
                _ => TEMPFAIL,
            }
        }
    }
}

/// Ends the supervisor the way the program ended: same exit code, or the same signal.
fn relay(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return code;
    }
    let raw = status.signal().unwrap_or(0);
    if let Some(signal) = Signal::from_named_raw(raw) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), signal);
        // Still here: a signal this process ignores (Rust ignores SIGPIPE). Shell convention.
        std::thread::sleep(Duration::from_millis(50));
    }
    128 + raw
}

/// Resolves `program` the way `execvp` does with `path` (the `PATH` handed to the program), so
/// that a missing or non-executable program is reported by the worker itself, as before the
/// supervisor existed: `NotFound` or `PermissionDenied`.
pub(crate) fn resolve(program: &str, path: Option<&std::ffi::OsStr>) -> std::io::Result<PathBuf> {
    if program.contains('/') {
        return executable(Path::new(program)).map(|()| PathBuf::from(program));
    }
    let mut denied = None;
    for dir in std::env::split_paths(path.unwrap_or_default()) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        match executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied = Some(e),
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or_else(|| rustix::io::Errno::NOENT.into()))
}

fn executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)?;
    if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err(rustix::io::Errno::ACCESS.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn programs_resolve_like_execvp() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(["/nonexistent", dir.path().to_str().unwrap()]).unwrap();

        assert_eq!(resolve("tool", Some(&path)).unwrap(), tool);
        assert_eq!(
            resolve("missing", Some(&path)).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            resolve("plain", Some(&path)).unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            resolve("tool", None).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let absolute = tool.to_str().unwrap();
        assert_eq!(resolve(absolute, None).unwrap(), tool);
        assert_eq!(
            resolve(dir.path().to_str().unwrap(), None)
                .unwrap_err()
                .kind(),
            ErrorKind::PermissionDenied,
            "a directory is not a program"
        );
        assert_eq!(
            resolve("/nonexistent/tool", Some(&path))
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn a_supervisor_started_wrongly_refuses() {
        assert_eq!(supervise(vec![]), USAGE);
        assert_eq!(supervise(vec!["x".into(), "sh".into()]), USAGE);
        // The test harness shares its process group with cargo, so it must not kill it.
        let parent = rustix::process::getppid()
            .unwrap()
            .as_raw_nonzero()
            .to_string();
        assert_eq!(supervise(vec![parent.into(), "true".into()]), USAGE);
    }
}
