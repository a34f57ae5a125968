//! Listing, templates, DLQ queries and updates, staleness, analytics.

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use tasker_core::store::{DlqFilter, DlqReason, DlqUpdate, ResolutionStatus, TaskFilter};
use tasker_core::{Store, TaskState, parse_template};

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    templates_upsert_and_list,
    list_filters_and_paginates,
    list_filters_on_tags_and_creation_time,
    staleness_opens_one_entry_and_dlq_updates_and_stats,
    analytics_count_attempts_failures_and_durations,
);

async fn templates_upsert_and_list(store: Arc<dyn Store>) {
    let t = parse_template(LINEAR).unwrap();
    store.upsert_template(&t, t0()).await.unwrap();
    store.upsert_template(&t, at(5)).await.unwrap();
    store
        .upsert_template(&parse_template(DIAMOND).unwrap(), t0())
        .await
        .unwrap();
    let all = store.list_templates().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].template, t);
    assert_eq!(all[1].registered_at, at(5));
    store.ping().await.unwrap();
}

async fn list_filters_and_paginates(store: Arc<dyn Store>) {
    for _ in 0..5 {
        create(&store, SINGLE).await;
    }
    let linear = create(&store, LINEAR).await;
    store
        .cancel_task(linear.task_uuid, "x", None, at(1))
        .await
        .unwrap();
    let page = |name: Option<&str>, status, offset, limit| TaskFilter {
        namespace: Some("ns".into()),
        namespaces: None,
        name: name.map(str::to_owned),
        status,
        offset,
        limit,
        ..TaskFilter::default()
    };
    let (rows, total) = store
        .list_tasks(&page(Some("single"), None, 0, 2))
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (2, 5));
    assert_eq!(rows[0].step_counts.total, 1);
    let (rows, total) = store
        .list_tasks(&page(Some("single"), None, 4, 2))
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (1, 5));
    let (rows, total) = store
        .list_tasks(&page(None, Some(TaskState::Cancelled), 0, 10))
        .await
        .unwrap();
    assert_eq!((rows.len(), total), (1, 1));
    assert_eq!(rows[0].task_uuid, linear.task_uuid);
    // A caller's visibility: the namespace set bounds rows and totals alike.
    for (visible, expected) in [
        (vec!["ns".to_owned()], 6),
        (vec!["ns".to_owned(), "other".to_owned()], 6),
        (vec!["other".to_owned()], 0),
        (vec![], 0),
    ] {
        let filter = TaskFilter {
            namespaces: Some(visible.clone()),
            limit: 100,
            ..TaskFilter::default()
        };
        let (rows, total) = store.list_tasks(&filter).await.unwrap();
        assert_eq!(
            (rows.len(), total),
            (expected, expected as u64),
            "{visible:?}"
        );
    }
}

async fn list_filters_on_tags_and_creation_time(store: Arc<dyn Store>) {
    let tagged = |tags: &[&str], created: i64| {
        let mut task = new_task(SINGLE, json!({"n": 1}), None);
        task.meta.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        let store = store.clone();
        async move { store.create_task(task, at(created)).await.unwrap() }
    };
    let a = tagged(&["nightly", "eu"], 10).await;
    let b = tagged(&["eu-west"], 20).await;
    // Tags that JSON-encode next to each other: `","` is inside `["a","b"]` as text.
    let c = tagged(&["a", "b"], 30).await;
    let d = tagged(&["50%_off", "quote\"d"], 40).await;
    let ids = |filter: TaskFilter| {
        let store = store.clone();
        async move {
            let (rows, total) = store
                .list_tasks(&TaskFilter {
                    limit: 100,
                    ..filter
                })
                .await
                .unwrap();
            assert_eq!(rows.len() as u64, total);
            rows.iter().map(|t| t.task_uuid).collect::<Vec<_>>()
        }
    };
    let by_tag = |tag: &str| TaskFilter {
        tag: Some(tag.to_owned()),
        ..TaskFilter::default()
    };
    // Whole elements only: never a prefix, a substring, a LIKE pattern or JSON punctuation.
    assert_eq!(ids(by_tag("eu")).await, [a.task_uuid]);
    assert_eq!(ids(by_tag("eu-west")).await, [b.task_uuid]);
    assert_eq!(ids(by_tag("b")).await, [c.task_uuid]);
    assert_eq!(ids(by_tag("50%_off")).await, [d.task_uuid]);
    assert_eq!(ids(by_tag("quote\"d")).await, [d.task_uuid]);
    for none in ["e", "\",\"", ",", "%", "_", "nightly,eu", ""] {
        assert!(ids(by_tag(none)).await.is_empty(), "{none:?}");
    }
    // Creation time: after is inclusive, before exclusive; both combine with the tag.
    let window = |after: Option<i64>, before: Option<i64>| TaskFilter {
        created_after: after.map(at),
        created_before: before.map(at),
        ..TaskFilter::default()
    };
    assert_eq!(
        ids(window(Some(20), Some(40))).await,
        [c.task_uuid, b.task_uuid]
    );
    assert_eq!(ids(window(Some(41), None)).await, Vec::<uuid::Uuid>::new());
    assert_eq!(ids(window(None, Some(11))).await, [a.task_uuid]);
    assert_eq!(
        ids(TaskFilter {
            tag: Some("eu".into()),
            ..window(Some(11), None)
        })
        .await,
        Vec::<uuid::Uuid>::new()
    );
}

async fn staleness_opens_one_entry_and_dlq_updates_and_stats(store: Arc<dyn Store>) {
    let task = create(&store, SINGLE).await;
    let thresholds = [(TaskState::StepsInProcess, Duration::minutes(10))];
    assert!(
        store
            .open_stale_entries(&thresholds, at(60_000))
            .await
            .unwrap()
            .is_empty()
    );
    let opened = store
        .open_stale_entries(&thresholds, at(11 * 60_000))
        .await
        .unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].dlq_reason, DlqReason::StalenessTimeout);
    assert!(
        store
            .open_stale_entries(&thresholds, at(12 * 60_000))
            .await
            .unwrap()
            .is_empty()
    );
    let update = DlqUpdate {
        resolution_status: Some(ResolutionStatus::PermanentlyFailed),
        notes: Some("gave up".into()),
        resolver: "ops".into(),
    };
    let entry = store
        .update_dlq_entry(opened[0].dlq_entry_uuid, &update, at(13 * 60_000))
        .await
        .unwrap();
    assert_eq!(entry.resolution_status, ResolutionStatus::PermanentlyFailed);
    assert_eq!(entry.resolved_at, Some(at(13 * 60_000)));
    // The operator gave up: the task ends in `error`, its unfinished steps are cancelled
    // (no worker can claim them), and the audit trail says who and why.
    let failed = store.get_task(task.task_uuid).await.unwrap().unwrap();
    assert_eq!(failed.status, TaskState::Error);
    assert!(claim(&store, "w", at(13 * 60_000 + 1)).await.is_empty());
    for step in store.list_steps(task.task_uuid).await.unwrap() {
        assert_eq!(step.status, tasker_core::StepState::Cancelled, "{step:?}");
    }
    let trail = store.audit_trail(task.task_uuid, None).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (last.to_state.as_str(), last.actor.as_str()),
        ("error", "ops")
    );
    assert_eq!(
        last.reason.as_deref(),
        Some(
            format!(
                "DLQ entry {} marked permanently_failed",
                entry.dlq_entry_uuid
            )
            .as_str()
        )
    );
    let listed = store
        .list_dlq(&DlqFilter {
            resolution_status: Some(ResolutionStatus::PermanentlyFailed),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed[0].notes.as_deref(), Some("gave up"));
    assert_eq!(listed[0].task_uuid, task.task_uuid);
    let stats = store.dlq_stats(None).await.unwrap();
    assert_eq!(stats[0].by_status[&ResolutionStatus::PermanentlyFailed], 1);
    let mine = [task.namespace.clone()];
    assert_eq!(store.dlq_stats(Some(&mine)).await.unwrap(), stats);
    assert!(
        store
            .dlq_stats(Some(&["other".to_owned()]))
            .await
            .unwrap()
            .is_empty()
    );
    for (visible, expected) in [(mine.to_vec(), 1), (vec!["other".to_owned()], 0)] {
        let listed = store
            .list_dlq(&DlqFilter {
                namespaces: Some(visible),
                limit: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), expected);
    }
    let missing = store
        .update_dlq_entry(uuid::Uuid::new_v4(), &update, t0())
        .await;
    assert!(matches!(missing, Err(tasker_core::StoreError::NotFound(_))));
}

async fn analytics_count_attempts_failures_and_durations(store: Arc<dyn Store>) {
    create(&store, SINGLE).await;
    let c = claim(&store, "w", at(0)).await.remove(0);
    let report = tasker_core::store::StepReport {
        outcome: tasker_core::store::StepOutcome::Failure {
            error: json!({"message": "x"}),
            retryable: true,
        },
        started_at: at(0),
        jitter_sample: 0.0,
    };
    store.record_result(&c.lease, report, at(40)).await.unwrap();
    store.enqueue_due_retries(at(1000)).await.unwrap();
    let c = claim(&store, "w", at(1000)).await.remove(0);
    let report = tasker_core::store::StepReport {
        outcome: tasker_core::store::StepOutcome::Success(json!(1)),
        started_at: at(1000),
        jitter_sample: 0.0,
    };
    store
        .record_result(&c.lease, report, at(1020))
        .await
        .unwrap();
    let perf = store.performance(t0()).await.unwrap();
    assert_eq!((perf.tasks_created, perf.tasks_completed), (1, 1));
    assert_eq!((perf.step_attempts, perf.step_failures), (2, 1));
    assert_eq!(perf.avg_step_duration_ms, Some(30.0));
    assert_eq!(perf.avg_task_duration_ms, Some(1020.0));
    let stats = store.step_statistics(10).await.unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (
            stats[0].executions,
            stats[0].failures,
            stats[0].max_duration_ms
        ),
        (2, 1, 40)
    );
}
