//! The run history in `.runall/history.json` beside the config: what each env did last time.
//!
//! It owns the file format and three uses of it: scheduling ([`History::duration_ms`], which
//! [`Plan::longest_first`] orders by), `--rerun-failed` ([`History::rerun_list`]) and the "last
//! run" shown by `runall list`. The file is a cache: a missing file is an empty history, and a file that
//! cannot be read is reported by the caller and then treated as empty, never fatal. It is
//! written once at the end of every run, atomically (a temporary file renamed over it), so a
//! run killed halfway never leaves a torn file. Nothing here runs processes; the clock is
//! passed in.
//!
//! It also owns the `.runall` folder itself ([`prepare_dir`]): whoever creates it puts a
//! `.gitignore` of `*` in it, as tox does for `.tox`, so logs and history never show up in
//! `git status`. The history is read only if it is a regular file of at most
//! [`crate::config::MAX_FILE_SIZE`] bytes: a FIFO or a device there is reported, never waited on.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::{EnvResult, Verdict, format_duration, millis, verdict_name};
use crate::plan::Plan;
use crate::report::Summary;

/// The version of the file format written by this runall.
pub const SCHEMA: u32 = 1;

/// Where the history of the config in `root` lives.
pub fn path(root: &Path) -> PathBuf {
    state_dir(root).join("history.json")
}

/// The folder of runall's own files (logs, history) beside the config in `root`.
pub fn state_dir(root: &Path) -> PathBuf {
    root.join(".runall")
}

/// What runall writes to `.runall/.gitignore`.
pub const GITIGNORE: &str =
    "# Written by runall: its logs and run history are not for version control.\n*\n";

/// Creates `dir` (and its parents) and a `.gitignore` in it that ignores everything, unless it
/// has one already (never overwritten: a project that wants to track the folder keeps its own).
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(".gitignore"))
    {
        Ok(mut file) => file.write_all(GITIGNORE.as_bytes()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Each env's recorded duration in milliseconds across `files` (the histories of the shards
/// of an earlier run): from the newest record that has one (`finished_at`; ties: the later
/// file). Envs without any are left out. What `--durations` balances the shards by.
pub fn newest_durations(files: &[History]) -> BTreeMap<String, u64> {
    let mut newest: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for history in files {
        for (name, record) in &history.envs {
            let Some(ms) = record.duration_ms else {
                continue;
            };
            let entry = newest
                .entry(name.clone())
                .or_insert((record.finished_at, ms));
            if record.finished_at >= entry.0 {
                *entry = (record.finished_at, ms);
            }
        }
    }
    newest
        .into_iter()
        .map(|(name, (_, ms))| (name, ms))
        .collect()
}

/// Why the history file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Reading or writing failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The history file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file is not a history this runall understands.
    #[error("cannot use {}: {message}", path.display())]
    Format {
        /// The history file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Everything remembered about earlier runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The format version ([`SCHEMA`]).
    pub schema: u32,
    /// The latest result of each env, by name (envs no longer in the config are dropped).
    #[serde(default)]
    pub envs: BTreeMap<String, EnvRecord>,
    /// The most recent run.
    #[serde(default)]
    pub last_run: Option<LastRun>,
}

/// The latest result of one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvRecord {
    /// How long its last complete attempt took (one that passed or failed on its own); an env
    /// that was then skipped or interrupted keeps the duration of the run before.
    pub duration_ms: Option<u64>,
    /// `passed`, `failed`, `skipped`, `interrupted` or `not_finished`.
    pub verdict: String,
    /// The outcome as the summary words it: "exit 3", "passed on attempt 2 (flaky)", …
    pub outcome: String,
    /// When the run that recorded this ended, in seconds since the Unix epoch.
    pub finished_at: u64,
    /// The attempt the verdict is from (above 1 after retries).
    pub attempt: u32,
    /// Passed only after a failed attempt.
    pub flaky: bool,
    /// CPU seconds (user + system) of the last attempt that ran, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Peak RSS of the last attempt that ran, in bytes: what `max_memory` expects of it next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}

/// The most recent run as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    /// Its `RUNALL_RUN_ID`.
    pub run_id: String,
    /// When it ended, in seconds since the Unix epoch.
    pub finished_at: u64,
    /// The envs it ran, in plan order.
    pub envs: Vec<String>,
    /// The envs of it that did not pass (failed, skipped, interrupted or unfinished).
    pub not_passed: Vec<String>,
}

impl History {
    /// Reads the history at `path`; a missing file is an empty history.
    pub fn load(path: &Path) -> Result<Self, HistoryError> {
        let read = crate::config::read_regular_file(path, crate::config::MAX_FILE_SIZE);
        let text = match read.and_then(|bytes| {
            String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        }) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(HistoryError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let format = |message: String| HistoryError::Format {
            path: path.to_path_buf(),
            message,
        };
        let history: Self = serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
        if history.schema != SCHEMA {
            return Err(format(format!(
                "schema {} is not the supported {SCHEMA}",
                history.schema
            )));
        }
        Ok(history)
    }

    /// Reads the history at `path` for `--durations`: unlike [`History::load`], a missing
    /// file is an error too (the user named it).
    pub fn load_existing(path: &Path) -> Result<Self, HistoryError> {
        if let Err(source) = fs::symlink_metadata(path) {
            return Err(HistoryError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            });
        }
        Self::load(path)
    }

    /// Writes the history to `path` atomically: to a temporary file beside it, then renamed.
    pub fn save(&self, path: &Path) -> Result<(), HistoryError> {
        let io_err = |source| HistoryError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        };
        let mut copy = self.clone();
        copy.schema = SCHEMA;
        let mut text = serde_json::to_vec_pretty(&copy).map_err(|e| io_err(e.into()))?;
        text.push(b'\n');
        if let Some(dir) = path.parent() {
            prepare_dir(dir).map_err(io_err)?;
        }
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".{}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        let written = fs::File::create(&temp)
            .and_then(|mut file| file.write_all(&text).and_then(|()| file.sync_all()))
            .and_then(|()| fs::rename(&temp, path));
        if let Err(source) = written {
            // Best effort: do not leave the temporary file behind.
            let _ = fs::remove_file(&temp);
            return Err(io_err(source));
        }
        Ok(())
    }

    /// Takes in a finished run: every env of `plan` gets its result (or `not_finished`), and
    /// the run becomes [`History::last_run`]. `now` is seconds since the Unix epoch.
    pub fn record(&mut self, plan: &Plan, summary: &Summary, run_id: &str, now: u64) {
        let mut not_passed = Vec::new();
        for (id, spec) in plan.envs.iter().enumerate() {
            let result = summary.result(id);
            let verdict = result.map(EnvResult::verdict);
            // An env that skipped itself (a tox env without its interpreter) would only skip
            // again: `--rerun-failed` leaves it out, as the exit code does.
            if !result.is_some_and(EnvResult::ok) {
                not_passed.push(spec.name.clone());
            }
            let old = self.envs.get(&spec.name).and_then(|r| r.duration_ms);
            // An env that did not run this time keeps the figures of the run before.
            let old_usage = self
                .envs
                .get(&spec.name)
                .map_or((None, None), |r| (r.cpu_ms, r.peak_rss_bytes));
            let usage = result
                .map(|r| r.resources)
                .filter(crate::event::Resources::measured)
                .map_or(old_usage, |r| (Some(millis(r.cpu)), Some(r.peak_rss)));
            let record = match result {
                Some(result) => EnvRecord {
                    duration_ms: match verdict {
                        Some(Verdict::Passed | Verdict::Failed) if result.ran() => {
                            Some(millis(result.duration))
                        }
                        _ => old,
                    },
                    verdict: verdict_name(verdict).to_owned(),
                    outcome: result.describe(),
                    finished_at: now,
                    attempt: result.attempt,
                    flaky: result.flaky(),
                    cpu_ms: usage.0,
                    peak_rss_bytes: usage.1,
                },
                None => EnvRecord {
                    duration_ms: old,
                    verdict: verdict_name(None).to_owned(),
                    outcome: if summary.started(id) {
                        "did not finish"
                    } else {
                        "not run"
                    }
                    .to_owned(),
                    finished_at: now,
                    attempt: 1,
                    flaky: false,
                    cpu_ms: usage.0,
                    peak_rss_bytes: usage.1,
                },
            };
            self.envs.insert(spec.name.clone(), record);
        }
        self.last_run = Some(LastRun {
            run_id: run_id.to_owned(),
            finished_at: now,
            envs: plan.envs.iter().map(|spec| spec.name.clone()).collect(),
            not_passed,
        });
    }

    /// Forgets envs whose name is not in `keep` (envs removed from the config).
    pub fn retain<'a>(&mut self, keep: impl IntoIterator<Item = &'a str>) {
        let keep: std::collections::HashSet<&str> = keep.into_iter().collect();
        self.envs.retain(|name, _| keep.contains(name.as_str()));
    }

    /// The envs that did not pass in the last run, or `None` when no run was recorded.
    pub fn rerun_list(&self) -> Option<&[String]> {
        self.last_run.as_ref().map(|run| run.not_passed.as_slice())
    }

    /// The duration of `env`'s last complete attempt, in milliseconds, if one was recorded:
    /// what [`Plan::longest_first`] orders the envs by.
    pub fn duration_ms(&self, env: &str) -> Option<u64> {
        self.envs.get(env).and_then(|r| r.duration_ms)
    }

    /// The peak RSS of `env`'s last attempt that ran, in bytes, if one was recorded: what
    /// `max_memory` expects it to use.
    pub fn peak_rss(&self, env: &str) -> Option<u64> {
        self.envs.get(env).and_then(|r| r.peak_rss_bytes)
    }

    /// "passed in 1.2s, 5m ago" for `runall list`; `now` is seconds since the Unix epoch.
    pub fn describe_last(&self, env: &str, now: u64) -> Option<String> {
        let record = self.envs.get(env)?;
        let mut text = record.outcome.clone();
        if let Some(ms) = record.duration_ms {
            text.push_str(" in ");
            text.push_str(&format_duration(std::time::Duration::from_millis(ms)));
        }
        if let (Some(cpu), Some(peak)) = (record.cpu_ms, record.peak_rss_bytes) {
            let usage = crate::event::Resources {
                cpu: std::time::Duration::from_millis(cpu),
                peak_rss: peak,
            };
            text.push_str(" (");
            text.push_str(&usage.describe());
            text.push_str(" peak)");
        }
        text.push_str(", ");
        text.push_str(&format_ago(now.saturating_sub(record.finished_at)));
        Some(text)
    }
}

/// `just now`, `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn format_ago(secs: u64) -> String {
    match secs {
        0..=9 => "just now".to_owned(),
        10..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {

    use std::time::Duration;

    use super::*;
    use crate::event::{EnvStatus, ExitKind, RunEvent, StopCause};
    use crate::plan::tests::plan_of as plan;

    fn with_durations(durations: &[(&str, u64)]) -> History {
        let mut history = History::default();
        for &(name, ms) in durations {
            history.envs.insert(
                name.to_owned(),
                EnvRecord {
                    duration_ms: Some(ms),
                    verdict: "passed".into(),
                    outcome: "passed".into(),
                    finished_at: 0,
                    attempt: 1,
                    flaky: false,
                    cpu_ms: None,
                    peak_rss_bytes: None,
                },
            );
        }
        history
    }

    fn result(status: EnvStatus, ms: u64) -> EnvResult {
        EnvResult::new(status, Duration::from_millis(ms), "x.log")
    }

    #[test]
    fn durations_come_from_each_envs_newest_record() {
        let mut old = with_durations(&[("a", 100), ("b", 200)]);
        let mut new = with_durations(&[("a", 900), ("c", 300)]);
        for record in old.envs.values_mut() {
            record.finished_at = 10;
        }
        for record in new.envs.values_mut() {
            record.finished_at = 20;
        }
        new.envs.insert(
            "d".to_owned(),
            EnvRecord {
                duration_ms: None,
                ..new.envs["c"].clone()
            },
        );
        let merged = newest_durations(&[new.clone(), old.clone()]);
        let expected: BTreeMap<String, u64> = [("a", 900), ("b", 200), ("c", 300)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(merged, expected);
        assert_eq!(
            newest_durations(&[old, new]),
            expected,
            "order does not matter"
        );
    }

    #[test]
    fn record_keeps_durations_of_complete_attempts_only() {
        let plan = plan(&[
            ("ok", &[]),
            ("bad", &[]),
            ("skip", &[1]),
            ("stop", &[]),
            ("gone", &[]),
        ]);
        let mut history = with_durations(&[("skip", 700), ("stop", 800)]);
        let mut summary = Summary::new(&plan);
        let finished = |env, result| RunEvent::EnvFinished { env, result };
        let mut flaky = result(EnvStatus::Passed, 1200);
        flaky.attempt = 2;
        summary.record(&finished(0, flaky));
        let exit = EnvStatus::Failed {
            command: 0,
            exit: ExitKind::Code(3),
        };
        summary.record(&finished(1, result(exit.clone(), 300)));
        let skipped = EnvStatus::Skipped {
            dependency: "bad".into(),
        };
        summary.record(&finished(2, result(skipped, 0)));
        let mut stopped = result(exit, 50);
        stopped.stopped_by = Some(StopCause::Interrupted);
        summary.record(&finished(3, stopped));
        history.record(&plan, &summary, "run-1", 1000);

        let get = |name: &str| history.envs[name].clone();
        assert_eq!(get("ok").duration_ms, Some(1200));
        assert_eq!(get("ok").verdict, "passed");
        assert!(get("ok").flaky);
        assert_eq!(get("ok").outcome, "passed on attempt 2 (flaky)");
        assert_eq!(get("bad").duration_ms, Some(300));
        assert_eq!(get("bad").outcome, "exit 3");
        assert_eq!(get("skip").duration_ms, Some(700));
        assert_eq!(get("skip").verdict, "skipped");
        assert_eq!(get("stop").duration_ms, Some(800));
        assert_eq!(get("stop").verdict, "interrupted");
        assert_eq!(get("gone").verdict, "not_finished");
        assert_eq!(get("gone").outcome, "not run");
        assert_eq!(get("gone").finished_at, 1000);
        assert_eq!(
            history.rerun_list(),
            Some(
                &[
                    "bad".to_owned(),
                    "skip".into(),
                    "stop".into(),
                    "gone".into()
                ][..]
            )
        );
        history.retain(["ok", "bad"]);
        assert_eq!(history.envs.len(), 2);
    }

    #[test]
    fn save_and_load_round_trip_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        assert_eq!(History::load(&file).unwrap(), History::default());
        assert_eq!(History::default().rerun_list(), None);
        let mut history = with_durations(&[("a", 5)]);
        history.last_run = Some(LastRun {
            run_id: "r".into(),
            finished_at: 9,
            envs: vec!["a".into()],
            not_passed: Vec::new(),
        });
        history.save(&file).unwrap();
        let loaded = History::load(&file).unwrap();
        assert_eq!(loaded.schema, SCHEMA);
        assert_eq!(loaded.envs, history.envs);
        assert_eq!(loaded.rerun_list(), Some(&[][..]));
        let mut leftovers: Vec<_> = fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        leftovers.sort();
        assert_eq!(leftovers, [".gitignore", "history.json"]);
    }

    #[test]
    fn the_state_folder_gets_a_gitignore_that_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_dir(dir.path());
        prepare_dir(&state).unwrap();
        let ignore = state.join(".gitignore");
        assert_eq!(fs::read_to_string(&ignore).unwrap(), GITIGNORE);
        assert!(GITIGNORE.lines().any(|line| line == "*"));
        fs::write(&ignore, "!keep-me\n").unwrap();
        prepare_dir(&state).unwrap();
        History::default().save(&path(dir.path())).unwrap();
        assert_eq!(fs::read_to_string(&ignore).unwrap(), "!keep-me\n");
        // Saving the history creates the folder, and the `.gitignore`, when nothing else did.
        let fresh = tempfile::tempdir().unwrap();
        History::default().save(&path(fresh.path())).unwrap();
        assert_eq!(
            fs::read_to_string(state_dir(fresh.path()).join(".gitignore")).unwrap(),
            GITIGNORE
        );
    }

    #[test]
    fn a_special_file_as_history_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("history.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // A FIFO with no writer: a plain open would block forever, so the load runs on a
        // thread with a deadline (a hang fails the test, and a writer then releases it).
        let (send, receive) = std::sync::mpsc::channel();
        let reader = fifo.clone();
        std::thread::spawn(move || {
            let _ = send.send(History::load(&reader).map_err(|e| e.to_string()));
        });
        let loaded = receive.recv_timeout(std::time::Duration::from_secs(30));
        if loaded.is_err() {
            let _ = fs::OpenOptions::new().write(true).open(&fifo);
        }
        assert_eq!(
            loaded.expect("History::load returns, never blocks on a FIFO"),
            Err(format!(
                "cannot read {}: not a regular file (a FIFO)",
                fifo.display()
            ))
        );
        assert!(
            History::load(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string()
                .ends_with("not a regular file (a character device)")
        );
        let big = dir.path().join("big.json");
        fs::File::create(&big)
            .unwrap()
            .set_len(crate::config::MAX_FILE_SIZE + 1)
            .unwrap();
        assert!(
            History::load(&big)
                .unwrap_err()
                .to_string()
                .ends_with("larger than 16 MiB, the most runall reads")
        );
    }

    #[test]
    fn unreadable_history_is_an_error_the_caller_can_ignore() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.json");
        fs::write(&file, "{not json").unwrap();
        let message = History::load(&file).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("cannot use {}: ", file.display())),
            "{message}"
        );
        fs::write(&file, r#"{"schema": 99}"#).unwrap();
        let message = History::load(&file).unwrap_err().to_string();
        assert!(
            message.ends_with("schema 99 is not the supported 1"),
            "{message}"
        );
    }

    #[test]
    fn record_keeps_the_last_measured_cpu_and_peak_for_max_memory_and_list() {
        let plan = plan(&[("big", &[]), ("later", &[])]);
        let mut history = History::default();
        let mut summary = Summary::new(&plan);
        let mut big = result(EnvStatus::Passed, 2100);
        big.resources.add(Duration::from_secs(2), 310 << 20);
        summary.record(&RunEvent::EnvFinished {
            env: 0,
            result: big,
        });
        history.record(&plan, &summary, "run-1", 1000);
        assert_eq!(history.peak_rss("big"), Some(310 << 20));
        assert_eq!(history.envs["big"].cpu_ms, Some(2000));
        assert_eq!(history.peak_rss("later"), None);
        assert_eq!(
            history.describe_last("big", 1300).as_deref(),
            Some("passed in 2.1s (2.00s CPU, 310 MiB peak), 5m ago")
        );
        // A run in which it did not run keeps the figures of the run before.
        let mut summary = Summary::new(&plan);
        let skipped = EnvStatus::Skipped {
            dependency: "x".into(),
        };
        summary.record(&RunEvent::EnvFinished {
            env: 0,
            result: result(skipped, 0),
        });
        history.record(&plan, &summary, "run-2", 2000);
        assert_eq!(history.peak_rss("big"), Some(310 << 20));
        // The file keeps them (and reads files written before they existed).
        let text = serde_json::to_string(&history).expect("serialise");
        let back: History = serde_json::from_str(&text).expect("read back");
        assert_eq!(back.peak_rss("big"), Some(310 << 20));
        let old: History = serde_json::from_str(
            r#"{"schema":1,"envs":{"a":{"duration_ms":5,"verdict":"passed","outcome":"passed",
               "finished_at":1,"attempt":1,"flaky":false}}}"#,
        )
        .expect("an older history");
        assert_eq!(old.peak_rss("a"), None);
    }

    #[test]
    fn describe_last_says_outcome_duration_and_age() {
        let history = with_durations(&[("a", 1500)]);
        assert_eq!(
            history.describe_last("a", 300).as_deref(),
            Some("passed in 1.5s, 5m ago")
        );
        assert_eq!(history.describe_last("b", 300), None);
        assert_eq!(format_ago(3), "just now");
        assert_eq!(format_ago(7300), "2h ago");
        assert_eq!(format_ago(200_000), "2d ago");
    }
}
