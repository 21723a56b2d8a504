//! The run's resolved settings: the command line ([`Cli`]), the config's defaults, the
//! environment (`GITHUB_ACTIONS`, `GITHUB_STEP_SUMMARY`, `NO_COLOR`, the CPU count) and which
//! standard streams are terminals, turned into one [`RunSettings`] value by a pure function,
//! [`RunSettings::resolve`]. Every decision that depends on where runall runs is made here
//! and only here: the face (TUI or headless), colour and the children's colour variables,
//! the `--ci` output mode, GitHub Actions, the tail length, the report paths. The outside
//! world is read once, by [`Ambient::of_process`]; tests pass an [`Ambient`] of their own.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, ColorArg, OutputArg};
use crate::report::ci::{self, CiOptions, OutputMode};
use crate::report::files::{JsonTarget, ReportPaths};
use crate::report::github;

/// What runall reads from outside its command line and config: environment variables, the
/// CPU count and whether stdin and stdout are terminals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ambient {
    /// `GITHUB_ACTIONS`.
    pub github_actions: Option<OsString>,
    /// `GITHUB_STEP_SUMMARY`.
    pub github_step_summary: Option<OsString>,
    /// `GITHUB_WORKSPACE`: annotation paths are relative to it.
    pub github_workspace: Option<OsString>,
    /// `NO_COLOR`.
    pub no_color: Option<OsString>,
    /// CPUs available to runall: the default `--jobs`.
    pub cpus: usize,
    /// stdin is a terminal.
    pub stdin_tty: bool,
    /// stdout is a terminal.
    pub stdout_tty: bool,
    /// `RUNALL_TOX`: how to run tox (words, e.g. `uvx tox`).
    pub runall_tox: Option<OsString>,
}

impl Ambient {
    /// The running process's environment and standard streams.
    pub fn of_process() -> Self {
        Self {
            github_actions: std::env::var_os("GITHUB_ACTIONS"),
            github_step_summary: std::env::var_os("GITHUB_STEP_SUMMARY"),
            github_workspace: std::env::var_os("GITHUB_WORKSPACE"),
            no_color: std::env::var_os("NO_COLOR"),
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            stdin_tty: std::io::stdin().is_terminal(),
            stdout_tty: std::io::stdout().is_terminal(),
            runall_tox: std::env::var_os("RUNALL_TOX"),
        }
    }
}

/// Which face shows the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// The TUI.
    Interactive,
    /// `--ci`: the headless reporters.
    Headless,
    /// `--attach ENV`: that env on runall's own terminal, the rest summarised at the end.
    Attach,
}

/// Everything about a run that the command line, the config and the surroundings decide,
/// resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent decisions, each read on its own"
)]
pub struct RunSettings {
    /// The TUI or `--ci`.
    pub face: Face,
    /// runall shows colour (and tells the children to colour: [`Self::child_env`]).
    pub color: bool,
    /// Running under GitHub Actions.
    pub github: bool,
    /// How `--ci` prints output.
    pub output: OutputMode,
    /// `--only-failed`.
    pub only_failed: bool,
    /// Lines of each failed env's output shown after the summary.
    pub tail_lines: usize,
    /// `--fail-fast`.
    pub fail_fast: bool,
    /// Variables added to every child's environment (colour forcing).
    pub child_env: Vec<(String, String)>,
    /// The jobs default when neither `--jobs` nor the config sets one.
    pub default_jobs: usize,
    /// The report files to write.
    pub reports: ReportPaths,
    /// Under GitHub Actions, the checkout (`GITHUB_WORKSPACE`) that annotation paths are
    /// relative to.
    pub github_workspace: Option<PathBuf>,
    /// `--max-memory`, else `max_memory` in [settings]: the scheduler's memory limit.
    pub max_memory: Option<u64>,
    /// `scrollback_memory` in [settings]: the TUI's budget of parsed lines, all envs together.
    pub scrollback_memory: u64,
}

impl RunSettings {
    /// Resolves `cli`, the config's `tail` and `ambient` into the run's settings.
    pub fn resolve(cli: &Cli, config_tail: Option<usize>, ambient: &Ambient) -> Self {
        let github = ambient.github_actions.as_deref() == Some("true".as_ref());
        let color = match cli.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => {
                ambient.stdout_tty && ambient.no_color.as_ref().is_none_or(|v| v.is_empty())
            }
        };
        // GitHub Actions folds groups, so whole envs read best there.
        let default_output = if github {
            OutputArg::Grouped
        } else {
            OutputArg::Prefixed
        };
        let output = match cli.output.unwrap_or(default_output) {
            OutputArg::Grouped => OutputMode::Grouped,
            OutputArg::Prefixed => OutputMode::Prefixed,
        };
        // One colour decision for both faces: children write to pipes, so when runall shows
        // colour (TUI or --ci) the usual tools are told to colour anyway; with colour off
        // their SGR codes are stripped by the sanitiser.
        let child_env = if color {
            ["FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS"]
                .map(|var| (var.to_owned(), "1".to_owned()))
                .to_vec()
        } else {
            Vec::new()
        };
        let reports = ReportPaths {
            junit: cli.junit.clone(),
            json: cli.json.as_deref().map(|path| {
                if path == Path::new("-") {
                    JsonTarget::Stdout
                } else {
                    JsonTarget::File(path.to_path_buf())
                }
            }),
            step_summary: ambient
                .github_step_summary
                .as_ref()
                .filter(|path| github && !path.is_empty())
                .map(PathBuf::from),
        };
        // The TUI when both ends are a terminal and nothing asked for plain output.
        let face = if cli.attach.is_some() {
            Face::Attach
        } else if !cli.ci && ambient.stdout_tty && ambient.stdin_tty && reports.json.is_none() {
            Face::Interactive
        } else {
            Face::Headless
        };
        Self {
            face,
            color,
            github,
            output,
            only_failed: cli.only_failed,
            tail_lines: cli.tail.or(config_tail).unwrap_or(ci::DEFAULT_TAIL_LINES),
            fail_fast: cli.fail_fast,
            child_env,
            default_jobs: ambient.cpus,
            reports,
            github_workspace: ambient
                .github_workspace
                .as_ref()
                .filter(|path| github && !path.is_empty())
                .map(PathBuf::from),
            max_memory: cli.max_memory,
            scrollback_memory: crate::tui::app::DEFAULT_SCROLLBACK_MEMORY,
        }
    }

    /// Adds the config's memory settings: `--max-memory` wins over `max_memory`, and
    /// `scrollback_memory` replaces the default budget.
    #[must_use]
    pub fn with_memory(mut self, config: &crate::config::Settings) -> Self {
        self.max_memory = self.max_memory.or(config.max_memory);
        if let Some(budget) = config.scrollback_memory {
            self.scrollback_memory = budget;
        }
        self
    }

    /// The CI reporter's options (also the summary printed after the TUI closes). Under
    /// GitHub Actions each call draws a fresh random stop-commands token.
    pub fn ci_options(&self) -> CiOptions {
        CiOptions {
            output: self.output,
            color: self.color,
            only_failed: self.only_failed,
            tail_lines: self.tail_lines,
            github: self.github.then(github::StopToken::random),
            github_workspace: self.github_workspace.clone(),
            ..CiOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("runall").chain(args.iter().copied())).unwrap()
    }

    /// A terminal on both ends, no variables set.
    fn terminal() -> Ambient {
        Ambient {
            cpus: 4,
            stdin_tty: true,
            stdout_tty: true,
            ..Ambient::default()
        }
    }

    /// A GitHub Actions runner: no terminal, `GITHUB_ACTIONS=true`.
    fn github_runner() -> Ambient {
        Ambient {
            github_actions: Some("true".into()),
            github_step_summary: Some("/tmp/summary.md".into()),
            cpus: 2,
            ..Ambient::default()
        }
    }

    fn resolve(args: &[&str], ambient: &Ambient) -> RunSettings {
        RunSettings::resolve(&cli(args), None, ambient)
    }

    #[test]
    fn memory_settings_come_from_the_flag_then_the_config() {
        let config = crate::config::Settings {
            max_memory: Some(8 << 30),
            scrollback_memory: Some(1 << 20),
            ..crate::config::Settings::default()
        };
        let flag = resolve(&["--max-memory", "512MiB"], &terminal()).with_memory(&config);
        assert_eq!(flag.max_memory, Some(512 << 20));
        assert_eq!(flag.scrollback_memory, 1 << 20);
        let file = resolve(&[], &terminal()).with_memory(&config);
        assert_eq!(file.max_memory, Some(8 << 30));
        let none = resolve(&[], &terminal()).with_memory(&crate::config::Settings::default());
        assert_eq!(none.max_memory, None);
        assert_eq!(
            none.scrollback_memory,
            crate::tui::app::DEFAULT_SCROLLBACK_MEMORY
        );
        let error = Cli::try_parse_from(["runall", "--max-memory", "lots"])
            .expect_err("not a size")
            .to_string();
        assert!(error.contains("invalid size `lots`"), "{error}");
    }

    #[test]
    fn a_terminal_on_both_ends_gets_the_tui_unless_plain_output_is_asked_for() {
        assert_eq!(resolve(&[], &terminal()).face, Face::Interactive);
        assert_eq!(resolve(&["--ci"], &terminal()).face, Face::Headless);
        assert_eq!(
            resolve(&["--attach", "unit"], &terminal()).face,
            Face::Attach
        );
        assert_eq!(resolve(&["--json", "-"], &terminal()).face, Face::Headless);
        assert_eq!(
            resolve(&["--json", "x.json"], &terminal()).face,
            Face::Headless
        );
        // `--junit` is written after the TUI too.
        assert_eq!(
            resolve(&["--junit", "j.xml"], &terminal()).face,
            Face::Interactive
        );
        let piped_in = Ambient {
            stdin_tty: false,
            ..terminal()
        };
        assert_eq!(resolve(&[], &piped_in).face, Face::Headless);
        let piped_out = Ambient {
            stdout_tty: false,
            ..terminal()
        };
        assert_eq!(resolve(&[], &piped_out).face, Face::Headless);
    }

    #[test]
    fn colour_follows_the_flag_then_the_terminal_and_no_color() {
        assert!(resolve(&[], &terminal()).color);
        assert!(!resolve(&["--color", "never"], &terminal()).color);
        assert!(resolve(&["--color", "always"], &github_runner()).color);
        assert!(!resolve(&[], &github_runner()).color, "not a terminal");
        let no_color = |value: &str| Ambient {
            no_color: Some(value.into()),
            ..terminal()
        };
        assert!(!resolve(&[], &no_color("1")).color);
        // An empty NO_COLOR does not count (no-color.org).
        assert!(resolve(&[], &no_color("")).color);
        assert!(resolve(&["--color", "always"], &no_color("1")).color);
    }

    #[test]
    fn children_are_told_to_colour_exactly_when_runall_shows_colour() {
        let on = resolve(&["--color", "always"], &github_runner());
        let vars: Vec<&str> = on.child_env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(vars, ["FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS"]);
        assert!(on.child_env.iter().all(|(_, v)| v == "1"));
        assert!(
            resolve(&["--color", "never"], &terminal())
                .child_env
                .is_empty()
        );
        assert!(resolve(&[], &github_runner()).child_env.is_empty());
    }

    #[test]
    fn github_actions_means_grouped_output_and_a_step_summary() {
        let gh = resolve(&[], &github_runner());
        assert!(gh.github);
        assert_eq!(gh.output, OutputMode::Grouped);
        assert_eq!(
            gh.reports.step_summary.as_deref(),
            Some(Path::new("/tmp/summary.md"))
        );
        assert!(gh.ci_options().github.is_some());
        assert_eq!(
            resolve(&["--output", "prefixed"], &github_runner()).output,
            OutputMode::Prefixed
        );

        let plain = resolve(&[], &terminal());
        assert!(!plain.github);
        assert_eq!(plain.output, OutputMode::Prefixed);
        assert!(plain.ci_options().github.is_none());
        assert_eq!(
            resolve(&["--output", "grouped"], &terminal()).output,
            OutputMode::Grouped
        );

        // Only the exact value "true" is GitHub Actions; the summary file only under it.
        let not_quite = Ambient {
            github_actions: Some("1".into()),
            ..github_runner()
        };
        let s = resolve(&[], &not_quite);
        assert!(!s.github);
        assert_eq!(s.reports.step_summary, None);
        let empty_summary = Ambient {
            github_step_summary: Some("".into()),
            ..github_runner()
        };
        assert_eq!(resolve(&[], &empty_summary).reports.step_summary, None);
    }

    #[test]
    fn tail_lines_come_from_the_flag_then_the_config_then_the_default() {
        let ambient = terminal();
        assert_eq!(
            RunSettings::resolve(&cli(&["--tail", "3"]), Some(7), &ambient).tail_lines,
            3
        );
        assert_eq!(
            RunSettings::resolve(&cli(&[]), Some(7), &ambient).tail_lines,
            7
        );
        assert_eq!(
            RunSettings::resolve(&cli(&[]), None, &ambient).tail_lines,
            ci::DEFAULT_TAIL_LINES
        );
        assert_eq!(
            RunSettings::resolve(&cli(&["--tail", "0"]), Some(7), &ambient).tail_lines,
            0
        );
    }

    #[test]
    fn report_paths_and_flags_are_carried_over() {
        let s = resolve(
            &[
                "--junit",
                "out/j.xml",
                "--json",
                "-",
                "--fail-fast",
                "--only-failed",
            ],
            &github_runner(),
        );
        assert_eq!(s.reports.junit.as_deref(), Some(Path::new("out/j.xml")));
        assert_eq!(s.reports.json, Some(JsonTarget::Stdout));
        assert!(s.fail_fast && s.only_failed);
        assert_eq!(s.default_jobs, 2);
        let options = s.ci_options();
        assert!(options.only_failed && !options.color);
        assert_eq!(options.output, OutputMode::Grouped);
        assert_eq!(
            resolve(&["--json", "r.json"], &terminal()).reports.json,
            Some(JsonTarget::File(PathBuf::from("r.json")))
        );
        let none = resolve(&[], &terminal());
        assert_eq!(none.reports, ReportPaths::default());
        assert!(!none.fail_fast && !none.only_failed);
    }
}
