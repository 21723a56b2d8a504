//! The plan: which envs run, in what order, with which fully resolved commands.
//!
//! A `Plan` is built from a loaded [`crate::config::Config`] and the command line's selection
//! (names, globs, `label:NAME`, `--no-deps`, posargs). It is pure data: nothing here touches
//! processes, terminals or the clock, so every rule is unit-tested in this file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Index of an env in [`Plan::envs`]; stable for the whole run.
pub type EnvId = usize;

/// Everything the runner needs to run the selected envs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Selected envs plus the envs they depend on (unless `--no-deps`), in file order.
    pub envs: Vec<EnvSpec>,
    /// Most envs running at once (at least 1).
    pub jobs: usize,
    /// Where `<env>.log` files go.
    pub log_dir: PathBuf,
    /// Shutdown knobs shared by all envs.
    pub timeouts: Timeouts,
}

/// One env, resolved: commands after `{posargs}` substitution, absolute working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    /// `[A-Za-z0-9._-]+`, unique.
    pub name: String,
    /// Free text shown by `runall list`.
    pub description: Option<String>,
    /// Run in order; the env fails at the first failing command. Never empty.
    pub commands: Vec<CommandSpec>,
    /// Absolute working directory of every command.
    pub cwd: PathBuf,
    /// Extra environment variables (base merged with the env's own; the env wins).
    pub set_env: BTreeMap<String, String>,
    /// Envs (in this plan) that must pass before this one starts.
    pub depends: Vec<EnvId>,
    /// Labels for `label:NAME` selection.
    pub labels: Vec<String>,
    /// Whether stderr shares stdout's pipe.
    pub stderr: StderrMode,
    /// Per-env timeout: SIGTERM the group after this long, then SIGKILL after `terminate`.
    pub timeout: Option<Duration>,
    /// What a leaked process (one still holding the env's pipe after it exited) means.
    pub on_leak: LeakPolicy,
}

/// A command ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    /// Run through `sh -c <string>`.
    Shell(String),
    /// Run directly: `argv[0]` looked up in `PATH`, never empty.
    Argv(Vec<String>),
}

impl CommandSpec {
    /// The command as a user would type it, for headers and reports.
    pub fn display(&self) -> String {
        match self {
            Self::Shell(s) => s.clone(),
            Self::Argv(argv) => argv.join(" "),
        }
    }
}

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
