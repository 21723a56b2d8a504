//! The interactive face: the TUI driver, a ratatui + crossterm front end over the same runner
//! events as `--ci`.
//!
//! The pure parts (keymap, app state and update, view; each pane's output is a
//! [`crate::scrollback::Scrollback`]) live in [`crate::tui`] and are tested without a terminal.
//! This module owns only the terminal and the threads around it:
//! raw mode and the alternate screen (restored on every exit path: normal, error, panic,
//! emergency), an input thread that turns crossterm events into [`Msg`]s, and the render
//! loop, which draws only when something changed and at most [`FRAME`] apart. Runner events
//! arrive in the same bounded queue as input, put there by the runner's log writer itself (no
//! thread in between), so a slow screen backpressures the pump; the queue gives each event's
//! output credit back as the render loop takes it.
//!
//! Ctrl-C never waits in that queue: the input thread hands it straight to
//! [`signals::request_shutdown`], the same path as SIGINT.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::mpsc::{self, Receiver, RecvError, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event::{self as ct, Event as CtEvent, MouseEventKind};
use crossterm::terminal;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::error::Error;
use crate::event::RunEvent;
use crate::face::signals::{self, SignalListener};
use crate::plan::Plan;
use crate::report::Summary;
use crate::report::ci::{CiOptions, CiReporter};
use crate::runner::{self, Control, CreditReturn, Handle, RunnerOptions, sys};
use crate::tui::app::{App, AppOptions, Effect, Msg};
use crate::tui::keymap::{self, Key, KeyCode};
use crate::tui::view;

/// Shortest time between two frames (about 60 fps).
const FRAME: Duration = Duration::from_millis(16);
/// How often durations are refreshed when nothing else happens.
const TICK: Duration = Duration::from_secs(1);
/// Messages queued between the threads and the render loop; bounded so runner output
/// backpressures instead of piling up (an output event holds up to 256 KiB, so this also
/// bounds the queue's memory to a few MiB).
const QUEUE: usize = 32;
/// Most messages handled before a frame is drawn during a flood.
const BATCH: usize = 4096;

/// What the render loop receives.
enum UiMsg {
    Run(RunEvent),
    Input(Msg),
}

/// The render loop's end of the queue. Every runner event taken off it gives its output credit
/// back to the runner, whichever way it is taken, so no path can stall the pipes.
struct Queue {
    rx: Receiver<UiMsg>,
    credits: CreditReturn,
}

impl Queue {
    fn taken(&self, msg: UiMsg) -> UiMsg {
        if let UiMsg::Run(event) = &msg {
            self.credits.received(event);
        }
        msg
    }

    fn recv(&self) -> Result<UiMsg, RecvError> {
        self.rx.recv().map(|msg| self.taken(msg))
    }

    fn recv_timeout(&self, timeout: Duration) -> Result<UiMsg, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).map(|msg| self.taken(msg))
    }

    fn try_recv(&self) -> Result<UiMsg, TryRecvError> {
        self.rx.try_recv().map(|msg| self.taken(msg))
    }
}

/// Escape sequences that undo everything the TUI set up: mouse capture off, alternate screen
/// left, cursor shown.
const RESTORE_SEQUENCE: &[u8] =
    b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1049l\x1b[?25h";

/// Restore the terminal without taking any lock that a stuck thread might hold.
fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    sys::write_fd_raw(io::stdout().as_fd(), RESTORE_SEQUENCE);
}

/// Owns raw mode and the alternate screen; dropping it restores the terminal.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        crate::face::emergency::register(restore_terminal);
        terminal::enable_raw_mode()?;
        let guard = Self;
        crossterm::execute!(
            io::stdout(),
            terminal::EnterAlternateScreen,
            ct::EnableMouseCapture,
            crossterm::cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        crate::face::emergency::restore_terminal();
    }
}

/// Run `plan` in the TUI and return the summary once every child is reaped and the user quit.
pub fn run(
    plan: &Plan,
    mut options: RunnerOptions,
    app_options: AppOptions,
    ci: CiOptions,
) -> Result<Summary, Error> {
    crate::face::emergency::install_panic_hook();
    options.keep_alive = true;
    let (tx, rx) = mpsc::sync_channel::<UiMsg>(QUEUE);
    // Runner events go straight into the queue; the bounded queue makes a slow screen slow the
    // pump down.
    let run_tx = tx.clone();
    let (handle, credits, runner_thread) =
        runner::start_with(plan.clone(), options, move |event| {
            // The queue is drained until `RunFinished` before the runner thread is joined
            // below, on every path, so this fails only if `run` is unwinding from a panic:
            // the panic hook has killed every group, and the process ends with this thread.
            let _ = run_tx.send(UiMsg::Run(event));
        })
        .map_err(|source| Error::LogDir {
            dir: plan.log_dir.clone(),
            source,
        })?;
    let rx = Queue { rx, credits };
    // From here on every error lands in `result`, so the runner is always finished below.
    let (signals, no_signals) = match SignalListener::install(handle.clone()) {
        Ok(listener) => (Some(listener), None),
        Err(e) => (None, Some(e)),
    };

    let mut summary = Summary::new(plan);
    let result = (|| {
        if let Some(e) = no_signals {
            return Err(e.into());
        }
        let guard = TerminalGuard::enter()?;
        // Before the input thread exists: creating the terminal may query the cursor position,
        // and the answer arrives on stdin.
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.clear()?;
        spawn_input_thread(tx, handle.clone())?;
        let outcome = render_loop(terminal, plan, app_options, &rx, &handle, &mut summary);
        drop(guard);
        crate::face::emergency::released();
        outcome
    })();
    // If the screen failed before the run finished, the runner must still finish: ask it to
    // (interrupting what runs), then wait for it; every wait in the runner is bounded.
    if !matches!(result, Ok(true)) {
        signals::request_shutdown(&handle, libc::SIGINT);
        handle.send(Control::Quit);
        while let Ok(msg) = rx.recv() {
            if let UiMsg::Run(event) = msg {
                let last = matches!(event, RunEvent::RunFinished { .. });
                summary.record(&event);
                if last {
                    break;
                }
            }
        }
    }
    let panicked = runner_thread.join().is_err();
    drop(signals);
    if panicked {
        sys::kill_all_groups();
        return Err(Error::RunnerPanicked);
    }
    result?;
    // The same summary as --ci, on the normal screen, so it stays in the scrollback.
    let stdout = io::stdout();
    let mut reporter = CiReporter::new(plan, ci, stdout.lock(), Instant::now());
    if let Err(error) = reporter.finish(&summary).and_then(|()| reporter.flush()) {
        crate::face::headless::report_write_error("stdout", &error);
    }
    Ok(summary)
}

/// Read terminal input on its own thread. Ctrl-C goes straight to the shutdown path.
fn spawn_input_thread(tx: SyncSender<UiMsg>, runner: Handle) -> io::Result<()> {
    thread::Builder::new()
        .name("runall-input".into())
        .spawn(move || {
            loop {
                let Ok(event) = ct::read() else {
                    // The terminal is gone (EIO after a hang-up): treat it like SIGHUP.
                    signals::request_shutdown(&runner, libc::SIGHUP);
                    return;
                };
                let msg = match event {
                    CtEvent::Key(key) => {
                        let Some(key) = keymap::translate(&key) else {
                            continue;
                        };
                        if is_ctrl_c(key) {
                            signals::request_shutdown(&runner, libc::SIGINT);
                            continue;
                        }
                        Msg::Key(key)
                    }
                    CtEvent::Mouse(mouse) => match mouse.kind {
                        MouseEventKind::ScrollUp => Msg::MouseScroll { up: true },
                        MouseEventKind::ScrollDown => Msg::MouseScroll { up: false },
                        _ => continue,
                    },
                    CtEvent::Resize(width, height) => Msg::Resize { width, height },
                    _ => continue,
                };
                if tx.send(UiMsg::Input(msg)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

fn is_ctrl_c(key: Key) -> bool {
    key.ctrl && matches!(key.code, KeyCode::Char('c' | 'C'))
}

/// Draw and handle messages until the user quit and the runner finished. `Ok(true)` once the
/// runner's `RunFinished` was seen.
fn render_loop(
    mut terminal: Terminal<CrosstermBackend<io::Stdout>>,
    plan: &Plan,
    app_options: AppOptions,
    rx: &Queue,
    runner: &Handle,
    summary: &mut Summary,
) -> Result<bool, Error> {
    let mut app = App::new(plan, Instant::now(), app_options);
    let mut last_draw: Option<Instant> = None;
    let mut next_tick = Instant::now() + TICK;
    let mut run_finished = false;
    loop {
        let now = Instant::now();
        if app.is_dirty() && last_draw.is_none_or(|t| now >= t + FRAME) {
            terminal.draw(|frame| {
                let area = frame.area();
                view::render(&mut app, area, frame.buffer_mut(), now);
            })?;
            app.clear_dirty();
            last_draw = Some(now);
        }
        let wake = if app.is_dirty() {
            last_draw.map_or(now, |t| t + FRAME)
        } else {
            next_tick
        };
        let first = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(msg) => Some(msg),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(false),
        };
        let now = Instant::now();
        let mut pending = first;
        if now >= next_tick {
            next_tick = now + TICK;
            let effect = app.update(Msg::Tick(now), now);
            apply(effect, &mut app, runner, &mut terminal)?;
        }
        let mut handled = 0;
        while let Some(msg) = pending {
            let msg = match msg {
                UiMsg::Run(event) => {
                    summary.record(&event);
                    if matches!(event, RunEvent::RunFinished { .. }) {
                        run_finished = true;
                    }
                    Msg::Run(event)
                }
                UiMsg::Input(msg) => msg,
            };
            let effect = app.update(msg, now);
            apply(effect, &mut app, runner, &mut terminal)?;
            handled += 1;
            if run_finished {
                return Ok(true);
            }
            if handled >= BATCH {
                break;
            }
            pending = rx.try_recv().ok();
        }
    }
}

/// Carry out what the app asked for.
fn apply(
    effect: Effect,
    app: &mut App,
    runner: &Handle,
    terminal: &mut Terminal<CrosstermBackend<io::Stdout>>,
) -> Result<(), Error> {
    match effect {
        Effect::None => {}
        Effect::Interrupt => signals::request_shutdown(runner, libc::SIGINT),
        Effect::StopEnv(env) => runner.send(Control::StopEnv(env)),
        Effect::Rerun(envs) => {
            for env in envs {
                runner.send(Control::Rerun(env));
            }
        }
        Effect::Quit => runner.send(Control::Quit),
        Effect::InterruptAndQuit => runner.send(Control::InterruptAndQuit),
        Effect::Suspend => {
            suspend(terminal)?;
            // Everything must be drawn again on the fresh screen.
            let size = terminal.size()?;
            let now = Instant::now();
            let _ = app.update(
                Msg::Resize {
                    width: size.width,
                    height: size.height,
                },
                now,
            );
        }
    }
    Ok(())
}

/// Ctrl-Z: stop every child group (children in their own sessions ignore the terminal's
/// SIGTSTP), give the terminal back, stop runall; on `fg`, take the terminal again, continue
/// the children and redraw everything.
fn suspend(terminal: &mut Terminal<CrosstermBackend<io::Stdout>>) -> Result<(), Error> {
    sys::signal_all_groups(libc::SIGSTOP);
    restore_terminal();
    let _ = io::stdout().flush();
    sys::stop_self();
    // Resumed by SIGCONT.
    terminal::enable_raw_mode()?;
    crossterm::execute!(
        io::stdout(),
        terminal::EnterAlternateScreen,
        terminal::Clear(terminal::ClearType::All),
        ct::EnableMouseCapture,
        crossterm::cursor::Hide
    )?;
    // A fresh terminal has an empty back buffer, so the next frame paints every cell. (Not
    // `clear()`: it asks the terminal for the cursor position, and the input thread would
    // swallow the answer.)
    *terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    sys::signal_all_groups(libc::SIGCONT);
    Ok(())
}
