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
                    out.write_all(b"\n")?;
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::event::{EnvStatus, ExitKind, RunEvent};
    use crate::plan::{EnvSpec, Plan};
    use crate::testreport::{CaseStatus, TestResults};

    fn failing(n: usize) -> Arc<TestResults> {
        let mut tests = TestResults {
            files: vec![PathBuf::from("/r/j.xml")],
            ..TestResults::default()
        };
        for i in 0..n {
            tests.counts.failed += 1;
            tests.cases.push(TestCase {
                name: format!("test_{i}"),
                classname: Some("m".into()),
                file: None,
                line: None,
                status: CaseStatus::Failed,
                time: None,
                message: Some(format!("boom\x1b[31m {i}\nsecond line")),
                kind: None,
                text: String::new(),
                report: 0,
            });
        }
        tests.counts.passed = 7;
        Arc::new(tests)
    }

    #[test]
    fn at_most_twenty_failing_tests_per_env_then_a_count() {
        let plan = Plan::new(vec![EnvSpec::shell("unit", "true", "/tmp")], 1, "/tmp");
        let mut summary = Summary::new(&plan);
        let result = EnvResult {
            tests: Some(failing(25)),
            ..EnvResult::new(
                EnvStatus::Failed {
                    command: 0,
                    exit: ExitKind::Code(1),
                },
                Duration::from_millis(5),
                "/tmp/unit.log",
            )
        };
        summary.record(&RunEvent::EnvFinished { env: 0, result });
        let mut out = Vec::new();
        summary.write_test_results(&mut out, false).expect("write");
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..3],
            [
                "",
                "test results",
                "unit: 25 failing tests (7 passed, 25 failed)"
            ]
        );
        assert_eq!(
            lines[3], "  ✘ m::test_0: boom 0",
            "first line only, escape removed"
        );
        assert_eq!(lines.len(), 3 + 20 + 1, "{text}");
        assert_eq!(lines[23], "  … and 5 more");
    }
}
