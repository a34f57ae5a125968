//! Schedules: a cron expression evaluated in an IANA timezone, the fire times it yields, and
//! the policies deciding what fires when a server comes back after missing fire times
//! (`catchup`) or while the previous task still runs (`overlap`). Pure: `now` is always a
//! parameter.

mod cron;
mod policy;

pub use cron::{CronSchedule, ScheduleFieldError};
pub use policy::{Catchup, DuePlan, MAX_CATCHUP_FIRES, ON_TIME_GRACE_MS, Overlap, plan_due};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A schedule declared in a template's `schedules:` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Cron expression (5 or 6 fields, or a macro such as `@hourly`).
    pub cron: String,
    /// IANA timezone the expression is read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Context of every task it fires.
    #[serde(default = "empty_object")]
    pub context: Value,
    /// What happens while the previous task is unfinished.
    #[serde(default)]
    pub overlap: Overlap,
    /// What happens to fire times missed while no server ran.
    #[serde(default)]
    pub catchup: Catchup,
}

/// `UTC`, the timezone of a schedule that names none.
pub fn default_timezone() -> String {
    "UTC".to_owned()
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Most schedules one template may declare.
pub const MAX_TEMPLATE_SCHEDULES: usize = 32;

/// Problems of a template's `schedules:` list, as (position, `field: what is wrong`).
pub(crate) fn declared_problems(specs: &[ScheduleSpec]) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    if specs.len() > MAX_TEMPLATE_SCHEDULES {
        problems.push((
            MAX_TEMPLATE_SCHEDULES,
            format!("cron: a template declares at most {MAX_TEMPLATE_SCHEDULES} schedules"),
        ));
        return problems;
    }
    for (index, spec) in specs.iter().enumerate() {
        if let Err(errors) = CronSchedule::parse(&spec.cron, &spec.timezone) {
            problems.extend(errors.into_iter().map(|e| (index, e.to_string())));
        }
        if !spec.context.is_object() {
            problems.push((index, "context: must be a JSON object".to_owned()));
        }
    }
    problems
}
