//! The template catalog: loading `*.yaml`/`*.yml` templates from the search paths, registering
//! them in the store, resolving `namespace/name[/version]` (highest version by default), and
//! the template and handler listings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use tasker_config::read_bounded_to;
use tasker_core::{MAX_TEMPLATE_BYTES, Store, TaskTemplate, TemplateErrors, parse_template};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::orchestrator::Orchestrator;
use crate::wire::{NamespaceHandlers, TemplateSummary, TemplateValidation};

type Key = (String, String);

/// Templates by namespace and name, every version.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    by_name: RwLock<HashMap<Key, Vec<TaskTemplate>>>,
}

impl Catalog {
    pub(crate) fn replace(&self, templates: Vec<TaskTemplate>) {
        let mut map: HashMap<Key, Vec<TaskTemplate>> = HashMap::new();
        for t in templates {
            map.entry((t.namespace.clone(), t.name.clone()))
                .or_default()
                .push(t);
        }
        for versions in map.values_mut() {
            versions.sort_by_key(TaskTemplate::semver);
        }
        *self
            .by_name
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = map;
    }

    fn find(&self, namespace: &str, name: &str, version: Option<&str>) -> Option<TaskTemplate> {
        let map = self
            .by_name
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let versions = map.get(&(namespace.to_owned(), name.to_owned()))?;
        match version {
            Some(v) => versions.iter().find(|t| t.version == v).cloned(),
            None => versions.last().cloned(),
        }
    }
}

/// Reads and validates every template below the search paths. Missing directories are
/// skipped with a warning; any invalid file (one that is not a regular file of at most
/// [`MAX_TEMPLATE_BYTES`] included) or duplicate version is an error naming the file.
pub fn load_templates(paths: &[String]) -> Result<Vec<TaskTemplate>, Error> {
    let mut files = Vec::new();
    for p in paths {
        let path = Path::new(p);
        if path.exists() {
            collect_yaml(path, &mut files).map_err(|e| Error::Internal(Box::new(e)))?;
        } else {
            tracing::warn!(path = %p, "template search path does not exist");
        }
    }
    files.sort();
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String, String), PathBuf> = BTreeMap::new();
    let mut templates = Vec::new();
    for file in files {
        let text = match read_bounded_to(&file, MAX_TEMPLATE_BYTES as u64) {
            Ok(t) => t,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        match parse_template(&text) {
            Ok(t) => {
                let key = (t.namespace.clone(), t.name.clone(), t.version.clone());
                if let Some(first) = seen.insert(key, file.clone()) {
                    problems.push(format!(
                        "{}: template {}/{} version {} is also defined in {}",
                        file.display(),
                        t.namespace,
                        t.name,
                        t.version,
                        first.display()
                    ));
                }
                templates.push(t);
            }
            Err(errors) => problems.push(format!("{}: {errors}", file.display())),
        }
    }
    if problems.is_empty() {
        Ok(templates)
    } else {
        Err(Error::Unprocessable(problems))
    }
}

/// Collects `*.yaml`/`*.yml` below `path`. Anything not a directory with that extension is
/// collected whatever its type, so that reading it names it (a FIFO, a device) instead of
/// skipping it silently.
fn collect_yaml(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path.to_owned());
        }
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        collect_yaml(&entry?.path(), out)?;
    }
    Ok(())
}

/// Template validations running at once; more wait for a permit, so a burst of large
/// documents cannot take every core.
static VALIDATIONS: Semaphore = Semaphore::const_new(2);

fn report(result: Result<(), Vec<String>>) -> TemplateValidation {
    match result {
        Ok(()) => TemplateValidation {
            valid: true,
            errors: Vec::new(),
        },
        Err(errors) => TemplateValidation {
            valid: false,
            errors,
        },
    }
}

fn check(text: &str) -> Result<(), Vec<String>> {
    parse_template(text)
        .map(drop)
        .map_err(|e: TemplateErrors| e.messages())
}

fn summary(t: &TaskTemplate) -> TemplateSummary {
    TemplateSummary {
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        version: t.version.clone(),
        description: t.description.clone(),
        steps: t.steps.iter().map(|s| s.name.clone()).collect(),
        has_input_schema: t.input_schema.is_some(),
    }
}

impl Orchestrator {
    /// Resolves a template, reloading the catalog from the store once on a miss (another
    /// server may have registered it).
    pub(crate) async fn resolve_template(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<TaskTemplate, Error> {
        if let Some(t) = self.inner.catalog.find(namespace, name, version) {
            return Ok(t);
        }
        self.refresh_catalog().await?;
        self.inner
            .catalog
            .find(namespace, name, version)
            .ok_or_else(|| {
                Error::NotFound(match version {
                    Some(v) => format!("template {namespace}/{name} version {v}"),
                    None => format!("template {namespace}/{name}"),
                })
            })
    }

    pub(crate) async fn refresh_catalog(&self) -> Result<(), Error> {
        let records = self.inner.store.list_templates().await?;
        self.inner
            .catalog
            .replace(records.into_iter().map(|r| r.template).collect());
        Ok(())
    }

    /// Every registered template.
    pub async fn list_templates(&self) -> Result<Vec<TemplateSummary>, Error> {
        let records = self.inner.store.list_templates().await?;
        Ok(records.iter().map(|r| summary(&r.template)).collect())
    }

    /// One template version in full.
    pub async fn get_template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<TaskTemplate, Error> {
        self.resolve_template(namespace, name, Some(version)).await
    }

    /// Validates a template given as YAML or JSON text without registering it. Parsing is
    /// CPU-bound, so it runs on the blocking pool, a few at a time, and the async executor
    /// keeps answering other requests meanwhile.
    pub async fn validate_template(&self, text: &str) -> TemplateValidation {
        if text.len() > MAX_TEMPLATE_BYTES {
            // Refused by size alone: no need to copy it to the blocking pool.
            return report(check(text));
        }
        let Ok(_permit) = VALIDATIONS.acquire().await else {
            return report(Err(vec!["template validation is unavailable".to_owned()]));
        };
        let text = text.to_owned();
        match tokio::task::spawn_blocking(move || check(&text)).await {
            Ok(result) => report(result),
            Err(e) => {
                tracing::error!(error = %e, "template validation task failed");
                report(Err(vec!["template validation failed".to_owned()]))
            }
        }
    }

    /// Handlers and templates per namespace.
    pub async fn list_handlers(&self) -> Result<Vec<NamespaceHandlers>, Error> {
        let records = self.inner.store.list_templates().await?;
        let mut by_ns: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
        for r in records {
            let t = r.template;
            let entry = by_ns.entry(t.namespace.clone()).or_default();
            entry
                .0
                .extend(t.steps.iter().map(|s| s.handler.callable.clone()));
            entry.1.push(format!("{}@{}", t.name, t.version));
        }
        Ok(by_ns
            .into_iter()
            .map(|(namespace, (handlers, templates))| NamespaceHandlers {
                namespace,
                handlers: handlers.into_iter().collect(),
                templates,
            })
            .collect())
    }

    /// Handlers and templates of one namespace.
    pub async fn namespace_handlers(&self, namespace: &str) -> Result<NamespaceHandlers, Error> {
        self.list_handlers()
            .await?
            .into_iter()
            .find(|n| n.namespace == namespace)
            .ok_or_else(|| Error::NotFound(format!("namespace {namespace}")))
    }

    /// Template problems for a worker with the given handlers: each message names the
    /// template, the step and the missing handler. Used by servers running an embedded worker.
    pub async fn missing_handlers(
        &self,
        namespaces: &[String],
        known: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<String>, Error> {
        let records = self.inner.store.list_templates().await?;
        let mut problems = Vec::new();
        for r in records {
            let t = r.template;
            if !namespaces.is_empty() && !namespaces.contains(&t.namespace) {
                continue;
            }
            if let Err(e) = t.check_handlers(known) {
                for m in e.messages() {
                    problems.push(format!("{}/{}@{}: {m}", t.namespace, t.name, t.version));
                }
            }
        }
        Ok(problems)
    }
}

/// Registers (upserts) templates in the store.
pub async fn register_templates(
    store: &dyn Store,
    templates: &[TaskTemplate],
) -> Result<(), Error> {
    for t in templates {
        store.upsert_template(t, chrono::Utc::now()).await?;
        tracing::info!(namespace = %t.namespace, name = %t.name, version = %t.version, "template registered");
    }
    Ok(())
}
