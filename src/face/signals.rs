//! runall's own signals turned into runner control messages, plus the two exits that must
//! not depend on the runner: the third signal, and a hard deadline after the first one.
//!
//! Every signal whose default action would kill runall at once, leaving the terminal raw and
//! the children orphaned, is caught ([`fatal_signals`], the one list, which the runner owns with the rest of the
//! policy: [`crate::runner::fatal`]): SIGINT, SIGTERM,
//! SIGHUP and SIGQUIT, and also SIGALRM, SIGUSR1/2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF,
//! SIGPWR, SIGSTKFLT, SIGSYS, SIGIO, SIGABRT and the real-time signals. Each starts the same
//! shutdown ladder as SIGTERM (the terminal is restored, the children stopped and reaped) and
//! runall then dies by that very signal (without a core dump). The children get the signal
//! itself only for INT, TERM, HUP and QUIT, which every program understands as "stop"; for
//! the others ([`crate::runner::fatal::forwarded_signal`]) they get SIGTERM, as a child may give SIGUSR1 or a
//! real-time signal another meaning (`dd` prints its progress on SIGUSR1).
//!
//! Not caught: SIGKILL and SIGSTOP (impossible), and SIGILL, SIGFPE, SIGSEGV, SIGBUS and
//! SIGTRAP, which mostly come from a fault in runall itself, where a handler that returns
//! would run the faulting instruction again forever; the panic hook and PDEATHSIG cover
//! those deaths.
//!
//! A dedicated thread blocks on signal-hook's self-pipe, so no code runs inside a signal
//! handler. The TUI sends its Ctrl-C key down the same [`Handle`] path as SIGINT.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use signal_hook::iterator::Signals;

use crate::event::ShutdownCause;
use crate::runner::fatal::fatal_signals;
use crate::runner::{Control, Handle, sys};

/// After the first signal, runall exits by this deadline whatever is still pending.
pub const HARD_DEADLINE: Duration = Duration::from_secs(15);

/// Listens for signals until dropped.
pub struct SignalListener {
    handle: signal_hook::iterator::Handle,
    thread: Option<thread::JoinHandle<()>>,
}

impl SignalListener {
    /// Install the handlers and start the listening thread.
    pub fn install(runner: Handle) -> io::Result<Self> {
        let mut signals = Signals::new(fatal_signals())?;
        let handle = signals.handle();
        let thread = thread::Builder::new()
            .name("runall-signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    request_shutdown(&runner, signal);
                }
            })?;
        Ok(Self {
            handle,
            thread: Some(thread),
        })
    }
}

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            // The thread only loops over signals; a panic there has nothing left to clean up.
            let _ = t.join();
        }
    }
}

/// Shutdown requests so far, from signals and the TUI's Ctrl-C key alike.
static REQUESTS: AtomicU32 = AtomicU32::new(0);

/// One shutdown request (a signal to runall, or Ctrl-C in the TUI): the first starts the
/// ladder and the hard deadline, the second kills every group, the third exits at once.
pub fn request_shutdown(runner: &Handle, signal: i32) {
    let count = REQUESTS.fetch_add(1, Ordering::AcqRel) + 1;
    if count >= 3 {
        emergency_exit(
            signal,
            "runall: third interrupt: killed every process group, exiting now\n",
        );
    }
    if count == 1 {
        start_watchdog(signal);
    }
    runner.send(Control::Shutdown(ShutdownCause::Signal(signal)));
}

/// Kill every registered group and exit at once, without waiting for anything.
pub fn emergency_exit(signal: i32, message: &str) -> ! {
    crate::face::emergency::restore_terminal();
    sys::kill_all_groups();
    // stderr may be gone; there is nobody else to tell.
    let _ = io::stderr().write_all(message.as_bytes());
    // Launched jobs live in their cluster, beyond any local group: cancel them there
    // (bounded; the launcher clients were just killed, which also ends most jobs). The runner
    // may finish the run meanwhile and exit first, by the same signal.
    crate::launcher::emergency::run_all();
    sys::exit_now(128 + signal)
}

fn start_watchdog(signal: i32) {
    let spawned = thread::Builder::new()
        .name("runall-deadline".into())
        .spawn(move || {
            thread::sleep(HARD_DEADLINE);
            emergency_exit(
                signal,
                "runall: shutdown took longer than 15s: killed every process group, exiting now\n",
            );
        });
    // Without the watchdog every wait is still bounded by the runner's own deadlines.
    drop(spawned);
}
