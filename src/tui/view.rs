//! Drawing the [`App`] into a ratatui [`Buffer`]: the env list, the focused pane (or a grid of
//! tiles, or one zoomed pane), the key bar and the overlays.
//!
//! Pure apart from the buffer it writes: the time comes in as `now`, and the key bar and help are
//! generated from the app's live keymap. It takes the app mutably only to page scrollback lines
//! in and to record what it drew (each pane's row count, the envs on screen), which
//! [`App::update`] uses for paging and for knowing when output needs a redraw.

use std::fmt::Write as _;
use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};
use regex::Regex;

use crate::event::{
    EnvResult, EnvStatus, ExitKind, ShutdownStep, format_bytes, format_cpu, format_duration,
    format_running, signal_name,
};
use crate::plan::EnvId;
use crate::report;
use crate::tui::app::{App, EnvState, Mode, Overlay, Pane, PaneStage, Scroll, SearchScope, Tally};
use crate::tui::keymap::{Action, Key, KeymapMode};

/// Narrowest tile worth drawing.
const TILE_MIN_WIDTH: u16 = 20;
/// Lowest tile worth drawing (borders plus two lines).
const TILE_MIN_HEIGHT: u16 = 4;
/// Columns of the status detail in the env list (`exit 130`, `stopping`).
const DETAIL_WIDTH: usize = 8;

/// Draws the whole screen for `app` at time `now`.
pub fn render(app: &mut App, area: Rect, buf: &mut Buffer, now: Instant) {
    if area.is_empty() {
        return;
    }
    app.drawn.clear();
    let [main, bar] = area.layout(&Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(1),
    ]));
    let mut tiles_note = None;
    if app.panes.is_empty() {
        Line::from("no envs to run").dim().render(main, buf);
    } else {
        match app.mode {
            Mode::List => render_list(app, main, buf, now),
            Mode::Tiled(filter) => {
                let tiles = app.tiles(filter);
                tiles_note = render_tiles(app, &tiles, main, buf, now);
            }
            Mode::Zoomed { .. } => {
                render_pane(app, app.focus, main, buf, now, PaneLook::Zoomed);
            }
        }
    }
    render_bar(app, bar, buf, tiles_note.as_deref());
    match app.overlay.clone() {
        Overlay::None | Overlay::SearchInput { .. } | Overlay::FilterInput => {}
        Overlay::Help => render_help(app, main, buf),
        Overlay::ConfirmQuit => render_confirm(app, main, buf),
        Overlay::SearchResults { results, selected } => {
            render_results(app, &results, selected, main, buf);
        }
        Overlay::FailingTests { env, selected } => {
            render_failing_tests(app, env, selected, main, buf);
        }
    }
}

/// The inner size (rows, columns) of the focused pane in the list view on a `width` x
/// `height` screen, with envs named `names`: a tty env's terminal size before its pane is
/// first drawn.
pub fn list_pane_size<'a>(
    names: impl Iterator<Item = &'a str>,
    width: u16,
    height: u16,
) -> (u16, u16) {
    let name_max = names.map(|n| n.chars().count()).max().unwrap_or(0);
    let pane_width = match sidebar(width, name_max) {
        Sidebar::Full(w) | Sidebar::Compact(w) => width.saturating_sub(w),
        Sidebar::Hidden => width,
    };
    // The key bar's row, then the pane's border.
    (
        height.saturating_sub(3).max(1),
        pane_width.saturating_sub(2).max(1),
    )
}

/// How much of the env list fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sidebar {
    /// Symbol, name and status detail.
    Full(u16),
    /// Symbol and name only.
    Compact(u16),
    /// No room: the pane takes the whole width.
    Hidden,
}

/// The env list's width for a screen `width` columns wide and names up to `name_max` long.
fn sidebar(width: u16, name_max: usize) -> Sidebar {
    let cap = (width * 2 / 5).max(14);
    let full = ((name_max + 14).max(14) as u16).min(cap);
    if width >= full + 30 {
        Sidebar::Full(full)
    } else if width >= 24 {
        Sidebar::Compact(((name_max + 5) as u16).min(width / 3).max(8))
    } else {
        Sidebar::Hidden
    }
}

fn render_list(app: &mut App, area: Rect, buf: &mut Buffer, now: Instant) {
    let side = sidebar(area.width, app.name_max);
    let pane_area = match side {
        Sidebar::Full(w) | Sidebar::Compact(w) => {
            let [list, pane] = area.layout(&Layout::horizontal([
                Constraint::Length(w),
                Constraint::Min(0),
            ]));
            render_sidebar(app, list, buf, now, matches!(side, Sidebar::Full(_)));
            pane
        }
        Sidebar::Hidden => area,
    };
    render_pane(app, app.focus, pane_area, buf, now, PaneLook::Focused);
}

fn render_sidebar(app: &App, area: Rect, buf: &mut Buffer, now: Instant, details: bool) {
    let finished = app.panes.len() - app.tally(Tally::NotStarted) - app.tally(Tally::Running);
    let mut title = if details {
        format!(" envs {finished}/{} ", app.panes.len())
    } else {
        " envs ".to_owned()
    };
    if let Some(query) = app.list_filter() {
        // While filtering: what is typed and how many of all envs match.
        title = format!(" “{query}” {}/{} ", app.list_len(), app.panes.len());
    }
    let block = Block::bordered().title(title).border_style(Color::DarkGray);
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = usize::from(inner.height);
    if rows == 0 || inner.width == 0 {
        return;
    }
    if app.list_len() == 0 {
        buf.set_line(inner.x, inner.y, &Line::from("no match").dim(), inner.width);
        return;
    }
    // Keep the focused env in view without remembering a list offset: only the rows on
    // screen are looked at, however many envs there are.
    let position = app.list_position(app.focus).unwrap_or(0);
    let first = (position + 1).saturating_sub(rows);
    let width = usize::from(inner.width);
    let shown = (first..app.list_len()).filter_map(|k| app.list_entry(k));
    for (row, id) in shown.take(rows).enumerate() {
        let Some(state) = app.env_state(id) else {
            continue;
        };
        let (symbol, colour) = look_queued(app, id, state);
        let focused = id == app.focus;
        let detail = if details {
            sidebar_detail(app, id, state, now)
        } else {
            String::new()
        };
        let detail_width = if details { DETAIL_WIDTH + 1 } else { 0 };
        let name_width = width.saturating_sub(3 + detail_width);
        let name = fit(&app.panes[id].name, name_width);
        let mut spans = vec![
            Span::raw(if focused { "›" } else { " " }),
            Span::styled(symbol, colour),
            Span::raw(" "),
            Span::raw(format!("{name:<name_width$}")),
        ];
        if details {
            spans.push(Span::styled(
                format!(" {:>DETAIL_WIDTH$}", fit(&detail, DETAIL_WIDTH)),
                colour,
            ));
        }
        let mut line = Line::from(spans);
        if focused {
            line = line.add_modifier(Modifier::BOLD).bg(Color::DarkGray);
        }
        let y = inner.y + row as u16;
        buf.set_line(inner.x, y, &line, inner.width);
        if focused {
            buf.set_style(
                Rect::new(inner.x, y, inner.width, 1),
                Style::new().bg(Color::DarkGray),
            );
        }
    }
}

/// `text` cut to `width` characters, with `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

/// The symbol and colour of a status.
fn look(state: EnvState) -> (&'static str, Style) {
    match state {
        EnvState::Pending => ("·", Style::new().fg(Color::DarkGray)),
        EnvState::Waiting => ("◷", Style::new().fg(Color::DarkGray)),
        EnvState::WaitingForMemory => ("◷", Style::new().fg(Color::Yellow)),
        EnvState::Running => ("▶", Style::new().fg(Color::Cyan)),
        EnvState::Passed => ("✔", Style::new().fg(Color::Green)),
        EnvState::Failed | EnvState::TimedOut => ("✘", Style::new().fg(Color::Red)),
        EnvState::Skipped => (
            "⊘",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::DIM),
        ),
        EnvState::Interrupted => ("■", Style::new().fg(Color::Yellow)),
        EnvState::NotRun => ("⊘", Style::new().fg(Color::DarkGray)),
    }
}

/// [`look`], with a running env whose launched job waits for the cluster shown as queued.
fn look_queued(app: &App, id: EnvId, state: EnvState) -> (&'static str, Style) {
    if state == EnvState::Running && app.panes[id].queued {
        ("⧖", Style::new().fg(Color::Yellow))
    } else {
        look(state)
    }
}

/// How the command ended, in a few characters: `exit 3`, `SIGKILL`, `spawn`.
fn short_exit(result: &EnvResult) -> Option<String> {
    match &result.status {
        EnvStatus::Failed {
            exit: ExitKind::Code(code),
            ..
        } => Some(format!("exit {code}")),
        EnvStatus::Failed {
            exit: ExitKind::Signal { signal, .. },
            ..
        } => Some(signal_name(*signal)),
        EnvStatus::SpawnFailed { .. } => Some("spawn".to_owned()),
        EnvStatus::Passed
        | EnvStatus::Skipped { .. }
        | EnvStatus::SelfSkipped { .. }
        | EnvStatus::NotRun => None,
    }
}

/// The env list's status column: for a finished env with test results its counts
/// (`✘3/420`: failing of all, `✔420`: all passed), else how it ended.
fn sidebar_detail(app: &App, id: EnvId, state: EnvState, now: Instant) -> String {
    let result = app.result(id);
    let live = (state == EnvState::Running)
        .then(|| app.live_tests(id))
        .flatten();
    if let Some(tests) = result
        .and_then(|r| r.tests.as_deref())
        .or(live)
        .filter(|t| !t.files.is_empty())
    {
        let failures = tests.counts.failures();
        return if failures > 0 {
            format!("✘{failures}/{}", tests.counts.total())
        } else {
            format!("✔{}", tests.counts.passed)
        };
    }
    match state {
        EnvState::Pending | EnvState::Waiting => String::new(),
        EnvState::WaitingForMemory => "memory".to_owned(),
        EnvState::Running if app.panes[id].stopping.is_some() => "stopping".to_owned(),
        EnvState::Running if app.panes[id].queued => "queued".to_owned(),
        EnvState::Running => app
            .running_for(id, now)
            .map(format_running)
            .unwrap_or_default(),
        EnvState::Passed => result
            .map(|r| format_duration(r.duration))
            .unwrap_or_default(),
        EnvState::Failed => result
            .map(|r| short_exit(r).unwrap_or_else(|| "leaked".to_owned()))
            .unwrap_or_default(),
        EnvState::TimedOut => "timeout".to_owned(),
        EnvState::Interrupted => result
            .and_then(short_exit)
            .unwrap_or_else(|| "stopped".to_owned()),
        EnvState::Skipped => "skipped".to_owned(),
        EnvState::NotRun => "not run".to_owned(),
    }
}

/// The pane title's status: `running 12s`, `exit 3 in 1.2s`, `waiting for lint`.
pub(super) fn status_text(app: &App, id: EnvId, state: EnvState, now: Instant) -> String {
    let pane = &app.panes[id];
    let mut text = match (&pane.stage, state) {
        (_, EnvState::Waiting) => {
            let waiting: Vec<&str> = pane
                .depends
                .iter()
                .filter(|&&d| !app.env_state(d).is_some_and(EnvState::is_finished))
                .filter_map(|&d| app.panes.get(d).map(|p| p.name.as_str()))
                .collect();
            format!("waiting for {}", waiting.join(", "))
        }
        (_, EnvState::WaitingForMemory) => "waiting for memory".to_owned(),
        (PaneStage::Running { since }, _) => {
            let mut text = format!(
                "{} {}",
                if pane.queued {
                    "queued: the cluster has not started its job,"
                } else {
                    "running"
                },
                format_running(now.saturating_duration_since(*since))
            );
            match &pane.stopping {
                Some(ShutdownStep::Signalled { signal, .. }) => {
                    let _ = write!(text, ", stopping ({} sent)", signal_name(*signal));
                }
                Some(ShutdownStep::Draining { .. }) => text.push_str(", draining output"),
                Some(ShutdownStep::PipeClosed { .. }) => text.push_str(", pipe closed"),
                Some(ShutdownStep::HookStarted { step, .. }) => {
                    let _ = write!(text, ", stopping ({step} hook run)");
                }
                Some(ShutdownStep::HookFinished { step, failure, .. }) => {
                    let how = failure.as_deref().unwrap_or("passed");
                    let _ = write!(text, ", stopping ({step} hook {how})");
                }
                None => {}
            }
            text
        }
        (PaneStage::Finished { result }, _) => {
            let mut text = if result.ran() {
                format!(
                    "{} in {}",
                    result.describe(),
                    format_duration(result.duration)
                )
            } else {
                result.describe()
            };
            if let Some(counts) = result.test_counts() {
                let _ = write!(text, " · {counts}");
            }
            if !result.test_warnings().is_empty() {
                text.push_str(" ⚠");
            }
            text
        }
        (PaneStage::Pending, _) => "pending".to_owned(),
    };
    if state == EnvState::Running
        && let Some(tests) = app.live_tests(id).filter(|t| !t.files.is_empty())
    {
        let _ = write!(text, " · {} so far", tests.counts);
    }
    // A finished result says it itself ("passed (log incomplete: …)").
    if pane.log_error.is_some() && state == EnvState::Running {
        text.push_str(" · log incomplete");
    }
    // A finished result names its attempt itself ("passed on attempt 2").
    if pane.attempt > 1 && state == EnvState::Running {
        let _ = write!(text, " · attempt {}", pane.attempt);
        if let Some(previous) = &pane.previous {
            let _ = write!(text, " (last: {})", previous.describe());
        }
    }
    text
}

/// What the env costs: live for a running env (current RSS, CPU so far, sampled about once a
/// second), its attempt's figures once finished (peak RSS, CPU); `None` before anything was
/// measured.
pub(super) fn resources_text(app: &App, id: EnvId) -> Option<String> {
    let pane = app.panes.get(id)?;
    match &pane.stage {
        PaneStage::Running { .. } => pane.live.map(|live| {
            format!(
                "{} CPU, {} now",
                format_cpu(live.cpu),
                format_bytes(live.peak_rss)
            )
        }),
        PaneStage::Finished { result } if result.resources.measured() => {
            Some(format!("{} peak", result.resources.describe()))
        }
        PaneStage::Finished { .. } | PaneStage::Pending => None,
    }
}

/// How a pane is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PaneLook {
    /// The list view's pane: full title with the command.
    Focused,
    /// A zoomed pane: like `Focused`.
    Zoomed,
    /// A tile: a short title; `true` when it has focus.
    Tile(bool),
}

/// A pane's title: its symbol and name (then INPUT while typing into it), and the status
/// and command (a tile: the short detail).
fn pane_title(
    app: &App,
    id: EnvId,
    state: EnvState,
    now: Instant,
    look_: PaneLook,
    typing: bool,
) -> Vec<Span<'static>> {
    let (symbol, colour) = look_queued(app, id, state);
    let pane = &app.panes[id];
    let mut title = vec![
        Span::raw(" "),
        Span::styled(symbol, colour),
        Span::raw(" "),
        Span::styled(pane.name.clone(), Modifier::BOLD),
        Span::raw(" "),
    ];
    match look_ {
        PaneLook::Focused | PaneLook::Zoomed => {
            title.push(Span::styled(status_text(app, id, state, now), colour));
            if let Some(cost) = resources_text(app, id) {
                title.push(Span::styled(format!(" · {cost}"), Color::DarkGray));
            }
            if let Some((index, command)) = &pane.command {
                let mut text = String::from(" · ");
                if pane.command_count() > 1 {
                    let _ = write!(text, "[{}/{}] ", index + 1, pane.command_count());
                }
                text.push_str(command);
                title.push(Span::styled(text, Color::DarkGray));
            }
            title.push(Span::raw(" "));
        }
        PaneLook::Tile(_) => {
            let detail = sidebar_detail(app, id, state, now);
            if !detail.is_empty() {
                title.push(Span::styled(format!("{detail} "), colour));
            }
        }
    }
    if typing {
        // Right after the name, so that a long command cannot push it out of sight.
        title.insert(
            5,
            Span::styled(
                " INPUT ",
                Style::new().fg(Color::Black).bg(Color::Yellow).bold(),
            ),
        );
        title.insert(6, Span::raw(" "));
    }
    title
}

fn render_pane(
    app: &mut App,
    id: EnvId,
    area: Rect,
    buf: &mut Buffer,
    now: Instant,
    look_: PaneLook,
) {
    let Some(state) = app.env_state(id) else {
        return;
    };
    let typing = app.typing() && app.focus == id;
    let title = pane_title(app, id, state, now, look_, typing);
    let border = match look_ {
        _ if typing => Style::new().fg(Color::Yellow),
        PaneLook::Tile(true) => Style::new().fg(Color::Cyan),
        PaneLook::Tile(false) => Style::new().fg(Color::DarkGray),
        PaneLook::Focused | PaneLook::Zoomed => Style::new(),
    };
    let mut block = Block::bordered()
        .title(Line::from(title))
        .border_style(border);

    let inner = Block::bordered().inner(area);
    let rows = usize::from(inner.height);
    app.tty_drawn(id, inner.height, inner.width);
    let pane = &mut app.panes[id];
    pane.rows = rows;
    if pane.scroll == Scroll::Follow {
        pane.scrollback.catch_up(rows);
    }
    let count = pane.line_total();
    let top = pane.top(rows);
    if let Scroll::Pinned { .. } = pane.scroll
        && count > rows
    {
        let bottom = (top + rows).min(count);
        block =
            block.title_top(Line::from(format!(" {}-{bottom}/{count} ", top + 1)).right_aligned());
    }
    block.render(area, buf);
    app.drawn.push(id);
    if inner.is_empty() {
        return;
    }

    let cursor = id == app.focus;
    let pane = &mut app.panes[id];
    if render_tty(pane, top, inner, buf, cursor) {
        return;
    }
    if count == 0 {
        let text = match state {
            EnvState::Running => "no output yet".to_owned(),
            EnvState::Passed | EnvState::Failed | EnvState::TimedOut | EnvState::Interrupted => {
                "no output".to_owned()
            }
            _ => status_text(app, id, state, now),
        };
        buf.set_line(inner.x, inner.y, &Line::from(text).dim(), inner.width);
        return;
    }
    let lines = pane.scrollback.lines(top, rows);
    let search = app.search.as_ref().filter(|_| id == app.focus).map(|s| {
        let current = s
            .current
            .filter(|_| s.env == id)
            .map(|h| (h.line, h.start, h.end));
        (&s.query.matcher, current)
    });
    for (i, line) in lines.into_iter().enumerate() {
        let line = match search {
            Some((matcher, current)) => {
                let current = current
                    .filter(|&(l, _, _)| l == top + i)
                    .map(|(_, start, end)| (start, end));
                highlight(line, matcher, current)
            }
            None => line,
        };
        buf.set_line(inner.x, inner.y + i as u16, &line, inner.width);
    }
}

/// A tty env's pane while it runs: following, the emulator's screen (with the cursor when
/// `cursor`); scrolled back, the history and then the screen's rows as text. `false` for a
/// pane without a screen.
fn render_tty(pane: &mut Pane, top: usize, inner: Rect, buf: &mut Buffer, cursor: bool) -> bool {
    let Some(term) = pane.term.as_ref() else {
        return false;
    };
    if pane.scroll == Scroll::Follow {
        term.render(inner, buf, cursor);
        return true;
    }
    let rows = usize::from(inner.height);
    let screen = term.text_rows();
    let history = pane.scrollback.line_count();
    let mut lines = pane.scrollback.lines(top, rows);
    for i in (top + lines.len())..(top + rows) {
        match screen.get(i.saturating_sub(history)) {
            Some(row) if i >= history => lines.push(Line::from(row.clone())),
            _ => break,
        }
    }
    for (i, line) in lines.into_iter().enumerate() {
        buf.set_line(inner.x, inner.y + i as u16, &line, inner.width);
    }
    true
}

/// The style of a search hit; the current hit stands out from the others.
fn hit_style(current: bool) -> Style {
    if current {
        Style::new()
            .fg(Color::Black)
            .bg(Color::LightRed)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Black).bg(Color::Yellow)
    }
}

/// `line` with every match of `matcher` highlighted: match byte ranges of the line's plain text
/// (its spans' text joined) are mapped onto the styled spans, splitting spans where a match
/// starts or ends inside them.
fn highlight(
    line: Line<'static>,
    matcher: &Regex,
    current: Option<(usize, usize)>,
) -> Line<'static> {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let ranges: Vec<(usize, usize, bool)> = matcher
        .find_iter(&text)
        .filter(|m| !m.is_empty())
        .map(|m| (m.start(), m.end(), current == Some((m.start(), m.end()))))
        .collect();
    if ranges.is_empty() {
        return line;
    }
    let mut spans = Vec::with_capacity(line.spans.len() + 2 * ranges.len());
    let mut offset = 0;
    for span in line.spans {
        let content = span.content.as_ref();
        let start = offset;
        offset += content.len();
        let mut cuts = vec![0, content.len()];
        for &(a, b, _) in &ranges {
            for at in [a, b] {
                if at > start && at < offset && content.is_char_boundary(at - start) {
                    cuts.push(at - start);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for pair in cuts.windows(2) {
            let piece = &content[pair[0]..pair[1]];
            let at = start + pair[0];
            let style = match ranges.iter().find(|&&(a, b, _)| a <= at && at < b) {
                Some(&(_, _, is_current)) => span.style.patch(hit_style(is_current)),
                None => span.style,
            };
            spans.push(Span::styled(piece.to_owned(), style));
        }
    }
    Line {
        style: line.style,
        alignment: line.alignment,
        spans,
    }
}

/// The grid for `n` tiles in `area`: `(columns, rows)`; tiles beyond `columns × rows` do not fit.
fn grid(n: usize, area: Rect) -> (usize, usize) {
    let max_cols = usize::from((area.width / TILE_MIN_WIDTH).max(1));
    let max_rows = usize::from((area.height / TILE_MIN_HEIGHT).max(1));
    let shown = n.clamp(1, max_cols * max_rows);
    let mut best = (1, shown.min(max_rows), f64::MAX);
    for cols in 1..=shown.min(max_cols) {
        let rows = shown.div_ceil(cols);
        if rows > max_rows {
            continue;
        }
        let w = f64::from(area.width) / cols as f64;
        let h = f64::from(area.height) / rows as f64;
        // Cells are about twice as high as wide; tiles a bit wider than square read best.
        let score = (w / (2.0 * h) / 1.6).ln().abs();
        if score < best.2 {
            best = (cols, rows, score);
        }
    }
    (best.0, best.1)
}

/// Draws `tiles` in a grid; returns a note for the bar when not all fit.
fn render_tiles(
    app: &mut App,
    tiles: &[EnvId],
    area: Rect,
    buf: &mut Buffer,
    now: Instant,
) -> Option<String> {
    let (cols, rows) = grid(tiles.len(), area);
    let per_page = cols * rows;
    let focus_pos = tiles.iter().position(|&id| id == app.focus).unwrap_or(0);
    let page = focus_pos / per_page;
    let shown = &tiles[page * per_page..tiles.len().min((page + 1) * per_page)];
    let row_areas = area.layout_vec(&Layout::vertical(vec![Constraint::Fill(1); rows]));
    for (r, row_area) in row_areas.iter().enumerate() {
        let in_row = shown
            .iter()
            .skip(r * cols)
            .take(cols)
            .copied()
            .collect::<Vec<_>>();
        if in_row.is_empty() {
            break;
        }
        // A short last row spreads its tiles over the whole width.
        let cells =
            row_area.layout_vec(&Layout::horizontal(vec![Constraint::Fill(1); in_row.len()]));
        for (&id, &cell) in in_row.iter().zip(&cells) {
            let focused = id == app.focus;
            render_pane(app, id, cell, buf, now, PaneLook::Tile(focused));
        }
    }
    (tiles.len() > per_page).then(|| {
        let first = page * per_page + 1;
        let last = first + shown.len() - 1;
        format!("tiles {first}-{last} of {}", tiles.len())
    })
}

/// `key word` hints for `actions` in `mode`, from the live keymap; actions without a key are
/// left out.
fn hints(app: &App, mode: KeymapMode, actions: &[Action]) -> Vec<(String, &'static str)> {
    actions
        .iter()
        .filter_map(|&action| {
            let key = app.keymap.keys_for(mode, action).into_iter().next()?;
            Some((key.label(), hint_word(app, mode, action)))
        })
        .collect()
}

/// The bar's word for `action`, where the generic [`Action::short`] would read oddly.
fn hint_word(app: &App, mode: KeymapMode, action: Action) -> &'static str {
    match (mode, action) {
        (KeymapMode::SearchInput, Action::Submit) => "search",
        (KeymapMode::SearchInput, Action::Cancel) => "cancel",
        (KeymapMode::SearchResults, Action::Submit) => "show",
        (KeymapMode::SearchResults, Action::FocusNext) => "select",
        (KeymapMode::Normal, Action::ToggleZoom) if matches!(app.mode, Mode::Zoomed { .. }) => {
            "unzoom"
        }
        _ => action.short(),
    }
}

fn hint_spans(hints: &[(String, &'static str)]) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for (i, (key, what)) in hints.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(
            key.clone(),
            Style::new().fg(Color::Cyan).bold(),
        ));
        spans.push(Span::raw(format!(" {what}")));
    }
    spans
}

fn spans_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(Span::width).sum()
}

/// The bottom line: key hints (or the search input) on the left, status on the right.
fn render_bar(app: &App, area: Rect, buf: &mut Buffer, tiles_note: Option<&str>) {
    match app.overlay {
        Overlay::SearchInput { scope } => {
            let prompt = match scope {
                SearchScope::Focused => "/",
                SearchScope::All => "search all: ",
            };
            render_input_bar(app, prompt, ["search", "cancel"], area, buf);
            return;
        }
        Overlay::FilterInput => {
            let prompt = format!("filter envs ({}): ", app.list_len());
            render_input_bar(app, &prompt, ["keep", "clear"], area, buf);
            return;
        }
        _ => {}
    }
    let width = usize::from(area.width);
    let right = status_spans(app, tiles_note);
    let right_width = spans_width(&right);
    let (mode, mut actions, mut left) = bar_content(app);
    // Drop the least important hints until the bar fits; quit and help go last.
    let drop_order = [
        Action::ToggleMouse,
        Action::StopEnv,
        Action::Rerun,
        Action::ToggleZoom,
        Action::ToggleTiles,
        Action::ClearSearch,
        Action::PrevHit,
        Action::StartSearch,
        Action::NextHit,
        Action::FocusNext,
        Action::Quit,
        Action::ToggleHelp,
    ];
    let prefix = spans_width(&left);
    let mut keys = hint_spans(&hints(app, mode, &actions));
    for drop in drop_order {
        if prefix + spans_width(&keys) + right_width < width {
            break;
        }
        actions.retain(|&a| a != drop);
        keys = hint_spans(&hints(app, mode, &actions));
    }
    left.extend(keys);
    buf.set_line(area.x, area.y, &Line::from(left), area.width);
    if right_width < width {
        let x = area.x + (width - right_width) as u16;
        buf.set_line(x, area.y, &Line::from(right), right_width as u16);
    }
}

/// The bar while a query is typed: the prompt, the query and a cursor, then the error or keys.
fn render_input_bar(
    app: &App,
    prompt: &str,
    words: [&'static str; 2],
    area: Rect,
    buf: &mut Buffer,
) {
    let width = usize::from(area.width);
    let mut spans = vec![
        Span::styled(prompt.to_owned(), Style::new().fg(Color::Yellow).bold()),
        Span::raw(app.input.clone()),
        Span::styled("█", Color::Gray),
    ];
    if let Some(error) = &app.input_error {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            error.clone(),
            Style::new().fg(Color::Red).bold(),
        ));
    } else {
        let keys: Vec<(String, &'static str)> = hints(
            app,
            KeymapMode::SearchInput,
            &[Action::Submit, Action::Cancel],
        );
        let keys: Vec<(String, &'static str)> = keys
            .into_iter()
            .zip(words)
            .map(|((key, _), word)| (key, word))
            .collect();
        let keys = hint_spans(&keys);
        if spans_width(&spans) + 2 + spans_width(&keys) <= width {
            let pad = width - spans_width(&spans) - spans_width(&keys);
            spans.push(Span::raw(" ".repeat(pad)));
            spans.extend(keys);
        }
    }
    buf.set_line(area.x, area.y, &Line::from(spans), area.width);
}

/// The keymap table, the actions to hint at and what goes before the hints (the search).
fn bar_content(app: &App) -> (KeymapMode, Vec<Action>, Vec<Span<'static>>) {
    match app.overlay {
        Overlay::Help => (KeymapMode::Help, vec![Action::Close], Vec::new()),
        Overlay::ConfirmQuit => (
            KeymapMode::Confirm,
            vec![Action::Confirm, Action::Cancel],
            Vec::new(),
        ),
        Overlay::SearchResults { .. } | Overlay::FailingTests { .. } => (
            KeymapMode::SearchResults,
            vec![Action::FocusNext, Action::Submit, Action::Close],
            Vec::new(),
        ),
        Overlay::None if app.typing() => {
            let name = app.panes.get(app.focus).map_or("", |p| p.name.as_str());
            let prefix = vec![
                Span::styled(
                    format!(" INPUT → {name} "),
                    Style::new().fg(Color::Black).bg(Color::Yellow).bold(),
                ),
                Span::raw("  keys go to the env; "),
            ];
            (KeymapMode::Input, vec![Action::LeaveInput], prefix)
        }
        Overlay::None | Overlay::SearchInput { .. } | Overlay::FilterInput => {
            if let Some(search) = &app.search {
                let position = match (search.current_index(), search.env == app.focus) {
                    (Some(i), true) => format!(" {i}/{}", search.hits.len()),
                    _ => String::new(),
                };
                let prefix = vec![
                    Span::styled(
                        format!("“{}”{position}", search.query.text),
                        Style::new().fg(Color::Black).bg(Color::Yellow),
                    ),
                    Span::raw("  "),
                ];
                let actions = vec![
                    Action::NextHit,
                    Action::PrevHit,
                    Action::ClearSearch,
                    Action::ToggleHelp,
                ];
                return (KeymapMode::Normal, actions, prefix);
            }
            // Rerun and stop only where they would do something.
            let state = app.env_state(app.focus);
            let mut actions = vec![
                Action::Quit,
                Action::StartSearch,
                Action::ToggleTiles,
                Action::ToggleZoom,
            ];
            if state.is_some_and(EnvState::is_finished) && !app.quitting {
                actions.push(Action::Rerun);
            }
            if state == Some(EnvState::Running) {
                actions.push(Action::StopEnv);
                if app.panes.get(app.focus).is_some_and(|p| p.tty) {
                    actions.push(Action::EnterInput);
                }
            }
            if !app.failing_tests(app.focus).is_empty() {
                actions.push(Action::FailingTests);
            }
            actions.push(Action::ToggleMouse);
            actions.push(Action::ToggleHelp);
            (KeymapMode::Normal, actions, Vec::new())
        }
    }
}

/// The right end of the bar: a notice, the quit progress, or counts per status.
fn status_spans(app: &App, tiles_note: Option<&str>) -> Vec<Span<'static>> {
    if let Some(notice) = &app.notice {
        return vec![Span::styled(
            format!(" {notice} "),
            Style::new().fg(Color::Yellow),
        )];
    }
    // Kept by the app as envs change stage: no walk over every env per frame.
    let running = app.tally(Tally::Running);
    if app.quitting {
        let plural = if running == 1 { "" } else { "s" };
        return vec![Span::styled(
            format!(" quitting: stopping {running} env{plural} "),
            Style::new().fg(Color::Yellow),
        )];
    }
    let mut spans = Vec::new();
    if let Some(note) = tiles_note {
        spans.push(Span::styled(format!("{note}  "), Color::DarkGray));
    }
    if app.shutdown.is_some() && running > 0 {
        spans.push(Span::styled("stopping  ", Style::new().fg(Color::Yellow)));
    }
    let groups = [
        (Tally::Running, EnvState::Running, "▶"),
        (Tally::Passed, EnvState::Passed, "✔"),
        (Tally::Failed, EnvState::Failed, "✘"),
        (Tally::TimedOut, EnvState::TimedOut, "✘"),
        (Tally::Interrupted, EnvState::Interrupted, "■"),
        (Tally::Skipped, EnvState::Skipped, "⊘"),
    ];
    let mut counts: Vec<(usize, &str, Style)> = Vec::new();
    for (class, state, symbol) in groups {
        let n = app.tally(class);
        if n == 0 {
            continue;
        }
        // Timed out envs count as failed.
        if let Some(last) = counts.last_mut().filter(|(_, s, _)| *s == symbol) {
            last.0 += n;
        } else {
            counts.push((n, symbol, look(state).1));
        }
    }
    let waiting = app.tally(Tally::NotStarted);
    if waiting > 0 {
        counts.push((waiting, "·", look(EnvState::Pending).1));
    }
    for (n, symbol, style) in counts {
        spans.push(Span::styled(format!("{symbol} {n} "), style));
    }
    if app.all_finished() && !app.panes.is_empty() {
        spans.insert(0, Span::raw("done "));
    }
    spans
}

/// A box of `width × height` centred in `area` (shrunk to fit), cleared.
fn popup(area: Rect, width: u16, height: u16, buf: &mut Buffer) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    Clear.render(rect, buf);
    rect
}

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let entries: Vec<(String, &'static str)> = app
        .keymap
        .actions(KeymapMode::Normal)
        .into_iter()
        .map(|(action, keys)| {
            let keys: Vec<String> = keys.iter().map(Key::label).collect();
            (keys.join(" "), action.description())
        })
        .collect();
    let n = entries.len().max(1);
    // One line stays for the footer; as many columns as fit the height, fewer if too wide.
    let max_rows = usize::from(area.height.saturating_sub(3)).max(1);
    let max_width = usize::from(area.width.saturating_sub(4));
    let layout = |columns: usize| {
        let per_column = n.div_ceil(columns);
        let widths: Vec<(usize, usize)> = entries
            .chunks(per_column)
            .map(|chunk| {
                let keys = chunk
                    .iter()
                    .map(|(k, _)| k.chars().count())
                    .max()
                    .unwrap_or(0);
                let text = chunk
                    .iter()
                    .map(|(_, d)| d.chars().count())
                    .max()
                    .unwrap_or(0);
                (keys, keys + 2 + text)
            })
            .collect();
        let total = widths.iter().map(|&(_, w)| w).sum::<usize>() + 3 * (widths.len() - 1);
        (per_column, widths, total)
    };
    let mut columns = n.div_ceil(max_rows);
    while columns > 1 && layout(columns).2 > max_width {
        columns -= 1;
    }
    let (per_column, widths, total) = layout(columns);
    let shown_rows = per_column.min(max_rows);
    let hidden = entries.len()
        - (0..columns)
            .map(|c| {
                entries
                    .len()
                    .saturating_sub(c * per_column)
                    .min(per_column)
                    .min(shown_rows)
            })
            .sum::<usize>();
    let footer = if hidden > 0 {
        format!("{hidden} more: enlarge the terminal")
    } else {
        "the mouse wheel scrolls the pane".to_owned()
    };
    let width = total.max(footer.chars().count()) + 4;
    let rect = popup(area, width as u16, (shown_rows + 3) as u16, buf);
    let close = hints(app, KeymapMode::Help, &[Action::Close]);
    let block = Block::bordered()
        .title(" keys ")
        .title_bottom(Line::from(hint_spans(&close)).right_aligned())
        .border_style(Color::Cyan);
    let inner = block.inner(rect).inner(ratatui::layout::Margin::new(1, 0));
    block.render(rect, buf);
    let mut x = inner.x;
    for (chunk, &(key_width, column_width)) in entries.chunks(per_column).zip(&widths) {
        for (row, (keys, description)) in chunk.iter().enumerate().take(shown_rows) {
            if row >= usize::from(inner.height) || x >= inner.right() {
                break;
            }
            let line = Line::from(vec![
                Span::styled(
                    format!("{keys:<key_width$}"),
                    Style::new().fg(Color::Cyan).bold(),
                ),
                Span::raw(format!("  {description}")),
            ]);
            buf.set_line(x, inner.y + row as u16, &line, inner.right() - x);
        }
        x = x.saturating_add((column_width + 3) as u16);
    }
    if shown_rows < usize::from(inner.height) {
        let y = inner.y + shown_rows as u16;
        buf.set_line(inner.x, y, &Line::from(footer).dim(), inner.width);
    }
}

fn render_confirm(app: &App, area: Rect, buf: &mut Buffer) {
    let running = (0..app.panes.len())
        .filter(|&id| app.env_state(id) == Some(EnvState::Running))
        .count();
    let question = match running {
        0 => "Envs are still pending.".to_owned(),
        1 => "1 env is still running.".to_owned(),
        n => format!("{n} envs are still running."),
    };
    let answers = hint_spans(&hints(
        app,
        KeymapMode::Confirm,
        &[Action::Confirm, Action::Cancel],
    ));
    let them = if running == 1 { "it" } else { "them" };
    let lines = [
        Line::from(question),
        Line::from(format!("Interrupt {them} and quit?")),
        Line::from(""),
        Line::from(answers),
    ];
    let width = lines.iter().map(Line::width).max().unwrap_or(0) + 4;
    let rect = popup(area, width as u16, lines.len() as u16 + 2, buf);
    let block = Block::bordered()
        .title(" quit ")
        .border_style(Color::Yellow);
    let inner = block.inner(rect).inner(ratatui::layout::Margin::new(1, 0));
    block.render(rect, buf);
    for (i, line) in lines.iter().enumerate().take(usize::from(inner.height)) {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
}

/// The focused env's failing tests, one line each (name, place, first line of the message:
/// report text, sanitised), the selected one highlighted; Enter searches the pane for it.
fn render_failing_tests(app: &App, env: EnvId, selected: usize, area: Rect, buf: &mut Buffer) {
    let cases = app.failing_tests(env);
    let name = app.panes.get(env).map_or("?", |p| p.name.as_str());
    let rows: Vec<String> = cases
        .iter()
        .map(|case| report::failing_line(case))
        .collect();
    let title = format!(" failing tests of {name}: {} ", rows.len());
    let widest = rows.iter().map(|r| r.chars().count()).max().unwrap_or(0);
    let width = (widest + 4)
        .max(title.chars().count() + 2)
        .min(usize::from(area.width.saturating_sub(4)));
    let rect = popup(area, width as u16, rows.len() as u16 + 2, buf);
    let block = Block::bordered().title(title).border_style(Color::Cyan);
    let inner = block.inner(rect);
    block.render(rect, buf);
    let visible = usize::from(inner.height).max(1);
    let first = (selected + 1).saturating_sub(visible);
    let text_width = usize::from(inner.width).saturating_sub(2);
    for (row, (i, text)) in rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .enumerate()
    {
        let focused = i == selected;
        let mut line = Line::from(vec![
            Span::raw(if focused { "› " } else { "  " }),
            Span::styled(fit(text, text_width), Color::Red),
        ]);
        if focused {
            line = line.bold().bg(Color::DarkGray);
        }
        buf.set_line(inner.x, inner.y + row as u16, &line, inner.width);
    }
}

fn render_results(
    app: &App,
    results: &[(EnvId, usize)],
    selected: usize,
    area: Rect,
    buf: &mut Buffer,
) {
    let query = app.search.as_ref().map_or("", |s| s.query.text.as_str());
    let rows: Vec<(String, String)> = results
        .iter()
        .map(|&(id, n)| {
            let name = app
                .panes
                .get(id)
                .map_or("?", |p| p.name.as_str())
                .to_owned();
            let plural = if n == 1 { "hit" } else { "hits" };
            (name, format!("{n} {plural}"))
        })
        .collect();
    let name_width = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let count_width = rows.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
    let title = format!(" matches for “{query}” ");
    let width = (name_width + count_width + 7).max(title.chars().count() + 2);
    let rect = popup(area, width as u16, rows.len() as u16 + 2, buf);
    let block = Block::bordered().title(title).border_style(Color::Cyan);
    let inner = block.inner(rect);
    block.render(rect, buf);
    let visible = usize::from(inner.height).max(1);
    let first = (selected + 1).saturating_sub(visible);
    for (row, (i, (name, count))) in rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .enumerate()
    {
        let focused = i == selected;
        let mut line = Line::from(vec![
            Span::raw(if focused { "› " } else { "  " }),
            Span::raw(format!("{name:<name_width$}  ")),
            Span::styled(format!("{count:>count_width$}"), Color::Yellow),
        ]);
        if focused {
            line = line.bold().bg(Color::DarkGray);
        }
        buf.set_line(inner.x, inner.y + row as u16, &line, inner.width);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::event::{RunEvent, ShutdownCause, StopCause};
    use crate::tui::app::Msg;
    use crate::tui::app::tests::{
        app_from, at, exit, finished, four, output, plan, result, started, with_tests,
    };
    use crate::tui::keymap::{Key, KeyCode};

    fn draw(app: &mut App, width: u16, height: u16, now: Instant) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| render(app, f.area(), f.buffer_mut(), now))
            .unwrap();
        terminal
    }

    fn keys(app: &mut App, keys: &[Key]) {
        for &key in keys {
            let _ = app.update(Msg::Key(key), at(0));
        }
    }

    fn c(ch: char) -> Key {
        Key::char(ch)
    }

    fn command(env: EnvId, index: usize) -> RunEvent {
        RunEvent::CommandStarted {
            env,
            index,
            pid: 1000 + env as i32,
        }
    }

    fn pytest_output() -> String {
        let mut text = String::from("============ test session starts ============\n");
        for i in 1..=30 {
            let _ = writeln!(text, "tests/test_mod{i}.py::test_case PASSED");
        }
        text.push_str("tests/test_api.py::test_error \x1b[31mFAILED\x1b[0m\n");
        text.push_str("E   AssertionError: expected 3, got 4\n");
        text
    }

    /// lint passed, py312 running (second command) with output, py311 pending, docs waiting.
    fn running_app() -> App {
        let mut app = app_from(
            &four(),
            vec![
                (0, started(0)),
                (0, command(0, 0)),
                (100, output(0, "All checks passed!\n")),
                (1_234, finished(0, result(EnvStatus::Passed, 1_234))),
                (0, started(1)),
                (0, command(1, 0)),
                (500, output(1, "Successfully installed runall-demo\n")),
                (3_000, command(1, 1)),
                (4_000, output(1, &pytest_output())),
            ],
        );
        keys(&mut app, &[c('j')]);
        app
    }

    #[test]
    fn snapshot_running() {
        let mut app = running_app();
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!(terminal.backend());
        assert_eq!(app.drawn, vec![1]);
        assert_eq!(app.panes[1].rows, 21);
    }

    /// A launched env whose job waits for the cluster: `◷` and "queued" in the list, the
    /// pane's title says so, until the job starts.
    #[test]
    fn snapshot_queued_launched_env() {
        let mut app = running_app();
        let _ = app.update(Msg::Run(started(2)), at(5_000));
        let _ = app.update(Msg::Run(command(2, 0)), at(5_000));
        let _ = app.update(Msg::Run(RunEvent::JobQueued { env: 2 }), at(5_100));
        keys(&mut app, &[c('j')]);
        let status = status_text(&app, 2, EnvState::Running, at(8_000));
        assert!(
            status.starts_with("queued: the cluster has not started its job, 3s"),
            "{status}"
        );
        let terminal = draw(&mut app, 80, 24, at(8_000));
        insta::assert_snapshot!(terminal.backend());
        let _ = app.update(Msg::Run(RunEvent::JobStarted { env: 2 }), at(9_000));
        let status = status_text(&app, 2, EnvState::Running, at(9_500));
        assert!(status.starts_with("running 4s"), "{status}");
    }

    #[test]
    fn snapshot_failed_with_exit_code() {
        let mut app = running_app();
        let _ = app.update(Msg::Run(finished(1, result(exit(3), 14_800))), at(14_800));
        let killed = result(
            EnvStatus::Failed {
                command: 0,
                exit: ExitKind::Signal {
                    signal: 9,
                    core_dumped: false,
                },
            },
            2_000,
        );
        let _ = app.update(Msg::Run(started(2)), at(15_000));
        let _ = app.update(Msg::Run(output(2, "collecting ...\n")), at(15_100));
        let _ = app.update(Msg::Run(finished(2, killed)), at(17_000));
        let skipped = result(
            EnvStatus::Skipped {
                dependency: "py312".to_owned(),
            },
            0,
        );
        let _ = app.update(Msg::Run(finished(3, skipped)), at(17_000));
        let terminal = draw(&mut app, 80, 24, at(20_000));
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn snapshot_tiled() {
        let mut app = running_app();
        let _ = app.update(Msg::Run(started(2)), at(5_000));
        let _ = app.update(Msg::Run(command(2, 0)), at(5_000));
        let _ = app.update(
            Msg::Run(output(2, "collected 12 items\n\ntests/a.py ..\n")),
            at(6_000),
        );
        keys(&mut app, &[c('t')]);
        assert_eq!(
            app.mode(),
            Mode::Tiled(crate::tui::app::TileFilter::Running)
        );
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!("tiled_running", terminal.backend());
        keys(&mut app, &[c('t')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!("tiled_all", terminal.backend());
        assert_eq!(app.drawn, vec![0, 1, 2, 3]);
    }

    #[test]
    fn snapshot_zoomed() {
        let mut app = running_app();
        keys(&mut app, &[c('z')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn snapshot_search_with_hits() {
        let mut app = running_app();
        // Draw once so the pane knows its height, as in the real loop.
        let _ = draw(&mut app, 80, 24, at(12_300));
        keys(&mut app, &[c('/')]);
        for ch in "test_mod1".chars() {
            keys(&mut app, &[c(ch)]);
        }
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!("search_typing", terminal.backend());
        keys(&mut app, &[Key::plain(KeyCode::Enter), c('n')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!("search_hits", terminal.backend());
        let search = app.search.as_ref().unwrap();
        let current = search.current.expect("a current hit");
        // The current hit is drawn in its own colour, the other hits in yellow.
        let buffer = terminal.backend().buffer();
        let rows = app.panes[1].rows;
        let top = app.panes[1].top(rows);
        let y = 1 + (current.line - top) as u16;
        let cells: Vec<_> = (0..80).map(|x| &buffer[(x, y)]).collect();
        let text: String = cells.iter().map(|c| c.symbol()).collect();
        let x = text.find("test_mod1").unwrap();
        assert_eq!(cells[x].bg, Color::LightRed, "{text}");
        let other = (1..24)
            .filter(|&y| y != 1 + (current.line - top) as u16)
            .find_map(|y| {
                let row: String = (0..80).map(|x| buffer[(x, y)].symbol()).collect();
                row.find("test_mod1").map(|x| (x, y))
            })
            .unwrap();
        assert_eq!(buffer[(other.0 as u16, other.1)].bg, Color::Yellow);
    }

    #[test]
    fn snapshot_search_error() {
        let mut app = running_app();
        keys(&mut app, &[c('/')]);
        for ch in "re:(oops".chars() {
            keys(&mut app, &[c(ch)]);
        }
        keys(&mut app, &[Key::plain(KeyCode::Enter)]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!(terminal.backend());
    }

    /// Test counts in the env list and the pane title, then `T`'s list of failing tests.
    #[test]
    fn snapshot_failing_tests() {
        let mut app = app_from(
            &four(),
            vec![
                (0, started(0)),
                (1, output(0, "FAILED tests/test_calc.py::test_divide\n")),
                (900, finished(0, with_tests(exit(1)))),
            ],
        );
        let terminal = draw(&mut app, 100, 14, at(12_300));
        insta::assert_snapshot!("failing_tests_counts", terminal.backend());
        keys(&mut app, &[c('T'), c('j')]);
        let terminal = draw(&mut app, 100, 14, at(12_300));
        insta::assert_snapshot!("failing_tests_list", terminal.backend());
    }

    #[test]
    fn snapshot_list_filter() {
        let mut app = running_app();
        keys(&mut app, &[c('f'), c('p'), c('y')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!("list_filter_typing", terminal.backend());
        keys(&mut app, &[c('3'), c('1'), c('1')]);
        keys(&mut app, &[Key::plain(KeyCode::Enter)]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!("list_filter_kept", terminal.backend());
        assert_eq!(app.focus(), 2, "py311, the one match");
        keys(&mut app, &[c('f'), c('z')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!("list_filter_no_match", terminal.backend());
    }

    #[test]
    fn snapshot_help_overlay() {
        let mut app = running_app();
        keys(&mut app, &[c('?')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn snapshot_confirm_quit() {
        let mut app = running_app();
        keys(&mut app, &[c('q')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn snapshot_narrow() {
        let mut app = running_app();
        let terminal = draw(&mut app, 40, 12, at(12_300));
        insta::assert_snapshot!("narrow", terminal.backend());
        keys(&mut app, &[c('?')]);
        let terminal = draw(&mut app, 40, 12, at(12_300));
        insta::assert_snapshot!("narrow_help", terminal.backend());
    }

    #[test]
    fn snapshot_search_all_results() {
        let mut app = running_app();
        keys(&mut app, &[c('F')]);
        for ch in "passed".chars() {
            keys(&mut app, &[c(ch)]);
        }
        keys(&mut app, &[Key::plain(KeyCode::Enter)]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn snapshot_finished_and_interrupted() {
        let mut app = app_from(
            &plan(&[
                ("unit", &[], &["cargo test"]),
                (
                    "integration-long-name",
                    &[],
                    &["./run-integration.sh --all"],
                ),
                ("lint", &[], &["cargo clippy"]),
            ]),
            vec![
                (0, started(0)),
                (0, started(1)),
                (0, started(2)),
                (900, finished(2, result(EnvStatus::Passed, 900))),
                (
                    5_000,
                    RunEvent::ShutdownStarted {
                        cause: ShutdownCause::Signal(2),
                        count: 1,
                    },
                ),
            ],
        );
        let mut interrupted = result(exit(130), 65_000);
        interrupted.stopped_by = Some(StopCause::Interrupted);
        let mut timed = result(
            EnvStatus::Failed {
                command: 0,
                exit: ExitKind::Signal {
                    signal: 15,
                    core_dumped: false,
                },
            },
            10_000,
        );
        timed.stopped_by = Some(StopCause::TimedOut(Duration::from_secs(10)));
        let _ = app.update(Msg::Run(finished(0, interrupted)), at(65_000));
        let _ = app.update(Msg::Run(finished(1, timed)), at(65_000));
        let _ = app.update(Msg::Run(RunEvent::RunFinished { cause: None }), at(65_000));
        keys(&mut app, &[c('j')]);
        let terminal = draw(&mut app, 80, 12, at(70_000));
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn key_bar_is_generated_from_the_keymap() {
        let mut app = running_app();
        app.keymap.bind(KeymapMode::Normal, c('Q'), Action::Quit);
        app.keymap.unbind(KeymapMode::Normal, c('q'));
        let terminal = draw(&mut app, 80, 24, at(12_300));
        let bar: String = (0..80)
            .map(|x| terminal.backend().buffer()[(x, 23)].symbol().to_owned())
            .collect();
        assert!(bar.starts_with("Q quit  / search  t tiles"), "{bar}");
        assert!(bar.contains("? help"), "{bar}");
    }

    #[test]
    fn tiny_areas_do_not_panic() {
        let mut app = running_app();
        for (w, h) in [(1, 1), (2, 2), (10, 3), (20, 5), (30, 8), (200, 60)] {
            for mode_keys in [
                &[][..],
                &[c('t')],
                &[c('t')],
                &[c('z')],
                &[c('?')],
                &[c('q')],
            ] {
                keys(&mut app, mode_keys);
                let _ = draw(&mut app, w, h, at(12_300));
            }
            keys(&mut app, &[Key::plain(KeyCode::Esc), c('n')]);
        }
    }

    #[test]
    fn sidebar_shrinks_then_hides() {
        assert_eq!(sidebar(80, 5), Sidebar::Full(19));
        assert_eq!(sidebar(80, 40), Sidebar::Full(32));
        assert_eq!(sidebar(40, 5), Sidebar::Compact(10));
        assert_eq!(sidebar(23, 5), Sidebar::Hidden);
    }

    #[test]
    fn grid_fits_the_area() {
        let area = Rect::new(0, 0, 80, 23);
        assert_eq!(grid(1, area), (1, 1));
        assert_eq!(grid(2, area), (2, 1));
        assert_eq!(grid(4, area), (2, 2));
        assert_eq!(grid(6, area), (3, 2));
        // More than fit: the grid is capped at the minimum tile size.
        let (cols, rows) = grid(100, area);
        assert!(cols * rows <= 4 * 5);
    }

    #[test]
    fn tiles_page_to_keep_the_focus_visible() {
        let names: Vec<String> = (0..12).map(|i| format!("env{i}")).collect();
        let envs: Vec<(&str, &[EnvId], &[&str])> = names
            .iter()
            .map(|n| (n.as_str(), &[][..], &["true"][..]))
            .collect();
        let mut app = app_from(&plan(&envs), vec![]);
        keys(&mut app, &[c('t'), c('t')]);
        for _ in 0..11 {
            keys(&mut app, &[c('j')]);
        }
        let _ = draw(&mut app, 40, 12, at(0));
        assert!(app.drawn.contains(&11), "{:?}", app.drawn);
        assert!(!app.drawn.contains(&0), "{:?}", app.drawn);
    }

    #[test]
    fn highlight_splits_styled_spans() {
        let line = Line::from(vec![
            Span::styled("ab", Color::Red),
            Span::raw("cdé"),
            Span::styled("fgh", Color::Blue),
        ]);
        let re = Regex::new("bc|éf").unwrap();
        let out = highlight(line, &re, Some((4, 7)));
        let pieces: Vec<(&str, Style)> = out
            .spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        let red = Style::new().fg(Color::Red);
        let blue = Style::new().fg(Color::Blue);
        assert_eq!(
            pieces,
            [
                ("a", red),
                ("b", red.patch(hit_style(false))),
                ("c", hit_style(false)),
                ("d", Style::new()),
                ("é", hit_style(true)),
                ("f", blue.patch(hit_style(true))),
                ("gh", blue),
            ]
        );
        let plain = Line::from("nothing here");
        assert_eq!(highlight(plain.clone(), &re, None), plain);
    }

    #[test]
    fn pinned_pane_shows_its_position_and_keeps_it_on_resize() {
        let mut app = running_app();
        let _ = draw(&mut app, 80, 24, at(12_300));
        keys(&mut app, &[c('g')]);
        let terminal = draw(&mut app, 80, 24, at(12_300));
        assert_eq!(app.scroll(1), Some(Scroll::Pinned { top: 0 }));
        let top_row: String = (0..80)
            .map(|x| terminal.backend().buffer()[(x, 0)].symbol().to_owned())
            .collect();
        assert!(top_row.contains(" 1-21/34 "), "{top_row}");
        let _ = app.update(
            Msg::Resize {
                width: 60,
                height: 10,
            },
            at(12_300),
        );
        let _ = draw(&mut app, 60, 10, at(12_300));
        assert_eq!(app.scroll(1), Some(Scroll::Pinned { top: 0 }));
    }
}
