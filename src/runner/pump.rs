//! The pump: reading the children's pipes into `Output` events, within a fairness budget per
//! readiness event and the env's output credit, and re-arming paused pipes once the consumer
//! gave credit back. The read itself is [`super::sys::read_chunk`].

use std::time::{Duration, Instant};

use polling::Event;

use super::{EnvPhase, KEYS_PER_ENV, Runner, log, sys};
use crate::event::{RunEvent, Stream};
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
/// reads are joined into one event of up to this many bytes: one event per 4 KiB would wake
/// the log writer and the screen 16 times as often, and under a flood those wakeups, not
/// the reads, set the pace.
const TTY_EVENT_BYTES: usize = 64 * 1024;
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
        let env = &mut self.envs[id];
        let EnvPhase::Running(active) = &mut env.phase else {
            return;
        };
        let tty = active.tty.is_some();
        let held = &mut active.held;
        let Some(pipe) = active.pipes[kind].as_mut() else {
            return;
        };
        pipe.armed = false;
        let mut eof = false;
        let mut total = 0;
        while total < FAIRNESS_BUDGET && self.credits.available(id) {
            let bytes = match sys::read_chunk(&pipe.reader, &mut self.buf, PIPE_READ_BYTES) {
                sys::PipeRead::Data(bytes) => bytes,
                sys::PipeRead::Empty => break,
                sys::PipeRead::Eof => {
                    eof = true;
                    break;
                }
            };
            let n = bytes.len();
            total += n;
            if tty {
                // Read on until the terminal is empty: its next 4 KiB may be there already.
                if held.is_empty() {
                    *held = bytes;
                } else {
                    held.extend_from_slice(&bytes);
                }
                if held.len() >= TTY_EVENT_BYTES {
                    break;
                }
                continue;
            }
            self.credits.take(id, n);
            // See `emit`: a gone consumer is not a reason to stop draining.
            let _ = self.tx.send(log::ToLog::Event(RunEvent::Output {
                env: id,
                stream: pipe.stream,
                bytes,
            }));
            if n < PIPE_READ_BYTES {
                // That was all the pipe held: no read just to hear EAGAIN. Bytes arriving
                // meanwhile make the re-armed pipe ready again at once.
                break;
            }
        }
        let send_now = eof || held.len() >= TTY_EVENT_BYTES;
        if !held.is_empty() && active.held_since.is_none() {
            active.held_since = Some(Instant::now());
        }
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
        if send_now {
            self.send_held(id);
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
