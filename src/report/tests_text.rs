//! The summary's test results: the `tests` column's text and, after the table, each env's
//! failing tests (at most [`SUMMARY_FAILURES`] per attempt, then a count of the rest) and the
//! warnings about its reports, a retried attempt's failures included (marked `flaky` when a
//! later attempt passed). Every text from a report passes through [`sanitize::text`].

use std::io::{self, Write};

use super::{BOLD, RED, RESET, Summary, YELLOW};
use crate::event::EnvResult;
use crate::sanitize;
use crate::testreport::{SUMMARY_FAILURES, TestCase};

/// One failing test on one line: `classname::name (file:line): first line of the message`,
/// report text sanitised for a terminal or CI log.
pub fn failing_line(case: &TestCase) -> String {
    let mut line = sanitize::text(case.full_name().as_bytes());
    if let Some(place) = case.location() {
        line.push_str(" (");
        line.push_str(&sanitize::text(place.as_bytes()));
        line.push(')');
    }
    if case.status == crate::testreport::CaseStatus::Errored {
        line.push_str(" [error]");
    }
    if let Some(first) = case.first_line() {
        line.push_str(": ");
        line.push_str(&sanitize::text(first.as_bytes()));
    }
    line
}

impl Summary {
    /// Whether any env's result carries test results (then the table has a `tests` column).
    pub(super) fn has_tests(&self) -> bool {
        self.envs
            .iter()
            .filter_map(|entry| entry.result.as_ref())
            .any(|result| result.tests.is_some())
    }

    /// After the table: per env (plan order) the failing tests of each attempt that has any,
    /// then the warnings about its reports. Writes nothing when no env has test results.
    pub fn write_test_results<W: Write + ?Sized>(
        &self,
        out: &mut W,
        color: bool,
    ) -> io::Result<()> {
        let mut header = false;
        for entry in &self.envs {
            let Some(last) = &entry.result else {
                continue;
            };
            let flaky = last.flaky();
            let attempts: Vec<(&EnvResult, bool)> = entry
                .retried
                .iter()
                .map(|r| (r, true))
                .chain([(last, false)])
                .collect();
            for (result, retried) in attempts {
                let Some(tests) = &result.tests else {
                    continue;
                };
                let failures = tests.counts.failures();
                let warnings = if retried {
                    tests.warnings.clone()
                } else {
                    result.test_warnings()
                };
                if failures == 0 && warnings.is_empty() {
                    continue;
                }
                if !header {
                    header = true;
                    paint(out, color, BOLD, "test results")?;
                }
                let label = if retried {
                    let word = if flaky { "flaky" } else { "retried" };
                    format!("{} (attempt {}, {word})", entry.name, result.attempt)
                } else if result.attempt > 1 {
                    format!("{} (attempt {})", entry.name, result.attempt)
                } else {
                    entry.name.clone()
                };
                if failures > 0 {
                    let plural = if failures == 1 { "test" } else { "tests" };
                    let line = format!("{label}: {failures} failing {plural} ({})", tests.counts);
                    paint(
                        out,
                        color,
                        if flaky && retried { YELLOW } else { RED },
                        &line,
                    )?;
                    for case in tests.failing().take(SUMMARY_FAILURES) {
                        writeln!(out, "  ✘ {}", failing_line(case))?;
                    }
                    let rest = failures.saturating_sub(SUMMARY_FAILURES as u64);
                    if rest > 0 {
                        writeln!(out, "  … and {rest} more")?;
                    }
                }
                for warning in warnings {
                    let line = format!("⚠ {label}: {}", sanitize::text(warning.as_bytes()));
                    paint(out, color, YELLOW, &line)?;
                }
            }
        }
        Ok(())
    }
}

/// `text` on its own line, in `colour` when asked.
fn paint<W: Write + ?Sized>(out: &mut W, color: bool, sgr: &str, text: &str) -> io::Result<()> {
    if color {
        writeln!(out, "{sgr}{text}{RESET}")
    } else {
        writeln!(out, "{text}")
    }
}
