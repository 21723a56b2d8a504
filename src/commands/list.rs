//! `runall list`: the config's envs with their last result from the history, as text (one
//! block per env) or as one JSON object (`--json`). It presents the config and the history;
//! it neither plans nor reports a run.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, EnvOrigin, RawCommand};
use crate::event::format_duration;
use crate::history::History;
use crate::plan::Shard;
use crate::plan::balance::Balanced;

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
        match &env.origin {
            EnvOrigin::Runall => {}
            EnvOrigin::Tox { .. } if env.default => out.push_str("  [tox]"),
            EnvOrigin::Tox { .. } => out.push_str("  [tox, not in env_list]"),
            EnvOrigin::ToxPackage(_) => out.push_str("  [runall's package build for tox envs]"),
        }
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
        if !env.after.is_empty() {
            let _ = writeln!(out, "  after: {}", env.after.join(", "));
        }
        if !env.default && !matches!(env.origin, EnvOrigin::Tox { .. } | EnvOrigin::ToxPackage(_)) {
            out.push_str("  not run unless named\n");
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

/// `runall list --shard K/N [--durations FILE]`: every shard in turn (shard K marked), its
/// expected time (with durations) and its envs in file order, each with its weight; an env the
/// file lacks is marked as weighed with the median.
pub fn shards_text(config: &Config, split: &Balanced, selected: Shard, by_time: bool) -> String {
    let mut out = String::new();
    let width = config
        .envs
        .iter()
        .map(|env| env.name.len())
        .max()
        .unwrap_or(0);
    for (s, total) in split.total_ms.iter().enumerate() {
        let members: Vec<usize> = (0..config.envs.len())
            .filter(|&i| split.shard.get(i) == Some(&Some(s)))
            .collect();
        let mark = if s + 1 == selected.index {
            " (this job)"
        } else {
            ""
        };
        let plural = if members.len() == 1 { "" } else { "s" };
        let shard = Shard {
            index: s + 1,
            count: selected.count,
        };
        if by_time {
            let time = format_duration(Duration::from_millis(*total));
            let _ = writeln!(
                out,
                "shard {shard}{mark}: {time} expected, {} env{plural}",
                members.len()
            );
        } else {
            let _ = writeln!(
                out,
                "shard {shard}{mark}: {} env{plural} (split by count; --durations FILE \
                 balances by time)",
                members.len()
            );
        }
        for i in members {
            let name = &config.envs[i].name;
            if by_time {
                let time = format_duration(Duration::from_millis(split.weight_ms[i]));
                let note = if split.estimated[i] {
                    " (not in the file: the median)"
                } else {
                    ""
                };
                let _ = writeln!(out, "  {name:<width$}  {time}{note}");
            } else {
                let _ = writeln!(out, "  {name}");
            }
        }
    }
    out
}

#[derive(Serialize)]
struct ShardListing<'a> {
    schema: u32,
    /// `by_time` with `--durations`, else `by_count`.
    split: &'static str,
    shards: Vec<ListedShard<'a>>,
}

#[derive(Serialize)]
struct ListedShard<'a> {
    shard: String,
    this_job: bool,
    /// With `--durations`: the sum of its envs' weights.
    expected_ms: Option<u64>,
    envs: Vec<ShardEnv<'a>>,
}

#[derive(Serialize)]
struct ShardEnv<'a> {
    name: &'a str,
    /// With `--durations`: its recorded duration, or the median (`estimated`).
    weight_ms: Option<u64>,
    estimated: bool,
}

/// `runall list --shard K/N [--durations FILE] --json`: the same as [`shards_text`], as one
/// object `{"schema": 1, "split": "by_time"|"by_count", "shards": [{"shard": "1/4",
/// "this_job", "expected_ms", "envs": [{"name", "weight_ms", "estimated"}]}]}`.
pub fn shards_json(config: &Config, split: &Balanced, selected: Shard, by_time: bool) -> String {
    let shards = (0..split.total_ms.len())
        .map(|s| ListedShard {
            shard: Shard {
                index: s + 1,
                count: selected.count,
            }
            .to_string(),
            this_job: s + 1 == selected.index,
            expected_ms: by_time.then_some(split.total_ms[s]),
            envs: (0..config.envs.len())
                .filter(|&i| split.shard.get(i) == Some(&Some(s)))
                .map(|i| ShardEnv {
                    name: &config.envs[i].name,
                    weight_ms: by_time.then_some(split.weight_ms[i]),
                    estimated: split.estimated[i],
                })
                .collect(),
        })
        .collect();
    let listing = ShardListing {
        schema: SCHEMA,
        split: if by_time { "by_time" } else { "by_count" },
        shards,
    };
    let mut text = serde_json::to_string_pretty(&listing).unwrap_or_default();
    text.push('\n');
    text
}

#[derive(Serialize)]
struct ListedEnv<'a> {
    name: &'a str,
    description: Option<&'a str>,
    labels: &'a [String],
    depends: &'a [String],
    after: &'a [String],
    /// `runall`, `tox` or `tox-package`.
    origin: &'static str,
    /// Run when no env is named.
    default: bool,
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
    config: String,
    envs: Vec<ListedEnv<'a>>,
}

/// The version of `runall list --json` (the run's JSON stream has its own).
const SCHEMA: u32 = 1;

/// `runall list --json`: one pretty-printed object, `{"schema": 1, "config": PATH, "envs":
/// [...]}`, each env with `name`, `description`, `labels`, `depends`, `after`, `origin`
/// (`runall`, `tox`, `tox-package`), `default`, `commands` (before `{posargs}`
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
            after: &env.after,
            origin: match env.origin {
                EnvOrigin::Runall => "runall",
                EnvOrigin::Tox { .. } => "tox",
                EnvOrigin::ToxPackage(_) => "tox-package",
            },
            default: env.default,
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
        config: config.path.display().to_string(),
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
            json!({"schema": 1, "config": "/p/runall.toml", "envs": [
                {"name": "lint", "description": "d", "labels": ["fast"], "depends": [],
                 "after": [], "origin": "runall", "default": true,
                 "commands": ["ruff"], "retries": 0, "last": null},
                {"name": "unit", "description": null, "labels": [], "depends": ["lint"],
                 "after": [], "origin": "runall", "default": true,
                 "commands": ["pytest {posargs}"], "retries": 0,
                 "last": {"verdict": "failed", "outcome": "exit 1", "duration_ms": 900,
                          "finished_at": 17, "flaky": false, "cpu_ms": 450,
                          "peak_rss_bytes": 3_145_728}},
            ]})
        );
    }
}
