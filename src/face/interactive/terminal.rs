//! The terminal while the TUI owns it: raw mode, the alternate screen and mouse capture taken
//! and given back (also from the emergency hook, with no lock), and Ctrl-Z's suspend and resume;
//! and the [`Tui`] the frames are drawn on, each frame written in one piece.

use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;

use crossterm::event as ct;
use crossterm::terminal;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::error::Error;
use crate::runner::sys;

/// Escape sequences that undo everything the TUI set up: mouse capture off, alternate screen
/// left, cursor shown.
const RESTORE_SEQUENCE: &[u8] =
    b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?2004l\x1b[?1049l\x1b[?25h";

/// Bytes of a frame gathered before they are written: a full 200x50 repaint with colours is
/// about 30 KiB, so nearly every frame reaches the terminal in one `write`.
const FRAME_BUFFER: usize = 128 * 1024;

/// The terminal the TUI draws on. Frames go through a buffer that ratatui flushes at the end of
/// every draw: stdout's own line buffer would write a frame (which has no newline) 1 KiB at a
/// time, a syscall and a wake-up of the terminal each, and let the terminal show half-drawn
/// frames while it is slow.
pub(super) type Tui = Terminal<CrosstermBackend<BufWriter<io::Stdout>>>;

/// A [`Tui`] on stdout.
pub(super) fn new_terminal() -> io::Result<Tui> {
    Terminal::new(CrosstermBackend::new(BufWriter::with_capacity(
        FRAME_BUFFER,
        io::stdout(),
    )))
}

/// Restore the terminal without taking any lock that a stuck thread might hold.
pub(super) fn restore_terminal() {
    let _ = terminal::disable_raw_mode();
    sys::write_fd_raw(io::stdout().as_fd(), RESTORE_SEQUENCE);
}

/// Owns raw mode and the alternate screen; dropping it restores the terminal.
pub(super) struct TerminalGuard;

impl TerminalGuard {
    pub(super) fn enter() -> io::Result<Self> {
        crate::face::emergency::register(restore_terminal);
        terminal::enable_raw_mode()?;
        let guard = Self;
        crossterm::execute!(
            io::stdout(),
            terminal::EnterAlternateScreen,
            ct::EnableMouseCapture,
            ct::EnableBracketedPaste,
            crossterm::cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        crate::face::emergency::restore_terminal();
    }
}

/// Mouse capture on (the wheel scrolls panes) or off (the terminal's own selection works).
pub(super) fn set_mouse_capture(on: bool) -> io::Result<()> {
    if on {
        crossterm::execute!(io::stdout(), ct::EnableMouseCapture)
    } else {
        crossterm::execute!(io::stdout(), ct::DisableMouseCapture)
    }
}

/// Put `text` on the terminal's clipboard with OSC 52: base64 inside the sequence, so nothing
/// of the text (a child's output) can end it or reach the terminal as a control.
pub(super) fn copy_to_clipboard(text: &str) -> io::Result<()> {
    let mut out = io::stdout();
    out.write_all(osc52(text).as_bytes())?;
    out.flush()
}

/// The OSC 52 sequence that sets the clipboard to `text`.
pub(super) fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `s`: give the normal screen back (raw mode stays, for the keys) to show the plain stream.
pub(super) fn leave_for_stream() -> io::Result<()> {
    crossterm::execute!(
        io::stdout(),
        ct::DisableMouseCapture,
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    )
}

/// `s` again: the alternate screen and the mouse back, everything to be drawn anew.
pub(super) fn back_from_stream(terminal: &mut Tui, mouse: bool) -> Result<(), Error> {
    crossterm::execute!(
        io::stdout(),
        terminal::EnterAlternateScreen,
        terminal::Clear(terminal::ClearType::All),
        crossterm::cursor::Hide
    )?;
    set_mouse_capture(mouse)?;
    *terminal = new_terminal()?;
    Ok(())
}

/// Ctrl-Z: stop every child group (children in their own sessions ignore the terminal's
/// SIGTSTP), give the terminal back, stop runall; on `fg`, take the terminal again, continue
/// the children and redraw everything.
pub(super) fn suspend(terminal: &mut Tui, mouse: bool) -> Result<(), Error> {
    sys::signal_all_groups(libc::SIGSTOP);
    restore_terminal();
    let _ = io::stdout().flush();
    sys::stop_self();
    // Resumed by SIGCONT.
    terminal::enable_raw_mode()?;
    crossterm::execute!(
        io::stdout(),
        terminal::EnterAlternateScreen,
        terminal::Clear(terminal::ClearType::All),
        ct::EnableBracketedPaste,
        crossterm::cursor::Hide
    )?;
    // As the user left it (`m`).
    set_mouse_capture(mouse)?;
    // A fresh terminal has an empty back buffer, so the next frame paints every cell. (Not
    // `clear()`: it asks the terminal for the cursor position, and the input thread would
    // swallow the answer.)
    *terminal = new_terminal()?;
    sys::signal_all_groups(libc::SIGCONT);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_carries_the_text_in_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // A child's escape inside the text stays inside the base64.
        assert_eq!(osc52("a\x07\x1b]"), "\x1b]52;c;YQcbXQ==\x07");
    }
}
