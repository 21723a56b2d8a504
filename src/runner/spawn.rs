//! Spawning: starting one command of an env (its pipes sized, nonblocking and registered in
//! the poller, its pidfd watched, its group told to the guardian) and the pipe-size budget.
//! The `clone`/`execve` itself is [`super::sys::spawn`].

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use super::{
    Active, EnvPhase, KEYS_PER_ENV, LeakStage, PIDFD_KIND, Pipe, QueueWatch, Runner, guardian, sys,
};
use crate::config::StderrMode;
use crate::event::{EnvStatus, RunEvent, Stream};
use crate::launcher::{Step, Vars};
use crate::plan::{CommandSpec, EnvId};

/// Largest pipe buffer asked for (`F_SETPIPE_SZ`; 1 MiB is also Linux's limit for unprivileged
/// users). With the default 64 KiB a flooding child blocks, and is woken, every 64 KiB; with a
/// large pipe it stays ahead of the runner and each wakeup moves a whole `PIPE_READ_BYTES`.
const PIPE_SIZE: usize = 1024 * 1024;
/// Most pipe buffer asked for across all running envs' pipes: a quarter of Linux's default
/// per-user soft limit (`fs.pipe-user-pages-soft`, 64 MiB), past which every new pipe of the
/// user, the children's own included, gets only two pages.
const PIPE_BUDGET: usize = 16 * 1024 * 1024;
/// The kernel's default pipe buffer: not worth a syscall to ask for less.
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;

impl Runner {
    pub(super) fn spawn_command(&mut self, id: EnvId, index: usize, now: Instant) {
        match self.try_spawn(id, index) {
            Ok(active) => {
                let pid = active.pid;
                if let Some(g) = &mut self.guardian {
                    g.send(&guardian::Message::Group(pid));
                }
                self.register_cancel(id);
                self.envs[id].phase = EnvPhase::Running(Box::new(active));
                self.emit(RunEvent::CommandStarted {
                    env: id,
                    index,
                    pid,
                });
            }
            Err(error) => {
                self.finish_env(
                    id,
                    EnvStatus::SpawnFailed {
                        command: index,
                        error,
                    },
                    now,
                );
            }
        }
    }

    /// A launched command's job may now be in its cluster until the command ends: its
    /// launcher's cancel command goes to the emergency exit and to the guardian, which run it
    /// if runall is stopped hard (third Ctrl-C, hard deadline) or dies.
    fn register_cancel(&mut self, id: EnvId) {
        let spec = &self.plan.envs[id];
        let Some(launcher) = &spec.launcher else {
            return;
        };
        let vars = Vars {
            env: &spec.name,
            run_id: &self.options.run_id,
            attempt: self.envs[id].attempt,
        };
        let Some(argv) = launcher.hook(Step::Cancel, vars) else {
            return;
        };
        let env_vars = super::ladder::hook_env(spec);
        crate::launcher::emergency::register(id, argv.clone(), env_vars.clone());
        if let Some(g) = &mut self.guardian {
            g.send(&guardian::Message::Cancel {
                env: id as i32,
                argv,
                vars: env_vars,
            });
        }
    }

    /// Command `index` of the env as this attempt runs it: with templates (a command holds
    /// `{report_dir}`), expanded now for this attempt's folder, in one pass with the posargs
    /// (checked when the plan was built, so only a folder path a here-document cannot hold
    /// fails here).
    fn command_of(&self, id: EnvId, index: usize) -> Result<Cow<'_, CommandSpec>, String> {
        let spec = &self.plan.envs[id];
        let missing = || format!("no command {index}");
        match &spec.reports.templates {
            Some(templates) => {
                let raw = templates.commands.get(index).ok_or_else(missing)?;
                let dir = self.envs[id]
                    .reports
                    .as_ref()
                    .map(|(dir, _)| dir.to_string_lossy());
                crate::plan::expand(raw, &templates.posargs, dir.as_deref()).map(Cow::Owned)
            }
            None => spec
                .commands
                .get(index)
                .map(Cow::Borrowed)
                .ok_or_else(missing),
        }
    }

    fn try_spawn(&self, id: EnvId, index: usize) -> Result<Active, String> {
        let spec = &self.plan.envs[id];
        let report_dir = self.envs[id]
            .reports
            .as_ref()
            .map(|(dir, _)| dir.as_os_str());
        let command_spec = self.command_of(id, index)?;
        let command_spec = command_spec.as_ref();
        sys::check_dir(&spec.cwd)?;
        // Through the launcher, if any: its prefix, then the argv or `/bin/sh -c` and the string.
        let launched = spec.launcher.as_ref().map(|launcher| {
            let vars = Vars {
                env: &spec.name,
                run_id: &self.options.run_id,
                attempt: self.envs[id].attempt,
            };
            launcher.wrap(command_spec, vars)
        });
        let (program, argv) = program_and_argv(command_spec, launched.as_deref());
        let mut env: Vec<(&OsStr, &OsStr)> = vec![
            (OsStr::new("RUNALL_ENV"), OsStr::new(&spec.name)),
            (
                OsStr::new("RUNALL_RUN_ID"),
                OsStr::new(&self.options.run_id),
            ),
        ];
        if let Some(dir) = report_dir {
            env.push((OsStr::new(crate::testreport::REPORT_DIR_VAR), dir));
        }
        let extra = self.options.extra_env.iter().map(|(k, v)| (k, v));
        env.extend(
            extra
                .chain(&spec.set_env)
                .map(|(k, v)| (OsStr::new(k), OsStr::new(v))),
        );
        if spec.tty && !spec.attach {
            // What a terminal emulator sets; a later `set_env` may still override it. An
            // attached env is on the user's own terminal, whose TERM it keeps.
            env.insert(2, (OsStr::new("TERM"), OsStr::new("xterm-256color")));
        }
        let (pid, out_r, err_r, tty) = self.start_process(id, program, argv, env)?;
        sys::track_group(pid);
        let mut pipes = [
            out_r.map(|reader| Pipe {
                reader,
                stream: Stream::Stdout,
                armed: false,
            }),
            err_r.map(|reader| Pipe {
                reader,
                stream: Stream::Stderr,
                armed: false,
            }),
        ];
        let pipe_size = pipe_size(self.plan.jobs).filter(|_| tty.is_none());
        for (kind, pipe) in pipes.iter_mut().enumerate() {
            if let Some(p) = pipe {
                if let Some(size) = pipe_size {
                    // Best effort: the default size still works, only with more wakeups.
                    sys::set_pipe_size(&p.reader, size);
                }
                // A pipe we cannot make nonblocking or register would never be read: give up
                // on it (EOF) rather than block the pump; the child then sees EPIPE.
                let ok = sys::set_nonblocking(&p.reader).is_ok()
                    && sys::register(&self.poller, &p.reader, id * KEYS_PER_ENV + kind).is_ok();
                if ok {
                    p.armed = true;
                } else {
                    *pipe = None;
                }
            }
        }
        let pidfd = sys::pidfd(pid)
            .filter(|fd| sys::register(&self.poller, fd, id * KEYS_PER_ENV + PIDFD_KIND).is_ok());
        Ok(Active {
            command: index,
            pid,
            pidfd,
            pipes,
            exited: false,
            ladder: None,
            drain_deadline: None,
            leak_stage: LeakStage::Waiting,
            holders: Vec::new(),
            killed: Vec::new(),
            killed_until: None,
            watch: QueueWatch::default(),
            tty,
            input: Vec::new(),
            foreground: spec.attach,
            held: Vec::new(),
            held_since: None,
        })
    }

    /// Start the process: on a new pseudo-terminal for a tty env (the slave its stdin, stdout,
    /// stderr and controlling terminal), else with `/dev/null` and one or two pipes. Gives
    /// the pid, the read ends (a terminal's master is the first) and the slave's path.
    fn start_process(
        &self,
        id: EnvId,
        program: &OsStr,
        argv: Vec<&OsStr>,
        env: Vec<(&OsStr, &OsStr)>,
    ) -> Result<Started, String> {
        let spec = &self.plan.envs[id];
        Ok(if spec.tty && !spec.attach {
            let (rows, cols) = self.envs[id].tty_size;
            let pty = sys::open_pty(rows, cols)
                .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
            let dup = |fd: &OwnedFd| {
                fd.try_clone()
                    .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))
            };
            // Every copy of the slave is dropped inside or right here: the master reads EIO
            // (the end) once the child and its heirs have closed theirs.
            let pid = sys::spawn(sys::SpawnSpec {
                program,
                argv,
                env,
                cwd: &spec.cwd,
                stdout: dup(&pty.slave)?,
                stderr: dup(&pty.slave)?,
                stdin: Some(pty.slave),
                controlling_terminal: true,
                foreground: false,
            })?;
            (
                pid,
                Some(os_pipe::PipeReader::from(pty.master)),
                None,
                Some(pty.path),
            )
        } else if spec.attach {
            // runall's own terminal, handed over: nothing to read, nothing captured.
            let own = |fd: std::os::fd::BorrowedFd<'_>| {
                fd.try_clone_to_owned()
                    .map_err(|e| format!("cannot hand over the terminal: {e}"))
            };
            let pid = sys::spawn(sys::SpawnSpec {
                program,
                argv,
                env,
                cwd: &spec.cwd,
                stdout: own(std::io::stdout().as_fd())?,
                stderr: own(std::io::stderr().as_fd())?,
                stdin: Some(own(std::io::stdin().as_fd())?),
                controlling_terminal: false,
                foreground: true,
            })?;
            (pid, None, None, None)
        } else {
            let pipe_error = |e: io::Error| format!("cannot create a pipe: {e}");
            let (out_r, out_w) = os_pipe::pipe().map_err(pipe_error)?;
            let mut err_r = None;
            let stderr_w: OwnedFd = match spec.stderr {
                StderrMode::Merged => out_w.try_clone().map_err(pipe_error)?.into(),
                StderrMode::Separate => {
                    let (r, w) = os_pipe::pipe().map_err(pipe_error)?;
                    err_r = Some(r);
                    w.into()
                }
            };
            // The write ends are dropped inside: EOF must come when the child (and its heirs)
            // close theirs.
            let pid = sys::spawn(sys::SpawnSpec {
                program,
                argv,
                env,
                cwd: &spec.cwd,
                stdout: out_w.into(),
                stderr: stderr_w,
                stdin: None,
                controlling_terminal: false,
                foreground: false,
            })?;
            (pid, Some(out_r), err_r, None)
        })
    }
}

/// What to exec for `command`: the launcher's words when it is launched, else the argv, or a
/// shell string by `/bin/sh`'s POSIX path, as system(3) does (a bare "sh" would be searched
/// for through every PATH entry).
fn program_and_argv<'a>(
    command: &'a CommandSpec,
    launched: Option<&'a [String]>,
) -> (&'a OsStr, Vec<&'a OsStr>) {
    let words = |words: &'a [String]| {
        (
            words.first().map_or_else(|| OsStr::new(""), OsStr::new),
            words.iter().map(OsStr::new).collect(),
        )
    };
    match (command, launched) {
        (_, Some(launched)) => words(launched),
        (CommandSpec::Argv(argv), None) => words(argv),
        (CommandSpec::Shell(script), None) => (
            OsStr::new("/bin/sh"),
            vec![OsStr::new("sh"), OsStr::new("-c"), OsStr::new(script)],
        ),
    }
}
/// What [`Runner::start_process`] gives: the pid, the output read end (a terminal's master),
/// stderr's own pipe, and a terminal's slave path.
type Started = (
    i32,
    Option<os_pipe::PipeReader>,
    Option<os_pipe::PipeReader>,
    Option<String>,
);

/// The pipe buffer to ask for with `jobs` envs running at once (two pipes each at most), within
/// `PIPE_BUDGET`; `None` when that is no more than the kernel's default.
fn pipe_size(jobs: usize) -> Option<usize> {
    let share = PIPE_BUDGET / (2 * jobs.max(1));
    // A power of two: the kernel rounds up to one anyway, which would overshoot the budget.
    let size = PIPE_SIZE.min(1 << share.max(1).ilog2());
    (size > DEFAULT_PIPE_SIZE).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_size_stays_within_the_budget() {
        assert_eq!(pipe_size(1), Some(PIPE_SIZE));
        assert_eq!(pipe_size(8), Some(1024 * 1024));
        assert_eq!(pipe_size(12), Some(512 * 1024));
        assert_eq!(pipe_size(16), Some(512 * 1024));
        assert_eq!(pipe_size(64), Some(128 * 1024));
        assert_eq!(pipe_size(128), None);
        for jobs in 1..1000 {
            if let Some(size) = pipe_size(jobs) {
                assert!(size * 2 * jobs <= PIPE_BUDGET, "jobs {jobs}");
                assert!(size.is_power_of_two());
            }
        }
    }
}
