//! One env's output history for the TUI: a bounded, line-oriented buffer fed with the raw bytes
//! read from the child's pipe.
//!
//! This module owns turning those bytes into safe, styled lines: it splits on `\n`, applies `\r`
//! overwrites, keeps SGR colours and attributes (carried from line to line the way a terminal
//! does), and drops every other escape sequence and control character, so nothing a child writes
//! can ever reach the real terminal raw. Memory is bounded four ways: at most `cap_lines` lines
//! (stored back to back in blocks of about 64 KiB, so besides them at most a block of
//! evicted lines and one spare block), at most [`LINE_TEXT_CAP`] bytes of text per line, no
//! storage at all for escape sequences beyond a fixed parameter array, and at most
//! [`PENDING_CAP`] raw bytes not parsed yet ([`PENDING_FREE`] unless they are short lines).
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

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Most bytes of text one line keeps in memory; the rest is dropped and [`CLIP_MARKER`] appended.
pub const LINE_TEXT_CAP: usize = 16 * 1024;

/// Appended to a line that was longer than [`LINE_TEXT_CAP`].
pub const CLIP_MARKER: &str = " … [line clipped]";

/// Lines per sparse-index entry, and per page read back from the log.
pub const PAGE_LINES: usize = 1024;

/// Most style changes kept per line; later changes in that line keep the last kept style.
const LINE_RUN_CAP: usize = 1024;

/// Longest CSI sequence whose parameters are parsed; a longer one is swallowed unparsed.
const ESCAPE_CAP: usize = 256;

/// Most numeric parameters kept for one CSI sequence.
const MAX_PARAMS: usize = 32;

/// Longest SGR sequence body (after `ESC [`) that [`Parser::sgr_fast`] parses in one go.
const SGR_FAST_CAP: usize = 64;

/// Pages of evicted lines kept parsed, so scrolling across a page boundary doesn't re-read.
const PAGE_CACHE: usize = 2;

/// Bytes read from the log at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Cell capacity above which the working line's buffer is shrunk after the line ends.
const CELLS_KEEP: usize = 4096;

/// Most raw bytes kept unparsed per env; past it the oldest are parsed at once.
pub const PENDING_CAP: usize = 2 * 1024 * 1024;

/// Raw bytes always allowed to wait unparsed. Past this, they wait only while they average at
/// most [`PENDING_LINE_BYTES`] per line: long lines and progress bars (no newline) are stored
/// clipped or overwritten once parsed, so keeping them raw would cost memory and save nothing.
pub const PENDING_FREE: usize = 64 * 1024;

/// See [`PENDING_FREE`].
pub const PENDING_LINE_BYTES: usize = 512;

/// Lines in a row with escape sequences after which [`Scrollback::skim`] parses the rest of a
/// chunk in one go.
const SKIM_GIVE_UP: usize = 8;

/// A pushed chunk shorter than this is appended to the previous pending chunk.
const CHUNK_MIN: usize = 4 * 1024;

/// Bytes of text after which the history starts a new [`Block`].
const BLOCK_BYTES: usize = 64 * 1024;

/// Lines after which the history starts a new [`Block`] (lines can be empty).
const BLOCK_LINES: usize = 1024;

const ESC: u8 = 0x1b;

/// Printable ASCII: a byte the parser stores as a one-column character of its own.
fn is_plain(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// How many bytes at the start of `bytes` are printable ASCII.
///
/// The scan that finds the end of every line, so it looks at 16 bytes per step without a branch
/// per byte (the compiler turns each step into a few vector instructions), then finds the exact
/// byte inside the step that failed.
fn plain_prefix(bytes: &[u8]) -> usize {
    const STEP: usize = 16;
    let mut done = 0;
    for chunk in bytes.chunks_exact(STEP) {
        if !chunk.iter().fold(true, |all, &b| all & is_plain(b)) {
            break;
        }
        done += STEP;
    }
    let rest = bytes.get(done..).unwrap_or_default();
    done + rest
        .iter()
        .position(|&b| !is_plain(b))
        .unwrap_or(rest.len())
}

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
    history: History,
    /// Total bytes pushed since the last clear: the log offset of the next byte.
    bytes_in: u64,
    /// Bytes parsed or skimmed: the log offset of the oldest pending byte.
    parsed: u64,
    /// Chunks pushed but not parsed yet, oldest first.
    pending: Pending,
    log: Option<PathBuf>,
    /// Most recently used page last.
    pages: VecDeque<Page>,
}

impl Scrollback {
    /// An empty history keeping at most `cap_lines` lines in memory (at least one).
    pub fn new(cap_lines: usize) -> Self {
        Self {
            parser: Parser::new(Pen::default()),
            history: History::new(cap_lines.max(1), PAGE_LINES),
            bytes_in: 0,
            parsed: 0,
            pending: Pending::default(),
            log: None,
            pages: VecDeque::new(),
        }
    }

    /// Names the log file that holds the pushed bytes from offset 0; `None` forgets it.
    ///
    /// Lines evicted from memory are read back from it. [`Scrollback::clear`] forgets the log too,
    /// so a rerun calls `clear()` and then `set_log` with the new path.
    pub fn set_log(&mut self, path: Option<PathBuf>) {
        self.log = path;
        self.pages.clear();
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
        self.pending.push(bytes);
        // The oldest chunk's lines are all evicted once `cap` newer lines follow it.
        while self.pending.chunks.len() > 1
            && let Some(front) = self.pending.chunks.front()
            && self.pending.newlines - front.newlines >= self.history.cap
        {
            if let Some(chunk) = self.pending.pop() {
                self.skim(&chunk.bytes);
            }
        }
        while self.pending.too_big()
            && let Some(chunk) = self.pending.pop()
        {
            self.parse(&chunk.bytes);
        }
    }

    /// Parses every pending chunk: called before anything is read.
    fn settle(&mut self) {
        while let Some(chunk) = self.pending.pop() {
            self.parse(&chunk.bytes);
        }
    }

    /// Parses `bytes`, the next ones after `parsed`, into the history.
    fn parse(&mut self, bytes: &[u8]) {
        let base = self.parsed;
        let history = &mut self.history;
        // The callback never breaks, so neither does `feed`.
        let _ = self.parser.feed(bytes, &mut |parser, end| {
            history.commit(parser, base + end as u64);
            ControlFlow::Continue(())
        });
        self.parsed += bytes.len() as u64;
    }

    /// Takes in `bytes`, the next ones after `parsed`, whose complete lines are all evicted by
    /// lines that follow: a line the parser has started, a line with an escape sequence (which
    /// may change the style of the lines after it) and a trailing partial line are parsed;
    /// every other line is only counted and indexed. A line starts right after a newline,
    /// where the parser is back in its ground state with only the style carried, so skipping
    /// whole lines without escape sequences leaves it exactly as parsing them would.
    fn skim(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        // Lines in a row that had to be parsed: past a few, escape sequences are everywhere
        // (coloured output) and parsing the rest in one go is cheaper than looking for gaps.
        let mut parsed_in_a_row = 0;
        loop {
            // Up to and including the next newline: the line in progress, or one with an
            // escape sequence, or (no newline) the trailing partial line.
            let Some(newline) = memchr::memchr(b'\n', rest) else {
                self.parse(rest);
                return;
            };
            let (line, after) = rest.split_at(newline + 1);
            self.parse(line);
            rest = after;
            let plain = memchr::memchr(ESC, rest).unwrap_or(rest.len());
            if let Some(last) = memchr::memrchr(b'\n', rest.get(..plain).unwrap_or_default()) {
                let (lines, after) = rest.split_at(last + 1);
                self.history.skip(lines, self.parsed, self.parser.pen);
                self.parsed += lines.len() as u64;
                rest = after;
                parsed_in_a_row = 0;
            } else {
                parsed_in_a_row += 1;
                if parsed_in_a_row >= SKIM_GIVE_UP {
                    self.parse(rest);
                    return;
                }
            }
        }
    }

    /// The env ended: an incomplete character becomes U+FFFD and a trailing partial line is final.
    pub fn finish(&mut self) {
        self.settle();
        if self.parser.finish() {
            self.history.commit(&self.parser, self.bytes_in);
            self.parser.reset_line();
        }
    }

    /// Forgets everything, the log path included (a rerun).
    pub fn clear(&mut self) {
        let (page_lines, block_lines) = (self.history.page_lines, self.history.block_lines);
        self.parser = Parser::new(Pen::default());
        self.history = History::new(self.history.cap, page_lines);
        self.history.block_lines = block_lines;
        self.bytes_in = 0;
        self.parsed = 0;
        self.pending = Pending {
            chunk_min: self.pending.chunk_min,
            ..Pending::default()
        };
        self.log = None;
        self.pages.clear();
    }

    /// Lines in the whole history: evicted ones, ones in memory, and a trailing partial line.
    pub fn line_count(&mut self) -> usize {
        self.settle();
        self.history.completed() + usize::from(self.parser.has_partial())
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
        let first = self.history.first;
        if first > 0
            && let (Some(path), Some(&start)) = (&self.log, self.history.index.first())
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
        for (k, line) in self.history.iter().enumerate() {
            find_hits(re, &line.text(), first + k, &mut hits);
        }
        if let Some(partial) = self.parser.partial()
            && let Some(line) = partial.get(0)
        {
            find_hits(re, &line.text(), self.history.completed(), &mut hits);
        }
        hits
    }

    /// Approximate heap use in bytes, for tests and benches.
    pub fn memory_bytes(&self) -> usize {
        let pages: usize = self.pages.iter().map(|page| page.lines.heap_bytes()).sum();
        size_of::<Self>()
            + self.history.heap_bytes()
            + self.parser.cells.capacity() * size_of::<Cell>()
            + self.parser.fast.capacity()
            + self.parser.fast_runs.capacity() * size_of::<Run>()
            + self.log.as_ref().map_or(0, |p| p.as_os_str().len())
            + self.pending.heap_bytes()
            + pages
    }

    /// Applies `f` to line `index`, wherever it lives: memory, the working line, or the log.
    fn with_line<R>(&mut self, index: usize, f: impl FnOnce(LineRef<'_>) -> R) -> Option<R> {
        self.settle();
        let first = self.history.first;
        if index < first {
            return self.evicted_line(index).map(f);
        }
        if let Some(line) = self.history.get(index - first) {
            return Some(f(line));
        }
        if index == self.history.completed() {
            return self.parser.partial()?.get(0).map(f);
        }
        None
    }

    /// An evicted line, from the page cache or re-parsed from the log.
    fn evicted_line(&mut self, index: usize) -> Option<LineRef<'_>> {
        let per_page = self.history.page_lines;
        let number = index / per_page;
        let within = index % per_page;
        let cached = self.pages.iter().position(|page| page.number == number);
        let page = match cached.and_then(|pos| self.pages.remove(pos)) {
            Some(page) if page.lines.len() > within => page,
            // The log had fewer lines than expected (not flushed yet, or unreadable): read it
            // again only once more bytes have arrived, not once per rendered line.
            Some(page) if page.loaded_at == self.bytes_in => {
                self.pages.push_back(page);
                return None;
            }
            _ => {
                let page = self.load_page(number)?;
                if self.pages.len() >= PAGE_CACHE {
                    self.pages.pop_front();
                }
                page
            }
        };
        self.pages.push_back(page);
        self.pages.back().and_then(|page| page.lines.get(within))
    }

    /// Re-parses page `number` from the log, starting at its index entry.
    fn load_page(&self, number: usize) -> Option<Page> {
        let path = self.log.as_deref()?;
        let start = *self.history.index.get(number)?;
        let per_page = self.history.page_lines;
        let want = per_page.min(self.history.completed().saturating_sub(number * per_page));
        let mut lines = Block::default();
        // On a read error the lines parsed so far are still right; the rest come back empty.
        let _ = scan_log(path, start, self.bytes_in, |line| {
            lines.push(line);
            if lines.len() >= want {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        Some(Page {
            number,
            lines,
            loaded_at: self.bytes_in,
        })
    }

    /// Test seam: index every `n`th line instead of every [`PAGE_LINES`]th, and store at most
    /// `block` lines per block instead of [`BLOCK_LINES`].
    #[cfg(test)]
    fn with_page_lines(cap_lines: usize, n: usize, block: usize) -> Self {
        let mut sb = Self::new(cap_lines);
        sb.history.page_lines = n.max(1);
        sb.history.block_lines = block.max(1);
        sb
    }

    /// Test seam: never gather pushed chunks, so that small inputs are skimmed chunk by chunk.
    #[cfg(test)]
    fn without_gathering(mut self) -> Self {
        self.pending.chunk_min = 0;
        self
    }
}

/// Complete lines in memory plus the sparse index over the whole history.
///
/// Lines live in a few large [`Block`]s instead of two allocations each: a flood of short lines
/// would otherwise spend most of its time in `malloc` and `free` (one line in, one line evicted).
/// Evicting a line only moves `first`; a block is dropped once all its lines are evicted, and
/// kept as the next block's storage, so a steady flood allocates nothing.
#[derive(Debug)]
struct History {
    cap: usize,
    page_lines: usize,
    /// Most lines per block: [`BLOCK_LINES`] (a test seam).
    block_lines: usize,
    /// Oldest first. Lines `[first, first + len)` of the whole history are in memory: the
    /// front block may also hold up to a block of lines already evicted.
    blocks: VecDeque<Block>,
    /// A block no longer in use, kept for its capacity.
    spare: Option<Block>,
    /// Lines in memory.
    len: usize,
    /// Index of the oldest line in memory in the whole history: how many lines were evicted.
    first: usize,
    /// `index[k]` is where line `k * page_lines` starts.
    index: Vec<Checkpoint>,
}

impl History {
    fn new(cap: usize, page_lines: usize) -> Self {
        Self {
            cap,
            page_lines,
            block_lines: BLOCK_LINES,
            blocks: VecDeque::new(),
            spare: None,
            len: 0,
            first: 0,
            index: vec![Checkpoint {
                offset: 0,
                pen: Pen::default(),
            }],
        }
    }

    /// Complete lines in the whole history.
    fn completed(&self) -> usize {
        self.first + self.len
    }

    /// Line `k` of those in memory (`0` is the oldest).
    fn get(&self, k: usize) -> Option<LineRef<'_>> {
        if k >= self.len {
            return None;
        }
        let index = self.first + k;
        let after = self.blocks.partition_point(|block| block.start <= index);
        let block = self.blocks.get(after.checked_sub(1)?)?;
        block.get(index - block.start)
    }

    /// The lines in memory, oldest first.
    fn iter(&self) -> impl Iterator<Item = LineRef<'_>> {
        let dead = self.blocks.front().map_or(0, |b| self.first - b.start);
        self.blocks
            .iter()
            .flat_map(|block| (0..block.len()).filter_map(|k| block.get(k)))
            .skip(dead)
    }

    /// Appends the line `parser` just ended; `next` is where the following line starts.
    fn commit(&mut self, parser: &Parser, next: u64) {
        let completed = self.completed();
        let block = match self.blocks.back_mut() {
            Some(block) if !block.is_full(self.block_lines) => block,
            _ => {
                let mut block = self.spare.take().unwrap_or_default();
                block.clear();
                block.start = completed;
                self.blocks.push_back(block);
                // Just pushed, so there is a back block.
                let Some(block) = self.blocks.back_mut() else {
                    return;
                };
                block
            }
        };
        parser.store_line(block);
        self.len += 1;
        if self.completed().is_multiple_of(self.page_lines) {
            self.index.push(Checkpoint {
                offset: next,
                pen: parser.pen,
            });
        }
        while self.len > self.cap {
            self.len -= 1;
            self.first += 1;
            if let Some(front) = self.blocks.front()
                && front.start + front.len() <= self.first
            {
                self.spare = self.blocks.pop_front();
            }
        }
    }

    /// Takes in whole lines that are evicted as they come, never stored (see
    /// [`Scrollback::skim`]): `lines` starts at log offset `base` and ends with a newline, and
    /// `pen` is the style all through it. Every line in memory is older than them, and the
    /// caller has at least `cap` newer lines to commit, so those are evicted now. Newlines are
    /// counted a stretch at a time; only a stretch holding the start of a page is walked
    /// newline by newline, to index it.
    fn skip(&mut self, lines: &[u8], base: u64, pen: Pen) {
        const STRETCH: usize = 4096;
        self.first += self.len;
        self.len = 0;
        while let Some(block) = self.blocks.pop_front() {
            self.spare = Some(block);
        }
        let mut at = base;
        for stretch in lines.chunks(STRETCH) {
            let count = memchr::memchr_iter(b'\n', stretch).count();
            if (self.first + count) / self.page_lines == self.first / self.page_lines {
                self.first += count;
            } else {
                for end in memchr::memchr_iter(b'\n', stretch) {
                    self.first += 1;
                    if self.first.is_multiple_of(self.page_lines) {
                        self.index.push(Checkpoint {
                            offset: at + end as u64 + 1,
                            pen,
                        });
                    }
                }
            }
            at += stretch.len() as u64;
        }
    }

    /// Heap bytes held, evicted lines still in a block and the spare block included.
    fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * size_of::<Block>()
            + self.blocks.iter().map(Block::heap_bytes).sum::<usize>()
            + self.spare.as_ref().map_or(0, Block::heap_bytes)
            + self.index.capacity() * size_of::<Checkpoint>()
    }
}

/// Raw output not parsed yet, oldest first, with its count of newlines.
#[derive(Debug)]
struct Pending {
    chunks: VecDeque<Chunk>,
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

#[derive(Debug)]
struct Chunk {
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
                self.chunks.push_back(Chunk { bytes, newlines });
            }
        }
    }

    /// Whether the oldest chunk must be parsed now (see [`PENDING_FREE`]).
    fn too_big(&self) -> bool {
        self.bytes > PENDING_CAP
            || (self.bytes > PENDING_FREE
                && self.bytes > self.newlines.saturating_mul(PENDING_LINE_BYTES))
    }

    fn pop(&mut self) -> Option<Chunk> {
        let chunk = self.chunks.pop_front()?;
        self.bytes -= chunk.bytes.capacity();
        self.newlines -= chunk.newlines;
        Some(chunk)
    }

    fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * size_of::<Chunk>() + self.bytes
    }
}

/// Where a line starts in the log and the parser state needed to restart there.
///
/// A line always starts right after a `\n`, which ends every escape sequence and incomplete
/// character, so the style is the only state to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpoint {
    offset: u64,
    pen: Pen,
}

/// Parsed lines `[number * page_lines, ..)` read back from the log.
#[derive(Debug)]
struct Page {
    number: usize,
    lines: Block,
    /// `bytes_in` when the page was read.
    loaded_at: u64,
}

/// Reads the log from `start` up to byte `limit`, handing each parsed line to `on_line` until it
/// breaks. A line cut by `limit` counts as complete (it was ended by `finish`); one cut by the end
/// of the file does not (the rest isn't written yet).
fn scan_log(
    path: &Path,
    start: Checkpoint,
    limit: u64,
    mut on_line: impl FnMut(LineRef<'_>) -> ControlFlow<()>,
) -> io::Result<()> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start.offset))?;
    let mut remaining = limit.saturating_sub(start.offset);
    let mut parser = Parser::new(start.pen);
    let mut buf = vec![0; READ_CHUNK];
    let mut line = Block::default();
    let mut emit = |parser: &Parser| {
        line.clear();
        parser.store_line(&mut line);
        line.get(0).map_or(ControlFlow::Continue(()), &mut on_line)
    };
    while remaining > 0 {
        let want = remaining.min(READ_CHUNK as u64) as usize;
        let Some(chunk) = buf.get_mut(..want) else {
            return Ok(());
        };
        let n = match file.read(chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        remaining -= n as u64;
        let flow = parser.feed(chunk.get(..n).unwrap_or_default(), &mut |parser, _| {
            emit(parser)
        });
        if flow.is_break() {
            return Ok(());
        }
    }
    if parser.finish() {
        let _ = emit(&parser);
    }
    Ok(())
}

fn find_hits(re: &regex::Regex, text: &str, line: usize, hits: &mut Vec<Hit>) {
    hits.extend(re.find_iter(text).filter(|m| !m.is_empty()).map(|m| Hit {
        line,
        start: m.start(),
        end: m.end(),
    }));
}

/// An SGR colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Colour {
    #[default]
    Default,
    Indexed(u8),
    Rgb(u8, u8, u8),
}

impl Colour {
    fn to_color(self) -> Option<Color> {
        const NAMED: [Color; 16] = [
            Color::Black,
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::Gray,
            Color::DarkGray,
            Color::LightRed,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightCyan,
            Color::White,
        ];
        match self {
            Self::Default => None,
            Self::Indexed(n) => Some(
                NAMED
                    .get(usize::from(n))
                    .copied()
                    .unwrap_or(Color::Indexed(n)),
            ),
            Self::Rgb(r, g, b) => Some(Color::Rgb(r, g, b)),
        }
    }
}

const BOLD: u8 = 1;
const DIM: u8 = 2;
const ITALIC: u8 = 4;
const UNDERLINE: u8 = 8;
const REVERSE: u8 = 16;
const CROSSED: u8 = 32;

/// The current SGR state, compact so that cells, runs and checkpoints stay small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Pen {
    fg: Colour,
    bg: Colour,
    attrs: u8,
}

impl Pen {
    const MARKER: Self = Self {
        fg: Colour::Default,
        bg: Colour::Default,
        attrs: DIM,
    };

    fn style(self) -> Style {
        let mut style = Style::default();
        if let Some(fg) = self.fg.to_color() {
            style = style.fg(fg);
        }
        if let Some(bg) = self.bg.to_color() {
            style = style.bg(bg);
        }
        let mut modifier = Modifier::empty();
        for (bit, m) in [
            (BOLD, Modifier::BOLD),
            (DIM, Modifier::DIM),
            (ITALIC, Modifier::ITALIC),
            (UNDERLINE, Modifier::UNDERLINED),
            (REVERSE, Modifier::REVERSED),
            (CROSSED, Modifier::CROSSED_OUT),
        ] {
            if self.attrs & bit != 0 {
                modifier |= m;
            }
        }
        if modifier.is_empty() {
            style
        } else {
            style.add_modifier(modifier)
        }
    }

    /// Applies one SGR sequence; bit `i` of `colon` says parameter `i` followed a `:`.
    fn apply_sgr(&mut self, params: &[u16], colon: u32) {
        if params.is_empty() {
            *self = Self::default();
            return;
        }
        let mut i = 0;
        while let Some(&p) = params.get(i) {
            let mut end = i + 1;
            while end < params.len() && colon & (1 << end) != 0 {
                end += 1;
            }
            let sub = params.get(i + 1..end).unwrap_or_default();
            match p {
                0 => *self = Self::default(),
                1 => self.attrs |= BOLD,
                2 => self.attrs |= DIM,
                3 => self.attrs |= ITALIC,
                4 if sub.first() == Some(&0) => self.attrs &= !UNDERLINE,
                4 => self.attrs |= UNDERLINE,
                7 => self.attrs |= REVERSE,
                9 => self.attrs |= CROSSED,
                22 => self.attrs &= !(BOLD | DIM),
                23 => self.attrs &= !ITALIC,
                24 => self.attrs &= !UNDERLINE,
                27 => self.attrs &= !REVERSE,
                29 => self.attrs &= !CROSSED,
                30..=37 => self.fg = Colour::Indexed((p - 30) as u8),
                39 => self.fg = Colour::Default,
                40..=47 => self.bg = Colour::Indexed((p - 40) as u8),
                49 => self.bg = Colour::Default,
                90..=97 => self.fg = Colour::Indexed((p - 90 + 8) as u8),
                100..=107 => self.bg = Colour::Indexed((p - 100 + 8) as u8),
                38 | 48 => {
                    let colour = if sub.is_empty() {
                        // The `38;5;n` / `38;2;r;g;b` form takes the following parameters.
                        let rest = params.get(end..).unwrap_or_default();
                        let (colour, used) = extended_colour(rest, false);
                        end += used;
                        colour
                    } else {
                        extended_colour(sub, true).0
                    };
                    if let Some(colour) = colour {
                        if p == 38 {
                            self.fg = colour;
                        } else {
                            self.bg = colour;
                        }
                    }
                }
                _ => {}
            }
            i = end;
        }
    }
}

/// Parses `5;n` or `2;r;g;b` (or their `:` forms, where `2` may carry a colour-space id first).
/// Returns the colour and how many parameters it used.
fn extended_colour(rest: &[u16], colon_form: bool) -> (Option<Colour>, usize) {
    let byte = |v: u16| v.min(255) as u8;
    match rest {
        [5, n, ..] => (Some(Colour::Indexed(byte(*n))), 2),
        [2, _, r, g, b, ..] if colon_form => (Some(Colour::Rgb(byte(*r), byte(*g), byte(*b))), 5),
        [2, r, g, b, ..] => (Some(Colour::Rgb(byte(*r), byte(*g), byte(*b))), 4),
        [_, ..] => (None, rest.len()),
        [] => (None, 0),
    }
}

/// One column-ish unit of the working line. `'\0'` marks a blank no one wrote (tab, erase,
/// half of an overwritten wide character): shown as a space, dropped at the end of a line.
#[derive(Debug, Clone, Copy)]
struct Cell {
    ch: char,
    pen: Pen,
    width: u8,
}

const BLANK: Cell = Cell {
    ch: '\0',
    pen: Pen {
        fg: Colour::Default,
        bg: Colour::Default,
        attrs: 0,
    },
    width: 1,
};

/// From byte `at` of the line's text on, `pen` applies (until the next run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    at: u32,
    pen: Pen,
}

/// Finished lines stored back to back: their text in one buffer, their style runs in another.
///
/// Only text that is valid UTF-8 is ever appended (printable ASCII checked byte by byte, encoded
/// characters, [`CLIP_MARKER`]), and always whole lines.
#[derive(Debug, Default)]
struct Block {
    /// Index in the whole history of line 0 (the history's blocks; pages don't use it).
    start: usize,
    text: Vec<u8>,
    runs: Vec<Run>,
    /// Where each line's text and runs end in `text` and `runs`.
    ends: Vec<LineEnd>,
}

#[derive(Debug, Clone, Copy)]
struct LineEnd {
    text: u32,
    runs: u32,
}

impl Block {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_full(&self, most_lines: usize) -> bool {
        self.text.len() >= BLOCK_BYTES || self.ends.len() >= most_lines
    }

    fn clear(&mut self) {
        self.text.clear();
        self.runs.clear();
        self.ends.clear();
    }

    /// Line `k` of the block.
    fn get(&self, k: usize) -> Option<LineRef<'_>> {
        let end = self.ends.get(k)?;
        let begin = k
            .checked_sub(1)
            .and_then(|prev| self.ends.get(prev))
            .map_or((0, 0), |e| (e.text as usize, e.runs as usize));
        Some(LineRef {
            text: self.text.get(begin.0..end.text as usize)?,
            runs: self.runs.get(begin.1..end.runs as usize)?,
        })
    }

    /// Appends a copy of `line`.
    fn push(&mut self, line: LineRef<'_>) {
        self.text.extend_from_slice(line.text);
        self.runs.extend_from_slice(line.runs);
        self.end_line();
    }

    /// Ends the line made of everything appended to `text` and `runs` since the last one ended.
    fn end_line(&mut self) {
        self.ends.push(LineEnd {
            text: self.text.len() as u32,
            runs: self.runs.len() as u32,
        });
    }

    fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.runs.capacity() * size_of::<Run>()
            + self.ends.capacity() * size_of::<LineEnd>()
    }
}

/// A finished line, borrowed from a [`Block`]: its text and where its style changes (offsets
/// into the text). Text before the first run has the default style.
#[derive(Debug, Clone, Copy)]
struct LineRef<'a> {
    text: &'a [u8],
    runs: &'a [Run],
}

impl<'a> LineRef<'a> {
    /// The text; a [`Block`] only holds valid UTF-8, so this borrows.
    fn text(self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.text)
    }

    fn to_line(self) -> Line<'static> {
        if self.text.is_empty() {
            return Line::default();
        }
        let text = self.text();
        let span = |from: usize, to: usize, pen: Pen| {
            Span::styled(
                text.get(from..to).unwrap_or_default().to_owned(),
                pen.style(),
            )
        };
        let mut spans = Vec::with_capacity(self.runs.len() + 1);
        let mut at = 0;
        let mut pen = Pen::default();
        for run in self.runs {
            let next = run.at as usize;
            if next > at {
                spans.push(span(at, next, pen));
            }
            at = next;
            pen = run.pen;
        }
        if text.len() > at {
            spans.push(span(at, text.len(), pen));
        }
        Line::from(spans)
    }
}

/// Where the escape-sequence state machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After `ESC`.
    Escape,
    /// After `ESC` and intermediate bytes, waiting for the final byte.
    EscIntermediate,
    /// In a CSI sequence, collecting parameters.
    Csi,
    /// In a CSI sequence too long to parse: swallow it up to its final byte.
    CsiIgnore,
    /// In an OSC, DCS, SOS, PM or APC string: swallow it up to BEL or ST.
    Str,
    /// After `ESC` inside a string: `\` ends it, anything else starts a new sequence.
    StrEsc,
}

/// The streaming byte-to-line parser, shared by live pushes and log re-reads so both give the
/// same lines.
#[derive(Debug)]
struct Parser {
    state: State,
    pen: Pen,
    params: [u16; MAX_PARAMS],
    n_params: usize,
    colon: u32,
    /// A private marker or intermediate byte was seen: the sequence is neither SGR nor EL.
    csi_private: bool,
    seq_len: usize,
    utf8: [u8; 4],
    utf8_have: usize,
    utf8_need: usize,
    /// The working line while it is plain appended text: printable ASCII only, written at the
    /// end of the line, with no `\r`, backspace, tab or erase since the line began. While it is
    /// non-empty `cells` is empty; any edit other than appending first turns it into cells.
    fast: Vec<u8>,
    /// Where the style changes in `fast`, exactly as [`Parser::store_line`] records them for cells
    /// (never more than [`LINE_RUN_CAP`], so every byte's pen is known).
    fast_runs: Vec<Run>,
    /// The pen of the last run in `fast_runs` (the default pen when there is none).
    fast_pen: Pen,
    /// The working line once it is not plain appended text (see `fast`).
    cells: Vec<Cell>,
    /// Index in `cells` where the next character goes.
    cursor: usize,
    /// Display column of `cursor`.
    col: usize,
    text_bytes: usize,
    clipped: bool,
}

impl Parser {
    fn new(pen: Pen) -> Self {
        Self {
            state: State::Ground,
            pen,
            params: [0; MAX_PARAMS],
            n_params: 0,
            colon: 0,
            csi_private: false,
            seq_len: 0,
            utf8: [0; 4],
            utf8_have: 0,
            utf8_need: 0,
            fast: Vec::new(),
            fast_runs: Vec::new(),
            fast_pen: Pen::default(),
            cells: Vec::new(),
            cursor: 0,
            col: 0,
            text_bytes: 0,
            clipped: false,
        }
    }

    /// Parses `bytes`; at the end of each line `on_line` gets the parser (to store the line with
    /// [`Parser::store_line`]; its `pen` is the style the next line starts with) and the index in
    /// `bytes` just past the `\n`. Stops early when `on_line` breaks.
    fn feed(
        &mut self,
        bytes: &[u8],
        on_line: &mut impl FnMut(&Self, usize) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'\n' {
                // A newline ends any escape sequence or string: a log line boundary always wins,
                // which also makes every line start a clean restart point for paging.
                self.flush_utf8();
                self.state = State::Ground;
                i += 1;
                let flow = on_line(self, i);
                self.reset_line();
                flow?;
                continue;
            }
            if is_plain(b) && self.state == State::Ground && self.utf8_have == 0 {
                let rest = bytes.get(i..).unwrap_or_default();
                let len = plain_prefix(rest);
                let run = rest.get(..len).unwrap_or_default();
                let done = if self.can_append_fast() {
                    if self.append_fast(run) { len } else { 0 }
                } else if self.fast.is_empty() {
                    self.write_plain(run)
                } else {
                    0
                };
                if done > 0 {
                    i += done;
                    continue;
                }
            }
            if b == ESC && self.state == State::Ground && self.utf8_have == 0 {
                let done = self.sgr_fast(bytes.get(i..).unwrap_or_default());
                if done > 0 {
                    i += done;
                    continue;
                }
            }
            self.byte(b);
            i += 1;
        }
        ControlFlow::Continue(())
    }

    /// Applies the colour sequence at the start of `bytes` in one go when it is the common kind,
    /// `ESC [` then digits and `;` then `m` (at most [`SGR_FAST_CAP`] bytes after the `[`), with
    /// the very same result as the byte path. Returns its length, or 0, changing nothing, for
    /// anything else: another sequence, `:` parameters, too many parameters, or one cut by the
    /// end of `bytes`, all left to the byte path.
    fn sgr_fast(&mut self, bytes: &[u8]) -> usize {
        let Some(body) = bytes.strip_prefix(b"\x1b[") else {
            return 0;
        };
        let mut params = [0u16; MAX_PARAMS];
        let mut n = 0;
        for (k, &b) in body.iter().enumerate().take(SGR_FAST_CAP) {
            match b {
                b'0'..=b'9' => {
                    n = n.max(1);
                    if let Some(p) = params.get_mut(n - 1) {
                        *p = p.saturating_mul(10).saturating_add(u16::from(b - b'0'));
                    }
                }
                b';' => {
                    n = n.max(1);
                    // The byte path swallows a sequence with more parameters than it keeps.
                    if n >= MAX_PARAMS {
                        return 0;
                    }
                    n += 1;
                }
                b'm' => {
                    self.pen.apply_sgr(params.get(..n).unwrap_or_default(), 0);
                    return 2 + k + 1;
                }
                _ => return 0,
            }
        }
        0
    }

    /// Whether printable ASCII can go straight into `fast`: nothing pending (no escape sequence,
    /// no incomplete character) and the line is plain appended text with the cursor at its end.
    fn can_append_fast(&self) -> bool {
        self.state == State::Ground
            && self.utf8_have == 0
            && self.cells.is_empty()
            && self.cursor == self.fast.len()
    }

    /// Appends a run of printable ASCII to `fast`, exactly as `put` would one byte at a time:
    /// bytes past [`LINE_TEXT_CAP`] are dropped and clip the line. Returns false, doing nothing,
    /// when the run needs a style change `fast_runs` has no room for.
    fn append_fast(&mut self, run: &[u8]) -> bool {
        let room = LINE_TEXT_CAP.saturating_sub(self.text_bytes);
        let take = run.len().min(room);
        if take > 0 && self.pen != self.fast_pen {
            if self.fast_runs.len() >= LINE_RUN_CAP {
                return false;
            }
            self.fast_runs.push(Run {
                at: self.fast.len() as u32,
                pen: self.pen,
            });
            self.fast_pen = self.pen;
        }
        if take < run.len() {
            self.clipped = true;
        }
        self.fast
            .extend_from_slice(run.get(..take).unwrap_or_default());
        self.text_bytes += take;
        self.cursor += take;
        self.col += take;
        true
    }

    /// Writes a run of printable ASCII into the cells (a line being rewritten after `\r`), as
    /// `put` would one byte at a time, while that is a plain one-cell overwrite or append.
    /// Returns how many bytes it wrote; the caller hands the rest to the general path.
    fn write_plain(&mut self, run: &[u8]) -> usize {
        let pen = self.pen;
        for (done, &b) in run.iter().enumerate() {
            let cell = Cell {
                ch: char::from(b),
                pen,
                width: 1,
            };
            if let Some(old) = self.cells.get(self.cursor) {
                // Only a one-byte, one-column cell not followed by a zero-width one: `put`
                // then replaces exactly that cell and the text length stays the same.
                let simple = old.width == 1
                    && old.ch.is_ascii()
                    && self.text_bytes <= LINE_TEXT_CAP
                    && self.cells.get(self.cursor + 1).is_none_or(|c| c.width > 0);
                if !simple {
                    return done;
                }
                if let Some(slot) = self.cells.get_mut(self.cursor) {
                    *slot = cell;
                }
            } else if self.text_bytes < LINE_TEXT_CAP {
                self.cells.push(cell);
                self.text_bytes += 1;
            } else {
                self.clipped = true;
                continue;
            }
            self.cursor += 1;
            self.col += 1;
        }
        run.len()
    }

    /// Turns plain appended text into cells, before any edit other than appending.
    fn spill_to_cells(&mut self) {
        if self.fast.is_empty() {
            return;
        }
        self.cells.reserve(self.fast.len());
        let mut pen = Pen::default();
        let mut at = 0;
        let ends = self.fast_runs.iter().map(|r| (r.at as usize, r.pen));
        for (end, next) in ends.chain(std::iter::once((self.fast.len(), pen))) {
            let bytes = self.fast.get(at..end).unwrap_or_default();
            self.cells.extend(bytes.iter().map(|&b| Cell {
                ch: char::from(b),
                pen,
                width: 1,
            }));
            at = end;
            pen = next;
        }
        self.fast.clear();
        self.fast_runs.clear();
        self.fast_pen = Pen::default();
    }

    /// Ends the input: an incomplete character becomes U+FFFD. Returns whether there is a
    /// trailing partial line, which the caller stores and then drops with
    /// [`Parser::reset_line`].
    fn finish(&mut self) -> bool {
        self.flush_utf8();
        self.state = State::Ground;
        self.has_partial()
    }

    fn has_partial(&self) -> bool {
        !self.cells.is_empty() || !self.fast.is_empty()
    }

    /// The working line as it would be stored now, as a block of one line.
    fn partial(&self) -> Option<Block> {
        self.has_partial().then(|| {
            let mut block = Block::default();
            self.store_line(&mut block);
            block
        })
    }

    /// Appends the working line to `block`: its shown text and where its style changes, with
    /// [`CLIP_MARKER`] if it was clipped.
    fn store_line(&self, block: &mut Block) {
        let start = block.text.len();
        let mut pen = self.fast_pen;
        if self.fast.is_empty() {
            pen = Pen::default();
            let shown = self
                .cells
                .iter()
                .rposition(|c| c.ch != '\0')
                .map_or(0, |p| p + 1);
            let cells = self.cells.get(..shown).unwrap_or_default();
            let mut runs = 0;
            for cell in cells {
                if cell.pen != pen && runs < LINE_RUN_CAP {
                    block.runs.push(Run {
                        at: (block.text.len() - start) as u32,
                        pen: cell.pen,
                    });
                    runs += 1;
                    pen = cell.pen;
                }
                let ch = if cell.ch == '\0' { ' ' } else { cell.ch };
                let mut utf8 = [0; 4];
                block
                    .text
                    .extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
            }
        } else {
            block.text.extend_from_slice(&self.fast);
            block.runs.extend_from_slice(&self.fast_runs);
        }
        if self.clipped {
            if pen != Pen::MARKER {
                block.runs.push(Run {
                    at: (block.text.len() - start) as u32,
                    pen: Pen::MARKER,
                });
            }
            block.text.extend_from_slice(CLIP_MARKER.as_bytes());
        }
        block.end_line();
    }

    /// Starts a new, empty working line (after the last one was stored).
    fn reset_line(&mut self) {
        self.fast.clear();
        self.fast_runs.clear();
        self.fast_pen = Pen::default();
        self.cells.clear();
        if self.cells.capacity() > CELLS_KEEP {
            self.cells.shrink_to(CELLS_KEEP / 16);
        }
        self.cursor = 0;
        self.col = 0;
        self.text_bytes = 0;
        self.clipped = false;
    }

    fn byte(&mut self, b: u8) {
        match self.state {
            State::Ground => self.ground(b),
            State::Escape => self.escape(b),
            State::EscIntermediate => match b {
                0x30..=0x7e => self.state = State::Ground,
                ESC => self.state = State::Escape,
                0x80.. => self.abort_then(b),
                _ => {}
            },
            State::Csi => self.csi(b),
            State::CsiIgnore => self.csi_ignore(b),
            State::Str => match b {
                // BEL ends an OSC; CAN and SUB cancel any string.
                0x07 | 0x18 | 0x1a => self.state = State::Ground,
                ESC => self.state = State::StrEsc,
                _ => {}
            },
            State::StrEsc => {
                if b == b'\\' {
                    self.state = State::Ground;
                } else {
                    self.state = State::Escape;
                    self.escape(b);
                }
            }
        }
    }

    /// Drops the current sequence and handles `b` as ordinary input.
    fn abort_then(&mut self, b: u8) {
        self.state = State::Ground;
        self.ground(b);
    }

    fn ground(&mut self, b: u8) {
        if b >= 0x80 {
            self.utf8_byte(b);
            return;
        }
        self.flush_utf8();
        match b {
            0x20..=0x7e => self.put(char::from(b), 1),
            b'\r' => {
                self.spill_to_cells();
                self.cursor = 0;
                self.col = 0;
            }
            b'\t' => self.tab(),
            0x08 => self.backspace(),
            ESC => self.state = State::Escape,
            // Every other C0 control and DEL is dropped.
            _ => {}
        }
    }

    fn escape(&mut self, b: u8) {
        match b {
            b'[' => {
                self.state = State::Csi;
                self.n_params = 0;
                self.colon = 0;
                self.csi_private = false;
                self.seq_len = 0;
            }
            b']' | b'P' | b'X' | b'^' | b'_' => self.state = State::Str,
            0x20..=0x2f => self.state = State::EscIntermediate,
            0x30..=0x7e => self.state = State::Ground,
            0x80.. => self.abort_then(b),
            // ESC restarts; other controls and DEL inside a sequence are ignored.
            _ => {}
        }
    }

    fn csi(&mut self, b: u8) {
        self.seq_len += 1;
        if self.seq_len > ESCAPE_CAP {
            self.state = State::CsiIgnore;
            self.csi_ignore(b);
            return;
        }
        match b {
            b'0'..=b'9' => {
                if self.n_params == 0 {
                    self.n_params = 1;
                    self.params[0] = 0;
                }
                if let Some(p) = self.params.get_mut(self.n_params - 1) {
                    *p = p.saturating_mul(10).saturating_add(u16::from(b - b'0'));
                }
            }
            b';' | b':' => {
                if self.n_params == 0 {
                    self.n_params = 1;
                    self.params[0] = 0;
                }
                let Some(p) = self.params.get_mut(self.n_params) else {
                    self.state = State::CsiIgnore;
                    return;
                };
                *p = 0;
                if b == b':' {
                    self.colon |= 1 << self.n_params;
                }
                self.n_params += 1;
            }
            0x20..=0x2f | 0x3c..=0x3f => self.csi_private = true,
            0x40..=0x7e => {
                self.state = State::Ground;
                self.dispatch_csi(b);
            }
            ESC => self.state = State::Escape,
            0x80.. => self.abort_then(b),
            _ => {}
        }
    }

    fn csi_ignore(&mut self, b: u8) {
        match b {
            0x40..=0x7e => self.state = State::Ground,
            ESC => self.state = State::Escape,
            0x80.. => self.abort_then(b),
            _ => {}
        }
    }

    fn dispatch_csi(&mut self, final_byte: u8) {
        if self.csi_private {
            return;
        }
        let params = self.params.get(..self.n_params).unwrap_or_default();
        match final_byte {
            b'm' => {
                let colon = self.colon;
                let mut pen = self.pen;
                pen.apply_sgr(params, colon);
                self.pen = pen;
            }
            b'K' => self.erase_in_line(params.first().copied().unwrap_or(0)),
            // Cursor moves, screen clears, modes: all dropped.
            _ => {}
        }
    }

    /// `CSI K`: a progress bar's way of clearing the rest of its line before a `\r` rewrite.
    fn erase_in_line(&mut self, mode: u16) {
        self.spill_to_cells();
        let blanks = |n: usize| std::iter::repeat_n(BLANK, n);
        match mode {
            0 => self.cells.truncate(self.cursor),
            1 => {
                let upto = (self.cursor + 1).min(self.cells.len());
                let width: usize = self
                    .cells
                    .get(..upto)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| usize::from(c.width))
                    .sum();
                self.cells.splice(..upto, blanks(width));
                self.cursor = self.col.min(self.cells.len());
            }
            2 => {
                self.cells.clear();
                self.cells.extend(blanks(self.col));
                self.cursor = self.col;
            }
            _ => return,
        }
        self.text_bytes = self.cells.iter().map(|c| c.ch.len_utf8()).sum();
    }

    fn flush_utf8(&mut self) {
        if self.utf8_have > 0 {
            self.utf8_have = 0;
            self.utf8_need = 0;
            self.print(char::REPLACEMENT_CHARACTER);
        }
    }

    /// Decodes UTF-8 across pushes; invalid input becomes U+FFFD per maximal bad subsequence.
    fn utf8_byte(&mut self, b: u8) {
        if self.utf8_have > 0 {
            let (lo, hi) = if self.utf8_have == 1 {
                match self.utf8[0] {
                    0xe0 => (0xa0, 0xbf),
                    0xed => (0x80, 0x9f),
                    0xf0 => (0x90, 0xbf),
                    0xf4 => (0x80, 0x8f),
                    _ => (0x80, 0xbf),
                }
            } else {
                (0x80, 0xbf)
            };
            if (lo..=hi).contains(&b) {
                if let Some(slot) = self.utf8.get_mut(self.utf8_have) {
                    *slot = b;
                }
                self.utf8_have += 1;
                if self.utf8_have >= self.utf8_need {
                    let c = self
                        .utf8
                        .get(..self.utf8_have)
                        .and_then(|bytes| std::str::from_utf8(bytes).ok())
                        .and_then(|s| s.chars().next())
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    self.utf8_have = 0;
                    self.utf8_need = 0;
                    self.print(c);
                }
                return;
            }
            self.flush_utf8();
        }
        self.utf8_need = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => {
                self.print(char::REPLACEMENT_CHARACTER);
                return;
            }
        };
        self.utf8[0] = b;
        self.utf8_have = 1;
    }

    fn print(&mut self, c: char) {
        // C1 controls: some terminals obey U+009B as CSI, so they never get through.
        if ('\u{80}'..='\u{9f}').contains(&c) {
            return;
        }
        if let Some(width) = c.width() {
            self.put(c, width.min(2) as u8);
        }
    }

    /// Writes `ch` at the cursor, overwriting what is there (after a `\r`) by display width.
    fn put(&mut self, ch: char, width: u8) {
        self.spill_to_cells();
        let cell = Cell {
            ch,
            pen: self.pen,
            width,
        };
        let len = ch.len_utf8();
        if self.cursor >= self.cells.len() || width == 0 {
            if self.text_bytes + len > LINE_TEXT_CAP {
                self.clipped = true;
                return;
            }
            if self.cursor >= self.cells.len() {
                self.cells.push(cell);
            } else {
                self.cells.insert(self.cursor, cell);
            }
            self.text_bytes += len;
            self.cursor += 1;
            self.col += usize::from(width);
            return;
        }
        let mut end = self.cursor;
        let mut covered = 0;
        let mut removed = 0;
        while let Some(old) = self.cells.get(end) {
            if covered >= width && old.width > 0 {
                break;
            }
            covered += old.width;
            removed += old.ch.len_utf8();
            end += 1;
        }
        let pad = usize::from(covered.saturating_sub(width));
        let bytes = self.text_bytes - removed + len + pad;
        if bytes > LINE_TEXT_CAP {
            self.clipped = true;
            return;
        }
        if end == self.cursor + 1 && pad == 0 {
            if let Some(slot) = self.cells.get_mut(self.cursor) {
                *slot = cell;
            }
        } else {
            let with_pad = std::iter::once(cell).chain(std::iter::repeat_n(BLANK, pad));
            self.cells.splice(self.cursor..end, with_pad);
        }
        self.text_bytes = bytes;
        self.cursor += 1;
        self.col += usize::from(width);
    }

    /// Moves to the next multiple of 8 columns, padding with blanks past the end of the line.
    fn tab(&mut self) {
        self.spill_to_cells();
        let target = (self.col / 8 + 1) * 8;
        while self.col < target {
            if let Some(cell) = self.cells.get(self.cursor) {
                self.col += usize::from(cell.width);
                self.cursor += 1;
                while self.cells.get(self.cursor).is_some_and(|c| c.width == 0) {
                    self.cursor += 1;
                }
            } else {
                if self.text_bytes + 1 > LINE_TEXT_CAP {
                    self.clipped = true;
                    return;
                }
                self.cells.push(BLANK);
                self.text_bytes += 1;
                self.cursor += 1;
                self.col += 1;
            }
        }
    }

    /// Moves back one character without erasing it, as a terminal does.
    fn backspace(&mut self) {
        self.spill_to_cells();
        while self.cursor > 0 {
            self.cursor -= 1;
            let width = self.cells.get(self.cursor).map_or(0, |c| c.width);
            if width > 0 {
                self.col = self.col.saturating_sub(usize::from(width));
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use proptest::prelude::*;

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
        assert_eq!(sb.history.len, 3);
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
        assert!(sb.history.index.len() <= 50 / 4 + 1);
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
    fn a_steady_flood_reuses_its_blocks() {
        let mut sb = Scrollback::new(1000);
        let line = [b"x".repeat(99), b"\n".to_vec()].concat();
        let chunk = line.repeat(600);
        for _ in 0..10 {
            sb.push(&chunk);
            // Read as a visible pane is: every chunk is parsed, none skimmed.
            sb.line_count();
        }
        let blocks = sb.history.blocks.len();
        let memory = sb.memory_bytes();
        for _ in 0..100 {
            sb.push(&chunk);
            sb.line_count();
        }
        assert_eq!(sb.line_count(), 110 * 600);
        assert_eq!(sb.history.len, 1000);
        assert_eq!(sb.plain_line(110 * 600 - 1000), Some("x".repeat(99)));
        assert!(sb.history.blocks.len() <= blocks + 1);
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
        assert_eq!(sb.history.completed(), 0);
        assert_eq!(sb.pending.chunks.len(), 2);
        sb.push(b"z\n");
        // Three newer lines: the first chunk is skimmed ("x1" parsed as the line in progress,
        // "x2" only counted), unread.
        assert_eq!(sb.pending.chunks.len(), 2);
        assert_eq!(sb.history.completed(), 2);
        assert_eq!(sb.history.len, 0);
        assert_eq!(sb.line_count(), 5);
        assert_eq!(plain(&mut sb)[2..], ["y1", "y2", "z"]);

        // A chunk ending inside a line: that line ends in the next chunk (whose newlines
        // count), and until then it is the parser's line in progress, so it is kept whole.
        let mut sb = Scrollback::new(2).without_gathering();
        sb.push(b"a\nb");
        sb.push(b"\nc\n");
        assert_eq!(sb.history.completed(), 1);
        assert!(sb.parser.has_partial());
        assert_eq!(sb.line_count(), 3);
        let kept: Vec<String> = sb.history.iter().map(|l| l.text().into_owned()).collect();
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
            hidden.history.completed() > 40_000,
            "{}",
            hidden.history.completed()
        );
        assert_eq!(hidden.history.len, 0);
        assert!(hidden.pending.newlines >= 1000);
        assert_eq!(hidden.line_count(), 50_000);
        assert_eq!(hidden.history.len, 1000);
        assert_eq!(hidden.history.index, shown.history.index);
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
        assert_eq!(sb.history.len, 2);
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
    fn plain_prefix_stops_at_the_first_other_byte() {
        assert_eq!(plain_prefix(b""), 0);
        for len in [0, 1, 15, 16, 17, 31, 32, 100] {
            let mut bytes = vec![b'~'; len];
            assert_eq!(plain_prefix(&bytes), len);
            for bad in [0x1f, 0x7f, b'\n', ESC, 0x80, 0xff] {
                for at in 0..len {
                    let old = std::mem::replace(&mut bytes[at], bad);
                    assert_eq!(plain_prefix(&bytes), at, "{bad:#x} at {at} of {len}");
                    bytes[at] = old;
                }
            }
        }
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

    /// Input that exercises the plain-ASCII fast path and every way of leaving it.
    fn fast_fragment() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => "[ -~]{0,40}".prop_map(String::into_bytes),
            1 => (LINE_TEXT_CAP - 40..LINE_TEXT_CAP + 40).prop_map(|n| vec![b'x'; n]),
            1 => (500usize..700).prop_map(|n| b"\x1b[31ma\x1b[32mb".repeat(n)),
            3 => Just(b"\n".to_vec()),
            1 => Just(b"\r".to_vec()),
            1 => Just(b"\t".to_vec()),
            1 => Just(b"\x08".to_vec()),
            1 => Just(b"\x1b[31m".to_vec()),
            1 => Just(b"\x1b[0m".to_vec()),
            1 => Just(b"\x1b[2m".to_vec()),
            1 => Just(b"\x1b[K".to_vec()),
            1 => Just(b"\x1b[1K".to_vec()),
            1 => Just(b"\x1b[2K".to_vec()),
            1 => Just(b"\x1b]0;title\x07".to_vec()),
            3 => sgr(),
            1 => Just("é漢😀\u{301}".as_bytes().to_vec()),
            1 => Just("e\u{301}".as_bytes().to_vec()),
            1 => Just(vec![0xe6, 0xbc]),
            1 => prop::collection::vec(any::<u8>(), 0..8),
        ]
    }

    /// Every line of `block` as text and runs.
    fn owned(block: &Block) -> Vec<(String, Vec<Run>)> {
        (0..block.len())
            .map(|k| {
                let line = block.get(k).unwrap();
                (
                    String::from_utf8(line.text.to_vec()).unwrap(),
                    line.runs.to_vec(),
                )
            })
            .collect()
    }

    /// Stores the trailing partial line, after `finish()` or not.
    fn store_partial(parser: &mut Parser, finish: bool, lines: &mut Block) {
        if finish {
            parser.finish();
        }
        if parser.has_partial() {
            parser.store_line(lines);
        }
    }

    /// SGR-like sequences: the common digits-and-`;` kind the fast path takes, and every way of
    /// being something else (colons, private markers, too many or too long parameters, no end).
    fn sgr() -> impl Strategy<Value = Vec<u8>> {
        let param = prop_oneof![
            4 => (0u32..110).prop_map(|n| n.to_string()),
            1 => Just(String::new()),
            1 => Just("38;5;200".to_string()),
            1 => Just("48;2;1;2;3".to_string()),
            1 => Just("38".to_string()),
            1 => Just("99999".to_string()),
            1 => Just("0000000000000000000000000000000000000000000000000000000000001".to_string()),
        ];
        let body = prop_oneof![
            8 => prop::collection::vec(param.clone(), 0..6).prop_map(|p| p.join(";")),
            1 => prop::collection::vec(param, 30..36).prop_map(|p| p.join(";")),
            1 => (28usize..36).prop_map(|n| format!("{};1", ";".repeat(n))),
            1 => "[0-9;:?>!]{0,12}",
        ];
        let end = prop_oneof![8 => Just("m"), 1 => Just("K"), 1 => Just(""), 1 => Just("\x1b")];
        (body, end).prop_map(|(body, end)| format!("\x1b[{body}{end}").into_bytes())
    }

    /// Lines from feeding `bytes` one at a time through the general path, never the fast path.
    fn slow_lines(bytes: &[u8], finish: bool) -> Vec<(String, Vec<Run>)> {
        let mut parser = Parser::new(Pen::default());
        let mut lines = Block::default();
        for &b in bytes {
            if b == b'\n' {
                parser.flush_utf8();
                parser.state = State::Ground;
                parser.store_line(&mut lines);
                parser.reset_line();
            } else {
                parser.byte(b);
            }
        }
        store_partial(&mut parser, finish, &mut lines);
        owned(&lines)
    }

    fn input() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(fragment(), 0..60).prop_map(|v| v.concat())
    }

    /// Like [`input`], plus long runs of plain lines (several KiB, past the 4 KiB stretches
    /// that `History::skip` counts at a time), so that whole runs are skimmed.
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

    fn chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
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
                prop_assert!(sb.history.len <= cap);
                prop_assert!(sb.history.blocks.len() <= cap / block + 2);
            }
            sb.finish();
            prop_assert!(sb.history.len <= cap);
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
            prop_assert_eq!(lazy.history.first, eager.history.first);
            prop_assert_eq!(lazy.history.len, eager.history.len);
            prop_assert_eq!(&lazy.history.index, &eager.history.index);
            // The very lines kept in memory (paging would hide a line evicted too early).
            let in_memory = |sb: &Scrollback| {
                sb.history
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
        fn fast_path_matches_byte_at_a_time(
            bytes in prop::collection::vec(fast_fragment(), 0..40).prop_map(|v| v.concat()),
            cuts in prop::collection::vec(any::<usize>(), 0..10),
            finish in any::<bool>(),
        ) {
            let expected = slow_lines(&bytes, finish);
            let mut parser = Parser::new(Pen::default());
            let mut got = Block::default();
            for chunk in chunks(&bytes, &cuts) {
                let _ = parser.feed(&chunk, &mut |parser, _| {
                    parser.store_line(&mut got);
                    ControlFlow::Continue(())
                });
            }
            store_partial(&mut parser, finish, &mut got);
            prop_assert_eq!(owned(&got), expected);
        }

        #[test]
        fn plain_prefix_matches_byte_scan(
            bytes in prop::collection::vec(
                prop_oneof![8 => 0x20u8..=0x7e, 1 => any::<u8>()],
                0..100,
            ),
        ) {
            let expected = bytes.iter().position(|&b| !is_plain(b)).unwrap_or(bytes.len());
            prop_assert_eq!(plain_prefix(&bytes), expected);
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
