//! The interactive TUI: a ratatui + crossterm front end over the same runner events as `--ci`.
//!
//! The pure parts (scrollback, keymap, app state and update, view) live in submodules and are
//! tested without a terminal; this file owns only the terminal itself.

pub mod app;
pub mod keymap;
pub mod scrollback;
pub mod view;
