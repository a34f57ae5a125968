//! Integration tests of the configuration loader against real files in temporary roots.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod bounded_reads;
mod console_oidc;
mod errors;
mod fuzz;
mod interpolation;
mod key_rotation;
mod layering;
mod secrets;
mod seed;
mod web_limits;

use std::path::{Path, PathBuf};

use tasker_config::{ConfigError, Env, LoadOptions, Loaded, OrchestrationConfig, WorkerConfig};
use tasker_testkit::TestConfig;

/// A temporary config root with `base/` and `environments/` and no file, loaded as either
/// role for the `development` environment.
pub(crate) struct Root {
    config: TestConfig,
}

impl Root {
    pub(crate) fn new() -> Self {
        Self {
            config: TestConfig::bare(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.config.root()
    }

    pub(crate) fn write(&self, relative: &str, text: &str) -> PathBuf {
        self.config.write(relative, text)
    }

    pub(crate) fn options(&self, environment: &str) -> LoadOptions {
        LoadOptions {
            config_root: self.path().to_owned(),
            environment: environment.to_owned(),
            config_path: None,
        }
    }

    pub(crate) fn orchestration(
        &self,
        env: &Env,
    ) -> Result<Loaded<OrchestrationConfig>, ConfigError> {
        Loaded::load(&self.options("development"), env)
    }

    pub(crate) fn worker(&self, env: &Env) -> Result<Loaded<WorkerConfig>, ConfigError> {
        Loaded::load(&self.options("development"), env)
    }
}

pub(crate) fn no_env() -> Env {
    Env::from_pairs(Vec::<(String, String)>::new())
}

/// The fixture RSA public key (SPKI PEM) the auth tests use too.
pub(crate) fn public_key_path() -> String {
    tasker_testkit::fixture("rsa-a-public.pem")
        .display()
        .to_string()
}

/// The fixture RSA public key's PEM text.
pub(crate) fn public_key_pem() -> String {
    tasker_testkit::fixture_text("rsa-a-public.pem")
}
