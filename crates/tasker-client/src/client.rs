//! The HTTP plumbing: two endpoints (orchestration, worker), each with its base URL and
//! credential, one request function, and error envelope decoding.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tasker_proto::ErrorBody;

use crate::ClientEnv;
use crate::credentials::Credential;
use crate::error::ClientError;

/// Which API a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `tasker-server` (default `http://127.0.0.1:8080`).
    Orchestration,
    /// `tasker-worker` (default `http://127.0.0.1:8081`).
    Worker,
}

#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) base_url: String,
    pub(crate) credential: Credential,
}

/// Client of both APIs.
#[derive(Debug, Clone)]
pub struct TaskerClient {
    http: reqwest::Client,
    orchestration: Endpoint,
    worker: Endpoint,
}

impl TaskerClient {
    /// URLs from `TASKER_ORCHESTRATION_URL` / `TASKER_WORKER_URL` and credentials from the
    /// process environment.
    pub fn from_env() -> Result<Self, ClientError> {
        Self::from_client_env(&ClientEnv::from_process())
    }

    /// Like [`TaskerClient::from_env`], from an explicit variable snapshot.
    pub fn from_client_env(env: &ClientEnv) -> Result<Self, ClientError> {
        Self::new(
            env.get("TASKER_ORCHESTRATION_URL")
                .unwrap_or("http://127.0.0.1:8080"),
            Credential::resolve(Api::Orchestration, env)?,
            env.get("TASKER_WORKER_URL")
                .unwrap_or("http://127.0.0.1:8081"),
            Credential::resolve(Api::Worker, env)?,
        )
    }

    /// A client with explicit URLs and credentials.
    pub fn new(
        orchestration_url: &str,
        orchestration: Credential,
        worker_url: &str,
        worker: Credential,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build HTTP client: {e}")))?;
        let orchestration = endpoint(orchestration_url, orchestration)?;
        let worker = endpoint(worker_url, worker)?;
        Ok(Self {
            http,
            orchestration,
            worker,
        })
    }

    /// Replaces an endpoint's base URL (e.g. from a `--url` flag).
    pub fn with_url(mut self, api: Api, url: &str) -> Result<Self, ClientError> {
        let target = match api {
            Api::Orchestration => &mut self.orchestration,
            Api::Worker => &mut self.worker,
        };
        *target = endpoint(url, target.credential.clone())?;
        Ok(self)
    }

    /// The base URL of an API.
    pub fn base_url(&self, api: Api) -> &str {
        &self.endpoint(api).base_url
    }

    fn endpoint(&self, api: Api) -> &Endpoint {
        match api {
            Api::Orchestration => &self.orchestration,
            Api::Worker => &self.worker,
        }
    }

    pub(crate) fn request(
        &self,
        api: Api,
        method: Method,
        path: &str,
    ) -> Result<RequestBuilder, ClientError> {
        let endpoint = self.endpoint(api);
        let mut request = self
            .http
            .request(method, format!("{}{path}", endpoint.base_url));
        if let Some((name, value)) = endpoint.credential.header()? {
            request = request.header(name, value);
        }
        Ok(request)
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        api: Api,
        request: RequestBuilder,
    ) -> Result<T, ClientError> {
        let base = &self.endpoint(api).base_url;
        let response = request.send().await.map_err(|e| ClientError::Transport {
            url: base.clone(),
            reason: transport_reason(&e),
        })?;
        let status = response.status();
        let url = response.url().path().to_owned();
        let bytes = response.bytes().await.map_err(|e| ClientError::Transport {
            url: base.clone(),
            reason: transport_reason(&e),
        })?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// Sends `request` and returns the response once its status is a success, for bodies read
    /// as they arrive (server-sent events); such a request may last up to a week.
    pub(crate) async fn open(
        &self,
        api: Api,
        request: RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let base = &self.endpoint(api).base_url;
        let transport = |e: reqwest::Error| ClientError::Transport {
            url: base.clone(),
            reason: transport_reason(&e),
        };
        let response = request
            .timeout(Duration::from_secs(7 * 24 * 3600))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.map_err(transport)?;
        Err(api_error(status, &bytes))
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        api: Api,
        path: &str,
    ) -> Result<T, ClientError> {
        let request = self.request(api, Method::GET, path)?;
        self.call(api, request).await
    }

    pub(crate) async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        api: Api,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let request = self.request(api, method, path)?.json(body);
        self.call(api, request).await
    }
}

/// The error envelope of a failed response (or its first 200 characters when it has none).
fn api_error(status: reqwest::StatusCode, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => ClientError::Api {
            status: status.as_u16(),
            code: body.error,
            message: body.message,
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: "unknown".into(),
            message: String::from_utf8_lossy(bytes).chars().take(200).collect(),
        },
    }
}

fn endpoint(url: &str, credential: Credential) -> Result<Endpoint, ClientError> {
    let base_url = url.trim_end_matches('/').to_owned();
    let Some((scheme, rest)) = base_url.split_once("://") else {
        return Err(ClientError::Config(format!(
            "`{base_url}` is not an http(s) URL"
        )));
    };
    if scheme != "http" && scheme != "https" {
        return Err(ClientError::Config(format!(
            "`{base_url}` is not an http(s) URL"
        )));
    }
    if scheme == "http" && credential.is_some() && !is_loopback(rest) {
        tracing::warn!(url = %base_url, "credentials will be sent over plain HTTP to a non-loopback host");
    }
    Ok(Endpoint {
        base_url,
        credential,
    })
}

fn is_loopback(rest: &str) -> bool {
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn transport_reason(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection refused or unreachable".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("localhost:1/x"));
        assert!(is_loopback("[::1]:8080"));
        assert!(!is_loopback("tasker.internal:8080"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[test]
    fn urls_are_checked() {
        assert!(endpoint("ftp://x", Credential::None).is_err());
        assert!(endpoint("nonsense", Credential::None).is_err());
        assert_eq!(
            endpoint("http://h:1/", Credential::None).unwrap().base_url,
            "http://h:1"
        );
    }
}
