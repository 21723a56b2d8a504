//! Headless (`--ci`) driving: runs the runner and feeds its events to the summary, the CI
//! reporter and, with `--json`, the JSON-lines reporter, writing to buffered sinks that are
//! flushed whenever the queue runs dry.
//!
//! The human output goes to stdout, or to stderr when the JSON stream has stdout (`--json -`).
//! A write error on stdout (a closed pipe: `runall --ci | head -1`, or a dead terminal) is
//! handled like SIGHUP: the reporters go quiet, the runner shuts the children down, and the
//! caller exits by SIGPIPE. A closed pipe (EPIPE: `| head`) is expected and stays quiet; any
//! other write error (`>/dev/full`: ENOSPC, EIO) is said on stderr first. A write error on a `--json` file only stops that file; it is
//! returned in [`super::Finished::json_error`] for the caller to report.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::Finished;
use crate::error::Error;
use crate::event::{RunEvent, ShutdownCause};
use crate::face::signals::SignalListener;
use crate::plan::Plan;
use crate::report::Summary;
use crate::report::ci::{CiOptions, CiReporter};
use crate::report::files::JsonSink;
use crate::report::json::JsonReporter;
use crate::runner::{self, Control, Handle, RunnerOptions};

/// Size of the stdout buffer: large, so a flood costs few write syscalls.
const STDOUT_BUFFER: usize = 256 * 1024;
/// Events handled between checks of the reporter's timer during a flood.
const BATCH: usize = 1024;

/// The JSON stream and what became of its sink.
struct JsonOut {
    reporter: JsonReporter<Box<dyn Write>>,
    /// The sink is stdout: its failure is a closed output, not a report error.
    on_stdout: bool,
    path: Option<PathBuf>,
    ok: bool,
    error: Option<String>,
}

impl JsonOut {
    fn new(sink: JsonSink, plan: &Plan, started: Instant) -> Self {
        let (out, on_stdout, path): (Box<dyn Write>, bool, Option<PathBuf>) = match sink {
            JsonSink::Stdout => (
                Box::new(BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock())),
                true,
                None,
            ),
            JsonSink::File { path, file } => (
                Box::new(BufWriter::with_capacity(STDOUT_BUFFER, file)),
                false,
                Some(path),
            ),
        };
        Self {
            reporter: JsonReporter::new(plan, out, started),
            on_stdout,
            path,
            ok: true,
            error: None,
        }
    }

    /// Runs `write` while the sink works. A failure on a file is kept as the report error;
    /// one on stdout is returned (a closed output, handled like the human output's).
    fn write(
        &mut self,
        write: impl FnOnce(&mut JsonReporter<Box<dyn Write>>) -> io::Result<()>,
    ) -> io::Result<()> {
        if !self.ok {
            return Ok(());
        }
        let Err(error) = write(&mut self.reporter) else {
            return Ok(());
        };
        self.ok = false;
        if self.on_stdout {
            return Err(error);
        }
        if let Some(path) = &self.path {
            self.error = Some(format!(
                "cannot write JSON report {}: {error}",
                path.display()
            ));
        }
        Ok(())
    }
}

/// Run `plan` headlessly and return the summary once every child is reaped.
pub fn run(
    plan: &Plan,
    options: RunnerOptions,
    ci: CiOptions,
    json: Option<JsonSink>,
) -> Result<Finished, Error> {
    crate::face::emergency::install_panic_hook();
    let started = Instant::now();
    let run_id = options.run_id.clone();
    let (handle, events, thread) =
        runner::start(plan.clone(), options).map_err(|source| Error::LogDir {
            dir: plan.log_dir.clone(),
            source,
        })?;
    let signals = SignalListener::install(handle.clone())?;
    let json_on_stdout = matches!(json, Some(JsonSink::Stdout));
    let out = human_sink(json_on_stdout);
    let mut reporter = CiReporter::new(plan, ci, out, started);
    let mut json = json.map(|sink| JsonOut::new(sink, plan, started));
    let mut summary = Summary::new(plan);
    let mut output_ok = true;
    // Both the human output and a `--json -` stream fail as "stdout" unless the human output
    // was moved to stderr; stderr is only ever the human output.
    let human = if json_on_stdout { "stderr" } else { "stdout" };
    let check =
        |result, output_ok: &mut bool, sink| output_failed(result, output_ok, sink, &handle);
    if let Some(json) = json.as_mut() {
        let r = json.write(|j| j.start(&run_id, plan.jobs));
        check(r, &mut output_ok, "stdout");
    }
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
                    check(r, &mut output_ok, human);
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
                check(r, &mut output_ok, human);
            }
            if let Some(json) = json.as_mut().filter(|_| output_ok) {
                let r = json.write(|j| j.handle(&event));
                check(r, &mut output_ok, "stdout");
            }
            if finished {
                break 'run;
            }
            handled += 1;
            if handled % BATCH == 0 && output_ok {
                let r = reporter.tick(Instant::now());
                check(r, &mut output_ok, human);
            }
            match events.try_recv() {
                Ok(next) => event = next,
                Err(_) => break,
            }
        }
        if output_ok {
            let r = reporter.flush();
            check(r, &mut output_ok, human);
        }
        if let Some(json) = json.as_mut().filter(|_| output_ok) {
            let r = json.write(JsonReporter::flush);
            check(r, &mut output_ok, "stdout");
        }
    }
    super::join_runner(thread, Some(signals))?;
    if output_ok {
        let r = reporter.finish(&summary).and_then(|()| reporter.flush());
        check(r, &mut output_ok, human);
    }
    let json_error = json.and_then(|mut json| {
        if output_ok {
            let r = json.write(|j| j.finish(&summary, Instant::now()).and_then(|()| j.flush()));
            check(r, &mut output_ok, "stdout");
        }
        json.error
    });
    Ok(Finished {
        summary,
        json_error,
    })
}

/// Takes in the result of a write to `sink`: the first failure is said (unless it is a closed
/// pipe) and shuts the run down as SIGHUP would; later writes are skipped by the caller.
fn output_failed(result: io::Result<()>, output_ok: &mut bool, sink: &str, handle: &Handle) {
    if let Err(error) = result
        && *output_ok
    {
        *output_ok = false;
        crate::stdio::report_write_error(sink, &error);
        handle.send(Control::Shutdown(ShutdownCause::OutputClosed));
    }
}

/// The human output's sink: buffered stdout, or stderr when the JSON stream has stdout.
fn human_sink(on_stderr: bool) -> Box<dyn Write> {
    if on_stderr {
        Box::new(BufWriter::with_capacity(STDOUT_BUFFER, io::stderr()))
    } else {
        Box::new(BufWriter::with_capacity(STDOUT_BUFFER, io::stdout().lock()))
    }
}
