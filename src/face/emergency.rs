//! The process-wide emergency hook: what every emergency exit (third signal, hard deadline,
//! panic) does before the process ends, in both faces: restore the terminal if the TUI owns
//! it, and (the panic hook) SIGKILL every child group.
//!
//! The TUI registers a restore function here while it owns the terminal; the emergency paths
//! call it before killing and exiting, so the terminal is never left in raw mode. In `--ci`
//! mode nothing is registered and restoring is a no-op.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static RESTORE: OnceLock<fn()> = OnceLock::new();
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Register the function that restores the terminal, and mark the terminal as taken.
pub fn register(restore: fn()) {
    let _ = RESTORE.set(restore);
    ACTIVE.store(true, Ordering::Release);
}

/// Mark the terminal as restored (no emergency restore needed any more).
pub fn released() {
    ACTIVE.store(false, Ordering::Release);
}

/// Restore the terminal if a TUI currently owns it.
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::AcqRel)
        && let Some(restore) = RESTORE.get()
    {
        restore();
    }
}

/// Install a panic hook that restores the terminal and SIGKILLs every child group before the
/// previous hook prints the panic.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        crate::runner::sys::kill_all_groups();
        crate::launcher::emergency::run_all();
        previous(info);
    }));
}
