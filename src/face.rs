//! The faces: the two drivers that run a plan and show it, and the process-wide safety code
//! they share.
//!
//! - [`headless`]: `--ci`, events to the CI reporter (and `--json`) on buffered sinks.
//! - [`attach`]: `--attach ENV`, that env on runall's own terminal, the others summarised.
//! - [`interactive`]: the TUI driver (the terminal, the input thread, the render loop, Ctrl-Z)
//!   over the pure app in [`crate::tui`].
//! - [`signals`]: runall's own signals turned into runner control, the third-signal and
//!   hard-deadline exits.
//! - [`emergency`]: the process-wide emergency hook (terminal restore, killing every group)
//!   used by the panic hook, the signal exits and the TUI's terminal guard.

use std::thread::JoinHandle;

use crate::error::Error;
use crate::face::signals::SignalListener;
use crate::plan::Plan;
use crate::report::Summary;
use crate::report::files::JsonSink;
use crate::runner::{self, RunnerOptions};
use crate::settings::{Face, RunSettings};
use crate::tui::app::AppOptions;

pub mod attach;
pub mod emergency;
pub mod headless;
pub mod interactive;
pub mod signals;

/// A run that ended with every child reaped.
#[derive(Debug)]
pub struct Finished {
    /// Every env's result.
    pub summary: Summary,
    /// Why the `--json` file stopped being written, if it did.
    pub json_error: Option<String>,
}

/// Runs `plan` in the face `settings` chose, and returns once every child is reaped (and, in
/// the TUI, the user quit). `json` is the `--json` sink, which only the headless face has.
pub fn run(
    plan: &Plan,
    settings: &RunSettings,
    options: RunnerOptions,
    json: Option<JsonSink>,
) -> Result<Finished, Error> {
    let ci = settings.ci_options();
    match settings.face {
        Face::Interactive => {
            let app = AppOptions {
                scrollback_memory: settings.scrollback_memory,
                ..AppOptions::default()
            };
            let summary = interactive::run(plan, options, app, ci)?;
            Ok(Finished {
                summary,
                json_error: None,
            })
        }
        Face::Headless => headless::run(plan, options, ci, json),
        Face::Attach => Ok(Finished {
            summary: attach::run(plan, options, ci)?,
            json_error: None,
        }),
    }
}

/// The end of every face's run: waits for the runner thread, then stops listening for
/// signals. A runner that panicked may have left children running: every group is killed and
/// the run fails with [`Error::RunnerPanicked`].
fn join_runner(runner: JoinHandle<()>, signals: Option<SignalListener>) -> Result<(), Error> {
    let panicked = runner.join().is_err();
    drop(signals);
    if panicked {
        runner::sys::kill_all_groups();
        return Err(Error::RunnerPanicked);
    }
    Ok(())
}
