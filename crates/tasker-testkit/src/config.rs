//! Temporary configuration roots. `base/common.toml` is rendered from typed settings (database,
//! template search paths, backoff), so tests state what differs from the defaults instead of
//! retyping the file; role files and templates are written as text.

use std::path::{Path, PathBuf};

use crate::fixtures::examples_dir;

/// A temporary config root with `base/` and `environments/{development,test,production}/`.
///
/// `base/common.toml` starts with a SQLite database inside the root and no template search
/// paths; the builder methods change it and rewrite the file.
#[derive(Debug)]
pub struct TestConfig {
    dir: tempfile::TempDir,
    common: Common,
}

/// The settings `base/common.toml` is rendered from.
#[derive(Debug, Default)]
struct Common {
    database_url: String,
    max_connections: Option<u32>,
    search_paths: Vec<PathBuf>,
    backoff_ms: Option<(u64, u64)>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl TestConfig {
    /// A root for running servers: a SQLite database under it, no templates, every other
    /// default.
    pub fn new() -> Self {
        let config = Self::bare();
        let common = Common {
            database_url: format!("sqlite://{}/tasker.db", config.root().display()),
            ..Common::default()
        };
        Self { common, ..config }.write_common()
    }

    /// The directories only, no file at all (for loader and CLI tests that write every file
    /// themselves). The builder methods write `base/common.toml` from the defaults of
    /// [`TestConfig::new`] except the database URL, which stays empty until set.
    pub fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in [
            "base",
            "environments/development",
            "environments/test",
            "environments/production",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Self {
            dir,
            common: Common::default(),
        }
    }

    /// A bare root holding `files` (path under the root, contents).
    pub fn with_files(files: &[(&str, &str)]) -> Self {
        let config = Self::bare();
        for (path, text) in files {
            config.write(path, text);
        }
        config
    }

    /// Uses the database at `url` instead of the SQLite file under the root.
    pub fn database(mut self, url: &str) -> Self {
        url.clone_into(&mut self.common.database_url);
        self.write_common()
    }

    /// Sets `database.max_connections`.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.common.max_connections = Some(max);
        self.write_common()
    }

    /// Adds the repository's example templates (`config/tasks`) to the search paths.
    pub fn with_examples(mut self) -> Self {
        self.common.search_paths.push(examples_dir());
        self.write_common()
    }

    /// Adds `dir` to the template search paths.
    pub fn with_search_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.common.search_paths.push(dir.into());
        self.write_common()
    }

    /// Writes `tasks/FILE` under the root and adds `tasks/` to the search paths.
    pub fn with_template(mut self, file: &str, yaml: &str) -> Self {
        self.write(&format!("tasks/{file}"), yaml);
        let tasks = self.dir.path().join("tasks");
        if !self.common.search_paths.contains(&tasks) {
            self.common.search_paths.push(tasks);
        }
        self.write_common()
    }

    /// Sets `[backoff] base_ms` and `max_ms` (short backoffs keep retry tests quick).
    pub fn backoff(mut self, base_ms: u64, max_ms: u64) -> Self {
        self.common.backoff_ms = Some((base_ms, max_ms));
        self.write_common()
    }

    /// Writes a file under the root and returns its path.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The database URL the processes on this root use.
    pub fn database_url(&self) -> &str {
        &self.common.database_url
    }

    fn write_common(self) -> Self {
        self.write("base/common.toml", &self.common.render());
        self
    }
}

impl Common {
    fn render(&self) -> String {
        let quote = |text: &str| toml::Value::String(text.to_owned()).to_string();
        let mut out = format!("[database]\nurl = {}\n", quote(&self.database_url));
        if let Some(max) = self.max_connections {
            out.push_str(&format!("max_connections = {max}\n"));
        }
        let paths: Vec<String> = self
            .search_paths
            .iter()
            .map(|p| quote(&p.display().to_string()))
            .collect();
        out.push_str(&format!(
            "[templates]\nsearch_paths = [{}]\n",
            paths.join(", ")
        ));
        if let Some((base, max)) = self.backoff_ms {
            out.push_str(&format!("[backoff]\nbase_ms = {base}\nmax_ms = {max}\n"));
        }
        out
    }
}
