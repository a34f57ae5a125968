//! Typed client for the Tasker orchestration and worker APIs.
//!
//! Credentials are resolved per endpoint from the environment, first available wins (empty
//! variables count as unset):
//! 1. `TASKER_ORCHESTRATION_AUTH_TOKEN` / `TASKER_WORKER_AUTH_TOKEN`
//! 2. `TASKER_AUTH_TOKEN` (both APIs)
//! 3. `TASKER_API_KEY`, sent in `TASKER_API_KEY_HEADER` (default `X-API-Key`)
//! 4. `TASKER_JWT_PRIVATE_KEY_PATH`: short-lived RS256 tokens minted on demand
//!
//! ```no_run
//! # async fn run() -> Result<(), tasker_client::ClientError> {
//! let client = tasker_client::TaskerClient::from_env()?;
//! let tasks = client.list_tasks(&Default::default()).await?;
//! # Ok(()) }
//! ```

mod client;
mod credentials;
mod error;
mod logs;
mod reruns;
mod routes;
mod schedules;

pub use client::{Api, TaskerClient};
pub use credentials::{Credential, MintSettings};
pub use error::ClientError;
pub use logs::StepLogEvent;
/// The environment snapshot the client resolves credentials and URLs from (shared with the
/// configuration loader, so both agree that an empty or blank variable is unset).
pub use tasker_proto::Env as ClientEnv;
