//! The TUI's state and its one entry point, [`App::update`]: runner events, keys, ticks and
//! resizes go in as [`Msg`]s, and the one thing the driver must do comes back as an [`Effect`].
//!
//! Pure, like turborepo's `update`: no terminal, no processes, no clock reads (every `Instant`
//! is passed in). Rendering lives in [`super::view`], which reads this state and records per
//! pane how many rows it showed, so paging and search jumps match what is on screen. `App` sets
//! a dirty flag whenever something visible changed; the driver redraws only then.

use std::time::{Duration, Instant};

use crate::event::{
    EnvResult, Resources, RunEvent, ShutdownCause, ShutdownStep, StopCause, Verdict,
};
use crate::plan::{CommandSpec, EnvId, Plan};
use crate::scrollback::Scrollback;
use crate::tui::budget::Budget;
use crate::tui::keymap::{Action, Key, KeyCode, Keymap, KeymapMode};
use crate::tui::term::Term;

mod filter;
mod search;
mod tty;

use filter::ListFilter;
use search::Search;

/// Lines of output kept in memory per env unless [`AppOptions`] says otherwise.
pub const DEFAULT_SCROLLBACK_LINES: usize = 10_000;

/// Bytes of parsed output lines kept in memory for all envs together unless [`AppOptions`]
/// says otherwise (`scrollback_memory`).
pub const DEFAULT_SCROLLBACK_MEMORY: u64 = 32 * 1024 * 1024;

/// Output taken in after which the budget is enforced at once, between the driver's calls.
const BUDGET_CHECK_BYTES: usize = 2 * 1024 * 1024;

/// Lines one mouse-wheel notch scrolls.
const WHEEL_LINES: usize = 3;

/// Most output of a tty env waiting to be fed to its screen: a flood's every event (256 KiB)
/// is fed as it comes. Feeding 1 MiB at a time cost no more CPU, but it held the screen
/// thread for milliseconds on end, and a tty flood ran about 5% slower: the child, the PTY's
/// kernel worker and the runner then had one core between them.
const TTY_BATCH: usize = 256 * 1024;

/// A tty env's output event of at least this many bytes is fed to its screen as it came;
/// smaller ones are joined first, so that a trickle of small reads still makes batches long
/// enough for the emulator's fast path. (A flood's events are 256 KiB: copying them into one
/// buffer cost the screen thread a tenth of its time.)
const TTY_JOIN: usize = 64 * 1024;

/// A tty env's output not fed to its screen yet, in the order it came (see [`TTY_JOIN`]).
#[derive(Debug, Default)]
pub(super) struct TtyPending {
    chunks: Vec<Vec<u8>>,
    len: usize,
}

impl TtyPending {
    /// Bytes waiting.
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, bytes: Vec<u8>) {
        self.len += bytes.len();
        match self.chunks.last_mut() {
            Some(last) if last.len() < TTY_JOIN && bytes.len() < TTY_JOIN => {
                last.extend_from_slice(&bytes);
            }
            _ => self.chunks.push(bytes),
        }
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

/// Rows a pane is assumed to have before it was first drawn.
const INITIAL_ROWS: usize = 20;

/// What the TUI can be configured with.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Lines of output kept in memory per env (older lines are paged back from the log).
    pub scrollback_lines: usize,
    /// Bytes of parsed lines kept in memory for all envs together: past it, the least
    /// recently viewed envs' lines are dropped (and paged back from their logs when viewed).
    pub scrollback_memory: u64,
    /// The key bindings.
    pub keymap: Keymap,
    /// A tty env's screen (rows, columns) until its pane is drawn: what the runner starts
    /// its terminal with.
    pub tty_size: (u16, u16),
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            scrollback_lines: DEFAULT_SCROLLBACK_LINES,
            scrollback_memory: DEFAULT_SCROLLBACK_MEMORY,
            keymap: Keymap::default(),
            tty_size: (24, 80),
        }
    }
}

/// Everything the app reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Something the runner reported.
    Run(RunEvent),
    /// A key press (see [`super::keymap::translate`]).
    Key(Key),
    /// One notch of the mouse wheel.
    MouseScroll {
        /// Towards older output.
        up: bool,
    },
    /// Time passed; running durations may need redrawing.
    Tick(Instant),
    /// A running env's test reports as they are so far (read while it runs).
    TestsProgress {
        /// The env.
        env: EnvId,
        /// What its reports say now.
        tests: std::sync::Arc<crate::testreport::TestResults>,
    },
    /// The terminal changed size.
    Resize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
    /// Text pasted into the terminal (bracketed paste).
    Paste(String),
}

/// What the driver must do after an update.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Act as if runall got SIGINT (the driver counts: interrupt, then kill, then exit).
    Interrupt,
    /// Interrupt this one env (again to escalate, as with Ctrl-C).
    StopEnv(EnvId),
    /// Run these finished envs again.
    Rerun(Vec<EnvId>),
    /// The user quit and nothing runs any more: leave now.
    Quit,
    /// The user chose to quit while envs run: interrupt each of them (the ladder) and leave
    /// once they are reaped. A deliberate quit, not a signal: runall then exits 1 (envs were
    /// interrupted), it does not die by SIGINT.
    InterruptAndQuit,
    /// Suspend runall and its envs (SIGTSTP).
    Suspend,
    /// Write these bytes to a tty env's terminal (typed keys, a paste).
    Input {
        /// The env.
        env: EnvId,
        /// What a terminal would send.
        bytes: Vec<u8>,
    },
    /// Put this text on the clipboard (OSC 52).
    Copy(String),
    /// Turn the terminal's mouse capture on (`true`) or off.
    MouseCapture(bool),
    /// Leave the TUI for the plain prefixed stream, or come back from it.
    ToggleStream,
}

/// Where a pane's view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    /// Shows the newest lines and keeps up with new output.
    Follow,
    /// Line `top` of the history stays the top line while output arrives.
    Pinned {
        /// Index of the top line.
        top: usize,
    },
}

/// Which envs the tiled view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileFilter {
    /// Running envs (and the focused env, so it never vanishes while read).
    Running,
    /// Every env.
    All,
}

/// How the screen is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Env list on the left, the focused env's pane on the right.
    List,
    /// A grid of panes.
    Tiled(TileFilter),
    /// The focused pane alone; `back` is the tiled view to return to (`None`: the list).
    Zoomed {
        /// The view to return to.
        back: Option<TileFilter>,
    },
}

/// What a search looks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// The focused env.
    Focused,
    /// Every env; the envs with hits are listed.
    All,
}

/// What is drawn over the panes and has the keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// Nothing: keys go to the panes.
    None,
    /// The list of keys.
    Help,
    /// "Envs are running: interrupt them and quit?"
    ConfirmQuit,
    /// The search query being typed in the bottom bar.
    SearchInput {
        /// Where the search looks.
        scope: SearchScope,
    },
    /// The env list's filter being typed in the bottom bar (the list follows as it is typed).
    FilterInput,
    /// Envs whose output matched a search across all envs, with hit counts.
    SearchResults {
        /// `(env, hits)`, in plan order.
        results: Vec<(EnvId, usize)>,
        /// Index into `results`.
        selected: usize,
    },
    /// The focused env's failing tests (from its latest test results); Enter searches its
    /// pane for the selected one.
    FailingTests {
        /// Whose tests.
        env: EnvId,
        /// Index into [`App::failing_tests`] of `env`.
        selected: usize,
    },
}

/// An env's status as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvState {
    /// Not started; its dependencies are done.
    Pending,
    /// Not started; some dependency has not finished.
    Waiting,
    /// Ready, but `max_memory` holds it back until running envs free memory.
    WaitingForMemory,
    /// Running.
    Running,
    /// Passed.
    Passed,
    /// Failed (or failed to spawn).
    Failed,
    /// Stopped by its own timeout.
    TimedOut,
    /// Skipped because a dependency did not pass.
    Skipped,
    /// Stopped by a shutdown.
    Interrupted,
    /// Never started because of a shutdown.
    NotRun,
}

impl EnvState {
    /// The env has its final result.
    pub fn is_finished(self) -> bool {
        !matches!(
            self,
            Self::Pending | Self::Waiting | Self::WaitingForMemory | Self::Running
        )
    }
}

/// What the status bar counts an env as; [`App::tally`] keeps the counts as envs change
/// stage, so a frame never walks every env to count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// Not started (pending, waiting for its dependencies or for memory).
    NotStarted,
    /// Running.
    Running,
    /// Passed.
    Passed,
    /// Failed (or failed to spawn).
    Failed,
    /// Stopped by its own timeout.
    TimedOut,
    /// Stopped by a shutdown.
    Interrupted,
    /// Skipped because a dependency did not pass.
    Skipped,
    /// Never started because of a shutdown.
    NotRun,
}

impl Tally {
    const COUNT: usize = 8;

    fn of(stage: &PaneStage) -> Self {
        match stage {
            PaneStage::Pending => Self::NotStarted,
            PaneStage::Running { .. } => Self::Running,
            PaneStage::Finished { result } => match result.verdict() {
                Verdict::Passed => Self::Passed,
                Verdict::Skipped => Self::Skipped,
                Verdict::NotRun => Self::NotRun,
                Verdict::Interrupted => Self::Interrupted,
                Verdict::Failed => match result.stopped_by {
                    Some(StopCause::TimedOut(_)) => Self::TimedOut,
                    _ => Self::Failed,
                },
            },
        }
    }
}

/// Where a pane's env is in its life (the runner keeps its own, finer state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PaneStage {
    /// Not started (this attempt).
    Pending,
    /// Started at `since`.
    Running { since: Instant },
    /// Done.
    Finished { result: EnvResult },
}

/// One env as the TUI knows it.
#[derive(Debug)]
pub(super) struct Pane {
    pub(super) name: String,
    pub(super) depends: Vec<EnvId>,
    commands: Vec<String>,
    /// The command being run (display form) and its index.
    pub(super) command: Option<(usize, String)>,
    pub(super) stage: PaneStage,
    /// The latest shutdown step runall took for this env while it runs.
    pub(super) stopping: Option<ShutdownStep>,
    pub(super) scrollback: Scrollback,
    pub(super) scroll: Scroll,
    /// Rows the pane had when last drawn.
    pub(super) rows: usize,
    /// 0 before the first start, 1 for the first run (or a rerun), 2 for the first retry, …
    pub(super) attempt: u32,
    /// Set when this attempt's log failed: the log and the error.
    pub(super) log_error: Option<String>,
    /// The result of the attempt before this one, when the env is being retried.
    pub(super) previous: Option<EnvResult>,
    /// Its launched job waits for the cluster (`JobQueued` until `JobStarted`).
    pub(super) queued: bool,
    /// The running attempt's test results so far (its reports read while it runs).
    pub(super) live_tests: Option<std::sync::Arc<crate::testreport::TestResults>>,
    /// The runner holds it back for `max_memory` (until it starts).
    pub(super) waiting_for_memory: bool,
    /// The latest live sample while it runs (current RSS, CPU so far).
    pub(super) live: Option<Resources>,
    /// The env runs on a terminal (`tty = true`).
    pub(super) tty: bool,
    /// A tty env's screen while it runs (its history goes to `scrollback`).
    pub(super) term: Option<Term>,
    /// The screen size (rows, columns) the runner was last told.
    pub(super) tty_size: (u16, u16),
    /// A tty env's output not fed to its screen yet: it is fed in batches (when the pane is
    /// drawn or read, or once [`TTY_BATCH`] is waiting), so that a flood's lines mostly take
    /// the emulator's fast path.
    pub(super) tty_pending: TtyPending,
}

impl Pane {
    /// Number of commands of the env.
    pub(super) fn command_count(&self) -> usize {
        self.commands.len()
    }

    /// Feed a tty env's waiting output to its screen; what scrolls off goes to the history.
    pub(super) fn settle_tty(&mut self) {
        if self.tty_pending.len() == 0 {
            return;
        }
        let mut chunks = std::mem::take(&mut self.tty_pending.chunks);
        self.tty_pending.len = 0;
        if let Some(term) = self.term.as_mut() {
            for chunk in &chunks {
                let fed = term.feed_parts(chunk);
                if !fed.text.is_empty() {
                    self.scrollback.push_owned(fed.text);
                }
                self.scrollback
                    .push_plain_lines(fed.screen_bytes, fed.screen_lines);
                self.scrollback.push_plain_lines(fed.bytes, fed.lines);
                term.done_with_parts();
            }
        }
        // The list is kept for the next batch.
        chunks.clear();
        self.tty_pending.chunks = chunks;
    }

    /// Lines of the pane: its history, then a tty env's screen rows.
    pub(super) fn line_total(&mut self) -> usize {
        self.settle_tty();
        let screen = self.term.as_ref().map_or(0, |t| usize::from(t.size().0));
        self.scrollback.line_count() + screen
    }

    /// The index of the top line shown in `rows` rows.
    pub(super) fn top(&mut self, rows: usize) -> usize {
        let max_top = self.line_total().saturating_sub(rows);
        match self.scroll {
            Scroll::Follow => max_top,
            Scroll::Pinned { top } => top.min(max_top),
        }
    }

    /// Moves the view by `delta` lines (negative: towards older output), clamped; reaching the
    /// bottom goes back to following.
    fn scroll_by(&mut self, delta: isize) {
        let rows = self.rows.max(1);
        let max_top = self.line_total().saturating_sub(rows);
        let top = self.top(rows).saturating_add_signed(delta).min(max_top);
        self.scroll = if top >= max_top {
            Scroll::Follow
        } else {
            Scroll::Pinned { top }
        };
    }

    /// Scrolls so that `line` is on screen, about a third from the top when it was not, and
    /// pins the view there.
    fn reveal(&mut self, line: usize) {
        let rows = self.rows.max(1);
        let top = self.top(rows);
        let max_top = self.line_total().saturating_sub(rows);
        let top = if (top..top + rows).contains(&line) {
            top
        } else {
            line.saturating_sub(rows / 3).min(max_top)
        };
        self.scroll = Scroll::Pinned { top };
    }
}

/// The TUI's whole state.
#[derive(Debug)]
pub struct App {
    pub(super) panes: Vec<Pane>,
    pub(super) keymap: Keymap,
    pub(super) focus: EnvId,
    pub(super) mode: Mode,
    pub(super) overlay: Overlay,
    /// The search query being typed.
    pub(super) input: String,
    /// Why the typed query was rejected.
    pub(super) input_error: Option<String>,
    pub(super) search: Option<Search>,
    /// The env list's filter (`f`), when one is active.
    pub(super) list_filter: Option<ListFilter>,
    /// The longest env name, in characters (the list's width).
    pub(super) name_max: usize,
    /// A one-off message for the bar, cleared by the next key.
    pub(super) notice: Option<String>,
    /// The user asked to quit: leave once nothing runs.
    pub(super) quitting: bool,
    /// The runner said `RunFinished` (and nothing was rerun since).
    run_finished: bool,
    /// The latest shutdown of the run: cause and how many requests so far.
    pub(super) shutdown: Option<(ShutdownCause, u32)>,
    /// The envs drawn in the last frame.
    pub(super) drawn: Vec<EnvId>,
    /// The scrollbacks' shared memory budget (`scrollback_memory`).
    budget: Budget,
    /// Envs whose scrollback took output since the budget last looked, each once.
    touched: Vec<EnvId>,
    is_touched: Vec<bool>,
    /// Output bytes taken in since the budget last looked.
    unbudgeted: usize,
    /// The envs whose scrollback is marked visible (viewed at the last budget check).
    visible: Vec<EnvId>,
    /// How many envs are in each [`Tally`] class.
    tally: [usize; Tally::COUNT],
    /// Input mode, the mouse capture and the tty screens' sizes.
    pub(super) tty_ui: tty::TtyUi,
    last_tick: Instant,
    dirty: bool,
}

impl App {
    /// The state before anything ran: every env of `plan` pending, the first one focused.
    pub fn new(plan: &Plan, now: Instant, options: AppOptions) -> Self {
        let panes = plan
            .envs
            .iter()
            .map(|spec| Pane {
                name: spec.name.clone(),
                depends: spec.depends.clone(),
                commands: spec.commands.iter().map(CommandSpec::display).collect(),
                command: None,
                stage: PaneStage::Pending,
                stopping: None,
                scrollback: {
                    // Off screen until a frame draws it (the budget marks the drawn envs).
                    let mut scrollback = Scrollback::new(options.scrollback_lines);
                    scrollback.set_visible(false);
                    scrollback
                },
                scroll: Scroll::Follow,
                rows: INITIAL_ROWS,
                attempt: 0,
                log_error: None,
                previous: None,
                queued: false,
                live_tests: None,
                waiting_for_memory: false,
                live: None,
                tty: spec.tty,
                term: None,
                tty_size: options.tty_size,
                tty_pending: TtyPending::default(),
            })
            .collect();
        Self {
            panes,
            keymap: options.keymap,
            focus: 0,
            mode: Mode::List,
            overlay: Overlay::None,
            input: String::new(),
            input_error: None,
            search: None,
            list_filter: None,
            name_max: plan
                .envs
                .iter()
                .map(|e| e.name.chars().count())
                .max()
                .unwrap_or(0),
            notice: None,
            quitting: false,
            run_finished: false,
            shutdown: None,
            drawn: Vec::new(),
            budget: Budget::new(
                usize::try_from(options.scrollback_memory).unwrap_or(usize::MAX),
                plan.envs.len(),
            ),
            touched: Vec::new(),
            is_touched: vec![false; plan.envs.len()],
            unbudgeted: 0,
            visible: Vec::new(),
            tally: {
                let mut tally = [0; Tally::COUNT];
                tally[Tally::NotStarted as usize] = plan.envs.len();
                tally
            },
            tty_ui: tty::TtyUi::default(),
            last_tick: now,
            dirty: true,
        }
    }

    /// Takes in one message; returns what the driver must do.
    pub fn update(&mut self, msg: Msg, now: Instant) -> Effect {
        match msg {
            Msg::Run(event) => self.on_run_event(event, now),
            Msg::Key(key) => self.on_key(key),
            Msg::MouseScroll { up } => {
                if self.overlay == Overlay::None {
                    let lines = WHEEL_LINES as isize;
                    self.scroll_focused(if up { -lines } else { lines });
                }
                Effect::None
            }
            Msg::Tick(at) => {
                self.on_tick(at);
                Effect::None
            }
            Msg::Resize { .. } => {
                // Panes learn their new size when drawn; scroll positions are kept as they are.
                self.dirty = true;
                Effect::None
            }
            Msg::TestsProgress { env, tests } => {
                if let Some(pane) = self.panes.get_mut(env)
                    && matches!(pane.stage, PaneStage::Running { .. })
                {
                    pane.live_tests = Some(tests);
                    self.dirty = true;
                }
                Effect::None
            }
            Msg::Paste(text) => self.on_paste(&text),
        }
    }

    /// Keeps the scrollbacks within `scrollback_memory`: the envs drawn in the last frame
    /// count as viewed now and keep their lines in memory; what the envs that took output
    /// hold is re-counted; when the total is over the budget, the least recently viewed envs
    /// that are neither focused nor drawn are evicted (their lines page back from their logs).
    /// The driver calls it after each batch of messages: its cost is that of the envs drawn
    /// and touched since, not of all envs (plus a sort of the envs holding lines when over).
    pub fn enforce_budget(&mut self) {
        self.unbudgeted = 0;
        let mut viewed = std::mem::take(&mut self.drawn);
        let focus_added = !viewed.contains(&self.focus);
        if focus_added {
            viewed.push(self.focus);
        }
        for &id in &viewed {
            self.budget.viewed(id);
            if let Some(pane) = self.panes.get_mut(id) {
                pane.scrollback.keep();
                pane.scrollback.set_visible(true);
                self.budget.set_used(id, pane.scrollback.memory_bytes());
            }
        }
        for &id in &self.visible {
            if !viewed.contains(&id)
                && let Some(pane) = self.panes.get_mut(id)
            {
                pane.scrollback.set_visible(false);
            }
        }
        self.visible.clone_from(&viewed);
        for id in self.touched.drain(..) {
            if let (Some(pane), Some(flag)) = (self.panes.get(id), self.is_touched.get_mut(id)) {
                *flag = false;
                if !pane.scrollback.can_page() {
                    self.budget.pin(id);
                }
                self.budget.set_used(id, pane.scrollback.memory_bytes());
            }
        }
        // A pane without a complete log to page its lines back from (a tty pane's log holds
        // the terminal's bytes, not lines; a log that failed) is never evicted: its line cap
        // bounds it instead.
        let panes = &self.panes;
        let resident = |id: EnvId| {
            viewed.contains(&id) || panes.get(id).is_none_or(|p| !p.scrollback.can_page())
        };
        for id in self.budget.victims(resident) {
            if let Some(pane) = self.panes.get_mut(id) {
                pane.scrollback.evict();
                self.budget.set_used(id, pane.scrollback.memory_bytes());
            }
        }
        if focus_added {
            viewed.pop();
        }
        self.drawn = viewed;
    }

    /// Bytes all scrollbacks hold, as the budget last counted, and the budget.
    pub fn scrollback_memory(&self) -> (usize, usize) {
        (self.budget.total(), self.budget.limit())
    }

    /// Something visible changed since [`App::clear_dirty`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Call after drawing.
    pub fn clear_dirty(&mut self) {
        self.dirty = false;
    }

    /// Every env has its final result.
    pub fn all_finished(&self) -> bool {
        self.tally(Tally::NotStarted) == 0 && self.tally(Tally::Running) == 0
    }

    /// Some env runs or may still start.
    pub fn busy(&self) -> bool {
        self.tally(Tally::Running) > 0 || (!self.run_finished && !self.all_finished())
    }

    /// How many envs are counted as `class` now.
    pub fn tally(&self, class: Tally) -> usize {
        self.tally[class as usize]
    }

    /// Moves env `id` to `stage`, keeping the tally.
    fn set_stage(&mut self, id: EnvId, stage: PaneStage) {
        let Some(pane) = self.panes.get_mut(id) else {
            return;
        };
        self.tally[Tally::of(&pane.stage) as usize] -= 1;
        self.tally[Tally::of(&stage) as usize] += 1;
        pane.stage = stage;
    }

    /// The focused env.
    pub fn focus(&self) -> EnvId {
        self.focus
    }

    /// The layout.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The overlay.
    pub fn overlay(&self) -> &Overlay {
        &self.overlay
    }

    /// The user asked to quit and the app waits for the envs to stop.
    pub fn quitting(&self) -> bool {
        self.quitting
    }

    /// The key bindings.
    pub fn keymap(&self) -> &Keymap {
        &self.keymap
    }

    /// Where env `id`'s view is.
    pub fn scroll(&self, id: EnvId) -> Option<Scroll> {
        self.panes.get(id).map(|p| p.scroll)
    }

    /// Which run of env `id` this is (0 before it first started).
    pub fn attempt(&self, id: EnvId) -> Option<u32> {
        self.panes.get(id).map(|p| p.attempt)
    }

    /// Env `id`'s status.
    pub fn env_state(&self, id: EnvId) -> Option<EnvState> {
        let pane = self.panes.get(id)?;
        Some(match &pane.stage {
            PaneStage::Running { .. } => EnvState::Running,
            PaneStage::Pending => {
                let finished = |d: &EnvId| {
                    self.panes
                        .get(*d)
                        .is_none_or(|p| matches!(p.stage, PaneStage::Finished { .. }))
                };
                if pane.waiting_for_memory {
                    EnvState::WaitingForMemory
                } else if pane.depends.iter().all(finished) {
                    EnvState::Pending
                } else {
                    EnvState::Waiting
                }
            }
            PaneStage::Finished { result } => match result.verdict() {
                Verdict::Passed => EnvState::Passed,
                Verdict::Skipped => EnvState::Skipped,
                Verdict::NotRun => EnvState::NotRun,
                Verdict::Interrupted => EnvState::Interrupted,
                Verdict::Failed => match result.stopped_by {
                    Some(StopCause::TimedOut(_)) => EnvState::TimedOut,
                    _ => EnvState::Failed,
                },
            },
        })
    }

    /// The keymap table that has the keyboard now.
    pub fn keymap_mode(&self) -> KeymapMode {
        match self.overlay {
            Overlay::None if self.tty_ui.typing => KeymapMode::Input,
            Overlay::None => KeymapMode::Normal,
            Overlay::Help => KeymapMode::Help,
            Overlay::ConfirmQuit => KeymapMode::Confirm,
            Overlay::SearchInput { .. } | Overlay::FilterInput => KeymapMode::SearchInput,
            // A list to pick from, like the search results: the same keys.
            Overlay::SearchResults { .. } | Overlay::FailingTests { .. } => {
                KeymapMode::SearchResults
            }
        }
    }

    /// The envs the tiled view shows for `filter`, in plan order.
    pub fn tiles(&self, filter: TileFilter) -> Vec<EnvId> {
        (0..self.panes.len())
            .filter(|&id| {
                id == self.focus
                    || ((filter == TileFilter::All
                        || self.env_state(id) == Some(EnvState::Running))
                        && self.list_position(id).is_some())
            })
            .collect()
    }

    /// The envs focus cycles through in the current layout.
    fn focus_ring(&self) -> Vec<EnvId> {
        match self.mode {
            Mode::Tiled(filter) | Mode::Zoomed { back: Some(filter) } => self.tiles(filter),
            Mode::List | Mode::Zoomed { back: None } => (0..self.panes.len()).collect(),
        }
    }

    /// A live usage sample, or the runner holding an env back for `max_memory`.
    fn on_usage(&mut self, event: &RunEvent) {
        match *event {
            RunEvent::Usage { env, now } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    pane.live = Some(now);
                    if self.drawn.contains(&env) {
                        self.dirty = true;
                    }
                }
            }
            RunEvent::WaitingForMemory { env, .. } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    pane.waiting_for_memory = true;
                    self.dirty = true;
                }
            }
            _ => {}
        }
    }

    fn on_run_event(&mut self, event: RunEvent, now: Instant) -> Effect {
        match event {
            RunEvent::EnvStarted { env, attempt } => self.on_env_started(env, attempt, now),
            RunEvent::LogOpened { env, path } => {
                // A tty env's log holds what its terminal got, not the lines of its history:
                // its history stays in memory instead of paging from the log.
                if let Some(pane) = self.panes.get_mut(env).filter(|p| !p.tty) {
                    pane.scrollback.set_log(Some(path));
                }
            }
            RunEvent::LogFailed { env, path, error } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    let text = format!("{}: {error}", path.display());
                    self.notice = Some(format!("{}: log incomplete: {text}", pane.name));
                    pane.log_error = Some(text);
                    pane.scrollback.set_log_incomplete();
                    self.dirty = true;
                }
            }
            RunEvent::EnvRetrying { env, result } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    pane.scrollback.finish();
                    pane.previous = Some(result);
                    self.dirty = true;
                }
            }
            RunEvent::CommandStarted { env, index, .. } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    let display = pane.commands.get(index).cloned().unwrap_or_default();
                    pane.command = Some((index, display));
                    self.dirty = true;
                }
            }
            RunEvent::Output { env, bytes, .. } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    self.unbudgeted += bytes.len();
                    if pane.term.is_some() {
                        pane.tty_pending.push(bytes);
                        if pane.tty_pending.len() >= TTY_BATCH {
                            pane.settle_tty();
                        }
                    } else {
                        pane.scrollback.push_owned(bytes);
                    }
                    if let Some(flag) = self.is_touched.get_mut(env)
                        && !*flag
                    {
                        *flag = true;
                        self.touched.push(env);
                    }
                    if self.drawn.contains(&env) {
                        self.dirty = true;
                    }
                }
                // A flood must not overshoot the budget by a whole batch.
                if self.unbudgeted >= BUDGET_CHECK_BYTES {
                    self.enforce_budget();
                }
            }
            RunEvent::JobQueued { env } | RunEvent::JobStarted { env } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    pane.queued = matches!(event, RunEvent::JobQueued { .. });
                    self.dirty = true;
                }
            }
            RunEvent::Usage { .. } | RunEvent::WaitingForMemory { .. } => self.on_usage(&event),
            RunEvent::EnvFinished { env, result } => return self.on_env_finished(env, result),
            RunEvent::ShutdownStarted { cause, count } => {
                self.shutdown = Some((cause, count));
                self.dirty = true;
            }
            RunEvent::Shutdown { env, step } => {
                if let Some(pane) = self.panes.get_mut(env) {
                    pane.stopping = Some(step);
                    self.dirty = true;
                }
            }
            RunEvent::RunFinished { cause } => {
                self.run_finished = true;
                self.dirty = true;
                // A signal or a closed terminal ends runall itself; fail-fast leaves the
                // results up for inspection.
                let external = matches!(
                    cause,
                    Some(ShutdownCause::Signal(_) | ShutdownCause::OutputClosed)
                );
                if self.quitting || external {
                    return Effect::Quit;
                }
            }
        }
        Effect::None
    }

    fn on_env_started(&mut self, env: EnvId, attempt: u32, now: Instant) {
        let Some(pane) = self.panes.get_mut(env) else {
            return;
        };
        if pane.attempt > 0 {
            // A retry or rerun: the pane shows this attempt only (the earlier ones stay
            // in their own logs).
            pane.scrollback.clear();
            pane.scroll = Scroll::Follow;
        }
        if attempt == 1 {
            // A new request (first run or rerun), not a retry.
            pane.previous = None;
        }
        pane.attempt = attempt;
        pane.log_error = None;
        pane.live_tests = None;
        // The runner names the log next (`LogOpened`).
        pane.scrollback.set_log(None);
        if pane.tty {
            let (rows, cols) = pane.tty_size;
            pane.term = Some(Term::new(rows, cols));
            pane.tty_pending.clear();
        }
        pane.waiting_for_memory = false;
        pane.live = None;
        pane.command = None;
        pane.stopping = None;
        pane.queued = false;
        self.set_stage(env, PaneStage::Running { since: now });
        self.run_finished = false;
        if let Some(search) = self.search.as_mut().filter(|s| s.env == env) {
            search.hits.clear();
            search.searched_lines = None;
            search.current = None;
        }
        self.dirty = true;
    }

    fn on_env_finished(&mut self, env: EnvId, result: EnvResult) -> Effect {
        if let Some(flag) = self.is_touched.get_mut(env)
            && !*flag
        {
            // What it holds changes as its last bytes are parsed.
            *flag = true;
            self.touched.push(env);
        }
        self.tty_finished(env);
        if let Some(pane) = self.panes.get_mut(env) {
            pane.scrollback.finish();
            if result.ran() && !pane.tty {
                pane.scrollback.set_log(Some(result.log_path.clone()));
            }
            pane.stopping = None;
            pane.live_tests = None;
            self.set_stage(env, PaneStage::Finished { result });
            self.dirty = true;
        }
        if self.quitting && !self.busy() {
            return Effect::Quit;
        }
        if self.overlay == Overlay::ConfirmQuit && !self.busy() {
            // Nothing left to interrupt: the question is moot.
            self.overlay = Overlay::None;
            self.notice = Some("every env has finished: q quits".to_owned());
        }
        Effect::None
    }

    fn on_tick(&mut self, now: Instant) {
        let before = self.last_tick;
        let changed = self.panes.iter().any(|p| match p.stage {
            PaneStage::Running { since } => {
                before.saturating_duration_since(since).as_secs()
                    != now.saturating_duration_since(since).as_secs()
            }
            _ => false,
        });
        self.last_tick = now;
        if changed {
            self.dirty = true;
        }
    }

    fn on_key(&mut self, key: Key) -> Effect {
        let action = self.keymap.action(self.keymap_mode(), key);
        if self.notice.take().is_some() {
            self.dirty = true;
        }
        if self.keymap_mode() == KeymapMode::Input {
            return self.typed_key(key, action);
        }
        let Some(action) = action else {
            if let (Overlay::SearchInput { .. } | Overlay::FilterInput, KeyCode::Char(c)) =
                (&self.overlay, key.code)
                && !key.ctrl
                && !key.alt
            {
                self.input.push(c);
                self.input_error = None;
                self.dirty = true;
                if self.overlay == Overlay::FilterInput {
                    self.filter_changed();
                }
            }
            return Effect::None;
        };
        self.dirty = true;
        match action {
            Action::Interrupt => return self.interrupt(),
            Action::Suspend => return Effect::Suspend,
            _ => {}
        }
        match self.overlay.clone() {
            Overlay::None => self.on_normal_action(action),
            Overlay::Help => {
                if matches!(action, Action::Close | Action::ToggleHelp) {
                    self.overlay = Overlay::None;
                }
                Effect::None
            }
            Overlay::ConfirmQuit => match action {
                Action::Confirm => {
                    self.overlay = Overlay::None;
                    self.quitting = true;
                    if self.busy() {
                        Effect::InterruptAndQuit
                    } else {
                        Effect::Quit
                    }
                }
                Action::Cancel => {
                    self.overlay = Overlay::None;
                    Effect::None
                }
                _ => Effect::None,
            },
            Overlay::SearchInput { scope } => {
                match action {
                    Action::Submit => self.submit_search(scope),
                    Action::Cancel => self.overlay = Overlay::None,
                    Action::DeleteChar => {
                        self.input.pop();
                        self.input_error = None;
                    }
                    Action::ClearInput => {
                        self.input.clear();
                        self.input_error = None;
                    }
                    _ => {}
                }
                Effect::None
            }
            Overlay::FilterInput => {
                self.on_filter_action(action);
                Effect::None
            }
            Overlay::SearchResults { results, selected } => {
                self.on_search_results_action(results, selected, action);
                Effect::None
            }
            Overlay::FailingTests { env, selected } => {
                self.on_failing_tests_action(env, selected, action);
                Effect::None
            }
        }
    }

    /// A key in the search results list: move, jump to the hit, or close.
    fn on_search_results_action(
        &mut self,
        results: Vec<(EnvId, usize)>,
        selected: usize,
        action: Action,
    ) {
        let n = results.len().max(1);
        match action {
            Action::FocusNext | Action::FocusPrev => {
                let step = if action == Action::FocusNext {
                    1
                } else {
                    n - 1
                };
                self.overlay = Overlay::SearchResults {
                    selected: (selected + step) % n,
                    results,
                };
            }
            Action::Submit => {
                self.overlay = Overlay::None;
                if let Some(&(env, _)) = results.get(selected) {
                    self.focus = env;
                    self.first_hit();
                }
            }
            Action::Close => self.overlay = Overlay::None,
            _ => {}
        }
    }

    /// A key in the failing-tests list: move, search the pane for the test, or close.
    fn on_failing_tests_action(&mut self, env: EnvId, selected: usize, action: Action) {
        let n = self.failing_tests(env).len().max(1);
        match action {
            Action::FocusNext => {
                self.overlay = Overlay::FailingTests {
                    env,
                    selected: (selected + 1) % n,
                };
            }
            Action::FocusPrev => {
                self.overlay = Overlay::FailingTests {
                    env,
                    selected: (selected + n - 1) % n,
                };
            }
            Action::Submit => {
                self.overlay = Overlay::None;
                // The query is shown in the bar: the report's text, sanitised for a terminal.
                let name = self
                    .failing_tests(env)
                    .get(selected)
                    .map(|case| crate::sanitize::text(case.name.as_bytes()));
                if let Some(name) = name {
                    self.focus = env;
                    self.input = name;
                    self.submit_search(SearchScope::Focused);
                }
            }
            Action::Close => self.overlay = Overlay::None,
            _ => {}
        }
    }

    /// The failing tests of the env's latest test results: its result; while it runs, what
    /// its reports say so far, else the failed attempt before.
    pub fn failing_tests(&self, env: EnvId) -> Vec<&crate::testreport::TestCase> {
        let Some(pane) = self.panes.get(env) else {
            return Vec::new();
        };
        let tests = match &pane.stage {
            PaneStage::Finished { result } => result.tests.as_ref(),
            _ => pane
                .live_tests
                .as_ref()
                .filter(|t| t.counts.failures() > 0)
                .or_else(|| pane.previous.as_ref().and_then(|r| r.tests.as_ref())),
        };
        tests
            .map(|tests| tests.failing().collect())
            .unwrap_or_default()
    }

    /// Ctrl-C: like SIGINT to runall. With nothing left to interrupt it just quits.
    fn interrupt(&mut self) -> Effect {
        if self.busy() {
            self.quitting = true;
            Effect::Interrupt
        } else {
            Effect::Quit
        }
    }

    fn on_normal_action(&mut self, action: Action) -> Effect {
        match action {
            Action::FocusNext => self.move_focus(true),
            Action::FocusPrev => self.move_focus(false),
            Action::ScrollUp
            | Action::ScrollDown
            | Action::PageUp
            | Action::PageDown
            | Action::ScrollTop
            | Action::ScrollBottom => self.scroll_action(action),
            Action::ToggleTiles => {
                let from = match self.mode {
                    Mode::Zoomed { back } => back,
                    Mode::Tiled(filter) => Some(filter),
                    Mode::List => None,
                };
                self.mode = match from {
                    None => Mode::Tiled(TileFilter::Running),
                    Some(TileFilter::Running) => Mode::Tiled(TileFilter::All),
                    Some(TileFilter::All) => Mode::List,
                };
            }
            Action::ToggleZoom => {
                self.mode = match self.mode {
                    Mode::List => Mode::Zoomed { back: None },
                    Mode::Tiled(filter) => Mode::Zoomed { back: Some(filter) },
                    Mode::Zoomed { back: None } => Mode::List,
                    Mode::Zoomed { back: Some(filter) } => Mode::Tiled(filter),
                };
            }
            Action::StartSearch | Action::SearchAll => {
                let scope = if action == Action::SearchAll {
                    SearchScope::All
                } else {
                    SearchScope::Focused
                };
                self.input = match (&self.search, scope) {
                    (Some(search), SearchScope::All) => search.query.text.clone(),
                    _ => String::new(),
                };
                self.input_error = None;
                self.overlay = Overlay::SearchInput { scope };
            }
            Action::FilterList => self.start_filter(),
            Action::NextHit => self.step_hit(true),
            Action::PrevHit => self.step_hit(false),
            Action::ClearSearch => {
                if self.search.take().is_none()
                    && let Mode::Zoomed { back } = self.mode
                {
                    self.mode = back.map_or(Mode::List, Mode::Tiled);
                }
            }
            Action::Rerun => return self.rerun_focused(),
            Action::RerunFailed => return self.rerun_failed(),
            Action::StopEnv => {
                if self.env_state(self.focus) == Some(EnvState::Running) {
                    return Effect::StopEnv(self.focus);
                }
                let name = self.focused_name();
                self.notice = Some(format!("{name} is not running"));
            }
            Action::Quit => {
                if !self.busy() {
                    return Effect::Quit;
                }
                if self.quitting {
                    self.notice = Some("already quitting: Ctrl-C stops harder".to_owned());
                } else {
                    self.overlay = Overlay::ConfirmQuit;
                }
            }
            Action::ToggleHelp => self.overlay = Overlay::Help,
            Action::FailingTests => {
                if self.failing_tests(self.focus).is_empty() {
                    let name = self.panes.get(self.focus).map_or("", |p| p.name.as_str());
                    self.notice = Some(format!("no failing tests in {name}'s test reports"));
                } else {
                    self.overlay = Overlay::FailingTests {
                        env: self.focus,
                        selected: 0,
                    };
                }
            }
            Action::EnterInput => self.enter_input(),
            Action::ToggleMouse => return self.toggle_mouse(),
            Action::Copy => return self.copy(),
            Action::ToggleStream => return Effect::ToggleStream,
            _ => {}
        }
        Effect::None
    }

    /// Scrolls the focused pane.
    fn scroll_action(&mut self, action: Action) {
        let Some(pane) = self.panes.get_mut(self.focus) else {
            return;
        };
        let page_rows = pane.rows.saturating_sub(1).max(1) as isize;
        match action {
            Action::ScrollUp => pane.scroll_by(-1),
            Action::ScrollDown => pane.scroll_by(1),
            Action::PageUp => pane.scroll_by(-page_rows),
            Action::PageDown => pane.scroll_by(page_rows),
            Action::ScrollTop => {
                pane.scroll = if pane.line_total() > pane.rows {
                    Scroll::Pinned { top: 0 }
                } else {
                    Scroll::Follow
                };
            }
            Action::ScrollBottom => pane.scroll = Scroll::Follow,
            _ => {}
        }
    }

    fn rerun_failed(&mut self) -> Effect {
        let failed: Vec<EnvId> = (0..self.panes.len())
            .filter(|&id| {
                matches!(
                    self.env_state(id),
                    Some(EnvState::Failed | EnvState::TimedOut)
                )
            })
            .collect();
        if self.quitting {
            self.notice = Some("quitting: no reruns".to_owned());
        } else if failed.is_empty() {
            self.notice = Some("no failed envs".to_owned());
        } else {
            return Effect::Rerun(failed);
        }
        Effect::None
    }

    fn focused_name(&self) -> String {
        self.panes
            .get(self.focus)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    fn rerun_focused(&mut self) -> Effect {
        let name = self.focused_name();
        let finished = self
            .env_state(self.focus)
            .is_some_and(EnvState::is_finished);
        if self.quitting {
            self.notice = Some("quitting: no reruns".to_owned());
        } else if finished {
            return Effect::Rerun(vec![self.focus]);
        } else {
            self.notice = Some(format!("{name} has not finished"));
        }
        Effect::None
    }

    fn move_focus(&mut self, forward: bool) {
        if matches!(self.mode, Mode::List | Mode::Zoomed { back: None }) {
            // The list: O(log n) through the (filtered) list, whatever the number of envs.
            self.step_in_list(forward);
            return;
        }
        let ring = self.focus_ring();
        if ring.is_empty() {
            return;
        }
        let n = ring.len();
        self.focus = match ring.iter().position(|&id| id == self.focus) {
            Some(i) if forward => ring[(i + 1) % n],
            Some(i) => ring[(i + n - 1) % n],
            None => ring[0],
        };
    }

    fn scroll_focused(&mut self, delta: isize) {
        if let Some(pane) = self.panes.get_mut(self.focus) {
            pane.scroll_by(delta);
            self.dirty = true;
        }
    }

    /// How long env `id` has run, for running envs.
    pub fn running_for(&self, id: EnvId, now: Instant) -> Option<Duration> {
        match self.panes.get(id)?.stage {
            PaneStage::Running { since } => Some(now.saturating_duration_since(since)),
            _ => None,
        }
    }

    /// A running env's test results so far.
    pub fn live_tests(&self, id: EnvId) -> Option<&crate::testreport::TestResults> {
        self.panes.get(id)?.live_tests.as_deref()
    }

    /// Env `id`'s final result, once it finished.
    pub fn result(&self, id: EnvId) -> Option<&EnvResult> {
        match &self.panes.get(id)?.stage {
            PaneStage::Finished { result } => Some(result),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {

    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::event::{EnvStatus, ExitKind, Stream};
    use crate::plan::{CommandSpec, EnvSpec};

    /// A plan of envs `(name, depends, commands)`.
    pub(in crate::tui) fn plan(envs: &[(&str, &[EnvId], &[&str])]) -> Plan {
        let envs = envs
            .iter()
            .map(|&(name, depends, commands)| EnvSpec {
                commands: commands
                    .iter()
                    .map(|c| CommandSpec::Shell((*c).to_owned()))
                    .collect(),
                depends: depends.to_vec(),
                ..EnvSpec::shell(name, "", "/work")
            })
            .collect();
        Plan::new(envs, 4, "/logs")
    }

    /// The standard test plan: lint, py312, py311 (after lint), docs (after py312).
    pub(in crate::tui) fn four() -> Plan {
        plan(&[
            ("lint", &[], &["ruff check ."]),
            ("py312", &[], &["pip install -e .", "pytest -x tests"]),
            ("py311", &[0], &["pytest tests"]),
            ("docs", &[1], &["sphinx-build docs out"]),
        ])
    }

    pub(in crate::tui) fn base() -> Instant {
        // A fixed point far enough from the epoch that offsets never underflow.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    pub(in crate::tui) fn at(ms: u64) -> Instant {
        base() + Duration::from_millis(ms)
    }

    pub(in crate::tui) fn result(status: EnvStatus, ms: u64) -> EnvResult {
        EnvResult::new(status, Duration::from_millis(ms), "/logs/x.log")
    }

    pub(in crate::tui) fn exit(code: i32) -> EnvStatus {
        EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(code),
        }
    }

    pub(in crate::tui) fn output(env: EnvId, text: &str) -> RunEvent {
        RunEvent::Output {
            env,
            stream: Stream::Stdout,
            bytes: text.as_bytes().to_vec(),
        }
    }

    pub(in crate::tui) fn started(env: EnvId) -> RunEvent {
        RunEvent::EnvStarted { env, attempt: 1 }
    }

    pub(in crate::tui) fn restarted(env: EnvId, attempt: u32) -> RunEvent {
        RunEvent::EnvStarted { env, attempt }
    }

    pub(in crate::tui) fn finished(env: EnvId, result: EnvResult) -> RunEvent {
        RunEvent::EnvFinished { env, result }
    }

    /// Feeds `(ms, event)` pairs into a fresh app for `plan`.
    pub(in crate::tui) fn app_from(plan: &Plan, events: Vec<(u64, RunEvent)>) -> App {
        let mut app = App::new(plan, at(0), AppOptions::default());
        for (ms, event) in events {
            let _ = app.update(Msg::Run(event), at(ms));
        }
        app
    }

    fn press(app: &mut App, key: Key) -> Effect {
        app.update(Msg::Key(key), at(0))
    }

    fn c(ch: char) -> Key {
        Key::char(ch)
    }

    fn typed(app: &mut App, text: &str) {
        for ch in text.chars() {
            assert_eq!(press(app, c(ch)), Effect::None);
        }
    }

    #[test]
    fn focus_wraps_both_ways() {
        let mut app = app_from(&four(), vec![]);
        assert_eq!(app.focus(), 0);
        let _ = press(&mut app, Key::plain(KeyCode::Up));
        assert_eq!(app.focus(), 3, "up from the first env wraps to the last");
        let _ = press(&mut app, c('j'));
        assert_eq!(app.focus(), 0, "down from the last env wraps to the first");
        let _ = press(&mut app, Key::plain(KeyCode::Down));
        let _ = press(&mut app, Key::plain(KeyCode::Tab));
        assert_eq!(app.focus(), 2);
        let _ = press(&mut app, c('k'));
        assert_eq!(app.focus(), 1);
    }

    #[test]
    fn states_follow_events() {
        let plan = four();
        let mut app = app_from(&plan, vec![(0, started(1))]);
        assert_eq!(app.env_state(0), Some(EnvState::Pending));
        assert_eq!(app.env_state(1), Some(EnvState::Running));
        assert_eq!(app.env_state(2), Some(EnvState::Waiting), "lint not done");
        assert_eq!(app.env_state(3), Some(EnvState::Waiting), "py312 running");
        let _ = app.update(Msg::Run(finished(0, result(EnvStatus::Passed, 5))), at(10));
        assert_eq!(app.env_state(0), Some(EnvState::Passed));
        assert_eq!(app.env_state(2), Some(EnvState::Pending));
        let mut timed = result(
            EnvStatus::Failed {
                command: 1,
                exit: ExitKind::Signal {
                    signal: 15,
                    core_dumped: false,
                },
            },
            5,
        );
        timed.stopped_by = Some(StopCause::TimedOut(Duration::from_secs(1)));
        let _ = app.update(Msg::Run(finished(1, timed)), at(20));
        assert_eq!(app.env_state(1), Some(EnvState::TimedOut));
        let _ = app.update(Msg::Run(finished(3, result(EnvStatus::NotRun, 0))), at(20));
        assert_eq!(app.env_state(3), Some(EnvState::NotRun));
        assert_eq!(app.env_state(9), None);
    }

    #[test]
    fn command_started_records_the_command() {
        let mut app = app_from(
            &four(),
            vec![
                (0, started(1)),
                (
                    1,
                    RunEvent::CommandStarted {
                        env: 1,
                        index: 1,
                        pid: 42,
                    },
                ),
            ],
        );
        assert_eq!(
            app.panes[1].command,
            Some((1, "pytest -x tests".to_owned()))
        );
        // An index outside the env's commands is kept without text rather than panicking.
        let _ = app.update(
            Msg::Run(RunEvent::CommandStarted {
                env: 1,
                index: 9,
                pid: 43,
            }),
            at(2),
        );
        assert_eq!(app.panes[1].command, Some((9, String::new())));
    }

    #[test]
    fn ctrl_c_interrupts_every_time_while_busy() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        for _ in 0..3 {
            assert_eq!(press(&mut app, Key::ctrl('c')), Effect::Interrupt);
        }
        assert!(app.quitting());
        // Ctrl-C works even while typing a search.
        let _ = press(&mut app, c('/'));
        assert_eq!(press(&mut app, Key::ctrl('c')), Effect::Interrupt);
        assert_eq!(press(&mut app, Key::ctrl('z')), Effect::Suspend);
        // Once reaped, the run ends and the app leaves.
        let effect = app.update(
            Msg::Run(RunEvent::RunFinished {
                cause: Some(ShutdownCause::Signal(2)),
            }),
            at(5),
        );
        assert_eq!(effect, Effect::Quit);
    }

    #[test]
    fn ctrl_c_with_nothing_running_quits() {
        let events = (0..4)
            .map(|id| (1, finished(id, result(EnvStatus::Passed, 1))))
            .collect();
        let mut app = app_from(&four(), events);
        assert_eq!(press(&mut app, Key::ctrl('c')), Effect::Quit);
    }

    #[test]
    fn quit_asks_while_envs_run_then_waits_for_them() {
        let mut app = app_from(&four(), vec![(0, started(0)), (0, started(1))]);
        assert_eq!(press(&mut app, c('q')), Effect::None);
        assert_eq!(app.overlay(), &Overlay::ConfirmQuit);
        // "n" keeps running.
        assert_eq!(press(&mut app, c('n')), Effect::None);
        assert_eq!(app.overlay(), &Overlay::None);
        assert!(!app.quitting());
        // "y" interrupts the envs (a deliberate quit, not a SIGINT to runall), then the app
        // waits until everything is reaped.
        let _ = press(&mut app, c('q'));
        assert_eq!(press(&mut app, c('y')), Effect::InterruptAndQuit);
        assert!(app.quitting());
        assert_eq!(app.overlay(), &Overlay::None);
        let interrupted = || {
            let mut r = result(exit(130), 3);
            r.stopped_by = Some(StopCause::Interrupted);
            r
        };
        assert_eq!(
            app.update(Msg::Run(finished(0, interrupted())), at(3)),
            Effect::None
        );
        assert_eq!(
            app.update(Msg::Run(finished(1, interrupted())), at(3)),
            Effect::None,
            "pending envs are not finished yet"
        );
        let _ = app.update(Msg::Run(finished(2, result(EnvStatus::NotRun, 0))), at(3));
        assert_eq!(
            app.update(Msg::Run(finished(3, result(EnvStatus::NotRun, 0))), at(3)),
            Effect::Quit
        );
        assert_eq!(
            app.update(Msg::Run(RunEvent::RunFinished { cause: None }), at(4)),
            Effect::Quit
        );
    }

    #[test]
    fn the_quit_question_closes_once_nothing_runs() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        for env in 1..4 {
            let _ = app.update(Msg::Run(finished(env, result(EnvStatus::Passed, 1))), at(1));
        }
        assert_eq!(press(&mut app, c('q')), Effect::None);
        assert_eq!(app.overlay(), &Overlay::ConfirmQuit);
        // The last env ends on its own while the question is up.
        let _ = app.update(Msg::Run(finished(0, result(EnvStatus::Passed, 2))), at(2));
        assert_eq!(app.overlay(), &Overlay::None, "nothing left to interrupt");
        assert!(!app.quitting());
        // `q` now simply leaves.
        assert_eq!(press(&mut app, c('q')), Effect::Quit);
    }

    #[test]
    fn quit_with_nothing_running_leaves_at_once() {
        let events = (0..4)
            .map(|id| (1, finished(id, result(exit(1), 1))))
            .collect();
        let mut app = app_from(&four(), events);
        assert!(app.all_finished());
        assert_eq!(press(&mut app, c('q')), Effect::Quit);
    }

    #[test]
    fn finished_runs_stay_open_until_q() {
        let mut events: Vec<_> = (0..4)
            .map(|id| (1, finished(id, result(EnvStatus::Passed, 1))))
            .collect();
        events.push((2, RunEvent::RunFinished { cause: None }));
        let mut app = App::new(&four(), at(0), AppOptions::default());
        for (ms, event) in events {
            assert_eq!(app.update(Msg::Run(event), at(ms)), Effect::None);
        }
        let _ = app.update(Msg::Tick(at(60_000)), at(60_000));
        assert_eq!(press(&mut app, c('q')), Effect::Quit);
    }

    #[test]
    fn fail_fast_run_stays_open_but_a_signal_ends_it() {
        let mut app = app_from(&four(), vec![]);
        let cause = Some(ShutdownCause::FailFast(0));
        assert_eq!(
            app.update(Msg::Run(RunEvent::RunFinished { cause }), at(1)),
            Effect::None
        );
        let cause = Some(ShutdownCause::Signal(15));
        assert_eq!(
            app.update(Msg::Run(RunEvent::RunFinished { cause }), at(1)),
            Effect::Quit
        );
    }

    #[test]
    fn rerun_only_once_finished() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        assert_eq!(press(&mut app, c('r')), Effect::None);
        assert_eq!(app.notice.as_deref(), Some("lint has not finished"));
        let _ = app.update(Msg::Run(finished(0, result(exit(2), 1))), at(1));
        assert_eq!(press(&mut app, c('r')), Effect::Rerun(vec![0]));
        assert_eq!(app.notice, None, "the next key clears the notice");
        // Pending envs cannot be rerun either.
        let _ = press(&mut app, c('j'));
        assert_eq!(press(&mut app, c('r')), Effect::None);
    }

    #[test]
    fn rerun_failed_picks_failed_and_timed_out_envs() {
        let mut timed = result(exit(143), 1);
        timed.stopped_by = Some(StopCause::TimedOut(Duration::from_secs(3)));
        let mut interrupted = result(exit(130), 1);
        interrupted.stopped_by = Some(StopCause::Interrupted);
        let app_events = vec![
            (1, finished(0, result(exit(1), 1))),
            (1, finished(1, result(EnvStatus::Passed, 1))),
            (1, finished(2, timed)),
            (1, finished(3, interrupted)),
        ];
        let mut app = app_from(&four(), app_events);
        assert_eq!(press(&mut app, c('R')), Effect::Rerun(vec![0, 2]));

        let mut clean = app_from(
            &four(),
            vec![(1, finished(0, result(EnvStatus::Passed, 1)))],
        );
        assert_eq!(press(&mut clean, c('R')), Effect::None);
        assert_eq!(clean.notice.as_deref(), Some("no failed envs"));
    }

    #[test]
    fn rerun_restarts_the_pane() {
        let mut app = app_from(
            &four(),
            vec![
                (0, started(0)),
                (1, output(0, "boom\n")),
                (2, finished(0, result(exit(1), 2))),
            ],
        );
        assert_eq!(app.attempt(0), Some(1));
        app.panes[0].scroll = Scroll::Pinned { top: 3 };
        let _ = app.update(Msg::Run(restarted(0, 2)), at(10));
        assert_eq!(app.attempt(0), Some(2));
        assert_eq!(app.env_state(0), Some(EnvState::Running));
        assert_eq!(app.scroll(0), Some(Scroll::Follow));
        assert_eq!(
            app.running_for(0, at(2_510)),
            Some(Duration::from_millis(2_500))
        );
        assert_eq!(app.result(0), None);
    }

    #[test]
    fn x_stops_only_a_running_env() {
        let mut app = app_from(&four(), vec![(0, started(1))]);
        assert_eq!(press(&mut app, c('x')), Effect::None);
        assert_eq!(app.notice.as_deref(), Some("lint is not running"));
        let _ = press(&mut app, c('j'));
        assert_eq!(press(&mut app, c('x')), Effect::StopEnv(1));
        assert_eq!(
            press(&mut app, c('x')),
            Effect::StopEnv(1),
            "again escalates"
        );
    }

    #[test]
    fn tiles_cycle_and_zoom_returns() {
        let mut app = app_from(&four(), vec![(0, started(1)), (0, started(2))]);
        assert_eq!(app.mode(), Mode::List);
        let _ = press(&mut app, c('t'));
        assert_eq!(app.mode(), Mode::Tiled(TileFilter::Running));
        assert_eq!(
            app.tiles(TileFilter::Running),
            vec![0, 1, 2],
            "focus stays in"
        );
        // Focus moves among the tiles only.
        let _ = press(&mut app, c('j'));
        let _ = press(&mut app, c('j'));
        let _ = press(&mut app, c('j'));
        assert_eq!(app.focus(), 1);
        assert_eq!(app.tiles(TileFilter::Running), vec![1, 2]);
        let _ = press(&mut app, c('z'));
        assert_eq!(
            app.mode(),
            Mode::Zoomed {
                back: Some(TileFilter::Running)
            }
        );
        let _ = press(&mut app, c('z'));
        assert_eq!(app.mode(), Mode::Tiled(TileFilter::Running));
        let _ = press(&mut app, c('t'));
        assert_eq!(app.mode(), Mode::Tiled(TileFilter::All));
        let _ = press(&mut app, c('t'));
        assert_eq!(app.mode(), Mode::List);
        let _ = press(&mut app, c('z'));
        assert_eq!(app.mode(), Mode::Zoomed { back: None });
        // Esc without a search leaves the zoom too.
        let _ = press(&mut app, Key::plain(KeyCode::Esc));
        assert_eq!(app.mode(), Mode::List);
    }

    #[test]
    fn help_overlay_opens_and_closes() {
        let mut app = app_from(&four(), vec![]);
        let _ = press(&mut app, c('?'));
        assert_eq!(app.overlay(), &Overlay::Help);
        assert_eq!(app.keymap_mode(), KeymapMode::Help);
        // Normal keys do nothing under the overlay.
        let _ = press(&mut app, c('j'));
        assert_eq!(app.focus(), 0);
        let _ = press(&mut app, Key::plain(KeyCode::Esc));
        assert_eq!(app.overlay(), &Overlay::None);
    }

    #[test]
    fn search_input_typing_and_errors() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        let _ = press(&mut app, c('/'));
        assert_eq!(
            app.overlay(),
            &Overlay::SearchInput {
                scope: SearchScope::Focused
            }
        );
        typed(&mut app, "/err(/");
        assert_eq!(app.input, "/err(/");
        let _ = press(&mut app, Key::plain(KeyCode::Enter));
        assert_eq!(
            app.input_error.as_deref(),
            Some("invalid regex: unclosed group")
        );
        assert!(matches!(app.overlay(), Overlay::SearchInput { .. }));
        let _ = press(&mut app, Key::plain(KeyCode::Backspace));
        let _ = press(&mut app, Key::plain(KeyCode::Backspace));
        assert_eq!(app.input, "/err");
        assert_eq!(app.input_error, None);
        let _ = press(&mut app, Key::ctrl('u'));
        assert_eq!(app.input, "");
        typed(&mut app, "qntj");
        let _ = press(&mut app, Key::plain(KeyCode::Enter));
        assert_eq!(app.overlay(), &Overlay::None);
        assert_eq!(
            app.search.as_ref().map(|s| s.query.text.as_str()),
            Some("qntj")
        );
        let _ = press(&mut app, Key::plain(KeyCode::Esc));
        assert!(app.search.is_none(), "Esc clears the search");
        // Esc while typing abandons the input; Enter on an empty query closes it.
        let _ = press(&mut app, c('/'));
        let _ = press(&mut app, Key::plain(KeyCode::Esc));
        assert_eq!(app.overlay(), &Overlay::None);
        let _ = press(&mut app, c('/'));
        let _ = press(&mut app, Key::plain(KeyCode::Enter));
        assert_eq!(app.overlay(), &Overlay::None);
        assert!(app.search.is_none());
    }

    #[test]
    fn n_without_search_explains() {
        let mut app = app_from(&four(), vec![]);
        let _ = press(&mut app, c('n'));
        assert_eq!(app.notice.as_deref(), Some("no search: / to search"));
    }

    #[test]
    fn search_all_without_matches_says_so() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        let _ = press(&mut app, c('F'));
        assert_eq!(
            app.overlay(),
            &Overlay::SearchInput {
                scope: SearchScope::All
            }
        );
        typed(&mut app, "zzz");
        let _ = press(&mut app, Key::plain(KeyCode::Enter));
        assert_eq!(app.overlay(), &Overlay::None);
        assert_eq!(app.notice.as_deref(), Some("no env has a match for zzz"));
    }

    #[test]
    fn dirty_flag() {
        let mut app = app_from(&four(), vec![]);
        assert!(app.is_dirty(), "a new app needs a first frame");
        app.clear_dirty();
        // Ticks with nothing running change nothing on screen.
        let _ = app.update(Msg::Tick(at(5_000)), at(5_000));
        assert!(!app.is_dirty());
        let _ = app.update(Msg::Run(started(0)), at(5_000));
        assert!(app.is_dirty());
        app.clear_dirty();
        // Durations show whole seconds: a tick within the same second is not a change.
        let _ = app.update(Msg::Tick(at(5_400)), at(5_400));
        assert!(!app.is_dirty());
        let _ = app.update(Msg::Tick(at(6_000)), at(6_000));
        assert!(app.is_dirty());
        app.clear_dirty();
        // Output to an env that is not on screen does not need a redraw…
        app.drawn = vec![1];
        let _ = app.update(Msg::Run(output(0, "hidden\n")), at(6_100));
        assert!(!app.is_dirty());
        // …output to one that is does.
        app.drawn = vec![0];
        let _ = app.update(Msg::Run(output(0, "shown\n")), at(6_100));
        assert!(app.is_dirty());
        app.clear_dirty();
        // Unbound keys change nothing; bound ones do.
        let _ = press(&mut app, c('w'));
        assert!(!app.is_dirty());
        let _ = press(&mut app, c('j'));
        assert!(app.is_dirty());
        app.clear_dirty();
        let _ = app.update(
            Msg::Resize {
                width: 100,
                height: 30,
            },
            at(6_200),
        );
        assert!(app.is_dirty());
    }

    #[test]
    fn the_pane_pages_from_the_log_the_runner_names() {
        let opened = |path: &str| RunEvent::LogOpened {
            env: 2,
            path: PathBuf::from(path),
        };
        let mut app = app_from(&four(), vec![(0, started(2)), (0, opened("/x/py311.log"))]);
        assert_eq!(app.attempt(2), Some(1));
        assert_eq!(
            app.panes[2].scrollback.log(),
            Some(Path::new("/x/py311.log"))
        );
        let _ = app.update(Msg::Run(finished(2, result(exit(1), 1))), at(1));
        let _ = app.update(Msg::Run(restarted(2, 2)), at(2));
        // Until the runner names the new attempt's log, the old one is not paged from.
        assert_eq!(app.panes[2].scrollback.log(), None);
        let _ = app.update(Msg::Run(opened("/x/py311@2.log")), at(2));
        assert_eq!(app.attempt(2), Some(2));
        assert_eq!(
            app.panes[2].scrollback.log(),
            Some(Path::new("/x/py311@2.log"))
        );
    }

    #[test]
    fn the_tally_follows_every_stage_change_like_a_recount() {
        let recount = |app: &App, class: Tally| {
            app.panes
                .iter()
                .filter(|p| Tally::of(&p.stage) == class)
                .count()
        };
        let classes = [
            Tally::NotStarted,
            Tally::Running,
            Tally::Passed,
            Tally::Failed,
            Tally::TimedOut,
            Tally::Interrupted,
            Tally::Skipped,
            Tally::NotRun,
        ];
        let mut timed_out = result(exit(143), 9);
        timed_out.stopped_by = Some(StopCause::TimedOut(Duration::from_secs(1)));
        let events = vec![
            (0, started(0)),
            (1, started(1)),
            (2, finished(0, result(EnvStatus::Passed, 2))),
            (3, finished(1, timed_out)),
            (4, started(0)),
            (5, finished(0, result(exit(1), 1))),
            (6, finished(2, result(EnvStatus::NotRun, 0))),
        ];
        let mut app = App::new(&four(), at(0), AppOptions::default());
        assert_eq!(app.tally(Tally::NotStarted), 4);
        for (ms, event) in events {
            let _ = app.update(Msg::Run(event), at(ms));
            for class in classes {
                assert_eq!(app.tally(class), recount(&app, class), "{class:?} at {ms}");
            }
        }
        assert_eq!(app.tally(Tally::Failed), 1, "the rerun failed");
        assert_eq!(app.tally(Tally::Passed), 0);
        assert!(!app.all_finished());
        let _ = app.update(Msg::Run(finished(3, result(EnvStatus::Passed, 1))), at(7));
        assert!(app.all_finished());
    }

    #[test]
    fn the_memory_budget_evicts_envs_off_screen_and_keeps_the_viewed_ones() {
        use std::fmt::Write as _;
        use std::io::Write as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let names: Vec<String> = (0..6).map(|i| format!("e{i}")).collect();
        let envs: Vec<(&str, &[EnvId], &[&str])> = names
            .iter()
            .map(|n| (n.as_str(), &[][..], &["x"][..]))
            .collect();
        let options = AppOptions {
            scrollback_memory: 256 * 1024,
            ..AppOptions::default()
        };
        let mut app = App::new(&plan(&envs), at(0), options);
        let mut logs = Vec::new();
        for env in 0..6 {
            let path = dir.path().join(format!("e{env}.log"));
            logs.push(std::fs::File::create(&path).expect("log"));
            let _ = app.update(Msg::Run(started(env)), at(1));
            let _ = app.update(Msg::Run(RunEvent::LogOpened { env, path }), at(1));
        }
        // 6 envs of 2,000 lines each, about 1 MiB of lines in all: 4 times the budget.
        for round in 0..20 {
            for (env, log) in logs.iter_mut().enumerate() {
                let mut text = String::new();
                for k in 0..100 {
                    let n = round * 100 + k;
                    let _ = writeln!(text, "e{env} line {n:05} {}", "~".repeat(60));
                }
                log.write_all(text.as_bytes()).expect("write log");
                let _ = app.update(Msg::Run(output(env, &text)), at(2));
            }
            // The user looks at e3 for a while, then at e5 (e0 has focus throughout).
            app.drawn = vec![if round < 10 { 3 } else { 5 }];
            app.enforce_budget();
        }
        let (total, limit) = app.scrollback_memory();
        let resident: usize = [0, 5]
            .iter()
            .map(|&id| app.panes[id].scrollback.memory_bytes())
            .sum();
        assert!(
            total <= limit.max(resident) + 64 * 1024,
            "{total} bytes held, budget {limit}, resident {resident}"
        );
        for id in [0, 5] {
            assert!(!app.panes[id].scrollback.is_evicted(), "e{id} is on screen");
        }
        for id in [1, 2, 4] {
            assert!(
                app.panes[id].scrollback.is_evicted(),
                "e{id} was never viewed"
            );
        }
        // Every line is still there, read back from the logs, and search finds every hit.
        for id in 0..6 {
            let pane = &mut app.panes[id];
            assert_eq!(pane.scrollback.line_count(), 2000);
            assert_eq!(
                pane.scrollback.plain_line(1234).as_deref(),
                Some(format!("e{id} line 01234 {}", "~".repeat(60)).as_str())
            );
            let hits = pane
                .scrollback
                .search(&crate::scrollback::Pattern::Plain("line 012".into()));
            assert_eq!(hits.len(), 100, "e{id}");
        }
    }

    #[test]
    fn an_env_held_for_memory_says_so_until_it_starts_and_shows_its_cost() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        let held = RunEvent::WaitingForMemory {
            env: 1,
            expected: 3 << 30,
            running: 6 << 30,
        };
        let _ = app.update(Msg::Run(held), at(1));
        assert_eq!(app.env_state(1), Some(EnvState::WaitingForMemory));
        assert!(!EnvState::WaitingForMemory.is_finished());
        assert_eq!(
            crate::tui::view::status_text(&app, 1, EnvState::WaitingForMemory, at(1)),
            "waiting for memory"
        );
        let _ = app.update(Msg::Run(started(1)), at(2));
        assert_eq!(app.env_state(1), Some(EnvState::Running));
        assert_eq!(
            crate::tui::view::resources_text(&app, 1),
            None,
            "no sample yet"
        );
        let live = Resources {
            cpu: Duration::from_millis(1500),
            peak_rss: 300 << 20,
        };
        let _ = app.update(Msg::Run(RunEvent::Usage { env: 1, now: live }), at(3));
        assert_eq!(
            crate::tui::view::resources_text(&app, 1).as_deref(),
            Some("1.50s CPU, 300 MiB now")
        );
        let mut done = result(EnvStatus::Passed, 5);
        done.resources.add(Duration::from_secs(2), 310 << 20);
        let _ = app.update(Msg::Run(finished(1, done)), at(4));
        assert_eq!(
            crate::tui::view::resources_text(&app, 1).as_deref(),
            Some("2.00s CPU, 310 MiB peak")
        );
    }

    #[test]
    fn a_failed_log_is_said_in_the_bar_and_the_pane() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        let _ = app.update(
            Msg::Run(RunEvent::LogFailed {
                env: 0,
                path: PathBuf::from("/full/lint.log"),
                error: "No space left on device (os error 28)".into(),
            }),
            at(1),
        );
        assert_eq!(
            app.notice.as_deref(),
            Some("lint: log incomplete: /full/lint.log: No space left on device (os error 28)")
        );
        let status = crate::tui::view::status_text(&app, 0, EnvState::Running, at(2));
        assert!(status.contains("log incomplete"), "{status}");
        // A new attempt has a new log.
        let _ = app.update(Msg::Run(restarted(0, 2)), at(3));
        assert_eq!(app.panes[0].log_error, None);
    }

    #[test]
    fn events_for_unknown_envs_are_ignored() {
        let mut app = app_from(&four(), vec![]);
        for event in [
            started(9),
            output(9, "x"),
            finished(9, result(EnvStatus::Passed, 1)),
            RunEvent::CommandStarted {
                env: 9,
                index: 0,
                pid: 1,
            },
        ] {
            assert_eq!(app.update(Msg::Run(event), at(1)), Effect::None);
        }
    }

    #[test]
    fn empty_plan_does_not_panic() {
        let mut app = App::new(&plan(&[]), at(0), AppOptions::default());
        for key in [
            c('j'),
            c('k'),
            c('r'),
            c('x'),
            c('g'),
            c('G'),
            c('n'),
            c('t'),
            c('z'),
        ] {
            let _ = press(&mut app, key);
        }
        let _ = app.update(Msg::MouseScroll { up: true }, at(0));
        assert_eq!(press(&mut app, c('q')), Effect::Quit);
    }

    /// Tests that need output lines in the scrollback.
    mod with_lines {
        use std::fmt::Write as _;

        use super::*;

        fn lines(from: usize, to: usize) -> String {
            (from..to).fold(String::new(), |mut text, i| {
                let _ = writeln!(text, "line {i}");
                text
            })
        }

        /// An app with env 0 running and `n` lines of output, its pane 10 rows high.
        fn running_with(n: usize) -> App {
            let mut app = app_from(&four(), vec![(0, started(0)), (1, output(0, &lines(0, n)))]);
            app.panes[0].rows = 10;
            app
        }

        #[test]
        fn follows_at_the_bottom_and_stays_put_when_scrolled_up() {
            let mut app = running_with(50);
            assert_eq!(app.scroll(0), Some(Scroll::Follow));
            assert_eq!(app.panes[0].top(10), 40);
            let _ = press(&mut app, Key::plain(KeyCode::PageUp));
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 31 }));
            let _ = app.update(Msg::Run(output(0, &lines(50, 80))), at(2));
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 31 }), "stays put");
            assert_eq!(app.panes[0].top(10), 31);
            let _ = press(&mut app, c('G'));
            assert_eq!(app.scroll(0), Some(Scroll::Follow));
            assert_eq!(app.panes[0].top(10), 70);
        }

        #[test]
        fn offsets_are_clamped() {
            let mut app = running_with(25);
            for _ in 0..5 {
                let _ = press(&mut app, Key::plain(KeyCode::PageUp));
            }
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 0 }));
            let _ = press(&mut app, Key::ctrl('e'));
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 1 }));
            for _ in 0..5 {
                let _ = press(&mut app, Key::plain(KeyCode::PageDown));
            }
            assert_eq!(
                app.scroll(0),
                Some(Scroll::Follow),
                "the bottom follows again"
            );
            let _ = press(&mut app, c('g'));
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 0 }));
            let _ = app.update(Msg::MouseScroll { up: false }, at(2));
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 3 }));
            let _ = app.update(Msg::MouseScroll { up: true }, at(2));
            let _ = app.update(Msg::MouseScroll { up: true }, at(2));
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 0 }));

            // Output that fits the pane cannot be scrolled.
            let mut short = running_with(5);
            let _ = press(&mut short, Key::plain(KeyCode::PageUp));
            let _ = press(&mut short, c('g'));
            assert_eq!(short.scroll(0), Some(Scroll::Follow));
        }

        #[test]
        fn resize_keeps_the_pinned_top() {
            let mut app = running_with(100);
            let _ = press(&mut app, c('g'));
            let _ = press(&mut app, Key::ctrl('e'));
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 1 }));
            let _ = app.update(
                Msg::Resize {
                    width: 50,
                    height: 10,
                },
                at(2),
            );
            app.panes[0].rows = 4;
            assert_eq!(app.scroll(0), Some(Scroll::Pinned { top: 1 }));
            assert_eq!(app.panes[0].top(4), 1);
        }

        #[test]
        fn search_and_step_through_hits() {
            let text: String = (0..100)
                .map(|i| {
                    if i % 20 == 5 {
                        format!("line {i} ERROR here\n")
                    } else {
                        format!("line {i}\n")
                    }
                })
                .collect();
            let mut app = app_from(&four(), vec![(0, started(0)), (1, output(0, &text))]);
            app.panes[0].rows = 10;
            let _ = press(&mut app, c('g'));
            let _ = press(&mut app, c('/'));
            typed(&mut app, "error");
            let _ = press(&mut app, Key::plain(KeyCode::Enter));
            let search = app.search.as_ref().unwrap();
            let found: Vec<usize> = search.hits.iter().map(|h| h.line).collect();
            assert_eq!(found, [5, 25, 45, 65, 85]);
            assert_eq!(search.current.map(|h| h.line), Some(5));
            assert_eq!(search.current_index(), Some(1));
            let _ = press(&mut app, c('n'));
            assert_eq!(
                app.search.as_ref().unwrap().current.map(|h| h.line),
                Some(25)
            );
            let top = app.panes[0].top(10);
            assert!(
                (top..top + 10).contains(&25),
                "the hit is on screen (top {top})"
            );
            let _ = press(&mut app, c('N'));
            let _ = press(&mut app, c('N'));
            assert_eq!(
                app.search.as_ref().unwrap().current.map(|h| h.line),
                Some(85)
            );
            assert_eq!(app.notice.as_deref(), Some("search wrapped to the bottom"));
            let top = app.panes[0].top(10);
            assert!((top..top + 10).contains(&85));
            // New output is searched on the next step.
            let _ = app.update(Msg::Run(output(0, "last error\n")), at(3));
            let _ = press(&mut app, c('n'));
            assert_eq!(
                app.search.as_ref().unwrap().current.map(|h| h.line),
                Some(100)
            );
        }

        #[test]
        fn search_all_lists_envs_and_focuses_the_choice() {
            let mut app = app_from(
                &four(),
                vec![
                    (0, started(0)),
                    (0, started(1)),
                    (0, started(2)),
                    (1, output(0, "ok\n")),
                    (1, output(1, "boom\nboom again\n")),
                    (1, output(2, "a boom\n")),
                ],
            );
            let _ = press(&mut app, Key::alt('/'));
            typed(&mut app, "boom");
            let _ = press(&mut app, Key::plain(KeyCode::Enter));
            assert_eq!(
                app.overlay(),
                &Overlay::SearchResults {
                    results: vec![(1, 2), (2, 1)],
                    selected: 0
                }
            );
            let _ = press(&mut app, c('j'));
            let _ = press(&mut app, Key::plain(KeyCode::Enter));
            assert_eq!(app.focus(), 2);
            assert_eq!(app.overlay(), &Overlay::None);
            let search = app.search.as_ref().unwrap();
            assert_eq!(search.env, 2);
            assert_eq!(
                search.current.map(|h| (h.line, h.start, h.end)),
                Some((0, 2, 6))
            );
        }
    }

    #[test]
    fn output_does_not_touch_other_scroll_states() {
        let mut app = app_from(&four(), vec![(0, started(0)), (0, started(1))]);
        app.panes[1].scroll = Scroll::Pinned { top: 7 };
        let _ = app.update(Msg::Run(output(0, "x\n")), at(1));
        let _ = app.update(Msg::Run(output(1, "y\n")), at(1));
        assert_eq!(app.scroll(1), Some(Scroll::Pinned { top: 7 }));
        let _ = app.update(
            Msg::Resize {
                width: 40,
                height: 12,
            },
            at(2),
        );
        assert_eq!(
            app.scroll(1),
            Some(Scroll::Pinned { top: 7 }),
            "resize keeps it"
        );
    }

    mod scroll_properties {
        use std::fmt::Write as _;

        use proptest::prelude::*;

        use super::*;

        /// One thing a user or a child can do to the focused pane.
        #[derive(Debug, Clone)]
        enum Step {
            Output(usize),
            Key(Key),
            Wheel(bool),
            Resize(u16),
        }

        fn step() -> impl Strategy<Value = Step> {
            let keys = [
                c('j'),
                c('k'),
                c('g'),
                c('G'),
                Key::plain(KeyCode::PageUp),
                Key::plain(KeyCode::PageDown),
                Key::ctrl('y'),
                Key::ctrl('e'),
            ];
            prop_oneof![
                (0usize..40).prop_map(Step::Output),
                proptest::sample::select(keys.to_vec()).prop_map(Step::Key),
                any::<bool>().prop_map(Step::Wheel),
                (3u16..60).prop_map(Step::Resize),
            ]
        }

        proptest! {
            /// Whatever arrives and whatever is pressed, the pane's top line stays within the
            /// history, a pinned view never points past the last page, and following shows
            /// the last page.
            #[test]
            fn scroll_offset_is_always_clamped(steps in proptest::collection::vec(step(), 1..60)) {
                let mut app = app_from(&four(), vec![(0, started(0))]);
                app.panes[0].rows = 10;
                let mut written = 0;
                for (i, step) in steps.into_iter().enumerate() {
                    let now = at(10 + i as u64);
                    let _ = match step {
                        Step::Output(n) => {
                            let text = (written..written + n).fold(String::new(), |mut t, k| {
                                let _ = writeln!(t, "line {k}");
                                t
                            });
                            written += n;
                            app.update(Msg::Run(output(0, &text)), now)
                        }
                        Step::Key(key) => app.update(Msg::Key(key), now),
                        Step::Wheel(up) => app.update(Msg::MouseScroll { up }, now),
                        Step::Resize(height) => {
                            app.update(Msg::Resize { width: 80, height }, now)
                        }
                    };
                    let pane = &mut app.panes[0];
                    let rows = pane.rows.max(1);
                    let count = pane.scrollback.line_count();
                    let max_top = count.saturating_sub(rows);
                    let top = pane.top(rows);
                    prop_assert!(top <= max_top, "top {top} past {max_top}");
                    prop_assert!(top <= count);
                    if pane.scroll == Scroll::Follow {
                        prop_assert_eq!(top, max_top);
                    }
                }
            }
        }
    }

    /// A failed result carrying the committed pytest sample report's tests.
    pub(in crate::tui) fn with_tests(status: EnvStatus) -> EnvResult {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit/pytest.xml");
        let tests = crate::testreport::read(&crate::testreport::ReportRequest {
            patterns: vec![sample.to_string_lossy().into_owned()],
            since: None,
            setup_warning: None,
            fresh_dir: None,
        });
        EnvResult {
            tests: Some(std::sync::Arc::new(tests)),
            ..result(status, 900)
        }
    }

    #[test]
    fn failing_tests_list_moves_and_enter_searches_the_pane_for_the_test() {
        let log = "collected 7 items\nFAILED tests/test_calc.py::test_add[0.1-0.2-0.3]\n\
                   FAILED tests/test_calc.py::test_divide - ZeroDivisionError\n";
        let mut app = app_from(
            &four(),
            vec![
                (0, started(0)),
                (1, output(0, log)),
                (2, finished(0, with_tests(exit(1)))),
            ],
        );
        app.panes[0].rows = 10;
        let _ = press(&mut app, c('j'));
        assert_eq!(app.focus(), 1);
        let _ = press(&mut app, c('T'));
        assert_eq!(app.overlay(), &Overlay::None, "py312 has no test results");
        assert_eq!(
            app.notice.as_deref(),
            Some("no failing tests in py312's test reports")
        );
        let _ = press(&mut app, c('k'));
        let _ = press(&mut app, c('T'));
        assert_eq!(
            app.overlay(),
            &Overlay::FailingTests {
                env: 0,
                selected: 0
            }
        );
        assert_eq!(app.failing_tests(0).len(), 3);
        let _ = press(&mut app, c('j'));
        let _ = press(&mut app, c('j'));
        let _ = press(&mut app, c('j'));
        assert_eq!(
            app.overlay(),
            &Overlay::FailingTests {
                env: 0,
                selected: 0
            },
            "wraps"
        );
        let _ = press(&mut app, c('k'));
        let _ = press(&mut app, c('k'));
        let _ = press(&mut app, Key::plain(KeyCode::Enter));
        assert_eq!(app.overlay(), &Overlay::None);
        let search = app.search.as_ref().expect("a search");
        assert_eq!(search.query.text, "test_divide");
        assert_eq!(search.env, 0);
        assert_eq!(search.current.map(|h| h.line), Some(2));
        let _ = press(&mut app, c('T'));
        let _ = press(&mut app, Key::plain(KeyCode::Esc));
        assert_eq!(app.overlay(), &Overlay::None);
    }

    #[test]
    fn counts_while_running_show_until_the_env_finishes() {
        let mut app = app_from(&four(), vec![(0, started(0))]);
        let live = with_tests(exit(1)).tests.expect("tests");
        let _ = app.update(
            Msg::TestsProgress {
                env: 0,
                tests: live.clone(),
            },
            at(1),
        );
        assert_eq!(app.live_tests(0).map(|t| t.counts.failed), Some(2));
        assert_eq!(app.failing_tests(0).len(), 3, "T works while it runs");
        // Progress for an env that is not running is dropped.
        let _ = app.update(
            Msg::TestsProgress {
                env: 1,
                tests: live,
            },
            at(1),
        );
        assert!(app.live_tests(1).is_none());
        let _ = app.update(Msg::Run(finished(0, result(exit(1), 5))), at(2));
        assert!(
            app.live_tests(0).is_none(),
            "the result's own tests rule now"
        );
        assert!(app.failing_tests(0).is_empty());
    }
}
