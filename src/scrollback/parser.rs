//! The scrollback's streaming parser: raw bytes from a child's pipe (or read back from its log)
//! in, finished lines out, stored into a line store [`Block`] as text plus style runs.
//!
//! It splits on `\n`, applies `\r` overwrites, backspace, tabs and erase-in-line to the working
//! line, decodes UTF-8 across chunks (U+FFFD for invalid input), keeps SGR colours and
//! attributes (carried from line to line the way a terminal does), and drops every other escape
//! sequence and control character (C1 controls included), so nothing a child writes can reach the
//! real terminal raw. State is bounded: at most [`LINE_TEXT_CAP`] bytes of text per line (then
//! [`CLIP_MARKER`]), at most [`LINE_RUN_CAP`] style changes per line, and no storage for escape
//! sequences beyond a fixed parameter array. Plain printable ASCII and the common SGR sequence
//! take fast paths that give exactly what the byte-at-a-time state machine gives (a proptest
//! checks it).

use std::ops::ControlFlow;

use unicode_width::UnicodeWidthChar;

use super::store::{Block, Run};
use super::style::{Colour, Pen};

/// Most bytes of text one line keeps in memory; the rest is dropped and [`CLIP_MARKER`] appended.
pub const LINE_TEXT_CAP: usize = 16 * 1024;

/// Appended to a line that was longer than [`LINE_TEXT_CAP`].
pub const CLIP_MARKER: &str = " … [line clipped]";

/// Most style changes kept per line; later changes in that line keep the last kept style.
const LINE_RUN_CAP: usize = 1024;

/// Longest CSI sequence whose parameters are parsed; a longer one is swallowed unparsed.
const ESCAPE_CAP: usize = 256;

/// Most numeric parameters kept for one CSI sequence.
const MAX_PARAMS: usize = 32;

/// Longest SGR sequence body (after `ESC [`) that [`Parser::sgr_fast`] parses in one go.
const SGR_FAST_CAP: usize = 64;

/// Cell capacity above which the working line's buffer is shrunk after the line ends.
const CELLS_KEEP: usize = 4096;

pub(super) const ESC: u8 = 0x1b;

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

/// One column-ish unit of the working line. `'\0'` marks a blank no one wrote (tab, erase,
/// half of an overwritten wide character): shown as a space, dropped at the end of a line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cell {
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
pub(super) struct Parser {
    state: State,
    pub(super) pen: Pen,
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
    pub(super) fast: Vec<u8>,
    /// Where the style changes in `fast`, exactly as [`Parser::store_line`] records them for cells
    /// (never more than [`LINE_RUN_CAP`], so every byte's pen is known).
    pub(super) fast_runs: Vec<Run>,
    /// The pen of the last run in `fast_runs` (the default pen when there is none).
    fast_pen: Pen,
    /// The working line once it is not plain appended text (see `fast`).
    pub(super) cells: Vec<Cell>,
    /// Index in `cells` where the next character goes.
    cursor: usize,
    /// Display column of `cursor`.
    col: usize,
    text_bytes: usize,
    clipped: bool,
}

impl Parser {
    pub(super) fn new(pen: Pen) -> Self {
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
    pub(super) fn feed(
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
    pub(super) fn finish(&mut self) -> bool {
        self.flush_utf8();
        self.state = State::Ground;
        self.has_partial()
    }

    /// At the start of a line in the ground state with the default style: a line of printable
    /// ASCII fed now would be stored as exactly its bytes, with no style run.
    pub(super) fn at_plain_line_start(&self) -> bool {
        self.state == State::Ground
            && self.utf8_have == 0
            && !self.has_partial()
            && !self.clipped
            && self.text_bytes == 0
            && (self.cursor, self.col) == (0, 0)
            && self.pen == Pen::default()
    }

    pub(super) fn has_partial(&self) -> bool {
        !self.cells.is_empty() || !self.fast.is_empty()
    }

    /// The working line as it would be stored now, as a block of one line.
    pub(super) fn partial(&self) -> Option<Block> {
        self.has_partial().then(|| {
            let mut block = Block::default();
            self.store_line(&mut block);
            block
        })
    }

    /// Appends the working line to `block`: its shown text and where its style changes, with
    /// [`CLIP_MARKER`] if it was clipped.
    pub(super) fn store_line(&self, block: &mut Block) {
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

    /// Takes in one whole line (ending with its `\n`, starting at a line start) that is not
    /// kept: only its escape sequences are run through the state machine, for the style they
    /// leave behind, and its text is never decoded or stored. In the ground state only `ESC`
    /// can change anything but the working line (text, UTF-8 and other controls never touch
    /// the pen or the state), so jumping from one `ESC` to the next leaves exactly the pen
    /// that parsing the line would; the line itself is then dropped as [`Parser::feed`] drops
    /// it at its newline.
    pub(super) fn skip_line(&mut self, line: &[u8]) {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let mut i = 0;
        while i < body.len() {
            if self.state == State::Ground {
                // Whatever the bytes before the next ESC were, they were text for this line.
                self.utf8_have = 0;
                self.utf8_need = 0;
                match body.get(i..).and_then(|rest| memchr::memchr(ESC, rest)) {
                    Some(k) => i += k,
                    None => break,
                }
            }
            if let Some(&b) = body.get(i) {
                self.byte(b);
            }
            i += 1;
        }
        self.utf8_have = 0;
        self.utf8_need = 0;
        self.state = State::Ground;
        self.reset_line();
    }

    /// Starts a new, empty working line (after the last one was stored).
    pub(super) fn reset_line(&mut self) {
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
    use proptest::prelude::*;

    use super::super::tests::chunks;
    use super::*;

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

    proptest! {
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
        fn skipping_a_line_leaves_the_pen_parsing_leaves(
            lines in prop::collection::vec(
                prop::collection::vec(fast_fragment(), 0..12).prop_map(|v| v.concat()),
                1..6,
            ),
            noise in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut parsed = Parser::new(Pen::default());
            let mut skipped = Parser::new(Pen::default());
            for (k, mut line) in lines.into_iter().enumerate() {
                if k % 2 == 1 {
                    // Raw binary between the sequences: invalid UTF-8, controls, stray ESCs.
                    line.extend_from_slice(&noise);
                }
                line.retain(|&b| b != b'\n');
                line.push(b'\n');
                let _ = parsed.feed(&line, &mut |_, _| ControlFlow::Continue(()));
                skipped.skip_line(&line);
                prop_assert_eq!(parsed.pen, skipped.pen);
                prop_assert_eq!(parsed.state, State::Ground);
                prop_assert_eq!(skipped.state, State::Ground);
            }
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
    }
}
