//! A tty env's screen: the bytes its terminal wrote, run through a terminal emulator (the
//! `vt100` crate, as turborepo uses), so cursor movement, erase, scroll regions, the
//! alternate screen, 256 and true colour and wide characters look as in a real terminal.
//!
//! Pure: bytes in, cells out. Rows that scroll off the top of the main screen come back from
//! [`Term::feed`] as text with SGR colour only (one `\n`-ended line per logical row), which
//! the pane appends to its [`crate::scrollback::Scrollback`], so search, paging and the tiles
//! keep working on a tty env's history; the alternate screen's rows never enter it.
//! [`Term::finish`] scrolls what is left on the main screen into the history once the env
//! ends. [`Term::render`] draws the screen into a ratatui buffer; [`encode_key`] turns a key
//! into the bytes a terminal sends for it.
//!
//! A flood of plain lines takes a fast path with the same result: the lines that only scroll
//! through the screen go to the history as they are, and the screenful they leave is kept as
//! rows of text (a [`PlainScreen`]) until something else needs the emulator's own screen.

use std::num::NonZeroU16;
use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

use crate::tui::keymap::{Key, KeyCode};

/// Line ranges kept between batches (a batch of 1 MiB of 100-byte lines needs about 10,000).
const PLAIN_KEEP: usize = 16 * 1024;

/// Collects the rows the emulator scrolls off its main screen.
#[derive(Debug, Default)]
struct Scrolled {
    text: String,
    state: vt100::capture::BasicFormattedCaptureState,
    /// A row is waiting for its line end (the next row may continue it).
    open: bool,
    /// Rows scrolling off now are known to be blank (the fast path's own scrolling).
    mute: bool,
}

impl vt100::Callbacks for Scrolled {
    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        if alternate_screen || self.mute {
            return;
        }
        // Writing into a String cannot fail.
        let _ = row.write_formatted_basic(&mut self.text, &mut self.state);
        self.open = true;
    }
}

/// Rows of plain text: printable ASCII, no line ends, each a range of `text`.
#[derive(Debug, Default)]
struct PlainRows {
    text: Vec<u8>,
    rows: Vec<Range<u32>>,
}

impl PlainRows {
    fn row(&self, i: usize) -> &[u8] {
        self.rows
            .get(i)
            .map_or(&[][..], |r| &self.text[r.start as usize..r.end as usize])
    }

    /// The `lines` and then `tail` (ranges of `bytes`, from `from` on, in order) as these
    /// rows, copied.
    fn fill(&mut self, bytes: &[u8], from: usize, lines: &[Range<u32>], tail: Range<u32>) {
        self.text.clear();
        self.text.extend_from_slice(&bytes[from..tail.end as usize]);
        // `from` is the first range's start, so it fits a u32 as they do.
        let from = from as u32;
        self.rows.clear();
        self.rows.extend(
            lines
                .iter()
                .chain(std::iter::once(&tail))
                .map(|r| r.start - from..r.end - from),
        );
    }
}

impl PlainScreen {
    /// `head` (a batch's bytes up to its first `\n`) ends the last row as plain text
    /// without wrapping: after its text, more printable ASCII and `\r\n`, up to the width;
    /// after a `\r`, only the line end.
    fn continues_with(&self, head: &[u8], cols: usize) -> bool {
        if self.cr {
            return head == b"\n" || head == b"\r\n";
        }
        let last = self.rows.row(self.rows.rows.len().saturating_sub(1));
        head.strip_suffix(b"\r\n")
            .is_some_and(|text| unprintable(text) == 0 && last.len() + text.len() <= cols)
    }

    /// Append `head`'s text to the last row ([`PlainScreen::continues_with`] said it fits).
    fn end_last_row(&mut self, head: &[u8]) {
        if self.cr {
            return;
        }
        let text = head.strip_suffix(b"\r\n").unwrap_or(head);
        // The last row's text ends the buffer (see `fill`).
        self.rows.text.extend_from_slice(text);
        let end = u32::try_from(self.rows.text.len()).unwrap_or(u32::MAX);
        if let Some(last) = self.rows.rows.last_mut() {
            last.end = end;
        }
    }
}

/// The screen the fast path left: one row of plain text per screen row, top to bottom, the
/// cursor on the last, in the default style. Meanwhile the emulator's own screen is blank
/// with its cursor at the start of the last row, in the parser's ground state, with plain
/// attributes and no scroll region (where the fast path's step 2 left it), and nothing is
/// fed to it: [`Term::materialize`] writes these rows into it, as feeding the lines would
/// have. Everything else the emulator holds (modes, the cursor's visibility) is this
/// screen's too. Kept as text because a flood replaces the whole screen every batch: drawing
/// each batch's last screenful into the emulator, and formatting those rows back into text
/// when the next batch scrolls them off, cost about a third of the screen thread's time.
#[derive(Debug, Default)]
struct PlainScreen {
    rows: PlainRows,
    /// A `\r` followed the last row's text: the cursor is at its start (else just after it).
    cr: bool,
}

/// One tty pane's emulator.
pub struct Term {
    parser: vt100::Parser<Scrolled>,
    /// The child set a scroll region (`CSI top ; bottom r`) at some point: the fast path,
    /// which assumes that a line feed on the last row scrolls the whole screen, is off.
    region_seen: bool,
    /// The bytes fed last ended outside any escape sequence or UTF-8 character (as far as a
    /// look at their end tells), so the emulator's parser is in its ground state.
    ground: bool,
    /// Batches that took the fast path (for the tests).
    fast_batches: u64,
    /// The fast path's lines of the last batch that scroll straight into the history (ranges
    /// of the bytes fed; see [`Fed`]), kept for its capacity.
    plain: Vec<Range<u32>>,
    /// The screen as the fast path left it, not drawn into the emulator yet.
    screen: Option<PlainScreen>,
    /// The rows of the last batch's [`PlainScreen`] that scrolled off (see [`Fed`]), or the
    /// buffers of one that was drawn into the emulator, kept for their capacity.
    scrolled: PlainRows,
}

/// What scrolled off the main screen during one [`Term::feed_parts`], oldest first: `text`,
/// rows as lines with SGR colour (each `\n`-ended), then `screen_lines` and `lines`, whole
/// lines of printable ASCII in the default style, given as ranges of `screen_bytes` and of
/// the bytes fed (no `\n` of their own), for
/// [`crate::scrollback::Scrollback::push_plain_lines`].
#[derive(Debug)]
pub struct Fed<'a> {
    /// Rows scrolled off through the emulator, as `\n`-ended lines with SGR colour.
    pub text: Vec<u8>,
    /// The text of the rows of the fast path's last screen that scrolled off.
    pub screen_bytes: &'a [u8],
    /// Those rows, after `text`: ranges of `screen_bytes`.
    pub screen_lines: &'a [Range<u32>],
    /// The bytes fed.
    pub bytes: &'a [u8],
    /// The plain lines after `screen_lines`: ranges of `bytes`.
    pub lines: &'a [Range<u32>],
}

impl Fed<'_> {
    /// All of it as history text (`\n`-ended lines).
    pub fn into_text(self) -> Vec<u8> {
        let mut text = self.text;
        for (bytes, lines) in [
            (self.screen_bytes, self.screen_lines),
            (self.bytes, self.lines),
        ] {
            for line in lines {
                text.extend_from_slice(&bytes[line.start as usize..line.end as usize]);
                text.push(b'\n');
            }
        }
        text
    }
}

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (rows, cols) = self.size();
        write!(f, "Term({rows}x{cols})")
    }
}

impl Term {
    /// An empty screen of `rows` x `cols` (at least 1 x 1), keeping no history of its own.
    pub fn new(rows: u16, cols: u16) -> Self {
        let (rows, cols) = clamp(rows, cols);
        Self {
            parser: vt100::Parser::new_with_callbacks(rows, cols, 0, Scrolled::default()),
            region_seen: false,
            ground: true,
            fast_batches: 0,
            plain: Vec::new(),
            screen: None,
            scrolled: PlainRows::default(),
        }
    }

    /// The screen's size: (rows, columns).
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (rows.get(), cols.get())
    }

    /// The ranges of the last [`Term::feed_parts`] were taken: the buffer keeps at most
    /// [`PLAIN_KEEP`] of them between batches.
    pub fn done_with_parts(&mut self) {
        self.plain.clear();
        self.plain.shrink_to(PLAIN_KEEP);
        self.scrolled.rows.clear();
    }

    /// Resize (rows pushed off the top go into the history, as the emulator decides).
    pub fn resize(&mut self, rows: u16, cols: u16) -> Vec<u8> {
        let (rows, cols) = clamp(rows, cols);
        self.materialize();
        self.parser.set_size(rows, cols);
        self.take_scrolled(false)
    }

    /// Take in output; gives the rows that scrolled off the main screen meanwhile, as lines
    /// of text with SGR colour (empty when none did).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.feed_parts(bytes).into_text()
    }

    /// [`Term::feed`], giving a flood's lines that only scroll through the screen as ranges
    /// of `bytes` instead of copies (see [`Fed`]). Call [`Term::done_with_parts`] once they
    /// are taken.
    pub fn feed_parts<'a>(&'a mut self, bytes: &'a [u8]) -> Fed<'a> {
        self.plain.clear();
        if self.plain.capacity() > PLAIN_KEEP {
            self.plain.shrink_to(PLAIN_KEEP);
        }
        let text = if let Some(history) = self.feed_plain_lines(bytes) {
            history
        } else {
            self.materialize();
            self.region_seen |= sets_scroll_region(bytes);
            self.ground = ends_in_ground(bytes);
            self.parser.process(bytes);
            self.take_scrolled(false)
        };
        self.fed(text, bytes)
    }

    /// What the last feed of `bytes` scrolled off: `text`, then the plain rows and lines it
    /// left in `scrolled` and `plain`.
    fn fed<'a>(&'a self, text: Vec<u8>, bytes: &'a [u8]) -> Fed<'a> {
        Fed {
            text,
            screen_bytes: &self.scrolled.text,
            screen_lines: &self.scrolled.rows,
            bytes,
            lines: &self.plain,
        }
    }

    /// Draw the fast path's [`PlainScreen`] into the emulator (nothing when there is none):
    /// from the top of its blank screen, each row's text and a line end but the last's, then
    /// the last row's `\r`, which leaves the emulator as the lines fed at its bottom would.
    fn materialize(&mut self) {
        let Some(screen) = self.screen.take() else {
            return;
        };
        let mut draw = Vec::with_capacity(screen.rows.text.len() + 2 * screen.rows.rows.len() + 4);
        draw.extend_from_slice(b"\x1b[H");
        for i in 0..screen.rows.rows.len() {
            if i > 0 {
                draw.extend_from_slice(b"\r\n");
            }
            draw.extend_from_slice(screen.rows.row(i));
        }
        if screen.cr {
            draw.push(b'\r');
        }
        // Nothing scrolls: the rows are written top down, one per screen row.
        self.parser.callbacks_mut().mute = true;
        self.parser.process(&draw);
        self.parser.callbacks_mut().mute = false;
        // Its buffers serve the next one.
        self.scrolled = screen.rows;
        self.scrolled.rows.clear();
    }

    /// The fast path for a flood of plain lines (printable ASCII, each ending `\r\n` as a
    /// terminal's line discipline writes them, none wider than the screen) on the main
    /// screen, with plain attributes and no scroll region: the result is the same as feeding
    /// every byte, but only the first line, the line feeds that push the screen off and the
    /// last screenful go through the emulator. The lines in between would only scroll through
    /// the screen and off its top, so they go straight into the history as they are. `None`
    /// (nothing done) when the bytes or the screen are not like that, or there are too few
    /// lines to gain anything.
    ///
    /// The first line (up to the first `\n`, whatever the row held before: a `\r` that ended
    /// the last batch, a prompt, colour) takes the emulator's own way, so a batch cut anywhere
    /// by a read still takes the fast path for the rest; the last line may end in `\r` (the
    /// `\n` that follows starts the next batch).
    fn feed_plain_lines(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.scrolled.rows.clear();
        let mut lines = std::mem::take(&mut self.plain);
        lines.clear();
        let history = self.feed_plain_lines_with(bytes, &mut lines);
        if history.is_none() {
            lines.clear();
        }
        self.plain = lines;
        history
    }

    /// [`Term::feed_plain_lines`], with `lines` (empty) to collect the ranges in; on return
    /// it holds the lines that go to the history as they are (none unless the fast path ran).
    fn feed_plain_lines_with(
        &mut self,
        bytes: &[u8],
        lines: &mut Vec<Range<u32>>,
    ) -> Option<Vec<u8>> {
        let (rows, cols) = self.size();
        let (rows, cols) = (usize::from(rows), usize::from(cols));
        // One row: no screenful to keep above the cursor, nothing for the path to gain.
        if rows < 2
            || self.region_seen
            || !self.ground
            || self.parser.screen().alternate_screen()
            || u32::try_from(bytes.len()).is_err()
        {
            return None;
        }
        let first = memchr::memchr(b'\n', bytes)? + 1;
        let rest = &bytes[first..];
        // Cheap checks first: enough lines, each `\r\n`-ended, every byte printable.
        let mut start = 0;
        for at in memchr::memchr_iter(b'\n', rest) {
            if at == 0 || rest[at - 1] != b'\r' || at - 1 - start > cols {
                return None;
            }
            // Offsets within `bytes`, whose length fits a u32 (checked above).
            lines.push((first + start) as u32..(first + at - 1) as u32);
            start = at + 1;
        }
        let mut tail = &rest[start..];
        let mut ends = 2 * lines.len();
        let cr = if let [body @ .., b'\r'] = tail {
            tail = body;
            ends += 1;
            true
        } else {
            false
        };
        if lines.len() < 3 * rows || tail.len() > cols {
            return None;
        }
        // Every `\n` has its `\r` (seen above): any other unprintable byte is one too many.
        if unprintable(rest) != ends {
            return None;
        }
        // What the screen shows at the end: the last `keep` lines, then the rest on the last
        // row. The lines before them only scroll through.
        let keep = rows - 1;
        let through = lines.len() - keep;
        debug_assert!(through > 0, "3 screenfuls of lines at least");
        let from = lines[through].start as usize;
        // Offsets within `bytes`, whose length fits a u32 (checked above).
        let tail = (first + start) as u32..(first + start + tail.len()) as u32;
        let head = &bytes[..first];
        if let Some(mut screen) = self.screen.take() {
            if screen.continues_with(head, cols) {
                // 1-2 on the fast path's own screen: the first line ends its last row, and
                // the line feeds push every row off, all plain: they go to the history as
                // they are (`Fed::screen_lines`).
                screen.end_last_row(head);
                std::mem::swap(&mut self.scrolled, &mut screen.rows);
                // 3-4 as below.
                screen.rows.fill(bytes, from, &lines[through..], tail);
                screen.cr = cr;
                lines.truncate(through);
                self.screen = Some(screen);
                self.fast_batches += 1;
                return Some(Vec::new());
            }
            self.screen = Some(screen);
            self.materialize();
        }
        // 1. The first line the normal way; then the cursor must be at the start of the blank
        // last row, with plain attributes (what the fast path's lines are drawn with).
        self.region_seen |= sets_scroll_region(head);
        self.ground = ends_in_ground(head);
        self.parser.process(head);
        let mut history = self.take_scrolled(false);
        let last_row = u16::try_from(rows - 1).unwrap_or(u16::MAX);
        if self.region_seen
            || !self.ground
            || self.parser.screen().alternate_screen()
            || self.parser.screen().cursor_position() != (last_row, 0)
            || !self.plain_drawing()
            || !self.last_row_blank()
        {
            // Not so: the rest the normal way.
            lines.clear();
            self.region_seen |= sets_scroll_region(rest);
            self.ground = ends_in_ground(rest);
            self.parser.process(rest);
            history.extend(self.take_scrolled(false));
            return Some(history);
        }
        // 2. Line feeds push the rows above the cursor off the top (with their colours), as
        // the batch's first lines would: the screen is then blank.
        self.parser.process(&vec![b'\n'; keep]);
        // The last row pushed off is whole (the first line ended it): its line ends now, not
        // when the emulator next scrolls a row off (a blank row leaves no text to end it by,
        // and the lines after it go to the history first).
        history.extend(self.take_scrolled(true));
        // 3. The lines that would scroll through the screen go to the history as they are:
        // they stay in `lines`, after `history`.
        // 4. The last screenful is kept as text, the emulator's screen left blank beneath it
        // (see `PlainScreen`).
        let mut screen = PlainScreen {
            rows: std::mem::take(&mut self.scrolled),
            cr,
        };
        screen.rows.fill(bytes, from, &lines[through..], tail);
        lines.truncate(through);
        self.screen = Some(screen);
        self.ground = true;
        self.fast_batches += 1;
        Some(history)
    }

    /// Batches that took the fast path so far (for the tests).
    #[cfg(test)]
    pub(crate) fn fast_batches(&self) -> u64 {
        self.fast_batches
    }

    /// The fast path alone, with what it scrolled into the history as text (for the tests).
    #[cfg(test)]
    fn fast_path(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let text = self.feed_plain_lines(bytes)?;
        Some(self.fed(text, bytes).into_text())
    }

    /// Text would be drawn with plain attributes.
    fn plain_drawing(&self) -> bool {
        let screen = self.parser.screen();
        screen.fgcolor() == vt100::Color::Default
            && screen.bgcolor() == vt100::Color::Default
            && !(screen.bold() || screen.dim() || screen.italic())
            && !(screen.underline() || screen.inverse())
    }

    /// The last row holds nothing (the cursor's row after a line feed on it).
    fn last_row_blank(&self) -> bool {
        let screen = self.parser.screen();
        let (rows, cols) = self.size();
        (0..cols).all(|col| {
            screen.cell(rows - 1, col).is_some_and(|cell| {
                !(cell.has_contents() || cell.inverse() || cell.underline())
                    && cell.bgcolor() == vt100::Color::Default
            })
        })
    }

    /// The env ended: back to the main screen, and every row down to the last one with text
    /// scrolled into the history, so that all of it can be searched and paged.
    pub fn finish(&mut self) -> Vec<u8> {
        self.materialize();
        if self.parser.screen().alternate_screen() {
            self.parser.process(b"\x1b[?1049l");
        }
        let (rows, _) = self.size();
        let last = self
            .parser
            .screen()
            .rows(0, u16::MAX)
            .enumerate()
            .fold(0, |last, (i, row)| {
                if row.trim_end().is_empty() {
                    last
                } else {
                    i + 1
                }
            });
        if last > 0 {
            // Plain attributes, then the cursor to the bottom row and one line feed per row
            // with text: exactly those rows scroll off the top.
            let mut scroll = format!("\x1b[m\x1b[{rows};1H").into_bytes();
            scroll.extend(std::iter::repeat_n(b'\n', last));
            self.parser.process(&scroll);
        }
        self.take_scrolled(true)
    }

    fn take_scrolled(&mut self, end: bool) -> Vec<u8> {
        let scrolled = self.parser.callbacks_mut();
        if scrolled.text.is_empty() && !(end && scrolled.open) {
            return Vec::new();
        }
        let mut text = std::mem::take(&mut scrolled.text);
        // The capture puts a row's line end before the next row (a wrapped row has none);
        // the history wants each line ended: end the last row now and skip the capture's
        // own `\n` before the next. A row cut by wrapping is ended too: a long logical line
        // is then split at the screen's width, as it was shown.
        if scrolled.open {
            text.push_str("\x1b[m\n");
            scrolled.state = vt100::capture::BasicFormattedCaptureState::default();
            scrolled.open = false;
        }
        text.into_bytes()
    }

    /// The child asked for bracketed paste (`CSI ? 2004 h`).
    pub fn bracketed_paste(&self) -> bool {
        self.parser.screen().bracketed_paste()
    }

    /// The child asked for application cursor keys (`CSI ? 1 h`): arrows send `ESC O A`.
    pub fn application_cursor(&self) -> bool {
        self.parser.screen().application_cursor()
    }

    /// The screen shows the alternate buffer (a full-screen program).
    pub fn alternate_screen(&self) -> bool {
        self.parser.screen().alternate_screen()
    }

    /// Each row's text, trailing blanks removed (for copying and the pinned view).
    pub fn text_rows(&self) -> Vec<String> {
        if let Some(screen) = &self.screen {
            return (0..screen.rows.rows.len())
                .map(|i| {
                    String::from_utf8_lossy(screen.rows.row(i))
                        .trim_end()
                        .to_owned()
                })
                .collect();
        }
        self.parser
            .screen()
            .rows(0, u16::MAX)
            .map(|row| row.trim_end().to_owned())
            .collect()
    }

    /// Draw the screen into `area` of `buf` (cut to the area), with the cursor as a
    /// reversed cell when `cursor` and the child has not hidden it.
    pub fn render(&self, area: Rect, buf: &mut Buffer, cursor: bool) {
        if let Some(plain) = &self.screen {
            self.render_plain(plain, area, buf, cursor);
            return;
        }
        let screen = self.parser.screen();
        let (rows, cols) = self.size();
        let (cur_row, cur_col) = screen.cursor_position();
        for row in 0..rows.min(area.height) {
            let mut col = 0;
            while col < cols.min(area.width) {
                let Some(cell) = screen.cell(row, col) else {
                    break;
                };
                let width = if cell.is_wide() { 2 } else { 1 };
                let mut style = cell_style(cell);
                if cursor && !screen.hide_cursor() && (row, col) == (cur_row, cur_col) {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                let (x, y) = (area.x + col, area.y + row);
                if cell.is_wide() && col + 1 >= area.width {
                    // A wide character cut by the pane's edge: a blank, as a terminal shows.
                    buf[(x, y)].set_symbol(" ").set_style(style);
                } else if cell.has_contents() {
                    buf[(x, y)].set_symbol(cell.contents()).set_style(style);
                    if width == 2 {
                        buf[(x + 1, y)].reset();
                    }
                } else {
                    buf[(x, y)].set_symbol(" ").set_style(style);
                }
                col += width;
            }
        }
    }
}

impl Term {
    /// [`Term::render`] of the fast path's screen: what the emulator would draw for it.
    fn render_plain(&self, plain: &PlainScreen, area: Rect, buf: &mut Buffer, cursor: bool) {
        let (rows, cols) = self.size();
        // The default cell's style (`cell_style` of a blank cell).
        let style = Style::new().fg(Color::Reset).bg(Color::Reset);
        let last = rows.saturating_sub(1);
        let cur_col = if plain.cr {
            0
        } else {
            u16::try_from(plain.rows.row(usize::from(last)).len()).unwrap_or(u16::MAX)
        };
        let show_cursor = cursor && !self.parser.screen().hide_cursor();
        for row in 0..rows.min(area.height) {
            let text = plain.rows.row(usize::from(row));
            for col in 0..cols.min(area.width) {
                let cell = &mut buf[(area.x + col, area.y + row)];
                match text.get(usize::from(col)) {
                    Some(&b) => cell.set_char(char::from(b)),
                    None => cell.set_symbol(" "),
                };
                if show_cursor && (row, col) == (last, cur_col) {
                    cell.set_style(style.add_modifier(Modifier::REVERSED));
                } else {
                    cell.set_style(style);
                }
            }
        }
    }
}

/// How many bytes of `bytes` are not printable ASCII (controls, DEL, anything above): a
/// count, not a search, so that it runs branch-free over vectors of bytes.
fn unprintable(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|chunk| {
            usize::from(
                chunk
                    .iter()
                    .fold(0u8, |n, &b| n + u8::from(b.wrapping_sub(0x20) > 0x5e)),
            )
        })
        .sum()
}

/// `bytes` end outside an escape sequence and a UTF-8 character, as far as their end tells
/// (a sequence begun in an earlier chunk and still open is not seen: the caller tracks that).
fn ends_in_ground(bytes: &[u8]) -> bool {
    let from = bytes.len().saturating_sub(4);
    if let Some(lead) = bytes[from..].iter().rposition(|&b| b & 0xc0 != 0x80) {
        let last = &bytes[from + lead..];
        if std::str::from_utf8(last).is_err_and(|e| e.error_len().is_none()) {
            return false;
        }
    }
    let Some(at) = memchr::memrchr(0x1b, bytes) else {
        return true;
    };
    let rest = &bytes[at + 1..];
    match rest.first() {
        None => false,
        Some(b'[') => rest[1..].iter().any(|b| (0x40..=0x7e).contains(b)),
        // OSC, DCS, APC, PM: open until BEL (or ESC \, a later ESC).
        Some(b']' | b'P' | b'_' | b'^') => rest.contains(&0x07),
        Some(b'(' | b')' | b'#' | b'%' | b'*' | b'+') => rest.len() >= 2,
        Some(_) => true,
    }
}

/// `bytes` set a scroll region: a CSI sequence (`ESC [`, parameters) ending in `r` (DECSTBM).
fn sets_scroll_region(bytes: &[u8]) -> bool {
    memchr::memchr_iter(0x1b, bytes).any(|at| {
        let rest = &bytes[at + 1..];
        rest.first() == Some(&b'[')
            && rest[1..]
                .iter()
                .find(|b| !(b.is_ascii_digit() || **b == b';'))
                .is_some_and(|&b| b == b'r')
    })
}

fn clamp(rows: u16, cols: u16) -> (NonZeroU16, NonZeroU16) {
    (
        NonZeroU16::MIN.saturating_add(rows.saturating_sub(1)),
        NonZeroU16::MIN.saturating_add(cols.saturating_sub(1)),
    )
}

fn colour(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

fn cell_style(cell: &vt100::Cell) -> Style {
    let mut style = Style::new()
        .fg(colour(cell.fgcolor()))
        .bg(colour(cell.bgcolor()));
    for (on, modifier) in [
        (cell.bold(), Modifier::BOLD),
        (cell.dim(), Modifier::DIM),
        (cell.italic(), Modifier::ITALIC),
        (cell.underline(), Modifier::UNDERLINED),
        (cell.inverse(), Modifier::REVERSED),
    ] {
        if on {
            style = style.add_modifier(modifier);
        }
    }
    style
}

/// The bytes a terminal (xterm) sends for `key`: text as UTF-8, Enter as `\r`, Backspace as
/// DEL, Ctrl plus a letter as its control byte (Ctrl-C is 0x03), Alt as an ESC prefix, the
/// arrows as `CSI A`… (`ESC O A`… in application cursor mode), the function keys as xterm's.
pub fn encode_key(key: Key, application_cursor: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if key.alt {
        out.push(0x1b);
    }
    let arrow = |c: u8| -> Vec<u8> {
        if application_cursor {
            vec![0x1b, b'O', c]
        } else {
            vec![0x1b, b'[', c]
        }
    };
    let bytes: Vec<u8> = match key.code {
        KeyCode::Char(c) if key.ctrl => match ctrl_byte(c) {
            Some(b) => vec![b],
            None => c.to_string().into_bytes(),
        },
        KeyCode::Char(c) => c.to_string().into_bytes(),
        KeyCode::Enter => vec![b'\r'],
        KeyCode::Esc => vec![0x1b],
        KeyCode::Tab => vec![b'\t'],
        KeyCode::BackTab => b"\x1b[Z".to_vec(),
        KeyCode::Backspace => vec![if key.ctrl { 0x08 } else { 0x7f }],
        KeyCode::Up => arrow(b'A'),
        KeyCode::Down => arrow(b'B'),
        KeyCode::Right => arrow(b'C'),
        KeyCode::Left => arrow(b'D'),
        KeyCode::Home => arrow(b'H'),
        KeyCode::End => arrow(b'F'),
        KeyCode::PageUp => b"\x1b[5~".to_vec(),
        KeyCode::PageDown => b"\x1b[6~".to_vec(),
        KeyCode::Delete => b"\x1b[3~".to_vec(),
        KeyCode::F(n) => function_key(n),
    };
    out.extend(bytes);
    out
}

/// Ctrl plus `c`: the control byte a terminal sends (`@`, letters, `[ \ ] ^ _`, `?` for DEL,
/// Space and `2` for NUL, `3`-`7` and `8` as xterm maps them).
fn ctrl_byte(c: char) -> Option<u8> {
    let c = c.to_ascii_lowercase();
    Some(match c {
        'a'..='z' => c as u8 - b'a' + 1,
        '@' | ' ' | '2' => 0,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '7' | '/' => 0x1f,
        '?' | '8' => 0x7f,
        _ => return None,
    })
}

fn function_key(n: u8) -> Vec<u8> {
    match n {
        1 => b"\x1bOP".to_vec(),
        2 => b"\x1bOQ".to_vec(),
        3 => b"\x1bOR".to_vec(),
        4 => b"\x1bOS".to_vec(),
        5..=12 => {
            let code = [15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)];
            format!("\x1b[{code}~").into_bytes()
        }
        _ => Vec::new(),
    }
}

/// A paste for the child: wrapped in `ESC [ 200 ~` … `ESC [ 201 ~` when it asked for
/// bracketed paste (any end marker inside the text removed, so the paste cannot end itself
/// early), with line ends as Enter sends them.
pub fn encode_paste(text: &str, bracketed: bool) -> Vec<u8> {
    let body = text.replace("\r\n", "\r").replace('\n', "\r");
    if bracketed {
        let body = body.replace("\x1b[201~", "");
        format!("\x1b[200~{body}\x1b[201~").into_bytes()
    } else {
        body.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(term: &Term) -> Vec<String> {
        term.text_rows()
    }

    /// History bytes as text, without the SGR resets the capture ends rows with (the plain
    /// lines have none), so that both ways of reaching the history compare.
    fn text(history: &[u8]) -> String {
        String::from_utf8_lossy(history).replace("\x1b[m", "")
    }

    /// The emulator's cursor, the fast path's screen drawn into it first.
    fn cursor(term: &mut Term) -> (u16, u16) {
        term.materialize();
        term.parser.screen().cursor_position()
    }

    #[test]
    fn cursor_moves_and_erase_land_where_a_terminal_puts_them() {
        let mut term = Term::new(4, 10);
        assert!(term.feed(b"hello\r\nworld").is_empty());
        assert_eq!(rows(&term), ["hello", "world", "", ""]);
        // Up one, to column 2, erase to the end of the line, write.
        term.feed(b"\x1b[A\x1b[2G\x1b[KEY");
        assert_eq!(rows(&term), ["hEY", "world", "", ""]);
        // Absolute position (row 3, column 4), then erase the whole screen above and at.
        term.feed(b"\x1b[3;4Hx");
        assert_eq!(rows(&term), ["hEY", "world", "   x", ""]);
        term.feed(b"\x1b[2J");
        assert_eq!(rows(&term), ["", "", "", ""]);
    }

    #[test]
    fn lines_scrolling_off_go_to_the_history_with_their_colour() {
        let mut term = Term::new(2, 10);
        let mut history = term.feed(b"one\r\n\x1b[31mtwo\x1b[m\r\nthree\r\nfour");
        assert_eq!(rows(&term), ["three", "four"]);
        assert_eq!(
            String::from_utf8_lossy(&history),
            "one\n\x1b[31mtwo\x1b[m\n"
        );
        // The rest comes at the end, blank rows after the last text left out.
        history = term.finish();
        assert_eq!(String::from_utf8_lossy(&history), "three\nfour\x1b[m\n");
    }

    #[test]
    fn the_alternate_screen_is_left_as_it_was_and_never_enters_the_history() {
        let mut term = Term::new(3, 12);
        term.feed(b"shell$ less\r\n");
        let history = term.feed(b"\x1b[?1049h\x1b[HPAGE 1\r\na\r\nb\r\nc\r\nd");
        assert!(term.alternate_screen());
        assert!(history.is_empty(), "{history:?}");
        assert_eq!(rows(&term), ["b", "c", "d"]);
        term.feed(b"\x1b[?1049l");
        assert!(!term.alternate_screen());
        assert_eq!(rows(&term), ["shell$ less", "", ""]);
    }

    #[test]
    fn a_wide_character_at_the_edge_wraps_whole() {
        let mut term = Term::new(2, 5);
        term.feed("abcd界".as_bytes());
        // Four columns used, one left: the wide character goes to the next row.
        assert_eq!(rows(&term), ["abcd", "界"]);
        let mut buf = Buffer::empty(Rect::new(0, 0, 5, 2));
        term.render(Rect::new(0, 0, 5, 2), &mut buf, false);
        assert_eq!(buf[(0, 1)].symbol(), "界");
        assert_eq!(buf[(3, 0)].symbol(), "d");
    }

    #[test]
    fn colours_reach_the_cells() {
        let mut term = Term::new(1, 10);
        term.feed(b"\x1b[1;38;5;202mA\x1b[38;2;1;2;3;48;5;4mB\x1b[7mC");
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 1));
        term.render(Rect::new(0, 0, 10, 1), &mut buf, false);
        assert_eq!(buf[(0, 0)].fg, Color::Indexed(202));
        assert!(buf[(0, 0)].modifier.contains(Modifier::BOLD));
        assert_eq!(buf[(1, 0)].fg, Color::Rgb(1, 2, 3));
        assert_eq!(buf[(1, 0)].bg, Color::Indexed(4));
        assert!(buf[(2, 0)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn resize_keeps_the_text_and_takes_the_new_size() {
        let mut term = Term::new(3, 10);
        term.feed(b"a\r\nb\r\nc");
        let history = term.resize(2, 4);
        assert_eq!(term.size(), (2, 4));
        // The emulator keeps the cursor's row: the top row leaves the screen for the history.
        assert_eq!(rows(&term), ["b", "c"]);
        assert_eq!(String::from_utf8_lossy(&history), "a\x1b[m\n");
        term.resize(4, 20);
        assert_eq!(term.size(), (4, 20));
        term.feed(b"\r\n0123456789012345");
        assert_eq!(
            rows(&term)
                .iter()
                .filter(|r| r.contains("0123456789012345"))
                .count(),
            1
        );
    }

    /// Plain lines in bulk take the fast path: the screen and the history come out exactly
    /// as when every byte goes through the emulator.
    #[test]
    fn a_flood_of_plain_lines_ends_as_it_would_byte_by_byte() {
        let flood = |from: usize, count: usize| -> Vec<u8> {
            (from..from + count)
                .flat_map(|i| format!("line {i:05}\r\n").into_bytes())
                .chain(b"partial".iter().copied())
                .collect()
        };
        for (start, prompt) in [(&b"\x1b[31mred\x1b[m top\r\n"[..], true), (b"", false)] {
            let mut slow = Term::new(5, 20);
            let mut fast = Term::new(5, 20);
            // Fill the screen first (so rows with colour scroll off), the cursor ending at
            // the start of the blank last row.
            let mut setup = start.to_vec();
            setup.extend(b"a\r\nb\r\nc\r\nd\r\n");
            let mut slow_history = slow.feed(&setup);
            let mut fast_history = fast.feed(&setup);
            let bytes = flood(0, 100);
            for chunk in bytes.chunks(7) {
                slow_history.extend(slow.feed(chunk));
            }
            fast_history.extend(fast.fast_path(&bytes).expect("the fast path"));
            assert_eq!(rows(&fast), rows(&slow), "prompt {prompt}");
            assert_eq!(cursor(&mut fast), (4, 7));
            assert_eq!(text(&fast_history), text(&slow_history));
            assert!(text(&fast_history).contains("line 00095\n"));
            assert!(!text(&fast_history).contains("line 00096"));
            // The next batch continues the unfinished line: the fast path again.
            let more = flood(100, 50);
            for chunk in more.chunks(5) {
                slow_history.extend(slow.feed(chunk));
            }
            fast_history.extend(fast.fast_path(&more).expect("the fast path again"));
            assert_eq!(rows(&fast), rows(&slow));
            assert_eq!(text(&fast_history), text(&slow_history));
            assert!(text(&fast_history).contains("partialline 00100\n"));
            assert_eq!(fast.fast_batches, 2);
        }
        // A screen filled the slow way, the cursor left mid-row on the last row: the next
        // batch still takes the fast path, and matches.
        let mut slow = Term::new(5, 20);
        let mut fast = Term::new(5, 20);
        let first = flood(0, 7);
        slow.feed(&first);
        fast.feed(&first);
        let more = flood(7, 40);
        let mut slow_history = Vec::new();
        for chunk in more.chunks(3) {
            slow_history.extend(slow.feed(chunk));
        }
        let fast_history = fast.fast_path(&more).expect("the fast path mid-row");
        assert_eq!(fast.fast_batches, 1);
        assert_eq!(rows(&fast), rows(&slow));
        assert_eq!(text(&fast_history), text(&slow_history));
        // After coloured text on that row, too: the first line goes the emulator's way.
        let mut slow = Term::new(5, 20);
        let mut fast = Term::new(5, 20);
        for term in [&mut slow, &mut fast] {
            term.feed(&first);
            term.feed(b"\x1b[32mok\x1b[m ");
        }
        let mut slow_history = Vec::new();
        for chunk in more.chunks(3) {
            slow_history.extend(slow.feed(chunk));
        }
        let fast_history = fast.fast_path(&more).expect("the fast path after colour");
        assert_eq!(rows(&fast), rows(&slow));
        assert_eq!(text(&fast_history), text(&slow_history));
        assert!(String::from_utf8_lossy(&fast_history).contains("\x1b[32mok"));
        assert_eq!(fast.fast_batches, 1);
    }

    /// A flood cut into batches anywhere (between `\r` and `\n` too, as the reads cut it)
    /// takes the fast path batch after batch and ends as the emulator alone would end.
    #[test]
    fn a_flood_cut_anywhere_takes_the_fast_path_and_matches() {
        let flood: Vec<u8> = (0..2000)
            .flat_map(|i| format!("tty-0 out {i:010} ~~~~\r\n").into_bytes())
            .collect();
        let mut slow = Term::new(6, 30);
        let mut slow_history = Vec::new();
        for chunk in flood.chunks(11) {
            slow_history.extend(slow.feed(chunk));
        }
        // Cuts: just after a `\r`, just after a `\n`, mid-line.
        let line = flood.len() / 2000;
        let cuts = [
            3 * line * 10 - 1,
            6 * line * 10,
            9 * line * 10 + 7,
            12 * line * 10 - 1,
            flood.len(),
        ];
        let mut fast = Term::new(6, 30);
        let mut fast_history = fast.feed(&flood[..cuts[0]]);
        for pair in cuts.windows(2) {
            let batch = &flood[pair[0]..pair[1]];
            fast_history.extend(fast.fast_path(batch).expect("the fast path"));
        }
        assert_eq!(rows(&fast), rows(&slow));
        assert_eq!(cursor(&mut fast), cursor(&mut slow));
        assert_eq!(text(&fast_history), text(&slow_history));
        assert_eq!(text(&fast_history).lines().count(), 2000 - 5);
        assert_eq!(fast.fast_batches, 4);
    }

    /// Draw `term` into a buffer of `w` x `h` (after a fill, so every cell it leaves shows).
    fn drawn(term: &Term, w: u16, h: u16, cursor: bool) -> Buffer {
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::filled(area, ratatui::buffer::Cell::new("#"));
        term.render(area, &mut buf, cursor);
        buf
    }

    /// The fast path's screen kept as text draws, reads and ends as the emulator's own
    /// screen would: batch after batch of a flood cut anywhere (mid-line, after a `\r`, after
    /// a `\n`, the last row exactly as wide as the screen), with the cursor shown or hidden,
    /// cut by a smaller pane or inside a larger one, then drawn into the emulator by the
    /// next thing that is not a plain flood.
    #[test]
    fn the_plain_screen_reads_as_the_emulators_own() {
        let (rows_n, cols) = (6u16, 24u16);
        let line = |i: usize| {
            // Widths 0 to 24 (the screen's width), so some rows are full and some blank.
            let text = format!("{i:04} {}", "~".repeat(i % 21));
            text[..(i * 7 % 25).min(text.len())].to_string()
        };
        let flood: Vec<u8> = (0..3000)
            .flat_map(|i| format!("{}\r\n", line(i)).into_bytes())
            .collect();
        for hidden in [false, true] {
            let setup: &[u8] = if hidden {
                b"\x1b[?25lstart\r\n"
            } else {
                b"start\r\n"
            };
            let mut slow = Term::new(rows_n, cols);
            let mut fast = Term::new(rows_n, cols);
            let mut slow_history = slow.feed(setup);
            let mut fast_history = fast.feed(setup);
            let mut at = 0;
            let mut plain_batches = 0;
            // Batch sizes that cut the lines everywhere, the `\r\n` pairs included.
            for (n, size) in (0..).zip([997, 1201, 1500, 1024, 2047, 999, 3001].iter().cycle()) {
                if at >= flood.len() || n > 60 {
                    break;
                }
                let end = (at + size).min(flood.len());
                let batch = &flood[at..end];
                for chunk in batch.chunks(13) {
                    slow_history.extend(slow.feed(chunk));
                }
                let had_screen = fast.screen.is_some();
                fast_history.extend(fast.feed(batch));
                plain_batches += usize::from(had_screen && fast.screen.is_some());
                assert_eq!(rows(&fast), rows(&slow), "batch {n}");
                for (w, h, cursor) in [(cols, rows_n, true), (10, 3, true), (30, 8, false)] {
                    assert_eq!(
                        drawn(&fast, w, h, cursor),
                        drawn(&slow, w, h, cursor),
                        "batch {n}, {w}x{h}, cursor {cursor}"
                    );
                }
                at = end;
            }
            assert!(
                plain_batches > 10,
                "{plain_batches} batches on the plain screen"
            );
            assert_eq!(text(&fast_history), text(&slow_history));
            // Anything else draws the screen into the emulator first.
            assert!(fast.screen.is_some());
            for term in [&mut slow, &mut fast] {
                term.feed(b"\x1b[2;3H\x1b[31mX");
            }
            assert!(fast.screen.is_none());
            assert_eq!(rows(&fast), rows(&slow));
            assert_eq!(cursor(&mut fast), cursor(&mut slow));
            assert_eq!(
                drawn(&fast, cols, rows_n, true),
                drawn(&slow, cols, rows_n, true)
            );
            assert_eq!(fast.parser.screen().hide_cursor(), hidden);
            assert_eq!(text(&fast.finish()), text(&slow.finish()));
        }
    }

    /// On a screen of two rows the fast path pushes one row off at a time: a blank one still
    /// reaches the history where the emulator puts it, before the lines after it, wherever
    /// the batches are cut.
    #[test]
    fn a_blank_row_pushed_off_a_two_row_screen_keeps_its_place() {
        let flood: Vec<u8> = (0..60)
            .flat_map(|i| {
                if i % 4 == 1 {
                    b"\r\n".to_vec()
                } else {
                    format!("k{i:02} r\r\n").into_bytes()
                }
            })
            .collect();
        let mut fast_batches = 0;
        for cut in 1..flood.len() / 2 {
            let mut slow = Term::new(2, 9);
            let mut fast = Term::new(2, 9);
            let mut slow_history = Vec::new();
            for chunk in flood.chunks(3) {
                slow_history.extend(slow.feed(chunk));
            }
            let mut fast_history = fast.feed(&flood[..cut]);
            fast_history.extend(fast.feed(&flood[cut..]));
            fast_batches += fast.fast_batches;
            slow_history.extend(slow.finish());
            fast_history.extend(fast.finish());
            assert_eq!(text(&fast_history), text(&slow_history), "cut at {cut}");
        }
        assert!(fast_batches > 50, "{fast_batches} batches on the fast path");
    }

    /// Every way the emulator is read or changed takes the fast path's screen into account:
    /// the cursor after a `\r` or a full last row, a resize, the end, a batch that does not
    /// continue the screen as plain text (a `\r` and new text over the row, a lone `\n`).
    #[test]
    fn the_plain_screen_is_drawn_into_the_emulator_whenever_it_must_be() {
        let lines = |from: usize, n: usize| -> Vec<u8> {
            (from..from + n)
                .flat_map(|i| format!("row {i:03}\r\n").into_bytes())
                .collect()
        };
        // A 5 x 20 screen with the cursor on its last row, where a flood keeps it.
        let on_last_row = || {
            let mut term = Term::new(5, 20);
            term.feed(b"\r\n\r\n\r\n\r\n");
            term
        };
        // Each case: what ends the first flood, then the second batch.
        let full = "x".repeat(20);
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (
                b"part\r".to_vec(),
                [b"\n".to_vec(), lines(100, 30)].concat(),
            ),
            (
                b"part\r".to_vec(),
                [b"over\r\n".to_vec(), lines(100, 30)].concat(),
            ),
            (b"part".to_vec(), [b"\n".to_vec(), lines(100, 30)].concat()),
            (
                b"part".to_vec(),
                [b"ial\r\n".to_vec(), lines(100, 30)].concat(),
            ),
            (
                full.clone().into_bytes(),
                [b"\r\n".to_vec(), lines(100, 30)].concat(),
            ),
            (
                full.clone().into_bytes(),
                [b"y\r\n".to_vec(), lines(100, 30)].concat(),
            ),
            (b"part".to_vec(), b"\x1b[1mbold\x1b[m\r\n".to_vec()),
            (b"".to_vec(), lines(100, 30)),
        ];
        for (i, (end, next)) in cases.iter().enumerate() {
            let first = [lines(0, 40), end.clone()].concat();
            let (mut slow, mut fast) = (on_last_row(), on_last_row());
            let mut slow_history = Vec::new();
            for chunk in first
                .iter()
                .chain(next)
                .copied()
                .collect::<Vec<_>>()
                .chunks(3)
            {
                slow_history.extend(slow.feed(chunk));
            }
            let mut fast_history = fast.feed(&first);
            assert!(fast.screen.is_some(), "case {i}");
            assert_eq!(drawn(&fast, 20, 5, true), {
                let mut probe = on_last_row();
                probe.feed(&first);
                probe.materialize();
                drawn(&probe, 20, 5, true)
            });
            fast_history.extend(fast.feed(next));
            assert_eq!(rows(&fast), rows(&slow), "case {i}");
            assert_eq!(
                drawn(&fast, 20, 5, true),
                drawn(&slow, 20, 5, true),
                "case {i}"
            );
            assert_eq!(cursor(&mut fast), cursor(&mut slow), "case {i}");
            // A row that wrapped comes to the history joined to the next when both scroll off
            // in one batch, as one line cut at the width when they leave in two (the slow
            // side's small chunks): the same text either way.
            let text = |h: &[u8]| text(h).replace(&format!("{full}\ny"), &format!("{full}y"));
            assert_eq!(text(&fast_history), text(&slow_history), "case {i}");
        }
        // A resize and the end, straight from the plain screen.
        for resize in [true, false] {
            let flood = [lines(0, 40), b"tail".to_vec()].concat();
            let (mut slow, mut fast) = (on_last_row(), on_last_row());
            let mut slow_history = Vec::new();
            for chunk in flood.chunks(3) {
                slow_history.extend(slow.feed(chunk));
            }
            let mut fast_history = fast.feed(&flood);
            assert!(fast.screen.is_some());
            if resize {
                slow_history.extend(slow.resize(3, 12));
                fast_history.extend(fast.resize(3, 12));
                assert!(fast.screen.is_none());
                assert_eq!(rows(&fast), rows(&slow));
                assert_eq!(cursor(&mut fast), cursor(&mut slow));
            }
            slow_history.extend(slow.finish());
            fast_history.extend(fast.finish());
            assert_eq!(text(&fast_history), text(&slow_history), "resize {resize}");
            assert!(text(&fast_history).ends_with("row 039\ntail\n"));
        }
    }

    #[test]
    fn unprintable_bytes_are_counted_wherever_they_are() {
        assert_eq!(unprintable(b""), 0);
        assert_eq!(unprintable(b"plain text ~"), 0);
        let mut long = vec![b'x'; 1000];
        assert_eq!(unprintable(&long), 0);
        for (at, bad) in [
            (0, b'\r'),
            (254, b'\n'),
            (255, 0x1b),
            (600, 0x7f),
            (999, 0xc3),
        ] {
            long[at] = bad;
        }
        assert_eq!(unprintable(&long), 5);
        assert_eq!(unprintable(&[0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff]), 4);
    }

    #[test]
    fn the_end_of_a_chunk_tells_whether_a_sequence_is_open() {
        assert!(ends_in_ground(b"plain"));
        assert!(ends_in_ground(b"\x1b[31mred\x1b[m"));
        assert!(!ends_in_ground(b"x\x1b[3"));
        assert!(!ends_in_ground(b"x\x1b"));
        assert!(!ends_in_ground(b"\x1b]0;title"));
        assert!(ends_in_ground(b"\x1b]0;title\x07"));
        assert!(ends_in_ground("é".as_bytes()));
        assert!(!ends_in_ground(&"é".as_bytes()[..1]));
    }

    #[test]
    fn the_fast_path_stands_aside_for_anything_not_plain() {
        let lines: Vec<u8> = (0..100)
            .flat_map(|i| format!("{i}\r\n").into_bytes())
            .collect();
        // A scroll region once set: a line feed on the last row may not scroll the screen.
        let mut term = Term::new(5, 20);
        term.feed(b"\x1b[1;3r\x1b[5;1H");
        assert!(term.region_seen);
        assert!(term.fast_path(&lines).is_none());
        // Colour in the lines, a lone line feed, a line wider than the screen, the
        // alternate screen, a cursor elsewhere: the emulator takes every byte.
        let mut term = Term::new(5, 20);
        term.feed(b"\r\n\r\n\r\n\r\n");
        let mut coloured = lines.clone();
        coloured.extend(b"\x1b[1mbold\r\n");
        assert!(term.fast_path(&coloured).is_none());
        assert!(term.fast_path(b"a\nb\n").is_none());
        let wide: Vec<u8> = (0..100)
            .flat_map(|_| {
                [b'x'; 25]
                    .iter()
                    .chain(b"\r\n")
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(term.fast_path(&wide).is_none());
        // The cursor elsewhere after the first line, or the alternate screen: the rest goes
        // the emulator's way too.
        term.feed(b"\x1b[1;1H");
        assert!(term.fast_path(&lines).is_some());
        term.feed(b"\x1b[5;1H\x1b[?1049h\x1b[5;1H");
        assert!(term.fast_path(&lines).is_none());
        assert_eq!(term.fast_batches, 0);
    }

    #[test]
    fn a_one_row_screen_takes_a_flood_the_emulators_way() {
        let lines: Vec<u8> = (0..100)
            .flat_map(|i| format!("{i}\r\n").into_bytes())
            .collect();
        let mut fast = Term::new(1, 20);
        let mut slow = Term::new(1, 20);
        fast.feed(b"\r\n");
        slow.feed(b"\r\n");
        let history = fast.feed(&lines);
        let mut slow_history = Vec::new();
        for chunk in lines.chunks(7) {
            slow_history.extend(slow.feed(chunk));
        }
        assert_eq!(fast.fast_batches, 0);
        assert_eq!(rows(&fast), rows(&slow));
        assert_eq!(text(&history), text(&slow_history));
        // The blank row the first line feed pushed off, then the hundred lines.
        assert_eq!(text(&history).lines().count(), 101);
    }

    #[test]
    fn keys_are_encoded_as_a_terminal_sends_them() {
        let enc = |key: Key| encode_key(key, false);
        assert_eq!(enc(Key::ctrl('c')), [0x03]);
        assert_eq!(enc(Key::ctrl('d')), [0x04]);
        assert_eq!(enc(Key::ctrl(']')), [0x1d]);
        assert_eq!(enc(Key::char('é')), "é".as_bytes());
        assert_eq!(enc(Key::plain(KeyCode::Enter)), b"\r");
        assert_eq!(enc(Key::plain(KeyCode::Backspace)), [0x7f]);
        assert_eq!(enc(Key::plain(KeyCode::Tab)), b"\t");
        assert_eq!(enc(Key::plain(KeyCode::Up)), b"\x1b[A");
        assert_eq!(encode_key(Key::plain(KeyCode::Up), true), b"\x1bOA");
        assert_eq!(enc(Key::plain(KeyCode::F(1))), b"\x1bOP");
        assert_eq!(enc(Key::plain(KeyCode::F(5))), b"\x1b[15~");
        assert_eq!(enc(Key::plain(KeyCode::F(12))), b"\x1b[24~");
        assert_eq!(enc(Key::alt('x')), b"\x1bx");
        assert_eq!(enc(Key::plain(KeyCode::Delete)), b"\x1b[3~");
    }

    #[test]
    fn pastes_are_bracketed_only_when_asked_for() {
        assert_eq!(encode_paste("a\nb", false), b"a\rb");
        assert_eq!(encode_paste("x\x1b[201~y", true), b"\x1b[200~xy\x1b[201~");
        let mut term = Term::new(2, 10);
        assert!(!term.bracketed_paste());
        term.feed(b"\x1b[?2004h");
        assert!(term.bracketed_paste());
    }
}
