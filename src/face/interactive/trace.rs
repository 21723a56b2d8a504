//! Frame timings, for finding where a late key's time went: when `RUNALL_TRACE_FRAMES` names a
//! file, the input thread and the render loop append one line per step to it: the wall clock
//! in microseconds since the Unix epoch (so a driver such as `benches/workloads.sh` can line it
//! up with the moment it sent a key), the step, and how long the step took in microseconds.
//!
//! Steps: `key-read` (the input thread got a key from the terminal), `key` (the render loop
//! handled it), `event-ENV-BYTES` (a runner output event that took over a millisecond to
//! take in), `batch-N` (N runner events between two looks at the input), `render` (the view
//! drawn into the frame buffer) and `draw` or `draw-key` (the whole frame, written and
//! flushed to the terminal; `-key` when a key asked for it). Off (the default), each step costs
//! the check of a flag. A write error ends the trace and is reported when the TUI has left the
//! screen.

use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The variable that turns the trace on.
const VAR: &str = "RUNALL_TRACE_FRAMES";

struct Tracer {
    out: Mutex<Out>,
}

struct Out {
    file: Option<BufWriter<File>>,
    error: Option<io::Error>,
}

static TRACER: OnceLock<Option<Tracer>> = OnceLock::new();

fn tracer() -> Option<&'static Tracer> {
    TRACER
        .get_or_init(|| {
            let path = std::env::var_os(VAR)?;
            let (file, error) = match File::create(&path) {
                Ok(file) => (Some(BufWriter::new(file)), None),
                Err(e) => (
                    None,
                    Some(io::Error::new(
                        e.kind(),
                        format!("{}: {e}", std::path::Path::new(&path).display()),
                    )),
                ),
            };
            Some(Tracer {
                out: Mutex::new(Out { file, error }),
            })
        })
        .as_ref()
}

/// Whether the trace is on (the variable is set).
pub(super) fn on() -> bool {
    tracer().is_some()
}

/// Records step `what`, which took `took`, ending now.
pub(super) fn step(what: impl Display, took: Duration) {
    let Some(tracer) = tracer() else {
        return;
    };
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let Ok(mut out) = tracer.out.lock() else {
        return;
    };
    let Out { file, error } = &mut *out;
    if let Some(w) = file
        && let Err(e) = writeln!(w, "{at} {what} {}", took.as_micros())
    {
        *error = Some(e);
        *file = None;
    }
}

/// Writes out what was recorded so far.
pub(super) fn flush() {
    let Some(tracer) = tracer() else {
        return;
    };
    let Ok(mut out) = tracer.out.lock() else {
        return;
    };
    let Out { file, error } = &mut *out;
    if let Some(w) = file
        && let Err(e) = w.flush()
    {
        *error = Some(e);
        *file = None;
    }
}

/// Flushes the trace and reports its write error, if any: called once the screen is the
/// user's again.
pub(super) fn finish() {
    flush();
    if let Some(tracer) = tracer()
        && let Ok(mut out) = tracer.out.lock()
        && let Some(error) = out.error.take()
    {
        crate::stdio::report_write_error(&format!("the frame trace ({VAR})"), &error);
    }
}
