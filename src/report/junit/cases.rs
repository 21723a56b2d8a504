//! `--junit`'s suites of real testcases: an env whose test reports were read gets a
//! `<testsuite name="ENV">` with each of their testcases (name, classname, time, outcome with
//! its message, type and text), in report order. A test that failed in a retried attempt
//! and passed in the last one carries the earlier failure as a `<flakyFailure>`; the
//! warnings about the reports (a pass whose reports list failures, a malformed file) become
//! the suite's `<system-err>` and `warning` properties. Every text from a report passes
//! through [`crate::sanitize::text`] (escape sequences removed, what XML cannot carry shown
//! as `\xNN`).

use std::collections::HashMap;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestRerun, TestSuite};

use crate::event::EnvResult;
use crate::sanitize;
use crate::testreport::{self, CaseStatus};

/// Whether `result` has testcases to report instead of the env's one testcase.
pub(super) fn has_cases(result: &EnvResult) -> bool {
    result.tests.as_ref().is_some_and(|t| !t.cases.is_empty())
}

/// The env's suite of testcases (see the module doc); `retried` are its earlier attempts.
pub(super) fn env_suite(name: &str, result: &EnvResult, retried: &[EnvResult]) -> TestSuite {
    let mut suite = TestSuite::new(name);
    if result.ran() {
        suite.set_time(result.duration);
    }
    let Some(tests) = &result.tests else {
        return suite;
    };
    // Failures of earlier attempts by test, for the tests that passed in the end.
    let mut earlier: HashMap<String, Vec<&testreport::TestCase>> = HashMap::new();
    for attempt in retried {
        for case in attempt.tests.iter().flat_map(|t| t.failing()) {
            earlier.entry(case.full_name()).or_default().push(case);
        }
    }
    for case in &tests.cases {
        let mut status = match case.status {
            CaseStatus::Passed => TestCaseStatus::success(),
            CaseStatus::Skipped => {
                let mut status = TestCaseStatus::skipped();
                if let Some(message) = case.first_line() {
                    status.set_message(clean(message));
                }
                status
            }
            CaseStatus::Failed | CaseStatus::Errored => {
                let kind = if case.status == CaseStatus::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut status = TestCaseStatus::non_success(kind);
                status.set_message(clean(
                    case.first_line().unwrap_or_else(|| case.status.word()),
                ));
                if let Some(kind) = &case.kind {
                    status.set_type(clean(kind));
                }
                status.set_description(description(case));
                status
            }
        };
        if case.status == CaseStatus::Passed
            && let Some(failures) = earlier.get(&case.full_name())
        {
            for failure in failures {
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                rerun.set_message(clean(failure.first_line().unwrap_or("failed")));
                rerun.set_description(description(failure));
                status.add_rerun(rerun);
            }
        }
        let mut out = TestCase::new(clean(&case.name), status);
        out.set_classname(clean(case.classname.as_deref().unwrap_or(name)));
        if let Some(time) = case.time {
            out.set_time(time);
        }
        suite.add_test_case(out);
    }
    let warnings = result.test_warnings();
    if !warnings.is_empty() {
        let text: Vec<String> = warnings.iter().map(|w| clean(w)).collect();
        for warning in &text {
            suite.add_property(Property::new("warning", warning.as_str()));
        }
        suite.set_system_err(text.join("\n"));
    }
    suite
}

/// A failure's text for the report: where it failed, then the report's own text.
fn description(case: &testreport::TestCase) -> String {
    let mut text = String::new();
    if let Some(place) = case.location() {
        text.push_str(&place);
        text.push('\n');
    }
    text.push_str(&case.text);
    sanitize::text_lines(&text)
}

fn clean(text: &str) -> String {
    sanitize::text(text.as_bytes())
}
