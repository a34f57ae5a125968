//! Reloading the auth state on SIGHUP: the configuration is read again with the loader and the
//! flags the process started with, and the authenticator's state (keys, API keys, permission
//! rules, JWKS settings) is replaced whole. A configuration that does not load or validate
//! changes nothing; either way the outcome is logged (the loader's messages name the file and
//! key, never a secret) and counted in `tasker_config_reloads_total{result}`.

use std::sync::Arc;

use metrics::counter;
use tasker_auth::Authenticator;
use tasker_config::{Env, Loaded, RoleConfig};
use tokio::signal::unix::{SignalKind, signal};

use crate::boot::ConfigFlags;

/// Installs the SIGHUP handler (from now on SIGHUP no longer ends the process) and serves
/// reload requests in the background. Call inside the Tokio runtime, before serving.
pub(crate) fn reload_on_sighup<C: RoleConfig>(
    flags: ConfigFlags,
    auth: Arc<Authenticator>,
) -> Result<(), String> {
    let mut hangups =
        signal(SignalKind::hangup()).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    for result in ["success", "failure"] {
        counter!("tasker_config_reloads_total", "result" => result).absolute(0);
    }
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let flags = flags.clone();
            let auth = auth.clone();
            let outcome = tokio::task::spawn_blocking(move || reload::<C>(&flags, &auth))
                .await
                .unwrap_or_else(|e| Err(format!("reload task failed: {e}")));
            match outcome {
                Ok(()) => {
                    counter!("tasker_config_reloads_total", "result" => "success").increment(1);
                    tracing::info!("SIGHUP: configuration reloaded; new auth state in effect");
                }
                Err(why) => {
                    counter!("tasker_config_reloads_total", "result" => "failure").increment(1);
                    tracing::warn!(error = %why, "SIGHUP: configuration reload failed; keeping the previous auth state");
                }
            }
        }
    });
    Ok(())
}

/// Loads the role's configuration again and swaps the auth state built from it.
fn reload<C: RoleConfig>(flags: &ConfigFlags, auth: &Authenticator) -> Result<(), String> {
    let env = Env::from_process();
    let loaded = Loaded::<C>::load(&flags.options(&env), &env).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    auth.reload(&loaded.config.web().auth)
        .map_err(|e| loaded.error_at(&e.key, e.reason).to_string())
}
