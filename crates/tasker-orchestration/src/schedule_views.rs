//! Schedule records as wire bodies, and wire policies as domain policies.

use tasker_core::store::{ScheduleRecord, ScheduleRun, ScheduleSource};
use tasker_core::{Catchup, Overlap};
use tasker_proto::api as wire;

pub(crate) fn overlap(o: wire::ScheduleOverlap) -> Overlap {
    match o {
        wire::ScheduleOverlap::Allow => Overlap::Allow,
        wire::ScheduleOverlap::Skip => Overlap::Skip,
    }
}

pub(crate) fn catchup(c: wire::ScheduleCatchup) -> Catchup {
    match c {
        wire::ScheduleCatchup::None => Catchup::None,
        wire::ScheduleCatchup::Latest => Catchup::Latest,
        wire::ScheduleCatchup::All => Catchup::All,
    }
}

fn wire_overlap(o: Overlap) -> wire::ScheduleOverlap {
    match o {
        Overlap::Allow => wire::ScheduleOverlap::Allow,
        Overlap::Skip => wire::ScheduleOverlap::Skip,
    }
}

fn wire_catchup(c: Catchup) -> wire::ScheduleCatchup {
    match c {
        Catchup::None => wire::ScheduleCatchup::None,
        Catchup::Latest => wire::ScheduleCatchup::Latest,
        Catchup::All => wire::ScheduleCatchup::All,
    }
}

pub(crate) fn schedule(s: ScheduleRecord) -> wire::ScheduleView {
    wire::ScheduleView {
        schedule_uuid: s.schedule_uuid,
        namespace: s.namespace,
        name: s.name,
        version: s.version,
        cron: s.cron,
        timezone: s.timezone,
        context: s.context,
        overlap: wire_overlap(s.overlap),
        catchup: wire_catchup(s.catchup),
        paused: s.paused,
        description: s.description,
        created_by: s.created_by,
        source: match s.source {
            ScheduleSource::Api => "api",
            ScheduleSource::Template(_) => "template",
        }
        .to_owned(),
        next_fire_at: s.next_fire_at,
        last_fired_at: s.last_fired_at,
        last_task_uuid: s.last_task_uuid,
        upcoming: Vec::new(),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

pub(crate) fn run(r: ScheduleRun) -> wire::ScheduleRunView {
    wire::ScheduleRunView {
        scheduled_for: r.scheduled_for,
        result: r.result.as_str().to_owned(),
        task_uuid: r.task_uuid,
        task_status: r.task_status,
        recorded_at: r.recorded_at,
    }
}
