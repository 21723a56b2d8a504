//! The scrollback's line store: finished lines kept back to back in a few large [`Block`]s,
//! borrowed one at a time as [`LineRef`]s, and the [`LineStore`] of them in memory (at most
//! `cap` lines, oldest evicted first) with the sparse index of [`Checkpoint`]s over every line
//! ever stored, which paging from the log restarts from.
//!
//! It turns a stored line into a ratatui [`Line`] for drawing, and knows nothing of bytes
//! still to parse: lines come in already parsed (see `parser`).

use std::borrow::Cow;
use std::collections::VecDeque;

use ratatui::text::{Line, Span};

use super::style::Pen;

/// Bytes of text after which the store starts a new [`Block`].
pub(super) const BLOCK_BYTES: usize = 64 * 1024;

/// Lines after which the store starts a new [`Block`] (lines can be empty).
const BLOCK_LINES: usize = 1024;

/// Complete lines in memory plus the sparse index over the whole history.
///
/// Lines live in a few large [`Block`]s instead of two allocations each: a flood of short lines
/// would otherwise spend most of its time in `malloc` and `free` (one line in, one line evicted).
/// Evicting a line only moves `first`; a block is dropped once all its lines are evicted, and
/// kept as the next block's storage, so a steady flood allocates nothing.
#[derive(Debug)]
pub(super) struct LineStore {
    pub(super) cap: usize,
    pub(super) page_lines: usize,
    /// Most lines per block: [`BLOCK_LINES`] (a test seam).
    pub(super) block_lines: usize,
    /// Oldest first. Lines `[first, first + len)` of the whole history are in memory: the
    /// front block may also hold up to a block of lines already evicted.
    pub(super) blocks: VecDeque<Block>,
    /// A block no longer in use, kept for its capacity.
    spare: Option<Block>,
    /// Lines in memory.
    pub(super) len: usize,
    /// Index of the oldest line in memory in the whole history: how many lines were evicted.
    pub(super) first: usize,
    /// `index[k]` is where line `k * page_lines` starts.
    pub(super) index: Vec<Checkpoint>,
}

impl LineStore {
    pub(super) fn new(cap: usize, page_lines: usize) -> Self {
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
    pub(super) fn completed(&self) -> usize {
        self.first + self.len
    }

    /// Line `k` of those in memory (`0` is the oldest).
    pub(super) fn get(&self, k: usize) -> Option<LineRef<'_>> {
        if k >= self.len {
            return None;
        }
        let index = self.first + k;
        let after = self.blocks.partition_point(|block| block.start <= index);
        let block = self.blocks.get(after.checked_sub(1)?)?;
        block.get(index - block.start)
    }

    /// The lines in memory, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = LineRef<'_>> {
        let dead = self.blocks.front().map_or(0, |b| self.first - b.start);
        self.blocks
            .iter()
            .flat_map(|block| (0..block.len()).filter_map(|k| block.get(k)))
            .skip(dead)
    }

    /// Appends a line, which `write_line` writes into the block it is handed (the parser's
    /// `store_line`); `next` is where the following line starts in the log and `pen` the style
    /// it starts with.
    pub(super) fn commit(&mut self, next: u64, pen: Pen, write_line: impl FnOnce(&mut Block)) {
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
        write_line(block);
        self.len += 1;
        if self.completed().is_multiple_of(self.page_lines) {
            self.index.push(Checkpoint { offset: next, pen });
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
    /// [`Scrollback::skim`](super::Scrollback::skim)): `lines` starts at log offset `base` and ends with a newline, and
    /// `pen` is the style all through it. Every line in memory is older than them, and the
    /// caller has at least `cap` newer lines to commit, so those are evicted now. Newlines are
    /// counted a stretch at a time; only a stretch holding the start of a page is walked
    /// newline by newline, to index it.
    pub(super) fn skip(&mut self, lines: &[u8], base: u64, pen: Pen) {
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

    /// [`LineStore::skip`] for lines known by their lengths (each with its newline), from log
    /// offset `base` on: every line in memory is evicted, these are counted and indexed.
    pub(super) fn skip_lines(&mut self, lengths: impl Iterator<Item = u64>, base: u64, pen: Pen) {
        self.first += self.len;
        self.len = 0;
        while let Some(block) = self.blocks.pop_front() {
            self.spare = Some(block);
        }
        let mut at = base;
        for length in lengths {
            at += length;
            self.first += 1;
            if self.first.is_multiple_of(self.page_lines) {
                self.index.push(Checkpoint { offset: at, pen });
            }
        }
    }

    /// Drops every line in memory and every block, the spare one included; the index stays,
    /// so the dropped lines page back from the log.
    pub(super) fn evict_all(&mut self) {
        if self.blocks.is_empty() && self.spare.is_none() {
            return;
        }
        self.first += self.len;
        self.len = 0;
        self.blocks = VecDeque::new();
        self.spare = None;
    }

    /// Heap bytes held, evicted lines still in a block and the spare block included.
    pub(super) fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * size_of::<Block>()
            + self.blocks.iter().map(Block::heap_bytes).sum::<usize>()
            + self.spare.as_ref().map_or(0, Block::heap_bytes)
            + self.index.capacity() * size_of::<Checkpoint>()
    }
}

/// Where a line starts in the log and the parser state needed to restart there.
///
/// A line always starts right after a `\n`, which ends every escape sequence and incomplete
/// character, so the style is the only state to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Checkpoint {
    pub(super) offset: u64,
    pub(super) pen: Pen,
}

/// From byte `at` of the line's text on, `pen` applies (until the next run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) at: u32,
    pub(super) pen: Pen,
}

/// Finished lines stored back to back: their text in one buffer, their style runs in another.
///
/// Only text that is valid UTF-8 is ever appended (printable ASCII checked byte by byte, encoded
/// characters, [`CLIP_MARKER`](super::CLIP_MARKER)), and always whole lines.
#[derive(Debug, Default)]
pub(super) struct Block {
    /// Index in the whole history of line 0 (the store's blocks; pages don't use it).
    start: usize,
    pub(super) text: Vec<u8>,
    pub(super) runs: Vec<Run>,
    /// Where each line's text and runs end in `text` and `runs`.
    ends: Vec<LineEnd>,
}

#[derive(Debug, Clone, Copy)]
struct LineEnd {
    text: u32,
    runs: u32,
}

impl Block {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_full(&self, most_lines: usize) -> bool {
        self.text.len() >= BLOCK_BYTES || self.ends.len() >= most_lines
    }

    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.runs.clear();
        self.ends.clear();
    }

    /// Line `k` of the block.
    pub(super) fn get(&self, k: usize) -> Option<LineRef<'_>> {
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

    /// Appends a line of plain text (default style, no runs).
    pub(super) fn push_plain(&mut self, text: &[u8]) {
        self.text.extend_from_slice(text);
        self.end_line();
    }

    /// Appends a copy of `line`.
    pub(super) fn push(&mut self, line: LineRef<'_>) {
        self.text.extend_from_slice(line.text);
        self.runs.extend_from_slice(line.runs);
        self.end_line();
    }

    /// Ends the line made of everything appended to `text` and `runs` since the last one ended.
    pub(super) fn end_line(&mut self) {
        self.ends.push(LineEnd {
            text: self.text.len() as u32,
            runs: self.runs.len() as u32,
        });
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.runs.capacity() * size_of::<Run>()
            + self.ends.capacity() * size_of::<LineEnd>()
    }
}

/// A finished line, borrowed from a [`Block`]: its text and where its style changes (offsets
/// into the text). Text before the first run has the default style.
#[derive(Debug, Clone, Copy)]
pub(super) struct LineRef<'a> {
    pub(super) text: &'a [u8],
    pub(super) runs: &'a [Run],
}

impl<'a> LineRef<'a> {
    /// The text; a [`Block`] only holds valid UTF-8, so this borrows.
    pub(super) fn text(self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.text)
    }

    pub(super) fn to_line(self) -> Line<'static> {
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
