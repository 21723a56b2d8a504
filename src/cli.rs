//! The command line, as clap parses it: raw flags only, no I/O and no defaults that need the
//! environment (those are resolved in `settings`). Also the shell completions and the man page,
//! generated from this same definition.

use std::io;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::plan::Shard;
use crate::report::ci::MAX_TAIL_LINES;

const EXAMPLES: &str = "\
Examples:
  runall                          run every env (TUI on a terminal, --ci otherwise)
  runall --ci lint 'py*'          run lint and every env matching py*, headless
  runall --ci label:fast -j 2     run the envs labelled fast, two at a time
  runall -e py311,lint -p 2       tox's habits: -e a,b (or `runall a,b`), -p N for -j N, -m LABEL
  runall --ci --exclude docs      run every env but docs
  runall unit -- -k test_io       pass `-k test_io` to {posargs} in unit's commands
  runall --ci --junit junit.xml   also write a JUnit report for the CI's test view
  runall --ci --json - | jq .     JSON-lines events on stdout (the log goes to stderr)
  runall --ci --shard 2/4         run part 2 of 4 of the envs (one job of a CI matrix)
  runall --ci --shard 2/4 --durations history.json   the same, shards balanced by time
  runall list --shard 2/4 --durations history.json   each shard's envs and expected time
  runall --ci --rerun-failed      run again only the envs that did not pass last time
  runall --attach unit            run unit on this terminal (a debugger, a prompt)
  runall list                     show the envs with their last result
  runall init                     write a commented starter runall.toml here
  runall completions bash > /etc/bash_completion.d/runall";

/// Run many test environments in parallel, live or headless, and never lose a line.
#[derive(Debug, Parser)]
#[command(name = "runall", version, after_help = EXAMPLES)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line flags"
)]
pub struct Cli {
    /// What to do instead of running envs.
    #[command(subcommand)]
    pub command: Option<Cmd>,

    /// Config file: a runall.toml, or tox's tox.ini, setup.cfg, pyproject.toml or tox.toml
    /// [default: runall.toml here or in the nearest parent folder, else tox's configuration].
    #[arg(short, long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Most envs running at once [default: `jobs` in [settings], else the number of CPUs].
    /// `-p N` (tox's `-p`) is the same.
    #[arg(short, long, value_name = "N", short_alias = 'p')]
    pub jobs: Option<usize>,

    /// Envs to run, comma-separated, as tox's `-e a,b` (repeatable; adds to ENV).
    #[arg(short = 'e', long = "env", value_name = "ENVS")]
    pub env: Vec<String>,

    /// Run the envs with this label, as tox's `-m NAME` (repeatable; `label:NAME` as ENV).
    #[arg(short = 'm', long = "label", value_name = "LABEL")]
    pub label: Vec<String>,
    /// Start an env only when the running envs' expected peak memory plus its own fit in
    /// this (e.g. 8GiB) [default: `max_memory` in [settings], else no limit].
    #[arg(long, value_name = "SIZE", value_parser = crate::config::size::parse_size)]
    pub max_memory: Option<u64>,

    /// Headless output for CI logs (the default when stdout is not a terminal).
    #[arg(long)]
    pub ci: bool,

    /// How `--ci` prints output: each line prefixed with its env, or each env whole when it ends.
    #[arg(long, value_enum, value_name = "MODE")]
    pub output: Option<OutputArg>,

    /// With `--output grouped`, print the output only of envs that did not pass.
    #[arg(long)]
    pub only_failed: bool,

    /// Lines of each failed env's output shown after the summary, 0 for none [default: `tail`
    /// in [settings], else 20].
    #[arg(long, value_name = "N", value_parser = tail_lines)]
    pub tail: Option<usize>,

    /// Colour: auto is on when stdout is a terminal and `NO_COLOR` is not set.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,

    /// Folder for the per-env logs [default: .runall/logs beside the config].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Run only the selected envs, not the envs they depend on.
    #[arg(long)]
    pub no_deps: bool,

    /// Leave out envs matching this name, glob or label:NAME (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,

    /// At the first failing env, start nothing new and interrupt the running ones.
    #[arg(long)]
    pub fail_fast: bool,

    /// Run ENV (after the envs it depends on) on this terminal itself, to debug it: no
    /// capture, no timeout; the other envs' output goes to their logs, summarised at the end.
    #[arg(long, value_name = "ENV", conflicts_with_all = ["envs", "rerun_failed", "shard"])]
    pub attach: Option<String>,

    /// Write a `JUnit` XML report here at the end of the run (one testcase per env).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Write JSON-lines events here as the run goes (`-`: stdout, and the log moves to stderr).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Run only part K of N of the selected envs (for a CI matrix; envs that depend on each
    /// other stay together).
    #[arg(long, value_name = "K/N", value_parser = clap::value_parser!(Shard), global = true)]
    pub shard: Option<Shard>,

    /// Balance the shards by the durations recorded in this run history (a
    /// `.runall/history.json` of an earlier run): longest first, each to the least loaded shard.
    /// Repeatable (one file per shard of the earlier run): each env's newest record counts.
    #[arg(long, value_name = "FILE", requires = "shard", global = true)]
    pub durations: Vec<PathBuf>,

    /// Run exactly the envs that did not pass in the previous run.
    #[arg(long, conflicts_with_all = ["envs", "env", "label"])]
    pub rerun_failed: bool,

    /// Envs to run: names, globs (`py*`) or `label:NAME`, also comma-separated (`a,b`)
    /// [default: all; tox's `env_list` for tox envs].
    #[arg(value_name = "ENV")]
    pub envs: Vec<String>,

    /// Arguments after `--`, substituted for `{posargs}` in commands.
    #[arg(last = true, value_name = "POSARGS")]
    pub posargs: Vec<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List the envs with their description, labels, dependencies and last result.
    List {
        /// Print JSON instead: `{"schema": 1, "envs": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script, e.g. `runall completions fish >
    /// ~/.config/fish/completions/runall.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff), e.g. `runall man > runall.1`.
    Man,
    /// Write a commented starter runall.toml in the current folder (never overwrites one).
    Init {
        /// Write one env per tox env instead (running `tox run -e NAME`, with descriptions,
        /// labels and ordering), from the tox configuration here (or `-c FILE`).
        #[arg(long)]
        from_tox: bool,
    },
}

impl Cli {
    /// Every env pattern asked for: ENV words and `-e` values split at commas (outside
    /// `[...]`, where a glob may hold one), then `-m` labels as `label:NAME`.
    pub fn patterns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for word in self.envs.iter().chain(&self.env) {
            out.extend(split_commas(word));
        }
        out.extend(self.label.iter().map(|label| format!("label:{label}")));
        out
    }
}

/// `a,b` → `a`, `b`; a comma inside `[...]` stays; empty parts are dropped.
fn split_commas(word: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut part = String::new();
    let mut depth = 0usize;
    for c in word.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                if !part.is_empty() {
                    out.push(std::mem::take(&mut part));
                }
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    if !part.is_empty() {
        out.push(part);
    }
    out
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "runall", &mut out);
    out
}

/// The man page, in roff.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// `--tail N`: 0 to [`MAX_TAIL_LINES`].
fn tail_lines(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of lines"))?;
    if n > MAX_TAIL_LINES {
        return Err(format!("must be at most {MAX_TAIL_LINES}"));
    }
    Ok(n)
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// `<env> | <line>`, line by line as it arrives.
    Prefixed,
    /// Each env's output whole, when it finishes.
    Grouped,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// On when stdout is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn posargs_follow_double_dash() {
        let cli = Cli::parse_from(["runall", "--ci", "unit", "--", "-k", "x"]);
        assert!(cli.ci);
        assert_eq!(cli.envs, ["unit"]);
        assert_eq!(cli.posargs, ["-k", "x"]);
    }

    #[test]
    fn tox_habits_select_like_tox() {
        let cli = Cli::parse_from([
            "runall",
            "-e",
            "py311,lint",
            "-p",
            "3",
            "cov,py3[1,2]",
            "-m",
            "fast",
            "-e",
            "x",
        ]);
        assert_eq!(cli.jobs, Some(3));
        assert_eq!(
            cli.patterns(),
            ["cov", "py3[1,2]", "py311", "lint", "x", "label:fast"]
        );
        assert!(Cli::try_parse_from(["runall", "--rerun-failed", "-e", "a"]).is_err());
        let cli = Cli::parse_from(["runall", "init", "--from-tox"]);
        assert!(matches!(cli.command, Some(Cmd::Init { from_tox: true })));
    }

    #[test]
    fn tail_is_a_bounded_number_of_lines() {
        assert_eq!(Cli::parse_from(["runall"]).tail, None);
        assert_eq!(Cli::parse_from(["runall", "--tail", "0"]).tail, Some(0));
        assert_eq!(Cli::parse_from(["runall", "--tail", "500"]).tail, Some(500));
        for bad in ["10001", "-1", "x"] {
            let err = Cli::try_parse_from(["runall", "--tail", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
        let err = Cli::try_parse_from(["runall", "--tail", "10001"]).unwrap_err();
        assert!(err.to_string().contains("must be at most 10000"), "{err}");
    }

    #[test]
    fn shard_and_report_flags() {
        let cli = Cli::parse_from([
            "runall", "--shard", "2/3", "--junit", "j.xml", "--json", "-",
        ]);
        assert_eq!(cli.shard, Some(Shard { index: 2, count: 3 }));
        assert_eq!(cli.junit, Some(PathBuf::from("j.xml")));
        assert_eq!(cli.json, Some(PathBuf::from("-")));
        let err = Cli::try_parse_from(["runall", "--shard", "4/3"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("K must be from 1 to 3"), "{err}");
        let err = Cli::try_parse_from(["runall", "--durations", "h.json"]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "--durations needs --shard");
        let cli = Cli::parse_from(["runall", "list", "--shard", "1/2", "--durations", "h.json"]);
        assert!(matches!(cli.command, Some(Cmd::List { json: false })));
        assert_eq!(cli.shard, Some(Shard { index: 1, count: 2 }));
        assert_eq!(cli.durations, [PathBuf::from("h.json")]);
        let err = Cli::try_parse_from(["runall", "--rerun-failed", "unit"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn completions_and_man_page_name_the_subcommands() {
        let bash = String::from_utf8(completions(Shell::Bash)).unwrap();
        assert!(bash.contains("--rerun-failed") && bash.contains("completions"));
        let man = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(man.contains(".TH runall") && man.contains("shard"), "{man}");
    }
}
