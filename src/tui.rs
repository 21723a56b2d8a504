//! The TUI's pure parts: the app state and its `update` ([`app`]), the keymap ([`keymap`]) and
//! the view ([`view`], drawn into any ratatui buffer). Nothing here touches a terminal, a
//! thread or a process, so all of it is tested without one; the interactive driver that owns
//! the terminal, the input thread and the render loop is [`crate::face::interactive`]. Each
//! pane's output is a [`crate::scrollback::Scrollback`]; a tty env's screen is a terminal
//! emulator's ([`term`]).

pub mod app;
pub mod budget;
pub mod keymap;
pub mod term;
pub mod view;
