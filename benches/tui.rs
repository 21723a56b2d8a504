//! Criterion benches of the TUI's two hot paths: scrollback ingest with ANSI parsing
//! (`runall::scrollback::Scrollback::push`, MB/s), and drawing a frame
//! (`runall::tui::view::render` on ratatui's `TestBackend`) with panes of 10,000 lines.
//!
//! Ingest feeds 64 KiB chunks of generated output into a scrollback kept at its default cap
//! (10,000 lines, so older lines are evicted as a long run would): plain 100-byte lines, lines
//! with SGR colours (test-runner style), and `\r` progress frames. Each twice: read after every
//! chunk (`scrollback_push`: a pane on screen, every byte parsed) and never read
//! (`scrollback_push_unread`: a pane off screen, whose older chunks are only skimmed). Both
//! include copying each chunk into the `Vec` the app would get from the runner. Rendering draws a 200x50
//! screen of an app whose 8 envs hold 10,000 lines each: the list view following the newest
//! output, the same pane scrolled 5,000 lines back, and the tiled view of all 8 panes.

#![allow(
    clippy::unwrap_used,
    reason = "a bench has nobody to report an error to: it panics"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runall::event::{RunEvent, Stream};
use runall::plan::{EnvSpec, Plan};
use runall::scrollback::Scrollback;
use runall::tui::app::{App, AppOptions, DEFAULT_SCROLLBACK_LINES, Msg};
use runall::tui::keymap::Key;
use runall::tui::view;

const CHUNK: usize = 64 * 1024;
const INPUT: usize = 8 * 1024 * 1024;
const ENVS: usize = 8;
const PANE_LINES: usize = 10_000;

/// About `total` bytes of output, line after line from `line(n)`.
fn output(total: usize, line: impl Fn(usize) -> String) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(total + 256);
    let mut n = 0;
    while bytes.len() < total {
        n += 1;
        bytes.extend_from_slice(line(n).as_bytes());
    }
    bytes
}

fn plain(n: usize) -> String {
    let mut line = format!("out {n:010} ");
    while line.len() < 99 {
        line.push('~');
    }
    line.push('\n');
    line
}

fn coloured(n: usize) -> String {
    let (colour, word) = if n.is_multiple_of(7) {
        ("31", "FAIL")
    } else {
        ("32", "PASS")
    };
    format!(
        "\x1b[1;{colour}m{word}\x1b[0m tests/test_module_{m}.py::test_case_{n} \x1b[2m[{p:3}%]\x1b[0m \
         \x1b[36m{ms}ms\x1b[39m\n",
        m = n % 50,
        p = n % 100,
        ms = n % 997
    )
}

fn progress(n: usize) -> String {
    let mut line = String::new();
    for pct in (0..=100).step_by(20) {
        let bar = "#".repeat(pct / 5);
        write!(line, "step {n}: [{bar:<20}] {pct:3}%\r").unwrap();
    }
    writeln!(line, "step {n}: done").unwrap();
    line
}

/// Makes line number `n` of an input.
type LineFn = fn(usize) -> String;

fn ingest(c: &mut Criterion) {
    let inputs: [(&str, LineFn); 3] = [
        ("plain 100-byte lines", plain),
        ("SGR-coloured lines", coloured),
        ("\\r progress frames", progress),
    ];
    let inputs: Vec<(&str, Vec<u8>)> = inputs
        .into_iter()
        .map(|(name, line)| (name, output(INPUT, line)))
        .collect();
    // A pane on screen is read after every chunk; one off screen never is.
    for (group, read) in [("scrollback_push", true), ("scrollback_push_unread", false)] {
        let mut group = c.benchmark_group(group);
        for (name, bytes) in &inputs {
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            let mut scrollback = Scrollback::new(DEFAULT_SCROLLBACK_LINES);
            group.bench_function(*name, |b| {
                b.iter(|| {
                    for chunk in bytes.chunks(CHUNK) {
                        scrollback.push_owned(black_box(chunk.to_vec()));
                        if read {
                            black_box(scrollback.line_count());
                        }
                    }
                });
            });
        }
        group.finish();
    }
}

fn plan() -> Plan {
    let envs = (0..ENVS)
        .map(|i| EnvSpec::shell(&format!("env-{i}"), "make test", "/tmp"))
        .collect();
    Plan::new(envs, ENVS, "/nonexistent/runall-bench")
}

/// An app whose envs all run and hold `PANE_LINES` lines each (half of them coloured).
fn app(now: Instant) -> App {
    let mut app = App::new(&plan(), now, AppOptions::default());
    for env in 0..ENVS {
        let _ = app.update(Msg::Run(RunEvent::EnvStarted { env, attempt: 1 }), now);
        let _ = app.update(
            Msg::Run(RunEvent::CommandStarted {
                env,
                index: 0,
                pid: 1000 + env as i32,
            }),
            now,
        );
        let mut bytes = Vec::new();
        for n in 1..=PANE_LINES {
            let line = if n % 2 == 0 { coloured(n) } else { plain(n) };
            bytes.extend_from_slice(line.as_bytes());
        }
        for chunk in bytes.chunks(CHUNK) {
            let event = RunEvent::Output {
                env,
                stream: Stream::Stdout,
                bytes: chunk.to_vec(),
            };
            let _ = app.update(Msg::Run(event), now);
        }
    }
    app
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("tui_render");
    let now = Instant::now();
    let draw = |app: &mut App, terminal: &mut Terminal<TestBackend>| {
        terminal
            .draw(|f| view::render(app, f.area(), f.buffer_mut(), now))
            .unwrap();
    };
    let views: [(&str, &[Key]); 3] = [
        ("list view, following (200x50)", &[]),
        ("list view, 5,000 lines back (200x50)", &[]),
        ("tiled view, 8 panes (200x50)", &[Key::char('t')]),
    ];
    for (i, (name, keys)) in views.into_iter().enumerate() {
        let mut app = app(now);
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        draw(&mut app, &mut terminal);
        for &key in keys {
            let _ = app.update(Msg::Key(key), now);
        }
        if i == 1 {
            for _ in 0..5_000 / 3 {
                let _ = app.update(Msg::MouseScroll { up: true }, now);
            }
        }
        draw(&mut app, &mut terminal);
        group.bench_function(name, |b| b.iter(|| draw(&mut app, &mut terminal)));
    }
    group.finish();
}

criterion_group!(benches, ingest, render);
criterion_main!(benches);
