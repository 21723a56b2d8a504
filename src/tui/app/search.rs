//! Search in the TUI: a query as typed (smart case, `/regex/` or `re:regex`) compiled into
//! a [`Query`], the active [`Search`] with its hits, and the `App` steps that submit a query,
//! keep its hits up to date as output arrives, and move between hits.

use regex::{Regex, RegexBuilder};

use super::{App, Overlay, Scroll, SearchScope};
use crate::plan::EnvId;
use crate::scrollback::{Hit, Pattern};

/// A compiled search query.
#[derive(Debug, Clone)]
pub(in crate::tui) struct Query {
    /// What the user typed.
    pub(in crate::tui) text: String,
    /// Finds hits in one line of plain text (also used to highlight the visible lines).
    pub(in crate::tui) matcher: Regex,
    /// Set for a plain query, which the scrollback searches smart-case itself.
    literal: Option<String>,
}

impl Query {
    /// Parses a query: `/re/` or `re:re` is a regex, anything else plain text; both are
    /// smart-case (case-insensitive unless the query has an upper-case letter).
    pub(in crate::tui) fn parse(input: &str) -> Result<Self, String> {
        let regex = input.strip_prefix("re:").or_else(|| {
            (input.len() >= 2 && input.starts_with('/') && input.ends_with('/'))
                .then(|| &input[1..input.len() - 1])
        });
        let (source, literal) = match regex {
            Some("") => return Err("empty pattern".to_owned()),
            Some(re) => (re.to_owned(), None),
            None => (regex::escape(input), Some(input.to_owned())),
        };
        let matcher = RegexBuilder::new(&source)
            .case_insensitive(!has_upper(&strip_escapes(&source)))
            .build()
            .map_err(|e| regex_error(&e))?;
        Ok(Self {
            text: input.to_owned(),
            matcher,
            literal,
        })
    }

    /// The query as the scrollback's pattern.
    fn pattern(&self) -> Pattern {
        match &self.literal {
            Some(text) => Pattern::Plain(text.clone()),
            None => Pattern::Regex(self.matcher.clone()),
        }
    }
}

fn has_upper(text: &str) -> bool {
    text.chars().any(char::is_uppercase)
}

/// `source` without backslash escapes, so `\W` or `\S` do not make a regex case-sensitive.
fn strip_escapes(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// The useful line of a regex error (`unclosed group`), not its multi-line drawing.
fn regex_error(error: &regex::Error) -> String {
    let text = error.to_string();
    let reason = text
        .lines()
        .find_map(|line| line.strip_prefix("error: "))
        .or_else(|| text.lines().last())
        .unwrap_or("invalid");
    format!("invalid regex: {reason}")
}

/// An active search in one env.
#[derive(Debug, Clone)]
pub(in crate::tui) struct Search {
    pub(in crate::tui) query: Query,
    /// The env whose hits are in `hits`.
    pub(in crate::tui) env: EnvId,
    /// Sorted by position.
    pub(in crate::tui) hits: Vec<Hit>,
    /// The env's line count when `hits` was computed (`None`: not computed).
    pub(super) searched_lines: Option<usize>,
    /// The hit last jumped to.
    pub(in crate::tui) current: Option<Hit>,
}

impl Search {
    /// 1-based position of the current hit among the hits.
    pub(in crate::tui) fn current_index(&self) -> Option<usize> {
        let current = self.current?;
        self.hits.iter().position(|h| *h == current).map(|i| i + 1)
    }
}

impl App {
    pub(super) fn submit_search(&mut self, scope: SearchScope) {
        self.settle_tty();
        if self.input.is_empty() {
            self.search = None;
            self.overlay = Overlay::None;
            return;
        }
        let query = match Query::parse(&self.input) {
            Ok(query) => query,
            Err(error) => {
                self.input_error = Some(error);
                return;
            }
        };
        self.overlay = Overlay::None;
        let text = query.text.clone();
        match scope {
            SearchScope::Focused => {
                self.search = Some(Search {
                    query,
                    env: self.focus,
                    hits: Vec::new(),
                    searched_lines: None,
                    current: None,
                });
                self.first_hit();
            }
            SearchScope::All => {
                let pattern = query.pattern();
                let results: Vec<(EnvId, usize)> = self
                    .panes
                    .iter_mut()
                    .enumerate()
                    .map(|(id, pane)| (id, pane.scrollback.search(&pattern).len()))
                    .filter(|&(_, count)| count > 0)
                    .collect();
                self.search = Some(Search {
                    query,
                    env: self.focus,
                    hits: Vec::new(),
                    searched_lines: None,
                    current: None,
                });
                if results.is_empty() {
                    self.notice = Some(format!("no env has a match for {text}"));
                } else {
                    let selected = results
                        .iter()
                        .position(|&(id, _)| id == self.focus)
                        .unwrap_or(0);
                    self.overlay = Overlay::SearchResults { results, selected };
                }
            }
        }
    }

    /// Makes the search's hits those of the focused env's current history.
    pub(super) fn refresh_hits(&mut self) {
        self.settle_tty();
        let focus = self.focus;
        let (Some(search), Some(pane)) = (self.search.as_mut(), self.panes.get_mut(focus)) else {
            return;
        };
        let lines = pane.scrollback.line_count();
        if search.env == focus && search.searched_lines == Some(lines) {
            return;
        }
        if search.env != focus {
            search.current = None;
        }
        let mut hits = pane.scrollback.search(&search.query.pattern());
        hits.sort_by_key(|h| (h.line, h.start));
        search.hits = hits;
        search.env = focus;
        search.searched_lines = Some(lines);
    }

    /// After a new search: the newest hit when following output, else the first hit on or
    /// below the top line (wrapping to the first).
    pub(super) fn first_hit(&mut self) {
        self.refresh_hits();
        let Some(pane) = self.panes.get_mut(self.focus) else {
            return;
        };
        let following = pane.scroll == Scroll::Follow;
        let top = pane.top(pane.rows.max(1));
        let Some(search) = self.search.as_mut() else {
            return;
        };
        let hit = if following {
            search.hits.last()
        } else {
            search
                .hits
                .iter()
                .find(|h| h.line >= top)
                .or_else(|| search.hits.first())
        };
        search.current = hit.copied();
        self.jump_to_current();
    }

    pub(super) fn step_hit(&mut self, forward: bool) {
        if self.search.is_none() {
            self.notice = Some("no search: / to search".to_owned());
            return;
        }
        self.refresh_hits();
        let top = self
            .panes
            .get_mut(self.focus)
            .map_or(0, |p| p.top(p.rows.max(1)));
        let Some(search) = self.search.as_mut() else {
            return;
        };
        let key = |h: &Hit| (h.line, h.start);
        // Without a current hit, start from the top line of the view.
        let from = search.current.map_or((top, 0), |h| key(&h));
        let next = if forward {
            let after = |h: &&Hit| match search.current {
                Some(_) => key(h) > from,
                None => key(h) >= from,
            };
            search.hits.iter().find(after).map(|h| (*h, false))
        } else {
            search
                .hits
                .iter()
                .rev()
                .find(|h| key(h) < from)
                .map(|h| (*h, false))
        };
        let wrapped = if forward {
            search.hits.first()
        } else {
            search.hits.last()
        };
        let Some((hit, wrapped)) = next.or_else(|| wrapped.map(|h| (*h, true))) else {
            self.notice = Some(format!("no match for {}", search.query.text));
            return;
        };
        search.current = Some(hit);
        if wrapped {
            let edge = if forward { "top" } else { "bottom" };
            self.notice = Some(format!("search wrapped to the {edge}"));
        }
        self.jump_to_current();
    }

    pub(super) fn jump_to_current(&mut self) {
        let Some(search) = &self.search else {
            return;
        };
        match search.current {
            Some(hit) => {
                if let Some(pane) = self.panes.get_mut(search.env) {
                    pane.reveal(hit.line);
                }
            }
            None => self.notice = Some(format!("no match for {}", search.query.text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_smart_case() {
        let q = Query::parse("error").unwrap();
        assert!(q.matcher.is_match("ERROR: x"));
        assert_eq!(q.literal.as_deref(), Some("error"));
        let q = Query::parse("Error").unwrap();
        assert!(!q.matcher.is_match("ERROR: x"));
        assert_eq!(q.literal.as_deref(), Some("Error"));
        let q = Query::parse("a.b").unwrap();
        assert!(!q.matcher.is_match("axb"), "plain text is literal");
        let q = Query::parse("/err.*x/").unwrap();
        assert!(q.matcher.is_match("ERR: fix"));
        let q = Query::parse(r"re:\Wfail").unwrap();
        assert!(
            q.matcher.is_match(" FAIL"),
            "escapes do not count as upper case"
        );
        let q = Query::parse("re:Fail").unwrap();
        assert!(!q.matcher.is_match("fail"));
        assert!(Query::parse("//").is_err());
        assert!(Query::parse("/").is_ok(), "a lone slash is plain text");
        assert_eq!(
            Query::parse("re:[a").unwrap_err(),
            "invalid regex: unclosed character class"
        );
    }
}
