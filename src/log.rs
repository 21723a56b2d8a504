//! The log room: everything about the per-env log files under the log folder.
//!
//! - [`log_file_name`]: the name of each attempt's log (`<env>.log`, `<env>@<n>.log`).
//! - [`report_dir_name`]: each attempt's test-report folder (`reports/<env>`, `reports/<env>@<n>`).
//! - [`lock`]: the log-folder lock, so two runs never write the same logs.
//! - [`writer`]: the pipeline stage between the runner and the consumer of events that writes
//!   every output byte to its env's log before forwarding it, and keeps in memory what a
//!   failing log could not take.
//! - [`reader`]: the one way back to an env's output after (or while) it runs: the whole
//!   output or its tail for reporters (the log plus what an incomplete log lacks), and a
//!   read-only open at an offset for the scrollback's paging.

pub mod lock;
mod name;
pub mod reader;
pub mod writer;

pub use name::{REPORTS_DIR, log_file_name, report_dir_name};
