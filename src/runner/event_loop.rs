//! The runner thread's loop: each turn reaps strays, takes the control messages, fires the
//! timers, re-arms paused pipes, finishes exited commands, schedules, then sleeps in the
//! poller until the next deadline and dispatches what became ready (a pipe, a pidfd, SIGCHLD).
//! After the last env: the final sweep, the guardian's EOF and `RunFinished`.

use std::io;
use std::time::{Duration, Instant};

use polling::Events;

use super::reap::{CHILD_SCAN_GAP, REAP_TICK};
use super::{Control, EnvPhase, KEYS_PER_ENV, PIDFD_KIND, Runner, log};
use crate::event::RunEvent;

/// Exit check period on kernels without pidfd.
const FALLBACK_TICK: Duration = Duration::from_millis(50);
/// How soon typed bytes that a full terminal refused are offered again.
const INPUT_RETRY: Duration = Duration::from_millis(5);

impl Runner {
    pub(super) fn run(mut self) {
        let mut events = Events::new();
        loop {
            let now = Instant::now();
            self.reap_strays();
            let hooks = self.hooks.collect();
            self.report_hooks(hooks);
            self.drain_control(now);
            self.send_due_held(now);
            self.on_timers(now);
            self.resume_paused();
            self.finish_exited(now);
            // After `finish_exited`: the main processes whose exit caused the SIGCHLD are
            // reaped by now, so the scan usually finds no zombie at all.
            if self.child_scan.is_some_and(|at| at <= now) {
                self.reap_adopted(now);
            }
            self.schedule(now);
            self.sample_usage(now);
            if self.all_finished()
                && (!self.options.keep_alive || self.quitting || self.shutdown.is_some())
            {
                break;
            }
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            // What the guardian must know, in one write per turn (before sleeping, so that a
            // runall killed while it waits has told it everything).
            if let Some(g) = &mut self.guardian {
                g.flush();
            }
            events.clear();
            if let Err(e) = self.poller.wait(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    // The poller itself failed: nothing can be pumped any more. Kill what runs
                    // so that nothing is left behind, then finish normally below.
                    self.kill_everything_now(Instant::now());
                    std::thread::sleep(REAP_TICK);
                }
                continue;
            }
            for ev in events.iter() {
                self.on_ready(ev.key, Instant::now());
            }
        }
        // The last hooks (a cancel sweep after a stopped env): each is bounded by its timeout.
        let hooks = self
            .hooks
            .wait(super::hooks::HOOK_TIMEOUT + Duration::from_secs(1));
        self.report_hooks(hooks);
        self.final_sweep();
        if let Some(signal) = self.child_signal.take() {
            signal.uninstall(&self.poller);
        }
        // EOF for the guardian: every group is forgotten by now, so it only looks for
        // processes carrying the run id (none, normally) and exits; runall does not wait.
        if let Some(g) = self.guardian.take() {
            g.finish(Duration::from_millis(200));
        }
        let cause = self.shutdown.as_ref().map(|s| s.cause);
        self.emit(RunEvent::RunFinished { cause });
    }

    pub(super) fn emit(&self, event: RunEvent) {
        // The consumer hung up (its thread ended early): keep running so every child is still
        // drained and reaped; there is just nobody to tell.
        let _ = self.tx.send(log::ToLog::Event(event));
    }

    fn drain_control(&mut self, now: Instant) {
        while let Ok(control) = self.control.try_recv() {
            match control {
                Control::Shutdown(cause) => self.begin_shutdown(cause, now),
                Control::StopEnv(id) => self.stop_env(id, now),
                Control::Rerun(id) => {
                    if self.shutdown.is_none()
                        && !self.quitting
                        && let Some(env) = self.envs.get_mut(id)
                        && matches!(env.phase, EnvPhase::Finished(_))
                    {
                        env.reset();
                        // A new request, not a retry: its tries count from 1 again.
                        env.attempt = 0;
                    }
                }
                Control::Quit => self.quitting = true,
                Control::InterruptAndQuit => {
                    self.quitting = true;
                    for id in 0..self.envs.len() {
                        self.stop_env(id, now);
                    }
                }
                Control::Input { env, bytes } => self.queue_input(env, &bytes),
                Control::Resize { env, rows, cols } => self.resize_tty(env, rows, cols),
            }
        }
        self.write_input();
    }

    fn on_ready(&mut self, key: usize, now: Instant) {
        if let Some(signal) = self.child_signal.as_ref().filter(|s| s.key == key) {
            signal.drain();
            self.attached_stops();
            let earliest = self.last_child_scan.map_or(now, |t| t + CHILD_SCAN_GAP);
            self.child_scan.get_or_insert_with(|| earliest.max(now));
            return;
        }
        let (id, kind) = (key / KEYS_PER_ENV, key % KEYS_PER_ENV);
        if id >= self.envs.len() {
            return;
        }
        if kind == PIDFD_KIND {
            self.on_exit_seen(id, now);
        } else {
            self.read_pipe(id, kind);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if !self.reap_later.is_empty() {
            consider(now + REAP_TICK);
        }
        if let Some(at) = self.child_scan {
            consider(at);
        }
        if let Some(at) = self.next_sample_at() {
            consider(at);
        }
        if let Some(at) = self.next_held_due() {
            consider(at);
        }
        if self.input_pending() {
            // A terminal that was full: try the typed bytes again soon.
            consider(now + INPUT_RETRY);
        }
        for env in &self.envs {
            let EnvPhase::Running(active) = &env.phase else {
                continue;
            };
            if active.exited {
                if !active.killed.is_empty() {
                    // Strays killed at its end: reaped as they die.
                    consider(now + REAP_TICK);
                }
                if active.pipes.iter().any(Option::is_some)
                    && let Some(d) = active.drain_deadline
                {
                    consider(d);
                }
                continue;
            }
            if active.pidfd.is_none() {
                consider(now + FALLBACK_TICK);
            }
            if let Some((_, at)) = active.ladder {
                consider(at);
            }
            if env.stopped_by.is_none()
                && let Some(t) = env.timeout_at
            {
                consider(t);
            }
        }
        next
    }
}
