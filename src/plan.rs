//! The plan: which envs run, in what order, with which fully resolved commands.
//!
//! A `Plan` is built from a loaded [`crate::config::Config`] and the command line's selection
//! (names, globs, `label:NAME`, `--no-deps`, posargs). It is pure data: nothing here touches
//! processes, terminals or the clock, so every rule is unit-tested in this file.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    self, Config, EnvConfig, LeakPolicy, RawCommand, SkipProbe, StderrMode, Timeouts,
};

pub mod balance;
mod order;
mod shell;

/// Index of an env in [`Plan::envs`]; stable for the whole run.
pub type EnvId = usize;

/// Everything the runner needs to run the selected envs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Selected envs plus the envs they depend on (unless `--no-deps`), in file order.
    pub envs: Vec<EnvSpec>,
    /// Most envs running at once (at least 1).
    pub jobs: usize,
    /// Where `<env>.log` files go.
    pub log_dir: PathBuf,
    /// Shutdown knobs shared by all envs.
    pub timeouts: Timeouts,
    /// The order in which the runner starts ready envs (the scheduler's policy, e.g.
    /// [`Plan::longest_first`]): every env once, or empty for file order.
    pub start_order: Vec<EnvId>,
}

/// One env, resolved: commands after `{posargs}` substitution, absolute working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSpec {
    /// `[A-Za-z0-9._-]+`, unique.
    pub name: String,
    /// Free text shown by `runall list`.
    pub description: Option<String>,
    /// Run in order; the env fails at the first failing command. Never empty.
    pub commands: Vec<CommandSpec>,
    /// Absolute working directory of every command.
    pub cwd: PathBuf,
    /// Extra environment variables (base merged with the env's own; the env wins).
    pub set_env: BTreeMap<String, String>,
    /// Envs (in this plan) that must pass before this one starts.
    pub depends: Vec<EnvId>,
    /// Envs (in this plan) that must have finished, whatever their outcome, before this one
    /// starts: ordering only (tox's `depends`).
    pub after: Vec<EnvId>,
    /// Labels for `label:NAME` selection.
    pub labels: Vec<String>,
    /// Whether stderr shares stdout's pipe.
    pub stderr: StderrMode,
    /// Per-env timeout: SIGTERM the group after this long, then SIGKILL after `terminate`.
    pub timeout: Option<Duration>,
    /// What a leaked process (one still holding the env's pipe after it exited) means.
    pub on_leak: LeakPolicy,
    /// How many times a failed env is run again; passing on a retry makes it flaky.
    pub retries: u32,
    /// How the env may say it skipped itself (a tox env's result JSON).
    pub skip_probe: Option<SkipProbe>,
    /// What every command is launched through (`None`: run directly).
    pub launcher: Option<crate::launcher::Launcher>,
    /// Where its test reports come from.
    pub reports: ReportSpec,
    /// Run on a pseudo-terminal (stdin, stdout and stderr its slave side) instead of pipes.
    pub tty: bool,
    /// `--attach`: run on runall's own terminal (its stdin, stdout and stderr, as the
    /// terminal's foreground process group), nothing captured, no timeout.
    pub attach: bool,
}

impl Plan {
    /// `--attach NAME`: that env runs on runall's own terminal, without a timeout or
    /// retries. `NoMatch` if the plan has no env of that name.
    pub fn attach(mut self, name: &str) -> Result<Self, PlanError> {
        let Some(env) = self.envs.iter_mut().find(|e| e.name == name) else {
            return Err(PlanError::NoMatch {
                pattern: name.to_owned(),
                envs: self.envs.iter().map(|e| e.name.clone()).collect(),
            });
        };
        env.attach = true;
        env.timeout = None;
        env.retries = 0;
        Ok(self)
    }
}

/// Where an env's test reports come from (see [`crate::testreport`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSpec {
    /// `test_reports` as written: globs relative to `cwd`, `{report_dir}` not yet replaced.
    pub patterns: Vec<String>,
    /// Set when a command holds `{report_dir}`: the commands as written and the posargs, which
    /// the runner expands again for each attempt's folder ([`expand`]). `commands` then show
    /// `{report_dir}` as written.
    pub templates: Option<Arc<Templates>>,
}

impl Default for ReportSpec {
    fn default() -> Self {
        Self {
            patterns: vec![crate::testreport::DEFAULT_PATTERN.to_owned()],
            templates: None,
        }
    }
}

/// An env's commands before substitution, for the runner to expand per attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    /// The commands as written.
    pub commands: Vec<RawCommand>,
    /// The words after `--`.
    pub posargs: Vec<String>,
}

impl EnvSpec {
    /// An env that runs one shell command in `cwd`, every other setting at its default: for
    /// tests, benches and demos that build a plan without a config file.
    pub fn shell(name: &str, command: &str, cwd: impl Into<PathBuf>) -> Self {
        Self {
            name: name.to_owned(),
            description: None,
            commands: vec![CommandSpec::Shell(command.to_owned())],
            cwd: cwd.into(),
            set_env: BTreeMap::new(),
            depends: Vec::new(),
            after: Vec::new(),
            labels: Vec::new(),
            stderr: StderrMode::Merged,
            timeout: None,
            on_leak: LeakPolicy::Warn,
            retries: 0,
            launcher: None,
            reports: ReportSpec::default(),
            skip_probe: None,
            tty: false,
            attach: false,
        }
    }
}

impl Plan {
    /// A plan of `envs` with the default timeouts.
    pub fn new(envs: Vec<EnvSpec>, jobs: usize, log_dir: impl Into<PathBuf>) -> Self {
        Self {
            envs,
            jobs,
            log_dir: log_dir.into(),
            timeouts: Timeouts::default(),
            start_order: Vec::new(),
        }
    }
}

/// A command ready to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    /// Run through `sh -c <string>`.
    Shell(String),
    /// Run directly: `argv[0]` looked up in `PATH`, never empty.
    Argv(Vec<String>),
}

impl CommandSpec {
    /// The command as a user would type it, for headers and reports.
    pub fn display(&self) -> String {
        match self {
            Self::Shell(s) => s.clone(),
            Self::Argv(argv) => crate::config::display_argv(argv),
        }
    }
}

/// What the command line asked to run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Env names, globs (`py*`, `lint-?`) or `label:NAME`; empty selects every env.
    pub patterns: Vec<String>,
    /// Envs to drop (same syntax); a pattern here that matches nothing is not an error.
    pub exclude: Vec<String>,
    /// Run only the selection, not the envs it depends on.
    pub no_deps: bool,
    /// The words after `--`, substituted for `{posargs}`.
    pub posargs: Vec<String>,
    /// `--jobs`, which beats `settings.jobs`.
    pub jobs: Option<usize>,
    /// `--log-dir`, kept as given; defaults to `<root>/.runall/logs`.
    pub log_dir: Option<PathBuf>,
    /// Used when neither `--jobs` nor `settings.jobs` is set (the number of CPUs).
    pub default_jobs: usize,
    /// `--rerun-failed`: exactly these envs, by name, instead of `patterns` and without the
    /// dependency closure. Names no longer in the config are ignored; the list may be empty
    /// (then the plan is empty).
    pub only: Option<Vec<String>>,
    /// `--shard K/N`: keep only this part of the selection (see [`shard_of`]).
    pub shard: Option<Shard>,
    /// `--durations FILE`: each env's recorded duration in milliseconds; with it the shard
    /// is balanced by time ([`balance::balance`]) instead of by count.
    pub durations: Option<BTreeMap<String, u64>>,
}

/// `--shard K/N`: part `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1 to `count`.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `K/N` with `1 <= K <= N`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("expected K/N (e.g. 2/4), got `{text}`"))?;
        let number = |part: &str, what: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| format!("{what} in `{text}` is not a whole number"))
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 {
            return Err(format!("N must be at least 1 in `{text}`"));
        }
        if index == 0 || index > count {
            return Err(format!("K must be from 1 to {count} in `{text}`"));
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a selection cannot become a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A name or glob pattern matched no env.
    #[error("no env matches `{pattern}` (envs: {})", env_list(envs))]
    NoMatch {
        /// The pattern as given.
        pattern: String,
        /// Every env in the config, in file order.
        envs: Vec<String>,
    },
    /// A `label:NAME` pattern matched no env.
    #[error("no env has label `{label}`")]
    NoLabel {
        /// The label, without `label:`.
        label: String,
    },
    /// A glob pattern does not parse.
    #[error("invalid pattern `{pattern}`: {message}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// What the glob parser said.
        message: String,
    },
    /// Exclusions left nothing to run.
    #[error("no env selected")]
    NothingSelected,
    /// The config defines no env at all.
    #[error("{}: no envs defined (add an `[env.NAME]` table with `commands`)", path.display())]
    NoEnvs {
        /// The config file.
        path: PathBuf,
    },
    /// The job count (`--jobs`, or the number of CPUs) is outside `1..=MAX_JOBS`.
    #[error("--jobs {jobs}: must be from 1 to {}", config::MAX_JOBS)]
    BadJobs {
        /// The job count asked for.
        jobs: usize,
    },
    /// A `{posargs}` sits where no quoting keeps the posargs literal (see [`substitute`]).
    #[error("env `{env}`: command {number}: {message}")]
    Posargs {
        /// The env's name.
        env: String,
        /// 1-based position of the command in the env.
        number: usize,
        /// Why.
        message: String,
    },
    /// An argv command became empty after `{posargs}` substitution.
    #[error("env `{env}`: command {number} is empty after {{posargs}} substitution")]
    EmptyArgv {
        /// The env's name.
        env: String,
        /// 1-based position of the command in the env.
        number: usize,
    },
}

fn env_list(envs: &[String]) -> String {
    if envs.is_empty() {
        "none defined".to_owned()
    } else {
        envs.join(", ")
    }
}

/// Builds the plan: selection and exclusion, the dependency closure, the shard, file order,
/// job count, log folder, working directories and `{posargs}` substitution.
///
/// Exclusion applies after the dependency closure, so `--exclude lint` also keeps `lint` out
/// when a selected env depends on it; like `--no-deps`, a `depends` entry on an env outside the
/// plan is dropped. The shard is taken last, from what is left. A shard (or a `--rerun-failed`
/// list) may leave no env at all: that plan is empty, not an error, so a CI matrix job with
/// nothing to do still passes and still writes its reports.
pub fn build(config: &Config, selection: &Selection) -> Result<Plan, PlanError> {
    let jobs = resolve_jobs(selection.jobs, config.settings.jobs, selection.default_jobs)?;
    let envs = &config.envs;
    let index = name_index(envs);
    let may_be_empty = selection.only.is_some() || selection.shard.is_some();
    if !may_be_empty && envs.is_empty() {
        return Err(PlanError::NoEnvs {
            path: config.path.clone(),
        });
    }
    let mut chosen = choose(envs, &index, selection)?;
    if !may_be_empty && !chosen.contains(&true) {
        return Err(PlanError::NothingSelected);
    }
    if let Some(shard) = selection.shard {
        let part = split(
            envs,
            &index,
            &chosen,
            shard.count,
            selection.durations.as_ref(),
        );
        let before = chosen.clone();
        for (keep, part) in chosen.iter_mut().zip(part.shard) {
            *keep = *keep && part == Some(shard.index - 1);
        }
        // A tox package step goes with every shard that has one of its users (the split
        // leaves those edges out, so that the users can spread): each shard builds once.
        for i in 0..envs.len() {
            if !chosen[i] {
                continue;
            }
            for dep in &envs[i].depends {
                if let Some(&d) = index.get(dep.as_str())
                    && before[d]
                    && matches!(envs[d].origin, config::EnvOrigin::ToxPackage(_))
                {
                    chosen[d] = true;
                }
            }
        }
    }

    // Old index → new index, for the envs that made it into the plan.
    let mut new_id: Vec<Option<EnvId>> = vec![None; envs.len()];
    let mut next = 0;
    for (slot, &keep) in new_id.iter_mut().zip(&chosen) {
        if keep {
            *slot = Some(next);
            next += 1;
        }
    }
    let mut specs = Vec::with_capacity(next);
    for (env, _) in envs.iter().zip(&chosen).filter(|(_, keep)| **keep) {
        let (commands, templates) = commands_of(env, &selection.posargs)?;
        specs.push(EnvSpec {
            name: env.name.clone(),
            description: env.description.clone(),
            commands,
            cwd: env
                .change_dir
                .as_ref()
                .map_or_else(|| config.root.clone(), |dir| config.root.join(dir)),
            set_env: env.set_env.clone(),
            depends: env
                .depends
                .iter()
                .filter_map(|dep| index.get(dep.as_str()).and_then(|&d| new_id[d]))
                .collect(),
            after: env
                .after
                .iter()
                .filter_map(|dep| index.get(dep.as_str()).and_then(|&d| new_id[d]))
                .collect(),
            labels: env.labels.clone(),
            stderr: env.stderr,
            timeout: env.timeout,
            on_leak: env.on_leak,
            retries: env.retries,
            launcher: env.launcher.clone(),
            reports: ReportSpec {
                patterns: env.test_reports.clone(),
                templates,
            },
            skip_probe: env.skip_probe.clone(),
            tty: env.tty,
            attach: false,
        });
    }

    Ok(Plan {
        envs: specs,
        jobs,
        log_dir: selection
            .log_dir
            .clone()
            .unwrap_or_else(|| config.root.join(".runall").join("logs")),
        timeouts: config.settings.timeouts,
        start_order: Vec::new(),
    })
}

/// How the selection would be split into `count` shards: by time with `durations`, else by
/// count ([`shard_of`]; then every env weighs 1 ms). Indexes are the config's env order.
fn split(
    envs: &[EnvConfig],
    index: &HashMap<&str, usize>,
    chosen: &[bool],
    count: usize,
    durations: Option<&BTreeMap<String, u64>>,
) -> balance::Balanced {
    let names: Vec<&str> = envs.iter().map(|env| env.name.as_str()).collect();
    let edges = balance::relation_edges(envs, index);
    if let Some(durations) = durations {
        return balance::balance(&names, edges, chosen, count, durations);
    }
    let mut depends = vec![Vec::new(); envs.len()];
    for (a, b) in edges {
        depends[a].push(b);
    }
    let shard = shard_of(&names, &depends, chosen, count);
    let weight_ms: Vec<u64> = chosen.iter().map(|&c| u64::from(c)).collect();
    let mut total_ms = vec![0; count.max(1)];
    for (s, w) in shard.iter().zip(&weight_ms) {
        if let Some(s) = s {
            total_ms[*s] += w;
        }
    }
    balance::Balanced {
        shard,
        weight_ms,
        estimated: vec![false; envs.len()],
        total_ms,
    }
}

/// Each env's index in `envs`, by name.
fn name_index(envs: &[EnvConfig]) -> HashMap<&str, usize> {
    envs.iter()
        .enumerate()
        .map(|(i, env)| (env.name.as_str(), i))
        .collect()
}

/// Every shard of the selection, for `runall list --shard K/N [--durations FILE]`: the
/// selection as [`build`] makes it before taking the shard (`selection.shard` gives the
/// count), split as `build` would split it. Indexes are into `config.envs`.
pub fn shards(config: &Config, selection: &Selection) -> Result<balance::Balanced, PlanError> {
    let envs = &config.envs;
    let index = name_index(envs);
    let chosen = choose(envs, &index, selection)?;
    let count = selection.shard.map_or(1, |shard| shard.count);
    Ok(split(
        envs,
        &index,
        &chosen,
        count,
        selection.durations.as_ref(),
    ))
}

/// An env's commands with the posargs substituted, and the templates the runner expands per
/// attempt when a command holds `{report_dir}` (checked here, so no attempt fails on it).
fn commands_of(
    env: &EnvConfig,
    posargs: &[String],
) -> Result<(Vec<CommandSpec>, Option<Arc<Templates>>), PlanError> {
    let mut commands = Vec::with_capacity(env.commands.len());
    for (number, raw) in env.commands.iter().enumerate() {
        let error = |message| PlanError::Posargs {
            env: env.name.clone(),
            number: number + 1,
            message,
        };
        let command = substitute(raw, posargs).map_err(error)?;
        if matches!(&command, CommandSpec::Argv(argv) if argv.is_empty()) {
            return Err(PlanError::EmptyArgv {
                env: env.name.clone(),
                number: number + 1,
            });
        }
        if uses_report_dir(raw) {
            expand(raw, posargs, Some("/report-dir")).map_err(error)?;
        }
        commands.push(command);
    }
    let templates = env.commands.iter().any(uses_report_dir).then(|| {
        Arc::new(Templates {
            commands: env.commands.clone(),
            posargs: posargs.to_vec(),
        })
    });
    Ok((commands, templates))
}

/// Which envs (by index into `envs`) the plan keeps: the patterns' matches, closed over
/// `depends` unless `no_deps`, minus the exclusions.
fn choose(
    envs: &[EnvConfig],
    index: &HashMap<&str, usize>,
    selection: &Selection,
) -> Result<Vec<bool>, PlanError> {
    if let Some(only) = &selection.only {
        let mut chosen = vec![false; envs.len()];
        for name in only {
            if let Some(&i) = index.get(name.as_str()) {
                chosen[i] = true;
            }
        }
        exclude(envs, &selection.exclude, &mut chosen)?;
        return Ok(chosen);
    }
    // No pattern: every env marked `default` (all of runall.toml's; tox's `env_list`).
    let mut chosen: Vec<bool> = envs
        .iter()
        .map(|env| selection.patterns.is_empty() && env.default)
        .collect();
    for pattern in &selection.patterns {
        let matcher = Matcher::new(pattern)?;
        let mut any = false;
        for (slot, env) in chosen.iter_mut().zip(envs) {
            if matcher.matches(env) {
                *slot = true;
                any = true;
            }
        }
        if !any {
            return Err(match matcher {
                Matcher::Label(label) => PlanError::NoLabel {
                    label: label.to_owned(),
                },
                Matcher::Glob(_) => PlanError::NoMatch {
                    pattern: pattern.clone(),
                    envs: envs.iter().map(|env| env.name.clone()).collect(),
                },
            });
        }
    }

    if !selection.no_deps {
        let mut pending: Vec<usize> = (0..envs.len()).filter(|&i| chosen[i]).collect();
        while let Some(i) = pending.pop() {
            for dep in &envs[i].depends {
                if let Some(&d) = index.get(dep.as_str())
                    && !chosen[d]
                {
                    chosen[d] = true;
                    pending.push(d);
                }
            }
        }
    }

    exclude(envs, &selection.exclude, &mut chosen)?;
    Ok(chosen)
}

/// Unmarks the envs matching any of `patterns`.
fn exclude(envs: &[EnvConfig], patterns: &[String], chosen: &mut [bool]) -> Result<(), PlanError> {
    for pattern in patterns {
        let matcher = Matcher::new(pattern)?;
        for (slot, env) in chosen.iter_mut().zip(envs) {
            if matcher.matches(env) {
                *slot = false;
            }
        }
    }
    Ok(())
}

/// Splits the chosen envs into `count` shards; returns each env's shard (0-based), `None` for
/// envs not chosen.
///
/// The algorithm, which depends only on the env names and the `depends` graph (not on the
/// machine, the clock or earlier runs), so every job of a CI matrix computes the same split:
///
/// 1. The chosen envs are grouped into the connected components of the dependency graph
///    (edges between chosen envs, either direction): an env always lands in the same shard as
///    the envs it depends on, so no shard needs an env another shard runs.
/// 2. Components are sorted by size, largest first, ties by their smallest env name (byte
///    order), so reordering the file moves nothing.
/// 3. Each component in turn goes to the shard with the fewest envs so far (ties: the lowest
///    shard number): greedy "largest first" balancing, so shard sizes differ by at most the
///    size of the largest component.
///
/// Every chosen env is in exactly one shard; a shard may be empty when there are fewer
/// components than shards.
pub fn shard_of(
    names: &[&str],
    depends: &[Vec<usize>],
    chosen: &[bool],
    count: usize,
) -> Vec<Option<usize>> {
    let edges = depends
        .iter()
        .enumerate()
        .flat_map(|(i, deps)| deps.iter().map(move |&d| (i, d)));
    let components = balance::components(names.len(), chosen, edges);
    let mut components: Vec<(Vec<usize>, &str)> = components
        .into_iter()
        .map(|members| {
            let key = members.iter().map(|&i| names[i]).min().unwrap_or("");
            (members, key)
        })
        .collect();
    components.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.1.cmp(b.1)));
    let mut sizes = vec![0usize; count.max(1)];
    let mut shard = vec![None; names.len()];
    for (members, _) in components {
        let (target, _) = sizes
            .iter()
            .enumerate()
            .min_by_key(|&(i, &size)| (size, i))
            .unwrap_or((0, &0));
        sizes[target] += members.len();
        for i in members {
            shard[i] = Some(target);
        }
    }
    shard
}

/// The job count: `--jobs`, else `settings.jobs`, else the default (the number of CPUs, at
/// most [`config::MAX_JOBS`]). `--jobs` must be from 1 to [`config::MAX_JOBS`], as
/// `settings.jobs` must (checked when the config is loaded).
pub fn resolve_jobs(
    cli: Option<usize>,
    settings: Option<usize>,
    default: usize,
) -> Result<usize, PlanError> {
    let jobs = cli
        .or(settings)
        .unwrap_or_else(|| default.clamp(1, config::MAX_JOBS));
    if (1..=config::MAX_JOBS).contains(&jobs) {
        Ok(jobs)
    } else {
        Err(PlanError::BadJobs { jobs })
    }
}

/// One selection pattern, parsed.
enum Matcher<'a> {
    /// `label:NAME`.
    Label(&'a str),
    /// An exact name or a glob (an exact name is a glob without wildcards).
    Glob(glob::Pattern),
}

impl<'a> Matcher<'a> {
    fn new(pattern: &'a str) -> Result<Self, PlanError> {
        if let Some(label) = pattern.strip_prefix("label:") {
            return Ok(Self::Label(label));
        }
        glob::Pattern::new(pattern)
            .map(Self::Glob)
            .map_err(|err| PlanError::BadPattern {
                pattern: pattern.to_owned(),
                message: err.msg.to_owned(),
            })
    }

    fn matches(&self, env: &EnvConfig) -> bool {
        match self {
            Self::Label(label) => env.labels.iter().any(|l| l == label),
            Self::Glob(glob) => glob.matches(&env.name),
        }
    }
}

/// Replaces `{posargs}` / `{posargs:default}` in one command (tox's convention).
///
/// In an argv, an element that is exactly the placeholder becomes zero or more elements (the
/// default split on whitespace when there are no posargs); inside a larger element it becomes
/// the posargs joined with spaces. In a shell string the posargs reach the command literally
/// from wherever the placeholder sits: outside quotes each becomes one quoted word, inside
/// `'…'`, `"…"`, `$'…'`, a comment, a here-document or backquotes they become literal text of
/// that context (joined with spaces); without posargs the default is inserted verbatim (see
/// `shell`). `Err` says why a placeholder's place cannot be quoted safely (`${…}`, `$((…))`,
/// after a backslash, a here-document that the posargs would end early).
pub fn substitute(command: &RawCommand, posargs: &[String]) -> Result<CommandSpec, String> {
    expand(command, posargs, None)
}

/// [`substitute`], and with `report_dir` also `{report_dir}` (the attempt's report folder) in
/// the same pass, so nothing in the posargs is taken for a placeholder. In an argv the folder
/// is one word (or part of one); in a shell string it is quoted for its place like one posarg.
/// Without `report_dir`, `{report_dir}` stays as written.
pub fn expand(
    command: &RawCommand,
    posargs: &[String],
    report_dir: Option<&str>,
) -> Result<CommandSpec, String> {
    Ok(match command {
        RawCommand::Shell(text) => {
            // `{--posargs}` is `-- {posargs}` with posargs, nothing without (then quoted as
            // any `{posargs}` at that place).
            let dashed = if posargs.is_empty() {
                ""
            } else {
                " -- {posargs}"
            };
            let text = text
                .replace(&format!(" {DASHED_POSARGS}"), dashed)
                .replace(DASHED_POSARGS, dashed.trim_start());
            CommandSpec::Shell(shell::substitute(&text, posargs, report_dir)?)
        }
        RawCommand::Argv(argv) => {
            let mut out = Vec::with_capacity(argv.len() + posargs.len() + 1);
            let with_dir = report_dir.is_some();
            for word in argv {
                if word == DASHED_POSARGS {
                    if !posargs.is_empty() {
                        out.push("--".to_owned());
                        out.extend(posargs.iter().cloned());
                    }
                    continue;
                }
                match find_placeholder(word, 0, with_dir) {
                    Some(found)
                        if found.kind == Kind::Posargs
                            && found.start == 0
                            && found.end == word.len() =>
                    {
                        if posargs.is_empty() {
                            let default = found.default.unwrap_or("");
                            out.extend(default.split_whitespace().map(str::to_owned));
                        } else {
                            out.extend(posargs.iter().cloned());
                        }
                    }
                    Some(_) => out.push(replace_placeholders(word, with_dir, |found| match found
                        .kind
                    {
                        Kind::ReportDir => report_dir.unwrap_or("").to_owned(),
                        Kind::Posargs if posargs.is_empty() => {
                            found.default.unwrap_or("").to_owned()
                        }
                        Kind::Posargs => posargs.join(" "),
                    })),
                    None => out.push(word.clone()),
                }
            }
            CommandSpec::Argv(out)
        }
    })
}

/// `{--posargs}`: `--` followed by the posargs when there are any, nothing otherwise, for
/// tools (tox) to which an empty `--` is not the same as none (tox then drops
/// `{posargs:default}`'s default). In an argv it must be a whole element.
pub const DASHED_POSARGS: &str = "{--posargs}";

/// Whether `command` uses `{report_dir}` (then it is expanded for every attempt).
pub fn uses_report_dir(command: &RawCommand) -> bool {
    match command {
        RawCommand::Shell(text) => text.contains(REPORT_DIR),
        RawCommand::Argv(argv) => argv.iter().any(|word| word.contains(REPORT_DIR)),
    }
}

/// One `{posargs}`, `{posargs:default}` or `{report_dir}` in a string.
struct Placeholder<'a> {
    start: usize,
    end: usize,
    default: Option<&'a str>,
    kind: Kind,
}

/// Which placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `{posargs}` / `{posargs:default}`: the words after `--`.
    Posargs,
    /// `{report_dir}`: the attempt's fresh report folder (see [`crate::testreport`]).
    ReportDir,
}

/// The first placeholder at or after byte `from`; `{report_dir}` counts only when
/// `report_dir` is set (otherwise it is plain text).
fn find_placeholder(text: &str, from: usize, report_dir: bool) -> Option<Placeholder<'_>> {
    let posargs = find_posargs_only(text, from);
    let dir = report_dir
        .then(|| text.get(from..)?.find(REPORT_DIR))
        .flatten()
        .map(|at| Placeholder {
            start: from + at,
            end: from + at + REPORT_DIR.len(),
            default: None,
            kind: Kind::ReportDir,
        });
    match (posargs, dir) {
        (Some(p), Some(d)) => Some(if d.start < p.start { d } else { p }),
        (p, d) => p.or(d),
    }
}

/// The report folder's placeholder.
const REPORT_DIR: &str = crate::testreport::REPORT_DIR_PLACEHOLDER;

/// The first `{posargs…}` at or after byte `from`.
fn find_posargs_only(text: &str, from: usize) -> Option<Placeholder<'_>> {
    const OPEN: &str = "{posargs";
    let mut at = from;
    while let Some(found) = text.get(at..).and_then(|rest| rest.find(OPEN)) {
        let start = at + found;
        let after = start + OPEN.len();
        let rest = &text[after..];
        if rest.starts_with('}') {
            return Some(Placeholder {
                start,
                end: after + 1,
                default: None,
                kind: Kind::Posargs,
            });
        }
        if let Some(body) = rest.strip_prefix(':')
            && let Some(close) = body.find('}')
        {
            return Some(Placeholder {
                start,
                end: after + 1 + close + 1,
                default: Some(&body[..close]),
                kind: Kind::Posargs,
            });
        }
        at = after;
    }
    None
}

/// `text` with every placeholder replaced by `with(placeholder)`.
fn replace_placeholders(
    text: &str,
    report_dir: bool,
    with: impl Fn(&Placeholder<'_>) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = find_placeholder(text, at, report_dir) {
        out.push_str(&text[at..found.start]);
        out.push_str(&with(&found));
        at = found.end;
    }
    out.push_str(&text[at..]);
    out
}

/// `word` as one `sh` word: unquoted if made only of `[A-Za-z0-9_./=:,+@%-]`, else in single
/// quotes with `'` written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:,+-@%".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use crate::config;

    /// A config with inheritance, argv and shell commands, posargs, labels and depends, shared by
    /// the tests of everything that reads a config (the planner, `runall list`).
    pub(crate) const TOML: &str = r#"
[env_run_base]
set_env = { CI = "1" }

[env.lint]
description = "clippy, warnings are errors"
commands = ["cargo clippy --all-targets -- -D warnings"]
labels = ["fast", "static"]

[env.unit]
commands = [["cargo", "test", "{posargs}"], "echo done"]
change_dir = "crates/core"
depends = ["lint"]
labels = ["fast"]

[env.py311]
commands = ["pytest {posargs:tests}"]
depends = ["unit"]

[env.py312]
commands = [["pytest", "{posargs:-x tests}"]]

[env.docs]
description = """two
lines"""
commands = ["mkdocs build"]
depends = ["lint", "py312"]
"#;

    pub(crate) fn config() -> Config {
        config::parse(Path::new("/proj/runall.toml"), TOML).unwrap()
    }

    /// A plan of shell envs running `true`, each with the depends given (by index).
    pub(crate) fn plan_of(envs: &[(&str, &[EnvId])]) -> Plan {
        let envs = envs
            .iter()
            .map(|(name, depends)| EnvSpec {
                depends: depends.to_vec(),
                ..EnvSpec::shell(name, "true", "/tmp")
            })
            .collect();
        Plan::new(envs, 1, "/tmp/logs")
    }

    fn select(patterns: &[&str]) -> Selection {
        Selection {
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            default_jobs: 8,
            ..Selection::default()
        }
    }

    fn names(plan: &Plan) -> Vec<&str> {
        plan.envs.iter().map(|env| env.name.as_str()).collect()
    }

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn empty_selection_takes_every_env_in_file_order() {
        let plan = build(&config(), &select(&[])).unwrap();
        assert_eq!(names(&plan), ["lint", "unit", "py311", "py312", "docs"]);
        assert_eq!(plan.envs[1].depends, [0]);
        assert_eq!(plan.envs[2].depends, [1]);
        assert_eq!(plan.envs[4].depends, [0, 3]);
        assert_eq!(plan.jobs, 8);
        assert_eq!(plan.log_dir, PathBuf::from("/proj/.runall/logs"));
        assert_eq!(plan.timeouts, Timeouts::default());
        assert_eq!(plan.envs[0].cwd, PathBuf::from("/proj"));
        assert_eq!(plan.envs[1].cwd, PathBuf::from("/proj/crates/core"));
        assert_eq!(plan.envs[1].set_env["CI"], "1");
        assert_eq!(
            plan.envs[0].description.as_deref(),
            Some("clippy, warnings are errors")
        );
    }

    #[test]
    fn selection_by_name_glob_and_label_keeps_file_order() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["lint"], &["lint"]),
            (&["py312", "lint"], &["lint", "py312"]),
            (&["py31?"], &["lint", "unit", "py311", "py312"]),
            (&["py*"], &["lint", "unit", "py311", "py312"]),
            (&["label:static"], &["lint"]),
            (&["label:fast"], &["lint", "unit"]),
            (&["[l]*", "lint"], &["lint"]),
        ];
        for (patterns, want) in cases {
            let plan = build(&config(), &select(patterns)).unwrap();
            assert_eq!(names(&plan), *want, "{patterns:?}");
        }
    }

    #[test]
    fn after_orders_only_and_default_false_envs_need_naming() {
        let toml = r#"
[env.unit]
commands = ["x"]
[env.cov]
commands = ["x"]
after = ["unit", "docs"]
[env.docs]
commands = ["x"]
default = false
"#;
        let config = config::parse(Path::new("/p/runall.toml"), toml).unwrap();
        let plan = build(&config, &select(&[])).unwrap();
        assert_eq!(
            names(&plan),
            ["unit", "cov"],
            "docs is not run unless named"
        );
        assert_eq!(
            plan.envs[1].after,
            [0],
            "an `after` outside the plan is dropped"
        );
        assert!(plan.envs[1].depends.is_empty());
        // `after` never pulls an env in.
        let plan = build(&config, &select(&["cov"])).unwrap();
        assert_eq!(names(&plan), ["cov"]);
        assert!(plan.envs[0].after.is_empty());
        let plan = build(&config, &select(&["cov", "docs"])).unwrap();
        assert_eq!(plan.envs[0].after, [1]);
    }

    #[test]
    fn dashed_posargs_add_a_double_dash_only_with_posargs() {
        let argv = RawCommand::Argv(words(&["tox", "run", DASHED_POSARGS]));
        assert_eq!(
            substitute(&argv, &[]).unwrap(),
            CommandSpec::Argv(words(&["tox", "run"]))
        );
        assert_eq!(
            substitute(&argv, &words(&["-k", "a b"])).unwrap(),
            CommandSpec::Argv(words(&["tox", "run", "--", "-k", "a b"]))
        );
        let shell = RawCommand::Shell(format!("exec tox run {DASHED_POSARGS}"));
        assert_eq!(
            substitute(&shell, &[]).unwrap(),
            CommandSpec::Shell("exec tox run".to_owned())
        );
        assert_eq!(
            substitute(&shell, &words(&["-k", "a b"])).unwrap(),
            CommandSpec::Shell("exec tox run -- -k 'a b'".to_owned())
        );
    }

    #[test]
    fn dependencies_are_closed_transitively_unless_no_deps() {
        let plan = build(&config(), &select(&["py311"])).unwrap();
        assert_eq!(names(&plan), ["lint", "unit", "py311"]);
        assert_eq!(plan.envs[2].depends, [1]);
        assert_eq!(plan.envs[1].depends, [0]);

        let plan = build(&config(), &select(&["docs"])).unwrap();
        assert_eq!(names(&plan), ["lint", "py312", "docs"]);
        assert_eq!(plan.envs[2].depends, [0, 1]);

        let mut selection = select(&["docs", "lint"]);
        selection.no_deps = true;
        let plan = build(&config(), &selection).unwrap();
        assert_eq!(names(&plan), ["lint", "docs"]);
        // `py312` is outside the plan, so only the edge to `lint` stays.
        assert_eq!(plan.envs[1].depends, [0]);

        let mut selection = select(&["py311"]);
        selection.no_deps = true;
        let plan = build(&config(), &selection).unwrap();
        assert_eq!(names(&plan), ["py311"]);
        assert!(plan.envs[0].depends.is_empty());
    }

    #[test]
    fn exclude_applies_after_the_closure() {
        let mut selection = select(&[]);
        selection.exclude = words(&["py*", "nothing-matches-this"]);
        let plan = build(&config(), &selection).unwrap();
        assert_eq!(names(&plan), ["lint", "unit", "docs"]);
        assert_eq!(plan.envs[2].depends, [0]);

        let mut selection = select(&["py311"]);
        selection.exclude = words(&["label:static"]);
        let plan = build(&config(), &selection).unwrap();
        assert_eq!(names(&plan), ["unit", "py311"]);
        assert!(plan.envs[0].depends.is_empty());
        assert_eq!(plan.envs[1].depends, [0]);

        let mut selection = select(&["lint"]);
        selection.exclude = words(&["lint"]);
        assert_eq!(
            build(&config(), &selection).unwrap_err(),
            PlanError::NothingSelected
        );
    }

    #[test]
    fn unmatched_patterns_are_errors() {
        let cases = [
            (
                "foo",
                "no env matches `foo` (envs: lint, unit, py311, py312, docs)",
            ),
            (
                "x*",
                "no env matches `x*` (envs: lint, unit, py311, py312, docs)",
            ),
            ("label:slow", "no env has label `slow`"),
            ("py[", "invalid pattern `py[`: invalid range pattern"),
        ];
        for (pattern, want) in cases {
            let err = build(&config(), &select(&["lint", pattern])).unwrap_err();
            assert_eq!(err.to_string(), want, "{pattern}");
        }
        // An empty config names its file, whatever the selection.
        let empty = config::parse(Path::new("sub/runall.toml"), "[settings]\n").unwrap();
        let no_envs =
            "sub/runall.toml: no envs defined (add an `[env.NAME]` table with `commands`)";
        assert_eq!(
            build(&empty, &select(&["a"])).unwrap_err().to_string(),
            no_envs
        );
        assert_eq!(
            build(&empty, &select(&[])).unwrap_err().to_string(),
            no_envs
        );
        // Exclusions that leave nothing are a different message.
        let mut selection = select(&[]);
        selection.exclude = vec!["*".to_owned()];
        assert_eq!(
            build(&config(), &selection).unwrap_err().to_string(),
            "no env selected"
        );
    }

    #[test]
    fn jobs_precedence() {
        let cases = [
            (Some(2), Some(3), 8, Ok(2)),
            (None, Some(3), 8, Ok(3)),
            (None, None, 8, Ok(8)),
            (Some(1), None, 8, Ok(1)),
            (Some(0), Some(3), 8, Err(PlanError::BadJobs { jobs: 0 })),
            (Some(1025), None, 8, Err(PlanError::BadJobs { jobs: 1025 })),
            (
                Some(usize::MAX),
                None,
                8,
                Err(PlanError::BadJobs { jobs: usize::MAX }),
            ),
            (Some(1024), None, 8, Ok(1024)),
            // The number of CPUs is clamped into the range, never an error.
            (None, None, 0, Ok(1)),
            (None, None, 5000, Ok(1024)),
        ];
        for (cli, settings, default, want) in cases {
            assert_eq!(
                resolve_jobs(cli, settings, default),
                want,
                "{cli:?} {settings:?} {default}"
            );
        }
        assert_eq!(
            PlanError::BadJobs { jobs: 0 }.to_string(),
            "--jobs 0: must be from 1 to 1024"
        );

        let config = config::parse(Path::new("/p/runall.toml"), "[settings]\njobs = 3\n").unwrap();
        let mut selection = select(&[]);
        selection.jobs = Some(0);
        assert_eq!(
            build(&config, &selection),
            Err(PlanError::BadJobs { jobs: 0 })
        );
    }

    #[test]
    fn settings_jobs_and_log_dir_flow_into_the_plan() {
        let text = "[settings]\njobs = 3\nleak_timeout = \"1s\"\n[env.a]\ncommands = [\"x\"]\n";
        let config = config::parse(Path::new("/p/runall.toml"), text).unwrap();
        let mut selection = select(&[]);
        let plan = build(&config, &selection).unwrap();
        assert_eq!(plan.jobs, 3);
        assert_eq!(plan.timeouts.leak, Duration::from_secs(1));
        selection.jobs = Some(5);
        selection.log_dir = Some(PathBuf::from("out/logs"));
        let plan = build(&config, &selection).unwrap();
        assert_eq!(plan.jobs, 5);
        assert_eq!(plan.log_dir, PathBuf::from("out/logs"));
    }

    fn argv(words: &[&str]) -> RawCommand {
        RawCommand::Argv(words.iter().map(|w| (*w).to_owned()).collect())
    }

    fn shell(text: &str) -> RawCommand {
        RawCommand::Shell(text.to_owned())
    }

    #[test]
    fn posargs_in_argv_commands() {
        let cases: &[(RawCommand, &[&str], &[&str])] = &[
            (argv(&["t", "{posargs}"]), &[], &["t"]),
            (
                argv(&["t", "{posargs}", "z"]),
                &["a b", "c"],
                &["t", "a b", "c", "z"],
            ),
            (
                argv(&["t", "{posargs:-x tests}"]),
                &[],
                &["t", "-x", "tests"],
            ),
            (argv(&["t", "{posargs:-x tests}"]), &["k"], &["t", "k"]),
            (argv(&["t", "{posargs:}"]), &[], &["t"]),
            (
                argv(&["t", "--k={posargs}"]),
                &["a", "b"],
                &["t", "--k=a b"],
            ),
            (argv(&["t", "--k={posargs:d e}"]), &[], &["t", "--k=d e"]),
            (argv(&["t", "--k={posargs}"]), &[], &["t", "--k="]),
            (argv(&["t", "{posargs}{posargs}"]), &["a"], &["t", "aa"]),
            (
                argv(&["t", "{posargsx}", "{posargs:x"]),
                &["a"],
                &["t", "{posargsx}", "{posargs:x"],
            ),
        ];
        for (command, posargs, want) in cases {
            assert_eq!(
                substitute(command, &words(posargs)),
                Ok(CommandSpec::Argv(words(want))),
                "{command:?} {posargs:?}"
            );
        }
    }

    #[test]
    fn posargs_in_shell_commands() {
        let cases: &[(RawCommand, &[&str], &str)] = &[
            (shell("pytest {posargs}"), &[], "pytest "),
            (shell("pytest {posargs:tests -x}"), &[], "pytest tests -x"),
            (
                shell("pytest {posargs:tests}"),
                &["-k", "a b"],
                "pytest -k 'a b'",
            ),
            (
                shell("echo {posargs}"),
                &["it's", "", "a/b:d,e+f-g@h%i", "c=d", "$HOME", "*"],
                r"echo 'it'\''s' '' a/b:d,e+f-g@h%i 'c=d' '$HOME' '*'",
            ),
            (
                shell("echo {posargs} && echo {posargs:x}"),
                &["1"],
                "echo 1 && echo 1",
            ),
            (shell("no placeholder"), &["1"], "no placeholder"),
        ];
        for (command, posargs, want) in cases {
            assert_eq!(
                substitute(command, &words(posargs)),
                Ok(CommandSpec::Shell((*want).to_owned())),
                "{command:?} {posargs:?}"
            );
        }
    }

    #[test]
    fn posargs_flow_into_the_plan_and_an_empty_argv_is_an_error() {
        let mut selection = select(&["unit"]);
        selection.no_deps = true;
        selection.posargs = words(&["--", "--nocapture"]);
        let plan = build(&config(), &selection).unwrap();
        assert_eq!(
            plan.envs[0].commands,
            [
                CommandSpec::Argv(words(&["cargo", "test", "--", "--nocapture"])),
                CommandSpec::Shell("echo done".to_owned()),
            ]
        );

        let text = "[env.a]\ncommands = [\"true\", [\"{posargs}\"]]\n";
        let config = config::parse(Path::new("/p/runall.toml"), text).unwrap();
        assert_eq!(
            build(&config, &select(&[])).unwrap_err().to_string(),
            "env `a`: command 2 is empty after {posargs} substitution"
        );
        let mut selection = select(&[]);
        selection.posargs = words(&["ls"]);
        let plan = build(&config, &selection).unwrap();
        assert_eq!(plan.envs[0].commands[1], CommandSpec::Argv(words(&["ls"])));
    }

    #[test]
    fn report_dir_commands_keep_templates_and_are_checked_up_front() {
        let text = r#"
[env.a]
commands = [["pytest", "--junitxml={report_dir}/j.xml", "{posargs}"], "ls {report_dir}"]
test_reports = ["out/*.xml"]
[env.b]
commands = ["true"]
"#;
        let config = config::parse(Path::new("/p/runall.toml"), text).unwrap();
        let mut selection = select(&[]);
        selection.posargs = words(&["{report_dir}"]);
        let plan = build(&config, &selection).unwrap();
        let a = &plan.envs[0];
        assert_eq!(a.reports.patterns, ["out/*.xml"]);
        let templates = a.reports.templates.as_ref().expect("templates");
        assert_eq!(templates.posargs, ["{report_dir}"]);
        // The posargs are words, never placeholders: only the command's own is replaced.
        assert_eq!(
            expand(
                &templates.commands[0],
                &templates.posargs,
                Some("/l/reports/a@2")
            )
            .unwrap(),
            CommandSpec::Argv(words(&[
                "pytest",
                "--junitxml=/l/reports/a@2/j.xml",
                "{report_dir}"
            ]))
        );
        assert_eq!(
            expand(&templates.commands[1], &[], Some("/l/it's")).unwrap(),
            CommandSpec::Shell("ls '/l/it'\\''s'".to_owned())
        );
        assert_eq!(
            a.commands[1],
            CommandSpec::Shell("ls {report_dir}".to_owned())
        );
        assert!(plan.envs[1].reports.templates.is_none());
        assert_eq!(
            plan.envs[1].reports.patterns,
            [crate::testreport::DEFAULT_PATTERN]
        );

        let text = "[env.a]\ncommands = [\"echo $((1 + {report_dir}))\"]\n";
        let config = config::parse(Path::new("/p/runall.toml"), text).unwrap();
        assert_eq!(
            build(&config, &select(&[])).unwrap_err().to_string(),
            "env `a`: command 1: {report_dir} inside $((…)) would be evaluated as arithmetic code"
        );
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("plain-1.0_x/y"), "plain-1.0_x/y");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a;b"), "'a;b'");
        assert_eq!(shell_quote("~"), "'~'");
        assert_eq!(shell_quote("'"), r"''\'''");
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("1/1".parse(), Ok(Shard { index: 1, count: 1 }));
        assert_eq!(Shard { index: 3, count: 5 }.to_string(), "3/5");
        let bad = |text: &str| text.parse::<Shard>().unwrap_err();
        assert_eq!(bad("2"), "expected K/N (e.g. 2/4), got `2`");
        assert_eq!(bad("0/3"), "K must be from 1 to 3 in `0/3`");
        assert_eq!(bad("4/3"), "K must be from 1 to 3 in `4/3`");
        assert_eq!(bad("1/0"), "N must be at least 1 in `1/0`");
        assert_eq!(bad("a/3"), "K in `a/3` is not a whole number");
        assert_eq!(bad("1/-3"), "N in `1/-3` is not a whole number");
    }

    /// `n` envs `e00`…; `chains` lists (dependent, dependency) pairs.
    fn graph(n: usize, edges: &[(usize, usize)]) -> (Vec<String>, Vec<Vec<usize>>) {
        let names = (0..n).map(|i| format!("e{i:02}")).collect();
        let mut depends = vec![Vec::new(); n];
        for &(from, to) in edges {
            depends[from].push(to);
        }
        (names, depends)
    }

    #[test]
    fn shards_are_disjoint_cover_everything_and_keep_components_together() {
        let edges = [(1, 0), (2, 1), (7, 3), (9, 3), (20, 21), (40, 41), (41, 42)];
        let (names, depends) = graph(50, &edges);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let chosen = vec![true; 50];
        for count in 1..=7 {
            let shard = shard_of(&names, &depends, &chosen, count);
            assert!(shard.iter().all(|s| s.is_some_and(|s| s < count)));
            for &(a, b) in &edges {
                assert_eq!(shard[a], shard[b], "{a} and {b} split with {count} shards");
            }
            let sizes: Vec<usize> = (0..count)
                .map(|k| shard.iter().filter(|&&s| s == Some(k)).count())
                .collect();
            assert_eq!(sizes.iter().sum::<usize>(), 50);
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 3, "{count} shards unbalanced: {sizes:?}");
        }
    }

    #[test]
    fn shards_do_not_depend_on_file_order() {
        let (names, depends) = graph(6, &[(1, 0)]);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let forward = shard_of(&names, &depends, &[true; 6], 3);
        // The same graph written in reverse order.
        let reversed_names: Vec<&str> = names.iter().rev().copied().collect();
        let mut reversed_depends = vec![Vec::new(); 6];
        reversed_depends[5 - 1].push(5);
        let backward = shard_of(&reversed_names, &reversed_depends, &[true; 6], 3);
        for i in 0..6 {
            assert_eq!(forward[i], backward[5 - i], "{}", names[i]);
        }
        assert_eq!(
            forward,
            [Some(0), Some(0), Some(1), Some(2), Some(1), Some(2)],
            "largest component first, then by name, each to the smallest shard"
        );
    }

    #[test]
    fn shard_of_leaves_unchosen_envs_out_and_may_be_empty() {
        let (names, depends) = graph(3, &[(1, 0)]);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let shard = shard_of(&names, &depends, &[false, true, true], 4);
        assert_eq!(
            shard,
            [None, Some(0), Some(1)],
            "unchosen e00 does not join e01"
        );
    }

    #[test]
    fn shard_flows_into_the_plan_after_the_closure() {
        let mut selection = select(&[]);
        let mut all = Vec::new();
        for index in 1..=3 {
            selection.shard = Some(Shard { index, count: 3 });
            let plan = build(&config(), &selection).unwrap();
            all.extend(names(&plan).into_iter().map(str::to_owned));
        }
        all.sort();
        assert_eq!(all, ["docs", "lint", "py311", "py312", "unit"]);
        // Everything depends on lint, directly or not: one component, one shard.
        selection.shard = Some(Shard { index: 1, count: 3 });
        assert_eq!(build(&config(), &selection).unwrap().envs.len(), 5);
        selection.shard = Some(Shard { index: 2, count: 3 });
        assert!(build(&config(), &selection).unwrap().envs.is_empty());
    }

    #[test]
    fn only_runs_exactly_the_named_envs() {
        let mut selection = select(&["lint"]);
        selection.only = Some(words(&["py311", "gone", "docs"]));
        let plan = build(&config(), &selection).unwrap();
        assert_eq!(
            names(&plan),
            ["py311", "docs"],
            "no closure, unknown names ignored"
        );
        selection.exclude = words(&["docs"]);
        assert_eq!(names(&build(&config(), &selection).unwrap()), ["py311"]);
        selection.only = Some(Vec::new());
        assert!(build(&config(), &selection).unwrap().envs.is_empty());
    }

    #[test]
    fn retries_flow_into_the_plan() {
        let config = config::parse(
            Path::new("/proj/runall.toml"),
            "[settings]\nretries = 2\n[env.a]\ncommands = [\"x\"]\n",
        )
        .unwrap();
        assert_eq!(build(&config, &select(&[])).unwrap().envs[0].retries, 2);
    }
}
