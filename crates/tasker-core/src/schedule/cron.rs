//! Parsing a cron expression with its timezone and computing its fire times, in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Longest accepted cron expression; real ones are a few dozen characters.
const MAX_CRON_CHARS: usize = 256;

/// A problem with one field of a schedule, named so the API can report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleFieldError {
    /// `cron` or `timezone`.
    pub field: &'static str,
    /// What is wrong, never echoing an oversized value.
    pub message: String,
}

impl ScheduleFieldError {
    fn cron(message: impl Into<String>) -> Self {
        Self {
            field: "cron",
            message: message.into(),
        }
    }
}

/// A parsed cron expression in its timezone.
#[derive(Clone)]
pub struct CronSchedule {
    cron: croner::Cron,
    timezone: Tz,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronSchedule")
            .field("cron", &self.cron.pattern.to_string())
            .field("timezone", &self.timezone.name())
            .finish()
    }
}

impl CronSchedule {
    /// Parses `expression` (5 fields `min hour dom month dow`, 6 with leading seconds, or a
    /// macro: `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`)
    /// read in `timezone` (an IANA name such as `Europe/Berlin`).
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, Vec<ScheduleFieldError>> {
        let mut problems = Vec::new();
        let cron = parse_expression(expression)
            .map_err(|e| problems.push(e))
            .ok();
        let tz = parse_timezone(timezone).map_err(|e| problems.push(e)).ok();
        match (cron, tz) {
            (Some(cron), Some(timezone)) => Ok(Self { cron, timezone }),
            _ => Err(problems),
        }
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first fire time at or after `from`.
    pub fn next_from(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = from.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Up to `count` fire times strictly after `after`, in order.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut times = Vec::with_capacity(count.min(1000));
        let mut cursor = after;
        while times.len() < count {
            match self.next_after(cursor) {
                Some(t) => {
                    times.push(t);
                    cursor = t;
                }
                None => break,
            }
        }
        times
    }

    /// The timezone's IANA name.
    pub fn timezone(&self) -> &'static str {
        self.timezone.name()
    }
}

fn parse_expression(expression: &str) -> Result<croner::Cron, ScheduleFieldError> {
    let text = expression.trim();
    if text.is_empty() {
        return Err(ScheduleFieldError::cron("must not be empty"));
    }
    if text.chars().count() > MAX_CRON_CHARS {
        return Err(ScheduleFieldError::cron(format!(
            "is longer than {MAX_CRON_CHARS} characters"
        )));
    }
    if !text.starts_with('@') {
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(ScheduleFieldError::cron(format!(
                "`{text}` has {fields} fields; expected 5 (minute hour day-of-month month \
                 day-of-week) or 6 (with leading seconds)"
            )));
        }
    }
    croner::Cron::new(text)
        .with_seconds_optional()
        .parse()
        .map_err(|e| {
            ScheduleFieldError::cron(format!("`{text}` is not a valid cron expression: {e}"))
        })
}

fn parse_timezone(timezone: &str) -> Result<Tz, ScheduleFieldError> {
    let error = |message: String| ScheduleFieldError {
        field: "timezone",
        message,
    };
    if timezone.is_empty() {
        return Err(error("must not be empty".into()));
    }
    if timezone.len() > 64 {
        return Err(error("is longer than 64 characters".into()));
    }
    Tz::from_str(timezone).map_err(|_| {
        error(format!(
            "`{timezone}` is not an IANA timezone name (for example `UTC` or `Europe/Berlin`)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_and_six_fields_and_macros() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        assert_eq!(
            every_second.upcoming(utc("2026-01-01T00:00:00Z"), 2),
            [utc("2026-01-01T00:00:01Z"), utc("2026-01-01T00:00:02Z")]
        );
        let five = CronSchedule::parse("*/15 * * * *", "UTC").unwrap();
        assert_eq!(
            five.next_after(utc("2026-01-01T00:07:00Z")),
            Some(utc("2026-01-01T00:15:00Z"))
        );
        let hourly = CronSchedule::parse("@hourly", "UTC").unwrap();
        assert_eq!(
            hourly.next_after(utc("2026-01-01T00:00:00Z")),
            Some(utc("2026-01-01T01:00:00Z"))
        );
        let daily = CronSchedule::parse("@daily", "UTC").unwrap();
        assert_eq!(
            daily.next_from(utc("2026-01-01T00:00:00Z")),
            Some(utc("2026-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn timezones_shift_the_fire_times() {
        let berlin = CronSchedule::parse("0 9 * * *", "Europe/Berlin").unwrap();
        // 09:00 in Berlin is 08:00 UTC in winter.
        assert_eq!(
            berlin.next_after(utc("2026-01-10T00:00:00Z")),
            Some(utc("2026-01-10T08:00:00Z"))
        );
        assert_eq!(berlin.timezone(), "Europe/Berlin");
    }

    #[test]
    fn bad_expressions_and_timezones_name_their_field() {
        for bad in [
            "",
            "* * *",
            "* * * * * * * *",
            "61 * * * *",
            "@sometimes",
            "a b c d e",
        ] {
            let errors = CronSchedule::parse(bad, "UTC").unwrap_err();
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert_eq!(errors[0].field, "cron", "{bad:?}");
        }
        let errors = CronSchedule::parse("* * * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(errors[0].field, "timezone");
        assert!(errors[0].message.contains("Mars/Olympus"), "{errors:?}");
        let both = CronSchedule::parse("nope", "nowhere").unwrap_err();
        assert_eq!(
            both.iter().map(|e| e.field).collect::<Vec<_>>(),
            ["cron", "timezone"]
        );
        let long = CronSchedule::parse(&"1 ".repeat(500), "UTC").unwrap_err();
        assert!(!long[0].message.contains("1 1 1"), "{long:?}");
    }

    /// `docs/schedules.md` documents this: a local time skipped by a spring-forward change
    /// fires once, at the first instant after the gap; a local time repeated by a fall-back
    /// change fires once, at its first occurrence.
    #[test]
    fn daylight_saving_changes_behave_as_documented() {
        let ny = chrono_tz::America::New_York;
        let daily = CronSchedule::parse("30 2 * * *", "America/New_York").unwrap();
        // 2026-03-08: clocks jump from 02:00 to 03:00 in New York; 02:30 does not exist.
        let times = daily.upcoming(utc("2026-03-07T12:00:00Z"), 3);
        let local: Vec<String> = times
            .iter()
            .map(|t| t.with_timezone(&ny).format("%Y-%m-%d %H:%M %Z").to_string())
            .collect();
        assert_eq!(
            local,
            [
                "2026-03-08 03:00 EDT",
                "2026-03-09 02:30 EDT",
                "2026-03-10 02:30 EDT"
            ]
        );
        // 2026-11-01: 01:30 happens twice (EDT, then EST); it fires at the first.
        let fall = CronSchedule::parse("30 1 * * *", "America/New_York").unwrap();
        let times = fall.upcoming(utc("2026-10-31T12:00:00Z"), 2);
        assert_eq!(
            times[0],
            ny.with_ymd_and_hms(2026, 11, 1, 1, 30, 0)
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        );
        assert_eq!(times[1], utc("2026-11-02T06:30:00Z"));
    }
}
