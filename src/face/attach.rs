//! `runall --attach ENV`: that env runs on runall's own terminal, like nextest's
//! `--debugger`: its stdin, stdout and stderr are runall's, its process group is the
//! terminal's foreground group (so a debugger or a prompt gets the keys, and Ctrl-C is its
//! own SIGINT), nothing of it is captured and it has no timeout. The envs it depends on run
//! first, their output kept to their logs; every env is summarised at the end, as `--ci`
//! does. The terminal's settings are saved before and restored after, whatever the child
//! left them as (also on the emergency paths).

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Instant;

use crate::error::Error;
use crate::event::RunEvent;
use crate::face::signals::SignalListener;
use crate::plan::Plan;
use crate::report::Summary;
use crate::report::ci::{CiOptions, CiReporter};
use crate::runner::{self, RunnerOptions, sys};

/// The terminal's settings before the run, for the emergency hook (which may take no lock
/// that a stuck thread holds: it only tries).
static SAVED: Mutex<Option<sys::TerminalState>> = Mutex::new(None);

fn restore_saved() {
    if let Ok(saved) = SAVED.try_lock()
        && let Some(state) = saved.as_ref()
    {
        sys::restore_terminal(state);
    }
}

/// Run `plan` with its attached env on this terminal; the summary once every child is
/// reaped.
pub fn run(plan: &Plan, options: RunnerOptions, ci: CiOptions) -> Result<Summary, Error> {
    let saved = sys::save_terminal();
    if let Ok(mut slot) = SAVED.lock() {
        slot.clone_from(&saved);
    }
    crate::face::emergency::register(restore_saved);
    if let Some(env) = plan.envs.iter().find(|e| e.attach) {
        let deps = plan.envs.len() - 1;
        let note = match deps {
            0 => format!("runall: {} runs on this terminal\n", env.name),
            1 => format!(
                "runall: {} runs on this terminal after 1 env it needs\n",
                env.name
            ),
            n => format!(
                "runall: {} runs on this terminal after {n} envs it needs\n",
                env.name
            ),
        };
        crate::stdio::write_stderr(note.as_bytes());
    }
    let (handle, events, runner_thread) =
        runner::start(plan.clone(), options).map_err(|source| Error::LogDir {
            dir: plan.log_dir.clone(),
            source,
        })?;
    let signals = SignalListener::install(handle);
    let mut summary = Summary::new(plan);
    loop {
        // Every wait in the runner is bounded, so `RunFinished` comes.
        let event = match events.recv_timeout(std::time::Duration::from_secs(3600)) {
            Ok(event) => event,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            // The runner is gone (it panicked): joining it below reports why.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let last = matches!(event, RunEvent::RunFinished { .. });
        summary.record(&event);
        if last {
            break;
        }
    }
    super::join_runner(runner_thread, signals.ok())?;
    if let Some(state) = &saved {
        sys::restore_terminal(state);
    }
    crate::face::emergency::released();
    let stdout = io::stdout();
    let mut reporter = CiReporter::new(plan, ci, stdout.lock(), Instant::now());
    if let Err(error) = reporter
        .finish(&summary)
        .and_then(|()| reporter.flush())
        .and_then(|()| io::stdout().flush())
    {
        crate::stdio::report_write_error("stdout", &error);
    }
    Ok(summary)
}
