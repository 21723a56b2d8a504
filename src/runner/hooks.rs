//! Launcher hooks (`interrupt`, `terminate`, `kill`, `cancel` of a [`crate::launcher`]): the
//! commands that carry a ladder step to the remote side. Each runs on a thread of its own, so
//! the event loop never waits for one: stdin `/dev/null`, stdout and stderr into one pipe (kept
//! up to [`OUTPUT_LIMIT`]), at most [`HOOK_TIMEOUT`] before it is killed. The result comes back
//! through a channel and `Poller::notify`; the runner reports it as a shutdown step.
//!
//! Hooks are runall's direct children, so the runner's sweeps must neither kill nor reap them:
//! their pids are in [`Hooks::pids`] from before `spawn` returns (the registry's lock is held
//! across it) until they are reaped here.

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use polling::Poller;

use crate::launcher::Step;
use crate::plan::EnvId;

/// Most time a hook may take; then it is killed (`SIGKILL`).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of a hook's output kept for the report.
const OUTPUT_LIMIT: usize = 4096;
/// How often a hook's thread looks whether it exited.
const POLL: Duration = Duration::from_millis(5);

/// What became of one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookDone {
    /// The env it was for.
    pub env: EnvId,
    /// The ladder step.
    pub step: Step,
    /// Its argv.
    pub argv: Vec<String>,
    /// `None` when it exited 0; else "exit 1", "killed by SIGKILL", "timed out after 10s",
    /// "cannot start: …".
    pub failure: Option<String>,
    /// What it printed (stdout and stderr, interleaved), cut at [`OUTPUT_LIMIT`].
    pub output: Vec<u8>,
}

/// The hooks of a run: start them, collect their results, wait for the last ones.
pub struct Hooks {
    done_tx: Sender<HookDone>,
    done_rx: Receiver<HookDone>,
    poller: Arc<Poller>,
    /// Pids of hooks that have not been reaped yet.
    pids: Arc<Mutex<HashSet<i32>>>,
    /// Hooks started and not yet collected.
    running: usize,
}

impl Hooks {
    pub fn new(poller: Arc<Poller>) -> Self {
        let (done_tx, done_rx) = mpsc::channel();
        Self {
            done_tx,
            done_rx,
            poller,
            pids: Arc::new(Mutex::new(HashSet::new())),
            running: 0,
        }
    }

    /// Start `argv` for `env`'s `step` on a thread of its own, with runall's environment plus
    /// `vars` (the env's `set_env`: a cluster's config such as `SLURM_CONF` reaches the
    /// hooks as it reaches the launcher); its result comes from [`Hooks::collect`].
    pub fn start(
        &mut self,
        env: EnvId,
        step: Step,
        argv: Vec<String>,
        vars: Vec<(String, String)>,
    ) {
        let tx = self.done_tx.clone();
        let poller = Arc::clone(&self.poller);
        let pids = Arc::clone(&self.pids);
        self.running += 1;
        let thread_argv = argv.clone();
        let spawned = std::thread::Builder::new()
            .name("runall-hook".into())
            .spawn(move || {
                let (failure, output) = run(&thread_argv, &vars, &pids);
                // The runner may be gone (a panic): nobody is left to tell.
                let _ = tx.send(HookDone {
                    env,
                    step,
                    argv: thread_argv,
                    failure,
                    output,
                });
                let _ = poller.notify();
            });
        if let Err(error) = spawned {
            let _ = self.done_tx.send(HookDone {
                env,
                step,
                argv,
                failure: Some(format!("cannot start a thread for it: {error}")),
                output: Vec::new(),
            });
        }
    }

    /// The hooks that finished since the last call.
    pub fn collect(&mut self) -> Vec<HookDone> {
        let done: Vec<HookDone> = self.done_rx.try_iter().collect();
        self.running -= done.len().min(self.running);
        done
    }

    /// Whether a hook is still running.
    #[cfg(test)]
    pub fn busy(&self) -> bool {
        self.running > 0
    }

    /// Wait for the running hooks (each is bounded by [`HOOK_TIMEOUT`]), at most `limit`;
    /// returns the ones that finished.
    pub fn wait(&mut self, limit: Duration) -> Vec<HookDone> {
        let deadline = Instant::now() + limit;
        let mut done = Vec::new();
        while self.running > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done_rx.recv_timeout(left) {
                Ok(hook) => {
                    self.running -= 1;
                    done.push(hook);
                }
                Err(_) => break,
            }
        }
        done
    }

    /// Pids of hooks not yet reaped: the sweeps leave them alone.
    pub fn pids(&self) -> HashSet<i32> {
        self.pids.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Run one hook to its end (or [`HOOK_TIMEOUT`]); `(failure, output)`.
fn run(
    argv: &[String],
    vars: &[(String, String)],
    pids: &Mutex<HashSet<i32>>,
) -> (Option<String>, Vec<u8>) {
    let Some((program, rest)) = argv.split_first() else {
        return (Some("empty command".to_owned()), Vec::new());
    };
    let (reader, writer) = match os_pipe::pipe() {
        Ok(pair) => pair,
        Err(error) => return (Some(format!("cannot create a pipe: {error}")), Vec::new()),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(error) => return (Some(format!("cannot create a pipe: {error}")), Vec::new()),
    };
    let mut command = Command::new(program);
    command
        .args(rest)
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2);
    let child = {
        // Held across `spawn`, so no sweep sees the pid before it is registered.
        let mut registry = pids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let child = command.spawn();
        if let Ok(child) = &child {
            registry.insert(child.id() as i32);
        }
        child
    };
    // The parent's copies of the write end are gone with `command`.
    drop(command);
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return (Some(format!("cannot start {program}: {error}")), Vec::new()),
    };
    let pid = child.id() as i32;
    let reading = std::thread::Builder::new()
        .name("runall-hook-out".into())
        .spawn(move || {
            let mut kept = Vec::new();
            let mut reader = reader;
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            kept
        });
    let deadline = Instant::now() + HOOK_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!(
                    "timed out after {}s (killed)",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(error) => break Err(format!("cannot wait for it: {error}")),
        }
    };
    if let Ok(mut registry) = pids.lock() {
        registry.remove(&pid);
    }
    // A grandchild the hook left behind may hold the pipe: the output is then what came so
    // far, read until EOF by a thread that ends with that grandchild.
    let output = if reading
        .as_ref()
        .is_ok_and(std::thread::JoinHandle::is_finished)
    {
        reading.ok().and_then(|r| r.join().ok()).unwrap_or_default()
    } else {
        let wait_until = Instant::now() + Duration::from_millis(200);
        while reading.as_ref().is_ok_and(|r| !r.is_finished()) && Instant::now() < wait_until {
            std::thread::sleep(POLL);
        }
        match reading {
            Ok(r) if r.is_finished() => r.join().unwrap_or_default(),
            _ => Vec::new(),
        }
    };
    let failure = match status {
        Ok(status) if status.success() => None,
        Ok(status) => Some(describe(status)),
        Err(why) => Some(why),
    };
    (failure, output)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by {}", crate::event::signal_name(signal)),
        (None, None) => "ended".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_reports_its_exit_and_output_without_blocking_the_caller() {
        let poller = Arc::new(Poller::new().expect("poller"));
        let mut hooks = Hooks::new(poller);
        let sh = |script: &str| vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()];
        let var = vec![("HOOK_VAR".to_owned(), "err".to_owned())];
        hooks.start(
            0,
            Step::Terminate,
            sh("echo out; echo $HOOK_VAR >&2; exit 3"),
            var,
        );
        hooks.start(1, Step::Cancel, sh("true"), Vec::new());
        hooks.start(
            2,
            Step::Kill,
            vec!["/nonexistent/scancel".to_owned()],
            Vec::new(),
        );
        assert!(hooks.busy());
        let mut done = hooks.wait(Duration::from_secs(30));
        assert!(!hooks.busy());
        done.sort_by_key(|d| d.env);
        assert_eq!(done.len(), 3);
        assert_eq!(done[0].failure.as_deref(), Some("exit 3"));
        assert_eq!(done[0].output, b"out\nerr\n");
        assert_eq!(done[0].step, Step::Terminate);
        assert_eq!(
            (done[1].failure.as_deref(), done[1].output.len()),
            (None, 0)
        );
        let cannot = done[2].failure.as_deref().unwrap_or_default();
        assert!(
            cannot.starts_with("cannot start /nonexistent/scancel: "),
            "{cannot}"
        );
        assert!(hooks.pids().is_empty(), "every hook reaped");
    }
}
