//! Loading and validating `runall.toml`.
//!
//! This module owns the file format: it reads the text, deserializes it into raw serde structs
//! (every key optional, unknown keys rejected), applies `[env_run_base]` to every env, and checks
//! what serde cannot (empty commands, env names, unknown or cyclic `depends`). Every error names
//! the file, the 1-based line and column, and the dotted key path. It does no selection and no
//! `{posargs}` substitution (that is [`crate::plan`]), and it never runs anything.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use toml::Spanned;

use crate::plan::{LeakPolicy, StderrMode, Timeouts};

/// The config file's name, looked up by [`find`].
pub const FILE_NAME: &str = "runall.toml";

/// A loaded, validated config: `[env_run_base]` already applied to every env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The config file, as given.
    pub path: PathBuf,
    /// The config file's folder, absolute: the default working directory of every env.
    pub root: PathBuf,
    /// The `[settings]` table, defaults filled in.
    pub settings: Settings,
    /// Every env, in file order.
    pub envs: Vec<EnvConfig>,
}

impl Config {
    /// The env called `name`.
    pub fn env(&self, name: &str) -> Option<&EnvConfig> {
        self.envs.iter().find(|env| env.name == name)
    }
}

/// The `[settings]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Most envs running at once; `None` means "ask the command line, then count the CPUs".
    pub jobs: Option<usize>,
    /// Default stderr mode of every env.
    pub stderr: StderrMode,
    /// The interrupt ladder's timing.
    pub timeouts: Timeouts,
    /// Default per-env timeout.
    pub timeout: Option<Duration>,
    /// Default leak policy of every env.
    pub on_leak: LeakPolicy,
    /// Default number of extra attempts for a failed env.
    pub retries: u32,
    /// Lines of each failed env's output shown after the summary (`None`: the default).
    pub tail: Option<usize>,
}

/// One `[env.NAME]` table with `[env_run_base]` and `[settings]` defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvConfig {
    /// `[A-Za-z0-9._-]+`, not `.` or `..`, unique.
    pub name: String,
    /// Free text shown by `runall list`.
    pub description: Option<String>,
    /// Never empty; no argv is empty.
    pub commands: Vec<RawCommand>,
    /// Working directory relative to [`Config::root`] (or absolute).
    pub change_dir: Option<PathBuf>,
    /// Base's `set_env` merged with the env's own (the env wins).
    pub set_env: BTreeMap<String, String>,
    /// Names of envs that exist in this config; the graph has no cycle.
    pub depends: Vec<String>,
    /// Labels for `label:NAME` selection.
    pub labels: Vec<String>,
    /// Whether stderr shares stdout's pipe.
    pub stderr: StderrMode,
    /// Per-env timeout.
    pub timeout: Option<Duration>,
    /// What a leaked process means for the verdict.
    pub on_leak: LeakPolicy,
    /// How many times a failed env is run again (0: never); passing on a retry is flaky.
    pub retries: u32,
}

/// A command as written in the file, before `{posargs}` substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawCommand {
    /// A string: run through `sh -c`.
    Shell(String),
    /// An array: an argv, run directly.
    Argv(Vec<String>),
}

impl RawCommand {
    /// The command as a user would type it (argv words quoted where a shell would split them).
    pub fn display(&self) -> String {
        match self {
            Self::Shell(s) => s.clone(),
            Self::Argv(argv) => display_argv(argv),
        }
    }
}

/// An argv as a user would type it: words joined by spaces, each quoted only if a reader could
/// misread where it starts or ends. The one definition behind `runall list`, the `$ command`
/// lines and JSON's `command`.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|word| display_word(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes `word` only if a reader could misread where it starts or ends.
fn display_word(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || "'\"\\$`;&|<>()*?!#~".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Why `runall.toml` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {}", path.display(), io_message(source))]
    Io {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The config file's folder could not be made absolute (the current directory is gone).
    #[error("{}: cannot resolve its folder: {}", path.display(), io_message(source))]
    Root {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The text is not TOML.
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The TOML is well formed but a value is wrong.
    #[error("{}:{line}:{column}: {key}: {message}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// Dotted key path, e.g. `env.unit.commands[1]`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// An I/O error's text without the trailing ` (os error N)`.
fn io_message(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// The nearest `runall.toml`: in `start_dir`, else in its closest parent that has one.
pub fn find(start_dir: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start_dir).unwrap_or_else(|_| start_dir.to_path_buf());
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// Reads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses `text`, the contents of the config file at `path` (used for messages and the root).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let root = std::path::absolute(folder).map_err(|source| ConfigError::Root {
        path: path.to_path_buf(),
        source,
    })?;
    let ctx = Ctx { path, text };
    let raw = ctx.deserialize::<RawFile>()?;
    // Serde maps lose order, and a `Spanned<String>` key hides the name from
    // serde_path_to_error, so the keys' spans come from a second, lenient pass.
    let keys = ctx.deserialize::<RawKeys>()?;
    let mut names: Vec<Spanned<String>> = keys.env.into_keys().collect();
    names.sort_by_key(|name| name.span().start);

    let settings = ctx.settings(raw.settings.unwrap_or_default())?;
    let base = raw.env_run_base.unwrap_or_default();
    ctx.check_commands(&base, "env_run_base")?;
    let mut tables = raw.env.unwrap_or_default();
    let mut envs = Vec::with_capacity(names.len());
    for name in names {
        let Some(table) = tables.remove(name.get_ref()) else {
            continue;
        };
        envs.push(ctx.env(name, table, &base, &settings)?);
    }
    ctx.check_depends(&envs)?;
    Ok(Config {
        path: path.to_path_buf(),
        root,
        settings,
        envs: envs.into_iter().map(|env| env.config).collect(),
    })
}

/// Parses a duration: `500ms`, `2s`, `1.5s`, `10m`, `1h`, a sum like `1m30s`, or a bare number
/// of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration `{s}`: expected e.g. 500ms, 2s, 10m");
    let text = s.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| invalid());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let tail = tail.trim_start();
        let unit_len = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let part = Duration::try_from_secs_f64(value * scale).map_err(|_| invalid())?;
        total = total.checked_add(part).ok_or_else(invalid)?;
        rest = tail.trim_start();
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// Raw serde structs: the file exactly as written.

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    settings: Option<RawSettings>,
    env_run_base: Option<RawEnv>,
    env: Option<BTreeMap<String, RawEnv>>,
}

/// The env names with their spans, in any order; everything else ignored.
#[derive(Deserialize)]
struct RawKeys {
    #[serde(default)]
    #[expect(
        clippy::zero_sized_map_values,
        reason = "serde reaches a table's keys only through a map; the values are skipped"
    )]
    env: BTreeMap<Spanned<String>, IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    jobs: Option<Spanned<usize>>,
    stderr: Option<RawStderr>,
    interrupt_timeout: Option<RawDuration>,
    terminate_timeout: Option<RawDuration>,
    leak_timeout: Option<RawDuration>,
    timeout: Option<RawDuration>,
    on_leak: Option<RawLeak>,
    retries: Option<u32>,
    tail: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    description: Option<String>,
    commands: Option<Spanned<RawCommands>>,
    change_dir: Option<PathBuf>,
    set_env: Option<BTreeMap<String, String>>,
    depends: Option<Vec<Spanned<String>>>,
    labels: Option<Vec<String>>,
    stderr: Option<RawStderr>,
    timeout: Option<RawDuration>,
    on_leak: Option<RawLeak>,
    retries: Option<u32>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawStderr {
    Merged,
    Separate,
}

impl From<RawStderr> for StderrMode {
    fn from(raw: RawStderr) -> Self {
        match raw {
            RawStderr::Merged => Self::Merged,
            RawStderr::Separate => Self::Separate,
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawLeak {
    Warn,
    Fail,
}

impl From<RawLeak> for LeakPolicy {
    fn from(raw: RawLeak) -> Self {
        match raw {
            RawLeak::Warn => Self::Warn,
            RawLeak::Fail => Self::Fail,
        }
    }
}

/// A duration written as a string (`"2s"`) or a number of seconds (`2`, `0.5`).
#[derive(Clone, Copy)]
struct RawDuration(Duration);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"500ms\", \"2s\", \"10m\", or a number of seconds")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                parse_duration(v).map(RawDuration).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration(Duration::from_secs(v)))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDuration, E> {
                u64::try_from(v)
                    .map(|secs| RawDuration(Duration::from_secs(secs)))
                    .map_err(|_| E::custom(format!("invalid duration `{v}`: must not be negative")))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDuration, E> {
                Duration::try_from_secs_f64(v).map(RawDuration).map_err(|_| {
                    E::custom(format!(
                        "invalid duration `{v}`: must be a finite, non-negative number of seconds"
                    ))
                })
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

/// The `commands` array.
#[derive(Clone)]
struct RawCommands(Vec<Spanned<RawCommand>>);

impl<'de> Deserialize<'de> for RawCommands {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandsVisitor;

        impl<'de> Visitor<'de> for CommandsVisitor {
            type Value = RawCommands;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of commands (each a string or an argv array of strings)")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawCommands, A::Error> {
                let mut commands = Vec::new();
                while let Some(command) = seq.next_element()? {
                    commands.push(command);
                }
                Ok(RawCommands(commands))
            }
        }

        deserializer.deserialize_seq(CommandsVisitor)
    }
}

/// A string (shell command) or an array of strings (argv); serde's error names both shapes.
impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;

        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = RawCommand;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command string or an argv array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCommand, E> {
                Ok(RawCommand::Shell(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<RawCommand, E> {
                Ok(RawCommand::Shell(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawCommand, A::Error> {
                let mut argv = Vec::new();
                while let Some(ArgvWord(word)) = seq.next_element()? {
                    argv.push(word);
                }
                Ok(RawCommand::Argv(argv))
            }
        }

        deserializer.deserialize_any(CommandVisitor)
    }
}

/// One element of an argv array.
struct ArgvWord(String);

impl<'de> Deserialize<'de> for ArgvWord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WordVisitor;

        impl Visitor<'_> for WordVisitor {
            type Value = ArgvWord;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (every argv element is a string)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ArgvWord, E> {
                Ok(ArgvWord(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<ArgvWord, E> {
                Ok(ArgvWord(v))
            }
        }

        deserializer.deserialize_string(WordVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution and checks.

/// An env being resolved, with the locations its checks need.
struct ResolvedEnv {
    config: EnvConfig,
    /// Span of the env's name (its table key).
    name_span: Range<usize>,
    /// Span of each `depends` entry.
    depends_spans: Vec<Range<usize>>,
    /// Key path of the table the `depends` came from (`env.x` or `env_run_base`).
    depends_owner: String,
}

/// The file being parsed: everything an error needs to name a location.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    /// Deserializes the whole document, mapping syntax and serde errors to [`ConfigError`].
    fn deserialize<T: de::DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let deserializer = toml::Deserializer::parse(self.text).map_err(|err| {
            let (line, column) = self.line_column(err.span().map_or(0, |span| span.start));
            ConfigError::Syntax {
                path: self.path.to_path_buf(),
                line,
                column,
                message: err.message().trim().to_owned(),
            }
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = key_path(err.path());
            let inner = err.inner();
            let message = inner
                .message()
                .trim()
                .replace("unknown field", "unknown key");
            let key = if key.is_empty() {
                "(document)".to_owned()
            } else {
                key
            };
            self.invalid(inner.span().unwrap_or(0..0), key, message)
        })
    }

    /// 1-based line and column (in characters) of byte `offset`.
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    fn invalid(&self, span: Range<usize>, key: String, message: String) -> ConfigError {
        let (line, column) = self.line_column(span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    }

    fn settings(&self, raw: RawSettings) -> Result<Settings, ConfigError> {
        if let Some(jobs) = &raw.jobs
            && *jobs.get_ref() == 0
        {
            return Err(self.invalid(
                jobs.span(),
                "settings.jobs".to_owned(),
                "must be at least 1".to_owned(),
            ));
        }
        if let Some(tail) = &raw.tail
            && *tail.get_ref() > crate::report::ci::MAX_TAIL_LINES
        {
            return Err(self.invalid(
                tail.span(),
                "settings.tail".to_owned(),
                format!("must be at most {}", crate::report::ci::MAX_TAIL_LINES),
            ));
        }
        let defaults = Timeouts::default();
        let pick = |raw: Option<RawDuration>, default: Duration| raw.map_or(default, |d| d.0);
        Ok(Settings {
            jobs: raw.jobs.map(Spanned::into_inner),
            stderr: raw.stderr.map(StderrMode::from).unwrap_or_default(),
            timeouts: Timeouts {
                interrupt: pick(raw.interrupt_timeout, defaults.interrupt),
                terminate: pick(raw.terminate_timeout, defaults.terminate),
                leak: pick(raw.leak_timeout, defaults.leak),
            },
            timeout: raw.timeout.map(|d| d.0),
            on_leak: raw.on_leak.map(LeakPolicy::from).unwrap_or_default(),
            retries: raw.retries.unwrap_or(0),
            tail: raw.tail.map(Spanned::into_inner),
        })
    }

    /// Rejects an empty `commands`, an empty shell string and an empty argv in one table.
    fn check_commands(&self, table: &RawEnv, owner: &str) -> Result<(), ConfigError> {
        let Some(commands) = &table.commands else {
            return Ok(());
        };
        if commands.get_ref().0.is_empty() {
            return Err(self.invalid(
                commands.span(),
                format!("{owner}.commands"),
                "must not be empty".to_owned(),
            ));
        }
        for (index, command) in commands.get_ref().0.iter().enumerate() {
            let problem = match command.get_ref() {
                RawCommand::Shell(s) if s.trim().is_empty() => Some("must not be an empty string"),
                RawCommand::Argv(argv) if argv.is_empty() => {
                    Some("an argv array must not be empty")
                }
                RawCommand::Argv(argv) if argv[0].is_empty() => {
                    Some("the program (argv[0]) must not be an empty string")
                }
                _ => None,
            };
            if let Some(message) = problem {
                return Err(self.invalid(
                    command.span(),
                    format!("{owner}.commands[{index}]"),
                    message.to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// Checks the name and applies `[env_run_base]` and `[settings]` defaults.
    fn env(
        &self,
        name: Spanned<String>,
        table: RawEnv,
        base: &RawEnv,
        settings: &Settings,
    ) -> Result<ResolvedEnv, ConfigError> {
        let name_span = name.span();
        let name = name.into_inner();
        let owner = format!("env.{}", key_segment(&name));
        let valid = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(self.invalid(
                name_span,
                owner,
                format!(
                    "invalid env name `{name}`: use letters, digits, `.`, `_` and `-` \
                     (not `.` or `..`)"
                ),
            ));
        }
        self.check_commands(&table, &owner)?;
        let Some(commands) = table.commands.or_else(|| base.commands.clone()) else {
            return Err(self.invalid(name_span, owner, "missing `commands`".to_owned()));
        };
        let (depends, depends_owner) = match table.depends {
            Some(depends) => (depends, owner),
            None => (
                base.depends.clone().unwrap_or_default(),
                "env_run_base".to_owned(),
            ),
        };
        let mut set_env = base.set_env.clone().unwrap_or_default();
        set_env.extend(table.set_env.unwrap_or_default());
        let pick_stderr = table.stderr.or(base.stderr).map(StderrMode::from);
        let pick_leak = table.on_leak.or(base.on_leak).map(LeakPolicy::from);
        Ok(ResolvedEnv {
            depends_spans: depends.iter().map(Spanned::span).collect(),
            depends_owner,
            name_span,
            config: EnvConfig {
                name,
                description: table.description.or_else(|| base.description.clone()),
                commands: commands
                    .into_inner()
                    .0
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                change_dir: table.change_dir.or_else(|| base.change_dir.clone()),
                set_env,
                depends: depends.into_iter().map(Spanned::into_inner).collect(),
                labels: table
                    .labels
                    .or_else(|| base.labels.clone())
                    .unwrap_or_default(),
                stderr: pick_stderr.unwrap_or(settings.stderr),
                timeout: table
                    .timeout
                    .or(base.timeout)
                    .map(|d| d.0)
                    .or(settings.timeout),
                on_leak: pick_leak.unwrap_or(settings.on_leak),
                retries: table.retries.or(base.retries).unwrap_or(settings.retries),
            },
        })
    }

    /// Every `depends` entry names an env, and the graph has no cycle.
    fn check_depends(&self, envs: &[ResolvedEnv]) -> Result<(), ConfigError> {
        let index: HashMap<&str, usize> = envs
            .iter()
            .enumerate()
            .map(|(i, env)| (env.config.name.as_str(), i))
            .collect();
        let mut edges = Vec::with_capacity(envs.len());
        for env in envs {
            let mut targets = Vec::with_capacity(env.config.depends.len());
            for (slot, dep) in env.config.depends.iter().enumerate() {
                let Some(&target) = index.get(dep.as_str()) else {
                    let mut known: Vec<&str> =
                        envs.iter().map(|e| e.config.name.as_str()).collect();
                    known.retain(|n| *n != env.config.name);
                    let message = if known.is_empty() {
                        format!("unknown env `{dep}` (there are no other envs)")
                    } else {
                        format!("unknown env `{dep}` (envs: {})", known.join(", "))
                    };
                    return Err(self.invalid(
                        env.depends_spans[slot].clone(),
                        format!("{}.depends[{slot}]", env.depends_owner),
                        message,
                    ));
                };
                targets.push(target);
            }
            edges.push(targets);
        }
        let Some(cycle) = find_cycle(&edges) else {
            return Ok(());
        };
        // `cycle` starts at its member that comes first in the file.
        let first = &envs[cycle[0]];
        let slot = edges[cycle[0]]
            .iter()
            .position(|&t| t == cycle[1 % cycle.len()])
            .unwrap_or(0);
        let mut names: Vec<&str> = cycle
            .iter()
            .map(|&i| envs[i].config.name.as_str())
            .collect();
        names.push(&first.config.name);
        let span = first
            .depends_spans
            .get(slot)
            .cloned()
            .unwrap_or_else(|| first.name_span.clone());
        Err(self.invalid(
            span,
            format!("{}.depends[{slot}]", first.depends_owner),
            format!("dependency cycle: {}", names.join(" -> ")),
        ))
    }
}

/// A cycle in the graph (`edges[i]` are the nodes `i` points to), as the list of its nodes
/// rotated to start at the smallest index, or `None`.
fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }

    fn visit(
        node: usize,
        edges: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[node] = Mark::OnStack;
        stack.push(node);
        for &next in &edges[node] {
            match marks[next] {
                Mark::Done => {}
                Mark::OnStack => {
                    let from = stack.iter().position(|&n| n == next).unwrap_or(0);
                    return Some(stack[from..].to_vec());
                }
                Mark::New => {
                    if let Some(cycle) = visit(next, edges, marks, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        marks[node] = Mark::Done;
        None
    }

    let mut marks = vec![Mark::New; edges.len()];
    let mut stack = Vec::new();
    for start in 0..edges.len() {
        if marks[start] == Mark::New
            && let Some(mut cycle) = visit(start, edges, &mut marks, &mut stack)
        {
            let lowest = cycle
                .iter()
                .enumerate()
                .min_by_key(|&(_, &node)| node)
                .map_or(0, |(at, _)| at);
            cycle.rotate_left(lowest);
            return Some(cycle);
        }
    }
    None
}

/// The dotted key path of a serde error, without `serde_spanned`'s internal keys.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => {
                // Writing to a `String` cannot fail.
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } if key.starts_with("$__serde_spanned_private") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&key_segment(key));
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    out
}

/// A key as TOML would write it: bare if it can be, else quoted.
fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Config {
        parse(Path::new("runall.toml"), text).unwrap()
    }

    fn err(text: &str) -> String {
        parse(Path::new("runall.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn full_example_parses_with_base_applied_in_file_order() {
        let config = ok(r#"
[settings]
jobs = 4
stderr = "separate"
interrupt_timeout = "1s"
terminate_timeout = 5
leak_timeout = 0.25
timeout = "10m"
on_leak = "fail"

[env_run_base]
set_env = { CI = "1", RUST_BACKTRACE = "0" }
labels = ["all"]

[env.zeta]
description = "clippy, warnings are errors"
commands = ["cargo clippy --all-targets -- -D warnings"]

[env.unit]
commands = [["cargo", "test", "{posargs}"], "echo done"]
change_dir = "crates/core"
set_env = { RUST_BACKTRACE = "1" }
depends = ["zeta"]
labels = ["fast"]
stderr = "merged"
timeout = "30s"
on_leak = "warn"

[env.alpha]
commands = ["true"]
"#);
        assert_eq!(config.path, PathBuf::from("runall.toml"));
        assert!(config.root.is_absolute());
        assert_eq!(
            config.settings,
            Settings {
                jobs: Some(4),
                stderr: StderrMode::Separate,
                timeouts: Timeouts {
                    interrupt: Duration::from_secs(1),
                    terminate: Duration::from_secs(5),
                    leak: Duration::from_millis(250),
                },
                timeout: Some(Duration::from_secs(600)),
                on_leak: LeakPolicy::Fail,
                retries: 0,
                tail: None,
            }
        );
        let names: Vec<&str> = config.envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["zeta", "unit", "alpha"]);

        let zeta = config.env("zeta").unwrap();
        assert_eq!(
            zeta.description.as_deref(),
            Some("clippy, warnings are errors")
        );
        assert_eq!(zeta.labels, ["all"]);
        assert_eq!(zeta.stderr, StderrMode::Separate);
        assert_eq!(zeta.on_leak, LeakPolicy::Fail);
        assert_eq!(zeta.timeout, Some(Duration::from_secs(600)));
        assert_eq!(zeta.set_env["RUST_BACKTRACE"], "0");

        let unit = config.env("unit").unwrap();
        assert_eq!(
            unit.commands,
            [
                RawCommand::Argv(vec!["cargo".into(), "test".into(), "{posargs}".into()]),
                RawCommand::Shell("echo done".into()),
            ]
        );
        assert_eq!(unit.change_dir, Some(PathBuf::from("crates/core")));
        let env: Vec<(&str, &str)> = unit
            .set_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("CI", "1"), ("RUST_BACKTRACE", "1")]);
        assert_eq!(unit.depends, ["zeta"]);
        assert_eq!(unit.labels, ["fast"]);
        assert_eq!(unit.stderr, StderrMode::Merged);
        assert_eq!(unit.timeout, Some(Duration::from_secs(30)));
        assert_eq!(unit.on_leak, LeakPolicy::Warn);
    }

    #[test]
    fn defaults_when_settings_are_absent() {
        let config = ok("[env.a]\ncommands = [\"true\"]\n");
        assert_eq!(config.settings, Settings::default());
        let env = &config.envs[0];
        assert_eq!(env.stderr, StderrMode::Merged);
        assert_eq!(env.on_leak, LeakPolicy::Warn);
        assert_eq!(env.timeout, None);
        assert!(env.depends.is_empty() && env.labels.is_empty() && env.set_env.is_empty());
    }

    #[test]
    fn file_order_holds_for_dotted_and_inline_tables() {
        let config = ok(r#"
env.b.commands = ["b"]
env.a = { commands = ["a"] }
[env.c]
commands = ["c"]
"#);
        let names: Vec<&str> = config.envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
    }

    #[test]
    fn commands_may_come_from_base() {
        let config =
            ok("[env_run_base]\ncommands = [\"make\"]\n[env.a]\n[env.b]\ncommands = [\"b\"]\n");
        assert_eq!(config.envs[0].commands, [RawCommand::Shell("make".into())]);
        assert_eq!(config.envs[1].commands, [RawCommand::Shell("b".into())]);
    }

    #[test]
    fn root_is_the_files_folder() {
        let config = parse(Path::new("/tmp/x/runall.toml"), "").unwrap();
        assert_eq!(config.root, PathBuf::from("/tmp/x"));
        assert!(config.envs.is_empty());
        let config = parse(Path::new("runall.toml"), "").unwrap();
        assert_eq!(config.root, std::env::current_dir().unwrap());
    }

    #[test]
    fn syntax_error() {
        assert_eq!(
            err("[env.a\ncommands = []\n"),
            "runall.toml:1:7: invalid TOML: unclosed table, expected `]`"
        );
        assert_eq!(
            err("[env.a]\ncommands = [\"a\"]\n[env.a]\n"),
            "runall.toml:3:6: invalid TOML: duplicate key"
        );
    }

    #[test]
    fn unknown_keys() {
        assert_eq!(
            err("colour = 1\n"),
            "runall.toml:1:1: colour: unknown key `colour`, expected one of `settings`, \
             `env_run_base`, `env`"
        );
        assert_eq!(
            err("[settings]\njobs = 2\ncolour = 1\n"),
            "runall.toml:3:1: settings.colour: unknown key `colour`, expected one of `jobs`, \
             `stderr`, `interrupt_timeout`, `terminate_timeout`, `leak_timeout`, `timeout`, \
             `on_leak`, `retries`, `tail`"
        );
        let env_keys = "expected one of `description`, `commands`, `change_dir`, `set_env`, \
                        `depends`, `labels`, `stderr`, `timeout`, `on_leak`, `retries`";
        assert_eq!(
            err("[env.unit]\ncommands = [\"x\"]\ncolour = \"red\"\n"),
            format!("runall.toml:3:1: env.unit.colour: unknown key `colour`, {env_keys}")
        );
        assert_eq!(
            err("[env_run_base]\n  colour = 1\n"),
            format!("runall.toml:2:3: env_run_base.colour: unknown key `colour`, {env_keys}")
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            err("[settings]\njobs = \"four\"\n"),
            "runall.toml:2:8: settings.jobs: invalid type: string \"four\", expected usize"
        );
        assert_eq!(
            err("[env.x]\ncommands = 3\n"),
            "runall.toml:2:12: env.x.commands: invalid type: integer `3`, expected an array of \
             commands (each a string or an argv array of strings)"
        );
        assert_eq!(
            err("[env.x]\ncommands = [\"ok\", 3]\n"),
            "runall.toml:2:19: env.x.commands[1]: invalid type: integer `3`, expected a command \
             string or an argv array of strings"
        );
        assert_eq!(
            err("[env.x]\ncommands = [[\"echo\", 3]]\n"),
            "runall.toml:2:22: env.x.commands[0][1]: invalid type: integer `3`, expected a \
             string (every argv element is a string)"
        );
        assert_eq!(
            err("[env.x]\ncommands = [\"a\"]\nset_env = { A = 1 }\n"),
            "runall.toml:3:17: env.x.set_env.A: invalid type: integer `1`, expected a string"
        );
    }

    #[test]
    fn tail_is_bounded() {
        let config = parse(Path::new("/p/runall.toml"), "[settings]\ntail = 0\n").unwrap();
        assert_eq!(config.settings.tail, Some(0));
        assert_eq!(
            err("[settings]\ntail = 10001\n"),
            "runall.toml:2:8: settings.tail: must be at most 10000"
        );
        assert_eq!(
            err("[settings]\ntail = -1\n"),
            "runall.toml:2:8: settings.tail: invalid value: integer `-1`, expected usize"
        );
    }

    #[test]
    fn jobs_zero() {
        assert_eq!(
            err("[settings]\njobs = 0\n"),
            "runall.toml:2:8: settings.jobs: must be at least 1"
        );
    }

    #[test]
    fn empty_commands() {
        assert_eq!(
            err("[env.unit]\ncommands = []\n"),
            "runall.toml:2:12: env.unit.commands: must not be empty"
        );
        assert_eq!(
            err("[env_run_base]\ncommands = []\n"),
            "runall.toml:2:12: env_run_base.commands: must not be empty"
        );
        assert_eq!(
            err("[env.x]\ndescription = \"no commands\"\n"),
            "runall.toml:1:6: env.x: missing `commands`"
        );
        assert_eq!(
            err("[env.x]\ncommands = [\"ok\", []]\n"),
            "runall.toml:2:19: env.x.commands[1]: an argv array must not be empty"
        );
        assert_eq!(
            err("[env.x]\ncommands = [\"  \"]\n"),
            "runall.toml:2:13: env.x.commands[0]: must not be an empty string"
        );
        assert_eq!(
            err("[env.x]\ncommands = [[\"\", \"a\"]]\n"),
            "runall.toml:2:13: env.x.commands[0]: the program (argv[0]) must not be an empty \
             string"
        );
    }

    #[test]
    fn invalid_env_names() {
        let rule = "use letters, digits, `.`, `_` and `-` (not `.` or `..`)";
        assert_eq!(
            err("[env.\"a b\"]\ncommands = [\"x\"]\n"),
            format!("runall.toml:1:6: env.\"a b\": invalid env name `a b`: {rule}")
        );
        assert_eq!(
            err("[env.\"..\"]\ncommands = [\"x\"]\n"),
            format!("runall.toml:1:6: env.\"..\": invalid env name `..`: {rule}")
        );
        assert_eq!(
            err("[env.\"a/b\"]\ncommands = [\"x\"]\n"),
            format!("runall.toml:1:6: env.\"a/b\": invalid env name `a/b`: {rule}")
        );
        let config = ok("[env.\"py3.12\"]\ncommands = [\"x\"]\n");
        assert_eq!(config.envs[0].name, "py3.12");
    }

    #[test]
    fn unknown_dependency() {
        assert_eq!(
            err(
                "[env.lint]\ncommands = [\"x\"]\n[env.unit]\ncommands = [\"x\"]\n\
                 depends = [\"lint\", \"docs\"]\n"
            ),
            "runall.toml:5:20: env.unit.depends[1]: unknown env `docs` (envs: lint)"
        );
        assert_eq!(
            err("[env_run_base]\ndepends = [\"nope\"]\n[env.a]\ncommands = [\"x\"]\n"),
            "runall.toml:2:12: env_run_base.depends[0]: unknown env `nope` (there are no other \
             envs)"
        );
    }

    #[test]
    fn dependency_cycles() {
        assert_eq!(
            err(r#"
[env.x]
commands = ["x"]
[env.c]
commands = ["x"]
depends = ["a"]
[env.a]
commands = ["x"]
depends = ["x", "b"]
[env.b]
commands = ["x"]
depends = ["c"]
"#),
            "runall.toml:6:12: env.c.depends[0]: dependency cycle: c -> a -> b -> c"
        );
        assert_eq!(
            err("[env.a]\ncommands = [\"x\"]\ndepends = [\"a\"]\n"),
            "runall.toml:3:12: env.a.depends[0]: dependency cycle: a -> a"
        );
    }

    #[test]
    fn bad_durations() {
        assert_eq!(
            err("[settings]\ntimeout = \"5 parsecs\"\n"),
            "runall.toml:2:11: settings.timeout: invalid duration `5 parsecs`: expected e.g. \
             500ms, 2s, 10m"
        );
        assert_eq!(
            err("[env.a]\ncommands = [\"x\"]\ntimeout = -1\n"),
            "runall.toml:3:11: env.a.timeout: invalid duration `-1`: must not be negative"
        );
        assert_eq!(
            err("[settings]\nleak_timeout = true\n"),
            "runall.toml:2:16: settings.leak_timeout: invalid type: boolean `true`, expected a \
             duration such as \"500ms\", \"2s\", \"10m\", or a number of seconds"
        );
    }

    #[test]
    fn retries_come_from_the_env_then_base_then_settings() {
        let config = ok(r#"
[settings]
retries = 1
[env.plain]
commands = ["x"]
[env.own]
commands = ["x"]
retries = 3
"#);
        assert_eq!(config.settings.retries, 1);
        assert_eq!(config.env("plain").unwrap().retries, 1);
        assert_eq!(config.env("own").unwrap().retries, 3);
        let config = ok(r#"
[settings]
retries = 1
[env_run_base]
retries = 2
[env.base]
commands = ["x"]
[env.none]
commands = ["x"]
retries = 0
"#);
        assert_eq!(config.env("base").unwrap().retries, 2);
        assert_eq!(config.env("none").unwrap().retries, 0);
        assert_eq!(ok("[env.a]\ncommands = [\"x\"]\n").envs[0].retries, 0);
        assert_eq!(
            err("[env.a]\ncommands = [\"x\"]\nretries = -1\n"),
            "runall.toml:3:11: env.a.retries: invalid value: integer `-1`, expected u32"
        );
    }

    #[test]
    fn bad_enum_values() {
        assert_eq!(
            err("[settings]\nstderr = \"both\"\n"),
            "runall.toml:2:10: settings.stderr: unknown variant `both`, expected `merged` or \
             `separate`"
        );
        assert_eq!(
            err("[env_run_base]\non_leak = \"ignore\"\n"),
            "runall.toml:2:11: env_run_base.on_leak: unknown variant `ignore`, expected `warn` \
             or `fail`"
        );
    }

    #[test]
    fn io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runall.toml");
        let message = load(&path).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("{}: cannot read: No such file or directory", path.display())
        );
    }

    #[test]
    fn find_walks_up() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert_eq!(find(&nested), None);
        std::fs::write(dir.path().join(FILE_NAME), "").unwrap();
        assert_eq!(find(&nested), Some(dir.path().join(FILE_NAME)));
        std::fs::write(nested.join(FILE_NAME), "").unwrap();
        assert_eq!(find(&nested), Some(nested.join(FILE_NAME)));
        let config = load(&nested.join(FILE_NAME)).unwrap();
        assert_eq!(config.root, nested);
    }

    #[test]
    fn durations() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1.5s", Duration::from_millis(1500)),
            ("10m", Duration::from_secs(600)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            (" 2 s ", Duration::from_secs(2)),
            ("3", Duration::from_secs(3)),
            ("0.25", Duration::from_millis(250)),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for text in [
            "",
            "s",
            "5x",
            "5 parsecs",
            "-1s",
            "-1",
            ".5s",
            "5.s",
            "1..2s",
            "2s3",
            "NaN",
        ] {
            assert_eq!(
                parse_duration(text),
                Err(format!(
                    "invalid duration `{text}`: expected e.g. 500ms, 2s, 10m"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn raw_command_display() {
        assert_eq!(RawCommand::Shell("a && b".into()).display(), "a && b");
        let argv = RawCommand::Argv(vec![
            "echo".into(),
            "a b".into(),
            "it's".into(),
            String::new(),
        ]);
        assert_eq!(argv.display(), r"echo 'a b' 'it'\''s' ''");
    }
}
