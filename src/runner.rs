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
//!
//! This file is the public API ([`start`], [`start_with`], [`Handle`], [`Control`],
//! [`EventStream`], the output credits, [`RunnerOptions`]) and the runner's bookkeeping types.
//! The runner itself is split by role, each role an `impl Runner` block of its own:
//! `event_loop` (the thread's loop and the control messages), `schedule` (which env starts
//! next, an env's end), `spawn` (starting a command), `pump` (reading the pipes), `ladder`
//! (signals, timeouts, leaks), `reap` (exit, sweeps, reaping); [`guardian`] is the process
//! that outlives runall, and [`sys`] the OS layer, where every syscall is.

mod event_loop;
pub mod fatal;
pub mod guardian;
mod hooks;
mod ladder;
pub mod memory;
mod pump;
mod reap;
mod schedule;
mod spawn;
pub mod sys;
mod tty;
mod usage;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use polling::Poller;

use crate::event::{LeakedProcess, Resources, RunEvent, ShutdownCause, StopCause, Stream, Verdict};
use crate::log::{log_file_name, writer as log};
use crate::plan::{EnvId, Plan};
use crate::testreport;
use reap::ChildSignal;

/// Most output bytes of one env queued for the consumer before its pipes are paused.
const CREDIT_LIMIT: usize = 1024 * 1024;
/// Drain deadline once a second shutdown request killed everything.
const KILL_DRAIN: Duration = Duration::from_millis(500);
/// Poller keys: three per env slot (pipe 0, pipe 1, pidfd); after the last env's, the
/// SIGCHLD pipe.
const KEYS_PER_ENV: usize = 3;
const PIDFD_KIND: usize = 2;
/// A terminal's size before anyone said otherwise: the VT100's.
const DEFAULT_TTY_SIZE: (u16, u16) = (24, 80);
/// Most typed bytes buffered for a tty env whose terminal does not take them (a child that
/// does not read): past this, new keys are dropped.
const INPUT_LIMIT: usize = 1024 * 1024;

/// Messages to the runner thread.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Keys typed into a tty env: written to its terminal's master side (nonblocking,
    /// buffered while the terminal is full). Ignored for an env without a tty.
    Input {
        /// The env.
        env: EnvId,
        /// The bytes a terminal would send for the keys (`^C` is 0x03).
        bytes: Vec<u8>,
    },
    /// A tty env's window size (its pane's inner size): set now if it runs (`TIOCSWINSZ`,
    /// so its foreground group gets SIGWINCH) and used for its next commands.
    Resize {
        /// The env.
        env: EnvId,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
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
    /// Keep running after every env finished, for reruns, until `Control::Quit` (the TUI).
    pub keep_alive: bool,
    /// `max_memory`: start an env only when the running envs' expected peaks plus its own
    /// fit (see [`memory`]).
    pub memory: Option<memory::MemoryLimit>,
    /// Window size (rows, columns) of a tty env until a `Control::Resize` says otherwise;
    /// `(0, 0)`: 24 x 80.
    pub tty_size: (u16, u16),
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
            phase: EnvPhase::Pending,
            attempt: 0,
            runs: 0,
            started: None,
            log_path: plan.log_dir.join(log_file_name(&spec.name, 1)),
            reports: None,
            stopped_by: None,
            leaked: Vec::new(),
            timeout_at: None,
            usage: Resources::default(),
            live: Resources::default(),
            waiting_for_memory: false,
            stale_probe: false,
            tty_size: match options.tty_size {
                (0, _) | (_, 0) => DEFAULT_TTY_SIZE,
                size => size,
            },
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
        buf: vec![0; pump::SCRATCH],
        reap_later: Vec::new(),
        guardian,
        child_signal,
        child_scan: None,
        last_child_scan: None,
        adopted: HashMap::new(),
        hooks: hooks::Hooks::new(Arc::clone(&poller)),
        next_sample: None,
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
enum EnvPhase {
    Pending,
    Running(Box<Active>),
    Finished(Verdict),
}

/// Runner bookkeeping for one env.
struct EnvRun {
    phase: EnvPhase,
    /// Tries of the current request: 1 for the first run or a rerun the user asked for, then
    /// one more per retry under `retries` (only retries make a pass flaky).
    attempt: u32,
    /// Starts so far, retries and reruns alike: numbers the logs, so none is overwritten.
    runs: u32,
    started: Option<Instant>,
    log_path: PathBuf,
    /// This attempt's test-report folder (absolute), and the reports to read after it.
    reports: Option<(PathBuf, testreport::ReportRequest)>,
    stopped_by: Option<StopCause>,
    leaked: Vec<LeakedProcess>,
    timeout_at: Option<Instant>,
    /// What this attempt's commands cost so far (their rusage, and adopted processes reaped).
    usage: Resources,
    /// The latest `/proc` sample of its process group while a command runs.
    live: Resources,
    /// `WaitingForMemory` was sent for this wait.
    waiting_for_memory: bool,
    /// An earlier run's skip-probe file could not be removed at this attempt's start, so it
    /// cannot speak for this attempt.
    stale_probe: bool,
    /// A tty env's window size (rows, columns), for its next spawn and kept current.
    tty_size: (u16, u16),
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
    /// Strays killed at the command's end and not reaped yet: the command completes once
    /// they are (their usage counts for the env), or at `killed_until`.
    killed: Vec<i32>,
    killed_until: Option<Instant>,
    /// Whether a launched job waits for the cluster (see
    /// [`crate::launcher::Launcher::queued`]).
    watch: QueueWatch,
    /// A tty command: `pipes[0]` is its terminal's master side, and this the slave's path
    /// (`/dev/pts/N`: how a process holding it shows in `/proc/PID/fd`).
    tty: Option<String>,
    /// Typed bytes the terminal has not taken yet.
    input: Vec<u8>,
    /// `--attach`: the command has runall's terminal (its group is the foreground group).
    foreground: bool,
    /// Bytes read from the terminal, not sent yet (joined into larger events), and since when.
    held: Vec<u8>,
    held_since: Option<Instant>,
}

/// What a launched command's output said about its job so far.
#[derive(Default)]
struct QueueWatch {
    queue: Queue,
    /// Output bytes of the command read so far (the queued mark is looked for in the first
    /// [`QUEUE_WATCH`]).
    watched: usize,
    /// The last bytes read, for a mark split across two reads.
    tail: Vec<u8>,
}

/// Where a launched command's job is, as its launcher's output told.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Queue {
    /// Nothing said: running as far as runall can tell.
    #[default]
    Unknown,
    /// Waiting for resources; the env's timeout is paused with this much left.
    Queued(Option<Duration>),
    /// Started after waiting.
    Started,
}

/// How much of a command's first output is searched for its launcher's queued mark: the
/// launcher speaks before the job does.
const QUEUE_WATCH: usize = 4096;

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
    /// Launcher hooks running on their own threads.
    hooks: hooks::Hooks,
    /// When to sample the running envs' usage from `/proc` next (`runner::usage`).
    next_sample: Option<Instant>,
}
