//! The run's DAG (`GET /v1/tasks/{task_uuid}/dag`): every step that exists plus the template
//! steps that were not created, and the edges between them by name.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A task's graph as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DagView {
    /// Steps, created or not, template order first, then the order of creation.
    pub nodes: Vec<DagNode>,
    /// Dependencies, parent to child, by node name.
    pub edges: Vec<DagEdge>,
}

/// One node of a [`DagView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DagNode {
    /// Step name (`<worker>_<index>` for a batch copy).
    pub name: String,
    /// Id; none for a step that was not created.
    pub step_uuid: Option<Uuid>,
    /// `standard`, `decision`, `deferred_convergence`, `batchable`, `batch_worker`, `approval` or
    /// `subtask`.
    #[serde(rename = "type")]
    pub step_type: String,
    /// A step state, or `not_created` for a template step the run did not take.
    pub status: String,
    /// `template`, `decision` or `batch`: what created the step (or would have).
    pub origin: String,
    /// Position of a batch copy among its batch's copies.
    pub batch_index: Option<u32>,
}

/// A dependency edge of a [`DagView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DagEdge {
    /// Parent node name.
    pub from: String,
    /// Child node name.
    pub to: String,
}
