//! The signal ladder and leak handling: interrupting one env (`Control::StopEnv`), the global
//! shutdown (first request: the forwarded signal then TERM, KILL; second: KILL now), the
//! env's own timeout, and the leak ladder once the main process exited but others still hold
//! its pipes (name the holders, TERM, KILL, close our read ends).

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::{Active, EnvPhase, KILL_DRAIN, LeakStage, Queue, Runner, ShutdownState, guardian, sys};
use crate::event::{LeakedProcess, RunEvent, ShutdownCause, ShutdownStep, StopCause};
use crate::launcher::{Step, Vars};
use crate::plan::EnvId;

/// After a leak was signalled, how long to keep draining before the next step.
const LEAK_STEP: Duration = Duration::from_secs(1);

impl Runner {
    /// Interrupt one running env with the ladder, as a first Ctrl-C would.
    pub(super) fn stop_env(&mut self, id: EnvId, now: Instant) {
        let interrupt = self.plan.timeouts.interrupt;
        let Some(env) = self.envs.get_mut(id) else {
            return;
        };
        let EnvPhase::Running(active) = &mut env.phase else {
            return;
        };
        if env.stopped_by.is_none() {
            env.stopped_by = Some(StopCause::Interrupted);
        }
        if active.exited || active.ladder.is_some() {
            return;
        }
        active.ladder = Some((libc::SIGTERM, now + interrupt));
        let pid = active.pid;
        self.ladder_signal(id, pid, libc::SIGINT);
    }

    /// First request: SIGINT (or the signal runall got) to every group, then the ladder.
    /// Second: SIGKILL everything now with a short drain. Later ones are the signal thread's.
    pub(super) fn begin_shutdown(&mut self, cause: ShutdownCause, now: Instant) {
        let count = self.shutdown.as_ref().map_or(0, |s| s.count) + 1;
        match &mut self.shutdown {
            Some(s) => s.count = count,
            None => self.shutdown = Some(ShutdownState { cause, count }),
        }
        if count > 2 {
            return;
        }
        self.emit(RunEvent::ShutdownStarted { cause, count });
        if count == 2 {
            self.kill_everything_now(now);
            return;
        }
        let signal = match cause {
            ShutdownCause::Signal(sig) => super::fatal::forwarded_signal(sig),
            ShutdownCause::OutputClosed => libc::SIGHUP,
            ShutdownCause::FailFast(_) => libc::SIGINT,
        };
        let next = if signal == libc::SIGTERM {
            (libc::SIGKILL, now + self.plan.timeouts.terminate)
        } else {
            (libc::SIGTERM, now + self.plan.timeouts.interrupt)
        };
        for id in 0..self.envs.len() {
            let env = &mut self.envs[id];
            let EnvPhase::Running(active) = &mut env.phase else {
                continue;
            };
            if active.exited {
                // It ended on its own; it is only being drained.
                continue;
            }
            if env.stopped_by.is_none() {
                env.stopped_by = Some(StopCause::Interrupted);
            }
            active.ladder = Some(next);
            let pid = active.pid;
            self.ladder_signal(id, pid, signal);
        }
    }

    pub(super) fn kill_everything_now(&mut self, now: Instant) {
        for id in 0..self.envs.len() {
            let env = &mut self.envs[id];
            let EnvPhase::Running(active) = &mut env.phase else {
                continue;
            };
            if env.stopped_by.is_none() && !active.exited {
                env.stopped_by = Some(StopCause::Interrupted);
            }
            active.ladder = None;
            let pid = active.pid;
            if let Some(deadline) = &mut active.drain_deadline {
                *deadline = (*deadline).min(now + KILL_DRAIN);
                active.leak_stage = LeakStage::Killed;
            }
            if active.exited {
                self.signal_env(id, pid, libc::SIGKILL);
            } else {
                self.ladder_signal(id, pid, libc::SIGKILL);
            }
        }
    }

    /// A step of the ladder for a command that has not exited: its launcher's hook for the
    /// step (`cancel` instead while the job is queued: nothing of it runs yet), and the signal
    /// to the local group unless the launcher carries that step by its hook alone.
    fn ladder_signal(&mut self, id: EnvId, pid: i32, signal: i32) {
        let spec = &self.plan.envs[id];
        if let Some(launcher) = &spec.launcher {
            let queued = matches!(&self.envs[id].phase,
                EnvPhase::Running(active) if matches!(active.watch.queue, Queue::Queued(_)));
            let step = if queued {
                Step::Cancel
            } else {
                Step::of_signal(signal)
            };
            let vars = Vars {
                env: &spec.name,
                run_id: &self.options.run_id,
                attempt: self.envs[id].attempt,
            };
            if let Some(argv) = launcher.hook(step, vars) {
                let signalled = launcher.signals_locally(signal);
                self.emit(RunEvent::Shutdown {
                    env: id,
                    step: ShutdownStep::HookStarted {
                        step: step.name(),
                        command: crate::config::display_argv(&argv),
                        signalled,
                    },
                });
                let vars = hook_env(spec);
                self.hooks.start(id, step, argv, vars);
                if !signalled {
                    return;
                }
            }
        }
        self.signal_env(id, pid, signal);
    }

    /// Reports the hooks that finished: a failure or output as a shutdown step.
    pub(super) fn report_hooks(&self, done: Vec<super::hooks::HookDone>) {
        for hook in done {
            if hook.failure.is_none() && hook.output.is_empty() {
                continue;
            }
            self.emit(RunEvent::Shutdown {
                env: hook.env,
                step: ShutdownStep::HookFinished {
                    step: hook.step.name(),
                    command: crate::config::display_argv(&hook.argv),
                    failure: hook.failure,
                    output: hook.output,
                },
            });
        }
    }

    /// After a command of a launched env ended: if runall had engaged the ladder, or the
    /// launcher's client died by a signal, its `cancel` hook sweeps what may be left of the
    /// job in the cluster. Either way the emergency exit no longer needs to.
    pub(super) fn sweep_launched(&mut self, id: EnvId, killed: bool) {
        let spec = &self.plan.envs[id];
        let Some(launcher) = &spec.launcher else {
            return;
        };
        crate::launcher::emergency::forget(id);
        if let Some(g) = &mut self.guardian {
            g.send(&guardian::Message::Cancelled(id as i32));
        }
        if self.envs[id].stopped_by.is_none() && !killed {
            return;
        }
        let vars = Vars {
            env: &spec.name,
            run_id: &self.options.run_id,
            attempt: self.envs[id].attempt,
        };
        if let Some(argv) = launcher.hook(Step::Cancel, vars) {
            self.hooks.start(id, Step::Cancel, argv, hook_env(spec));
        }
    }

    /// Signal an env's process group (plus SIGCONT so stopped members can act on it) and say so.
    fn signal_env(&self, env: EnvId, pid: i32, signal: i32) {
        sys::signal_group(pid, signal);
        if signal != libc::SIGKILL {
            sys::signal_group(pid, libc::SIGCONT);
        }
        self.emit(RunEvent::Shutdown {
            env,
            step: ShutdownStep::Signalled { pid, signal },
        });
    }

    pub(super) fn on_timers(&mut self, now: Instant) {
        let terminate = self.plan.timeouts.terminate;
        for id in 0..self.envs.len() {
            let EnvPhase::Running(active) = &mut self.envs[id].phase else {
                continue;
            };
            if !active.exited && active.pidfd.is_none() && sys::has_exited(active.pid) {
                self.on_exit_seen(id, now);
            }
            let env = &mut self.envs[id];
            let EnvPhase::Running(active) = &mut env.phase else {
                continue;
            };
            let pid = active.pid;
            // The env's own timeout.
            if !active.exited
                && env.stopped_by.is_none()
                && env.timeout_at.is_some_and(|t| t <= now)
            {
                let after = self.plan.envs[id].timeout.unwrap_or_default();
                active.ladder = Some((libc::SIGKILL, now + terminate));
                env.stopped_by = Some(StopCause::TimedOut(after));
                self.ladder_signal(id, pid, libc::SIGTERM);
                continue;
            }
            // The signal ladder.
            if let Some((signal, at)) = active.ladder
                && at <= now
                && !active.exited
            {
                active.ladder =
                    (signal == libc::SIGTERM).then_some((libc::SIGKILL, now + terminate));
                self.ladder_signal(id, pid, signal);
                continue;
            }
            // The drain deadline after exit: someone else holds the pipe.
            if active.exited
                && active.drain_deadline.is_some_and(|d| d <= now)
                && active.pipes.iter().any(Option::is_some)
            {
                self.advance_leak(id, now);
            }
        }
    }

    /// One step of the leak ladder: name the holders, TERM, KILL, then close our read ends.
    fn advance_leak(&mut self, id: EnvId, now: Instant) {
        let EnvPhase::Running(active) = &mut self.envs[id].phase else {
            return;
        };
        let pid = active.pid;
        if active.pipes.iter().flatten().any(|p| !p.armed) && !self.credits.available(id) {
            // Paused by backpressure, not by a leak: the data is there, the consumer is slow.
            active.drain_deadline = Some(now + self.plan.timeouts.leak);
            return;
        }
        match active.leak_stage {
            LeakStage::Waiting => {
                let holders = pipe_holders(active);
                active.holders.clone_from(&holders);
                active.leak_stage = LeakStage::Terminated;
                active.drain_deadline = Some(now + LEAK_STEP);
                for &holder in &holders {
                    if let (Some(g), Some(stat)) = (&mut self.guardian, sys::proc_stat(holder)) {
                        g.send(&guardian::Message::Pid {
                            pid: holder,
                            start: stat.start,
                        });
                    }
                    sys::signal_pid(holder, libc::SIGTERM);
                    sys::signal_pid(holder, libc::SIGCONT);
                }
                self.record_leaks(id, &holders);
                self.emit(RunEvent::Shutdown {
                    env: id,
                    step: ShutdownStep::Draining { holders },
                });
                self.signal_env(id, pid, libc::SIGTERM);
            }
            LeakStage::Terminated => {
                active.leak_stage = LeakStage::Killed;
                active.drain_deadline = Some(now + LEAK_STEP);
                let holders = active.holders.clone();
                for holder in holders {
                    sys::signal_pid(holder, libc::SIGKILL);
                }
                self.signal_env(id, pid, libc::SIGKILL);
            }
            LeakStage::Killed => {
                let holders = pipe_holders(active);
                for pipe in &mut active.pipes {
                    if let Some(p) = pipe.take() {
                        sys::deregister(&self.poller, &p.reader);
                    }
                }
                self.record_leaks(id, &holders);
                self.emit(RunEvent::Shutdown {
                    env: id,
                    step: ShutdownStep::PipeClosed { holders },
                });
            }
        }
    }

    pub(super) fn record_leaks(&mut self, id: EnvId, pids: &[i32]) {
        let leaked = &mut self.envs[id].leaked;
        for &pid in pids {
            if leaked.iter().any(|l| l.pid == pid) {
                continue;
            }
            let command = sys::proc_info(pid).map(|i| i.command).unwrap_or_default();
            leaked.push(LeakedProcess { pid, command });
        }
    }
}

/// What a hook adds to runall's environment: the env's `set_env`.
pub(super) fn hook_env(spec: &crate::plan::EnvSpec) -> Vec<(String, String)> {
    spec.set_env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Pids holding any of the active command's pipes, other than runall.
fn pipe_holders(active: &Active) -> Vec<i32> {
    if let Some(slave) = &active.tty {
        // A terminal: whoever still has its slave side open keeps the master from EOF.
        return if active.pipes[0].is_some() {
            sys::fd_holders(slave)
        } else {
            Vec::new()
        };
    }
    let mut holders = Vec::new();
    for p in active.pipes.iter().flatten() {
        if let Some(inode) = sys::pipe_inode(p.reader.as_fd()) {
            for pid in sys::pipe_holders(inode) {
                if !holders.contains(&pid) {
                    holders.push(pid);
                }
            }
        }
    }
    holders
}
