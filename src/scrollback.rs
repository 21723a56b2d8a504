//! One env's output history: a bounded, line-oriented buffer fed with the raw bytes read from
//! the child's pipe, and what the screen and search read from it. Pure (no terminal, no
//! process; only the log is opened, read-only), so any face can use it; the TUI keeps one per
//! pane.
//!
//! This module owns the buffer's API ([`Scrollback`]: push, finish, clear, line access,
//! [`Scrollback::search`]) and the lazy intake in front of the parser. The rest is split by
//! role: `style` (the compact SGR state and its ratatui style), `parser` (bytes to lines:
//! `\r` overwrites, SGR kept, every other escape sequence and control character dropped, so
//! nothing a child writes can ever reach the real terminal raw), `store` (the line store:
//! blocks, line refs, the sparse index) and `paging` (evicted lines read back from the log).
//!
//! Memory is bounded four ways: at most `cap_lines` lines (stored back to back in blocks of
//! about 64 KiB, so besides them at most a block of evicted lines and one spare block), at most
//! [`LINE_TEXT_CAP`] bytes of text per line, no storage at all for escape sequences beyond a
//! fixed parameter array, and at most [`PENDING_CAP`] raw bytes not parsed yet
//! ([`PENDING_FREE`] unless they are short lines).
//!
//! Output is parsed when it is read, not when it arrives: pushed chunks wait raw until
//! something asks for lines (the screen, for the panes it draws; a search), and a chunk followed
//! by `cap_lines` newer lines is skimmed instead of parsed, since none of its lines can survive
//! the cap: its newlines are counted and indexed and nothing else, unless an escape sequence
//! may change the style (those lines still go through the parser). An env nobody looks at
//! during a flood thus costs a newline scan, not a parse.
//!
//! Lines evicted from memory are paged back from the env's log file, which holds the very same
//! bytes from offset 0: a sparse index remembers, for every [`PAGE_LINES`]th line, where it starts
//! in the log and which style was active there, so any page can be re-parsed on its own.
//!
//! It must not write anything (the runner owns the log file; this only opens it read-only), and
//! it must not fail loudly: when the log is missing or unreadable, evicted lines come back empty.

mod paging;
mod parser;
mod store;
mod style;

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::PathBuf;

use ratatui::text::Line;

use paging::{Pages, scan_log};
pub use parser::{CLIP_MARKER, LINE_TEXT_CAP};
use parser::{Cell, ESC, Parser};
use store::{LineRef, LineStore, Run};
use style::Pen;

/// Lines per sparse-index entry, and per page read back from the log.
pub const PAGE_LINES: usize = 1024;

/// Most raw bytes kept unparsed per env; past it the oldest are parsed at once.
pub const PENDING_CAP: usize = 2 * 1024 * 1024;

/// Raw bytes always allowed to wait unparsed. Past this, they wait only while they average at
/// most [`PENDING_LINE_BYTES`] per line: long lines and progress bars (no newline) are stored
/// clipped or overwritten once parsed, so keeping them raw would cost memory and save nothing.
pub const PENDING_FREE: usize = 64 * 1024;

/// Raw bytes a frame parses in full; past this, [`Scrollback::catch_up`] skims what the frame
/// does not show.
pub const CATCH_UP_FREE: usize = 256 * 1024;

/// See [`PENDING_FREE`].
pub const PENDING_LINE_BYTES: usize = 512;

/// A pushed chunk shorter than this is appended to the previous pending chunk.
const CHUNK_MIN: usize = 4 * 1024;

/// What to search for.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A literal string; case-insensitive when it has no uppercase letter (smart case).
    Plain(String),
    /// A regular expression, used as given.
    Regex(regex::Regex),
}

/// One search hit: a line index in the whole history and a byte range in that line's plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Index of the line in the whole history.
    pub line: usize,
    /// Start of the match, in bytes of the line's plain text.
    pub start: usize,
    /// End of the match (exclusive), in bytes of the line's plain text.
    pub end: usize,
}

/// The bounded, pageable history of one env's output.
#[derive(Debug)]
pub struct Scrollback {
    parser: Parser,
    store: LineStore,
    /// Total bytes pushed since the last clear: the log offset of the next byte.
    bytes_in: u64,
    /// Bytes parsed or skimmed: the log offset of the oldest pending byte.
    parsed: u64,
    /// Chunks pushed but not parsed yet, oldest first.
    pending: Pending,
    log: Option<PathBuf>,
    /// Most recently used page last.
    pages: Pages,
    /// [`Scrollback::evict`]ed and not viewed since: nothing is kept in memory, every pushed
    /// chunk is skimmed at once.
    evicted: bool,
    /// Not on screen ([`Scrollback::set_visible`]): raw bytes past the pending limits are
    /// skimmed, not parsed.
    hidden: bool,
    /// The log stopped taking bytes (disk full, …): what follows is not in it, so nothing
    /// more is dropped in the hope of paging it back.
    log_incomplete: bool,
}

impl Scrollback {
    /// An empty history keeping at most `cap_lines` lines in memory (at least one).
    pub fn new(cap_lines: usize) -> Self {
        Self {
            parser: Parser::new(Pen::default()),
            store: LineStore::new(cap_lines.max(1), PAGE_LINES),
            bytes_in: 0,
            parsed: 0,
            pending: Pending::default(),
            log: None,
            pages: Pages::default(),
            evicted: false,
            hidden: false,
            log_incomplete: false,
        }
    }

    /// Whether the buffer is on screen (the default). Off screen, raw bytes that no longer fit
    /// the pending limits are skimmed instead of parsed when the log can page them back
    /// ([`Scrollback::can_page`]; without it they are parsed, as on screen): an env nobody
    /// looks at costs a newline and `ESC` scan whatever it writes, and its newest lines page
    /// back from the log (at once, through the index) when it is shown again.
    pub fn set_visible(&mut self, visible: bool) {
        self.hidden = !visible;
    }

    /// Drops every line kept in memory, and parses nothing more into memory until
    /// [`Scrollback::keep`]: the raw bytes waiting are skimmed (newlines counted, page starts
    /// indexed, the style tracked), so the index still covers every line and any line reads
    /// back from the log at once. Only the line in progress stays. For a global memory budget
    /// over many buffers (the TUI's `scrollback_memory`).
    pub fn evict(&mut self) {
        if !self.can_page() {
            // Nothing to page its lines back from: they stay (the line cap still bounds them).
            return;
        }
        while let Some(chunk) = self.pending.pop() {
            self.skim(&chunk.bytes);
        }
        self.pending.chunks.shrink_to_fit();
        self.store.evict_all();
        self.pages.clear();
        self.evicted = true;
    }

    /// Keeps newly pushed lines in memory again (the buffer is being viewed); lines evicted
    /// so far stay in the log.
    pub fn keep(&mut self) {
        self.evicted = false;
    }

    /// Whether the buffer was evicted and not kept since.
    pub fn is_evicted(&self) -> bool {
        self.evicted
    }

    /// Names the log file that holds the pushed bytes from offset 0; `None` forgets it.
    ///
    /// Lines evicted from memory are read back from it. [`Scrollback::clear`] forgets the log too,
    /// so a rerun calls `clear()` and then `set_log` with the new path.
    pub fn set_log(&mut self, path: Option<PathBuf>) {
        self.log = path;
        self.pages.clear();
    }

    /// Whether lines dropped from memory can be read back: a log holds every byte pushed.
    pub fn can_page(&self) -> bool {
        self.log.is_some() && !self.log_incomplete
    }

    /// The log stopped taking bytes: keep what is in memory from now on (see
    /// [`Scrollback::can_page`]); earlier lines still page from what the log holds.
    pub fn set_log_incomplete(&mut self) {
        self.log_incomplete = true;
    }

    /// The log file named by [`Scrollback::set_log`], if any.
    pub fn log(&self) -> Option<&std::path::Path> {
        self.log.as_deref()
    }

    /// Appends raw bytes exactly as read from the child's pipe (a copy; see
    /// [`Scrollback::push_owned`]).
    pub fn push(&mut self, bytes: &[u8]) {
        self.push_owned(bytes.to_vec());
    }

    /// Appends raw bytes exactly as read from the child's pipe, keeping the buffer until the
    /// bytes are parsed. Chunks whose lines cannot survive the cap are skimmed right away.
    pub fn push_owned(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.bytes_in += bytes.len() as u64;
        if self.evicted {
            // Nothing of it is kept: a newline and ESC scan, then the buffer goes.
            self.skim(&bytes);
            self.store.evict_all();
            return;
        }
        self.pending.push(bytes);
        // The oldest chunk's lines are all evicted once `cap` newer lines follow it.
        while self.pending.chunks.len() > 1
            && let Some(front) = self.pending.chunks.front()
            && self.pending.newlines - front.newlines >= self.store.cap
        {
            if let Some(chunk) = self.pending.pop() {
                self.skim(&chunk.bytes);
            }
        }
        while self.pending.too_big()
            && let Some(chunk) = self.pending.pop()
        {
            // Skimmed lines page back from the log: without one, they are parsed.
            if self.hidden && self.can_page() {
                self.skim(&chunk.bytes);
            } else {
                self.parse(&chunk.bytes);
            }
        }
    }

    /// Appends whole lines of printable ASCII in the default style, `bytes[range]` for each of
    /// `lines` (a tty pane's history on its emulator's fast path, `Term::feed_parts`): the
    /// same as pushing each line followed by `\n`, but stored straight into the line store,
    /// without the copy into a chunk and the parse. Falls back to exactly that push when the
    /// parser is not at a plain line start (a partial line, a style carried over), the buffer
    /// is evicted, or a line is longer than [`LINE_TEXT_CAP`]. The caller guarantees the bytes
    /// are printable ASCII (`0x20..=0x7e`).
    pub fn push_plain_lines(&mut self, bytes: &[u8], lines: &[std::ops::Range<u32>]) {
        let line = |r: &std::ops::Range<u32>| bytes.get(r.start as usize..r.end as usize);
        if lines.is_empty() {
            return;
        }
        self.settle();
        let direct = !self.evicted
            && self.parser.at_plain_line_start()
            && lines
                .iter()
                .all(|r| line(r).is_some_and(|l| l.len() <= LINE_TEXT_CAP));
        if !direct {
            let total: usize = lines.iter().map(|r| r.len() + 1).sum();
            let mut joined = Vec::with_capacity(total);
            for r in lines {
                joined.extend_from_slice(line(r).unwrap_or_default());
                joined.push(b'\n');
            }
            self.push_owned(joined);
            return;
        }
        debug_assert!(
            lines
                .iter()
                .all(|r| line(r).is_some_and(|l| l.iter().all(|&b| (0x20..=0x7e).contains(&b)))),
            "plain lines are printable ASCII"
        );
        let pen = self.parser.pen;
        // Lines that more than the cap of newer ones follow would be evicted as soon as
        // stored: they are only counted and indexed (a flood's batch is mostly such lines).
        let evicted = lines.len().saturating_sub(self.store.cap);
        let (skipped, lines) = lines.split_at(evicted);
        if !skipped.is_empty() {
            let base = self.bytes_in;
            self.store.skip_lines(
                skipped.iter().map(|r| u64::from(r.end - r.start) + 1),
                base,
                pen,
            );
            let next = base
                + skipped
                    .iter()
                    .map(|r| u64::from(r.end - r.start) + 1)
                    .sum::<u64>();
            self.bytes_in = next;
            self.parsed = next;
        }
        for r in lines {
            let text = line(r).unwrap_or_default();
            let next = self.bytes_in + text.len() as u64 + 1;
            self.bytes_in = next;
            self.parsed = next;
            self.store.commit(next, pen, |block| block.push_plain(text));
        }
    }

    /// Before a frame shows the newest `rows` lines: when more than [`CATCH_UP_FREE`] raw bytes
    /// wait, the oldest chunks whose lines are all older than those rows are skimmed instead of
    /// parsed (their lines page back from the log if scrolled to), so a flood costs a frame
    /// the parse of about what it shows, not of everything that came since the last one.
    pub fn catch_up(&mut self, rows: usize) {
        if self.pending.bytes <= CATCH_UP_FREE || !self.can_page() {
            return;
        }
        while self.pending.chunks.len() > 1
            && let Some(front) = self.pending.chunks.front()
            && self.pending.newlines - front.newlines >= rows.max(1)
        {
            if let Some(chunk) = self.pending.pop() {
                self.skim(&chunk.bytes);
            }
        }
    }

    /// Parses every pending chunk: called before anything is read.
    fn settle(&mut self) {
        while let Some(chunk) = self.pending.pop() {
            self.parse(&chunk.bytes);
        }
    }

    /// Parses `bytes`, the next ones after `parsed`, into the store.
    fn parse(&mut self, bytes: &[u8]) {
        let base = self.parsed;
        let store = &mut self.store;
        // The callback never breaks, so neither does `feed`.
        let _ = self.parser.feed(bytes, &mut |parser, end| {
            store.commit(base + end as u64, parser.pen, |block| {
                parser.store_line(block);
            });
            ControlFlow::Continue(())
        });
        self.parsed += bytes.len() as u64;
    }

    /// Takes in `bytes`, the next ones after `parsed`, whose complete lines are not kept in
    /// memory (evicted by lines that follow, or the whole buffer is evicted: [`Scrollback::evict`]):
    /// a line the parser has started and a trailing partial line are parsed; every other line
    /// is only counted and indexed, and a line with an escape sequence also has its sequences
    /// run for the style they leave ([`Parser::skip_line`]), its text never decoded. A line
    /// starts right after a newline, where the parser is back in its ground state with only
    /// the style carried, so this leaves it exactly as parsing would, at the cost of a newline
    /// and `ESC` scan per byte (plus the bytes inside escape sequences), whatever the bytes are.
    fn skim(&mut self, bytes: &[u8]) {
        // Up to and including the first newline: the line in progress.
        let Some(newline) = memchr::memchr(b'\n', bytes) else {
            self.parse(bytes);
            return;
        };
        let (line, rest) = bytes.split_at(newline + 1);
        self.parse(line);
        let whole = memchr::memrchr(b'\n', rest).map_or(0, |last| last + 1);
        let (lines, partial) = rest.split_at(whole);
        self.skip_lines(lines);
        if !partial.is_empty() {
            self.parse(partial);
        }
    }

    /// Counts and indexes whole lines (ending with a newline, starting at a line start) without
    /// storing them; see [`Scrollback::skim`].
    fn skip_lines(&mut self, lines: &[u8]) {
        let mut rest = lines;
        while !rest.is_empty() {
            let esc = memchr::memchr(ESC, rest);
            // The lines before the one holding the next ESC keep the style as it is.
            let plain = esc.map_or(rest.len(), |e| {
                memchr::memrchr(b'\n', rest.get(..e).unwrap_or_default()).map_or(0, |k| k + 1)
            });
            if plain > 0 {
                let (skipped, after) = rest.split_at(plain);
                self.store.skip(skipped, self.parsed, self.parser.pen);
                self.parsed += skipped.len() as u64;
                rest = after;
            }
            if esc.is_none() {
                break;
            }
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |k| k + 1);
            let (line, after) = rest.split_at(end);
            self.parser.skip_line(line);
            self.store.skip(line, self.parsed, self.parser.pen);
            self.parsed += line.len() as u64;
            rest = after;
        }
    }

    /// The env ended: an incomplete character becomes U+FFFD and a trailing partial line is final.
    /// Off screen, the raw bytes still waiting are skimmed rather than parsed (their lines page
    /// back from the log when shown; without a log to page from, they are parsed); only the
    /// last chunk is parsed, for the trailing line.
    pub fn finish(&mut self) {
        if (self.hidden && self.can_page()) || self.evicted {
            while self.pending.chunks.len() > 1
                && let Some(chunk) = self.pending.pop()
            {
                self.skim(&chunk.bytes);
            }
        }
        self.settle();
        if self.evicted {
            self.store.evict_all();
        }
        if self.parser.finish() {
            let parser = &self.parser;
            self.store
                .commit(self.bytes_in, parser.pen, |block| parser.store_line(block));
            self.parser.reset_line();
        }
    }

    /// Forgets everything, the log path included (a rerun).
    pub fn clear(&mut self) {
        let (page_lines, block_lines) = (self.store.page_lines, self.store.block_lines);
        self.parser = Parser::new(Pen::default());
        self.store = LineStore::new(self.store.cap, page_lines);
        self.store.block_lines = block_lines;
        self.bytes_in = 0;
        self.parsed = 0;
        self.pending = Pending {
            chunk_min: self.pending.chunk_min,
            ..Pending::default()
        };
        self.log = None;
        self.log_incomplete = false;
        self.pages.clear();
    }

    /// Lines in the whole history: evicted ones, ones in memory, and a trailing partial line.
    pub fn line_count(&mut self) -> usize {
        self.settle();
        self.store.completed() + usize::from(self.parser.has_partial())
    }

    /// Styled lines `[start, start + count)` of the whole history, clamped to
    /// [`Scrollback::line_count`]. An evicted line that can't be read back is empty.
    pub fn lines(&mut self, start: usize, count: usize) -> Vec<Line<'static>> {
        let end = start.saturating_add(count).min(self.line_count());
        (start..end)
            .map(|i| {
                self.with_line(i, |line: LineRef<'_>| line.to_line())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The text of line `index` without styles, or `None` if there is no such line or it was
    /// evicted and can't be read back.
    pub fn plain_line(&mut self, index: usize) -> Option<String> {
        self.with_line(index, |line| line.text().into_owned())
    }

    /// Every hit in the whole history, in order, streaming evicted lines from the log.
    ///
    /// Empty matches are skipped, and so is an empty plain query.
    pub fn search(&mut self, pattern: &Pattern) -> Vec<Hit> {
        self.settle();
        let built;
        let re = match pattern {
            Pattern::Plain(query) => {
                if query.is_empty() {
                    return Vec::new();
                }
                let smart_case = !query.chars().any(char::is_uppercase);
                match regex::RegexBuilder::new(&regex::escape(query))
                    .case_insensitive(smart_case)
                    .build()
                {
                    Ok(re) => {
                        built = re;
                        &built
                    }
                    // Only a query past the regex size limit gets here; it can match nothing shown.
                    Err(_) => return Vec::new(),
                }
            }
            Pattern::Regex(re) => re,
        };
        let mut hits = Vec::new();
        let first = self.store.first;
        if first > 0
            && let (Some(path), Some(&start)) = (&self.log, self.store.index.first())
        {
            let mut number = 0;
            // A log that can't be read only hides the evicted lines' hits; memory is still searched.
            let _ = scan_log(path, start, self.bytes_in, |line| {
                find_hits(re, &line.text(), number, &mut hits);
                number += 1;
                if number >= first {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        }
        for (k, line) in self.store.iter().enumerate() {
            find_hits(re, &line.text(), first + k, &mut hits);
        }
        if let Some(partial) = self.parser.partial()
            && let Some(line) = partial.get(0)
        {
            find_hits(re, &line.text(), self.store.completed(), &mut hits);
        }
        hits
    }

    /// Approximate heap use in bytes, for tests and benches.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.store.heap_bytes()
            + self.parser.cells.capacity() * size_of::<Cell>()
            + self.parser.fast.capacity()
            + self.parser.fast_runs.capacity() * size_of::<Run>()
            + self.log.as_ref().map_or(0, |p| p.as_os_str().len())
            + self.pending.heap_bytes()
            + self.pages.heap_bytes()
    }

    /// Applies `f` to line `index`, wherever it lives: memory, the working line, or the log.
    fn with_line<R>(&mut self, index: usize, f: impl FnOnce(LineRef<'_>) -> R) -> Option<R> {
        self.settle();
        let first = self.store.first;
        if index < first {
            return self
                .pages
                .line(self.log.as_deref(), &self.store, self.bytes_in, index)
                .map(f);
        }
        if let Some(line) = self.store.get(index - first) {
            return Some(f(line));
        }
        if index == self.store.completed() {
            return self.parser.partial()?.get(0).map(f);
        }
        None
    }

    /// Test seam: index every `n`th line instead of every [`PAGE_LINES`]th, and store at most
    /// `block` lines per block instead of `BLOCK_LINES`.
    #[cfg(test)]
    fn with_page_lines(cap_lines: usize, n: usize, block: usize) -> Self {
        let mut sb = Self::new(cap_lines);
        sb.store.page_lines = n.max(1);
        sb.store.block_lines = block.max(1);
        sb
    }

    /// Test seam: never gather pushed chunks, so that small inputs are skimmed chunk by chunk.
    #[cfg(test)]
    fn without_gathering(mut self) -> Self {
        self.pending.chunk_min = 0;
        self
    }
}

/// Raw output not parsed yet, oldest first, with its count of newlines.
#[derive(Debug)]
struct Pending {
    chunks: VecDeque<RawChunk>,
    /// Heap bytes the chunks hold (their capacity: a gathered chunk may have room to spare),
    /// which is what the limits count.
    bytes: usize,
    newlines: usize,
    /// [`CHUNK_MIN`] (a test seam).
    chunk_min: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            chunks: VecDeque::new(),
            bytes: 0,
            newlines: 0,
            chunk_min: CHUNK_MIN,
        }
    }
}

/// One pushed chunk (or several small ones gathered) waiting raw, and its count of newlines.
#[derive(Debug)]
struct RawChunk {
    bytes: Vec<u8>,
    newlines: usize,
}

impl Pending {
    fn push(&mut self, bytes: Vec<u8>) {
        let newlines = memchr::memchr_iter(b'\n', &bytes).count();
        self.newlines += newlines;
        match self.chunks.back_mut() {
            // Small writes (a progress bar, a line at a time) are gathered, so the per-chunk
            // overhead stays small next to the bytes. A gathered chunk gets room for two
            // small chunks at once (it takes writes while under one), so it never grows again.
            Some(back) if bytes.len() < self.chunk_min && back.bytes.len() < self.chunk_min => {
                self.bytes -= back.bytes.capacity();
                let room = (2 * self.chunk_min).max(back.bytes.len() + bytes.len());
                back.bytes
                    .reserve_exact(room.saturating_sub(back.bytes.len()));
                back.bytes.extend_from_slice(&bytes);
                back.newlines += newlines;
                self.bytes += back.bytes.capacity();
            }
            _ => {
                self.bytes += bytes.capacity();
                self.chunks.push_back(RawChunk { bytes, newlines });
            }
        }
    }

    /// Whether the oldest chunk must be parsed now (see [`PENDING_FREE`]).
    fn too_big(&self) -> bool {
        self.bytes > PENDING_CAP
            || (self.bytes > PENDING_FREE
                && self.bytes > self.newlines.saturating_mul(PENDING_LINE_BYTES))
    }

    fn pop(&mut self) -> Option<RawChunk> {
        let chunk = self.chunks.pop_front()?;
        self.bytes -= chunk.bytes.capacity();
        self.newlines -= chunk.newlines;
        Some(chunk)
    }

    fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * size_of::<RawChunk>() + self.bytes
    }
}

fn find_hits(re: &regex::Regex, text: &str, line: usize, hits: &mut Vec<Hit>) {
    hits.extend(re.find_iter(text).filter(|m| !m.is_empty()).map(|m| Hit {
        line,
        start: m.start(),
        end: m.end(),
    }));
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Write as _;

    use proptest::prelude::*;
    use ratatui::style::{Color, Style};
    use ratatui::text::Span;

    use super::store::BLOCK_BYTES;
    use super::*;

    fn plain(sb: &mut Scrollback) -> Vec<String> {
        (0..sb.line_count())
            .map(|i| sb.plain_line(i).unwrap_or_else(|| "<none>".into()))
            .collect()
    }

    fn of(bytes: &[u8]) -> Vec<String> {
        let mut sb = Scrollback::new(1000);
        sb.push(bytes);
        plain(&mut sb)
    }

    fn styled(bytes: &[u8]) -> Vec<Line<'static>> {
        let mut sb = Scrollback::new(1000);
        sb.push(bytes);
        let n = sb.line_count();
        sb.lines(0, n)
    }

    fn hits(sb: &mut Scrollback, q: &str) -> Vec<(usize, usize, usize)> {
        sb.search(&Pattern::Plain(q.into()))
            .into_iter()
            .map(|h| (h.line, h.start, h.end))
            .collect()
    }

    #[test]
    fn splits_on_newline_and_counts_partial_line() {
        let mut sb = Scrollback::new(10);
        assert_eq!(sb.line_count(), 0);
        sb.push(b"one\ntwo\n\nthree");
        assert_eq!(sb.line_count(), 4);
        assert_eq!(plain(&mut sb), ["one", "two", "", "three"]);
        sb.push(b" more\n");
        assert_eq!(plain(&mut sb), ["one", "two", "", "three more"]);
        assert_eq!(sb.plain_line(4), None);
    }

    #[test]
    fn crlf_is_a_plain_line_end() {
        assert_eq!(of(b"a\r\nb\r\n"), ["a", "b"]);
    }

    #[test]
    fn carriage_return_overwrites() {
        assert_eq!(of(b"\r10%\r20%"), ["20%"]);
        assert_eq!(of(b"abcdef\rXY"), ["XYcdef"]);
        assert_eq!(of(b"abc\rX\n"), ["Xbc"]);
    }

    #[test]
    fn progress_bar_without_newline_stays_bounded() {
        let mut sb = Scrollback::new(10);
        for i in 0..100_000 {
            sb.push(format!("\r{i}%").as_bytes());
        }
        assert_eq!(sb.line_count(), 1);
        assert_eq!(sb.plain_line(0).as_deref(), Some("99999%"));
        assert!(sb.memory_bytes() < 64 * 1024, "{}", sb.memory_bytes());
    }

    #[test]
    fn erase_in_line_clears_a_progress_rewrite() {
        assert_eq!(of(b"long text here\r\x1b[Kshort"), ["short"]);
        assert_eq!(of(b"long text here\x1b[2K\rshort\n"), ["short"]);
        assert_eq!(of(b"abcdef\rab\x1b[1Kx"), ["  xdef"]);
    }

    #[test]
    fn sgr_becomes_style() {
        let lines = styled(b"\x1b[1;31mred\x1b[0m plain\n");
        assert_eq!(
            lines,
            [Line::from(vec![
                Span::styled("red", Style::new().red().bold()),
                Span::raw(" plain"),
            ])]
        );
        let lines =
            styled(b"\x1b[92;44mA\x1b[38;5;200;48;2;1;2;3mB\x1b[2;3;4;7mC\x1b[22;23;24;27;39;49mD");
        assert_eq!(
            lines,
            [Line::from(vec![
                Span::styled("A", Style::new().light_green().on_blue()),
                Span::styled(
                    "B",
                    Style::new().fg(Color::Indexed(200)).bg(Color::Rgb(1, 2, 3))
                ),
                Span::styled(
                    "C",
                    Style::new()
                        .fg(Color::Indexed(200))
                        .bg(Color::Rgb(1, 2, 3))
                        .dim()
                        .italic()
                        .underlined()
                        .reversed()
                ),
                Span::raw("D"),
            ])]
        );
        assert_eq!(
            styled(b"\x1b[38:2::9:8:7mX\x1b[38:5:9mY"),
            [Line::from(vec![
                Span::styled("X", Style::new().fg(Color::Rgb(9, 8, 7))),
                Span::styled("Y", Style::new().light_red()),
            ])]
        );
    }

    #[test]
    fn style_carries_over_lines() {
        let lines = styled(b"\x1b[32mgreen\nstill\x1b[0m\nplain\n");
        assert_eq!(
            lines,
            [
                Line::from(vec![Span::styled("green", Style::new().green())]),
                Line::from(vec![Span::styled("still", Style::new().green())]),
                Line::from(vec![Span::raw("plain")]),
            ]
        );
    }

    #[test]
    fn other_escape_sequences_are_dropped() {
        assert_eq!(
            of(b"a\x1b[2Jb\x1b[?1049hc\x1b[?25ld\x1b[3;4He\x1b[1Af\x1b[>4;2mg\n"),
            ["abcdefg"]
        );
        assert_eq!(of(b"x\x1b]0;my title\x07y\n"), ["xy"]);
        assert_eq!(
            of(b"\x1b]8;;http://example.com\x1b\\link\x1b]8;;\x1b\\\n"),
            ["link"]
        );
        assert_eq!(
            of(b"a\x1bPq#0;1\x1b\\b\x1b_apc\x1b\\c\x1b^pm\x1b\\d\n"),
            ["abcd"]
        );
        assert_eq!(of(b"a\x1b(Bb\x1b7c\x1b8d\x1bce\n"), ["abcde"]);
        assert_eq!(of(b"a\x00b\x07c\x0bd\x0ce\x7ff\x1b\n"), ["abcdef"]);
        // C1 controls encoded as UTF-8 (U+009B is CSI on some terminals).
        assert_eq!(of("a\u{9b}31mb\n".as_bytes()), ["a31mb"]);
        for line in of(b"\x1b[31m\x1b]0;t\x07\x1b[2J\x1b[Hx\x1b(0\n") {
            assert!(!line.contains('\x1b'));
        }
    }

    #[test]
    fn unterminated_escape_is_bounded() {
        let mut sb = Scrollback::new(10);
        sb.push(b"a\x1b[");
        for _ in 0..10_000 {
            sb.push(b"1;2;3;4;5;6;7;8;9;");
        }
        sb.push(b"mb\n");
        assert_eq!(plain(&mut sb), ["ab"]);
        assert!(sb.memory_bytes() < 16 * 1024, "{}", sb.memory_bytes());

        let mut sb = Scrollback::new(10);
        sb.push(b"a\x1b]0;");
        for _ in 0..10_000 {
            sb.push(&[b'x'; 100]);
        }
        // Nothing read yet: the string's bytes may still wait raw (gathered into chunks of a
        // few KiB), never more than PENDING_FREE of them.
        assert!(
            sb.memory_bytes() < 16 * 1024 + 2 * PENDING_FREE,
            "{}",
            sb.memory_bytes()
        );
        assert_eq!(sb.line_count(), 1);
        assert!(sb.memory_bytes() < 16 * 1024, "{}", sb.memory_bytes());
        sb.push(b"\nafter\n");
        assert_eq!(plain(&mut sb), ["a", "after"]);
    }

    #[test]
    fn tabs_expand_to_multiples_of_eight() {
        assert_eq!(of(b"a\tb\n"), ["a       b"]);
        assert_eq!(of(b"12345678\tx\n"), ["12345678        x"]);
        assert_eq!(of("漢\tx\n".as_bytes()), ["漢      x"]);
        assert_eq!(of(b"trailing\t\n"), ["trailing"]);
    }

    #[test]
    fn wide_characters_overwrite_by_width() {
        assert_eq!(of("漢字 😀\n".as_bytes()), ["漢字 😀"]);
        assert_eq!(of("漢字\rab".as_bytes()), ["ab字"]);
        assert_eq!(of("漢字\ra".as_bytes()), ["a 字"]);
        assert_eq!(of("ab\r漢".as_bytes()), ["漢"]);
        assert_eq!(of("e\u{301}x\rab".as_bytes()), ["ab"]);
    }

    #[test]
    fn invalid_utf8_is_replacement_character() {
        assert_eq!(of(b"a\xffb\xe6\xbcc\n"), ["a\u{fffd}b\u{fffd}c"]);
        assert_eq!(
            of(b"\xed\xa0\x80\n"),
            [String::from_utf8_lossy(b"\xed\xa0\x80")]
        );
        let mut sb = Scrollback::new(10);
        sb.push(b"x\xe6\xbc");
        sb.finish();
        assert_eq!(plain(&mut sb), ["x\u{fffd}"]);
    }

    #[test]
    fn utf8_split_across_pushes() {
        let bytes = "漢😀é".as_bytes();
        for split in 0..=bytes.len() {
            let mut sb = Scrollback::new(10);
            sb.push(&bytes[..split]);
            sb.push(&bytes[split..]);
            assert_eq!(plain(&mut sb), ["漢😀é"], "split at {split}");
        }
    }

    #[test]
    fn long_line_is_clipped_and_memory_bounded() {
        let mut sb = Scrollback::new(10);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            sb.push(&chunk);
            assert!(sb.memory_bytes() < 1024 * 1024, "{}", sb.memory_bytes());
        }
        sb.push(b"\nnext\n");
        let line = sb.plain_line(0).unwrap();
        assert!(line.ends_with(CLIP_MARKER));
        assert_eq!(line.len(), LINE_TEXT_CAP + CLIP_MARKER.len());
        assert_eq!(sb.plain_line(1).as_deref(), Some("next"));
        assert!(sb.memory_bytes() < 64 * 1024, "{}", sb.memory_bytes());
        let spans = &sb.lines(0, 1)[0].spans;
        assert_eq!(spans.last().unwrap().content, CLIP_MARKER);
    }

    #[test]
    fn lines_are_capped_and_evicted_lines_without_log_are_empty() {
        let mut sb = Scrollback::new(3);
        for i in 0..10 {
            sb.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(sb.line_count(), 10);
        assert_eq!(sb.store.len, 3);
        assert_eq!(sb.plain_line(0), None);
        assert_eq!(sb.plain_line(9).as_deref(), Some("line 9"));
        let lines = sb.lines(5, 100);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], Line::default());
        assert_eq!(lines[4], Line::raw("line 9"));
        assert_eq!(
            hits(&mut sb, "line"),
            [(7, 0, 4), (8, 0, 4), (9, 0, 4)],
            "only memory is searched without a log"
        );
    }

    #[test]
    fn pages_evicted_lines_from_log_with_styles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.log");
        let mut log = File::create(&path).unwrap();
        let mut sb = Scrollback::with_page_lines(5, 4, 3);
        sb.set_log(Some(path.clone()));
        let mut all = Scrollback::new(usize::MAX);
        for i in 0..50 {
            let chunk = match i % 3 {
                0 => format!("\x1b[3{}mline {i}\n", i % 8),
                1 => format!("still {i}\x1b[0m\n"),
                _ => format!("plain {i}\r\n"),
            };
            log.write_all(chunk.as_bytes()).unwrap();
            sb.push(chunk.as_bytes());
            all.push(chunk.as_bytes());
        }
        log.flush().unwrap();
        assert_eq!(sb.line_count(), 50);
        assert!(sb.store.index.len() <= 50 / 4 + 1);
        assert_eq!(sb.lines(0, 50), all.lines(0, 50));
        // Scrolling up a line at a time reads each page once.
        for i in (0..50).rev() {
            assert_eq!(sb.lines(i, 3), all.lines(i, 3));
        }
        assert_eq!(hits(&mut sb, "still 1"), hits(&mut all, "still 1"));
        assert_eq!(hits(&mut sb, "line"), hits(&mut all, "line"));
        assert_eq!(hits(&mut sb, "line").len(), 17);

        sb.set_log(Some(dir.path().join("missing.log")));
        assert_eq!(sb.plain_line(0), None);
        assert_eq!(sb.lines(0, 1), [Line::default()]);
    }

    #[test]
    fn without_a_complete_log_nothing_is_dropped_for_the_budget_or_a_catch_up() {
        let lines = |sb: &mut Scrollback| -> Vec<String> {
            (0..sb.line_count())
                .filter_map(|i| sb.plain_line(i))
                .collect()
        };
        let expected: Vec<String> = (0..20_000).map(|i| format!("line {i}")).collect();
        // No log at all (a tty pane, a log that could not be created), then a log that failed.
        for failed_log in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut sb = Scrollback::with_page_lines(100_000, 16, 64);
            if failed_log {
                sb.set_log(Some(dir.path().join("env.log")));
                sb.set_log_incomplete();
            }
            assert!(!sb.can_page());
            for line in &expected {
                sb.push(format!("{line}\n").as_bytes());
            }
            sb.catch_up(50);
            sb.evict();
            assert!(!sb.is_evicted());
            assert_eq!(lines(&mut sb), expected, "failed log: {failed_log}");
        }
        // Off screen too: neither raw bytes past the pending limits (long lines) nor the
        // chunks waiting at the end are skimmed, with nothing to page them back from.
        let long: Vec<String> = (0..2_000).map(|i| format!("{i:0600}")).collect();
        for (rows, finish) in [(&expected, true), (&long, false), (&long, true)] {
            let mut sb = Scrollback::with_page_lines(100_000, 16, 64);
            sb.set_visible(false);
            for line in rows {
                sb.push(format!("{line}\n").as_bytes());
            }
            if finish {
                sb.finish();
            }
            assert_eq!(&lines(&mut sb), rows, "hidden, finished: {finish}");
        }
    }

    #[test]
    fn an_evicted_buffer_keeps_nothing_but_pages_and_searches_everything_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.log");
        let mut log = File::create(&path).unwrap();
        let mut sb = Scrollback::with_page_lines(10_000, 16, 64);
        sb.set_log(Some(path.clone()));
        let mut all = Scrollback::new(usize::MAX);
        let push = |log: &mut File, sb: &mut Scrollback, all: &mut Scrollback, i: usize| {
            let chunk = match i % 4 {
                0 => format!("\x1b[3{}mcolour {i}\n", i % 8),
                1 => format!("plain {i} \u{fffd}\u{85}\x1b]0;t\x07 binary\n"),
                2 => format!("reset {i}\x1b[0m\n"),
                _ => format!("partial {i} "),
            };
            log.write_all(chunk.as_bytes()).unwrap();
            sb.push(chunk.as_bytes());
            all.push(chunk.as_bytes());
        };
        for i in 0..400 {
            push(&mut log, &mut sb, &mut all, i);
        }
        let held = sb.memory_bytes();
        sb.evict();
        assert!(sb.is_evicted());
        // Evicted while output keeps coming: skimmed as it arrives.
        for i in 400..800 {
            push(&mut log, &mut sb, &mut all, i);
        }
        log.flush().unwrap();
        let after = sb.memory_bytes();
        assert!(
            after < held / 4,
            "{after} bytes kept after eviction, {held} before"
        );
        assert_eq!(sb.line_count(), all.line_count());
        let n = all.line_count();
        assert_eq!(
            sb.lines(n - 20, 20),
            all.lines(n - 20, 20),
            "the newest lines"
        );
        assert_eq!(sb.lines(0, 30), all.lines(0, 30), "the oldest lines");
        assert_eq!(
            sb.lines(290, 40),
            all.lines(290, 40),
            "lines around the eviction"
        );
        assert_eq!(hits(&mut sb, "colour"), hits(&mut all, "colour"));
        assert_eq!(hits(&mut sb, "partial 799"), hits(&mut all, "partial 799"));
        // Viewed again: new lines are kept in memory once more.
        sb.keep();
        assert!(!sb.is_evicted());
        push(&mut log, &mut sb, &mut all, 800);
        log.flush().unwrap();
        let n = all.line_count();
        assert_eq!(sb.lines(n - 5, 5), all.lines(n - 5, 5));
    }

    #[test]
    fn catching_up_parses_only_the_lines_a_frame_shows_and_pages_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.log");
        let mut log = File::create(&path).unwrap();
        let mut sb = Scrollback::new(100_000);
        sb.set_log(Some(path.clone()));
        let mut all = Scrollback::new(usize::MAX);
        for i in 0..40 {
            let chunk: Vec<u8> = (0..500)
                .flat_map(|k| format!("\x1b[3{}mline {i}-{k}\x1b[0m\n", k % 8).into_bytes())
                .collect();
            log.write_all(&chunk).unwrap();
            sb.push(&chunk);
            all.push(&chunk);
        }
        log.flush().unwrap();
        assert!(sb.pending.bytes > CATCH_UP_FREE, "a flood is waiting");
        sb.catch_up(50);
        assert!(
            sb.pending.chunks.len() <= 2,
            "{} chunks left",
            sb.pending.chunks.len()
        );
        let n = all.line_count();
        assert_eq!(sb.line_count(), n);
        assert_eq!(sb.lines(n - 50, 50), all.lines(n - 50, 50));
        // The skimmed lines read back from the log, styles and all.
        assert_eq!(sb.lines(0, 40), all.lines(0, 40));
        assert_eq!(sb.lines(9_990, 20), all.lines(9_990, 20));
        assert_eq!(hits(&mut sb, "line 7-49"), hits(&mut all, "line 7-49"));
    }

    #[test]
    fn off_screen_a_flood_is_skimmed_not_parsed_and_pages_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.log");
        let mut log = File::create(&path).unwrap();
        let mut sb = Scrollback::new(10_000);
        sb.set_log(Some(path.clone()));
        sb.set_visible(false);
        let mut all = Scrollback::new(usize::MAX);
        // Binary-looking lines: invalid UTF-8, stray escapes, a colour now and then.
        for i in 0..64u32 {
            let mut chunk = Vec::new();
            for k in 0..400u32 {
                chunk.extend_from_slice(format!("\x1b[3{}m{i}-{k} ", k % 8).as_bytes());
                chunk.extend(
                    (0..200u32)
                        .map(|b| ((b * 7 + k + i) % 251 + 1) as u8)
                        .filter(|&b| b != b'\n'),
                );
                chunk.push(b'\n');
            }
            log.write_all(&chunk).unwrap();
            sb.push(&chunk);
            all.push(&chunk);
        }
        log.flush().unwrap();
        assert!(
            sb.parsed > 0 && sb.store.len < 10_000,
            "most of it was skimmed ({} lines in memory)",
            sb.store.len
        );
        sb.set_visible(true);
        let n = all.line_count();
        assert_eq!(sb.line_count(), n);
        assert_eq!(sb.lines(n - 40, 40), all.lines(n - 40, 40));
        assert_eq!(sb.lines(0, 10), all.lines(0, 10));
    }

    /// `push_plain_lines` of `lines` (each a range of `bytes`) after `before`, and what
    /// pushing the same lines as `\n`-ended bytes gives: lines, styles, count, and a search.
    fn plain_lines_and_pushed(
        cap: usize,
        before: &[u8],
        bytes: &[u8],
        lines: &[std::ops::Range<u32>],
    ) -> (Scrollback, Scrollback) {
        let mut direct = Scrollback::new(cap);
        let mut pushed = Scrollback::new(cap);
        direct.push(before);
        pushed.push(before);
        direct.push_plain_lines(bytes, lines);
        let mut joined = Vec::new();
        for r in lines {
            joined.extend_from_slice(&bytes[r.start as usize..r.end as usize]);
            joined.push(b'\n');
        }
        pushed.push(&joined);
        (direct, pushed)
    }

    fn same_history(a: &mut Scrollback, b: &mut Scrollback) {
        assert_eq!(a.line_count(), b.line_count());
        let n = a.line_count();
        assert_eq!(a.lines(0, n), b.lines(0, n));
        assert_eq!(plain(a), plain(b));
        assert_eq!(hits(a, "7"), hits(b, "7"));
        assert_eq!(a.store.len, b.store.len);
        assert_eq!(a.store.first, b.store.first);
        assert_eq!(a.store.index, b.store.index);
        assert_eq!((a.bytes_in, a.parsed), (b.bytes_in, b.parsed));
    }

    #[test]
    fn plain_lines_stored_directly_read_as_if_pushed() {
        let bytes: Vec<u8> = (0..300)
            .flat_map(|i| format!("tty-0 out {i:06} ~~~~\r\n").into_bytes())
            .collect();
        let line = bytes.len() / 300;
        let ranges: Vec<std::ops::Range<u32>> = (0..300)
            .map(|i| (i * line) as u32..((i + 1) * line - 2) as u32)
            .collect();
        // Straight into the store after lines that left the parser clean: nothing waits raw.
        let (mut direct, mut pushed) =
            plain_lines_and_pushed(1000, b"\x1b[31mred\x1b[m\n", &bytes, &ranges);
        assert!(direct.pending.chunks.is_empty());
        same_history(&mut direct, &mut pushed);
        // More lines than the cap: the oldest are evicted as when pushed.
        let (mut direct, mut pushed) = plain_lines_and_pushed(100, b"", &bytes, &ranges);
        assert_eq!(direct.line_count(), 300);
        same_history(&mut direct, &mut pushed);
        // Thousands more, after lines in memory: those are evicted, and the ones never
        // stored are indexed where they would have been (a page starts every 1,024 lines).
        let many: Vec<u8> = (0..5000)
            .flat_map(|i| format!("line {i} {}\r\n", "~".repeat(i % 13)).into_bytes())
            .collect();
        let mut at = 0;
        let many_ranges: Vec<std::ops::Range<u32>> = memchr::memchr_iter(b'\n', &many)
            .map(|end| {
                let r = at as u32..(end - 1) as u32;
                at = end + 1;
                r
            })
            .collect();
        let (mut direct, mut pushed) =
            plain_lines_and_pushed(100, b"before\nand more\n", &many, &many_ranges);
        assert_eq!(direct.store.index.len(), 5);
        same_history(&mut direct, &mut pushed);
        assert_eq!(
            direct.plain_line(5001),
            Some(format!("line 4999 {}", "~".repeat(4999 % 13)))
        );
        // The fallbacks: a partial line, a style carried over, a clipped line erased, a line
        // past the text cap.
        let clipped = [b"z".repeat(LINE_TEXT_CAP + 1), b"\r\x1b[K".to_vec()].concat();
        for before in [&b"partial "[..], b"\x1b[32mgreen\n", &clipped] {
            let (mut direct, mut pushed) = plain_lines_and_pushed(1000, before, &bytes, &ranges);
            same_history(&mut direct, &mut pushed);
        }
        assert_eq!(
            plain_lines_and_pushed(1000, b"partial ", &bytes, &ranges)
                .0
                .plain_line(0),
            Some("partial tty-0 out 000000 ~~~~".into())
        );
        let long = b"y".repeat(LINE_TEXT_CAP + 10);
        let (mut direct, mut pushed) = plain_lines_and_pushed(
            1000,
            b"",
            &long,
            &[std::ops::Range {
                start: 0,
                end: long.len() as u32,
            }],
        );
        same_history(&mut direct, &mut pushed);
        assert!(
            direct
                .plain_line(0)
                .is_some_and(|l| l.ends_with(CLIP_MARKER))
        );
    }

    #[test]
    fn a_steady_flood_reuses_its_blocks() {
        let mut sb = Scrollback::new(1000);
        let line = [b"x".repeat(99), b"\n".to_vec()].concat();
        let chunk = line.repeat(600);
        for _ in 0..10 {
            sb.push(&chunk);
            // Read as a visible pane is: every chunk is parsed, none skimmed.
            sb.line_count();
        }
        let blocks = sb.store.blocks.len();
        let memory = sb.memory_bytes();
        for _ in 0..100 {
            sb.push(&chunk);
            sb.line_count();
        }
        assert_eq!(sb.line_count(), 110 * 600);
        assert_eq!(sb.store.len, 1000);
        assert_eq!(sb.plain_line(110 * 600 - 1000), Some("x".repeat(99)));
        assert!(sb.store.blocks.len() <= blocks + 1);
        assert!(
            sb.memory_bytes() <= memory + BLOCK_BYTES * 2,
            "{}",
            sb.memory_bytes()
        );
        // 1,000 lines of 100 bytes, a block of evicted ones and a spare block.
        assert!(
            sb.memory_bytes() < 100_000 + 4 * BLOCK_BYTES,
            "{}",
            sb.memory_bytes()
        );
    }

    #[test]
    fn skims_a_chunk_exactly_once_cap_newer_lines_follow_it() {
        let mut sb = Scrollback::new(3).without_gathering();
        sb.push(b"x1\nx2\n");
        sb.push(b"y1\ny2\n");
        // Two newer lines: "x2" could still be among the last three, so nothing is taken in.
        assert_eq!(sb.store.completed(), 0);
        assert_eq!(sb.pending.chunks.len(), 2);
        sb.push(b"z\n");
        // Three newer lines: the first chunk is skimmed ("x1" parsed as the line in progress,
        // "x2" only counted), unread.
        assert_eq!(sb.pending.chunks.len(), 2);
        assert_eq!(sb.store.completed(), 2);
        assert_eq!(sb.store.len, 0);
        assert_eq!(sb.line_count(), 5);
        assert_eq!(plain(&mut sb)[2..], ["y1", "y2", "z"]);

        // A chunk ending inside a line: that line ends in the next chunk (whose newlines
        // count), and until then it is the parser's line in progress, so it is kept whole.
        let mut sb = Scrollback::new(2).without_gathering();
        sb.push(b"a\nb");
        sb.push(b"\nc\n");
        assert_eq!(sb.store.completed(), 1);
        assert!(sb.parser.has_partial());
        assert_eq!(sb.line_count(), 3);
        let kept: Vec<String> = sb.store.iter().map(|l| l.text().into_owned()).collect();
        assert_eq!(kept, ["b", "c"]);
    }

    #[test]
    fn raw_output_waiting_is_bounded_by_the_memory_it_holds() {
        // Line-buffered writes of a child far below the cap: gathered into chunks, whose
        // spare room counts against the limit too.
        let mut sb = Scrollback::new(100_000);
        let line = [b"y".repeat(99), b"\n".to_vec()].concat();
        for _ in 0..30_000 {
            sb.push(&line);
            assert!(sb.pending.bytes <= PENDING_CAP, "{}", sb.pending.bytes);
        }
        assert!(
            sb.pending.heap_bytes() <= PENDING_CAP + 64 * 1024,
            "{}",
            sb.pending.heap_bytes()
        );
        assert_eq!(sb.line_count(), 30_000);
        assert_eq!(sb.pending.bytes, 0);
    }

    #[test]
    fn a_hidden_flood_is_skimmed_and_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.log");
        let mut bytes = Vec::new();
        for i in 0..50_000 {
            if i % 1000 == 0 {
                bytes.extend_from_slice(format!("\x1b[3{}m", i / 1000 % 8).as_bytes());
            }
            bytes.extend_from_slice(
                format!("line {i:05} ~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n").as_bytes(),
            );
        }
        std::fs::write(&path, &bytes).unwrap();
        let mut hidden = Scrollback::new(1000);
        hidden.set_log(Some(path.clone()));
        let mut shown = Scrollback::new(1000);
        shown.set_log(Some(path));
        for chunk in bytes.chunks(64 * 1024) {
            hidden.push(chunk);
            shown.push(chunk);
            shown.line_count();
        }
        // Unread, the older chunks were only counted: no line of them was stored.
        assert!(
            hidden.store.completed() > 40_000,
            "{}",
            hidden.store.completed()
        );
        assert_eq!(hidden.store.len, 0);
        assert!(hidden.pending.newlines >= 1000);
        assert_eq!(hidden.line_count(), 50_000);
        assert_eq!(hidden.store.len, 1000);
        assert_eq!(hidden.store.index, shown.store.index);
        for i in [0, 999, 1000, 31_337, 48_999, 49_000, 49_999] {
            assert_eq!(hidden.lines(i, 1), shown.lines(i, 1), "line {i}");
        }
        assert_eq!(
            hidden.plain_line(31_337).as_deref(),
            Some("line 31337 ~~~~~~~~~~~~~~~~~~~~~~~~~~~~")
        );
    }

    #[test]
    fn finish_makes_partial_line_final_and_clear_forgets() {
        let mut sb = Scrollback::new(2);
        sb.push(b"a\nb");
        sb.finish();
        assert_eq!(sb.line_count(), 2);
        assert_eq!(sb.store.len, 2);
        sb.clear();
        assert_eq!(sb.line_count(), 0);
        assert_eq!(sb.plain_line(0), None);
        sb.push(b"\x1b[31mx\n");
        assert_eq!(
            sb.lines(0, 1),
            [Line::from(Span::styled("x", Style::new().red()))]
        );
    }

    #[test]
    fn search_plain_smart_case_and_regex() {
        let mut sb = Scrollback::new(10);
        sb.push(b"Error: one error\n\x1b[31merror\x1b[0m two\nnothing\r\npartial ERROR");
        assert_eq!(
            hits(&mut sb, "error"),
            [(0, 0, 5), (0, 11, 16), (1, 0, 5), (3, 8, 13)]
        );
        assert_eq!(hits(&mut sb, "Error"), [(0, 0, 5)]);
        assert_eq!(hits(&mut sb, ""), []);
        assert_eq!(hits(&mut sb, "a.b"), []);
        let re = regex::Regex::new(r"t\w+").unwrap();
        let found = sb.search(&Pattern::Regex(re));
        assert_eq!(
            found,
            [
                Hit {
                    line: 1,
                    start: 6,
                    end: 9
                },
                Hit {
                    line: 2,
                    start: 2,
                    end: 7
                },
                Hit {
                    line: 3,
                    start: 3,
                    end: 7
                },
            ]
        );
        let empty = regex::Regex::new("x*").unwrap();
        assert!(sb.search(&Pattern::Regex(empty)).is_empty());
    }

    #[test]
    fn backspace_moves_back() {
        assert_eq!(of(b"abc\x08X\n"), ["abX"]);
        assert_eq!(of(b"\x08\x08a\n"), ["a"]);
    }

    fn fragment() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => "[a-zA-Z ]{0,12}".prop_map(String::into_bytes),
            3 => Just(b"\n".to_vec()),
            1 => Just(b"\r".to_vec()),
            1 => Just(b"\r\n".to_vec()),
            1 => Just(b"\t".to_vec()),
            1 => Just(b"\x08".to_vec()),
            1 => Just(b"\x1b[1;31m".to_vec()),
            1 => Just(b"\x1b[0m".to_vec()),
            1 => Just(b"\x1b[38;2;1;2;3;48;5;200m".to_vec()),
            1 => Just(b"\x1b[2J\x1b[?25l".to_vec()),
            1 => Just(b"\x1b]0;title\x07".to_vec()),
            1 => Just(b"\x1b]8;;url\x1b\\".to_vec()),
            1 => Just(b"\x1b[K".to_vec()),
            1 => Just(b"\x1b[2K".to_vec()),
            1 => Just("é漢😀\u{301}".as_bytes().to_vec()),
            1 => Just(vec![0xff, 0xe6, 0xbc]),
            1 => prop::collection::vec(any::<u8>(), 0..8),
        ]
    }

    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(fragment(), 0..60).prop_map(|v| v.concat())
    }

    /// Like [`input`], plus long runs of plain lines (several KiB, past the 4 KiB stretches
    /// that `LineStore::skip` counts at a time), so that whole runs are skimmed.
    fn skim_input() -> impl Strategy<Value = Vec<u8>> {
        let part = prop_oneof![
            3 => fragment(),
            1 => ("[a-z ]{0,30}", 1usize..300)
                .prop_map(|(line, n)| format!("{line}\n").repeat(n).into_bytes()),
        ];
        prop::collection::vec(part, 0..40).prop_map(|v| v.concat())
    }

    /// A log file holding `bytes`, in a folder that lives as long as the returned guard.
    fn log_of(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("env.log");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    pub(super) fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut at = 0;
        for cut in cuts {
            out.push(bytes[at..cut].to_vec());
            at = cut;
        }
        out.push(bytes[at..].to_vec());
        out
    }

    proptest! {
        #[test]
        fn memory_lines_never_exceed_cap(
            cap in 1usize..6,
            block in 1usize..4,
            bytes in input(),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
        ) {
            let mut sb = Scrollback::with_page_lines(cap, PAGE_LINES, block);
            for chunk in chunks(&bytes, &cuts) {
                sb.push(&chunk);
                prop_assert!(sb.store.len <= cap);
                prop_assert!(sb.store.blocks.len() <= cap / block + 2);
            }
            sb.finish();
            prop_assert!(sb.store.len <= cap);
        }

        #[test]
        fn split_pushes_give_the_same_lines(
            bytes in input(),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
            finish in any::<bool>(),
        ) {
            let mut whole = Scrollback::new(usize::MAX);
            whole.push(&bytes);
            let mut split = Scrollback::new(usize::MAX);
            for chunk in chunks(&bytes, &cuts) {
                split.push(&chunk);
            }
            if finish {
                whole.finish();
                split.finish();
            }
            prop_assert_eq!(whole.line_count(), split.line_count());
            let n = whole.line_count();
            prop_assert_eq!(whole.lines(0, n), split.lines(0, n));
        }

        #[test]
        fn paging_from_log_matches_uncapped(
            cap in 1usize..5,
            page in 1usize..6,
            block in 1usize..4,
            bytes in input(),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
            finish in any::<bool>(),
        ) {
            let (_dir, path) = log_of(&bytes);
            let mut small = Scrollback::with_page_lines(cap, page, block);
            small.set_log(Some(path));
            let mut all = Scrollback::new(usize::MAX);
            for chunk in chunks(&bytes, &cuts) {
                small.push(&chunk);
                all.push(&chunk);
            }
            if finish {
                small.finish();
                all.finish();
            }
            let n = all.line_count();
            prop_assert_eq!(small.line_count(), n);
            for i in 0..n {
                prop_assert_eq!(small.plain_line(i), all.plain_line(i), "line {}", i);
            }
            prop_assert_eq!(small.lines(0, n), all.lines(0, n));
            for q in ["a", "A", " "] {
                prop_assert_eq!(hits(&mut small, q), hits(&mut all, q));
            }
            let re = regex::Regex::new("[a-c]+|é").unwrap();
            prop_assert_eq!(
                small.search(&Pattern::Regex(re.clone())),
                all.search(&Pattern::Regex(re))
            );
        }

        #[test]
        fn skimming_unread_output_matches_parsing_it_all(
            cap in 1usize..40,
            // Small pages index lines inside every 4 KiB stretch; large ones leave stretches
            // that are only counted.
            page in prop_oneof![1usize..6, 100usize..400],
            block in 1usize..4,
            bytes in skim_input(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            reads in any::<u16>(),
            gather in any::<bool>(),
            finish in any::<bool>(),
        ) {
            let (_dir, path) = log_of(&bytes);
            let mut lazy = Scrollback::with_page_lines(cap, page, block);
            if !gather {
                lazy = lazy.without_gathering();
            }
            lazy.set_log(Some(path.clone()));
            let mut eager = Scrollback::with_page_lines(cap, page, block);
            eager.set_log(Some(path));
            for (k, chunk) in chunks(&bytes, &cuts).into_iter().enumerate() {
                lazy.push(&chunk);
                eager.push(&chunk);
                // The eager one is read after every chunk, as a visible pane; the lazy one
                // only now and then, as a hidden one.
                let n = eager.line_count();
                if reads & (1 << (k % 16)) != 0 {
                    prop_assert_eq!(lazy.line_count(), n);
                }
            }
            if finish {
                lazy.finish();
                eager.finish();
            }
            let n = eager.line_count();
            prop_assert_eq!(lazy.line_count(), n);
            prop_assert_eq!(lazy.store.first, eager.store.first);
            prop_assert_eq!(lazy.store.len, eager.store.len);
            prop_assert_eq!(&lazy.store.index, &eager.store.index);
            // The very lines kept in memory (paging would hide a line evicted too early).
            let in_memory = |sb: &Scrollback| {
                sb.store
                    .iter()
                    .map(|l| (l.text.to_vec(), l.runs.to_vec()))
                    .collect::<Vec<_>>()
            };
            prop_assert_eq!(in_memory(&lazy), in_memory(&eager));
            prop_assert_eq!(lazy.lines(0, n), eager.lines(0, n));
            let re = regex::Regex::new("[a-c]+|é").unwrap();
            prop_assert_eq!(
                lazy.search(&Pattern::Regex(re.clone())),
                eager.search(&Pattern::Regex(re))
            );
            // More output after the reads carries the same style.
            lazy.push(b"tail\n");
            eager.push(b"tail\n");
            let n = eager.line_count();
            prop_assert_eq!(lazy.lines(0, n), eager.lines(0, n));
        }

        #[test]
        fn carriage_return_matches_reference_model(text in "[a-e\r\n]{0,200}") {
            let mut expected = Vec::new();
            let mut line: Vec<char> = Vec::new();
            let mut col = 0;
            for c in text.chars() {
                match c {
                    '\n' => {
                        expected.push(line.iter().collect::<String>());
                        line.clear();
                        col = 0;
                    }
                    '\r' => col = 0,
                    _ => {
                        if col < line.len() {
                            line[col] = c;
                        } else {
                            line.push(c);
                        }
                        col += 1;
                    }
                }
            }
            if !line.is_empty() {
                expected.push(line.iter().collect());
            }
            prop_assert_eq!(of(text.as_bytes()), expected);
        }
    }
}
