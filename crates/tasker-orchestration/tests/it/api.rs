//! Operation-level errors and queries: template resolution, context validation, idempotency,
//! pagination, template validation, handler listing, analytics, startup from config.

use serde_json::json;
use tasker_core::TaskState;
use tasker_orchestration::{Error, Orchestrator};
use tasker_proto::api::{TaskListQuery as ListTasksQuery, TaskStatus};
use tasker_worker::HandlerRegistry;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    invalid_requests_name_the_problem,
    repeated_idempotency_key_conflicts_naming_the_task,
    list_paginates_and_filters_on_real_state,
    templates_handlers_and_validation,
    analytics_reflect_finished_work,
);

async fn invalid_requests_name_the_problem(env: Env) {
    let err = env
        .orch
        .create_task(request("examples", "nope", json!({})), "a", &ALL, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ref m) if m == "template examples/nope"),
        "{err:?}"
    );
    let mut versioned = request("examples", "linear_math", json!({"value": 1}));
    versioned.version = Some("9.9.9".into());
    let err = env
        .orch
        .create_task(versioned, "a", &ALL, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ref m) if m.contains("9.9.9")),
        "{err:?}"
    );
    let err = env
        .orch
        .create_task(
            request("examples", "linear_math", json!({"value": "x"})),
            "a",
            &ALL,
            None,
        )
        .await
        .unwrap_err();
    let Error::Unprocessable(problems) = err else {
        panic!("{err:?}")
    };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/value") && p.contains("number")),
        "{problems:?}"
    );
    let err = env
        .orch
        .create_task(
            request("examples", "linear_math", json!({})),
            "a",
            &ALL,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unprocessable(ref p) if p[0].contains("\"value\" is a required property")),
        "{err:?}"
    );
    let err = env
        .orch
        .create_task(
            request("examples", "linear_math", json!([1])),
            "a",
            &ALL,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unprocessable(ref p) if p[0].contains("JSON object")),
        "{err:?}"
    );
    let missing = uuid::Uuid::new_v4();
    assert!(matches!(
        env.orch.get_task(missing, &ALL, &ALL).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        env.orch.list_steps(missing, &ALL).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        env.orch.cancel_task(missing, "a", &ALL).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        env.orch.dlq_for_task(missing, &ALL).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        env.orch.task_context(missing, &ALL).await,
        Err(Error::NotFound(_))
    ));
}

async fn repeated_idempotency_key_conflicts_naming_the_task(env: Env) {
    let mut req = request("examples", "diamond_math", json!({"value": 1}));
    req.idempotency_key = Some("order-42".into());
    let first = env
        .orch
        .create_task(req.clone(), "a", &ALL, None)
        .await
        .unwrap();
    let err = env
        .orch
        .create_task(req, "a", &ALL, None)
        .await
        .unwrap_err();
    let Error::Conflict(message) = err else {
        panic!("{err:?}")
    };
    assert!(message.contains(&first.task_uuid.to_string()), "{message}");
    assert!(message.contains("order-42"), "{message}");
}

async fn list_paginates_and_filters_on_real_state(env: Env) {
    for i in 0..5 {
        env.orch
            .create_task(
                request("examples", "diamond_math", json!({"value": i})),
                "a",
                &ALL,
                None,
            )
            .await
            .unwrap();
    }
    let one = env
        .orch
        .create_task(
            request("examples", "linear_math", json!({"value": 1})),
            "a",
            &ALL,
            None,
        )
        .await
        .unwrap();
    env.orch
        .cancel_task(one.task_uuid, "a", &ALL)
        .await
        .unwrap();
    let q = |page, per_page| ListTasksQuery {
        namespace: Some("examples".into()),
        name: Some("diamond_math".into()),
        page: Some(page),
        per_page: Some(per_page),
        ..ListTasksQuery::default()
    };
    let list = env.orch.list_tasks(q(2, 2), &ALL).await.unwrap();
    assert_eq!(list.tasks.len(), 2);
    assert_eq!(
        (
            list.pagination.total_count,
            list.pagination.total_pages,
            list.pagination.page
        ),
        (5, 3, 2)
    );
    let body = serde_json::to_value(&list).unwrap();
    assert!(
        body["pagination"]["per_page"] == 2 && body["tasks"][0]["status"] == "steps_in_process",
        "{body}"
    );
    let cancelled = env
        .orch
        .list_tasks(
            ListTasksQuery {
                status: Some(TaskStatus::Cancelled),
                ..ListTasksQuery::default()
            },
            &ALL,
        )
        .await
        .unwrap();
    assert_eq!(cancelled.tasks.len(), 1);
    assert_eq!(cancelled.tasks[0].task_uuid, one.task_uuid);
    assert!(matches!(
        env.orch.list_tasks(q(1, 101), &ALL).await,
        Err(Error::BadRequest(_))
    ));
    assert!(matches!(
        env.orch.list_tasks(q(0, 10), &ALL).await,
        Err(Error::BadRequest(_))
    ));
}

async fn templates_handlers_and_validation(env: Env) {
    let templates = env.orch.list_templates(&ALL).await.unwrap();
    for name in ["linear_math", "diamond_math", "fan_out_math", "flaky_retry"] {
        assert!(
            templates
                .iter()
                .any(|t| t.name == name && t.namespace == "examples"),
            "{name}"
        );
    }
    let t = env
        .orch
        .get_template("examples", "linear_math", "1.0.0", &ALL)
        .await
        .unwrap();
    assert_eq!(t.steps.len(), 4);
    let examples = env.orch.namespace_handlers("examples").await.unwrap();
    assert!(examples.handlers.contains(&"builtin.multiply".to_owned()));
    assert!(matches!(
        env.orch.namespace_handlers("ghost").await,
        Err(Error::NotFound(_))
    ));
    let registry = HandlerRegistry::with_builtins();
    let missing = env
        .orch
        .missing_handlers(&[], &|h| registry.contains(h))
        .await
        .unwrap();
    assert_eq!(
        missing,
        ["tests/custom@1.0.0: step `work`: unknown handler `test.custom`"]
    );

    let cyclic = "name: c\nnamespace: n\nversion: 1.0.0\nsteps:\n- {name: a, handler: {callable: h}, depends_on: [b]}\n- {name: b, handler: {callable: h}, depends_on: [a]}\n";
    let v = env.orch.validate_template(cyclic, &ALL).await.unwrap();
    assert!(!v.valid);
    assert_eq!(v.errors, ["dependency cycle: a -> b -> a"]);
    let v = env
        .orch
        .validate_template("{not yaml: [", &ALL)
        .await
        .unwrap();
    assert!(
        !v.valid && v.errors[0].starts_with("invalid template document"),
        "{:?}",
        v.errors
    );
    let json_template = r#"{"name":"j","namespace":"n","version":"1.0.0","steps":[{"name":"a","handler":{"callable":"h"}}]}"#;
    assert!(
        env.orch
            .validate_template(json_template, &ALL)
            .await
            .unwrap()
            .valid
    );
}

async fn analytics_reflect_finished_work(env: Env) {
    let w = crate::harness::worker(&env, "w", HandlerRegistry::with_builtins());
    let t = env
        .orch
        .create_task(
            request("examples", "diamond_math", json!({"value": 1})),
            "a",
            &ALL,
            None,
        )
        .await
        .unwrap();
    wait_for(&env, t.task_uuid, TaskState::Complete).await;
    let perf = env.orch.performance(Some(1)).await.unwrap();
    assert_eq!(
        (perf.tasks_created, perf.tasks_completed, perf.step_attempts),
        (1, 1, 4)
    );
    assert_eq!(perf.completion_rate, 1.0);
    let b = env.orch.bottlenecks(Some(2)).await.unwrap();
    assert_eq!(b.slowest_steps.len(), 2);
    assert!(b.error_prone_steps.is_empty());
    assert!(matches!(
        env.orch.performance(Some(0)).await,
        Err(Error::BadRequest(_))
    ));
    env.orch.ping().await.unwrap();
    w.shutdown().await;
}

#[tokio::test]
async fn start_creates_the_sqlite_file_and_rejects_invalid_templates() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    let mut cfg = config(&templates);
    cfg.database.url = tasker_config::DatabaseUrl::new(format!(
        "sqlite://{}/data/tasker.db",
        dir.path().display()
    ));
    let orch = Orchestrator::start(&cfg).await.unwrap();
    assert!(dir.path().join("data/tasker.db").exists());
    assert_eq!(orch.store().backend(), "sqlite");
    orch.shutdown().await;

    std::fs::write(
        templates.join("bad.yaml"),
        "name: b\nnamespace: n\nversion: x\nsteps: []\n",
    )
    .unwrap();
    let err = Orchestrator::start(&cfg).await.unwrap_err();
    let Error::Unprocessable(problems) = err else {
        panic!("{err:?}")
    };
    assert!(
        problems[0].contains("bad.yaml") && problems[0].contains("semantic version"),
        "{problems:?}"
    );
}
