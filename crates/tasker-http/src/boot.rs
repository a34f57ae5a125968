//! Process startup shared by the server binaries: config flags, loading and validating the
//! role's configuration, logging, and building the authenticator. Any failure is one line
//! naming the file, key and reason.

use std::path::PathBuf;
use std::sync::Arc;

use tasker_auth::Authenticator;
use tasker_config::{Env, LoadOptions, Loaded, RoleConfig, redacted_view};

/// `--config-root`, `--env` and `--config`, over `TASKER_CONFIG_ROOT`, `TASKER_ENV` and
/// `TASKER_CONFIG_PATH`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigFlags {
    /// Root of base/ and environments/ (default: ./config/tasker).
    #[arg(long)]
    pub config_root: Option<PathBuf>,
    /// Environment name (default: development).
    #[arg(long)]
    pub env: Option<String>,
    /// One merged configuration file instead of the layers.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl ConfigFlags {
    /// Load options from the environment with these flags applied.
    pub fn options(&self, env: &Env) -> LoadOptions {
        LoadOptions::from_env(env).with_flags(
            self.config_root.clone(),
            self.env.clone(),
            self.config.clone(),
        )
    }
}

/// A started process's configuration and authenticator.
#[derive(Debug)]
pub struct Booted<C> {
    /// The loaded configuration.
    pub loaded: Loaded<C>,
    /// The authenticator built from `[web.auth]`.
    pub auth: Arc<Authenticator>,
    /// The redacted configuration served by `/config`.
    pub config_view: tasker_config::RedactedView,
    /// The tracing pipeline, shut down (queued spans exported) when the process stops.
    pub telemetry: tasker_telemetry::Telemetry,
}

/// Loads and validates the configuration, sets up logging and tracing (`service.name` is
/// `tasker-server` or `tasker-worker` by role) and builds the authenticator.
pub fn boot<C: RoleConfig>(
    flags: &ConfigFlags,
    logging: impl Fn(&C) -> &tasker_config::LoggingConfig,
) -> Result<Booted<C>, String> {
    let env = Env::from_process();
    let loaded = Loaded::<C>::load(&flags.options(&env), &env).map_err(|e| e.to_string())?;
    let service = match C::ROLE {
        tasker_config::Role::Orchestration => "tasker-server",
        tasker_config::Role::Worker => "tasker-worker",
    };
    let telemetry =
        tasker_telemetry::init(service, logging(&loaded.config), loaded.config.telemetry())?;
    // Install the metrics recorder before any background task can record.
    let _ = crate::metrics_recorder::metrics_handle();
    let auth = Authenticator::from_config(&loaded.config.web().auth)
        .map_err(|e| loaded.error_at(&e.key, e.reason).to_string())?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        role = %C::ROLE,
        environment = %loaded.environment,
        files = ?loaded.files,
        "{}",
        auth.summary()
    );
    let config_view =
        redacted_view(&loaded.config).map_err(|e| format!("cannot render configuration: {e}"))?;
    Ok(Booted {
        loaded,
        auth: Arc::new(auth),
        config_view,
        telemetry,
    })
}

/// The whole life of a server binary: boot (exit 1 with one line on a configuration error),
/// raise the open-file limit, start the Tokio runtime, reload the auth state on SIGHUP, count
/// termination signals (the second exits at once), run `serve_role` to completion, and map
/// its outcome to the exit status. `name` prefixes every
/// message.
pub fn run_server<C, F, Fut>(
    name: &str,
    flags: &ConfigFlags,
    logging: impl Fn(&C) -> &tasker_config::LoggingConfig,
    serve_role: F,
) -> std::process::ExitCode
where
    C: RoleConfig,
    F: FnOnce(Booted<C>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let booted = match boot::<C>(flags, logging) {
        Ok(booted) => booted,
        Err(message) => {
            eprintln!("{name}: configuration error: {message}");
            return std::process::ExitCode::FAILURE;
        }
    };
    crate::fd_limit::raise_and_log();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let reloads = (flags.clone(), booted.auth.clone());
    let telemetry = booted.telemetry.clone();
    let served = runtime.block_on(async move {
        crate::reload::reload_on_sighup::<C>(reloads.0, reloads.1)?;
        crate::termination::watch_termination(name)?;
        serve_role(booted).await
    });
    // The spans of the last requests and steps are exported before the process exits.
    drop(runtime);
    telemetry.shutdown();
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{name}: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
