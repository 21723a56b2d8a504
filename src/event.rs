//! `RunEvent`: the only seam between the runner and whatever shows the run.
//!
//! The runner emits these in the order things happened; reporters (the `--ci` printer, the
//! summary, later the TUI and JUnit/JSON) consume them and never talk to processes. Everything
//! here is plain data plus the wording of outcomes, so it is shared by every reporter.

use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::LeakPolicy;
use crate::plan::EnvId;
use crate::testreport::TestResults;

/// Which pipe a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout, or both streams when they share one pipe.
    Stdout,
    /// stderr when `stderr = "separate"`.
    Stderr,
}

/// Why the runner began shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownCause {
    /// A signal to runall (SIGINT, SIGTERM, SIGHUP, SIGQUIT) or the TUI's Ctrl-C key (SIGINT).
    Signal(i32),
    /// runall's own stdout was closed (a pipe reader went away): handled like SIGHUP.
    OutputClosed,
    /// `--fail-fast`: this env failed.
    FailFast(EnvId),
}

/// What stopped an env before it finished on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// Shutdown of the whole run.
    Interrupted,
    /// The env's own `timeout` expired.
    TimedOut(Duration),
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal {
        /// Signal number.
        signal: i32,
        /// The kernel wrote a core dump.
        core_dumped: bool,
    },
}

/// How an env's commands went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvStatus {
    /// Every command exited 0.
    Passed,
    /// Command number `command` (0-based) ended unsuccessfully.
    Failed {
        /// Index of the failing command.
        command: usize,
        /// How it ended.
        exit: ExitKind,
    },
    /// Command number `command` could not be started.
    SpawnFailed {
        /// Index of the command.
        command: usize,
        /// The OS error text.
        error: String,
    },
    /// Not started because a dependency did not pass.
    Skipped {
        /// Name of the dependency.
        dependency: String,
    },
    /// Not started because the run was shutting down.
    NotRun,
    /// It ran and said it skipped itself (a tox env whose interpreter is missing, under
    /// `skip_missing_interpreters`): reported as skipped, and it does not fail the run.
    SelfSkipped {
        /// Why, in the tool's words.
        reason: String,
    },
}

/// A process that still held an env's pipe (or stayed in its group) after the env's main
/// process exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakedProcess {
    /// Its pid.
    pub pid: i32,
    /// Its command line, as far as /proc told.
    pub command: String,
}

/// Final result of one env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvResult {
    /// How the commands went.
    pub status: EnvStatus,
    /// Set when runall stopped the env (shutdown or timeout).
    pub stopped_by: Option<StopCause>,
    /// Wall time from first spawn to the last reap (zero when never started).
    pub duration: Duration,
    /// Processes found holding the pipe or left in the group; all were killed.
    pub leaked: Vec<LeakedProcess>,
    /// The env's policy for leaks, copied so a result can be judged on its own.
    pub on_leak: LeakPolicy,
    /// The env's log file (of this attempt).
    pub log_path: PathBuf,
    /// 1 for the first try; n for the (n-1)-th retry under `retries`. A rerun the user asked
    /// for (the TUI's `r`) starts again at 1: it is not a retry, so it is never flaky.
    pub attempt: u32,
    /// Set when the log file could not hold the whole output (a full or failing disk): the
    /// error, and the output the log lacks, kept in memory by the log writer.
    pub log_incomplete: Option<Arc<LogIncomplete>>,
    /// What this attempt's test reports said (`None`: no report was found). Filled in by the
    /// log writer, which reads the reports after the attempt ends.
    pub tests: Option<Arc<TestResults>>,
    /// What this attempt's commands (and the adopted processes runall reaped for them) cost.
    pub resources: Resources,
}

/// What an env cost: from each command's `wait4` rusage, plus the adopted processes of the
/// env that runall reaped; or, while it runs, a sample of its process group from `/proc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU time, user plus system, of every command and its descendants.
    pub cpu: Duration,
    /// The largest resident set size of one of its processes (a command and the children it
    /// waited for count as one), in bytes; 0 when nothing was measured.
    pub peak_rss: u64,
}

impl Resources {
    /// Adds a command's (or an adopted process's) usage: CPU adds up, the peak is the largest.
    pub fn add(&mut self, cpu: Duration, peak_rss: u64) {
        self.cpu += cpu;
        self.peak_rss = self.peak_rss.max(peak_rss);
    }

    /// Whether anything was measured (a command ran).
    pub fn measured(&self) -> bool {
        self.peak_rss > 0 || !self.cpu.is_zero()
    }

    /// "1.2s CPU, 210 MiB": for the summary table, the TUI and `runall list`.
    pub fn describe(&self) -> String {
        format!(
            "{} CPU, {}",
            format_cpu(self.cpu),
            format_bytes(self.peak_rss)
        )
    }
}

/// CPU time as "0.35s", "12.3s", "4m05s".
pub fn format_cpu(d: Duration) -> String {
    if d.as_secs() < 10 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format_duration(d)
    }
}

/// A byte count in binary units: "812 KiB", "210 MiB", "1.5 GiB".
pub fn format_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes.div_ceil(KIB))
    }
}

/// What an env's log lacks: the log holds its first `logged` bytes, the rest of the output
/// is here (bounded: `head` and `tail`, with `cut` bytes between them dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogIncomplete {
    /// Why the log stopped: the write (or create) error.
    pub error: String,
    /// Bytes of the output that are in the log file.
    pub logged: u64,
    /// The output after those, from its start.
    pub head: Vec<u8>,
    /// Bytes dropped between `head` and `tail` (memory is bounded).
    pub cut: u64,
    /// The last bytes of the output, after `head` and the cut.
    pub tail: Vec<u8>,
}

/// The one-word class of a result, used for colours, counts and the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Passed.
    Passed,
    /// Failed, timed out, or failed to spawn.
    Failed,
    /// Skipped because a dependency did not pass, or it skipped itself
    /// ([`EnvStatus::SelfSkipped`]).
    Skipped,
    /// Stopped by the run's shutdown (Ctrl-C, a signal, `--fail-fast`) while it ran.
    Interrupted,
    /// Never started because the run was shutting down (`not run`).
    NotRun,
}

impl EnvResult {
    /// A first attempt's result with nothing unusual: not stopped by runall, no leaks (policy
    /// `warn`). For reporters' tests, benches and demos.
    pub fn new(status: EnvStatus, duration: Duration, log_path: impl Into<PathBuf>) -> Self {
        Self {
            status,
            stopped_by: None,
            duration,
            leaked: Vec::new(),
            on_leak: LeakPolicy::Warn,
            log_path: log_path.into(),
            attempt: 1,
            log_incomplete: None,
            tests: None,
            resources: Resources::default(),
        }
    }

    /// Whether the env's commands were started at all: skipped and not-run envs have no log
    /// and no duration. The one "did it run" check of every reporter and the TUI.
    pub fn ran(&self) -> bool {
        !matches!(self.status, EnvStatus::Skipped { .. } | EnvStatus::NotRun)
    }

    /// Passed, but only after a failed attempt retried under `retries`.
    pub fn flaky(&self) -> bool {
        self.attempt > 1 && self.verdict() == Verdict::Passed
    }

    /// Whether this result lets the run pass: it passed, or it skipped itself (as `tox p`
    /// does not fail for an env skipped for a missing interpreter).
    pub fn ok(&self) -> bool {
        match self.verdict() {
            Verdict::Passed => true,
            Verdict::Skipped => matches!(self.status, EnvStatus::SelfSkipped { .. }),
            _ => false,
        }
    }

    /// The result's class.
    pub fn verdict(&self) -> Verdict {
        match (&self.status, self.stopped_by) {
            (EnvStatus::Skipped { .. }, _) | (EnvStatus::SelfSkipped { .. }, None) => {
                Verdict::Skipped
            }
            (EnvStatus::NotRun, _) => Verdict::NotRun,
            (_, Some(StopCause::Interrupted)) => Verdict::Interrupted,
            (EnvStatus::Passed, None) => {
                // A run whose output was not kept whole must not pass as green.
                if (self.on_leak == LeakPolicy::Fail && !self.leaked.is_empty())
                    || self.log_incomplete.is_some()
                {
                    Verdict::Failed
                } else {
                    Verdict::Passed
                }
            }
            (_, Some(StopCause::TimedOut(_)))
            | (EnvStatus::Failed { .. } | EnvStatus::SpawnFailed { .. }, None) => Verdict::Failed,
        }
    }

    /// A short human description: "passed", "exit 3", "killed by SIGKILL", "timed out after 10s
    /// (killed by SIGTERM)", "skipped: lint failed", "passed (leaked 1 process)".
    pub fn describe(&self) -> String {
        let base = match &self.status {
            EnvStatus::Passed if self.attempt > 1 => {
                format!("passed on attempt {} (flaky)", self.attempt)
            }
            EnvStatus::Passed => "passed".to_owned(),
            EnvStatus::Failed { command, exit } => {
                if *command > 0 {
                    format!("{exit} (command {})", command + 1)
                } else {
                    exit.to_string()
                }
            }
            EnvStatus::SpawnFailed { command, error } => {
                format!("spawn failed (command {}): {error}", command + 1)
            }
            EnvStatus::Skipped { dependency } => format!("skipped: {dependency} did not pass"),
            EnvStatus::NotRun => "not run".to_owned(),
            EnvStatus::SelfSkipped { reason } => format!("skipped: {reason}"),
        };
        let mut text = match self.stopped_by {
            None => base,
            Some(StopCause::Interrupted) => format!("interrupted ({base})"),
            Some(StopCause::TimedOut(after)) => {
                format!("timed out after {} ({base})", format_duration(after))
            }
        };
        if !self.leaked.is_empty() {
            let n = self.leaked.len();
            let plural = if n == 1 { "process" } else { "processes" };
            let _ = write!(text, " (leaked {n} {plural})");
        }
        if let Some(log) = &self.log_incomplete {
            let _ = write!(text, " (log incomplete: {})", log.error);
        }
        text
    }

    /// The test counts of its reports (`412 passed, 3 failed, 5 skipped`), if any were read.
    pub fn test_counts(&self) -> Option<String> {
        let tests = self.tests.as_ref().filter(|t| !t.files.is_empty())?;
        Some(tests.counts.to_string())
    }

    /// The warnings about its test reports, that of a pass whose reports list failures
    /// included (see [`TestResults::warnings_for`]).
    pub fn test_warnings(&self) -> Vec<String> {
        self.tests.as_ref().map_or_else(Vec::new, |tests| {
            tests.warnings_for(self.verdict() == Verdict::Passed)
        })
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Code(code) => write!(f, "exit {code}"),
            Self::Signal {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by {}", signal_name(signal))?;
                if core_dumped {
                    f.write_str(", core dumped")?;
                }
                Ok(())
            }
        }
    }
}

/// `SIGTERM` for 15, `signal 77` for anything unnamed.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        17 => "SIGCHLD",
        18 => "SIGCONT",
        19 => "SIGSTOP",
        20 => "SIGTSTP",
        16 => "SIGSTKFLT",
        23 => "SIGURG",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        26 => "SIGVTALRM",
        27 => "SIGPROF",
        28 => "SIGWINCH",
        29 => "SIGIO",
        30 => "SIGPWR",
        31 => "SIGSYS",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// Compact duration: `850ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format_minutes(d.as_secs())
    }
}

/// Whole seconds, for a clock shown while an env runs (`12s`, `4m05s`, `1h02m`): the display
/// changes once a second. From a minute up it is [`format_duration`].
pub fn format_running(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format_minutes(s)
    }
}

/// `4m05s` under an hour, `1h02m` from there, for `secs` of at least a minute.
fn format_minutes(secs: u64) -> String {
    if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs / 60 % 60)
    }
}

/// Whole milliseconds, saturating: durations in the JSON stream and the history.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The verdict as one stable lowercase word, shared by the JSON stream and the history:
/// `passed`, `failed`, `skipped`, `interrupted`, `not_run`, or `not_finished` for no result.
/// The same words (with a space) name the counts of the summary, JSON's `counts` and the
/// GitHub step summary, so an env is called the same everywhere.
pub fn verdict_name(verdict: Option<Verdict>) -> &'static str {
    match verdict {
        Some(Verdict::Passed) => "passed",
        Some(Verdict::Failed) => "failed",
        Some(Verdict::Skipped) => "skipped",
        Some(Verdict::Interrupted) => "interrupted",
        Some(Verdict::NotRun) => "not_run",
        None => "not_finished",
    }
}

/// Progress of a shutdown, so `--ci` can say what runall is waiting for and on whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownStep {
    /// Sent `signal` to the env's process group (leader `pid`).
    Signalled {
        /// Leader pid (= process group id).
        pid: i32,
        /// The signal sent.
        signal: i32,
    },
    /// The main process exited but `holders` still keep its output pipe open.
    Draining {
        /// Pids found holding the pipe (may be empty when /proc could not tell).
        holders: Vec<i32>,
    },
    /// The drain deadline passed; runall closed its read ends of the pipe.
    PipeClosed {
        /// Pids still holding the pipe when it was closed.
        holders: Vec<i32>,
    },
    /// A launcher hook started for this step of the ladder (`interrupt`, `terminate`, `kill`;
    /// `cancel` for a queued job or the sweep after a stopped command).
    HookStarted {
        /// The step's name.
        step: &'static str,
        /// The hook's argv, as `runall list` shows commands.
        command: String,
        /// Whether the step's signal also went to the local process group.
        signalled: bool,
    },
    /// A launcher hook failed or printed something (a hook that exits 0 silently is not
    /// reported again).
    HookFinished {
        /// The step's name.
        step: &'static str,
        /// The hook's argv, as shown.
        command: String,
        /// Why it failed (`exit 1`, `timed out after 10s (killed)`, `cannot start …`), or
        /// `None` when it passed.
        failure: Option<String>,
        /// What it printed, raw (a reporter sanitises it for its destination).
        output: Vec<u8>,
    },
}

/// Everything the runner reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The env's first command is about to be spawned (again, for a retry or rerun).
    EnvStarted {
        /// Which env.
        env: EnvId,
        /// 1 for the first try (and for a rerun the user asked for), n for the (n-1)-th
        /// retry under `retries`. `LogOpened` or `LogFailed` follows with the log's path.
        attempt: u32,
    },
    /// The env's log for this attempt is open (`<env>.log`, then `<env>@<n>.log`).
    LogOpened {
        /// Which env.
        env: EnvId,
        /// The log file.
        path: PathBuf,
    },
    /// The env's log could not be created or written (a full or failing disk): from here on
    /// its output is kept in memory (bounded), and the env's result says the log is incomplete.
    LogFailed {
        /// Which env.
        env: EnvId,
        /// The log file.
        path: PathBuf,
        /// The OS error.
        error: String,
    },
    /// An attempt failed and the env will run again (`retries`); `EnvStarted` follows.
    EnvRetrying {
        /// Which env.
        env: EnvId,
        /// The failed attempt's result.
        result: EnvResult,
    },
    /// A command of the env was spawned (its pid is also its process group id).
    CommandStarted {
        /// Which env.
        env: EnvId,
        /// Index of the command in the env.
        index: usize,
        /// The child's pid.
        pid: i32,
    },
    /// The launched command's job waits for the cluster (its launcher said so): the env is
    /// queued, its timeout paused, until `JobStarted`.
    JobQueued {
        /// Which env.
        env: EnvId,
    },
    /// The queued job started: the env runs, its timeout counts again.
    JobStarted {
        /// Which env.
        env: EnvId,
    },
    /// Bytes read from a child's pipe, in read order (already written to the env's log).
    Output {
        /// Which env.
        env: EnvId,
        /// Which pipe.
        stream: Stream,
        /// The bytes, exactly as read.
        bytes: Vec<u8>,
    },
    /// A running env's live usage, sampled from `/proc` about once a second: the current
    /// resident set of its process group and the CPU time so far.
    Usage {
        /// Which env.
        env: EnvId,
        /// What its processes use now (`peak_rss` is the current RSS).
        now: Resources,
    },
    /// The env is ready to start but `max_memory` holds it back: the running envs' expected
    /// peaks plus its own do not fit. Sent once per wait; `EnvStarted` ends it.
    WaitingForMemory {
        /// Which env.
        env: EnvId,
        /// Its expected peak, in bytes.
        expected: u64,
        /// What the running envs are expected to use, in bytes.
        running: u64,
    },
    /// The env ended (or was skipped): its final result.
    EnvFinished {
        /// Which env.
        env: EnvId,
        /// The result.
        result: EnvResult,
    },
    /// The run started shutting down (first signal, closed output, fail-fast).
    ShutdownStarted {
        /// Why.
        cause: ShutdownCause,
        /// 1 for the first request, 2 for the second (kill everything now).
        count: u32,
    },
    /// A step of an env's shutdown.
    Shutdown {
        /// Which env.
        env: EnvId,
        /// What happened.
        step: ShutdownStep,
    },
    /// Every env finished and every child was reaped.
    RunFinished {
        /// Why the run ended early, if it did.
        cause: Option<ShutdownCause>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: EnvStatus, stopped_by: Option<StopCause>) -> EnvResult {
        EnvResult {
            stopped_by,
            ..EnvResult::new(status, Duration::ZERO, "x.log")
        }
    }

    #[test]
    fn resources_add_cpu_and_keep_the_largest_peak() {
        let mut r = Resources::default();
        assert!(!r.measured());
        r.add(Duration::from_millis(250), 3 << 20);
        r.add(Duration::from_millis(1250), 210 << 20);
        r.add(Duration::from_millis(10), 1 << 20);
        assert_eq!(r.cpu, Duration::from_millis(1510));
        assert_eq!(r.peak_rss, 210 << 20);
        assert_eq!(r.describe(), "1.51s CPU, 210 MiB");
        assert_eq!(format_bytes(0), "0 KiB");
        assert_eq!(format_bytes(1000), "1 KiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_cpu(Duration::from_secs(75)), "1m15s");
    }

    #[test]
    fn only_skipped_and_not_run_envs_did_not_run() {
        let skipped = EnvStatus::Skipped {
            dependency: "lint".into(),
        };
        assert!(!result(skipped, None).ran());
        assert!(!result(EnvStatus::NotRun, None).ran());
        assert!(result(EnvStatus::Passed, None).ran());
        let failed = EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(1),
        };
        assert!(result(failed, Some(StopCause::Interrupted)).ran());
    }

    #[test]
    fn describes_precise_outcomes() {
        let failed = |exit| EnvStatus::Failed { command: 0, exit };
        assert_eq!(result(EnvStatus::Passed, None).describe(), "passed");
        assert_eq!(result(failed(ExitKind::Code(3)), None).describe(), "exit 3");
        let killed = ExitKind::Signal {
            signal: 9,
            core_dumped: false,
        };
        assert_eq!(result(failed(killed), None).describe(), "killed by SIGKILL");
        let segv = ExitKind::Signal {
            signal: 11,
            core_dumped: true,
        };
        assert_eq!(
            result(failed(segv), None).describe(),
            "killed by SIGSEGV, core dumped"
        );
        let term = ExitKind::Signal {
            signal: 15,
            core_dumped: false,
        };
        let timed = result(
            failed(term),
            Some(StopCause::TimedOut(Duration::from_secs(10))),
        );
        assert_eq!(
            timed.describe(),
            "timed out after 10.0s (killed by SIGTERM)"
        );
        assert_eq!(timed.verdict(), Verdict::Failed);
        let interrupted = result(failed(ExitKind::Code(130)), Some(StopCause::Interrupted));
        assert_eq!(interrupted.describe(), "interrupted (exit 130)");
        assert_eq!(interrupted.verdict(), Verdict::Interrupted);
    }

    #[test]
    fn leak_policy_decides_verdict() {
        let mut r = result(EnvStatus::Passed, None);
        r.leaked.push(LeakedProcess {
            pid: 42,
            command: "sleep 100".into(),
        });
        assert_eq!(r.verdict(), Verdict::Passed);
        assert_eq!(r.describe(), "passed (leaked 1 process)");
        r.on_leak = LeakPolicy::Fail;
        assert_eq!(r.verdict(), Verdict::Failed);
    }

    #[test]
    fn an_incomplete_log_fails_a_pass_and_says_why() {
        let mut r = result(EnvStatus::Passed, None);
        r.log_incomplete = Some(Arc::new(LogIncomplete {
            error: "No space left on device (os error 28)".into(),
            logged: 10,
            head: Vec::new(),
            cut: 0,
            tail: Vec::new(),
        }));
        assert_eq!(r.verdict(), Verdict::Failed);
        assert_eq!(
            r.describe(),
            "passed (log incomplete: No space left on device (os error 28))"
        );
        assert!(!r.flaky());
    }

    #[test]
    fn never_started_is_not_run_not_interrupted() {
        let r = result(EnvStatus::NotRun, None);
        assert_eq!(r.verdict(), Verdict::NotRun);
        assert_eq!(r.describe(), "not run");
    }

    #[test]
    fn skipped_names_dependency() {
        let r = result(
            EnvStatus::Skipped {
                dependency: "lint".into(),
            },
            None,
        );
        assert_eq!(r.verdict(), Verdict::Skipped);
        assert_eq!(r.describe(), "skipped: lint did not pass");
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn running_durations_tick_in_whole_seconds() {
        assert_eq!(format_running(Duration::from_millis(12_900)), "12s");
        assert_eq!(format_running(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_running(Duration::from_secs(3_720)), "1h02m");
    }

    #[test]
    fn verdicts_have_one_word_each() {
        assert_eq!(verdict_name(Some(Verdict::Passed)), "passed");
        assert_eq!(verdict_name(None), "not_finished");
    }
}
