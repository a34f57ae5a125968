//! A PostgreSQL database that cannot be reached stops both servers within
//! `database.connect_timeout_seconds`, with a message naming the host and port and never the
//! password of the URL. Each run is bounded by the hang guard.

use std::net::TcpListener;

use tasker_testkit::{TestConfig, run_to_exit_guarded};

use crate::binaries;

const PASSWORD: &str = "PLANTED-DB-PASSWORD";

fn refuses(address: &str, reason: &str) {
    for (binary, role, _) in binaries() {
        let config = TestConfig::new();
        config.write(
            "base/common.toml",
            "[database]\nconnect_timeout_seconds = 1\n[templates]\nsearch_paths = []\n",
        );
        let url = format!("postgres://tasker:{PASSWORD}@{address}/tasker");
        let (code, stderr) = run_to_exit_guarded(binary, &config, &[("DATABASE_URL", &url)]);
        assert_eq!(code, Some(1), "{role}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot connect to the database at {address}: {reason}"
            )),
            "{role}: {stderr}"
        );
        assert!(!stderr.contains(PASSWORD), "{role}: {stderr}");
    }
}

#[test]
fn a_closed_port_stops_startup_naming_the_host() {
    let address = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    refuses(&address, "Connection refused");
}

#[test]
fn a_server_that_never_answers_stops_startup_after_the_timeout() {
    // Connections complete in the kernel's backlog but nothing ever answers them.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    refuses(&address, "no answer within 1 s");
    drop(listener);
}
