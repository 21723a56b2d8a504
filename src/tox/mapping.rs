//! tox's answer (`tox config --format json`) → runall's typed envs. Pure: the JSON, the tox
//! command and the folders come in, [`EnvConfig`]s (the same values runall.toml produces) go
//! out, so the plan and the runner treat tox envs like any other.
//!
//! | tox | runall |
//! |---|---|
//! | a run env (package envs such as `.pkg` are dropped) | an env running `tox run -e NAME` (`-- POSARGS` when given) |
//! | `env_list` | the envs run when none is named |
//! | `description` | `description` |
//! | `labels`, and the core `labels = {NAME = [...]}` | `labels` (`label:NAME` selects what `tox -m NAME` does) |
//! | `depends` | `after` (ordering only, as in tox) |
//! | `package = "wheel"`/`"sdist"` (not `skip_install`) | `depends` on one package build per package env, handed over with `--installpkg` |
//! | missing interpreter (`skip_missing_interpreters`) | skipped with tox's reason |

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ToxError;
use crate::config::{EnvConfig, EnvOrigin, LeakPolicy, RawCommand, SkipProbe, StderrMode};
use crate::plan::DASHED_POSARGS;

/// One tox run env, as tox resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToxEnv {
    /// tox's name.
    pub name: String,
    /// Its description (may be empty).
    pub description: String,
    /// Its `depends`, as tox resolved them.
    pub depends: Vec<String>,
    /// Its own labels plus the core labels that name it.
    pub labels: Vec<String>,
    /// `skip_install`.
    pub skip_install: bool,
    /// `package`: `wheel`, `sdist`, `editable`, `skip`, …
    pub package: String,
    /// The package env that builds its package (`wheel_build_env` for wheels, else
    /// `package_env`), if it has one.
    pub package_env: Option<String>,
    /// tox's reason when the env's interpreter cannot be found (it would be skipped).
    pub missing_interpreter: Option<String>,
}

impl ToxEnv {
    /// Whether a package built once can be handed to it with `--installpkg`: it installs
    /// the project's wheel or sdist (an editable install must be built by the env itself).
    pub fn shares_package(&self) -> bool {
        !self.skip_install && matches!(self.package.as_str(), "wheel" | "sdist")
    }
}

/// tox's configuration, as tox resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToxProject {
    /// The run envs, in tox's order.
    pub envs: Vec<ToxEnv>,
    /// `env_list`: what plain `tox` runs.
    pub env_list: Vec<String>,
    /// Each package env's `pkg_dir` (where it writes what it builds).
    pub pkg_dirs: HashMap<String, PathBuf>,
}

impl ToxProject {
    /// Reads tox's JSON answer. `file` names the configuration in messages.
    pub fn from_json(file: &Path, value: &Value) -> Result<Self, ToxError> {
        let bad = |message: String| ToxError::Config {
            file: file.to_path_buf(),
            tox: "tox".to_owned(),
            message,
        };
        let envs_json = value
            .get("env")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("its JSON has no `env` table".to_owned()))?;
        let core = value.get("tox").and_then(Value::as_object);
        let env_list = core
            .and_then(|core| core.get("env_list"))
            .map(strings)
            .unwrap_or_default();
        let core_labels: Vec<(String, Vec<String>)> = core
            .and_then(|core| core.get("labels"))
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(label, envs)| (label.clone(), strings(envs)))
                    .collect()
            })
            .unwrap_or_default();
        let mut envs = Vec::new();
        let mut pkg_dirs = HashMap::new();
        for (name, conf) in envs_json {
            // Only run envs have `package` (and `skip_install`); package envs (`.pkg`, …)
            // have `pkg_dir` instead, and tox's internal envs start with a dot.
            let is_run_env = conf.get("package").is_some_and(Value::is_string);
            if let Some(dir) = conf.get("pkg_dir").and_then(Value::as_str) {
                pkg_dirs.insert(name.clone(), PathBuf::from(dir));
            }
            if !is_run_env || name.starts_with('.') {
                continue;
            }
            let mut labels = strings(conf.get("labels").unwrap_or(&Value::Null));
            for (label, members) in &core_labels {
                if members.contains(name) && !labels.contains(label) {
                    labels.push(label.clone());
                }
            }
            let package = conf
                .get("package")
                .and_then(Value::as_str)
                .unwrap_or("skip")
                .to_owned();
            let package_env_key = if package == "wheel" {
                "wheel_build_env"
            } else {
                "package_env"
            };
            envs.push(ToxEnv {
                name: name.clone(),
                description: conf
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
                depends: strings(conf.get("depends").unwrap_or(&Value::Null)),
                labels,
                skip_install: conf
                    .get("skip_install")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                package_env: conf
                    .get(package_env_key)
                    .or_else(|| conf.get("package_env"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                package,
                missing_interpreter: conf.get("py_dot_ver").and_then(skip_reason),
            });
        }
        Ok(Self {
            envs,
            env_list,
            pkg_dirs,
        })
    }
}

/// A JSON array of strings as a list (anything else: empty).
fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// tox's reason from a value it could not compute because the env would be skipped:
/// `{"error": "Skip('could not find python interpreter with spec(s): python2.5')"}`.
fn skip_reason(value: &Value) -> Option<String> {
    let error = value.get("error")?.as_str()?;
    let inner = error.strip_prefix("Skip(")?.strip_suffix(')')?;
    let unquoted = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        .unwrap_or(inner);
    Some(unquoted.to_owned())
}

/// Where runall keeps its tox files (result JSONs, the package's path) under a config root.
pub fn state_dir(root: &Path) -> PathBuf {
    crate::history::state_dir(root).join("tox")
}

/// The name of the package build step for the `n`-th (0-based) package env.
pub fn package_step_name(n: usize) -> String {
    if n == 0 {
        ".package".to_owned()
    } else {
        format!(".package-{}", n + 1)
    }
}

/// The runall envs for `project`, whose configuration is `file` in folder `root`, run with
/// `tox` (argv words): the package build steps first (not selected by default; pulled in by
/// the envs that need them), then tox's run envs in tox's order.
pub fn envs(
    project: &ToxProject,
    file: &Path,
    root: &Path,
    tox: &[String],
) -> Result<Vec<EnvConfig>, ToxError> {
    let state = state_dir(root);
    let names: Vec<&str> = project.envs.iter().map(|env| env.name.as_str()).collect();
    for env in &project.envs {
        if !valid_name(&env.name) {
            return Err(ToxError::EnvName {
                file: file.to_path_buf(),
                env: env.name.clone(),
            });
        }
    }
    let (mut out, step_of_env) = package_steps(project, file, root, tox);
    for (at, env) in project.envs.iter().enumerate() {
        let step = step_of_env.get(&at);
        // Only an env tox already said it would skip gets a result file: `--result-json`
        // makes tox run `pip freeze` in every env it sets up (its journal), which is most
        // of a warm env's time.
        let probe = env.missing_interpreter.as_ref().map(|reason| SkipProbe {
            result_json: state.join(format!("{}.json", env.name)),
            env: env.name.clone(),
            reason: reason.clone(),
        });
        let result = probe.as_ref().map(|probe| probe.result_json.as_path());
        out.push(EnvConfig {
            description: (!env.description.is_empty()).then(|| env.description.clone()),
            commands: vec![run_command(
                tox,
                &env.name,
                result,
                step.map(|(_, p)| p.as_path()),
            )],
            depends: step.map(|(name, _)| vec![name.clone()]).unwrap_or_default(),
            after: env
                .depends
                .iter()
                .filter(|dep| **dep != env.name && names.contains(&dep.as_str()))
                .cloned()
                .collect(),
            labels: env.labels.clone(),
            default: project.env_list.is_empty() || project.env_list.contains(&env.name),
            origin: EnvOrigin::Tox {
                file: file.to_path_buf(),
                own_build: step.map(|_| run_command(tox, &env.name, None, None)),
            },
            skip_probe: probe,
            ..base_env(env.name.clone(), root)
        });
    }
    check_cycles(file, &out)?;
    Ok(out)
}

/// The package build steps, one per package env that envs install from (`tox p` builds once
/// per package env too), and for each env that installs (by index) its step's name and the
/// file the step writes the package's path to.
fn package_steps(
    project: &ToxProject,
    file: &Path,
    root: &Path,
    tox: &[String],
) -> (Vec<EnvConfig>, HashMap<usize, (String, PathBuf)>) {
    let state = state_dir(root);
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (at, env) in project.envs.iter().enumerate() {
        // An env tox will skip for its missing interpreter installs nothing: it need not wait.
        if !env.shares_package() || env.missing_interpreter.is_some() {
            continue;
        }
        let key = env.package_env.clone().unwrap_or_else(|| ".pkg".to_owned());
        match groups.iter_mut().find(|(name, _)| *name == key) {
            Some((_, members)) => members.push(at),
            None => groups.push((key, vec![at])),
        }
    }
    let mut steps = Vec::new();
    let mut step_of_env = HashMap::new();
    for (group, (package_env, members)) in groups.iter().enumerate() {
        let step = package_step_name(group);
        // Build with an env whose interpreter exists (a skipped one builds nothing).
        let builder = members[0];
        let pkg_dir = project
            .pkg_dirs
            .get(package_env)
            .cloned()
            .unwrap_or_else(|| root.join(".tox").join(package_env).join("dist"));
        let marker = state.join(format!("{step}.started"));
        let path_file = state.join(format!("{step}.path"));
        let member_names: Vec<&str> = members
            .iter()
            .map(|&at| project.envs[at].name.as_str())
            .collect();
        let mut build = tox.to_vec();
        build.extend(["run", "-e"].map(str::to_owned));
        build.push(project.envs[builder].name.clone());
        build.push("--pkg-only".to_owned());
        // What tox built is the newest file of its pkg_dir, newer than the marker made
        // right before the build (a result JSON would name it, at the cost of a `pip
        // freeze` in each env tox sets up).
        let start = format!(
            "mkdir -p {} && : > {}",
            shell_word(&path_str(&state)),
            shell_word(&path_str(&marker))
        );
        let handover = format!(
            "newest=; for f in {dir}/*; do [ -f \"$f\" ] || continue; \
             if [ -z \"$newest\" ] || [ \"$f\" -nt \"$newest\" ]; then newest=$f; fi; done; \
             if [ -n \"$newest\" ] && [ \"$newest\" -nt {marker} ]; then \
             printf '%s\\n' \"$newest\" > {path} && echo \"package for {members}: ${{newest##*/}}\"; \
             else echo 'runall: tox built no package in {dir} (see above)' >&2; exit 1; fi",
            dir = shell_word(&path_str(&pkg_dir)),
            marker = shell_word(&path_str(&marker)),
            path = shell_word(&path_str(&path_file)),
            members = member_names.join(", "),
        );
        steps.push(EnvConfig {
            description: Some(format!(
                "runall: build the package once with tox's {package_env} for {}",
                member_names.join(", ")
            )),
            commands: vec![
                RawCommand::Shell(start),
                RawCommand::Argv(build),
                RawCommand::Shell(handover),
            ],
            default: false,
            origin: EnvOrigin::ToxPackage(file.to_path_buf()),
            ..base_env(step.clone(), root)
        });
        for &at in members {
            step_of_env.insert(at, (step.clone(), path_file.clone()));
        }
    }
    (steps, step_of_env)
}

/// `tox run -e NAME` (with `--result-json` when given) and `{--posargs}`; with `package`
/// (the file the build step writes the package's path to), through `sh` so that
/// `--installpkg` gets the path read at start.
fn run_command(
    tox: &[String],
    name: &str,
    result: Option<&Path>,
    package: Option<&Path>,
) -> RawCommand {
    if let Some(path_file) = package {
        let mut words: Vec<String> = tox.iter().map(|word| shell_word(word)).collect();
        words.extend(["run", "-e"].map(str::to_owned));
        words.push(shell_word(name));
        words.push("--installpkg".to_owned());
        words.push(format!("\"$(cat {})\"", shell_word(&path_str(path_file))));
        if let Some(result) = result {
            words.push("--result-json".to_owned());
            words.push(shell_word(&path_str(result)));
        }
        words.push(DASHED_POSARGS.to_owned());
        return RawCommand::Shell(format!("exec {}", words.join(" ")));
    }
    let mut argv = tox.to_vec();
    argv.extend(["run", "-e"].map(str::to_owned));
    argv.push(name.to_owned());
    if let Some(result) = result {
        argv.push("--result-json".to_owned());
        argv.push(path_str(result));
    }
    argv.push(DASHED_POSARGS.to_owned());
    RawCommand::Argv(argv)
}

/// An env named `name` running in `root` with every setting at its default.
fn base_env(name: String, root: &Path) -> EnvConfig {
    EnvConfig {
        name,
        description: None,
        commands: Vec::new(),
        change_dir: Some(root.to_path_buf()),
        set_env: BTreeMap::new(),
        depends: Vec::new(),
        after: Vec::new(),
        labels: Vec::new(),
        stderr: StderrMode::Merged,
        timeout: None,
        on_leak: LeakPolicy::Warn,
        retries: 0,
        default: true,
        origin: EnvOrigin::Runall,
        skip_probe: None,
        launcher: None,
        test_reports: vec![crate::testreport::DEFAULT_PATTERN.to_owned()],
        tty: false,
    }
}

/// runall's env name rule: `[A-Za-z0-9._-]+`, not `.` or `..`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A cycle through tox's `depends` is an error, named with the file (tox gives no position).
fn check_cycles(file: &Path, envs: &[EnvConfig]) -> Result<(), ToxError> {
    let index: HashMap<&str, usize> = envs
        .iter()
        .enumerate()
        .map(|(i, env)| (env.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = envs
        .iter()
        .map(|env| {
            env.depends
                .iter()
                .chain(&env.after)
                .filter_map(|dep| index.get(dep.as_str()).copied())
                .collect()
        })
        .collect();
    match crate::config::find_cycle(&edges) {
        None => Ok(()),
        Some(cycle) => {
            let mut names: Vec<&str> = cycle.iter().map(|&i| envs[i].name.as_str()).collect();
            names.push(names[0]);
            Err(ToxError::Cycle {
                file: file.to_path_buf(),
                env: names[0].to_owned(),
                cycle: names.join(" -> "),
            })
        }
    }
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `word` quoted for `sh` when it needs it.
fn shell_word(word: &str) -> String {
    shlex::try_quote(word).map_or_else(
        |_| format!("'{}'", word.replace('\'', r"'\''")),
        std::borrow::Cow::into_owned,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plan::CommandSpec;

    /// tox 4.67's answer for a project like tests/fixtures/tox-ini, trimmed.
    fn answer() -> Value {
        json!({
            "env": {
                "py-a": {"description": "unit tests", "depends": [], "labels": ["unit"],
                         "skip_install": false, "package": "wheel", "package_env": ".pkg",
                         "wheel_build_env": ".pkg", "py_dot_ver": "3.11"},
                "old": {"description": "", "depends": [], "labels": [],
                        "skip_install": false, "package": "wheel", "package_env": ".pkg",
                        "wheel_build_env": {"error": "Skip('could not find python interpreter with spec(s): python2.5')"},
                        "py_dot_ver": {"error": "Skip('could not find python interpreter with spec(s): python2.5')"}},
                "lint": {"description": "style", "depends": [], "labels": [],
                         "skip_install": true, "package": "skip", "py_dot_ver": "3.11"},
                "cov": {"description": "", "depends": ["py-a", "old", "gone"], "labels": [],
                        "skip_install": true, "package": "skip", "py_dot_ver": "3.11"},
                "dev": {"description": "", "depends": [], "labels": [],
                        "skip_install": false, "package": "editable", "package_env": ".pkg",
                        "py_dot_ver": "3.11"},
                ".pkg": {"labels": [], "pkg_dir": "/p/.tox/.pkg/dist", "py_dot_ver": "3.11"}
            },
            "tox": {"env_list": ["py-a", "old", "lint", "cov"],
                    "labels": {"fast": ["lint", "py-a"]}}
        })
    }

    fn project() -> ToxProject {
        ToxProject::from_json(Path::new("/p/tox.ini"), &answer()).unwrap()
    }

    #[test]
    fn json_to_tox_envs_drops_package_envs_and_merges_core_labels() {
        let project = project();
        let names: Vec<&str> = project.envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["py-a", "old", "lint", "cov", "dev"]);
        assert_eq!(project.env_list, ["py-a", "old", "lint", "cov"]);
        assert_eq!(project.envs[0].labels, ["unit", "fast"]);
        assert_eq!(project.envs[2].labels, ["fast"]);
        assert_eq!(
            project.envs[1].missing_interpreter.as_deref(),
            Some("could not find python interpreter with spec(s): python2.5")
        );
        assert!(project.envs[0].shares_package() && project.envs[1].shares_package());
        assert!(!project.envs[2].shares_package() && !project.envs[4].shares_package());
        assert_eq!(project.pkg_dirs[".pkg"], PathBuf::from("/p/.tox/.pkg/dist"));
    }

    #[test]
    fn tox_envs_become_runall_envs() {
        let tox = ["uvx".to_owned(), "tox".to_owned()];
        let envs = envs(&project(), Path::new("/p/tox.ini"), Path::new("/p"), &tox).unwrap();
        let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, [".package", "py-a", "old", "lint", "cov", "dev"]);
        let by = |name: &str| envs.iter().find(|e| e.name == name).unwrap();

        // The build uses py-a, then writes the path; old, whose interpreter is missing,
        // does not wait for it.
        let build = by(".package");
        assert!(!build.default);
        assert_eq!(
            build.commands[0],
            RawCommand::Shell(
                "mkdir -p /p/.runall/tox && : > /p/.runall/tox/.package.started".to_owned()
            )
        );
        let argv = ["uvx", "tox", "run", "-e", "py-a", "--pkg-only"];
        assert_eq!(
            build.commands[1],
            RawCommand::Argv(argv.map(str::to_owned).to_vec())
        );
        assert!(build.commands[2].display().contains("/p/.tox/.pkg/dist/*"));
        assert!(build.description.as_deref().unwrap().ends_with("for py-a"));

        // Packaged envs wait for it and install what it built.
        let py = by("py-a");
        assert_eq!(py.depends, [".package"]);
        assert_eq!(py.labels, ["unit", "fast"]);
        assert_eq!(py.description.as_deref(), Some("unit tests"));
        assert_eq!(py.change_dir, Some(PathBuf::from("/p")));
        assert_eq!(
            py.commands,
            [RawCommand::Shell(
                "exec uvx tox run -e py-a --installpkg \"$(cat /p/.runall/tox/.package.path)\" \
                 {--posargs}"
                    .to_owned()
            )]
        );
        assert!(by("old").depends.is_empty());
        assert_eq!(
            by("old").skip_probe.as_ref().unwrap().reason,
            "could not find python interpreter with spec(s): python2.5"
        );

        // skip_install and editable envs neither wait nor get --installpkg.
        let lint = by("lint");
        assert!(lint.depends.is_empty());
        let want = "uvx tox run -e lint {--posargs}";
        assert_eq!(lint.commands[0].display(), want);
        assert!(by("dev").depends.is_empty() && !by("dev").default);

        // tox's depends orders only, among envs that exist.
        let cov = by("cov");
        assert_eq!(cov.after, ["py-a", "old"]);
        assert!(cov.depends.is_empty());
        assert_eq!(
            cov.origin,
            EnvOrigin::Tox {
                file: PathBuf::from("/p/tox.ini"),
                own_build: None
            }
        );
        let EnvOrigin::Tox { own_build, .. } = &py.origin else {
            panic!("a tox env")
        };
        assert_eq!(
            own_build.as_ref().map(RawCommand::display).as_deref(),
            Some("uvx tox run -e py-a {--posargs}")
        );
        assert!(
            cov.skip_probe.is_none(),
            "only envs tox would skip are probed"
        );
        let old = by("old");
        assert_eq!(
            old.skip_probe.as_ref().unwrap().result_json,
            PathBuf::from("/p/.runall/tox/old.json")
        );
        assert!(
            old.commands[0]
                .display()
                .contains("--result-json /p/.runall/tox/old.json")
        );
    }

    #[test]
    fn posargs_reach_tox_after_a_double_dash_only_when_given() {
        let envs = envs(
            &project(),
            Path::new("/p/tox.ini"),
            Path::new("/p"),
            &["tox".into()],
        )
        .unwrap();
        let lint = envs.iter().find(|e| e.name == "lint").unwrap();
        let CommandSpec::Argv(none) = crate::plan::substitute(&lint.commands[0], &[]).unwrap()
        else {
            panic!("argv")
        };
        assert_eq!(none[none.len() - 2..], ["-e", "lint"]);
        let posargs = ["-k".to_owned(), "a b".to_owned()];
        let CommandSpec::Argv(some) = crate::plan::substitute(&lint.commands[0], &posargs).unwrap()
        else {
            panic!("argv")
        };
        assert_eq!(some[some.len() - 3..], ["--", "-k", "a b"]);
        let py = envs.iter().find(|e| e.name == "py-a").unwrap();
        let CommandSpec::Shell(text) = crate::plan::substitute(&py.commands[0], &posargs).unwrap()
        else {
            panic!("shell")
        };
        assert!(text.ends_with(".package.path)\" -- -k 'a b'"), "{text}");
    }

    #[test]
    fn cycles_and_bad_names_are_errors_naming_the_file() {
        let mut value = answer();
        value["env"]["lint"]["depends"] = json!(["cov"]);
        value["env"]["cov"]["depends"] = json!(["lint"]);
        let project = ToxProject::from_json(Path::new("/p/tox.ini"), &value).unwrap();
        let err = envs(
            &project,
            Path::new("/p/tox.ini"),
            Path::new("/p"),
            &["tox".into()],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/p/tox.ini: env.lint.depends: dependency cycle: lint -> cov -> lint"
        );
        let mut value = answer();
        value["env"]["a b"] = json!({"package": "skip", "skip_install": true});
        let project = ToxProject::from_json(Path::new("/p/tox.ini"), &value).unwrap();
        let err = envs(
            &project,
            Path::new("/p/tox.ini"),
            Path::new("/p"),
            &["tox".into()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("`a b`"), "{err}");
    }
}
