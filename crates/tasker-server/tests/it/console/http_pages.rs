//! The schedules pages and their actions (permissions, namespace scope, CSRF), a step's log,
//! the task list's tag and time filters (and the API's), and the run DAG of dynamic workflows (roads not taken, collapsed batches), over HTTP on
//! both backends.

use reqwest::StatusCode;
use serde_json::json;

use super::*;

tasker_testkit::on_each_backend!(super::with_database =>
    schedules_are_listed_paused_resumed_and_triggered_with_the_apis_permissions,
    a_step_page_shows_each_attempts_log_escaped,
    the_run_dag_shows_roads_not_taken_and_collapses_large_batches,
    the_task_list_filters_on_tag_and_creation_time,
);

async fn schedules_are_listed_paused_resumed_and_triggered_with_the_apis_permissions(
    database: Option<String>,
) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let schedule = console
        .create_schedule("nightly <script>alert(1)</script>")
        .await;
    let page = format!("/ui/schedules/{schedule}");

    // The admin sees the schedule, escaped, with its actions.
    let admin = console.sign_in(ADMIN_KEY).await;
    let list = console.get("/ui/schedules", Some(&admin)).await;
    assert_eq!(list.status(), StatusCode::OK);
    let body = list.text().await.unwrap();
    assert!(body.contains(&schedule), "{body}");
    assert!(!body.contains("<script>alert(1)"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(1)"), "{body}");
    assert!(body.contains(&format!("{page}/pause")), "{body}");
    let filtered = console
        .get("/ui/schedules?namespace=elsewhere", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(!filtered.contains(&schedule), "{filtered}");

    // Pause, resume and trigger, each a CSRF-checked POST.
    let csrf = console.csrf(&page, &admin).await;
    let unchecked = console
        .post(&format!("{page}/pause"), Some(&admin), &[])
        .await;
    assert_eq!(unchecked.status(), StatusCode::FORBIDDEN);
    let paused = console
        .post(&format!("{page}/pause"), Some(&admin), &[("csrf", &csrf)])
        .await;
    assert_eq!(paused.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&paused), page);
    let api = console.api_get(&format!("/v1/schedules/{schedule}")).await;
    assert_eq!(api["paused"], true);
    let body = console.get(&page, Some(&admin)).await.text().await.unwrap();
    assert!(body.contains(r#"data-paused="true""#), "{body}");
    assert!(body.contains(&format!("{page}/resume")), "{body}");
    let resumed = console
        .post(&format!("{page}/resume"), Some(&admin), &[("csrf", &csrf)])
        .await;
    assert_eq!(resumed.status(), StatusCode::SEE_OTHER);
    let api = console.api_get(&format!("/v1/schedules/{schedule}")).await;
    assert_eq!(api["paused"], false);
    let triggered = console
        .post(&format!("{page}/trigger"), Some(&admin), &[("csrf", &csrf)])
        .await;
    assert_eq!(triggered.status(), StatusCode::SEE_OTHER);
    let runs = console
        .api_get(&format!("/v1/schedules/{schedule}/runs"))
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["result"], "triggered");
    let task = runs[0]["task_uuid"].as_str().unwrap();
    let body = console.get(&page, Some(&admin)).await.text().await.unwrap();
    assert!(body.contains(&format!("/ui/tasks/{task}")), "{body}");

    // A reader sees it without actions, and its forged POSTs are refused.
    let reader = console.sign_in(SCHEDULE_READER_KEY).await;
    let body = console
        .get(&page, Some(&reader))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("diamond_math"), "{body}");
    assert!(
        !body.contains("/pause") && !body.contains("/trigger"),
        "{body}"
    );
    let csrf = csrf_of(&body);
    for action in ["pause", "trigger"] {
        let forged = console
            .post(
                &format!("{page}/{action}"),
                Some(&reader),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let text = forged.text().await.unwrap();
        assert!(
            text.contains("Missing required permission: schedules:write"),
            "{text}"
        );
    }
    let api = console.api_get(&format!("/v1/schedules/{schedule}")).await;
    assert_eq!(api["paused"], false);
    let runs = console
        .api_get(&format!("/v1/schedules/{schedule}/runs"))
        .await;
    assert_eq!(runs.as_array().unwrap().len(), 1);

    // Namespace scope: a billing operator does not see the examples schedule at all.
    let billing = console.sign_in(BILLING_KEY).await;
    let body = console
        .get("/ui/schedules", Some(&billing))
        .await
        .text()
        .await
        .unwrap();
    assert!(!body.contains(&schedule), "{body}");
    assert_eq!(
        console.get(&page, Some(&billing)).await.status(),
        StatusCode::NOT_FOUND
    );
    let csrf = csrf_of(&body);
    let hidden = console
        .post(&format!("{page}/pause"), Some(&billing), &[("csrf", &csrf)])
        .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    // Without schedules:read the pages are refused; bad ids are 400 pages.
    let narrow = console.sign_in(NARROW_KEY).await;
    let refused = console.get("/ui/schedules", Some(&narrow)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    for bad in ["/ui/schedules/not-a-uuid", "/ui/schedules/not-a-uuid/pause"] {
        let response = if bad.ends_with("pause") {
            console.post(bad, Some(&admin), &[("csrf", &csrf)]).await
        } else {
            console.get(bad, Some(&admin)).await
        };
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let unknown = console
        .get(
            &format!("/ui/schedules/{}", uuid::Uuid::nil()),
            Some(&admin),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// A program that writes to stderr (its step log), HTML included, then fails once.
const CHATTY: &str = r#"name: chatty
namespace: ops
version: 1.0.0
steps:
  - name: talk
    handler:
      callable: builtin.command
      initialization:
        program: sh
        args: ["-c", "echo 'reading <b>orders</b>' >&2; echo \"attempt done\" >&2; echo '{\"ok\": true}'"]
"#;

async fn a_step_page_shows_each_attempts_log_escaped(database: Option<String>) {
    let console = Console::start_with_templates(
        database.as_deref(),
        &role_file(true, ""),
        &[("chatty.yaml", CHATTY)],
    )
    .await;
    let task = console
        .create_task(json!({"namespace": "ops", "name": "chatty", "context": {}}))
        .await;
    console.wait_for(&task, "complete").await;
    let steps = console
        .api_get(&format!("/v1/tasks/{task}/workflow_steps"))
        .await;
    let step = steps[0]["step_uuid"].as_str().unwrap().to_owned();
    let admin = console.sign_in(ADMIN_KEY).await;
    let page = format!("/ui/tasks/{task}/steps/{step}");
    let body = console.get(&page, Some(&admin)).await.text().await.unwrap();
    assert!(body.contains(r#"id="step-log""#), "{body}");
    assert!(body.contains("reading &lt;b&gt;orders&lt;/b&gt;"), "{body}");
    assert!(!body.contains("<b>orders"), "{body}");
    assert!(body.contains("attempt done"), "{body}");
    assert!(body.contains("Attempt 1 of 1, 2 lines"), "{body}");
    assert!(
        body.contains("data-final"),
        "a finished attempt is final: {body}"
    );

    let fragment = console
        .get(&format!("{page}/log?attempt=1"), Some(&admin))
        .await;
    assert_eq!(fragment.status(), StatusCode::OK);
    let text = fragment.text().await.unwrap();
    assert!(
        text.contains("attempt done") && !text.contains("<html"),
        "{text}"
    );
    for (query, status) in [
        ("?attempt=0", StatusCode::BAD_REQUEST),
        ("?attempt=x", StatusCode::BAD_REQUEST),
        ("?attempt=2", StatusCode::NOT_FOUND),
    ] {
        let response = console.get(&format!("{page}{query}"), Some(&admin)).await;
        assert_eq!(response.status(), status, "{query}");
    }
    // The log needs steps:read, like the API's.
    let narrow = console.sign_in(NARROW_KEY).await;
    let refused = console.get(&format!("{page}/log"), Some(&narrow)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

async fn the_run_dag_shows_roads_not_taken_and_collapses_large_batches(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let admin = console.sign_in(ADMIN_KEY).await;

    let routed = console
        .create_task(json!({"namespace": "examples", "name": "order_routing", "context": {"shipping": "express"}}))
        .await;
    console.wait_for(&routed, "complete").await;
    let body = console
        .get(&format!("/ui/tasks/{routed}"), Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    let not_taken = r#"class="node n-not_created k-not-taken" data-step="ship_standard" data-state="not_created""#;
    assert!(body.contains(not_taken), "{body}");
    assert!(
        body.contains(r#"data-step="ship_express" data-state="complete""#),
        "{body}"
    );
    assert!(body.contains("complete · by decision"), "{body}");

    let summed = console
        .create_task(json!({"namespace": "examples", "name": "batch_sum", "context": {"from": 1, "to": 100, "parts": 25}}))
        .await;
    console.wait_for(&summed, "complete").await;
    let page = format!("/ui/tasks/{summed}");
    let body = console.get(&page, Some(&admin)).await.text().await.unwrap();
    assert!(
        body.contains(r#"class="node n-complete k-batch-group" data-step="sum_part""#),
        "{body}"
    );
    assert!(body.contains("sum_part ×25"), "{body}");
    assert!(!body.contains(r#"data-step="sum_part_3""#), "{body}");
    assert!(body.contains("25 complete"), "{body}");
    assert!(
        body.contains(&format!("{page}?expand=sum_part#dag")),
        "{body}"
    );
    let expanded = console
        .get(&format!("{page}?expand=sum_part"), Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        expanded.matches(r#"data-step="sum_part_"#).count(),
        25,
        "{expanded}"
    );
    assert!(
        expanded.contains(&format!("/ui/tasks/{summed}/live?expand=sum_part")),
        "the live refresh keeps the batch expanded: {expanded}"
    );
    let live = console
        .get(&format!("{page}/live?expand=sum_part"), Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(live.matches(r#"data-step="sum_part_"#).count(), 25);
}

async fn the_task_list_filters_on_tag_and_creation_time(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let create = |tags: Value| {
        console.create_task(json!({"namespace": "examples", "name": "diamond_math",
                                   "context": {"value": 1}, "tags": tags}))
    };
    let nightly = create(json!(["nightly", "eu"])).await;
    let adhoc = create(json!(["nightly-eu"])).await;
    let admin = console.sign_in(ADMIN_KEY).await;
    let list = |query: &'static str| {
        let console = &console;
        let admin = admin.clone();
        async move {
            let response = console
                .get(&format!("/ui/tasks?{query}"), Some(&admin))
                .await;
            (response.status(), response.text().await.unwrap())
        }
    };
    let shows = |body: &str, task: &str| body.contains(&format!("/ui/tasks/{task}"));

    let (status, body) = list("tag=nightly").await;
    assert_eq!(status, StatusCode::OK);
    assert!(shows(&body, &nightly) && !shows(&body, &adhoc), "{body}");
    assert!(body.contains("1 tasks"), "{body}");
    assert!(body.contains(r#"name="tag" value="nightly""#), "{body}");
    let (_, body) = list("tag=&created_before=2999-01-01T00:00").await;
    assert!(shows(&body, &nightly) && shows(&body, &adhoc), "{body}");
    assert!(
        body.contains(r#"name="created_before" value="2999-01-01T00:00""#),
        "{body}"
    );
    let (_, body) = list("created_after=2999-01-01T00:00").await;
    assert!(!shows(&body, &nightly) && !shows(&body, &adhoc), "{body}");
    assert!(body.contains("0 tasks"), "{body}");
    let (_, body) = list("created_after=2000-01-01&tag=nightly-eu").await;
    assert!(!shows(&body, &nightly) && shows(&body, &adhoc), "{body}");
    let (status, body) = list("created_after=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("created after: expected a time"), "{body}");

    // The API route takes the same filters, RFC 3339 times, and refuses an empty window.
    let api = console
        .api_get("/v1/tasks?tag=eu&created_after=2000-01-01T00:00:00Z")
        .await;
    let ids: Vec<&str> = api["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [nightly.as_str()]);
    assert_eq!(api["pagination"]["total_count"], 1);
    let refused = console
        .api_get("/v1/tasks?created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(refused["error"], "bad_request", "{refused}");
    assert_eq!(
        refused["message"], "created_after must be earlier than created_before",
        "{refused}"
    );
    let refused = console.api_get("/v1/tasks?created_after=soon").await;
    assert_eq!(refused["error"], "bad_request", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("created_after"),
        "{refused}"
    );
}
