//! The `[web.auth]` settings token commands default to: the orchestration configuration's
//! when one loads, else the configuration reference's defaults.

use tasker_config::{AuthConfig, ConfigError, Loaded, OrchestrationConfig};

use crate::Context;

/// `[web.auth]` from the orchestration configuration, or the built-in defaults.
///
/// A configuration that exists but fails to load is reported on stderr (its error names no
/// secret) and the defaults are used, so explicit flags keep working.
pub(crate) fn load(context: &Context) -> AuthConfig {
    match Loaded::<OrchestrationConfig>::load(&context.options, &context.env) {
        Ok(loaded) => loaded.config.web.auth,
        Err(ConfigError::NotFound(_)) => AuthConfig::default(),
        Err(err) => {
            eprintln!("warning: ignoring the configuration ({err}); using built-in defaults");
            AuthConfig::default()
        }
    }
}
