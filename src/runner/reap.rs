//! Ending a command: its exit seen on the pidfd (not reaped; the drain deadline starts), the
//! sweep of its group and of adopted orphans once its pipes are closed, the reaping of the
//! leader (then the next command or the env's result), the SIGCHLD-driven reaping of adopted
//! orphans, and the last sweep after the last env. What each reaped process cost (`wait4`'s
//! rusage) counts for its env, the strays killed at a command's end included.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use polling::Poller;

use super::{EnvPhase, KILL_DRAIN, LeakStage, Runner, guardian, sys};
use crate::config::{MAX_FILE_SIZE, SkipProbe};
use crate::event::{EnvStatus, ExitKind, StopCause};
use crate::plan::EnvId;

/// Retry period for reaping processes that were just killed.
pub(super) const REAP_TICK: Duration = Duration::from_millis(10);
/// How long the last sweep waits for killed strays to die before giving up on reaping them.
const FINAL_REAP_WAIT: Duration = Duration::from_secs(2);
/// Longest wait for the strays killed at a command's end to die, so that their CPU time and
/// peak RSS count for the env (the runner goes on meanwhile).
const KILLED_REAP_WAIT: Duration = Duration::from_secs(2);
/// Least time between two scans for exited adopted processes (each SIGCHLD asks for one):
/// bounds the scans to 200 a second under a storm of exits, and the zombies waiting to the
/// exits of 5 ms.
pub(super) const CHILD_SCAN_GAP: Duration = Duration::from_millis(5);

impl Runner {
    pub(super) fn on_exit_seen(&mut self, id: EnvId, now: Instant) {
        let kill_drain = self.shutdown.as_ref().is_some_and(|s| s.count >= 2);
        let leak = self.plan.timeouts.leak;
        let EnvPhase::Running(active) = &mut self.envs[id].phase else {
            return;
        };
        if active.exited {
            return;
        }
        active.exited = true;
        active.ladder = None;
        if let Some(fd) = active.pidfd.take() {
            sys::deregister(&self.poller, &fd);
        }
        if kill_drain {
            active.drain_deadline = Some(now + KILL_DRAIN);
            active.leak_stage = LeakStage::Killed;
        } else {
            active.drain_deadline = Some(now + leak);
        }
    }

    /// Envs whose main process exited and whose pipes are all closed: sweep, reap, go on.
    pub(super) fn finish_exited(&mut self, now: Instant) {
        for id in 0..self.envs.len() {
            let done = matches!(&self.envs[id].phase,
                EnvPhase::Running(a) if a.exited && a.pipes.iter().all(Option::is_none));
            if done {
                self.complete_command(id, now);
            }
        }
    }

    fn complete_command(&mut self, id: EnvId, now: Instant) {
        // A terminal's last bytes, held to be joined, go out before the command's end.
        self.send_held(id);
        if let EnvPhase::Running(active) = &self.envs[id].phase
            && active.killed_until.is_none()
        {
            let pgid = active.pid;
            let killed = self.sweep_strays(id, pgid);
            if let EnvPhase::Running(active) = &mut self.envs[id].phase {
                active.killed = killed;
                active.killed_until = Some(now + KILLED_REAP_WAIT);
            }
        }
        // The strays killed just now die as soon as the kernel runs them: wait for them (later
        // turns come back here), so that what they cost counts for this attempt.
        if !self.reap_killed(id, now) {
            return;
        }
        let phase = std::mem::replace(&mut self.envs[id].phase, EnvPhase::Pending);
        let EnvPhase::Running(active) = phase else {
            self.envs[id].phase = phase;
            return;
        };
        if active.foreground {
            // An attached command had runall's terminal: runall's group takes it back.
            sys::take_terminal_back();
        }
        // The leader is still an unreaped zombie, so its pgid cannot have been recycled: kill
        // whatever stayed in the group, then reap.
        sys::signal_group(active.pid, libc::SIGKILL);
        sys::untrack_group(active.pid);
        if let Some(g) = &mut self.guardian {
            g.send(&guardian::Message::Forget(active.pid));
        }
        let reaped = sys::reap(active.pid);
        let exit = exit_kind(reaped.map(|(status, _)| status));
        self.sweep_launched(id, matches!(exit, ExitKind::Signal { .. }));
        let env = &mut self.envs[id];
        if let Some((_, usage)) = reaped {
            env.usage.add(usage.cpu, usage.peak_rss);
        }
        let next = active.command + 1;
        if exit == ExitKind::Code(0)
            && env.stopped_by.is_none()
            && self.shutdown.is_none()
            && next < self.plan.envs[id].commands.len()
        {
            self.spawn_command(id, next, now);
            return;
        }
        let skipped = match &self.plan.envs[id].skip_probe {
            Some(probe) if env.stopped_by.is_none() && !env.stale_probe => self_skipped(probe),
            _ => None,
        };
        let status = if let Some(reason) = skipped {
            EnvStatus::SelfSkipped { reason }
        } else if exit == ExitKind::Code(0) {
            if env.stopped_by.is_none() && self.shutdown.is_some() {
                // Passed so far, but the rest of its commands will not run.
                if next < self.plan.envs[id].commands.len() {
                    env.stopped_by = Some(StopCause::Interrupted);
                }
            }
            EnvStatus::Passed
        } else {
            EnvStatus::Failed {
                command: active.command,
                exit,
            }
        };
        self.finish_env(id, status, now);
    }

    /// Kill and reap adopted orphans of this env: processes that stayed in its group or
    /// escaped into their own session (found by their `RUNALL_ENV`/`RUNALL_RUN_ID`).
    fn sweep_strays(&mut self, id: EnvId, pgid: i32) -> Vec<i32> {
        let known: HashSet<i32> = self.known_pids();
        let name = &self.plan.envs[id].name;
        let mut found = Vec::new();
        for pid in sys::children() {
            if known.contains(&pid) {
                continue;
            }
            let Some(info) = sys::proc_info(pid) else {
                continue;
            };
            if info.state == 'Z' {
                // An orphan that already exited: reap it, and count it for this env when it
                // was in its group.
                match sys::try_reap_usage(pid) {
                    sys::Reaped::Now(usage) if info.pgid == pgid => {
                        self.envs[id].usage.add(usage.cpu, usage.peak_rss);
                    }
                    sys::Reaped::NotYet => self.reap_later.push(pid),
                    sys::Reaped::Now(_) | sys::Reaped::Gone => {}
                }
                continue;
            }
            let ours = info.pgid == pgid
                || (sys::proc_env(pid, "RUNALL_RUN_ID").as_deref()
                    == Some(self.options.run_id.as_str())
                    && sys::proc_env(pid, "RUNALL_ENV").as_deref() == Some(name.as_str()));
            if ours {
                sys::signal_pid(pid, libc::SIGKILL);
                found.push(pid);
            }
        }
        self.record_leaks(id, &found);
        found
    }

    /// Reaps what is left of the strays killed at env `id`'s command end, counting their usage
    /// for it. Whether the command may complete: all reaped, or waited long enough (one stuck
    /// in the kernel is reaped later, uncounted).
    fn reap_killed(&mut self, id: EnvId, now: Instant) -> bool {
        let env = &mut self.envs[id];
        let EnvPhase::Running(active) = &mut env.phase else {
            return true;
        };
        let usage = &mut env.usage;
        active.killed.retain(|&pid| match sys::try_reap_usage(pid) {
            sys::Reaped::Now(u) => {
                usage.add(u.cpu, u.peak_rss);
                false
            }
            sys::Reaped::Gone => false,
            sys::Reaped::NotYet => true,
        });
        if active.killed.is_empty() || active.killed_until.is_some_and(|t| now >= t) {
            self.reap_later.append(&mut active.killed);
            return true;
        }
        false
    }

    /// runall's children that no sweep may kill or reap early: the running commands' main
    /// processes (and the strays killed at their end, being reaped), the hooks, and the
    /// guardian.
    fn known_pids(&self) -> HashSet<i32> {
        let mut known = HashSet::new();
        for env in &self.envs {
            if let EnvPhase::Running(a) = &env.phase {
                known.insert(a.pid);
                // The strays killed at a command's end are reaped by `reap_killed`, for it.
                known.extend(a.killed.iter().copied());
            }
        }
        known.extend(self.guardian.as_ref().map(guardian::Guardian::pid));
        known.extend(self.hooks.pids());
        known
    }

    /// A SIGCHLD came: reap the adopted orphans that exited (never a running command's main
    /// process, which is reaped only after its group is dealt with, nor the guardian), and
    /// tell the guardian about adopted ones still alive. Runs at most once per
    /// `CHILD_SCAN_GAP`. Usually the exit was a command's main process, already reaped by
    /// now: then one `waitid(WNOWAIT)` finds no zombie and that is all. Otherwise it costs one
    /// read of the main thread's children (where adopted orphans go; the spawned commands are
    /// the runner thread's) plus one stat read per adopted process.
    pub(super) fn reap_adopted(&mut self, now: Instant) {
        self.child_scan = None;
        self.last_child_scan = Some(now);
        if sys::some_exited_child().is_none() {
            return;
        }
        let known = self.known_pids();
        let mut alive = HashSet::new();
        for pid in sys::adopted_children() {
            if known.contains(&pid) {
                continue;
            }
            let Some(stat) = sys::proc_stat(pid) else {
                continue;
            };
            if stat.state == 'Z' {
                let reaped = sys::try_reap_usage(pid);
                if reaped != sys::Reaped::NotYet {
                    self.reap_later.retain(|&p| p != pid);
                }
                if let sys::Reaped::Now(usage) = reaped {
                    self.count_adopted(stat.pgid, usage);
                }
                continue;
            }
            alive.insert(pid);
            if self.adopted.insert(pid, stat.start) != Some(stat.start)
                && let Some(g) = &mut self.guardian
            {
                g.send(&guardian::Message::Pid {
                    pid,
                    start: stat.start,
                });
            }
        }
        self.adopted.retain(|pid, _| alive.contains(pid));
    }

    /// Reap strays as they die (called every loop turn while any are pending).
    pub(super) fn reap_strays(&mut self) {
        self.reap_later.retain(|&pid| !sys::try_reap(pid));
    }

    /// After the last env: kill and reap any adopted orphan still around, with a bound.
    ///
    /// Repeated while new ones come (a killed orphan's own children are re-parented to
    /// runall in turn), until runall has no child but the guardian.
    pub(super) fn final_sweep(&mut self) {
        let known = self.known_pids();
        let deadline = Instant::now() + FINAL_REAP_WAIT;
        loop {
            let strays: Vec<i32> = sys::children()
                .into_iter()
                .filter(|pid| !known.contains(pid))
                .collect();
            if strays.is_empty() {
                return;
            }
            for pid in strays {
                // Our unreaped child (alive or a zombie): its pid cannot have been recycled.
                sys::signal_pid(pid, libc::SIGKILL);
                if !self.reap_later.contains(&pid) {
                    self.reap_later.push(pid);
                }
            }
            self.reap_strays();
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(REAP_TICK);
        }
    }
}

/// signal-hook's self-pipe for SIGCHLD, registered in the runner's poller.
pub(super) struct ChildSignal {
    reader: UnixStream,
    id: signal_hook::SigId,
    pub(super) key: usize,
}

impl ChildSignal {
    /// `None` when it cannot be set up: adopted processes are then reaped when their env
    /// ends, as before.
    pub(super) fn install(poller: &Poller, key: usize) -> Option<Self> {
        let (reader, writer) = UnixStream::pair().ok()?;
        reader.set_nonblocking(true).ok()?;
        writer.set_nonblocking(true).ok()?;
        sys::register_level(poller, &reader, key).ok()?;
        if let Ok(id) = signal_hook::low_level::pipe::register(libc::SIGCHLD, writer) {
            Some(Self { reader, id, key })
        } else {
            sys::deregister(poller, &reader);
            None
        }
    }

    /// Empty the pipe (level-triggered: nothing to re-arm). Usually one read.
    pub(super) fn drain(&self) {
        let mut bytes = [0u8; 1024];
        while matches!((&self.reader).read(&mut bytes), Ok(n) if n == bytes.len()) {}
    }

    pub(super) fn uninstall(self, poller: &Poller) {
        signal_hook::low_level::unregister(self.id);
        sys::deregister(poller, &self.reader);
    }
}

fn exit_kind(status: Option<ExitStatus>) -> ExitKind {
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => ExitKind::Code(code),
            (None, Some(signal)) => ExitKind::Signal {
                signal,
                core_dumped: s.core_dumped(),
            },
            (None, None) => ExitKind::Code(-1),
        },
        None => ExitKind::Code(-1),
    }
}

/// The probe's reason if its result file says the env skipped itself: tox's result JSON with
/// `testenvs.<env>.result.skipped` true. A missing or unreadable file says nothing.
fn self_skipped(probe: &SkipProbe) -> Option<String> {
    let bytes = crate::config::read_regular_file(&probe.result_json, MAX_FILE_SIZE).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let skipped = value
        .get("testenvs")?
        .get(&probe.env)?
        .get("result")?
        .get("skipped")?
        .as_bool()?;
    skipped.then(|| probe.reason.clone())
}
