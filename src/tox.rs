//! tox projects as they are: runall reads tox's own configuration.
//!
//! When no runall.toml is found (or with `-c tox.ini|setup.cfg|pyproject.toml|tox.toml`, or
//! `tox = true` in runall.toml's `[settings]`), the envs come from tox: [`discover`] finds the
//! file in tox's own order, [`query`] asks tox itself to resolve it (`tox config --format
//! json`: factors, conditional lines, substitutions, inheritance and tox.toml's `replace`/`ref`
//! stay tox's business), and [`mapping`] turns the answer into the same [`Config`] values
//! runall.toml produces, so the plan and the runner are unchanged. Each tox env runs
//! `tox run -e NAME`; the project's package is built once for the envs that install it.

pub mod cache;
pub mod discover;
pub mod mapping;
pub mod query;

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, Settings, Timeouts};

pub use query::ToxCommand;

/// The interrupt ladder for a config read from tox: SIGINT, then 5 s for tox to stop its
/// command (tox itself gives it 0.3 s + 0.2 s before SIGKILL) and finish its own teardown on
/// a loaded machine, then SIGTERM and 4 s more before SIGKILL; 9 s in all, inside runall's
/// 15 s emergency deadline.
pub const TOX_TIMEOUTS: Timeouts = Timeouts {
    interrupt: Duration::from_secs(5),
    terminate: Duration::from_secs(4),
    leak: Duration::from_millis(500),
};

/// Why tox's configuration could not be read (exit 2, nothing started).
#[derive(Debug, thiserror::Error)]
pub enum ToxError {
    /// The tox program is not there.
    #[error(
        "tox not found: `{program}` (from {from}) is not an executable on PATH; runall needs tox 4 \
         with `tox config --format json` (install it, e.g. `pip install tox`, or set RUNALL_TOX, \
         e.g. RUNALL_TOX=\"uvx tox\")"
    )]
    NotFound {
        /// The program runall tried.
        program: String,
        /// Where that came from.
        from: &'static str,
    },
    /// tox is too old for `tox config --format json`.
    #[error(
        "`{tox}` is {found}, which has no `tox config --format json`; runall needs a tox 4 release \
         that has it (added by tox PR #3857, 2026): upgrade tox (`pip install -U tox`) or set \
         RUNALL_TOX"
    )]
    TooOld {
        /// The command.
        tox: String,
        /// What `--version` said.
        found: String,
    },
    /// tox could not be started for another reason.
    #[error("cannot run `{tox}`: {source}")]
    Spawn {
        /// The command.
        tox: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// tox refused the configuration (its message, sanitised).
    #[error("{}: tox cannot read it (`{tox} config` said):\n  {message}", file.display())]
    Config {
        /// The configuration file.
        file: PathBuf,
        /// The command.
        tox: String,
        /// tox's words.
        message: String,
    },
    /// `RUNALL_TOX` is unusable.
    #[error("RUNALL_TOX: {message}")]
    BadRunallTox {
        /// Why.
        message: String,
    },
    /// A tox env's name cannot be a runall env's name (it names the log files).
    #[error(
        "{}: tox env `{env}`: runall env names use letters, digits, `.`, `_` and `-` only",
        file.display()
    )]
    EnvName {
        /// The configuration file.
        file: PathBuf,
        /// The env.
        env: String,
    },
    /// tox's `depends` go round.
    #[error("{}: env.{env}.depends: dependency cycle: {cycle}", file.display())]
    Cycle {
        /// The configuration file.
        file: PathBuf,
        /// The env the cycle is named from.
        env: String,
        /// `a -> b -> a`.
        cycle: String,
    },
    /// `tox = true` in runall.toml, but no tox configuration there.
    #[error(
        "{}: settings.tox: no tox configuration (tox.ini, setup.cfg, pyproject.toml, tox.toml) in {} \
         or any parent folder",
        config.display(), dir.display()
    )]
    NoToxConfig {
        /// runall.toml.
        config: PathBuf,
        /// Its folder.
        dir: PathBuf,
    },
}

/// tox's answer, fresh from tox, waiting to be kept ([`Kept::keep`]) once the run or the
/// command got past its checks: a run that exits 2 leaves nothing behind.
#[derive(Debug, Default)]
#[must_use = "an answer not kept is asked of tox again next time"]
pub struct Kept(Option<Pending>);

/// An answer to keep: where, under which key, for which configuration folder.
#[derive(Debug)]
struct Pending {
    root: PathBuf,
    path: PathBuf,
    key: String,
    answer: serde_json::Value,
}

impl Kept {
    /// Writes the answer into `.runall/tox/` of its configuration's folder (made with its
    /// `.gitignore` like every `.runall`); a failure is a warning on stderr.
    pub fn keep(self) {
        let Some(pending) = self.0 else {
            return;
        };
        let written = crate::history::prepare_dir(&crate::history::state_dir(&pending.root))
            .and_then(|()| cache::store(&pending.path, &pending.key, &pending.answer));
        if let Err(error) = written {
            let note = format!(
                "runall: warning: cannot keep tox's answer in {}: {error}\n",
                pending.path.display()
            );
            crate::stdio::write_stderr(note.as_bytes());
        }
    }
}

/// The tox envs of `file`, asked of `tox` (see the module doc), or made from the answer kept
/// under the same key; a fresh answer comes back as [`Kept`], to keep once the run is sure.
pub fn envs_of(
    file: &Path,
    tox: &ToxCommand,
) -> Result<(PathBuf, Vec<crate::config::EnvConfig>, Kept), ToxError> {
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let root = query::folder_of(&file);
    let key_now = || {
        // Not when tox cannot be found: asking it says so.
        Some(cache::Inputs::gather(&tox.argv, &file))
            .filter(|inputs| inputs.program.is_some())
            .map(|inputs| inputs.key(&query::KEYS))
    };
    let cached = cache::enabled(std::env::var_os("RUNALL_TOX_CACHE").as_deref());
    let key = if cached { key_now() } else { None };
    let path = cache::path_for(&mapping::state_dir(&root), &file);
    let answer = key.as_ref().and_then(|key| cache::load(&path, key));
    let fresh = answer.is_none();
    let json = match answer {
        Some(json) => json,
        None => tox.config_json(&file)?,
    };
    let project = mapping::ToxProject::from_json(&file, &json)?;
    let envs = mapping::envs(&project, &file, &root, &tox.argv)?;
    // Kept only once it made envs (a refused configuration is asked again next time), and
    // only when nothing tox reads changed while it answered.
    let kept = match key {
        Some(key) if fresh && key_now().as_ref() == Some(&key) => Kept(Some(Pending {
            root: root.clone(),
            path,
            key,
            answer: json,
        })),
        _ => Kept::default(),
    };
    Ok((root, envs, kept))
}

/// A config of only tox's envs, read from the tox configuration `file`: runall's defaults
/// with [`TOX_TIMEOUTS`]; with tox's answer to keep.
pub fn load(file: &Path, runall_tox: Option<&OsStr>) -> Result<(Config, Kept), ToxError> {
    let tox = ToxCommand::resolve(runall_tox, None)?;
    let (root, envs, kept) = envs_of(file, &tox)?;
    let config = Config {
        path: file.to_path_buf(),
        root,
        settings: Settings {
            timeouts: TOX_TIMEOUTS,
            ..Settings::default()
        },
        envs,
    };
    Ok((config, kept))
}

/// The envs of the nearest tox configuration from `root` (runall.toml's folder, `config` its
/// path, for messages), for runall.toml under `tox = true`: they go after its own envs, which
/// may name them in `depends` and `after` (see [`crate::config::load_with`]).
pub fn envs_beside(
    config: &Path,
    root: &Path,
    settings: &Settings,
    runall_tox: Option<&OsStr>,
) -> Result<(Vec<crate::config::EnvConfig>, Kept), ToxError> {
    let tox = ToxCommand::resolve(runall_tox, settings.tox_command.as_deref())?;
    let file = discover::find(root).ok_or_else(|| ToxError::NoToxConfig {
        config: config.to_path_buf(),
        dir: root.to_path_buf(),
    })?;
    let (_, envs, kept) = envs_of(&file, &tox)?;
    Ok((envs, kept))
}

/// After a run: when a package build step of tox's envs failed, the kept answers of its
/// configuration are forgotten, so the next run asks tox again (the key cannot see every
/// change that makes tox build with another env or skip one).
pub fn forget_after_failed_builds(
    config: &Config,
    plan: &crate::plan::Plan,
    summary: &crate::report::Summary,
) {
    use crate::config::EnvOrigin;
    use crate::event::Verdict;
    for (id, env) in plan.envs.iter().enumerate() {
        let Some(EnvOrigin::ToxPackage(file)) = config.env(&env.name).map(|env| &env.origin) else {
            continue;
        };
        let failed = summary
            .result(id)
            .is_some_and(|result| result.verdict() == Verdict::Failed);
        if !failed {
            continue;
        }
        let state = mapping::state_dir(&query::folder_of(file));
        if let Err(error) = cache::forget_all(&state) {
            let note = format!(
                "runall: warning: cannot forget tox's answers in {}: {error}\n",
                state.display()
            );
            crate::stdio::write_stderr(note.as_bytes());
        }
    }
}

/// `config` without the package builds that `plan` (the selection made from `config`) would
/// run for a single env, and the names of the envs to run: such an env runs its own build
/// (`own_build`: a plain `tox run`, which builds the package itself, as tox alone does),
/// since a separate build step would only add a tox start; so does a tox env whose build
/// step is not in the plan at all (`--no-deps`, `--rerun-failed`), which would otherwise
/// install an earlier run's package. The names are the plan's envs less the folded steps,
/// to be planned exactly (no closure, no second shard split, which could differ once the
/// steps are gone). `None` when no env of the plan is like that.
pub fn without_single_builds(
    config: &Config,
    plan: &crate::plan::Plan,
) -> Option<(Config, Vec<String>)> {
    use crate::config::EnvOrigin;
    let is_step = |name: &str| {
        config
            .env(name)
            .is_some_and(|env| matches!(env.origin, EnvOrigin::ToxPackage(_)))
    };
    let in_plan = |name: &str| plan.envs.iter().any(|env| env.name == name);
    let mut fold: Vec<(String, String)> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for (step_id, step) in plan.envs.iter().enumerate() {
        if !is_step(&step.name) {
            continue;
        }
        let users: Vec<&str> = plan
            .envs
            .iter()
            .filter(|env| env.depends.contains(&step_id))
            .map(|env| env.name.as_str())
            .collect();
        if let [user] = users[..] {
            fold.push((user.to_owned(), step.name.clone()));
            dropped.push(&step.name);
        }
    }
    for env in &plan.envs {
        let Some(own) = config.env(&env.name) else {
            continue;
        };
        for dep in &own.depends {
            if is_step(dep) && !in_plan(dep) {
                fold.push((env.name.clone(), dep.clone()));
            }
        }
    }
    let mut out = config.clone();
    let mut changed = false;
    for (user, step) in &fold {
        let Some(env) = out.envs.iter_mut().find(|env| env.name == *user) else {
            continue;
        };
        if let EnvOrigin::Tox {
            own_build: Some(command),
            ..
        } = &env.origin
        {
            env.commands = vec![command.clone()];
            env.depends.retain(|dep| dep != step);
            changed = true;
        }
    }
    let keep = plan
        .envs
        .iter()
        .map(|env| env.name.clone())
        .filter(|name| !dropped.contains(&name.as_str()))
        .collect();
    changed.then_some((out, keep))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{EnvConfig, EnvOrigin, RawCommand};
    use crate::plan::{self, Selection};

    fn env(name: &str, depends: &[&str], origin: EnvOrigin) -> EnvConfig {
        let mut config = crate::config::parse(
            Path::new("/p/runall.toml"),
            &format!("[env.{name:?}]\ncommands = [\"packaged {name}\"]\n"),
        )
        .unwrap()
        .envs
        .remove(0);
        config.depends = depends.iter().map(|d| (*d).to_owned()).collect();
        config.default = !name.starts_with('.');
        config.origin = origin;
        config
    }

    #[test]
    fn a_build_for_one_env_folds_into_that_env() {
        let tox = |name: &str| EnvOrigin::Tox {
            file: "/p/tox.ini".into(),
            own_build: Some(RawCommand::Shell(format!("own {name}"))),
        };
        let config = Config {
            path: "/p/tox.ini".into(),
            root: "/p".into(),
            settings: crate::config::Settings::default(),
            envs: vec![
                env(".package", &[], EnvOrigin::ToxPackage("/p/tox.ini".into())),
                env("a", &[".package"], tox("a")),
                env("b", &[".package"], tox("b")),
            ],
        };
        let select = |patterns: &[&str]| Selection {
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            default_jobs: 2,
            ..Selection::default()
        };
        // Two envs share the build: nothing changes.
        let both = plan::build(&config, &select(&[])).unwrap();
        assert_eq!(both.envs.len(), 3);
        assert!(without_single_builds(&config, &both).is_none());
        // One env alone builds its own package.
        let one = plan::build(&config, &select(&["b"])).unwrap();
        let (folded, keep) = without_single_builds(&config, &one).expect("folded");
        assert_eq!(keep, ["b"]);
        let exact = Selection {
            only: Some(keep),
            ..select(&[])
        };
        let plan = plan::build(&folded, &exact).unwrap();
        let names: Vec<&str> = plan.envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["b"]);
        assert_eq!(plan.envs[0].commands[0].display(), "own b");
        assert!(plan.envs[0].depends.is_empty());
        // Without its build step in the plan (`--no-deps`, `--rerun-failed`), an env would
        // install an earlier run's package: it builds its own instead.
        let no_deps = Selection {
            no_deps: true,
            ..select(&["a", "b"])
        };
        let bare = plan::build(&config, &no_deps).unwrap();
        assert_eq!(bare.envs.len(), 2, "no build step in the plan");
        let (folded, keep) = without_single_builds(&config, &bare).expect("folded");
        assert_eq!(keep, ["a", "b"]);
        let exact = Selection {
            only: Some(keep),
            ..select(&[])
        };
        let plan = plan::build(&folded, &exact).unwrap();
        let commands: Vec<String> = plan.envs.iter().map(|e| e.commands[0].display()).collect();
        assert_eq!(commands, ["own a", "own b"]);
    }
}
