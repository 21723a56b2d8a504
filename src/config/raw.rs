//! The raw serde structs of `runall.toml`: the file exactly as written, every key optional and
//! unknown keys rejected, with the value types whose deserializers bound what they accept
//! (durations up to [`super::MAX_DURATION`], counts in a range, no NUL byte, real variable
//! names). [`super`] resolves them into a [`super::Config`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use toml::Spanned;

use super::{
    LeakPolicy, MAX_DURATION, MAX_JOBS, MAX_RETRIES, MAX_TAIL_LINES, RawCommand, StderrMode,
    parse_duration,
};

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) settings: Option<RawSettings>,
    pub(super) env_run_base: Option<RawEnv>,
    pub(super) env: Option<BTreeMap<String, RawEnv>>,
}

/// The env names with their spans, in any order; everything else ignored.
#[derive(Deserialize)]
pub(super) struct RawKeys {
    #[serde(default)]
    #[expect(
        clippy::zero_sized_map_values,
        reason = "serde reaches a table's keys only through a map; the values are skipped"
    )]
    pub(super) env: BTreeMap<Spanned<String>, IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    pub(super) jobs: Option<RawJobs>,
    pub(super) stderr: Option<RawStderr>,
    pub(super) interrupt_timeout: Option<RawDuration>,
    pub(super) terminate_timeout: Option<RawDuration>,
    pub(super) leak_timeout: Option<RawDuration>,
    pub(super) timeout: Option<RawDuration>,
    pub(super) on_leak: Option<RawLeak>,
    pub(super) retries: Option<RawRetries>,
    pub(super) tail: Option<RawTail>,
    pub(super) launcher: Option<Spanned<RawLauncher>>,
    pub(super) tox: Option<bool>,
    pub(super) tox_command: Option<NonEmptyWords>,
    pub(super) max_memory: Option<super::size::RawSize>,
    pub(super) scrollback_memory: Option<super::size::RawSize>,
    pub(super) tty: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnv {
    pub(super) description: Option<String>,
    pub(super) commands: Option<Spanned<RawCommands>>,
    pub(super) change_dir: Option<NoNul>,
    pub(super) set_env: Option<BTreeMap<VarName, NoNul>>,
    pub(super) depends: Option<Vec<Spanned<String>>>,
    pub(super) after: Option<Vec<Spanned<String>>>,
    pub(super) labels: Option<Vec<String>>,
    pub(super) stderr: Option<RawStderr>,
    pub(super) timeout: Option<RawDuration>,
    pub(super) on_leak: Option<RawLeak>,
    pub(super) retries: Option<RawRetries>,
    pub(super) tty: Option<Spanned<bool>>,
    pub(super) default: Option<bool>,
    pub(super) test_reports: Option<Vec<ReportGlob>>,
    pub(super) launcher: Option<Spanned<RawLauncher>>,
}

/// `launcher`: a preset's name (`"slurm"`), a prefix argv (`[]`: none), or a table.
#[derive(Clone)]
pub(super) enum RawLauncher {
    Preset(String),
    Words(Vec<String>),
    Table(Box<RawLauncherTable>),
}

/// `launcher = { … }`: a preset with extra `args`, or a `command` with its hooks.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLauncherTable {
    pub(super) preset: Option<String>,
    pub(super) args: Option<Vec<ArgvWord>>,
    pub(super) command: Option<Vec<ArgvWord>>,
    pub(super) interrupt: Option<Vec<ArgvWord>>,
    pub(super) terminate: Option<Vec<ArgvWord>>,
    pub(super) kill: Option<Vec<ArgvWord>>,
    pub(super) cancel: Option<Vec<ArgvWord>>,
    pub(super) local_signals: Option<RawLocalSignals>,
    pub(super) queued: Option<NoNul>,
    pub(super) started: Option<NoNul>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawLocalSignals {
    All,
    Kill,
}

impl<'de> Deserialize<'de> for RawLauncher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LauncherVisitor;

        impl<'de> Visitor<'de> for LauncherVisitor {
            type Value = RawLauncher;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a preset name (\"slurm\"), an argv array of strings, or a table with \
                     `command` or `preset`",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLauncher, E> {
                Ok(RawLauncher::Preset(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawLauncher, A::Error> {
                let mut words = Vec::new();
                while let Some(ArgvWord(word)) = seq.next_element()? {
                    words.push(word);
                }
                Ok(RawLauncher::Words(words))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawLauncher, A::Error> {
                let table =
                    RawLauncherTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawLauncher::Table(Box::new(table)))
            }
        }

        deserializer.deserialize_any(LauncherVisitor)
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawStderr {
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
pub(super) enum RawLeak {
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
pub(super) struct RawDuration(pub(super) Duration);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = RawDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"500ms\", \"2s\", \"10m\", or a number of seconds")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDuration, E> {
                let duration = parse_duration(v).map_err(E::custom)?;
                bounded_duration(duration, v)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDuration, E> {
                bounded_duration(Duration::from_secs(v), v)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDuration, E> {
                let secs = u64::try_from(v).map_err(|_| {
                    E::custom(format!("invalid duration `{v}`: must not be negative"))
                })?;
                self.visit_u64(secs)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDuration, E> {
                // Huge numbers as written (`1e19`), not as twenty digits.
                let shown = if v.abs() >= 1e15 {
                    format!("{v:e}")
                } else {
                    v.to_string()
                };
                let duration = Duration::try_from_secs_f64(v).map_err(|_| {
                    E::custom(format!(
                        "invalid duration `{shown}`: must be a finite, non-negative number of \
                         seconds"
                    ))
                })?;
                bounded_duration(duration, shown)
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

/// `duration` (written as `shown`) if it is at most [`MAX_DURATION`].
fn bounded_duration<E: de::Error>(
    duration: Duration,
    shown: impl fmt::Display,
) -> Result<RawDuration, E> {
    if duration <= MAX_DURATION {
        Ok(RawDuration(duration))
    } else {
        Err(E::custom(format!(
            "invalid duration `{shown}`: must be at most 8760h (365 days)"
        )))
    }
}

/// A whole number from `MIN` to `MAX`: every count a setting holds has a range, so nothing
/// that uses it can overflow or ask for absurd resources.
#[derive(Clone, Copy)]
pub(super) struct Bounded<const MIN: u64, const MAX: u64>(pub(super) u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoundedVisitor<const MIN: u64, const MAX: u64>;

        impl<const MIN: u64, const MAX: u64> Visitor<'_> for BoundedVisitor<MIN, MAX> {
            type Value = Bounded<MIN, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from {MIN} to {MAX}")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if (MIN..=MAX).contains(&v) {
                    Ok(Bounded(v))
                } else {
                    Err(E::custom(format!(
                        "{v} is out of range: must be from {MIN} to {MAX}"
                    )))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "{v} is out of range: must be from {MIN} to {MAX}"
                    ))),
                }
            }
        }

        deserializer.deserialize_u64(BoundedVisitor::<MIN, MAX>)
    }
}

/// `jobs`: 1 to [`MAX_JOBS`].
pub(super) type RawJobs = Bounded<1, { MAX_JOBS as u64 }>;
/// `retries`: 0 to [`MAX_RETRIES`].
pub(super) type RawRetries = Bounded<0, { MAX_RETRIES as u64 }>;
/// `tail`: 0 to [`MAX_TAIL_LINES`].
pub(super) type RawTail = Bounded<0, { MAX_TAIL_LINES as u64 }>;

/// The `commands` array.
#[derive(Clone)]
pub(super) struct RawCommands(pub(super) Vec<Spanned<RawCommand>>);

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
                self.visit_string(v.to_owned())
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<RawCommand, E> {
                no_nul(v).map(RawCommand::Shell)
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
#[derive(Clone)]
pub(super) struct ArgvWord(pub(super) String);

impl<'de> Deserialize<'de> for ArgvWord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WordVisitor;

        impl Visitor<'_> for WordVisitor {
            type Value = ArgvWord;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string (every argv element is a string)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ArgvWord, E> {
                self.visit_string(v.to_owned())
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<ArgvWord, E> {
                no_nul(v).map(ArgvWord)
            }
        }

        deserializer.deserialize_string(WordVisitor)
    }
}

/// `text` unless it holds a NUL byte, which `execve` cannot pass (it ends a C string).
fn no_nul<E: de::Error>(text: String) -> Result<String, E> {
    if text.contains('\0') {
        Err(E::custom("must not contain a NUL byte"))
    } else {
        Ok(text)
    }
}

/// A string without NUL bytes: a `set_env` value or a `change_dir`.
#[derive(Clone)]
pub(super) struct NoNul(pub(super) String);

impl<'de> Deserialize<'de> for NoNul {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        no_nul(String::deserialize(deserializer)?).map(NoNul)
    }
}

/// A `test_reports` entry: a glob (`{report_dir}` allowed), no NUL byte.
#[derive(Clone)]
pub(super) struct ReportGlob(pub(super) String);

impl<'de> Deserialize<'de> for ReportGlob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pattern = no_nul(String::deserialize(deserializer)?)?;
        crate::testreport::check_pattern(&pattern).map_err(de::Error::custom)?;
        Ok(Self(pattern))
    }
}

/// A `set_env` name: not empty, no `=` (it would end the name: `A=B = "x"` would set `A`), no
/// NUL byte.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct VarName(pub(super) String);

impl<'de> Deserialize<'de> for VarName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name.is_empty() || name.contains(['=', '\0']) {
            Err(de::Error::custom(format!(
                "invalid variable name {name:?}: must not be empty or contain `=` or a NUL byte"
            )))
        } else {
            Ok(Self(name))
        }
    }
}

/// A non-empty array of strings without NUL bytes (`tox_command`): an argv prefix.
pub(super) struct NonEmptyWords(Vec<NoNul>);

impl IntoIterator for NonEmptyWords {
    type Item = NoNul;
    type IntoIter = std::vec::IntoIter<NoNul>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'de> Deserialize<'de> for NonEmptyWords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let words = Vec::<NoNul>::deserialize(deserializer)?;
        if words.first().is_none_or(|word| word.0.is_empty()) {
            return Err(de::Error::custom(
                "must be a non-empty array of words, the program first (e.g. [\"uvx\", \"tox\"])",
            ));
        }
        Ok(Self(words))
    }
}
