//! The run's outcome: [`Summary`] folds the [`RunEvent`] stream into each env's final result,
//! counts verdicts, decides the exit code and writes the end-of-run table.
//!
//! Pure: no processes, no terminal, no clock. Text goes to any `impl Write`; colour is an
//! explicit flag. Live printing of a run belongs to the reporters ([`ci`] for `--ci`); signal exit
//! codes (130 and friends) belong to the caller, which knows how runall itself was stopped.

pub mod ci;
pub mod files;
pub mod github;
pub mod json;
pub mod junit;
mod tests_text;

pub use tests_text::failing_line;

use std::fmt;
use std::io::{self, Write};

use crate::event::{
    EnvResult, Resources, RunEvent, ShutdownCause, Verdict, format_bytes, format_cpu,
    format_duration,
};
use crate::exit_code;
use crate::plan::{EnvId, Plan};

/// ANSI: back to the default style.
const RESET: &str = "\x1b[0m";
/// ANSI: bold.
const BOLD: &str = "\x1b[1m";
/// ANSI: dim (markers that are not the child's bytes).
const DIM: &str = "\x1b[2m";
/// ANSI: green (passed).
const GREEN: &str = "\x1b[32m";
/// ANSI: red (failed).
const RED: &str = "\x1b[31m";
/// ANSI: yellow (skipped, interrupted, unfinished, shutdown notices).
const YELLOW: &str = "\x1b[33m";

/// The colour of a verdict; `None` (no result yet) reads like an interruption.
fn verdict_colour(verdict: Option<Verdict>) -> &'static str {
    match verdict {
        Some(Verdict::Passed) => GREEN,
        Some(Verdict::Failed) => RED,
        Some(Verdict::Skipped | Verdict::Interrupted | Verdict::NotRun) | None => YELLOW,
    }
}

/// How many envs ended in each verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// [`Verdict::Passed`].
    pub passed: usize,
    /// [`Verdict::Failed`].
    pub failed: usize,
    /// [`Verdict::Skipped`].
    pub skipped: usize,
    /// [`Verdict::Interrupted`].
    pub interrupted: usize,
    /// [`Verdict::NotRun`], and envs of the plan with no result that never started.
    pub not_run: usize,
    /// Envs that started but have no `EnvFinished` (only when the run itself broke off).
    pub unfinished: usize,
}

impl Counts {
    /// Every env of the plan.
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped + self.interrupted + self.not_run + self.unfinished
    }

    /// The parts of the counts line: passed and failed always, the rest only when non-zero.
    fn parts(&self) -> impl Iterator<Item = (usize, &'static str, &'static str)> {
        [
            (self.passed, "passed", GREEN, true),
            (self.failed, "failed", RED, true),
            (self.skipped, "skipped", YELLOW, false),
            (self.interrupted, "interrupted", YELLOW, false),
            (self.not_run, "not run", YELLOW, false),
            (self.unfinished, "not finished", YELLOW, false),
        ]
        .into_iter()
        .filter(|&(n, _, _, always)| always || n > 0)
        .map(|(n, word, colour, _)| (n, word, colour))
    }

    /// The counts line, coloured when asked (a part is coloured only when non-zero).
    fn write<W: Write + ?Sized>(&self, out: &mut W, color: bool) -> io::Result<()> {
        for (i, (n, word, paint)) in self.parts().enumerate() {
            if i > 0 {
                out.write_all(b", ")?;
            }
            if color && n > 0 {
                write!(out, "{paint}{n} {word}{RESET}")?;
            } else {
                write!(out, "{n} {word}")?;
            }
        }
        out.write_all(b"\n")
    }
}

/// `3 passed, 1 failed` then `, 1 skipped`, `, 2 interrupted`, `, 1 not run`, `, 1 not finished`
/// when non-zero.
impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, word, _)) in self.parts().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n} {word}")?;
        }
        Ok(())
    }
}

/// One env as the summary knows it.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    started: bool,
    result: Option<EnvResult>,
    /// Failed attempts that were retried, in order.
    retried: Vec<EnvResult>,
}

/// What the run came to: every env's final result and why the run stopped early, if it did.
#[derive(Debug, Clone)]
pub struct Summary {
    envs: Vec<Entry>,
    cause: Option<ShutdownCause>,
}

/// One row of the summary table, as text.
struct Row {
    name: String,
    outcome: String,
    verdict: Option<Verdict>,
    tests: String,
    time: String,
    cpu: String,
    peak: String,
    log: String,
}

impl Summary {
    /// An empty summary for `plan`: no env finished yet.
    pub fn new(plan: &Plan) -> Self {
        let envs = plan
            .envs
            .iter()
            .map(|spec| Entry {
                name: spec.name.clone(),
                started: false,
                result: None,
                retried: Vec::new(),
            })
            .collect();
        Self { envs, cause: None }
    }

    /// Takes in one event: keeps `EnvFinished` results and the failed attempts of
    /// `EnvRetrying`, notes started envs and keeps the first shutdown cause seen
    /// (`ShutdownStarted`, else `RunFinished`). Unknown env ids are ignored.
    pub fn record(&mut self, event: &RunEvent) {
        match event {
            RunEvent::EnvStarted { env, attempt } => {
                if let Some(entry) = self.envs.get_mut(*env) {
                    if *attempt == 1 {
                        // A rerun the user asked for: earlier retries belong to the old request.
                        entry.retried.clear();
                    }
                    entry.started = true;
                }
            }
            RunEvent::EnvFinished { env, result } => {
                if let Some(entry) = self.envs.get_mut(*env) {
                    entry.result = Some(result.clone());
                }
            }
            RunEvent::EnvRetrying { env, result } => {
                if let Some(entry) = self.envs.get_mut(*env) {
                    entry.retried.push(result.clone());
                }
            }
            RunEvent::ShutdownStarted { cause, .. }
            | RunEvent::RunFinished { cause: Some(cause) } => {
                self.cause.get_or_insert(*cause);
            }
            RunEvent::CommandStarted { .. }
            | RunEvent::JobQueued { .. }
            | RunEvent::JobStarted { .. }
            | RunEvent::Usage { .. }
            | RunEvent::WaitingForMemory { .. }
            | RunEvent::LogOpened { .. }
            | RunEvent::LogFailed { .. }
            | RunEvent::Output { .. }
            | RunEvent::Shutdown { .. }
            | RunEvent::RunFinished { cause: None } => {}
        }
    }

    /// The env's final result, once it finished.
    pub fn result(&self, env: EnvId) -> Option<&EnvResult> {
        self.envs.get(env)?.result.as_ref()
    }

    /// The env's failed attempts that were retried (`EnvRetrying`), oldest first.
    pub fn retried(&self, env: EnvId) -> &[EnvResult] {
        self.envs
            .get(env)
            .map_or(&[], |entry| entry.retried.as_slice())
    }

    /// How many envs passed only on a retry.
    pub fn flaky(&self) -> usize {
        self.envs
            .iter()
            .filter(|entry| entry.result.as_ref().is_some_and(EnvResult::flaky))
            .count()
    }

    /// Whether the env was started (an `EnvStarted` was seen).
    pub fn started(&self, env: EnvId) -> bool {
        self.envs.get(env).is_some_and(|entry| entry.started)
    }

    /// Why the run stopped early: the first cause reported.
    pub fn cause(&self) -> Option<ShutdownCause> {
        self.cause
    }

    /// Envs per verdict; envs without a result count as `not_run` when they never started
    /// (as the table labels them), else as `unfinished`.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for entry in &self.envs {
            match entry.result.as_ref().map(EnvResult::verdict) {
                Some(Verdict::Passed) => counts.passed += 1,
                Some(Verdict::Failed) => counts.failed += 1,
                Some(Verdict::Skipped) => counts.skipped += 1,
                Some(Verdict::Interrupted) => counts.interrupted += 1,
                None if entry.started => counts.unfinished += 1,
                Some(Verdict::NotRun) | None => counts.not_run += 1,
            }
        }
        counts
    }

    /// 0 when every env finished and passed, else 1. Exit codes for runall being signalled are
    /// the caller's.
    pub fn exit_code(&self) -> u8 {
        let all_passed = self
            .envs
            .iter()
            .all(|entry| entry.result.as_ref().is_some_and(EnvResult::ok));
        if all_passed {
            exit_code::OK
        } else {
            exit_code::ENV_FAILED
        }
    }

    /// The env whose failure stopped the run under `--fail-fast`.
    pub fn fail_fast_env(&self) -> Option<EnvId> {
        match self.cause {
            Some(ShutdownCause::FailFast(env)) => Some(env),
            _ => None,
        }
    }

    /// The summary table's cells, one row per env.
    fn table_rows(&self) -> Vec<Row> {
        self.envs
            .iter()
            .map(|entry| {
                let ran = entry.result.as_ref().filter(|result| result.ran());
                let measured = ran.map(|r| r.resources).filter(Resources::measured);
                Row {
                    name: entry.name.clone(),
                    outcome: match &entry.result {
                        Some(result) => result.describe(),
                        None if entry.started => "not finished".to_owned(),
                        None => "not run".to_owned(),
                    },
                    verdict: entry.result.as_ref().map(EnvResult::verdict),
                    tests: entry
                        .result
                        .as_ref()
                        .and_then(EnvResult::test_counts)
                        .unwrap_or_default(),
                    time: ran.map_or_else(|| "-".to_owned(), |r| format_duration(r.duration)),
                    cpu: measured.map_or_else(|| "-".to_owned(), |r| format_cpu(r.cpu)),
                    peak: measured.map_or_else(|| "-".to_owned(), |r| format_bytes(r.peak_rss)),
                    log: ran.map_or_else(|| "-".to_owned(), |r| r.log_path.display().to_string()),
                }
            })
            .collect()
    }

    /// The end-of-run table: a header row, one row per env in plan order (name, outcome, duration
    /// or `-` when never started, CPU time and peak RSS or `-` when not measured, log path or
    /// `-`), then the counts line (see [`Counts`]).
    /// Outcomes and counts are coloured by verdict when `color` is set.
    pub fn write_table<W: Write + ?Sized>(&self, out: &mut W, color: bool) -> io::Result<()> {
        let rows = self.table_rows();
        let width = |header: &str, cell: fn(&Row) -> &str| {
            rows.iter()
                .map(|row| cell(row).chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        };
        let name_w = width("env", |row| &row.name);
        let outcome_w = width("result", |row| &row.outcome);
        let time_w = width("time", |row| &row.time);
        // The column only exists when some env has test results: runs without reports print
        // the table as before.
        let tests_w = if self.has_tests() {
            width("tests", |row| &row.tests)
        } else {
            0
        };
        // The resource columns only when something was measured (a run where nothing ran
        // has nothing to show there).
        let usage = self
            .envs
            .iter()
            .filter_map(|entry| entry.result.as_ref())
            .any(|result| result.resources.measured());
        let (cpu_w, peak_w) = if usage {
            (
                width("cpu", |row| &row.cpu),
                width("peak rss", |row| &row.peak),
            )
        } else {
            (0, 0)
        };
        let columns = |out: &mut W, time: &str, cpu: &str, peak: &str| {
            if usage {
                write!(out, "{time:>time_w$}  {cpu:>cpu_w$}  {peak:>peak_w$}  ")
            } else {
                write!(out, "{time:>time_w$}  ")
            }
        };

        if color {
            out.write_all(BOLD.as_bytes())?;
        }
        write!(out, "{:<name_w$}  {:<outcome_w$}  ", "env", "result")?;
        if tests_w > 0 {
            write!(out, "{:<tests_w$}  ", "tests")?;
        }
        columns(out, "time", "cpu", "peak rss")?;
        out.write_all(b"log")?;
        if color {
            out.write_all(RESET.as_bytes())?;
        }
        out.write_all(b"\n")?;
        for row in &rows {
            write!(out, "{:<name_w$}  ", row.name)?;
            let pad = outcome_w.saturating_sub(row.outcome.chars().count());
            if color {
                let paint = verdict_colour(row.verdict);
                write!(out, "{paint}{}{RESET}", row.outcome)?;
            } else {
                out.write_all(row.outcome.as_bytes())?;
            }
            write!(out, "{:pad$}  ", "")?;
            if tests_w > 0 {
                let pad = tests_w.saturating_sub(row.tests.chars().count());
                write!(out, "{}{:pad$}  ", row.tests, "")?;
            }
            columns(out, &row.time, &row.cpu, &row.peak)?;
            writeln!(out, "{}", row.log)?;
        }
        self.counts().write(out, color)
    }
}

#[cfg(test)]
mod tests {

    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::config::LeakPolicy;
    use crate::event::{EnvStatus, ExitKind, LeakedProcess, StopCause};
    use crate::plan::EnvSpec;

    fn plan(names: &[&str]) -> Plan {
        Plan::new(
            names
                .iter()
                .map(|name| EnvSpec::shell(name, &format!("make {name}"), "/tmp"))
                .collect(),
            2,
            PathBuf::from(".runall/logs"),
        )
    }

    fn result(name: &str, status: EnvStatus, millis: u64) -> EnvResult {
        EnvResult::new(
            status,
            Duration::from_millis(millis),
            format!(".runall/logs/{name}.log"),
        )
    }

    fn finished(env: EnvId, result: EnvResult) -> RunEvent {
        RunEvent::EnvFinished { env, result }
    }

    fn failed(code: i32) -> EnvStatus {
        EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(code),
        }
    }

    #[test]
    fn all_passed_exits_zero() {
        let mut summary = Summary::new(&plan(&["unit", "lint"]));
        summary.record(&finished(0, result("unit", EnvStatus::Passed, 1200)));
        assert_eq!(summary.exit_code(), 1, "lint has not finished yet");
        summary.record(&finished(1, result("lint", EnvStatus::Passed, 500)));
        assert_eq!(summary.exit_code(), 0);
        assert_eq!(summary.counts().to_string(), "2 passed, 0 failed");
        assert_eq!(
            summary.result(1).map(EnvResult::describe).as_deref(),
            Some("passed")
        );
        assert_eq!(summary.result(2), None);
    }

    #[test]
    fn empty_plan_exits_zero() {
        let summary = Summary::new(&plan(&[]));
        assert_eq!(summary.exit_code(), 0);
        assert_eq!(summary.counts().total(), 0);
    }

    #[test]
    fn any_failure_skip_or_interruption_exits_one() {
        let statuses = [
            (failed(3), None),
            (
                EnvStatus::Skipped {
                    dependency: "lint".into(),
                },
                None,
            ),
            (EnvStatus::NotRun, None),
            (EnvStatus::Passed, Some(StopCause::Interrupted)),
        ];
        for (status, stopped_by) in statuses {
            let mut summary = Summary::new(&plan(&["unit", "lint"]));
            summary.record(&finished(0, result("unit", EnvStatus::Passed, 1)));
            let mut r = result("lint", status.clone(), 1);
            r.stopped_by = stopped_by;
            summary.record(&finished(1, r));
            assert_eq!(summary.exit_code(), 1, "{status:?} {stopped_by:?}");
        }
    }

    #[test]
    fn an_env_that_skipped_itself_is_a_skip_that_does_not_fail_the_run() {
        let skipped = EnvStatus::SelfSkipped {
            reason: "could not find python interpreter with spec(s): python2.5".into(),
        };
        let mut summary = Summary::new(&plan(&["unit", "old"]));
        summary.record(&finished(0, result("unit", EnvStatus::Passed, 1)));
        summary.record(&finished(1, result("old", skipped.clone(), 1)));
        assert_eq!(summary.exit_code(), 0);
        assert_eq!(summary.counts().skipped, 1);
        let r = summary.result(1).unwrap();
        assert_eq!(r.verdict(), Verdict::Skipped);
        assert!(r.ran(), "it ran: it has a log and a duration");
        assert_eq!(
            r.describe(),
            "skipped: could not find python interpreter with spec(s): python2.5"
        );
        // Interrupted while it ran, it is not a skip.
        let mut stopped = result("old", skipped, 1);
        stopped.stopped_by = Some(StopCause::Interrupted);
        summary.record(&finished(1, stopped));
        assert_eq!(summary.exit_code(), 1);
    }

    #[test]
    fn leak_with_fail_policy_fails_the_run() {
        let mut summary = Summary::new(&plan(&["unit"]));
        let mut r = result("unit", EnvStatus::Passed, 1);
        r.leaked.push(LeakedProcess {
            pid: 7,
            command: "sleep 100".into(),
        });
        summary.record(&finished(0, r.clone()));
        assert_eq!(summary.exit_code(), 0, "warn policy keeps the verdict");
        r.on_leak = LeakPolicy::Fail;
        summary.record(&finished(0, r));
        assert_eq!(summary.exit_code(), 1);
    }

    #[test]
    fn counts_by_verdict() {
        let mut summary = Summary::new(&plan(&["a", "b", "c", "d", "e", "f"]));
        summary.record(&finished(0, result("a", EnvStatus::Passed, 1)));
        summary.record(&finished(1, result("b", failed(1), 1)));
        summary.record(&finished(
            2,
            result(
                "c",
                EnvStatus::Skipped {
                    dependency: "b".into(),
                },
                0,
            ),
        ));
        summary.record(&finished(3, result("d", EnvStatus::NotRun, 0)));
        let mut stopped = result("e", failed(130), 1);
        stopped.stopped_by = Some(StopCause::Interrupted);
        summary.record(&finished(4, stopped));
        summary.record(&RunEvent::EnvStarted { env: 5, attempt: 1 });
        let counts = summary.counts();
        assert_eq!(
            counts,
            Counts {
                passed: 1,
                failed: 1,
                skipped: 1,
                interrupted: 1,
                not_run: 1,
                unfinished: 1,
            }
        );
        assert_eq!(counts.total(), 6);
        assert_eq!(
            counts.to_string(),
            "1 passed, 1 failed, 1 skipped, 1 interrupted, 1 not run, 1 not finished"
        );
        let mut never_started = Summary::new(&plan(&["a"]));
        never_started.record(&RunEvent::RunFinished {
            cause: Some(ShutdownCause::Signal(2)),
        });
        assert_eq!(
            never_started.counts().to_string(),
            "0 passed, 0 failed, 1 not run"
        );
    }

    #[test]
    fn first_cause_wins_and_names_fail_fast_env() {
        let mut summary = Summary::new(&plan(&["unit", "lint"]));
        assert_eq!(summary.cause(), None);
        assert_eq!(summary.fail_fast_env(), None);
        summary.record(&RunEvent::ShutdownStarted {
            cause: ShutdownCause::FailFast(1),
            count: 1,
        });
        summary.record(&RunEvent::ShutdownStarted {
            cause: ShutdownCause::Signal(2),
            count: 2,
        });
        summary.record(&RunEvent::RunFinished {
            cause: Some(ShutdownCause::Signal(2)),
        });
        assert_eq!(summary.cause(), Some(ShutdownCause::FailFast(1)));
        assert_eq!(summary.fail_fast_env(), Some(1));

        let mut summary = Summary::new(&plan(&["unit"]));
        summary.record(&RunEvent::RunFinished {
            cause: Some(ShutdownCause::OutputClosed),
        });
        assert_eq!(summary.cause(), Some(ShutdownCause::OutputClosed));
        assert_eq!(summary.fail_fast_env(), None);
    }

    #[test]
    fn keeps_retried_attempts_and_counts_flaky_envs() {
        let plan = plan(&["unit", "lint"]);
        let mut summary = Summary::new(&plan);
        let first = result("unit", failed(1), 10);
        summary.record(&RunEvent::EnvRetrying {
            env: 0,
            result: first.clone(),
        });
        let mut second = result("unit", EnvStatus::Passed, 20);
        second.attempt = 2;
        summary.record(&finished(0, second));
        summary.record(&finished(1, result("lint", EnvStatus::Passed, 5)));
        assert_eq!(summary.retried(0), [first]);
        assert!(summary.retried(1).is_empty() && summary.retried(9).is_empty());
        assert_eq!(summary.flaky(), 1);
        assert_eq!(summary.exit_code(), 0, "flaky still passes");
    }

    #[test]
    fn a_rerun_after_a_fix_is_a_new_request_not_a_flaky_pass() {
        let plan = plan(&["unit"]);
        let mut summary = Summary::new(&plan);
        summary.record(&RunEvent::EnvStarted { env: 0, attempt: 1 });
        summary.record(&RunEvent::EnvRetrying {
            env: 0,
            result: result("unit", failed(1), 10),
        });
        summary.record(&RunEvent::EnvStarted { env: 0, attempt: 2 });
        let mut second = result("unit", failed(1), 10);
        second.attempt = 2;
        summary.record(&finished(0, second));
        // The user fixed it and pressed `r`: the runner starts a new request at attempt 1.
        summary.record(&RunEvent::EnvStarted { env: 0, attempt: 1 });
        summary.record(&finished(0, result("unit", EnvStatus::Passed, 10)));
        assert!(
            summary.retried(0).is_empty(),
            "earlier retries were another request"
        );
        assert_eq!(summary.flaky(), 0);
        assert_eq!(
            summary.result(0).map(EnvResult::describe).as_deref(),
            Some("passed")
        );
        assert_eq!(summary.exit_code(), 0);
    }

    #[test]
    fn ignores_unknown_envs() {
        let mut summary = Summary::new(&plan(&["unit"]));
        summary.record(&finished(5, result("x", EnvStatus::Passed, 1)));
        summary.record(&RunEvent::EnvStarted { env: 9, attempt: 1 });
        assert_eq!(summary.counts().not_run, 1, "never started");
        assert!(!summary.started(9));
    }

    fn table_summary() -> Summary {
        let mut summary = Summary::new(&plan(&["unit", "lint", "docs", "e2e"]));
        summary.record(&RunEvent::EnvStarted { env: 0, attempt: 1 });
        summary.record(&finished(0, result("unit", EnvStatus::Passed, 1234)));
        summary.record(&RunEvent::EnvStarted { env: 1, attempt: 1 });
        summary.record(&finished(1, result("lint", failed(3), 500)));
        summary.record(&finished(
            2,
            result(
                "docs",
                EnvStatus::Skipped {
                    dependency: "lint".into(),
                },
                0,
            ),
        ));
        summary.record(&RunEvent::EnvStarted { env: 3, attempt: 1 });
        summary
    }

    #[test]
    fn table_lists_envs_in_plan_order() {
        let mut out = Vec::new();
        table_summary().write_table(&mut out, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
env   result                       time  log
unit  passed                       1.2s  .runall/logs/unit.log
lint  exit 3                      500ms  .runall/logs/lint.log
docs  skipped: lint did not pass      -  -
e2e   not finished                    -  -
1 passed, 1 failed, 1 skipped, 1 not finished
"
        );
    }

    #[test]
    fn table_shows_cpu_and_peak_rss_once_measured() {
        let mut summary = Summary::new(&plan(&["unit", "lint", "docs"]));
        let mut unit = result("unit", EnvStatus::Passed, 1234);
        unit.resources
            .add(Duration::from_millis(1500), 210 * 1024 * 1024);
        summary.record(&finished(0, unit));
        let mut lint = result("lint", failed(3), 500);
        lint.resources
            .add(Duration::from_millis(40), 3 * 1024 * 1024);
        summary.record(&finished(1, lint));
        let mut out = Vec::new();
        summary.write_table(&mut out, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
env   result    time    cpu  peak rss  log
unit  passed    1.2s  1.50s   210 MiB  .runall/logs/unit.log
lint  exit 3   500ms  0.04s     3 MiB  .runall/logs/lint.log
docs  not run      -      -         -  -
1 passed, 1 failed, 1 not run
"
        );
    }

    #[test]
    fn table_colours_verdicts() {
        let mut summary = Summary::new(&plan(&["unit", "lint"]));
        summary.record(&finished(0, result("unit", EnvStatus::Passed, 1234)));
        summary.record(&finished(1, result("lint", failed(3), 500)));
        let mut out = Vec::new();
        summary.write_table(&mut out, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
\x1b[1menv   result   time  log\x1b[0m
unit  \x1b[32mpassed\x1b[0m   1.2s  .runall/logs/unit.log
lint  \x1b[31mexit 3\x1b[0m  500ms  .runall/logs/lint.log
\x1b[32m1 passed\x1b[0m, \x1b[31m1 failed\x1b[0m
"
        );
    }
}
