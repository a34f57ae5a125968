//! The loader both servers and `tasker-ctl` use: locate layers (or one merged file),
//! check and merge them, interpolate, apply the seed's environment overrides, resolve
//! `*_file` secrets, fill role defaults and validate.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::Table;

use crate::bounded::read_bounded;
use crate::error::ConfigError;
use crate::interpolate::interpolate_table;
use crate::layers::{Provenance, layer_paths, merge, read_layer, set_string, typed};
use crate::model::{
    CommonLayer, OrchestrationConfig, Role, WebConfig, WorkerConfig, WorkerSection,
};
use crate::secret::Secret;
use crate::validate;
use tasker_proto::Env;

/// Variables that override TOML when set and non-empty, with the key each overrides.
const OVERRIDES: &[(&str, &str)] = &[
    ("TASKER_JWT_PUBLIC_KEY_PATH", "web.auth.jwt_public_key_path"),
    ("TASKER_JWT_PUBLIC_KEY", "web.auth.jwt_public_key"),
    ("DATABASE_URL", "database.url"),
    ("TASKER_WEB_BIND_ADDRESS", "web.bind_address"),
];

/// Where configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Root of `base/` and `environments/` (`TASKER_CONFIG_ROOT`, default `./config/tasker`).
    pub config_root: PathBuf,
    /// Environment name (`TASKER_ENV`, default `development`).
    pub environment: String,
    /// One already-merged file instead of the layers (`TASKER_CONFIG_PATH`).
    pub config_path: Option<PathBuf>,
}

impl LoadOptions {
    /// Options from `TASKER_CONFIG_ROOT`, `TASKER_ENV` and `TASKER_CONFIG_PATH`.
    pub fn from_env(env: &Env) -> Self {
        Self {
            config_root: PathBuf::from(env.get("TASKER_CONFIG_ROOT").unwrap_or("./config/tasker")),
            environment: env.get("TASKER_ENV").unwrap_or("development").to_owned(),
            config_path: env.get("TASKER_CONFIG_PATH").map(PathBuf::from),
        }
    }

    /// Applies command-line flags over the environment-derived options.
    pub fn with_flags(
        mut self,
        config_root: Option<PathBuf>,
        environment: Option<String>,
        config_path: Option<PathBuf>,
    ) -> Self {
        if let Some(root) = config_root {
            self.config_root = root;
        }
        if let Some(environment) = environment {
            self.environment = environment;
        }
        if config_path.is_some() {
            self.config_path = config_path;
        }
        self
    }
}

/// A role's configuration type.
pub trait RoleConfig: DeserializeOwned + Serialize + Default + Clone + std::fmt::Debug {
    /// The role.
    const ROLE: Role;
    /// `[web]`.
    fn web(&self) -> &WebConfig;
    /// `[web]`, mutable (the loader fills defaults).
    fn web_mut(&mut self) -> &mut WebConfig;
    /// `database.url` as written, for validation.
    fn database_url(&self) -> &str;
    /// `database.connect_timeout_seconds`, for validation.
    fn database_connect_timeout_seconds(&self) -> u64;
    /// `[worker]` (the embedded worker's on the orchestration role), for validation.
    fn worker_section(&self) -> &WorkerSection;
    /// `[engine]`, for validation.
    fn engine(&self) -> &crate::model::EngineConfig;
    /// `[telemetry]`.
    fn telemetry(&self) -> &crate::model::TelemetryConfig;
}

impl RoleConfig for OrchestrationConfig {
    const ROLE: Role = Role::Orchestration;
    fn web(&self) -> &WebConfig {
        &self.web
    }
    fn web_mut(&mut self) -> &mut WebConfig {
        &mut self.web
    }
    fn database_url(&self) -> &str {
        self.database.url.expose()
    }
    fn database_connect_timeout_seconds(&self) -> u64 {
        self.database.connect_timeout_seconds
    }
    fn worker_section(&self) -> &WorkerSection {
        &self.worker
    }

    fn engine(&self) -> &crate::model::EngineConfig {
        &self.engine
    }
    fn telemetry(&self) -> &crate::model::TelemetryConfig {
        &self.telemetry
    }
}

impl RoleConfig for WorkerConfig {
    const ROLE: Role = Role::Worker;
    fn web(&self) -> &WebConfig {
        &self.web
    }
    fn web_mut(&mut self) -> &mut WebConfig {
        &mut self.web
    }
    fn database_url(&self) -> &str {
        self.database.url.expose()
    }
    fn database_connect_timeout_seconds(&self) -> u64 {
        self.database.connect_timeout_seconds
    }
    fn worker_section(&self) -> &WorkerSection {
        &self.worker
    }

    fn engine(&self) -> &crate::model::EngineConfig {
        &self.engine
    }
    fn telemetry(&self) -> &crate::model::TelemetryConfig {
        &self.telemetry
    }
}

/// A loaded, validated configuration and what is known about where it came from.
#[derive(Debug, Clone)]
pub struct Loaded<C> {
    /// The effective configuration.
    pub config: C,
    /// Environment name it was loaded for.
    pub environment: String,
    /// Files that contributed, in merge order.
    pub files: Vec<PathBuf>,
    /// Non-fatal findings to log at startup.
    pub warnings: Vec<String>,
    provenance: Provenance,
}

impl<C: RoleConfig> Loaded<C> {
    /// Loads `C`'s role with `options`, reading variables from `env`.
    pub fn load(options: &LoadOptions, env: &Env) -> Result<Self, ConfigError> {
        let (mut table, files, mut provenance) = merged_table::<C>(options)?;
        interpolate_table(&mut table, "", env).map_err(|err| ConfigError::Invalid {
            origin: provenance.origin_of(&err.key),
            key: err.key,
            reason: err.reason,
        })?;
        for (variable, key) in OVERRIDES {
            if let Some(value) = env.get(variable) {
                set_string(&mut table, key, value);
                provenance.record(key, &format!("environment variable {variable}"));
            }
        }
        let origin = files
            .last()
            .map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        let mut config: C = typed(&table, &origin)?;
        let mut loaded = Loaded {
            config: C::default(),
            environment: options.environment.clone(),
            files,
            warnings: Vec::new(),
            provenance,
        };
        loaded.resolve_secret_files(config.web_mut())?;
        if config.web().bind_address.is_none() {
            config.web_mut().bind_address = Some(C::ROLE.default_bind_address().to_owned());
        }
        loaded.warnings = validate::validate(&config, &loaded, env)?;
        loaded.config = config;
        Ok(loaded)
    }

    /// The file or variable that set `key` (or "built-in defaults").
    pub fn origin_of(&self, key: &str) -> String {
        self.provenance.origin_of(key)
    }

    /// An error about `key`, naming where it was set.
    pub fn error_at(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin_of(key),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    fn resolve_secret_files(&self, web: &mut WebConfig) -> Result<(), ConfigError> {
        let auth = &mut web.auth;
        if let Some(path) = auth.jwt_private_key_file.clone() {
            let key = "web.auth.jwt_private_key_file";
            if !auth.jwt_private_key.is_empty() {
                return Err(self.error_at(
                    key,
                    "set either jwt_private_key or jwt_private_key_file, not both",
                ));
            }
            auth.jwt_private_key = Secret::new(self.read_secret_file(key, &path)?);
        }
        for index in 0..auth.api_keys.len() {
            let Some(path) = auth.api_keys[index].key_file.clone() else {
                continue;
            };
            let key = format!("web.auth.api_keys[{index}].key_file");
            let entry = &auth.api_keys[index];
            if entry.key.is_some() || entry.key_hash.is_some() {
                return Err(self.error_at(
                    &key,
                    format!(
                        "{}: set only one of key, key_hash and key_file",
                        entry.label(index)
                    ),
                ));
            }
            let value = self.read_secret_file(&key, &path)?;
            auth.api_keys[index].key = Some(Secret::new(value));
        }
        Ok(())
    }

    fn read_secret_file(&self, key: &str, path: &Path) -> Result<String, ConfigError> {
        read_bounded(path)
            .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|err| self.error_at(key, err.to_string()))
    }
}

/// The merged table of `role` before interpolation and overrides (`config generate` writes it,
/// so `${VAR}` references stay references).
pub fn load_merged_table(
    options: &LoadOptions,
    role: Role,
) -> Result<(Table, Vec<PathBuf>), ConfigError> {
    let (table, files, _) = match role {
        Role::Orchestration => merged_table::<OrchestrationConfig>(options)?,
        Role::Worker => merged_table::<WorkerConfig>(options)?,
    };
    Ok((table, files))
}

fn merged_table<C: RoleConfig>(
    options: &LoadOptions,
) -> Result<(Table, Vec<PathBuf>, Provenance), ConfigError> {
    let mut provenance = Provenance::default();
    let mut table = Table::new();
    let mut files = Vec::new();
    if let Some(path) = &options.config_path {
        let layer = read_layer(path)?.ok_or_else(|| {
            ConfigError::NotFound(format!(
                "TASKER_CONFIG_PATH file {} does not exist",
                path.display()
            ))
        })?;
        let origin = path.display().to_string();
        typed::<C>(&layer, &origin)?;
        merge(&mut table, layer, "", &origin, &mut provenance);
        files.push(path.clone());
        return Ok((table, files, provenance));
    }
    if !options.config_root.is_dir() {
        return Err(ConfigError::NotFound(format!(
            "config root {} is not a directory (set TASKER_CONFIG_ROOT or --config-root)",
            options.config_root.display()
        )));
    }
    let env_dir = options
        .config_root
        .join("environments")
        .join(&options.environment);
    if options.environment.is_empty()
        || options.environment.contains(['/', '\\'])
        || (options.environment != "development" && !env_dir.is_dir())
    {
        return Err(ConfigError::NotFound(format!(
            "environment `{}` has no directory {}",
            options.environment,
            env_dir.display()
        )));
    }
    for (path, is_common) in layer_paths(
        &options.config_root,
        &options.environment,
        C::ROLE.file_stem(),
    ) {
        let Some(layer) = read_layer(&path)? else {
            continue;
        };
        let origin = path.display().to_string();
        if is_common {
            typed::<CommonLayer>(&layer, &origin)?;
        } else {
            typed::<C>(&layer, &origin)?;
        }
        merge(&mut table, layer, "", &origin, &mut provenance);
        files.push(path);
    }
    if files.is_empty() {
        return Err(ConfigError::NotFound(format!(
            "no {} configuration files under {}",
            C::ROLE,
            options.config_root.display()
        )));
    }
    Ok((table, files, provenance))
}
