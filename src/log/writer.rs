//! The log writer: a pipeline stage between the runner thread and the consumer of
//! [`RunEvent`]s that owns every open per-env log file.
//!
//! The runner reads pipes and hands each chunk on as an `Output` event; this thread writes the
//! chunk to the env's log and then forwards the event, so the consumer always sees an event
//! after its bytes are in the log (reporters read logs back for tails and grouped output, the
//! TUI pages from them). Everything else passes through in order. Writing the logs here and
//! not on the runner thread lets the page-cache copy of every byte (the single largest cost
//! of a flood) run on one core while the runner reads pipes on the other.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use crate::event::{LogIncomplete, RunEvent};
use crate::plan::EnvId;
use crate::testreport::{self, ReportRequest, TestResults};

/// Output kept from its start once an env's log failed (the rest of the bound is the tail).
pub const KEEP_HEAD: usize = 256 * 1024;
/// Output kept from its end once an env's log failed.
pub const KEEP_TAIL: usize = 256 * 1024;

/// What the runner sends this stage.
pub enum ToLog {
    /// From now on, `Output` of `env` goes to `file` (the attempt's fresh log at `path`), or,
    /// when it could not be created, to memory.
    Open {
        /// The env.
        env: EnvId,
        /// The log's path, for messages.
        path: PathBuf,
        /// The log, already created, or why it could not be.
        file: io::Result<File>,
    },
    /// Read the attempt's test reports (sent before its `Close`); the results go into the
    /// `tests` of the env's next result.
    ReadReports {
        /// The env.
        env: EnvId,
        /// What to read.
        request: ReportRequest,
    },
    /// Close `env`'s log: sent before the event that says the env finished or is retried.
    Close {
        /// The env.
        env: EnvId,
    },
    /// Log it if it is output, then forward it.
    Event(RunEvent),
}

/// Where one env's output goes.
enum Slot {
    /// No attempt running.
    Closed,
    /// Into its log, which holds `written` bytes so far.
    Open { file: File, written: u64 },
    /// Its log failed: into memory, bounded.
    Failed(Kept),
}

/// The output a failed log could not take.
struct Kept {
    error: String,
    logged: u64,
    head: Vec<u8>,
    cut: u64,
    tail: VecDeque<u8>,
}

impl Kept {
    /// Nothing kept yet for a log that failed with `error` after taking `logged` bytes.
    fn new(error: String, logged: u64) -> Self {
        Self {
            error,
            logged,
            head: Vec::new(),
            cut: 0,
            tail: VecDeque::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = KEEP_HEAD.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        let rest = &bytes[room..];
        if rest.len() >= KEEP_TAIL {
            self.cut += (self.tail.len() + rest.len() - KEEP_TAIL) as u64;
            self.tail.clear();
            self.tail.extend(&rest[rest.len() - KEEP_TAIL..]);
            return;
        }
        let over = (self.tail.len() + rest.len()).saturating_sub(KEEP_TAIL);
        self.tail.drain(..over);
        self.cut += over as u64;
        self.tail.extend(rest);
    }

    fn into_report(self) -> LogIncomplete {
        LogIncomplete {
            error: self.error,
            logged: self.logged,
            head: self.head,
            cut: self.cut,
            tail: self.tail.into(),
        }
    }
}

/// Writes all of `bytes`, or says how many went in before the error.
fn write_counted(file: &mut File, bytes: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => return Err((done, io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
        }
    }
    Ok(())
}

/// Run the stage until the runner hangs up, handing every event to `sink` (the consumer's
/// queue; it may block, which is the consumer's backpressure).
///
/// A log that cannot be created or written (full or broken disk) is reported at once with a
/// `LogFailed` event (before the output that did not fit); from then on that env's output is
/// kept in memory (bounded by [`KEEP_HEAD`] and [`KEEP_TAIL`]) and handed on in the
/// `log_incomplete` of its result, so reporters can still show all of it (or say what was
/// cut) and the env does not pass. Relaying never stops, and other envs' logs go on.
pub fn run(rx: &Receiver<ToLog>, mut sink: impl FnMut(RunEvent), envs: usize) {
    let mut slots: Vec<Slot> = (0..envs).map(|_| Slot::Closed).collect();
    let mut paths: Vec<PathBuf> = (0..envs).map(|_| PathBuf::new()).collect();
    // A closed failed log's report, waiting for the env's result.
    let mut reports: Vec<Option<LogIncomplete>> = (0..envs).map(|_| None).collect();
    // An attempt's test results, waiting for its result.
    let mut tests: Vec<Option<Arc<TestResults>>> = (0..envs).map(|_| None).collect();
    while let Ok(message) = rx.recv() {
        match message {
            ToLog::Open { env, path, file } => {
                let (Some(slot), Some(at)) = (slots.get_mut(env), paths.get_mut(env)) else {
                    continue;
                };
                at.clone_from(&path);
                match file {
                    Ok(file) => {
                        *slot = Slot::Open { file, written: 0 };
                        sink(RunEvent::LogOpened { env, path });
                    }
                    Err(error) => {
                        let error = format!("cannot create it: {error}");
                        *slot = Slot::Failed(Kept::new(error.clone(), 0));
                        sink(RunEvent::LogFailed { env, path, error });
                    }
                }
            }
            ToLog::ReadReports { env, request } => {
                // Here, not on the runner thread: the runner keeps reading every other env's
                // pipes while a report is parsed, and the result still comes in order.
                let read = testreport::read(&request);
                if let Some(slot) = tests.get_mut(env) {
                    *slot = (!read.is_empty()).then(|| Arc::new(read));
                }
            }
            ToLog::Close { env } => {
                if let Some(slot) = slots.get_mut(env)
                    && let Slot::Failed(kept) = std::mem::replace(slot, Slot::Closed)
                {
                    reports[env] = Some(kept.into_report());
                }
            }
            ToLog::Event(mut event) => {
                match &mut event {
                    RunEvent::Output { env, bytes, .. } => {
                        if let Some(failed) = log_output(slots.get_mut(*env), bytes) {
                            let path = paths[*env].clone();
                            sink(RunEvent::LogFailed {
                                env: *env,
                                path,
                                error: failed,
                            });
                        }
                    }
                    RunEvent::EnvFinished { env, result }
                    | RunEvent::EnvRetrying { env, result } => {
                        if let Some(report) = reports.get_mut(*env).and_then(Option::take) {
                            result.log_incomplete = Some(Arc::new(report));
                        }
                        if let Some(read) = tests.get_mut(*env).and_then(Option::take) {
                            result.tests = Some(read);
                        }
                    }
                    _ => {}
                }
                sink(event);
            }
        }
    }
}

/// Puts `bytes` in the env's log, or in memory once the log failed. Returns the error text
/// when this write is the one that failed.
fn log_output(slot: Option<&mut Slot>, bytes: &[u8]) -> Option<String> {
    let slot = slot?;
    match slot {
        Slot::Closed => None,
        Slot::Failed(kept) => {
            kept.push(bytes);
            None
        }
        Slot::Open { file, written } => match write_counted(file, bytes) {
            Ok(()) => {
                *written += bytes.len() as u64;
                None
            }
            Err((done, error)) => {
                let error = error.to_string();
                let mut kept = Kept::new(error.clone(), *written + done as u64);
                kept.push(&bytes[done..]);
                *slot = Slot::Failed(kept);
                Some(error)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Stream;
    use std::sync::mpsc;

    fn output(env: EnvId, text: &str) -> ToLog {
        ToLog::Event(RunEvent::Output {
            env,
            stream: Stream::Stdout,
            bytes: text.as_bytes().to_vec(),
        })
    }

    #[test]
    fn output_is_in_the_log_before_its_event_is_forwarded_and_order_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        let (to_log, rx) = mpsc::channel();
        let (tx, events) = mpsc::channel();
        let stage = std::thread::spawn(move || {
            run(
                &rx,
                move |event| tx.send(event).expect("the test receives every event"),
                2,
            );
        });
        to_log
            .send(ToLog::Open {
                env: 0,
                path: path.clone(),
                file: File::create(&path),
            })
            .expect("stage alive");
        for message in [
            output(0, "one\n"),
            output(1, "not logged\n"),
            output(0, "two\n"),
        ] {
            to_log.send(message).expect("stage alive");
        }
        assert_eq!(
            events.recv().expect("forwarded"),
            RunEvent::LogOpened {
                env: 0,
                path: path.clone()
            }
        );
        let mut seen = Vec::new();
        let mut logged = String::new();
        for _ in 0..3 {
            let event = events.recv().expect("forwarded");
            let RunEvent::Output { env, bytes, .. } = event else {
                panic!("only output was sent");
            };
            let log = std::fs::read_to_string(&path).expect("read log");
            if env == 0 {
                logged.push_str(std::str::from_utf8(&bytes).expect("utf-8"));
            }
            // Everything env 0 has been seen to say is already in its log (the stage may
            // have written more since).
            assert!(log.starts_with(&logged), "{log:?} lacks {logged:?}");
            seen.push((env, bytes));
        }
        assert_eq!(
            seen,
            vec![
                (0, b"one\n".to_vec()),
                (1, b"not logged\n".to_vec()),
                (0, b"two\n".to_vec())
            ]
        );
        to_log.send(ToLog::Close { env: 0 }).expect("stage alive");
        to_log
            .send(output(0, "after close\n"))
            .expect("stage alive");
        drop(to_log);
        stage.join().expect("stage ends when the runner hangs up");
        assert!(
            events.recv().is_ok(),
            "output after close is still forwarded"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read log"),
            "one\ntwo\n"
        );
    }

    fn finished(env: EnvId) -> ToLog {
        ToLog::Event(RunEvent::EnvFinished {
            env,
            result: crate::event::EnvResult::new(
                crate::event::EnvStatus::Passed,
                std::time::Duration::ZERO,
                "x.log",
            ),
        })
    }

    /// Runs the stage over `messages` and returns everything it forwarded.
    fn stage(messages: Vec<ToLog>, envs: usize) -> Vec<RunEvent> {
        let (to_log, rx) = mpsc::channel();
        for message in messages {
            to_log.send(message).expect("receiver alive");
        }
        drop(to_log);
        let mut seen = Vec::new();
        run(&rx, |event| seen.push(event), envs);
        seen
    }

    #[test]
    fn test_reports_are_read_after_the_attempt_and_ride_on_its_result_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("j.xml"),
            "<testsuite><testcase name=\"a\"/><testcase name=\"b\"><failure/></testcase></testsuite>",
        )
        .expect("report");
        let request = |pattern: &str| ReportRequest {
            patterns: vec![dir.path().join(pattern).to_string_lossy().into_owned()],
            since: None,
            setup_warning: None,
            fresh_dir: None,
        };
        let seen = stage(
            vec![
                ToLog::ReadReports {
                    env: 0,
                    request: request("*.xml"),
                },
                ToLog::Close { env: 0 },
                // Env 1's globs match nothing: no test results at all.
                ToLog::ReadReports {
                    env: 1,
                    request: request("none/*.xml"),
                },
                ToLog::Close { env: 1 },
                finished(0),
                finished(1),
                // A later result of env 0 without a read gets nothing from the earlier one.
                finished(0),
            ],
            2,
        );
        let tests: Vec<Option<(u64, u64)>> = seen
            .iter()
            .map(|event| match event {
                RunEvent::EnvFinished { result, .. } => result
                    .tests
                    .as_ref()
                    .map(|t| (t.counts.passed, t.counts.failed)),
                _ => panic!("{event:?}"),
            })
            .collect();
        assert_eq!(tests, [Some((1, 1)), None, None]);
    }

    #[test]
    fn a_failing_log_is_reported_at_once_and_its_output_kept_for_the_result() {
        let full = PathBuf::from("/dev/full");
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("b.log");
        let seen = stage(
            vec![
                ToLog::Open {
                    env: 0,
                    path: full.clone(),
                    file: File::options().write(true).open(&full),
                },
                ToLog::Open {
                    env: 1,
                    path: good.clone(),
                    file: File::create(&good),
                },
                output(0, "first\n"),
                output(1, "other env\n"),
                output(0, "second\n"),
                ToLog::Close { env: 0 },
                finished(0),
                ToLog::Close { env: 1 },
                finished(1),
            ],
            2,
        );
        let failed: Vec<&RunEvent> = seen
            .iter()
            .filter(|e| matches!(e, RunEvent::LogFailed { .. }))
            .collect();
        assert_eq!(failed.len(), 1, "one report per failed log: {seen:?}");
        let RunEvent::LogFailed { env, path, error } = failed[0] else {
            unreachable!("filtered");
        };
        assert_eq!((*env, path), (0, &full));
        assert!(error.contains("No space left"), "{error}");
        // Reported before the output that did not fit, which is still forwarded.
        let failed_at = seen.iter().position(|e| e == failed[0]).expect("present");
        assert!(matches!(
            &seen[failed_at + 1],
            RunEvent::Output { env: 0, .. }
        ));
        let result = |id| {
            seen.iter()
                .find_map(|e| match e {
                    RunEvent::EnvFinished { env, result } if *env == id => Some(result.clone()),
                    _ => None,
                })
                .expect("finished")
        };
        let incomplete = result(0).log_incomplete.expect("the result says so");
        assert_eq!(incomplete.logged, 0);
        assert_eq!(incomplete.head, b"first\nsecond\n");
        assert_eq!(incomplete.cut, 0);
        assert_eq!(result(0).verdict(), crate::event::Verdict::Failed);
        assert_eq!(
            result(1).log_incomplete,
            None,
            "the other env's log is whole"
        );
        assert_eq!(
            std::fs::read_to_string(&good).expect("read log"),
            "other env\n"
        );
    }

    #[test]
    fn a_log_that_cannot_be_created_is_reported_and_the_output_kept() {
        let path = PathBuf::from("/nonexistent/dir/a.log");
        let seen = stage(
            vec![
                ToLog::Open {
                    env: 0,
                    path: path.clone(),
                    file: File::create(&path),
                },
                output(0, "kept\n"),
                ToLog::Close { env: 0 },
                finished(0),
            ],
            1,
        );
        assert!(
            matches!(&seen[0], RunEvent::LogFailed { env: 0, error, .. } if error.contains("cannot create it")),
            "{seen:?}"
        );
        let RunEvent::EnvFinished { result, .. } = &seen[2] else {
            panic!("{seen:?}");
        };
        let incomplete = result.log_incomplete.as_ref().expect("incomplete");
        assert_eq!(incomplete.head, b"kept\n");
    }

    #[test]
    fn kept_output_is_bounded_head_and_tail() {
        let mut kept = Kept::new(String::new(), 0);
        let total = KEEP_HEAD + KEEP_TAIL + 1000;
        let bytes: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        for piece in bytes.chunks(777) {
            kept.push(piece);
        }
        let report = kept.into_report();
        assert_eq!(report.head, bytes[..KEEP_HEAD]);
        assert_eq!(report.cut, 1000);
        assert_eq!(report.tail, bytes[total - KEEP_TAIL..]);
        // One huge push cuts the same way.
        let mut kept = Kept::new(String::new(), 0);
        kept.push(&bytes);
        let report = kept.into_report();
        assert_eq!(report.head, bytes[..KEEP_HEAD]);
        assert_eq!(report.cut, 1000);
        assert_eq!(report.tail, bytes[total - KEEP_TAIL..]);
    }
}
