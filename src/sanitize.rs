//! The one sanitiser: turns bytes that came from a child or from `/proc` into what runall may
//! print for a destination. Pure and allocation-light; every printer of child-derived text
//! goes through here (the logs never do: they stay byte-exact).
//!
//! # Terminal and CI log ([`push_line`], [`terminal_line`])
//!
//! One line in, one line out (the caller splits at `\n` and picks the last `\r` frame with
//! [`last_frame`] first):
//!
//! - printable ASCII, tab and valid UTF-8 text pass through unchanged;
//! - SGR sequences (`ESC [ params m`, colours and text attributes) are kept when colour is on,
//!   removed when it is off; a line that kept one ends with a reset (`ESC [0m`), so no style
//!   leaks onto runall's next prefix;
//! - every other complete escape sequence is removed: other CSI (cursor moves, erase, private
//!   modes such as the alternate screen, cursor hide, mouse tracking), OSC (window titles,
//!   OSC 52 clipboard writes, hyperlinks), DCS / SOS / PM / APC strings, and the short
//!   `ESC x` forms (`ESC c` reset, `ESC 7`, charset selection);
//! - everything else that a terminal would act on is made visible as text: C0 controls other
//!   than tab (BEL, backspace, CR, LF, VT, FF, SO/SI, …), DEL and an `ESC` that does not start
//!   a complete sequence as `\xNN`; C1 controls written as UTF-8 (U+0080–U+009F) and the
//!   non-characters U+FFFE/U+FFFF as `\u{NN}`; each byte of invalid UTF-8 (a lone 0x9B would be
//!   CSI on an 8-bit terminal) as `\xNN`.
//!
//! A clean line (printable ASCII only, the common case) is recognised eight bytes at a time
//! ([`is_plain`]) and copied whole; [`scan_lines`] answers the same for a whole chunk of lines
//! in one vectorised pass, so the `--ci` hot path pays about one extra pass over bytes already
//! in cache (figures in `benches/RESULTS.md`).
//!
//! # Text: XML, JSON, Markdown, workflow-command messages ([`text`])
//!
//! The same rules with colour off, as a `String`: valid UTF-8 with no control character but
//! tab, which XML 1.0 and JSON carry as is (their own syntax escaping stays with their writers:
//! `quick-junit` for `&<>"`, `serde_json` for quotes and backslashes).
//!
//! # GitHub workflow commands ([`workflow_data`], [`workflow_property`])
//!
//! The runner's escaping of a command's message and property values (`%`, CR and LF; also `:`
//! and `,` in properties). Whether child text can *act* as a command is the printer's concern
//! (`report::ci` wraps it in `::stop-commands::`).

use memchr::memrchr;

/// ANSI: back to the default style, appended to a line that kept a child's SGR.
pub const RESET: &[u8] = b"\x1b[0m";

const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether `line` is printable ASCII only (no control byte, no DEL, nothing above 0x7E), so
/// that every destination can take it as it is.
#[inline]
pub fn is_plain(line: &[u8]) -> bool {
    let Some(last) = line.last_chunk::<8>() else {
        return line.iter().all(|b| (0x20..0x7f).contains(b));
    };
    // Eight bytes at a time, without branches: a word's high bits flag a byte below 0x20
    // (`(w - 0x20…) & !w`, exact for "is there one") or of 0x7F and above (`(w + 0x01…) | w`).
    // The last word overlaps the one before it instead of a byte-by-byte tail.
    let suspect = |w: u64| (w.wrapping_sub(0x20 * LO) & !w) | w.wrapping_add(LO) | w;
    let (words, _) = line.as_chunks::<8>();
    let mut acc = suspect(u64::from_ne_bytes(*last));
    for word in words {
        acc |= suspect(u64::from_ne_bytes(*word));
    }
    acc & HI == 0
}

/// What [`scan_lines`] found in a chunk of many lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinesScan {
    /// Only printable ASCII, `\n` and `\r`: each line (once framed at its last `\r`) is plain.
    pub plain: bool,
    /// Some `\r` is there (a line needs framing).
    pub has_cr: bool,
}

/// One pass over a whole chunk, in blocks the compiler turns into wide vector compares: whether
/// any line needs the sanitiser, and whether any needs framing. The `--ci` hot path calls it
/// once per chunk (it replaces the search for `\r` it did before) and checks lines one by one
/// only when the chunk is not plain.
pub fn scan_lines(bytes: &[u8]) -> LinesScan {
    let mut scan = LinesScan {
        plain: true,
        has_cr: false,
    };
    for block in bytes.chunks(4096) {
        let (bad, cr) = block.iter().fold((0u8, 0u8), |(bad, cr), &b| {
            // `&` and `^` on 0/1 bytes, not `&&`, so the loop has no branch and vectorises.
            let outside = u8::from(b.wrapping_sub(0x20) > 0x5e);
            let is_cr = u8::from(b == b'\r');
            (
                bad | (outside & u8::from(b != b'\n') & (is_cr ^ 1)),
                cr | is_cr,
            )
        });
        scan.plain &= bad == 0;
        scan.has_cr |= cr != 0;
    }
    scan
}

/// Appends `line` (one line, without its `\n`) to `out` as a terminal or CI log may show it;
/// `colour` keeps SGR sequences. See the module docs for the rules.
#[inline]
pub fn push_line(out: &mut Vec<u8>, line: &[u8], colour: bool) {
    if is_plain(line) {
        out.extend_from_slice(line);
    } else {
        push_slow(out, line, colour);
    }
}

/// [`push_line`] into a new buffer.
pub fn terminal_line(line: &[u8], colour: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    push_line(&mut out, line, colour);
    out
}

/// `bytes` as plain text for XML, JSON, Markdown and workflow-command messages: the terminal
/// rules with colour off (newlines, too, are shown as `\x0a`).
pub fn text(bytes: &[u8]) -> String {
    let out = terminal_line(bytes, false);
    // Every byte pushed is ASCII or a validated UTF-8 sequence.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// [`text`] for a multi-line text (a traceback from a test report): each line sanitised, the
/// lines kept apart by `\n` (a `\r\n` ending loses its `\r`).
pub fn text_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| self::text(trim_cr(line.as_bytes())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last frame of a line redrawn with `\r` (a progress bar), without its `\n`: the text
/// after its last `\r`, trailing `\r`s ignored (so CRLF loses its CR).
pub fn last_frame(line: &[u8]) -> &[u8] {
    let line = trim_cr(line);
    match memrchr(b'\r', line) {
        Some(pos) => &line[pos + 1..],
        None => line,
    }
}

/// [`last_frame`] of the line `head` + `tail` (a line split across reads), as two slices,
/// without copying.
pub fn last_frame_joined<'a>(head: &'a [u8], tail: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    let tail = trim_cr(tail);
    if tail.is_empty() {
        return (last_frame(head), &[]);
    }
    if let Some(pos) = memrchr(b'\r', tail) {
        return (&[], &tail[pos + 1..]);
    }
    let start = memrchr(b'\r', head).map_or(0, |pos| pos + 1);
    (&head[start..], tail)
}

/// Drops the frames of an incomplete line that [`last_frame`] can no longer show, whatever
/// follows: everything up to its last `\r` that has text after it. A run of trailing `\r`s is
/// kept as one.
pub fn drop_hidden_frames(partial: &mut Vec<u8>) {
    let text_end = trim_cr(partial).len();
    let trailing_cr = text_end < partial.len();
    let start = memrchr(b'\r', &partial[..text_end]).map_or(0, |pos| pos + 1);
    partial.truncate(text_end);
    partial.drain(..start);
    if trailing_cr {
        partial.push(b'\r');
    }
}

/// `bytes` without its trailing carriage returns.
pub fn trim_cr(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] == b'\r' {
        end -= 1;
    }
    &bytes[..end]
}

/// A workflow command's message, escaped as the GitHub runner expects (`%`, CR, LF).
pub fn workflow_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped (`%`, CR, LF, `:` and `,`).
pub fn workflow_property(text: &str) -> String {
    workflow_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The careful path of [`push_line`]: byte by byte, copying clean runs whole.
fn push_slow(out: &mut Vec<u8>, line: &[u8], colour: bool) {
    let mut kept_sgr = false;
    let mut run = 0; // start of the pending clean run
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if (0x20..0x7f).contains(&b) || b == b'\t' {
            i += 1;
            continue;
        }
        if b >= 0x80 {
            let width = utf8_width(&line[i..]);
            if width > 0 && !is_visible_char(&line[i..i + width]) {
                i += width;
                continue;
            }
            out.extend_from_slice(&line[run..i]);
            if width > 0 {
                push_codepoint(out, &line[i..i + width]);
                i += width;
            } else {
                push_hex(out, b);
                i += 1;
            }
            run = i;
            continue;
        }
        out.extend_from_slice(&line[run..i]);
        if b == 0x1b
            && let Some((len, sgr)) = escape(&line[i..])
        {
            if sgr && colour {
                out.extend_from_slice(&line[i..i + len]);
                kept_sgr = true;
            }
            i += len;
        } else {
            push_hex(out, b);
            i += 1;
        }
        run = i;
    }
    out.extend_from_slice(&line[run..]);
    if kept_sgr {
        out.extend_from_slice(RESET);
    }
}

/// The length of the complete escape sequence `bytes` starts with (`bytes[0]` is ESC), and
/// whether it is an SGR; `None` when it is not a complete sequence.
fn escape(bytes: &[u8]) -> Option<(usize, bool)> {
    match *bytes.get(1)? {
        b'[' => {
            let mut i = 2;
            while bytes.get(i).is_some_and(|b| (0x30..=0x3f).contains(b)) {
                i += 1;
            }
            let params = &bytes[2..i];
            let intermediates = i;
            while bytes.get(i).is_some_and(|b| (0x20..=0x2f).contains(b)) {
                i += 1;
            }
            let last = *bytes.get(i)?;
            if !(0x40..=0x7e).contains(&last) {
                return None;
            }
            let sgr = last == b'm'
                && i == intermediates
                && params
                    .iter()
                    .all(|b| b.is_ascii_digit() || *b == b';' || *b == b':');
            Some((i + 1, sgr))
        }
        // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (`ESC \`). CAN, SUB or another
        // ESC cancel it: it ends before them, and they are handled on their own.
        b']' | b'P' | b'X' | b'^' | b'_' => {
            let mut i = 2;
            loop {
                match *bytes.get(i)? {
                    0x07 => return Some((i + 1, false)),
                    0x1b if bytes.get(i + 1) == Some(&b'\\') => return Some((i + 2, false)),
                    0x1b | 0x18 | 0x1a => return Some((i, false)),
                    _ => i += 1,
                }
            }
        }
        // nF: intermediates then a final byte (charset selection `ESC ( B`, …).
        0x20..=0x2f => {
            let mut i = 2;
            while bytes.get(i).is_some_and(|b| (0x20..=0x2f).contains(b)) {
                i += 1;
            }
            (0x30..=0x7e)
                .contains(bytes.get(i)?)
                .then_some((i + 1, false))
        }
        // Fp, Fe, Fs: `ESC 7`, `ESC M`, `ESC c`, …
        0x30..=0x7e => Some((2, false)),
        _ => None,
    }
}

/// The length of the valid UTF-8 sequence `bytes` starts with, or 0 if it is invalid.
fn utf8_width(bytes: &[u8]) -> usize {
    let width = match bytes[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return 0,
    };
    match bytes.get(..width).map(std::str::from_utf8) {
        Some(Ok(_)) => width,
        _ => 0,
    }
}

/// Whether the valid UTF-8 sequence `ch` must be shown escaped: a C1 control (U+0080–U+009F)
/// or U+FFFE/U+FFFF.
fn is_visible_char(ch: &[u8]) -> bool {
    matches!(ch, [0xc2, 0x80..=0x9f] | [0xef, 0xbf, 0xbe | 0xbf])
}

/// `\u{NN}` for the valid UTF-8 sequence `ch`.
fn push_codepoint(out: &mut Vec<u8>, ch: &[u8]) {
    let c = std::str::from_utf8(ch)
        .ok()
        .and_then(|s| s.chars().next())
        .map_or(0, u32::from);
    out.extend_from_slice(format!("\\u{{{c:x}}}").as_bytes());
}

/// `\xNN`.
fn push_hex(out: &mut Vec<u8>, b: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[
        b'\\',
        b'x',
        DIGITS[usize::from(b >> 4)],
        DIGITS[usize::from(b & 0xf)],
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_join_across_pieces() {
        assert_eq!(last_frame(b"a\rb\r"), b"b");
        assert_eq!(last_frame(b"\r\r"), b"");
        assert_eq!(last_frame_joined(b"ab", b"cd"), (&b"ab"[..], &b"cd"[..]));
        assert_eq!(last_frame_joined(b"ab\r", b"cd\r"), (&b""[..], &b"cd"[..]));
        assert_eq!(last_frame_joined(b"x\rab", b""), (&b"ab"[..], &b""[..]));
        assert_eq!(last_frame_joined(b"x\rab", b"c\rd"), (&b""[..], &b"d"[..]));
        let mut partial = b"1%\r2%\r\r\r".to_vec();
        drop_hidden_frames(&mut partial);
        assert_eq!(partial, b"2%\r");
    }

    /// Every split of every short line over `a`, `b`, `\r`: the joined frame is the frame of
    /// the whole, and dropping hidden frames of a prefix never changes the frame of the line.
    #[test]
    fn the_streaming_forms_are_the_same_rule_as_last_frame() {
        let alphabet = [b'a', b'b', b'\r'];
        for len in 0..=7u32 {
            for mut n in 0..3usize.pow(len) {
                let mut line = Vec::new();
                for _ in 0..len {
                    line.push(alphabet[n % 3]);
                    n /= 3;
                }
                let whole = last_frame(&line);
                for cut in 0..=line.len() {
                    let (head, tail) = last_frame_joined(&line[..cut], &line[cut..]);
                    assert_eq!([head, tail].concat(), whole, "{line:?} cut at {cut}");
                    let mut partial = line[..cut].to_vec();
                    drop_hidden_frames(&mut partial);
                    partial.extend_from_slice(&line[cut..]);
                    assert_eq!(last_frame(&partial), whole, "{line:?} compacted at {cut}");
                }
            }
        }
    }

    fn term(line: &[u8], colour: bool) -> String {
        String::from_utf8(terminal_line(line, colour)).unwrap()
    }

    #[test]
    fn plain_lines_are_recognised_at_every_length_and_position() {
        for len in 0..80 {
            let line = vec![b'a'; len];
            assert!(is_plain(&line), "{len}");
            for at in 0..len {
                for bad in [0x00, 0x07, 0x09, 0x0a, 0x1b, 0x1f, 0x7f, 0x80, 0xc2, 0xff] {
                    let mut line = line.clone();
                    line[at] = bad;
                    assert!(!is_plain(&line), "{len} {at} {bad:#x}");
                }
            }
        }
        assert!(is_plain(b" ~!09AZaz"));
        let scan = |bytes: &[u8]| {
            let s = scan_lines(bytes);
            (s.plain, s.has_cr)
        };
        assert_eq!(scan(b"a\nb\r\n~ \n"), (true, true));
        assert_eq!(scan(b"a\nb\n"), (true, false));
        assert_eq!(scan(b""), (true, false));
        let long = b"x".repeat(9000);
        for at in [0, 4095, 4096, 8999] {
            for bad in [0x00, 0x09, 0x1b, 0x7f, 0x80, 0xff] {
                let mut chunk = long.clone();
                chunk[at] = bad;
                assert_eq!(scan(&chunk), (false, false), "{bad:#x} at {at}");
            }
            let mut chunk = long.clone();
            chunk[at] = b'\r';
            assert_eq!(scan(&chunk), (true, true), "\\r at {at}");
        }
    }

    #[test]
    fn sgr_is_kept_with_colour_only_and_reset_at_the_end() {
        let line = b"\x1b[1;31mred\x1b[0m and \x1b[38:5:2mgreen";
        assert_eq!(
            term(line, true),
            "\x1b[1;31mred\x1b[0m and \x1b[38:5:2mgreen\x1b[0m"
        );
        assert_eq!(term(line, false), "red and green");
        assert_eq!(term(b"\x1b[m", false), "");
    }

    #[test]
    fn terminal_controls_are_removed() {
        let cases: [(&[u8], &str); 14] = [
            (b"a\x1b[2Jb", "ab"),                                  // erase screen
            (b"\x1b[?1049hfull\x1b[?1049l", "full"),               // alternate screen
            (b"\x1b[?25l\x1b[?1000h\x1b[?1006h", ""),              // cursor, mouse
            (b"x\x1b[5A\x1b[2K\x1b[1Gy", "xy"),                    // cursor moves, erase line
            (b"\x1b[?2004h\x1b[>4;2m", ""),                        // private SGR-like is not SGR
            (b"\x1b]0;evil title\x07t", "t"),                      // OSC title, BEL
            (b"\x1b]52;c;aGVsbG8=\x1b\\c", "c"),                   // OSC 52 clipboard, ST
            (b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"), // hyperlink
            (b"\x1bP+q544e\x1b\\d", "d"),                          // DCS
            (b"\x1b_apc\x1b\\\x1b^pm\x07\x1bXsos\x1b\\e", "e"),    // APC, PM, SOS
            (b"\x1bc\x1b7\x1b8\x1bM\x1b=", ""),                    // RIS, save/restore, …
            (b"\x1b(0q\x1b(B", "q"),                               // charset selection
            (b"\x1b#8", ""),                                       // DECALN
            (b"\x1b[1;2 q", ""),                                   // cursor style (intermediate)
        ];
        for (line, want) in cases {
            assert_eq!(term(line, true), want, "{line:?}");
            assert_eq!(term(line, false), want, "{line:?}");
        }
    }

    #[test]
    fn lone_controls_and_broken_sequences_are_made_visible() {
        assert_eq!(
            term(b"a\x07b\x08c\x00d\x7fe", false),
            r"a\x07b\x08c\x00d\x7fe"
        );
        assert_eq!(
            term(b"one\ntwo\rthree\x0bfour\x0c", false),
            r"one\x0atwo\x0dthree\x0bfour\x0c"
        );
        assert_eq!(term(b"\x0e\x0f", false), r"\x0e\x0f");
        assert_eq!(term(b"tab\tkept", false), "tab\tkept");
        // Unterminated or malformed: the ESC is shown and the rest is text.
        assert_eq!(term(b"\x1b[31", true), r"\x1b[31");
        assert_eq!(term(b"\x1b]0;title", true), r"\x1b]0;title");
        assert_eq!(term(b"\x1b", true), r"\x1b");
        assert_eq!(term(b"\x1b[3\x07m", false), r"\x1b[3\x07m");
        assert_eq!(term(b"\x1b\x1b[1m!", true), "\\x1b\x1b[1m!\x1b[0m");
        // A cancelled string ends at CAN, which is shown.
        assert_eq!(term(b"\x1b]0;x\x18y", false), r"\x18y");
    }

    #[test]
    fn c1_controls_invalid_utf8_and_noncharacters_are_made_visible() {
        assert_eq!(
            term("\u{9b}2J\u{9d}0;t\u{9c}".as_bytes(), true),
            r"\u{9b}2J\u{9d}0;t\u{9c}"
        );
        assert_eq!(term("\u{85}next".as_bytes(), false), r"\u{85}next");
        assert_eq!(
            term(b"raw \x9b31m \xff\xfe \xc3\x28", false),
            r"raw \x9b31m \xff\xfe \xc3("
        );
        assert_eq!(term(b"\xed\xa0\x80", false), r"\xed\xa0\x80"); // a surrogate
        assert_eq!(term(b"\xc0\xaf", false), r"\xc0\xaf"); // overlong
        assert_eq!(
            term("x\u{fffe}\u{ffff}y".as_bytes(), false),
            r"x\u{fffe}\u{ffff}y"
        );
        let unicode = "ünïcødé ✔ 日本 🦀 \u{a0}";
        assert_eq!(term(unicode.as_bytes(), true), unicode);
        assert_eq!(
            term("cut é".as_bytes().split_last().unwrap().1, false),
            r"cut \xc3"
        );
    }

    #[test]
    fn a_forged_line_stays_on_its_line() {
        // A leaked process named to look like another env's line.
        let got = text(b"sleep 9\nvictim | FAKE\r\x1b[2K");
        assert_eq!(got, r"sleep 9\x0avictim | FAKE\x0d");
        assert!(!got.contains(['\n', '\r', '\x1b']));
    }

    #[test]
    fn text_carries_no_control_and_is_valid_utf8() {
        let all: Vec<u8> = (0..=255u8).collect();
        let got = text(&all);
        assert!(
            got.chars()
                .all(|c| c == '\t' || !(c.is_control() || c == '\u{fffe}')),
            "{got:?}"
        );
        assert_eq!(text(b"\x1b[31mred\x1b[0m"), "red");
    }

    #[test]
    fn frames_and_workflow_escapes() {
        assert_eq!(last_frame(b"10%\r50%\r100%\r"), b"100%");
        assert_eq!(last_frame(b"crlf\r"), b"crlf");
        assert_eq!(last_frame(b"\r\r"), b"");
        assert_eq!(workflow_data("100% a\r\nb: c,d"), "100%25 a%0D%0Ab: c,d");
        assert_eq!(workflow_property("a: b,c%"), "a%3A b%2Cc%25");
    }
}
