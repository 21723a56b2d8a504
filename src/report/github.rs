//! GitHub Actions: the workflow-command lines `--ci` prints there and the Markdown table
//! appended to `$GITHUB_STEP_SUMMARY`.
//!
//! Detection (`GITHUB_ACTIONS=true`) and the file's path are the caller's; this module only
//! words things. Workflow commands are `::name key=value::message` lines: each env's output is
//! folded between `::group::<env>: <outcome>` and `::endgroup::`, and every env that did not
//! pass gets `::error title=<env>: <outcome>::<its last lines>`, which GitHub shows as an
//! annotation on the run. Messages and properties are escaped as the runner expects (`%`, CR
//! and LF always; `:` and `,` in properties too: [`crate::sanitize::workflow_data`]).
//!
//! A child's output must never act as a workflow command (a child's `::endgroup::` would end
//! the fold, `::error` would fake an annotation, `##[…]` works even mid-line). So the printer
//! pauses command processing with `::stop-commands::<token>` before anything but runall's own
//! commands and resumes it with `::<token>::` ([`stop_commands`], [`resume_commands`]); the
//! token ([`StopToken::random`]) is 128 random bits from the OS, which no child can guess.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Summary;
use crate::event::{EnvResult, Verdict, format_duration};
use crate::plan::Plan;
use crate::sanitize::{self, workflow_data as escape_data, workflow_property as escape_property};
use crate::testreport::{SUMMARY_FAILURES, TestCase};

/// Lines of an env's output quoted in its `::error` annotation.
pub const ERROR_LINES: usize = 5;

/// The token that pauses and resumes workflow commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopToken(String);

impl StopToken {
    /// A fresh token: 128 bits from `/dev/urandom` (or, where it cannot be read, from std's
    /// randomly keyed hasher over the clock), never from anything a child can see.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        let read = File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
        if read.is_err() {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            for (i, part) in bytes.chunks_mut(8).enumerate() {
                let mut hasher = RandomState::new().build_hasher();
                hasher.write_u128(nanos);
                hasher.write_usize(i);
                part.copy_from_slice(&hasher.finish().to_ne_bytes());
            }
        }
        let mut token = String::from("runall-");
        for b in bytes {
            // Writing to a `String` cannot fail.
            let _ = write!(token, "{b:02x}");
        }
        Self(token)
    }

    /// A fixed token, for tests.
    pub fn fixed(token: &str) -> Self {
        Self(token.to_owned())
    }
}

/// `::stop-commands::<token>`: until the matching [`resume_commands`], no line is a command.
pub fn stop_commands(token: &StopToken) -> String {
    format!("::stop-commands::{}", token.0)
}

/// `::<token>::`: workflow commands work again.
pub fn resume_commands(token: &StopToken) -> String {
    format!("::{}::", token.0)
}

/// A sink where everything is printed with workflow commands paused, except what goes through
/// [`command`](Self::command): the one way for a line to act as a workflow command, so no
/// path of the printer (child lines, `/proc` text, headers, heartbeats, tails) can forget to
/// pause. Without a token (not under GitHub Actions) it only passes bytes through.
#[derive(Debug)]
pub struct CommandGuard<W> {
    inner: W,
    token: Option<StopToken>,
    paused: bool,
}

impl<W: Write> CommandGuard<W> {
    /// Guards `inner`; `token` is `None` outside GitHub Actions.
    pub fn new(inner: W, token: Option<StopToken>) -> Self {
        Self {
            inner,
            token,
            paused: false,
        }
    }

    /// Pauses workflow commands unless they already are.
    fn pause(&mut self) -> io::Result<()> {
        if let Some(token) = &self.token
            && !self.paused
        {
            writeln!(self.inner, "{}", stop_commands(token))?;
            self.paused = true;
        }
        Ok(())
    }

    /// Resumes workflow commands if they are paused (what follows may be a command).
    pub fn resume(&mut self) -> io::Result<()> {
        if let Some(token) = &self.token
            && self.paused
        {
            writeln!(self.inner, "{}", resume_commands(token))?;
            self.paused = false;
        }
        Ok(())
    }

    /// Prints one of runall's own workflow commands (a whole line), live.
    pub fn command(&mut self, line: &str) -> io::Result<()> {
        self.resume()?;
        writeln!(self.inner, "{line}")
    }

    /// The sink.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The sink back.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CommandGuard<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pause()?;
        self.inner.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.pause()?;
        self.inner.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `::group::<env>: <outcome> (<time>)`.
pub fn group_start(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

/// Closes the group opened by [`group_start`].
pub const GROUP_END: &str = "::endgroup::";

/// `::error title=<env>: <outcome>::<message>`: the message is the env's last output lines
/// (already sanitised, oldest first) or, when it printed nothing, its outcome.
pub fn error_line(env: &str, outcome: &str, last_lines: &[String]) -> String {
    let title = format!("{env}: {outcome}");
    let message = if last_lines.iter().all(|l| l.trim().is_empty()) {
        outcome.to_owned()
    } else {
        last_lines.join("\n")
    };
    format!(
        "::error title={}::{}",
        escape_property(&title),
        escape_data(&message)
    )
}

/// Most test annotations per env: past it one annotation says how many more failed.
pub const TEST_ANNOTATIONS_PER_ENV: usize = 50;
/// Most test annotations per run (GitHub shows only so many per step anyway).
pub const TEST_ANNOTATIONS_TOTAL: usize = 200;

/// `::error file=F,line=L,title=<env>: <test>::<first line>\n<text>` for one failing test
/// (`level` `warning` when its env passed anyway). Every part comes from a report: sanitised,
/// then escaped for its place.
pub fn test_annotation(level: &str, env: &str, case: &TestCase, file: &str, line: u32) -> String {
    let title = format!("{env}: {}", case.full_name());
    let mut message = case.first_line().unwrap_or("failed").to_owned();
    let text = case.text.trim();
    if !text.is_empty() && text != message {
        message.push('\n');
        message.push_str(text);
    }
    format!(
        "::{level} file={},line={line},title={}::{}",
        escape_property(&sanitize::text(file.as_bytes())),
        escape_property(&sanitize::text(title.as_bytes())),
        escape_data(&sanitize::text_lines(&message))
    )
}

/// `::<level> title=<env>: <title>::<message>`, for an env's notes (capped annotations, a
/// report warning, a pass whose report lists failures).
pub fn env_annotation(level: &str, env: &str, title: &str, message: &str) -> String {
    format!(
        "::{level} title={}::{}",
        escape_property(&format!("{env}: {}", sanitize::text(title.as_bytes()))),
        escape_data(&sanitize::text(message.as_bytes()))
    )
}

/// A report's `file` as GitHub wants it: relative to the checkout. A relative `file` is
/// taken from the env's working directory `cwd`; outside `workspace` it stays absolute.
pub fn annotation_path(cwd: &Path, file: &str, workspace: Option<&Path>) -> String {
    let path = cwd.join(file);
    let path = workspace
        .and_then(|root| path.strip_prefix(root).ok())
        .unwrap_or(&path);
    // `a/./b` and `a/../b` read badly and do not match GitHub's file paths.
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if parts.last().is_some_and(|p| *p != "/") => {
                parts.pop();
            }
            other => parts.push(other.as_os_str()),
        }
    }
    let joined: std::path::PathBuf = parts.iter().collect();
    joined.to_string_lossy().into_owned()
}

/// The step summary: a heading with the counts and one table row per env (plan order).
pub fn step_summary(plan: &Plan, summary: &Summary) -> String {
    let mut text = String::new();
    // Writing to a `String` cannot fail.
    let _ = writeln!(text, "### runall: {}\n", summary.counts());
    let with_tests =
        (0..plan.envs.len()).any(|id| summary.result(id).is_some_and(|r| r.tests.is_some()));
    if with_tests {
        text.push_str("| env | result | tests | time |\n|:--|:--|:--|--:|\n");
    } else {
        text.push_str("| env | result | time |\n|:--|:--|--:|\n");
    }
    for (id, spec) in plan.envs.iter().enumerate() {
        let (icon, outcome, time) = match summary.result(id) {
            Some(result) => (
                icon(result),
                result.describe(),
                if result.ran() {
                    format_duration(result.duration)
                } else {
                    "-".to_owned()
                },
            ),
            None if summary.started(id) => ("⚪", "not finished".to_owned(), "-".to_owned()),
            None => ("⚪", "not run".to_owned(), "-".to_owned()),
        };
        let tests = if with_tests {
            let counts = summary.result(id).and_then(EnvResult::test_counts);
            format!(
                " {} |",
                counts.as_deref().map_or_else(|| "-".to_owned(), cell)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "| {} | {icon} {} |{tests} {time} |",
            cell(&spec.name),
            cell(&outcome)
        );
    }
    text.push('\n');
    for (id, spec) in plan.envs.iter().enumerate() {
        let Some(result) = summary.result(id) else {
            continue;
        };
        let Some(tests) = &result.tests else {
            continue;
        };
        let failures = tests.counts.failures();
        let warnings = result.test_warnings();
        if failures == 0 && warnings.is_empty() {
            continue;
        }
        let _ = writeln!(text, "**{}**: {}\n", cell(&spec.name), tests.counts);
        for case in tests.failing().take(SUMMARY_FAILURES) {
            let _ = writeln!(text, "- ❌ {}", cell(&crate::report::failing_line(case)));
        }
        let rest = failures.saturating_sub(SUMMARY_FAILURES as u64);
        if rest > 0 {
            let _ = writeln!(text, "- … and {rest} more");
        }
        for warning in warnings {
            let _ = writeln!(text, "- ⚠️ {}", cell(&warning));
        }
        text.push('\n');
    }
    text
}

/// Appends `text` to the step summary file.
pub fn append_step_summary(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

fn icon(result: &EnvResult) -> &'static str {
    match result.verdict() {
        Verdict::Passed if result.flaky() => "⚠️",
        Verdict::Passed => "✅",
        Verdict::Failed => "❌",
        Verdict::Skipped => "⏭️",
        Verdict::Interrupted | Verdict::NotRun => "⏹️",
    }
}

/// A Markdown table cell: sanitised (controls and line breaks shown as text), pipes escaped.
fn cell(text: &str) -> String {
    sanitize::text(text.as_bytes()).replace('|', "\\|")
}

#[cfg(test)]
mod tests {

    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::config::LeakPolicy;
    use crate::event::{EnvStatus, ExitKind, RunEvent};
    use crate::plan::EnvSpec;

    #[test]
    fn stop_tokens_are_random_and_pair_up() {
        let (a, b) = (StopToken::random(), StopToken::random());
        assert_ne!(a, b);
        assert_eq!(a.0.len(), "runall-".len() + 32, "{a:?}");
        assert_eq!(stop_commands(&a), format!("::stop-commands::{}", a.0));
        assert_eq!(resume_commands(&a), format!("::{}::", a.0));
    }

    #[test]
    fn error_lines_quote_output_or_the_outcome() {
        assert_eq!(
            error_line("unit", "exit 1", &["assert 1 == 2".into(), "FAILED".into()]),
            "::error title=unit%3A exit 1::assert 1 == 2%0AFAILED"
        );
        assert_eq!(
            error_line("docs", "skipped: lint did not pass", &[]),
            "::error title=docs%3A skipped%3A lint did not pass::skipped: lint did not pass"
        );
        assert_eq!(group_start("a: 50%"), "::group::a: 50%25");
    }

    #[test]
    fn step_summary_is_a_markdown_table() {
        let names = ["unit", "lint", "docs", "odd|name"];
        let plan = Plan::new(
            names
                .iter()
                .map(|name| EnvSpec::shell(name, "true", "/tmp"))
                .collect(),
            1,
            PathBuf::from("/tmp"),
        );
        let result = |status, attempt| EnvResult {
            status,
            stopped_by: None,
            duration: Duration::from_millis(1200),
            leaked: Vec::new(),
            on_leak: LeakPolicy::Warn,
            log_path: PathBuf::from("x.log"),
            attempt,
            log_incomplete: None,
            tests: None,
            resources: crate::event::Resources::default(),
        };
        let mut summary = Summary::new(&plan);
        let mut finish = |env, result| summary.record(&RunEvent::EnvFinished { env, result });
        finish(0, result(EnvStatus::Passed, 2));
        let exit = EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(2),
        };
        finish(1, result(exit, 1));
        let skipped = EnvStatus::Skipped {
            dependency: "lint".into(),
        };
        finish(2, result(skipped, 1));
        assert_eq!(
            step_summary(&plan, &summary),
            "\
### runall: 1 passed, 1 failed, 1 skipped, 1 not run

| env | result | time |
|:--|:--|--:|
| unit | ⚠️ passed on attempt 2 (flaky) | 1.2s |
| lint | ❌ exit 2 | 1.2s |
| docs | ⏭️ skipped: lint did not pass | - |
| odd\\|name | ⚪ not run | - |

"
        );
        // An env that skipped itself (a tox env without its interpreter): a skip, with tox's
        // reason, that ran (it has a time).
        let reason = "could not find python interpreter with spec(s): python2.5";
        summary.record(&RunEvent::EnvFinished {
            env: 3,
            result: result(
                EnvStatus::SelfSkipped {
                    reason: reason.into(),
                },
                1,
            ),
        });
        let text = step_summary(&plan, &summary);
        assert!(
            text.starts_with("### runall: 1 passed, 1 failed, 2 skipped\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("| odd\\|name | ⏭️ skipped: {reason} | 1.2s |")),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "before\n").unwrap();
        append_step_summary(&path, "after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\nafter\n");
    }
}
