//! Servers and workers started together on a new SQLite file all come up: migrations (and
//! template registration) are serialised across processes, so none of them fails with
//! `table ... already exists`. Repeated, since the race is a matter of timing.

use tasker_testkit::{ServerProcess, TestConfig};

use crate::*;

const ROUNDS: usize = 10;

#[test]
fn processes_started_together_on_a_new_sqlite_file_all_start() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tasks");
    let config = TestConfig::new();
    config.write(
        "base/common.toml",
        &format!("[templates]\nsearch_paths = [\"{}\"]\n", examples.display()),
    );
    let worker = worker_binary_path();
    for round in 0..ROUNDS {
        let url = format!("sqlite://{}/race-{round}.db", config.root().display());
        let started: Vec<Result<ServerProcess, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = [SERVER, worker.as_str(), SERVER, worker.as_str()]
                .into_iter()
                .map(|binary| {
                    let (config, url) = (&config, &url);
                    scope.spawn(move || {
                        ServerProcess::try_start(binary, config, &[("DATABASE_URL", url)])
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for result in started {
            if let Err(log) = result {
                panic!("round {round}: a process did not start:\n{log}");
            }
        }
    }
}
