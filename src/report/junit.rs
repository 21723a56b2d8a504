//! `--junit FILE`: the run as a `JUnit` XML report, built from the final [`Summary`] with
//! `quick-junit` and written once, at the end of the run (also after an interrupt).
//!
//! The shape, which the CI systems' `JUnit` readers (GitHub test reporters, GitLab, Jenkins)
//! all load: one `<testsuite name="runall">`, one `<testcase classname="runall" name="ENV">`
//! per env of the plan, in plan order, with the env's duration. The outcome is precise:
//!
//! | env result                         | element      | `type`        |
//! |------------------------------------|--------------|---------------|
//! | passed                             | (none)       |               |
//! | passed on a retry (flaky)          | `<flakyFailure>` per failed attempt, property `flaky` |
//! | exit code ≠ 0                      | `<failure>`  | `exit`        |
//! | killed by a signal                 | `<failure>`  | `signal`      |
//! | timed out                          | `<failure>`  | `timeout`     |
//! | passed but leaked (`on_leak=fail`) | `<failure>`  | `leak`        |
//! | interrupted (Ctrl-C, fail-fast)    | `<failure>`  | `interrupted` |
//! | could not be spawned               | `<error>`    | `spawn`       |
//! | skipped because a dependency failed| `<skipped>`  | `dependency`  |
//! | skipped itself (tox, no interpreter)| `<skipped>`  | `skipped`     |
//! | never started (run interrupted)    | `<skipped>`  | `not-run`     |
//! | started, no result (run broke off) | `<skipped>`  | `not-finished`|
//!
//! An env that ran has properties `cpu_seconds` (user + system, its commands and their reaped
//! descendants) and `peak_rss_bytes` (the largest resident set of one of its processes).
//!
//! The `message` is the outcome as the summary words it ("exit 3", "killed by SIGKILL",
//! "skipped: lint did not pass"). `<system-out>` holds the env's output read back from its log:
//! all of it when short, else the first [`HEAD_LINES`] and last [`TAIL_LINES`] lines around a
//! `… N lines omitted, full log: PATH …` line. Each line goes through [`crate::sanitize`]'s
//! text rules: ANSI escape sequences removed; control characters other than tab, invalid UTF-8
//! and U+FFFE/U+FFFF (which XML cannot carry) shown as `\xNN` / `\u{NN}`; a progress-bar line
//! (`\r`) keeps only its last frame. This module reads log files but never runs anything.
//!
//! An env whose test reports were read ([`crate::testreport`]) is not a testcase of the
//! `runall` suite but a `<testsuite name="ENV">` of its real testcases (`cases`); it keeps
//! its env testcase in `runall` too when it did not pass while none of its tests failed, so
//! no failure is lost. The `runall` suite is left out only when every env has a suite.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use memchr::memchr;
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

mod cases;

use super::Summary;
use crate::event::{EnvResult, EnvStatus, ExitKind, StopCause, Verdict};
use crate::plan::Plan;
use crate::sanitize;

/// Lines kept from the start of a long log.
pub const HEAD_LINES: usize = 100;
/// Lines kept from the end of a long log.
pub const TAIL_LINES: usize = 400;
/// Lines kept from each failed attempt of a flaky or retried env (head and tail).
const ATTEMPT_LINES: (usize, usize) = (20, 80);
/// Longest line kept, in bytes; the rest of the line is replaced by a marker.
const LINE_CAP: usize = 2048;
/// The suite's name and every testcase's class name.
const SUITE: &str = "runall";

/// Why the `JUnit` report could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write JUnit report {}: {source}", path.display())]
pub struct JunitError {
    /// The report file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: io::Error,
}

/// The `--junit` file, created (empty) before the run so a bad path stops runall before
/// anything starts, and filled at its end.
#[derive(Debug)]
pub struct JunitFile {
    path: PathBuf,
    file: File,
}

impl JunitFile {
    /// Creates (or truncates) the report file.
    pub fn create(path: &Path) -> Result<Self, JunitError> {
        let file = File::create(path).map_err(|source| JunitError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes the report for the finished run.
    pub fn write(self, report: &Report) -> Result<(), JunitError> {
        let error = |source| JunitError {
            path: self.path.clone(),
            source,
        };
        let mut out = BufWriter::new(&self.file);
        report
            .serialize(&mut out)
            .map_err(|e| error(io::Error::other(e)))?;
        out.write_all(b"\n").map_err(error)?;
        out.flush().map_err(error)?;
        Ok(())
    }
}

/// The report of a finished run; `elapsed` is the run's wall time.
pub fn build(plan: &Plan, summary: &Summary, elapsed: Duration) -> Report {
    let mut suite = TestSuite::new(SUITE);
    suite.set_time(elapsed);
    let mut env_suites = Vec::new();
    for (id, spec) in plan.envs.iter().enumerate() {
        let retried = summary.retried(id);
        let case = if let Some(result) = summary.result(id) {
            if cases::has_cases(result) {
                env_suites.push(cases::env_suite(&spec.name, result, retried));
                // The env's own testcase stays only when its verdict says more than its
                // tests: it did not pass, yet no testcase failed.
                let tests_failed = result
                    .tests
                    .as_ref()
                    .is_some_and(|t| t.counts.failures() > 0);
                if result.verdict() == Verdict::Passed || tests_failed {
                    continue;
                }
            }
            testcase(&spec.name, result, retried)
        } else {
            let (reason, kind) = if summary.started(id) {
                ("not finished", "not-finished")
            } else {
                ("not run", "not-run")
            };
            let mut status = TestCaseStatus::skipped();
            status.set_message(reason).set_type(kind);
            let mut case = TestCase::new(spec.name.as_str(), status);
            case.set_classname(SUITE);
            case
        };
        suite.add_test_case(case);
    }
    let mut report = Report::new(SUITE);
    report.set_time(elapsed);
    if !suite.test_cases.is_empty() || env_suites.is_empty() {
        report.add_test_suite(suite);
    }
    report.add_test_suites(env_suites);
    report
}

/// One env's testcase.
fn testcase(name: &str, result: &EnvResult, retried: &[EnvResult]) -> TestCase {
    let outcome = result.describe();
    let mut status = match (result.verdict(), &result.status) {
        (Verdict::Passed, _) => TestCaseStatus::success(),
        (Verdict::Skipped, status) => {
            let ty = if matches!(status, EnvStatus::SelfSkipped { .. }) {
                "skipped"
            } else {
                "dependency"
            };
            let mut status = TestCaseStatus::skipped();
            status.set_message(outcome.as_str()).set_type(ty);
            status
        }
        (Verdict::NotRun, _) => {
            let mut status = TestCaseStatus::skipped();
            status
                .set_message("not run: the run was interrupted")
                .set_type("not-run");
            status
        }
        (_, EnvStatus::SpawnFailed { .. }) if result.stopped_by.is_none() => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(outcome.as_str()).set_type("spawn");
            status
        }
        (Verdict::Failed | Verdict::Interrupted, _) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(outcome.as_str())
                .set_type(failure_type(result))
                .set_description(format!("{outcome}\nlog: {}", result.log_path.display()));
            status
        }
    };
    for attempt in retried {
        let kind = match attempt.status {
            EnvStatus::SpawnFailed { .. } => NonSuccessKind::Error,
            _ => NonSuccessKind::Failure,
        };
        let mut rerun = TestRerun::new(kind);
        rerun
            .set_time(attempt.duration)
            .set_message(attempt.describe())
            .set_type(failure_type(attempt))
            .set_system_out(log_excerpt(attempt, ATTEMPT_LINES.0, ATTEMPT_LINES.1));
        status.add_rerun(rerun);
    }
    let mut case = TestCase::new(name, status);
    case.set_classname(SUITE);
    if result.ran() {
        case.set_time(result.duration);
        let mut out = String::new();
        if result.flaky() {
            let earlier: Vec<String> = retried
                .iter()
                .map(|a| format!("attempt {}: {}", a.attempt, a.describe()))
                .collect();
            // Writing to a `String` cannot fail.
            let _ = writeln!(
                out,
                "runall: {name} {outcome}; earlier attempts: {}",
                earlier.join(", ")
            );
        }
        out.push_str(&log_excerpt(result, HEAD_LINES, TAIL_LINES));
        case.set_system_out(out);
        case.add_property(Property::new("log", result.log_path.display().to_string()));
    }
    if result.attempt > 1 {
        case.add_property(Property::new("attempts", result.attempt.to_string()));
    }
    if result.flaky() {
        case.add_property(Property::new("flaky", "true"));
    }
    if result.resources.measured() {
        let cpu = format!("{:.3}", result.resources.cpu.as_secs_f64());
        case.add_property(Property::new("cpu_seconds", cpu));
        let peak = result.resources.peak_rss.to_string();
        case.add_property(Property::new("peak_rss_bytes", peak));
    }
    case
}

/// The `type` attribute of a failed attempt (see the module table).
fn failure_type(result: &EnvResult) -> &'static str {
    match (result.stopped_by, &result.status) {
        (Some(StopCause::TimedOut(_)), _) => "timeout",
        (Some(StopCause::Interrupted), _) | (_, EnvStatus::NotRun) => "interrupted",
        (
            None,
            EnvStatus::Failed {
                exit: ExitKind::Code(_),
                ..
            },
        ) => "exit",
        (
            None,
            EnvStatus::Failed {
                exit: ExitKind::Signal { .. },
                ..
            },
        ) => "signal",
        (None, EnvStatus::SpawnFailed { .. }) => "spawn",
        (None, EnvStatus::Passed) => "leak",
        (None, EnvStatus::Skipped { .. }) => "dependency",
        (None, EnvStatus::SelfSkipped { .. }) => "skipped",
    }
}

/// The attempt's output for `<system-out>`: read back through the log reader (its log, and what
/// an incomplete log lacks), sanitised, head and tail when long. A log that cannot be read says
/// so instead.
fn log_excerpt(result: &EnvResult, head: usize, tail: usize) -> String {
    let path = &result.log_path;
    match crate::log::reader::open(result).and_then(|output| Excerpt::read(output, head, tail)) {
        Ok(excerpt) => excerpt.text(path),
        Err(error) => format!("runall: cannot read log {}: {error}", path.display()),
    }
}

/// The first and last lines of a log, read in one pass with bounded memory.
#[derive(Debug, Default, PartialEq, Eq)]
struct Excerpt {
    head: Vec<Vec<u8>>,
    tail: VecDeque<Vec<u8>>,
    /// Lines between head and tail that were dropped.
    omitted: usize,
}

/// One line being read: its first [`LINE_CAP`] bytes and whether more were dropped.
#[derive(Default)]
struct Line {
    bytes: Vec<u8>,
    cut: bool,
}

impl Line {
    fn push(&mut self, piece: &[u8]) {
        let room = LINE_CAP.saturating_sub(self.bytes.len());
        if piece.len() > room {
            self.cut = true;
        }
        self.bytes
            .extend_from_slice(&piece[..piece.len().min(room)]);
    }

    fn take(&mut self) -> Vec<u8> {
        let mut bytes = std::mem::take(&mut self.bytes);
        if std::mem::take(&mut self.cut) {
            bytes.extend_from_slice(b"  [line cut]");
        }
        bytes
    }
}

impl Excerpt {
    /// Reads `reader` to its end, keeping the first `head` and the last `tail` lines.
    fn read(mut reader: impl Read, head: usize, tail: usize) -> io::Result<Self> {
        let mut excerpt = Self::default();
        let mut line = Line::default();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut rest = &chunk[..n];
            while let Some(nl) = memchr(b'\n', rest) {
                line.push(&rest[..nl]);
                excerpt.keep(line.take(), head, tail);
                rest = &rest[nl + 1..];
            }
            line.push(rest);
        }
        if !line.bytes.is_empty() {
            excerpt.keep(line.take(), head, tail);
        }
        Ok(excerpt)
    }

    fn keep(&mut self, line: Vec<u8>, head: usize, tail: usize) {
        if self.head.len() < head {
            self.head.push(line);
            return;
        }
        self.tail.push_back(line);
        if self.tail.len() > tail {
            self.tail.pop_front();
            self.omitted += 1;
        }
    }

    /// The sanitised text, with the omission line naming the full log at `path`.
    fn text(&self, path: &Path) -> String {
        let mut lines: Vec<String> = self.head.iter().map(|l| sanitize_line(l)).collect();
        if self.omitted > 0 {
            let plural = if self.omitted == 1 { "line" } else { "lines" };
            lines.push(format!(
                "… {} {plural} omitted, full log: {} …",
                self.omitted,
                path.display()
            ));
        }
        lines.extend(self.tail.iter().map(|l| sanitize_line(l)));
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }
}

/// One line of output as XML can carry it: its last `\r` frame, through the one sanitiser
/// ([`sanitize::text`]: escape sequences removed, controls, invalid UTF-8 and the characters
/// XML 1.0 forbids shown as `\xNN` / `\u{NN}`).
pub fn sanitize_line(bytes: &[u8]) -> String {
    sanitize::text(sanitize::last_frame(bytes))
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::LeakPolicy;
    use crate::event::{LeakedProcess, RunEvent};
    use crate::plan::EnvSpec;

    #[test]
    fn sanitize_removes_what_xml_cannot_carry() {
        assert_eq!(sanitize_line(b"plain text"), "plain text");
        assert_eq!(
            sanitize_line(b"\x1b[1;31mred\x1b[0m and \x1b]0;title\x07done"),
            "red and done"
        );
        assert_eq!(sanitize_line(b"\x1b]8;;http://x\x1b\\link\x1b(B!"), "link!");
        assert_eq!(
            sanitize_line(b"a\0b\x01c\x08d\x0be\x7ff\tg"),
            r"a\x00b\x01c\x08d\x0be\x7ff	g".replace(r"\t", "\t")
        );
        assert_eq!(sanitize_line(b"ok \xff\xfe \xc3\x28"), r"ok \xff\xfe \xc3(");
        assert_eq!(
            sanitize_line("x\u{fffe}\u{ffff}\u{85}y".as_bytes()),
            r"x\u{fffe}\u{ffff}\u{85}y"
        );
        assert_eq!(sanitize_line(b"10%\r50%\r100%\r"), "100%");
        assert_eq!(sanitize_line(b"crlf\r"), "crlf");
        assert_eq!(
            sanitize_line(b"unterminated \x1b[31"),
            r"unterminated \x1b[31"
        );
        assert_eq!(sanitize_line("ünïcødé ✔".as_bytes()), "ünïcødé ✔");
    }

    #[test]
    fn excerpt_keeps_short_logs_whole() {
        let excerpt = Excerpt::read(&b"a\nb\nc"[..], 2, 2).unwrap();
        assert_eq!(excerpt.text(Path::new("x.log")), "a\nb\nc\n");
        let excerpt = Excerpt::read(&b"a\n\nb\n"[..], 10, 10).unwrap();
        assert_eq!(excerpt.text(Path::new("x.log")), "a\n\nb\n");
        let excerpt = Excerpt::read(&b""[..], 10, 10).unwrap();
        assert_eq!(excerpt.text(Path::new("x.log")), "");
    }

    #[test]
    fn excerpt_of_a_long_log_is_head_marker_tail() {
        let log: String = (1..=1000)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let excerpt = Excerpt::read(log.as_bytes(), 3, 4).unwrap();
        assert_eq!(
            excerpt.text(Path::new("/logs/unit.log")),
            "line 1\nline 2\nline 3\n… 993 lines omitted, full log: /logs/unit.log …\n\
             line 997\nline 998\nline 999\nline 1000\n"
        );
        let excerpt = Excerpt::read(&b"1\n2\n3\n"[..], 1, 1).unwrap();
        assert!(excerpt.text(Path::new("l")).contains("… 1 line omitted"));
    }

    /// A reader giving tiny pieces, so a line spans many reads.
    struct Slow<'a>(&'a [u8]);

    impl Read for Slow<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn excerpt_cuts_giant_lines() {
        let mut log = vec![b'x'; LINE_CAP * 3];
        log.extend_from_slice(b"\nnext\n");
        let excerpt = Excerpt::read(Slow(&log), 5, 5).unwrap();
        assert_eq!(excerpt.head.len(), 2);
        assert_eq!(excerpt.head[0].len(), LINE_CAP + b"  [line cut]".len());
        assert!(excerpt.head[0].ends_with(b"x  [line cut]"));
        assert_eq!(excerpt.head[1], b"next");
    }

    fn plan(names: &[&str]) -> Plan {
        Plan::new(
            names
                .iter()
                .map(|name| EnvSpec::shell(name, "true", "/tmp"))
                .collect(),
            1,
            PathBuf::from("/tmp"),
        )
    }

    fn result(log: &Path, status: EnvStatus, ms: u64) -> EnvResult {
        EnvResult {
            on_leak: LeakPolicy::Fail,
            ..EnvResult::new(status, Duration::from_millis(ms), log)
        }
    }

    /// A report with one env per outcome: ok, code, sig, slow, leak, stop, spawn, skip,
    /// notrun, flaky (passed on attempt 2), lost (no result).
    fn sample_report() -> (tempfile::TempDir, Report) {
        let dir = tempfile::tempdir().unwrap();
        let log = |name: &str, text: &str| {
            let path = dir.path().join(format!("{name}.log"));
            std::fs::write(&path, text).unwrap();
            path
        };
        let names = [
            "ok", "code", "sig", "slow", "leak", "stop", "spawn", "skip", "notrun", "flaky", "lost",
        ];
        let plan = plan(&names);
        let code = |c| EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(c),
        };
        let mut summary = Summary::new(&plan);
        let mut finish = |env, result| summary.record(&RunEvent::EnvFinished { env, result });
        finish(0, result(&log("ok", "fine\n"), EnvStatus::Passed, 1500));
        finish(
            1,
            result(&log("code", "bad \x1b[31mred\x1b[0m\0\n"), code(3), 20),
        );
        let killed = EnvStatus::Failed {
            command: 1,
            exit: ExitKind::Signal {
                signal: 9,
                core_dumped: false,
            },
        };
        finish(2, result(&log("sig", ""), killed, 5));
        let mut slow = result(&log("slow", ""), code(143), 1000);
        slow.stopped_by = Some(StopCause::TimedOut(Duration::from_secs(1)));
        finish(3, slow);
        let mut leak = result(&log("leak", ""), EnvStatus::Passed, 5);
        leak.leaked.push(LeakedProcess {
            pid: 7,
            command: "sleep".into(),
        });
        finish(4, leak);
        let mut stop = result(&log("stop", ""), code(130), 5);
        stop.stopped_by = Some(StopCause::Interrupted);
        finish(5, stop);
        let spawn = EnvStatus::SpawnFailed {
            command: 0,
            error: "nope".into(),
        };
        finish(6, result(&log("spawn", ""), spawn, 0));
        let skipped = EnvStatus::Skipped {
            dependency: "code".into(),
        };
        finish(7, result(Path::new("/none"), skipped, 0));
        finish(8, result(Path::new("/none"), EnvStatus::NotRun, 0));
        summary.record(&RunEvent::EnvRetrying {
            env: 9,
            result: result(&log("flaky", "first try failed\n"), code(1), 10),
        });
        let mut second = result(&log("flaky.2", "second try\n"), EnvStatus::Passed, 30);
        second.attempt = 2;
        summary.record(&RunEvent::EnvFinished {
            env: 9,
            result: second,
        });

        let report = build(&plan, &summary, Duration::from_secs(2));
        (dir, report)
    }

    fn case<'a>(report: &'a Report, name: &str) -> &'a TestCase {
        report.test_suites[0]
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap()
    }

    #[test]
    fn every_outcome_maps_to_its_element_and_type() {
        let (_dir, report) = sample_report();
        let suite = &report.test_suites[0];
        assert_eq!(suite.name.as_str(), "runall");
        assert_eq!(
            (suite.tests, suite.failures, suite.errors, suite.skipped),
            (11, 5, 1, 3)
        );
        let kind = |name: &str| match &case(&report, name).status {
            TestCaseStatus::Success { flaky_runs } => format!("success {}", flaky_runs.len()),
            TestCaseStatus::NonSuccess {
                kind, message, ty, ..
            } => format!(
                "{kind:?} {}: {}",
                ty.as_deref().unwrap_or(""),
                message.as_deref().unwrap_or("")
            ),
            TestCaseStatus::Skipped { message, ty, .. } => format!(
                "skipped {}: {}",
                ty.as_deref().unwrap_or(""),
                message.as_deref().unwrap_or("")
            ),
        };
        assert_eq!(kind("ok"), "success 0");
        assert_eq!(kind("code"), "Failure exit: exit 3");
        assert_eq!(kind("sig"), "Failure signal: killed by SIGKILL (command 2)");
        assert_eq!(
            kind("slow"),
            "Failure timeout: timed out after 1.0s (exit 143)"
        );
        assert_eq!(kind("leak"), "Failure leak: passed (leaked 1 process)");
        assert_eq!(kind("stop"), "Failure interrupted: interrupted (exit 130)");
        assert_eq!(kind("spawn"), "Error spawn: spawn failed (command 1): nope");
        assert_eq!(
            kind("skip"),
            "skipped dependency: skipped: code did not pass"
        );
        assert_eq!(
            kind("notrun"),
            "skipped not-run: not run: the run was interrupted"
        );
        assert_eq!(kind("flaky"), "success 1");
        assert_eq!(kind("lost"), "skipped not-run: not run");
    }

    #[test]
    fn output_durations_and_flaky_attempts_are_kept() {
        let (_dir, report) = sample_report();
        let case = |name: &str| case(&report, name);
        assert_eq!(case("ok").time, Some(Duration::from_millis(1500)));
        assert_eq!(case("ok").classname.as_deref(), Some("runall"));
        assert_eq!(case("ok").system_out.as_deref(), Some("fine\n"));
        assert_eq!(
            case("code").system_out.as_deref(),
            Some("bad red\\x00\n"),
            "a NUL is shown, not sent"
        );
        assert_eq!(case("skip").system_out, None);
        assert_eq!(case("skip").time, None);
        let flaky = case("flaky");
        let out = flaky.system_out.as_deref().unwrap();
        assert!(
            out.starts_with(
                "runall: flaky passed on attempt 2 (flaky); earlier attempts: attempt 1: exit 1\n"
            ),
            "{out}"
        );
        assert!(out.ends_with("second try\n"), "{out}");
        let props: Vec<(&str, &str)> = flaky
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert!(props.contains(&("flaky", "true")) && props.contains(&("attempts", "2")));
        let TestCaseStatus::Success { flaky_runs } = &flaky.status else {
            unreachable!()
        };
        assert_eq!(flaky_runs[0].message.as_deref(), Some("exit 1"));
        assert_eq!(
            flaky_runs[0].system_out.as_deref(),
            Some("first try failed\n")
        );

        let xml = report.to_string().unwrap();
        assert!(xml.contains("<flakyFailure"), "{xml}");
        assert!(!xml.contains('\0') && !xml.contains('\x1b'));
    }

    #[test]
    fn an_incomplete_log_reaches_system_out_with_its_kept_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.log");
        // The disk filled after "logged\n": the rest was kept in memory, some of it cut.
        std::fs::write(&path, "logged\ntorn").unwrap();
        let incomplete = |head: &str| {
            Some(std::sync::Arc::new(crate::event::LogIncomplete {
                error: "No space left on device".into(),
                logged: 7,
                head: head.into(),
                cut: 5,
                tail: "kept tail\n".into(),
            }))
        };
        let failed = EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(1),
        };
        let plan = plan(&["full"]);
        let mut summary = Summary::new(&plan);
        let first = EnvResult {
            log_incomplete: incomplete("first head\n"),
            ..result(&path, failed.clone(), 5)
        };
        let last = EnvResult {
            attempt: 2,
            log_incomplete: incomplete("kept head\n"),
            ..result(&path, failed, 10)
        };
        summary.record(&RunEvent::EnvRetrying {
            env: 0,
            result: first,
        });
        summary.record(&RunEvent::EnvFinished {
            env: 0,
            result: last,
        });
        let report = build(&plan, &summary, Duration::from_secs(1));
        let case = case(&report, "full");
        let out = case.system_out.as_deref().unwrap();
        assert!(
            out.starts_with("logged\nkept head\n[runall: 5 bytes of output cut here")
                && out.ends_with("]\nkept tail\n"),
            "{out}"
        );
        assert!(
            !out.contains("torn"),
            "only the logged part of the file counts: {out}"
        );
        let TestCaseStatus::NonSuccess { reruns, .. } = &case.status else {
            unreachable!("a failed env is a non-success")
        };
        let rerun = reruns.runs[0].system_out.as_deref().unwrap();
        assert!(rerun.starts_with("logged\nfirst head\n"), "{rerun}");
    }
}
