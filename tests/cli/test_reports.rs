//! Test results read from the reports envs write, on the real binary with the pinned pytest:
//! each attempt's fresh `{report_dir}` / `RUNALL_REPORT_DIR`, the summary's counts and failing
//! tests, `--junit` read back by `junit-parser`, `--json`'s `tests` and `failing_tests`,
//! GitHub annotations per failing test and the step summary; a pass whose report lists
//! failures, stale, truncated and missing reports, and a flaky retry's failures.

use std::collections::BTreeMap;
use std::fs;
use std::io::BufReader;
use std::process::Output;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::support::{Project, output_of, path_with_python_tools};

/// A test module with passing, failing (a parametrized id, a message with `]]>`, an escape
/// sequence, BEL and a C1 CSI), erroring and skipped tests, and a unicode name.
const TESTS: &str = r#"import pytest


@pytest.mark.parametrize("a,b", [(1, 1), (2, 3)], ids=["same", "differ"])
def test_eq(a, b):
    assert a == b


def test_hostile():
    raise AssertionError("bad ]]> end \x1b[31mred\x07 \x9b2J csi")


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_uses_fixture(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


def test_unicode_ünï():
    assert "ü" == "ü"
"#;

/// Fails on its first run (no marker yet), passes on the next.
const FLAKY_TESTS: &str = r#"import os


def test_once():
    if not os.path.exists("flaky.marker"):
        open("flaky.marker", "w").close()
        raise AssertionError("first attempt")
"#;

const PYTEST: &str = "pytest -q -p no:cacheprovider";

fn config() -> String {
    format!(
        r#"
[env.py]
commands = ["{PYTEST} --junitxml={{report_dir}}/junit.xml tests/test_demo.py"]
[env.flaky]
retries = 1
commands = [["sh", "-c", "{PYTEST} --junitxml=\"$RUNALL_REPORT_DIR/j.xml\" flaky/test_flaky.py"]]
[env.liar]
commands = ["{PYTEST} --junitxml={{report_dir}}/junit.xml tests/test_demo.py || true"]
[env.stale]
commands = ["true"]
test_reports = ["old/*.xml"]
[env.cut]
commands = ["printf '<testsuite>\\n<testcase name=\"whole\"/>\\n<testcase name=\"half\">' > \"$RUNALL_REPORT_DIR/cut.xml\""]
[env.plain]
commands = ["true"]
"#
    )
}

fn project() -> Project {
    let p = Project::new(&config());
    fs::create_dir_all(p.path().join("tests")).expect("tests dir");
    fs::write(p.path().join("tests/test_demo.py"), TESTS).expect("tests");
    fs::create_dir_all(p.path().join("flaky")).expect("flaky dir");
    fs::write(p.path().join("flaky/test_flaky.py"), FLAKY_TESTS).expect("flaky tests");
    fs::create_dir_all(p.path().join("old")).expect("old dir");
    let old = p.path().join("old/report.xml");
    fs::write(
        &old,
        "<testsuite><testcase name=\"from_yesterday\"/></testsuite>",
    )
    .expect("old");
    let yesterday = SystemTime::now() - Duration::from_secs(86_400);
    fs::File::options()
        .write(true)
        .open(&old)
        .and_then(|f| f.set_modified(yesterday))
        .expect("age the old report");
    p
}

fn run(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = p.command(args);
    command.env("PATH", path_with_python_tools());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = output_of(&mut command);
    p.assert_no_survivors();
    output
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// The one line that starts with `prefix`.
fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    let found: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "one line starting {prefix:?} in\n{text}");
    found[0]
}

/// What the hostile message becomes on every output: pytest writes ESC and BEL as `#x1B`
/// and `#x07` text (XML cannot carry them), the C1 CSI (U+009B) reaches the report and is
/// shown as text by runall, `]]>` stays.
const HOSTILE_SHOWN: &str = "AssertionError: bad ]]> end #x1B[31mred#x07 \\u{9b}2J csi";

#[test]
fn pytest_reports_reach_the_summary_junit_and_json_per_test() {
    let p = project();
    let out = run(
        &p,
        &[
            "--ci",
            "--color",
            "never",
            "--junit",
            "junit.xml",
            "--json",
            "events.jsonl",
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        !stdout.contains('\u{9b}') && !stdout.contains('\x1b'),
        "{stdout:?}"
    );

    // Every attempt got its own folder under the log folder, named like its log.
    let reports = p.path().join(".runall/logs/reports");
    assert!(reports.join("py/junit.xml").is_file());
    assert!(reports.join("flaky/j.xml").is_file(), "attempt 1");
    assert!(reports.join("flaky@2/j.xml").is_file(), "attempt 2");

    // The summary: counts next to each outcome, then the failing tests and the warnings.
    let row = crate::support::summary_row(&stdout, "py");
    assert!(row.contains("exit 1"), "{row}");
    assert!(
        row.contains("2 passed, 2 failed, 1 errored, 1 skipped"),
        "{row}"
    );
    let liar = crate::support::summary_row(&stdout, "liar");
    assert!(
        liar.contains("passed") && liar.contains("2 passed, 2 failed"),
        "{liar}"
    );
    let results = stdout
        .split_once("\ntest results\n")
        .unwrap_or_else(|| panic!("no test results in\n{stdout}"))
        .1;
    let results: Vec<&str> = lines(results);
    let py = results
        .iter()
        .position(|l| *l == "py: 3 failing tests (2 passed, 2 failed, 1 errored, 1 skipped)")
        .unwrap_or_else(|| panic!("{results:#?}"));
    assert_eq!(
        results[py + 1..py + 4],
        [
            "  ✘ tests.test_demo::test_eq[differ] (tests/test_demo.py:6): assert 2 == 3".to_owned(),
            format!("  ✘ tests.test_demo::test_hostile (tests/test_demo.py:10): {HOSTILE_SHOWN}"),
            "  ✘ tests.test_demo::test_uses_fixture (tests/test_demo.py:15) [error]: failed on \
             setup with \"RuntimeError: fixture broke\""
                .to_owned(),
        ]
    );
    assert!(
        results.contains(&"flaky (attempt 1, flaky): 1 failing test (0 passed, 1 failed)"),
        "{results:#?}"
    );
    assert!(
        results.contains(
            &"  ✘ flaky.test_flaky::test_once (flaky/test_flaky.py:7): AssertionError: first attempt"
        ),
        "{results:#?}"
    );
    let liar_warning = "⚠ liar: the env passed (its commands exited 0) but its test reports \
                        list 3 failing tests";
    assert!(results.contains(&liar_warning), "{results:#?}");
    let stale = line_starting(&stdout, "⚠ stale: ");
    assert!(
        stale.ends_with(
            "old/report.xml: ignored: older than the attempt (a stale report from \
                         an earlier run)"
        ),
        "{stale}"
    );
    let cut = line_starting(&stdout, "⚠ cut: ");
    assert!(
        cut.ends_with(
            "cut.xml:3: truncated: the file ends inside the <testcase> opened on line 3 (the 1 \
             testcases before it are counted)"
        ),
        "{cut}"
    );
    // The live line of the env says it too.
    assert!(
        stdout.contains(
            "\nliar  | ⚠ the env passed (its commands exited 0) but its test reports list 3 \
             failing tests\n"
        ),
        "{stdout}"
    );

    check_junit(&p.path().join("junit.xml"));
    check_json(&fs::read_to_string(p.path().join("events.jsonl")).expect("json"));
}

fn check_junit(path: &std::path::Path) {
    let file = fs::File::open(path).expect("junit file");
    let suites = junit_parser::from_reader(BufReader::new(file)).expect("valid JUnit XML");
    let by_name: BTreeMap<&str, &junit_parser::TestSuite> =
        suites.suites.iter().map(|s| (s.name.as_str(), s)).collect();
    let names: Vec<&str> = by_name.keys().copied().collect();
    assert_eq!(names, ["cut", "flaky", "liar", "py", "runall"], "suites");
    // Envs without reports keep their one testcase in `runall`.
    let runall: Vec<&str> = by_name["runall"]
        .cases
        .iter()
        .map(|c| c.original_name.as_str())
        .collect();
    assert_eq!(runall, ["stale", "plain"]);

    let py = by_name["py"];
    assert_eq!((py.tests, py.failures, py.errors, py.skipped), (6, 2, 1, 1));
    let cases: BTreeMap<&str, &junit_parser::TestCase> = py
        .cases
        .iter()
        .map(|c| (c.original_name.as_str(), c))
        .collect();
    let names: Vec<&str> = cases.keys().copied().collect();
    assert_eq!(
        names,
        [
            "test_eq[differ]",
            "test_eq[same]",
            "test_hostile",
            "test_skipped",
            "test_unicode_ünï",
            "test_uses_fixture"
        ]
    );
    for case in cases.values() {
        assert_eq!(case.classname.as_deref(), Some("tests.test_demo"));
    }
    assert!(cases["test_eq[same]"].status.is_success());
    let junit_parser::TestStatus::Failure(differ) = &cases["test_eq[differ]"].status else {
        panic!("{:?}", cases["test_eq[differ]"].status);
    };
    assert_eq!(differ.message, "assert 2 == 3");
    assert!(
        differ.text.starts_with("tests/test_demo.py:6\n"),
        "{}",
        differ.text
    );
    let junit_parser::TestStatus::Failure(hostile) = &cases["test_hostile"].status else {
        panic!("{:?}", cases["test_hostile"].status);
    };
    assert_eq!(hostile.message, HOSTILE_SHOWN);
    // junit-parser drops the entity references of a text body, so the body is checked in the
    // file itself: `]]>` escaped, the C1 control shown as text, the colour code in pytest's
    // spelling (`#x1B[31m`) dropped from the traceback.
    assert!(
        hostile.text.starts_with("tests/test_demo.py:10\n"),
        "{}",
        hostile.text
    );
    let raw = fs::read_to_string(path).expect("junit text");
    assert!(!raw.contains("]]>") && !raw.contains('\u{9b}'), "{raw}");
    assert!(
        raw.contains("E       AssertionError: bad ]]&gt; end red#x07 \\u{9b}2J csi"),
        "{raw}"
    );
    let junit_parser::TestStatus::Error(error) = &cases["test_uses_fixture"].status else {
        panic!("{:?}", cases["test_uses_fixture"].status);
    };
    assert_eq!(
        error.message,
        "failed on setup with \"RuntimeError: fixture broke\""
    );
    let junit_parser::TestStatus::Skipped(skipped) = &cases["test_skipped"].status else {
        panic!("{:?}", cases["test_skipped"].status);
    };
    assert_eq!(skipped.message, "not today");

    // The flaky env's test passed on the retry, with attempt 1's failure kept.
    let flaky = &by_name["flaky"].cases[0];
    assert_eq!(flaky.original_name, "test_once");
    assert!(flaky.status.is_success());
    assert_eq!(flaky.reruns.len(), 1);
    assert!(matches!(
        flaky.reruns[0].kind,
        junit_parser::RerunOrFlakyKind::FlakyFailure
    ));
    assert_eq!(flaky.reruns[0].message, "AssertionError: first attempt");

    // A pass with failing tests says so in its suite.
    let liar = by_name["liar"];
    assert_eq!(liar.failures, 2);
    assert!(
        liar.system_err
            .as_deref()
            .is_some_and(|e| e.contains("but its test reports list 3 failing tests")),
        "{:?}",
        liar.system_err
    );
}

fn check_json(text: &str) {
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let finished = |env: &str| {
        events
            .iter()
            .find(|e| e["type"] == "env_finished" && e["env"] == env)
            .unwrap_or_else(|| panic!("no env_finished for {env}"))
    };
    let py = finished("py");
    assert_eq!(py["schema"], 2);
    assert_eq!(
        py["tests"],
        serde_json::json!({"passed": 2, "failed": 2, "errored": 1, "skipped": 1})
    );
    assert_eq!(
        py["failing_tests"],
        serde_json::json!([
            {"name": "test_eq[differ]", "classname": "tests.test_demo",
             "file": "tests/test_demo.py", "line": 6, "status": "failed",
             "message": "assert 2 == 3"},
            {"name": "test_hostile", "classname": "tests.test_demo",
             "file": "tests/test_demo.py", "line": 10, "status": "failed",
             "message": HOSTILE_SHOWN},
            {"name": "test_uses_fixture", "classname": "tests.test_demo",
             "file": "tests/test_demo.py", "line": 15, "status": "errored",
             "message": "failed on setup with \"RuntimeError: fixture broke\""},
        ])
    );
    assert_eq!(py["test_warnings"], serde_json::json!([]));
    let liar = finished("liar");
    assert_eq!(liar["verdict"], "passed");
    assert_eq!(
        liar["test_warnings"],
        serde_json::json!([
            "the env passed (its commands exited 0) but its test reports list 3 failing tests"
        ])
    );
    let retrying = events
        .iter()
        .find(|e| e["type"] == "env_retrying" && e["env"] == "flaky")
        .expect("flaky was retried");
    assert_eq!(retrying["failing_tests"][0]["name"], "test_once");
    assert_eq!(
        retrying["failing_tests"][0]["message"],
        "AssertionError: first attempt"
    );
    let flaky = finished("flaky");
    assert_eq!(flaky["flaky"], true);
    assert_eq!(
        flaky["tests"],
        serde_json::json!({"passed": 1, "failed": 0, "errored": 0, "skipped": 0})
    );
    assert_eq!(finished("plain")["tests"], Value::Null);
    let stale = finished("stale");
    assert_eq!(
        stale["tests"],
        Value::Null,
        "only a stale report: none read"
    );
    assert!(
        stale["test_warnings"][0].as_str().is_some_and(
            |w| w.ends_with("older than the attempt (a stale report from an earlier run)")
        ),
        "{stale}"
    );
}

/// Under GitHub Actions: an annotation per failing test at its file and line (relative to the
/// workspace), warnings for a pass with failures and report problems, counts in the step
/// summary.
#[test]
fn github_annotates_each_failing_test_and_summarises_the_counts() {
    let p = project();
    let summary = p.path().join("summary.md");
    let workspace = p.path().to_str().expect("UTF-8").to_owned();
    let out = run(
        &p,
        &["--ci", "--color", "never", "py", "liar", "plain"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().expect("UTF-8")),
            ("GITHUB_WORKSPACE", &workspace),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let commands: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error") || l.starts_with("::warning"))
        .collect();
    let py: Vec<&str> = commands
        .iter()
        .copied()
        .filter(|l| l.contains("title=py%3A"))
        .collect();
    assert_eq!(
        py.len(),
        3,
        "one per failing test, no env annotation: {commands:#?}"
    );
    assert!(
        py[0].starts_with(
            "::error file=tests/test_demo.py,line=6,title=py%3A tests.test_demo%3A%3Atest_eq[differ]::assert 2 == 3%0A"
        ),
        "{}",
        py[0]
    );
    assert!(
        py[1].starts_with(&format!(
            "::error file=tests/test_demo.py,line=10,title=py%3A tests.test_demo%3A%3Atest_hostile::{HOSTILE_SHOWN}%0A"
        )),
        "{}",
        py[1]
    );
    assert!(
        py[2].starts_with("::error file=tests/test_demo.py,line=15,"),
        "{}",
        py[2]
    );
    let liar: Vec<&str> = commands
        .iter()
        .copied()
        .filter(|l| l.contains("title=liar%3A"))
        .collect();
    assert_eq!(liar.len(), 4, "{commands:#?}");
    assert!(
        liar[..3]
            .iter()
            .all(|l| l.starts_with("::warning file=tests/test_demo.py,"))
    );
    assert_eq!(
        liar[3],
        "::warning title=liar%3A test reports::the env passed (its commands exited 0) but its \
         test reports list 3 failing tests"
    );
    assert!(
        !commands.iter().any(|l| l.contains("plain")),
        "{commands:#?}"
    );

    let text = fs::read_to_string(&summary).expect("step summary");
    assert!(text.contains("| env | result | tests | time |"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("| py |"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("| ❌ exit 1 | 2 passed, 2 failed, 1 errored, 1 skipped |"),
        "{row}"
    );
    assert!(text.contains("| plain | ✅ passed | - |"), "{text}");
    assert!(
        text.contains(
            "- ❌ tests.test_demo::test_eq[differ] (tests/test_demo.py:6): assert 2 == 3"
        ),
        "{text}"
    );
}
