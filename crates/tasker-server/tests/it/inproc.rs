//! The orchestration application served from inside the test process: the configuration of a
//! [`TestConfig`] root loaded by the real loader, the real authenticator and orchestrator, and
//! `tasker_server::app` on `127.0.0.1:0`. API tests use it so they need no binary; tests
//! where the process itself matters (startup, signals, logs, the auth matrix) run the binary.

use std::sync::Arc;

use tasker_auth::Authenticator;
use tasker_config::{Env, LoadOptions, Loaded, OrchestrationConfig, redacted_view};
use tasker_orchestration::Orchestrator;
use tasker_server::{ServerState, app};
use tasker_testkit::TestConfig;
use tasker_worker::{HandlerRegistry, WorkerRuntime};
use tokio::sync::oneshot;

/// A running in-process orchestration server; stopped on drop.
pub(crate) struct InProcServer {
    /// `http://127.0.0.1:PORT`
    pub(crate) base_url: String,
    orchestrator: Orchestrator,
    stop: Option<oneshot::Sender<()>>,
}

impl InProcServer {
    /// Loads the orchestration configuration of `config` (environment `development`) and
    /// serves it, with the embedded worker when the configuration asks for one.
    pub(crate) async fn start(config: &TestConfig) -> Self {
        let env = Env::from_pairs([("TASKER_CONFIG_ROOT", config.root().display().to_string())]);
        let loaded = Loaded::<OrchestrationConfig>::load(&LoadOptions::from_env(&env), &env)
            .unwrap_or_else(|e| panic!("test configuration: {e}"));
        let cfg = loaded.config;
        let auth = Arc::new(Authenticator::from_config(&cfg.web.auth).unwrap());
        auth.start_background();
        let orchestrator = Orchestrator::start(&cfg).await.unwrap();
        let worker = cfg.orchestration.embedded_worker.then(|| {
            Arc::new(WorkerRuntime::start(
                orchestrator.store(),
                &cfg.worker,
                &cfg.engine,
                HandlerRegistry::with_builtins(),
            ))
        });
        let web = cfg.web.clone();
        let router = app(ServerState {
            orchestrator: orchestrator.clone(),
            auth,
            web: cfg.web.clone(),
            config_view: Arc::new(redacted_view(&cfg).unwrap()),
            worker,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            let _ = tasker_http::serve(listener, router, &web, stopped).await;
        });
        Self {
            base_url,
            orchestrator,
            stop: Some(stop),
        }
    }

    /// `base_url` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for InProcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let orchestrator = self.orchestrator.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { orchestrator.shutdown().await });
        }
    }
}
