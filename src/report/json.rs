//! `--json FILE` (or `-` for stdout): the run as a stream of JSON lines, one object per event,
//! written as the events happen. It carries outcomes, durations and log paths, never the output
//! bytes (those are in the logs). Also the document printed by `runall list --json`.
//!
//! # Schema (version 2)
//!
//! Every line is one JSON object with `"schema": 2` and a `"type"`. Consumers must ignore
//! types and fields they do not know: new ones may be added without a version change; a
//! field's meaning never changes without one. Times are whole milliseconds; envs are named
//! by their name.
//!
//! | `type`             | fields                                                            |
//! |--------------------|-------------------------------------------------------------------|
//! | `run_started`      | `run_id`, `envs` (names in plan order), `jobs`                    |
//! | `env_started`      | `env`, `attempt` (1, then 2… for retries)                         |
//! | `command_started`  | `env`, `attempt`, `index` (0-based), `command`, `pid`             |
//! | `env_retrying`     | the `env_finished` fields of the failed attempt, plus `next_attempt` |
//! | `log_failed`       | `env`, `log`, `error`: the log could not be written (outcome says `log incomplete`) |
//! | `env_finished`     | `env`, `attempt`, `verdict`, `outcome`, `flaky`, `duration_ms`, `exit_code`, `signal`, `stopped_by`, `leaked`, `log`, `tests`, `failing_tests`, `test_warnings` |
//! | `shutdown_started` | `cause`, `count` (2 for the second request: kill now)             |
//! | `run_finished`     | `counts`, `exit_code`, `cause`, `duration_ms`                     |
//!
//! - `verdict`: `passed`, `failed`, `skipped` (a dependency did not pass), `interrupted`
//!   (stopped by the run's shutdown while it ran) or `not_run` (never started because the run
//!   was shutting down).
//! - `outcome`: the summary's words: `exit 3`, `killed by SIGKILL`, `timed out after 10s
//!   (killed by SIGTERM)`, `skipped: lint did not pass`, `passed on attempt 2 (flaky)`.
//! - `flaky`: passed, but only after a failed attempt.
//! - `duration_ms`, `log`: `null` when the env never started (skipped, not run).
//! - `exit_code`: the failing command's exit code, else `null`; `signal`: the signal that
//!   killed it (`"SIGKILL"`), else `null`.
//! - `stopped_by`: `"timeout"`, `"interrupt"` or `null`.
//! - `leaked`: `[{"pid": 123, "command": "sleep 100"}]`, processes killed after the env (the
//!   command line from /proc as the CI line shows it: escape sequences removed, controls such
//!   as a newline shown as `\x0a`).
//! - `tests`: the counts of the attempt's test reports, `{"passed": 412, "failed": 3,
//!   "errored": 0, "skipped": 5}`, or `null` when no report was read.
//! - `failing_tests`: every failed or errored testcase of those reports, in report order:
//!   `{"name", "classname", "file", "line", "status" ("failed" | "errored"), "message"}`;
//!   `classname`, `file`, `line` and `message` (the message's first line) may be `null`.
//!   Report text is sanitised like the CI lines (escape sequences removed, controls shown as
//!   `\xNN`). Empty without reports.
//! - `test_warnings`: what could not be read (a malformed, truncated, stale or foreign file,
//!   with its path and line) and a warning when the env passed while its reports list failing
//!   tests; empty when there is nothing to say.
//! - `cause`: `null`, or `{"kind": "signal" | "output_closed" | "fail_fast", "signal":
//!   "SIGINT" | null, "env": "lint" | null}`.
//! - `counts`: `passed`, `failed`, `skipped`, `interrupted`, `not_run`, `not_finished` (started
//!   but no result: the run broke off), `flaky`, `total` (flaky envs are also counted as passed).
//! - `exit_code` of `run_finished`: runall's own exit status as a shell sees it (0, 1, or
//!   128 + signal when a signal ended the run).
//!
//! Version 2 added `tests`, `failing_tests` and `test_warnings` (version 1 had no test
//! results); `runall list --json` keeps its own version 1.
//!
//! This module only formats: the caller owns the sink, its buffering and its errors.

use std::io::{self, Write};
use std::time::Instant;

use serde::Serialize;

use super::Summary;
use crate::event::{
    EnvResult, EnvStatus, ExitKind, RunEvent, ShutdownCause, StopCause, millis, signal_name,
    verdict_name,
};
use crate::plan::{CommandSpec, Plan};
use crate::sanitize;

/// The schema version of every line.
pub const SCHEMA: u32 = 2;

/// Writes the JSON-lines stream of one run to `out`.
pub struct JsonReporter<W: Write> {
    out: W,
    names: Vec<String>,
    commands: Vec<Vec<String>>,
    attempts: Vec<u32>,
    started: Instant,
}

#[derive(Serialize)]
struct RunStarted<'a> {
    schema: u32,
    r#type: &'static str,
    run_id: &'a str,
    envs: &'a [String],
    jobs: usize,
}

#[derive(Serialize)]
struct EnvStarted<'a> {
    schema: u32,
    r#type: &'static str,
    env: &'a str,
    attempt: u32,
}

#[derive(Serialize)]
struct LogFailed<'a> {
    schema: u32,
    r#type: &'static str,
    env: &'a str,
    log: String,
    error: &'a str,
}

#[derive(Serialize)]
struct CommandStarted<'a> {
    schema: u32,
    r#type: &'static str,
    env: &'a str,
    attempt: u32,
    index: usize,
    command: &'a str,
    pid: i32,
}

#[derive(Serialize)]
struct EnvDone<'a> {
    schema: u32,
    r#type: &'static str,
    env: &'a str,
    attempt: u32,
    verdict: &'static str,
    outcome: String,
    flaky: bool,
    duration_ms: Option<u64>,
    exit_code: Option<i32>,
    signal: Option<String>,
    stopped_by: Option<&'static str>,
    leaked: Vec<Leaked>,
    log: Option<String>,
    tests: Option<Tests>,
    failing_tests: Vec<FailingTest>,
    test_warnings: Vec<String>,
    /// CPU seconds (user + system) of its commands and their reaped descendants (only when
    /// a command ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_seconds: Option<f64>,
    /// Peak resident set size of one of its processes, in bytes (only when a command ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rss_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt: Option<u32>,
}

/// `tests` of `env_finished`.
#[derive(Serialize)]
struct Tests {
    passed: u64,
    failed: u64,
    errored: u64,
    skipped: u64,
}

/// One of `failing_tests`: every text from the report, sanitised.
#[derive(Serialize)]
struct FailingTest {
    name: String,
    classname: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    status: &'static str,
    message: Option<String>,
}

#[derive(Serialize)]
struct EnvWaiting<'a> {
    schema: u32,
    r#type: &'static str,
    env: &'a str,
    reason: &'static str,
    expected_bytes: u64,
    running_bytes: u64,
}

#[derive(Serialize)]
struct Leaked {
    pid: i32,
    /// From /proc, chosen by the process: sanitised like the CI line that names it.
    command: String,
}

#[derive(Serialize)]
struct Cause {
    kind: &'static str,
    signal: Option<String>,
    env: Option<String>,
}

#[derive(Serialize)]
struct ShutdownStarted {
    schema: u32,
    r#type: &'static str,
    cause: Cause,
    count: u32,
}

/// `counts` of `run_finished`: [`super::Counts`] as serialised, plus `not_finished`, `flaky`
/// and `total`.
#[derive(Serialize)]
struct JsonCounts {
    passed: usize,
    failed: usize,
    skipped: usize,
    interrupted: usize,
    not_run: usize,
    not_finished: usize,
    flaky: usize,
    total: usize,
}

#[derive(Serialize)]
struct RunFinished {
    schema: u32,
    r#type: &'static str,
    counts: JsonCounts,
    exit_code: i32,
    cause: Option<Cause>,
    duration_ms: u64,
}

impl<W: Write> JsonReporter<W> {
    /// A reporter for `plan` writing to `out`; `now` is the run's start.
    pub fn new(plan: &Plan, out: W, now: Instant) -> Self {
        Self {
            out,
            names: plan.envs.iter().map(|spec| spec.name.clone()).collect(),
            commands: plan
                .envs
                .iter()
                .map(|spec| spec.commands.iter().map(CommandSpec::display).collect())
                .collect(),
            attempts: vec![1; plan.envs.len()],
            started: now,
        }
    }

    /// Writes `run_started`.
    pub fn start(&mut self, run_id: &str, jobs: usize) -> io::Result<()> {
        let line = RunStarted {
            schema: SCHEMA,
            r#type: "run_started",
            run_id,
            envs: &self.names,
            jobs,
        };
        write_line(&mut self.out, &line)
    }

    /// `job_queued`, `job_started` and `env_waiting`: an env that waits for its cluster or
    /// for memory, and a queued job that started.
    fn waiting(&mut self, event: &RunEvent) -> io::Result<()> {
        match event {
            RunEvent::JobQueued { env } | RunEvent::JobStarted { env } => {
                let Some(name) = self.names.get(*env) else {
                    return Ok(());
                };
                let line = EnvStarted {
                    schema: SCHEMA,
                    r#type: if matches!(event, RunEvent::JobQueued { .. }) {
                        "job_queued"
                    } else {
                        "job_started"
                    },
                    env: name,
                    attempt: self.attempts[*env],
                };
                write_line(&mut self.out, &line)
            }
            RunEvent::WaitingForMemory {
                env,
                expected,
                running,
            } => {
                let Some(name) = self.names.get(*env) else {
                    return Ok(());
                };
                let line = EnvWaiting {
                    schema: SCHEMA,
                    r#type: "env_waiting",
                    env: name,
                    reason: "memory",
                    expected_bytes: *expected,
                    running_bytes: *running,
                };
                write_line(&mut self.out, &line)
            }
            _ => Ok(()),
        }
    }

    /// Writes the line for `event`, if it has one (output and shutdown steps have none;
    /// `RunFinished` is written by [`finish`](Self::finish)).
    pub fn handle(&mut self, event: &RunEvent) -> io::Result<()> {
        match event {
            RunEvent::EnvStarted { env, attempt } => {
                let Some(name) = self.names.get(*env) else {
                    return Ok(());
                };
                self.attempts[*env] = *attempt;
                let line = EnvStarted {
                    schema: SCHEMA,
                    r#type: "env_started",
                    env: name,
                    attempt: *attempt,
                };
                write_line(&mut self.out, &line)
            }
            RunEvent::CommandStarted { env, index, pid } => {
                let (Some(name), Some(command)) = (
                    self.names.get(*env),
                    self.commands.get(*env).and_then(|c| c.get(*index)),
                ) else {
                    return Ok(());
                };
                let line = CommandStarted {
                    schema: SCHEMA,
                    r#type: "command_started",
                    env: name,
                    attempt: self.attempts[*env],
                    index: *index,
                    command,
                    pid: *pid,
                };
                write_line(&mut self.out, &line)
            }
            RunEvent::EnvRetrying { env, result } => {
                let Some(name) = self.names.get(*env) else {
                    return Ok(());
                };
                let line = env_done("env_retrying", name, result, Some(result.attempt + 1));
                write_line(&mut self.out, &line)
            }
            RunEvent::EnvFinished { env, result } => {
                let Some(name) = self.names.get(*env) else {
                    return Ok(());
                };
                write_line(&mut self.out, &env_done("env_finished", name, result, None))
            }
            RunEvent::ShutdownStarted { cause, count } => {
                let line = ShutdownStarted {
                    schema: SCHEMA,
                    r#type: "shutdown_started",
                    cause: self.cause(*cause),
                    count: *count,
                };
                write_line(&mut self.out, &line)
            }
            RunEvent::LogFailed { env, path, error } => {
                let Some(name) = self.names.get(*env) else {
                    return Ok(());
                };
                let line = LogFailed {
                    schema: SCHEMA,
                    r#type: "log_failed",
                    env: name,
                    log: path.display().to_string(),
                    error,
                };
                write_line(&mut self.out, &line)
            }
            RunEvent::JobQueued { .. }
            | RunEvent::JobStarted { .. }
            | RunEvent::WaitingForMemory { .. } => self.waiting(event),
            RunEvent::Output { .. }
            | RunEvent::Usage { .. }
            | RunEvent::LogOpened { .. }
            | RunEvent::Shutdown { .. }
            | RunEvent::RunFinished { .. } => Ok(()),
        }
    }

    /// Writes `run_finished` from the final summary; `now` is the run's end.
    pub fn finish(&mut self, summary: &Summary, now: Instant) -> io::Result<()> {
        let counts = summary.counts();
        let cause = summary.cause();
        let exit_code = match cause {
            Some(ShutdownCause::Signal(signal)) => 128 + signal,
            Some(ShutdownCause::OutputClosed) => 128 + libc::SIGPIPE,
            Some(ShutdownCause::FailFast(_)) | None => i32::from(summary.exit_code()),
        };
        let line = RunFinished {
            schema: SCHEMA,
            r#type: "run_finished",
            counts: JsonCounts {
                passed: counts.passed,
                failed: counts.failed,
                skipped: counts.skipped,
                interrupted: counts.interrupted,
                not_run: counts.not_run,
                not_finished: counts.unfinished,
                flaky: summary.flaky(),
                total: counts.total(),
            },
            exit_code,
            cause: cause.map(|c| self.cause(c)),
            duration_ms: millis(now.saturating_duration_since(self.started)),
        };
        write_line(&mut self.out, &line)
    }

    /// Flushes the sink.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The sink back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn cause(&self, cause: ShutdownCause) -> Cause {
        match cause {
            ShutdownCause::Signal(signal) => Cause {
                kind: "signal",
                signal: Some(signal_name(signal)),
                env: None,
            },
            ShutdownCause::OutputClosed => Cause {
                kind: "output_closed",
                signal: None,
                env: None,
            },
            ShutdownCause::FailFast(env) => Cause {
                kind: "fail_fast",
                signal: None,
                env: self.names.get(env).cloned(),
            },
        }
    }
}

/// The fields of `env_finished` / `env_retrying`.
fn env_done<'a>(
    kind: &'static str,
    env: &'a str,
    result: &'a EnvResult,
    next_attempt: Option<u32>,
) -> EnvDone<'a> {
    let ran = result.ran();
    let (exit_code, signal) = match &result.status {
        EnvStatus::Failed {
            exit: ExitKind::Code(code),
            ..
        } => (Some(*code), None),
        EnvStatus::Failed {
            exit: ExitKind::Signal { signal, .. },
            ..
        } => (None, Some(signal_name(*signal))),
        _ => (None, None),
    };
    EnvDone {
        schema: SCHEMA,
        r#type: kind,
        env,
        attempt: result.attempt,
        verdict: verdict_name(Some(result.verdict())),
        outcome: result.describe(),
        flaky: result.flaky(),
        duration_ms: ran.then(|| millis(result.duration)),
        exit_code,
        signal,
        cpu_seconds: result
            .resources
            .measured()
            .then_some(result.resources.cpu.as_secs_f64()),
        peak_rss_bytes: result
            .resources
            .measured()
            .then_some(result.resources.peak_rss),
        stopped_by: match result.stopped_by {
            Some(StopCause::TimedOut(_)) => Some("timeout"),
            Some(StopCause::Interrupted) => Some("interrupt"),
            None => None,
        },
        leaked: result
            .leaked
            .iter()
            .map(|l| Leaked {
                pid: l.pid,
                command: sanitize::text(l.command.as_bytes()),
            })
            .collect(),
        log: ran.then(|| result.log_path.display().to_string()),
        // `null` when no report was read (none found, or only stale or foreign ones).
        tests: result
            .tests
            .as_ref()
            .filter(|t| !t.files.is_empty())
            .map(|t| Tests {
                passed: t.counts.passed,
                failed: t.counts.failed,
                errored: t.counts.errored,
                skipped: t.counts.skipped,
            }),
        failing_tests: result
            .tests
            .iter()
            .flat_map(|t| t.failing())
            .map(|case| {
                let clean = |text: &str| sanitize::text(text.as_bytes());
                FailingTest {
                    name: clean(&case.name),
                    classname: case.classname.as_deref().map(clean),
                    file: case.file.as_deref().map(clean),
                    line: case.line,
                    status: case.status.word(),
                    message: case.first_line().map(clean),
                }
            })
            .collect(),
        test_warnings: result
            .test_warnings()
            .iter()
            .map(|w| sanitize::text(w.as_bytes()))
            .collect(),
        next_attempt,
    }
}

/// One object and a newline.
fn write_line<W: Write, T: Serialize>(out: &mut W, line: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {

    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::event::LeakedProcess;
    use crate::plan::EnvSpec;

    fn plan() -> Plan {
        let env = |name: &str| EnvSpec {
            retries: 1,
            ..EnvSpec::shell(name, &format!("make {name}"), "/tmp")
        };
        Plan::new(vec![env("unit"), env("lint")], 2, "/logs")
    }

    fn result(status: EnvStatus, attempt: u32) -> EnvResult {
        EnvResult {
            attempt,
            ..EnvResult::new(status, Duration::from_millis(1234), "/logs/unit.log")
        }
    }

    fn lines(events: &[RunEvent]) -> Vec<Value> {
        let plan = plan();
        let t0 = Instant::now();
        let mut summary = Summary::new(&plan);
        let mut r = JsonReporter::new(&plan, Vec::new(), t0);
        r.start("run-1", 2).unwrap();
        for event in events {
            summary.record(event);
            r.handle(event).unwrap();
        }
        r.finish(&summary, t0 + Duration::from_millis(2500))
            .unwrap();
        let out = String::from_utf8(r.into_inner()).unwrap();
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_event_maps_to_one_line() {
        let mut leaky = result(
            EnvStatus::Failed {
                command: 0,
                exit: ExitKind::Signal {
                    signal: 9,
                    core_dumped: false,
                },
            },
            1,
        );
        leaky.leaked.push(LeakedProcess {
            pid: 77,
            command: "sleep 100".into(),
        });
        leaky.stopped_by = Some(StopCause::TimedOut(Duration::from_secs(1)));
        let failed = result(
            EnvStatus::Failed {
                command: 0,
                exit: ExitKind::Code(3),
            },
            1,
        );
        let got = lines(&[
            RunEvent::EnvStarted { env: 0, attempt: 1 },
            RunEvent::CommandStarted {
                env: 0,
                index: 0,
                pid: 42,
            },
            RunEvent::Output {
                env: 0,
                stream: crate::event::Stream::Stdout,
                bytes: b"never in json".to_vec(),
            },
            RunEvent::EnvRetrying {
                env: 0,
                result: failed,
            },
            RunEvent::EnvStarted { env: 0, attempt: 2 },
            RunEvent::EnvFinished {
                env: 0,
                result: result(EnvStatus::Passed, 2),
            },
            RunEvent::EnvFinished {
                env: 1,
                result: leaky,
            },
            RunEvent::RunFinished { cause: None },
        ]);
        assert_eq!(
            got,
            [
                json!({"schema": 2, "type": "run_started", "run_id": "run-1",
                       "envs": ["unit", "lint"], "jobs": 2}),
                json!({"schema": 2, "type": "env_started", "env": "unit", "attempt": 1}),
                json!({"schema": 2, "type": "command_started", "env": "unit", "attempt": 1,
                       "index": 0, "command": "make unit", "pid": 42}),
                json!({"schema": 2, "type": "env_retrying", "env": "unit", "attempt": 1,
                       "verdict": "failed", "outcome": "exit 3", "flaky": false,
                       "duration_ms": 1234, "exit_code": 3, "signal": null, "stopped_by": null,
                       "leaked": [], "log": "/logs/unit.log", "next_attempt": 2,
                       "tests": null, "failing_tests": [], "test_warnings": []}),
                json!({"schema": 2, "type": "env_started", "env": "unit", "attempt": 2}),
                json!({"schema": 2, "type": "env_finished", "env": "unit", "attempt": 2,
                       "verdict": "passed", "outcome": "passed on attempt 2 (flaky)",
                       "flaky": true, "duration_ms": 1234, "exit_code": null, "signal": null,
                       "stopped_by": null, "leaked": [], "log": "/logs/unit.log",
                       "tests": null, "failing_tests": [], "test_warnings": []}),
                json!({"schema": 2, "type": "env_finished", "env": "lint", "attempt": 1,
                       "verdict": "failed",
                       "outcome": "timed out after 1.0s (killed by SIGKILL) (leaked 1 process)",
                       "flaky": false, "duration_ms": 1234, "exit_code": null,
                       "signal": "SIGKILL", "stopped_by": "timeout",
                       "leaked": [{"pid": 77, "command": "sleep 100"}],
                       "log": "/logs/unit.log", "tests": null, "failing_tests": [], "test_warnings": []}),
                json!({"schema": 2, "type": "run_finished",
                       "counts": {"passed": 1, "failed": 1, "skipped": 0, "interrupted": 0,
                                  "not_run": 0, "not_finished": 0, "flaky": 1, "total": 2},
                       "exit_code": 1, "cause": null, "duration_ms": 2500}),
            ]
        );
    }

    #[test]
    fn leaked_command_lines_are_sanitised() {
        let mut leaky = result(EnvStatus::Passed, 1);
        leaky.leaked.push(LeakedProcess {
            pid: 7,
            command: "sleep 9\nunit | FAKE\x1b]0;t\x07".into(),
        });
        let got = lines(&[RunEvent::EnvFinished {
            env: 0,
            result: leaky,
        }]);
        assert_eq!(
            got[1]["leaked"],
            json!([{"pid": 7, "command": "sleep 9\\x0aunit | FAKE"}])
        );
    }

    #[test]
    fn skipped_envs_have_no_duration_or_log_and_causes_are_structured() {
        let skipped = result(
            EnvStatus::Skipped {
                dependency: "unit".into(),
            },
            1,
        );
        let got = lines(&[
            RunEvent::ShutdownStarted {
                cause: ShutdownCause::FailFast(0),
                count: 1,
            },
            RunEvent::EnvFinished {
                env: 1,
                result: skipped,
            },
        ]);
        assert_eq!(
            got[1],
            json!({"schema": 2, "type": "shutdown_started",
                   "cause": {"kind": "fail_fast", "signal": null, "env": "unit"}, "count": 1})
        );
        assert_eq!(got[2]["duration_ms"], Value::Null);
        assert_eq!(got[2]["log"], Value::Null);
        assert_eq!(got[2]["verdict"], "skipped");
        assert_eq!(got[3]["counts"]["not_run"], 1, "unit never started");
        assert_eq!(got[3]["counts"]["not_finished"], 0);
        assert_eq!(got[3]["cause"]["kind"], "fail_fast");

        // An env the shutdown kept from starting is `not run` in every field, never
        // `interrupted`; one that started and has no result is `not_finished`.
        let got = lines(&[
            RunEvent::ShutdownStarted {
                cause: ShutdownCause::Signal(2),
                count: 1,
            },
            RunEvent::EnvStarted { env: 0, attempt: 1 },
            RunEvent::EnvFinished {
                env: 1,
                result: result(EnvStatus::NotRun, 1),
            },
        ]);
        let finished = &got[3];
        assert_eq!(finished["verdict"], "not_run");
        assert_eq!(finished["outcome"], "not run");
        let counts = &got[4]["counts"];
        assert_eq!(counts["not_run"], 1, "{counts}");
        assert_eq!(counts["interrupted"], 0, "{counts}");
        assert_eq!(counts["not_finished"], 1, "{counts}");

        let got = lines(&[RunEvent::ShutdownStarted {
            cause: ShutdownCause::Signal(2),
            count: 1,
        }]);
        assert_eq!(got[2]["exit_code"], 130);
        assert_eq!(got[2]["cause"]["signal"], "SIGINT");
    }
}
