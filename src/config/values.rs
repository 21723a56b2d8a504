//! The config's value types that pass unchanged into the plan and the runner: how stderr is
//! captured ([`StderrMode`]), what a leak means ([`LeakPolicy`]) and the interrupt ladder's
//! timing ([`Timeouts`], with its defaults) and how an env may report that it skipped itself
//! ([`SkipProbe`]). Parsed by [`crate::config`], which re-exports them.

use std::path::PathBuf;
use std::time::Duration;

/// How an env's stderr is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StderrMode {
    /// One pipe for both streams: the interleaving is exactly what the child wrote.
    #[default]
    Merged,
    /// Two pipes; stderr lines are tagged.
    Separate,
}

/// What leaking a process does to an env's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeakPolicy {
    /// The env keeps its verdict; the leak is reported.
    #[default]
    Warn,
    /// A leak fails the env.
    Fail,
}

/// The interrupt ladder's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// SIGINT → SIGTERM.
    pub interrupt: Duration,
    /// SIGTERM → SIGKILL.
    pub terminate: Duration,
    /// After the main process exited, how long a leaked process may keep the pipe open.
    pub leak: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            interrupt: Duration::from_secs(2),
            terminate: Duration::from_secs(3),
            leak: Duration::from_millis(500),
        }
    }
}

/// How an env that ran can say it skipped itself: tox writes a result JSON
/// (`tox run --result-json FILE`) in which `testenvs.<env>.result.skipped` is true for an env
/// skipped for a missing interpreter. The runner reads it when the env's last command ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipProbe {
    /// The result file, absolute; removed before each start so an old one cannot speak.
    pub result_json: PathBuf,
    /// The env's name in that file.
    pub env: String,
    /// The reason shown when it says skipped (tox's own words).
    pub reason: String,
}
