//! The headless `--ci` printer: turns the [`RunEvent`] stream into plain lines on any
//! `impl Write`, and writes the summary table and the tails of failed logs at the end.
//!
//! It owns the wording and layout of `--ci` output and nothing else: it never flushes per line
//! (the caller wraps stdout in a large `BufWriter` and calls [`CiReporter::flush`] when its event
//! queue runs dry), never reads the clock (every call takes `now`) and never touches processes.
//!
//! # Prefixed mode (the default)
//!
//! Every output line is printed as `<env> | <line>`, the name right-padded to the longest name of
//! the plan. Lines of `Stream::Stderr` (only sent for `stderr = "separate"`) are tagged with `!`
//! instead: `<env> ! <line>`. With colour on, the name and the tag are coloured per env (six
//! colours, in turn) and reset after.
//!
//! Output is line-atomic: a line of one env is never split by or interleaved with another env's
//! bytes. Complete lines are written straight from the event's bytes; only a trailing incomplete
//! piece is copied into a per env and stream buffer to wait for its newline. A waiting piece is
//! printed when its env finishes, followed by `  [no newline at end]`, or as soon as it grows
//! past `partial_cap` bytes, followed by `  [line continues]` (cut at a UTF-8 boundary when
//! there is one nearby; the rest keeps waiting). The cap bounds only what is buffered: a
//! complete line is always printed whole.
//!
//! A line holding `\r` (a progress bar) is printed as its last frame: the text after its last
//! `\r`, where trailing `\r`s are ignored (so CRLF prints without the CR, and `50%\r` prints
//! `50%`). Each line then goes through [`crate::sanitize::push_line`]: SGR codes kept only with
//! colour on, every other escape sequence removed, other control characters, C1 controls and
//! invalid UTF-8 shown as `\xNN` / `\u{NN}`, so one child line is one printed line and a child
//! can never move the cursor over a prefix. Clean lines (the common case) are copied whole
//! after one word-at-a-time check. The log file on disk is the byte-exact record; this is its
//! readable view.
//!
//! Each command start prints `<env> | $ <command>` (argv words quoted as `runall list` does; a
//! multi-line shell command gets the prefix on every line, later lines indented two spaces
//! under the first); an env's end prints `<env> | ✔ passed in 1.2s`, `<env> | ✘ exit 3 in
//! 500ms` or `<env> | ⊘ skipped: lint did not pass`, then one line per leaked process (its
//! command line, from /proc, sanitised).
//!
//! # Grouped mode
//!
//! Output is not printed live. A line `runall: started <env>` marks each start; when an env
//! finishes its whole log file is streamed, framed and sanitised line by line as prefixed lines
//! are (without the prefix), between `──── <env>: <outcome> (<time>) ────` and
//! `──── end of <env> ────` (with `only_failed`, envs that passed get the header line only, and
//! the envs printed whole get no tail after the summary).
//!
//! # GitHub Actions
//!
//! With `github` set (runall saw `GITHUB_ACTIONS=true`), grouped output folds each env that has
//! a body between `::group::<env>: <outcome> (<time>)` and `::endgroup::` instead of the rules,
//! and in both modes every env that did not pass is followed by an `::error title=<env>:
//! <outcome>::<its last lines>` annotation (see [`super::github`]). Everything else, child
//! output above all, is printed with workflow commands paused: `::stop-commands::<token>`
//! before it, `::<token>::` before runall's next own command and at the end of
//! [`CiReporter::finish`], so no child line can act as a command.
//!
//! # Both modes
//!
//! Shutdown progress is printed at once, one quiet line per step (`runall: received SIGINT: …`,
//! `<env> | → sent SIGTERM to process group 1234`, …). When no line was printed for `heartbeat`
//! while envs run, [`CiReporter::tick`] prints `runall: still running: unit (2m05s), lint
//! (10.0s)`, since CI systems kill jobs that stay silent. [`CiReporter::finish`] writes the
//! summary table (see [`Summary::write_table`]) and the last lines of every env that ran and did
//! not pass.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memchr::{memchr, memchr_iter, memchr2_iter, memrchr_iter};

use super::{DIM, RESET, Summary, YELLOW, github, verdict_colour};
use crate::event::{
    EnvResult, RunEvent, ShutdownCause, ShutdownStep, Stream, Verdict, format_bytes,
    format_duration, signal_name,
};
use crate::plan::{CommandSpec, EnvId, Plan};
use crate::sanitize::{self, drop_hidden_frames, last_frame as frame, last_frame_joined};

/// Framed output gathered before it is written to `out` in one call: the size of the
/// `BufWriter` `headless` wraps stdout in, so that writes of this size bypass its buffer.
const FRAMED_BATCH: usize = 256 * 1024;
/// How much of a log's end is read for its tail, at least: the window grows with the lines
/// asked for (see [`tail_window`]).
const TAIL_WINDOW: u64 = 64 * 1024;
/// Lines of tail shown after the summary unless `--tail` or `tail` in `[settings]` say.
pub const DEFAULT_TAIL_LINES: usize = 20;
pub use crate::config::MAX_TAIL_LINES;
/// Read size when streaming a log in grouped mode.
const GROUPED_READ: usize = 64 * 1024;
/// Env name colours, given out in plan order: cyan, yellow, green, magenta, blue, bright cyan.
const NAME_COLOURS: [&str; 6] = [
    "\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[96m",
];
/// A rule framing grouped output and tails.
const RULE: &str = "────";

/// How output lines are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Live, each line prefixed with its env's name.
    #[default]
    Prefixed,
    /// Each env's whole output at once, from its log, when it finishes.
    Grouped,
}

/// Knobs of the `--ci` printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiOptions {
    /// Prefixed or grouped.
    pub output: OutputMode,
    /// Emit ANSI colours.
    pub color: bool,
    /// Grouped: print the output only of envs that did not pass.
    pub only_failed: bool,
    /// Lines of each failed env's log shown after the summary (0: none).
    pub tail_lines: usize,
    /// Prefixed: longest incomplete line kept waiting for its newline, in bytes.
    pub partial_cap: usize,
    /// Longest silence while envs run before a still-running line (zero: never).
    pub heartbeat: Duration,
    /// Running under GitHub Actions: fold groups, annotate failures with workflow commands, and
    /// pause command processing with this token around everything else printed.
    pub github: Option<github::StopToken>,
    /// Under GitHub Actions, the checkout that test annotations' paths are relative to.
    pub github_workspace: Option<PathBuf>,
}

impl Default for CiOptions {
    fn default() -> Self {
        Self {
            output: OutputMode::Prefixed,
            color: false,
            only_failed: false,
            tail_lines: DEFAULT_TAIL_LINES,
            partial_cap: 64 * 1024,
            heartbeat: Duration::from_secs(60),
            github: None,
            github_workspace: None,
        }
    }
}

/// What the printer keeps per env.
struct PrintedEnv {
    name: String,
    commands: Vec<String>,
    /// `<name padded> | ` (coloured when asked): stdout lines and status lines.
    prefix: Vec<u8>,
    /// `<name padded> ! `: stderr lines.
    err_prefix: Vec<u8>,
    /// Incomplete trailing line, per stream (stdout, stderr).
    partial: [Vec<u8>; 2],
    started: Option<Instant>,
    finished: bool,
    /// Its launched job waits for the cluster.
    queued: bool,
    /// Grouped: the whole output of its last finished attempt was printed.
    body_printed: bool,
}

impl PrintedEnv {
    fn running(&self) -> bool {
        self.started.is_some() && !self.finished
    }
}

/// The suffixes printed after a line that had no newline.
struct Marks {
    no_newline: Vec<u8>,
    continues: Vec<u8>,
}

impl Marks {
    fn new(color: bool) -> Self {
        let mark = |text: &str| {
            if color {
                format!("{DIM}{text}{RESET}").into_bytes()
            } else {
                text.as_bytes().to_vec()
            }
        };
        Self {
            no_newline: mark("  [no newline at end]"),
            continues: mark("  [line continues]"),
        }
    }
}

/// The `--ci` printer. Feed it every event with [`handle`](Self::handle), call
/// [`tick`](Self::tick) by [`next_tick`](Self::next_tick), then [`finish`](Self::finish).
pub struct CiReporter<W: Write> {
    /// The sink, printing everything with GitHub workflow commands paused except runall's own.
    out: github::CommandGuard<W>,
    options: CiOptions,
    envs: Vec<PrintedEnv>,
    marks: Marks,
    /// When the last line was printed (heartbeat clock).
    last_line: Instant,
    /// Reused read buffer for streaming logs.
    scratch: Vec<u8>,
    /// Framed output lines not yet written to `out`: lines are assembled here (three appends
    /// per line, inlined, where `out` is often a `dyn Write`) and written in one call once
    /// [`FRAMED_BATCH`] bytes are pending, so a `BufWriter` of that size passes them straight
    /// through instead of copying them again. Written before anything else is printed, and by
    /// [`flush`](Self::flush).
    framed: Vec<u8>,
    /// Each env's working directory: a report's relative `file` is relative to it.
    cwds: Vec<PathBuf>,
    /// Test annotations still allowed in this run ([`github::TEST_ANNOTATIONS_TOTAL`]).
    test_annotations_left: usize,
}

impl<W: Write> CiReporter<W> {
    /// A printer for `plan` writing to `out`; `now` starts the heartbeat clock.
    pub fn new(plan: &Plan, options: CiOptions, out: W, now: Instant) -> Self {
        let width = plan
            .envs
            .iter()
            .map(|spec| spec.name.chars().count())
            .max()
            .unwrap_or(0);
        let prefix = |index: usize, name: &str, tag: char| {
            if options.color {
                let colour = NAME_COLOURS[index % NAME_COLOURS.len()];
                format!("{colour}{name:<width$} {tag}{RESET} ").into_bytes()
            } else {
                format!("{name:<width$} {tag} ").into_bytes()
            }
        };
        let envs = plan
            .envs
            .iter()
            .enumerate()
            .map(|(index, spec)| PrintedEnv {
                name: spec.name.clone(),
                commands: spec.commands.iter().map(CommandSpec::display).collect(),
                prefix: prefix(index, &spec.name, '|'),
                err_prefix: prefix(index, &spec.name, '!'),
                partial: [Vec::new(), Vec::new()],
                started: None,
                finished: false,
                queued: false,
                body_printed: false,
            })
            .collect();
        Self {
            out: github::CommandGuard::new(out, options.github.clone()),
            marks: Marks::new(options.color),
            options,
            envs,
            last_line: now,
            scratch: Vec::new(),
            framed: Vec::new(),
            cwds: plan.envs.iter().map(|spec| spec.cwd.clone()).collect(),
            test_annotations_left: github::TEST_ANNOTATIONS_TOTAL,
        }
    }

    /// Prints what `event` calls for. Events naming an env outside the plan are ignored.
    pub fn handle(&mut self, event: &RunEvent, now: Instant) -> io::Result<()> {
        if !matches!(event, RunEvent::Output { .. }) {
            self.write_framed()?;
        }
        let wrote = match event {
            RunEvent::Output { env, stream, bytes } => self.output(*env, *stream, bytes)?,
            RunEvent::EnvStarted { env, .. } => self.env_started(*env, now)?,
            RunEvent::CommandStarted { env, index, .. } => self.command_started(*env, *index)?,
            RunEvent::EnvFinished { env, result } => self.env_finished(*env, result, true)?,
            RunEvent::EnvRetrying { env, result } => {
                self.env_finished(*env, result, false)?;
                if let Some(state) = self.envs.get_mut(*env) {
                    state.finished = false;
                }
                let text = format!("↻ retrying (attempt {})", result.attempt + 1);
                self.env_line(*env, None, &text)?;
                true
            }
            RunEvent::ShutdownStarted { cause, count } => {
                self.shutdown_started(*cause, *count)?;
                true
            }
            RunEvent::Shutdown { env, step } => self.shutdown_step(*env, step)?,
            RunEvent::LogFailed { env, path, error } => {
                // At once and on stderr, so it is seen whatever happens to stdout.
                let name = self.envs.get(*env).map_or("", |state| state.name.as_str());
                let text = format!(
                    "runall: {name}: cannot write its log {}: {error}; its output is kept in \
                     memory (bounded) and the run will fail\n",
                    path.display()
                );
                crate::stdio::write_stderr(text.as_bytes());
                false
            }
            RunEvent::JobQueued { env } => self.job_queue(*env, true)?,
            RunEvent::JobStarted { env } => self.job_queue(*env, false)?,
            RunEvent::WaitingForMemory {
                env,
                expected,
                running,
            } => {
                let text = format!(
                    "waiting for memory (expects {}, running envs {})",
                    format_bytes(*expected),
                    format_bytes(*running)
                );
                self.env_line(*env, None, &text)?;
                true
            }
            RunEvent::LogOpened { .. } | RunEvent::Usage { .. } | RunEvent::RunFinished { .. } => {
                false
            }
        };
        if wrote {
            self.last_line = now;
        }
        Ok(())
    }

    /// Prints the still-running line when it is due (see [`next_tick`](Self::next_tick)).
    pub fn tick(&mut self, now: Instant) -> io::Result<()> {
        match self.next_tick() {
            Some(due) if now >= due => {}
            _ => return Ok(()),
        }
        self.write_framed()?;
        self.out.write_all(b"runall: still running: ")?;
        let running = self.envs.iter().filter_map(|env| Some((env, env.started?)));
        let running = running.filter(|(env, _)| !env.finished);
        for (i, (env, started)) in running.enumerate() {
            if i > 0 {
                self.out.write_all(b", ")?;
            }
            let elapsed = now.saturating_duration_since(started);
            let queued = if env.queued { "queued, " } else { "" };
            write!(
                self.out,
                "{} ({queued}{})",
                env.name,
                format_duration(elapsed)
            )?;
        }
        self.out.write_all(b"\n")?;
        self.last_line = now;
        Ok(())
    }

    /// When [`tick`](Self::tick) next has something to print: `heartbeat` after the last line,
    /// while some env runs. `None` when nothing runs or the heartbeat is off.
    pub fn next_tick(&self) -> Option<Instant> {
        if self.options.heartbeat.is_zero() || !self.envs.iter().any(PrintedEnv::running) {
            return None;
        }
        self.last_line.checked_add(self.options.heartbeat)
    }

    /// Ends the report: prints any line still waiting for its newline, the summary table and
    /// counts, then the last `tail_lines` lines of every env that ran and did not pass (but not
    /// of an env whose whole output `only_failed` grouped output has just printed). Under
    /// GitHub Actions all of it is printed with workflow commands paused, resumed at the end.
    pub fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.write_framed()?;
        for env in 0..self.envs.len() {
            self.flush_partials(env)?;
        }
        self.out.write_all(b"\n")?;
        summary.write_table(&mut self.out, self.options.color)?;
        summary.write_test_results(&mut self.out, self.options.color)?;
        for env in 0..self.envs.len() {
            let Some(result) = summary.result(env) else {
                continue;
            };
            let printed = self.options.only_failed && self.envs[env].body_printed;
            if self.options.tail_lines > 0 && result.ran() && !result.ok() && !printed {
                self.write_tail(env, result)?;
            }
        }
        self.out.resume()
    }

    /// Flushes `out` (call it when the event queue is momentarily empty).
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_framed()?;
        self.out.flush()
    }

    /// The sink back, with every framed line written to it (a write error there is dropped:
    /// call [`flush`](Self::flush) first to see it).
    pub fn into_inner(mut self) -> W {
        let _ = self.write_framed();
        self.out.into_inner()
    }

    /// Writes the pending framed lines to `out`.
    fn write_framed(&mut self) -> io::Result<()> {
        if self.framed.is_empty() {
            return Ok(());
        }
        let written = self.out.write_all(&self.framed);
        self.framed.clear();
        written
    }

    fn output(&mut self, env: EnvId, stream: Stream, bytes: &[u8]) -> io::Result<bool> {
        if self.options.output == OutputMode::Grouped {
            // The log file has every byte; grouped mode prints from it at the env's end.
            return Ok(false);
        }
        let Some(state) = self.envs.get_mut(env) else {
            return Ok(false);
        };
        let (prefix, partial) = match stream {
            Stream::Stdout => (&state.prefix, &mut state.partial[0]),
            Stream::Stderr => (&state.err_prefix, &mut state.partial[1]),
        };
        let mut pump = Pump::new(&mut self.framed, prefix, &self.options, &self.marks);
        let wrote = pump.push(partial, bytes);
        if self.framed.len() >= FRAMED_BATCH {
            self.write_framed()?;
        }
        Ok(wrote)
    }

    fn env_started(&mut self, env: EnvId, now: Instant) -> io::Result<bool> {
        let Some(state) = self.envs.get_mut(env) else {
            return Ok(false);
        };
        state.started = Some(now);
        if self.options.output == OutputMode::Prefixed {
            // The command line that follows says it.
            return Ok(false);
        }
        writeln!(self.out, "runall: started {}", state.name)?;
        Ok(true)
    }

    /// A launched job is queued (`true`) or left the queue: said in both modes, since a
    /// queued env is not running yet whatever the clock says.
    fn job_queue(&mut self, env: EnvId, queued: bool) -> io::Result<bool> {
        let Some(state) = self.envs.get_mut(env) else {
            return Ok(false);
        };
        state.queued = queued;
        let text = if queued {
            "⧖ queued: the cluster has not started its job yet"
        } else {
            "▶ its job started"
        };
        let colour = self.options.color.then_some(YELLOW);
        self.env_line(env, colour, text)?;
        Ok(true)
    }

    fn command_started(&mut self, env: EnvId, index: usize) -> io::Result<bool> {
        if self.options.output == OutputMode::Grouped {
            return Ok(false);
        }
        let Some(state) = self.envs.get(env) else {
            return Ok(false);
        };
        let Some(command) = state.commands.get(index) else {
            return Ok(false);
        };
        // A multi-line shell command: every line gets the prefix, later ones indented under
        // the first; each sanitised like a child's line.
        let mut lines = command.lines();
        let first = lines.next().unwrap_or("");
        for (mark, line) in std::iter::once(("$ ", first)).chain(lines.map(|l| ("  ", l))) {
            self.framed.extend_from_slice(&state.prefix);
            self.framed.extend_from_slice(mark.as_bytes());
            sanitize::push_line(&mut self.framed, line.as_bytes(), false);
            self.framed.push(b'\n');
        }
        self.write_framed()?;
        Ok(true)
    }

    /// Prints an env's end; `last` is false for a failed attempt that will be retried (no
    /// annotation: it is not the env's outcome).
    fn env_finished(&mut self, env: EnvId, result: &EnvResult, last: bool) -> io::Result<bool> {
        let Some(state) = self.envs.get_mut(env) else {
            return Ok(false);
        };
        state.finished = true;
        state.queued = false;
        let verdict = result.verdict();
        let colour = self.options.color.then(|| verdict_colour(Some(verdict)));
        match self.options.output {
            OutputMode::Prefixed => {
                self.flush_partials(env)?;
                let symbol = match verdict {
                    Verdict::Passed => "✔",
                    Verdict::Skipped => "⊘",
                    _ if !result.ran() => "⊘",
                    Verdict::Failed | Verdict::Interrupted | Verdict::NotRun => "✘",
                };
                let mut text = format!("{symbol} {}", result.describe());
                if result.ran() {
                    text.push_str(" in ");
                    text.push_str(&format_duration(result.duration));
                }
                if let Some(counts) = result.test_counts() {
                    text.push_str(" · ");
                    text.push_str(&counts);
                }
                self.env_line(env, colour, &text)?;
            }
            OutputMode::Grouped => {
                let name = self.envs[env].name.clone();
                let mut time = if result.ran() {
                    format!(" ({})", format_duration(result.duration))
                } else {
                    String::new()
                };
                if let Some(counts) = result.test_counts() {
                    time.push_str(" · ");
                    time.push_str(&counts);
                }
                let body =
                    result.ran() && !(self.options.only_failed && verdict == Verdict::Passed);
                self.envs[env].body_printed = body;
                if body && self.options.github.is_some() {
                    let title = format!("{name}: {}{time}", result.describe());
                    self.workflow_command(&github::group_start(&title))?;
                    self.copy_log(result)?;
                    self.workflow_command(github::GROUP_END)?;
                } else {
                    let header = format!("{RULE} {name}: {}{time} {RULE}", result.describe());
                    write_coloured(&mut self.out, colour, &header)?;
                    if body {
                        self.copy_log(result)?;
                        let footer = format!("{RULE} end of {} {RULE}", self.envs[env].name);
                        write_coloured(&mut self.out, colour, &footer)?;
                    }
                }
            }
        }
        for warning in result.test_warnings() {
            // Report paths and messages come from the env's files.
            let text = format!("⚠ {}", sanitize::text(warning.as_bytes()));
            self.env_line(env, None, &text)?;
        }
        for leaked in &result.leaked {
            // The command line comes from /proc: the process chose it.
            let command = sanitize::text(leaked.command.as_bytes());
            let text = format!("⚠ leaked pid {}: {command} (killed)", leaked.pid);
            self.env_line(env, None, &text)?;
        }
        if self.options.github.is_some() && last {
            let every_failure_annotated = self.github_tests(env, result)?;
            if !result.ok() && !every_failure_annotated {
                self.github_error(env, result)?;
            }
        }
        Ok(true)
    }

    /// One annotation per failing test whose report gives a file and line (`error`, or
    /// `warning` when the env passed anyway), at most [`github::TEST_ANNOTATIONS_PER_ENV`]
    /// per env and [`github::TEST_ANNOTATIONS_TOTAL`] per run, then one saying how many more;
    /// a `warning` per report problem. True when every failing test got its own annotation
    /// (then the env's own `::error` would only repeat them).
    fn github_tests(&mut self, env: EnvId, result: &EnvResult) -> io::Result<bool> {
        let Some(tests) = result.tests.clone() else {
            return Ok(false);
        };
        let name = self
            .envs
            .get(env)
            .map_or("", |state| state.name.as_str())
            .to_owned();
        let passed = result.verdict() == Verdict::Passed;
        let level = if passed { "warning" } else { "error" };
        let cwd = self.cwds.get(env).cloned().unwrap_or_default();
        let mut all = tests.counts.failures() > 0;
        let mut annotated = 0;
        let mut skipped = 0u64;
        for case in tests.failing() {
            let (Some(file), Some(line)) = (case.file.as_deref(), case.line) else {
                all = false;
                continue;
            };
            if annotated >= github::TEST_ANNOTATIONS_PER_ENV || self.test_annotations_left == 0 {
                skipped += 1;
                continue;
            }
            let path =
                github::annotation_path(&cwd, file, self.options.github_workspace.as_deref());
            let line = github::test_annotation(level, &name, case, &path, line);
            self.workflow_command(&line)?;
            annotated += 1;
            self.test_annotations_left -= 1;
        }
        if skipped > 0 {
            let line = github::env_annotation(
                level,
                &name,
                &format!("{skipped} more failing tests"),
                &format!(
                    "not annotated one by one (at most {} per env, {} per run): see the step \
                     summary and the log",
                    github::TEST_ANNOTATIONS_PER_ENV,
                    github::TEST_ANNOTATIONS_TOTAL
                ),
            );
            self.workflow_command(&line)?;
        }
        for warning in result.test_warnings() {
            let line = github::env_annotation("warning", &name, "test reports", &warning);
            self.workflow_command(&line)?;
        }
        Ok(all)
    }

    /// The `::error` annotation of an env that did not pass, quoting its last lines.
    fn github_error(&mut self, env: EnvId, result: &EnvResult) -> io::Result<()> {
        let lines: Vec<String> = if result.ran() {
            match crate::log::reader::tail(result, TAIL_WINDOW) {
                Ok((data, cut)) => last_lines(&data, cut, github::ERROR_LINES)
                    .0
                    .iter()
                    .map(|line| sanitize::text(frame(line)))
                    .collect(),
                Err(_) => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let name = self.envs.get(env).map_or("", |state| state.name.as_str());
        let line = github::error_line(name, &result.describe(), &lines);
        self.workflow_command(&line)
    }

    /// Prints one of runall's own workflow commands, live (everything else the printer writes
    /// goes out with commands paused: [`github::CommandGuard`]).
    fn workflow_command(&mut self, line: &str) -> io::Result<()> {
        self.out.command(line)
    }

    fn shutdown_started(&mut self, cause: ShutdownCause, count: u32) -> io::Result<()> {
        let text = if count >= 2 {
            "second interrupt: killing every env now".to_owned()
        } else {
            match cause {
                ShutdownCause::Signal(signal) => {
                    let running = self.envs.iter().filter(|env| env.running()).count();
                    let signal = signal_name(signal);
                    match running {
                        0 => format!("received {signal}: stopping"),
                        1 => format!(
                            "received {signal}: stopping 1 running env \
                             (press Ctrl-C again to kill it now)"
                        ),
                        n => format!(
                            "received {signal}: stopping {n} running envs \
                             (press Ctrl-C again to kill them now)"
                        ),
                    }
                }
                ShutdownCause::OutputClosed => "output closed: stopping".to_owned(),
                ShutdownCause::FailFast(env) => {
                    let name = self.envs.get(env).map_or("an env", |env| env.name.as_str());
                    format!("--fail-fast: {name} failed, stopping")
                }
            }
        };
        let colour = self.options.color.then_some(YELLOW);
        write_coloured(&mut self.out, colour, &format!("runall: {text}"))
    }

    fn shutdown_step(&mut self, env: EnvId, step: &ShutdownStep) -> io::Result<bool> {
        if env >= self.envs.len() {
            return Ok(false);
        }
        let text = match step {
            ShutdownStep::Signalled { pid, signal } => {
                format!("→ sent {} to process group {pid}", signal_name(*signal))
            }
            ShutdownStep::Draining { holders } if holders.is_empty() => {
                "… main process exited; waiting for its output to close".to_owned()
            }
            ShutdownStep::Draining { holders } => format!(
                "… main process exited; waiting for {} holding its output",
                pids(holders)
            ),
            ShutdownStep::PipeClosed { holders } if holders.is_empty() => {
                "✂ closed its output".to_owned()
            }
            ShutdownStep::PipeClosed { holders } => {
                format!("✂ closed its output: still held by {}", pids(holders))
            }
            ShutdownStep::HookStarted {
                step,
                command,
                signalled,
            } => {
                let alone = if *signalled {
                    ""
                } else {
                    " (no local signal: the hook carries this step)"
                };
                format!(
                    "→ {step} hook: {}{alone}",
                    sanitize::text(command.as_bytes())
                )
            }
            ShutdownStep::HookFinished {
                step,
                command,
                failure,
                output,
            } => {
                let how = failure.as_deref().unwrap_or("passed");
                let text = format!(
                    "⚠ {step} hook {how}: {}",
                    sanitize::text(command.as_bytes())
                );
                self.env_line(env, None, &text)?;
                for line in output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let line = format!("  {}", sanitize::text(sanitize::trim_cr(line)));
                    self.env_line(env, None, &line)?;
                }
                return Ok(true);
            }
        };
        self.env_line(env, None, &text)?;
        Ok(true)
    }

    /// `<prefix><text>\n`, the text coloured when `colour` is given.
    fn env_line(&mut self, env: EnvId, colour: Option<&str>, text: &str) -> io::Result<()> {
        let Some(state) = self.envs.get(env) else {
            return Ok(());
        };
        self.out.write_all(&state.prefix)?;
        write_coloured(&mut self.out, colour, text)
    }

    /// Prints the env's incomplete lines, marked as lacking their newline.
    fn flush_partials(&mut self, env: EnvId) -> io::Result<()> {
        let Some(state) = self.envs.get_mut(env) else {
            return Ok(());
        };
        let [out_partial, err_partial] = &mut state.partial;
        for (prefix, partial) in [
            (&state.prefix, out_partial),
            (&state.err_prefix, err_partial),
        ] {
            let mut pump = Pump::new(&mut self.framed, prefix, &self.options, &self.marks);
            pump.finish(partial);
        }
        self.write_framed()
    }

    /// Streams an env's whole output (its log, plus what an incomplete log lacks) to `out`,
    /// framed and sanitised line by line as prefixed output is (without the prefix); a read
    /// error is reported in the output, not returned.
    fn copy_log(&mut self, result: &EnvResult) -> io::Result<()> {
        let path = &result.log_path;
        let mut file = match crate::log::reader::open(result) {
            Ok(file) => file,
            Err(error) => return self.log_error(path, &error),
        };
        self.scratch.resize(GROUPED_READ, 0);
        let mut partial = Vec::new();
        loop {
            let read = file.read(&mut self.scratch);
            let mut pump = Pump::new(&mut self.framed, b"", &self.options, &self.marks);
            match read {
                Ok(0) => {
                    pump.finish(&mut partial);
                    break;
                }
                Ok(n) => {
                    pump.push(&mut partial, &self.scratch[..n]);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    pump.finish(&mut partial);
                    self.write_framed()?;
                    return self.log_error(path, &error);
                }
            }
            if self.framed.len() >= FRAMED_BATCH {
                self.write_framed()?;
            }
        }
        self.write_framed()
    }

    fn log_error(&mut self, path: &Path, error: &io::Error) -> io::Result<()> {
        writeln!(
            self.out,
            "runall: cannot read log {}: {error}",
            path.display()
        )
    }

    /// `──── last N lines of <env> (<log>) ────` and those lines.
    fn write_tail(&mut self, env: EnvId, result: &EnvResult) -> io::Result<()> {
        let name = self.envs.get(env).map_or("", |env| env.name.as_str());
        let path = &result.log_path;
        let colour = self
            .options
            .color
            .then(|| verdict_colour(Some(result.verdict())));
        let (data, cut) =
            match crate::log::reader::tail(result, tail_window(self.options.tail_lines)) {
                Ok(tail) => tail,
                Err(error) => return self.log_error(path, &error),
            };
        let (lines, complete) = last_lines(&data, cut, self.options.tail_lines);
        let header = match lines.len() {
            0 => format!("{RULE} no output from {name} ({}) {RULE}", path.display()),
            1 => format!("{RULE} last line of {name} ({}) {RULE}", path.display()),
            n => format!(
                "{RULE} last {n} lines of {name} ({}) {RULE}",
                path.display()
            ),
        };
        write_coloured(&mut self.out, colour, &header)?;
        let last = lines.len().saturating_sub(1);
        for (i, line) in lines.iter().enumerate() {
            let mark: &[u8] = if i == last && !complete {
                &self.marks.no_newline
            } else {
                b""
            };
            push_marked(&mut self.framed, b"", frame(line), mark, self.options.color);
        }
        self.write_framed()
    }
}

/// Splits one stream's bytes into prefixed, sanitised lines.
struct Pump<'a> {
    out: &'a mut Vec<u8>,
    prefix: &'a [u8],
    cap: usize,
    marks: &'a Marks,
    /// Keep the child's SGR colour codes (see [`sanitize`]).
    colour: bool,
}

impl<'a> Pump<'a> {
    /// A framer appending to `out`, with `prefix` before every line, by `options`' line cap
    /// and colour rule.
    fn new(out: &'a mut Vec<u8>, prefix: &'a [u8], options: &CiOptions, marks: &'a Marks) -> Self {
        Self {
            out,
            prefix,
            cap: options.partial_cap,
            marks,
            colour: options.color,
        }
    }

    /// Appends every line `bytes` completes and keeps the incomplete rest in `partial`.
    /// Returns whether anything was printed.
    fn push(&mut self, partial: &mut Vec<u8>, bytes: &[u8]) -> bool {
        let mut wrote = false;
        let mut rest = bytes;
        if !partial.is_empty() {
            let Some(nl) = memchr(b'\n', rest) else {
                return self.keep(partial, rest);
            };
            let (head, tail) = last_frame_joined(partial, &rest[..nl]);
            self.out.extend_from_slice(self.prefix);
            if sanitize::is_plain(head) && sanitize::is_plain(tail) {
                self.out.extend_from_slice(head);
                self.out.extend_from_slice(tail);
            } else {
                let line = [head, tail].concat();
                sanitize::push_line(self.out, &line, self.colour);
            }
            self.out.push(b'\n');
            partial.clear();
            rest = &rest[nl + 1..];
            wrote = true;
        }
        // Hot path: lines without `\r` go out with their newline, straight from the event's
        // bytes, once the sanitiser finds the chunk (or else the line) plain. A chunk without
        // any `\r` needs only the newlines.
        let mut start = 0;
        // One vectorised pass says whether any line of the chunk needs the sanitiser at all,
        // and whether any has a `\r` to frame.
        let scan = sanitize::scan_lines(rest);
        let plain = scan.plain;
        if !scan.has_cr {
            for pos in memchr_iter(b'\n', rest) {
                self.out.extend_from_slice(self.prefix);
                let line = &rest[start..pos];
                if plain || sanitize::is_plain(line) {
                    self.out.extend_from_slice(&rest[start..=pos]);
                } else {
                    sanitize::push_line(self.out, line, self.colour);
                    self.out.push(b'\n');
                }
                start = pos + 1;
            }
            wrote |= start > 0;
            let tail = &rest[start..];
            if !tail.is_empty() {
                wrote |= self.keep(partial, tail);
            }
            return wrote;
        }
        let mut has_cr = false;
        for pos in memchr2_iter(b'\n', b'\r', rest) {
            if rest[pos] == b'\r' {
                has_cr = true;
                continue;
            }
            let line = &rest[start..pos];
            self.out.extend_from_slice(self.prefix);
            let line = if has_cr { frame(line) } else { line };
            if plain {
                self.out.extend_from_slice(line);
            } else {
                sanitize::push_line(self.out, line, self.colour);
            }
            self.out.push(b'\n');
            start = pos + 1;
            has_cr = false;
            wrote = true;
        }
        let tail = &rest[start..];
        if !tail.is_empty() {
            wrote |= self.keep(partial, tail);
        }
        wrote
    }

    /// Buffers an incomplete piece; prints cap-sized parts while the buffer is over the cap.
    fn keep(&mut self, partial: &mut Vec<u8>, piece: &[u8]) -> bool {
        partial.extend_from_slice(piece);
        if memchr(b'\r', piece).is_some() {
            drop_hidden_frames(partial);
        }
        let mut start = 0;
        while partial.len() - start > self.cap {
            let cut = start + utf8_cut(&partial[start..], self.cap);
            push_marked(
                self.out,
                self.prefix,
                frame(&partial[start..cut]),
                &self.marks.continues,
                self.colour,
            );
            start = cut;
        }
        partial.drain(..start);
        start > 0
    }

    /// Prints what `partial` still holds, marked as lacking its newline.
    fn finish(&mut self, partial: &mut Vec<u8>) {
        if !partial.is_empty() {
            push_marked(
                self.out,
                self.prefix,
                frame(partial),
                &self.marks.no_newline,
                self.colour,
            );
            partial.clear();
        }
    }
}

/// `prefix line mark\n`, the line sanitised.
fn push_marked(out: &mut Vec<u8>, prefix: &[u8], line: &[u8], mark: &[u8], colour: bool) {
    out.extend_from_slice(prefix);
    sanitize::push_line(out, line, colour);
    out.extend_from_slice(mark);
    out.push(b'\n');
}

/// `text\n`, coloured when `colour` is given.
fn write_coloured<W: Write + ?Sized>(
    out: &mut W,
    colour: Option<&str>,
    text: &str,
) -> io::Result<()> {
    match colour {
        Some(colour) => writeln!(out, "{colour}{text}{RESET}"),
        None => writeln!(out, "{text}"),
    }
}

/// `pid 77` or `pids 77, 78`.
fn pids(holders: &[i32]) -> String {
    let list: Vec<String> = holders.iter().map(ToString::to_string).collect();
    let word = if holders.len() == 1 { "pid" } else { "pids" };
    format!("{word} {}", list.join(", "))
}

/// Where to cut `bytes` (longer than `cap`) near `cap`: backs off up to three bytes so a UTF-8
/// sequence is not split; never returns 0.
fn utf8_cut(bytes: &[u8], cap: usize) -> usize {
    let is_continuation = |b: u8| b & 0xC0 == 0x80;
    let cap = cap.min(bytes.len()).max(1);
    (cap.saturating_sub(3).max(1)..=cap)
        .rev()
        .find(|&cut| cut == bytes.len() || !is_continuation(bytes[cut]))
        .unwrap_or(cap)
}

/// The bytes of a log's end read for `lines` lines of tail: 1 KiB a line, at least
/// [`TAIL_WINDOW`], at most 16 MiB (what [`MAX_TAIL_LINES`] asks for at most).
fn tail_window(lines: usize) -> u64 {
    let lines = u64::try_from(lines).unwrap_or(u64::MAX);
    lines
        .saturating_mul(1024)
        .clamp(TAIL_WINDOW, 16 * 1024 * 1024)
}

/// The last `n` lines of `data` (without their `\n`), and whether the last one was complete.
/// When `cut` (the data starts mid-file), a first line lacking its start is dropped unless it is
/// all there is.
fn last_lines(data: &[u8], cut: bool, n: usize) -> (Vec<&[u8]>, bool) {
    if n == 0 || data.is_empty() {
        return (Vec::new(), true);
    }
    let (body, complete) = match data.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (data, false),
    };
    let mut start = if cut {
        memchr(b'\n', body).map_or(0, |pos| pos + 1)
    } else {
        0
    };
    if let Some(pos) = memrchr_iter(b'\n', body).nth(n.saturating_sub(1)) {
        start = start.max(pos + 1);
    }
    (body[start..].split(|&b| b == b'\n').collect(), complete)
}

#[cfg(test)]
mod tests {

    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::event::{EnvStatus, ExitKind, LeakedProcess, StopCause};
    use crate::plan::{CommandSpec, EnvSpec};

    fn plan_in(names: &[&str], log_dir: &Path) -> Plan {
        let envs = names
            .iter()
            .map(|name| EnvSpec {
                commands: vec![
                    CommandSpec::Shell(format!("make {name}")),
                    CommandSpec::Argv(vec!["echo".into(), "done".into()]),
                ],
                ..EnvSpec::shell(name, "", "/tmp")
            })
            .collect();
        Plan::new(envs, 3, log_dir)
    }

    fn plan() -> Plan {
        plan_in(&["unit", "lint", "docs-site"], Path::new(".runall/logs"))
    }

    fn reporter(options: CiOptions) -> CiReporter<Vec<u8>> {
        CiReporter::new(&plan(), options, Vec::new(), Instant::now())
    }

    fn out(env: EnvId, bytes: &[u8]) -> RunEvent {
        RunEvent::Output {
            env,
            stream: Stream::Stdout,
            bytes: bytes.to_vec(),
        }
    }

    fn err(env: EnvId, bytes: &[u8]) -> RunEvent {
        RunEvent::Output {
            env,
            stream: Stream::Stderr,
            bytes: bytes.to_vec(),
        }
    }

    fn result(log_path: &Path, status: EnvStatus, millis: u64) -> EnvResult {
        EnvResult::new(status, Duration::from_millis(millis), log_path)
    }

    fn exit(code: i32) -> EnvStatus {
        EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(code),
        }
    }

    fn finished(env: EnvId, result: EnvResult) -> RunEvent {
        RunEvent::EnvFinished { env, result }
    }

    fn feed(reporter: &mut CiReporter<Vec<u8>>, events: &[RunEvent]) {
        let now = Instant::now();
        for event in events {
            reporter.handle(event, now).unwrap();
        }
    }

    fn text(reporter: CiReporter<Vec<u8>>) -> String {
        String::from_utf8(reporter.into_inner()).unwrap()
    }

    fn printed(events: &[RunEvent]) -> String {
        let mut r = reporter(CiOptions::default());
        feed(&mut r, events);
        text(r)
    }

    #[test]
    fn lines_stay_whole_across_interleaved_chunks() {
        let got = printed(&[
            out(0, b"hel"),
            out(1, b"a\nb"),
            out(0, b"lo\nwor"),
            out(2, b"x"),
            out(1, b"c\n"),
            out(0, b"ld\nfoo\nbar\n"),
            out(2, b"y\n"),
        ]);
        assert_eq!(
            got,
            "\
lint      | a
unit      | hello
lint      | bc
unit      | world
unit      | foo
unit      | bar
docs-site | xy
"
        );
    }

    #[test]
    fn framed_lines_are_batched_but_keep_their_place() {
        let mut r = reporter(CiOptions::default());
        let now = Instant::now();
        r.handle(&out(0, b"one\ntwo\n"), now).unwrap();
        // Batched: nothing reached the sink yet.
        assert!(r.out.get_ref().is_empty());
        let started = RunEvent::CommandStarted {
            env: 1,
            index: 0,
            pid: 7,
        };
        r.handle(&started, now).unwrap();
        r.handle(&out(1, b"three\n"), now).unwrap();
        r.flush().unwrap();
        assert_eq!(
            String::from_utf8(r.out.get_ref().clone()).unwrap(),
            "\
unit      | one
unit      | two
lint      | $ make lint
lint      | three
"
        );
        // A batch reaching FRAMED_BATCH is written at once.
        let line = [b'x'; 99];
        let mut chunk = Vec::new();
        while chunk.len() < FRAMED_BATCH {
            chunk.extend_from_slice(&line);
            chunk.push(b'\n');
        }
        let before = r.out.get_ref().len();
        r.handle(&out(2, &chunk), now).unwrap();
        assert!(r.out.get_ref().len() - before > FRAMED_BATCH);
    }

    #[test]
    fn every_split_of_the_input_prints_the_same() {
        let input: &[u8] = b"one\r\ntwo 10%\r20%\r\nthree\n\nfour\n";
        let expected = printed(&[out(0, input)]);
        assert_eq!(
            expected,
            "unit      | one\nunit      | 20%\nunit      | three\nunit      | \nunit      | four\n"
        );
        for a in 0..=input.len() {
            for b in a..=input.len() {
                let chunks = [&input[..a], &input[a..b], &input[b..]];
                let events: Vec<RunEvent> = chunks.iter().map(|c| out(0, c)).collect();
                assert_eq!(printed(&events), expected, "split at {a}, {b}");
            }
        }
    }

    #[test]
    fn carriage_returns_print_the_last_frame() {
        let got = printed(&[
            out(0, b"10%\r20%\r30%\n"),
            out(0, b"crlf\r\n"),
            out(0, b"done\r\r\n"),
            out(0, b"\rlead\n"),
            out(0, b"50%\r"),
            out(0, b"\n"),
            out(0, b"a\r"),
            out(0, b"b\n"),
        ]);
        assert_eq!(
            got,
            "\
unit      | 30%
unit      | crlf
unit      | done
unit      | lead
unit      | 50%
unit      | b
"
        );
    }

    #[test]
    fn progress_without_newline_keeps_only_its_last_frame() {
        let mut r = reporter(CiOptions {
            partial_cap: 16,
            ..CiOptions::default()
        });
        for i in 0..100 {
            feed(&mut r, &[out(0, format!("\r{i}%").as_bytes())]);
        }
        assert!(r.envs[0].partial[0].len() <= 3, "frames are compacted");
        feed(&mut r, &[out(0, b"\r")]);
        feed(
            &mut r,
            &[finished(
                0,
                result(Path::new("u.log"), EnvStatus::Passed, 2000),
            )],
        );
        assert_eq!(
            text(r),
            "unit      | 99%  [no newline at end]\nunit      | ✔ passed in 2.0s\n"
        );
    }

    #[test]
    fn partial_line_is_printed_when_its_env_ends() {
        let got = printed(&[
            out(0, b"first\nno-newline-at-end"),
            err(0, b"oops"),
            out(1, b"lint line\n"),
            finished(0, result(Path::new("u.log"), exit(3), 500)),
        ]);
        assert_eq!(
            got,
            "\
unit      | first
lint      | lint line
unit      | no-newline-at-end  [no newline at end]
unit      ! oops  [no newline at end]
unit      | ✘ exit 3 in 500ms
"
        );
    }

    #[test]
    fn long_partial_line_is_cut_at_the_cap() {
        let mut r = reporter(CiOptions {
            partial_cap: 8,
            ..CiOptions::default()
        });
        feed(
            &mut r,
            &[
                out(0, b"abcdefghijkl"),
                out(0, b"mnopqrstuvwxyz0123456789"),
                out(0, b"!\n"),
                out(0, b"this complete line is longer than the cap\n"),
            ],
        );
        assert_eq!(
            text(r),
            "\
unit      | abcdefgh  [line continues]
unit      | ijklmnop  [line continues]
unit      | qrstuvwx  [line continues]
unit      | yz012345  [line continues]
unit      | 6789!
unit      | this complete line is longer than the cap
"
        );
    }

    #[test]
    fn cap_cut_keeps_utf8_sequences_whole() {
        let mut r = reporter(CiOptions {
            partial_cap: 4,
            ..CiOptions::default()
        });
        feed(&mut r, &[out(0, "abcé€x".as_bytes()), out(0, b"\n")]);
        assert_eq!(
            text(r),
            "\
unit      | abc  [line continues]
unit      | é  [line continues]
unit      | €x
"
        );
        assert_eq!(utf8_cut(b"\x80\x80\x80\x80\x80\x80", 4), 4);
        assert_eq!(utf8_cut(b"ab", 0), 1);
    }

    #[test]
    fn invalid_utf8_and_control_bytes_are_shown_not_sent() {
        for color in [false, true] {
            let mut r = reporter(CiOptions {
                color,
                ..CiOptions::default()
            });
            feed(
                &mut r,
                &[
                    out(0, b"ok \xff\xfe \xc3\x28 end\n"),
                    out(0, b"a\0b\x1b[31mred\x1b[0m\x1b]0;title\x07\x1b[2J\n\x9b"),
                    finished(0, result(Path::new("u.log"), EnvStatus::Passed, 5)),
                ],
            );
            let got = String::from_utf8(r.into_inner()).unwrap();
            let (sgr, prefix) = if color {
                ("\x1b[31mred\x1b[0m\x1b[0m", "\x1b[36munit      |\x1b[0m ")
            } else {
                ("red", "unit      | ")
            };
            let end = if color {
                "\x1b[2m  [no newline at end]\x1b[0m"
            } else {
                "  [no newline at end]"
            };
            let passed = if color {
                "\x1b[32m✔ passed in 5ms\x1b[0m"
            } else {
                "✔ passed in 5ms"
            };
            assert_eq!(
                got,
                format!(
                    "{prefix}ok \\xff\\xfe \\xc3( end\n\
                     {prefix}a\\x00b{sgr}\n\
                     {prefix}\\x9b{end}\n\
                     {prefix}{passed}\n"
                ),
                "color={color}"
            );
        }
    }

    #[test]
    fn child_escapes_cannot_reach_the_terminal_or_runalls_prefix() {
        let mut r = reporter(CiOptions {
            partial_cap: 16,
            ..CiOptions::default()
        });
        feed(
            &mut r,
            &[
                // Erase the line and go to column 1, then forge another env's line.
                out(0, b"\x1b[2K\x1b[1Glint      | forged\n"),
                out(0, b"\x08\x08\x08\x08\x08\x08gone\n"),
                out(
                    0,
                    b"\x1b]52;c;ZXZpbA==\x07\x1b]0;title\x07\x1b[?1049h\x1b[?25l\x1b[?1000hx\n",
                ),
                // Split across chunks (the partial path), with a \r frame.
                out(0, b"10%\x1b[1A"),
                out(0, b"\r\x1b[1Adone\x07\n"),
                // Over the cap (the cut path).
                out(0, b"\x0b\x0c\x0e\x0fabcdefghijklmnopq"),
                out(0, "\u{9b}2J\n".as_bytes()),
                // Progress frames are still collapsed before sanitising.
                out(1, b"a\rb\x1b[K\n"),
            ],
        );
        assert_eq!(
            text(r),
            "\
unit      | lint      | forged
unit      | \\x08\\x08\\x08\\x08\\x08\\x08gone
unit      | x
unit      | done\\x07
unit      | \\x0b\\x0c\\x0e\\x0fabcdefghijkl  [line continues]
unit      | mnopq\\u{9b}2J
lint      | b
"
        );
    }

    #[test]
    fn a_leaked_command_line_cannot_forge_a_line() {
        let mut leaky = result(Path::new("u.log"), EnvStatus::Passed, 5);
        leaky.leaked.push(LeakedProcess {
            pid: 77,
            command: "sleep 9\nlint      | FAKE\x1b[2K".into(),
        });
        let got = printed(&[finished(0, leaky)]);
        assert_eq!(
            got,
            "\
unit      | ✔ passed (leaked 1 process) in 5ms
unit      | ⚠ leaked pid 77: sleep 9\\x0alint      | FAKE (killed)
"
        );
    }

    #[test]
    fn stderr_lines_are_tagged() {
        let got = printed(&[
            out(1, b"to stdout\n"),
            err(1, b"to stderr\n"),
            out(1, b"par"),
            err(1, b"tial\n"),
            out(1, b"t\n"),
        ]);
        assert_eq!(
            got,
            "\
lint      | to stdout
lint      ! to stderr
lint      ! tial
lint      | part
"
        );
    }

    #[test]
    fn colour_wraps_name_and_tag() {
        let mut r = reporter(CiOptions {
            color: true,
            ..CiOptions::default()
        });
        feed(
            &mut r,
            &[
                out(0, b"u\n"),
                err(1, b"l\n"),
                out(2, b"d"),
                finished(2, result(Path::new("d.log"), exit(1), 1500)),
            ],
        );
        assert_eq!(
            text(r),
            "\
\x1b[36munit      |\x1b[0m u
\x1b[33mlint      !\x1b[0m l
\x1b[32mdocs-site |\x1b[0m d\x1b[2m  [no newline at end]\x1b[0m
\x1b[32mdocs-site |\x1b[0m \x1b[31m✘ exit 1 in 1.5s\x1b[0m
"
        );
    }

    #[test]
    fn command_lines_quote_argv_words_and_prefix_every_line() {
        let env = EnvSpec {
            commands: vec![
                CommandSpec::Shell("set -e\nmake a\n  make b\x1b[2J\n".into()),
                CommandSpec::Argv(vec!["echo".into(), "two words".into(), "it's".into()]),
            ],
            ..EnvSpec::shell("unit", "", "/tmp")
        };
        let plan = Plan::new(vec![env], 1, "/tmp");
        let mut r = CiReporter::new(&plan, CiOptions::default(), Vec::new(), Instant::now());
        for index in 0..2 {
            let started = RunEvent::CommandStarted {
                env: 0,
                index,
                pid: 1,
            };
            r.handle(&started, Instant::now()).unwrap();
        }
        assert_eq!(
            text(r),
            "\
unit | $ set -e
unit |   make a
unit |     make b
unit | $ echo 'two words' 'it'\\''s'
"
        );
    }

    #[test]
    fn commands_and_outcomes_get_one_line_each() {
        let mut leaky = result(Path::new("u.log"), EnvStatus::Passed, 1234);
        leaky.leaked.push(LeakedProcess {
            pid: 77,
            command: "sleep 100".into(),
        });
        let mut stopped = result(Path::new("l.log"), exit(130), 61_000);
        stopped.stopped_by = Some(StopCause::Interrupted);
        let got = printed(&[
            RunEvent::EnvStarted { env: 0, attempt: 1 },
            RunEvent::CommandStarted {
                env: 0,
                index: 0,
                pid: 10,
            },
            RunEvent::CommandStarted {
                env: 0,
                index: 1,
                pid: 11,
            },
            RunEvent::CommandStarted {
                env: 0,
                index: 9,
                pid: 12,
            },
            finished(0, leaky),
            finished(1, stopped),
            finished(
                2,
                result(
                    Path::new("d.log"),
                    EnvStatus::Skipped {
                        dependency: "lint".into(),
                    },
                    0,
                ),
            ),
            finished(7, result(Path::new("x.log"), EnvStatus::Passed, 0)),
        ]);
        assert_eq!(
            got,
            "\
unit      | $ make unit
unit      | $ echo done
unit      | ✔ passed (leaked 1 process) in 1.2s
unit      | ⚠ leaked pid 77: sleep 100 (killed)
lint      | ✘ interrupted (exit 130) in 1m01s
docs-site | ⊘ skipped: lint did not pass
"
        );
    }

    #[test]
    fn shutdown_steps_are_one_quiet_line_each() {
        let started = |env| RunEvent::EnvStarted { env, attempt: 1 };
        let shutdown = |env, step| RunEvent::Shutdown { env, step };
        let got = printed(&[
            started(0),
            started(1),
            started(2),
            out(0, b"half"),
            RunEvent::ShutdownStarted {
                cause: ShutdownCause::Signal(2),
                count: 1,
            },
            shutdown(
                0,
                ShutdownStep::Signalled {
                    pid: 1234,
                    signal: 15,
                },
            ),
            shutdown(
                1,
                ShutdownStep::Draining {
                    holders: vec![77, 78],
                },
            ),
            shutdown(1, ShutdownStep::Draining { holders: vec![] }),
            shutdown(2, ShutdownStep::PipeClosed { holders: vec![77] }),
            shutdown(2, ShutdownStep::PipeClosed { holders: vec![] }),
            RunEvent::ShutdownStarted {
                cause: ShutdownCause::Signal(2),
                count: 2,
            },
            RunEvent::RunFinished { cause: None },
        ]);
        assert_eq!(
            got,
            "\
runall: received SIGINT: stopping 3 running envs (press Ctrl-C again to kill them now)
unit      | → sent SIGTERM to process group 1234
lint      | … main process exited; waiting for pids 77, 78 holding its output
lint      | … main process exited; waiting for its output to close
docs-site | ✂ closed its output: still held by pid 77
docs-site | ✂ closed its output
runall: second interrupt: killing every env now
"
        );
    }

    #[test]
    fn shutdown_causes_are_named() {
        let got = printed(&[
            RunEvent::EnvStarted { env: 0, attempt: 1 },
            RunEvent::ShutdownStarted {
                cause: ShutdownCause::Signal(15),
                count: 1,
            },
            RunEvent::ShutdownStarted {
                cause: ShutdownCause::OutputClosed,
                count: 1,
            },
            RunEvent::ShutdownStarted {
                cause: ShutdownCause::FailFast(1),
                count: 1,
            },
        ]);
        assert_eq!(
            got,
            "\
runall: received SIGTERM: stopping 1 running env (press Ctrl-C again to kill it now)
runall: output closed: stopping
runall: --fail-fast: lint failed, stopping
"
        );
    }

    fn grouped(only_failed: bool) -> CiOptions {
        CiOptions {
            output: OutputMode::Grouped,
            only_failed,
            ..CiOptions::default()
        }
    }

    fn write_log(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(format!("{name}.log"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn grouped_prints_each_log_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let unit = write_log(dir.path(), "unit", b"u1\nu2\n");
        let lint = write_log(dir.path(), "lint", b"l1\r\nl2 \xff");
        let docs = dir.path().join("docs-site.log");
        for only_failed in [false, true] {
            let mut r = reporter(grouped(only_failed));
            feed(
                &mut r,
                &[
                    RunEvent::EnvStarted { env: 0, attempt: 1 },
                    RunEvent::CommandStarted {
                        env: 0,
                        index: 0,
                        pid: 10,
                    },
                    RunEvent::EnvStarted { env: 1, attempt: 1 },
                    out(0, b"live output is not printed\n"),
                    RunEvent::EnvStarted { env: 2, attempt: 1 },
                    finished(1, result(&lint, exit(3), 1200)),
                    finished(0, result(&unit, EnvStatus::Passed, 800)),
                    finished(2, result(&docs, exit(1), 5)),
                ],
            );
            let body = format!(
                "\
runall: started unit
runall: started lint
runall: started docs-site
──── lint: exit 3 (1.2s) ────
l1
l2 \\xff  [no newline at end]
──── end of lint ────
──── unit: passed (800ms) ────
{}──── docs-site: exit 1 (5ms) ────
runall: cannot read log {}: No such file or directory (os error 2)
──── end of docs-site ────
",
                if only_failed {
                    ""
                } else {
                    "u1\nu2\n──── end of unit ────\n"
                },
                docs.display()
            );
            let got = r.into_inner();
            assert_eq!(
                String::from_utf8_lossy(&got),
                body,
                "only_failed={only_failed}"
            );
        }
    }

    /// `n` failing tests, each placed at `t.py:<i>` when `placed`.
    fn failing_tests(n: usize, placed: bool) -> Arc<crate::testreport::TestResults> {
        let mut tests = crate::testreport::TestResults {
            files: vec![PathBuf::from("/r/j.xml")],
            ..Default::default()
        };
        for i in 0..n {
            tests.counts.failed += 1;
            tests.cases.push(crate::testreport::TestCase {
                name: format!("test_{i}"),
                classname: Some("t".into()),
                file: placed.then(|| "t.py".to_owned()),
                line: placed.then_some(i as u32 + 1),
                status: crate::testreport::CaseStatus::Failed,
                time: None,
                message: Some(format!("boom {i}")),
                kind: None,
                text: String::new(),
                report: 0,
            });
        }
        Arc::new(tests)
    }

    #[test]
    fn github_annotates_failing_tests_with_caps_per_env_and_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..5).map(|i| format!("e{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let plan = plan_in(&names, dir.path());
        let mut r = CiReporter::new(
            &plan,
            CiOptions {
                github: Some(github::StopToken::fixed("T")),
                github_workspace: Some(PathBuf::from("/")),
                ..CiOptions::default()
            },
            Vec::new(),
            Instant::now(),
        );
        let log = write_log(dir.path(), "e0", b"x\n");
        for env in 0..5 {
            let mut failed = result(&log, exit(1), 5);
            failed.tests = Some(failing_tests(60, true));
            r.handle(&finished(env, failed), Instant::now()).unwrap();
        }
        let out = text(r);
        let per_env = |env: &str| {
            out.lines()
                .filter(|l| l.starts_with("::error file=tmp/t.py,line="))
                .filter(|l| l.contains(&format!("title={env}%3A t%3A%3Atest_")))
                .count()
        };
        // 50 per env for the first four envs, then the run's 200 are used up.
        assert_eq!(
            [
                per_env("e0"),
                per_env("e1"),
                per_env("e2"),
                per_env("e3"),
                per_env("e4")
            ],
            [50, 50, 50, 50, 0]
        );
        assert!(out.contains("::error file=tmp/t.py,line=1,title=e0%3A t%3A%3Atest_0::boom 0\n"));
        let more: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("more failing tests"))
            .collect();
        assert_eq!(more.len(), 5, "{out}");
        assert!(
            more[0].starts_with("::error title=e0%3A 10 more failing tests::"),
            "{}",
            more[0]
        );
        assert!(
            more[4].starts_with("::error title=e4%3A 60 more failing tests::"),
            "{}",
            more[4]
        );
        // Every failure was placed: no env annotation repeats them.
        assert!(!out.contains("title=e0%3A exit 1"), "{out}");

        // Tests without a place: the env keeps its own annotation.
        let plan = plan_in(&["u"], dir.path());
        let mut r = CiReporter::new(
            &plan,
            CiOptions {
                github: Some(github::StopToken::fixed("T")),
                ..CiOptions::default()
            },
            Vec::new(),
            Instant::now(),
        );
        let mut failed = result(&log, exit(1), 5);
        failed.tests = Some(failing_tests(2, false));
        r.handle(&finished(0, failed), Instant::now()).unwrap();
        let out = text(r);
        assert!(out.contains("::error title=u%3A exit 1::"), "{out}");
        assert!(!out.contains("::error file="), "{out}");
    }

    #[test]
    fn github_folds_groups_and_annotates_what_did_not_pass() {
        let dir = tempfile::tempdir().unwrap();
        let unit = write_log(dir.path(), "unit", b"u1\n");
        let lint = write_log(dir.path(), "lint", b"l1\n\x1b[31ml2\x1b[0m\n");
        let skipped = EnvStatus::Skipped {
            dependency: "lint".into(),
        };
        let events = [
            RunEvent::EnvRetrying {
                env: 1,
                result: result(&lint, exit(1), 5),
            },
            finished(0, result(&unit, EnvStatus::Passed, 800)),
            finished(1, result(&lint, exit(2), 1200)),
            finished(2, result(Path::new("none.log"), skipped, 0)),
        ];
        let mut r = reporter(CiOptions {
            github: Some(github::StopToken::fixed("T")),
            ..grouped(false)
        });
        feed(&mut r, &events);
        assert_eq!(
            text(r),
            "\
::group::lint: exit 1 (5ms)
::stop-commands::T
l1
l2
::T::
::endgroup::
::stop-commands::T
lint      | ↻ retrying (attempt 2)
::T::
::group::unit: passed (800ms)
::stop-commands::T
u1
::T::
::endgroup::
::group::lint: exit 2 (1.2s)
::stop-commands::T
l1
l2
::T::
::endgroup::
::error title=lint%3A exit 2::l1%0Al2
::stop-commands::T
──── docs-site: skipped: lint did not pass ────
::T::
::error title=docs-site%3A skipped%3A lint did not pass::skipped: lint did not pass
"
        );

        let mut r = reporter(CiOptions {
            github: Some(github::StopToken::fixed("T")),
            ..CiOptions::default()
        });
        feed(&mut r, &events[1..3]);
        assert_eq!(
            text(r),
            "\
::stop-commands::T
unit      | ✔ passed in 800ms
lint      | ✘ exit 2 in 1.2s
::T::
::error title=lint%3A exit 2::l1%0Al2
"
        );
    }

    #[test]
    fn grouped_streams_large_logs() {
        let dir = tempfile::tempdir().unwrap();
        let line = b"0123456789abcdefghijklmnopqrstuvwxyz\n";
        let log: Vec<u8> = line.repeat(10_000);
        let path = write_log(dir.path(), "unit", &log);
        let mut r = reporter(grouped(false));
        feed(&mut r, &[finished(0, result(&path, exit(1), 5))]);
        let got = r.into_inner();
        let header = "──── unit: exit 1 (5ms) ────\n".as_bytes();
        let footer = "──── end of unit ────\n".as_bytes();
        assert_eq!(got, [header, &log, footer].concat());
    }

    #[test]
    fn grouped_skipped_env_gets_its_header_only() {
        let mut r = reporter(grouped(false));
        let skipped = EnvStatus::Skipped {
            dependency: "lint".into(),
        };
        feed(
            &mut r,
            &[finished(2, result(Path::new("nope.log"), skipped, 0))],
        );
        assert_eq!(text(r), "──── docs-site: skipped: lint did not pass ────\n");
    }

    #[test]
    fn heartbeat_fires_after_a_silent_period() {
        let t0 = Instant::now();
        let secs = |s| t0 + Duration::from_secs(s);
        let mut r = CiReporter::new(&plan(), grouped(false), Vec::new(), t0);
        assert_eq!(r.next_tick(), None, "nothing runs yet");
        r.handle(&RunEvent::EnvStarted { env: 0, attempt: 1 }, secs(5))
            .unwrap();
        assert_eq!(r.next_tick(), Some(secs(65)));
        r.handle(&RunEvent::EnvStarted { env: 1, attempt: 1 }, secs(55))
            .unwrap();
        assert_eq!(r.next_tick(), Some(secs(115)));
        r.tick(secs(100)).unwrap();
        r.tick(secs(115)).unwrap();
        assert_eq!(r.next_tick(), Some(secs(175)));
        r.handle(&out(0, b"not printed in grouped mode\n"), secs(120))
            .unwrap();
        r.tick(secs(176)).unwrap();
        let log = Path::new("/nonexistent/unit.log");
        let skipped = EnvStatus::Skipped {
            dependency: "x".into(),
        };
        r.handle(&finished(0, result(log, skipped.clone(), 0)), secs(180))
            .unwrap();
        r.handle(&finished(1, result(log, skipped, 0)), secs(181))
            .unwrap();
        assert_eq!(r.next_tick(), None, "nothing runs any more");
        r.tick(secs(1000)).unwrap();
        assert_eq!(
            text(r),
            "\
runall: started unit
runall: started lint
runall: still running: unit (1m50s), lint (1m00s)
runall: still running: unit (2m51s), lint (2m01s)
──── unit: skipped: x did not pass ────
──── lint: skipped: x did not pass ────
"
        );
    }

    #[test]
    fn heartbeat_counts_printed_lines_and_can_be_off() {
        let t0 = Instant::now();
        let secs = |s| t0 + Duration::from_secs(s);
        let mut r = CiReporter::new(&plan(), CiOptions::default(), Vec::new(), t0);
        r.handle(&RunEvent::EnvStarted { env: 0, attempt: 1 }, secs(1))
            .unwrap();
        assert_eq!(
            r.next_tick(),
            Some(secs(60)),
            "prefixed start prints nothing"
        );
        r.handle(&out(0, b"partial"), secs(30)).unwrap();
        assert_eq!(r.next_tick(), Some(secs(60)), "nothing printed yet");
        r.handle(&out(0, b"\n"), secs(40)).unwrap();
        assert_eq!(r.next_tick(), Some(secs(100)));

        let options = CiOptions {
            heartbeat: Duration::ZERO,
            ..CiOptions::default()
        };
        let mut r = CiReporter::new(&plan(), options, Vec::new(), t0);
        r.handle(&RunEvent::EnvStarted { env: 0, attempt: 1 }, secs(1))
            .unwrap();
        assert_eq!(r.next_tick(), None);
    }

    #[test]
    fn finish_prints_table_counts_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan_in(&["unit", "lint", "docs-site"], dir.path());
        let lines = (1..=25)
            .map(|i| format!("line {i}\n"))
            .collect::<Vec<_>>()
            .concat();
        let unit = write_log(dir.path(), "unit", lines.as_bytes());
        let lint = write_log(dir.path(), "lint", b"only\r\nbar 50%\r100%");
        let events = [
            RunEvent::EnvStarted { env: 0, attempt: 1 },
            finished(0, result(&unit, exit(2), 3000)),
            RunEvent::EnvStarted { env: 1, attempt: 1 },
            out(1, b"tail"),
            finished(
                2,
                result(
                    &dir.path().join("docs-site.log"),
                    EnvStatus::Skipped {
                        dependency: "unit".into(),
                    },
                    0,
                ),
            ),
        ];
        let mut r = CiReporter::new(&plan, CiOptions::default(), Vec::new(), Instant::now());
        let mut summary = Summary::new(&plan);
        for event in &events {
            r.handle(event, Instant::now()).unwrap();
            summary.record(event);
        }
        let mut interrupted = result(&lint, exit(130), 400);
        interrupted.stopped_by = Some(StopCause::Interrupted);
        summary.record(&finished(1, interrupted));
        r.finish(&summary).unwrap();
        let (u, l) = (unit.display(), lint.display());
        let tail = (6..=25)
            .map(|i| format!("line {i}\n"))
            .collect::<Vec<_>>()
            .concat();
        let expected = format!(
            "\
unit      | ✘ exit 2 in 3.0s
docs-site | ⊘ skipped: unit did not pass
lint      | tail  [no newline at end]

env        result                       time  log
unit       exit 2                       3.0s  {u}
lint       interrupted (exit 130)      400ms  {l}
docs-site  skipped: unit did not pass      -  -
0 passed, 1 failed, 1 skipped, 1 interrupted
──── last 20 lines of unit ({u}) ────
{tail}──── last 2 lines of lint ({l}) ────
only
100%  [no newline at end]
"
        );
        assert_eq!(text(r), expected);
    }

    #[test]
    fn tails_are_sanitised_and_not_repeated_after_only_failed_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan_in(&["unit", "lint", "docs-site"], dir.path());
        let unit = write_log(
            dir.path(),
            "unit",
            b"\x1b]0;owned\x07\x1b[?1049h\x1b[31mred\x1b[0m\nbell\x07\n",
        );
        let lint = write_log(dir.path(), "lint", b"l\n");
        let events = [
            finished(0, result(&unit, exit(1), 5)),
            finished(1, result(&lint, exit(2), 5)),
        ];
        let run = |options: CiOptions| {
            let mut r = CiReporter::new(&plan, options, Vec::new(), Instant::now());
            let mut summary = Summary::new(&plan);
            for event in &events {
                r.handle(event, Instant::now()).unwrap();
                summary.record(event);
            }
            r.finish(&summary).unwrap();
            text(r)
        };
        let got = run(CiOptions::default());
        let tail = got.split("──── last 2 lines of unit").nth(1).unwrap();
        assert!(tail.contains(") ────\nred\nbell\\x07\n"), "{got}");
        assert!(!got.contains('\x1b') && !got.contains('\x07'), "{got:?}");

        // Grouped --only-failed has just printed both bodies whole: no tails after the table.
        let got = run(grouped(true));
        assert_eq!(got.matches("bell\\x07").count(), 1, "{got}");
        assert_eq!(got.matches("──── end of lint ────").count(), 1, "{got}");
        assert!(
            !got.contains("last 2 lines") && !got.contains("last line"),
            "{got}"
        );
        // Without --only-failed the tails stay: they gather the failures at the end.
        let got = run(grouped(false));
        assert!(got.contains("last 2 lines of unit") && got.contains("last line of lint"));
    }

    #[test]
    fn missing_log_tail_is_reported_not_fatal() {
        let mut r = reporter(CiOptions::default());
        let mut summary = Summary::new(&plan());
        summary.record(&finished(
            0,
            result(Path::new("/nonexistent/unit.log"), exit(1), 1),
        ));
        r.finish(&summary).unwrap();
        let got = text(r);
        assert!(
            got.ends_with(
                "runall: cannot read log /nonexistent/unit.log: \
                 No such file or directory (os error 2)\n"
            ),
            "{got}"
        );
    }

    #[test]
    fn tails_read_only_the_end_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), "big", b"aaaa\nbbbb\ncccc\ndddd");
        let read_tail = |window| {
            let result = EnvResult::new(EnvStatus::Passed, Duration::ZERO, &path);
            crate::log::reader::tail(&result, window).unwrap()
        };
        let (data, cut) = read_tail(12);
        assert_eq!((data.as_slice(), cut), (&b"bb\ncccc\ndddd"[..], true));
        assert_eq!(
            last_lines(&data, cut, 20),
            (vec![&b"cccc"[..], &b"dddd"[..]], false)
        );
        assert_eq!(last_lines(&data, cut, 1), (vec![&b"dddd"[..]], false));
        let (data, cut) = read_tail(100);
        assert!(!cut);
        assert_eq!(last_lines(&data, cut, 3).0.len(), 3);
        assert_eq!(last_lines(b"", false, 3), (vec![], true));
        assert_eq!(last_lines(b"\n", false, 3), (vec![&b""[..]], true));
        assert_eq!(last_lines(b"a\nb\n", false, 0), (vec![], true));
        assert_eq!(
            last_lines(b"one giant line", true, 3),
            (vec![&b"one giant line"[..]], false)
        );
    }
}
