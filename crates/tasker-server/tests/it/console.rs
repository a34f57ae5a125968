//! The web console at `/ui/`: over HTTP (`console/http_*`: sessions, CSRF, origin, permissions,
//! escaping, bad forms, on both backends) and in a real headless Chromium (`console/browser`).
//! The harness serves the whole application in process with auth on and three API keys.

mod browser;
mod browser_pages;
mod http_access;
mod http_input;
mod http_pages;
mod oidc;
mod provider;
mod webdriver;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode, redirect};
use serde_json::{Value, json};
use tasker_testkit::{Backend, ServerProcess, TestConfig, fixture};

use crate::inproc::InProcServer;

/// Every permission.
pub(crate) const ADMIN_KEY: &str = "sk-console-admin";
/// Reads tasks, steps and the DLQ; changes nothing.
pub(crate) const READER_KEY: &str = "sk-console-reader";
/// Only `tasks:read`.
pub(crate) const NARROW_KEY: &str = "sk-console-narrow";
/// Reads schedules and tasks; changes nothing.
pub(crate) const SCHEDULE_READER_KEY: &str = "sk-console-schedule-reader";
/// Reads and changes the schedules of the `billing` namespace only.
pub(crate) const BILLING_KEY: &str = "sk-console-billing";

/// A template with HTML in every free-text place: its description, a handler setting that
/// ends up in an error message, and (through `builtin.echo`) a result.
pub(crate) const HOSTILE: &str = r#"name: hostile
namespace: ops
version: 1.0.0
description: "<script>alert('description')</script>"
steps:
  - name: echo
    handler: { callable: builtin.echo }
  - name: boom
    handler: { callable: builtin.add, initialization: { input: "<script>alert('error')</script>" } }
    retry: { retryable: false, max_attempts: 1 }
"#;

/// The role file: auth on with the fixture key and the three API keys; `[web.ui]` as given.
pub(crate) fn role_file(auth: bool, ui: &str) -> String {
    format!(
        r#"[orchestration]
poll_interval_ms = 50
[worker]
poll_interval_ms = 50
[web.ui]
{ui}
[web.auth]
enabled = {auth}
jwt_public_key_path = "{}"
[[web.auth.api_keys]]
key = "{ADMIN_KEY}"
permissions = ["*"]
description = "Console admin"
[[web.auth.api_keys]]
key = "{READER_KEY}"
permissions = ["tasks:*", "steps:read", "dlq:read", "templates:read", "system:handlers_read"]
description = "Console reader"
[[web.auth.api_keys]]
key = "{NARROW_KEY}"
permissions = ["tasks:read"]
description = "Console narrow"
[[web.auth.api_keys]]
key = "{SCHEDULE_READER_KEY}"
permissions = ["schedules:read", "tasks:read", "tasks:list"]
description = "Console schedule reader"
[[web.auth.api_keys]]
key = "{BILLING_KEY}"
permissions = ["schedules:read@billing", "schedules:write@billing"]
description = "Console billing"
"#,
        fixture("rsa-a-public.pem").display()
    )
}

/// A console server on its own database (`None`: SQLite under the config root).
pub(crate) struct Console {
    /// `http://127.0.0.1:PORT`
    pub(crate) base_url: String,
    _server: Serving,
    pub(crate) config: TestConfig,
    http: Client,
}

/// The application in this process, or a real `tasker-server` process (the browser tests).
enum Serving {
    InProc(InProcServer),
    Process(ServerProcess),
}

impl Console {
    /// Serves the application in process.
    pub(crate) async fn start(database: Option<&str>, role: &str) -> Self {
        Self::start_with_templates(database, role, &[]).await
    }

    /// Serves the application in process with more templates.
    pub(crate) async fn start_with_templates(
        database: Option<&str>,
        role: &str,
        templates: &[(&str, &str)],
    ) -> Self {
        let mut config = Self::config(database, role);
        for (file, yaml) in templates {
            config = config.with_template(file, yaml);
        }
        let server = InProcServer::start(&config).await;
        Self::with(Serving::InProc(server), config)
    }

    /// Runs the `tasker-server` binary.
    pub(crate) fn start_process(
        database: Option<&str>,
        role: &str,
        templates: &[(&str, &str)],
    ) -> Self {
        Self::start_process_env(database, role, templates, &[])
    }

    /// Runs the `tasker-server` binary with extra environment variables.
    pub(crate) fn start_process_env(
        database: Option<&str>,
        role: &str,
        templates: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Self {
        let mut config = Self::config(database, role);
        for (file, yaml) in templates {
            config = config.with_template(file, yaml);
        }
        let server = ServerProcess::start(crate::SERVER, &config, env);
        Self::with(Serving::Process(server), config)
    }

    fn with(server: Serving, config: TestConfig) -> Self {
        let base_url = match &server {
            Serving::InProc(s) => s.base_url.clone(),
            Serving::Process(s) => s.base_url.clone(),
        };
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base_url,
            _server: server,
            config,
            http,
        }
    }

    /// `base_url` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn config(database: Option<&str>, role: &str) -> TestConfig {
        let mut config = TestConfig::new().with_examples().backoff(10, 50);
        if let Some(url) = database {
            config = config.database(url);
        }
        config = config
            .with_template("broken.yaml", tasker_testkit::BROKEN)
            .with_template("hostile.yaml", HOSTILE);
        config.write("base/orchestration.toml", role);
        config
    }

    /// The `Origin` a browser sends from the console's pages.
    pub(crate) fn origin(&self) -> String {
        self.base_url.clone()
    }

    pub(crate) async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Posts a form from the console's own origin.
    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Response {
        self.post_from(path, cookie, form, Some(&self.origin()))
            .await
    }

    pub(crate) async fn post_from(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send().await.unwrap()
    }

    /// Signs in with an API key and returns the `Cookie` header value of the session.
    pub(crate) async fn sign_in(&self, key: &str) -> String {
        let response = self
            .post(
                "/ui/login",
                None,
                &[("kind", "api_key"), ("credential", key)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        session_cookie(response.headers()).expect("a session cookie")
    }

    /// The CSRF token of the forms on `path`.
    pub(crate) async fn csrf(&self, path: &str, cookie: &str) -> String {
        let page = self.get(path, Some(cookie)).await.text().await.unwrap();
        csrf_of(&page)
    }

    /// Creates a task through the API with the admin key.
    pub(crate) async fn create_task(&self, body: Value) -> String {
        let response = self
            .http
            .post(self.url("/v1/tasks"))
            .header("x-api-key", ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let task: Value = response.json().await.unwrap();
        task["task_uuid"].as_str().unwrap().to_owned()
    }

    /// A JSON document of the API, read with the admin key.
    pub(crate) async fn api_get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts a JSON body to the API with the admin key; the status and the answer.
    pub(crate) async fn api_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("x-api-key", ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates a schedule through the API that never fires on its own this year (so only
    /// the console's trigger makes tasks), and returns its id.
    pub(crate) async fn create_schedule(&self, description: &str) -> String {
        let (status, schedule) = self
            .api_post(
                "/v1/schedules",
                json!({"namespace": "examples", "name": "diamond_math", "cron": "0 0 1 1 *",
                       "context": {"value": 2}, "description": description}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{schedule}");
        schedule["schedule_uuid"].as_str().unwrap().to_owned()
    }

    /// The task's status through the API.
    pub(crate) async fn task_status(&self, task: &str) -> String {
        let task = self.api_get(&format!("/v1/tasks/{task}")).await;
        task["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the task reaches `status`.
    pub(crate) async fn wait_for(&self, task: &str, status: &str) {
        tasker_testkit::eventually(
            &format!("task {task} {status}"),
            tasker_testkit::HANG_GUARD,
            async || {
                let now = self.task_status(task).await;
                (now == status).then_some(()).ok_or(now)
            },
        )
        .await;
    }

    /// The DLQ entries of a task through the API.
    pub(crate) async fn dlq_entries(&self, task: &str) -> Vec<Value> {
        let entries = self.api_get(&format!("/v1/dlq/task/{task}")).await;
        entries.as_array().cloned().unwrap_or_default()
    }
}

/// A broken task (blocked with a DLQ entry once its first step fails).
pub(crate) fn broken_task() -> Value {
    json!({"namespace": "ops", "name": "broken", "context": {}})
}

/// `tasker_console=...` from a response's `Set-Cookie`, unless it clears the cookie.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tasker_console=") && !v.starts_with("tasker_console=;"))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// The redirect target of a response.
pub(crate) fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The value of the first `csrf` hidden field of a page.
pub(crate) fn csrf_of(page: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("a form with a CSRF token") + marker.len();
    page[start..start + 64].to_owned()
}

/// Runs a console test on SQLite and on a PostgreSQL schema of its own.
pub(crate) async fn with_database<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    crate::on_database(backend, "console-db-password", test).await;
}
