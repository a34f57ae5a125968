//! The template catalog on disk and in the database: reading every `*.yaml`/`*.yml` template
//! below the search paths and registering (upserting) them. Both roles load templates at
//! start, so this lives beside the store rather than in either role.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tasker_config::read_bounded_to;
use tasker_core::{MAX_TEMPLATE_BYTES, Store, StoreError, TaskTemplate, parse_template};

/// Why templates could not be loaded or registered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateLoadError {
    /// A search path could not be listed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The directory or file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Files that are not valid templates, or duplicate versions; one message per problem,
    /// each naming its file.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The store refused a template.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and validates every template below the search paths. Missing directories are
/// skipped with a warning; any invalid file (one that is not a regular file of at most
/// [`MAX_TEMPLATE_BYTES`] included) or duplicate version is an error naming the file.
pub fn load_templates(paths: &[String]) -> Result<Vec<TaskTemplate>, TemplateLoadError> {
    let mut files = Vec::new();
    for p in paths {
        let path = Path::new(p);
        if path.exists() {
            collect_yaml(path, &mut files).map_err(|source| TemplateLoadError::Io {
                path: p.clone(),
                source,
            })?;
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
        Err(TemplateLoadError::Invalid(problems))
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

/// Registers (upserts) templates in the store.
pub async fn register_templates(
    store: &dyn Store,
    templates: &[TaskTemplate],
) -> Result<(), TemplateLoadError> {
    for t in templates {
        store.upsert_template(t, chrono::Utc::now()).await?;
        tracing::info!(namespace = %t.namespace, name = %t.name, version = %t.version, "template registered");
    }
    Ok(())
}

/// Loads the templates below `paths` and registers them: what each role does at start.
pub async fn load_and_register(
    store: &dyn Store,
    paths: &[String],
) -> Result<Vec<TaskTemplate>, TemplateLoadError> {
    let templates = load_templates(paths)?;
    register_templates(store, &templates).await?;
    Ok(templates)
}
