//! The env list's filter: typing part of a name (`f`, then the text) narrows the list, the
//! focus ring and the tiles to the envs whose name contains it (smart case: case-insensitive
//! unless the text has an upper-case letter). The matching envs are kept as a sorted list of
//! ids, so moving the selection, drawing the visible rows and asking whether an env is listed
//! cost O(log n) whatever the number of envs; a typed character narrows the current matches
//! instead of scanning every env again.

use super::{App, Overlay};
use crate::plan::EnvId;
use crate::tui::keymap::Action;

/// The active filter: what was typed and the envs that match it, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::tui) struct ListFilter {
    pub(in crate::tui) query: String,
    pub(in crate::tui) ids: Vec<EnvId>,
}

/// Whether `name` contains `query`, smart case.
pub(in crate::tui) fn matches(name: &str, query: &str) -> bool {
    if query.chars().any(char::is_uppercase) {
        name.contains(query)
    } else {
        name.to_lowercase().contains(query)
    }
}

impl App {
    /// `f`: type a filter for the env list (starting from the current one).
    pub(super) fn start_filter(&mut self) {
        self.input = self
            .list_filter
            .as_ref()
            .map(|f| f.query.clone())
            .unwrap_or_default();
        self.input_error = None;
        self.overlay = Overlay::FilterInput;
    }

    /// The typed text changed: the list follows it at once, and the focus moves to the first
    /// match when the focused env no longer matches.
    pub(super) fn filter_changed(&mut self) {
        let query = self.input.clone();
        if query.is_empty() {
            self.list_filter = None;
            return;
        }
        let narrower = self.list_filter.as_ref().is_some_and(|f| {
            query.starts_with(&f.query)
                && f.query.chars().any(char::is_uppercase) == query.chars().any(char::is_uppercase)
        });
        let ids: Vec<EnvId> = match (&self.list_filter, narrower) {
            (Some(old), true) => old
                .ids
                .iter()
                .copied()
                .filter(|&id| matches(&self.panes[id].name, &query))
                .collect(),
            _ => (0..self.panes.len())
                .filter(|&id| matches(&self.panes[id].name, &query))
                .collect(),
        };
        if !ids.is_empty() && ids.binary_search(&self.focus).is_err() {
            self.focus = ids[0];
        }
        self.list_filter = Some(ListFilter { query, ids });
    }

    /// A key bound in the filter input: Enter keeps the filter, Esc drops it, Backspace and
    /// Ctrl-U edit it (the list follows).
    pub(super) fn on_filter_action(&mut self, action: Action) {
        match action {
            Action::Submit => self.end_filter(true),
            Action::Cancel => self.end_filter(false),
            Action::DeleteChar => {
                self.input.pop();
                self.filter_changed();
            }
            Action::ClearInput => {
                self.input.clear();
                self.filter_changed();
            }
            _ => {}
        }
    }

    /// Enter keeps the filter, Esc drops it.
    pub(super) fn end_filter(&mut self, keep: bool) {
        self.overlay = Overlay::None;
        if !keep {
            self.input.clear();
            self.list_filter = None;
        }
    }

    /// The filter's text, if one is active.
    pub fn list_filter(&self) -> Option<&str> {
        self.list_filter.as_ref().map(|f| f.query.as_str())
    }

    /// Envs in the list (all of them without a filter).
    pub fn list_len(&self) -> usize {
        self.list_filter
            .as_ref()
            .map_or(self.panes.len(), |f| f.ids.len())
    }

    /// The `k`-th env of the list.
    pub fn list_entry(&self, k: usize) -> Option<EnvId> {
        match &self.list_filter {
            Some(f) => f.ids.get(k).copied(),
            None => (k < self.panes.len()).then_some(k),
        }
    }

    /// Where env `id` is in the list, if it is listed.
    pub fn list_position(&self, id: EnvId) -> Option<usize> {
        match &self.list_filter {
            Some(f) => f.ids.binary_search(&id).ok(),
            None => (id < self.panes.len()).then_some(id),
        }
    }

    /// Moves the focus to the next (or previous) listed env, wrapping; an unlisted focus goes
    /// to the first (or last) listed env after (or before) it.
    pub(super) fn step_in_list(&mut self, forward: bool) {
        let n = self.list_len();
        if n == 0 {
            return;
        }
        let k = match (&self.list_filter, self.list_position(self.focus)) {
            (_, Some(k)) if forward => (k + 1) % n,
            (_, Some(k)) => (k + n - 1) % n,
            (Some(f), None) => {
                let after = f.ids.partition_point(|&id| id < self.focus);
                if forward {
                    after % n
                } else {
                    (after + n - 1) % n
                }
            }
            (None, None) => 0,
        };
        if let Some(id) = self.list_entry(k) {
            self.focus = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, plan};
    use super::super::{App, AppOptions, Msg, Overlay};
    use super::matches;
    use crate::plan::EnvId;
    use crate::tui::keymap::{Key, KeyCode};

    fn many(n: usize) -> App {
        let names: Vec<String> = (0..n)
            .map(|i| match i % 3 {
                0 => format!("py3{}-unit-{i}", i % 10),
                1 => format!("lint-{i}"),
                _ => format!("Docs-{i}"),
            })
            .collect();
        let envs: Vec<(&str, &[EnvId], &[&str])> = names
            .iter()
            .map(|n| (n.as_str(), &[][..], &["x"][..]))
            .collect();
        App::new(&plan(&envs), at(0), AppOptions::default())
    }

    fn press(app: &mut App, key: Key) {
        let _ = app.update(Msg::Key(key), at(1));
    }

    fn typed(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, Key::char(c));
        }
    }

    #[test]
    fn smart_case_substring() {
        let cases = [
            ("py312-unit", "unit", true),
            ("py312-unit", "UNIT", false),
            ("Docs-4", "docs", true),
            ("Docs-4", "Docs", true),
            ("Docs-4", "DOCS", false),
            ("lint", "", true),
            ("lint", "tl", false),
        ];
        for (name, query, expected) in cases {
            assert_eq!(matches(name, query), expected, "{name:?} {query:?}");
        }
    }

    #[test]
    fn typing_narrows_the_list_and_the_focus_ring() {
        let mut app = many(5000);
        press(&mut app, Key::char('f'));
        assert_eq!(app.overlay(), &Overlay::FilterInput);
        typed(&mut app, "unit-4");
        // py3*-unit-4, -40.., -400.., -4000..: ids ≡ 0 mod 3 whose number starts with 4.
        let expected: Vec<EnvId> = (0..5000)
            .filter(|i| i % 3 == 0 && i.to_string().starts_with('4'))
            .collect();
        assert_eq!(app.list_len(), expected.len());
        assert_eq!(app.focus(), expected[0], "the focus moved into the list");
        assert_eq!(app.list_filter(), Some("unit-4"));
        // Enter keeps it; j/k move through the matches only, wrapping.
        press(&mut app, Key::plain(KeyCode::Enter));
        assert_eq!(app.overlay(), &Overlay::None);
        press(&mut app, Key::char('j'));
        assert_eq!(app.focus(), expected[1]);
        press(&mut app, Key::char('k'));
        press(&mut app, Key::char('k'));
        assert_eq!(app.focus(), *expected.last().expect("matches"));
        // Backspace widens it again (a full rescan), Esc drops it.
        press(&mut app, Key::char('f'));
        press(&mut app, Key::plain(KeyCode::Backspace));
        assert_eq!(app.list_filter(), Some("unit-"));
        assert_eq!(app.list_len(), (0..5000).filter(|i| i % 3 == 0).count());
        press(&mut app, Key::plain(KeyCode::Esc));
        assert_eq!(app.list_filter(), None);
        assert_eq!(app.list_len(), 5000);
    }

    #[test]
    fn nothing_matches_keeps_the_focus_and_an_unlisted_focus_steps_into_the_list() {
        let mut app = many(30);
        press(&mut app, Key::char('f'));
        typed(&mut app, "zzz");
        assert_eq!(app.list_len(), 0);
        assert_eq!(app.focus(), 0);
        press(&mut app, Key::char('j'));
        assert_eq!(app.focus(), 0, "nothing to move to");
        press(&mut app, Key::plain(KeyCode::Esc));
        // Focus env 4 (lint-4), then filter on "Docs": 5, 8, 11, … match.
        for _ in 0..4 {
            press(&mut app, Key::char('j'));
        }
        assert_eq!(app.focus(), 4);
        press(&mut app, Key::char('f'));
        typed(&mut app, "Docs");
        assert_eq!(app.focus(), 2, "the first match");
        assert_eq!(app.list_entry(1), Some(5));
        assert_eq!(app.list_position(5), Some(1));
        assert_eq!(app.list_position(4), None);
    }
}
