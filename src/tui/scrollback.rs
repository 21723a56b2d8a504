//! TEMPORARY STUB (being replaced by the scrollback implementation): API only.
#![allow(missing_docs, clippy::unused_self, clippy::needless_pass_by_value, unused)]

use std::path::PathBuf;

use ratatui::text::Line;

/// What to search for.
#[derive(Debug, Clone)]
pub enum Pattern {
    Plain(String),
    Regex(regex::Regex),
}

/// One search hit: line index, byte range in the line's plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub line: usize,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug)]
pub struct Scrollback;

impl Scrollback {
    pub fn new(cap_lines: usize) -> Self {
        Self
    }
    pub fn set_log(&mut self, path: Option<PathBuf>) {}
    pub fn push(&mut self, bytes: &[u8]) {}
    pub fn finish(&mut self) {}
    pub fn clear(&mut self) {}
    pub fn line_count(&self) -> usize {
        0
    }
    pub fn lines(&mut self, start: usize, count: usize) -> Vec<Line<'static>> {
        Vec::new()
    }
    pub fn plain_line(&mut self, index: usize) -> Option<String> {
        None
    }
    pub fn search(&mut self, pattern: &Pattern) -> Vec<Hit> {
        Vec::new()
    }
}
