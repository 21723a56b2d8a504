//! Integration tests: the real `runall` binary driven in `--ci` mode.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod ci_mode;
mod config_errors;
mod lifecycle;
mod support;
