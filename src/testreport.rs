//! Test results per env, read from the `JUnit` XML reports the env's own test tools write.
//!
//! Every attempt of an env gets a fresh, empty report folder (`<log-dir>/reports/<env>`, then
//! `<env>@<n>` like the logs), given to its commands as `RUNALL_REPORT_DIR` and `{report_dir}`.
//! After the attempt ends, the files its `test_reports` globs name (by default
//! `{report_dir}/**/*.xml`) are read here into a [`TestResults`]: the counts, every testcase
//! (for `--junit`), and warnings for what could not be used: a file older than the attempt (a
//! stale report never counts), a malformed or truncated one (named with its line; the
//! testcases before the fault still count), a file that is not a `JUnit` report.
//!
//! Nothing here changes a verdict: an env that exits 0 while its report lists failures still
//! passes, and [`TestResults::warnings_for`] says so. The text kept is the reports' own,
//! unsanitised; every output passes it through [`crate::sanitize`] for its destination.
//! The XML itself is read by [`junit`], a streaming reader on `quick-xml`.

pub mod junit;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What `test_reports` is when an env does not set it.
pub const DEFAULT_PATTERN: &str = "{report_dir}/**/*.xml";
/// The placeholder for the attempt's report folder, in commands and in `test_reports`.
pub const REPORT_DIR_PLACEHOLDER: &str = "{report_dir}";
/// The environment variable holding the attempt's report folder.
pub const REPORT_DIR_VAR: &str = "RUNALL_REPORT_DIR";
/// Most failing tests listed per env in the summary and the TUI's list title.
pub const SUMMARY_FAILURES: usize = 20;

/// How a testcase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// No `<failure>`, `<error>` or `<skipped>` (a Surefire/nextest `<flakyFailure>` alone
    /// is a pass on a rerun).
    Passed,
    /// `<failure>`: an assertion failed.
    Failed,
    /// `<error>`: the test could not run as written (an exception outside the assertion, a
    /// fixture that broke).
    Errored,
    /// `<skipped>` (or `<disabled>`).
    Skipped,
}

impl CaseStatus {
    /// The status as one lowercase word (`passed`, `failed`, `errored`, `skipped`).
    pub fn word(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Errored => "errored",
            Self::Skipped => "skipped",
        }
    }

    /// Failed or errored.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Errored)
    }
}

/// One `<testcase>`, as the report wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The `name` attribute (a parametrized id included: `test_add[1-2]`).
    pub name: String,
    /// The `classname` attribute, or the enclosing `<testsuite>`'s name.
    pub classname: Option<String>,
    /// The source file: the `file` attribute (the case's or its suite's), or where the
    /// failure text says it failed (`path.py:12: AssertionError`, `x_test.go:7: …`).
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
    /// How it ended.
    pub status: CaseStatus,
    /// The `time` attribute.
    pub time: Option<Duration>,
    /// The failure's, error's or skip's `message` attribute, else its text's first line.
    pub message: Option<String>,
    /// The failure's or error's `type` attribute.
    pub kind: Option<String>,
    /// The failure's or error's text (a traceback), bounded to [`junit::TEXT_CAP`] bytes.
    pub text: String,
    /// Index into [`TestResults::files`] of the report it came from.
    pub report: usize,
}

impl TestCase {
    /// `classname::name`, or the name alone: how a test is named in one line.
    pub fn full_name(&self) -> String {
        match &self.classname {
            Some(class) if !class.is_empty() => format!("{class}::{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// The message's first non-empty line (trimmed), if there is one.
    pub fn first_line(&self) -> Option<&str> {
        self.message
            .as_deref()
            .into_iter()
            .chain([self.text.as_str()])
            .flat_map(str::lines)
            .map(str::trim)
            .find(|line| !line.is_empty())
    }

    /// `file:line`, `file`, or `None`.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match self.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_owned(),
        })
    }
}

/// How many testcases ended each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TestCounts {
    /// [`CaseStatus::Passed`].
    pub passed: u64,
    /// [`CaseStatus::Failed`].
    pub failed: u64,
    /// [`CaseStatus::Errored`].
    pub errored: u64,
    /// [`CaseStatus::Skipped`].
    pub skipped: u64,
}

impl TestCounts {
    /// Every testcase.
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.errored + self.skipped
    }

    /// Failed and errored testcases.
    pub fn failures(&self) -> u64 {
        self.failed + self.errored
    }

    fn add(&mut self, status: CaseStatus) {
        match status {
            CaseStatus::Passed => self.passed += 1,
            CaseStatus::Failed => self.failed += 1,
            CaseStatus::Errored => self.errored += 1,
            CaseStatus::Skipped => self.skipped += 1,
        }
    }
}

/// `412 passed, 3 failed, 5 skipped`: passed and failed always, errored and skipped when
/// there are any.
impl fmt::Display for TestCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.errored > 0 {
            write!(f, ", {} errored", self.errored)?;
        }
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// What one attempt's reports said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestResults {
    /// Testcases per status.
    pub counts: TestCounts,
    /// Every testcase, in file order (files sorted by path).
    pub cases: Vec<TestCase>,
    /// The report files read (stale and non-`JUnit` files are not here).
    pub files: Vec<PathBuf>,
    /// What could not be read, one line each (file, line and why).
    pub warnings: Vec<String>,
}

impl TestResults {
    /// Whether any report was read (or warned about): otherwise the env has no test results
    /// and every output shows it as it did before reports existed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.warnings.is_empty()
    }

    /// The failed and errored testcases, in report order.
    pub fn failing(&self) -> impl Iterator<Item = &TestCase> {
        self.cases.iter().filter(|case| case.status.is_failure())
    }

    /// The reports' warnings, plus one when the env passed (`passed`) while its reports list
    /// failing tests: the verdict stays the commands', but no output may hide the mismatch.
    pub fn warnings_for(&self, passed: bool) -> Vec<String> {
        let mut warnings = self.warnings.clone();
        let failures = self.counts.failures();
        if passed && failures > 0 {
            let plural = if failures == 1 { "test" } else { "tests" };
            warnings.push(format!(
                "the env passed (its commands exited 0) but its test reports list {failures} \
                 failing {plural}"
            ));
        }
        warnings
    }

    fn push(&mut self, case: TestCase) {
        self.counts.add(case.status);
        self.cases.push(case);
    }
}

/// What to read after an attempt: the patterns (absolute, `{report_dir}` already replaced)
/// and the attempt's start as the report folder's file system saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// Glob patterns, absolute.
    pub patterns: Vec<String>,
    /// Files modified before this are stale. It is the fresh report folder's own mtime, so
    /// it comes from the same (coarse) clock as the reports' mtimes: a report written in the
    /// attempt's first millisecond is never taken for an old one.
    pub since: Option<SystemTime>,
    /// A problem found while preparing the attempt (its report folder could not be made).
    pub setup_warning: Option<String>,
    /// The attempt's own report folder, emptied when it started: nothing in it can be stale,
    /// so `since` applies only to the files outside it (other `test_reports` globs). This also
    /// keeps a report from counting as stale when the folder's mtime moved on because a later
    /// file was made in it.
    pub fresh_dir: Option<PathBuf>,
}

/// The attempt's `test_reports` patterns made absolute: `{report_dir}` replaced by `dir`
/// (escaped, so a `[` in a path is not a glob class), relative ones joined to `cwd`.
pub fn expand_patterns(patterns: &[String], cwd: &Path, dir: &Path) -> Vec<String> {
    let dir = glob::Pattern::escape(&dir.to_string_lossy());
    let cwd = glob::Pattern::escape(&cwd.to_string_lossy());
    patterns
        .iter()
        .map(|pattern| {
            let pattern = pattern.replace(REPORT_DIR_PLACEHOLDER, &dir);
            if Path::new(&pattern).is_absolute() {
                pattern
            } else {
                format!("{}/{pattern}", cwd.trim_end_matches('/'))
            }
        })
        .collect()
}

/// Checks a `test_reports` pattern as written (placeholders allowed): `Err` says why it is
/// not a glob.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    let probe = pattern.replace(REPORT_DIR_PLACEHOLDER, "dir");
    glob::Pattern::new(&probe)
        .map(drop)
        .map_err(|e| format!("`{pattern}` is not a glob pattern: {e}"))
}

/// Reads every report `request` names. Never fails: what cannot be read becomes a warning.
pub fn read(request: &ReportRequest) -> TestResults {
    let mut results = TestResults::default();
    if let Some(warning) = &request.setup_warning {
        results.warnings.push(warning.clone());
    }
    let mut paths = Vec::new();
    for pattern in &request.patterns {
        match glob::glob(pattern) {
            Ok(found) => {
                for entry in found {
                    match entry {
                        Ok(path) => paths.push(path),
                        Err(e) => results.warnings.push(format!(
                            "{}: cannot be read: {}",
                            e.path().display(),
                            e.error()
                        )),
                    }
                }
            }
            Err(e) => results
                .warnings
                .push(format!("`{pattern}` is not a glob pattern: {e}")),
        }
    }
    paths.sort();
    paths.dedup();
    for path in paths {
        let fresh = request
            .fresh_dir
            .as_deref()
            .is_some_and(|dir| path.starts_with(dir));
        read_file(&path, request.since.filter(|_| !fresh), &mut results);
    }
    results
}

/// Reads one report into `results`, or says why not.
fn read_file(path: &Path, since: Option<SystemTime>, results: &mut TestResults) {
    let shown = path.display();
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            results
                .warnings
                .push(format!("{shown}: cannot be read: {e}"));
            return;
        }
    };
    if !meta.is_file() {
        return;
    }
    if let (Some(since), Ok(modified)) = (since, meta.modified())
        && modified < since
    {
        results.warnings.push(format!(
            "{shown}: ignored: older than the attempt (a stale report from an earlier run)"
        ));
        return;
    }
    // Opened nonblocking so a FIFO a glob happened to match cannot hang the reader; a
    // regular file reads as usual.
    let file = match open_report(path) {
        Ok(file) => file,
        Err(e) => {
            results
                .warnings
                .push(format!("{shown}: cannot be read: {e}"));
            return;
        }
    };
    let report = results.files.len();
    let before = results.cases.len();
    let outcome = junit::parse(std::io::BufReader::new(file), report, &mut |case| {
        results.push(case);
    });
    match outcome {
        Ok(()) => results.files.push(path.to_path_buf()),
        Err(junit::ParseError::NotJunit { root }) if root.is_empty() => results
            .warnings
            .push(format!("{shown}: ignored: empty (no XML element)")),
        Err(junit::ParseError::NotJunit { root }) => results.warnings.push(format!(
            "{shown}: ignored: not a JUnit report (its root element is <{root}>)"
        )),
        Err(junit::ParseError::Xml { offset, message }) => {
            let line = line_at(path, offset);
            let kept = results.cases.len() - before;
            results.files.push(path.to_path_buf());
            results.warnings.push(format!(
                "{shown}:{line}: {message} (the {kept} testcases before it are counted)"
            ));
        }
        Err(junit::ParseError::Truncated {
            offset,
            element,
            opened,
        }) => {
            let (line, opened) = (line_at(path, offset), line_at(path, opened));
            let kept = results.cases.len() - before;
            results.files.push(path.to_path_buf());
            results.warnings.push(format!(
                "{shown}:{line}: truncated: the file ends inside the <{element}> opened on line \
                 {opened} (the {kept} testcases before it are counted)"
            ));
        }
        Err(junit::ParseError::Io(e)) => {
            results.files.push(path.to_path_buf());
            results
                .warnings
                .push(format!("{shown}: cannot be read: {e}"));
        }
    }
}

fn open_report(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// The 1-based line of byte `offset` in the file (counted again only for a warning).
fn line_at(path: &Path, offset: u64) -> u64 {
    let Ok(bytes) = fs::read(path) else {
        return 1;
    };
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    memchr::memchr_iter(b'\n', &bytes[..end]).count() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, status: CaseStatus) -> TestCase {
        TestCase {
            name: name.to_owned(),
            classname: Some("tests.test_a".to_owned()),
            file: None,
            line: None,
            status,
            time: None,
            message: None,
            kind: None,
            text: String::new(),
            report: 0,
        }
    }

    #[test]
    fn counts_read_like_the_issue_asks() {
        let counts = TestCounts {
            passed: 412,
            failed: 3,
            errored: 0,
            skipped: 5,
        };
        assert_eq!(counts.to_string(), "412 passed, 3 failed, 5 skipped");
        let counts = TestCounts {
            passed: 1,
            failed: 0,
            errored: 2,
            skipped: 0,
        };
        assert_eq!(counts.to_string(), "1 passed, 0 failed, 2 errored");
        assert_eq!(counts.failures(), 2);
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn first_line_prefers_the_message_then_the_text() {
        let mut failed = case("t", CaseStatus::Failed);
        failed.text = "\n  Traceback\nline 2".to_owned();
        assert_eq!(failed.first_line(), Some("Traceback"));
        failed.message = Some("assert 1 == 2\n + where".to_owned());
        assert_eq!(failed.first_line(), Some("assert 1 == 2"));
        assert_eq!(failed.full_name(), "tests.test_a::t");
        assert_eq!(failed.location(), None);
        failed.file = Some("a.py".to_owned());
        assert_eq!(failed.location().as_deref(), Some("a.py"));
        failed.line = Some(3);
        assert_eq!(failed.location().as_deref(), Some("a.py:3"));
    }

    #[test]
    fn a_pass_with_failing_tests_is_warned_about() {
        let mut results = TestResults::default();
        results.push(case("a", CaseStatus::Passed));
        assert!(results.warnings_for(true).is_empty());
        results.push(case("b", CaseStatus::Failed));
        let warnings = results.warnings_for(true);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("list 1 failing test"), "{warnings:?}");
        assert!(results.warnings_for(false).is_empty());
        assert_eq!(results.failing().count(), 1);
    }

    #[test]
    fn patterns_are_made_absolute_and_the_folder_escaped() {
        let patterns = vec![
            DEFAULT_PATTERN.to_owned(),
            "target/nextest/ci/*.xml".to_owned(),
            "/abs/{report_dir}/x.xml".to_owned(),
        ];
        let got = expand_patterns(&patterns, Path::new("/w/proj"), Path::new("/l/r[1]"));
        assert_eq!(
            got,
            [
                "/l/r[[]1[]]/**/*.xml",
                "/w/proj/target/nextest/ci/*.xml",
                "/abs//l/r[[]1[]]/x.xml"
            ]
        );
        assert!(check_pattern("{report_dir}/**/*.xml").is_ok());
        let bad = check_pattern("a/***.xml").expect_err("not a glob");
        assert!(bad.contains("`a/***.xml` is not a glob pattern"), "{bad}");
    }

    #[test]
    fn stale_unreadable_and_foreign_files_are_warnings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("a.xml");
        fs::write(
            &good,
            "<testsuite><testcase name=\"x\"/><testcase name=\"y\"><skipped/></testcase></testsuite>",
        )
        .expect("write");
        fs::write(dir.path().join("cov.xml"), "<coverage line-rate=\"1\"/>").expect("write");
        let request = ReportRequest {
            patterns: expand_patterns(&[DEFAULT_PATTERN.to_owned()], dir.path(), dir.path()),
            since: None,
            setup_warning: None,
            fresh_dir: None,
        };
        let results = read(&request);
        assert_eq!(results.files, std::slice::from_ref(&good));
        assert_eq!(results.counts.passed, 1);
        assert_eq!(results.counts.skipped, 1);
        assert_eq!(results.warnings.len(), 1, "{:?}", results.warnings);
        assert!(
            results.warnings[0]
                .ends_with("cov.xml: ignored: not a JUnit report (its root element is <coverage>)"),
            "{:?}",
            results.warnings
        );

        // A `since` after the files' mtime makes both stale.
        let later = SystemTime::now() + Duration::from_secs(3600);
        let results = read(&ReportRequest {
            since: Some(later),
            ..request.clone()
        });
        assert!(results.files.is_empty());
        assert_eq!(results.counts, TestCounts::default());
        assert_eq!(results.warnings.len(), 2);
        assert!(
            results
                .warnings
                .iter()
                .all(|w| w.contains("older than the attempt"))
        );

        // Files in the attempt's own (fresh) folder are never stale.
        let results = read(&ReportRequest {
            since: Some(later),
            fresh_dir: Some(dir.path().to_path_buf()),
            ..request
        });
        assert_eq!(results.files, std::slice::from_ref(&good));
    }

    fn read_one(name: &str) -> TestResults {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit");
        read(&ReportRequest {
            patterns: vec![fixtures.join(name).to_string_lossy().into_owned()],
            since: None,
            setup_warning: None,
            fresh_dir: None,
        })
    }

    /// The committed sample reports, each read back with the counts its tool wrote.
    #[test]
    fn sample_reports_of_every_dialect_read_back_with_their_counts() {
        let counts = |passed, failed, errored, skipped| TestCounts {
            passed,
            failed,
            errored,
            skipped,
        };
        let cases = [
            ("pytest.xml", counts(3, 2, 1, 1)),
            (
                "surefire-TEST-com.example.CalculatorTest.xml",
                counts(3, 1, 1, 1),
            ),
            (
                "failsafe-TEST-com.example.it.CheckoutIT.xml",
                counts(2, 1, 0, 0),
            ),
            ("jest-junit.xml", counts(3, 1, 0, 1)),
            ("go-junit-report.xml", counts(3, 1, 0, 1)),
            ("nextest.xml", counts(3, 1, 0, 1)),
            ("jenkins-nested.xml", counts(2, 1, 1, 0)),
        ];
        for (name, want) in cases {
            let results = read_one(name);
            assert_eq!(results.counts, want, "{name}");
            assert!(
                results.warnings.is_empty(),
                "{name}: {:?}",
                results.warnings
            );
            assert_eq!(results.files.len(), 1, "{name}");
        }
    }

    #[test]
    fn sample_reports_name_their_failing_tests_and_where_they_failed() {
        let pytest = read_one("pytest.xml");
        let failing: Vec<_> = pytest
            .failing()
            .map(|c| {
                (
                    c.full_name(),
                    c.location(),
                    c.first_line().map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            failing,
            [
                (
                    "tests.test_calc::test_add[0.1-0.2-0.3]".to_owned(),
                    Some("tests/test_calc.py:8".to_owned()),
                    Some("assert (0.1 + 0.2) == 0.3".to_owned())
                ),
                (
                    "tests.test_calc::test_divide".to_owned(),
                    Some("calc.py:2".to_owned()),
                    Some("ZeroDivisionError: division by zero".to_owned())
                ),
                (
                    "tests.test_calc::test_with_db".to_owned(),
                    Some("tests/conftest.py:6".to_owned()),
                    Some("failed on setup with \"RuntimeError: no database\"".to_owned())
                ),
            ]
        );
        assert!(
            pytest
                .cases
                .iter()
                .any(|c| c.name == "test_unicode_\u{3c0}")
        );

        let surefire = read_one("surefire-TEST-com.example.CalculatorTest.xml");
        let failed = surefire.failing().next().expect("a failure");
        assert_eq!(
            failed.classname.as_deref(),
            Some("com.example.CalculatorTest")
        );
        assert_eq!(failed.first_line(), Some("expected: <0> but was: <1>"));
        assert_eq!(
            failed.kind.as_deref(),
            Some("org.opentest4j.AssertionFailedError")
        );

        let jest = read_one("jest-junit.xml");
        let failed = jest.failing().next().expect("a failure");
        assert_eq!(
            failed.first_line(),
            Some("Error: expect(received).toBe(expected) // Object.is equality")
        );

        let go = read_one("go-junit-report.xml");
        let failed = go.failing().next().expect("a failure");
        assert_eq!(failed.location().as_deref(), Some("calc_test.go:14"));
        assert_eq!(failed.classname.as_deref(), Some("example.com/calc"));

        let nextest = read_one("nextest.xml");
        let failed = nextest.failing().next().expect("a failure");
        assert_eq!(failed.full_name(), "runall::report::tests::counts");
        assert_eq!(failed.location().as_deref(), Some("src/report.rs:412"));

        let nested = read_one("jenkins-nested.xml");
        let locations: Vec<_> = nested
            .failing()
            .map(|c| (c.full_name(), c.location()))
            .collect();
        assert_eq!(
            locations,
            [
                (
                    "integration.api::rejects a bad token".to_owned(),
                    Some("test/api_spec.rb:31".to_owned())
                ),
                ("integration.db.Seeds::seeds".to_owned(), None),
            ]
        );
    }

    #[test]
    fn malformed_and_truncated_samples_warn_with_file_and_line_and_keep_the_rest() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit");
        let results = read(&ReportRequest {
            patterns: vec![
                fixtures
                    .join("malformed.xml")
                    .to_string_lossy()
                    .into_owned(),
                fixtures
                    .join("truncated.xml")
                    .to_string_lossy()
                    .into_owned(),
                fixtures
                    .join("go-junit-report.xml")
                    .to_string_lossy()
                    .into_owned(),
            ],
            since: None,
            setup_warning: None,
            fresh_dir: None,
        });
        // go-junit-report's 5, the malformed file's first testcase, the truncated one's 2.
        assert_eq!(results.counts.total(), 8, "{:?}", results.counts);
        assert_eq!(results.counts.failed, 1);
        assert_eq!(results.warnings.len(), 2, "{:?}", results.warnings);
        let malformed = fixtures.join("malformed.xml");
        let want = format!("{}:6: malformed XML", malformed.display());
        assert!(
            results.warnings[0].starts_with(&want),
            "{:?}",
            results.warnings
        );
        assert!(results.warnings[0].ends_with("(the 1 testcases before it are counted)"));
        let truncated = fixtures.join("truncated.xml");
        let want = format!(
            "{}:6: truncated: the file ends inside the <failure> opened on line 1 (the 2 \
             testcases before it are counted)",
            truncated.display()
        );
        assert_eq!(results.warnings[1], want);
    }
}
