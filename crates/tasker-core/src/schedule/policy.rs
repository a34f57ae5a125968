//! Which fire times of a schedule fire now: the on-time fire, and the missed ones according
//! to the `catchup` policy. The `overlap` policy needs the previous task's state, so the store
//! applies it inside the firing transaction.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CronSchedule;

/// Most fires one schedule makes for the times it missed, per recovery (`catchup: all`).
pub const MAX_CATCHUP_FIRES: usize = 100;

/// How late a fire may be and still count as on time rather than missed, in milliseconds:
/// a server that is busy, not down, fires each of its fire times.
pub const ON_TIME_GRACE_MS: i64 = 5_000;

/// Fire times walked before the walk skips ahead to an hour before `now`, so a per-second
/// schedule that was down for weeks costs a few thousand steps, not millions.
const WALK_LIMIT: usize = 10_000;

/// What a schedule does at a fire time while its previous task is unfinished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Fire anyway.
    #[default]
    Allow,
    /// Do not fire (the fire time is recorded as skipped).
    Skip,
}

/// What a schedule does with fire times missed while no server was running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Catchup {
    /// Fire none of them.
    None,
    /// Fire once, for the most recent of them.
    #[default]
    Latest,
    /// Fire each of them (the most recent [`MAX_CATCHUP_FIRES`]).
    All,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ }) => {
        impl $ty {
            /// The snake_case name.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text,)+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(format!("unknown value `{s}`")),
                }
            }
        }
    };
}
text_enum!(Overlap { Allow => "allow", Skip => "skip" });
text_enum!(Catchup { None => "none", Latest => "latest", All => "all" });

/// What a due schedule does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePlan {
    /// Fire times that become tasks, oldest first.
    pub fire: Vec<DateTime<Utc>>,
    /// Due fire times that do not fire (missed, dropped by the catch-up policy).
    pub missed: u64,
    /// The schedule's next fire time after `now`.
    pub next_fire_at: Option<DateTime<Utc>>,
}

/// The plan of a schedule whose stored next fire time is `next_fire_at`, at `now`. Each fire
/// time at most [`ON_TIME_GRACE_MS`] old is on time and fires under every policy; older ones
/// were missed, and `catchup` decides: `all` fires them too (the most recent
/// [`MAX_CATCHUP_FIRES`] in all), `latest` fires the most recent of them, `none` none.
pub fn plan_due(
    cron: &CronSchedule,
    next_fire_at: DateTime<Utc>,
    catchup: Catchup,
    now: DateTime<Utc>,
) -> DuePlan {
    if next_fire_at > now {
        return DuePlan {
            fire: Vec::new(),
            missed: 0,
            next_fire_at: Some(next_fire_at),
        };
    }
    let (recent, total) = due_times(cron, next_fire_at, now);
    let on_time_from = now - chrono::Duration::milliseconds(ON_TIME_GRACE_MS);
    let (missed, on_time): (Vec<_>, Vec<_>) = recent.into_iter().partition(|t| *t < on_time_from);
    let latest_missed = missed.last().copied();
    let fire: Vec<DateTime<Utc>> = match catchup {
        Catchup::All => missed.into_iter().chain(on_time).collect(),
        Catchup::Latest => latest_missed.into_iter().chain(on_time).collect(),
        Catchup::None => on_time,
    };
    DuePlan {
        missed: total.saturating_sub(fire.len() as u64),
        fire,
        next_fire_at: cron.next_after(now),
    }
}

/// The most recent [`MAX_CATCHUP_FIRES`] fire times in `[from, now]` (`from` being one) and
/// how many there are.
fn due_times(
    cron: &CronSchedule,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (VecDeque<DateTime<Utc>>, u64) {
    let mut recent = VecDeque::with_capacity(MAX_CATCHUP_FIRES);
    let mut total = 0u64;
    // `from` is a stored fire time, computed by the expression itself. Re-evaluating it
    // would lose the fire time that replaces a local time skipped by a spring-forward change.
    let mut cursor = Some(from);
    let mut walked = 0usize;
    while let Some(t) = cursor.filter(|t| *t <= now) {
        if recent.len() == MAX_CATCHUP_FIRES {
            recent.pop_front();
        }
        recent.push_back(t);
        total += 1;
        walked += 1;
        cursor = cron.next_after(t);
        let restart = now - chrono::Duration::hours(1);
        if walked == WALK_LIMIT && restart > t {
            cursor = cron.next_from(restart);
        }
    }
    (recent, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn every_minute() -> CronSchedule {
        CronSchedule::parse("* * * * *", "UTC").unwrap()
    }

    #[test]
    fn an_on_time_fire_fires_under_every_policy() {
        for catchup in [Catchup::None, Catchup::Latest, Catchup::All] {
            let plan = plan_due(
                &every_minute(),
                utc("2026-01-01T00:01:00Z"),
                catchup,
                utc("2026-01-01T00:01:00.300Z"),
            );
            assert_eq!(plan.fire, [utc("2026-01-01T00:01:00Z")], "{catchup}");
            assert_eq!(plan.missed, 0);
            assert_eq!(plan.next_fire_at, Some(utc("2026-01-01T00:02:00Z")));
        }
    }

    #[test]
    fn three_missed_fire_times_follow_the_catchup_policy() {
        // Down from 00:00:30 to 00:03:30: 00:01, 00:02 and 00:03 were missed.
        let from = utc("2026-01-01T00:01:00Z");
        let now = utc("2026-01-01T00:03:30Z");
        let plan = |c| plan_due(&every_minute(), from, c, now);
        assert!(plan(Catchup::None).fire.is_empty());
        assert_eq!(plan(Catchup::None).missed, 3);
        assert_eq!(plan(Catchup::Latest).fire, [utc("2026-01-01T00:03:00Z")]);
        assert_eq!(plan(Catchup::Latest).missed, 2);
        assert_eq!(
            plan(Catchup::All).fire,
            [
                utc("2026-01-01T00:01:00Z"),
                utc("2026-01-01T00:02:00Z"),
                utc("2026-01-01T00:03:00Z")
            ]
        );
        assert_eq!(
            plan(Catchup::All).next_fire_at,
            Some(utc("2026-01-01T00:04:00Z"))
        );
    }

    #[test]
    fn a_busy_server_fires_every_recent_fire_time() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        // The loop woke 2.3 s late: 00:00:01 and 00:00:02 are late, not missed.
        let now = utc("2026-01-01T00:00:03.300Z");
        for catchup in [Catchup::None, Catchup::Latest, Catchup::All] {
            let plan = plan_due(&every_second, utc("2026-01-01T00:00:01Z"), catchup, now);
            assert_eq!(plan.fire.len(), 3, "{catchup}");
            assert_eq!(plan.missed, 0);
        }
        // Down for a minute: the missed ones follow the policy, the recent ones fire.
        let now = utc("2026-01-01T00:01:00.500Z");
        let from = utc("2026-01-01T00:00:01Z");
        let none = plan_due(&every_second, from, Catchup::None, now);
        assert_eq!(none.fire.first(), Some(&utc("2026-01-01T00:00:56Z")));
        assert_eq!(none.fire.len(), 5);
        let latest = plan_due(&every_second, from, Catchup::Latest, now);
        assert_eq!(latest.fire.first(), Some(&utc("2026-01-01T00:00:55Z")));
        assert_eq!(latest.fire.len(), 6);
        assert_eq!(latest.missed, 60 - 6);
    }

    #[test]
    fn catchup_all_is_bounded() {
        let plan = plan_due(
            &every_minute(),
            utc("2026-01-01T00:00:00Z"),
            Catchup::All,
            utc("2026-01-01T10:00:00Z"),
        );
        assert_eq!(plan.fire.len(), MAX_CATCHUP_FIRES);
        assert_eq!(plan.fire.last(), Some(&utc("2026-01-01T10:00:00Z")));
        assert_eq!(plan.missed, 601 - MAX_CATCHUP_FIRES as u64);
    }

    #[test]
    fn a_very_long_outage_stays_cheap() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        let now = utc("2026-03-01T00:00:00Z");
        let plan = plan_due(
            &every_second,
            utc("2026-01-01T00:00:00Z"),
            Catchup::All,
            now,
        );
        assert_eq!(plan.fire.len(), MAX_CATCHUP_FIRES);
        assert_eq!(plan.fire.last(), Some(&now));
        assert_eq!(plan.next_fire_at, Some(utc("2026-03-01T00:00:01Z")));
    }

    #[test]
    fn nothing_is_due_before_the_next_fire_time() {
        let plan = plan_due(
            &every_minute(),
            utc("2026-01-01T00:05:00Z"),
            Catchup::All,
            utc("2026-01-01T00:04:59Z"),
        );
        assert!(plan.fire.is_empty());
        assert_eq!(plan.next_fire_at, Some(utc("2026-01-01T00:05:00Z")));
    }

    #[test]
    fn the_fire_time_replacing_a_skipped_local_time_fires() {
        let daily = CronSchedule::parse("30 2 * * *", "America/New_York").unwrap();
        let replaced = utc("2026-03-08T07:00:00Z");
        assert_eq!(
            daily.next_after(utc("2026-03-07T12:00:00Z")),
            Some(replaced)
        );
        let plan = plan_due(
            &daily,
            replaced,
            Catchup::None,
            utc("2026-03-08T07:00:00.100Z"),
        );
        assert_eq!(plan.fire, [replaced]);
        assert_eq!(plan.next_fire_at, Some(utc("2026-03-09T06:30:00Z")));
    }

    #[test]
    fn policies_round_trip_as_text() {
        for c in [Catchup::None, Catchup::Latest, Catchup::All] {
            assert_eq!(c.as_str().parse::<Catchup>(), Ok(c));
        }
        for o in [Overlap::Allow, Overlap::Skip] {
            assert_eq!(o.as_str().parse::<Overlap>(), Ok(o));
        }
        assert!("sometimes".parse::<Overlap>().is_err());
    }
}
