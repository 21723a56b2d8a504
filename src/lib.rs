//! runall: run many test environments in parallel, live in a TUI or headless with `--ci`.
//!
//! Data flows one way through typed values:
//! config → plan → runner (spawn, pump, reap, signals) → [`event::RunEvent`] stream →
//! reporters → summary → exit code. The pure core (config, plan, event, report) never touches
//! processes or terminals; the OS layer lives in `runner` and `signals`.

pub mod cli;
pub mod config;
pub mod env_output;
pub mod error;
pub mod event;
pub mod exit_code;
pub mod face;
pub mod history;
pub mod init;
pub mod lock;
pub mod plan;
pub mod report;
pub mod runner;
pub mod sanitize;
pub mod scrollback;
pub mod stdio;
pub mod tui;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cli::{Cli, Cmd, ColorArg, OutputArg};
use crate::error::Error;
use crate::event::ShutdownCause;
use crate::face::headless::{self, JsonSink};
use crate::history::History;
use crate::report::ci::{CiOptions, OutputMode};
use crate::report::{github, json, junit};
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
    if let Some(exit) = run_tool_command(cli)? {
        return Ok(exit);
    }
    let config_path = if let Some(path) = &cli.config {
        path.clone()
    } else {
        let here = std::env::current_dir()?;
        config::find(&here).ok_or(Error::NoConfig(here))?
    };
    let config = config::load(&config_path)?;
    let history_path = history::path(&config.root);
    let history = load_history(&history_path);
    if let Some(Cmd::List { json }) = cli.command {
        let text = if json {
            json::list_json(&config, &history)
        } else {
            plan::list_text(&config, |env| history.describe_last(env, unix_now()))
        };
        return Ok(RunExit::Code(written_code(stdio::write_stdout(
            text.as_bytes(),
        ))));
    }
    let plan = plan_run(cli, &config, &history, &history_path)?;
    prepare_state_dir(&config.root);
    let _lock = lock::LogDirLock::acquire(&plan.log_dir)?;
    let github = std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true");
    let mut reports = Reports::open(cli, github, history_path)?;

    let stdout_tty = std::io::stdout().is_terminal();
    let color = match cli.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    // GitHub Actions folds groups, so whole envs read best there.
    let default_output = if github {
        OutputArg::Grouped
    } else {
        OutputArg::Prefixed
    };
    let output = match cli.output.unwrap_or(default_output) {
        OutputArg::Grouped => OutputMode::Grouped,
        OutputArg::Prefixed => OutputMode::Prefixed,
    };
    let options = CiOptions {
        output,
        color,
        only_failed: cli.only_failed,
        tail_lines: cli
            .tail
            .or(config.settings.tail)
            .unwrap_or(report::ci::DEFAULT_TAIL_LINES),
        github: github.then(github::StopToken::random),
        ..CiOptions::default()
    };
    let run_id = new_run_id();
    let mut runner_options = RunnerOptions {
        run_id: run_id.clone(),
        fail_fast: cli.fail_fast,
        start_order: history.start_order(&plan),
        ..RunnerOptions::default()
    };
    // One colour decision for both faces: children write to pipes, so when runall shows
    // colour (TUI or --ci) the usual tools are told to colour anyway; with colour off their
    // SGR codes are stripped by the sanitiser.
    if color {
        for var in ["FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS"] {
            runner_options
                .extra_env
                .push((var.to_owned(), "1".to_owned()));
        }
    }
    let started = Instant::now();
    let json_sink = reports.json.take();
    // The TUI when both ends are a terminal and nothing asked for plain output.
    let tui_mode = !cli.ci && stdout_tty && std::io::stdin().is_terminal() && json_sink.is_none();
    let finished = if tui_mode {
        let summary = face::interactive::run(
            &plan,
            runner_options,
            tui::app::AppOptions::default(),
            options,
        )?;
        headless::Finished {
            summary,
            json_error: None,
        }
    } else {
        headless::run(&plan, runner_options, options, json_sink)?
    };
    let summary = finished.summary;
    let report_failed = reports.finish(
        &config,
        &plan,
        &summary,
        finished.json_error,
        &run_id,
        started,
    );

    Ok(match summary.cause() {
        Some(ShutdownCause::Signal(signal)) => RunExit::Signal(signal),
        Some(ShutdownCause::OutputClosed) => RunExit::Signal(libc::SIGPIPE),
        // A requested report that is missing must not pass as a green run.
        Some(ShutdownCause::FailFast(_)) | None => {
            RunExit::Code(summary.exit_code().max(u8::from(report_failed)))
        }
    })
}

/// `completions`, `man` and `init`: they need no config. `None` for everything else.
fn run_tool_command(cli: &Cli) -> Result<Option<RunExit>, Error> {
    let written = match &cli.command {
        Some(Cmd::Completions { shell }) => stdio::write_stdout(&cli::completions(*shell)),
        Some(Cmd::Man) => stdio::write_stdout(&cli::man_page().map_err(Error::Man)?),
        Some(Cmd::Init) => {
            let path = init::write(&std::env::current_dir()?)?;
            let note = format!(
                "runall: wrote {}; edit its envs, then run `runall list`\n",
                path.display()
            );
            stdio::write_stdout(note.as_bytes())
        }
        Some(Cmd::List { .. }) | None => return Ok(None),
    };
    Ok(Some(RunExit::Code(written_code(written))))
}

/// The exit code of a one-shot command whose output was (`true`) or could not be written.
fn written_code(written: bool) -> u8 {
    if written {
        exit_code::OK
    } else {
        exit_code::ENV_FAILED
    }
}

/// The plan for the command line's selection, `--rerun-failed` and `--shard` included. A
/// rerun with nothing to rerun, or an empty shard, is an empty plan (said on stderr): the run
/// passes and still writes its reports.
fn plan_run(
    cli: &Cli,
    config: &config::Config,
    history: &History,
    history_path: &Path,
) -> Result<plan::Plan, Error> {
    let mut selection = plan::Selection {
        patterns: cli.envs.clone(),
        exclude: cli.exclude.clone(),
        no_deps: cli.no_deps,
        posargs: cli.posargs.clone(),
        jobs: cli.jobs,
        log_dir: cli.log_dir.clone(),
        default_jobs: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        only: None,
        shard: cli.shard,
    };
    if cli.rerun_failed {
        let failed = history.rerun_list().unwrap_or_default().to_vec();
        if !failed.iter().any(|name| config.env(name).is_some()) {
            let why = if history.rerun_list().is_none() {
                format!("no previous run recorded in {}", history_path.display())
            } else {
                "every env passed in the previous run".to_owned()
            };
            stdio::write_stderr(format!("runall: nothing to rerun: {why}\n").as_bytes());
        }
        selection.only = Some(failed);
    }
    let plan = plan::build(config, &selection)?;
    if let Some(shard) = cli.shard
        && plan.envs.is_empty()
    {
        let note = format!("runall: shard {shard} has no envs: nothing to run\n");
        stdio::write_stderr(note.as_bytes());
    }
    Ok(plan)
}

/// The files a run writes besides its logs.
struct Reports {
    /// `--junit`, created before the run.
    junit: Option<junit::JunitFile>,
    /// `--json`, created before the run; taken by the headless loop.
    json: Option<JsonSink>,
    /// `$GITHUB_STEP_SUMMARY` under GitHub Actions.
    step_summary: Option<PathBuf>,
    /// `.runall/history.json`.
    history: PathBuf,
}

impl Reports {
    /// Creates the requested report files, so a bad path stops runall before anything runs.
    fn open(cli: &Cli, github: bool, history: PathBuf) -> Result<Self, Error> {
        let junit = cli
            .junit
            .as_deref()
            .map(junit::JunitFile::create)
            .transpose()
            .map_err(|e| Error::ReportFile {
                what: "--junit",
                path: e.path,
                source: e.source,
            })?;
        let json = match cli.json.as_deref() {
            None => None,
            Some(path) if path == Path::new("-") => Some(JsonSink::Stdout),
            Some(path) => Some(JsonSink::File {
                path: path.to_path_buf(),
                file: std::fs::File::create(path).map_err(|source| Error::ReportFile {
                    what: "--json",
                    path: path.to_path_buf(),
                    source,
                })?,
            }),
        };
        let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY")
            .filter(|path| github && !path.is_empty())
            .map(PathBuf::from);
        Ok(Self {
            junit,
            json,
            step_summary,
            history,
        })
    }

    /// Writes the end-of-run files (also after an interrupt, before runall dies by the
    /// signal). Problems are said on stderr; returns whether a requested report (`--junit`,
    /// `--json`) is missing or incomplete.
    fn finish(
        self,
        config: &config::Config,
        plan: &plan::Plan,
        summary: &report::Summary,
        json_error: Option<String>,
        run_id: &str,
        started: Instant,
    ) -> bool {
        let mut failed = false;
        let say = |text: String| stdio::write_stderr(format!("runall: {text}\n").as_bytes());
        if let Some(error) = json_error {
            say(error);
            failed = true;
        }
        if let Some(file) = self.junit {
            let report = junit::build(plan, summary, started.elapsed());
            if let Err(error) = file.write(&report) {
                say(error.to_string());
                failed = true;
            }
        }
        if let Some(path) = &self.step_summary {
            let text = github::step_summary(plan, summary);
            if let Err(error) = github::append_step_summary(path, &text) {
                say(format!(
                    "cannot write the step summary {}: {error}",
                    path.display()
                ));
            }
        }
        // Re-read: another run of this config may have finished meanwhile (an unusable file
        // was reported at the start and is replaced).
        let mut history = History::load(&self.history).unwrap_or_default();
        history.record(plan, summary, run_id, unix_now());
        history.retain(config.envs.iter().map(|env| env.name.as_str()));
        if let Err(error) = history.save(&self.history) {
            say(error.to_string());
        }
        failed
    }
}

/// `.runall/` with its `.gitignore`, before the logs go in (a problem is said on stderr: the
/// state folder never stops a run).
fn prepare_state_dir(root: &Path) {
    let state_dir = history::state_dir(root);
    if let Err(error) = history::prepare_dir(&state_dir) {
        let note = format!("runall: cannot prepare {}: {error}\n", state_dir.display());
        stdio::write_stderr(note.as_bytes());
    }
}

/// The history at `path`, or an empty one (with a note on stderr) when it cannot be used: it
/// only orders and annotates runs, so it never stops one.
fn load_history(path: &Path) -> History {
    History::load(path).unwrap_or_else(|error| {
        stdio::write_stderr(format!("runall: ignoring the run history: {error}\n").as_bytes());
        History::default()
    })
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
