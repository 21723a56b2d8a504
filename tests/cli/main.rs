//! Integration tests: the real `runall` binary driven in `--ci` mode.
#![allow(
    clippy::expect_used,
    clippy::doc_markdown,
    clippy::format_push_string,
    reason = "test code: expect is the assertion, docs name shell variables, configs are built as text"
)]

mod balanced_shards;
mod ci_integration;
mod ci_mode;
mod config_errors;
mod guardian;
mod launcher;
mod lifecycle;
mod logs;
mod output_safety;
mod posargs;
mod python_tools;
mod resources;
mod signals;
mod slurm;
mod slurm_cluster;
mod special_files;
mod support;
mod test_reports;
mod tox;
mod tty;
mod tty_e2e;
mod tui_e2e;
