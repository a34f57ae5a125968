//! `task purge` against a real database on each backend: a dry run counts and deletes
//! nothing, a purge deletes exactly the finished tasks older than the age (never a running or a
//! recent one), in table and JSON form; bad ages are usage errors; an unreachable database is
//! one line naming the host, never the password.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tasker_config::DatabaseUrl;
use tasker_core::store::{
    ClaimRequest, NewStep, NewTask, StepDefaults, StepOutcome, StepReport, TaskMeta,
};
use tasker_core::{BackoffSettings, Store, parse_template};
use tasker_testkit::{Backend, PgSchema, TestConfig};
use uuid::Uuid;

use crate::support::Ctl;

tasker_testkit::on_each_backend!(crate::purge::with_database =>
    purge_deletes_old_finished_tasks_and_a_dry_run_nothing,
);

/// Runs `test` with the URL of a fresh database on `backend`.
pub(crate) async fn with_database<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            test(format!("sqlite://{}/t.db", dir.path().display())).await;
        }
        Backend::Postgres => {
            let schema = PgSchema::create();
            test(schema.url.clone()).await;
            schema.drop_now().await;
        }
    }
}

const SINGLE: &str = "name: single\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: only, handler: {callable: h}}\n";

/// Creates a one-step task at `created`; claims it then, and completes it at `finished`.
async fn task(
    store: &Arc<dyn Store>,
    created: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
) -> Uuid {
    let template = parse_template(SINGLE).unwrap();
    let defaults = StepDefaults {
        max_attempts: 1,
        timeout_seconds: 30,
        backoff: BackoffSettings {
            base_ms: 10,
            max_ms: 10,
            jitter_percent: 0,
        },
    };
    let new = NewTask {
        task_uuid: Uuid::new_v4(),
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.clone(),
        context: json!({}),
        created_by: "test".into(),
        meta: TaskMeta::default(),
        plan: None,
        steps: NewStep::plan(&template, &defaults, Uuid::new_v4),
        trace_parent: None,
    };
    let task = store.create_task(new, created).await.unwrap().task_uuid;
    let request = ClaimRequest {
        worker_id: "w".into(),
        namespaces: vec![],
        limit: 1,
        lease: Duration::days(1000),
    };
    let claimed = store
        .claim_steps(&request, created)
        .await
        .unwrap()
        .remove(0);
    if let Some(at) = finished {
        let report = StepReport {
            outcome: StepOutcome::Success(json!(1)),
            started_at: at,
            jitter_sample: 0.0,
        };
        store
            .record_result(&claimed.lease, report, at)
            .await
            .unwrap();
    }
    task
}

async fn exists(store: &Arc<dyn Store>, task: Uuid) -> bool {
    store.get_task(task).await.unwrap().is_some()
}

async fn purge_deletes_old_finished_tasks_and_a_dry_run_nothing(url: String) {
    let store: Arc<dyn Store> = Arc::new(
        tasker_store::connect(&DatabaseUrl::new(url.clone()), Some(2))
            .await
            .unwrap(),
    );
    let now = Utc::now();
    let template = parse_template(SINGLE).unwrap();
    store.upsert_template(&template, now).await.unwrap();
    let old = [
        task(
            &store,
            now - Duration::days(50),
            Some(now - Duration::days(40)),
        )
        .await,
        task(
            &store,
            now - Duration::days(45),
            Some(now - Duration::days(31)),
        )
        .await,
    ];
    let running = task(&store, now - Duration::days(60), None).await;
    let recent = task(
        &store,
        now - Duration::days(40),
        Some(now - Duration::days(29)),
    )
    .await;
    let config = TestConfig::new().database(&url);
    let ctl = || {
        Ctl::new(config.root())
            .args(["--config-root"])
            .args([config.root()])
    };

    let dry = ctl()
        .args(["task", "purge", "--older-than", "30d", "--dry-run"])
        .run()
        .expect_code(0);
    assert!(
        dry.stdout
            .starts_with("would delete 2 tasks that ended before "),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("dry run: nothing was deleted"),
        "{}",
        dry.stdout
    );
    let row = |out: &str, what: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(what).filter(|rest| rest.starts_with(' ')))
            .map(|rest| rest.trim().to_owned())
            .unwrap_or_else(|| panic!("no {what} row in:\n{out}"))
    };
    assert_eq!(row(&dry.stdout, "steps"), "2");
    assert_eq!(row(&dry.stdout, "results"), "2");
    for t in old.iter().chain([&running, &recent]) {
        assert!(exists(&store, *t).await, "a dry run deletes nothing");
    }
    let json_dry = ctl()
        .args([
            "task",
            "purge",
            "--older-than",
            "30d",
            "--dry-run",
            "--format",
            "json",
        ])
        .run()
        .expect_code(0);
    let body: Value = serde_json::from_str(&json_dry.stdout).unwrap();
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["purged"]["tasks"], 2);
    assert_eq!(body["purged"]["dlq_entries"], 0);
    let cutoff: DateTime<Utc> = body["finished_before"].as_str().unwrap().parse().unwrap();
    assert!(
        cutoff < now - Duration::days(29) && cutoff > now - Duration::days(31),
        "{cutoff}"
    );

    let done = ctl()
        .args([
            "task",
            "purge",
            "--older-than",
            "30d",
            "--format",
            "json",
            "--batch-size",
            "1",
        ])
        .run()
        .expect_code(0);
    let body: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(body["dry_run"], false);
    assert_eq!(body["purged"], json_dry_purged(&json_dry.stdout));
    for t in old {
        assert!(!exists(&store, t).await, "{t} purged");
        assert!(store.audit_trail(t, None).await.unwrap().is_empty());
    }
    assert!(
        exists(&store, running).await,
        "a running task is never purged"
    );
    assert!(
        exists(&store, recent).await,
        "a task that ended 29 days ago is kept"
    );
    let again = ctl()
        .args(["task", "purge", "--older-than", "30d"])
        .run()
        .expect_code(0);
    assert!(
        again
            .stdout
            .starts_with("deleted 0 tasks that ended before "),
        "{}",
        again.stdout
    );
    let hours = ctl()
        .args(["task", "purge", "--older-than", "600h"])
        .run()
        .expect_code(0);
    assert!(
        hours
            .stdout
            .starts_with("deleted 1 task that ended before "),
        "{}",
        hours.stdout
    );
    assert!(!exists(&store, recent).await);
    assert!(exists(&store, running).await);
}

fn json_dry_purged(stdout: &str) -> Value {
    serde_json::from_str::<Value>(stdout).unwrap()["purged"].clone()
}

#[test]
fn bad_ages_are_usage_errors() {
    let config = TestConfig::new();
    for age in ["30", "30x", "-1d", "1.5d", "thirty"] {
        let out = Ctl::new(config.root())
            .args(["--config-root"])
            .args([config.root()])
            .args(["task", "purge", &format!("--older-than={age}")])
            .run()
            .expect_code(2);
        assert!(
            out.stderr.contains("is not an age"),
            "{age}: {}",
            out.stderr
        );
    }
    let out = Ctl::new(config.root())
        .args(["task", "purge"])
        .run()
        .expect_code(2);
    assert!(out.stderr.contains("--older-than"), "{}", out.stderr);
    assert!(
        !config.root().join("tasker.db").exists(),
        "usage errors touch no database"
    );
}

#[test]
fn an_unreachable_database_is_one_line_without_the_password() {
    let port = tasker_testkit::closed_port();
    let config = TestConfig::new().database(&format!(
        "postgres://tasker:s3cret-pw@127.0.0.1:{port}/tasker"
    ));
    let out = Ctl::new(config.root())
        .args(["--config-root"])
        .args([config.root()])
        .args(["task", "purge", "--older-than", "30d"])
        .run()
        .expect_code(1);
    assert!(
        out.stderr.starts_with("error: cannot open the database"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret-pw"), "{}", out.stderr);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert!(out.stdout.is_empty());
}
