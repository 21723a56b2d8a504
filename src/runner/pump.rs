//! The pump: reading the children's pipes into `Output` events, within a fairness budget per
//! readiness event and the env's output credit, and re-arming paused pipes once the consumer
//! gave credit back. The read itself is [`super::sys::read_chunk`].

use std::time::{Duration, Instant};

use polling::Event;

use super::{EnvPhase, KEYS_PER_ENV, QUEUE_WATCH, Queue, QueueWatch, Runner, log, sys};
use crate::event::{RunEvent, Stream};
use crate::launcher::Launcher;
use crate::plan::EnvId;

/// Most bytes per `read` call, and so per log write and per `Output` event. Large, because
/// every event costs an allocation freed on another thread, a channel hop and often a wakeup:
/// 64 KiB events cost W1 (8 x 256 MiB) about 40% more CPU than 256 KiB ones. Consumers that
/// bound their queues in events (the TUI keeps up to 512) should know that this sizes them.
const PIPE_READ_BYTES: usize = 256 * 1024;
/// Most bytes read from one pipe per readiness event before yielding to the other pipes.
const FAIRNESS_BUDGET: usize = 256 * 1024;
/// Read buffer for a pipe that said it was empty: it can only hold what came in the meantime.
pub(super) const SCRATCH: usize = 16 * 1024;
/// A terminal hands out at most 4 KiB per read (its line discipline's buffer), so a tty's
/// reads are joined into one event of up to this many bytes (as large as a pipe's read): one
/// event per 4 KiB would wake the log writer and the screen 64 times as often, and under a
/// flood those wakeups, not the reads, set the pace; with 64 KiB events the log writer took
/// 0.17 s of CPU per 256 MiB, with these 0.10 s. [`TTY_HOLD`] bounds the wait either way.
const TTY_EVENT_BYTES: usize = 256 * 1024;
/// Room kept for one read of a terminal (its line discipline's buffer is 4 KiB).
const TTY_READ_BYTES: usize = 4096;
/// How long bytes read from a terminal wait for more before they are sent anyway (what an
/// interactive child prints shows this much later at most).
pub(super) const TTY_HOLD: Duration = Duration::from_millis(2);

impl Runner {
    /// Re-arm pipes that were paused for backpressure once their env has credit again.
    pub(super) fn resume_paused(&mut self) {
        for id in 0..self.envs.len() {
            let EnvPhase::Running(active) = &mut self.envs[id].phase else {
                continue;
            };
            if !self.credits.available(id) {
                continue;
            }
            for (kind, pipe) in active.pipes.iter_mut().enumerate() {
                if let Some(p) = pipe
                    && !p.armed
                {
                    p.armed = self
                        .poller
                        .modify(&p.reader, Event::readable(id * KEYS_PER_ENV + kind))
                        .is_ok();
                }
            }
        }
    }

    /// Read one pipe until it is empty, at EOF, or the fairness budget or the env's credit
    /// runs out, then re-arm it. Each read is logged and sent as one event; a terminal's reads
    /// are held and joined (see [`TTY_EVENT_BYTES`]).
    pub(super) fn read_pipe(&mut self, id: EnvId, kind: usize) {
        let EnvPhase::Running(active) = &self.envs[id].phase else {
            return;
        };
        let eof = if active.tty.is_some() {
            self.read_tty(id, kind)
        } else {
            self.read_pipes(id, kind)
        };
        let EnvPhase::Running(active) = &mut self.envs[id].phase else {
            return;
        };
        if eof {
            if let Some(p) = active.pipes[kind].take() {
                sys::deregister(&self.poller, &p.reader);
            }
        } else if self.credits.available(id)
            && let Some(pipe) = active.pipes[kind].as_mut()
        {
            pipe.armed = self
                .poller
                .modify(&pipe.reader, Event::readable(id * KEYS_PER_ENV + kind))
                .is_ok();
        }
    }

    /// [`Runner::read_pipe`] for a pipe: every read becomes an event. Whether it hit EOF.
    fn read_pipes(&mut self, id: EnvId, kind: usize) -> bool {
        let EnvPhase::Running(active) = &mut self.envs[id].phase else {
            return false;
        };
        let Some(pipe) = active.pipes[kind].as_mut() else {
            return false;
        };
        pipe.armed = false;
        let stream = pipe.stream;
        let mut total = 0;
        while total < FAIRNESS_BUDGET && self.credits.available(id) {
            let EnvPhase::Running(active) = &mut self.envs[id].phase else {
                return false;
            };
            let Some(pipe) = active.pipes[kind].as_mut() else {
                return false;
            };
            let bytes = match sys::read_chunk(&pipe.reader, &mut self.buf, PIPE_READ_BYTES) {
                sys::PipeRead::Data(bytes) => bytes,
                sys::PipeRead::Empty => return false,
                sys::PipeRead::Eof => return true,
            };
            let n = bytes.len();
            total += n;
            let marks = self.plan.envs[id]
                .launcher
                .as_ref()
                .map_or((false, false), |l| {
                    watch_queue(&mut active.watch, l, &bytes)
                });
            self.credits.take(id, n);
            // See `emit`: a gone consumer is not a reason to stop draining.
            let _ = self.tx.send(log::ToLog::Event(RunEvent::Output {
                env: id,
                stream,
                bytes,
            }));
            self.queue_marks(id, marks);
            if n < PIPE_READ_BYTES {
                // That was all the pipe held: no read just to hear EAGAIN. Bytes arriving
                // meanwhile make the re-armed pipe ready again at once.
                return false;
            }
        }
        false
    }

    /// [`Runner::read_pipe`] for a terminal: read on until it is empty (its next 4 KiB may
    /// be there already), each read straight onto the end of the held bytes (no buffer of
    /// its own, no copy, no `FIONREAD`: a terminal hands out at most 4 KiB a read anyway),
    /// sent once [`TTY_EVENT_BYTES`] are held, at EOF, or after [`TTY_HOLD`]. The launcher's
    /// queued and started marks are watched in it as in a pipe's output (the bytes before a
    /// mark are sent first). Whether it hit EOF.
    fn read_tty(&mut self, id: EnvId, kind: usize) -> bool {
        // The readiness event disarmed it (oneshot), whether or not there is credit to read
        // now: unarmed, it is re-armed by `read_pipe` or, once credit is back, by
        // `resume_paused`.
        if let EnvPhase::Running(active) = &mut self.envs[id].phase
            && let Some(pipe) = active.pipes[kind].as_mut()
        {
            pipe.armed = false;
        }
        let mut eof = false;
        let mut total = 0;
        while total < FAIRNESS_BUDGET && self.credits.available(id) {
            let EnvPhase::Running(active) = &mut self.envs[id].phase else {
                return false;
            };
            let Some(pipe) = active.pipes[kind].as_mut() else {
                return false;
            };
            let held = &mut active.held;
            if held.capacity() - held.len() < TTY_READ_BYTES {
                held.reserve(TTY_EVENT_BYTES.max(held.len()) + TTY_READ_BYTES - held.len());
            }
            let from = held.len();
            match sys::read_append(&pipe.reader, held) {
                sys::AppendRead::Data => {}
                sys::AppendRead::Empty => break,
                sys::AppendRead::Eof => {
                    eof = true;
                    break;
                }
            }
            total += held.len() - from;
            let marks = self.plan.envs[id]
                .launcher
                .as_ref()
                .map_or((false, false), |l| {
                    watch_queue(&mut active.watch, l, &active.held[from..])
                });
            if marks != (false, false) {
                self.send_held(id);
                self.queue_marks(id, marks);
            }
            let EnvPhase::Running(active) = &self.envs[id].phase else {
                return eof;
            };
            if active.held.len() >= TTY_EVENT_BYTES {
                break;
            }
        }
        let EnvPhase::Running(active) = &mut self.envs[id].phase else {
            return eof;
        };
        if !active.held.is_empty() && active.held_since.is_none() {
            active.held_since = Some(Instant::now());
        }
        if eof || active.held.len() >= TTY_EVENT_BYTES {
            self.send_held(id);
        }
        eof
    }

    /// The launcher's marks seen in `id`'s output (`(queued, started)`): its state and
    /// events. The env's timeout counts only while the job runs: paused with what was left
    /// while queued, and counting again from the start.
    fn queue_marks(&mut self, id: EnvId, (queued, started): (bool, bool)) {
        let env = &mut self.envs[id];
        let EnvPhase::Running(active) = &mut env.phase else {
            return;
        };
        if queued {
            let now = Instant::now();
            let left = env.timeout_at.map(|t| t.saturating_duration_since(now));
            active.watch.queue = Queue::Queued(left);
            env.timeout_at = None;
            let _ = self
                .tx
                .send(log::ToLog::Event(RunEvent::JobQueued { env: id }));
        }
        if started {
            if let Queue::Queued(left) = active.watch.queue {
                let now = Instant::now();
                env.timeout_at = left.map(|left| now + left);
            }
            active.watch.queue = Queue::Started;
            let _ = self
                .tx
                .send(log::ToLog::Event(RunEvent::JobStarted { env: id }));
        }
    }

    /// Send what was read from `id`'s terminal and held (logged first, as any output).
    pub(super) fn send_held(&mut self, id: EnvId) {
        let EnvPhase::Running(active) = &mut self.envs[id].phase else {
            return;
        };
        active.held_since = None;
        if active.held.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut active.held);
        self.credits.take(id, bytes.len());
        let _ = self.tx.send(log::ToLog::Event(RunEvent::Output {
            env: id,
            stream: Stream::Stdout,
            bytes,
        }));
    }

    /// Send every terminal's held bytes that have waited [`TTY_HOLD`].
    pub(super) fn send_due_held(&mut self, now: Instant) {
        for id in 0..self.envs.len() {
            let due = matches!(&self.envs[id].phase,
                EnvPhase::Running(a) if a.held_since.is_some_and(|t| now >= t + TTY_HOLD));
            if due {
                self.send_held(id);
            }
        }
    }

    /// When the oldest held terminal bytes are due.
    pub(super) fn next_held_due(&self) -> Option<Instant> {
        self.envs
            .iter()
            .filter_map(|e| match &e.phase {
                EnvPhase::Running(a) => a.held_since.map(|t| t + TTY_HOLD),
                _ => None,
            })
            .min()
    }
}

/// Looks for the launcher's queued and started marks in a command's new output: whether the
/// job became queued, and whether the queued job started (both may come in one read). The
/// queued mark counts only in the first [`QUEUE_WATCH`] bytes (the launcher speaks before the
/// job does), the started mark only after it.
fn watch_queue(watch: &mut QueueWatch, launcher: &Launcher, bytes: &[u8]) -> (bool, bool) {
    let Some(queued) = &launcher.queued else {
        return (false, false);
    };
    let started = launcher.started.as_deref().unwrap_or_default();
    let looking = match watch.queue {
        Queue::Unknown => watch.watched < QUEUE_WATCH,
        Queue::Queued(_) => !started.is_empty(),
        Queue::Started => false,
    };
    if !looking {
        return (false, false);
    }
    watch.watched = watch.watched.saturating_add(bytes.len());
    let mut text = std::mem::take(&mut watch.tail);
    text.extend_from_slice(bytes);
    // Where the started mark may begin: after the queued mark if this read holds it.
    let mut after = 0;
    let mut became_queued = false;
    if matches!(watch.queue, Queue::Unknown) {
        let Some(at) = find(&text, queued.as_bytes()) else {
            // Keep enough to find a mark split across two reads.
            watch.tail = text.split_off(text.len().saturating_sub(queued.len()));
            return (false, false);
        };
        became_queued = true;
        after = at + queued.len();
    }
    let became_started = find(&text[after..], started.as_bytes()).is_some();
    if !became_started {
        let from = text.len().saturating_sub(started.len()).max(after);
        watch.tail = text.split_off(from);
    }
    (became_queued, became_started)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::event::EnvStatus;
    use crate::plan::{EnvSpec, Plan};
    use crate::runner::{CREDIT_LIMIT, Control, RunnerOptions, start_with};

    /// Set in the process that runs a runner test alone (see below).
    const ALONE: &str = "RUNALL_TEST_RUNNER_ALONE";

    /// A tty env writing bursts (each sent by the hold timer, the terminal armed meanwhile)
    /// to a consumer that gives credit back only in lumps, once the runner is about out of
    /// it: readiness events then come while the env has no credit. Each must leave the
    /// terminal unarmed, for `resume_paused` to re-arm it when credit is back; one left
    /// marked armed (the oneshot event had disarmed it) stalled the flood for good.
    #[test]
    fn a_terminal_ready_without_credit_is_read_again_once_credit_is_back() {
        const BURSTS: usize = 60;
        const BURST: usize = 100_000;
        // A runner reaps (and at its end kills) every child of its process it did not start:
        // in the test binary those would be other tests' children. So the test runs alone,
        // in a process of its own: this same binary, asked for this one test.
        if std::env::var_os(ALONE).is_none() {
            let name = "runner::pump::tests::a_terminal_ready_without_credit_is_read_again_once_credit_is_back";
            let exe = std::env::current_exe().expect("the test binary");
            let out = std::process::Command::new(exe)
                .args(["--exact", name, "--test-threads=1", "--nocapture"])
                .env(ALONE, "1")
                .output()
                .expect("the test binary runs");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains("1 passed"),
                "{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let logs = tempfile::tempdir().expect("temp dir");
        let script = format!(
            "i=0; while [ $i -lt {BURSTS} ]; do head -c {BURST} /dev/zero | tr '\\0' x; \
             sleep 0.005; i=$((i+1)); done"
        );
        let env = EnvSpec {
            tty: true,
            ..EnvSpec::shell("bursts", &script, logs.path())
        };
        let plan = Plan::new(vec![env], 1, logs.path().join("logs"));
        let (tx, rx) = mpsc::channel();
        let options = RunnerOptions {
            run_id: "pump-credit-test".into(),
            tty_size: (24, 80),
            ..RunnerOptions::default()
        };
        let (handle, credits, thread) = start_with(plan, options, move |event| {
            let _ = tx.send(event);
        })
        .expect("runner starts");
        let deadline = Instant::now() + Duration::from_secs(120);
        let (mut held, mut held_bytes, mut xs, mut lumps) = (Vec::new(), 0, 0, 0);
        let mut status = None;
        let mut stalled = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(RunEvent::RunFinished { .. }) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break;
                }
                Ok(event) => {
                    match &event {
                        RunEvent::Output { bytes, .. } => {
                            xs += memchr::memchr_iter(b'x', bytes).count();
                            held_bytes += bytes.len();
                            held.push(event);
                            continue;
                        }
                        RunEvent::EnvFinished { result, .. } => {
                            status = Some(result.status.clone());
                        }
                        _ => {}
                    }
                    credits.received(&event);
                }
                // Quiet for 50 ms: whatever is held goes back (a paused runner goes on).
                Err(mpsc::RecvTimeoutError::Timeout) => held_bytes = CREDIT_LIMIT,
            }
            if held_bytes + 64 * 1024 >= CREDIT_LIMIT {
                // Let the runner run out (and the child write on) before the lump comes back.
                std::thread::sleep(Duration::from_millis(20));
                lumps += usize::from(!held.is_empty());
                for event in held.drain(..) {
                    credits.received(&event);
                }
                held_bytes = 0;
            }
            if !stalled && Instant::now() > deadline {
                stalled = true;
                handle.send(Control::Shutdown(crate::event::ShutdownCause::Signal(2)));
            }
        }
        thread.join().expect("runner thread");
        assert!(
            !stalled,
            "the flood stalled after {xs} of {} bytes",
            BURSTS * BURST
        );
        assert_eq!(xs, BURSTS * BURST);
        assert_eq!(status, Some(EnvStatus::Passed));
        // The consumer really held the runner back, again and again.
        assert!(lumps >= 5, "credit came back in {lumps} lumps");
    }

    fn slurm() -> Launcher {
        Launcher::slurm(&[])
    }

    fn feed(watch: &mut QueueWatch, chunks: &[&str]) -> Vec<(bool, bool)> {
        chunks
            .iter()
            .map(|chunk| {
                let change = watch_queue(watch, &slurm(), chunk.as_bytes());
                if change.0 {
                    watch.queue = Queue::Queued(None);
                }
                if change.1 {
                    watch.queue = Queue::Started;
                }
                change
            })
            .collect()
    }

    #[test]
    fn marks_are_found_across_reads_and_in_one_read() {
        let mut watch = QueueWatch::default();
        let got = feed(
            &mut watch,
            &[
                "srun: job 12 queued and wait",
                "ing for resources\nsrun: job 12 has been allo",
                "cated resources\n",
                "output mentioning queued and waiting for resources\n",
            ],
        );
        assert_eq!(
            got,
            [(false, false), (true, false), (false, true), (false, false)]
        );
        let mut both = QueueWatch::default();
        let got = feed(
            &mut both,
            &[
                "srun: job 3 queued and waiting for resources\nsrun: job 3 has been allocated resources\n",
            ],
        );
        assert_eq!(got, [(true, true)]);
    }

    #[test]
    fn the_queued_mark_counts_only_at_the_start_of_the_output() {
        let mut watch = QueueWatch::default();
        let noise = "x".repeat(QUEUE_WATCH);
        let got = feed(&mut watch, &[&noise, "queued and waiting for resources\n"]);
        assert_eq!(got, [(false, false), (false, false)]);
        // No launcher marks: nothing is watched.
        let mut plain = QueueWatch::default();
        let launcher = Launcher {
            command: vec!["ssh".into()],
            ..Launcher::default()
        };
        let change = watch_queue(&mut plain, &launcher, b"queued and waiting for resources");
        assert_eq!(change, (false, false));
    }
}
