//! Request and response bodies of the orchestration and worker APIs. States and enums travel
//! as snake_case strings.

mod dag;
mod dlq;
mod logs;
mod reruns;
mod schedules;
mod states;
mod system;
mod tasks;
mod templates;

pub use dag::{DagEdge, DagNode, DagView};
pub use dlq::{
    DlqEntryView, DlqListQuery, DlqQueueQuery, DlqStatView, DlqUpdateRequest, StalenessView,
};
pub use logs::{StepLogEnd, StepLogLineView, StepLogQuery, StepLogStreamEvent, StepLogView};
pub use reruns::{RerunTaskRequest, RerunView, SignalDecision, SignalStepRequest};
pub use schedules::{
    CreateScheduleRequest, ScheduleCatchup, ScheduleListQuery, ScheduleOverlap, ScheduleQuery,
    ScheduleRunView, ScheduleRunsQuery, ScheduleView, UpdateScheduleRequest,
};
pub use states::{DlqReason, ResolutionStatus, StepStatus, TaskStatus};
pub use system::{
    BottleneckQuery, BottlenecksView, HandlerNamespace, PerformanceQuery, PerformanceView,
    RunningStepView, StepBottleneck, WorkerStatusView,
};
pub use tasks::{
    CreateTaskRequest, Pagination, StepActionRequest, StepCountsView, StepView, TaskContextView,
    TaskList, TaskListQuery, TaskView, TransitionView,
};
pub use templates::{
    TemplateHandlerView, TemplateRetryView, TemplateStepView, TemplateSummary, TemplateView,
    ValidationReport,
};
