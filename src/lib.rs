//! runall: run many test environments in parallel, live in a TUI or headless with `--ci`.
//!
//! Data flows one way through typed values:
//! config → plan → runner (spawn, pump, reap, signals) → [`event::RunEvent`] stream →
//! reporters → summary → exit code. The pure core (config, plan, event, report) never touches
//! processes or terminals; the OS layer lives in `runner`.

pub mod config;
pub mod event;
pub mod plan;
pub mod report;
