//! runall: run many test environments in parallel, live in a TUI or headless with `--ci`.
//!
//! Data flows one way through typed values:
//! config → plan → runner (spawn, pump, reap, signals) → [`event::RunEvent`] stream →
//! reporters → summary → exit code. The pure core (config, plan, event, report) never touches
//! processes or terminals; the OS layer lives in `runner` and `signals`.

pub mod cli;
pub mod config;
pub mod error;
pub mod event;
pub mod exit_code;
pub mod headless;
pub mod lock;
pub mod plan;
pub mod report;
pub mod runner;
pub mod signals;
pub mod tui;
pub mod tui_restore;

use std::io::IsTerminal;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::{Cli, Cmd, ColorArg, OutputArg};
use crate::error::Error;
use crate::event::ShutdownCause;
use crate::report::ci::{CiOptions, OutputMode};
use crate::runner::RunnerOptions;

/// How runall should end once everything is cleaned up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunExit {
    /// Exit with this code.
    Code(u8),
    /// Die by this signal (re-raised with its default action), as a shell expects.
    Signal(i32),
}

/// Run the command line: load config, plan, run, report. Returns how to exit.
pub fn run(cli: &Cli) -> Result<RunExit, Error> {
    let config_path = if let Some(path) = &cli.config {
        path.clone()
    } else {
        let here = std::env::current_dir()?;
        config::find(&here).ok_or(Error::NoConfig(here))?
    };
    let config = config::load(&config_path)?;
    if let Some(Cmd::List) = cli.command {
        let text = plan::list_text(&config);
        headless::write_stdout(text.as_bytes());
        return Ok(RunExit::Code(exit_code::OK));
    }
    let selection = plan::Selection {
        patterns: cli.envs.clone(),
        exclude: cli.exclude.clone(),
        no_deps: cli.no_deps,
        posargs: cli.posargs.clone(),
        jobs: cli.jobs,
        log_dir: cli.log_dir.clone(),
        default_jobs: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    let plan = plan::build(&config, &selection)?;
    let _lock = lock::LogDirLock::acquire(&plan.log_dir)?;

    let stdout_tty = std::io::stdout().is_terminal();
    let color = match cli.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let output = match cli.output {
        Some(OutputArg::Grouped) => OutputMode::Grouped,
        Some(OutputArg::Prefixed) | None => OutputMode::Prefixed,
    };
    let options = CiOptions {
        output,
        color,
        only_failed: cli.only_failed,
        ..CiOptions::default()
    };
    let runner_options = RunnerOptions {
        run_id: new_run_id(),
        fail_fast: cli.fail_fast,
        ..RunnerOptions::default()
    };
    let summary = headless::run(&plan, runner_options, options)?;
    Ok(match summary.cause() {
        Some(ShutdownCause::Signal(signal)) => RunExit::Signal(signal),
        Some(ShutdownCause::OutputClosed) => RunExit::Signal(libc::SIGPIPE),
        Some(ShutdownCause::FailFast(_)) | None => RunExit::Code(summary.exit_code()),
    })
}

/// Die by `signal` after a run that a signal ended.
pub fn die_by_signal(signal: i32) -> ! {
    runner::sys::die_by_signal(signal)
}

/// A run id unique across runs on this machine: pid and start time.
fn new_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{:x}", std::process::id(), nanos)
}
