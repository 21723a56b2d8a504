//! A tty env's terminal seen from the runner: typed bytes written to the master side
//! (nonblocking, buffered while the terminal is full, never waited for) and the window size
//! (`TIOCSWINSZ`, so the child's foreground group gets SIGWINCH). The master is the env's
//! `pipes[0]`, read by the pump like any pipe; the syscalls are [`super::sys`]'s. Also an
//! `--attach`ed command stopped by Ctrl-Z: runall stops with it, like a shell's job.

use super::{EnvPhase, INPUT_LIMIT, Runner, sys};
use crate::plan::EnvId;

impl Runner {
    /// Keys for `env`'s terminal: buffered, written by [`Runner::write_input`] this turn.
    /// Dropped for an env that has no terminal (or no longer reads: its master is closed).
    pub(super) fn queue_input(&mut self, env: EnvId, bytes: &[u8]) {
        let Some(EnvPhase::Running(active)) = self.envs.get_mut(env).map(|e| &mut e.phase) else {
            return;
        };
        if active.tty.is_none() || active.pipes[0].is_none() {
            return;
        }
        let room = INPUT_LIMIT.saturating_sub(active.input.len());
        active
            .input
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Offer every tty env's buffered keys to its terminal, one nonblocking `write` each.
    pub(super) fn write_input(&mut self) {
        for env in &mut self.envs {
            let EnvPhase::Running(active) = &mut env.phase else {
                continue;
            };
            if active.input.is_empty() {
                continue;
            }
            let Some(master) = active.pipes[0].as_ref().filter(|_| active.tty.is_some()) else {
                active.input.clear();
                continue;
            };
            match sys::write_nonblocking(&master.reader, &active.input) {
                Ok(Some(n)) => {
                    active.input.drain(..n);
                }
                // Full: the retry deadline offers the rest again.
                Ok(None) => {}
                // The terminal is gone (hung up): nobody will read these keys.
                Err(_) => active.input.clear(),
            }
        }
    }

    /// Some typed bytes still wait for a terminal that was full.
    pub(super) fn input_pending(&self) -> bool {
        self.envs
            .iter()
            .any(|e| matches!(&e.phase, EnvPhase::Running(a) if !a.input.is_empty()))
    }

    /// `--attach`: a SIGCHLD came; if the attached command was stopped (Ctrl-Z typed into
    /// runall's terminal), runall stops with it as a shell's job would and, once continued,
    /// gives the terminal back and continues it ([`sys::suspend_with_attached`]), instead of
    /// waiting for a command that never goes on.
    pub(super) fn attached_stops(&self) {
        for env in &self.envs {
            if let EnvPhase::Running(active) = &env.phase
                && active.foreground
                && !active.exited
                && sys::take_stop(active.pid)
            {
                sys::suspend_with_attached(active.pid);
            }
        }
    }

    /// `env`'s window size: kept for its next commands and set on its terminal now.
    pub(super) fn resize_tty(&mut self, env: EnvId, rows: u16, cols: u16) {
        let Some(run) = self.envs.get_mut(env) else {
            return;
        };
        let size = (rows.max(1), cols.max(1));
        if run.tty_size == size {
            return;
        }
        run.tty_size = size;
        if let EnvPhase::Running(active) = &run.phase
            && active.tty.is_some()
            && let Some(master) = &active.pipes[0]
        {
            // Best effort: a hung-up terminal has nobody left to tell.
            let _ = sys::set_window_size(&master.reader, size.0, size.1);
        }
    }
}
