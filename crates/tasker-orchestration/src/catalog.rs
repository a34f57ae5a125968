//! The template catalog: resolving `namespace/name[/version]` (highest version by default)
//! from the registered templates, and the template and handler listings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use tasker_core::MAX_TEMPLATE_BYTES;
use tasker_core::{TaskTemplate, parse_template};
use tasker_proto::api::{HandlerNamespace, TemplateSummary, TemplateView, ValidationReport};
use tasker_proto::{Permission, Scope};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::orchestrator::Orchestrator;
use crate::views;

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

/// Refuses to start when a template below `paths` nests decisions deeper than `max`,
/// naming the template.
pub(crate) fn check_decision_depths(paths: &[String], max: usize) -> Result<(), Error> {
    let problems: Vec<String> = tasker_store::load_templates(paths)?
        .iter()
        .filter_map(|t| {
            t.check_decision_depth(max)
                .err()
                .map(|e| format!("{}/{}@{}: {e}", t.namespace, t.name, t.version))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Unprocessable(problems))
    }
}

/// Template validations running at once; more wait for a permit, so a burst of large
/// documents cannot take every core.
static VALIDATIONS: Semaphore = Semaphore::const_new(2);

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

    /// Every registered template in a namespace of `scope`.
    pub async fn list_templates(&self, scope: &Scope) -> Result<Vec<TemplateSummary>, Error> {
        let records = self.inner.store.list_templates().await?;
        Ok(records
            .iter()
            .filter(|r| scope.contains(&r.template.namespace))
            .map(|r| views::template_summary(&r.template))
            .collect())
    }

    /// One template version in full.
    pub async fn get_template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
        scope: &Scope,
    ) -> Result<TemplateView, Error> {
        if !scope.contains(namespace) {
            return Err(Error::NotFound(format!(
                "template {namespace}/{name} version {version}"
            )));
        }
        self.resolve_template(namespace, name, Some(version))
            .await
            .map(views::template)
    }

    /// Validates a template given as YAML or JSON text without registering it; a valid
    /// template of a namespace outside `scope` is forbidden, naming the scoped permission.
    /// Parsing is CPU-bound, so it runs on the blocking pool, a few at a time, and the async
    /// executor keeps answering other requests meanwhile.
    pub async fn validate_template(
        &self,
        text: &str,
        scope: &Scope,
    ) -> Result<ValidationReport, Error> {
        let depth = self.inner.max_decision_depth;
        let parsed = if text.len() > MAX_TEMPLATE_BYTES {
            // Refused by size alone: no need to copy it to the blocking pool.
            parse_template(text)
        } else {
            let _permit = VALIDATIONS
                .acquire()
                .await
                .map_err(|e| Error::Internal(Box::new(e)))?;
            let text = text.to_owned();
            tokio::task::spawn_blocking(move || {
                parse_template(&text).and_then(|t| t.check_decision_depth(depth).map(|()| t))
            })
            .await
            .map_err(|e| Error::Internal(Box::new(e)))?
        };
        match parsed {
            Ok(t) if !scope.contains(&t.namespace) => Err(Error::forbidden_in(
                Permission::TemplatesValidate,
                &t.namespace,
            )),
            Ok(t) => {
                let errors = self.unknown_children(&t).await?;
                Ok(ValidationReport {
                    valid: errors.is_empty(),
                    errors,
                })
            }
            Err(e) => Ok(ValidationReport {
                valid: false,
                errors: e.messages(),
            }),
        }
    }

    /// One message per subtask step naming a child template that is not registered.
    async fn unknown_children(&self, t: &tasker_core::TaskTemplate) -> Result<Vec<String>, Error> {
        let targets = t.subtask_targets();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let known = self.inner.store.list_templates().await?;
        Ok(targets
            .into_iter()
            .filter(|(_, spec)| {
                !known.iter().any(|r| {
                    r.template.namespace == spec.namespace
                        && r.template.name == spec.name
                        && spec
                            .version
                            .as_ref()
                            .is_none_or(|v| *v == r.template.version)
                })
            })
            .map(|(step, spec)| {
                format!(
                    "step `{step}`: child template {}/{}{} is not registered",
                    spec.namespace,
                    spec.name,
                    spec.version
                        .as_deref()
                        .map(|v| format!("@{v}"))
                        .unwrap_or_default()
                )
            })
            .collect())
    }

    /// Handlers and templates per namespace.
    pub async fn list_handlers(&self) -> Result<Vec<HandlerNamespace>, Error> {
        let records = self.inner.store.list_templates().await?;
        let mut by_ns: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
        for r in records {
            let t = r.template;
            let entry = by_ns.entry(t.namespace.clone()).or_default();
            entry.0.extend(
                t.steps
                    .iter()
                    .filter(|s| !s.step_type.is_waiting())
                    .map(|s| s.handler.callable.clone()),
            );
            entry.1.push(format!("{}@{}", t.name, t.version));
        }
        Ok(by_ns
            .into_iter()
            .map(|(namespace, (handlers, templates))| HandlerNamespace {
                namespace,
                handlers: handlers.into_iter().collect(),
                templates,
            })
            .collect())
    }

    /// Handlers and templates of one namespace.
    pub async fn namespace_handlers(&self, namespace: &str) -> Result<HandlerNamespace, Error> {
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
