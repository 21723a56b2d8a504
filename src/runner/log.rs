//! The log writer: a pipeline stage between the runner thread and the consumer of
//! [`RunEvent`]s that owns every open per-env log file.
//!
//! The runner reads pipes and hands each chunk on as an `Output` event; this thread writes the
//! chunk to the env's log and then forwards the event, so the consumer always sees an event
//! after its bytes are in the log (reporters read logs back for tails and grouped output, the
//! TUI pages from them). Everything else passes through in order. Writing the logs here and
//! not on the runner thread lets the page-cache copy of every byte (the single largest cost
//! of a flood) run on one core while the runner reads pipes on the other.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::Receiver;

use crate::event::RunEvent;
use crate::plan::EnvId;

/// What the runner sends this stage.
pub enum ToLog {
    /// From now on, `Output` of `env` goes to `file` (the attempt's fresh log).
    Open {
        /// The env.
        env: EnvId,
        /// Its log, already created (so an unusable log is reported by the runner).
        file: File,
    },
    /// Close `env`'s log: sent before the event that says the env finished or is retried.
    Close {
        /// The env.
        env: EnvId,
    },
    /// Log it if it is output, then forward it.
    Event(RunEvent),
}

/// Run the stage until the runner hangs up, handing every event to `sink` (the consumer's
/// queue; it may block, which is the consumer's backpressure). A log that fails to write (full
/// or broken disk) is closed and output keeps flowing: relaying must not stop because a log
/// cannot be kept.
pub fn run(rx: &Receiver<ToLog>, mut sink: impl FnMut(RunEvent), envs: usize) {
    let mut logs: Vec<Option<File>> = (0..envs).map(|_| None).collect();
    while let Ok(message) = rx.recv() {
        match message {
            ToLog::Open { env, file } => {
                if let Some(slot) = logs.get_mut(env) {
                    *slot = Some(file);
                }
            }
            ToLog::Close { env } => {
                if let Some(slot) = logs.get_mut(env) {
                    *slot = None;
                }
            }
            ToLog::Event(event) => {
                if let RunEvent::Output { env, bytes, .. } = &event
                    && let Some(slot) = logs.get_mut(*env)
                    && let Some(file) = slot
                    && file.write_all(bytes).is_err()
                {
                    *slot = None;
                }
                sink(event);
            }
        }
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
                file: File::create(&path).expect("create log"),
            })
            .expect("stage alive");
        for message in [
            output(0, "one\n"),
            output(1, "not logged\n"),
            output(0, "two\n"),
        ] {
            to_log.send(message).expect("stage alive");
        }
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
}
