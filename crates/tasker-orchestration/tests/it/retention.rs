//! The retention loop: with `[engine] retention_days` set, an orchestrator purges at start the
//! tasks that ended longer ago than that, and keeps recent and unfinished ones.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tasker_core::store::{
    ClaimRequest, NewStep, NewTask, StepDefaults, StepOutcome, StepReport, TaskMeta,
};
use tasker_core::{BackoffSettings, Store, parse_template};
use tasker_orchestration::Orchestrator;
use tasker_testkit::{HANG_GUARD, eventually};
use uuid::Uuid;

use crate::harness::{Env, config};

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    the_retention_loop_purges_old_finished_tasks_at_start,
);

const SINGLE: &str = "name: kept_short\nnamespace: retention\nversion: 1.0.0\nsteps:\n\
  - {name: only, handler: {callable: builtin.echo}}\n";

/// A one-step task created and claimed at `created`, completed at `finished` when given.
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
        namespaces: vec!["retention".into()],
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

async fn the_retention_loop_purges_old_finished_tasks_at_start(env: Env) {
    let now = Utc::now();
    let old = task(
        &env.store,
        now - Duration::days(20),
        Some(now - Duration::days(10)),
    )
    .await;
    let recent = task(
        &env.store,
        now - Duration::days(20),
        Some(now - Duration::days(5)),
    )
    .await;
    let running = task(&env.store, now - Duration::days(20), None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.engine.retention_days = 7;
    cfg.engine.retention_batch_size = 1;
    let purging = Orchestrator::with_store(env.store.clone(), &cfg)
        .await
        .unwrap();
    eventually("the old task to be purged", HANG_GUARD, async || match env
        .store
        .get_task(old)
        .await
        .unwrap()
    {
        None => Ok(()),
        Some(task) => Err(task.status.to_string()),
    })
    .await;
    purging.shutdown().await;
    assert!(env.store.audit_trail(old, None).await.unwrap().is_empty());
    assert!(
        env.store.get_task(recent).await.unwrap().is_some(),
        "ended 5 days ago: kept"
    );
    assert!(
        env.store.get_task(running).await.unwrap().is_some(),
        "unfinished: kept"
    );
}
