//! Integration tests of the configuration loader against real files in temporary roots.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod bounded_reads;
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

/// A temporary config root with `base/` and `environments/`.
pub(crate) struct Root {
    pub(crate) dir: tempfile::TempDir,
}

impl Root {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("base")).unwrap();
        for env in ["development", "test", "production"] {
            std::fs::create_dir_all(dir.path().join("environments").join(env)).unwrap();
        }
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
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

/// A real RSA public key (SPKI PEM) shared with the auth tests.
pub(crate) fn public_key_pem() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tasker-auth/tests/fixtures/rsa-a-public.pem");
    std::fs::read_to_string(path).unwrap()
}
