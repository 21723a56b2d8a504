//! A demo of the runall TUI with no real work: it replays a canned event script (four envs
//! that print, pass, fail and get skipped) into the same `App` and view the real TUI uses.
//! Keys work as in runall (`j`/`k`, `/`, `t`, `z`, `?`); `q` quits.
//!
//! ```sh
//! cargo run --example replay
//! ```

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use crossterm::terminal;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use runall::event::{EnvResult, EnvStatus, ExitKind, RunEvent};
use runall::plan::{EnvSpec, Plan};
use runall::tui::app::{App, AppOptions, Effect, Msg};
use runall::tui::keymap::{self, Action};
use runall::tui::view;

fn env(name: &str, command: &str, depends: Vec<usize>) -> EnvSpec {
    EnvSpec {
        depends,
        ..EnvSpec::shell(name, command, ".")
    }
}

fn result(status: EnvStatus, millis: u64, name: &str) -> EnvResult {
    EnvResult::new(
        status,
        Duration::from_millis(millis),
        format!("replay/{name}.log"),
    )
}

/// The script: (milliseconds after start, event).
fn script() -> Vec<(u64, RunEvent)> {
    let out = |env, text: &str| RunEvent::Output {
        env,
        stream: runall::event::Stream::Stdout,
        bytes: text.as_bytes().to_vec(),
    };
    let mut s = vec![
        (0, RunEvent::EnvStarted { env: 0, attempt: 1 }),
        (
            0,
            RunEvent::CommandStarted {
                env: 0,
                index: 0,
                pid: 101,
            },
        ),
        (0, RunEvent::EnvStarted { env: 1, attempt: 1 }),
        (
            0,
            RunEvent::CommandStarted {
                env: 1,
                index: 0,
                pid: 102,
            },
        ),
        (200, out(0, "checking 42 files\n")),
        (300, out(1, "\x1b[32mPASS\x1b[0m test_add\n")),
        (
            500,
            out(
                1,
                "\x1b[32mPASS\x1b[0m test_sub\n\x1b[31mFAIL\x1b[0m test_div\n",
            ),
        ),
        (900, out(0, "lint: everything ok\n")),
        (
            1000,
            RunEvent::EnvFinished {
                env: 0,
                result: result(EnvStatus::Passed, 1000, "lint"),
            },
        ),
        (1000, RunEvent::EnvStarted { env: 2, attempt: 1 }),
        (
            1000,
            RunEvent::CommandStarted {
                env: 2,
                index: 0,
                pid: 103,
            },
        ),
    ];
    for i in 0..=20u64 {
        s.push((1000 + i * 100, out(2, &format!("\rbuilding {}%", i * 5))));
    }
    s.push((3100, out(2, "\nbuild done\n")));
    s.push((
        3200,
        RunEvent::EnvFinished {
            env: 2,
            result: result(EnvStatus::Passed, 2200, "build"),
        },
    ));
    let failed = EnvStatus::Failed {
        command: 0,
        exit: ExitKind::Code(1),
    };
    s.push((
        3500,
        RunEvent::EnvFinished {
            env: 1,
            result: result(failed, 3500, "unit"),
        },
    ));
    let skipped = EnvStatus::Skipped {
        dependency: "unit".to_owned(),
    };
    s.push((
        3500,
        RunEvent::EnvFinished {
            env: 3,
            result: result(skipped, 0, "docs"),
        },
    ));
    s
}

fn main() -> io::Result<()> {
    let envs = vec![
        env("lint", "cargo clippy", vec![]),
        env("unit", "cargo test", vec![]),
        env("build", "cargo build --release", vec![0]),
        env("docs", "cargo doc", vec![1]),
    ];
    let plan = Plan::new(envs, 2, "replay");
    let start = Instant::now();
    let mut app = App::new(&plan, start, AppOptions::default());
    let mut events = script().into_iter().peekable();

    terminal::enable_raw_mode()?;
    crossterm::execute!(io::stdout(), terminal::EnterAlternateScreen)?;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let outcome = (|| -> io::Result<()> {
        loop {
            let now = Instant::now();
            while let Some((at, _)) = events.peek() {
                if start + Duration::from_millis(*at) > now {
                    break;
                }
                if let Some((_, e)) = events.next() {
                    let _ = app.update(Msg::Run(e), now);
                }
            }
            let _ = app.update(Msg::Tick(now), now);
            term.draw(|f| view::render(&mut app, f.area(), f.buffer_mut(), now))?;
            if event::poll(Duration::from_millis(50))?
                && let Event::Key(key) = event::read()?
                && let Some(key) = keymap::translate(&key)
            {
                let quit = app.keymap().action(app.keymap_mode(), key) == Some(Action::Quit);
                if matches!(app.update(Msg::Key(key), Instant::now()), Effect::Quit) || quit {
                    return Ok(());
                }
            }
        }
    })();
    crossterm::execute!(io::stdout(), terminal::LeaveAlternateScreen)?;
    terminal::disable_raw_mode()?;
    outcome
}
