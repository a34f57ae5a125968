//! A small W3C WebDriver client over the tests' HTTP client, driving Debian's `chromium`
//! through `chromium-driver` (started on a free port, killed on drop). It speaks only the
//! commands the browser tests use: navigate, find, click, type, read, cookies, screenshots.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session.
pub(crate) struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
}

/// An element of the current page.
pub(crate) struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session.
    pub(crate) async fn start() -> Self {
        let port = tasker_testkit::closed_port();
        // Its own process group, so dropping the browser ends Chromium too, even after a panic.
        let driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; .ci/run installs it)");
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        tasker_testkit::eventually(
            "chromedriver ready",
            tasker_testkit::HANG_GUARD,
            async || {
                match http.get(format!("{root}/status")).send().await {
                    Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
                .and_then(|v| {
                    v["value"]["ready"]
                        .as_bool()
                        .filter(|r| *r)
                        .ok_or(v.to_string())
                })
            },
        )
        .await;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1100,760"]
            }
        }}});
        let session: Value = http
            .post(format!("{root}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {session}"));
        Self {
            driver,
            base: format!("{root}/session/{id}"),
            http,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.unwrap().json().await.unwrap();
        reply["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Opens `url`.
    pub(crate) async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The current address.
    pub(crate) async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element matching a CSS selector.
    pub(crate) async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await;
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e[ELEMENT].as_str())
                    .map(|id| Element {
                        browser: self,
                        id: id.to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching a CSS selector, once one does (a page submitted a moment
    /// ago may still be loading); panics with the page source if none ever does.
    pub(crate) async fn find(&self, css: &str) -> Element<'_> {
        if self.find_all(css).await.is_empty() {
            self.wait_for(css).await;
        }
        match self.find_all(css).await.into_iter().next() {
            Some(e) => e,
            None => panic!(
                "no `{css}` on {}:\n{}",
                self.current_url().await,
                self.source().await
            ),
        }
    }

    /// Waits until an element matches a CSS selector.
    pub(crate) async fn wait_for(&self, css: &str) {
        tasker_testkit::eventually(css, tasker_testkit::HANG_GUARD, async || {
            if self.find_all(css).await.is_empty() {
                Err(self.current_url().await)
            } else {
                Ok(())
            }
        })
        .await;
    }

    /// The page's HTML as the browser holds it now.
    pub(crate) async fn source(&self) -> String {
        self.get("/source")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a script in the page and returns its result.
    pub(crate) async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// The value of a cookie, if the browser holds it.
    pub(crate) async fn cookie(&self, name: &str) -> Option<String> {
        let all = self.get("/cookie").await;
        all.as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str().map(str::to_owned))
    }

    /// When a cookie expires (seconds since the epoch), if the browser holds it.
    pub(crate) async fn cookie_expiry(&self, name: &str) -> Option<i64> {
        let all = self.get("/cookie").await;
        all.as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["expiry"].as_i64())
    }

    /// Forgets every cookie.
    pub(crate) async fn clear_cookies(&self) {
        self.call(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// Saves a PNG screenshot of the viewport under the target directory and returns its path.
    pub(crate) async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.get("/screenshot").await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Browser {
    /// Ends the browser session (closing Chromium) and the driver.
    pub(crate) async fn quit(self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

impl Element<'_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}/{what}", self.id)
    }

    /// Clicks it.
    pub(crate) async fn click(&self) {
        self.browser.post(&self.path("click"), json!({})).await;
    }

    /// Types into it.
    pub(crate) async fn send_keys(&self, text: &str) {
        self.browser
            .post(&self.path("value"), json!({ "text": text }))
            .await;
    }

    /// Its visible text.
    pub(crate) async fn text(&self) -> String {
        let v = self.browser.get(&self.path("text")).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// One of its attributes.
    pub(crate) async fn attribute(&self, name: &str) -> Option<String> {
        let v = self
            .browser
            .get(&self.path(&format!("attribute/{name}")))
            .await;
        v.as_str().map(str::to_owned)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
