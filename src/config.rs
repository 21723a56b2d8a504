//! Loading and validating `runall.toml`.
//!
//! This module owns the file format: it reads the text, deserializes it into raw serde structs
//! (`raw`: every key optional, unknown keys rejected), applies `[env_run_base]` to every env,
//! and checks what serde cannot (empty commands, env names, unknown or cyclic `depends`). Every
//! error names the file, the 1-based line and column, and the dotted key path. It does no selection and no
//! `{posargs}` substitution (that is [`crate::plan`]), and it never runs anything.
//!
//! Every value is checked here for what later use needs: numbers and durations have a bounded
//! range (so no deadline can overflow the clock), strings that reach `execve` (commands, argv
//! words, `set_env`, `change_dir`) hold no NUL byte, and `set_env` names are real variable
//! names. Files are read only if they are regular files of at most [`MAX_FILE_SIZE`] bytes
//! ([`read_regular_file`], also used for the run history), so a FIFO or a device never hangs a
//! run.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de;
use toml::Spanned;

use crate::launcher::{self, Launcher, LocalSignals};

mod raw;
pub mod size;
mod values;

pub use values::{LeakPolicy, SkipProbe, StderrMode, Timeouts};

use raw::{RawDuration, RawEnv, RawFile, RawKeys, RawLauncher, RawSettings, RawStderr};

/// The config file's name, looked up by [`find`].
pub const FILE_NAME: &str = "runall.toml";

/// The longest duration any setting accepts: 365 days. Anything longer means "never" in
/// practice, and a deadline computed from it must stay far from overflowing the clock.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most envs running at once that `jobs` (and `--jobs`) accepts.
pub const MAX_JOBS: usize = 1024;

/// The most extra attempts `retries` accepts.
pub const MAX_RETRIES: u32 = 100;

/// The most lines of failure tail `--tail` and `tail` accept.
pub const MAX_TAIL_LINES: usize = 10_000;

/// The largest file runall reads as a config or a run history: 16 MiB.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

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
    /// Default launcher of every env (`None`: commands run here, directly).
    pub launcher: Option<Launcher>,
    /// `tox = true`: the tox envs of this folder's tox configuration run beside these envs.
    pub tox: bool,
    /// `tox_command`: how to run tox (argv words; `None`: `RUNALL_TOX`, else `tox`).
    pub tox_command: Option<Vec<String>>,
    /// `max_memory`: most bytes the running envs may be expected to use together.
    pub max_memory: Option<u64>,
    /// `scrollback_memory`: the TUI's budget of parsed output lines in memory, all envs
    /// together (`None`: the default).
    pub scrollback_memory: Option<u64>,
    /// Default of every env's `tty`.
    pub tty: bool,
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
    /// Ordering only: names of envs this one starts after (when they are in the same run),
    /// whatever their outcome; never selects them. No cycle through `depends` and `after`.
    pub after: Vec<String>,
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
    /// Run the commands on a pseudo-terminal (stdin, stdout and stderr its slave side)
    /// instead of `/dev/null` and pipes.
    pub tty: bool,
    /// What every command is launched through (`None`: run directly).
    pub launcher: Option<Launcher>,
    /// Globs of the test reports to read after each attempt, relative to `change_dir`,
    /// `{report_dir}` allowed (default: [`crate::testreport::DEFAULT_PATTERN`]; empty: none).
    pub test_reports: Vec<String>,
    /// Selected when the command line names no env (every runall.toml env; a tox env when
    /// it is in tox's `env_list`).
    pub default: bool,
    /// Where the env comes from: runall.toml, or tox's configuration (`runall list` marks it).
    pub origin: EnvOrigin,
    /// How the env may say it skipped itself (tox's result JSON), if it can.
    pub skip_probe: Option<SkipProbe>,
}

/// Where an env was defined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EnvOrigin {
    /// An `[env.NAME]` table of runall.toml.
    #[default]
    Runall,
    /// A tox env, read from tox's configuration.
    Tox {
        /// The tox configuration file.
        file: PathBuf,
        /// For an env that installs a package built once for several envs: its command
        /// when it is the only one of them that runs (it then builds its own, as a lone
        /// `tox run` does, and a build step would only cost a tox start).
        own_build: Option<RawCommand>,
    },
    /// runall's own step for tox envs: the package built once for them.
    ToxPackage(PathBuf),
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
    /// The file is not UTF-8 text (TOML must be).
    #[error("{}:{line}:{column}: not valid UTF-8 (byte 0x{byte:02x}); a TOML file is UTF-8 text", path.display())]
    NotUtf8 {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based column (in characters) of the first invalid byte.
        column: usize,
        /// The first invalid byte.
        byte: u8,
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
///
/// Anything by that name but a folder counts, so that [`load`] can say why a FIFO or a device
/// there is not a config rather than runall looking past it.
pub fn find(start_dir: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start_dir).unwrap_or_else(|_| start_dir.to_path_buf());
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.metadata().is_ok_and(|meta| !meta.is_dir()))
}

/// Reads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read_text(path)?;
    parse(path, &text)
}

/// The text of the config file at `path` (a regular file of UTF-8).
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = read_regular_file(path, MAX_FILE_SIZE).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let bytes = err.as_bytes();
        let byte = bytes.get(valid).copied().unwrap_or(0);
        // The prefix up to the first invalid byte is valid UTF-8 by definition.
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let (line, column) = line_column(&before, before.len());
        ConfigError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            column,
            byte,
        }
    })?;
    Ok(text)
}

/// Reads the config file at `path` and parses it, with `outside` adding the envs that come
/// from elsewhere (tox's, under `tox = true`) before the names in `depends` and `after` are
/// checked, so runall.toml's envs may name them. `outside` gets the parsed settings and the
/// config's folder; an env of the file wins over an outside env of the same name.
pub fn load_with<E: From<ConfigError>>(
    path: &Path,
    outside: impl FnOnce(&Settings, &Path) -> Result<Vec<EnvConfig>, E>,
) -> Result<Config, E> {
    let text = read_text(path)?;
    let open = parse_open(path, &text)?;
    let extra = outside(&open.settings, &open.root)?;
    Ok(open.finish(extra)?)
}

/// The contents of `path` if it is a regular file of at most `limit` bytes.
///
/// Anything else is refused with an error saying why (`not a regular file (a FIFO)`, `larger
/// than 16 MiB`): a FIFO with no writer would block the open or the read forever and a device
/// like `/dev/zero` never ends. The path is checked with `stat` before opening (so a device is
/// never opened), then opened with `O_NONBLOCK | O_NOCTTY` (so a FIFO swapped in meanwhile
/// cannot block the open) and checked again on the open descriptor, and at most `limit + 1`
/// bytes are read (the file may grow while being read).
pub fn read_regular_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    let check = |meta: &std::fs::Metadata| -> io::Result<()> {
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a regular file ({})", file_kind(meta.file_type())),
            ));
        }
        if meta.len() > limit {
            return Err(too_large(limit));
        }
        Ok(())
    };
    check(&std::fs::metadata(path)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    check(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// The error for a file over `limit` bytes.
fn too_large(limit: u64) -> io::Error {
    let size = if limit.is_multiple_of(1024 * 1024) {
        format!("{} MiB", limit / (1024 * 1024))
    } else {
        format!("{limit} bytes")
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("larger than {size}, the most runall reads"),
    )
}

/// What kind of file `kind` is, in words: "a FIFO", "a character device", …
fn file_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// Parses `text`, the contents of the config file at `path` (used for messages and the root).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_open(path, text)?.finish(Vec::new())
}

/// A config file parsed env by env, its `depends` and `after` not checked yet.
struct Open<'a> {
    ctx: Ctx<'a>,
    root: PathBuf,
    settings: Settings,
    envs: Vec<ResolvedEnv>,
}

impl Open<'_> {
    /// The config, with the `outside` envs after the file's own (an own env of the same name
    /// wins), once every `depends` and `after` entry names an env and the graph has no cycle.
    fn finish(self, outside: Vec<EnvConfig>) -> Result<Config, ConfigError> {
        let own: std::collections::HashSet<String> = self
            .envs
            .iter()
            .map(|env| env.config.name.clone())
            .collect();
        let outside: Vec<EnvConfig> = outside
            .into_iter()
            .filter(|env| !own.contains(&env.name))
            .collect();
        self.ctx.check_depends(&self.envs, &outside)?;
        let mut envs: Vec<EnvConfig> = self.envs.into_iter().map(|env| env.config).collect();
        envs.extend(outside);
        Ok(Config {
            path: self.ctx.path.to_path_buf(),
            root: self.root,
            settings: self.settings,
            envs,
        })
    }
}

/// [`parse`] up to the checks of `depends` and `after`.
fn parse_open<'a>(path: &'a Path, text: &'a str) -> Result<Open<'a>, ConfigError> {
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
    Ok(Open {
        ctx,
        root,
        settings,
        envs,
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
// Resolution and checks.

/// An env being resolved, with the locations its checks need.
struct ResolvedEnv {
    config: EnvConfig,
    /// Span of the env's name (its table key).
    name_span: Range<usize>,
    /// Where its `depends` ([`DEPENDS`]) and `after` ([`AFTER`]) entries were written.
    relations: [Relation; 2],
}

/// Index of `depends` in [`ResolvedEnv::relations`].
const DEPENDS: usize = 0;
/// Index of `after` in [`ResolvedEnv::relations`].
const AFTER: usize = 1;

/// Where one env's entries of one relation (`depends` or `after`) were written.
#[derive(Default)]
struct Relation {
    /// Span of each entry.
    spans: Vec<Range<usize>>,
    /// Index of each entry in the list it was written in (the base's list may have lost the
    /// env itself).
    index: Vec<usize>,
    /// Key path of the list: `env.x.depends` or `env_run_base.after`.
    owner: String,
}

/// One relation of an env: its own list, else the base's without the env itself (an env
/// never inherits a relation to itself: `depends = ["sdist"]` in the base means "every other
/// env needs sdist"), with where each entry was written.
fn relation(
    own: Option<Vec<Spanned<String>>>,
    base: Option<&Vec<Spanned<String>>>,
    name: &str,
    owner: &str,
    key: &str,
) -> (Vec<String>, Relation) {
    let (entries, owner): (Vec<(usize, Spanned<String>)>, String) = match own {
        Some(list) => (
            list.into_iter().enumerate().collect(),
            format!("{owner}.{key}"),
        ),
        None => (
            base.into_iter()
                .flatten()
                .enumerate()
                .filter(|(_, dep)| *dep.get_ref() != name)
                .map(|(at, dep)| (at, dep.clone()))
                .collect(),
            format!("env_run_base.{key}"),
        ),
    };
    let relation = Relation {
        spans: entries.iter().map(|(_, dep)| dep.span()).collect(),
        index: entries.iter().map(|(at, _)| *at).collect(),
        owner,
    };
    (
        entries
            .into_iter()
            .map(|(_, dep)| dep.into_inner())
            .collect(),
        relation,
    )
}

/// The file being parsed: everything an error needs to name a location.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

/// A launcher's words: a program first, no empty hook word, known placeholders only, and a
/// `queued` mark only with a `started` one (else the env would stay queued, its timeout
/// paused, for good).
fn check_launcher(launcher: &Launcher) -> Result<(), String> {
    if launcher.command.first().is_none_or(String::is_empty) {
        return Err("the launcher's program (its first word) must not be empty".to_owned());
    }
    let hooks = [
        &launcher.interrupt,
        &launcher.terminate,
        &launcher.kill,
        &launcher.cancel,
    ];
    if launcher.queued.is_some() && launcher.started.is_none() {
        return Err("a launcher with a `queued` mark needs a `started` mark too".to_owned());
    }
    if hooks
        .into_iter()
        .flatten()
        .any(|hook| hook.iter().any(String::is_empty))
    {
        return Err(
            "a hook's words must not be empty (its program, its first word, least of all)"
                .to_owned(),
        );
    }
    let every_word = launcher
        .command
        .iter()
        .chain(hooks.into_iter().flatten().flatten());
    for word in every_word {
        launcher::check_word(word)?;
    }
    Ok(())
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
        line_column(self.text, offset)
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
        let launcher = match &raw.launcher {
            Some(raw) => self.launcher(raw, "settings.launcher")?,
            None => None,
        };
        if let Some(tty) = raw.tty.as_ref().filter(|t| *t.get_ref())
            && matches!(raw.stderr, Some(RawStderr::Separate))
        {
            return Err(self.invalid(
                tty.span(),
                "settings.tty".to_owned(),
                TTY_SEPARATE.to_owned(),
            ));
        }
        let defaults = Timeouts::default();
        let pick = |raw: Option<RawDuration>, default: Duration| raw.map_or(default, |d| d.0);
        Ok(Settings {
            jobs: raw.jobs.map(|jobs| jobs.0 as usize),
            stderr: raw.stderr.map(StderrMode::from).unwrap_or_default(),
            timeouts: Timeouts {
                interrupt: pick(raw.interrupt_timeout, defaults.interrupt),
                terminate: pick(raw.terminate_timeout, defaults.terminate),
                leak: pick(raw.leak_timeout, defaults.leak),
            },
            timeout: raw.timeout.map(|d| d.0),
            on_leak: raw.on_leak.map(LeakPolicy::from).unwrap_or_default(),
            retries: raw.retries.map_or(0, |retries| retries.0 as u32),
            tail: raw.tail.map(|tail| tail.0 as usize),
            launcher,
            tox: raw.tox.unwrap_or(false),
            tox_command: raw
                .tox_command
                .map(|words| words.into_iter().map(|word| word.0).collect()),
            max_memory: raw.max_memory.map(|size| size.0),
            scrollback_memory: raw.scrollback_memory.map(|size| size.0),
            tty: raw.tty.is_some_and(Spanned::into_inner),
        })
    }

    /// Resolves a `launcher` value (a preset, a prefix, or a table); `None` for `[]`.
    fn launcher(
        &self,
        raw: &Spanned<RawLauncher>,
        key: &str,
    ) -> Result<Option<Launcher>, ConfigError> {
        let fail = |message: String| self.invalid(raw.span(), key.to_owned(), message);
        let words = |words: &Option<Vec<raw::ArgvWord>>| -> Option<Vec<String>> {
            words
                .as_ref()
                .map(|words| words.iter().map(|w| w.0.clone()).collect())
        };
        let unknown_preset = |name: &str| {
            format!(
                "unknown launcher preset `{name}` (presets: {})",
                launcher::PRESETS.join(", ")
            )
        };
        let mut launcher = match raw.get_ref() {
            RawLauncher::Preset(name) => {
                Launcher::preset(name, &[]).ok_or_else(|| fail(unknown_preset(name)))?
            }
            RawLauncher::Words(command) if command.is_empty() => return Ok(None),
            RawLauncher::Words(command) => Launcher {
                command: command.clone(),
                ..Launcher::default()
            },
            RawLauncher::Table(table) => {
                let mut launcher = match (&table.preset, words(&table.command)) {
                    (Some(name), None) => {
                        let args = words(&table.args).unwrap_or_default();
                        Launcher::preset(name, &args).ok_or_else(|| fail(unknown_preset(name)))?
                    }
                    (None, Some(command)) if table.args.is_none() => Launcher {
                        command,
                        ..Launcher::default()
                    },
                    (None, Some(_)) => {
                        return Err(fail(
                            "`args` adds to a preset's command: with `command`, write them in it"
                                .to_owned(),
                        ));
                    }
                    (Some(_), Some(_)) => {
                        return Err(fail("give `preset` or `command`, not both".to_owned()));
                    }
                    (None, None) => {
                        return Err(fail(
                            "a launcher table needs `command` (the prefix) or `preset`".to_owned(),
                        ));
                    }
                };
                for (slot, hook) in [
                    (&mut launcher.interrupt, &table.interrupt),
                    (&mut launcher.terminate, &table.terminate),
                    (&mut launcher.kill, &table.kill),
                    (&mut launcher.cancel, &table.cancel),
                ] {
                    if let Some(hook) = words(hook) {
                        // `[]`: no hook for this step, also over a preset's.
                        *slot = (!hook.is_empty()).then_some(hook);
                    }
                }
                if let Some(local) = table.local_signals {
                    launcher.local_signals = match local {
                        raw::RawLocalSignals::All => LocalSignals::All,
                        raw::RawLocalSignals::Kill => LocalSignals::KillOnly,
                    };
                }
                if let Some(text) = &table.queued {
                    launcher.queued = (!text.0.is_empty()).then(|| text.0.clone());
                }
                if let Some(text) = &table.started {
                    launcher.started = (!text.0.is_empty()).then(|| text.0.clone());
                }
                launcher
            }
        };
        check_launcher(&launcher).map_err(fail)?;
        if launcher.started.is_some() && launcher.queued.is_none() {
            launcher.started = None;
        }
        Ok(Some(launcher))
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

    /// An env name is letters, digits, `.`, `_` and `-`, and not `.` or `..`.
    fn check_env_name(
        &self,
        name: &str,
        span: Range<usize>,
        owner: &str,
    ) -> Result<(), ConfigError> {
        let valid = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            return Ok(());
        }
        Err(self.invalid(
            span,
            owner.to_owned(),
            format!(
                "invalid env name `{name}`: use letters, digits, `.`, `_` and `-` \
                 (not `.` or `..`)"
            ),
        ))
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
        self.check_env_name(&name, name_span.clone(), &owner)?;
        self.check_commands(&table, &owner)?;
        let Some(commands) = table.commands.or_else(|| base.commands.clone()) else {
            return Err(self.invalid(name_span, owner, "missing `commands`".to_owned()));
        };
        let launcher = match (&table.launcher, &base.launcher) {
            (Some(raw), _) => self.launcher(raw, &format!("{owner}.launcher"))?,
            (None, Some(raw)) => self.launcher(raw, "env_run_base.launcher")?,
            (None, None) => settings.launcher.clone(),
        };
        let (depends, depends_at) = relation(
            table.depends,
            base.depends.as_ref(),
            &name,
            &owner,
            "depends",
        );
        let (after, after_at) = relation(table.after, base.after.as_ref(), &name, &owner, "after");
        let mut set_env: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in base
            .set_env
            .clone()
            .into_iter()
            .flatten()
            .chain(table.set_env.into_iter().flatten())
        {
            set_env.insert(name.0, value.0);
        }
        let pick_stderr = table.stderr.or(base.stderr).map(StderrMode::from);
        let pick_leak = table.on_leak.or(base.on_leak).map(LeakPolicy::from);
        let tty = self.env_tty(
            (table.tty.as_ref(), base.tty.as_ref()),
            settings,
            pick_stderr,
            &owner,
            &name_span,
        )?;
        Ok(ResolvedEnv {
            relations: [depends_at, after_at],
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
                change_dir: table
                    .change_dir
                    .or_else(|| base.change_dir.clone())
                    .map(|dir| PathBuf::from(dir.0)),
                set_env,
                depends,
                after,
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
                retries: table
                    .retries
                    .or(base.retries)
                    .map_or(settings.retries, |retries| retries.0 as u32),
                launcher,
                test_reports: table
                    .test_reports
                    .or_else(|| base.test_reports.clone())
                    .map_or_else(
                        || vec![crate::testreport::DEFAULT_PATTERN.to_owned()],
                        |globs| globs.into_iter().map(|glob| glob.0).collect(),
                    ),
                default: table.default.or(base.default).unwrap_or(true),
                origin: EnvOrigin::Runall,
                skip_probe: None,
                tty,
            },
        })
    }

    /// The env's `tty`, from the env, then the base, then `[settings]`. A terminal has one
    /// stream: `tty` and a separate stderr cannot both hold; the error names the `tty` key
    /// that applies (or, when it came from `[settings]`, the env).
    fn env_tty(
        &self,
        (own, base): (Option<&Spanned<bool>>, Option<&Spanned<bool>>),
        settings: &Settings,
        stderr: Option<StderrMode>,
        owner: &str,
        name_span: &Range<usize>,
    ) -> Result<bool, ConfigError> {
        let (from, tty_owner) = match (own, base) {
            (Some(t), _) => (Some(t), owner),
            (None, Some(t)) => (Some(t), "env_run_base"),
            (None, None) => (None, owner),
        };
        let tty = from.map_or(settings.tty, |t| *t.get_ref());
        if tty && stderr.unwrap_or(settings.stderr) == StderrMode::Separate {
            let why = TTY_SEPARATE.to_owned();
            return Err(match from {
                Some(t) => self.invalid(t.span(), format!("{tty_owner}.tty"), why),
                None => self.invalid(name_span.clone(), format!("{owner}.stderr"), why),
            });
        }
        Ok(tty)
    }

    /// Every `depends` and `after` entry names an env (the file's or an `outside` one), and
    /// the graph of both has no cycle. The outside envs' own entries were checked where they
    /// came from; they take part in the cycle check only.
    fn check_depends(
        &self,
        envs: &[ResolvedEnv],
        outside: &[EnvConfig],
    ) -> Result<(), ConfigError> {
        let index: HashMap<&str, usize> = envs
            .iter()
            .map(|env| env.config.name.as_str())
            .chain(outside.iter().map(|env| env.name.as_str()))
            .enumerate()
            .map(|(i, name)| (name, i))
            .collect();
        // Each edge: (target, relation, slot in that relation).
        let mut edges: Vec<Vec<(usize, usize, usize)>> = Vec::with_capacity(envs.len());
        for env in envs {
            let mut targets = Vec::with_capacity(env.config.depends.len() + env.config.after.len());
            for (kind, names) in [(DEPENDS, &env.config.depends), (AFTER, &env.config.after)] {
                let at = &env.relations[kind];
                for (slot, dep) in names.iter().enumerate() {
                    let Some(&target) = index.get(dep.as_str()) else {
                        let mut known: Vec<&str> = envs
                            .iter()
                            .map(|e| e.config.name.as_str())
                            .chain(outside.iter().map(|e| e.name.as_str()))
                            .collect();
                        known.retain(|n| *n != env.config.name);
                        let message = if known.is_empty() {
                            format!("unknown env `{dep}` (there are no other envs)")
                        } else {
                            format!("unknown env `{dep}` (envs: {})", known.join(", "))
                        };
                        return Err(self.invalid(
                            at.spans[slot].clone(),
                            format!("{}[{}]", at.owner, at.index[slot]),
                            message,
                        ));
                    };
                    targets.push((target, kind, slot));
                }
            }
            edges.push(targets);
        }
        let plain: Vec<Vec<usize>> = edges
            .iter()
            .map(|targets| targets.iter().map(|&(t, _, _)| t).collect())
            .chain(outside.iter().map(|env| {
                env.depends
                    .iter()
                    .chain(&env.after)
                    .filter_map(|name| index.get(name.as_str()).copied())
                    .collect()
            }))
            .collect();
        let Some(cycle) = find_cycle(&plain) else {
            return Ok(());
        };
        let name = |i: usize| match envs.get(i) {
            Some(env) => env.config.name.as_str(),
            None => outside[i - envs.len()].name.as_str(),
        };
        let names: Vec<&str> = cycle.iter().map(|&i| name(i)).collect();
        // `cycle` starts at its member that comes first in the file; one of only outside envs
        // (which their source rejects) is named at the settings.
        let Some(first) = envs.get(cycle[0]) else {
            return Err(self.invalid(0..0, "settings.tox".to_owned(), cycle_message(&names)));
        };
        let next = cycle[1 % cycle.len()];
        let (span, key) = match edges[cycle[0]].iter().find(|&&(t, _, _)| t == next) {
            Some(&(_, kind, slot)) => {
                let at = &first.relations[kind];
                (
                    at.spans[slot].clone(),
                    format!("{}[{}]", at.owner, at.index[slot]),
                )
            }
            None => (
                first.name_span.clone(),
                format!("env.{}", key_segment(&first.config.name)),
            ),
        };
        Err(self.invalid(span, key, cycle_message(&names)))
    }
}

/// Why `tty = true` and `stderr = "separate"` cannot be combined.
const TTY_SEPARATE: &str = "a terminal has one stream: `tty = true` cannot be combined with \
                            `stderr = \"separate\"`";

/// "dependency cycle: a -> b -> a" for the cycle through `names` (in order, back to the first);
/// a long cycle shows its first few names, the count left out and its last name.
fn cycle_message(names: &[&str]) -> String {
    const HEAD: usize = 4;
    let Some(first) = names.first() else {
        return "dependency cycle".to_owned();
    };
    if names.len() <= HEAD + 2 {
        return format!("dependency cycle: {} -> {first}", names.join(" -> "));
    }
    let last = names[names.len() - 1];
    let hidden = names.len() - HEAD - 1;
    format!(
        "dependency cycle of {} envs: {} -> … ({hidden} more) … -> {last} -> {first}",
        names.len(),
        names[..HEAD].join(" -> "),
    )
}

/// A cycle in the graph (`edges[i]` are the nodes `i` points to), as the list of its nodes
/// rotated to start at the smallest index, or `None`.
pub(crate) fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }

    /// Depth-first from `start` with an explicit stack (a chain of 100,000 envs must not
    /// overflow the thread's stack): `path` holds the nodes on the current path, each with the
    /// index of its next edge to follow.
    fn visit(start: usize, edges: &[Vec<usize>], marks: &mut [Mark]) -> Option<Vec<usize>> {
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::OnStack;
        while let Some(&mut (node, ref mut next_edge)) = path.last_mut() {
            let Some(&next) = edges[node].get(*next_edge) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next_edge += 1;
            match marks[next] {
                Mark::Done => {}
                Mark::OnStack => {
                    let from = path.iter().position(|&(n, _)| n == next).unwrap_or(0);
                    return Some(path[from..].iter().map(|&(n, _)| n).collect());
                }
                Mark::New => {
                    marks[next] = Mark::OnStack;
                    path.push((next, 0));
                }
            }
        }
        None
    }

    let mut marks = vec![Mark::New; edges.len()];
    for start in 0..edges.len() {
        if marks[start] == Mark::New
            && let Some(mut cycle) = visit(start, edges, &mut marks)
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

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
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
max_memory = "8GiB"
scrollback_memory = 1048576

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
                launcher: None,
                tox: false,
                tox_command: None,
                max_memory: Some(8 << 30),
                scrollback_memory: Some(1 << 20),
                tty: false,
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
    fn launchers_resolve_from_settings_base_and_env() {
        let config = ok(r#"
[settings]
launcher = "slurm"
[env.a]
commands = ["true"]
[env.b]
commands = ["true"]
launcher = []
[env.c]
commands = ["true"]
launcher = ["ssh", "build-{attempt}", "--"]
[env.d]
commands = ["true"]
launcher = { preset = "slurm", args = ["--partition=big"], interrupt = [] }
[env.e]
commands = ["true"]
[env.e.launcher]
command = ["kubectl", "exec", "pod-{env}", "--"]
terminate = ["kubectl", "exec", "pod-{env}", "--", "pkill", "-TERM", "-f", "{run_id}"]
local_signals = "kill"
queued = "waiting"
started = "running"
"#);
        let launcher = |i: usize| config.envs[i].launcher.clone();
        assert_eq!(launcher(0), Some(Launcher::slurm(&[])));
        assert_eq!(launcher(1), None, "`[]` opts out of the default");
        let ssh = launcher(2).unwrap();
        assert_eq!(ssh.command, ["ssh", "build-{attempt}", "--"]);
        assert_eq!((ssh.interrupt, ssh.queued), (None, None));
        assert_eq!(ssh.local_signals, LocalSignals::All);
        let big = launcher(3).unwrap();
        assert_eq!(
            big.command,
            [
                "srun",
                "--quit-on-interrupt",
                "--job-name={run_id}-{env}",
                "--partition=big"
            ]
        );
        assert_eq!(big.interrupt, None, "`[]` removes the preset's hook");
        assert_eq!(big.terminate, Launcher::slurm(&[]).terminate);
        let kube = launcher(4).unwrap();
        assert_eq!(kube.command[2], "pod-{env}");
        assert_eq!(kube.terminate.as_ref().map(Vec::len), Some(8));
        assert_eq!(kube.local_signals, LocalSignals::KillOnly);
        assert_eq!(kube.queued.as_deref(), Some("waiting"));

        let base = ok("[env_run_base]
launcher = [\"nice\"]
[env.a]
commands = [\"x\"]
");
        assert_eq!(base.envs[0].launcher.as_ref().unwrap().command, ["nice"]);
    }

    #[test]
    fn bad_launchers_name_the_key() {
        let cases = [
            (
                "[settings]\nlauncher = \"pbs\"\n",
                "runall.toml:2:12: settings.launcher: unknown launcher preset `pbs` (presets: slurm)",
            ),
            (
                "[env.a]\ncommands = [\"x\"]\nlauncher = [\"srun\", \"--job-name={run-id}\"]\n",
                "runall.toml:3:12: env.a.launcher: unknown placeholder `{run-id}` (known: {env}, \
                 {run_id}, {attempt})",
            ),
            (
                "[env_run_base]\nlauncher = [\"\"]\n[env.a]\ncommands = [\"x\"]\n",
                "runall.toml:2:12: env_run_base.launcher: the launcher's program (its first word) \
                 must not be empty",
            ),
            (
                "[settings]\nlauncher = { preset = \"slurm\", command = [\"x\"] }\n",
                "runall.toml:2:12: settings.launcher: give `preset` or `command`, not both",
            ),
            (
                "[settings]\nlauncher = { command = [\"x\"], args = [\"y\"] }\n",
                "runall.toml:2:12: settings.launcher: `args` adds to a preset's command: with \
                 `command`, write them in it",
            ),
            (
                "[settings]\nlauncher = { interrupt = [\"x\"] }\n",
                "runall.toml:2:12: settings.launcher: a launcher table needs `command` (the \
                 prefix) or `preset`",
            ),
            (
                "[settings]\nlauncher = { command = [\"x\"], kill = [\"\", \"y\"] }\n",
                "runall.toml:2:12: settings.launcher: a hook's words must not be empty (its program, \
                 its first word, least of all)",
            ),
            (
                "[settings]\nlauncher = { command = [\"x\"], cancel = [\"scancel\", \"\"] }\n",
                "runall.toml:2:12: settings.launcher: a hook's words must not be empty (its program, \
                 its first word, least of all)",
            ),
            (
                "[settings]\nlauncher = { command = [\"x\"], queued = \"waiting\" }\n",
                "runall.toml:2:12: settings.launcher: a launcher with a `queued` mark needs a \
                 `started` mark too",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(err(text), expected, "{text}");
        }
        let unknown = err("[settings]\nlauncher = { command = [\"x\"], kil = [\"y\"] }\n");
        assert!(unknown.contains("unknown key `kil`"), "{unknown}");
        let shape = err("[settings]\nlauncher = 3\n");
        assert!(shape.contains("settings.launcher: invalid type"), "{shape}");
    }

    #[test]
    fn test_reports_default_inherit_and_may_be_empty() {
        let config = ok(r#"
[env_run_base]
test_reports = ["{report_dir}/*.xml", "target/nextest/ci/junit.xml"]
[env.a]
commands = ["x"]
[env.b]
commands = ["x"]
test_reports = []
"#);
        assert_eq!(
            config.envs[0].test_reports,
            ["{report_dir}/*.xml", "target/nextest/ci/junit.xml"]
        );
        assert!(config.envs[1].test_reports.is_empty());
        let config = ok("[env.a]\ncommands = [\"x\"]\n");
        assert_eq!(
            config.envs[0].test_reports,
            [crate::testreport::DEFAULT_PATTERN]
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
             `on_leak`, `retries`, `tail`, `launcher`, `tox`, `tox_command`, `max_memory`, \
             `scrollback_memory`, `tty`"
        );
        let env_keys = "expected one of `description`, `commands`, `change_dir`, `set_env`, \
                        `depends`, `after`, `labels`, `stderr`, `timeout`, `on_leak`, `retries`, \
                        `tty`, `default`, `test_reports`, `launcher`";
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
            "runall.toml:2:8: settings.jobs: invalid type: string \"four\", expected a whole \
             number from 1 to 1024"
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
            "runall.toml:2:8: settings.tail: 10001 is out of range: must be from 0 to 10000"
        );
        assert_eq!(
            err("[settings]\ntail = -1\n"),
            "runall.toml:2:8: settings.tail: -1 is out of range: must be from 0 to 10000"
        );
    }

    #[test]
    fn numbers_out_of_range_are_rejected_where_written() {
        let jobs = "must be from 1 to 1024";
        let retries = "must be from 0 to 100";
        let cases = [
            (
                "[settings]\njobs = 0\n",
                "2:8: settings.jobs: 0 is out of range",
                jobs,
            ),
            (
                "[settings]\njobs = -3\n",
                "2:8: settings.jobs: -3 is out of range",
                jobs,
            ),
            (
                "[settings]\njobs = 1025\n",
                "2:8: settings.jobs: 1025 is out of range",
                jobs,
            ),
            (
                "[settings]\njobs = 9223372036854775807\n",
                "2:8: settings.jobs: 9223372036854775807 is out of range",
                jobs,
            ),
            (
                "[settings]\nretries = 4294967295\n",
                "2:11: settings.retries: 4294967295 is out of range",
                retries,
            ),
            (
                "[settings]\nretries = 101\n",
                "2:11: settings.retries: 101 is out of range",
                retries,
            ),
            (
                "[env_run_base]\nretries = -1\n[env.a]\ncommands = [\"x\"]\n",
                "2:11: env_run_base.retries: -1 is out of range",
                retries,
            ),
            (
                "[env.a]\ncommands = [\"x\"]\nretries = 4294967296\n",
                "3:11: env.a.retries: 4294967296 is out of range",
                retries,
            ),
        ];
        for (text, want, range) in cases {
            assert_eq!(err(text), format!("runall.toml:{want}: {range}"), "{text}");
        }
        assert_eq!(
            err("[settings]\njobs = 2.5\n"),
            "runall.toml:2:8: settings.jobs: invalid type: floating point `2.5`, expected a \
             whole number from 1 to 1024"
        );
        // The bounds themselves are accepted.
        let config = ok("[settings]\njobs = 1024\nretries = 100\n[env.a]\ncommands = [\"x\"]\n");
        assert_eq!(config.settings.jobs, Some(MAX_JOBS));
        assert_eq!(config.envs[0].retries, MAX_RETRIES);
        assert_eq!(ok("[settings]\njobs = 1\n").settings.jobs, Some(1));
    }

    #[test]
    fn durations_out_of_range_are_rejected_where_written() {
        let too_long = "must be at most 8760h (365 days)";
        let keys = [
            "settings.timeout",
            "settings.interrupt_timeout",
            "settings.terminate_timeout",
            "settings.leak_timeout",
            "env_run_base.timeout",
            "env.a.timeout",
        ];
        let values = [
            ("9223372036854775807", too_long),
            ("18446744073709551615", too_long),
            (
                "1e19",
                "invalid duration `1e19`: must be at most 8760h (365 days)",
            ),
            ("3.2e7", too_long),
            ("31536001", too_long),
            ("\"5000000000000000h\"", too_long),
            ("\"8761h\"", too_long),
            ("\"8760h1ms\"", too_long),
            ("-1", "must not be negative"),
            ("-0.5", "must be a finite, non-negative number of seconds"),
            ("nan", "must be a finite, non-negative number of seconds"),
            ("inf", "must be a finite, non-negative number of seconds"),
            ("-inf", "must be a finite, non-negative number of seconds"),
            ("\"inf\"", "expected e.g. 500ms"),
            ("\"NaN\"", "expected e.g. 500ms"),
            ("\"1e400s\"", "expected e.g. 500ms"),
        ];
        for key in keys {
            let (table, name) = key.rsplit_once('.').unwrap();
            let table = table.replace("env.a", "env.a]\ncommands = [\"x\"]\n[dummy");
            for (value, want) in values {
                let text = format!("[{table}]\n{name} = {value}\n").replace("[dummy]\n", "");
                let line = text.lines().position(|l| l.starts_with(name)).unwrap() + 1;
                let column = name.len() + 4;
                let message = err(&text);
                let prefix = format!("runall.toml:{line}:{column}: {key}: ");
                assert!(
                    message.starts_with(&prefix) && message.contains(want),
                    "{text:?}: {message}"
                );
            }
        }
        // The bound itself is accepted, as a number and as text.
        for value in ["31536000", "\"8760h\"", "3.1536e7"] {
            let config = ok(&format!(
                "[settings]\ntimeout = {value}\nleak_timeout = {value}\n"
            ));
            assert_eq!(config.settings.timeout, Some(MAX_DURATION), "{value}");
            assert_eq!(config.settings.timeouts.leak, MAX_DURATION, "{value}");
        }
    }

    #[test]
    fn nul_bytes_and_bad_variable_names_are_rejected_where_written() {
        let nul = "must not contain a NUL byte";
        let cases = [
            (
                "[env.a]\ncommands = [\"a\\u0000b\"]\n",
                "2:13: env.a.commands[0]",
                nul,
            ),
            (
                "[env.a]\ncommands = [[\"echo\", \"a\\u0000\"]]\n",
                "2:22: env.a.commands[0][1]",
                nul,
            ),
            (
                "[env_run_base]\ncommands = [\"\\u0000\"]\n",
                "2:13: env_run_base.commands[0]",
                nul,
            ),
            (
                "[env.a]\ncommands = [\"x\"]\nset_env = { A = \"\\u0000\" }\n",
                "3:17: env.a.set_env.A",
                nul,
            ),
            (
                "[env.a]\ncommands = [\"x\"]\nchange_dir = \"d\\u0000\"\n",
                "3:14: env.a.change_dir",
                nul,
            ),
            (
                "[env.a]\ncommands = [\"x\"]\ntest_reports = [\"a\\u0000\"]\n",
                "3:16: env.a.test_reports[0]",
                nul,
            ),
            (
                "[env.a]\ncommands = [\"x\"]\ntest_reports = [\"ok/*.xml\", \"a/***.xml\"]\n",
                "3:16: env.a.test_reports[1]",
                "`a/***.xml` is not a glob pattern",
            ),
            (
                "[env.a]\ncommands = [\"x\"]\nset_env = { \"A=B\" = \"x\" }\n",
                "3:13: env.a.set_env",
                "invalid variable name \"A=B\": must not be empty or contain `=` or a NUL byte",
            ),
            (
                "[env.a]\ncommands = [\"x\"]\nset_env = { \"\" = \"x\" }\n",
                "3:13: env.a.set_env",
                "invalid variable name \"\"",
            ),
            (
                "[env_run_base]\nset_env = { \"A\\u0000\" = \"x\" }\n",
                "2:13: env_run_base.set_env",
                "invalid variable name \"A\\0\"",
            ),
        ];
        for (text, at, want) in cases {
            let message = err(text);
            assert!(
                message.starts_with(&format!("runall.toml:{at}")) && message.contains(want),
                "{text:?}: {message}"
            );
        }
        // What is valid stays valid: `=` in a value, odd but legal names.
        let config = ok("[env.a]\ncommands = [\"x\"]\nset_env = { A = \"b=c\", \"x.y\" = \"\" }\n");
        assert_eq!(config.envs[0].set_env["A"], "b=c");
        assert_eq!(config.envs[0].set_env["x.y"], "");
    }

    #[test]
    fn invalid_utf8_names_the_line_and_column_of_the_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runall.toml");
        let cases: [(&[u8], usize, usize, u8); 3] = [
            (b"\xff[env.a]\n", 1, 1, 0xff),
            (b"[env.a]\ncommands = [\"\xc3\xa9\xe9\"]\n", 2, 15, 0xe9),
            ("# ünï\n\n  x = \"".as_bytes(), 3, 8, 0),
        ];
        for (bytes, line, column, byte) in cases {
            let mut bytes = bytes.to_vec();
            if byte == 0 {
                bytes.push(0x80);
            }
            let byte = if byte == 0 { 0x80 } else { byte };
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(
                load(&path).unwrap_err().to_string(),
                format!(
                    "{}:{line}:{column}: not valid UTF-8 (byte 0x{byte:02x}); a TOML file is \
                     UTF-8 text",
                    path.display()
                ),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        // Endless: only through the bounded reader, so that even a regression cannot read
        // /dev/zero until memory runs out.
        assert_eq!(
            read_regular_file(Path::new("/dev/zero"), MAX_FILE_SIZE)
                .unwrap_err()
                .to_string(),
            "not a regular file (a character device)"
        );
        let fifo = dir.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let cases = [
            (
                PathBuf::from("/dev/null"),
                "not a regular file (a character device)",
            ),
            (fifo, "not a regular file (a FIFO)"),
            (dir.path().to_path_buf(), "not a regular file (a folder)"),
        ];
        for (path, want) in cases {
            let message = read_regular_file(&path, MAX_FILE_SIZE)
                .unwrap_err()
                .to_string();
            assert_eq!(message, want, "{}", path.display());
            assert_eq!(
                load(&path).unwrap_err().to_string(),
                format!("{}: cannot read: {want}", path.display())
            );
        }
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 11]).unwrap();
        assert_eq!(
            read_regular_file(&big, 10).unwrap_err().to_string(),
            "larger than 10 bytes, the most runall reads"
        );
        assert_eq!(read_regular_file(&big, 11).unwrap().len(), 11);
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_SIZE + 1).unwrap();
        assert_eq!(
            load(&big).unwrap_err().to_string(),
            format!(
                "{}: cannot read: larger than 16 MiB, the most runall reads",
                big.display()
            )
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
    fn after_orders_without_selecting_and_is_checked_like_depends() {
        let config = ok(r#"
[env_run_base]
after = ["unit"]
[env.unit]
commands = ["x"]
[env.cov]
commands = ["x"]
after = ["unit", "lint"]
[env.lint]
commands = ["x"]
default = false
"#);
        assert_eq!(config.env("cov").unwrap().after, ["unit", "lint"]);
        assert!(
            config.env("unit").unwrap().after.is_empty(),
            "never after itself"
        );
        assert_eq!(config.env("lint").unwrap().after, ["unit"]);
        assert!(config.env("unit").unwrap().default && !config.env("lint").unwrap().default);
        assert_eq!(
            err("[env.a]\ncommands = [\"x\"]\nafter = [\"nope\"]\n"),
            "runall.toml:3:10: env.a.after[0]: unknown env `nope` (there are no other envs)"
        );
        // A cycle through both relations is an error at the edge that closes it.
        assert_eq!(
            err(r#"
[env.a]
commands = ["x"]
depends = ["b"]
[env.b]
commands = ["x"]
after = ["c"]
[env.c]
commands = ["x"]
after = ["x", "a"]
[env.x]
commands = ["x"]
"#),
            "runall.toml:4:12: env.a.depends[0]: dependency cycle: a -> b -> c -> a"
        );
        assert_eq!(
            err(
                "[env.b]\ncommands = [\"x\"]\nafter = [\"a\"]\n[env.a]\ncommands = [\"x\"]\nafter = [\"b\"]\n"
            ),
            "runall.toml:3:10: env.b.after[0]: dependency cycle: b -> a -> b"
        );
    }

    #[test]
    fn tox_settings() {
        let config = ok("[settings]\ntox = true\ntox_command = [\"uvx\", \"tox\"]\n");
        assert!(config.settings.tox);
        assert_eq!(
            config.settings.tox_command,
            Some(vec!["uvx".into(), "tox".into()])
        );
        assert_eq!(
            err("[settings]\ntox_command = []\n"),
            "runall.toml:2:15: settings.tox_command: must be a non-empty array of words, the \
             program first (e.g. [\"uvx\", \"tox\"])"
        );
        assert_eq!(
            err("[settings]\ntox = \"yes\"\n"),
            "runall.toml:2:7: settings.tox: invalid type: string \"yes\", expected a boolean"
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

    /// A config of `n` envs `e0` … where each depends on the next and the last on `e0`.
    fn ring(n: usize) -> String {
        let mut text = String::new();
        for i in 0..n {
            let _ = write!(
                text,
                "[env.e{i}]\ncommands = [\"x\"]\ndepends = [\"e{}\"]\n",
                (i + 1) % n
            );
        }
        text
    }

    #[test]
    fn a_long_cycle_is_shortened_with_its_length() {
        assert_eq!(
            err(&ring(6)),
            "runall.toml:3:12: env.e0.depends[0]: dependency cycle: e0 -> e1 -> e2 -> e3 -> e4 \
             -> e5 -> e0"
        );
        assert_eq!(
            err(&ring(7)),
            "runall.toml:3:12: env.e0.depends[0]: dependency cycle of 7 envs: e0 -> e1 -> e2 -> \
             e3 -> … (2 more) … -> e6 -> e0"
        );
        let message = err(&ring(5000));
        assert_eq!(
            message,
            "runall.toml:3:12: env.e0.depends[0]: dependency cycle of 5000 envs: e0 -> e1 -> e2 \
             -> e3 -> … (4995 more) … -> e4999 -> e0"
        );
    }

    #[test]
    fn a_very_long_chain_or_cycle_does_not_overflow_the_stack() {
        // On a small stack: a recursive search overflows it long before 100,000 frames, as it
        // would overflow the main thread's 8 MiB with some more envs.
        let n = 100_000;
        let chain: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        let found = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let cycle = find_cycle(&chain).map(|c| c.len());
                let mut open = chain;
                open[n - 1].clear();
                (cycle, find_cycle(&open))
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(found, (Some(n), None));
    }

    #[test]
    fn base_depends_never_make_an_env_depend_on_itself() {
        let config = ok(r#"
[env_run_base]
depends = ["sdist"]
[env.sdist]
commands = ["x"]
[env.lint]
commands = ["x"]
depends = []
[env.unit]
commands = ["x"]
"#);
        assert!(config.env("sdist").unwrap().depends.is_empty());
        assert!(config.env("lint").unwrap().depends.is_empty());
        assert_eq!(config.env("unit").unwrap().depends, ["sdist"]);
        // Inheriting the other way round is still a real cycle, reported where it is written.
        assert_eq!(
            err(
                "[env_run_base]\ndepends = [\"a\", \"b\"]\n[env.a]\ncommands = [\"x\"]\n\
                 [env.b]\ncommands = [\"x\"]\n"
            ),
            "runall.toml:2:17: env_run_base.depends[1]: dependency cycle: a -> b -> a"
        );
        // An env that names itself is still an error.
        assert_eq!(
            err(
                "[env_run_base]\ndepends = [\"a\"]\n[env.a]\ncommands = [\"x\"]\n\
                 depends = [\"a\"]\n"
            ),
            "runall.toml:5:12: env.a.depends[0]: dependency cycle: a -> a"
        );
    }

    #[test]
    fn bad_sizes() {
        assert_eq!(
            err("[settings]\nmax_memory = \"8 parsecs\"\n"),
            "runall.toml:2:14: settings.max_memory: invalid size `8 parsecs`: write a number and \
             a unit, like \"8GiB\" or \"512MiB\""
        );
        assert_eq!(
            err("[settings]\nscrollback_memory = 0\n"),
            "runall.toml:2:21: settings.scrollback_memory: invalid size `0`: must be from 1 byte \
             to 1 PiB"
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
    fn tty_comes_from_the_env_then_base_then_settings() {
        let config = ok(r#"
[settings]
tty = true
[env.plain]
commands = ["x"]
[env.off]
commands = ["x"]
tty = false
"#);
        assert!(config.settings.tty);
        assert!(config.env("plain").unwrap().tty);
        assert!(!config.env("off").unwrap().tty);
        let config = ok(r#"
[env_run_base]
tty = true
[env.base]
commands = ["x"]
[env.pipes]
commands = ["x"]
tty = false
stderr = "separate"
"#);
        assert!(config.env("base").unwrap().tty);
        assert!(!config.env("pipes").unwrap().tty);
        assert_eq!(config.env("pipes").unwrap().stderr, StderrMode::Separate);
        assert!(!ok("[env.x]\ncommands = [\"x\"]\n").env("x").unwrap().tty);
    }

    #[test]
    fn tty_with_a_separate_stderr_is_an_error_at_the_tty_key() {
        let why = "a terminal has one stream: `tty = true` cannot be combined with \
                   `stderr = \"separate\"`";
        assert_eq!(
            err("[env.x]\ncommands = [\"x\"]\nstderr = \"separate\"\ntty = true\n"),
            format!("runall.toml:4:7: env.x.tty: {why}")
        );
        assert_eq!(
            err("[env_run_base]\ntty = true\n[env.x]\ncommands = [\"x\"]\nstderr = \"separate\"\n"),
            format!("runall.toml:2:7: env_run_base.tty: {why}")
        );
        assert_eq!(
            err("[settings]\ntty = true\nstderr = \"separate\"\n"),
            format!("runall.toml:2:7: settings.tty: {why}")
        );
        assert_eq!(
            err("[settings]\ntty = true\n[env.x]\ncommands = [\"x\"]\nstderr = \"separate\"\n"),
            format!("runall.toml:3:6: env.x.stderr: {why}")
        );
        assert_eq!(
            err("[env.x]\ncommands = [\"x\"]\ntty = \"yes\"\n"),
            "runall.toml:3:7: env.x.tty: invalid type: string \"yes\", expected a boolean"
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
            "runall.toml:3:11: env.a.retries: -1 is out of range: must be from 0 to 100"
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
