//! Namespace scopes at the service boundary: a caller whose permission covers only `tests`
//! sees nothing of `examples` (not found, filtered lists and counts) and may not create or
//! validate there (forbidden, naming the scoped permission).

use std::collections::BTreeSet;

use serde_json::json;
use tasker_core::TaskState;
use tasker_orchestration::Error;
use tasker_proto::Scope;
use tasker_proto::api::{DlqListQuery, TaskListQuery};
use tasker_worker::HandlerRegistry;

use crate::harness::*;

fn only(namespace: &str) -> Scope {
    Scope::Namespaces(BTreeSet::from([namespace.to_owned()]))
}

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    a_scoped_caller_sees_and_changes_only_its_namespaces,
);

async fn a_scoped_caller_sees_and_changes_only_its_namespaces(env: Env) {
    {
        let w = worker(&env, "w", HandlerRegistry::with_builtins());
        let tests = only("tests");
        let none = Scope::Namespaces(BTreeSet::new());
        let theirs = env
            .orch
            .create_task(
                request("examples", "linear_math", json!({"value": 2})),
                "a",
                &ALL,
                None,
            )
            .await
            .unwrap();
        let ours = env
            .orch
            .create_task(
                request("tests", "blocked", json!({"secret": 1})),
                "b",
                &tests,
                None,
            )
            .await
            .unwrap();
        wait_for(&env, ours.task_uuid, TaskState::BlockedByFailures).await;
        wait_for(&env, theirs.task_uuid, TaskState::Complete).await;

        // Creating elsewhere is forbidden, naming the scoped permission.
        let err = env
            .orch
            .create_task(
                request("examples", "linear_math", json!({"value": 1})),
                "b",
                &tests,
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Missing required permission: tasks:create@examples"
        );
        assert!(matches!(err, Error::Forbidden(_)));

        // Items of other namespaces do not exist for the caller.
        let hidden = theirs.task_uuid;
        assert!(matches!(
            env.orch.get_task(hidden, &tests, &tests).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            env.orch.list_steps(hidden, &tests).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            env.orch.task_context(hidden, &tests).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            env.orch.task_audit(hidden, &tests).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            env.orch.cancel_task(hidden, "b", &tests).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            env.orch.dlq_for_task(hidden, &tests).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            env.orch
                .get_template("examples", "linear_math", "1.0.0", &tests)
                .await,
            Err(Error::NotFound(_))
        ));
        // ...and a task of its own is visible; the context only with tasks:context_read there.
        let seen = env
            .orch
            .get_task(ours.task_uuid, &tests, &tests)
            .await
            .unwrap();
        assert_eq!(seen.context, Some(json!({"secret": 1})));
        let seen = env
            .orch
            .get_task(ours.task_uuid, &tests, &none)
            .await
            .unwrap();
        assert_eq!(seen.context, None);

        // Lists and counts include only visible namespaces.
        let list = env
            .orch
            .list_tasks(TaskListQuery::default(), &tests)
            .await
            .unwrap();
        assert_eq!(list.pagination.total_count, 1);
        assert_eq!(list.tasks[0].task_uuid, ours.task_uuid);
        assert!(
            list.tasks.iter().all(|t| t.context.is_none()),
            "lists never embed contexts"
        );
        let outside = TaskListQuery {
            namespace: Some("examples".into()),
            ..Default::default()
        };
        assert_eq!(
            env.orch
                .list_tasks(outside, &tests)
                .await
                .unwrap()
                .pagination
                .total_count,
            0
        );
        assert_eq!(
            env.orch
                .list_tasks(TaskListQuery::default(), &none)
                .await
                .unwrap()
                .tasks
                .len(),
            0
        );
        assert_eq!(
            env.orch
                .list_tasks(TaskListQuery::default(), &ALL)
                .await
                .unwrap()
                .pagination
                .total_count,
            2
        );

        let dlq = env
            .orch
            .list_dlq(DlqListQuery::default(), &tests)
            .await
            .unwrap();
        assert_eq!(dlq.len(), 1);
        let entry = dlq[0].dlq_entry_uuid;
        assert!(
            env.orch
                .list_dlq(DlqListQuery::default(), &only("examples"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            env.orch
                .investigation_queue(None, &only("examples"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            env.orch
                .investigation_queue(None, &tests)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(
            env.orch
                .dlq_stats(&only("examples"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(env.orch.dlq_stats(&tests).await.unwrap()[0].total, 1);
        let update = serde_json::from_value(json!({"resolution_notes": "looked"})).unwrap();
        assert!(matches!(
            env.orch
                .update_dlq_entry(entry, update, "c", &only("examples"))
                .await,
            Err(Error::NotFound(_))
        ));

        let templates = env.orch.list_templates(&tests).await.unwrap();
        assert!(!templates.is_empty() && templates.iter().all(|t| t.namespace == "tests"));
        let other = "name: x\nnamespace: examples\nversion: 1.0.0\nsteps:\n- {name: a, handler: {callable: h}}\n";
        assert_eq!(
            env.orch
                .validate_template(other, &tests)
                .await
                .unwrap_err()
                .to_string(),
            "Missing required permission: templates:validate@examples"
        );
        let own = other.replace("namespace: examples", "namespace: tests");
        assert!(
            env.orch
                .validate_template(&own, &tests)
                .await
                .unwrap()
                .valid
        );
        w.shutdown().await;
    }
}
