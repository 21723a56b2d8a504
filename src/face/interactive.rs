//! The interactive face: the TUI driver, a ratatui + crossterm front end over the same runner
//! events as `--ci`.
//!
//! The pure parts (keymap, app state and update, view; each pane's output is a
//! [`crate::scrollback::Scrollback`]) live in [`crate::tui`] and are tested without a terminal.
//! This module owns only the terminal and the threads around it:
//! raw mode and the alternate screen (restored on every exit path: normal, error, panic,
//! emergency), an input thread that turns crossterm events into [`Msg`]s, and the render
//! loop, which draws only when something changed and at most [`FRAME`] apart ([`FLOOD_FRAME`]
//! while a flood comes in, see [`frame_after`]). Runner events
//! arrive in the same bounded queue as input, put there by the runner's log writer itself (no
//! thread in between), so a slow screen backpressures the pump; the queue gives each event's
//! output credit back as the render loop takes it.
//!
//! Ctrl-C never waits in that queue: the input thread hands it straight to
//! [`signals::request_shutdown`], the same path as SIGINT.

mod input;
mod queue;
mod reports;
mod terminal;
mod trace;

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::event::RunEvent;
use crate::face::signals::{self, SignalListener};
use crate::plan::Plan;
use crate::report::Summary;
use crate::report::ci::{CiOptions, CiReporter};
use crate::runner::{self, Control, Handle, RunnerOptions};
use crate::tui::app::{App, AppOptions, Effect, Msg};
use crate::tui::view;

use self::input::spawn_input_thread;
use self::queue::{QUEUE, Queue, UiMsg};
use self::terminal::{
    TerminalGuard, back_from_stream, copy_to_clipboard, leave_for_stream, set_mouse_capture,
    suspend,
};

/// Shortest time between two frames (about 60 fps).
const FRAME: Duration = Duration::from_millis(16);
/// Shortest time between two frames while a flood comes in (about 30 fps).
const FLOOD_FRAME: Duration = Duration::from_millis(33);
/// Output taken in between two frames from which on the next waits [`FLOOD_FRAME`]: 512 KiB
/// in a 16 ms frame is 32 MiB/s, far more than anyone reads.
const FLOOD_BYTES: usize = 512 * 1024;

/// How long after a frame the next may be drawn, given the output taken in since the one
/// before: [`FRAME`], or [`FLOOD_FRAME`] while a flood comes in. A flood's lines fly by too
/// fast to read at either rate, and half the frames halve what drawing them costs the screen
/// thread (a tenth of its time under a tty flood), which shares the machine with the children
/// it shows. Keys are drawn at once either way.
fn frame_after(output_bytes: usize) -> Duration {
    if output_bytes >= FLOOD_BYTES {
        FLOOD_FRAME
    } else {
        FRAME
    }
}
/// How often durations are refreshed when nothing else happens.
const TICK: Duration = Duration::from_secs(1);
/// Most messages handled before a frame is drawn during a flood.
const BATCH: usize = 4096;
/// Longest time spent on runner events before a frame is drawn and input looked at.
const EVENT_BUDGET: Duration = Duration::from_millis(8);

/// Run `plan` in the TUI and return the summary once every child is reaped and the user quit.
pub fn run(
    plan: &Plan,
    mut options: RunnerOptions,
    mut app_options: AppOptions,
    ci: CiOptions,
) -> Result<Summary, Error> {
    crate::face::emergency::install_panic_hook();
    options.keep_alive = true;
    // A tty env starts with the size its pane will have in the list view.
    if let Ok((width, height)) = crossterm::terminal::size() {
        let size = view::list_pane_size(plan.envs.iter().map(|e| e.name.as_str()), width, height);
        options.tty_size = size;
        app_options.tty_size = size;
    }
    let (tx, rx) = mpsc::sync_channel::<UiMsg>(QUEUE);
    // Runner events go straight into the queue; the bounded queue makes a slow screen slow the
    // pump down.
    let run_tx = tx.clone();
    // Counts while envs run: the watcher learns of each attempt from the events (it ends
    // when this closure, its only sender, is dropped with the runner).
    let watch = reports::spawn(plan, tx.clone()).ok();
    let (handle, credits, runner_thread) =
        runner::start_with(plan.clone(), options, move |event| {
            if let Some(watch) = &watch {
                // A watcher that is gone only means no counts before the end.
                let _ = match &event {
                    RunEvent::LogOpened { env, path } | RunEvent::LogFailed { env, path, .. } => {
                        watch.send(reports::Watch::Start {
                            env: *env,
                            log: path.clone(),
                        })
                    }
                    RunEvent::EnvFinished { env, .. } | RunEvent::EnvRetrying { env, .. } => {
                        watch.send(reports::Watch::Stop { env: *env })
                    }
                    _ => Ok(()),
                };
            }
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
        let mut terminal = terminal::new_terminal()?;
        terminal.clear()?;
        let (input_tx, input_rx) = mpsc::channel();
        let typing = Arc::new(AtomicBool::new(false));
        spawn_input_thread(input_tx, tx, handle.clone(), Arc::clone(&typing))?;
        let screen = Screen {
            terminal,
            stream: None,
            ci: ci.clone(),
            typing,
        };
        let outcome = render_loop(
            screen,
            plan,
            app_options,
            &rx,
            &input_rx,
            &handle,
            &mut summary,
        );
        drop(guard);
        crate::face::emergency::released();
        trace::finish();
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
    super::join_runner(runner_thread, signals)?;
    result?;
    // The same summary as --ci, on the normal screen, so it stays in the scrollback.
    let stdout = io::stdout();
    let mut reporter = CiReporter::new(plan, ci, stdout.lock(), Instant::now());
    if let Err(error) = reporter.finish(&summary).and_then(|()| reporter.flush()) {
        crate::stdio::report_write_error("stdout", &error);
    }
    Ok(summary)
}

/// Draw and handle messages until the user quit and the runner finished. `Ok(true)` once the
/// runner's `RunFinished` was seen.
///
/// Input comes first: the input channel is emptied before the queue is looked at and again
/// between runner events, and a frame follows a key at once (not after [`FRAME`]). Runner
/// events are handled for at most [`EVENT_BUDGET`] before a frame is drawn, and each drawn
/// pane parses at most what it shows of a flood ([`crate::scrollback::Scrollback::catch_up`]),
/// so whatever the children write, a key is answered within a frame or two.
fn render_loop(
    mut screen: Screen,
    plan: &Plan,
    app_options: AppOptions,
    rx: &Queue,
    input: &Receiver<Msg>,
    runner: &Handle,
    summary: &mut Summary,
) -> Result<bool, Error> {
    let mut app = App::new(plan, Instant::now(), app_options);
    let mut last_draw: Option<Instant> = None;
    // The time from one frame to the next, and the output taken in since the last.
    let mut frame = FRAME;
    let mut output_bytes = 0;
    let mut next_tick = Instant::now() + TICK;
    let mut run_finished = false;
    // A key was handled since the last frame: draw now.
    let mut answer = false;
    loop {
        answer |= take_input(&mut app, input, runner, &mut screen, plan)?;
        let now = Instant::now();
        if screen.stream.is_none()
            && app.is_dirty()
            && (answer || last_draw.is_none_or(|t| now >= t + frame))
        {
            let start = Instant::now();
            screen.terminal.draw(|frame| {
                let area = frame.area();
                view::render(&mut app, area, frame.buffer_mut(), now);
                trace::step("render", start.elapsed());
            })?;
            trace::step(if answer { "draw-key" } else { "draw" }, start.elapsed());
            app.clear_dirty();
            last_draw = Some(now);
            answer = false;
            frame = frame_after(output_bytes);
            output_bytes = 0;
            for (env, rows, cols) in app.take_resized() {
                runner.send(Control::Resize { env, rows, cols });
            }
        }
        // No frame is drawn while the plain stream shows, so nothing to wake for but the tick
        // (and the queue).
        let wake = if app.is_dirty() && screen.stream.is_none() {
            last_draw.map_or(now, |t| t + frame)
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
            apply(effect, &mut app, runner, &mut screen, plan)?;
        }
        let mut handled = 0;
        while let Some(msg) = pending {
            match msg {
                UiMsg::Run(event) => {
                    summary.record(&event);
                    if matches!(event, RunEvent::RunFinished { .. }) {
                        run_finished = true;
                    }
                    if let Some(stream) = screen.stream.as_mut() {
                        stream.show(&event, now);
                    }
                    let output = match &event {
                        RunEvent::Output { env, bytes, .. } => Some((*env, bytes.len())),
                        _ => None,
                    };
                    output_bytes += output.map_or(0, |(_, n)| n);
                    let start = Instant::now();
                    let effect = app.update(Msg::Run(event), now);
                    if let Some((env, bytes)) = output
                        && trace::on()
                        && start.elapsed() > Duration::from_millis(1)
                    {
                        trace::step(format_args!("event-{env}-{bytes}"), start.elapsed());
                    }
                    apply(effect, &mut app, runner, &mut screen, plan)?;
                    if run_finished {
                        return Ok(true);
                    }
                    handled += 1;
                }
                UiMsg::App(msg) => {
                    let effect = app.update(msg, now);
                    apply(effect, &mut app, runner, &mut screen, plan)?;
                }
                UiMsg::Wake => {}
            }
            // Input before the next runner event; a key ends the batch so it is drawn now.
            if take_input(&mut app, input, runner, &mut screen, plan)? {
                answer = true;
                break;
            }
            if handled >= BATCH || now.elapsed() >= EVENT_BUDGET {
                break;
            }
            pending = rx.try_recv().ok();
        }
        app.enforce_budget();
        if trace::on() {
            trace::step(format_args!("batch-{handled}"), now.elapsed());
            trace::flush();
        }
    }
}

/// Handles every input message waiting; whether there was any. In the plain stream only the
/// key that leaves it counts.
fn take_input(
    app: &mut App,
    input: &Receiver<Msg>,
    runner: &Handle,
    screen: &mut Screen,
    plan: &Plan,
) -> Result<bool, Error> {
    let mut any = false;
    while let Ok(msg) = input.try_recv() {
        if let Msg::Key(key) = &msg
            && screen.stream.is_some()
            && app.keymap().action(app.keymap_mode(), *key)
                != Some(crate::tui::keymap::Action::ToggleStream)
        {
            continue;
        }
        any = true;
        trace::step("key", Duration::ZERO);
        let effect = app.update(msg, Instant::now());
        // Before anything is drawn: once INPUT shows, Ctrl-C must already be the env's.
        screen.typing.store(app.typing(), Ordering::Release);
        apply(effect, app, runner, screen, plan)?;
    }
    Ok(any)
}

/// The terminal as the render loop drives it: the TUI's frames, or the plain stream (`s`).
struct Screen {
    terminal: terminal::Tui,
    /// Showing the plain prefixed stream on the normal screen instead of the TUI.
    stream: Option<Stream>,
    ci: CiOptions,
    /// Input mode, for the input thread (Ctrl-C is then a key for the env).
    typing: Arc<AtomicBool>,
}

/// The plain stream: the `--ci` prefixed reporter writing to the terminal, which stays in
/// raw mode (for the keys), so line ends are written as CR LF.
struct Stream {
    reporter: CiReporter<CrLf<io::BufWriter<io::Stdout>>>,
}

impl Stream {
    fn show(&mut self, event: &RunEvent, now: Instant) {
        if let Err(error) = self
            .reporter
            .handle(event, now)
            .and_then(|()| self.reporter.flush())
        {
            crate::stdio::report_write_error("stdout", &error);
        }
    }
}

/// Writes `\n` as `\r\n` (a terminal in raw mode does not return the carriage itself).
struct CrLf<W: Write>(W);

impl<W: Write> Write for CrLf<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut start = 0;
        for (i, &b) in buf.iter().enumerate() {
            if b == b'\n' {
                self.0.write_all(&buf[start..i])?;
                self.0.write_all(b"\r\n")?;
                start = i + 1;
            }
        }
        self.0.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `s`: leave the TUI for the plain prefixed stream on the normal screen, each env's history
/// so far first (its lines in memory, sanitised for the terminal), then live; `s` again comes
/// back. Nothing is stopped either way.
fn toggle_stream(app: &mut App, screen: &mut Screen, plan: &Plan) -> Result<(), Error> {
    if screen.stream.take().is_some() {
        back_from_stream(&mut screen.terminal, app.mouse_captured())?;
        let size = screen.terminal.size()?;
        let _ = app.update(
            Msg::Resize {
                width: size.width,
                height: size.height,
            },
            Instant::now(),
        );
        return Ok(());
    }
    leave_for_stream()?;
    let mut out = CrLf(io::BufWriter::with_capacity(1 << 16, io::stdout()));
    out.write_all(b"\n-- runall: the plain stream (s: back to the TUI) --\n")?;
    let mut text = Vec::new();
    app.for_each_history_line(|name, line| {
        text.clear();
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b" | ");
        crate::sanitize::push_line(&mut text, line.as_bytes(), false);
        text.push(b'\n');
        out.write_all(&text)
    })?;
    out.flush()?;
    let reporter = CiReporter::new(
        plan,
        screen.ci.clone(),
        CrLf(io::BufWriter::with_capacity(1 << 16, io::stdout())),
        Instant::now(),
    );
    screen.stream = Some(Stream { reporter });
    Ok(())
}

/// Carry out what the app asked for.
fn apply(
    effect: Effect,
    app: &mut App,
    runner: &Handle,
    screen: &mut Screen,
    plan: &Plan,
) -> Result<(), Error> {
    let terminal = &mut screen.terminal;
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
        Effect::Input { env, bytes } => runner.send(Control::Input { env, bytes }),
        Effect::Copy(text) => copy_to_clipboard(&text)?,
        Effect::MouseCapture(on) => set_mouse_capture(on)?,
        Effect::ToggleStream => toggle_stream(app, screen, plan)?,
        Effect::Suspend => {
            suspend(terminal, app.mouse_captured())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_further_apart_only_while_a_flood_comes_in() {
        assert_eq!(frame_after(0), FRAME);
        assert_eq!(frame_after(FLOOD_BYTES - 1), FRAME);
        assert_eq!(frame_after(FLOOD_BYTES), FLOOD_FRAME);
        assert_eq!(frame_after(usize::MAX), FLOOD_FRAME);
        assert!(FLOOD_FRAME > FRAME && FLOOD_FRAME <= Duration::from_millis(50));
    }
}
