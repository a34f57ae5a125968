//! Leases without a server and graceful shutdown, with real processes on PostgreSQL: workers
//! alone take back the lease of a worker killed with SIGKILL; SIGTERM releases the leases of
//! steps still running after the grace period, so another worker completes them without
//! waiting for the lease (600 s here, far beyond the hang guard) to expire and without spending
//! an attempt; a step that ends within the grace period reports normally; a second SIGTERM
//! exits at once; the server's embedded worker shuts down the same way.

use std::sync::Arc;

use serde_json::json;
use tasker_config::DatabaseUrl;
use tasker_core::Store;
use tasker_core::store::TransitionRecord;
use tasker_testkit::{HANG_GUARD, PgDatabase, ServerProcess, eventually};
use uuid::Uuid;

use crate::multi_process::{Cluster, SERIAL};
use crate::{create_task, steps};

tasker_testkit::postgres_tests!(
    workers_alone_take_back_the_lease_of_a_worker_killed_mid_step,
    sigterm_releases_a_running_step_to_another_worker_at_once,
    sigterm_lets_a_step_finish_within_the_grace_period,
    a_second_sigterm_exits_at_once,
    sigterm_on_the_server_releases_its_embedded_workers_step,
);

/// A lease no test waits out: a step that changes hands did so by release, not expiry.
const LONG_LEASE: &str = "lease_seconds = 600\npoll_interval_ms = 100\n";

fn worker_settings(cluster: &Cluster, extra: &str) {
    cluster.write(
        "base/worker.toml",
        &format!("[worker]\nconcurrency = 8\n{extra}"),
    );
}

async fn open_store(db: &PgDatabase) -> Arc<dyn Store> {
    let url = DatabaseUrl::new(db.url.clone());
    Arc::new(tasker_store::connect(&url, Some(2)).await.unwrap())
}

/// Creates a diamond through `server` and returns the task and its step `b`.
async fn diamond_with_b(server: &ServerProcess) -> (Uuid, Uuid) {
    let task = create_task(server, "mp_diamond", json!({})).await;
    let b = steps(server, &task)
        .await
        .into_iter()
        .find(|s| s["name"] == "b")
        .unwrap()["step_uuid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (task.parse().unwrap(), b)
}

async fn wait_started(cluster: &Cluster, step: Uuid, runs: usize, worker: &ServerProcess) {
    let step = step.to_string();
    eventually(
        &format!("{step} to have run {runs}×"),
        HANG_GUARD,
        async || {
            let seen = cluster.executions().get(&step).map_or(0, Vec::len);
            if seen >= runs {
                Ok(())
            } else {
                Err(worker.logs())
            }
        },
    )
    .await;
}

async fn wait_complete(store: &Arc<dyn Store>, task: Uuid) {
    eventually("the task to complete", HANG_GUARD, async || {
        let status = store.get_task(task).await.unwrap().unwrap().status;
        if status.to_string() == "complete" {
            Ok(())
        } else {
            Err(status.to_string())
        }
    })
    .await;
}

async fn wait_logged(process: &ServerProcess, line: &str) {
    eventually(&format!("the log line `{line}`"), HANG_GUARD, async || {
        let logs = process.logs();
        if logs.contains(line) {
            Ok(())
        } else {
            Err(logs)
        }
    })
    .await;
}

/// The step's transitions from its first claim on, as (to_state, actor).
async fn path_from_claim(store: &Arc<dyn Store>, task: Uuid, step: Uuid) -> Vec<TransitionRecord> {
    store
        .audit_trail(task, Some(step))
        .await
        .unwrap()
        .into_iter()
        .skip_while(|t| t.to_state != "in_progress")
        .collect()
}

fn states(path: &[TransitionRecord]) -> Vec<&str> {
    path.iter().map(|t| t.to_state.as_str()).collect()
}

async fn workers_alone_take_back_the_lease_of_a_worker_killed_mid_step() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    // b sleeps 4 s, past the 2 s lease; the workers sweep for expired leases every 200 ms.
    let cluster = Cluster::new(&db.url, 0, 4000);
    worker_settings(
        &cluster,
        "lease_seconds = 2\npoll_interval_ms = 100\nshutdown_timeout_seconds = 1\nlease_recovery_interval_ms = 200\n",
    );
    let (task, b) = {
        let server = cluster.server();
        diamond_with_b(&server).await
        // The only server is killed here (SIGKILL): from now on only workers run.
    };
    let store = open_store(&db).await;
    let first = cluster.worker();
    wait_started(&cluster, b, 1, &first).await;
    let second = cluster.worker();
    drop(first);

    wait_complete(&store, task).await;
    assert_eq!(cluster.executions()[&b.to_string()], [1, 2]);
    let path = path_from_claim(&store, task, b).await;
    assert_eq!(
        states(&path),
        ["in_progress", "enqueued", "in_progress", "complete"],
        "{path:#?}"
    );
    let (dead, survivor) = (&path[0].actor, &path[2].actor);
    assert_ne!(dead, survivor);
    assert_eq!(
        path[1].reason.as_deref(),
        Some(format!("lease of worker {dead} expired during attempt 1").as_str())
    );
    assert!(
        second.logs().contains("took back expired leases"),
        "{}",
        second.logs()
    );
}

async fn sigterm_releases_a_running_step_to_another_worker_at_once() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    // b sleeps 8 s; the grace period is 1 s, so SIGTERM finds b running past it.
    let cluster = Cluster::new(&db.url, 0, 8000);
    worker_settings(
        &cluster,
        &format!("{LONG_LEASE}shutdown_timeout_seconds = 1\n"),
    );
    let server = cluster.server();
    let mut leaving = cluster.worker();
    let (task, b) = diamond_with_b(&server).await;
    wait_started(&cluster, b, 1, &leaving).await;
    let staying = cluster.worker();
    leaving.signal("TERM");
    assert_eq!(leaving.wait_for_exit().await, Some(0), "{}", leaving.logs());
    let store = open_store(&db).await;

    wait_complete(&store, task).await;
    let path = path_from_claim(&store, task, b).await;
    assert_eq!(
        states(&path),
        ["in_progress", "enqueued", "in_progress", "complete"],
        "{path:#?}"
    );
    let (gone, other) = (&path[0].actor, &path[2].actor);
    assert_ne!(gone, other);
    assert_eq!(
        path[1].actor, *gone,
        "released by its holder, not expired by the engine"
    );
    assert_eq!(
        path[1].reason.as_deref(),
        Some(
            format!("lease released by worker {gone} during attempt 1; the attempt does not count")
                .as_str()
        )
    );
    assert_eq!(
        cluster.executions()[&b.to_string()],
        [1, 1],
        "the re-run is attempt 1 again"
    );
    let b_view = store
        .list_steps(task)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.step_uuid == b)
        .unwrap();
    assert_eq!(b_view.attempts, 1);
    assert_eq!(b_view.results, Some(json!({"step": "b", "attempt": 1})));
    let logs = leaving.logs();
    assert!(
        logs.contains("releasing the leases of the steps still running"),
        "{logs}"
    );
    assert!(logs.contains("lease released"), "{logs}");
    drop(staying);
}

async fn sigterm_lets_a_step_finish_within_the_grace_period() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::new(&db.url, 0, 2000);
    worker_settings(
        &cluster,
        &format!("{LONG_LEASE}shutdown_timeout_seconds = 600\n"),
    );
    let server = cluster.server();
    let mut worker = cluster.worker();
    let (task, b) = diamond_with_b(&server).await;
    wait_started(&cluster, b, 1, &worker).await;
    worker.signal("TERM");
    assert_eq!(worker.wait_for_exit().await, Some(0), "{}", worker.logs());

    let store = open_store(&db).await;
    let path = path_from_claim(&store, task, b).await;
    assert_eq!(
        states(&path),
        ["in_progress", "complete"],
        "b finished and reported: {path:#?}"
    );
    assert_eq!(path[0].actor, path[1].actor);
    let all = store.list_steps(task).await.unwrap();
    let d = all.iter().find(|s| s.name == "d").unwrap();
    assert_eq!(
        d.status.to_string(),
        "enqueued",
        "no claims after SIGTERM: {all:#?}"
    );
    assert!(
        !worker.logs().contains("releasing the leases"),
        "{}",
        worker.logs()
    );
}

async fn a_second_sigterm_exits_at_once() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::new(&db.url, 0, 60_000);
    worker_settings(
        &cluster,
        &format!("{LONG_LEASE}shutdown_timeout_seconds = 600\n"),
    );
    let server = cluster.server();
    let mut worker = cluster.worker();
    let (task, b) = diamond_with_b(&server).await;
    wait_started(&cluster, b, 1, &worker).await;
    worker.signal("TERM");
    wait_logged(&worker, "stopping: no more claims").await;
    worker.signal("TERM");
    assert_eq!(worker.wait_for_exit().await, Some(1), "{}", worker.logs());
    assert!(
        worker.logs().contains("second termination signal"),
        "{}",
        worker.logs()
    );

    let store = open_store(&db).await;
    let path = path_from_claim(&store, task, b).await;
    assert_eq!(
        states(&path),
        ["in_progress"],
        "neither finished nor released: {path:#?}"
    );
}

async fn sigterm_on_the_server_releases_its_embedded_workers_step() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::new(&db.url, 0, 8000);
    cluster.write(
        "base/orchestration.toml",
        // The server role reads its embedded worker's settings from orchestration.toml.
        &format!(
            "[orchestration]\nembedded_worker = true\npoll_interval_ms = 100\n\n\
             [worker]\nconcurrency = 8\n{LONG_LEASE}shutdown_timeout_seconds = 1\n"
        ),
    );
    worker_settings(
        &cluster,
        &format!("{LONG_LEASE}shutdown_timeout_seconds = 1\n"),
    );
    let mut server = cluster.server();
    let (task, b) = diamond_with_b(&server).await;
    wait_started(&cluster, b, 1, &server).await;
    let worker = cluster.worker();
    server.signal("TERM");
    assert_eq!(server.wait_for_exit().await, Some(0), "{}", server.logs());

    let store = open_store(&db).await;
    wait_complete(&store, task).await;
    let path = path_from_claim(&store, task, b).await;
    assert_eq!(
        states(&path),
        ["in_progress", "enqueued", "in_progress", "complete"],
        "{path:#?}"
    );
    assert_eq!(path[1].actor, path[0].actor);
    assert!(
        path[1]
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("lease released by worker")
    );
    assert_ne!(path[2].actor, path[0].actor);
    drop(worker);
}
