//! `runall list`: the config's envs with their last result from the history, as text (one
//! block per env) or as one JSON object (`--json`). It presents the config and the history;
//! it neither plans nor reports a run.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{Config, RawCommand};
use crate::history::History;
use crate::report::json::SCHEMA;

/// The body printed by `runall list`: one block per env, in file order, blocks separated by a
/// blank line. Commands are shown before `{posargs}` substitution, each after `$ `; then
/// `last run: …` with whatever `last_run` says about the env (its last outcome and duration).
pub fn text(config: &Config, last_run: impl Fn(&str) -> Option<String>) -> String {
    // Writing to a `String` cannot fail, so the `fmt::Result`s below are ignored.
    let mut out = String::new();
    for (i, env) in config.envs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&env.name);
        out.push('\n');
        if let Some(description) = &env.description {
            for line in description.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        if !env.labels.is_empty() {
            let _ = writeln!(out, "  labels: {}", env.labels.join(", "));
        }
        if !env.depends.is_empty() {
            let _ = writeln!(out, "  depends: {}", env.depends.join(", "));
        }
        for command in &env.commands {
            let _ = writeln!(out, "  $ {}", command.display());
        }
        if let Some(last) = last_run(&env.name) {
            let _ = writeln!(out, "  last run: {last}");
        }
    }
    out
}

#[derive(Serialize)]
struct ListedEnv<'a> {
    name: &'a str,
    description: Option<&'a str>,
    labels: &'a [String],
    depends: &'a [String],
    commands: Vec<String>,
    retries: u32,
    last: Option<ListedLast<'a>>,
}

#[derive(Serialize)]
struct ListedLast<'a> {
    verdict: &'a str,
    outcome: &'a str,
    duration_ms: Option<u64>,
    finished_at: u64,
    flaky: bool,
    cpu_ms: Option<u64>,
    peak_rss_bytes: Option<u64>,
}

#[derive(Serialize)]
struct Listing<'a> {
    schema: u32,
    envs: Vec<ListedEnv<'a>>,
}

/// `runall list --json`: one pretty-printed object, `{"schema": 1, "envs": [...]}`, each env
/// with `name`, `description`, `labels`, `depends`, `commands` (before `{posargs}`
/// substitution), `retries` and `last` (`null`, or `verdict`, `outcome`, `duration_ms`,
/// `finished_at` in seconds since the Unix epoch, `flaky`, `cpu_ms`, `peak_rss_bytes`) from the
/// history.
pub fn json(config: &Config, history: &History) -> String {
    let envs = config
        .envs
        .iter()
        .map(|env| ListedEnv {
            name: &env.name,
            description: env.description.as_deref(),
            labels: &env.labels,
            depends: &env.depends,
            commands: env.commands.iter().map(RawCommand::display).collect(),
            retries: env.retries,
            last: history.envs.get(&env.name).map(|r| ListedLast {
                verdict: &r.verdict,
                outcome: &r.outcome,
                duration_ms: r.duration_ms,
                finished_at: r.finished_at,
                flaky: r.flaky,
                cpu_ms: r.cpu_ms,
                peak_rss_bytes: r.peak_rss_bytes,
            }),
        })
        .collect();
    let listing = Listing {
        schema: SCHEMA,
        envs,
    };
    let mut text = serde_json::to_string_pretty(&listing).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::{Value, json};

    use super::*;
    use crate::plan::tests::config;

    #[test]
    fn list_text_shows_every_env_in_file_order() {
        let last = |name: &str| (name == "unit").then(|| "exit 1 in 2.0s, 5m ago".to_owned());
        assert_eq!(
            text(&config(), last),
            "\
lint
  clippy, warnings are errors
  labels: fast, static
  $ cargo clippy --all-targets -- -D warnings

unit
  labels: fast
  depends: lint
  $ cargo test {posargs}
  $ echo done
  last run: exit 1 in 2.0s, 5m ago

py311
  depends: unit
  $ pytest {posargs:tests}

py312
  $ pytest '{posargs:-x tests}'

docs
  two
  lines
  depends: lint, py312
  $ mkdocs build
"
        );
    }

    #[test]
    fn list_json_has_every_env_and_its_last_run() {
        let config = crate::config::parse(
            Path::new("/p/runall.toml"),
            "[env.lint]\ndescription = \"d\"\nlabels = [\"fast\"]\ncommands = [\"ruff\"]\n\
             [env.unit]\ndepends = [\"lint\"]\ncommands = [[\"pytest\", \"{posargs}\"]]\n",
        )
        .unwrap();
        let mut history = History::default();
        history.envs.insert(
            "unit".into(),
            crate::history::EnvRecord {
                duration_ms: Some(900),
                verdict: "failed".into(),
                outcome: "exit 1".into(),
                finished_at: 17,
                attempt: 1,
                flaky: false,
                cpu_ms: Some(450),
                peak_rss_bytes: Some(3 * 1024 * 1024),
            },
        );
        let value: Value = serde_json::from_str(&json(&config, &history)).unwrap();
        assert_eq!(
            value,
            json!({"schema": 1, "envs": [
                {"name": "lint", "description": "d", "labels": ["fast"], "depends": [],
                 "commands": ["ruff"], "retries": 0, "last": null},
                {"name": "unit", "description": null, "labels": [], "depends": ["lint"],
                 "commands": ["pytest {posargs}"], "retries": 0,
                 "last": {"verdict": "failed", "outcome": "exit 1", "duration_ms": 900,
                          "finished_at": 17, "flaky": false, "cpu_ms": 450,
                          "peak_rss_bytes": 3_145_728}},
            ]})
        );
    }
}
