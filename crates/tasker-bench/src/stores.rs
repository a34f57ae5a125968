//! The store a benchmark runs against: a SQLite file in the config root, or a PostgreSQL
//! database created for the run on the server named by `--database-url` and dropped after it.

use anyhow::{Context, Result, bail};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::procs::ConfigRoot;

/// Default PostgreSQL server (local, trust auth).
pub(crate) const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which backend, as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StoreKind {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl StoreKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A PostgreSQL database that exists for one measurement.
pub(crate) struct PgDatabase {
    admin_url: String,
    name: String,
    /// URL of the new database.
    pub(crate) url: String,
}

impl PgDatabase {
    /// Creates `tasker_bench_<pid>_<suffix>` on the server of `admin_url`, with per-database
    /// `settings` (`name=value`, e.g. `synchronous_commit=off`) for profiling runs.
    pub(crate) async fn create(admin_url: &str, suffix: &str, settings: &[String]) -> Result<Self> {
        let name = format!("tasker_bench_{}_{suffix}", std::process::id());
        let url = with_database(admin_url, &name)?;
        let mut conn = PgConnection::connect(admin_url)
            .await
            .context("cannot connect to PostgreSQL (set --database-url)")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        for setting in settings {
            let (key, value) = setting
                .split_once('=')
                .filter(|(k, _)| {
                    !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                })
                .ok_or_else(|| anyhow::anyhow!("--pg-set takes name=value, got {setting:?}"))?;
            let value = value.replace('\'', "''");
            sqlx::query(&format!("ALTER DATABASE {name} SET {key} = '{value}'"))
                .execute(&mut conn)
                .await
                .with_context(|| format!("cannot apply {setting}"))?;
        }
        conn.close().await?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// Drops the database (forcing out any connection still open).
    pub(crate) async fn drop_database(self) -> Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot drop database {}", self.name))?;
        conn.close().await?;
        Ok(())
    }
}

/// A store ready for a server: its URL, and the database to drop afterwards.
pub(crate) struct Store {
    pub(crate) url: String,
    database: Option<PgDatabase>,
}

impl Store {
    pub(crate) async fn open(
        kind: StoreKind,
        root: &ConfigRoot,
        admin_url: &str,
        suffix: &str,
        settings: &[String],
    ) -> Result<Self> {
        match kind {
            StoreKind::Sqlite => Ok(Self {
                url: format!("sqlite://{}/tasker-{suffix}.db", root.path().display()),
                database: None,
            }),
            StoreKind::Postgres => {
                let database = PgDatabase::create(admin_url, suffix, settings).await?;
                Ok(Self {
                    url: database.url.clone(),
                    database: Some(database),
                })
            }
        }
    }

    /// Drops the PostgreSQL database, if any (the SQLite file goes with the config root).
    pub(crate) async fn close(self) -> Result<()> {
        match self.database {
            Some(database) => database.drop_database().await,
            None => Ok(()),
        }
    }
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> Result<String> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        bail!("--database-url must start with postgres://");
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    let mut out = format!("postgres://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/tasker_ci", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h", "x").unwrap(),
            "postgres://h/x"
        );
        assert!(with_database("mysql://h/db", "x").is_err());
    }
}
