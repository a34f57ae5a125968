//! Talking to the servers: the client built from the environment (credentials exactly as
//! `tasker-client` resolves them) with the `--url` / `--worker-url` overrides, the runtime the
//! calls run on, and the one translation of client errors into operator-facing lines.

use std::future::Future;

use anyhow::{Result, anyhow};
use tasker_client::{Api, ClientEnv, ClientError, Credential, TaskerClient};

/// Where the APIs are; each flag overrides its environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "API endpoints")]
pub(crate) struct RemoteArgs {
    /// Orchestration API base URL [env: TASKER_ORCHESTRATION_URL; default: http://127.0.0.1:8080]
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// Worker API base URL [env: TASKER_WORKER_URL; default: http://127.0.0.1:8081]
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) worker_url: Option<String>,
}

/// Builds the client and runs `call` with it to completion on a single-threaded runtime.
pub(crate) fn run<F, Fut>(remote: &RemoteArgs, call: F) -> Result<()>
where
    F: FnOnce(TaskerClient) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let client = client(remote)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(call(client))
}

fn client(remote: &RemoteArgs) -> Result<TaskerClient> {
    let env = ClientEnv::from_process();
    let orchestration = endpoint(
        Api::Orchestration,
        &env,
        remote.url.as_deref(),
        "TASKER_ORCHESTRATION_URL",
        "http://127.0.0.1:8080",
    )?;
    let worker = endpoint(
        Api::Worker,
        &env,
        remote.worker_url.as_deref(),
        "TASKER_WORKER_URL",
        "http://127.0.0.1:8081",
    )?;
    TaskerClient::new(&orchestration.0, orchestration.1, &worker.0, worker.1).map_err(explain)
}

/// An API's base URL (flag, then variable, then default) and its credential, warning on
/// stderr when that credential would cross the network in plain text.
fn endpoint(
    api: Api,
    env: &ClientEnv,
    flag: Option<&str>,
    variable: &str,
    default: &str,
) -> Result<(String, Credential)> {
    let url = flag.or_else(|| env.get(variable)).unwrap_or(default).trim();
    let credential = Credential::resolve(api, env).map_err(explain)?;
    if credential.is_some() && exposes_credentials(url) {
        eprintln!(
            "warning: credentials will be sent over plain HTTP to {url}; use https for non-local servers"
        );
    }
    Ok((url.to_owned(), credential))
}

/// Whether `url` is plain HTTP to a host other than this machine.
fn exposes_credentials(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// Where credentials come from, for 401 explanations.
const CREDENTIAL_HINT: &str =
    "set TASKER_AUTH_TOKEN, TASKER_API_KEY or TASKER_JWT_PRIVATE_KEY_PATH";

/// One operator-facing line for a failed call. Server messages never carry credentials, and
/// neither does anything the client reports.
pub(crate) fn explain(err: ClientError) -> anyhow::Error {
    match err {
        ClientError::Api {
            status: 401,
            message,
            ..
        } => anyhow!("not authenticated (401): {message} — {CREDENTIAL_HINT}"),
        ClientError::Api {
            status: 403,
            message,
            ..
        } => anyhow!("forbidden (403): {message}"),
        ClientError::Api {
            status: 404,
            message,
            ..
        } => anyhow!("not found (404): {message}"),
        ClientError::Api {
            status,
            code,
            message,
        } if status >= 500 => anyhow!("server error ({status} {code}): {message}"),
        ClientError::Api {
            status,
            code,
            message,
        } => anyhow!("request refused ({status} {code}): {message}"),
        ClientError::Transport { url, reason } => {
            anyhow!("cannot reach {url}: {reason} (is the server running? see --url)")
        }
        ClientError::Decode { url, reason } => {
            anyhow!("unexpected response from {url}: {reason}")
        }
        ClientError::Config(message) => anyhow!("client configuration: {message}"),
    }
}

/// `Result` adapter for client calls.
pub(crate) trait Explained<T> {
    /// Maps the client error to its operator-facing line.
    fn explained(self) -> Result<T>;
}

impl<T> Explained<T> for std::result::Result<T, ClientError> {
    fn explained(self) -> Result<T> {
        self.map_err(explain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str, message: &str) -> ClientError {
        ClientError::Api {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn auth_failures_are_explained() {
        assert_eq!(
            explain(api(
                401,
                "unauthorized",
                "Missing authentication credentials"
            ))
            .to_string(),
            "not authenticated (401): Missing authentication credentials — set TASKER_AUTH_TOKEN, \
             TASKER_API_KEY or TASKER_JWT_PRIVATE_KEY_PATH"
        );
        assert_eq!(
            explain(api(
                403,
                "forbidden",
                "Missing required permission: tasks:create"
            ))
            .to_string(),
            "forbidden (403): Missing required permission: tasks:create"
        );
    }

    #[test]
    fn plain_http_beyond_this_machine_is_flagged() {
        assert!(exposes_credentials("http://tasker.internal:8080"));
        assert!(exposes_credentials("http://10.0.0.5/"));
        assert!(!exposes_credentials("https://tasker.internal"));
        assert!(!exposes_credentials("http://127.0.0.1:8080"));
        assert!(!exposes_credentials("http://localhost:8080/x"));
        assert!(!exposes_credentials("http://[::1]:8081"));
    }

    #[test]
    fn other_failures_name_status_and_code() {
        assert_eq!(
            explain(api(409, "conflict", "already cancelled")).to_string(),
            "request refused (409 conflict): already cancelled"
        );
        assert_eq!(
            explain(api(500, "internal", "Internal server error")).to_string(),
            "server error (500 internal): Internal server error"
        );
        let transport = ClientError::Transport {
            url: "http://127.0.0.1:9".into(),
            reason: "connection refused or unreachable".into(),
        };
        assert!(
            explain(transport)
                .to_string()
                .starts_with("cannot reach http://127.0.0.1:9: connection refused")
        );
    }
}
