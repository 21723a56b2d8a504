//! The runner: owns every child process, pumps their output and drives their lifecycle.
//!
//! One thread (started by [`start`]) owns a `polling::Poller` holding every child's pipe read
//! ends and pidfds, and is the only reader. It emits [`RunEvent`]s through the log writer
//! ([`log`], which writes every output byte to the env's log file before forwarding it) over a
//! channel whose in-flight output is bounded per env (credits): when
//! a consumer falls behind, that env's pipes are simply not re-armed, so the children wait on
//! full pipes and memory stays bounded. Control messages (shutdown) arrive on a separate
//! channel plus `Poller::notify`, so they never wait behind queued output.
//!
//! Lifecycle per command: spawn (own session) → running → exit seen on the pidfd (not reaped)
//! → drain to EOF within the leak deadline (then TERM, KILL, close) → sweep the group and
//! adopted orphans → reap → next command or `EnvFinished`. The runner knows nothing about how
//! events are shown.

pub mod guardian;
use crate::log::{log_file_name, writer as log};
pub mod sys;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

use crate::event::{
    EnvResult, EnvStatus, ExitKind, LeakedProcess, RunEvent, ShutdownCause, ShutdownStep,
    StopCause, Stream, Verdict,
};
use crate::plan::{CommandSpec, EnvId, Plan, StderrMode};

/// Most bytes per `read` call, and so per log write and per `Output` event. Large, because
/// every event costs an allocation freed on another thread, a channel hop and often a wakeup:
/// 64 KiB events cost W1 (8 x 256 MiB) about 40% more CPU than 256 KiB ones. Consumers that
/// bound their queues in events (the TUI keeps up to 512) should know that this sizes them.
const READ_CHUNK: usize = 256 * 1024;
/// Most bytes read from one pipe per readiness event before yielding to the other pipes.
const FAIRNESS_BUDGET: usize = 256 * 1024;
/// Read buffer for a pipe that said it was empty: it can only hold what came in the meantime.
const SCRATCH: usize = 16 * 1024;
/// Largest pipe buffer asked for (`F_SETPIPE_SZ`; 1 MiB is also Linux's limit for unprivileged
/// users). With the default 64 KiB a flooding child blocks, and is woken, every 64 KiB; with a
/// large pipe it stays ahead of the runner and each wakeup moves a whole `READ_CHUNK`.
const PIPE_SIZE: usize = 1024 * 1024;
/// Most pipe buffer asked for across all running envs' pipes: a quarter of Linux's default
/// per-user soft limit (`fs.pipe-user-pages-soft`, 64 MiB), past which every new pipe of the
/// user, the children's own included, gets only two pages.
const PIPE_BUDGET: usize = 16 * 1024 * 1024;
/// The kernel's default pipe buffer: not worth a syscall to ask for less.
const DEFAULT_PIPE_SIZE: usize = 64 * 1024;
/// Most output bytes of one env queued for the consumer before its pipes are paused.
const CREDIT_LIMIT: usize = 1024 * 1024;
/// After a leak was signalled, how long to keep draining before the next step.
const LEAK_STEP: Duration = Duration::from_secs(1);
/// Drain deadline once a second shutdown request killed everything.
const KILL_DRAIN: Duration = Duration::from_millis(500);
/// Exit check period on kernels without pidfd.
const FALLBACK_TICK: Duration = Duration::from_millis(50);
/// Retry period for reaping processes that were just killed.
const REAP_TICK: Duration = Duration::from_millis(10);
/// How long the last sweep waits for killed strays to die before giving up on reaping them.
const FINAL_REAP_WAIT: Duration = Duration::from_secs(2);
/// Least time between two scans for exited adopted processes (each SIGCHLD asks for one):
/// bounds the scans to 200 a second under a storm of exits, and the zombies waiting to the
/// exits of 5 ms.
const CHILD_SCAN_GAP: Duration = Duration::from_millis(5);

/// Poller keys: three per env slot (pipe 0, pipe 1, pidfd); after the last env's, the
/// SIGCHLD pipe.
const KEYS_PER_ENV: usize = 3;
const PIDFD_KIND: usize = 2;

/// Messages to the runner thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Start (or escalate) the shutdown ladder.
    Shutdown(ShutdownCause),
    /// Interrupt one env with the same ladder (INT, TERM, KILL); the run goes on.
    StopEnv(EnvId),
    /// Run a finished env again (new attempt, new log).
    Rerun(EnvId),
    /// With `keep_alive`: finish once nothing runs (start nothing new).
    Quit,
    /// As `Quit`, and interrupt every running env with the `StopEnv` ladder: the TUI user
    /// chose to quit. Not a shutdown: the run ends with its results (exit 1), not by a signal.
    InterruptAndQuit,
}

/// Options that are not part of the plan.
#[derive(Debug, Clone, Default)]
pub struct RunnerOptions {
    /// Unique per run; set as `RUNALL_RUN_ID` in every child.
    pub run_id: String,
    /// Stop everything at the first failing env.
    pub fail_fast: bool,
    /// Extra environment for every child (e.g. `FORCE_COLOR`), before the env's `set_env`.
    pub extra_env: Vec<(String, String)>,
    /// Order in which ready envs are started (e.g. longest first); empty means file order.
    pub start_order: Vec<EnvId>,
    /// Keep running after every env finished, for reruns, until `Control::Quit` (the TUI).
    pub keep_alive: bool,
}

/// Sends control messages to the runner and wakes it. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    tx: Sender<Control>,
    poller: Arc<Poller>,
}

impl Handle {
    /// Send a control message; ignored once the runner has finished.
    pub fn send(&self, control: Control) {
        // A closed channel means the runner already finished: nothing left to control.
        let _ = self.tx.send(control);
        let _ = self.poller.notify();
    }
}

/// Per-env count of output bytes sent but not yet received by the consumer.
struct Credits {
    outstanding: Vec<AtomicUsize>,
    poller: Arc<Poller>,
}

impl Credits {
    fn take(&self, env: EnvId, n: usize) {
        if let Some(c) = self.outstanding.get(env) {
            c.fetch_add(n, Ordering::AcqRel);
        }
    }

    fn release(&self, env: EnvId, n: usize) {
        if let Some(c) = self.outstanding.get(env) {
            let before = c.fetch_sub(n, Ordering::AcqRel);
            if before >= CREDIT_LIMIT && before - n < CREDIT_LIMIT {
                // The runner may be waiting with this env's pipes paused.
                let _ = self.poller.notify();
            }
        }
    }

    fn available(&self, env: EnvId) -> bool {
        self.outstanding
            .get(env)
            .is_none_or(|c| c.load(Ordering::Acquire) < CREDIT_LIMIT)
    }
}

/// Gives output credit back: a consumer calls it for every event it takes off its queue.
/// Receiving an `Output` event is what lets the runner read that env's pipes again. Cheap to
/// clone.
#[derive(Clone)]
pub struct CreditReturn {
    credits: Arc<Credits>,
}

impl CreditReturn {
    /// `event` was taken by the consumer: if it is output, its bytes no longer count against
    /// its env's credit.
    pub fn received(&self, event: &RunEvent) {
        if let RunEvent::Output { env, bytes, .. } = event {
            self.credits.release(*env, bytes.len());
        }
    }
}

/// The consumer's end of the event stream, as [`start`] makes it: a queue that returns each
/// `Output` event's credit as it is received.
pub struct EventStream {
    rx: Receiver<RunEvent>,
    credits: CreditReturn,
}

impl EventStream {
    fn released(&self, event: RunEvent) -> RunEvent {
        self.credits.received(&event);
        event
    }

    /// Wait up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<RunEvent, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(|e| self.released(e))
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Result<RunEvent, TryRecvError> {
        self.rx.try_recv().map(|e| self.released(e))
    }
}

/// Start the runner thread for `plan`, its events delivered to an unbounded [`EventStream`]
/// (bounded in practice by the output credits). Creates the log folder first, so an unusable
/// log folder is reported before anything is spawned.
pub fn start(
    plan: Plan,
    options: RunnerOptions,
) -> io::Result<(Handle, EventStream, JoinHandle<()>)> {
    let (event_tx, event_rx) = mpsc::channel();
    let (handle, credits, thread) = start_with(plan, options, move |event| {
        // A consumer that hung up is not a reason to stop: the logs are still written.
        let _ = event_tx.send(event);
    })?;
    Ok((
        handle,
        EventStream {
            rx: event_rx,
            credits,
        },
        thread,
    ))
}

/// Start the runner thread for `plan`, every event handed to `sink` in order by the log
/// writer, right after its output is in the env's log. `sink` may block (a bounded queue):
/// that holds up the logs and, through the credits, the pipes, never the runner's signals,
/// deadlines or reaping. The consumer must give each event's credit back with the returned
/// [`CreditReturn`] once it takes the event, or the runner stops reading that env's pipes,
/// and it must keep taking events until `RunFinished` (the last one) before it joins the
/// runner thread, which ends only after the log writer handed over everything.
/// Creates the log folder first, so an unusable log folder is reported before anything is
/// spawned.
pub fn start_with(
    plan: Plan,
    options: RunnerOptions,
    sink: impl FnMut(RunEvent) + Send + 'static,
) -> io::Result<(Handle, CreditReturn, JoinHandle<()>)> {
    fs::create_dir_all(&plan.log_dir)?;
    sys::tune_allocator();
    let poller = Arc::new(Poller::new()?);
    let (control_tx, control_rx) = mpsc::channel();
    let (log_tx, log_rx) = mpsc::channel();
    let credits = Arc::new(Credits {
        outstanding: plan.envs.iter().map(|_| AtomicUsize::new(0)).collect(),
        poller: Arc::clone(&poller),
    });
    // Failure (an old kernel) only weakens leak detection and the reaping of orphans.
    let _ = sys::become_subreaper();
    // Before the first env, so that it knows every group of the run.
    let guardian = guardian::Guardian::start(&options.run_id);
    let child_signal = ChildSignal::install(&poller, plan.envs.len() * KEYS_PER_ENV);
    let envs = plan
        .envs
        .iter()
        .map(|spec| EnvRun {
            phase: Phase::Pending,
            attempt: 0,
            runs: 0,
            started: None,
            log_path: plan.log_dir.join(log_file_name(&spec.name, 1)),
            stopped_by: None,
            leaked: Vec::new(),
            timeout_at: None,
        })
        .collect();
    let envs_count = plan.envs.len();
    let logger = std::thread::Builder::new()
        .name("runall-logs".into())
        .spawn(move || log::run(&log_rx, sink, envs_count))?;
    let runner = Runner {
        plan,
        options,
        poller: Arc::clone(&poller),
        control: control_rx,
        tx: log_tx,
        credits: Arc::clone(&credits),
        envs,
        shutdown: None,
        quitting: false,
        buf: vec![0; SCRATCH],
        reap_later: Vec::new(),
        guardian,
        child_signal,
        child_scan: None,
        last_child_scan: None,
        adopted: HashMap::new(),
    };
    let thread = std::thread::Builder::new()
        .name("runall-runner".into())
        .spawn(move || {
            runner.run();
            // The runner (and its sender) is gone: the log writer forwards what is queued and
            // ends. Joining the runner (which the front ends do) thus means every event is out.
            // A panic of the log writer becomes the runner thread's, which the front ends
            // handle (kill every group, report it) instead of waiting for a `RunFinished`.
            if let Err(panic) = logger.join() {
                std::panic::resume_unwind(panic);
            }
        })?;
    Ok((
        Handle {
            tx: control_tx,
            poller,
        },
        CreditReturn { credits },
        thread,
    ))
}

/// Where an env is in its life.
enum Phase {
    Pending,
    Running(Box<Active>),
    Finished(Verdict),
}

/// Runner bookkeeping for one env.
struct EnvRun {
    phase: Phase,
    /// Tries of the current request: 1 for the first run or a rerun the user asked for, then
    /// one more per retry under `retries` (only retries make a pass flaky).
    attempt: u32,
    /// Starts so far, retries and reruns alike: numbers the logs, so none is overwritten.
    runs: u32,
    started: Option<Instant>,
    log_path: PathBuf,
    stopped_by: Option<StopCause>,
    leaked: Vec<LeakedProcess>,
    timeout_at: Option<Instant>,
}

/// A pipe read end being pumped.
struct Pipe {
    reader: os_pipe::PipeReader,
    stream: Stream,
    /// Registered interest is pending (oneshot mode disarms after each event).
    armed: bool,
}

/// How far the handling of a leaked pipe holder has gone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeakStage {
    /// Waiting for EOF within the leak deadline.
    Waiting,
    /// Sent SIGTERM to the group and the holders.
    Terminated,
    /// Sent SIGKILL; next deadline closes the pipes.
    Killed,
}

/// The running command of an env.
struct Active {
    command: usize,
    pid: i32,
    pidfd: Option<OwnedFd>,
    pipes: [Option<Pipe>; 2],
    /// The main process exited (seen, not reaped).
    exited: bool,
    /// Next escalation of the signal ladder: (signal, when).
    ladder: Option<(i32, Instant)>,
    /// Absolute drain deadline after exit; data arriving does not move it.
    drain_deadline: Option<Instant>,
    leak_stage: LeakStage,
    /// Pids found holding the pipe after the leak deadline.
    holders: Vec<i32>,
}

struct ShutdownState {
    cause: ShutdownCause,
    count: u32,
}

struct Runner {
    plan: Plan,
    options: RunnerOptions,
    poller: Arc<Poller>,
    control: Receiver<Control>,
    /// To the log writer, which writes output to the logs and forwards every event.
    tx: Sender<log::ToLog>,
    credits: Arc<Credits>,
    envs: Vec<EnvRun>,
    shutdown: Option<ShutdownState>,
    /// `Control::Quit` arrived (only matters with `keep_alive`).
    quitting: bool,
    buf: Vec<u8>,
    /// Strays that were killed and still need reaping.
    reap_later: Vec<i32>,
    /// The process that kills what is left of the run once runall is gone (`None` if it
    /// could not be started).
    guardian: Option<guardian::Guardian>,
    /// SIGCHLD, as a readable pipe in the poller: some child (often an adopted orphan)
    /// exited.
    child_signal: Option<ChildSignal>,
    /// When to scan for exited adopted processes next (a SIGCHLD came).
    child_scan: Option<Instant>,
    last_child_scan: Option<Instant>,
    /// Adopted processes seen alive (told to the guardian), by pid, with their start time.
    adopted: HashMap<i32, u64>,
}

/// signal-hook's self-pipe for SIGCHLD, registered in the runner's poller.
struct ChildSignal {
    reader: UnixStream,
    id: signal_hook::SigId,
    key: usize,
}

impl ChildSignal {
    /// `None` when it cannot be set up: adopted processes are then reaped when their env
    /// ends, as before.
    fn install(poller: &Poller, key: usize) -> Option<Self> {
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
    fn drain(&self) {
        let mut bytes = [0u8; 1024];
        while matches!((&self.reader).read(&mut bytes), Ok(n) if n == bytes.len()) {}
    }

    fn uninstall(self, poller: &Poller) {
        signal_hook::low_level::unregister(self.id);
        sys::deregister(poller, &self.reader);
    }
}

impl Runner {
    fn run(mut self) {
        let mut events = Events::new();
        loop {
            let now = Instant::now();
            self.reap_strays();
            self.drain_control(now);
            self.on_timers(now);
            self.resume_paused();
            self.finish_exited(now);
            // After `finish_exited`: the main processes whose exit caused the SIGCHLD are
            // reaped by now, so the scan usually finds no zombie at all.
            if self.child_scan.is_some_and(|at| at <= now) {
                self.reap_adopted(now);
            }
            self.schedule(now);
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

    fn emit(&self, event: RunEvent) {
        // The consumer hung up (its thread ended early): keep running so every child is still
        // drained and reaped; there is just nobody to tell.
        let _ = self.tx.send(log::ToLog::Event(event));
    }

    fn all_finished(&self) -> bool {
        self.envs
            .iter()
            .all(|e| matches!(e.phase, Phase::Finished(_)))
            && self.reap_later.is_empty()
    }

    fn running_count(&self) -> usize {
        self.envs
            .iter()
            .filter(|e| matches!(e.phase, Phase::Running(_)))
            .count()
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
                        && matches!(env.phase, Phase::Finished(_))
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
            }
        }
    }

    /// Interrupt one running env with the ladder, as a first Ctrl-C would.
    fn stop_env(&mut self, id: EnvId, now: Instant) {
        let interrupt = self.plan.timeouts.interrupt;
        let Some(env) = self.envs.get_mut(id) else {
            return;
        };
        let Phase::Running(active) = &mut env.phase else {
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
        self.signal_env(id, pid, libc::SIGINT);
    }

    /// First request: SIGINT (or the signal runall got) to every group, then the ladder.
    /// Second: SIGKILL everything now with a short drain. Later ones are the signal thread's.
    fn begin_shutdown(&mut self, cause: ShutdownCause, now: Instant) {
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
            ShutdownCause::Signal(sig) => crate::face::signals::forwarded_signal(sig),
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
            let Phase::Running(active) = &mut env.phase else {
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
            self.signal_env(id, pid, signal);
        }
    }

    fn kill_everything_now(&mut self, now: Instant) {
        for id in 0..self.envs.len() {
            let env = &mut self.envs[id];
            let Phase::Running(active) = &mut env.phase else {
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
            self.signal_env(id, pid, libc::SIGKILL);
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

    fn on_timers(&mut self, now: Instant) {
        let terminate = self.plan.timeouts.terminate;
        for id in 0..self.envs.len() {
            let Phase::Running(active) = &mut self.envs[id].phase else {
                continue;
            };
            if !active.exited && active.pidfd.is_none() && sys::has_exited(active.pid) {
                self.on_exit_seen(id, now);
            }
            let env = &mut self.envs[id];
            let Phase::Running(active) = &mut env.phase else {
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
                self.signal_env(id, pid, libc::SIGTERM);
                continue;
            }
            // The signal ladder.
            if let Some((signal, at)) = active.ladder
                && at <= now
                && !active.exited
            {
                active.ladder =
                    (signal == libc::SIGTERM).then_some((libc::SIGKILL, now + terminate));
                self.signal_env(id, pid, signal);
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
        let Phase::Running(active) = &mut self.envs[id].phase else {
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

    fn record_leaks(&mut self, id: EnvId, pids: &[i32]) {
        let leaked = &mut self.envs[id].leaked;
        for &pid in pids {
            if leaked.iter().any(|l| l.pid == pid) {
                continue;
            }
            let command = sys::proc_info(pid).map(|i| i.command).unwrap_or_default();
            leaked.push(LeakedProcess { pid, command });
        }
    }

    /// Re-arm pipes that were paused for backpressure once their env has credit again.
    fn resume_paused(&mut self) {
        for id in 0..self.envs.len() {
            let Phase::Running(active) = &mut self.envs[id].phase else {
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

    fn on_ready(&mut self, key: usize, now: Instant) {
        if let Some(signal) = self.child_signal.as_ref().filter(|s| s.key == key) {
            signal.drain();
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

    fn on_exit_seen(&mut self, id: EnvId, now: Instant) {
        let kill_drain = self.shutdown.as_ref().is_some_and(|s| s.count >= 2);
        let leak = self.plan.timeouts.leak;
        let Phase::Running(active) = &mut self.envs[id].phase else {
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

    /// Read one pipe until it is empty, at EOF, or the fairness budget or the env's credit
    /// runs out, then re-arm it. Each read is logged and sent as one event.
    fn read_pipe(&mut self, id: EnvId, kind: usize) {
        let env = &mut self.envs[id];
        let Phase::Running(active) = &mut env.phase else {
            return;
        };
        let Some(pipe) = active.pipes[kind].as_mut() else {
            return;
        };
        pipe.armed = false;
        let mut eof = false;
        let mut total = 0;
        while total < FAIRNESS_BUDGET && self.credits.available(id) {
            let bytes = match read_chunk(&pipe.reader, &mut self.buf) {
                Chunk::Data(bytes) => bytes,
                Chunk::Empty => break,
                Chunk::Eof => {
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
            if n < READ_CHUNK {
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

    /// Envs whose main process exited and whose pipes are all closed: sweep, reap, go on.
    fn finish_exited(&mut self, now: Instant) {
        for id in 0..self.envs.len() {
            let done = matches!(&self.envs[id].phase,
                Phase::Running(a) if a.exited && a.pipes.iter().all(Option::is_none));
            if done {
                self.complete_command(id, now);
            }
        }
    }

    fn complete_command(&mut self, id: EnvId, now: Instant) {
        if let Phase::Running(active) = &self.envs[id].phase {
            let pgid = active.pid;
            self.sweep_strays(id, pgid);
        }
        let phase = std::mem::replace(&mut self.envs[id].phase, Phase::Pending);
        let Phase::Running(active) = phase else {
            self.envs[id].phase = phase;
            return;
        };
        // The leader is still an unreaped zombie, so its pgid cannot have been recycled: kill
        // whatever stayed in the group, then reap.
        sys::signal_group(active.pid, libc::SIGKILL);
        sys::untrack_group(active.pid);
        if let Some(g) = &mut self.guardian {
            g.send(&guardian::Message::Forget(active.pid));
        }
        let status = sys::reap(active.pid);
        let exit = exit_kind(status);
        let env = &mut self.envs[id];
        let next = active.command + 1;
        if exit == ExitKind::Code(0)
            && env.stopped_by.is_none()
            && self.shutdown.is_none()
            && next < self.plan.envs[id].commands.len()
        {
            self.spawn_command(id, next, now);
            return;
        }
        let status = if exit == ExitKind::Code(0) {
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
    fn sweep_strays(&mut self, id: EnvId, pgid: i32) {
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
                // An orphan that already exited: just reap it.
                self.reap_later.push(pid);
                continue;
            }
            let ours = info.pgid == pgid
                || (sys::proc_env(pid, "RUNALL_RUN_ID").as_deref()
                    == Some(self.options.run_id.as_str())
                    && sys::proc_env(pid, "RUNALL_ENV").as_deref() == Some(name.as_str()));
            if ours {
                sys::signal_pid(pid, libc::SIGKILL);
                self.reap_later.push(pid);
                found.push(pid);
            }
        }
        self.record_leaks(id, &found);
    }

    /// runall's children that no sweep may kill or reap early: the running commands' main
    /// processes, and the guardian.
    fn known_pids(&self) -> HashSet<i32> {
        self.envs
            .iter()
            .filter_map(|e| match &e.phase {
                Phase::Running(a) => Some(a.pid),
                _ => None,
            })
            .chain(self.guardian.as_ref().map(guardian::Guardian::pid))
            .collect()
    }

    /// A SIGCHLD came: reap the adopted orphans that exited (never a running command's main
    /// process, which is reaped only after its group is dealt with, nor the guardian), and
    /// tell the guardian about adopted ones still alive. Runs at most once per
    /// `CHILD_SCAN_GAP`. Usually the exit was a command's main process, already reaped by
    /// now: then one `waitid(WNOWAIT)` finds no zombie and that is all. Otherwise it costs one
    /// read of the main thread's children (where adopted orphans go; the spawned commands are
    /// the runner thread's) plus one stat read per adopted process.
    fn reap_adopted(&mut self, now: Instant) {
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
                if sys::try_reap(pid) {
                    self.reap_later.retain(|&p| p != pid);
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

    fn finish_env(&mut self, id: EnvId, status: EnvStatus, now: Instant) {
        let spec = &self.plan.envs[id];
        let env = &mut self.envs[id];
        let _ = self.tx.send(log::ToLog::Close { env: id });
        let result = EnvResult {
            status,
            stopped_by: env.stopped_by,
            duration: env.started.map_or(Duration::ZERO, |s| now - s),
            leaked: std::mem::take(&mut env.leaked),
            on_leak: spec.on_leak,
            log_path: env.log_path.clone(),
            attempt: env.attempt.max(1),
            // Filled in by the log writer, which knows whether the log kept everything.
            log_incomplete: None,
        };
        let verdict = result.verdict();
        let ran = env.attempt > 0;
        if verdict == Verdict::Failed
            && ran
            && env.attempt <= spec.retries
            && self.shutdown.is_none()
            && !self.quitting
        {
            env.reset();
            self.emit(RunEvent::EnvRetrying { env: id, result });
            return;
        }
        env.phase = Phase::Finished(verdict);
        self.emit(RunEvent::EnvFinished { env: id, result });
        if verdict == Verdict::Failed && self.options.fail_fast && self.shutdown.is_none() {
            self.begin_shutdown(ShutdownCause::FailFast(id), now);
        }
    }

    /// Start ready envs (deps passed) up to `jobs`; skip envs whose deps did not pass; mark
    /// everything pending as not run once shutting down.
    ///
    /// Runs every loop turn, so it stays O(envs): the running count is kept as it goes, not
    /// recounted per pending env (that was O(envs²) per turn with hundreds of envs).
    fn schedule(&mut self, now: Instant) {
        let count = if self.options.start_order.is_empty() {
            self.envs.len()
        } else {
            self.options.start_order.len()
        };
        let mut running = self.running_count();
        loop {
            let mut changed = false;
            for i in 0..count {
                let id = self.options.start_order.get(i).copied().unwrap_or(i);
                if !matches!(self.envs[id].phase, Phase::Pending) {
                    continue;
                }
                if self.shutdown.is_some() || self.quitting {
                    self.finish_env(id, EnvStatus::NotRun, now);
                    changed = true;
                    continue;
                }
                let mut ready = true;
                let mut failed_dep = None;
                for &dep in &self.plan.envs[id].depends {
                    match self.envs[dep].phase {
                        Phase::Finished(Verdict::Passed) => {}
                        Phase::Finished(_) => failed_dep = Some(dep),
                        _ => ready = false,
                    }
                }
                if let Some(dep) = failed_dep {
                    let dependency = self.plan.envs[dep].name.clone();
                    self.finish_env(id, EnvStatus::Skipped { dependency }, now);
                    changed = true;
                } else if ready && running < self.plan.jobs {
                    self.start_env(id, now);
                    if matches!(self.envs[id].phase, Phase::Running(_)) {
                        running += 1;
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn start_env(&mut self, id: EnvId, now: Instant) {
        let env = &mut self.envs[id];
        env.attempt += 1;
        env.runs += 1;
        env.started = Some(now);
        env.timeout_at = self.plan.envs[id].timeout.map(|t| now + t);
        env.log_path = self
            .plan
            .log_dir
            .join(log_file_name(&self.plan.envs[id].name, env.runs));
        let attempt = env.attempt;
        self.emit(RunEvent::EnvStarted { env: id, attempt });
        // A log that cannot be created does not stop the env: the log writer says so at once
        // and keeps its output in memory, and the env's result says the log is incomplete.
        let file = File::create(&self.envs[id].log_path);
        let _ = self.tx.send(log::ToLog::Open {
            env: id,
            path: self.envs[id].log_path.clone(),
            file,
        });
        self.spawn_command(id, 0, now);
    }

    fn spawn_command(&mut self, id: EnvId, index: usize, now: Instant) {
        match self.try_spawn(id, index) {
            Ok(active) => {
                let pid = active.pid;
                if let Some(g) = &mut self.guardian {
                    g.send(&guardian::Message::Group(pid));
                }
                self.envs[id].phase = Phase::Running(Box::new(active));
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

    fn try_spawn(&self, id: EnvId, index: usize) -> Result<Active, String> {
        let spec = &self.plan.envs[id];
        let command_spec = spec
            .commands
            .get(index)
            .ok_or_else(|| format!("no command {index}"))?;
        sys::check_dir(&spec.cwd)?;
        // A shell command by its POSIX path, as system(3) does: a bare "sh" would be searched
        // for through every PATH entry.
        let (program, argv): (&OsStr, Vec<&OsStr>) = match command_spec {
            CommandSpec::Shell(script) => (
                OsStr::new("/bin/sh"),
                vec![OsStr::new("sh"), OsStr::new("-c"), OsStr::new(script)],
            ),
            CommandSpec::Argv(argv) => (
                argv.first().map_or_else(|| OsStr::new(""), OsStr::new),
                argv.iter().map(OsStr::new).collect(),
            ),
        };
        let mut env: Vec<(&OsStr, &OsStr)> = vec![
            (OsStr::new("RUNALL_ENV"), OsStr::new(&spec.name)),
            (
                OsStr::new("RUNALL_RUN_ID"),
                OsStr::new(&self.options.run_id),
            ),
        ];
        let extra = self.options.extra_env.iter().map(|(k, v)| (k, v));
        env.extend(
            extra
                .chain(&spec.set_env)
                .map(|(k, v)| (OsStr::new(k), OsStr::new(v))),
        );
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
        })?;
        sys::track_group(pid);
        let mut pipes = [
            Some(Pipe {
                reader: out_r,
                stream: Stream::Stdout,
                armed: false,
            }),
            err_r.map(|reader| Pipe {
                reader,
                stream: Stream::Stderr,
                armed: false,
            }),
        ];
        let pipe_size = pipe_size(self.plan.jobs);
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
        })
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
        for env in &self.envs {
            let Phase::Running(active) = &env.phase else {
                continue;
            };
            if active.exited {
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

    /// Reap strays as they die (called every loop turn while any are pending).
    fn reap_strays(&mut self) {
        self.reap_later.retain(|&pid| !sys::try_reap(pid));
    }

    /// After the last env: kill and reap any adopted orphan still around, with a bound.
    ///
    /// Repeated while new ones come (a killed orphan's own children are re-parented to
    /// runall in turn), until runall has no child but the guardian.
    fn final_sweep(&mut self) {
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

impl EnvRun {
    /// Back to pending for another attempt (a retry or a rerun).
    fn reset(&mut self) {
        self.phase = Phase::Pending;
        self.stopped_by = None;
        self.leaked.clear();
        self.timeout_at = None;
    }
}

/// What one read of a pipe gave.
enum Chunk {
    /// Bytes, in a buffer of their own, exactly sized.
    Data(Vec<u8>),
    /// Nothing there (EAGAIN or a spurious wakeup).
    Empty,
    /// End of file, or an error that ends the pipe.
    Eof,
}

/// Reads what a nonblocking pipe holds, up to `READ_CHUNK`. The pipe says how much it holds
/// (`FIONREAD`), so one `read` puts the bytes straight into the spare capacity of an exactly
/// sized `Vec` that becomes the event: no copy out of a scratch buffer, no zeroing, and no slack
/// capacity held while the event is queued. Only runall reads the pipe, so what it holds stays
/// there until read. An empty pipe is read into `scratch`, to tell EOF from EAGAIN (or from
/// bytes that came just now).
fn read_chunk(reader: &os_pipe::PipeReader, scratch: &mut [u8]) -> Chunk {
    let held = rustix::io::ioctl_fionread(reader).map_or(0, |n| n as usize);
    if held > 0 {
        let mut bytes = Vec::with_capacity(held.min(READ_CHUNK));
        loop {
            return match rustix::io::read(reader, rustix::buffer::spare_capacity(&mut bytes)) {
                Ok(0) => Chunk::Eof,
                Ok(_) => Chunk::Data(bytes),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => Chunk::Empty,
                Err(_) => Chunk::Eof,
            };
        }
    }
    loop {
        return match (&*reader).read(scratch) {
            Ok(0) => Chunk::Eof,
            Ok(n) => Chunk::Data(scratch[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Chunk::Empty,
            Err(_) => Chunk::Eof,
        };
    }
}

/// The pipe buffer to ask for with `jobs` envs running at once (two pipes each at most), within
/// `PIPE_BUDGET`; `None` when that is no more than the kernel's default.
fn pipe_size(jobs: usize) -> Option<usize> {
    let share = PIPE_BUDGET / (2 * jobs.max(1));
    // A power of two: the kernel rounds up to one anyway, which would overshoot the budget.
    let size = PIPE_SIZE.min(1 << share.max(1).ilog2());
    (size > DEFAULT_PIPE_SIZE).then_some(size)
}

/// Pids holding any of the active command's pipes, other than runall.
fn pipe_holders(active: &Active) -> Vec<i32> {
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
