//! Keys and what they do: runall's own [`Key`] type, the [`Action`]s the TUI understands and the
//! [`Keymap`] that maps one to the other per [`KeymapMode`].
//!
//! The keymap is data (as in mprocs): every binding lives in one ordered table, looked up forward
//! for key handling and in reverse ([`Keymap::keys_for`]) so the key bar and the help overlay
//! always show the real bindings. [`translate`] is the only place crossterm's key types appear;
//! everything else (the app, its tests) works with [`Key`], so no terminal is needed.

use std::collections::HashMap;
use std::fmt;

use crossterm::event::{KeyCode as CtKeyCode, KeyEvent as CtKeyEvent, KeyEventKind, KeyModifiers};

/// A key without its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyCode {
    /// A character; shifted letters arrive as their upper-case form.
    Char(char),
    /// Return.
    Enter,
    /// Escape.
    Esc,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Tab.
    Tab,
    /// Shift-Tab.
    BackTab,
    /// Backspace.
    Backspace,
    /// Delete.
    Delete,
    /// A function key, `F(1)` is F1.
    F(u8),
}

/// A key press: the key and the modifiers that change its meaning (Shift is folded into the
/// character itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// Which key.
    pub code: KeyCode,
    /// Control was held.
    pub ctrl: bool,
    /// Alt (Meta, Option) was held.
    pub alt: bool,
}

impl Key {
    /// The key without modifiers.
    pub const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            ctrl: false,
            alt: false,
        }
    }

    /// A character key without modifiers.
    pub const fn char(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    /// Control plus a character.
    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    /// Alt plus a character.
    pub const fn alt(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            ctrl: false,
            alt: true,
        }
    }

    /// How the key is written in the key bar and help: `q`, `G`, `/`, `Ctrl-C`, `Alt-/`, `PgUp`,
    /// `↑`, `Enter`, `Space`, `F5`.
    pub fn label(&self) -> String {
        let mut out = String::new();
        if self.ctrl {
            out.push_str("Ctrl-");
        }
        if self.alt {
            out.push_str("Alt-");
        }
        match self.code {
            KeyCode::Char(' ') => out.push_str("Space"),
            // Ctrl-letters read best upper-case, as terminals document them (`Ctrl-C`).
            KeyCode::Char(c) if self.ctrl => out.extend(c.to_uppercase()),
            KeyCode::Char(c) => out.push(c),
            KeyCode::F(n) => {
                out.push('F');
                out.push_str(&n.to_string());
            }
            code => out.push_str(match code {
                KeyCode::Enter => "Enter",
                KeyCode::Esc => "Esc",
                KeyCode::Up => "↑",
                KeyCode::Down => "↓",
                KeyCode::Left => "←",
                KeyCode::Right => "→",
                KeyCode::PageUp => "PgUp",
                KeyCode::PageDown => "PgDn",
                KeyCode::Home => "Home",
                KeyCode::End => "End",
                KeyCode::Tab => "Tab",
                KeyCode::BackTab => "Shift-Tab",
                KeyCode::Backspace => "Backspace",
                KeyCode::Delete => "Del",
                KeyCode::Char(_) | KeyCode::F(_) => "",
            }),
        }
        out
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Which table of bindings applies: the app picks it from what has the keyboard (the panes, or
/// an overlay on top of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeymapMode {
    /// The env list, panes and tiles.
    Normal,
    /// The help overlay.
    Help,
    /// The "quit while envs run?" question.
    Confirm,
    /// Typing a search query (unbound plain characters are typed into the query).
    SearchInput,
    /// The list of envs with hits of a search across all envs.
    SearchResults,
    /// Typing into the focused tty env: every key not bound here goes to it.
    Input,
}

/// What a key asks the TUI to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Focus the next env (wraps); in a list overlay, select the next entry.
    FocusNext,
    /// Focus the previous env (wraps); in a list overlay, select the previous entry.
    FocusPrev,
    /// Scroll the focused pane up one line.
    ScrollUp,
    /// Scroll the focused pane down one line.
    ScrollDown,
    /// Scroll the focused pane up one page.
    PageUp,
    /// Scroll the focused pane down one page.
    PageDown,
    /// Scroll to the oldest line.
    ScrollTop,
    /// Scroll to the newest line and follow new output.
    ScrollBottom,
    /// Cycle list view → tiles of running envs → tiles of all envs.
    ToggleTiles,
    /// Show the focused pane alone, or go back.
    ToggleZoom,
    /// Search the focused env's output.
    StartSearch,
    /// Search every env's output and list the envs with hits.
    SearchAll,
    /// Filter the env list by typing part of a name.
    FilterList,
    /// Jump to the next hit.
    NextHit,
    /// Jump to the previous hit.
    PrevHit,
    /// Forget the search.
    ClearSearch,
    /// Run the focused env again (once it finished).
    Rerun,
    /// Run every failed env again.
    RerunFailed,
    /// Interrupt the focused env (again to escalate).
    StopEnv,
    /// Quit (asks first while envs run).
    Quit,
    /// Like SIGINT to runall: interrupt, then kill, then exit.
    Interrupt,
    /// Suspend runall and its envs, like SIGTSTP.
    Suspend,
    /// List the focused env's failing tests (from its test reports).
    FailingTests,
    /// Show or hide the help overlay.
    ToggleHelp,
    /// Close the overlay.
    Close,
    /// Answer yes.
    Confirm,
    /// Answer no, or abandon the input.
    Cancel,
    /// Accept the input or the selected entry.
    Submit,
    /// Delete the character before the cursor.
    DeleteChar,
    /// Delete the whole input.
    ClearInput,
    /// Type into the focused env (a tty env): keys go to its terminal.
    EnterInput,
    /// Stop typing into the env.
    LeaveInput,
    /// Mouse capture off (the terminal's own selection works) or back on.
    ToggleMouse,
    /// Copy the focused pane's visible text (or the search hit's line) to the clipboard.
    Copy,
    /// Leave the TUI for the plain prefixed stream, or come back.
    ToggleStream,
}

impl Action {
    /// One line for the help overlay.
    pub fn description(self) -> &'static str {
        match self {
            Self::FocusNext => "next env",
            Self::FocusPrev => "previous env",
            Self::ScrollUp => "scroll up a line",
            Self::ScrollDown => "scroll down a line",
            Self::PageUp => "scroll up a page",
            Self::PageDown => "scroll down a page",
            Self::ScrollTop => "scroll to the top",
            Self::ScrollBottom => "bottom, follow output",
            Self::ToggleTiles => "tiles: running, all, off",
            Self::ToggleZoom => "zoom the focused pane",
            Self::StartSearch => "search this env",
            Self::SearchAll => "search all envs",
            Self::FilterList => "filter envs by name",
            Self::NextHit => "next hit",
            Self::PrevHit => "previous hit",
            Self::ClearSearch => "clear the search",
            Self::Rerun => "rerun this env",
            Self::RerunFailed => "rerun every failed env",
            Self::StopEnv => "interrupt this env",
            Self::Quit => "quit",
            Self::Interrupt => "stop all (again: kill)",
            Self::Suspend => "suspend",
            Self::FailingTests => "list this env's failing tests",
            Self::ToggleHelp => "help",
            Self::Close => "close",
            Self::Confirm => "yes",
            Self::Cancel => "no",
            Self::Submit => "accept",
            Self::DeleteChar => "delete a character",
            Self::ClearInput => "clear the input",
            Self::EnterInput => "type into the env",
            Self::LeaveInput => "stop typing into the env",
            Self::ToggleMouse => "mouse on/off (select)",
            Self::Copy => "copy pane / hit's line",
            Self::ToggleStream => "plain stream on/off",
        }
    }

    /// One word for the key bar.
    pub fn short(self) -> &'static str {
        match self {
            Self::FocusNext | Self::NextHit => "next",
            Self::FocusPrev | Self::PrevHit => "prev",
            Self::ScrollUp | Self::PageUp => "up",
            Self::ScrollDown | Self::PageDown => "down",
            Self::ScrollTop => "top",
            Self::ScrollBottom => "bottom",
            Self::ToggleTiles => "tiles",
            Self::ToggleZoom => "zoom",
            Self::StartSearch => "search",
            Self::SearchAll => "search all",
            Self::FilterList => "filter",
            Self::ClearSearch | Self::ClearInput => "clear",
            Self::Rerun => "rerun",
            Self::RerunFailed => "rerun failed",
            Self::StopEnv => "stop",
            Self::Quit => "quit",
            Self::Interrupt => "interrupt",
            Self::Suspend => "suspend",
            Self::FailingTests => "failing tests",
            Self::ToggleHelp => "help",
            Self::Close => "close",
            Self::Confirm => "yes",
            Self::Cancel => "no",
            Self::Submit => "ok",
            Self::DeleteChar => "delete",
            Self::EnterInput => "type",
            Self::LeaveInput => "leave input",
            Self::ToggleMouse => "mouse",
            Self::Copy => "copy",
            Self::ToggleStream => "stream",
        }
    }
}

/// Every binding, per mode, in the order they were bound (the first key bound to an action is
/// the one the key bar shows).
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(KeymapMode, Key, Action)>,
    index: HashMap<(KeymapMode, Key), Action>,
}

impl Keymap {
    /// A keymap with no bindings at all.
    pub fn empty() -> Self {
        Self {
            bindings: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Binds `key` to `action` in `mode`, replacing what the key did there before.
    pub fn bind(&mut self, mode: KeymapMode, key: Key, action: Action) {
        if self.index.insert((mode, key), action).is_some() {
            self.bindings.retain(|&(m, k, _)| (m, k) != (mode, key));
        }
        self.bindings.push((mode, key, action));
    }

    /// Removes `key`'s binding in `mode`, if any.
    pub fn unbind(&mut self, mode: KeymapMode, key: Key) {
        if self.index.remove(&(mode, key)).is_some() {
            self.bindings.retain(|&(m, k, _)| (m, k) != (mode, key));
        }
    }

    /// What `key` does in `mode`.
    pub fn action(&self, mode: KeymapMode, key: Key) -> Option<Action> {
        self.index.get(&(mode, key)).copied()
    }

    /// The keys bound to `action` in `mode`, first bound first (reverse lookup).
    pub fn keys_for(&self, mode: KeymapMode, action: Action) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|&&(m, _, a)| m == mode && a == action)
            .map(|&(_, k, _)| k)
            .collect()
    }

    /// Every action bound in `mode` with its keys, in the order each action was first bound.
    pub fn actions(&self, mode: KeymapMode) -> Vec<(Action, Vec<Key>)> {
        let mut out: Vec<(Action, Vec<Key>)> = Vec::new();
        for &(m, key, action) in &self.bindings {
            if m != mode {
                continue;
            }
            if let Some((_, keys)) = out.iter_mut().find(|(a, _)| *a == action) {
                keys.push(key);
            } else {
                out.push((action, vec![key]));
            }
        }
        out
    }
}

impl Default for Keymap {
    /// The standard bindings: vi-ish and arrow keys, `/` search, `t` tiles, `?` help.
    fn default() -> Self {
        use Action as A;
        use KeyCode as K;
        use KeymapMode as M;

        let plain = Key::plain;
        let char = Key::char;
        // Ctrl-C and Ctrl-Z act like the signals whatever has the keyboard.
        let everywhere = [(Key::ctrl('c'), A::Interrupt), (Key::ctrl('z'), A::Suspend)];
        let normal = [
            (plain(K::Down), A::FocusNext),
            (char('j'), A::FocusNext),
            (plain(K::Tab), A::FocusNext),
            (plain(K::Up), A::FocusPrev),
            (char('k'), A::FocusPrev),
            (plain(K::BackTab), A::FocusPrev),
            (Key::ctrl('y'), A::ScrollUp),
            (char('K'), A::ScrollUp),
            (Key::ctrl('e'), A::ScrollDown),
            (char('J'), A::ScrollDown),
            (plain(K::PageUp), A::PageUp),
            (Key::ctrl('b'), A::PageUp),
            (plain(K::PageDown), A::PageDown),
            (Key::ctrl('f'), A::PageDown),
            (char('g'), A::ScrollTop),
            (plain(K::Home), A::ScrollTop),
            (char('G'), A::ScrollBottom),
            (plain(K::End), A::ScrollBottom),
            (char('t'), A::ToggleTiles),
            (char('z'), A::ToggleZoom),
            (char('/'), A::StartSearch),
            (Key::alt('/'), A::SearchAll),
            (char('F'), A::SearchAll),
            (char('f'), A::FilterList),
            (char('n'), A::NextHit),
            (char('N'), A::PrevHit),
            (plain(K::Esc), A::ClearSearch),
            (char('r'), A::Rerun),
            (char('R'), A::RerunFailed),
            (char('x'), A::StopEnv),
            (char('T'), A::FailingTests),
            (char('q'), A::Quit),
            (char('?'), A::ToggleHelp),
            (plain(K::F(1)), A::ToggleHelp),
            (char('i'), A::EnterInput),
            (char('m'), A::ToggleMouse),
            (char('y'), A::Copy),
            (char('s'), A::ToggleStream),
        ];
        let help = [
            (plain(K::Esc), A::Close),
            (char('?'), A::Close),
            (char('q'), A::Close),
            (plain(K::F(1)), A::Close),
        ];
        let confirm = [
            (char('y'), A::Confirm),
            (plain(K::Enter), A::Confirm),
            (char('n'), A::Cancel),
            (plain(K::Esc), A::Cancel),
            (char('q'), A::Cancel),
        ];
        let input = [
            (plain(K::Enter), A::Submit),
            (plain(K::Esc), A::Cancel),
            (plain(K::Backspace), A::DeleteChar),
            (Key::ctrl('u'), A::ClearInput),
        ];
        let results = [
            (plain(K::Down), A::FocusNext),
            (char('j'), A::FocusNext),
            (plain(K::Up), A::FocusPrev),
            (char('k'), A::FocusPrev),
            (plain(K::Enter), A::Submit),
            (plain(K::Esc), A::Close),
            (char('q'), A::Close),
        ];

        let mut map = Self::empty();
        let tables: [(M, &[(Key, A)]); 5] = [
            (M::Normal, &normal),
            (M::Help, &help),
            (M::Confirm, &confirm),
            (M::SearchInput, &input),
            (M::SearchResults, &results),
        ];
        for (mode, table) in tables {
            for &(key, action) in table.iter().chain(&everywhere) {
                map.bind(mode, key, action);
            }
        }
        // Typing into an env: Ctrl-C and Ctrl-Z are the child's (its terminal makes them
        // SIGINT and SIGTSTP); only the way out is runall's.
        map.bind(M::Input, Key::ctrl(']'), A::LeaveInput);
        // What crossterm makes of the byte Ctrl-] sends (0x1d), as xterm's Ctrl-5 is the same.
        map.bind(M::Input, Key::ctrl('5'), A::LeaveInput);
        map
    }
}

/// Turns a crossterm key event into a [`Key`]; `None` for key releases and keys runall has no
/// use for (media keys, lone modifiers, …). Repeats count as presses so held keys scroll.
pub fn translate(event: &CtKeyEvent) -> Option<Key> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let shift = event.modifiers.contains(KeyModifiers::SHIFT);
    let code = match event.code {
        CtKeyCode::Char(c) => KeyCode::Char(c),
        CtKeyCode::Enter => KeyCode::Enter,
        CtKeyCode::Esc => KeyCode::Esc,
        CtKeyCode::Up => KeyCode::Up,
        CtKeyCode::Down => KeyCode::Down,
        CtKeyCode::Left => KeyCode::Left,
        CtKeyCode::Right => KeyCode::Right,
        CtKeyCode::PageUp => KeyCode::PageUp,
        CtKeyCode::PageDown => KeyCode::PageDown,
        CtKeyCode::Home => KeyCode::Home,
        CtKeyCode::End => KeyCode::End,
        // Some terminals send Shift+Tab as Tab with Shift.
        CtKeyCode::Tab if shift => KeyCode::BackTab,
        CtKeyCode::Tab => KeyCode::Tab,
        CtKeyCode::BackTab => KeyCode::BackTab,
        CtKeyCode::Backspace => KeyCode::Backspace,
        CtKeyCode::Delete => KeyCode::Delete,
        CtKeyCode::F(n) => KeyCode::F(n),
        _ => return None,
    };
    Some(Key {
        code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
        alt: event.modifiers.contains(KeyModifiers::ALT),
    })
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyEventState;

    use super::*;

    fn event(code: CtKeyCode, modifiers: KeyModifiers, kind: KeyEventKind) -> CtKeyEvent {
        CtKeyEvent {
            code,
            modifiers,
            kind,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn default_bindings_cover_the_documented_keys() {
        let map = Keymap::default();
        let normal = |key| map.action(KeymapMode::Normal, key);
        assert_eq!(normal(Key::char('q')), Some(Action::Quit));
        assert_eq!(normal(Key::char('/')), Some(Action::StartSearch));
        assert_eq!(normal(Key::alt('/')), Some(Action::SearchAll));
        assert_eq!(normal(Key::char('F')), Some(Action::SearchAll));
        assert_eq!(normal(Key::char('t')), Some(Action::ToggleTiles));
        assert_eq!(normal(Key::char('z')), Some(Action::ToggleZoom));
        assert_eq!(normal(Key::char('j')), Some(Action::FocusNext));
        assert_eq!(normal(Key::plain(KeyCode::Up)), Some(Action::FocusPrev));
        assert_eq!(normal(Key::plain(KeyCode::PageUp)), Some(Action::PageUp));
        assert_eq!(normal(Key::char('G')), Some(Action::ScrollBottom));
        assert_eq!(normal(Key::char('R')), Some(Action::RerunFailed));
        assert_eq!(normal(Key::char('x')), Some(Action::StopEnv));
        assert_eq!(normal(Key::char('w')), None);
    }

    #[test]
    fn ctrl_c_and_ctrl_z_work_in_every_mode() {
        let map = Keymap::default();
        for mode in [
            KeymapMode::Normal,
            KeymapMode::Help,
            KeymapMode::Confirm,
            KeymapMode::SearchInput,
            KeymapMode::SearchResults,
        ] {
            assert_eq!(
                map.action(mode, Key::ctrl('c')),
                Some(Action::Interrupt),
                "{mode:?}"
            );
            assert_eq!(
                map.action(mode, Key::ctrl('z')),
                Some(Action::Suspend),
                "{mode:?}"
            );
        }
    }

    #[test]
    fn typing_keys_are_free_in_search_input() {
        let map = Keymap::default();
        for c in ['q', 'n', 'j', '/', '?', 't', 'G'] {
            assert_eq!(
                map.action(KeymapMode::SearchInput, Key::char(c)),
                None,
                "{c}"
            );
        }
    }

    #[test]
    fn reverse_lookup_keeps_binding_order() {
        let map = Keymap::default();
        let labels = |action| {
            map.keys_for(KeymapMode::Normal, action)
                .iter()
                .map(Key::label)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(Action::Quit), ["q"]);
        assert_eq!(labels(Action::SearchAll), ["Alt-/", "F"]);
        assert_eq!(labels(Action::PageUp), ["PgUp", "Ctrl-B"]);
        assert_eq!(labels(Action::FocusNext), ["↓", "j", "Tab"]);
        assert_eq!(labels(Action::Interrupt), ["Ctrl-C"]);
        assert!(labels(Action::Confirm).is_empty());
    }

    #[test]
    fn rebinding_replaces_and_unbinding_removes() {
        let mut map = Keymap::default();
        map.bind(KeymapMode::Normal, Key::char('q'), Action::ToggleHelp);
        assert_eq!(
            map.action(KeymapMode::Normal, Key::char('q')),
            Some(Action::ToggleHelp)
        );
        assert!(map.keys_for(KeymapMode::Normal, Action::Quit).is_empty());
        let help = map.keys_for(KeymapMode::Normal, Action::ToggleHelp);
        assert_eq!(
            help,
            [Key::char('?'), Key::plain(KeyCode::F(1)), Key::char('q')]
        );
        map.unbind(KeymapMode::Normal, Key::char('?'));
        assert_eq!(map.action(KeymapMode::Normal, Key::char('?')), None);
        // Other modes are untouched.
        assert_eq!(
            map.action(KeymapMode::Help, Key::char('?')),
            Some(Action::Close)
        );
    }

    #[test]
    fn actions_group_keys_per_action() {
        let map = Keymap::default();
        let help = map.actions(KeymapMode::Help);
        assert_eq!(help.len(), 3, "{help:?}");
        assert_eq!(help[0].0, Action::Close);
        assert_eq!(help[0].1.len(), 4);
        let normal = map.actions(KeymapMode::Normal);
        assert_eq!(normal[0].0, Action::FocusNext);
        assert!(normal.iter().any(|(a, _)| *a == Action::Interrupt));
    }

    #[test]
    fn labels() {
        assert_eq!(Key::ctrl('c').label(), "Ctrl-C");
        assert_eq!(Key::alt('/').label(), "Alt-/");
        assert_eq!(Key::char('/').label(), "/");
        assert_eq!(Key::char('G').label(), "G");
        assert_eq!(Key::char(' ').label(), "Space");
        assert_eq!(Key::plain(KeyCode::PageDown).label(), "PgDn");
        assert_eq!(Key::plain(KeyCode::F(12)).label(), "F12");
        assert_eq!(Key::plain(KeyCode::BackTab).to_string(), "Shift-Tab");
    }

    #[test]
    fn translate_drops_releases_and_keeps_modifiers() {
        let press = event(
            CtKeyCode::Char('c'),
            KeyModifiers::CONTROL,
            KeyEventKind::Press,
        );
        assert_eq!(translate(&press), Some(Key::ctrl('c')));
        let release = event(
            CtKeyCode::Char('c'),
            KeyModifiers::CONTROL,
            KeyEventKind::Release,
        );
        assert_eq!(translate(&release), None);
        let repeat = event(CtKeyCode::Down, KeyModifiers::NONE, KeyEventKind::Repeat);
        assert_eq!(translate(&repeat), Some(Key::plain(KeyCode::Down)));
        let alt = event(CtKeyCode::Char('/'), KeyModifiers::ALT, KeyEventKind::Press);
        assert_eq!(translate(&alt), Some(Key::alt('/')));
    }

    #[test]
    fn translate_folds_shift_into_the_key() {
        let upper = event(
            CtKeyCode::Char('G'),
            KeyModifiers::SHIFT,
            KeyEventKind::Press,
        );
        assert_eq!(translate(&upper), Some(Key::char('G')));
        let shift_tab = event(CtKeyCode::Tab, KeyModifiers::SHIFT, KeyEventKind::Press);
        assert_eq!(translate(&shift_tab), Some(Key::plain(KeyCode::BackTab)));
        let back_tab = event(CtKeyCode::BackTab, KeyModifiers::SHIFT, KeyEventKind::Press);
        assert_eq!(translate(&back_tab), Some(Key::plain(KeyCode::BackTab)));
        let f5 = event(CtKeyCode::F(5), KeyModifiers::NONE, KeyEventKind::Press);
        assert_eq!(translate(&f5), Some(Key::plain(KeyCode::F(5))));
        let media = event(CtKeyCode::CapsLock, KeyModifiers::NONE, KeyEventKind::Press);
        assert_eq!(translate(&media), None);
    }
}
