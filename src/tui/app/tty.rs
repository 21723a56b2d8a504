//! The app's side of tty envs: input mode (keys and pastes encoded for the focused env's
//! terminal, `Ctrl-]` to leave), a tty screen's size as drawn (for the runner's
//! `TIOCSWINSZ`), its end (the screen scrolled into the history), the mouse-capture toggle
//! and copying a pane's text.

use super::{App, Effect, EnvState, Overlay, Scroll};
use crate::plan::EnvId;
use crate::tui::keymap::{Action, Key};
use crate::tui::term::{encode_key, encode_paste};

/// The app's tty state.
#[derive(Debug)]
pub(in crate::tui) struct TtyUi {
    /// Keys go to the focused env's terminal (input mode).
    pub(in crate::tui) typing: bool,
    /// The terminal's mouse is captured (the wheel scrolls); off, its own selection works.
    pub(in crate::tui) mouse: bool,
    /// tty screens whose size changed when drawn: the runner must be told.
    pub(in crate::tui) resized: Vec<(EnvId, u16, u16)>,
}

impl Default for TtyUi {
    fn default() -> Self {
        Self {
            typing: false,
            mouse: true,
            resized: Vec::new(),
        }
    }
}

impl App {
    /// Keys go to the focused env while it runs on a terminal; otherwise the bar says why
    /// not, and how to get a terminal.
    pub(super) fn enter_input(&mut self) {
        let name = self.focused_name();
        let Some(pane) = self.panes.get(self.focus) else {
            return;
        };
        if !pane.tty {
            self.notice = Some(format!(
                "{name} has no terminal to type into: set `tty = true` for it in runall.toml"
            ));
        } else if self.env_state(self.focus) != Some(EnvState::Running) {
            self.notice = Some(format!("{name} is not running"));
        } else {
            self.tty_ui.typing = true;
        }
    }

    /// A key in input mode: `Ctrl-]` (the keymap's `LeaveInput`) leaves, anything else goes
    /// to the env's terminal as a terminal would send it.
    pub(super) fn typed_key(&mut self, key: Key, action: Option<Action>) -> Effect {
        if action == Some(Action::LeaveInput) {
            self.tty_ui.typing = false;
            self.dirty = true;
            return Effect::None;
        }
        // The modes the child set may still be in its waiting output.
        if let Some(pane) = self.panes.get_mut(self.focus) {
            pane.settle_tty();
        }
        let application_cursor = self
            .panes
            .get(self.focus)
            .and_then(|p| p.term.as_ref())
            .is_some_and(crate::tui::term::Term::application_cursor);
        // Typing follows the screen, as a terminal does.
        if let Some(pane) = self.panes.get_mut(self.focus) {
            pane.scroll = Scroll::Follow;
        }
        self.dirty = true;
        Effect::Input {
            env: self.focus,
            bytes: encode_key(key, application_cursor),
        }
    }

    /// A paste: into the env in input mode (bracketed if it asked), into the search query
    /// while one is typed, else nothing.
    pub(super) fn on_paste(&mut self, text: &str) -> Effect {
        if self.tty_ui.typing && self.overlay == Overlay::None {
            if let Some(pane) = self.panes.get_mut(self.focus) {
                pane.settle_tty();
            }
            let bracketed = self
                .panes
                .get(self.focus)
                .and_then(|p| p.term.as_ref())
                .is_some_and(crate::tui::term::Term::bracketed_paste);
            return Effect::Input {
                env: self.focus,
                bytes: encode_paste(text, bracketed),
            };
        }
        if let Overlay::SearchInput { .. } | Overlay::FilterInput = self.overlay {
            self.input.extend(text.chars().filter(|c| !c.is_control()));
            self.input_error = None;
            self.dirty = true;
            if self.overlay == Overlay::FilterInput {
                self.filter_changed();
            }
        }
        Effect::None
    }

    /// A tty env ended: what its screen still shows goes into its history (so all of it can
    /// be searched and paged), and typing into it stops.
    pub(super) fn tty_finished(&mut self, env: EnvId) {
        let Some(pane) = self.panes.get_mut(env) else {
            return;
        };
        pane.settle_tty();
        if let Some(mut term) = pane.term.take() {
            let rest = term.finish();
            if !rest.is_empty() {
                pane.scrollback.push_owned(rest);
            }
        }
        if self.tty_ui.typing && self.focus == env {
            self.tty_ui.typing = false;
            self.notice = Some(format!("{} finished: input mode left", pane.name));
        }
    }

    /// The view drew a tty pane `rows` x `cols`: its screen takes that size, and the runner
    /// is told (once per change) so the child's terminal matches.
    pub(in crate::tui) fn tty_drawn(&mut self, env: EnvId, rows: u16, cols: u16) {
        let Some(pane) = self.panes.get_mut(env).filter(|p| p.tty) else {
            return;
        };
        if pane.tty_size == (rows, cols) || rows == 0 || cols == 0 {
            return;
        }
        // What came at the old size is drawn at the old size.
        pane.settle_tty();
        pane.tty_size = (rows, cols);
        if let Some(term) = pane.term.as_mut() {
            let scrolled = term.resize(rows, cols);
            if !scrolled.is_empty() {
                pane.scrollback.push_owned(scrolled);
            }
        }
        self.tty_ui.resized.retain(|&(e, _, _)| e != env);
        self.tty_ui.resized.push((env, rows, cols));
    }

    /// The tty screens resized since the last call, for the runner: `(env, rows, cols)`.
    pub fn take_resized(&mut self) -> Vec<(EnvId, u16, u16)> {
        std::mem::take(&mut self.tty_ui.resized)
    }

    /// Keys go to the focused env's terminal.
    pub fn typing(&self) -> bool {
        self.tty_ui.typing && self.overlay == Overlay::None
    }

    /// The mouse is captured (the wheel scrolls panes).
    pub fn mouse_captured(&self) -> bool {
        self.tty_ui.mouse
    }

    pub(super) fn toggle_mouse(&mut self) -> Effect {
        self.tty_ui.mouse = !self.tty_ui.mouse;
        self.notice = Some(if self.tty_ui.mouse {
            "mouse captured: the wheel scrolls; m lets the terminal select".to_owned()
        } else {
            "mouse released: select text with the terminal; m captures it again".to_owned()
        });
        Effect::MouseCapture(self.tty_ui.mouse)
    }

    /// `y`: the search's current hit's line if it is in the focused env, else the text the
    /// focused pane shows.
    pub(super) fn copy(&mut self) -> Effect {
        let focus = self.focus;
        let hit = self
            .search
            .as_ref()
            .filter(|s| s.env == focus)
            .and_then(|s| s.current)
            .map(|h| h.line);
        let Some(pane) = self.panes.get_mut(focus) else {
            return Effect::None;
        };
        let text = if let Some(line) = hit {
            pane.scrollback.plain_line(line).unwrap_or_default()
        } else {
            let rows = pane.rows.max(1);
            let top = pane.top(rows);
            let history = pane.scrollback.line_count();
            let screen = pane.term.as_ref().map(crate::tui::term::Term::text_rows);
            let mut lines: Vec<String> = (top..top + rows)
                .filter_map(|i| {
                    if i < history {
                        pane.scrollback.plain_line(i)
                    } else {
                        screen.as_ref()?.get(i - history).cloned()
                    }
                })
                .collect();
            while lines.last().is_some_and(|l| l.trim().is_empty()) {
                lines.pop();
            }
            lines.join("\n")
        };
        if text.is_empty() {
            self.notice = Some("nothing to copy".to_owned());
            return Effect::None;
        }
        let what = if hit.is_some() {
            "the hit's line"
        } else {
            "the pane"
        };
        self.notice = Some(format!(
            "copied {what} ({} chars) to the clipboard (OSC 52)",
            text.chars().count()
        ));
        Effect::Copy(text)
    }

    /// Feed every tty env's waiting output to its screen (before a search reads them all).
    pub(super) fn settle_tty(&mut self) {
        for pane in &mut self.panes {
            pane.settle_tty();
        }
    }

    /// Every env's output so far as plain lines (its history, evicted lines read back from
    /// its log, then a tty env's screen down to its last text), one env after the other, each
    /// line given to `line` with the env's name as it is read: what the plain stream starts
    /// with. Nothing is gathered, so the history of any number of envs costs one line at a
    /// time; `line` returning an error stops it.
    pub fn for_each_history_line<E>(
        &mut self,
        mut line: impl FnMut(&str, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        for pane in &mut self.panes {
            pane.settle_tty();
            for i in 0..pane.scrollback.line_count() {
                if let Some(text) = pane.scrollback.plain_line(i) {
                    line(&pane.name, &text)?;
                }
            }
            if let Some(term) = &pane.term {
                let mut rows = term.text_rows();
                while rows.last().is_some_and(String::is_empty) {
                    rows.pop();
                }
                for row in &rows {
                    line(&pane.name, row)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::super::tests::{app_from, at, exit, finished, output, plan, result, started};
    use super::super::{App, Effect, Msg};
    use crate::event::EnvStatus;
    use crate::plan::Plan;
    use crate::tui::keymap::{Key, KeyCode, KeymapMode};

    /// `shell` (a tty env) and `pipes` (not), both started.
    fn tty_plan() -> Plan {
        let mut plan = plan(&[("shell", &[], &["sh"]), ("pipes", &[], &["make"])]);
        plan.envs[0].tty = true;
        plan
    }

    fn running() -> App {
        app_from(&tty_plan(), vec![(0, started(0)), (0, started(1))])
    }

    fn press(app: &mut App, key: Key) -> Effect {
        app.update(Msg::Key(key), at(1))
    }

    fn screen(app: &mut App, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("backend");
        terminal
            .draw(|f| crate::tui::view::render(app, f.area(), f.buffer_mut(), at(1)))
            .expect("draw");
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn i_types_into_a_tty_env_until_ctrl_bracket() {
        let mut app = running();
        assert_eq!(press(&mut app, Key::char('i')), Effect::None);
        assert!(app.typing());
        assert_eq!(app.keymap_mode(), KeymapMode::Input);
        // Letters runall would otherwise take (q quits, j moves) are the env's now.
        assert_eq!(
            press(&mut app, Key::char('q')),
            Effect::Input {
                env: 0,
                bytes: b"q".to_vec()
            }
        );
        assert_eq!(
            press(&mut app, Key::ctrl('c')),
            Effect::Input {
                env: 0,
                bytes: vec![3]
            }
        );
        assert_eq!(
            press(&mut app, Key::plain(KeyCode::Enter)),
            Effect::Input {
                env: 0,
                bytes: b"\r".to_vec()
            }
        );
        assert_eq!(press(&mut app, Key::ctrl(']')), Effect::None);
        assert!(!app.typing());
        assert_eq!(app.keymap_mode(), KeymapMode::Normal);
    }

    #[test]
    fn arrows_follow_the_childs_cursor_key_mode_and_pastes_its_bracketing() {
        let mut app = running();
        let _ = app.update(Msg::Run(output(0, "\x1b[?1h\x1b[?2004h$ ")), at(1));
        let _ = press(&mut app, Key::char('i'));
        assert_eq!(
            press(&mut app, Key::plain(KeyCode::Up)),
            Effect::Input {
                env: 0,
                bytes: b"\x1bOA".to_vec()
            }
        );
        assert_eq!(
            app.update(Msg::Paste("ls\n".to_owned()), at(1)),
            Effect::Input {
                env: 0,
                bytes: b"\x1b[200~ls\r\x1b[201~".to_vec()
            }
        );
    }

    #[test]
    fn i_on_an_env_without_a_terminal_says_how_to_get_one() {
        let mut app = running();
        app.focus = 1;
        let _ = press(&mut app, Key::char('i'));
        assert!(!app.typing());
        let notice = app.notice.clone().unwrap_or_default();
        assert!(notice.contains("pipes has no terminal"), "{notice}");
        assert!(notice.contains("`tty = true`"), "{notice}");
    }

    #[test]
    fn the_end_of_the_env_ends_input_mode_and_keeps_its_screen_in_the_history() {
        let mut app = running();
        let _ = app.update(Msg::Run(output(0, "\x1b[2J\x1b[3;1Hlast words")), at(1));
        let _ = press(&mut app, Key::char('i'));
        let _ = app.update(Msg::Run(finished(0, result(exit(1), 5))), at(2));
        assert!(!app.typing());
        let pane = &mut app.panes[0];
        assert!(pane.term.is_none());
        let lines: Vec<String> = (0..pane.scrollback.line_count())
            .filter_map(|i| pane.scrollback.plain_line(i))
            .collect();
        assert_eq!(lines, ["", "", "last words"]);
    }

    #[test]
    fn a_tty_pane_draws_the_emulators_screen_and_reports_its_size() {
        let mut app = running();
        let _ = app.update(Msg::Run(output(0, "top\x1b[5;3Hfive\x1b[1;10Hx")), at(1));
        let _ = press(&mut app, Key::char('i'));
        let text = screen(&mut app, 60, 12);
        let rows: Vec<&str> = text.lines().collect();
        assert!(rows[0].contains("shell  INPUT "), "{text}");
        assert!(rows[1].contains("││top      x"), "{text}");
        assert!(rows[5].contains("││  five"), "{text}");
        assert!(rows[11].contains("INPUT → shell"), "{text}");
        assert!(rows[11].contains("Ctrl-] leave input"), "{text}");
        // The pane's inside: 12 rows less the bar and two borders; 60 less the list and two.
        let resized = app.take_resized();
        assert_eq!(resized.len(), 1, "{resized:?}");
        let (env, rows, cols) = resized[0];
        let expected = crate::tui::view::list_pane_size(["shell", "pipes"].into_iter(), 60, 12);
        assert_eq!((env, rows, cols), (0, expected.0, expected.1));
        assert_eq!(rows, 9);
        assert_eq!(
            app.panes[0].term.as_ref().map(crate::tui::term::Term::size),
            Some((9, cols))
        );
        // Drawn again at the same size: nothing new to tell the runner.
        let _ = screen(&mut app, 60, 12);
        assert!(app.take_resized().is_empty());
    }

    #[test]
    fn scrolled_off_lines_reach_the_history_and_copy_takes_the_visible_text() {
        let mut app = running();
        let _ = screen(&mut app, 60, 12);
        let mut lines = String::new();
        for i in 1..=20 {
            let _ = write!(lines, "line {i}\r\n");
        }
        let _ = app.update(Msg::Run(output(0, &lines)), at(1));
        let pane = &mut app.panes[0];
        // Fed to the screen in batches: when drawn or read.
        assert_eq!(pane.scrollback.line_count(), 0);
        pane.settle_tty();
        // 9 rows on screen: the cursor's empty row and lines 13-20 stay there.
        assert_eq!(pane.scrollback.line_count(), 12);
        assert_eq!(pane.scrollback.plain_line(0).as_deref(), Some("line 1"));
        let Effect::Copy(text) = press(&mut app, Key::char('y')) else {
            panic!("y copies");
        };
        assert_eq!(text.lines().next(), Some("line 13"));
        assert_eq!(text.lines().last(), Some("line 20"));
        let _ = app.update(Msg::Run(finished(0, result(EnvStatus::Passed, 5))), at(2));
        assert_eq!(app.panes[0].scrollback.line_count(), 20);
    }

    #[test]
    fn a_flood_of_lines_takes_the_fast_path_into_the_history() {
        let mut app = running();
        let _ = screen(&mut app, 60, 12);
        // A screenful first (the fast path starts from the last row), then the flood.
        let mut lines = String::from("\x1b[33mfirst\x1b[m\r\n");
        for i in 1..=200 {
            let _ = write!(lines, "line {i}\r\n");
            if i == 10 {
                let _ = app.update(Msg::Run(output(0, &lines)), at(1));
                app.panes[0].settle_tty();
                lines.clear();
            }
        }
        let _ = app.update(Msg::Run(output(0, &lines)), at(1));
        let pane = &mut app.panes[0];
        pane.settle_tty();
        assert_eq!(
            pane.term.as_ref().map(crate::tui::term::Term::fast_batches),
            Some(1)
        );
        // The coloured line through the emulator, then 200 lines less the 8 left on screen.
        assert_eq!(pane.scrollback.line_count(), 193);
        assert_eq!(pane.scrollback.plain_line(0).as_deref(), Some("first"));
        assert_eq!(pane.scrollback.plain_line(1).as_deref(), Some("line 1"));
        assert_eq!(pane.scrollback.plain_line(192).as_deref(), Some("line 192"));
        let hits = pane
            .scrollback
            .search(&crate::scrollback::Pattern::Plain("line 150".into()));
        assert_eq!(hits.first().map(|h| h.line), Some(150));
        let Effect::Copy(text) = press(&mut app, Key::char('y')) else {
            panic!("y copies");
        };
        assert_eq!(text.lines().next(), Some("line 193"));
        let _ = app.update(Msg::Run(finished(0, result(EnvStatus::Passed, 5))), at(2));
        assert_eq!(app.panes[0].scrollback.line_count(), 201);
        assert_eq!(
            app.panes[0].scrollback.plain_line(200).as_deref(),
            Some("line 200")
        );
    }

    /// Output events of a flood, large ones kept as they came and small ones joined, read as
    /// one stream: the history and the screen are what the emulator makes of every byte.
    #[test]
    fn a_flood_in_large_and_small_events_reads_as_one_stream() {
        let mut app = running();
        let _ = screen(&mut app, 60, 12);
        let Some((rows, cols)) = app.panes[0].term.as_ref().map(crate::tui::term::Term::size)
        else {
            panic!("a running tty pane has a screen");
        };
        // Lines of up to the screen's width (none wraps), 270 KB of them.
        let mut flood = String::new();
        for i in 0..10_000 {
            let width = 11 + i % (usize::from(cols) - 10);
            let _ = write!(
                flood,
                "{:width$.width$}\r\n",
                format!("line {i:05} {}", "~".repeat(80))
            );
        }
        assert!(flood.len() > 200_000, "{}", flood.len());
        let flood = flood.into_bytes();
        let mut at_byte = 0usize;
        let mut event = |app: &mut App, size: usize| {
            let end = at_byte.saturating_add(size).min(flood.len());
            let bytes = flood[at_byte..end].to_vec();
            at_byte = end;
            let _ = app.update(
                Msg::Run(crate::event::RunEvent::Output {
                    env: 0,
                    stream: crate::event::Stream::Stdout,
                    bytes,
                }),
                at(1),
            );
        };
        // 100 KiB as it came; 3 KiB and then 5 KiB joined; 70 KiB as it came; 1 KiB after.
        for size in [100 << 10, 3 << 10, 5 << 10, 70 << 10, 1 << 10] {
            event(&mut app, size);
        }
        let pending = &app.panes[0].tty_pending;
        assert_eq!(
            pending.chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [100 << 10, 8 << 10, 70 << 10, 1 << 10]
        );
        assert_eq!(pending.len(), 179 << 10);
        app.panes[0].settle_tty();
        event(&mut app, usize::MAX);
        let pane = &mut app.panes[0];
        pane.settle_tty();
        let mut emulator = crate::tui::term::Term::new(rows, cols);
        let mut history = Vec::new();
        for chunk in flood.chunks(7) {
            history.extend(emulator.feed(chunk));
        }
        let history = String::from_utf8_lossy(&history).replace("\x1b[m", "");
        let history: Vec<&str> = history.lines().collect();
        assert_eq!(pane.scrollback.line_count(), history.len());
        for (i, line) in history.iter().enumerate() {
            assert_eq!(
                pane.scrollback.plain_line(i).as_deref(),
                Some(*line),
                "line {i}"
            );
        }
        assert_eq!(
            pane.term.as_ref().map(crate::tui::term::Term::text_rows),
            Some(emulator.text_rows())
        );
        assert!(pane.term.as_ref().is_some_and(|t| t.fast_batches() >= 3));
    }

    /// A tty pane in input mode as drawn: the emulator's screen (a prompt drawn with cursor
    /// movement and erase), INPUT in the border and the key bar saying how to leave.
    #[test]
    fn snapshot_tty_pane_typing() {
        let mut app = running();
        let _ = app.update(
            Msg::Run(output(
                0,
                "progress 10%\rprogress 99%\r\n\x1b[2;20Hright\x1b[3;1H\x1b[1mbold\x1b[m \
                 wide 界\r\n(Pdb) old text\x1b[8D\x1b[K",
            )),
            at(1),
        );
        let _ = press(&mut app, Key::char('i'));
        let mut terminal = Terminal::new(TestBackend::new(60, 10)).expect("backend");
        terminal
            .draw(|f| crate::tui::view::render(&mut app, f.area(), f.buffer_mut(), at(1)))
            .expect("draw");
        insta::assert_snapshot!(terminal.backend());
    }

    #[test]
    fn m_toggles_the_mouse_capture() {
        let mut app = running();
        assert!(app.mouse_captured());
        assert_eq!(press(&mut app, Key::char('m')), Effect::MouseCapture(false));
        assert!(!app.mouse_captured());
        assert_eq!(press(&mut app, Key::char('m')), Effect::MouseCapture(true));
        assert_eq!(press(&mut app, Key::char('s')), Effect::ToggleStream);
    }
}
