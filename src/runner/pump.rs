//! The pump: reading the children's pipes into `Output` events, within a fairness budget per
//! readiness event and the env's output credit, and re-arming paused pipes once the consumer
//! gave credit back. The read itself is [`super::sys::read_chunk`].

use polling::Event;

use super::{EnvPhase, KEYS_PER_ENV, Runner, log, sys};
use crate::event::RunEvent;
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
    /// runs out, then re-arm it. Each read is logged and sent as one event.
    pub(super) fn read_pipe(&mut self, id: EnvId, kind: usize) {
        let env = &mut self.envs[id];
        let EnvPhase::Running(active) = &mut env.phase else {
            return;
        };
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
            self.credits.take(id, n);
            // See `emit`: a gone consumer is not a reason to stop draining.
            let _ = self.tx.send(log::ToLog::Event(RunEvent::Output {
                env: id,
                stream: pipe.stream,
                bytes,
            }));
            total += n;
            if n < PIPE_READ_BYTES {
                // That was all the pipe held: no read just to hear EAGAIN. Bytes arriving
                // meanwhile make the re-armed pipe ready again at once.
                break;
            }
        }
        if eof {
            if let Some(p) = active.pipes[kind].take() {
                sys::deregister(&self.poller, &p.reader);
            }
        } else if self.credits.available(id) {
            pipe.armed = self
                .poller
                .modify(&pipe.reader, Event::readable(id * KEYS_PER_ENV + kind))
                .is_ok();
        }
    }
}
