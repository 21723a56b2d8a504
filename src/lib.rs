//! runall: run many test environments in parallel, live in a TUI or headless with `--ci`.
//!
//! Data flows one way through typed values:
//! config → plan → runner (spawn, pump, reap) → [`event::RunEvent`] stream → a face's
//! reporters → summary → exit code. The pure core (config, plan, event, report, settings)
//! never touches processes or terminals; the OS layer lives in `runner`, and the faces with
//! their signal and emergency handling in `face`.
//!
//! This file only wires the steps together ([`run`]): the one-shot [`commands`], then
//! config, history, [`settings`], plan, the log folder's lock, the report files, the face,
//! the reports and the history, and the exit.

pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod event;
pub mod exit_code;
pub mod face;
pub mod history;
pub mod launcher;
pub mod log;
pub mod plan;
pub mod report;
pub mod runner;
pub mod sanitize;
pub mod scrollback;
pub mod settings;
pub mod stdio;
pub mod testreport;
pub mod tox;
pub mod tui;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cli::{Cli, Cmd};
use crate::error::Error;
use crate::event::ShutdownCause;
use crate::history::History;
use crate::report::files::ReportFiles;
use crate::runner::RunnerOptions;
use crate::settings::{Ambient, RunSettings};

pub use crate::exit_code::RunExit;

/// Run the command line: load config, plan, run in a face, report. Returns how to exit.
pub fn run(cli: &Cli) -> Result<RunExit, Error> {
    if let Some(exit) = commands::run_tool_command(cli)? {
        return Ok(exit);
    }
    let ambient = Ambient::of_process();
    if let Some(Cmd::Init { from_tox: true }) = cli.command {
        return commands::init_from_tox(cli, ambient.runall_tox.as_deref());
    }
    let (config, kept) = load_config(cli, ambient.runall_tox.as_deref())?;
    let history_path = history::path(&config.root);
    let history = load_history(&history_path);
    let durations = if cli.durations.is_empty() {
        None
    } else {
        let mut files = Vec::with_capacity(cli.durations.len());
        for path in &cli.durations {
            files.push(History::load_existing(path).map_err(Error::Durations)?);
        }
        Some(history::newest_durations(&files))
    };
    if let Some(Cmd::List { json }) = cli.command {
        if let Some(shard) = cli.shard {
            let selection = plan::Selection {
                shard: Some(shard),
                durations,
                ..plan::Selection::default()
            };
            let split = plan::shards(&config, &selection)?;
            let by_time = selection.durations.is_some();
            kept.keep();
            return Ok(commands::list_shards(&config, &split, shard, by_time, json));
        }
        kept.keep();
        return Ok(commands::list(&config, &history, json, unix_now()));
    }
    let settings =
        RunSettings::resolve(cli, config.settings.tail, &ambient).with_memory(&config.settings);
    let plan = plan_run(cli, &settings, &config, &history, &history_path, durations)?;
    prepare_state_dir(&config.root);
    kept.keep();
    prepare_probe_dirs(&plan);
    let _lock = log::lock::LogDirLock::acquire(&plan.log_dir)?;
    let mut reports = ReportFiles::open(&settings.reports)?;
    let run_id = new_run_id();
    let runner_options = RunnerOptions {
        run_id: run_id.clone(),
        fail_fast: settings.fail_fast,
        extra_env: settings.child_env.clone(),
        memory: settings.max_memory.map(|max| {
            let peaks: Vec<Option<u64>> = plan
                .envs
                .iter()
                .map(|env| history.peak_rss(&env.name))
                .collect();
            runner::memory::MemoryLimit::new(max, &peaks)
        }),
        ..RunnerOptions::default()
    };
    let started = Instant::now();
    let finished = face::run(&plan, &settings, runner_options, reports.take_json())?;
    let summary = finished.summary;
    let report_failed = reports.finish(&plan, &summary, finished.json_error, started);
    record_history(&history_path, &config, &plan, &summary, &run_id);
    tox::forget_after_failed_builds(&config, &plan, &summary);
    Ok(run_exit(&summary, report_failed))
}

/// How a run that ended this way exits: by the signal that ended it, else by its code (a
/// requested report that is missing must not pass as a green run).
fn run_exit(summary: &report::Summary, report_failed: bool) -> RunExit {
    match summary.cause() {
        Some(ShutdownCause::Signal(signal)) => RunExit::Signal(signal),
        Some(ShutdownCause::OutputClosed) => RunExit::Signal(libc::SIGPIPE),
        Some(ShutdownCause::FailFast(_)) | None => {
            RunExit::Code(summary.exit_code().max(u8::from(report_failed)))
        }
    }
}

/// `--config`, or the `runall.toml` here or in the nearest parent folder, else the nearest
/// tox configuration (in tox's order).
fn config_path(cli: &Cli) -> Result<PathBuf, Error> {
    if let Some(path) = &cli.config {
        return Ok(path.clone());
    }
    let here = std::env::current_dir()?;
    config::find(&here)
        .or_else(|| tox::discover::find(&here))
        .ok_or(Error::NoConfig(here))
}

/// The config: runall.toml (with tox's envs beside its own under `tox = true`), or one read
/// from tox's configuration (`runall_tox`: how to run tox, `RUNALL_TOX`).
fn load_config(
    cli: &Cli,
    runall_tox: Option<&std::ffi::OsStr>,
) -> Result<(config::Config, tox::Kept), Error> {
    let path = config_path(cli)?;
    if tox::discover::is_tox_file_name(&path) {
        if let Err(source) = std::fs::metadata(&path) {
            return Err(config::ConfigError::Io { path, source }.into());
        }
        return Ok(tox::load(&path, runall_tox)?);
    }
    let mut kept = tox::Kept::default();
    let config = config::load_with(&path, |settings, root| {
        if !settings.tox {
            return Ok(Vec::new());
        }
        let (envs, answer) = tox::envs_beside(&path, root, settings, runall_tox)?;
        kept = answer;
        Ok::<_, Error>(envs)
    })?;
    Ok((config, kept))
}

/// The folders of the envs' skip probes (tox's result files), before they start (a problem
/// is said on stderr: the env then runs without its skip report).
fn prepare_probe_dirs(plan: &plan::Plan) {
    let dirs: std::collections::BTreeSet<&Path> = plan
        .envs
        .iter()
        .filter_map(|env| env.skip_probe.as_ref()?.result_json.parent())
        .collect();
    for dir in dirs {
        if let Err(error) = std::fs::create_dir_all(dir) {
            let note = format!("runall: cannot create {}: {error}\n", dir.display());
            stdio::write_stderr(note.as_bytes());
        }
    }
}

/// The plan for the command line's selection, `--rerun-failed` and `--shard` included. A
/// rerun with nothing to rerun, or an empty shard, is an empty plan (said on stderr): the run
/// passes and still writes its reports.
fn plan_run(
    cli: &Cli,
    settings: &RunSettings,
    config: &config::Config,
    history: &History,
    history_path: &Path,
    durations: Option<std::collections::BTreeMap<String, u64>>,
) -> Result<plan::Plan, Error> {
    let mut selection = plan::Selection {
        patterns: cli.attach.iter().cloned().chain(cli.patterns()).collect(),
        exclude: cli.exclude.clone(),
        no_deps: cli.no_deps,
        posargs: cli.posargs.clone(),
        jobs: cli.jobs,
        log_dir: cli.log_dir.clone(),
        default_jobs: settings.default_jobs,
        only: None,
        shard: cli.shard,
        durations,
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
    let mut plan = plan::build(config, &selection)?;
    if let Some((folded, keep)) = tox::without_single_builds(config, &plan) {
        let exact = plan::Selection {
            only: Some(keep),
            shard: None,
            durations: None,
            ..selection
        };
        plan = plan::build(&folded, &exact)?;
    }
    if let Some(name) = &cli.attach {
        plan = plan.attach(name)?;
    }
    if let Some(shard) = cli.shard
        && plan.envs.is_empty()
    {
        let note = format!("runall: shard {shard} has no envs: nothing to run\n");
        stdio::write_stderr(note.as_bytes());
    }
    Ok(plan.longest_first(|env| history.duration_ms(env)))
}

/// Records the run in the history at `path` (a problem is said on stderr: the history never
/// fails a run). Re-read first: another run of this config may have finished meanwhile (an
/// unusable file was reported at the start and is replaced).
fn record_history(
    path: &Path,
    config: &config::Config,
    plan: &plan::Plan,
    summary: &report::Summary,
    run_id: &str,
) {
    let mut history = History::load(path).unwrap_or_default();
    history.record(plan, summary, run_id, unix_now());
    history.retain(config.envs.iter().map(|env| env.name.as_str()));
    if let Err(error) = history.save(path) {
        stdio::write_stderr(format!("runall: {error}\n").as_bytes());
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
