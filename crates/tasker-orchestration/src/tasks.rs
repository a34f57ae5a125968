//! Task operations: create (template resolution, context validation, idempotency), list, get,
//! cancel, context, steps, audit trail and manual step actions. Every operation takes the
//! caller's [`Scope`] for its permission: a task in a namespace outside it does not exist for
//! the caller (not found), and creating one there is forbidden naming the scoped permission.

use std::collections::BTreeMap;

use chrono::Utc;
use tasker_core::store::{NewTask, TaskFilter, TaskMeta, TaskRecord};
use tasker_proto::api::{
    CreateTaskRequest, Pagination, StepActionRequest, StepView, TaskContextView, TaskList,
    TaskListQuery, TaskView, TransitionView,
};
use tasker_proto::{Permission, Scope};
use uuid::Uuid;

use crate::error::Error;
use crate::limits::{MAX_NAME_CHARS, MAX_TEXT_CHARS, check_context, over_limits, refuse};
use crate::orchestrator::Orchestrator;
use crate::views;

const DEFAULT_PER_PAGE: u64 = 25;
const MAX_PER_PAGE: u64 = 100;
/// Field limits of `POST /v1/tasks` (PRODUCT 5), far below the body limit.
const MAX_TAGS: usize = 64;
const MAX_TAG_CHARS: usize = 128;

/// Every field over its limit, named with the limit and never echoed.
fn field_limits(request: &CreateTaskRequest) -> Result<(), Error> {
    let mut fields = vec![
        (
            "namespace",
            Some(request.namespace.as_str()),
            MAX_NAME_CHARS,
        ),
        ("name", Some(request.name.as_str()), MAX_NAME_CHARS),
        ("version", request.version.as_deref(), MAX_NAME_CHARS),
    ];
    for (field, value) in [
        ("initiator", &request.initiator),
        ("source_system", &request.source_system),
        ("reason", &request.reason),
        ("correlation_id", &request.correlation_id),
        ("idempotency_key", &request.idempotency_key),
    ] {
        fields.push((field, value.as_deref(), MAX_TEXT_CHARS));
    }
    let mut problems = over_limits(&fields);
    if request.tags.len() > MAX_TAGS {
        problems.push(format!("tags has more than {MAX_TAGS} entries"));
    }
    if let Some(i) = request
        .tags
        .iter()
        .position(|t| t.chars().count() > MAX_TAG_CHARS)
    {
        problems.push(format!(
            "tags[{i}] is longer than {MAX_TAG_CHARS} characters"
        ));
    }
    refuse(problems)
}

impl Orchestrator {
    /// Creates a task; `created_by` is the authenticated subject, `scope` where it holds
    /// `tasks:create`, `trace_parent` the creating request's trace context, stored so the
    /// spans of the task's steps join that trace.
    pub async fn create_task(
        &self,
        request: CreateTaskRequest,
        created_by: &str,
        scope: &Scope,
        trace_parent: Option<String>,
    ) -> Result<TaskView, Error> {
        field_limits(&request)?;
        if !scope.contains(&request.namespace) {
            return Err(Error::forbidden_in(
                Permission::TasksCreate,
                &request.namespace,
            ));
        }
        let template = self
            .resolve_template(
                &request.namespace,
                &request.name,
                request.version.as_deref(),
            )
            .await?;
        check_context(&template, &request.context)?;
        let task = NewTask {
            task_uuid: Uuid::now_v7(),
            namespace: template.namespace.clone(),
            name: template.name.clone(),
            version: template.version.clone(),
            context: request.context,
            created_by: created_by.to_owned(),
            meta: TaskMeta {
                initiator: request.initiator,
                source_system: request.source_system,
                reason: request.reason,
                tags: request.tags,
                priority: request.priority,
                correlation_id: request.correlation_id,
                idempotency_key: request.idempotency_key.clone(),
            },
            plan: None,
            steps: Vec::new(),
            trace_parent,
        };
        let task = with_steps(task, &template, &self.inner);
        match self.inner.store.create_task(task, Utc::now()).await {
            Ok(record) => Ok(views::task(record, true)),
            Err(tasker_core::StoreError::DuplicateIdempotencyKey { existing }) => {
                Err(Error::Conflict(format!(
                    "idempotency key `{}` was already used for {}/{} by task {existing}",
                    request.idempotency_key.unwrap_or_default(),
                    template.namespace,
                    template.name
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A filtered page of the tasks `scope` can see, newest first; totals count only those.
    /// Lists never carry contexts (`GET /v1/tasks/{uuid}/context` does).
    pub async fn list_tasks(&self, query: TaskListQuery, scope: &Scope) -> Result<TaskList, Error> {
        let page = query.page.unwrap_or(1);
        let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(Error::BadRequest("page starts at 1".into()));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(Error::BadRequest(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        if let (Some(after), Some(before)) = (query.created_after, query.created_before)
            && after >= before
        {
            return Err(Error::BadRequest(
                "created_after must be earlier than created_before".into(),
            ));
        }
        let filter = TaskFilter {
            namespace: query.namespace,
            namespaces: scope.namespaces(),
            name: query.name,
            status: query.status.map(views::task_state),
            parent_task_uuid: query.parent_task_uuid,
            tag: query.tag,
            created_after: query.created_after,
            created_before: query.created_before,
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
        };
        let (tasks, total_count) = self.inner.store.list_tasks(&filter).await?;
        Ok(TaskList {
            tasks: tasks.into_iter().map(|t| views::task(t, false)).collect(),
            pagination: Pagination {
                page,
                per_page,
                total_count,
                total_pages: total_count.div_ceil(per_page),
            },
        })
    }

    /// The task, when it exists in a namespace of `scope`.
    pub(crate) async fn visible_task(
        &self,
        task_uuid: Uuid,
        scope: &Scope,
    ) -> Result<TaskRecord, Error> {
        self.inner
            .store
            .get_task(task_uuid)
            .await?
            .filter(|t| scope.contains(&t.namespace))
            .ok_or_else(|| Error::NotFound(format!("task {task_uuid}")))
    }

    /// One task with step counts and completion percentage; its context only when
    /// `context_scope` (where the caller holds `tasks:context_read`) covers its namespace.
    pub async fn get_task(
        &self,
        task_uuid: Uuid,
        scope: &Scope,
        context_scope: &Scope,
    ) -> Result<TaskView, Error> {
        let task = self.visible_task(task_uuid, scope).await?;
        let with_context = context_scope.contains(&task.namespace);
        Ok(views::task(task, with_context))
    }

    /// Cancels the task and its unfinished steps; a second cancel is a conflict.
    pub async fn cancel_task(
        &self,
        task_uuid: Uuid,
        actor: &str,
        scope: &Scope,
    ) -> Result<TaskView, Error> {
        self.visible_task(task_uuid, scope).await?;
        let record = self
            .inner
            .store
            .cancel_task(task_uuid, actor, Some("cancelled by request"), Utc::now())
            .await?;
        Ok(views::task(record, false))
    }

    /// The task's input context and the results of its finished steps.
    pub async fn task_context(
        &self,
        task_uuid: Uuid,
        scope: &Scope,
    ) -> Result<TaskContextView, Error> {
        let task = self.visible_task(task_uuid, scope).await?;
        let steps = self.inner.store.list_steps(task_uuid).await?;
        let step_results: BTreeMap<String, serde_json::Value> = steps
            .into_iter()
            .filter_map(|s| s.results.map(|r| (s.name, r)))
            .collect();
        Ok(TaskContextView {
            task_uuid,
            context: task.context,
            step_results,
        })
    }

    /// The task's steps in dependency order.
    pub async fn list_steps(&self, task_uuid: Uuid, scope: &Scope) -> Result<Vec<StepView>, Error> {
        self.visible_task(task_uuid, scope).await?;
        let steps = self.inner.store.list_steps(task_uuid).await?;
        Ok(steps.into_iter().map(views::step).collect())
    }

    /// One step of a task.
    pub async fn get_step(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        scope: &Scope,
    ) -> Result<StepView, Error> {
        self.list_steps(task_uuid, scope)
            .await?
            .into_iter()
            .find(|s| s.step_uuid == step_uuid)
            .ok_or_else(|| Error::NotFound(format!("step {step_uuid} of task {task_uuid}")))
    }

    /// Every recorded transition of one step, in recording order.
    pub async fn step_audit(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        scope: &Scope,
    ) -> Result<Vec<TransitionView>, Error> {
        self.get_step(task_uuid, step_uuid, scope).await?;
        let trail = self
            .inner
            .store
            .audit_trail(task_uuid, Some(step_uuid))
            .await?;
        Ok(trail.into_iter().map(views::transition).collect())
    }

    /// Every recorded transition of the task and its steps, in recording order.
    pub async fn task_audit(
        &self,
        task_uuid: Uuid,
        scope: &Scope,
    ) -> Result<Vec<TransitionView>, Error> {
        self.visible_task(task_uuid, scope).await?;
        let trail = self.inner.store.audit_trail(task_uuid, None).await?;
        Ok(trail.into_iter().map(views::transition).collect())
    }

    /// Applies an operator action; `actor` is the authenticated subject. A blocked task
    /// resumes once its failed steps are resolved or completed.
    pub async fn step_action(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        action: StepActionRequest,
        actor: &str,
        scope: &Scope,
    ) -> Result<StepView, Error> {
        self.visible_task(task_uuid, scope).await?;
        let action = views::manual_action(action);
        let step = self
            .inner
            .store
            .manual_step_action(task_uuid, step_uuid, &action, actor, Utc::now())
            .await?;
        Ok(views::step(step))
    }
}

/// Fills in the steps a task starts with: all of them for a static template; for a dynamic
/// one, the unconditional ones plus the plan of the whole shape.
pub(crate) fn with_steps(
    mut task: NewTask,
    template: &tasker_core::TaskTemplate,
    inner: &crate::orchestrator::Inner,
) -> NewTask {
    let (steps, plan) = tasker_core::dynamic::TaskPlan::shape_of(
        template,
        &inner.defaults,
        inner.max_batches,
        inner.max_subtask_depth,
        Uuid::now_v7,
    );
    task.steps = steps;
    task.plan = plan;
    task
}
