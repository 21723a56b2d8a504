//! GitHub Actions: the workflow-command lines `--ci` prints there and the Markdown table
//! appended to `$GITHUB_STEP_SUMMARY`.
//!
//! Detection (`GITHUB_ACTIONS=true`) and the file's path are the caller's; this module only
//! words things. Workflow commands are `::name key=value::message` lines: each env's output is
//! folded between `::group::<env>: <outcome>` and `::endgroup::`, and every env that did not
//! pass gets `::error title=<env>: <outcome>::<its last lines>`, which GitHub shows as an
//! annotation on the run. Messages and properties are escaped as the runner expects (`%`, CR
//! and LF always; `:` and `,` in properties too).

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use super::{Summary, ran};
use crate::event::{EnvResult, Verdict, format_duration};
use crate::plan::Plan;

/// Lines of an env's output quoted in its `::error` annotation.
pub const ERROR_LINES: usize = 5;

/// A workflow command's message, escaped.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
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

/// The step summary: a heading with the counts and one table row per env (plan order).
pub fn step_summary(plan: &Plan, summary: &Summary) -> String {
    let mut text = String::new();
    // Writing to a `String` cannot fail.
    let _ = writeln!(text, "### runall: {}\n", summary.counts());
    text.push_str("| env | result | time |\n|:--|:--|--:|\n");
    for (id, spec) in plan.envs.iter().enumerate() {
        let (icon, outcome, time) = match summary.result(id) {
            Some(result) => (
                icon(result),
                result.describe(),
                if ran(result) {
                    format_duration(result.duration)
                } else {
                    "-".to_owned()
                },
            ),
            None if summary.started(id) => ("⚪", "not finished".to_owned(), "-".to_owned()),
            None => ("⚪", "not run".to_owned(), "-".to_owned()),
        };
        let _ = writeln!(
            text,
            "| {} | {icon} {} | {time} |",
            cell(&spec.name),
            cell(&outcome)
        );
    }
    text.push('\n');
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

/// A Markdown table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {

    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::event::{EnvStatus, ExitKind, RunEvent};
    use crate::plan::{EnvSpec, LeakPolicy};

    #[test]
    fn escapes_follow_the_runner() {
        assert_eq!(escape_data("100% a\r\nb: c,d"), "100%25 a%0D%0Ab: c,d");
        assert_eq!(escape_property("a: b,c%"), "a%3A b%2Cc%25");
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "before\n").unwrap();
        append_step_summary(&path, "after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\nafter\n");
    }
}
