//! `schedule …` against a live server, in both formats.

use serde_json::Value;

use crate::live::{self, admin_token};

#[test]
fn schedules_are_created_listed_paused_triggered_and_deleted() {
    let live = live::start();
    let token = admin_token();
    let created = live
        .ctl(
            &token,
            &[
                "schedule",
                "create",
                "examples",
                "diamond_math",
                "--cron",
                "30 2 * * *",
                "--timezone",
                "America/New_York",
                "--context",
                r#"{"value": 5}"#,
                "--overlap",
                "skip",
                "--format",
                "json",
            ],
        )
        .expect_code(0);
    let schedule: Value = serde_json::from_str(&created.stdout).unwrap();
    let id = schedule["schedule_uuid"].as_str().unwrap().to_owned();
    assert_eq!(schedule["overlap"], "skip");
    assert_eq!(schedule["catchup"], "latest");
    assert_eq!(schedule["timezone"], "America/New_York");

    let (table, json) = live.both(&["schedule", "list", "--namespace", "examples"]);
    assert!(table.starts_with("SCHEDULE_UUID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("30 2 * * *"),
        "{table}"
    );
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");

    let (table, json) = live.both(&["schedule", "get", &id]);
    assert!(table.contains("examples/diamond_math"), "{table}");
    assert_eq!(json["schedule_uuid"], id.as_str());

    let (table, json) = live.both(&["schedule", "next", &id, "--count", "3"]);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert_eq!(json.as_array().unwrap().len(), 3, "{json}");

    let (_, json) = live.both(&["schedule", "pause", &id]);
    assert_eq!(json["paused"], true);
    let (_, json) = live.both(&["schedule", "resume", &id]);
    assert_eq!(json["paused"], false);
    let (_, json) = live.both(&["schedule", "update", &id, "--cron", "@hourly"]);
    assert_eq!(json["cron"], "@hourly");

    let fired = live
        .ctl(&token, &["schedule", "trigger", &id, "--format", "json"])
        .expect_code(0);
    let task: Value = serde_json::from_str(&fired.stdout).unwrap();
    assert_eq!(task["created_by"], format!("schedule:{id}"));
    assert!(task["scheduled_for"].is_string(), "{task}");
    let (table, json) = live.both(&["schedule", "runs", &id]);
    assert!(table.contains("triggered"), "{table}");
    assert_eq!(json[0]["task_uuid"], task["task_uuid"]);

    let line = live::one_error_line(live.ctl(
        &token,
        &[
            "schedule",
            "create",
            "examples",
            "diamond_math",
            "--cron",
            "61 * * * *",
        ],
    ));
    assert!(
        line.contains("cron: `61 * * * *` is not a valid cron expression"),
        "{line}"
    );
    let line = live::one_error_line(live.ctl(
        &token,
        &[
            "schedule",
            "create",
            "examples",
            "diamond_math",
            "--cron",
            "@daily",
            "--timezone",
            "Nowhere",
        ],
    ));
    assert!(
        line.contains("timezone: `Nowhere` is not an IANA timezone name"),
        "{line}"
    );

    live.ctl(&token, &["schedule", "delete", &id])
        .expect_code(0);
    let line = live::one_error_line(live.ctl(&token, &["schedule", "get", &id]));
    assert!(line.starts_with("error: not found (404)"), "{line}");
}
