//! Launchers: running an env's commands through a distributed engine's client (`srun`, `ssh`,
//! `kubectl exec`) that stays runall's child. This module owns the model (a [`Launcher`]: the
//! prefix, the ladder hooks, the queued markers), the `slurm` preset, the placeholders
//! (`{env}`, `{run_id}`, `{attempt}`) and how a command is wrapped ([`Launcher::wrap`]). It is
//! pure: the runner runs the words it returns (`runner::hooks`), and [`emergency`] keeps the
//! cancel commands an emergency exit still has to run.

use crate::plan::CommandSpec;

/// The placeholders a launcher's words may hold.
pub const PLACEHOLDERS: [&str; 3] = ["env", "run_id", "attempt"];
/// The presets `launcher = "NAME"` knows.
pub const PRESETS: [&str; 1] = ["slurm"];

/// Which of the ladder's signals go to the local process (the launcher's client) when the
/// step has a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocalSignals {
    /// Every step signals the local process group too, as without a launcher.
    #[default]
    All,
    /// Only SIGKILL does; SIGINT and SIGTERM reach the job through the hooks only (srun
    /// turns a local SIGINT or SIGTERM into killing the job's step, cutting its traps short).
    KillOnly,
}

/// A step of the ladder a hook can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first step (SIGINT, or the signal runall got).
    Interrupt,
    /// SIGTERM (also an env's own timeout).
    Terminate,
    /// SIGKILL.
    Kill,
    /// After the command ended once the ladder was engaged (a final sweep), and in place of
    /// any step while the job is still queued: remove what is left of it from the cluster.
    Cancel,
}

impl Step {
    /// The step a signal of the ladder is.
    pub fn of_signal(signal: i32) -> Self {
        match signal {
            libc::SIGKILL => Self::Kill,
            libc::SIGTERM => Self::Terminate,
            _ => Self::Interrupt,
        }
    }

    /// Its name in the config (`interrupt`, `terminate`, `kill`, `cancel`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "interrupt",
            Self::Terminate => "terminate",
            Self::Kill => "kill",
            Self::Cancel => "cancel",
        }
    }
}

/// How an env's commands are launched; words hold placeholders until [`Vars`] fill them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Launcher {
    /// The prefix: an argv command becomes `command + argv`, a shell string
    /// `command + ["/bin/sh", "-c", string]`. Never empty.
    pub command: Vec<String>,
    /// Run (in addition to signalling, see `local_signals`) at the ladder's first step.
    pub interrupt: Option<Vec<String>>,
    /// Run at SIGTERM.
    pub terminate: Option<Vec<String>>,
    /// Run at SIGKILL.
    pub kill: Option<Vec<String>>,
    /// Run after a stopped command ended, when stopping a queued job, and by an emergency exit.
    pub cancel: Option<Vec<String>>,
    /// Which signals also go to the local process group when a step has a hook.
    pub local_signals: LocalSignals,
    /// Text on the launcher's output saying the job waits for the cluster (queued state).
    pub queued: Option<String>,
    /// Text saying the queued job started.
    pub started: Option<String>,
}

/// What the placeholders stand for in one launch.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// `{env}`: the env's name.
    pub env: &'a str,
    /// `{run_id}`: the run's `RUNALL_RUN_ID`.
    pub run_id: &'a str,
    /// `{attempt}`: 1 for the first try, 2 for the first retry, …
    pub attempt: u32,
}

impl Launcher {
    /// The `slurm` preset: `srun --quit-on-interrupt --job-name={run_id}-{env}`, then `args`
    /// (more srun options), and the hooks through `scancel --name={run_id}-{env}`.
    pub fn slurm(args: &[String]) -> Self {
        let name = "--name={run_id}-{env}";
        let scancel = |signal: Option<&str>| {
            let mut words = vec!["scancel".to_owned()];
            if let Some(signal) = signal {
                words.push(format!("--signal={signal}"));
            }
            words.push(name.to_owned());
            Some(words)
        };
        let mut command = vec![
            "srun".to_owned(),
            "--quit-on-interrupt".to_owned(),
            "--job-name={run_id}-{env}".to_owned(),
        ];
        command.extend(args.iter().cloned());
        Self {
            command,
            interrupt: scancel(Some("INT")),
            terminate: scancel(Some("TERM")),
            kill: scancel(Some("KILL")),
            cancel: scancel(None),
            local_signals: LocalSignals::KillOnly,
            queued: Some("queued and waiting for resources".to_owned()),
            started: Some("has been allocated resources".to_owned()),
        }
    }

    /// The preset called `name` with extra launcher `args`, if there is one.
    pub fn preset(name: &str, args: &[String]) -> Option<Self> {
        (name == "slurm").then(|| Self::slurm(args))
    }

    /// The argv that launches `command`, placeholders filled.
    pub fn wrap(&self, command: &CommandSpec, vars: Vars<'_>) -> Vec<String> {
        let mut argv = expand_all(&self.command, vars);
        match command {
            CommandSpec::Argv(words) => argv.extend(words.iter().cloned()),
            CommandSpec::Shell(script) => {
                argv.extend(["/bin/sh".to_owned(), "-c".to_owned(), script.clone()]);
            }
        }
        argv
    }

    /// The hook of `step`, placeholders filled, if the launcher has one.
    pub fn hook(&self, step: Step, vars: Vars<'_>) -> Option<Vec<String>> {
        let words = match step {
            Step::Interrupt => &self.interrupt,
            Step::Terminate => &self.terminate,
            Step::Kill => &self.kill,
            Step::Cancel => &self.cancel,
        };
        words.as_deref().map(|words| expand_all(words, vars))
    }

    /// Whether the ladder's `signal` also goes to the local process group.
    pub fn signals_locally(&self, signal: i32) -> bool {
        match self.local_signals {
            LocalSignals::All => true,
            LocalSignals::KillOnly => signal == libc::SIGKILL,
        }
    }
}

fn expand_all(words: &[String], vars: Vars<'_>) -> Vec<String> {
    words.iter().map(|word| expand(word, vars)).collect()
}

/// `word` with `{env}`, `{run_id}` and `{attempt}` replaced; every other brace is kept as
/// written (`${HOME}`, `{}` in a `find -exec`), as [`check_word`] allows.
pub fn expand(word: &str, vars: Vars<'_>) -> String {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let value = match &after[..close] {
                "env" => vars.env.to_owned(),
                "run_id" => vars.run_id.to_owned(),
                "attempt" => vars.attempt.to_string(),
                _ => return None,
            };
            Some((value, close))
        });
        if let Some((value, close)) = value {
            out.push_str(&value);
            rest = &after[close + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Rejects a `{name}` that looks like a placeholder but is none of [`PLACEHOLDERS`] (a typo
/// such as `{run-id}` or `{envname}` would otherwise reach the cluster as written); `${…}`
/// (shell syntax) and braces around anything but a name are left alone.
pub fn check_word(word: &str) -> Result<(), String> {
    let mut at = 0;
    while let Some(found) = word[at..].find('{') {
        let open = at + found;
        at = open + 1;
        if word[..open].ends_with('$') {
            continue;
        }
        let Some(close) = word[open + 1..].find('}') else {
            continue;
        };
        let name = &word[open + 1..open + 1 + close];
        let looks_like_one = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if looks_like_one && !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{name}}}` (known: {{env}}, {{run_id}}, {{attempt}})"
            ));
        }
    }
    Ok(())
}

pub mod emergency {
    //! The cancel commands an emergency exit (third Ctrl-C, the hard deadline) runs after
    //! killing every local group: one per env whose launched job may still be in the cluster.
    //! The runner registers an env's when it launches a command and forgets it once the
    //! env's final cancel ran or its commands ended on their own.

    use std::collections::BTreeMap;
    use std::process::{Command, Stdio};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// How long an emergency exit waits for the cancel commands, all together.
    pub const WAIT: Duration = Duration::from_millis(1500);

    /// A cancel command: its argv and what it adds to runall's environment.
    type Cancel = (Vec<String>, Vec<(String, String)>);

    static PENDING: Mutex<BTreeMap<usize, Cancel>> = Mutex::new(BTreeMap::new());

    /// Env `env`'s job may be in the cluster until `cancel` runs (with `vars` added to the
    /// environment).
    pub fn register(env: usize, cancel: Vec<String>, vars: Vec<(String, String)>) {
        if let Ok(mut pending) = PENDING.lock() {
            pending.insert(env, (cancel, vars));
        }
    }

    /// Env `env` has nothing left in the cluster.
    pub fn forget(env: usize) {
        if let Ok(mut pending) = PENDING.lock() {
            pending.remove(&env);
        }
    }

    /// Run every registered cancel command at once and wait for them, at most [`WAIT`]. Never
    /// blocks on the registry (an emergency may interrupt a thread holding it).
    pub fn run_all() {
        // `try_lock`, never `lock`: the thread that holds it may be the one running this. The
        // runner holds it only for an insert or a remove, so a few tries find it free.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(100);
        let commands: Vec<Cancel> = loop {
            match PENDING.try_lock() {
                Ok(pending) => break pending.values().cloned().collect(),
                Err(std::sync::TryLockError::Poisoned(pending)) => {
                    break pending.into_inner().values().cloned().collect();
                }
                Err(std::sync::TryLockError::WouldBlock)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(std::sync::TryLockError::WouldBlock) => return,
            }
        };
        let mut children = Vec::new();
        for (words, vars) in commands {
            let Some((program, args)) = words.split_first() else {
                continue;
            };
            if let Ok(child) = Command::new(program)
                .args(args)
                .envs(vars)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                children.push(child);
            }
        }
        let deadline = Instant::now() + WAIT;
        while !children.is_empty() && Instant::now() < deadline {
            children.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: Vars<'static> = Vars {
        env: "unit",
        run_id: "1a-2b",
        attempt: 2,
    };

    #[test]
    fn placeholders_expand_and_other_braces_stay() {
        assert_eq!(expand("{run_id}-{env}", VARS), "1a-2b-unit");
        assert_eq!(expand("try{attempt}/{env}", VARS), "try2/unit");
        assert_eq!(expand("${HOME}/{}", VARS), "${HOME}/{}");
        assert_eq!(expand("{nope}{env}", VARS), "{nope}unit");
        assert_eq!(expand("{{env}}", VARS), "{unit}");
        assert_eq!(expand("{env", VARS), "{env");
        assert_eq!(expand("ü{env}ü", VARS), "üunitü");
    }

    #[test]
    fn typos_of_placeholders_are_rejected_shell_braces_are_not() {
        for ok in [
            "{env}",
            "--name={run_id}-{env}",
            "${HOME}",
            "{}",
            "a{b c}",
            "{",
            "}{",
        ] {
            assert_eq!(check_word(ok), Ok(()), "{ok}");
        }
        for bad in ["{run-id}", "{envname}", "x{ATTEMPT}"] {
            let err = check_word(bad).unwrap_err();
            assert!(err.starts_with("unknown placeholder `{"), "{bad}: {err}");
            assert!(err.contains("known: {env}, {run_id}, {attempt}"), "{err}");
        }
    }

    #[test]
    fn wrap_prefixes_argv_and_runs_shell_strings_through_sh() {
        let launcher = Launcher {
            command: vec!["ssh".into(), "host-{attempt}".into(), "--".into()],
            ..Launcher::default()
        };
        let argv = CommandSpec::Argv(vec!["make".into(), "{env}".into()]);
        // The command's own words are not the launcher's: they keep their braces.
        assert_eq!(
            launcher.wrap(&argv, VARS),
            ["ssh", "host-2", "--", "make", "{env}"]
        );
        let shell = CommandSpec::Shell("echo a && echo b".into());
        assert_eq!(
            launcher.wrap(&shell, VARS),
            ["ssh", "host-2", "--", "/bin/sh", "-c", "echo a && echo b"]
        );
    }

    #[test]
    fn the_slurm_preset_names_the_job_and_cancels_it_by_name() {
        let slurm = Launcher::preset("slurm", &["--partition=debug".to_owned()]).unwrap();
        let shell = CommandSpec::Shell("pytest".into());
        assert_eq!(
            slurm.wrap(&shell, VARS),
            [
                "srun",
                "--quit-on-interrupt",
                "--job-name=1a-2b-unit",
                "--partition=debug",
                "/bin/sh",
                "-c",
                "pytest"
            ]
        );
        let hook = |step| slurm.hook(step, VARS).unwrap().join(" ");
        assert_eq!(
            hook(Step::Interrupt),
            "scancel --signal=INT --name=1a-2b-unit"
        );
        assert_eq!(
            hook(Step::Terminate),
            "scancel --signal=TERM --name=1a-2b-unit"
        );
        assert_eq!(hook(Step::Kill), "scancel --signal=KILL --name=1a-2b-unit");
        assert_eq!(hook(Step::Cancel), "scancel --name=1a-2b-unit");
        assert!(!slurm.signals_locally(libc::SIGINT));
        assert!(!slurm.signals_locally(libc::SIGTERM));
        assert!(slurm.signals_locally(libc::SIGKILL));
        assert!(Launcher::default().signals_locally(libc::SIGINT));
        assert_eq!(Launcher::preset("pbs", &[]), None);
    }

    #[test]
    fn signals_map_to_steps() {
        assert_eq!(Step::of_signal(libc::SIGINT), Step::Interrupt);
        assert_eq!(Step::of_signal(libc::SIGHUP), Step::Interrupt);
        assert_eq!(Step::of_signal(libc::SIGTERM), Step::Terminate);
        assert_eq!(Step::of_signal(libc::SIGKILL), Step::Kill);
    }
}
