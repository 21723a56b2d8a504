//! The faces: the two drivers that run a plan and show it, and the process-wide safety code
//! they share.
//!
//! - [`headless`]: `--ci`, events to the CI reporter (and `--json`) on buffered sinks.
//! - [`interactive`]: the TUI driver (the terminal, the input thread, the render loop, Ctrl-Z)
//!   over the pure app in [`crate::tui`].
//! - [`signals`]: runall's own signals turned into runner control, the third-signal and
//!   hard-deadline exits.
//! - [`emergency`]: the process-wide emergency hook (terminal restore, killing every group)
//!   used by the panic hook, the signal exits and the TUI's terminal guard.

pub mod emergency;
pub mod headless;
pub mod interactive;
pub mod signals;
