//! The terminal while the TUI owns it: raw mode, the alternate screen and mouse capture taken
//! and given back (also from the emergency hook, with no lock), and Ctrl-Z's suspend and resume.

use std::io::{self, Write};
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
    b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?1049l\x1b[?25h";

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

/// Ctrl-Z: stop every child group (children in their own sessions ignore the terminal's
/// SIGTSTP), give the terminal back, stop runall; on `fg`, take the terminal again, continue
/// the children and redraw everything.
pub(super) fn suspend(terminal: &mut Terminal<CrosstermBackend<io::Stdout>>) -> Result<(), Error> {
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
        ct::EnableMouseCapture,
        crossterm::cursor::Hide
    )?;
    // A fresh terminal has an empty back buffer, so the next frame paints every cell. (Not
    // `clear()`: it asks the terminal for the cursor position, and the input thread would
    // swallow the answer.)
    *terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    sys::signal_all_groups(libc::SIGCONT);
    Ok(())
}
