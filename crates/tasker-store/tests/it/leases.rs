//! Leases: expiry hands a step to another worker and discards the first worker's late result;
//! concurrent claimers never get the same step.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use tasker_config::DatabaseUrl;
use tasker_core::store::{ClaimRequest, RecordOutcome};
use tasker_core::{StepState, Store};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    expired_lease_moves_the_step_to_another_worker_and_discards_the_late_result,
    lease_expiry_on_the_last_attempt_fails_the_step_into_the_dlq,
    concurrent_claimers_never_share_a_step,
    namespace_filter_limits_claims,
    a_claimed_step_carries_its_tasks_trace_context,
);

tasker_testkit::on_each_backend!(crate::harness::with_url =>
    claimers_in_separate_stores_never_share_a_step,
    a_claim_whose_steps_cannot_be_read_hands_them_back,
);

async fn expired_lease_moves_the_step_to_another_worker_and_discards_the_late_result(
    store: Arc<dyn Store>,
) {
    let task = create(&store, SINGLE).await;
    let first = claim(&store, "dying", at(0)).await.remove(0);
    assert!(
        store
            .renew_lease(&first.lease, at(20_000) + Duration::seconds(30))
            .await
            .unwrap()
    );
    assert_eq!(
        store.expire_leases(at(49_999)).await.unwrap(),
        0,
        "renewed lease still valid"
    );
    assert_eq!(store.expire_leases(at(50_001)).await.unwrap(), 1);
    let steps = store.list_steps(task.task_uuid).await.unwrap();
    assert_eq!(steps[0].status, StepState::Enqueued);
    assert!(!store.renew_lease(&first.lease, at(60_000)).await.unwrap());
    let second = claim(&store, "healthy", at(50_002)).await.remove(0);
    assert_eq!(second.lease.attempt, 2);
    assert_ne!(second.lease.token, first.lease.token);
    assert_eq!(
        succeed(&store, &first.lease, json!("late"), at(50_003)).await,
        RecordOutcome::Discarded
    );
    assert_eq!(
        succeed(&store, &second.lease, json!("good"), at(50_004)).await,
        RecordOutcome::Completed
    );
    assert_eq!(
        succeed(&store, &second.lease, json!("twice"), at(50_005)).await,
        RecordOutcome::Discarded
    );
    let step = &store.list_steps(task.task_uuid).await.unwrap()[0];
    assert_eq!(step.results, Some(json!("good")));
    assert_eq!(status(&store, task.task_uuid).await, "complete");
    let audit = store
        .audit_trail(task.task_uuid, Some(step.step_uuid))
        .await
        .unwrap();
    assert!(audit.iter().any(|t| {
        t.reason
            .as_deref()
            .is_some_and(|r| r.contains("lease of worker dying expired"))
    }));
}

async fn lease_expiry_on_the_last_attempt_fails_the_step_into_the_dlq(store: Arc<dyn Store>) {
    let task = create(&store, SINGLE).await;
    for i in 0..3 {
        let now = at(i * 100_000);
        claim(&store, "dying", now).await.remove(0);
        store
            .expire_leases(now + Duration::seconds(31))
            .await
            .unwrap();
    }
    assert_eq!(status(&store, task.task_uuid).await, "blocked_by_failures");
    let stats = store.dlq_stats(None).await.unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].total, 1);
}

async fn concurrent_claimers_never_share_a_step(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..30 {
        tasks.push(create(&store, SINGLE).await.task_uuid);
    }
    let mut handles = Vec::new();
    for w in 0..4 {
        let store: Arc<dyn Store> = store.clone();
        handles.push(tokio::spawn(async move {
            let req = ClaimRequest {
                worker_id: format!("w{w}"),
                namespaces: vec!["ns".into()],
                limit: 3,
                lease: Duration::seconds(30),
            };
            let mut mine: Vec<Uuid> = Vec::new();
            loop {
                let got = store.claim_steps(&req, at(1)).await.unwrap();
                if got.is_empty() {
                    break;
                }
                for c in got {
                    mine.push(c.step.step_uuid);
                    let out = succeed(&store, &c.lease, json!(w), at(2)).await;
                    assert_eq!(out, RecordOutcome::Completed);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), 30, "every step claimed exactly once");
    assert_eq!(unique.len(), 30);
    for t in tasks {
        assert_eq!(status(&store, t).await, "complete");
    }
}

async fn namespace_filter_limits_claims(store: Arc<dyn Store>) {
    create(&store, SINGLE).await;
    let req = ClaimRequest {
        worker_id: "w".into(),
        namespaces: vec!["other".into()],
        limit: 5,
        lease: Duration::seconds(5),
    };
    assert!(store.claim_steps(&req, at(1)).await.unwrap().is_empty());
    assert_eq!(claim(&store, "w", at(1)).await.len(), 1);
}

async fn claimers_in_separate_stores_never_share_a_step(url: DatabaseUrl) {
    let creator: Arc<dyn Store> = Arc::new(tasker_store::connect(&url, Some(2)).await.unwrap());
    for _ in 0..24 {
        create(&creator, DIAMOND).await;
    }
    let mut handles = Vec::new();
    for w in 0..3 {
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let store: Arc<dyn Store> =
                Arc::new(tasker_store::connect(&url, Some(2)).await.unwrap());
            let mut mine: Vec<Uuid> = Vec::new();
            let mut idle = 0;
            while idle < 3 {
                let got = claim(&store, &format!("p{w}"), at(1)).await;
                if got.is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                idle = 0;
                for c in got {
                    mine.push(c.step.step_uuid);
                    assert_eq!(
                        succeed(&store, &c.lease, json!(w), at(2)).await,
                        RecordOutcome::Completed
                    );
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (24 * 4, 24 * 4));
    let (tasks, total) = creator
        .list_tasks(&tasker_core::store::TaskFilter {
            status: Some(tasker_core::TaskState::Complete),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((tasks.len(), total), (24, 24));
}

async fn a_claimed_step_carries_its_tasks_trace_context(store: Arc<dyn Store>) {
    let traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut task = new_task(SINGLE, json!({}), None);
    task.trace_parent = Some(traced.to_owned());
    store.create_task(task, at(0)).await.unwrap();
    let claimed = claim(&store, "w", at(0)).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].trace_parent.as_deref(), Some(traced));

    create(&store, SINGLE).await;
    let untraced = claim(&store, "w", at(1)).await;
    assert_eq!(untraced.len(), 1);
    assert_eq!(untraced[0].trace_parent, None);
}

/// Writes `sql` through a connection of its own, as an operator's tool (or a bug) would.
async fn raw(url: &DatabaseUrl, sql: &str) {
    use sqlx::Connection as _;
    if url.is_sqlite() {
        let mut c = sqlx::SqliteConnection::connect(url.expose()).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    }
}

/// A claim whose steps cannot be read afterwards (here a task context that is not JSON) fails,
/// and the steps it leased are released at once, their attempts not counted: they do not wait
/// for a lease held by a worker that never saw them.
async fn a_claim_whose_steps_cannot_be_read_hands_them_back(url: DatabaseUrl) {
    let store: Arc<dyn Store> = Arc::new(tasker_store::connect(&url, Some(4)).await.unwrap());
    let task = create(&store, SINGLE).await;
    let id = task.task_uuid;
    raw(
        &url,
        &format!("UPDATE tasks SET context = 'not json' WHERE task_uuid = '{id}'"),
    )
    .await;
    let req = ClaimRequest {
        worker_id: "w1".into(),
        namespaces: vec![],
        limit: 10,
        lease: Duration::seconds(30),
    };
    let err = store.claim_steps(&req, at(1)).await.unwrap_err();
    assert!(err.to_string().contains("context"), "{err}");
    let step = &store.list_steps(id).await.unwrap()[0];
    assert_eq!((step.status, step.attempts), (StepState::Enqueued, 0));
    let audit = store.audit_trail(id, Some(step.step_uuid)).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.from_state.as_deref(), last.to_state.as_str()),
        (Some("in_progress"), "enqueued")
    );
    assert!(
        last.reason
            .as_deref()
            .is_some_and(|r| r.contains("the attempt does not count")),
        "{last:?}"
    );
    // Repaired, the step is claimed at once, as its first attempt.
    raw(
        &url,
        &format!("UPDATE tasks SET context = '{{}}' WHERE task_uuid = '{id}'"),
    )
    .await;
    let claimed = store.claim_steps(&req, at(2)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.attempt, 1);
}
