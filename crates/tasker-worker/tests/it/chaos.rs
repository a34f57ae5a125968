//! Fault injection: two `tasker-server` processes (no embedded worker) and three
//! `tasker-worker` processes (2 s leases) on one PostgreSQL database run 100 diamonds whose
//! steps sleep 50 to 200 ms, while a seeded RNG SIGKILLs a random process six times and starts
//! a replacement of the same kind on the same config. Every task must complete, every step must
//! have exactly one successful completion and no two executions overlapping in time, and the
//! paginated task list (with a bearer token) must hold every task once. Each step appends a
//! `start` line when it begins and an `end` line when its work is done. Seed:
//! `TASKER_CHAOS_SEED`, else the clock; it is printed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tasker_testkit::{ServerProcess, TestConfig, Token};

use crate::multi_process::{Database, SERIAL};
use crate::server_binary;

const TASKS: usize = 100;
const UPFRONT: usize = 40;
const ROUNDS: usize = 6;
const SERVERS: usize = 2;
const WORKERS: usize = 3;
/// How long after its worker's SIGKILL a step's script may still run: the supervisor checks
/// every 100 ms; the rest is slack for a loaded machine. Leases are 2 s, so a re-claimed attempt
/// starts well after.
const KILL_GRACE_MS: u64 = 1000;

fn epoch_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

/// Reads the step document, appends `start STEP ATTEMPT START_MS`, sleeps `$2` seconds,
/// appends `end STEP ATTEMPT START_MS END_MS` and prints the step's name and attempt. A
/// document cut short (its worker died while writing it) records nothing. When a worker is
/// killed with SIGKILL, the command supervisor kills this script (and its `sleep`) within
/// about 100 ms, so an execution cut short that way has a `start` line and no `end` line.
const RECORD: &str = r#"IFS= read -r doc
case $doc in *'"step_uuid":"'*'}') ;; *) exit 3 ;; esac
step=${doc#*\"step_uuid\":\"}; step=${step%%\"*}
name=${doc#*\"step_name\":\"}; name=${name%%\"*}
attempt=${doc#*\"attempt\":}; attempt=${attempt%%,*}
start=$(date +%s%3N)
echo "start $step $attempt $start" >> "$1"
sleep "$2"
end=$(date +%s%3N)
echo "end $step $attempt $start $end" >> "$1"
printf '{"step": "%s", "attempt": %s}\n' "$name" "$attempt"
"#;

fn diamond(record: &Path, log: &Path) -> String {
    let step = |name: &str, deps: &str, secs: &str| {
        format!(
            "  - name: {name}\n    handler: {{ callable: builtin.command, initialization: {{ program: sh, args: [\"{}\", \"{}\", \"{secs}\"] }} }}\n    depends_on: [{deps}]\n    retry: {{ retryable: true, max_attempts: 10, backoff_base_ms: 10, max_backoff_ms: 20 }}\n    timeout_seconds: 60\n",
            record.display(),
            log.display()
        )
    };
    format!(
        "name: chaos_diamond\nnamespace: chaos\nversion: 1.0.0\nsteps:\n{}{}{}{}",
        step("a", "", "0.1"),
        step("b", "a", "0.2"),
        step("c", "a", "0.05"),
        step("d", "b, c", "0.15")
    )
}

/// The processes of one test, all on one config root with auth enabled.
struct Chaos {
    config: TestConfig,
    log: PathBuf,
    http: reqwest::Client,
    token: String,
}

impl Chaos {
    fn new(db: &Database) -> Self {
        let config = TestConfig::new();
        let record = config.write("scripts/record.sh", RECORD);
        let log = config.root().join("executions.log");
        config.write("tasks/chaos_diamond.yaml", &diamond(&record, &log));
        config.write(
            "base/common.toml",
            &format!(
                "[database]\nurl = \"{}\"\nmax_connections = 5\n[templates]\nsearch_paths = [\"{}/tasks\"]\n[backoff]\nbase_ms = 10\nmax_ms = 20\n",
                db.url,
                config.root().display()
            ),
        );
        let auth = format!(
            "[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\n",
            tasker_testkit::fixture("rsa-a-public.pem").display()
        );
        config.write(
            "base/orchestration.toml",
            &format!("[orchestration]\nembedded_worker = false\npoll_interval_ms = 100\n{auth}"),
        );
        config.write(
            "base/worker.toml",
            &format!(
                "[worker]\nconcurrency = 8\nlease_seconds = 2\npoll_interval_ms = 100\nshutdown_timeout_seconds = 1\n{auth}"
            ),
        );
        Self {
            config,
            log,
            http: reqwest::Client::new(),
            token: Token::with_permissions(&["*"]).sign(),
        }
    }

    fn start(&self, kind: Kind) -> ServerProcess {
        match kind {
            Kind::Server => ServerProcess::start(&server_binary(), &self.config, &[]),
            Kind::Worker => {
                ServerProcess::start(env!("CARGO_BIN_EXE_tasker-worker"), &self.config, &[])
            }
        }
    }

    async fn get(&self, server: &ServerProcess, path: &str) -> Value {
        let response = self
            .http
            .get(server.url(path))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    async fn create(&self, server: &ServerProcess, i: usize) -> String {
        let response = self
            .http
            .post(server.url("/v1/tasks"))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(10))
            .json(&json!({"namespace": "chaos", "name": "chaos_diamond", "context": {"i": i}}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "creating task {i}: {status} {body}");
        body["task_uuid"].as_str().unwrap().to_owned()
    }

    /// Every execution recorded so far.
    fn executions(&self) -> Vec<Execution> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut runs: BTreeMap<(String, u32), Execution> = BTreeMap::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let key = (fields[1].to_owned(), fields[2].parse().unwrap());
            let run = runs.entry(key.clone()).or_insert_with(|| Execution {
                step: key.0.clone(),
                attempt: key.1,
                starts: 0,
                start_ms: fields[3].parse().unwrap(),
                end_ms: None,
                killed: false,
            });
            match fields[0] {
                "start" => run.starts += 1,
                "end" => {
                    assert!(run.end_ms.is_none(), "two ends for {key:?}:\n{text}");
                    run.end_ms = Some(fields[4].parse().unwrap());
                }
                other => panic!("bad line {other}: {line}"),
            }
        }
        runs.into_values().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Server,
    Worker,
}

/// One run of a step's script.
#[derive(Debug, Clone)]
struct Execution {
    step: String,
    attempt: u32,
    /// `start` lines with this step and attempt (more than one: the attempt was handed out
    /// twice).
    starts: u32,
    start_ms: u64,
    end_ms: Option<u64>,
    /// Cut short by its worker's SIGKILL (`end_ms` is then the kill plus [`KILL_GRACE_MS`]).
    killed: bool,
}

#[tokio::test]
async fn random_sigkills_of_servers_and_workers_lose_no_task_and_never_overlap_a_step() {
    let Some(db) = Database::create("random_sigkills_of_servers_and_workers") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let seed = std::env::var("TASKER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("chaos seed {seed} (rerun with TASKER_CHAOS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let chaos = Chaos::new(&db);
    let started = Instant::now();
    // Slots 0..SERVERS are servers, the rest workers; a killed slot is refilled at once.
    let mut slots: Vec<(Kind, ServerProcess)> = (0..SERVERS)
        .map(|_| Kind::Server)
        .chain((0..WORKERS).map(|_| Kind::Worker))
        .map(|kind| (kind, chaos.start(kind)))
        .collect();
    let mut tasks = Vec::new();
    for i in 0..UPFRONT {
        tasks.push(chaos.create(&slots[i % SERVERS].1, i).await);
    }
    let per_round = (TASKS - UPFRONT) / ROUNDS;
    let mut kills = Vec::new();
    // Wall-clock times (ms since the epoch, as the scripts record) of each worker's SIGKILL.
    let mut worker_kills_ms: Vec<u64> = Vec::new();
    for round in 0..ROUNDS {
        // The round's tasks go in first, so the kill lands while they run.
        let offset = UPFRONT + round * per_round;
        for i in offset..offset + per_round {
            let server = &slots[rng.random_range(0..SERVERS)].1;
            tasks.push(chaos.create(server, i).await);
        }
        // Rounds are 0.5 to 1 s apart; the kill comes 0.1 to 0.4 s into one, while the
        // round's diamonds are at their first steps (a batch finishes within about 0.7 s).
        let round_ends = Instant::now() + Duration::from_millis(rng.random_range(500..=1000));
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..=400))).await;
        let victim = rng.random_range(0..slots.len());
        let kind = slots[victim].0;
        let done = chaos
            .executions()
            .iter()
            .filter(|e| e.end_ms.is_some())
            .map(|e| e.step.clone())
            .collect::<BTreeSet<_>>()
            .len();
        let killed_at = Instant::now();
        if kind == Kind::Worker {
            worker_kills_ms.push(epoch_ms());
        }
        // SIGKILL and reap (dropping a `ServerProcess`), then a fresh one on the same config.
        drop(slots.remove(victim));
        slots.insert(victim, (kind, chaos.start(kind)));
        eprintln!(
            "round {round} at {:?}: SIGKILLed {kind:?} slot {victim} ({done} steps finished), replacement up in {:?}",
            started.elapsed(),
            killed_at.elapsed()
        );
        kills.push((kind, done));
        tokio::time::sleep_until(round_ends.into()).await;
    }
    assert_eq!(tasks.len(), TASKS);
    assert!(
        kills[ROUNDS - 1].1 < TASKS * 4,
        "the last kill must land mid-run: {kills:?}"
    );

    let api = &slots[0].1;
    let deadline = Instant::now() + Duration::from_secs(90);
    for task in &tasks {
        loop {
            let view = chaos.get(api, &format!("/v1/tasks/{task}")).await;
            if view["status"] == "complete" {
                break;
            }
            let stuck = Instant::now() >= deadline;
            let terminal = ["error", "cancelled", "resolved_manually"]
                .iter()
                .any(|s| view["status"] == *s);
            if stuck || terminal {
                let steps = chaos
                    .get(api, &format!("/v1/tasks/{task}/workflow_steps"))
                    .await;
                let logs: Vec<String> = slots
                    .iter()
                    .map(|(kind, p)| format!("--- {kind:?} {}:\n{}", p.base_url, p.logs()))
                    .collect();
                panic!(
                    "seed {seed}: task {task} is {} after {:?}:\n{view:#}\n{steps:#}\n{}",
                    view["status"],
                    started.elapsed(),
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let finished = started.elapsed();

    // Every task exactly once in the paginated list.
    let mut listed = Vec::new();
    let mut page = 1;
    loop {
        let list = chaos
            .get(
                &slots[1].1,
                &format!("/v1/tasks?namespace=chaos&per_page=30&page={page}"),
            )
            .await;
        assert_eq!(list["pagination"]["total_count"], TASKS, "{list:#}");
        let rows = list["tasks"].as_array().unwrap();
        listed.extend(rows.iter().map(|t| {
            assert_eq!(t["status"], "complete", "{t:#}");
            t["task_uuid"].as_str().unwrap().to_owned()
        }));
        if page >= list["pagination"]["total_pages"].as_u64().unwrap() {
            break;
        }
        page += 1;
    }
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a task listed twice: {listed:?}"
    );
    assert_eq!(
        unique,
        tasks.iter().collect::<BTreeSet<_>>(),
        "the list and the created tasks differ"
    );

    // Scripts of killed workers are killed by their supervisors within about 100 ms.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = chaos.executions();
    let mut by_step: BTreeMap<&str, Vec<&Execution>> = BTreeMap::new();
    for run in &runs {
        by_step.entry(&run.step).or_default().push(run);
    }
    let mut reruns = 0;
    // The shortest time between one execution's end and the next one's start, of any step.
    let mut closest = u64::MAX;
    let mut steps_seen = 0;
    for task in &tasks {
        let list = chaos
            .get(api, &format!("/v1/tasks/{task}/workflow_steps"))
            .await;
        let steps = match list {
            Value::Array(items) => items,
            other => other["steps"].as_array().cloned().unwrap_or_default(),
        };
        assert_eq!(steps.len(), 4, "{task}");
        for step in steps {
            steps_seen += 1;
            let uuid = step["step_uuid"].as_str().unwrap();
            assert_eq!(step["status"], "complete", "{step:#}");
            let attempts = step["attempts"].as_u64().unwrap();
            assert_eq!(
                step["results"]["attempt"], attempts,
                "the recorded result is the last attempt's: {step:#}"
            );
            let audit = chaos
                .get(
                    api,
                    &format!("/v1/tasks/{task}/workflow_steps/{uuid}/audit"),
                )
                .await;
            let completions = audit
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["to_state"] == "complete")
                .count();
            assert_eq!(completions, 1, "seed {seed}: one completion:\n{audit:#}");

            let mut execs: Vec<Execution> = by_step
                .get(uuid)
                .map(|runs| runs.iter().map(|e| (*e).clone()).collect())
                .unwrap_or_default();
            assert!(!execs.is_empty(), "seed {seed}: {step:#} never ran");
            reruns += execs.len() - 1;
            for e in execs.iter_mut() {
                assert_eq!(e.starts, 1, "seed {seed}: attempt handed out twice: {e:?}");
                if e.end_ms.is_none() {
                    // Cut short by its worker's SIGKILL: it ended when its supervisor killed
                    // it, by the end of the kill's grace period at the latest.
                    let kill = worker_kills_ms.iter().find(|k| **k + 50 >= e.start_ms);
                    assert!(
                        kill.is_some(),
                        "seed {seed}: execution never ended and no worker was killed: {e:?}"
                    );
                    e.end_ms = kill.map(|k| k + KILL_GRACE_MS);
                    e.killed = true;
                }
            }
            assert!(
                execs
                    .iter()
                    .any(|e| u64::from(e.attempt) == attempts && !e.killed),
                "seed {seed}: the successful attempt {attempts} has no finished execution: {execs:?}"
            );
            execs.sort_by_key(|e| e.start_ms);
            for pair in execs.windows(2) {
                let end = pair[0].end_ms.unwrap_or(u64::MAX);
                closest = closest.min(pair[1].start_ms.saturating_sub(end));
                assert!(
                    pair[1].start_ms >= end,
                    "seed {seed}: overlapping executions of {uuid}: {:?}",
                    pair
                );
            }
        }
    }
    assert_eq!(steps_seen, TASKS * 4);
    assert_eq!(
        by_step.len(),
        TASKS * 4,
        "executions of steps outside these tasks"
    );
    let killed = |k: Kind| kills.iter().filter(|(kind, _)| *kind == k).count();
    eprintln!(
        "seed {seed}: {TASKS} diamonds under {ROUNDS} SIGKILLs ({} servers, {} workers) complete \
         after {finished:?}; {} executions, {reruns} re-runs (closest: {closest} ms after the \
         previous one ended); checked after {:?}",
        killed(Kind::Server),
        killed(Kind::Worker),
        runs.len(),
        started.elapsed()
    );
}
