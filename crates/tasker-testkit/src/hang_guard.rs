//! Running a binary to completion under a hang guard: a generous deadline after which the
//! process is killed and the test fails, so a startup that blocks (a FIFO, `/dev/zero`, an
//! unreachable database) fails the test instead of hanging the suite.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestConfig;

use crate::HANG_GUARD;

/// Runs `binary` like [`crate::run_to_exit`], but kills it and panics if it has not exited
/// within [`HANG_GUARD`]. Returns the exit code and stderr.
pub fn run_to_exit_guarded(
    binary: &str,
    config: &TestConfig,
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let command = crate::server::server_command(binary, config, env);
    run_guarded(command)
}

/// Runs `command` (stdin closed, stdout discarded) under the hang guard: exit code and stderr.
pub fn run_guarded(mut command: Command) -> (Option<i32>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + HANG_GUARD;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hang guard: {:?} still running after {HANG_GUARD:?}",
                command.get_program()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), reader.join().unwrap())
}
