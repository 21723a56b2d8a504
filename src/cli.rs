//! The command line, as clap parses it: raw flags only, no I/O and no defaults that need the
//! environment (those are resolved in `lib.rs`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  runall                          run every env (TUI on a terminal, --ci otherwise)
  runall --ci lint 'py*'          run lint and every env matching py*, headless
  runall --ci label:fast -j 2     run the envs labelled fast, two at a time
  runall unit -- -k test_io       pass `-k test_io` to {posargs} in unit's commands
  runall list                     show the envs";

/// Run many test environments in parallel, live or headless, and never lose a line.
#[derive(Debug, Parser)]
#[command(name = "runall", version, after_help = EXAMPLES)]
#[expect(clippy::struct_excessive_bools, reason = "independent command-line flags")]
pub struct Cli {
    /// What to do instead of running envs.
    #[command(subcommand)]
    pub command: Option<Cmd>,

    /// Config file [default: runall.toml here or in the nearest parent folder].
    #[arg(short, long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Most envs running at once [default: `jobs` in [settings], else the number of CPUs].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Headless output for CI logs (the default when stdout is not a terminal).
    #[arg(long)]
    pub ci: bool,

    /// How `--ci` prints output: each line prefixed with its env, or each env whole when it ends.
    #[arg(long, value_enum, value_name = "MODE")]
    pub output: Option<OutputArg>,

    /// With `--output grouped`, print the output only of envs that did not pass.
    #[arg(long)]
    pub only_failed: bool,

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

    /// Envs to run: names, globs (`py*`) or `label:NAME` [default: all].
    #[arg(value_name = "ENV")]
    pub envs: Vec<String>,

    /// Arguments after `--`, substituted for `{posargs}` in commands.
    #[arg(last = true, value_name = "POSARGS")]
    pub posargs: Vec<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List the envs with their description, labels and dependencies.
    List,
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
    use clap::CommandFactory;

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
}
