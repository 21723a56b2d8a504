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
                // The common schema (Jenkins' junit-10) requires a rerun's `type`.
                rerun.set_type(clean(failure.kind.as_deref().unwrap_or("failure")));
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use quick_xml::events::Event;

    use super::*;
    use crate::event::{EnvStatus, ExitKind, RunEvent};
    use crate::plan::{EnvSpec, Plan};
    use crate::report::Summary;
    use crate::testreport::{ReportRequest, TestResults};

    fn sample(name: &str) -> Arc<TestResults> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/junit")
            .join(name);
        Arc::new(crate::testreport::read(&ReportRequest {
            patterns: vec![path.to_string_lossy().into_owned()],
            since: None,
            setup_warning: None,
            fresh_dir: None,
        }))
    }

    /// The elements and attributes the env suites may use, by the content model of the
    /// schema CI systems validate against (Jenkins xunit's junit-10): `testsuites` holds
    /// suites; a suite holds suites, properties, testcases, system-out/err; a testcase holds
    /// outcomes, reruns and system-out/err (no properties), and a rerun needs its `type`.
    fn allowed(element: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
        let outcome: &[&str] = &["type", "message"];
        Some(match element {
            // quick-junit, the writer of the whole report, also puts `skipped` (and, when
            // set, `timestamp` and `uuid`) on the root; junit-10 has no such attribute there,
            // Jenkins, GitLab and GitHub's reporters read it or ignore it.
            "testsuites" => (
                &["testsuite"],
                &["name", "time", "tests", "failures", "errors", "skipped"],
            ),
            "testsuite" => (
                &[
                    "testsuite",
                    "properties",
                    "testcase",
                    "system-out",
                    "system-err",
                ],
                &[
                    "name",
                    "tests",
                    "failures",
                    "errors",
                    "group",
                    "time",
                    "skipped",
                    "timestamp",
                    "hostname",
                    "id",
                    "package",
                    "file",
                    "log",
                    "url",
                ],
            ),
            "properties" => (&["property"], &[]),
            "property" => (&[], &["name", "value"]),
            "testcase" => (
                &[
                    "skipped",
                    "error",
                    "failure",
                    "rerunFailure",
                    "rerunError",
                    "flakyFailure",
                    "flakyError",
                    "system-out",
                    "system-err",
                ],
                &["name", "time", "classname", "group"],
            ),
            "failure" | "error" | "skipped" => (&[], outcome),
            "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError" => {
                (&["stackTrace", "system-out", "system-err"], outcome)
            }
            "system-out" | "system-err" | "stackTrace" => (&[], &[]),
            _ => return None,
        })
    }

    /// Walks `xml`, failing on an element, child or attribute the schema does not allow, a
    /// missing required attribute, or a `time` that is not a plain decimal.
    fn check_schema(xml: &str) {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut stack: Vec<String> = Vec::new();
        loop {
            let event = reader.read_event().expect("well-formed");
            let (start, empty) = match &event {
                Event::Start(e) => (Some(e.clone()), false),
                Event::Empty(e) => (Some(e.clone()), true),
                Event::End(_) => {
                    stack.pop();
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let Some(e) = start else { continue };
            let name = e.name().as_ref().to_owned();
            let (_, attributes) = allowed(&name).unwrap_or_else(|| panic!("<{name}> in\n{xml}"));
            if let Some(parent) = stack.last() {
                let (children, _) = allowed(parent).expect("checked");
                assert!(children.contains(&name.as_str()), "<{name}> in <{parent}>");
            }
            let attrs: HashMap<String, String> = e
                .attributes()
                .map(|a| {
                    let a = a.expect("attribute");
                    (a.key.as_ref().to_owned(), a.value.into_owned())
                })
                .collect();
            for (key, value) in &attrs {
                assert!(attributes.contains(&key.as_str()), "{key}= on <{name}>");
                if key == "time" {
                    assert!(
                        value.chars().all(|c| c.is_ascii_digit() || c == '.'),
                        "time {value}"
                    );
                }
            }
            let required: &[&str] = match name.as_str() {
                "testsuite" => &["name", "tests", "failures", "errors"],
                "testcase" => &["name"],
                "property" => &["name", "value"],
                "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError" => &["type"],
                _ => &[],
            };
            for key in required {
                assert!(attrs.contains_key(*key), "<{name}> lacks {key}");
            }
            if !empty {
                stack.push(name);
            }
        }
    }

    #[test]
    fn env_suites_hold_the_real_testcases_and_follow_the_common_schema() {
        let plan = Plan::new(
            ["py", "flaky", "plain"]
                .iter()
                .map(|name| EnvSpec::shell(name, "true", "/tmp"))
                .collect(),
            1,
            "/tmp",
        );
        let failed = EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(1),
        };
        let with = |status, tests, attempt| EnvResult {
            tests: Some(tests),
            attempt,
            ..EnvResult::new(status, Duration::from_millis(10), "/tmp/x.log")
        };
        let mut summary = Summary::new(&plan);
        summary.record(&RunEvent::EnvFinished {
            env: 0,
            result: with(failed.clone(), sample("pytest.xml"), 1),
        });
        // Attempt 1 failed the nextest sample's test, attempt 2 passed everything.
        summary.record(&RunEvent::EnvRetrying {
            env: 1,
            result: with(failed, sample("nextest.xml"), 1),
        });
        let mut passed = (*sample("nextest.xml")).clone();
        for case in &mut passed.cases {
            if case.status.is_failure() {
                case.status = CaseStatus::Passed;
            }
        }
        summary.record(&RunEvent::EnvFinished {
            env: 1,
            result: with(EnvStatus::Passed, Arc::new(passed), 2),
        });
        summary.record(&RunEvent::EnvFinished {
            env: 2,
            result: EnvResult::new(EnvStatus::Passed, Duration::ZERO, "/tmp/p.log"),
        });
        let report = crate::report::junit::build(&plan, &summary, Duration::from_secs(1));
        let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["runall", "py", "flaky"]);
        assert_eq!(
            report.test_suites[0].test_cases.len(),
            1,
            "plain keeps its testcase"
        );
        let py = &report.test_suites[1];
        assert_eq!((py.tests, py.failures, py.errors, py.skipped), (7, 2, 1, 1));
        // The env suites, as the report holds them (the `runall` suite's env testcases carry
        // properties, which junit-10 does not know and readers ignore; not checked here).
        let mut suites = quick_junit::Report::new("runall");
        suites.add_test_suites(report.test_suites[1..].iter().cloned());
        let xml = suites.to_string().expect("serialises");
        check_schema(&xml);
        assert!(
            xml.contains("type=\"test failure\">src/report.rs:412\nthread"),
            "{xml}"
        );
    }
}
