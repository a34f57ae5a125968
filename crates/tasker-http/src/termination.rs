//! Termination requests of a server process. The first SIGINT or SIGTERM starts the graceful
//! shutdown (every [`shutdown_signal`] completes: the listener stops accepting, requests in
//! progress finish, an embedded or standalone worker stops claiming and drains); a second one
//! ends the process at once with exit status 1, whatever is still running.

use std::sync::OnceLock;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// How many termination signals the process received, once [`watch_termination`] runs.
static REQUESTS: OnceLock<watch::Sender<u32>> = OnceLock::new();

/// Installs the SIGINT and SIGTERM handlers and counts the signals in the background. Call
/// inside the Tokio runtime, before serving; `name` prefixes the line printed on a forced exit.
pub(crate) fn watch_termination(name: &str) -> Result<(), String> {
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    let requests = REQUESTS.get_or_init(|| watch::channel(0).0).clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        loop {
            let which = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            let seen = *requests.borrow() + 1;
            requests.send_replace(seen);
            if seen == 1 {
                tracing::info!(
                    signal = which,
                    "shutdown signal received; a second one exits at once"
                );
            } else {
                tracing::warn!(signal = which, "second termination signal; exiting at once");
                eprintln!("{name}: second termination signal ({which}); exiting at once");
                std::process::exit(1);
            }
        }
    });
    Ok(())
}

/// Completes on the first SIGINT or SIGTERM. In a process started by `run_server` every caller
/// sees the same first signal; elsewhere (tests serving in-process) it listens on its own.
pub async fn shutdown_signal() {
    if let Some(requests) = REQUESTS.get() {
        let mut seen = requests.subscribe();
        let closed = seen.wait_for(|n| *n > 0).await.is_err();
        if closed {
            std::future::pending::<()>().await;
        }
        return;
    }
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
