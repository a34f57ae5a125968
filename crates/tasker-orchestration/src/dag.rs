//! The run's DAG: the task's steps as they exist, plus the template steps the run did not
//! create (`not_created`), with edges by name.

use std::collections::HashSet;

use tasker_core::StepType;
use tasker_core::dynamic::TaskPlan;
use tasker_core::store::{StepOrigin, StepRecord};
use tasker_proto::Scope;
use tasker_proto::api::{DagEdge, DagNode, DagView};
use uuid::Uuid;

use crate::error::Error;
use crate::orchestrator::Orchestrator;

/// Status of a template step the run did not create.
pub(crate) const NOT_CREATED: &str = "not_created";

impl Orchestrator {
    /// The task's graph as it ran, with the roads not taken.
    pub async fn task_dag(&self, task_uuid: Uuid, scope: &Scope) -> Result<DagView, Error> {
        self.visible_task(task_uuid, scope).await?;
        let steps = self.inner.store.list_steps(task_uuid).await?;
        let plan = self.inner.store.task_plan(task_uuid).await?;
        Ok(build(&steps, plan.as_ref()))
    }
}

fn build(steps: &[StepRecord], plan: Option<&TaskPlan>) -> DagView {
    let mut nodes: Vec<DagNode> = steps
        .iter()
        .map(|s| DagNode {
            name: s.name.clone(),
            step_uuid: Some(s.step_uuid),
            step_type: s.step_type.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            origin: s.origin.as_str().to_owned(),
            batch_index: s.batch_index,
        })
        .collect();
    let mut edges: Vec<DagEdge> = steps
        .iter()
        .flat_map(|s| {
            s.depends_on.iter().map(|p| DagEdge {
                from: p.clone(),
                to: s.name.clone(),
            })
        })
        .collect();
    let Some(plan) = plan else {
        return DagView { nodes, edges };
    };
    let present: HashSet<&str> = steps.iter().map(|s| s.template_step.as_str()).collect();
    let copies = |worker: &str| -> Vec<String> {
        steps
            .iter()
            .filter(|s| s.template_step == worker && s.batch_index.is_some())
            .map(|s| s.name.clone())
            .collect()
    };
    let branches: HashSet<&str> = plan
        .steps
        .iter()
        .flat_map(|p| p.branches.iter().map(String::as_str))
        .collect();
    for p in &plan.steps {
        let s = &p.step;
        if present.contains(s.name.as_str()) {
            continue;
        }
        let conditional = branches.contains(s.name.as_str());
        nodes.push(DagNode {
            name: s.name.clone(),
            step_uuid: None,
            step_type: s.step_type.as_str().to_owned(),
            status: NOT_CREATED.to_owned(),
            origin: if s.step_type == StepType::BatchWorker {
                StepOrigin::Batch
            } else if conditional {
                StepOrigin::Decision
            } else {
                StepOrigin::Template
            }
            .as_str()
            .to_owned(),
            batch_index: None,
        });
        for parent in &s.depends_on {
            let from = if present.contains(parent.as_str()) {
                match copies(parent) {
                    c if c.is_empty() => vec![parent.clone()],
                    c => c,
                }
            } else {
                vec![parent.clone()]
            };
            edges.extend(from.into_iter().map(|from| DagEdge {
                from,
                to: s.name.clone(),
            }));
        }
    }
    DagView { nodes, edges }
}
