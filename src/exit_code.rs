//! runall's exit codes, in one place. A run ended by a signal exits by re-raising that signal
//! (so a shell sees 130 for SIGINT, 143 for SIGTERM; the emergency exits, which cannot wait to
//! re-raise, exit with 128 + the signal number instead); these are the other endings, and
//! [`RunExit`] says which of the two a run takes.

/// Every selected env passed.
pub const OK: u8 = 0;
/// Some env failed, timed out, was skipped because a dependency failed, or was interrupted.
pub const ENV_FAILED: u8 = 1;
/// Usage or config error: nothing was started.
pub const USAGE: u8 = 2;
/// runall itself panicked.
pub const PANIC: u8 = 101;

/// How runall should end once everything is cleaned up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunExit {
    /// Exit with this code.
    Code(u8),
    /// Die by this signal (re-raised with its default action), as a shell expects.
    Signal(i32),
}
