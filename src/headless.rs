//! Headless (`--ci`) driving: runs the runner and feeds its events to the CI reporter and the
//! summary, writing to a buffered stdout that is flushed whenever the queue runs dry.
//!
//! A write error on stdout (a closed pipe: `runall --ci | head -1`, or a dead terminal) is
//! handled like SIGHUP: the reporter goes quiet, the runner shuts the children down, and the
//! caller exits by SIGPIPE.

use std::io::{self, BufWriter, Write};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::event::{RunEvent, ShutdownCause};
use crate::plan::Plan;
use crate::report::Summary;
use crate::report::ci::{CiOptions, CiReporter};
use crate::runner::{self, Control, RunnerOptions};
use crate::signals::SignalListener;

/// Size of the stdout buffer: large, so a flood costs few write syscalls.
const STDOUT_BUFFER: usize = 256 * 1024;
/// Events handled between checks of the reporter's timer during a flood.
const BATCH: usize = 1024;

/// Run `plan` headlessly and return the summary once every child is reaped.
pub fn run(plan: &Plan, options: RunnerOptions, ci: CiOptions) -> Result<Summary, Error> {
    crate::tui_restore::install_panic_hook();
    let (handle, events, thread) =
        runner::start(plan.clone(), options).map_err(|source| Error::LogDir {
            dir: plan.log_dir.clone(),
            source,
        })?;
    let signals = SignalListener::install(handle.clone())?;
    let stdout = io::stdout();
    let out = BufWriter::with_capacity(STDOUT_BUFFER, stdout.lock());
    let mut reporter = CiReporter::new(plan, ci, out, Instant::now());
    let mut summary = Summary::new(plan);
    let mut output_ok = true;
    let check = |result: io::Result<()>, output_ok: &mut bool| {
        if result.is_err() && *output_ok {
            *output_ok = false;
            handle.send(Control::Shutdown(ShutdownCause::OutputClosed));
        }
    };
    'run: loop {
        let now = Instant::now();
        let wait = reporter.next_tick().map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(now)
        });
        let mut event = match events.recv_timeout(wait) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => {
                if output_ok {
                    let r = reporter
                        .tick(Instant::now())
                        .and_then(|()| reporter.flush());
                    check(r, &mut output_ok);
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut handled = 0;
        loop {
            let finished = matches!(event, RunEvent::RunFinished { .. });
            summary.record(&event);
            if output_ok {
                let r = reporter.handle(&event, Instant::now());
                check(r, &mut output_ok);
            }
            if finished {
                break 'run;
            }
            handled += 1;
            if handled % BATCH == 0 && output_ok {
                let r = reporter.tick(Instant::now());
                check(r, &mut output_ok);
            }
            match events.try_recv() {
                Ok(next) => event = next,
                Err(_) => break,
            }
        }
        if output_ok {
            let r = reporter.flush();
            check(r, &mut output_ok);
        }
    }
    let panicked = thread.join().is_err();
    drop(signals);
    if panicked {
        runner::sys::kill_all_groups();
        return Err(Error::RunnerPanicked);
    }
    if output_ok {
        let r = reporter.finish(&summary).and_then(|()| reporter.flush());
        check(r, &mut output_ok);
    }
    Ok(summary)
}

/// Write to stdout for one-shot commands (`runall list`); a closed stdout is not an error.
pub fn write_stdout(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}
