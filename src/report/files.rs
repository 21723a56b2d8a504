//! The report files a run writes besides its logs: `--junit` and `--json` (created before
//! the run, so a bad path stops runall before anything starts) and GitHub's step summary,
//! and their writing once the run is over. Where they go is decided by
//! [`crate::settings`]; this module opens and writes them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Summary, github, junit};
use crate::error::Error;
use crate::plan::Plan;
use crate::stdio;

/// Where `--json` goes, before it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonTarget {
    /// `--json -`.
    Stdout,
    /// `--json FILE`.
    File(PathBuf),
}

/// The report files a run was asked to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportPaths {
    /// `--junit`.
    pub junit: Option<PathBuf>,
    /// `--json`.
    pub json: Option<JsonTarget>,
    /// `$GITHUB_STEP_SUMMARY` under GitHub Actions.
    pub step_summary: Option<PathBuf>,
}

/// Where `--json` goes, opened.
#[derive(Debug)]
pub enum JsonSink {
    /// `--json -`: stdout; the human output moves to stderr.
    Stdout,
    /// `--json FILE`, already created.
    File {
        /// The file's path, for messages.
        path: PathBuf,
        /// The open file.
        file: File,
    },
}

/// The report files of a run, open.
#[derive(Debug)]
pub struct ReportFiles {
    /// `--junit`, created before the run.
    junit: Option<junit::JunitFile>,
    /// `--json`, created before the run; taken by the headless face.
    json: Option<JsonSink>,
    /// `$GITHUB_STEP_SUMMARY` under GitHub Actions.
    step_summary: Option<PathBuf>,
}

impl ReportFiles {
    /// Creates the requested report files, so a bad path stops runall before anything runs.
    pub fn open(paths: &ReportPaths) -> Result<Self, Error> {
        let junit = paths
            .junit
            .as_deref()
            .map(junit::JunitFile::create)
            .transpose()
            .map_err(|e| Error::ReportFile {
                what: "--junit",
                path: e.path,
                source: e.source,
            })?;
        let json = match &paths.json {
            None => None,
            Some(JsonTarget::Stdout) => Some(JsonSink::Stdout),
            Some(JsonTarget::File(path)) => Some(JsonSink::File {
                path: path.clone(),
                file: File::create(path).map_err(|source| Error::ReportFile {
                    what: "--json",
                    path: path.clone(),
                    source,
                })?,
            }),
        };
        Ok(Self {
            junit,
            json,
            step_summary: paths.step_summary.clone(),
        })
    }

    /// The `--json` sink, for the face that streams it.
    pub fn take_json(&mut self) -> Option<JsonSink> {
        self.json.take()
    }

    /// Writes the end-of-run files (also after an interrupt, before runall dies by the
    /// signal). Problems are said on stderr; returns whether a requested report (`--junit`,
    /// `--json`) is missing or incomplete.
    pub fn finish(
        self,
        plan: &Plan,
        summary: &Summary,
        json_error: Option<String>,
        started: Instant,
    ) -> bool {
        let mut failed = false;
        if let Some(error) = json_error {
            say(&error);
            failed = true;
        }
        if let Some(file) = self.junit {
            let report = junit::build(plan, summary, started.elapsed());
            if let Err(error) = file.write(&report) {
                say(&error.to_string());
                failed = true;
            }
        }
        if let Some(path) = &self.step_summary {
            write_step_summary(path, plan, summary);
        }
        failed
    }
}

/// Appends the step summary; a failure is said, but GitHub's summary never fails a run.
fn write_step_summary(path: &Path, plan: &Plan, summary: &Summary) {
    let text = github::step_summary(plan, summary);
    if let Err(error) = github::append_step_summary(path, &text) {
        say(&format!(
            "cannot write the step summary {}: {error}",
            path.display()
        ));
    }
}

/// A `runall: …` line on stderr.
fn say(text: &str) {
    stdio::write_stderr(format!("runall: {text}\n").as_bytes());
}
