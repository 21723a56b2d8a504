//! The top-level error: everything that stops runall before or outside a run. Each maps to
//! an exit code; all of them mean nothing was started (or everything started was cleaned up).

use std::io;
use std::path::PathBuf;

use crate::config::ConfigError;
use crate::exit_code;
use crate::plan::PlanError;
use crate::tox::ToxError;

/// Why runall could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No config file given or found.
    #[error(
        "no runall.toml in {} or any parent folder, and no tox configuration (tox.ini, setup.cfg \
         with [tox:tox], pyproject.toml with [tool.tox], tox.toml) either (give one with --config \
         FILE)",
        .0.display()
    )]
    NoConfig(PathBuf),
    /// tox's configuration could not be read.
    #[error(transparent)]
    Tox(#[from] ToxError),
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command line's selection is invalid.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// `--durations FILE` cannot be used.
    #[error("--durations: {0}")]
    Durations(#[source] crate::history::HistoryError),
    /// Another run holds the log folder.
    #[error(
        "another runall (pid {pid}) is running with log folder {}; wait for it or use --log-dir",
        dir.display()
    )]
    Locked {
        /// The log folder.
        dir: PathBuf,
        /// The other run's pid, as written in the lock file.
        pid: String,
    },
    /// The log folder could not be prepared.
    #[error("cannot use log folder {}: {source}", dir.display())]
    LogDir {
        /// The log folder.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The runner thread panicked (a bug); every child group was killed.
    #[error("internal error: the runner stopped unexpectedly; every child was killed")]
    RunnerPanicked,
    /// Anything else the OS refused (threads, poller, signal handlers).
    #[error("cannot start: {0}")]
    Io(#[from] io::Error),
    /// A report file (`--junit`, `--json`) could not be created before the run.
    #[error("cannot create {what} {}: {source}", path.display())]
    ReportFile {
        /// `--junit` or `--json`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// `runall init` found a config or could not write one.
    #[error(transparent)]
    Init(#[from] InitError),
    /// The man page could not be generated.
    #[error("cannot render the man page: {0}")]
    Man(#[source] io::Error),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::RunnerPanicked => exit_code::PANIC,
            _ => exit_code::USAGE,
        }
    }
}

/// Why `runall init` could not write the starter config (defined here, beside the error that
/// wraps it, so that `error` imports nothing of `commands`).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// There is a config already.
    #[error("{} already exists; not overwriting it", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}
