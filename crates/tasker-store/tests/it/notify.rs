//! PostgreSQL work notifications: a transaction that makes a step claimable notifies
//! `tasker_work` (other processes' workers wake on it) with the write that enqueued it, and one
//! that enqueues nothing does not. Notifications are per database, so the test has a database
//! of its own: other tests' notifications cannot reach its listener.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tasker_config::DatabaseUrl;
use tasker_core::Store;
use tasker_testkit::PgDatabase;

use crate::harness::*;

tasker_testkit::postgres_tests!(claimable_work_is_announced_once_per_transaction);

/// The notifications that arrive within `wait`.
async fn received(listener: &mut PgListener, wait: Duration) -> usize {
    let mut n = 0;
    while let Ok(Ok(Some(_))) = tokio::time::timeout(wait, listener.try_recv()).await {
        n += 1;
    }
    n
}

async fn claimable_work_is_announced_once_per_transaction() {
    let db = PgDatabase::create();
    let store: Arc<dyn Store> = Arc::new(
        tasker_store::connect(&DatabaseUrl::new(db.url.clone()), Some(4))
            .await
            .unwrap(),
    );
    let mut listener = PgListener::connect(&db.url).await.unwrap();
    listener.listen("tasker_work").await.unwrap();
    let quiet = Duration::from_millis(300);

    // Creating a linear task enqueues its first step: one notification.
    let task = create(&store, LINEAR).await;
    assert_eq!(received(&mut listener, quiet).await, 1, "on creation");
    // A claim makes nothing claimable.
    let steps = claim(&store, "w", at(1)).await;
    assert_eq!(steps.len(), 1);
    assert_eq!(received(&mut listener, quiet).await, 0, "on a claim");
    // The first step's result enqueues the second: one notification.
    succeed(&store, &steps[0].lease, serde_json::json!({}), at(2)).await;
    assert_eq!(
        received(&mut listener, quiet).await,
        1,
        "on a result enqueuing a child"
    );
    // Run the rest; the last result completes the task and enqueues nothing.
    let mut now = 3;
    loop {
        let steps = claim(&store, "w", at(now)).await;
        let Some(step) = steps.first() else { break };
        succeed(&store, &step.lease, serde_json::json!({}), at(now + 1)).await;
        now += 2;
    }
    let _ = received(&mut listener, quiet).await;
    assert_eq!(status(&store, task.task_uuid).await, "complete");
    // The task is complete: a claim finds nothing and nothing is announced.
    assert!(claim(&store, "w", at(now)).await.is_empty());
    assert_eq!(received(&mut listener, quiet).await, 0, "after completion");
    drop(listener);
    drop(store);
    drop(db);
}
